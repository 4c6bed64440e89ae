r"""The notes' remarks on momentum and adaptive rates, as functions that measure them (notes 1.3-1.4).

* **Nesterov's step (Fig. 1.2)**: ``nesterov_step_parts`` returns the points of one standard and one
  Nesterov momentum step from the same state, in the notes' velocity form.
* **Momentum as a low-pass filter** (n:163): ``momentum_filter`` is the buffer of ``SGD(momentum=mu)``
  rescaled by ``1 - mu``, an exponential moving average of the gradients. For gradients with
  independent noise of variance :math:`\sigma^2` its stationary variance is
  :math:`\frac{1-\mu}{1+\mu}\sigma^2` (a geometric series: :math:`(1-\mu)^2 \sum_k \mu^{2k}`).
* **Steps to a tolerance**: ``steps_to_tolerance`` counts them for several optimizers on a surface
  (conditioning, the rotated canyon).
* **AdaGrad's vanishing rates vs RMSProp's** (n:223, n:232): ``effective_learning_rates`` reads
  :math:`lr / (\sqrt{s_t} + \varepsilon)` per coordinate from the optimizer's state after each step
  on a surface. AdaGrad's ``sum`` only grows, so its rates never rise; RMSProp's ``square_avg``
  forgets, so they rise again when the gradients get small.
* **Adam's bounded step** (n:265): ``single_parameter_steps`` feeds a given gradient sequence to an
  optimizer on one scalar parameter and returns its steps; ``adam_step_bound`` is the bound that
  Cauchy-Schwarz gives on Adam's corrected ratio :math:`|\hat g_t| / \sqrt{\hat s_t}` for *any*
  gradient sequence (Kingma & Ba, https://arxiv.org/abs/1412.6980, Sec. 2.1, discuss the same
  bound, :math:`(1-\beta_1)/\sqrt{1-\beta_2}`, in its large-t form):

  .. math::
      g_t^2 = (1-\beta_1)^2 \Big(\sum_{k<t} \beta_1^k \nabla_{t-k}\Big)^2
      \le (1-\beta_1)^2 \sum_{k<t} \Big(\frac{\beta_1^2}{\beta_2}\Big)^k \cdot
      \sum_{k<t} \beta_2^k \nabla_{t-k}^2
      = \frac{(1-\beta_1)^2}{1-\beta_2}\,\frac{1-\rho^t}{1-\rho}\, s_t,\quad \rho = \beta_1^2/\beta_2,

  so :math:`|\hat g_t|/\sqrt{\hat s_t} \le \frac{1-\beta_1}{1-\beta_1^t}
  \sqrt{\frac{(1-\beta_2^t)(1-\rho^t)}{(1-\beta_2)(1-\rho)}}` (needs :math:`\beta_1^2 < \beta_2`).
  RMSProp's ratio :math:`|\nabla_t|/\sqrt{s_t}` is only bounded by :math:`1/\sqrt{1-\beta}`, which it
  reaches on a gradient spike after a quiet stretch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import Tensor

from cvcourse._checks import check_float, check_int, check_tensor, check_type

from .surfaces import Surface
from .trajectories import trajectories

__all__ = [
    "nesterov_step_parts",
    "momentum_filter",
    "steps_to_tolerance",
    "effective_learning_rates",
    "single_parameter_steps",
    "adam_step_bound",
]


def nesterov_step_parts(
    grad_fn: Callable[[np.ndarray], np.ndarray], theta: np.ndarray, v: np.ndarray, lr: float, mu: float
) -> dict[str, np.ndarray]:
    r"""One standard and one Nesterov momentum step from the same point and velocity (Fig. 1.2).

    Standard: :math:`v' = \mu v - lr\,\nabla(\theta)`. Nesterov: first move by :math:`\mu v` to the
    look-ahead point, then take the gradient there: :math:`v' = \mu v - lr\,\nabla(\theta + \mu v)`.

    Returns:
        ``theta``, ``lookahead`` (theta + mu v), ``standard`` and ``nesterov`` (the two new points),
        each an array [2].
    """
    check_type("grad_fn", grad_fn, Callable, "a function theta -> gradient")
    theta, v = np.asarray(theta, dtype=np.float64), np.asarray(v, dtype=np.float64)
    lr, mu = check_float("lr", lr, low=0.0), check_float("mu", mu, low=0.0)
    lookahead = theta + mu * v
    return {
        "theta": theta,
        "lookahead": lookahead,
        "standard": theta + mu * v - lr * grad_fn(theta),
        "nesterov": lookahead - lr * grad_fn(lookahead),
    }


def momentum_filter(grads: Tensor, mu: float) -> Tensor:
    r"""``(1 - mu)`` times torch's momentum buffer: :math:`m_t = \mu m_{t-1} + (1-\mu) g_t`, :math:`m_0 = 0`.

    Args:
        grads: Tensor[T, ...], the gradients g_1 .. g_T.
        mu: momentum in [0, 1).

    Returns:
        Tensor[T, ...]: the filtered gradients m_1 .. m_T (an exponential moving average).
    """
    check_tensor("grads", grads, dtype="float")
    if grads.ndim < 1:
        raise ValueError(f"grads must have shape [T, ...], got shape {list(grads.shape)}")
    mu = check_float("mu", mu, low=0.0, high=1.0, high_inclusive=False)
    out, m = [], torch.zeros_like(grads[0])
    for g in grads:
        m = mu * m + (1 - mu) * g
        out.append(m)
    return torch.stack(out)


def steps_to_tolerance(
    surface: Surface, optimizers: Mapping, tol: float, steps: int, start=None
) -> dict[str, int]:
    """First step at which ``f - f*`` falls below ``tol``, per optimizer (``steps + 1`` if never).

    Args:
        surface: a surface with a known minimum (``surface.minimum``).
        optimizers: ``{label: (OptimizerClass, kwargs)}`` as for ``trajectories``.
        tol: tolerance on the loss gap, > 0.
        steps: most steps to run.
        start: start point; default the surface's.
    """
    tol = check_float("tol", tol, low=0.0, low_inclusive=False)
    steps = check_int("steps", steps, low=1)
    t = trajectories(surface, optimizers, start=start, steps=steps)
    best = float(surface.value(np.asarray(surface.minimum, dtype=np.float64)))
    gap = t.losses - best  # [n, steps + 1], NaN after a divergence
    below = np.nan_to_num(gap, nan=np.inf) < tol
    return {
        label: int(np.argmax(b)) if b.any() else steps + 1 for label, b in zip(t.labels, below, strict=True)
    }


def effective_learning_rates(
    optimizer_class: type, surface: Surface, steps: int, *, start=None, **kwargs
) -> np.ndarray:
    r"""AdaGrad's or RMSProp's per-coordinate rate :math:`lr / (\sqrt{s_t} + \varepsilon)` after each step.

    Runs the optimizer with full-batch gradients on the surface from ``start`` and reads
    :math:`s_t` from torch's state keys: ``sum`` (AdaGrad, :math:`s_t = s_{t-1} + g_t^2`) or
    ``square_avg`` (RMSProp, :math:`s_t = \beta s_{t-1} + (1-\beta) g_t^2`). Without momentum the
    step is exactly ``-rate * g_t``, coordinate by coordinate.

    Args:
        optimizer_class: ``cvcourse.optim.Adagrad`` / ``RMSprop`` or their ``torch.optim`` namesakes.
        surface: the loss surface (its ``grad`` gives the gradient).
        steps: number of steps, >= 1.
        start: start point (x, y); default the surface's.
        **kwargs: the optimizer's hyperparameters (lr, alpha, eps, ...); AdaGrad's ``lr_decay`` must
            be 0 and RMSProp must not be ``centered`` (their rates have other formulas).

    Returns:
        np.ndarray[steps, 2]: the rate of each coordinate after steps 1 .. steps.
    """
    check_type("optimizer_class", optimizer_class, type, "an optimizer class")
    check_type("surface", surface, Surface, "a cvcourse.optim.surfaces surface")
    steps = check_int("steps", steps, low=1)
    start = surface.start if start is None else start
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = optimizer_class([p], **kwargs)
    group = optimizer.param_groups[0]
    if group.get("lr_decay", 0) or group.get("centered", False):
        raise ValueError("effective_learning_rates needs lr_decay=0 and centered=False")
    rates = []
    for _ in range(steps):
        p.grad = torch.from_numpy(surface.grad(p.detach().numpy()))
        optimizer.step()
        state = optimizer.state[p]
        if "sum" in state:  # AdaGrad
            s = state["sum"]
        elif "square_avg" in state:  # RMSProp
            s = state["square_avg"]
        else:
            raise ValueError(
                f"optimizer_class must keep AdaGrad's 'sum' or RMSProp's 'square_avg', got {sorted(state)}"
            )
        # the same expression as the optimizers': lr / (sqrt(s) + eps), eps outside the root
        rates.append((group["lr"] / (s.sqrt() + group["eps"])).numpy().copy())
    return np.stack(rates)


def single_parameter_steps(optimizer_class: type, grads: Tensor, **kwargs) -> Tensor:
    """The steps ``theta_t - theta_(t-1)`` an optimizer takes on one scalar parameter fed ``grads``.

    Args:
        optimizer_class: e.g. ``cvcourse.optim.Adam`` or ``torch.optim.RMSprop``.
        grads: Tensor[T], the gradient given at each step (float64 recommended).
        **kwargs: the optimizer's hyperparameters (lr, betas, alpha, eps, ...).

    Returns:
        Tensor[T]: the steps, in the dtype of ``grads``.
    """
    check_type("optimizer_class", optimizer_class, type, "an optimizer class")
    check_tensor("grads", grads, shape=("T",), dtype="float")
    p = torch.zeros((), dtype=grads.dtype, requires_grad=True)
    optimizer = optimizer_class([p], **kwargs)
    steps = []
    for g in grads:
        before = p.detach().clone()
        p.grad = g.clone()
        optimizer.step()
        steps.append(p.detach() - before)
    return torch.stack(steps)


def adam_step_bound(t: int, beta1: float = 0.9, beta2: float = 0.999) -> float:
    r"""Upper bound on :math:`|\hat g_t| / \sqrt{\hat s_t}` at step t for any gradients (module docstring).

    Multiply by lr for a bound on Adam's step (eps = 0). Requires :math:`\beta_1^2 < \beta_2`.
    """
    t = check_int("t", t, low=1)
    beta1 = check_float("beta1", beta1, low=0.0, high=1.0, high_inclusive=False)
    beta2 = check_float("beta2", beta2, low=0.0, high=1.0, high_inclusive=False)
    rho = beta1**2 / beta2
    if rho >= 1:
        raise ValueError(f"the bound needs beta1^2 < beta2, got beta1={beta1}, beta2={beta2}")
    series = (1 - rho**t) / (1 - rho)  # sum_{k<t} rho^k
    return (1 - beta1) / (1 - beta1**t) * math.sqrt((1 - beta2**t) * series / (1 - beta2))
