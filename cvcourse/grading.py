"""Checks that the graded exercise notebooks call, with messages written for students.

The exercise notebooks in ``notebooks/exercises/`` are in nbgrader format
(https://nbgrader.readthedocs.io): a student writes a function in a solution cell, and the test cell
below it calls the checks of this module. A check either returns quietly or raises ``CheckFailed``
(an ``AssertionError``, so nbgrader scores the cell 0) with one message that says what was expected
and what came in. Every expected value is computed by the authority (``torch.optim``,
``torch.nn.functional``, autograd): this module holds no solution. Checks that belong to one chapter
live with it: chapter 1's ``torch_optimizer_trajectory`` (which only runs a ``torch.optim`` optimizer
and records what it does) is ``cvcourse.optim.grading``.

A test cell reads::

    with exercise(2, "adam_step"):
        expected = torch_optimizer_trajectory(torch.optim.Adam, theta, [grad], lr=0.1)
        theta, g, s = adam_step(theta, grad, g, s, t=1, lr=0.1)
        check_close("theta after step 1", theta, expected[0]["param"])

While the student's function still holds nbgrader's stub ``raise NotImplementedError()``, the
``exercise`` block turns that error into ``NotAnswered``, whose message says which exercise is open
and what to do. In Jupyter both exceptions show only their message, not a traceback into this file.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from cvcourse._checks import check_float, check_int, check_type, describe

__all__ = [
    "CheckFailed",
    "NotAnswered",
    "TimeLimitExceeded",
    "exercise",
    "check",
    "check_close",
    "check_equal",
    "check_shape",
    "check_raises",
    "forbidden",
    "check_written_here",
]

# Seconds a block of checks may run before ``exercise`` stops it (an endless loop in an answer): far
# above what any check of the course takes on a slow laptop, far below nbgrader's per-cell limit
# (``c.Execute.timeout`` in notebooks/exercises/nbgrader_config.py), so the student reads which
# exercise hangs instead of a bare kernel interrupt.
TIME_LIMIT_S = 30.0


def __getattr__(name: str) -> Any:
    """``cvcourse.grading.torch_optimizer_trajectory``: moved to chapter 1 (``cvcourse.optim.grading``).

    Kept importable from here because exercise notebooks already handed out (and nbgrader's
    gradebook, which restores their locked cells when autograding) import it from this module.
    """
    if name == "torch_optimizer_trajectory":
        import warnings

        from cvcourse.optim import grading as optim_grading

        warnings.warn(
            "cvcourse.grading.torch_optimizer_trajectory moved to "
            "cvcourse.optim.grading.torch_optimizer_trajectory",
            DeprecationWarning,
            stacklevel=2,
        )
        return optim_grading.torch_optimizer_trajectory
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Friendly(Exception):
    """An exception Jupyter shows as its message only (IPython calls ``_render_traceback_``)."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class CheckFailed(_Friendly, AssertionError):
    """A check of an exercise failed; the message says what was expected and what came in."""


class NotAnswered(_Friendly):
    """The student's function still raises nbgrader's ``NotImplementedError`` stub."""

    def __init__(self, number: int, name: str) -> None:
        self.number, self.name = number, name
        super().__init__(
            f"Exercise {number} (`{name}`) is not answered yet: replace "
            f"`raise NotImplementedError()` in the cell that defines `{name}` with your code, "
            "run that cell, then run this one again."
        )


class TimeLimitExceeded(CheckFailed):
    """The checks of an exercise ran longer than their time limit (usually an endless loop)."""

    def __init__(self, number: int, name: str, seconds: float) -> None:
        self.number, self.name, self.seconds = number, name, seconds
        super().__init__(
            f"Exercise {number} (`{name}`) did not finish within {seconds:g} s: the checks were "
            f"stopped. Look for a loop in `{name}` that never ends (a `while` whose condition never "
            "becomes false, an index that is never advanced), fix it, run that cell, then this one again."
        )


