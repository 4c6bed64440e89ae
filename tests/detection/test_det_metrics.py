"""metrics.py against pycocotools' COCOeval (the COCO json built in memory) and the VOC devkit's AP."""

import contextlib
import io

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from cvcourse.detection.metrics import (
    COCO_IOU_THRESHOLDS,
    average_precision,
    coco_map,
    match_detections,
    precision_recall,
)

STATS = [
    "map",
    "map_50",
    "map_75",
    "map_small",
    "map_medium",
    "map_large",
    "mar_1",
    "mar_10",
    "mar_100",
    "mar_small",
    "mar_medium",
    "mar_large",
]


def make_data(n_images=40, seed=0, classes=(3, 7, -1), integer=False, tied=False):
    """Scenes of boxes of every size (small, medium, large), detections jittered from them plus
    duplicates and false positives; some images without ground truth, some without detections."""
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for i in range(n_images):
        m = 0 if i % 7 == 3 else int(rng.integers(1, 7))
        xy = rng.uniform(0, 300, (m, 2))
        wh = rng.choice([8.0, 40.0, 150.0], (m, 1)) * rng.uniform(0.5, 1.5, (m, 2))
        gt = np.concatenate([xy, xy + wh], 1)
        labels = rng.choice(classes, m)
        hits = rng.random(m) < 0.8
        det = gt[hits] + rng.normal(0, 1, (int(hits.sum()), 4)) * wh[hits].repeat(2, 1) * 0.15
        det_labels = labels[hits]
        n_fp = 0 if i % 5 == 1 else int(rng.integers(0, 4))
        fp_xy = rng.uniform(0, 300, (n_fp, 2))
        fp = np.concatenate([fp_xy, fp_xy + rng.uniform(5, 100, (n_fp, 2))], 1)
        det = np.concatenate([det, gt[hits][:2], fp])  # hits, two duplicates, false positives
        det_labels = np.concatenate([det_labels, labels[hits][:2], rng.choice(classes, n_fp)])
        if i % 7 == 5:
            det, det_labels = det[:0], det_labels[:0]
        det[:, 2:] = np.maximum(det[:, 2:], det[:, :2])
        if integer:
            det, gt = det.round(), gt.round()
        scores = rng.random(len(det))
        if tied:
            scores = scores.round(1)
        preds.append(
            {
                "boxes": torch.tensor(det, dtype=torch.float64).reshape(-1, 4),
                "scores": torch.tensor(scores, dtype=torch.float64),
                "labels": torch.tensor(det_labels, dtype=torch.int64),
            }
        )
        targets.append(
            {
                "boxes": torch.tensor(gt, dtype=torch.float64).reshape(-1, 4),
                "labels": torch.tensor(labels, dtype=torch.int64),
            }
        )
    return preds, targets


def pycocotools_eval(preds, targets, iou_thresholds=None):
    """The authority: COCOeval on the same data as COCO json (boxes as x, y, w, h)."""

    def xywh(b):
        return [b[0], b[1], b[2] - b[0], b[3] - b[1]]

    labels = sorted({int(c) for d in preds + targets for c in d["labels"]})
    gt = {
        "images": [{"id": i} for i in range(len(targets))],
        "categories": [{"id": c} for c in labels],
        "annotations": [],
    }
    for i, t in enumerate(targets):
        for box, c in zip(t["boxes"].tolist(), t["labels"].tolist(), strict=True):
            x, y, w, h = xywh(box)
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": i,
                    "category_id": c,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    dets = [
        {"image_id": i, "category_id": c, "bbox": xywh(box), "score": s}
        for i, p in enumerate(preds)
        for box, s, c in zip(p["boxes"].tolist(), p["scores"].tolist(), p["labels"].tolist(), strict=True)
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets)
        e = COCOeval(coco_gt, coco_dt, "bbox")
        if iou_thresholds is not None:
            e.params.iouThrs = np.array(iou_thresholds)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"seed": 1, "integer": True},
        {"seed": 2, "tied": True},
        {"seed": 3, "integer": True, "tied": True},
        {"seed": 4, "classes": (0,)},
        {"seed": 5, "n_images": 3},
    ],
)
def test_coco_map_equals_pycocotools(kwargs):
    preds, targets = make_data(**kwargs)
    ours = coco_map(preds, targets)
    e = pycocotools_eval(preds, targets)
    np.testing.assert_allclose([ours[k] for k in STATS], e.stats, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["precision"], e.eval["precision"][:, :, :, 0, -1], rtol=0, atol=1e-12)
    for k, c in enumerate(e.params.catIds):
        p = e.eval["precision"][:, :, k, 0, -1]
        expected = p[p > -1].mean() if (p > -1).any() else -1
        assert ours["map_per_class"][c] == pytest.approx(expected, abs=1e-12)
    assert len({round(v, 6) for v in ours.values() if isinstance(v, float)}) > 5  # not all the same number


