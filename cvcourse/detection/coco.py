r"""COCO's mAP, vectorised: ``coco_map`` gives the numbers of pycocotools' ``COCOeval``.

Lin et al. 2014, https://arxiv.org/abs/1405.0312; ``cocoapi/PythonAPI/pycocotools/cocoeval.py``. The
rules it keeps exactly are listed in :mod:`cvcourse.detection.metrics`, which holds the same steps for
one image and one class, written to be read. Here the IoU matrices of all (image, class) pairs are
computed at once, and the greedy matching runs for all thresholds and pairs in one loop over the
detection rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cvcourse._checks import check_int, check_tensor, check_type

from ._validate import check_boxes, check_scores, check_threshold

__all__ = ["coco_map", "COCO_IOU_THRESHOLDS", "COCO_RECALL_LEVELS", "AREA_RANGES"]

# Exactly as COCOeval builds them (np.linspace), so lookups like iou == 0.75 behave the same.
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
COCO_RECALL_LEVELS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1)
AREA_RANGES = {
    "all": (0.0, 1e5**2),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}


# ------------------------------------------------------------------------------ COCO mAP, fast
def _coco_iou(det: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU [..., D, G] as pycocotools computes it: boxes stored as (x, y, w, h), right edge x + w,
    union ``area_d + area_g - inter``, 0 when the boxes do not overlap (also for zero-area boxes)."""
    dx, dy, dw, dh = _xywh(det)
    gx, gy, gw, gh = _xywh(gt)
    w = np.minimum((dw + dx)[..., :, None], (gw + gx)[..., None, :]) - np.maximum(
        dx[..., :, None], gx[..., None, :]
    )
    h = np.minimum((dh + dy)[..., :, None], (gh + gy)[..., None, :]) - np.maximum(
        dy[..., :, None], gy[..., None, :]
    )
    inter = w * h
    union = (dw * dh)[..., :, None] + (gw * gh)[..., None, :] - inter
    overlap = (w > 0) & (h > 0)
    return np.where(overlap, inter / np.where(overlap, union, 1.0), 0.0)


def _xywh(boxes: np.ndarray) -> tuple[np.ndarray, ...]:
    x, y = boxes[..., 0], boxes[..., 1]
    return x, y, boxes[..., 2] - x, boxes[..., 3] - y


def _check_list(name: str, items: Any, keys: tuple[str, ...]) -> list[dict]:
    check_type(name, items, (list, tuple), "a list of dicts, one per image")
    for i, item in enumerate(items):
        check_type(f"{name}[{i}]", item, dict, f"a dict with keys {', '.join(keys)}")
        missing = [k for k in keys if k not in item]
        if missing:
            raise ValueError(f"{name}[{i}] must have keys {', '.join(keys)}; missing {', '.join(missing)}")
        sizes: dict = {}
        check_boxes(f"{name}[{i}]['boxes']", item["boxes"], sizes=sizes)
        check_tensor(f"{name}[{i}]['labels']", item["labels"], shape=("N",), sizes=sizes, dtype="int")
        if "scores" in keys:
            check_scores(f"{name}[{i}]['scores']", item["scores"], sizes=sizes)
    return list(items)


def _flatten(items: list[dict], with_scores: bool) -> dict[str, np.ndarray]:
    """All boxes of all images in one set of arrays: image index, label, box, score, input order."""
    counts = [len(item["labels"]) for item in items]

    def cat(key, dt):
        return (
            np.concatenate([item[key].detach().cpu().numpy().astype(dt) for item in items])
            if items
            else np.zeros(0, dt)
        )

    flat = {
        "image": np.repeat(np.arange(len(items)), counts),
        "label": cat("labels", np.int64),
        "box": cat("boxes", np.float64).reshape(-1, 4),
    }
    flat["score"] = cat("scores", np.float64) if with_scores else np.zeros(len(flat["label"]))
    return flat


