"""The latent explorer, built headless: every control answers, a click decodes that point, and every
redraw leaves exactly the pixels of a full render."""

import numpy as np
import pytest
import torch

from cvcourse.generative.factors import digits
from cvcourse.generative.pretrained import DIGITS_MODELS, load_digits_autoencoders
from cvcourse.generative.widgets import decode_point, latent_explorer, latent_map


@pytest.fixture(scope="module")
def explorer():
    return latent_explorer()


def test_pure_functions():
    model = load_digits_autoencoders()[0]["VAE (β = 1)"]
    test = digits(binarize=True)["test"]
    codes, (x0, x1, y0, y1) = latent_map(model, test)
    assert (
        codes.shape == (len(test), 2)
        and x0 < np.median(codes[:, 0]) < x1
        and y0 < np.median(codes[:, 1]) < y1
    )
    picture = decode_point(model, (0.0, 0.0))
    expected = model.decode(torch.zeros(1, 2))[0, 0].detach().numpy()
    np.testing.assert_allclose(picture, expected)
    with pytest.raises(ValueError, match=r"z must have shape \[1, 2\]"):
        decode_point(model, (0.0, 0.0, 1.0))


def test_every_control_answers(explorer):
    c = explorer.controls
    assert list(c["model"].options) == list(DIGITS_MODELS)
    assert all(ax.get_title() and ax.get_xlabel() and ax.get_ylabel() for ax in explorer.fig.axes[:2])
    before = np.array(explorer.image_artist.get_array())
    c["z1"].value = c["z1"].min + 0.1 * (c["z1"].max - c["z1"].min)
    after = np.array(explorer.image_artist.get_array())
    assert not np.allclose(before, after)
    c["z2"].value = c["z2"].max
    assert not np.allclose(after, np.array(explorer.image_artist.get_array()))
    for name in c["model"].options[::-1]:
        c["model"].value = name
        x0, x1, y0, y1 = explorer.maps[name][1]
        assert (c["z1"].min, c["z1"].max) == pytest.approx((x0, x1))
        assert explorer.fig.axes[0].get_xlim() == pytest.approx((x0, x1))
        assert name in explorer.fig.axes[0].get_title()

    class Click:
        inaxes, xdata, ydata = explorer.fig.axes[0], 0.3, -0.2

    c["model"].value = "VAE (β = 1)"
    explorer.on_click(Click)
    assert (c["z1"].value, c["z2"].value) == pytest.approx((0.3, -0.2))
    model = load_digits_autoencoders()[0]["VAE (β = 1)"]
    np.testing.assert_allclose(
        np.array(explorer.image_artist.get_array()), decode_point(model, (0.3, -0.2)), atol=1e-6
    )


@pytest.mark.parametrize(
    "control, value",
    [("z1", 0.5), ("z2", -0.5), ("model", "VAE without KL (β = 0)"), ("model", "β-VAE (β = 2)")],
)
def test_redraws_exactly_what_a_full_render_shows(control, value, same_as_full_draw):
    explorer = latent_explorer()
    change = lambda: setattr(explorer.controls[control], "value", value)  # noqa: E731
    assert same_as_full_draw(explorer.fig, change) > 0