def test_custom_thresholds_and_many_detections_like_pycocotools():
    preds, targets = make_data(30, seed=6)
    # more than 100 detections in an image: COCO keeps the 100 best of each image and class
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(150, 2, generator=g, dtype=torch.float64) * 200
    preds[0] = {
        "boxes": torch.cat([xy, xy + 30], 1),
        "labels": torch.full((150,), 3),
        "scores": torch.rand(150, generator=g, dtype=torch.float64),
    }
    thresholds = [0.1, 0.5, 0.7, 0.75, 0.9]
    ours = coco_map(preds, targets, iou_thresholds=thresholds)
    e = pycocotools_eval(preds, targets, thresholds)
    np.testing.assert_allclose([ours[k] for k in STATS], e.stats, rtol=0, atol=1e-12)
    assert list(ours["ap_per_iou"]) == thresholds


def test_no_ground_truth_for_a_class_and_images_without_anything():
    preds, targets = make_data(10, seed=7)
    preds[2]["labels"][:] = 99  # a class with detections but no ground truth: left out of the mean
    nothing = {"boxes": torch.zeros(0, 4, dtype=torch.float64), "labels": torch.zeros(0, dtype=torch.int64)}
    targets.append(nothing)
    preds.append({**nothing, "scores": torch.zeros(0, dtype=torch.float64)})
    ours = coco_map(preds, targets)
    e = pycocotools_eval(preds, targets)
    np.testing.assert_allclose([ours[k] for k in STATS], e.stats, rtol=0, atol=1e-12)
    assert ours["map_per_class"][99] == -1


def test_no_detections_at_all_like_torchmetrics():
    # pycocotools cannot load an empty result list; torchmetrics (on pycocotools) handles it
    from torchmetrics.detection import MeanAveragePrecision

    _, targets = make_data(8, seed=8)
    empty = [
        {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0).long()}
        for _ in targets
    ]
    metric = MeanAveragePrecision(iou_type="bbox")
    metric.update(empty, [{k: v.float() if k == "boxes" else v for k, v in t.items()} for t in targets])
    theirs = metric.compute()
    ours = coco_map(empty, targets)
    for key in ("map", "map_50", "map_75", "mar_100"):
        assert ours[key] == pytest.approx(float(theirs[key]), abs=1e-7)
    none = coco_map(empty, [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}] * 8)
    assert none["map"] == -1 and none["classes"] == []  # nothing to measure, as COCOeval says (-1)


def test_match_detections_equals_cocoeval_matches():
    preds, targets = make_data(20, seed=9, integer=True, tied=True)
    e = pycocotools_eval(preds, targets)
    checked = 0
    for ev in e.evalImgs:
        if ev is None or ev["aRng"] != [0, 1e10]:
            continue
        i, c = ev["image_id"], ev["category_id"]
        p, t = preds[i], targets[i]
        det_in, gt_in = p["labels"] == c, t["labels"] == c
        for ti, thr in enumerate(COCO_IOU_THRESHOLDS):
            tp, matched = match_detections(p["boxes"][det_in], p["scores"][det_in], t["boxes"][gt_in], thr)
            order = np.argsort(-p["scores"][det_in].numpy(), kind="stable")
            assert tp[order].tolist() == (ev["dtMatches"][ti] > 0).tolist()
            checked += 1
    assert checked > 100


def test_precision_recall_and_ap_of_one_class_equal_cocoeval():
    preds, targets = make_data(25, seed=10)
    e = pycocotools_eval(preds, targets)
    c = 7
    k = e.params.catIds.index(c)
    for ti, thr in enumerate(COCO_IOU_THRESHOLDS):
        scores, tps, num_gt = [], [], 0
        for p, t in zip(preds, targets, strict=True):
            tp, _ = match_detections(
                p["boxes"][p["labels"] == c], p["scores"][p["labels"] == c], t["boxes"][t["labels"] == c], thr
            )
            scores.append(p["scores"][p["labels"] == c])
            tps.append(tp)
            num_gt += int((t["labels"] == c).sum())
        precision, recall, _ = precision_recall(torch.cat(scores), torch.cat(tps), num_gt)
        coco_ap = e.eval["precision"][ti, :, k, 0, -1].mean()
        assert average_precision(recall, precision, "coco101") == pytest.approx(coco_ap, abs=1e-12)


def voc_ap(rec, prec):
    """The PASCAL VOC devkit's all-point AP (py-faster-rcnn voc_eval.py), a loop."""
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


