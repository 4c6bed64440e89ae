r"""Detection metrics (notes, 4.1): TP/FP at an IoU threshold, precision, recall, the precision-recall
curve, average precision (AP), mAP and COCO's mAP over IoU 0.50:0.95.

``coco_map`` gives the numbers of pycocotools' ``COCOeval`` (Lin et al. 2014,
https://arxiv.org/abs/1405.0312; ``cocoapi/PythonAPI/pycocotools/cocoeval.py``) on the same data,
with COCO's rules kept exactly:

* detections of an image and class are taken by decreasing score (at most ``max_detections``); each is
  matched to the not yet matched ground truth of highest IoU, provided IoU >= threshold (the notes
  write ">": COCO counts an IoU equal to the threshold as a match); a detection matched to nothing is
  a false positive;
* in an area range ("small" < 32², "medium" 32²-96², "large" > 96² pixels) the ground truths outside
  it are ignored (a detection may match one, then counts neither as TP nor FP, but only if no other
  ground truth is left to match), as are unmatched detections outside it;
* precision is made monotone (each point takes the best precision at any higher recall) and read at
  101 recall levels 0, 0.01, ..., 1; AP is their mean, mAP the mean over classes (and thresholds),
  leaving out classes without ground truth.

``coco_map`` lives in :mod:`cvcourse.detection.coco` (vectorised: IoU matrices of all (image, class)
pairs at once, the greedy matching for all thresholds and pairs in one loop over the detection rank);
``match_detections``, ``precision_recall`` and ``average_precision`` here are the same steps for one
image and one class, written to be read.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from cvcourse._checks import check_choice, check_int, check_tensor

from ._validate import check_boxes, check_scores, check_threshold
from .coco import AREA_RANGES, COCO_IOU_THRESHOLDS, COCO_RECALL_LEVELS, _coco_iou, coco_map

__all__ = [
    "match_detections",
    "precision_recall",
    "average_precision",
    "coco_map",
    "COCO_IOU_THRESHOLDS",
    "COCO_RECALL_LEVELS",
    "AREA_RANGES",
]


# ------------------------------------------------------------------ one image, one class, readable
def match_detections(
    boxes: Tensor, scores: Tensor, gt_boxes: Tensor, iou_threshold: float = 0.5
) -> tuple[Tensor, Tensor]:
    """Which detections are true positives, greedily by decreasing score (COCO's rule).

    Each detection, highest score first (ties in input order), takes the not yet matched ground truth
    with the highest IoU, if that IoU is >= ``iou_threshold`` (of equal IoUs, the last ground truth,
    as COCOeval does); otherwise it is a false positive.

    Args:
        boxes (Tensor[N, 4]): detections of one class in one image, (x1, y1, x2, y2).
        scores (Tensor[N]): their confidences.
        gt_boxes (Tensor[M, 4]): the ground-truth boxes of that class.
        iou_threshold: in [0, 1].

    Returns:
        ``(tp, matched)``: Tensor[N] bool, True for a true positive, and Tensor[N] int64, the index of
        the ground truth each detection matched (-1 for none), both in the input order.
    """
    sizes: dict = {}
    boxes = check_boxes("boxes", boxes, sizes=sizes)
    scores = check_scores("scores", scores, sizes=sizes)
    gt_boxes = check_boxes("gt_boxes", gt_boxes, size_name="M")
    threshold = min(check_threshold("iou_threshold", iou_threshold), 1 - 1e-10)  # COCOeval's cap
    iou = _coco_iou(boxes.double().numpy(), gt_boxes.double().numpy())  # [N, M]
    order = np.argsort(-scores.double().numpy(), kind="stable")
    matched = np.full(len(boxes), -1)
    taken = np.zeros(len(gt_boxes), dtype=bool)
    for d in order:
        candidates = np.where(~taken & (iou[d] >= threshold), iou[d], -1.0)  # [M]
        if candidates.size and candidates.max() >= 0:
            g = len(candidates) - 1 - int(np.argmax(candidates[::-1]))  # last of the best
            matched[d], taken[g] = g, True
    matched = torch.from_numpy(matched)
    return matched >= 0, matched


def precision_recall(scores: Tensor, tp: Tensor, num_gt: int) -> tuple[Tensor, Tensor, Tensor]:
    r"""The precision-recall curve: rank detections by confidence and lower the threshold
    :math:`\rho_{\min}` one detection at a time (notes, Fig. 4.2).

    .. math::
        \text{precision}_k = \frac{|\text{TP among the first } k|}{k}, \qquad
        \text{recall}_k = \frac{|\text{TP among the first } k|}{|\text{ground-truth boxes}|}

    Args:
        scores (Tensor[N]): confidences of the detections (of one class, over all images).
        tp (Tensor[N] bool): whether each detection is a true positive (``match_detections``).
        num_gt: the number of ground-truth boxes (>= 0; 0 gives a recall of NaN).

    Returns:
        ``(precision, recall, thresholds)``, each Tensor[N] float64 in decreasing score order
        (ties in input order); ``thresholds`` are the sorted scores.
    """
    sizes: dict = {}
    scores = check_scores("scores", scores, sizes=sizes)
    tp = check_tensor("tp", tp, shape=("N",), sizes=sizes, dtype="bool")
    num_gt = check_int("num_gt", num_gt, low=0)
    order = torch.sort(scores, descending=True, stable=True).indices
    tp_cum = torch.cumsum(tp[order].double(), 0)
    ranks = torch.arange(1, len(tp) + 1, dtype=torch.float64)
    recall = tp_cum / num_gt if num_gt else torch.full_like(tp_cum, float("nan"))
    return tp_cum / ranks, recall, scores[order].double()


def average_precision(recall: Tensor, precision: Tensor, method: str = "all_points") -> float:
    r"""Area under the precision-recall curve, with precision made monotone first:
    :math:`p_{\text{interp}}(r) = \max_{r' \ge r} p(r')`.

    * ``"all_points"`` (PASCAL VOC 2010+): the exact area under :math:`p_{\text{interp}}`,
      :math:`\sum_k (r_k - r_{k-1})\, p_{\text{interp}}(r_k)`;
    * ``"coco101"`` (COCO): the mean of :math:`p_{\text{interp}}` at the 101 recalls
      0, 0.01, ..., 1 (0 beyond the highest recall reached), as COCOeval computes it.

    Args:
        recall (Tensor[N]), precision (Tensor[N]): the curve in decreasing-score order
            (``precision_recall``); recall non-decreasing.
        method: ``"all_points"`` or ``"coco101"``.

    Returns:
        AP in [0, 1] (0 for an empty curve).
    """
    sizes: dict = {}
    recall = check_tensor("recall", recall, shape=("N",), sizes=sizes, dtype="float", finite=True)
    precision = check_tensor("precision", precision, shape=("N",), sizes=sizes, dtype="float", finite=True)
    check_choice("method", method, ("all_points", "coco101"))
    r = recall.double().numpy()
    p = precision.double().numpy()
    if np.any(np.diff(r) < 0):
        raise ValueError("recall must be non-decreasing (the curve in decreasing-score order)")
    if r.size == 0:
        return 0.0
    envelope = np.maximum.accumulate(p[::-1])[::-1]  # best precision at this recall or higher
    if method == "coco101":
        at = np.searchsorted(r, COCO_RECALL_LEVELS, side="left")
        sampled = np.where(at < len(r), envelope[np.minimum(at, len(r) - 1)], 0.0)
        return float(sampled.mean())
    steps = np.diff(np.concatenate([[0.0], r]))  # recall gained at each detection
    return float(np.sum(steps * envelope))
