"""Input checks shared by the detection modules (boxes, scores, thresholds), on ``cvcourse._checks``."""

from __future__ import annotations

from typing import Any

import torch

from cvcourse._checks import check_float, check_tensor

__all__ = ["check_boxes", "check_scores", "check_threshold"]


def check_boxes(
    name: str,
    boxes: Any,
    *,
    sizes: dict | None = None,
    size_name: str = "N",
    fmt: str = "xyxy",
    dtype: str | None = None,
) -> torch.Tensor:
    """``boxes`` must be a real ``Tensor[N, 4]`` of finite numbers; in ``xyxy`` with x1 <= x2 and
    y1 <= y2, in ``xywh`` / ``cxcywh`` with w, h >= 0 (a zero-area box is allowed, a negative one not)."""
    boxes = check_tensor(name, boxes, shape=(size_name, 4), sizes=sizes, dtype=dtype)
    if boxes.dtype == torch.bool or boxes.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {boxes.dtype}")
    if boxes.is_floating_point() and not bool(torch.isfinite(boxes).all()):
        raise ValueError(f"{name} must hold only finite coordinates, got NaN or inf")
    if fmt == "xyxy":
        bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
        what = "(x1, y1, x2, y2) with x1 <= x2 and y1 <= y2"
    else:
        bad = (boxes[:, 2] < 0) | (boxes[:, 3] < 0)
        what = f"{fmt} boxes with w >= 0 and h >= 0"
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise ValueError(f"{name} must be {what}; box {i} is {boxes[i].tolist()}")
    return boxes


def check_scores(name: str, scores: Any, *, sizes: dict | None = None) -> torch.Tensor:
    """``scores`` must be a floating ``Tensor[N]`` without NaN (N shared with the boxes via ``sizes``)."""
    scores = check_tensor(name, scores, shape=("N",), sizes=sizes, dtype="float")
    if bool(torch.isnan(scores).any()):
        raise ValueError(f"{name} must not hold NaN, got {int(torch.isnan(scores).sum())} NaN value(s)")
    return scores


def check_threshold(name: str, value: Any) -> float:
    """An IoU threshold: a real number in [0, 1]."""
    return check_float(name, value, low=0.0, high=1.0)
