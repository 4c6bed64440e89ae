r"""AdamW: Adam with decoupled weight decay (notes 1.4.4).

Loshchilov and Hutter, "Decoupled Weight Decay Regularization", arXiv:1711.05101.

Matches ``torch.optim.AdamW(foreach=False)`` (which, like this class, is Adam with
``decoupled_weight_decay=True``). One departure from the notes, following torch: the notes subtract
lambda * theta, torch subtracts lr * lambda * theta (the decay is scaled by the learning rate, so a
learning-rate schedule also schedules the decay, as in the paper's Algorithm 2 with eta_t = lr).
``l2_vs_decay`` shows numerically that L2 regularisation and weight decay are the same for SGD
without momentum (the notes say "for SGD") but not with momentum (hence SGDW) nor for Adam.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from cvcourse._checks import check_bool, check_int, check_tensor, check_type

from ._checks import check_number
from .adam import Adam
from .sgd import SGD

__all__ = ["AdamW", "l2_vs_decay"]


class AdamW(Adam):
    r"""AdamW, as ``torch.optim.AdamW``:

    .. math::
        \theta \leftarrow \theta (1 - lr\,\lambda),\qquad
        \theta \leftarrow \theta - \frac{lr}{\sqrt{s_{debiased}} + \varepsilon} \odot g_{debiased}

    The notes write the decay as - lambda theta^(t); torch (and this class) use
    - lr lambda theta^(t).
    The decay never enters the moving averages g (``exp_avg``) and s (``exp_avg_sq``).
    Arguments as ``Adam``; ``weight_decay`` defaults to 1e-2 as in torch.
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )

    def __setstate__(self, state) -> None:
        # A state dict saved by Adam keeps AdamW's decay decoupled, as torch does.
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


def l2_vs_decay(
    grad_fn,
    theta0: Tensor,
    lr: float,
    weight_decay: float,
    steps: int,
    adaptive: bool,
    *,
    momentum: float = 0.0,
) -> tuple[Tensor, Tensor]:
    r"""Run L2 regularisation and decoupled weight decay side by side on the same problem.

    L2 adds lambda theta to the gradient; decoupled decay multiplies theta by (1 - lr lambda). For
    SGD without momentum (``adaptive=False, momentum=0``) both give theta - lr (grad + lambda theta):
    identical paths. With momentum, L2's lambda theta enters the buffer and is averaged with past
    gradients while decoupled decay (SGDW) is not: the paths differ. For Adam (``adaptive=True``) L2's
    lambda theta is rescaled by 1 / (sqrt(s) + eps) like the gradient, decoupled decay is not: the
    paths differ.

    Args:
        grad_fn: maps parameters Tensor[k] to the loss gradient Tensor[k] (without the penalty).
        theta0: start Tensor[k], float64 recommended.
        lr: learning rate.
        weight_decay: lambda > 0.
        steps: number of updates.
        adaptive: False for SGD, True for Adam.
        momentum: SGD's momentum mu (``adaptive=False`` only); 0 is plain SGD.

    Returns:
        (path_l2, path_decay), each Tensor[steps + 1, k].
    """
    check_type("grad_fn", grad_fn, Callable, "a function Tensor[k] -> Tensor[k]")
    check_tensor("theta0", theta0, shape=("k",), dtype="float")
    check_number("lr", lr)
    check_number("weight_decay", weight_decay)
    check_int("steps", steps, low=0)
    check_bool("adaptive", adaptive)
    check_number("momentum", momentum)
    if adaptive and momentum:
        raise ValueError(f"momentum is SGD's (adaptive=False); Adam has betas, got momentum={momentum}")
    paths = []
    for decoupled in (False, True):
        p = theta0.detach().clone().requires_grad_(True)
        if adaptive:
            opt = Adam([p], lr=lr, weight_decay=weight_decay, decoupled_weight_decay=decoupled)
        else:  # SGD has no decoupled flag: shrink the weights by hand before a plain step
            opt = SGD([p], lr=lr, momentum=momentum, weight_decay=0.0 if decoupled else weight_decay)
        path = [p.detach().clone()]
        for _ in range(steps):
            p.grad = grad_fn(p.detach())
            if decoupled and not adaptive:
                with torch.no_grad():
                    p.mul_(1 - lr * weight_decay)  # theta (1 - lr lambda), then theta - lr grad
            opt.step()
            path.append(p.detach().clone())
        paths.append(torch.stack(path))
    return paths[0], paths[1]
