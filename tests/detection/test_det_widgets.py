"""The anchor, NMS and PR-curve explorers: pure functions against the package, widgets built headless."""

import numpy as np
import pytest
import torch
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg

from cvcourse.detection import (
    anchor_grid,
    average_precision,
    box_iou,
    label_anchors,
    match_detections,
    nms,
    precision_recall,
)
from cvcourse.detection.widgets import (
    CLOSE_OBJECTS,
    anchor_explorer,
    anchor_view,
    detection_scenes,
    nms_explorer,
    nms_view,
    pr_curve_explorer,
    pr_view,
    synthetic_detections,
)


@pytest.fixture(scope="module")
def scenes():
    return detection_scenes()


def test_scenes_and_candidates_are_deterministic(scenes):
    assert CLOSE_OBJECTS in scenes and len(scenes) == 5
    s = scenes["scene 1"]
    a = synthetic_detections(s["boxes"], s["labels"], seed=4)
    b = synthetic_detections(s["boxes"], s["labels"], seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert len(a[0]) == 5 * len(s["boxes"]) + 4
    close = scenes[CLOSE_OBJECTS]["boxes"]
    assert 0.5 < float(box_iou(close[:1], close[1:])) < 0.6


def test_anchor_view_is_label_anchors(scenes):
    s = scenes["scene 2"]
    view = anchor_view(s["boxes"], 16, (0.5, 1.0, 2.0), 8, gt_index=1)
    expected = anchor_grid((16, 16), 8, (16, 32), (0.5, 1.0, 2.0), dtype=torch.float64) + 4
    assert torch.equal(view["anchors"], expected)
    labels, _ = label_anchors(expected, s["boxes"])
    assert torch.equal(view["labels"], labels)
    assert sum(view["counts"].values()) == len(expected) and view["counts"]["positive"] >= len(s["boxes"])
    iou = box_iou(s["boxes"][1:2], expected)[0]
    assert view["best_iou"][0] == float(iou.max())
    assert view["best_iou"] == sorted(view["best_iou"], reverse=True)


def test_nms_view_steps_end_in_nms(scenes):
    s = scenes["scene 3"]
    boxes, scores, _ = synthetic_detections(s["boxes"], s["labels"], seed=1)
    final = nms_view(boxes, scores, 0.5, 0.3)
    above = torch.nonzero(scores >= 0.3).flatten()
    assert final["kept"] == above[nms(boxes[above], scores[above], 0.5)].tolist()
    assert final["unchecked"] == [] and final["step"] == final["n_steps"] == len(final["kept"])
    middle = nms_view(boxes, scores, 0.5, 0.3, step=2)
    assert middle["kept"] == final["kept"][:2] and middle["current"] == final["kept"][1]
    seen = middle["kept"] + middle["current_suppressed"] + middle["suppressed"] + middle["unchecked"]
    assert sorted(seen) == sorted(above.tolist())  # every candidate in exactly one state
    assert nms_view(boxes, scores, 0.5, 0.3, step=0)["current"] is None


def test_close_objects_are_merged_at_a_low_threshold(scenes):
    s = scenes[CLOSE_OBJECTS]
    boxes, scores, _ = synthetic_detections(s["boxes"], s["labels"], seed=4, false_positives=0)

    def objects_found(threshold):
        kept = nms_view(boxes, scores, threshold, 0.3)["kept"]
        return int((box_iou(s["boxes"], boxes[kept]) >= 0.7).any(1).sum())

    assert objects_found(0.5) == 1  # the second object's boxes overlap the first's best by > 0.5
    assert objects_found(0.7) == 2


def test_pr_view_equals_the_metrics(scenes):
    s = scenes["scene 4"]
    boxes, scores, labels = synthetic_detections(
        s["boxes"], s["labels"], seed=2, per_object=2, false_positives=5
    )
    view = pr_view(boxes, scores, labels, s["boxes"], s["labels"], 0.5, 0.6)
    for c in torch.unique(labels).tolist():
        d = labels == c
        tp, _ = match_detections(boxes[d], scores[d], s["boxes"][s["labels"] == c])
        assert torch.equal(view["tp"][d], tp)
    precision, recall, _ = precision_recall(scores, view["tp"], len(s["boxes"]))
    assert view["ap_all_points"] == average_precision(recall, precision)
    assert view["ap_coco101"] == average_precision(recall, precision, "coco101")
    k = int((scores >= 0.6).sum())
    assert view["point"] == (float(recall[k - 1]), float(precision[k - 1]))
    assert np.all(np.diff(view["envelope"].numpy()) <= 0)


BUILDERS = {"anchor": anchor_explorer, "nms": nms_explorer, "pr": pr_curve_explorer}
MOVES = {
    "anchor": [("scale", 32), ("ratios", "1"), ("stride", 16), ("gt", -1), ("gt", 2), ("scene", "scene 3")],
    "nms": [("iou", 0.7), ("score", 0.6), ("step", 1), ("step", 0), ("scene", "scene 2")],
    "pr": [("confidence", 0.8), ("iou", 0.9), ("confidence", 0.0), ("scene", "scene 2")],
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


def _plain_render(fig) -> np.ndarray:
    """The pixels matplotlib draws for ``fig`` without blitting: every artist in its z-order."""
    animated = [artist for artist in fig.findobj(Artist) if artist.get_animated()]
    for artist in animated:
        artist.set_animated(False)
    try:
        with fig.canvas.callbacks.blocked(signal="draw_event"):  # LiveArtists adds nothing on top
            FigureCanvasAgg.draw(fig.canvas)
        return np.asarray(fig.canvas.buffer_rgba()).copy()
    finally:
        for artist in animated:
            artist.set_animated(True)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_explorer_stacks_its_artists_as_matplotlib_does(name):
    """Live artists are drawn over everything else; the explorers list them so that the picture is
    still matplotlib's (the PR curve's legend and spines over its shaded area, the dashed ground
    truth over the anchor dots), opened and after every control."""
    box = BUILDERS[name]()
    for key, value in [(None, None), *MOVES[name]]:
        if key is not None:
            box.controls[key].value = value
        live = np.asarray(box.fig.canvas.buffer_rgba()).copy()
        mismatch = np.argwhere((live != _plain_render(box.fig)).any(-1))
        assert mismatch.size == 0, (
            f"{name} explorer after {key} = {value!r}: {len(mismatch)} pixels "
            f"differ from matplotlib's own render, first at {mismatch[0]}"
        )


def test_nms_step_slider_follows_the_thresholds():
    box = nms_explorer()
    step = box.controls["step"]
    assert step.value == step.max == box.state["view"]["n_steps"]  # opens on the result
    box.controls["score"].value = 0.9
    assert step.max == max(box.state["view"]["n_steps"], 1) and step.value <= step.max
    box.controls["score"].value = 0.0
    step.value = 1
    assert box.state["view"]["current"] == box.state["view"]["kept"][0]
    assert "step 1 /" in box.fig.axes[0].get_title()


def test_anchor_explorer_scene_menu_resets_the_ground_truth_menu():
    box = anchor_explorer()
    box.controls["scene"].value = "scene 4"
    n = len(detection_scenes(close_objects=False)["scene 4"]["boxes"])
    assert len(box.controls["gt"].options) == n + 1 and box.controls["gt"].value == 0
    assert len(box.state["view"]["best"]) == 3


@pytest.mark.parametrize("ratio", [1, 2])
@pytest.mark.parametrize("name", list(BUILDERS))
def test_explorer_frames_fit_the_browser_canvas(name, ratio):
    """The canvas ipympl's front end makes has exactly the size of the frames Agg renders.

    ipympl sends the figure's size in CSS pixels, ``fig.bbox.size / ratio`` (``ratio``: the
    browser's device pixel ratio, by which the kernel multiplies the dpi), and its front end sets
    ``canvas.width = size * ratio``: the HTML attribute keeps the integer part. Agg's frame rounds
    a size within 1e-8 of a whole pixel up (``get_width_height``). A figure 4.6 in tall at 100 dpi
    is 459.99999999999994 px: 460-row frames on a 459-row canvas, the bottom row cut off, and the
    browser test's "the page shows the frame the kernel sent" failed. Sizes in whole pixels, then.
    """
    fig = BUILDERS[name]().fig
    fig.set_dpi(fig.get_dpi() * ratio)
    FigureCanvasAgg.draw(fig.canvas)
    frame = np.asarray(fig.canvas.buffer_rgba()).shape[:2]  # [H, W]
    css_width, css_height = fig.bbox.size / ratio  # what the kernel sends in its "resize" message
    canvas = (int(css_height * ratio), int(css_width * ratio))  # what the page's <canvas> gets
    assert canvas == frame, (
        f"{name} explorer at device pixel ratio {ratio}: the browser's canvas "
        f"is {canvas} (H, W), its frames {frame}; figure {fig.bbox.size} px"
    )