def _rank_in_group(group: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by (group, key, input order); return the order and each item's rank inside its group."""
    order = np.lexsort((np.arange(len(group)), key, group))
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if len(g) else np.zeros(0, np.int64)
    first = np.repeat(starts, np.diff(np.r_[starts, len(g)]))
    rank = np.empty(len(group), np.int64)
    rank[order] = np.arange(len(g)) - first
    return order, rank


def _match_all(
    iou: np.ndarray,
    det_valid: np.ndarray,
    gt_valid: np.ndarray,
    gt_ignored: np.ndarray,
    thresholds: np.ndarray,
) -> np.ndarray:
    """COCO's greedy matching for every (image, class) pair and threshold at once.

    Args:
        iou: [P, D, G] (detections by rank); det_valid [P, D], gt_valid [P, G]; gt_ignored [P, G].
        thresholds: [T].

    Returns:
        int [P, T, D]: the ground truth each detection matched (-1 for none).
    """
    P, D, G = iou.shape
    T = len(thresholds)
    taken = np.zeros((P, T, G), dtype=bool)
    matches = np.full((P, T, D), -1)
    active = det_valid.sum(1)  # groups are sorted by their number of detections, most first
    cap = np.minimum(thresholds, 1 - 1e-10)[None, :, None]  # [1, T, 1]
    for d in range(D):
        n = int(np.count_nonzero(active > d))  # groups with a detection of rank d
        ious = iou[:n, d, None, :]  # [n, 1, G]
        ok = ~taken[:n] & (ious >= cap) & gt_valid[:n, None, :]  # [n, T, G]
        best = np.full((n, T), -1)
        for tier in (~gt_ignored[:n, None, :], gt_ignored[:n, None, :]):  # a kept ground truth first
            score = np.where(ok & tier, ious, -1.0)[..., ::-1]  # reversed: argmax finds the last best
            pick = G - 1 - np.argmax(score, axis=-1)  # [n, T]
            found = (score.max(-1) >= 0) & (best < 0)
            best = np.where(found, pick, best)
        hit = best >= 0
        p_idx, t_idx = np.nonzero(hit)
        taken[p_idx, t_idx, best[hit]] = True
        matches[:n, :, d] = best
    return matches


def _layout(dt: dict, gt: dict, classes: np.ndarray, max_det: int) -> dict[str, np.ndarray]:
    """Padded arrays with one row per (image, class) pair that has a box: its detections by rank (at
    most ``max_det``), its ground truths in input order, their IoU matrix [P, D, G] and areas. Rows
    are sorted by their number of detections, most first (``_match_all`` relies on it)."""
    k = max(len(classes), 1)
    dt_group = dt["image"] * k + np.searchsorted(classes, dt["label"])
    gt_group = gt["image"] * k + np.searchsorted(classes, gt["label"])
    _, dt_rank = _rank_in_group(dt_group, -dt["score"])
    _, gt_rank = _rank_in_group(gt_group, np.zeros(len(gt_group)))
    kept = dt_rank < max_det
    groups = np.unique(np.concatenate([dt_group[kept], gt_group]))
    n_dt = np.bincount(np.searchsorted(groups, dt_group[kept]), minlength=len(groups))
    groups = groups[np.argsort(-n_dt, kind="stable")]  # most detections first
    sorted_ids, row_of = np.unique(groups), np.argsort(groups)  # group id -> its row: row_of[rank]
    P = len(groups)
    D = int(dt_rank[kept].max()) + 1 if kept.any() else 0
    G = int(gt_rank.max()) + 1 if len(gt_rank) else 0
    det_box, det_valid, det_score = np.zeros((P, D, 4)), np.zeros((P, D), bool), np.zeros((P, D))
    dp, dr = row_of[np.searchsorted(sorted_ids, dt_group[kept])], dt_rank[kept]
    det_box[dp, dr], det_valid[dp, dr], det_score[dp, dr] = dt["box"][kept], True, dt["score"][kept]
    gt_box, gt_valid = np.zeros((P, G, 4)), np.zeros((P, G), bool)
    gp = row_of[np.searchsorted(sorted_ids, gt_group)]
    gt_box[gp, gt_rank], gt_valid[gp, gt_rank] = gt["box"], True
    return {
        "iou": _coco_iou(det_box, gt_box),
        "det_valid": det_valid,
        "gt_valid": gt_valid,
        "det_score": det_score,
        "image_of": groups // k,
        "class_of": groups % k,
        # areas as COCO has them: w * h (loadRes computes a detection's from its bbox)
        "det_area": (det_box[..., 2] - det_box[..., 0]) * (det_box[..., 3] - det_box[..., 1]),
        "gt_area": (gt_box[..., 2] - gt_box[..., 0]) * (gt_box[..., 3] - gt_box[..., 1]),
    }


def coco_map(
    preds: Sequence[dict],
    targets: Sequence[dict],
    iou_thresholds: Sequence[float] | None = None,
    max_detections: Sequence[int] = (1, 10, 100),
) -> dict[str, Any]:
    """COCO mean average precision, equal to pycocotools' ``COCOeval(..., "bbox")`` on the same data.

    Args:
        preds: one dict per image, ``{"boxes": Tensor[N, 4] (x1, y1, x2, y2), "scores": Tensor[N],
            "labels": Tensor[N] int}`` (as ``torchmetrics.detection.MeanAveragePrecision`` takes them).
        targets: one dict per image, ``{"boxes": Tensor[M, 4], "labels": Tensor[M] int}``. Class ids
            are any integers; images may have no boxes.
        iou_thresholds: default COCO's 0.50, 0.55, ..., 0.95.
        max_detections: detections per image and class kept for the recalls ``mar_<k>``; the last
            is used for every AP (COCO: 1, 10, 100).

    Returns:
        A dict of floats: ``map`` (mean over thresholds and classes), ``map_50``, ``map_75``,
        ``map_small``, ``map_medium``, ``map_large``, ``mar_<k>`` for each k of ``max_detections``,
        ``mar_small``, ``mar_medium``, ``mar_large`` (pycocotools' 12 ``stats``; -1 where nothing
        counts, e.g. no ground truth), ``map_per_class`` ``{class id: AP}``, ``ap_per_iou``
        ``{threshold: mAP}``, and ``precision``, the ndarray [T, 101, K] of the "all" area range
        (-1 for classes without ground truth) with ``classes``, the K class ids.
    """
    preds = _check_list("preds", preds, ("boxes", "scores", "labels"))
    targets = _check_list("targets", targets, ("boxes", "labels"))
    if len(preds) != len(targets):
        raise ValueError(
            f"preds and targets must have one entry per image, got {len(preds)} preds and "
            f"{len(targets)} targets"
        )
    if iou_thresholds is None:
        thresholds = COCO_IOU_THRESHOLDS
    else:
        check_type("iou_thresholds", iou_thresholds, (list, tuple, np.ndarray), "a sequence of floats")
        thresholds = np.array(
            [check_threshold(f"iou_thresholds[{i}]", t) for i, t in enumerate(iou_thresholds)]
        )
        if thresholds.size == 0:
            raise ValueError("iou_thresholds must not be empty")
    check_type("max_detections", max_detections, (list, tuple), "a sequence of ints")
    max_dets = [check_int(f"max_detections[{i}]", m, low=1) for i, m in enumerate(max_detections)]
    if not max_dets:
        raise ValueError("max_detections must not be empty")

    dt, gt = _flatten(preds, True), _flatten(targets, False)
    classes = np.unique(np.concatenate([dt["label"], gt["label"]]))
    lay = _layout(dt, gt, classes, max_dets[-1])
    iou, det_valid, gt_valid = lay["iou"], lay["det_valid"], lay["gt_valid"]
    det_area, gt_area, det_score = lay["det_area"], lay["gt_area"], lay["det_score"]
    image_of, class_of = lay["image_of"], lay["class_of"]
    P, _, G = iou.shape

    results: dict[str, Any] = {}
    precision_all = None
    K = len(classes)
    summary = {}
    for area_name, (lo, hi) in AREA_RANGES.items():
        gt_ignored = gt_valid & ((gt_area < lo) | (gt_area > hi))
        matches = _match_all(iou, det_valid, gt_valid, gt_ignored, thresholds)  # [P, T, D]
        matched = matches >= 0
        # a detection matched to an ignored ground truth is ignored, and so is an unmatched one
        # outside the area range
        hit_ignored = (
            gt_ignored[np.arange(P)[:, None, None], np.maximum(matches, 0)]
            if G
            else np.zeros(matches.shape, bool)
        )
        det_ignored = np.where(matched, hit_ignored, ((det_area < lo) | (det_area > hi))[:, None, :])
        for m in max_dets if area_name == "all" else max_dets[-1:]:
            precision, recall = _accumulate(
                matched, det_ignored, det_valid, det_score, gt_valid, gt_ignored, image_of, class_of, K, m
            )
            if m == max_dets[-1]:
                summary[("ap", area_name)] = precision
                if area_name == "all":
                    precision_all = precision
            summary[("ar", area_name, m)] = recall

    def mean(values: np.ndarray) -> float:
        values = values[values > -1]
        return float(values.mean()) if values.size else -1.0

    results["map"] = mean(summary[("ap", "all")])
    for name, t in (("map_50", 0.5), ("map_75", 0.75)):
        results[name] = mean(summary[("ap", "all")][np.where(thresholds == t)[0]])
    for area_name in ("small", "medium", "large"):
        results[f"map_{area_name}"] = mean(summary[("ap", area_name)])
    for m in max_dets:
        results[f"mar_{m}"] = mean(summary[("ar", "all", m)])
    for area_name in ("small", "medium", "large"):
        results[f"mar_{area_name}"] = mean(summary[("ar", area_name, max_dets[-1])])
    results["map_per_class"] = {int(c): mean(precision_all[:, :, k]) for k, c in enumerate(classes)}
    results["ap_per_iou"] = {float(t): mean(precision_all[i]) for i, t in enumerate(thresholds)}
    results["precision"] = precision_all
    results["classes"] = [int(c) for c in classes]
    return results


def _accumulate(
    matched, det_ignored, det_valid, det_score, gt_valid, gt_ignored, image_of, class_of, K: int, max_det: int
) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval.accumulate for one area range and one detection limit.

    Returns:
        precision [T, R, K] and recall [T, K], -1 for classes without (non-ignored) ground truth.
    """
    P, T, D = matched.shape
    R = len(COCO_RECALL_LEVELS)
    precision = -np.ones((T, R, K))
    recall = -np.ones((T, K))
    use = det_valid[:, :max_det]  # [P, D'] the first max_det detections of each group
    for k in range(K):
        rows = np.flatnonzero(class_of == k)
        num_gt = int(np.count_nonzero(gt_valid[rows] & ~gt_ignored[rows]))
        if num_gt == 0:
            continue
        p_idx, d_idx = np.nonzero(use[rows])
        p_idx = rows[p_idx]
        # all detections of the class, by decreasing score; ties by image, then by rank (COCOeval's
        # stable sort of the per-image lists concatenated in image order)
        order = np.lexsort((d_idx, image_of[p_idx], -det_score[p_idx, d_idx]))
        p_idx, d_idx = p_idx[order], d_idx[order]
        counted = ~det_ignored[p_idx, :, d_idx].T  # [T, n]
        tp = np.cumsum(matched[p_idx, :, d_idx].T & counted, axis=1).astype(float)
        fp = np.cumsum(~matched[p_idx, :, d_idx].T & counted, axis=1).astype(float)
        n = tp.shape[1]
        rc = tp / num_gt
        pr = tp / (fp + tp + np.spacing(1))
        recall[:, k] = rc[:, -1] if n else 0
        if n:
            pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # the monotone envelope
        for t in range(T):
            at = np.searchsorted(rc[t], COCO_RECALL_LEVELS, side="left")
            precision[t, :, k] = np.where(at < n, pr[t, np.minimum(at, n - 1)] if n else 0.0, 0.0)
    return precision, recall