@contextmanager
def _time_limit(seconds: float | None, on_timeout: Callable[[], BaseException]) -> Iterator[None]:
    """Raise ``on_timeout()`` inside the block after ``seconds`` of wall time (SIGALRM).

    Only where the signal exists and this is the main thread (Jupyter kernels run cells there); a
    timer already set by someone else is put back afterwards. Elsewhere the block runs unlimited and
    nbgrader's per-cell timeout is the only limit.
    """
    import signal
    import threading

    usable = (
        seconds is not None
        and hasattr(signal, "SIGALRM")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def alarm(signum: int, frame: Any) -> None:
        raise on_timeout()

    previous = signal.signal(signal.SIGALRM, alarm)
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay:
            signal.setitimer(signal.ITIMER_REAL, outer_delay, outer_interval)


def _is_stub_error(err: NotImplementedError, name: str) -> bool:
    """True when ``err`` was raised directly by a function called ``name`` (the nbgrader stub)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    # The stub is ``raise NotImplementedError()``: no message. A NotImplementedError with a message
    # comes from a library (an unsupported op), and the student needs to see it as it is.
    if err.args or tb is None:
        return False
    code = tb.tb_frame.f_code  # a method is named by its qualified name, "TinySegmenter.forward"
    return name in (code.co_name, getattr(code, "co_qualname", code.co_name))


@contextmanager
def exercise(
    number: int, name: str, *, also: Sequence[str] = (), seconds: float | None = TIME_LIMIT_S
) -> Iterator[None]:
    """Run the checks of exercise ``number``, whose function is called ``name``.

    A ``NotImplementedError`` raised by ``name`` itself, or by one of the helper functions named in
    ``also`` (the stub nbgrader leaves in the student version), becomes ``NotAnswered`` naming that
    function. A block still running after ``seconds`` is stopped with ``TimeLimitExceeded`` (a
    ``CheckFailed``: the exercise scores 0, the next cells still run). Any other error passes
    through with its type and traceback, and a note naming the exercise.

    Args:
        number: the exercise number shown to the student (>= 1).
        name: the name of the function the student writes, e.g. ``"adam_step"`` (a method:
            ``"TinySegmenter.forward"``, Python >= 3.11).
        also: names of further functions the student writes for this exercise (``("split_heads",)``).
        seconds: wall-clock limit of the block (> 0), or None for no limit (``TIME_LIMIT_S``).
    """
    check_int("number", number, low=1)
    if isinstance(also, str) or not isinstance(also, Sequence):
        raise TypeError(f"also must be a sequence of function names, got {describe(also)}")
    for argument, value in [("name", name)] + [(f"also[{i}]", v) for i, v in enumerate(also)]:
        check_type(argument, value, str, "the function's name (an identifier)")
        if not all(part.isidentifier() for part in value.split(".")):
            raise ValueError(f"{argument} must be the function's name (an identifier), got {value!r}")
    if seconds is not None:
        seconds = check_float("seconds", seconds, low=0.0, low_inclusive=False)
    try:
        with _time_limit(seconds, lambda: TimeLimitExceeded(number, name, seconds)):
            yield
    except NotImplementedError as err:
        for function in (name, *also):
            if _is_stub_error(err, function):
                raise NotAnswered(number, function) from None
        raise
    except _Friendly:
        raise
    except Exception as err:
        if hasattr(err, "add_note"):  # Python >= 3.11: shown under the traceback
            err.add_note(
                f"(raised while checking Exercise {number}, `{name}`: the error above comes from your "
                "code or from what it returned; this exercise scores 0 until it is fixed)"
            )
        raise


def _check_name(name: str, argument: str = "name") -> None:
    check_type(argument, name, str, "a non-empty str")
    if not name:
        raise ValueError(f"{argument} must be a non-empty str, got ''")


def check(condition: bool, message: str) -> None:
    """Fail with ``message`` (what was expected, what came in) unless ``condition`` holds.

    Like ``assert``, but the student sees the message only, and it also runs under ``python -O``.
    """
    _check_name(message, "message")
    if not condition:
        raise CheckFailed(message)


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(value.shape)


def check_shape(name: str, got: Any, expected: Sequence[int]) -> None:
    """Check that ``got`` is a tensor of shape ``expected``.

    Args:
        name: what ``got`` is, in the student's words (``"attention output"``).
        got: the student's value.
        expected: the expected shape, e.g. ``(2, 5, 8)``.

    Raises:
        CheckFailed: if ``got`` is not a tensor or has another shape.
    """
    _check_name(name)
    if isinstance(expected, (str, bytes)) or not isinstance(expected, Sequence):
        raise TypeError(f"expected must be a sequence of ints >= 0, got {describe(expected)}")
    for i, n in enumerate(expected):
        check_int(f"expected[{i}]", n, low=0)
    if not isinstance(got, Tensor):
        raise CheckFailed(f"{name} should be a torch.Tensor, got {type(got).__name__}")
    if _shape(got) != tuple(expected):
        raise CheckFailed(f"{name} should have shape {tuple(expected)}, got {_shape(got)}")


def check_close(name: str, got: Any, expected: Any, *, atol: float = 1e-8, rtol: float = 1e-6) -> None:
    """Check that ``got`` equals ``expected``: ``|got - expected| <= atol + rtol * |expected|``.

    Both are compared in float64 on the CPU; NaN matches NaN, infinities must match exactly.

    Args:
        name: what the value is, in the student's words (``"parameter after 3 Adam steps"``).
        got: the student's value, a tensor (a Python number is accepted where ``expected`` is 0-d).
        expected: the value computed by the authority (tensor or number).
        atol: absolute tolerance (>= 0).
        rtol: relative tolerance (>= 0).

    Raises:
        CheckFailed: on a wrong type, a wrong shape, or values that differ (naming the largest
            difference).
    """
    _check_name(name)
    atol, rtol = check_float("atol", atol, low=0.0), check_float("rtol", rtol, low=0.0)
    expected_t = torch.as_tensor(expected).detach().to("cpu", torch.float64)
    if isinstance(got, (int, float)) and not isinstance(got, bool) and expected_t.dim() == 0:
        got = torch.tensor(got)
    if not isinstance(got, Tensor):
        raise CheckFailed(f"{name} should be a torch.Tensor, got {type(got).__name__}")
    if got.is_complex() or got.dtype == torch.bool:
        raise CheckFailed(f"{name} should hold real numbers, got dtype {got.dtype}")
    if _shape(got) != _shape(expected_t):
        raise CheckFailed(f"{name} should have shape {_shape(expected_t)}, got {_shape(got)}")
    got_t = got.detach().to("cpu", torch.float64)
    close = torch.isclose(got_t, expected_t, atol=atol, rtol=rtol, equal_nan=True)
    if bool(close.all()):
        return
    diff = (got_t - expected_t).abs()
    diff = torch.where(close, torch.zeros_like(diff), diff.nan_to_num(nan=math.inf))
    flat = int(diff.flatten().argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), diff.shape))
    where = f" at index {index}" if index else ""
    bad, total = int((~close).sum()), close.numel()
    raise CheckFailed(
        f"{name} is not close to the expected value: {bad} of {total} entries differ; "
        f"largest difference{where}: got {got_t.flatten()[flat].item():.6g}, "
        f"expected {expected_t.flatten()[flat].item():.6g} (atol={atol:g}, rtol={rtol:g})"
    )


def check_equal(name: str, got: Any, expected: Any) -> None:
    """Check that ``got`` equals ``expected`` exactly: numbers, bools, strings, lists and tuples of
    them, or integer / bool tensors (indices, labels, masks).

    Args:
        name: what the value is, in the student's words (``"indices kept by NMS"``).
        got: the student's value.
        expected: the value computed by the authority. A tensor ``expected`` needs a tensor of the
            same shape and equal entries (any dtype); a list or tuple accepts a list or a tuple.

    Raises:
        CheckFailed: on a wrong type, length, shape or value (naming the first difference).
    """
    _check_name(name)
    if isinstance(expected, Tensor):
        if not isinstance(got, Tensor):
            raise CheckFailed(f"{name} should be a torch.Tensor, got {type(got).__name__}")
        if _shape(got) != _shape(expected):
            raise CheckFailed(f"{name} should have shape {_shape(expected)}, got {_shape(got)}")
        same = got.detach().cpu() == expected.detach().cpu()
        if bool(same.all()):
            return
        flat = int((~same).flatten().to(torch.uint8).argmax())
        index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), same.shape))
        where = f" at index {index}" if index else ""
        raise CheckFailed(
            f"{name} is not the expected value: {int((~same).sum())} of {same.numel()} entries differ; "
            f"first difference{where}: got {got.flatten()[flat].item()!r}, "
            f"expected {expected.flatten()[flat].item()!r}"
        )
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            raise CheckFailed(f"{name} should be a list, got {type(got).__name__}")
        if len(got) != len(expected):
            raise CheckFailed(f"{name} should have {len(expected)} items, got {len(got)}: {_short(got)}")
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            check_equal(f"{name}[{i}]", g, e)
        return
    if isinstance(got, Tensor) and got.dim() == 0 and not isinstance(expected, str):
        got = got.item()
    real = (int, float)
    kind = bool if isinstance(expected, bool) else real if isinstance(expected, real) else type(expected)
    if not isinstance(got, kind) or (isinstance(got, bool) and not isinstance(expected, bool)):
        wanted, came = type(expected).__name__, type(got).__name__
        raise CheckFailed(f"{name} should be {wanted} {expected!r}, got {came} {_short(got)}")
    if got != expected:
        raise CheckFailed(f"{name} should be {expected!r}, got {got!r}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_raises(
    name: str,
    fn: Callable[..., Any],
    *args: Any,
    exception: type[BaseException] | tuple[type[BaseException], ...] = ValueError,
    **kwargs: Any,
) -> BaseException:
    """Check that ``fn(*args, **kwargs)`` raises ``exception``; return the exception raised.

    A ``NotImplementedError`` from ``fn`` passes through, so that ``exercise`` can report it.

    Args:
        name: the situation, in the student's words (``"global_average_pool on a 3-d tensor"``).
        fn: the student's function.
        *args: positional arguments for ``fn``.
        exception: the exception class (or tuple of classes) that must be raised.
        **kwargs: keyword arguments for ``fn``.

    Raises:
        CheckFailed: if ``fn`` returns normally or raises another exception.
    """
    _check_name(name)
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {describe(fn)}")
    classes = exception if isinstance(exception, tuple) else (exception,)
    if not classes or not all(isinstance(c, type) and issubclass(c, BaseException) for c in classes):
        raise TypeError(f"exception must be an exception class or a tuple of them, got {exception!r}")
    wanted = " or ".join(c.__name__ for c in classes)
    try:
        result = fn(*args, **kwargs)
    except classes as err:
        return err
    except NotImplementedError:
        raise
    except Exception as err:  # noqa: BLE001 - any other error is the student's bug to report
        raise CheckFailed(f"{name} should raise {wanted}, but raised {type(err).__name__}: {err}") from None
    shown = type(result).__name__ if isinstance(result, Tensor) else repr(result)[:80]
    raise CheckFailed(f"{name} should raise {wanted}, but it returned {shown}")


@contextmanager
def forbidden(owner: Any, attribute: str, reason: str) -> Iterator[None]:
    """Inside the block, calling ``owner.attribute`` fails the check with ``reason``.

    Used where the exercise is to write what a library function does: ``with forbidden(F,
    "scaled_dot_product_attention", "compute the attention yourself"): ...``. The original is
    restored when the block ends, also on error.

    Args:
        owner: a module or object, e.g. ``torch.nn.functional``.
        attribute: the name of the callable to forbid.
        reason: the message shown when it is called.
    """
    check_type("attribute", attribute, str, "the name of a callable (a str)")
    if not callable(getattr(owner, attribute, None)):
        raise ValueError(f"attribute must name a callable of {owner!r}, got {attribute!r}")
    _check_name(reason, "reason")
    original = getattr(owner, attribute)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise CheckFailed(reason)

    setattr(owner, attribute, refuse)
    try:
        yield
    finally:
        setattr(owner, attribute, original)


REFERENCE_MODULES = (
    "cvcourse.optim",
    "cvcourse.architectures",
    "cvcourse.transformers",
    "cvcourse.detection",
    "cvcourse.segmentation",
    "cvcourse.depth",
    "cvcourse.generative",
)


def check_written_here(fn: Callable[..., Any], avoid: Sequence[str] = REFERENCE_MODULES) -> None:
    """Check that the student's ``fn`` does not use the course's reference implementations.

    The chapters' packages (``cvcourse.optim``, ``cvcourse.transformers``, ``cvcourse.detection``,
    ...) hold the readable reference code that the exercises ask students to write themselves.
    This looks at every global name that ``fn`` (and any
    function defined inside it) uses, and fails if one is a module in ``avoid`` (or a package above
    one, such as ``cvcourse``) or an object defined in one.

    Args:
        fn: the student's function (a Python function, not a builtin).
        avoid: module names whose code must not be used.

    Raises:
        CheckFailed: naming the global name and the module it comes from.
    """
    code = getattr(fn, "__code__", None)
    if not isinstance(code, types.CodeType):
        raise TypeError(f"fn must be a Python function, got {describe(fn)}")
    if isinstance(avoid, str) or not all(isinstance(m, str) for m in avoid):
        raise TypeError(f"avoid must be a sequence of module names, got {describe(avoid)}")
    if not all(avoid):
        raise ValueError(f"avoid must be a sequence of module names, got an empty name in {avoid!r}")
    names, stack = set(), [code]
    while stack:  # the function's own code and the code of functions defined inside it
        code = stack.pop()
        names.update(code.co_names)
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    for name in sorted(names & fn.__globals__.keys()):
        value = fn.__globals__[name]
        is_module = isinstance(value, types.ModuleType)
        origin = value.__name__ if is_module else getattr(value, "__module__", None)
        if not isinstance(origin, str):
            continue
        for module in avoid:
            inside = origin == module or origin.startswith(module + ".")
            if inside or (is_module and module.startswith(origin + ".")):
                raise CheckFailed(
                    f"`{fn.__name__}` uses `{name}` from {origin}: this exercise asks you to write "
                    f"the computation yourself, without the course's reference code in {module}"
                )
