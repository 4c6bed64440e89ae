"""cvcourse._checks: one rule for bad input (type -> TypeError, value/shape -> ValueError), and the
message names the argument, what was expected and what came in."""

import math

import numpy as np
import pytest
import torch

from cvcourse._checks import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_tensor,
    check_type,
    describe,
)


def test_int_accepts_integers_and_converts_numpy():
    assert check_int("n", 3) == 3
    value = check_int("n", np.int64(5), low=1, high=5)
    assert value == 5 and type(value) is int


@pytest.mark.parametrize("bad", [True, 3.0, "3", None, torch.tensor(3)])
def test_int_refuses_other_types(bad):
    with pytest.raises(TypeError, match=r"^n must be an int, got "):
        check_int("n", bad)


def test_int_range_message_names_bounds_and_value():
    with pytest.raises(ValueError, match=r"^stride must be an int >= 1, got 0$"):
        check_int("stride", 0, low=1)
    with pytest.raises(ValueError, match=r"^k must be an int >= 0 and <= 4, got 5$"):
        check_int("k", 5, low=0, high=4)


def test_float_ranges_inclusive_and_exclusive():
    assert check_float("p", 0, low=0.0) == 0.0 and type(check_float("p", 1)) is float
    with pytest.raises(ValueError, match=r"^beta must be a number >= 0.0 and < 1.0, got 1.0$"):
        check_float("beta", 1.0, low=0.0, high=1.0, high_inclusive=False)
    with pytest.raises(ValueError, match=r"> 0"):
        check_float("lr", 0.0, low=0.0, low_inclusive=False)
    assert check_float("t", math.inf, finite=False) == math.inf


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_float_refuses_nan_and_inf(bad):
    with pytest.raises(ValueError, match=r"^x must be a finite number"):
        check_float("x", bad)


@pytest.mark.parametrize("bad", [True, "0.5", None, [0.5]])
def test_float_refuses_other_types(bad):
    with pytest.raises(TypeError, match=r"^x must be a real number, got "):
        check_float("x", bad)


def test_bool_and_choice():
    assert check_bool("flag", False) is False
    with pytest.raises(TypeError, match="flag must be True or False, got int 1"):
        check_bool("flag", 1)
    assert check_choice("mode", "sad", ["sad", "ssd"]) == "sad"
    with pytest.raises(ValueError, match=r"mode must be one of 'sad', 'ssd', got str 'zncc'"):
        check_choice("mode", "zncc", ["sad", "ssd"])
    with pytest.raises(ValueError, match="one of"):
        check_choice("mode", ["unhashable"], {"a", "b"})


def test_type():
    assert check_type("model", 3, int, "an int") == 3
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str 'x'"):
        check_type("model", "x", torch.nn.Module, "a torch.nn.Module")


def test_tensor_shape_pattern_with_named_sizes():
    sizes = {}
    boxes = torch.zeros(3, 4)
    assert check_tensor("boxes", boxes, shape=("N", 4), dtype="float", sizes=sizes) is boxes
    assert sizes == {"N": 3}
    check_tensor("scores", torch.zeros(3), shape=("N",), sizes=sizes)
    with pytest.raises(ValueError, match=r"scores must have shape \[N\] \(with N=3\), got shape \[2\]"):
        check_tensor("scores", torch.zeros(2), shape=("N",), sizes=sizes)
    with pytest.raises(ValueError, match=r"boxes must have shape \[N, 4\], got shape \[3, 5\]"):
        check_tensor("boxes", torch.zeros(3, 5), shape=("N", 4))
    with pytest.raises(ValueError, match=r"\[N, 4\], got shape \[4\]"):
        check_tensor("boxes", torch.zeros(4), shape=("N", 4))
    check_tensor("x", torch.zeros(2, 7), shape=(None, 7))
    check_tensor("x", torch.zeros(0, 4), shape=("N", 4))  # empty is a shape like any other


def test_tensor_types_ndim_and_finiteness():
    with pytest.raises(TypeError, match=r"boxes must be a torch.Tensor of shape \[N, 4\], got list"):
        check_tensor("boxes", [[0, 0, 1, 1]], shape=("N", 4))
    with pytest.raises(TypeError, match="labels must have an int dtype, got dtype torch.float32"):
        check_tensor("labels", torch.zeros(3), dtype="int")
    with pytest.raises(TypeError, match="float"):
        check_tensor("x", torch.zeros(3, dtype=torch.long), dtype="float")
    check_tensor("mask", torch.zeros(3, dtype=torch.bool), dtype="bool")
    check_tensor("x", torch.zeros(3, dtype=torch.float64), dtype=(torch.float32, torch.float64))
    with pytest.raises(ValueError, match="x must have 3 or 4 dimensions, got shape"):
        check_tensor("x", torch.zeros(2, 2), ndim=(3, 4))
    with pytest.raises(ValueError, match="scores must hold only finite values"):
        check_tensor("scores", torch.tensor([0.5, math.nan]), finite=True)
    check_tensor("ids", torch.tensor([1, 2]), finite=True)  # integers are always finite


def test_describe_shortens_long_values():
    assert describe(torch.zeros(2, 3)) == "Tensor of shape [2, 3] and dtype torch.float32"
    assert len(describe(list(range(100)))) < 90
