"""The detection viewer: its pure function against the detectors' own predict, match_detections and
coco_map; the widget built headless, every control leaving exactly the picture of a full render."""

import pytest
import torch

from cvcourse.detection import coco_map
from cvcourse.detection.centernet import CenterNet
from cvcourse.detection.detr import DETR
from cvcourse.detection.retinanet import RetinaNet
from cvcourse.detection.viewer import OVERLAYS, detection_viewer, precompute, viewer_scenes, viewer_view


class Oracle(torch.nn.Module):
    """A fake detector: every ground-truth box (score 0.9), a copy of the first one shifted by 2 px
    (score 0.6, removed by its "NMS"), and one false positive in a corner (score 0.4)."""

    def __init__(self, scenes):
        super().__init__()
        self.truth = [s for s in scenes.values()]

    def predict(self, images, score_threshold=0.05, nms=True):
        out = []
        for s in self.truth[: len(images)]:
            boxes = torch.cat([s["boxes"], s["boxes"][:1] + 2, torch.tensor([[0.0, 0.0, 6.0, 6.0]])])
            scores = torch.cat([torch.full((len(s["boxes"]),), 0.9), torch.tensor([0.6, 0.4])])
            labels = torch.cat([s["labels"], s["labels"][:1], torch.tensor([1])])
            keep = scores > score_threshold
            if nms:
                keep[len(s["boxes"])] = False
            out.append({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]})
        return out

    def inspect(self, images):
        return {}


@pytest.fixture(scope="module")
def scenes():
    return viewer_scenes(n=3)


@pytest.fixture(scope="module")
def fresh():
    torch.manual_seed(0)  # untrained detectors, made to give varied, valid detections
    retinanet, centernet = RetinaNet(prior=None), CenterNet()
    with torch.no_grad():
        torch.nn.init.normal_(retinanet.cls_head[-1].weight, std=300.0)  # scores from 0.45 to 0.93
        centernet.size[-1].weight.zero_()  # an untrained size head can predict negative sizes
        centernet.size[-1].bias.fill_(4.0)  # 4 cells = 16 pixels
    return {"retinanet": retinanet, "centernet": centernet, "detr": DETR()}


@pytest.fixture(scope="module")
def outputs(fresh, scenes):
    return precompute(fresh, scenes)


def test_scenes_are_validation_scenes(scenes):
    from cvcourse.data import ShapesDetection

    image, target = ShapesDetection(3, size=64, seed=777, max_objects=4)[2]
    assert torch.equal(scenes["scene 3"]["image"], image) and torch.equal(
        scenes["scene 3"]["boxes"], target["boxes"]
    )


@pytest.mark.parametrize("kind", ["retinanet", "centernet", "detr"])
def test_filtering_equals_predicting_at_the_threshold(kind, fresh, outputs, scenes):
    model, shown = fresh[kind], 0
    images = torch.stack([s["image"] for s in scenes.values()])  # one batch, as precompute runs it
    for threshold in (0.05, 0.1, 0.15, 0.3, 0.5):
        for nms in (True, False):
            predictions = model.predict(images, score_threshold=threshold, nms=nms)
            for name, direct in zip(scenes, predictions, strict=True):
                view = viewer_view(outputs[(kind, name)], scenes[name], threshold, nms)
                assert torch.equal(view["boxes"], direct["boxes"]) and torch.equal(
                    view["labels"], direct["labels"]
                )
                shown += len(view["boxes"])
    assert shown > 0  # the comparison saw detections


def test_tp_fp_and_ap_by_hand(scenes):
    outputs = precompute({"oracle": Oracle(scenes)}, scenes)
    s = scenes["scene 1"]
    k = len(s["boxes"])
    low = viewer_view(outputs[("oracle", "scene 1")], s, 0.3, nms=False)
    assert (low["n_tp"], low["n_fp"], low["n_gt"]) == (k, 2, k)  # the shifted copy and the corner box
    assert low["tp"].tolist() == [True] * k + [False, False]
    assert low["ap"] == 1.0  # both false positives score below every true positive
    assert viewer_view(outputs[("oracle", "scene 1")], s, 0.3, nms=True)["n_fp"] == 1
    high = viewer_view(outputs[("oracle", "scene 1")], s, 0.95, nms=True)
    assert (high["n_tp"], high["n_fp"], high["ap"]) == (0, 0, 0.0)