@pytest.mark.parametrize("seed", range(5))
def test_all_points_ap_equals_voc_devkit(seed):
    g = torch.Generator().manual_seed(seed)
    n = 30
    tp = torch.rand(n, generator=g) < 0.6
    scores = (torch.rand(n, generator=g, dtype=torch.float64) * 5).round() / 5  # ties
    num_gt = int(tp.sum()) + seed
    precision, recall, thresholds = precision_recall(scores, tp, num_gt)
    assert torch.all(thresholds[:-1] >= thresholds[1:])
    ours = average_precision(recall, precision, "all_points")
    assert ours == pytest.approx(voc_ap(recall.numpy(), precision.numpy()), abs=1e-14)
    assert average_precision(recall[:0], precision[:0]) == 0.0


def test_notes_formulas_on_a_small_example():
    tp = torch.tensor([True, False, True, True, False])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5], dtype=torch.float64)
    precision, recall, _ = precision_recall(scores, tp, num_gt=4)
    assert precision.tolist() == [1 / 1, 1 / 2, 2 / 3, 3 / 4, 3 / 5]  # |TP| / |detections|
    assert recall.tolist() == [1 / 4, 1 / 4, 2 / 4, 3 / 4, 3 / 4]  # |TP| / |ground-truth boxes|
    # area under the envelope: recall 1/4 at precision 1, then 2/4 at 3/4 (the envelope of 2/3)
    assert average_precision(recall, precision) == pytest.approx(1 / 4 * 1 + 2 / 4 * 3 / 4)


def test_iou_at_the_threshold_is_a_match():
    gt = torch.tensor([[0.0, 0, 10, 10]], dtype=torch.float64)
    det = torch.tensor([[0.0, 0, 10, 5]], dtype=torch.float64)  # IoU exactly 0.5
    tp, matched = match_detections(det, torch.tensor([1.0], dtype=torch.float64), gt, 0.5)
    assert tp.tolist() == [True] and matched.tolist() == [0]
    assert match_detections(det, torch.tensor([1.0], dtype=torch.float64), gt, 0.51)[0].tolist() == [False]


@pytest.mark.parametrize(
    "call, arg, error",
    [
        (lambda: coco_map([{}], [{}]), "preds", ValueError),
        (lambda: coco_map({"boxes": 1}, []), "preds", TypeError),
        (
            lambda: coco_map([], [{"boxes": torch.zeros(1, 4), "labels": torch.zeros(1, dtype=torch.int64)}]),
            "preds and targets",
            ValueError,
        ),
        (
            lambda: coco_map(
                [{"boxes": torch.zeros(2, 4), "scores": torch.zeros(3), "labels": torch.zeros(2).long()}],
                [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0).long()}],
            ),
            "scores",
            ValueError,
        ),
        (
            lambda: coco_map(
                [{"boxes": torch.zeros(1, 4), "scores": torch.zeros(1), "labels": torch.zeros(1)}],
                [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0).long()}],
            ),
            "labels",
            TypeError,
        ),
        (lambda: coco_map([], [], iou_thresholds=[0.5, -0.1]), "iou_thresholds", ValueError),
        (
            lambda: match_detections(torch.zeros(2, 4), torch.zeros(2), torch.zeros(1, 3)),
            "gt_boxes",
            ValueError,
        ),
        (
            lambda: match_detections(torch.zeros(1, 4), torch.tensor([float("nan")]), torch.zeros(1, 4)),
            "scores",
            ValueError,
        ),
        (
            lambda: precision_recall(torch.zeros(2), torch.zeros(2, dtype=torch.bool), -1),
            "num_gt",
            ValueError,
        ),
        (lambda: precision_recall(torch.zeros(2), torch.zeros(3, dtype=torch.bool), 1), "tp", ValueError),
        (lambda: average_precision(torch.tensor([0.5, 0.2]), torch.ones(2)), "recall", ValueError),
        (lambda: average_precision(torch.ones(2), torch.ones(2), method="voc07"), "method", ValueError),
    ],
)
def test_bad_input_names_the_argument(call, arg, error):
    with pytest.raises(error, match=arg):
        call()


def test_zero_area_boxes_and_exact_ties_like_pycocotools():
    preds, targets = make_data(20, seed=11, integer=True, tied=True)
    for i in (0, 4, 8):  # zero-width and zero-height boxes among ground truths and detections
        if len(targets[i]["boxes"]):
            targets[i]["boxes"][0, 2] = targets[i]["boxes"][0, 0]
        if len(preds[i]["boxes"]) > 1:
            preds[i]["boxes"][:2, 3] = preds[i]["boxes"][:2, 1]
    preds[1]["scores"][:] = 0.5  # every detection of an image tied
    ours = coco_map(preds, targets)
    e = pycocotools_eval(preds, targets)
    np.testing.assert_allclose([ours[k] for k in STATS], e.stats, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["precision"], e.eval["precision"][:, :, :, 0, -1], rtol=0, atol=1e-12)
