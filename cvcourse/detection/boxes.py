r"""Boxes: area, format conversion, IoU and generalised IoU, and the R-CNN box parametrisation.

Same names, signatures and results as ``torchvision.ops.box_area``, ``box_convert``, ``box_iou`` and
``generalized_box_iou`` (``torchvision/ops/boxes.py``), and ``encode_boxes`` / ``decode_boxes`` equal
to ``torchvision.models.detection._utils.BoxCoder``'s ``encode_single`` / ``decode_single``
(R-CNN, Girshick et al. 2014, https://arxiv.org/abs/1311.2524, appendix C).

Boxes are ``Tensor[N, 4]`` in ``(x1, y1, x2, y2)`` format with ``0 <= x1 <= x2`` and ``y1 <= y2``
(pixel-edge coordinates, as COCO and torchvision use them) unless a function says otherwise.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cvcourse._checks import check_choice, check_float, check_tensor, check_type

from ._validate import check_boxes

__all__ = [
    "box_area",
    "box_convert",
    "box_iou",
    "generalized_box_iou",
    "encode_boxes",
    "decode_boxes",
    "BBOX_XFORM_CLIP",
]

FORMATS = ("xyxy", "xywh", "cxcywh")
# torchvision's clamp on the predicted log-scale (dw, dh) before exp: a box may grow at most
# 1000 / 16 = 62.5 times (the largest image side over the smallest anchor stride).
BBOX_XFORM_CLIP = math.log(1000.0 / 16)


def _upcast(t: Tensor) -> Tensor:
    # Products of int16/uint8 coordinates would overflow; torchvision computes in int32/float32 then.
    if t.is_floating_point():
        return t if t.dtype in (torch.float32, torch.float64) else t.float()
    return t if t.dtype in (torch.int32, torch.int64) else t.int()


def box_area(boxes: Tensor) -> Tensor:
    """Area of each box: ``(x2 - x1) * (y2 - y1)``.

    Args:
        boxes (Tensor[N, 4]): boxes in (x1, y1, x2, y2) format with x1 <= x2 and y1 <= y2.

    Returns:
        Tensor[N]: the areas (int boxes give int areas, like torchvision).
    """
    return _area(check_boxes("boxes", boxes))


def _area(boxes: Tensor) -> Tensor:
    boxes = _upcast(boxes)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert boxes between ``'xyxy'`` (corners), ``'xywh'`` (top-left corner and size) and
    ``'cxcywh'`` (centre and size), through ``xyxy`` as torchvision does.

    Args:
        boxes (Tensor[N, 4]): boxes in ``in_fmt``.
        in_fmt, out_fmt: one of ``'xyxy'``, ``'xywh'``, ``'cxcywh'``.

    Returns:
        Tensor[N, 4]: the boxes in ``out_fmt`` (a copy when the formats are equal).
    """
    check_choice("in_fmt", in_fmt, FORMATS)
    check_choice("out_fmt", out_fmt, FORMATS)
    boxes = check_boxes("boxes", boxes, fmt=in_fmt)
    if in_fmt == out_fmt:
        return boxes.clone()
    a, b, c, d = boxes.unbind(-1)
    if in_fmt == "xywh":  # (x, y, w, h) -> corners
        a, b, c, d = a, b, a + c, b + d
    elif in_fmt == "cxcywh":  # (cx, cy, w, h) -> corners
        a, b, c, d = a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d
    if out_fmt == "xywh":
        a, b, c, d = a, b, c - a, d - b
    elif out_fmt == "cxcywh":
        a, b, c, d = (a + c) / 2, (b + d) / 2, c - a, d - b
    return torch.stack((a, b, c, d), dim=-1)