def test_ap_is_coco_map_of_the_scene(outputs, scenes):
    s = scenes["scene 2"]
    view = viewer_view(outputs[("retinanet", "scene 2")], s, 0.1, nms=True)
    pred = {"boxes": view["boxes"], "scores": view["scores"], "labels": view["labels"]}
    assert view["ap"] == max(coco_map([pred], [{"boxes": s["boxes"], "labels": s["labels"]}])["map_50"], 0.0)


def test_overlays(fresh, outputs, scenes):
    name, s = "scene 1", scenes["scene 1"]
    image = s["image"][None]
    inspected = {kind: fresh[kind].inspect(image) for kind in fresh}
    anchors = viewer_view(outputs[("retinanet", name)], s, 0.5, overlay="anchors")["overlay_boxes"]
    best = inspected["retinanet"]["scores"].max(-1).values
    assert torch.equal(anchors, inspected["retinanet"]["anchors"][best >= 0.5])
    heat = viewer_view(outputs[("centernet", name)], s, 0.3, overlay="heatmap")
    assert (heat["heatmap"] == inspected["centernet"]["heatmap"].max(0).values.numpy()).all()
    assert heat["stride"] * heat["heatmap"].shape[-1] == 64
    queries = viewer_view(outputs[("detr", name)], s, 0.15, overlay="queries")
    assert len(queries["points_on"]) + len(queries["points_off"]) == len(inspected["detr"]["boxes"])
    other = viewer_view(outputs[("detr", name)], s, 0.3, overlay="heatmap")
    assert other["heatmap"] is None and "not this detector's" in other["note"]


def test_bad_input(outputs, scenes):
    entry, s = outputs[("detr", "scene 1")], scenes["scene 1"]
    with pytest.raises(ValueError, match="threshold"):
        viewer_view(entry, s, 0.01)
    with pytest.raises(ValueError, match="overlay"):
        viewer_view(entry, s, 0.3, overlay="attention")
    with pytest.raises(TypeError, match="nms"):
        viewer_view(entry, s, 0.3, nms="yes")
    with pytest.raises(ValueError, match="at least one"):
        detection_viewer({})


MOVES = [  # (control, value, the picture must change)
    ("threshold", 0.8, True),
    ("overlay", "anchors", True),
    ("nms", False, False),  # the untrained RetinaNet's boxes hardly overlap: see test_tp_fp_and_ap_by_hand
    ("detector", "centernet", True),
    ("overlay", "heatmap", True),
    ("detector", "detr", True),
    ("overlay", "queries", True),
    ("threshold", 0.15, False),
    ("scene", "scene 2", True),
    ("overlay", "none", True),
]


def test_viewer_answers_every_control(fresh, scenes, same_as_full_draw):
    box = detection_viewer(fresh, scenes)
    assert {key for key, _, _ in MOVES} == set(box.controls) and set(box.controls["overlay"].options) == set(
        OVERLAYS
    )
    assert all(ax.get_title() and ax.get_xlabel() and ax.get_ylabel() for ax in box.fig.axes)
    for key, value, changes in MOVES:
        before = box.state["view"]
        changed = same_as_full_draw(box.fig, lambda k=key, v=value: setattr(box.controls[k], "value", v))
        assert box.state["view"] is not before
        if changes:
            assert changed > 0, f"{key} = {value!r} left the picture as it was"
    assert box.controls["nms"].disabled  # DETR needs no NMS


def test_default_viewer_shows_the_shipped_detectors():
    try:
        box = detection_viewer()
    except FileNotFoundError as missing:  # a detector's weights are not shipped yet
        pytest.skip(str(missing))
    assert [v for _, v in box.controls["detector"].options] == ["retinanet", "centernet", "detr"]
    aps = []
    scenes = viewer_scenes()
    for (_, name), entry in box.outputs.items():
        for pred in (entry["nms"], entry["raw"]):  # valid boxes, scored as predict scores them
            assert bool((pred["boxes"][:, 2:] >= pred["boxes"][:, :2]).all()) and len(pred["boxes"]) <= 100
        aps.append(viewer_view(entry, scenes[name], 0.3)["ap"])
    assert sum(aps) / len(aps) > 0.5  # trained detectors: most scenes well detected
