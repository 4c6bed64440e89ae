"""Argument checks for every public function of the course: one module, one rule.

The rule:

- a value of the wrong **type** (a string where a number goes, a bool where an int goes, a list
  where a tensor goes) is a ``TypeError``;
- a value of the right type but the wrong **value** (out of range, NaN, not one of the choices, a
  tensor of the wrong shape) is a ``ValueError``;
- the message names the argument, says what was expected and shows what came in:
  ``"stride must be an int >= 1, got 0"``.

Each check returns the value it accepted (converted where that is the point, e.g. a NumPy integer
becomes an ``int``), so a constructor reads ``self.stride = check_int("stride", stride, low=1)``.
Bools are refused where a number is expected: ``True`` is an ``int`` to Python, never to a user.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import torch

__all__ = [
    "check_bool",
    "check_choice",
    "check_float",
    "check_int",
    "check_tensor",
    "check_type",
    "describe",
]


def describe(value: Any) -> str:
    """How a received value is shown in a message: ``int 3``, ``str 'a'``, ``Tensor of shape [2, 3]``."""
    if isinstance(value, torch.Tensor):
        return f"Tensor of shape {list(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(value).__name__} {text}"


def check_type(name: str, value: Any, types: type | tuple[type, ...], expected: str) -> Any:
    """Return ``value`` if it is an instance of ``types``, else ``TypeError("<name> must be <expected>")``."""
    if not isinstance(value, types):
        raise TypeError(f"{name} must be {expected}, got {describe(value)}")
    return value


def _range_text(low: float | None, high: float | None, low_inclusive: bool, high_inclusive: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>=' if low_inclusive else '>'} {low}")
    if high is not None:
        parts.append(f"{'<=' if high_inclusive else '<'} {high}")
    return " and ".join(parts)


def _in_range(number: float, low, high, low_inclusive: bool, high_inclusive: bool) -> bool:
    if low is not None and (number < low if low_inclusive else number <= low):
        return False
    return not (high is not None and (number > high if high_inclusive else number >= high))


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an ``int`` if it is an integer (not a bool) with ``low <= value <= high``.

    Raises:
        TypeError: not an integer (``3.0`` and ``True`` are refused).
        ValueError: outside ``[low, high]``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {describe(value)}")
    value = int(value)
    if not _in_range(value, low, high, True, True):
        raise ValueError(f"{name} must be an int {_range_text(low, high, True, True)}, got {value}")
    return value


def check_float(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    finite: bool = True,
) -> float:
    """Return ``value`` as a ``float`` if it is a real number (not a bool) inside the range.

    Args:
        name: the argument's name, for the message.
        value: a Python or NumPy real number (an int is accepted and converted).
        low, high: the bounds, or None for none.
        low_inclusive, high_inclusive: whether a bound itself is accepted.
        finite: refuse ``inf`` as well as NaN (NaN is always refused).

    Raises:
        TypeError: not a real number.
        ValueError: NaN, infinite (with ``finite``), or outside the range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    number = float(value)
    if math.isnan(number) or (finite and math.isinf(number)):
        raise ValueError(f"{name} must be a {'finite ' if finite else ''}number, got {number}")
    if not _in_range(number, low, high, low_inclusive, high_inclusive):
        rng = _range_text(low, high, low_inclusive, high_inclusive)
        raise ValueError(f"{name} must be a number {rng}, got {number}")
    return number


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a ``bool`` (``0``/``1`` are refused: a flag is True or False)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else ``ValueError`` listing them."""
    choices = list(choices)
    try:
        ok = value in choices
    except TypeError:  # unhashable or incomparable values are simply not among the choices
        ok = False
    if not ok:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {listed}, got {describe(value)}")
    return value


def _dtype_ok(tensor: torch.Tensor, dtype: str | torch.dtype | Sequence[torch.dtype] | None) -> bool:
    if dtype is None:
        return True
    if dtype == "float":
        return tensor.is_floating_point()
    if dtype == "int":
        return not tensor.is_floating_point() and not tensor.is_complex() and tensor.dtype != torch.bool
    if dtype == "bool":
        return tensor.dtype == torch.bool
    if isinstance(dtype, torch.dtype):
        return tensor.dtype == dtype
    return tensor.dtype in tuple(dtype)


def _shape_text(shape: Sequence[int | str | None]) -> str:
    return "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"


def check_tensor(
    name: str,
    value: Any,
    *,
    shape: Sequence[int | str | None] | None = None,
    ndim: int | Sequence[int] | None = None,
    dtype: str | torch.dtype | Sequence[torch.dtype] | None = None,
    finite: bool = False,
    sizes: dict[str, int] | None = None,
) -> torch.Tensor:
    """Return ``value`` if it is a tensor with the given shape pattern, number of dims and dtype.

    Args:
        name: the argument's name, for the message.
        value: the tensor.
        shape: a pattern, one entry per dimension: an int is that size, a str names a size (``"N"``)
            that must be the same wherever the name appears (also across calls sharing ``sizes``),
            None is any size. ``("N", 4)`` is a box list ``Tensor[N, 4]``.
        ndim: the number of dimensions (or the accepted numbers) when no ``shape`` is given.
        dtype: ``"float"``, ``"int"``, ``"bool"``, a ``torch.dtype`` or a sequence of them.
        finite: refuse NaN and inf (floating tensors only).
        sizes: a dict shared between checks: named sizes found here are stored in it, and sizes
            already in it must match, e.g. boxes ``("N", 4)`` and scores ``("N",)``.

    Raises:
        TypeError: not a tensor, or the wrong dtype.
        ValueError: the wrong shape, or non-finite values with ``finite``.
    """
    expected = "a torch.Tensor" + ("" if shape is None else f" of shape {_shape_text(shape)}")
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be {expected}, got {describe(value)}")
    if not _dtype_ok(value, dtype):
        article = "an" if str(dtype)[:1] in "aeiou" else "a"
        raise TypeError(f"{name} must have {article} {dtype} dtype, got dtype {value.dtype}")
    if shape is not None:
        sizes = {} if sizes is None else sizes
        known = {k: v for k, v in sizes.items() if k in shape}  # set by earlier checks
        ok = value.ndim == len(shape)
        for want, got in zip(shape, value.shape, strict=False):
            if not ok:
                break
            if isinstance(want, str):
                ok = sizes.setdefault(want, int(got)) == got
            elif want is not None:
                ok = want == got
        if not ok:
            where = f" (with {', '.join(f'{k}={v}' for k, v in known.items())})" if known else ""
            raise ValueError(
                f"{name} must have shape {_shape_text(shape)}{where}, got shape {list(value.shape)}"
            )
    elif ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            want = " or ".join(str(n) for n in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {list(value.shape)}")
    if finite and value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} must hold only finite values, got NaN or inf")
    return value
