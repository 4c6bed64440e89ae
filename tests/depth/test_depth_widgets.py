"""The explorers: their pure functions against the package, and the widgets built headless answer every
control with exactly the picture a full redraw gives."""

import pytest
import torch

from cvcourse.depth.matching import cost_volume
from cvcourse.depth.widgets import correspondence_explorer, middlebury, pixel_costs, warp_explorer, warp_view


@pytest.fixture(scope="module")
def pair():
    return middlebury(4)


def test_middlebury_downsampled(pair):
    left, right, truth = pair
    assert left.shape == (3, 125, 185) and truth.shape == (125, 185)
    full = middlebury(1)[2]
    assert abs(truth[truth > 0].max() - full.max() / 4) < 1.0


def test_pixel_costs_are_the_volumes_column(pair):
    left, right = pair[0].double(), pair[1].double()  # float64: no round-off between the two sums
    for cost in ("sad", "zncc"):
        for row, col, window in ((0, 20, 5), (60, 100, 9), (124, 184, 3)):
            volume = cost_volume(left, right, 16, window, cost)
            torch.testing.assert_close(
                pixel_costs(left, right, row, col, 16, window, cost), volume[:, row, col]
            )


def test_warp_view_physics(pair):
    left, right, truth = pair
    _, _, with_truth = warp_view(left, right, truth)
    _, _, with_zero = warp_view(left, right, truth, scale=0.0)
    _, _, shifted = warp_view(left, right, truth, shift=3.0)
    assert with_truth < 0.6 * with_zero and with_truth < shifted
    image, error, mean = warp_view(left, right, truth, mode="forward")
    assert image.shape == (125, 185, 3) and error.shape == (125, 185) and mean < with_zero
    with pytest.raises(ValueError, match="mode"):
        warp_view(left, right, truth, mode="sideways")


def test_correspondence_explorer(same_as_full_draw):
    explorer = correspondence_explorer(scale=4, max_disparity=16)
    c = explorer.controls
    assert {"row", "col", "cost", "window"} <= set(c)
    assert all(ax.get_title() and ax.get_xlabel() and ax.get_ylabel() for ax in explorer.fig.axes)
    for name, value in (("col", 120), ("row", 40), ("window", 9), ("cost", "sad"), ("cost", "zncc")):
        changed = same_as_full_draw(explorer.fig, lambda n=name, x=value: setattr(c[n], "value", x))
        assert changed > 0, name
    assert explorer.state["winner"] == int(explorer.state["costs"].argmin())
    left, right, _ = middlebury(4)
    torch.testing.assert_close(explorer.state["costs"], pixel_costs(left, right, 40, 120, 16, 9, "zncc"))

    class Click:
        inaxes, xdata, ydata = explorer.fig.axes[0], 30.2, 70.7

    explorer.on_click(Click)
    assert (c["row"].value, c["col"].value) == (71, 30)


def test_warp_explorer(same_as_full_draw):
    warper = warp_explorer(scale=4, max_disparity=16)
    c = warper.controls
    assert {"source", "scale", "shift", "mode"} <= set(c)
    best = warper.state["mean_error"]
    for name, value in (("shift", 2.0), ("scale", 0.5), ("mode", "forward"), ("source", "block matching")):
        assert same_as_full_draw(warper.fig, lambda n=name, x=value: setattr(c[n], "value", x)) > 0, name
    assert warper.state["mean_error"] != best
