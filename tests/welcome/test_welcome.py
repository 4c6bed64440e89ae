"""Tests for cvcourse.welcome (chapter 0): the environment report and the filter explorer."""

import numpy as np
import pytest
from scipy import ndimage

from cvcourse.welcome import FILTERS, environment_report, filter_explorer, filter_image


def test_environment_report_is_healthy():
    report = environment_report()
    assert report["torchvision ops"] == "ok"
    assert report["device"] in {"cpu", "cuda", "mps"}
    assert report["cvcourse"] != "not installed"


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)


def test_identity_and_zero_blur_keep_the_image(image):
    expected = image / 255.0
    np.testing.assert_allclose(filter_image(image, "identity"), expected)
    np.testing.assert_allclose(filter_image(image, "gaussian blur", 0.0), expected)


def test_blur_matches_scipy_per_channel(image):
    x = image / 255.0
    expected = np.stack([ndimage.gaussian_filter(x[..., c], 1.5) for c in range(3)], axis=-1)
    np.testing.assert_allclose(filter_image(image, "gaussian blur", 1.5), np.clip(expected, 0, 1), atol=1e-12)


def test_edges_of_a_flat_image_are_zero_and_of_a_step_peak_at_the_step():
    flat = np.full((16, 16, 3), 100, dtype=np.uint8)
    assert filter_image(flat, "sobel edges", 0.0).max() == 0.0
    step = np.zeros((16, 16, 3), dtype=np.uint8)
    step[:, 8:] = 255
    edges = filter_image(step, "sobel edges", 0.0)[..., 0]
    assert set(np.argmax(edges, axis=1)) <= {7, 8}


def test_single_pixel_image():
    one = np.array([[[10, 20, 30]]], dtype=np.uint8)
    for kind in FILTERS:
        out = filter_image(one, kind, 1.0)
        assert out.shape == (1, 1, 3) and np.isfinite(out).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image": np.zeros((4, 4))}, "image"),
        ({"image": np.zeros((4, 4, 3)), "kind": "blurr"}, "kind"),
        ({"image": np.zeros((4, 4, 3)), "strength": -1.0}, "strength"),
        ({"image": np.zeros((4, 4, 3)), "strength": float("nan")}, "strength"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        filter_image(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image": [[[0, 0, 0]]]}, "image must be an ndarray of shape \\[H, W, 3\\], got list"),
        ({"image": np.zeros((4, 4, 3)), "strength": "2"}, "strength must be a real number, got str '2'"),
        ({"image": np.zeros((4, 4, 3)), "strength": True}, "strength must be a real number, got bool"),
    ],
)
def test_a_wrong_type_is_a_type_error(kwargs, match):
    with pytest.raises(TypeError, match=match):
        filter_image(**kwargs)


def test_explorer_checks_its_image_when_built():
    with pytest.raises(ValueError, match="image must be an ndarray of shape"):
        filter_explorer(np.zeros((4, 4)))


def test_explorer_answers_its_controls(image):
    box = filter_explorer(image)
    shown = box.fig.axes[1].images[0]
    before = shown.get_array().copy()
    box.controls["sigma"].value = 5.0
    after_slider = shown.get_array().copy()
    assert not np.allclose(before, after_slider)
    box.controls["filter"].value = "sobel edges"
    assert not np.allclose(after_slider, shown.get_array())
    assert "sobel" in box.fig.axes[1].get_title()


@pytest.mark.parametrize("control, value", [("sigma", 5.0), ("filter", "sobel edges")])
def test_filter_explorer_redraws_exactly_what_a_full_render_shows(control, value, same_as_full_draw):
    box = filter_explorer(np.random.default_rng(0).random((40, 60, 3)))
    assert same_as_full_draw(box.fig, lambda: setattr(box.controls[control], "value", value)) > 0
