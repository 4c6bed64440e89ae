r"""RMSProp: AdaGrad with an exponential moving average of squared gradients (notes 1.4.2).

Tieleman and Hinton, Lecture 6.5 of "Neural Networks for Machine Learning", Coursera 2012
(https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf); the centered variant
is from Graves, "Generating Sequences With Recurrent Neural Networks", arXiv:1308.0850.

Matches ``torch.optim.RMSprop(foreach=False)``: same constructor, defaults, state keys
(``step``, ``square_avg``, ``momentum_buffer`` if momentum > 0, ``grad_avg`` if centered) and
order of operations.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.optim import Optimizer

from ._checks import SparseGradientError, check_number, check_plain_loop, fill_missing_options, scalar_dtype

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSProp, as ``torch.optim.RMSprop``.

    The notes' update (torch's ``alpha`` is the notes' beta):

    .. math::
        s^{(t+1)} = \beta s^{(t)} + (1 - \beta)\,\nabla L \odot \nabla L,\qquad
        \theta^{(t+1)} = \theta^{(t)} - \frac{lr}{\sqrt{s^{(t+1)}} + \varepsilon} \odot \nabla L

    Symbols -> variables: s -> ``square_avg``, beta -> ``alpha``, nabla L -> ``grad`` (plus
    ``weight_decay * p``), epsilon -> ``eps``. Torch's extras: ``centered`` subtracts the squared
    running mean of the gradient (``grad_avg``) from s, a variance estimate; ``momentum`` > 0 keeps
    ``buf = momentum * buf + grad / (sqrt(s) + eps)`` and steps by ``lr * buf``.

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: learning rate >= 0 (default 1e-2).
        alpha: smoothing constant beta >= 0 (default 0.99).
        eps: >= 0, added to sqrt(s) (default 1e-8).
        weight_decay: L2 penalty >= 0 added to the gradient.
        momentum: >= 0.
        centered: normalise by an estimate of the gradient's variance instead of its second moment.
        capturable, foreach, differentiable: accepted for compatibility with torch; only False/None.
        maximize: maximise the objective instead.
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_number("lr", lr, allow_tensor=True)
        check_number("eps", eps)
        check_number("momentum", momentum)
        check_number("weight_decay", weight_decay)
        check_number("alpha", alpha)
        check_plain_loop(capturable=capturable, foreach=foreach, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            alpha=alpha,
            eps=eps,
            centered=centered,
            weight_decay=weight_decay,
            capturable=capturable,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def __setstate__(self, state: dict) -> None:
        """A state dict of an older release (an option missing) loads, the option at its default."""
        super().__setstate__(state)
        fill_missing_options(
            self,
            dict(
                momentum=0,
                centered=False,
                foreach=None,
                maximize=False,
                differentiable=False,
                capturable=False,
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
            lr, alpha, eps = float(group["lr"]), group["alpha"], group["eps"]
            lam, mu = group["weight_decay"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise SparseGradientError("RMSprop does not support sparse gradients")
                state = self.state[p]
                if len(state) == 0:  # lazy state initialisation, as torch
                    state["step"] = torch.zeros((), dtype=scalar_dtype())
                    state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    if mu > 0:
                        state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    if group["centered"]:
                        state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                grad = -p.grad if group["maximize"] else p.grad
                square_avg = state["square_avg"]
                state["step"] += 1
                if lam != 0:
                    grad = grad.add(p, alpha=lam)
                square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)  # s = b s + (1-b) g^2
                if group["centered"]:
                    grad_avg = state["grad_avg"]
                    grad_avg.lerp_(grad, 1 - alpha)  # running mean of g
                    avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
                else:
                    avg = square_avg.sqrt()
                avg = avg.add_(eps)  # sqrt(s) + eps
                if mu > 0:
                    buf = state["momentum_buffer"]
                    buf.mul_(mu).addcdiv_(grad, avg)
                    p.add_(buf, alpha=-lr)
                else:
                    p.addcdiv_(grad, avg, value=-lr)  # theta = theta - lr g / (sqrt(s) + eps)
        return loss
