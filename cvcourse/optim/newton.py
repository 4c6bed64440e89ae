r"""Newton's method: second-order steps from the gradient and the curvature (notes 1.2).

The 1-D step fits the paraboloid of the second-order Taylor expansion
f(x_t + dx) ~ f(x_t) + f'(x_t) dx + 1/2 f''(x_t) dx^2 and jumps to its minimum, dx = -f'/f''.
The general step is -lr H^{-1}(x_t) grad f(x_t) with the Hessian H. Both are checked against
autograd's derivatives in ``tests/optim/test_newton.py``; ``hessian_cost`` gives the notes'
O(k^2) memory and O(k^3) time for a model with k parameters.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from cvcourse._checks import check_float, check_int, check_tensor, check_type

from ._checks import check_number

__all__ = ["newton_step_1d", "newton_step", "newton_method", "hessian_cost"]


def newton_step_1d(df: float, d2f: float) -> float:
    r"""The 1-D Newton step dx = -f'(x_t) / f''(x_t), the minimum of the fitted paraboloid.

    Args:
        df: slope f'(x_t).
        d2f: curvature f''(x_t), > 0 (a paraboloid that opens upwards has a minimum).

    Returns:
        The step dx, so that x_{t+1} = x_t + dx.
    """
    df = check_float("df", df)
    d2f = check_float("d2f", d2f, low=0.0, low_inclusive=False)  # > 0: the paraboloid has a minimum
    return -df / d2f


def newton_step(grad: Tensor, hessian: Tensor, lr: float = 1.0) -> Tensor:
    r"""The general second-order step -lr H^{-1} grad f, solved (not inverted: same result, O(k^3)).

    Args:
        grad: gradient Tensor[k].
        hessian: Hessian Tensor[k, k], symmetric and invertible.
        lr: step scale (1 gives the exact minimum of a quadratic).

    Returns:
        The step Tensor[k].
    """
    sizes: dict[str, int] = {}
    check_tensor("grad", grad, shape=("k",), dtype="float", sizes=sizes)
    check_tensor("hessian", hessian, shape=("k", "k"), dtype="float", sizes=sizes)
    check_number("lr", lr)
    return -lr * torch.linalg.solve(hessian, grad)  # H^{-1} grad, without forming H^{-1}


def newton_method(f: Callable[[Tensor], Tensor], x0: Tensor, steps: int = 1, lr: float = 1.0) -> Tensor:
    """Iterate Newton steps on a scalar function f of x[k], with exact derivatives from autograd.

    Args:
        f: maps Tensor[k] to a scalar tensor.
        x0: start Tensor[k] (float64 recommended).
        steps: number of steps.
        lr: step scale.

    Returns:
        Tensor[steps + 1, k]: the iterates, x0 first.
    """
    check_type("f", f, Callable, "a function Tensor[k] -> scalar Tensor")
    check_tensor("x0", x0, shape=("k",), dtype="float")
    check_int("steps", steps, low=0)
    check_number("lr", lr)
    xs = [x0.detach().clone()]
    for _ in range(steps):
        x = xs[-1]
        grad = torch.autograd.functional.jacobian(f, x)  # Tensor[k]
        hessian = torch.autograd.functional.hessian(f, x)  # Tensor[k, k]
        xs.append(x + newton_step(grad, hessian, lr))
    return torch.stack(xs)


def hessian_cost(k: int, bytes_per_entry: int = 4) -> dict[str, float]:
    """Memory of the k x k Hessian and the operations to invert it, for a model with k parameters.

    Args:
        k: number of parameters.
        bytes_per_entry: 4 for float32, 8 for float64.

    Returns:
        ``{"entries": k^2, "bytes": k^2 * bytes_per_entry, "flops": k^3}`` (the notes' O(k^2) and
        O(k^3); Gaussian elimination takes about 2/3 k^3 multiply-adds, the order is what matters).
    """
    check_int("k", k, low=1)
    check_int("bytes_per_entry", bytes_per_entry, low=1)
    return {
        "entries": float(k) ** 2,
        "bytes": float(k) ** 2 * bytes_per_entry,
        "flops": float(k) ** 3,
    }
