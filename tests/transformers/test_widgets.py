"""The attention viewer: pure functions, and the widget built headless responds to controls and clicks."""

import numpy as np
import pytest
import torch

from cvcourse.transformers.attention_maps import attention_maps, attention_rollout
from cvcourse.transformers.pretrained import build_shapes_vit
from cvcourse.transformers.widgets import (
    attention_heatmap,
    attention_viewer,
    imagenet_preprocess,
    viewer_images,
)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = build_shapes_vit()
    for p in m.parameters():  # random, non-trivial weights so heads differ
        torch.nn.init.normal_(p, std=0.3)
    return m.eval()


def test_viewer_images():
    images = viewer_images(32, num_shapes=2)
    assert len(images) == 2 + 3 and all(v.shape == (3, 32, 32) for v in images.values())
    assert all(0 <= float(v.min()) and float(v.max()) <= 1 for v in images.values())
    assert imagenet_preprocess(images["photo: astronaut"]).shape == (3, 224, 224)


def test_attention_heatmap_is_the_maps_row(model):
    image = viewer_images(32, num_shapes=1)["photo: chelsea"]
    maps = attention_maps(model, image[None])
    heat = attention_heatmap(model, image, layer=2, head=1, query=(3, 5))
    np.testing.assert_allclose(heat, maps[2, 0, 1, 1 + 3 * 8 + 5, 1:].reshape(8, 8).numpy(), rtol=1e-6)
    heat = attention_heatmap(model, image, layer=3, rollout=True)
    np.testing.assert_allclose(heat, attention_rollout(maps)[3, 0, 0, 1:].reshape(8, 8).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="query"):
        attention_heatmap(model, image, layer=0, query=(8, 0))


def test_widget_responds_to_controls_and_clicks(model):
    viewer = attention_viewer(model)
    c = viewer.controls
    assert {"image", "layer", "head", "rollout", "row", "col", "query", "pretrained"} <= set(c)
    assert all(ax.get_title() and ax.get_xlabel() and ax.get_ylabel() for ax in viewer.fig.axes[:2])
    before = np.array(viewer.heat_artist.get_array())
    c["head"].value = 2
    after_head = np.array(viewer.heat_artist.get_array())
    assert not np.allclose(before, after_head)
    # the colour bar's labels run from the map's smallest weight to its largest
    labels = [float(t.get_text()) for t in viewer.colorbar.labels]
    np.testing.assert_allclose(labels[0], after_head.min(), atol=5e-4)
    np.testing.assert_allclose(labels[-1], after_head.max(), atol=5e-4)
    c["query"].value = "patch"
    c["layer"].value = 0
    assert not np.allclose(after_head, np.array(viewer.heat_artist.get_array()))

    class Click:  # what matplotlib sends on a click at pixel (x=30, y=2) of the left image
        inaxes, xdata, ydata = viewer.fig.axes[0], 30.0, 2.0

    viewer.on_click(Click)
    assert (c["row"].value, c["col"].value) == (0, 7)
    expected = attention_heatmap(model, viewer_images(32)[c["image"].value], 0, 2, False, (0, 7))
    np.testing.assert_allclose(np.array(viewer.heat_artist.get_array()), expected, rtol=1e-6)
    assert "patch (0, 7)" in viewer.fig.axes[1].get_title()
    c["image"].value = "photo: coffee"
    assert viewer.fig.axes[0].images[0].get_array().shape == (32, 32, 3)


def test_pretrained_button_offline_says_so(model, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    viewer = attention_viewer(model)
    viewer.controls["pretrained"].click()
    assert viewer.status.value.startswith("Offline")
    assert viewer.state["model"] is model  # still usable


@pytest.mark.parametrize(
    "control, value",
    [
        ("layer", 0),
        ("head", 1),
        ("rollout", True),
        ("query", "patch"),
        ("row", 1),
        ("image", "photo: coffee"),
    ],
)
def test_viewer_redraws_exactly_what_a_full_render_shows(model, control, value, same_as_full_draw):
    viewer = attention_viewer(model)
    change = lambda: setattr(viewer.controls[control], "value", value)  # noqa: E731
    assert same_as_full_draw(viewer.fig, change) > 0


def test_head_menu_cycles_through_every_head_and_the_mean(model, same_as_full_draw):
    # Regression: the mean's value was None, which made the Dropdown clear its index (a blank menu
    # in the browser, and choosing it again changed nothing).
    viewer = attention_viewer(model)
    head = viewer.controls["head"]
    titles = []
    for step in range(2 * len(head.options)):
        index = (step + 1) % len(head.options)
        assert same_as_full_draw(viewer.fig, lambda i=index: setattr(head, "index", i)) > 0
        assert head.index == index and head.label == head.options[index][0]
        titles.append(viewer.fig.axes[1].get_title())
    assert "mean over heads" in titles[len(head.options) - 1]
    assert len(set(titles)) == len(head.options)


def test_patch_sliders_switch_to_a_patch_query_and_a_click_redraws_once(model):
    viewer = attention_viewer(model)
    c = viewer.controls
    c["row"].value = 1  # with the [CLS] query shown, moving a patch slider means "show this patch"
    assert c["query"].value == "patch" and "patch (1, " in viewer.fig.axes[1].get_title()
    canvas = viewer.fig.canvas
    canvas._handle_message(canvas, {"type": "initialized"}, [])  # a browser view is ready
    canvas.draw()
    blits = []
    canvas.blit = lambda bbox=None: blits.append(bbox)

    class Click:
        inaxes, xdata, ydata = viewer.fig.axes[0], 2.0, 30.0

    viewer.on_click(Click)
    assert (c["row"].value, c["col"].value) == (7, 0) and len(blits) == 1
