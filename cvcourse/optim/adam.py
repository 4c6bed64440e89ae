r"""Adam: adaptive moments with bias correction (notes 1.4.3).

Kingma and Ba, "Adam: A Method for Stochastic Optimization", arXiv:1412.6980; the ``amsgrad``
variant is from Reddi, Kale and Kumar, "On the Convergence of Adam and Beyond", arXiv:1904.09237.

Matches ``torch.optim.Adam(foreach=False)``: same constructor, defaults, state keys (``step`` as a
float tensor, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq`` with amsgrad) and order of operations.
``decoupled_weight_decay=True`` is AdamW (see ``adamw.py``), exactly as in torch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.optim import Optimizer

from cvcourse._checks import check_tensor

from ._checks import (
    SparseGradientError,
    check_betas,
    check_number,
    check_plain_loop,
    fill_missing_options,
    scalar_dtype,
)

__all__ = ["Adam", "adam_moments"]


class Adam(Optimizer):
    r"""Adam, as ``torch.optim.Adam``.

    The notes' update at step t (counted from 1 here, as torch does; the notes count from 0):

    .. math::
        g^{(t)} = \beta_1 g^{(t-1)} + (1-\beta_1)\nabla L,\quad
        s^{(t)} = \beta_2 s^{(t-1)} + (1-\beta_2)\nabla L\odot\nabla L,\quad
        \theta^{(t)} = \theta^{(t-1)} - \frac{lr}{\sqrt{s^{(t)} / (1-\beta_2^t)} + \varepsilon}
                        \odot \frac{g^{(t)}}{1-\beta_1^t}

    Symbols -> variables: g -> ``exp_avg``, s -> ``exp_avg_sq``, beta_1, beta_2 -> ``beta1, beta2``,
    1 - beta_i^t -> ``bias_correction{i}``, t -> ``step``, epsilon -> ``eps``. Torch writes the
    moving average of g with ``lerp`` (g + (1 - beta1)(grad - g), the same formula rearranged) and
    divides by sqrt(1 - beta2^t) before adding eps, as above.

    ``weight_decay`` lambda adds lambda * theta to the gradient (L2 regularisation, which then goes
    through the moving averages). With ``decoupled_weight_decay=True`` it instead shrinks the
    parameters, theta <- theta (1 - lr lambda), before the Adam step: that is AdamW.

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: learning rate >= 0 (default 1e-3).
        betas: (beta1, beta2), each in [0, 1) (default (0.9, 0.999)).
        eps: >= 0 (default 1e-8).
        weight_decay: lambda >= 0.
        amsgrad: normalise by the running maximum of s (``max_exp_avg_sq``).
        foreach, capturable, differentiable, fused: accepted for compatibility; only False/None.
        maximize: maximise the objective instead.
        decoupled_weight_decay: AdamW's decay instead of L2 regularisation.
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        check_number("lr", lr, allow_tensor=True)
        check_number("eps", eps)
        betas = check_betas(betas)
        check_number("weight_decay", weight_decay)
        check_plain_loop(foreach=foreach, capturable=capturable, differentiable=differentiable, fused=fused)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def __setstate__(self, state: dict) -> None:
        """A state dict of an older release (an option missing) loads, the option at its default."""
        super().__setstate__(state)
        fill_missing_options(
            self,
            dict(
                amsgrad=False,
                maximize=False,
                foreach=None,
                capturable=False,
                differentiable=False,
                decoupled_weight_decay=False,
                fused=None,
            ),
            step_to_tensor=True,
        )

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):
        """Update every parameter that has a gradient; return the closure's loss (or None)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2) = float(group["lr"]), group["betas"]
            lam, eps = group["weight_decay"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise SparseGradientError("Adam does not support sparse gradients")
                state = self.state[p]
                if len(state) == 0:  # lazy state initialisation, as torch
                    state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                grad = -p.grad if group["maximize"] else p.grad
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                state["step"] += 1
                if lam != 0:
                    if group["decoupled_weight_decay"]:
                        p.mul_(1 - lr * lam)  # AdamW: decay the weights, not the gradient
                    else:
                        grad = grad.add(p, alpha=lam)  # L2: the decay enters the averages
                exp_avg.lerp_(grad, 1 - beta1)  # g = beta1 g + (1 - beta1) grad
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # s = b2 s + (1-b2) grad^2

                step = state["step"].item()
                bias_correction1 = 1 - beta1**step
                bias_correction2 = 1 - beta2**step
                step_size = lr / bias_correction1  # lr / (1 - beta1^t) folds in g's debiasing
                if group["amsgrad"]:
                    max_sq = state["max_exp_avg_sq"]
                    torch.maximum(max_sq, exp_avg_sq, out=max_sq)
                    denom = (max_sq.sqrt() / bias_correction2**0.5).add_(eps)
                else:
                    denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(eps)  # sqrt(s_hat) + eps
                p.addcdiv_(exp_avg, denom, value=-step_size)
        return loss


def adam_moments(grads: Tensor, beta1: float = 0.9, beta2: float = 0.999) -> dict[str, Tensor]:
    r"""Adam's moving averages over a sequence of gradients, raw and bias-corrected (notes 1.4.3).

    g^(t) = beta1 g^(t-1) + (1 - beta1) grad_t and s^(t) = beta2 s^(t-1) + (1 - beta2) grad_t^2 from
    g^(0) = s^(0) = 0 are biased towards 0 in the first steps; dividing by 1 - beta^t removes it
    (for a constant gradient the corrected averages equal the gradient exactly).

    Args:
        grads: Tensor[T, ...], the gradient at steps t = 1..T.
        beta1, beta2: decay rates in [0, 1).

    Returns:
        dict of Tensor[T, ...]: ``g``, ``s`` (raw), ``g_hat``, ``s_hat`` (corrected), and
        ``step`` / ``step_uncorrected``, the update direction g_hat / sqrt(s_hat) and the
        uncorrected g / sqrt(s) (eps = 0; scale by lr for the step).
    """
    check_tensor("grads", grads, dtype="float")
    if grads.ndim < 1:
        raise ValueError(
            f"grads must have shape [T, ...] (one gradient per step), got shape {list(grads.shape)}"
        )
    beta1, beta2 = check_betas((beta1, beta2))
    g, s = torch.zeros_like(grads[0]), torch.zeros_like(grads[0])
    out: dict[str, list] = {k: [] for k in ("g", "s", "g_hat", "s_hat", "step", "step_uncorrected")}
    for t, grad in enumerate(grads, start=1):
        g = beta1 * g + (1 - beta1) * grad
        s = beta2 * s + (1 - beta2) * grad * grad
        g_hat, s_hat = g / (1 - beta1**t), s / (1 - beta2**t)
        values = (g, s, g_hat, s_hat, g_hat / s_hat.sqrt(), g / s.sqrt())
        for key, value in zip(out, values, strict=True):
            out[key].append(value)
    return {key: torch.stack(values) for key, values in out.items()}
