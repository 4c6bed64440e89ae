"""The receptive-field and upsampling explorers: their pure views against the formula and torch's
operators, and the widgets built headless answer every control with a picture equal to a full draw."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cvcourse.segmentation.explorers import (
    GRID,
    INPUTS,
    METHODS,
    SCHEDULES,
    dilations,
    receptive_field_view,
    upsampling_view,
)
from cvcourse.segmentation.receptive_field import receptive_field
from cvcourse.segmentation.widgets import formula_html, receptive_field_explorer, upsampling_explorer


def test_dilation_schedules():
    assert dilations(SCHEDULES[0], 4) == [1, 1, 1, 1]
    assert dilations(SCHEDULES[1], 4) == [1, 2, 4, 8]
    assert dilations(SCHEDULES[2], 3) == [2, 2, 2]
    assert dilations(SCHEDULES[3], 5) == [1, 2, 3, 1, 2]


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("depth, kernel, stride", [(1, 3, 1), (3, 3, 1), (4, 5, 1), (3, 3, 2), (2, 7, 2)])
def test_receptive_field_view_measures_the_formula(schedule, depth, kernel, stride):
    view = receptive_field_view(depth, kernel, schedule, stride)
    layers = [(kernel, stride, d) for d in dilations(schedule, depth)]
    assert view["rf"] == receptive_field(layers)
    assert view["measured"] == min(view["rf"], GRID)
    assert view["counts"].shape == (GRID, GRID) and view["counts"][GRID // 2, GRID // 2] > 0
    if schedule.startswith(("exponential", "none", "hybrid")) and stride == 1 and view["rf"] <= GRID:
        assert view["seen"] == view["rf"] ** 2  # no holes
    if schedule.startswith("constant") and depth > 1:
        assert view["seen"] < view["rf"] ** 2  # gridding
    assert f"formula: {view['rf']} x {view['rf']}" in formula_html(view)


def test_upsampling_view_is_the_torch_operators():
    x = INPUTS["slide 2x2: 10, 20, 30, 40"].to(torch.float64)[None, None]
    for s in (2, 3):
        view = lambda m, s=s: upsampling_view("slide 2x2: 10, 20, 30, 40", m, s)["output"]  # noqa: E731
        torch.testing.assert_close(view("nearest"), F.interpolate(x, scale_factor=s)[0, 0])
        torch.testing.assert_close(view("bilinear"), F.interpolate(x, scale_factor=s, mode="bilinear")[0, 0])
        nails = view("bed of nails")
        assert nails[::s, ::s].equal(x[0, 0]) and nails.sum() == x.sum()
        unpooled = view("max unpooling")
        assert sorted(unpooled[unpooled != 0].tolist()) == [10, 20, 30, 40]
        for r in range(2):  # each value stays inside its own s x s block
            for c in range(2):
                assert unpooled[r * s : r * s + s, c * s : c * s + s].sum() == x[0, 0, r, c]
        channels = torch.stack([x[0, 0] + k for k in range(s * s)])[None]
        torch.testing.assert_close(view("pixel shuffle"), F.pixel_shuffle(channels, s)[0, 0])
    flat = upsampling_view("2x2 constant (checkerboard test)", "transposed conv (ones, k = s + 1)", 2)[
        "output"
    ]
    assert set(flat.unique().tolist()) == {1.0, 2.0, 4.0}  # the checkerboard on a constant input
    assert all(upsampling_view(g, m, 3)["output"].shape == (6, 6) for g in INPUTS for m in METHODS)


def test_views_refuse_bad_input():
    with pytest.raises(ValueError, match="kernel must be odd"):
        receptive_field_view(2, 4, SCHEDULES[0], 1)
    with pytest.raises(ValueError, match="method must be one of"):
        upsampling_view("slide 2x2: 1, 2, 3, 4", "bicubic", 2)
    with pytest.raises(ValueError, match="scale must be an int >= 2 and <= 3"):
        upsampling_view("slide 2x2: 1, 2, 3, 4", "nearest", 4)


BUILDERS = {"receptive_field": receptive_field_explorer, "upsampling": upsampling_explorer}
MOVES = {
    "receptive_field": [("depth", 4), ("kernel", 5), ("schedule", SCHEDULES[2]), ("stride", 2), ("depth", 1)],
    "upsampling": [
        ("method", "nearest"),
        ("scale", 3),
        ("grid", "2x2 constant (checkerboard test)"),
        ("method", "transposed conv (ones, k = s + 1)"),
        ("method", "pixel shuffle"),
        ("method", "max unpooling"),
    ],
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_explorer_answers_every_control(name, same_as_full_draw):
    box = BUILDERS[name]()
    assert {key for key, _ in MOVES[name]} == set(box.controls)
    assert all(ax.get_title() and ax.get_xlabel() and ax.get_ylabel() for ax in box.fig.axes)
    for key, value in MOVES[name]:
        before = box.state["view"]
        changed = same_as_full_draw(box.fig, lambda k=key, v=value: setattr(box.controls[k], "value", v))
        assert box.state["view"] is not before
        assert changed > 0, f"{key} = {value} changed nothing on the canvas"


def test_explorers_show_their_numbers():
    rf = receptive_field_explorer()
    rf.controls["depth"].value = 5
    assert "63 x 63" in rf.fig.axes[0].get_title() and "<b>63</b>" in rf.formula.value
    up = upsampling_explorer()
    up.controls["method"].value = "bilinear"
    assert up.state["view"]["output"][0].tolist() == [10, 12.5, 17.5, 20]  # the slide's, before truncation
    assert "align_corners=False" in up.note.value
    picture = np.asarray(up.fig.axes[1].images[0].get_array())
    h, w = picture.shape[0] // 4, picture.shape[1] // 4
    ink = picture.sum(-1) < 0.3  # the black digits
    for r in range(4):  # every cell of the 4 x 4 output carries its number
        for c in range(4):
            assert ink[r * h : (r + 1) * h, c * w : (c + 1) * w].sum() > 20
    # longer numbers leave more ink: "12.5" against "10"
    assert ink[:h, w : 2 * w].sum() > ink[:h, :w].sum()


def test_the_viewer_is_imported_from_widgets_too():
    import cvcourse.segmentation as segmentation
    from cvcourse.segmentation import panoptic_viewer, viewer, widgets

    assert widgets.segmentation_viewer is viewer.segmentation_viewer  # one function, two import paths
    assert widgets.panoptic_viewer is panoptic_viewer.panoptic_viewer
    assert {"segmentation_viewer", "panoptic_viewer"} <= set(widgets.__all__)
    names = ("load_shapes_segmenter", "train_segmenter", "evaluate_segmenter", "pretrain_vs_scratch")
    names += ("panoptic_quality", "mask_loss", "paste_masks", "maskformer_inference", "panoptic_merge")
    names += ("load_shapes_mask_rcnn", "load_shapes_maskformer", "mask_average_precision")
    for name in names:
        assert name in segmentation.__all__ and name in segmentation.__doc__, name
        assert getattr(segmentation, name) is not None
