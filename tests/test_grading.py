"""Tests of cvcourse.grading: the checks pass exactly when they should, and say why when they fail.

The authority for ``check_close`` is ``torch.allclose`` (float64, NaN equal to NaN). Chapter 1's
``torch_optimizer_trajectory`` (``cvcourse.optim.grading``) is tested in tests/optim/test_optim_grading.py.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse.grading import (
    CheckFailed,
    NotAnswered,
    TimeLimitExceeded,
    check,
    check_close,
    check_equal,
    check_raises,
    check_shape,
    check_written_here,
    exercise,
    forbidden,
)


def adam_step(theta):  # the nbgrader stub, as a student's notebook holds it
    # YOUR CODE HERE
    raise NotImplementedError()


# --- exercise / NotAnswered ---------------------------------------------------------------------


def test_stub_becomes_not_answered_with_a_clear_message():
    with pytest.raises(NotAnswered) as info:
        with exercise(2, "adam_step"):
            adam_step(torch.zeros(3))
    message = str(info.value)
    assert message.startswith("Exercise 2 (`adam_step`) is not answered yet")
    assert "replace `raise NotImplementedError()`" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert info.value._render_traceback_() == [f"NotAnswered: {message}"]


def test_not_implemented_from_elsewhere_passes_through():
    def helper():
        raise NotImplementedError()

    def adam_step_with_message():
        raise NotImplementedError("this op is not supported on this device")

    with pytest.raises(NotImplementedError) as info:  # another function's stub
        with exercise(2, "adam_step"):
            helper()
    assert not isinstance(info.value, NotAnswered)
    with pytest.raises(NotImplementedError, match="not supported"):  # a library's message
        with exercise(2, "adam_step_with_message"):
            adam_step_with_message()


def test_exercise_lets_other_errors_and_success_through():
    with exercise(1, "f"):
        pass
    with pytest.raises(ZeroDivisionError):
        with exercise(1, "f"):
            _ = 1 / 0
    with pytest.raises(CheckFailed):
        with exercise(1, "f"):
            check_close("x", torch.ones(1), torch.zeros(1))


@pytest.mark.parametrize(
    "number, name, error",
    [
        (0, "f", ValueError),
        (True, "f", TypeError),
        (1.0, "f", TypeError),
        (1, "not a name", ValueError),
        (1, None, TypeError),
    ],
)
def test_exercise_rejects_bad_arguments(number, name, error):
    with pytest.raises(error, match="number" if name == "f" else "name"):
        with exercise(number, name):
            pass


# --- check_close ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(0, 4), max_size=3),
    scale=st.sampled_from([0.0, 1e-9, 1e-7, 1e-5, 1e-3, 1.0]),
    atol=st.sampled_from([0.0, 1e-8, 1e-4]),
    rtol=st.sampled_from([0.0, 1e-6, 1e-2]),
    seed=st.integers(0, 2**16),
)
def test_check_close_agrees_with_torch_allclose(shape, scale, atol, rtol, seed):
    gen = torch.Generator().manual_seed(seed)
    expected = torch.randn(shape, generator=gen, dtype=torch.float64)
    got = expected + scale * torch.randn(shape, generator=gen, dtype=torch.float64)
    if torch.allclose(got, expected, atol=atol, rtol=rtol, equal_nan=True):
        check_close("x", got, expected, atol=atol, rtol=rtol)
    else:
        with pytest.raises(CheckFailed, match="is not close"):
            check_close("x", got, expected, atol=atol, rtol=rtol)


def test_check_close_names_the_largest_difference():
    expected = torch.arange(12, dtype=torch.float64).reshape(3, 4)
    got = expected.clone()
    got[1, 2] += 0.5
    got[2, 3] += 0.25
    with pytest.raises(CheckFailed) as info:
        check_close("theta after step 3", got, expected)
    message = str(info.value)
    assert message.startswith("theta after step 3 is not close to the expected value")
    assert "2 of 12 entries differ" in message
    assert f"at index (1, 2): got {got[1, 2].item():.6g}, expected {expected[1, 2].item():.6g}" in message


def test_check_close_degenerate_inputs():
    check_close("empty", torch.zeros(0, 3), torch.zeros(0, 3))
    check_close("scalar", 0.5, torch.tensor(0.5, dtype=torch.float64))
    check_close(
        "float32 vs float64",
        torch.tensor([1 / 3]),
        torch.tensor([1 / 3], dtype=torch.float64),
        rtol=1e-6,
    )
    check_close("nan", torch.tensor([math.nan, 1.0]), torch.tensor([math.nan, 1.0]))
    check_close("inf", torch.tensor([math.inf]), torch.tensor([math.inf]))
    with pytest.raises(CheckFailed, match=r"got -inf, expected inf"):
        check_close("inf", torch.tensor([-math.inf]), torch.tensor([math.inf]))
    with pytest.raises(CheckFailed, match=r"got nan, expected 1"):
        check_close("nan", torch.tensor([math.nan]), torch.tensor([1.0]))
    with pytest.raises(CheckFailed, match=r"got 2, expected 1 "):  # 0-d: no index to name
        check_close("scalar", torch.tensor(2.0), torch.tensor(1.0))


def test_check_close_wrong_type_and_shape():
    with pytest.raises(CheckFailed, match=r"out should have shape \(2, 3\), got \(3, 2\)"):
        check_close("out", torch.zeros(3, 2), torch.zeros(2, 3))
    with pytest.raises(CheckFailed, match="out should be a torch.Tensor, got list"):
        check_close("out", [0.0, 0.0], torch.zeros(2))
    with pytest.raises(CheckFailed, match="out should be a torch.Tensor, got NoneType"):
        check_close("out", None, torch.zeros(2))
    with pytest.raises(CheckFailed, match="real numbers, got dtype torch.bool"):
        check_close("out", torch.ones(2, dtype=torch.bool), torch.ones(2))


def test_check_close_rejects_bad_arguments():
    with pytest.raises(ValueError, match="atol must be a number >= 0.0, got -1.0"):
        check_close("x", torch.zeros(1), torch.zeros(1), atol=-1)
    with pytest.raises(TypeError, match="atol must be a real number, got str '0'"):
        check_close("x", torch.zeros(1), torch.zeros(1), atol="0")
    with pytest.raises(ValueError, match="rtol must be a finite number, got nan"):
        check_close("x", torch.zeros(1), torch.zeros(1), rtol=math.nan)
    with pytest.raises(TypeError, match="name must be a non-empty str"):
        check_close(3, torch.zeros(1), torch.zeros(1))


# --- check_shape ----------------------------------------------------------------------------------


def test_check_shape():
    check_shape("out", torch.zeros(2, 0, 3), (2, 0, 3))
    check_shape("scalar", torch.tensor(1.0), ())
    with pytest.raises(CheckFailed, match=r"out should have shape \(2, 3\), got \(2, 3, 1\)"):
        check_shape("out", torch.zeros(2, 3, 1), [2, 3])
    with pytest.raises(CheckFailed, match="out should be a torch.Tensor, got ndarray"):
        check_shape("out", torch.zeros(2).numpy(), (2,))
    with pytest.raises(TypeError, match="expected must be a sequence of ints >= 0, got str '23'"):
        check_shape("out", torch.zeros(2), "23")
    with pytest.raises(ValueError, match=r"expected\[1\] must be an int >= 0, got -1"):
        check_shape("out", torch.zeros(2), (2, -1))
    for bad in ((2.0,), (True,)):
        with pytest.raises(TypeError, match=r"expected\[0\] must be an int"):
            check_shape("out", torch.zeros(2), bad)


# --- check_raises ---------------------------------------------------------------------------------


def _needs_4d(x):
    if x.dim() != 4:
        raise ValueError(f"x must have shape [B, C, H, W], got {tuple(x.shape)}")
    return x.mean(dim=(2, 3))


def test_check_raises_returns_the_exception():
    err = check_raises("pool of a 3-d tensor", _needs_4d, torch.zeros(2, 3, 4))
    assert isinstance(err, ValueError) and "got (2, 3, 4)" in str(err)
    err = check_raises("key", {}.__getitem__, "a", exception=(ValueError, KeyError))
    assert isinstance(err, KeyError)


def test_check_raises_fails_when_nothing_or_something_else_is_raised():
    with pytest.raises(
        CheckFailed, match="pool of a 4-d tensor should raise ValueError, but it returned Tensor"
    ):
        check_raises("pool of a 4-d tensor", _needs_4d, torch.zeros(1, 1, 2, 2))
    with pytest.raises(CheckFailed, match="should raise ValueError, but it returned 3"):
        check_raises("len", len, "abc")
    with pytest.raises(CheckFailed, match="should raise ValueError or TypeError, but raised IndexError: "):
        check_raises(
            "mean",
            lambda x: x.mean(dim=(2, 3)),
            torch.zeros(2, 3),
            exception=(ValueError, TypeError),
        )


def test_check_raises_lets_the_stub_through_to_exercise():
    def global_average_pool(x):
        raise NotImplementedError()

    with pytest.raises(NotAnswered, match="Exercise 4 \\(`global_average_pool`\\)"):
        with exercise(4, "global_average_pool"):
            check_raises("pool of a 3-d tensor", global_average_pool, torch.zeros(2, 3, 4))


def test_check_raises_rejects_bad_arguments():
    with pytest.raises(TypeError, match="fn must be callable, got int"):
        check_raises("x", 3)
    with pytest.raises(TypeError, match="exception must be an exception class"):
        check_raises("x", len, "a", exception="ValueError")
    with pytest.raises(TypeError, match="exception must be an exception class"):
        check_raises("x", len, "a", exception=())


# --- forbidden ------------------------------------------------------------------------------------


def test_forbidden_refuses_inside_and_restores_after():
    original = F.scaled_dot_product_attention
    q = torch.randn(2, 3, 4)
    with forbidden(F, "scaled_dot_product_attention", "compute the attention yourself"):
        with pytest.raises(CheckFailed, match="^compute the attention yourself$"):
            F.scaled_dot_product_attention(q, q, q)
    assert F.scaled_dot_product_attention is original
    with pytest.raises(ZeroDivisionError):
        with forbidden(F, "scaled_dot_product_attention", "no"):
            _ = 1 / 0
    assert F.scaled_dot_product_attention is original
    assert F.scaled_dot_product_attention(q, q, q).shape == q.shape


def test_forbidden_rejects_bad_arguments():
    with pytest.raises(ValueError, match="attribute must name a callable"):
        with forbidden(F, "no_such_function", "no"):
            pass
    with pytest.raises(ValueError, match="reason must be a non-empty str"):
        with forbidden(F, "relu", ""):
            pass
    with pytest.raises(TypeError, match="attribute must be the name of a callable"):
        with forbidden(F, F.relu, "no"):
            pass


# --- check_written_here ---------------------------------------------------------------------------


def test_check_written_here_accepts_own_code_and_torch():
    namespace = {"torch": torch, "F": F}
    exec(  # a student's notebook: globals of its own, torch imported
        "def attention(q, k, v):\n"
        "    def scores(a, b):\n"
        "        return a @ b.transpose(-2, -1) / a.shape[-1] ** 0.5\n"
        "    return torch.softmax(scores(q, k), dim=-1) @ v\n",
        namespace,
    )
    check_written_here(namespace["attention"])


@pytest.mark.parametrize(
    "imports, body",
    [
        (
            "from cvcourse.transformers.attention import scaled_dot_product_attention as ref",
            "ref(q, k, v)",
        ),
        (
            "import cvcourse.transformers.attention as attention",
            "attention.scaled_dot_product_attention(q, k, v)",
        ),
        (
            "import cvcourse.transformers",
            "cvcourse.transformers.attention.scaled_dot_product_attention(q, k, v)",
        ),
        (
            "from cvcourse import transformers",
            "transformers.attention.scaled_dot_product_attention(q, k, v)",
        ),
    ],
)
def test_check_written_here_catches_the_reference(imports, body):
    namespace = {}
    student = "def student(q, k, v):\n    def inner():\n        return {}\n    return inner()\n"
    exec(f"{imports}\n{student.format(body)}", namespace)
    with pytest.raises(CheckFailed, match=r"`student` uses `\w+` from cvcourse"):
        check_written_here(namespace["student"])


def test_check_written_here_rejects_bad_arguments():
    with pytest.raises(TypeError, match="fn must be a Python function, got builtin_function_or_method"):
        check_written_here(len)
    with pytest.raises(TypeError, match="avoid must be a sequence of module names"):
        check_written_here(test_check_written_here_rejects_bad_arguments, avoid="cvcourse.optim")
    with pytest.raises(ValueError, match="avoid must be a sequence of module names, got an empty name"):
        check_written_here(test_check_written_here_rejects_bad_arguments, avoid=("",))


def test_check():
    check(True, "never shown")
    with pytest.raises(CheckFailed, match="^expected a list of 7 tensors, got Tensor$"):
        check(False, "expected a list of 7 tensors, got Tensor")
    with pytest.raises(ValueError, match="message must be a non-empty str, got ''"):
        check(False, "")
    with pytest.raises(TypeError, match="message must be a non-empty str, got int 3"):
        check(False, 3)


def test_the_moved_chapter_1_helper_is_still_importable_from_here():
    # exercise notebooks already handed out import it from cvcourse.grading
    import cvcourse.grading
    from cvcourse.optim.grading import torch_optimizer_trajectory

    with pytest.warns(DeprecationWarning, match="moved to cvcourse.optim.grading"):
        assert cvcourse.grading.torch_optimizer_trajectory is torch_optimizer_trajectory
    with pytest.raises(AttributeError, match="no attribute 'no_such_check'"):
        cvcourse.grading.no_such_check  # noqa: B018
    assert "torch_optimizer_trajectory" not in cvcourse.grading.__all__


# --- exercise: helpers, time limit, notes ----------------------------------------------------------


def split_heads(x):  # a helper of an exercise, still the nbgrader stub
    # YOUR CODE HERE
    raise NotImplementedError()


def test_a_helper_stub_named_in_also_becomes_not_answered():
    with pytest.raises(NotAnswered, match=r"^Exercise 3 \(`split_heads`\) is not answered yet"):
        with exercise(3, "multi_head_self_attention", also=("split_heads",)):
            split_heads(torch.zeros(1))
    with pytest.raises(NotImplementedError) as info:  # not named: passes through as it is
        with exercise(3, "multi_head_self_attention"):
            split_heads(torch.zeros(1))
    assert not isinstance(info.value, NotAnswered)


@pytest.mark.parametrize(
    "also, error",
    [("split_heads", TypeError), (["not a name"], ValueError), ([3], TypeError)],
)
def test_exercise_rejects_bad_helper_names(also, error):
    with pytest.raises(error, match="also"):
        with exercise(1, "f", also=also):
            pass


def test_an_endless_loop_is_stopped_with_the_exercise_named():
    import time

    start = time.perf_counter()
    with pytest.raises(TimeLimitExceeded) as info:
        with exercise(5, "rmsprop_step", seconds=0.2):
            while True:
                pass
    elapsed = time.perf_counter() - start
    assert 0.2 <= elapsed < 5, elapsed
    assert isinstance(info.value, CheckFailed)  # scores 0 like any failed check
    assert str(info.value).startswith("Exercise 5 (`rmsprop_step`) did not finish within 0.2 s")
    with exercise(5, "rmsprop_step", seconds=0.2):
        time.sleep(0.05)
    time.sleep(0.3)  # the timer is off after the block: no alarm fires later


def test_the_time_limit_restores_an_outer_timer():
    import signal

    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    try:
        signal.setitimer(signal.ITIMER_REAL, 5.0)
        with exercise(1, "f", seconds=1.0):
            pass
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 3.0 < remaining <= 5.0, remaining
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not fired
    with pytest.raises(ValueError, match="seconds must be a number > 0.0"):
        with exercise(1, "f", seconds=0):
            pass


def test_other_errors_keep_their_type_and_get_a_note():
    with pytest.raises(ZeroDivisionError) as info:
        with exercise(4, "adam_step"):
            _ = 1 / 0
    assert any("raised while checking Exercise 4, `adam_step`" in n for n in info.value.__notes__)


# --- check_equal ------------------------------------------------------------------------------------


def test_check_equal_accepts_equal_values():
    check_equal("kept", torch.tensor([3, 1]), torch.tensor([3, 1]))
    check_equal("cost", (10, 20), (10, 20))
    check_equal("cost", [10, 20], (10, 20))  # a list for a tuple is fine
    check_equal("r", torch.tensor(5), 5)  # a 0-d tensor for a number
    check_equal("mask", torch.ones(2, 2, dtype=torch.bool), torch.ones(2, 2, dtype=torch.bool))
    check_equal("empty", torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64))


@pytest.mark.parametrize(
    "got, expected, message",
    [
        (
            torch.tensor([3, 2]),
            torch.tensor([3, 1]),
            r"x is not the expected value: 1 of 2 entries differ; first "
            r"difference at index \(1,\): got 2, expected 1",
        ),
        ([3, 1], torch.tensor([3, 1]), "x should be a torch.Tensor, got list"),
        (torch.tensor([3]), torch.tensor([3, 1]), r"x should have shape \(2,\), got \(1,\)"),
        ((1, 2, 3), (1, 2), "x should have 2 items, got 3"),
        ((1, 3), (1, 2), r"x\[1\] should be 2, got 3"),
        (5, (5, 6), "x should be a list, got int"),
        ("5", 5, "x should be int 5, got str '5'"),
        (True, 1, "x should be int 1, got bool True"),
        (None, 5, "x should be int 5, got NoneType None"),
    ],
)
def test_check_equal_says_what_differs(got, expected, message):
    with pytest.raises(CheckFailed, match=message):
        check_equal("x", got, expected)


class TinySegmenter:  # a class of a student's notebook, its method still the stub
    def forward(self, images):
        # YOUR CODE HERE
        raise NotImplementedError()


def test_a_method_is_named_by_its_qualified_name():
    with pytest.raises(NotAnswered, match=r"^Exercise 1 \(`TinySegmenter.forward`\) is not answered yet"):
        with exercise(1, "TinySegmenter.__init__", also=("TinySegmenter.forward",)):
            TinySegmenter().forward(None)
    with pytest.raises(ValueError, match="name must be the function's name"):
        with exercise(1, "TinySegmenter."):
            pass
