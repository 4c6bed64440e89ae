r"""Stochastic gradient descent with mini-batches, momentum and Nesterov momentum (notes 1.1, 1.3).

Matches ``torch.optim.SGD(foreach=False)`` number for number: same constructor, defaults, state key
(``momentum_buffer``) and order of operations. Nesterov momentum follows Sutskever et al., "On the
importance of initialization and momentum in deep learning", ICML 2013
(http://proceedings.mlr.press/v28/sutskever13.html), in the reformulation torch uses.

The notes write momentum with a velocity that already contains the learning rate,

    v^(t+1) = mu v^(t) - lr grad L(theta^(t)),      theta^(t+1) = theta^(t) + v^(t+1),

while torch keeps a buffer b of raw gradients and multiplies by lr at the end,

    b_t = mu b_(t-1) + g_t,                          theta_t = theta_(t-1) - lr b_t,

so that v = -lr b: the same trajectory for a constant lr (``tests/optim/test_sgd.py`` checks it).
Nesterov's look-ahead gradient grad L(theta + mu v) is rewritten in terms of the look-ahead point
so that only the gradient at the current parameters is needed (``nesterov_lookahead`` below is the
notes' form, run side by side with the torch form in the notebook and the tests).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor
from torch.optim import Optimizer

from cvcourse._checks import check_int, check_tensor, check_type

from ._checks import check_number, check_plain_loop, fill_missing_options

__all__ = ["SGD", "minibatches", "minibatch_sgd", "nesterov_lookahead"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum: ``torch.optim.SGD``.

    For every parameter theta with gradient g_t (lr = gamma, momentum = mu, dampening = tau,
    weight_decay = lambda):

    .. math::
        g_t \leftarrow g_t + \lambda\theta_{t-1};\quad
        b_t \leftarrow \begin{cases} g_t & t = 1\\
                                     \mu b_{t-1} + (1-\tau) g_t & t > 1\end{cases};\quad
        g_t \leftarrow \begin{cases} g_t + \mu b_t & \text{nesterov}\\
                                     b_t & \text{else}\end{cases};\quad
        \theta_t \leftarrow \theta_{t-1} - \gamma g_t

    Symbols -> variables: g_t -> ``grad``, b_t -> ``buf`` (``state["momentum_buffer"]``),
    theta -> ``p``. With momentum 0 this is the notes' update theta <- theta - lr * grad L.

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: learning rate eta >= 0 (default 1e-3, as torch).
        momentum: momentum factor mu >= 0.
        dampening: tau, scales the new gradient in the buffer from step 2 on.
        weight_decay: L2 penalty lambda >= 0, added to the gradient. Without momentum this equals
            weight decay theta <- (1 - lr lambda) theta; with momentum it does not, since lambda theta
            enters the buffer (decoupled decay with momentum is SGDW, ``l2_vs_decay``).
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening == 0).
        maximize: maximise the objective instead of minimising it.
        foreach, differentiable, fused: accepted for compatibility with torch; only False/None.
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_number("lr", lr, allow_tensor=True)
        check_number("momentum", momentum)
        check_number("dampening", dampening, low=-math.inf)  # torch does not restrict it
        check_number("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                "Nesterov momentum requires a momentum and zero dampening (momentum > 0, "
                f"dampening = 0), got momentum={momentum!r}, dampening={dampening!r}"
            )
        check_plain_loop(foreach=foreach, differentiable=differentiable, fused=fused)
        # The same group keys as torch's SGD, so state dicts load in either direction.
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)

    def __setstate__(self, state: dict) -> None:
        """A state dict of an older release (an option missing) loads, the option at its default."""
        super().__setstate__(state)
        fill_missing_options(
            self,
            dict(nesterov=False, maximize=False, foreach=None, differentiable=False, fused=False),
            step_to_tensor=False,
        )

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):
        """Update every parameter that has a gradient; return the closure's loss (or None)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():  # the closure recomputes the loss and calls backward()
                loss = closure()
        for group in self.param_groups:
            lr = float(group["lr"])
            mu, tau, lam = group["momentum"], group["dampening"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:  # a parameter that did not take part in the loss
                    continue
                grad = -p.grad if group["maximize"] else p.grad
                if lam != 0:
                    grad = grad.add(p, alpha=lam)  # L2 regularisation: g + lambda * theta
                if mu != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:  # torch starts the buffer at the first gradient, not at 0
                        buf = grad.detach().clone()
                        state["momentum_buffer"] = buf
                    else:
                        buf.mul_(mu).add_(grad, alpha=1 - tau)  # b = mu b + (1 - tau) g
                    grad = grad.add(buf, alpha=mu) if group["nesterov"] else buf
                p.add_(grad, alpha=-lr)  # theta = theta - lr * g
        return loss


def nesterov_lookahead(
    grad_fn: Callable[[Tensor], Tensor], theta: Tensor, lr: float, mu: float, steps: int
) -> Tensor:
    r"""Nesterov momentum exactly as the notes write it, with the gradient at the look-ahead point.

    .. math::
        v^{(t+1)} = \mu v^{(t)} - \mathrm{lr}\,\nabla L(\theta^{(t)} + \mu v^{(t)}),\qquad
        \theta^{(t+1)} = \theta^{(t)} + v^{(t+1)},\qquad v^{(0)} = 0.

    Torch's ``SGD(nesterov=True)`` tracks the look-ahead point phi = theta + mu v instead, which
    needs only the gradient at its own parameters (phi); the two give the same points phi^(t)
    (the notebook and tests check it). Symbols -> variables: v -> ``v``, mu -> ``mu``.

    Args:
        grad_fn: maps a point Tensor[k] to the gradient Tensor[k].
        theta: start point Tensor[k] (not modified).
        lr: learning rate.
        mu: momentum coefficient in [0, 1).
        steps: number of updates.

    Returns:
        Tensor[steps + 1, k] of the look-ahead points theta^(t) + mu v^(t), t = 0..steps, the
        points at which the gradient is evaluated (and the parameters torch's form stores).
    """
    check_type("grad_fn", grad_fn, Callable, "a function Tensor[k] -> Tensor[k]")
    check_tensor("theta", theta, shape=("k",), dtype="float")
    check_number("lr", lr)
    check_number("mu", mu, high=1.0, high_inclusive=False)
    check_int("steps", steps, low=0)
    theta = theta.detach().clone()
    v = torch.zeros_like(theta)
    points = [theta + mu * v]
    for _ in range(steps):
        v = mu * v - lr * grad_fn(theta + mu * v)  # gradient at the look-ahead point
        theta = theta + v
        points.append(theta + mu * v)
    return torch.stack(points)  # [steps + 1, k]


def minibatches(n: int, batch_size: int, generator: torch.Generator | None = None) -> Iterator[Tensor]:
    """One epoch of the notes' loop: shuffle the N indices, then yield U = ceil(N / B) mini-batches.

    The last batch holds the N - (U - 1) B left-over samples (the notes index batches u = 0..U-1).

    Args:
        n: number of training samples N >= 1.
        batch_size: B >= 1.
        generator: torch.Generator for the shuffle (reproducible epochs).

    Yields:
        int64 Tensor[B] of sample indices (the last one may be shorter).
    """
    check_int("n", n, low=1)
    check_int("batch_size", batch_size, low=1)
    if generator is not None:
        check_type("generator", generator, torch.Generator, "a torch.Generator or None")
    order = torch.randperm(n, generator=generator)  # 1. shuffle the training data
    num_batches = math.ceil(n / batch_size)  # U = ceil(N / B)
    for u in range(num_batches):  # 2. for u = 0, ..., U - 1
        yield order[u * batch_size : (u + 1) * batch_size]


def minibatch_sgd(
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    theta: Tensor,
    n: int,
    lr: float,
    batch_size: int,
    epochs: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Plain mini-batch SGD written as the notes' epoch loop (steps a, b, c), without an optimizer.

    ``loss_fn(theta, idx)`` returns the mini-batch loss L(theta, (X^(u), Y^(u))) on samples ``idx``.
    Each step computes grad L by autograd and applies theta <- theta - eta * grad L.

    Args:
        loss_fn: (parameters Tensor[k], indices Tensor[B]) -> scalar loss.
        theta: initial parameters Tensor[k] (not modified).
        n: number of training samples N.
        lr: learning rate eta >= 0.
        batch_size: B.
        epochs: number of epochs.
        generator: torch.Generator for the shuffles.

    Returns:
        Tensor[epochs * U + 1, k]: theta after every step, starting with the initial value.
    """
    check_type("loss_fn", loss_fn, Callable, "a function (theta, indices) -> scalar loss")
    check_tensor("theta", theta, shape=("k",), dtype="float")
    check_int("n", n, low=1)
    check_number("lr", lr)
    check_int("batch_size", batch_size, low=1)
    check_int("epochs", epochs, low=0)
    theta = theta.detach().clone()
    path = [theta.clone()]
    for _ in range(epochs):
        for idx in minibatches(n, batch_size, generator):
            theta.requires_grad_(True)
            loss = loss_fn(theta, idx)  # a) predictions and loss on the mini-batch
            (grad,) = torch.autograd.grad(loss, theta)  # b) gradient of the loss
            theta = (theta - lr * grad).detach()  # c) theta <- theta - eta * grad
            path.append(theta.clone())
    return torch.stack(path)
