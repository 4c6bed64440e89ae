r"""Pixel-wise losses for segmentation (``003_...``'s slides): cross-entropy, the focal loss, soft Dice.

Every pixel is a classification example: the scores ``[N, C, H, W]`` hold one score vector per
pixel, the target ``[N, H, W]`` one class id. The loss of an image is the mean over its pixels.

``pixel_cross_entropy`` equals ``F.cross_entropy`` (``weight``, ``ignore_index`` and the
reductions included); ``softmax_focal_loss`` is the multi-class focal loss, equal to
``pixel_cross_entropy`` for ``gamma = 0`` and to the detection chapter's
``sigmoid_focal_loss`` on two classes with logits ``(0, z)`` (tests). ``soft_dice_loss`` is the
V-Net / generalised Dice loss (Milletari et al., https://arxiv.org/abs/1606.04797), a region loss:
each class weighs the same however few pixels it has, which is what mIoU rewards.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cvcourse._checks import check_choice, check_float, check_int, check_tensor

__all__ = ["pixel_cross_entropy", "softmax_focal_loss", "soft_dice_loss"]

REDUCTIONS = ("none", "mean", "sum")


def _check(logits: Tensor, target: Tensor, weight, ignore_index, reduction: str, weight_name: str = "weight"):
    check_tensor("logits", logits, dtype="float")
    check_tensor("target", target, dtype="int")
    if logits.ndim != target.ndim + 1 or logits.shape[:1] + logits.shape[2:] != target.shape:
        raise ValueError(
            f"logits must be [N, C, ...] for a target of shape {list(target.shape)}, "
            f"got shape {list(logits.shape)}"
        )
    c = logits.shape[1]
    if weight is not None:
        check_tensor(weight_name, weight, shape=(c,), dtype="float")
    if ignore_index is not None:
        ignore_index = check_int("ignore_index", ignore_index)
    check_choice("reduction", reduction, REDUCTIONS)
    kept = target if ignore_index is None else target[target != ignore_index]
    if kept.numel() and (int(kept.min()) < 0 or int(kept.max()) >= c):
        raise ValueError(
            f"target must hold class ids in [0, {c - 1}], "
            f"got values in [{int(kept.min())}, {int(kept.max())}]"
        )
    return ignore_index


def _per_pixel(logits, target, ignore_index):
    """(-log p_target, p_target, valid) per pixel, with ignored pixels given class 0 and valid False."""
    valid = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target)).long()
    log_p = F.log_softmax(logits, dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)  # log p_t
    return -log_p, log_p.exp(), valid, safe


def _reduce(loss, pixel_weight, reduction):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / pixel_weight.sum()  # a weighted mean (F.cross_entropy's rule); NaN if all ignored


def pixel_cross_entropy(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""The pixel-wise cross-entropy :math:`-\sum_c y_c \log \hat y_c` averaged over the pixels.

    .. math::
        \mathcal{L} = \frac{\sum_{p} w_{y_p} \, (-\log \operatorname{softmax}(s_p)_{y_p})}{\sum_p w_{y_p}}

    over the pixels :math:`p` whose target is not ``ignore_index``.

    Args:
        logits: scores ``[N, C, H, W]`` (any number of spatial dims).
        target: class ids ``[N, H, W]``.
        weight: Tensor[C] class weights (rare classes up), or None.
        ignore_index: a target value whose pixels add nothing, or None.
        reduction: ``"none"`` (the per-pixel loss, 0 at ignored pixels), ``"mean"``, ``"sum"``.
    """
    ignore_index = _check(logits, target, weight, ignore_index, reduction)
    nll, _, valid, safe = _per_pixel(logits, target, ignore_index)
    w = valid.to(logits.dtype) if weight is None else weight[safe] * valid
    return _reduce(nll * w, w, reduction)