def _box_inter_union(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    area1 = _area(boxes1)  # [N]
    area2 = _area(boxes2)  # [M]
    lt = torch.max(boxes1[:, None, :2], boxes2[:, :2])  # [N, M, 2] top-left of the overlap
    rb = torch.min(boxes1[:, None, 2:], boxes2[:, 2:])  # [N, M, 2] bottom-right of the overlap
    wh = _upcast(rb - lt).clamp(min=0)  # [N, M, 2] no overlap -> 0
    inter = wh[:, :, 0] * wh[:, :, 1]  # [N, M]
    union = area1[:, None] + area2 - inter  # [N, M]
    return inter, union


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    r"""Intersection over union of every pair of boxes.

    .. math::
        \mathrm{IoU}(A, B) = \frac{|A \cap B|}{|A \cup B|} = \frac{|A \cap B|}{|A| + |B| - |A \cap B|}

    The notes (section 4.1) write the denominator as :math:`|A| + |B| - |A \cup B|`: that is a typo,
    it would be :math:`|A \cap B|` again (the union counts the overlap once, so it is the sum of the
    areas *minus the intersection*, which both areas include). Here ``inter`` is :math:`|A \cap B|`
    and ``union`` is :math:`|A| + |B| - |A \cap B|`.

    Args:
        boxes1 (Tensor[N, 4]), boxes2 (Tensor[M, 4]): boxes in (x1, y1, x2, y2) format.

    Returns:
        Tensor[N, M]: ``IoU(boxes1[i], boxes2[j])``; two zero-area boxes give NaN (0 / 0), as in
        torchvision.
    """
    boxes1 = check_boxes("boxes1", boxes1)
    boxes2 = check_boxes("boxes2", boxes2, size_name="M")
    inter, union = _box_inter_union(boxes1, boxes2)
    return inter / union


def generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    r"""Generalised IoU (Rezatofighi et al. 2019, https://arxiv.org/abs/1902.09630) of every pair.

    .. math:: \mathrm{GIoU}(A, B) = \mathrm{IoU}(A, B) - \frac{|C| - |A \cup B|}{|C|}

    where :math:`C` is the smallest box enclosing both (``enclosing``). In [-1, 1]; unlike the IoU it
    still says how far apart two disjoint boxes are.

    Args:
        boxes1 (Tensor[N, 4]), boxes2 (Tensor[M, 4]): boxes in (x1, y1, x2, y2) format.

    Returns:
        Tensor[N, M].
    """
    boxes1 = check_boxes("boxes1", boxes1)
    boxes2 = check_boxes("boxes2", boxes2, size_name="M")
    inter, union = _box_inter_union(boxes1, boxes2)
    iou = inter / union
    lt = torch.min(boxes1[:, None, :2], boxes2[:, :2])  # [N, M, 2] enclosing box, top-left
    rb = torch.max(boxes1[:, None, 2:], boxes2[:, 2:])  # [N, M, 2] enclosing box, bottom-right
    wh = _upcast(rb - lt).clamp(min=0)  # [N, M, 2]
    enclosing = wh[:, :, 0] * wh[:, :, 1]  # [N, M]
    return iou - (enclosing - union) / enclosing


def _check_weights(weights) -> tuple[float, float, float, float]:
    check_type("weights", weights, (tuple, list), "a tuple of 4 positive numbers (wx, wy, ww, wh)")
    if len(weights) != 4:
        raise ValueError(f"weights must have 4 entries (wx, wy, ww, wh), got {len(weights)}")
    return tuple(check_float(f"weights[{i}]", w, low=0.0, low_inclusive=False) for i, w in enumerate(weights))


def _centres_sizes(boxes: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * widths, boxes[:, 1] + 0.5 * heights, widths, heights


def encode_boxes(
    reference_boxes: Tensor,
    proposals: Tensor,
    weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
) -> Tensor:
    r"""The regression target that turns each proposal into its ground-truth box (R-CNN).

    With the proposal's centre and size :math:`(x_{SS}, y_{SS}, w_{SS}, h_{SS})` and the ground
    truth's :math:`(x_{GT}, y_{GT}, w_{GT}, h_{GT})` (notes, 4.3.2; their x, y are the box *centre*):

    .. math::
        \Delta x = w_x \frac{x_{GT} - x_{SS}}{w_{SS}}, \quad
        \Delta y = w_y \frac{y_{GT} - y_{SS}}{h_{SS}}, \quad
        \Delta w = w_w \ln\frac{w_{GT}}{w_{SS}}, \quad
        \Delta h = w_h \ln\frac{h_{GT}}{h_{SS}}

    The weights :math:`(w_x, w_y, w_w, w_h)` only scale the targets (torchvision's Faster R-CNN box
    head uses (10, 10, 5, 5), its RPN (1, 1, 1, 1), the notes none).

    Args:
        reference_boxes (Tensor[N, 4]): the ground-truth boxes, (x1, y1, x2, y2), positive size.
        proposals (Tensor[N, 4]): the boxes to correct (anchors, selective-search proposals).
        weights: (wx, wy, ww, wh).

    Returns:
        Tensor[N, 4]: (dx, dy, dw, dh) per pair.
    """
    sizes: dict = {}
    reference_boxes = check_boxes("reference_boxes", reference_boxes, sizes=sizes, dtype="float")
    proposals = check_boxes("proposals", proposals, sizes=sizes, dtype="float")
    wx, wy, ww, wh = _check_weights(weights)
    ex_x, ex_y, ex_w, ex_h = _centres_sizes(proposals)
    gt_x, gt_y, gt_w, gt_h = _centres_sizes(reference_boxes)
    dx = wx * (gt_x - ex_x) / ex_w
    dy = wy * (gt_y - ex_y) / ex_h
    dw = ww * torch.log(gt_w / ex_w)
    dh = wh * torch.log(gt_h / ex_h)
    return torch.stack((dx, dy, dw, dh), dim=1)


def decode_boxes(
    rel_codes: Tensor,
    boxes: Tensor,
    weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
    bbox_xform_clip: float = BBOX_XFORM_CLIP,
) -> Tensor:
    r"""Apply predicted corrections to boxes: the inverse of :func:`encode_boxes` (notes, 4.3.2).

    .. math::
        BB_{out} = (x_{SS} + w_{SS}\,\Delta x,\; y_{SS} + h_{SS}\,\Delta y,\;
                    w_{SS} e^{\Delta w},\; h_{SS} e^{\Delta h})

    after dividing the codes by the weights and clamping :math:`\Delta w, \Delta h` at
    ``bbox_xform_clip`` (so a wild prediction cannot overflow ``exp``), returned as corners.

    Args:
        rel_codes (Tensor[N, 4 k]): (dx, dy, dw, dh) for k classes (k = 1 for a plain [N, 4]).
        boxes (Tensor[N, 4]): the boxes the codes correct (x1, y1, x2, y2).
        weights: (wx, wy, ww, wh), the same as used to encode.
        bbox_xform_clip: upper bound on dw / ww and dh / wh.

    Returns:
        Tensor[N, 4 k]: the corrected boxes (x1, y1, x2, y2) for each class, in ``rel_codes``' dtype.
    """
    check_tensor("rel_codes", rel_codes, ndim=2, dtype="float")
    n = rel_codes.shape[0]
    if rel_codes.shape[1] % 4 or rel_codes.shape[1] == 0:
        raise ValueError(f"rel_codes must have shape [N, 4 k], got shape {list(rel_codes.shape)}")
    boxes = check_boxes("boxes", boxes, sizes={"N": n})
    wx, wy, ww, wh = _check_weights(weights)
    clip = check_float("bbox_xform_clip", bbox_xform_clip)
    boxes = boxes.to(rel_codes.dtype)
    ctr_x, ctr_y, widths, heights = (t[:, None] for t in _centres_sizes(boxes))  # [N, 1] each
    dx = rel_codes[:, 0::4] / wx  # [N, k]
    dy = rel_codes[:, 1::4] / wy
    dw = (rel_codes[:, 2::4] / ww).clamp(max=clip)
    dh = (rel_codes[:, 3::4] / wh).clamp(max=clip)
    pred_ctr_x = dx * widths + ctr_x
    pred_ctr_y = dy * heights + ctr_y
    pred_w = torch.exp(dw) * widths
    pred_h = torch.exp(dh) * heights
    # half sizes, as torchvision computes them (a tensor 0.5, so the dtype is the codes')
    half_w = torch.tensor(0.5, dtype=pred_ctr_y.dtype, device=pred_w.device) * pred_w
    half_h = torch.tensor(0.5, dtype=pred_ctr_y.dtype, device=pred_h.device) * pred_h
    corners = torch.stack(
        (pred_ctr_x - half_w, pred_ctr_y - half_h, pred_ctr_x + half_w, pred_ctr_y + half_h), dim=2
    )  # [N, k, 4]
    return corners.flatten(1)
