"""Argument checks shared by the chapter-1 optimizers (private: the lesson is in the other modules).

Each optimizer validates its hyperparameters the way ``torch.optim`` does (same accepted ranges, a
``ValueError`` for a value out of range, starting with torch's words such as "Invalid learning
rate", which code may match on). Everything else follows the course's one rule
(:mod:`cvcourse._checks`, on which these checks are built): a wrong *type* (a string learning rate,
a bool) is a ``TypeError``, and the message names the argument, what was expected and what came in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from cvcourse._checks import check_float, describe

__all__ = ["check_number", "check_betas", "check_plain_loop", "scalar_dtype", "SparseGradientError"]


class SparseGradientError(RuntimeError, TypeError):
    """A sparse gradient reached an optimizer that has no sparse update.

    It is a ``RuntimeError`` like torch's own message for the same case, and a ``TypeError`` as the
    course's rule for input of the wrong kind, so code written against either catches it.
    """


# torch's wording for each argument, kept at the start of our messages (code may match on it).
_TORCH_PHRASE = {
    "lr": "learning rate",
    "eps": "epsilon value",
    "betas[0]": "beta parameter at index 0",
    "betas[1]": "beta parameter at index 1",
}


def check_number(
    name: str,
    value,
    *,
    low: float = 0.0,
    high: float | None = None,
    high_inclusive: bool = True,
    allow_tensor: bool = False,
):
    """Return ``value`` if it is a real number with ``low <= value`` (and ``<= high`` / ``< high``).

    Args:
        name: the argument's name, for the message.
        value: the value to check (a Python/NumPy real; a 1-element tensor if ``allow_tensor``).
        low: smallest accepted value (inclusive), as in torch's checks.
        high: largest accepted value, or None for no upper bound.
        high_inclusive: whether ``high`` itself is accepted.
        allow_tensor: accept a 1-element tensor (torch accepts a tensor learning rate).

    Returns:
        ``value`` unchanged (a tensor stays a tensor, like torch keeps it in the param group).

    Raises:
        TypeError: if ``value`` is not a real number (bools are refused too).
        ValueError: if it is NaN or outside the range.
    """
    if allow_tensor and isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} as a Tensor must have 1 element, got shape {list(value.shape)}")
        number = float(value.item())
    else:
        try:
            number = check_float(name, value, finite=False)  # the type: a real number, not a bool
        except ValueError:  # NaN: refused below, in torch's words
            number = math.nan
    upper = "" if high is None else (f" and {'<=' if high_inclusive else '<'} {high}")
    expected = f"{name} must be >= {low}{upper}"
    too_high = high is not None and (number > high if high_inclusive else number >= high)
    if math.isnan(number) or number < low or too_high:
        raise ValueError(f"Invalid {_TORCH_PHRASE.get(name, name + ' value')}: {expected}, got {value!r}")
    return value


def check_betas(betas) -> tuple[float, float]:
    """Check Adam's ``betas = (beta1, beta2)``: two numbers, each in [0, 1) as torch requires."""
    if isinstance(betas, (str, bytes)) or not isinstance(betas, (Sequence, np.ndarray, torch.Tensor)):
        raise TypeError(f"betas must be a pair (beta1, beta2), got {describe(betas)}")
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {len(betas)} values: {describe(betas)}")
    beta1 = check_number("betas[0]", betas[0], high=1.0, high_inclusive=False, allow_tensor=True)
    beta2 = check_number("betas[1]", betas[1], high=1.0, high_inclusive=False, allow_tensor=True)
    return (float(beta1), float(beta2))


def check_plain_loop(**flags) -> None:
    """Refuse torch's implementation switches other than the plain single-tensor loop.

    ``foreach``, ``fused``, ``differentiable`` and ``capturable`` are accepted as keywords (and
    stored in the param groups) only so that code and state dicts written for ``torch.optim`` work
    unchanged; this course implements the readable per-parameter loop only.
    """
    for name, value in flags.items():
        if value:
            raise ValueError(
                f"{name}=True is not supported: cvcourse.optim implements only the plain "
                f"single-tensor loop (use {name}=False or None), got {name}={value!r}"
            )


def scalar_dtype() -> torch.dtype:
    """dtype of the ``step`` counter: torch keeps it as a float tensor, float64 only if that is the
    default dtype (as ``torch.optim.optimizer._get_scalar_dtype`` does)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def fill_missing_options(optimizer: torch.optim.Optimizer, options: dict, step_to_tensor: bool) -> None:
    """What each optimizer's ``__setstate__`` does after ``Optimizer.__setstate__``, as torch's do.

    ``load_state_dict`` ends by calling ``__setstate__``: a state dict saved by an older release
    lacks the options added since (``maximize``, ``foreach``, ``decoupled_weight_decay``, ...), so
    every missing option gets its default; a ``step`` saved as a plain number becomes the float
    tensor torch keeps today.
    """
    for group in optimizer.param_groups:
        for key, default in options.items():
            group.setdefault(key, default)
        if not step_to_tensor:
            continue
        for p in group["params"]:
            p_state = optimizer.state.get(p, {})
            if len(p_state) != 0 and not torch.is_tensor(p_state["step"]):
                p_state["step"] = torch.tensor(float(p_state["step"]), dtype=scalar_dtype())
