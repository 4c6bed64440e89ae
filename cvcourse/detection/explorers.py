"""What chapter 4a's explorers show, without the widgets: scenes, scored candidates, and the pure
functions ``anchor_view``, ``nms_view`` and ``pr_view`` that compute each picture's contents.

The scenes are synthetic ``ShapesDetection`` scenes; the candidates (``synthetic_detections``) are
jittered copies of the ground truth plus false positives, deterministic from a seed.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .anchors import anchor_grid, label_anchors
from .boxes import box_iou
from .metrics import average_precision, match_detections, precision_recall
from .nms import nms_steps

__all__ = [
    "detection_scenes",
    "synthetic_detections",
    "anchor_view",
    "nms_view",
    "pr_view",
    "CLOSE_OBJECTS",
    "SIZE",
]

SIZE = 128
CLOSE_OBJECTS = "close objects (NMS merges them)"
COLORS = {
    "positive": "#2ca02c",
    "negative": "#9e9e9e",
    "ignored": "#ff9f1c",
    "kept": "#2ca02c",
    "current": "#1f77b4",
    "suppressed": "#d62728",
    "gone": "#bdbdbd",
    "unchecked": "#ffd54f",
    "gt": "#00e5ff",
    "tp": "#2ca02c",
    "fp": "#d62728",
}
RATIOS = {"1": (1.0,), "0.5, 1, 2": (0.5, 1.0, 2.0), "0.25, 0.5, 1, 2, 4": (0.25, 0.5, 1.0, 2.0, 4.0)}
STYLE = {"description_width": "110px"}


# ------------------------------------------------------------------------------------- data
def detection_scenes(n: int = 4, seed: int = 3, close_objects: bool = True) -> dict[str, dict]:
    """The explorers' scenes: ``{name: {"image": ndarray[H, W, 3], "boxes": Tensor[K, 4] float64,
    "labels": Tensor[K]}}`` from ``ShapesDetection`` (128 x 128, up to 6 shapes), and a scene of
    two objects of one class overlapping with IoU 0.55 (``CLOSE_OBJECTS``)."""
    from cvcourse.data import ShapesDetection

    data = ShapesDetection(n, size=SIZE, seed=seed, max_objects=6)
    scenes = {}
    for i in range(n):
        image, target = data[i]
        scenes[f"scene {i + 1}"] = {
            "image": image.permute(1, 2, 0).numpy(),
            "boxes": target["boxes"].double(),
            "labels": target["labels"],
        }
    if close_objects:
        boxes = torch.tensor([[30.0, 40, 80, 100], [42, 44, 92, 104]], dtype=torch.float64)
        image = np.full((SIZE, SIZE, 3), 0.85)
        for (x1, y1, x2, y2), shade in zip(boxes.int().tolist(), (0.35, 0.55), strict=True):
            image[y1:y2, x1:x2] = (shade, shade * 0.8, 0.9 - shade)
        scenes[CLOSE_OBJECTS] = {"image": image, "boxes": boxes, "labels": torch.tensor([1, 1])}
    return scenes


def synthetic_detections(
    gt_boxes: Tensor,
    gt_labels: Tensor,
    seed: int = 0,
    per_object: int = 5,
    false_positives: int = 4,
    size: int = SIZE,
) -> tuple[Tensor, Tensor, Tensor]:
    """Scored candidates as a detector gives them before NMS: ``per_object`` jittered copies of each
    ground-truth box (jitter 4-20 % of its size; the closer the copy, the higher its score, plus
    noise) and ``false_positives`` random boxes with lower scores. Deterministic from ``seed``.

    Returns:
        ``(boxes Tensor[N, 4] float64, scores Tensor[N] float64, labels Tensor[N] int64)``.
    """
    rng = np.random.default_rng(seed)
    gt = gt_boxes.double().numpy()
    wh = np.repeat(gt[:, 2:] - gt[:, :2], per_object, 0)  # [K * per_object, 2]
    spread = rng.uniform(0.04, 0.2, (len(wh), 1))
    boxes = np.repeat(gt, per_object, 0) + rng.normal(0, 1, (len(wh), 4)) * np.tile(wh, 2) * spread
    scores = np.clip(1.0 - 2.5 * spread[:, 0] + rng.normal(0, 0.08, len(wh)), 0.05, 0.99)
    labels = np.repeat(gt_labels.numpy(), per_object)
    xy = rng.uniform(0, size * 0.8, (false_positives, 2))
    fp = np.concatenate([xy, xy + rng.uniform(10, size * 0.4, (false_positives, 2))], 1)
    boxes = np.concatenate([boxes, fp]).clip(0, size)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    scores = np.concatenate([scores, rng.uniform(0.05, 0.7, false_positives)])
    labels = np.concatenate([labels, rng.integers(1, 6, false_positives)])
    return torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(labels).long()


# ------------------------------------------------------------------------------ pure functions
def anchor_view(
    gt_boxes: Tensor,
    scale: int,
    ratios: tuple[float, ...],
    stride: int,
    image_size: int = SIZE,
    gt_index: int | None = None,
    top: int = 3,
) -> dict:
    """What the anchor explorer shows: the anchors of a ``stride`` grid over the image with sizes
    (scale, 2 scale) and ``ratios``, labelled as the RPN labels them (``label_anchors``), their
    counts, and for ground truth ``gt_index`` its ``top`` best anchors and their IoU."""
    grid = image_size // stride
    anchors = anchor_grid((grid, grid), stride, (scale, 2 * scale), ratios, dtype=torch.float64)
    anchors = anchors + stride / 2  # centred on the cells (torchvision puts them on the corners)
    labels, _ = label_anchors(anchors, gt_boxes)
    counts = {
        name: int((labels == value).sum())
        for name, value in (("positive", 1), ("negative", 0), ("ignored", -1))
    }
    view = {"anchors": anchors, "labels": labels, "counts": counts, "best": [], "best_iou": []}
    if gt_index is not None and len(gt_boxes):
        iou = box_iou(gt_boxes[gt_index : gt_index + 1], anchors)[0]
        best = torch.sort(iou, descending=True, stable=True).indices[:top]
        view["best"], view["best_iou"] = best.tolist(), iou[best].tolist()
    return view


def nms_view(
    boxes: Tensor, scores: Tensor, iou_threshold: float, score_threshold: float, step: int | None = None
) -> dict:
    """Greedy NMS after ``step`` steps (None: all) on the candidates scoring >= ``score_threshold``.

    Returns:
        a dict of input indices: ``candidates``, ``kept`` (kept so far), ``current`` (the box kept by
        the last step, or None) and ``current_suppressed`` (what it eliminated), ``suppressed``
        (eliminated by earlier steps), ``unchecked``; and ``n_steps``, ``step``, ``steps``.
    """
    candidates = torch.nonzero(scores >= score_threshold).flatten()
    steps = [
        (int(candidates[k]), [int(candidates[j]) for j in gone])
        for k, gone in nms_steps(boxes[candidates], scores[candidates], iou_threshold)
    ]
    step = len(steps) if step is None else max(0, min(step, len(steps)))
    done = steps[:step]
    current, current_suppressed = (done[-1][0], done[-1][1]) if done else (None, [])
    seen = {k for k, _ in done} | {j for _, gone in done for j in gone}
    return {
        "candidates": candidates.tolist(),
        "kept": [k for k, _ in done],
        "current": current,
        "current_suppressed": current_suppressed,
        "suppressed": [j for _, gone in done[:-1] for j in gone],
        "unchecked": [i for i in candidates.tolist() if i not in seen],
        "n_steps": len(steps),
        "step": step,
        "steps": steps,
    }


def pr_view(
    boxes: Tensor,
    scores: Tensor,
    labels: Tensor,
    gt_boxes: Tensor,
    gt_labels: Tensor,
    iou_threshold: float,
    confidence: float,
) -> dict:
    """The precision-recall curve of one scene's detections (each matched within its class,
    ``match_detections``) and the point at confidence threshold ``confidence``.

    Returns:
        ``tp`` (Tensor[N] bool, input order), ``precision``, ``recall``, ``thresholds`` (ranked),
        ``envelope`` (the monotone precision), ``ap_all_points``, ``ap_coco101``, ``shown`` (the
        detections scoring >= confidence), ``point`` ((recall, precision) there, or None).
    """
    tp = torch.zeros(len(boxes), dtype=torch.bool)
    for c in torch.unique(torch.cat([labels, gt_labels])).tolist():
        d, g = labels == c, gt_labels == c
        tp[d] = match_detections(boxes[d], scores[d], gt_boxes[g], iou_threshold)[0]
    precision, recall, thresholds = precision_recall(scores, tp, len(gt_boxes))
    envelope = torch.flip(torch.cummax(torch.flip(precision, [0]), 0).values, [0])
    k = int((thresholds >= confidence).sum())
    return {
        "tp": tp,
        "precision": precision,
        "recall": recall,
        "thresholds": thresholds,
        "envelope": envelope,
        "ap_all_points": average_precision(recall, precision, "all_points"),
        "ap_coco101": average_precision(recall, precision, "coco101"),
        "shown": torch.nonzero(scores >= confidence).flatten().tolist(),
        "point": (float(recall[k - 1]), float(precision[k - 1])) if k else None,
    }


# ----------------------------------------------------------------------------------- drawing