def softmax_focal_loss(
    logits: Tensor,
    target: Tensor,
    gamma: float = 2.0,
    alpha: Tensor | None = None,
    ignore_index: int | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""The focal loss for C classes: the cross-entropy of each pixel times :math:`(1 - p_t)^\gamma`.

    .. math::
        \mathrm{FL}(p_t) = -\alpha_t (1 - p_t)^\gamma \log p_t, \qquad p_t = \operatorname{softmax}(s)_{y}

    Well-classified pixels (:math:`p_t \to 1`), the bulk of a sky or a road, then add almost nothing;
    :math:`\alpha_t` (``alpha[y]``) rebalances the classes (the slides' "why do we need alphas?").
    The mean is over the non-ignored pixels (not weighted by alpha), like ``sigmoid_focal_loss``'s.

    Args:
        logits, target, ignore_index, reduction: as :func:`pixel_cross_entropy`.
        gamma: the focusing exponent, >= 0 (0: the cross-entropy).
        alpha: Tensor[C] class weights, or None for none.
    """
    ignore_index = _check(logits, target, alpha, ignore_index, reduction, "alpha")
    gamma = check_float("gamma", gamma, low=0.0)
    nll, p_t, valid, safe = _per_pixel(logits, target, ignore_index)
    loss = nll * (1 - p_t) ** gamma
    if alpha is not None:
        loss = alpha[safe] * loss
    loss = loss * valid
    return _reduce(loss, valid.to(logits.dtype), reduction)


def soft_dice_loss(
    logits: Tensor,
    target: Tensor,
    ignore_index: int | None = None,
    smooth: float = 1.0,
    classes: Tensor | None = None,
) -> Tensor:
    r"""One minus the mean over classes of the soft Dice coefficient, over the whole batch.

    .. math::
        \mathcal{L} = 1 - \frac{1}{|K|}\sum_{c \in K}
            \frac{2 \sum_p \hat y_{pc} \, y_{pc} + s}{\sum_p \hat y_{pc} + \sum_p y_{pc} + s}

    with :math:`\hat y_{pc} = \operatorname{softmax}(s_p)_c` (``logits``), :math:`y_{pc}` the
    one-hot target, :math:`p` over every non-ignored pixel of the batch and :math:`s` = ``smooth``.
    Dice = 2 |A ∩ B| / (|A| + |B|) is a monotone function of IoU (Dice = 2 IoU / (1 + IoU)), so
    this loss is a differentiable stand-in for mIoU; a shape of 50 pixels counts as much as a sky of
    5000 (the cross-entropy gives it 1 %). ``smooth`` keeps a class absent from target and prediction
    at Dice 1 (no loss) instead of 0/0.

    Args:
        logits: scores ``[N, C, H, W]`` (any number of spatial dims).
        target: class ids ``[N, H, W]``.
        ignore_index: a target value whose pixels add nothing, or None.
        smooth: :math:`s` > 0.
        classes: LongTensor of the class ids :math:`K` in the mean (default: all ``C``).

    Returns:
        a 0-dim tensor in ``[0, 1)``.
    """
    ignore_index = _check(logits, target, None, ignore_index, "mean")
    smooth = check_float("smooth", smooth, low=0.0, low_inclusive=False)
    c = logits.shape[1]
    if classes is not None:
        check_tensor("classes", classes, ndim=1, dtype="int")
        if classes.numel() == 0 or int(classes.min()) < 0 or int(classes.max()) >= c:
            raise ValueError(
                f"classes must be a non-empty list of ids in [0, {c - 1}], got {classes.tolist()}"
            )
    _, _, valid, safe = _per_pixel(logits, target, ignore_index)
    probs = F.softmax(logits, dim=1) * valid.unsqueeze(1)  # [N, C, ...], 0 at ignored pixels
    one_hot = F.one_hot(safe, c).movedim(-1, 1).to(logits.dtype) * valid.unsqueeze(1)  # [N, C, ...]
    dims = [0, *range(2, logits.ndim)]  # sum over the batch and the pixels, keep the classes
    dice = (2 * (probs * one_hot).sum(dims) + smooth) / (probs.sum(dims) + one_hot.sum(dims) + smooth)  # [C]
    return 1 - (dice if classes is None else dice[classes]).mean()
