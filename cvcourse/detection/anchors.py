r"""Anchors and the RPN's training labels (Faster R-CNN, Ren et al. 2015, https://arxiv.org/abs/1506.01497).

* ``base_anchors`` / ``anchor_grid``: k = len(sizes) x len(aspect_ratios) anchors centred on every
  feature-map location, the same boxes in the same order as torchvision's ``AnchorGenerator`` for
  one feature map (location-major; at each location ratio-major, then size);
* ``label_anchors``: the notes' labelling (4.3.2): IoU < 0.3 with every ground truth -> negative (0),
  IoU >= 0.7 with one -> positive (1), each ground truth's best anchor(s) positive too, the rest
  ignored (-1); equal to torchvision's ``Matcher(0.7, 0.3, allow_low_quality_matches=True)`` followed
  by ``RegionProposalNetwork.assign_targets_to_anchors``;
* ``sample_anchors``: the RPN mini-batch, up to ``positive_fraction`` positives filled up with
  negatives (1:1 by default), equal to ``BalancedPositiveNegativeSampler`` (same random draws).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from cvcourse._checks import check_bool, check_float, check_int, check_tensor, check_type

from ._validate import check_boxes, check_threshold
from .boxes import box_iou

__all__ = [
    "base_anchors",
    "anchor_grid",
    "label_anchors",
    "sample_anchors",
    "POSITIVE",
    "NEGATIVE",
    "IGNORED",
]

POSITIVE, NEGATIVE, IGNORED = 1, 0, -1
BELOW_LOW_THRESHOLD, BETWEEN_THRESHOLDS = -1, -2  # torchvision Matcher's codes


def _positive_numbers(name: str, values: Sequence[float]) -> list[float]:
    check_type(name, values, (tuple, list), "a tuple of positive numbers")
    if not values:
        raise ValueError(f"{name} must not be empty")
    return [check_float(f"{name}[{i}]", v, low=0.0, low_inclusive=False) for i, v in enumerate(values)]


def base_anchors(
    sizes: Sequence[float] = (32, 64, 128),
    aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""The k anchors around the origin: for aspect ratio :math:`r = h / w` and size :math:`s`,
    :math:`w = s / \sqrt{r}`, :math:`h = s \sqrt{r}` (area :math:`s^2`), rounded to whole pixels as
    torchvision rounds them.

    Returns:
        Tensor[k, 4] (x1, y1, x2, y2), ratio-major: all sizes of the first ratio, then the next.
    """
    scales = torch.as_tensor(_positive_numbers("sizes", sizes), dtype=dtype)
    ratios = torch.as_tensor(_positive_numbers("aspect_ratios", aspect_ratios), dtype=dtype)
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).view(-1)  # [k]
    hs = (h_ratios[:, None] * scales[None, :]).view(-1)
    return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()


def anchor_grid(
    grid_size: tuple[int, int],
    stride: int | tuple[int, int],
    sizes: Sequence[float] = (32, 64, 128),
    aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """All anchors of one feature map: ``base_anchors`` shifted to every location ``(x, y) =
    (j * stride_w, i * stride_h)`` (torchvision places them at the top-left corner of each cell).

    Args:
        grid_size: (H_L, W_L), the feature map's size.
        stride: image pixels per feature-map cell, an int or (stride_h, stride_w).
        sizes, aspect_ratios: as for ``base_anchors``.

    Returns:
        Tensor[H_L * W_L * k, 4] (x1, y1, x2, y2), location-major (row by row), k anchors each.
    """
    check_type("grid_size", grid_size, (tuple, list), "a pair (H, W)")
    if len(grid_size) != 2:
        raise ValueError(f"grid_size must be a pair (H, W), got {grid_size!r}")
    gh, gw = (check_int(f"grid_size[{i}]", v, low=1) for i, v in enumerate(grid_size))
    if isinstance(stride, (tuple, list)):
        if len(stride) != 2:
            raise ValueError(f"stride must be an int or a pair (stride_h, stride_w), got {stride!r}")
        sh, sw = (check_int(f"stride[{i}]", v, low=1) for i, v in enumerate(stride))
    else:
        sh = sw = check_int("stride", stride, low=1)
    base = base_anchors(sizes, aspect_ratios, dtype)  # [k, 4]
    shifts_x = torch.arange(0, gw, dtype=torch.int32) * sw
    shifts_y = torch.arange(0, gh, dtype=torch.int32) * sh
    shift_y, shift_x = torch.meshgrid(shifts_y, shifts_x, indexing="ij")  # [H, W] each
    shift_x, shift_y = shift_x.reshape(-1), shift_y.reshape(-1)
    shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=1)  # [H * W, 4]
    return (shifts.view(-1, 1, 4) + base.view(1, -1, 4)).reshape(-1, 4)  # [H * W * k, 4]


