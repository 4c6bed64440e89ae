r"""Non-maximum suppression (notes, 4.2.4): one box per object out of many overlapping ones.

Greedy NMS, as the notes write it:

1. until there are unchecked boxes: take the box with the highest confidence (keep it);
2. eliminate every remaining box whose IoU with it is higher than the threshold.

``nms`` and ``batched_nms`` have torchvision's signatures and results (``torchvision.ops.nms``: the
same kept indices in the same order, by decreasing score; tied scores keep their input order, a box
is suppressed when IoU > threshold, strictly). The fast version works in blocks of 64 boxes: their
IoU with every unchecked box in one array operation, the greedy loop inside the block, and one
elimination step for everything after it; ``nms_loop`` is the obvious one-box-at-a-time version,
tested equal; ``nms_steps`` records each step (the box kept, the boxes
it suppressed) for the explorer and the notebook.

Remark (notes): two objects that overlap more than the threshold are merged into one detection;
``nms_explorer``'s "close objects" scene shows it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from cvcourse._checks import check_tensor

from ._validate import check_boxes, check_scores, check_threshold

__all__ = ["nms", "batched_nms", "nms_steps", "nms_loop"]


def _check(boxes, scores, iou_threshold) -> tuple[Tensor, Tensor, float]:
    sizes: dict = {}
    boxes = check_boxes("boxes", boxes, sizes=sizes, dtype="float")
    scores = check_scores("scores", scores, sizes=sizes)
    return boxes, scores, check_threshold("iou_threshold", iou_threshold)


def _by_score(scores: Tensor) -> Tensor:
    # decreasing score; a stable sort keeps tied boxes in their input order, as torchvision does
    return torch.sort(scores, descending=True, stable=True).indices


def _threshold_in(dtype: np.dtype, iou_threshold: float) -> np.floating:
    """The threshold t' of the boxes' dtype with ``iou > t'`` exactly when ``iou > iou_threshold`` (C++
    compares a float IoU with a double threshold): the largest float of ``dtype`` <= the threshold."""
    t = dtype.type(iou_threshold)
    # compared as Python floats (doubles): NumPy 2 would compare ``t > iou_threshold`` in float32,
    # where float32(0.2) > 0.2 is False, and keep a box whose float IoU 0.2f torchvision suppresses
    return np.nextafter(t, dtype.type(-np.inf)) if float(t) > iou_threshold else t


BLOCK = 64  # boxes resolved together (torchvision's CUDA kernel works in blocks of 64 too)


def _overlaps(head: np.ndarray, unchecked: np.ndarray, threshold: np.floating) -> np.ndarray:
    """bool [B, M]: IoU(head box i, unchecked box j) > threshold, with the float operations of
    torchvision's C++ kernel, so the same IoUs bit for bit."""
    x1, y1, x2, y2, area = (r[:, None] for r in head)  # [B, 1] each
    w = np.maximum(np.minimum(x2, unchecked[2]) - np.maximum(x1, unchecked[0]), 0)  # [B, M]
    h = np.maximum(np.minimum(y2, unchecked[3]) - np.maximum(y1, unchecked[1]), 0)
    inter = w * h
    with np.errstate(invalid="ignore"):  # two zero-area boxes: 0 / 0 = NaN, never > threshold
        return inter / (area + unchecked[4] - inter) > threshold


