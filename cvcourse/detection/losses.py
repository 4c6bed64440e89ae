r"""Detection losses: the sigmoid focal loss (RetinaNet, Lin et al. 2017, https://arxiv.org/abs/1708.02002)
and Fast R-CNN's smooth L1 (Huber) box loss (https://arxiv.org/abs/1504.08083).

``sigmoid_focal_loss`` equals ``torchvision.ops.sigmoid_focal_loss``; ``smooth_l1`` equals
``torch.nn.functional.smooth_l1_loss`` (and, for ``beta = 1``, ``huber_loss``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cvcourse._checks import check_choice, check_float, check_tensor

__all__ = ["sigmoid_focal_loss", "smooth_l1"]

REDUCTIONS = ("none", "mean", "sum")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    return loss if reduction == "none" else loss.mean() if reduction == "mean" else loss.sum()


def sigmoid_focal_loss(
    inputs: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2, reduction: str = "none"
) -> Tensor:
    r"""The focal loss: cross-entropy down-weighted on examples that are already well classified.

    .. math::
        \mathrm{FL}(p_t) = -\alpha_t (1 - p_t)^\gamma \ln p_t, \quad
        p_t = \begin{cases} p & y = 1 \\ 1 - p & y = 0 \end{cases}, \quad
        \alpha_t = \begin{cases} \alpha & y = 1 \\ 1 - \alpha & y = 0 \end{cases}

    with :math:`p = \sigma(\text{inputs})` and :math:`-\ln p_t` computed as the (stable) binary
    cross-entropy on logits. ``alpha < 0`` switches the class weighting off (torchvision's rule).

    Args:
        inputs (Tensor[*]): logits.
        targets (Tensor[*]): binary labels (0 or 1; soft labels are allowed), same shape.
        alpha: weight of the positives, in [0, 1], or negative for none.
        gamma: the focusing exponent, >= 0 (0 gives the weighted cross-entropy).
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
    """
    inputs = check_tensor("inputs", inputs, dtype="float")
    targets = check_tensor("targets", targets, dtype="float")
    if targets.shape != inputs.shape:
        raise ValueError(
            f"targets must have the shape of inputs {list(inputs.shape)}, got shape {list(targets.shape)}"
        )
    alpha = check_float("alpha", alpha, high=1.0)
    gamma = check_float("gamma", gamma, low=0.0)
    check_choice("reduction", reduction, REDUCTIONS)
    p = torch.sigmoid(inputs)
    ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")  # -ln p_t
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)  # the modulating factor (1 - p_t)^gamma
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return _reduce(loss, reduction)


def smooth_l1(input: Tensor, target: Tensor, beta: float = 1.0, reduction: str = "mean") -> Tensor:
    r"""The smooth L1 (Huber) loss of Fast R-CNN's box regression (notes, 4.3.2), for ``beta = 1``:

    .. math::
        \mathcal{L}_{\text{huber}}(a) = \begin{cases} \frac{1}{2} a^2 / \beta & |a| < \beta \\
        |a| - \frac{1}{2}\beta & \text{otherwise} \end{cases}, \qquad a = \text{input} - \text{target}

    Quadratic near 0, linear (gradient of size 1) for large errors, so outliers do not dominate.
    ``beta = 0`` is the L1 loss.

    Args:
        input, target (Tensor[*]): predicted and target box codes, same shape.
        beta: where the quadratic part ends, >= 0.
        reduction: ``"none"``, ``"mean"`` or ``"sum"`` (the notes sum over x, y, w, h).
    """
    input = check_tensor("input", input, dtype="float")
    target = check_tensor("target", target, dtype="float")
    if target.shape != input.shape:
        raise ValueError(
            f"target must have the shape of input {list(input.shape)}, got shape {list(target.shape)}"
        )
    beta = check_float("beta", beta, low=0.0)
    check_choice("reduction", reduction, REDUCTIONS)
    a = (input - target).abs()
    loss = torch.where(a < beta, 0.5 * a**2 / beta, a - 0.5 * beta) if beta > 0 else a
    return _reduce(loss, reduction)