def label_anchors(
    anchors: Tensor,
    gt_boxes: Tensor,
    fg_iou: float = 0.7,
    bg_iou: float = 0.3,
    allow_low_quality: bool = True,
) -> tuple[Tensor, Tensor]:
    """RPN training labels: 1 positive, 0 negative, -1 ignored, and each anchor's ground truth.

    * IoU with its best ground truth >= ``fg_iou``: positive;
    * < ``bg_iou``: negative; in between: ignored;
    * ``allow_low_quality``: every anchor whose IoU with some ground truth equals that ground
      truth's best IoU (ties included) is positive as well, so every object gets an anchor. As in
      torchvision, this also applies to a ground truth that overlaps no anchor (best IoU 0).

    With no ground truth every anchor is negative.

    Args:
        anchors (Tensor[A, 4]), gt_boxes (Tensor[G, 4]): (x1, y1, x2, y2).
        fg_iou, bg_iou: the thresholds, 0 <= bg_iou <= fg_iou <= 1.

    Returns:
        ``(labels, matched)``: Tensor[A] int64 in {1, 0, -1}, and Tensor[A] int64, the matched
        ground truth (torchvision's ``Matcher`` output: -1 below ``bg_iou``, -2 between).
    """
    anchors = check_boxes("anchors", anchors, size_name="A")
    gt_boxes = check_boxes("gt_boxes", gt_boxes, size_name="G")
    high, low = check_threshold("fg_iou", fg_iou), check_threshold("bg_iou", bg_iou)
    if low > high:
        raise ValueError(f"bg_iou must be <= fg_iou, got bg_iou={low} and fg_iou={high}")
    check_bool("allow_low_quality", allow_low_quality)
    if gt_boxes.shape[0] == 0:  # nothing to find: all background
        none = torch.full((anchors.shape[0],), BELOW_LOW_THRESHOLD, dtype=torch.int64)
        return torch.zeros(anchors.shape[0], dtype=torch.int64), none
    quality = box_iou(gt_boxes, anchors)  # [G, A]
    best_iou, matches = quality.max(dim=0)  # [A] each anchor's best ground truth
    best_any = matches.clone()
    matches[best_iou < low] = BELOW_LOW_THRESHOLD
    matches[(best_iou >= low) & (best_iou < high)] = BETWEEN_THRESHOLDS
    if allow_low_quality:
        best_for_gt = quality.max(dim=1).values  # [G]
        _, anchor_idx = torch.nonzero(quality == best_for_gt[:, None], as_tuple=True)
        matches[anchor_idx] = best_any[anchor_idx]
    labels = torch.full_like(matches, POSITIVE)
    labels[matches == BELOW_LOW_THRESHOLD] = NEGATIVE
    labels[matches == BETWEEN_THRESHOLDS] = IGNORED
    return labels, matches


def sample_anchors(
    labels: Tensor,
    batch_size_per_image: int = 256,
    positive_fraction: float = 0.5,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """The RPN mini-batch of one image: at most ``batch_size_per_image * positive_fraction``
    positives drawn at random, then negatives up to ``batch_size_per_image``.

    Args:
        labels (Tensor[A] int): from ``label_anchors`` (1, 0, -1).
        batch_size_per_image: anchors per image (256 in Faster R-CNN).
        positive_fraction: the largest share of positives (0.5: 1:1 when there are enough).
        generator: random generator; None uses torch's global one (then the same draws as torchvision's
            ``BalancedPositiveNegativeSampler`` after the same seed).

    Returns:
        ``(positive, negative)``: Tensor[A] bool masks of the sampled anchors.
    """
    labels = check_tensor("labels", labels, shape=("A",), dtype="int")
    size = check_int("batch_size_per_image", batch_size_per_image, low=1)
    fraction = check_float("positive_fraction", positive_fraction, low=0.0, high=1.0)
    if generator is not None:
        check_type("generator", generator, torch.Generator, "a torch.Generator or None")
    positive = torch.where(labels >= 1)[0]
    negative = torch.where(labels == 0)[0]
    num_pos = min(positive.numel(), int(size * fraction))
    num_neg = min(negative.numel(), size - num_pos)
    pick_pos = positive[torch.randperm(positive.numel(), generator=generator)[:num_pos]]
    pick_neg = negative[torch.randperm(negative.numel(), generator=generator)[:num_neg]]
    pos_mask = torch.zeros_like(labels, dtype=torch.bool)
    neg_mask = torch.zeros_like(labels, dtype=torch.bool)
    pos_mask[pick_pos] = True
    neg_mask[pick_neg] = True
    return pos_mask, neg_mask