def _greedy(boxes: Tensor, scores: Tensor, iou_threshold: float, steps: list | None = None) -> Tensor:
    """The greedy scan, vectorised by blocks: the BLOCK best unchecked boxes get their IoU with every
    unchecked box in one array operation; the notes' loop then runs inside the block on that small
    matrix (keep the best box left, drop the ones it overlaps), and the boxes after the block that a
    kept box overlaps are eliminated all at once. Same result as one box at a time (``nms_loop``)."""
    order = _by_score(scores).cpu()
    dtype = boxes.dtype if boxes.dtype in (torch.float32, torch.float64) else torch.float32
    b = boxes.detach().cpu().to(dtype)[order]  # [N, 4] in decreasing score
    rows = [b[:, 0], b[:, 1], b[:, 2], b[:, 3], (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])]
    unchecked = torch.stack(rows).numpy()  # [5, N]: x1, y1, x2, y2, area; best score first
    index = order.numpy()  # input index of each unchecked box
    threshold = _threshold_in(unchecked.dtype, iou_threshold)
    keep = []
    while index.size:
        n = min(BLOCK, index.size)
        over = _overlaps(unchecked[:, :n], unchecked, threshold)  # [n, M]
        alive = np.ones(n, dtype=bool)
        kept = []
        for i in range(n):  # a) the best box still unchecked is kept, b) the ones it overlaps go
            if alive[i]:
                kept.append(i)
                alive &= ~over[i, :n]
        if steps is not None:
            left = np.ones(index.size, dtype=bool)
            for i in kept:
                left[i] = False
                gone = over[i] & left
                left &= ~gone
                steps.append((int(index[i]), index[gone].tolist()))
        keep.extend(index[kept].tolist())
        survive = ~over[kept, n:].any(0)  # [M - n] the boxes after the block no kept box overlaps
        unchecked, index = unchecked[:, n:][:, survive], index[n:][survive]
    return torch.as_tensor(np.asarray(keep, dtype=np.int64), device=boxes.device)


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression, equal to ``torchvision.ops.nms``.

    Args:
        boxes (Tensor[N, 4]): boxes in (x1, y1, x2, y2) format with x1 <= x2 and y1 <= y2.
        scores (Tensor[N]): confidence of each box (no NaN).
        iou_threshold (float): in [0, 1]; a box whose IoU with a kept box is > this is discarded.

    Returns:
        Tensor[K] (int64): indices of the kept boxes, by decreasing score.
    """
    boxes, scores, iou_threshold = _check(boxes, scores, iou_threshold)
    return _greedy(boxes, scores, iou_threshold)


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """NMS within each category: boxes of different ``idxs`` never suppress each other.

    Equal to ``torchvision.ops.batched_nms``: NMS on each category's boxes on its own, the kept boxes
    of all categories merged by decreasing score (ties by input order). That is what one NMS over
    all boxes gives when boxes of different categories never overlap, which torchvision arranges for
    small inputs by shifting each category's boxes far apart (by ``idxs * (max coordinate + 1)``).

    Args:
        boxes (Tensor[N, 4]): boxes in (x1, y1, x2, y2) format.
        scores (Tensor[N]): scores.
        idxs (Tensor[N]): integer category (or image) of each box.
        iou_threshold (float): in [0, 1].

    Returns:
        Tensor[K] (int64): indices of the kept boxes, by decreasing score.
    """
    boxes, scores, iou_threshold = _check(boxes, scores, iou_threshold)
    idxs = check_tensor("idxs", idxs, shape=(boxes.shape[0],), dtype="int")
    keep = [
        members[_greedy(boxes[members], scores[members], iou_threshold)]
        for members in (torch.nonzero(idxs == c).flatten() for c in torch.unique(idxs))
    ]
    if not keep:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    keep = torch.sort(torch.cat(keep)).values  # input order, so that the stable sort breaks ties by it
    return keep[_by_score(scores[keep])]


def nms_steps(boxes: Tensor, scores: Tensor, iou_threshold: float) -> list[tuple[int, list[int]]]:
    """Greedy NMS step by step, for pictures: ``[(kept, [suppressed, ...]), ...]``.

    Step k keeps box ``kept`` (the highest-scoring box still unchecked) and suppresses the unchecked
    boxes ``suppressed`` whose IoU with it is > ``iou_threshold`` (input indices, by decreasing
    score). The kept boxes in order are exactly ``nms(boxes, scores, iou_threshold)``.
    """
    boxes, scores, iou_threshold = _check(boxes, scores, iou_threshold)
    steps: list = []
    _greedy(boxes, scores, iou_threshold, steps=steps)
    return steps


def nms_loop(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """The notes' algorithm written plainly, one box and one IoU at a time (slow; the reference the
    fast ``nms`` is tested against)."""
    boxes, scores, iou_threshold = _check(boxes, scores, iou_threshold)
    unchecked = _by_score(scores).tolist()  # highest confidence first
    keep = []
    while unchecked:
        best = unchecked.pop(0)  # a) the box with the highest confidence
        keep.append(best)
        x1, y1, x2, y2 = boxes[best]
        survivors = []
        for j in unchecked:  # b) eliminate the boxes that overlap it more than the threshold
            a1, b1, a2, b2 = boxes[j]
            inter = torch.clamp(torch.min(x2, a2) - torch.max(x1, a1), min=0) * torch.clamp(
                torch.min(y2, b2) - torch.max(y1, b1), min=0
            )
            union = (x2 - x1) * (y2 - y1) + (a2 - a1) * (b2 - b1) - inter
            if not float(inter / union) > iou_threshold:  # the IoU in the boxes' dtype, compared as a double
                survivors.append(j)
        unchecked = survivors
    return torch.tensor(keep, dtype=torch.int64, device=boxes.device)
