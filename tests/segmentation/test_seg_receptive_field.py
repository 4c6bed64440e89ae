"""receptive_field.py: the formula against the gradient receptive field of real nn.Conv2d layers,
2^(l+1) - 1 for exponential dilations, gridding holes, and conv_cost against torch's FlopCounterMode."""

import copy

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cvcourse.segmentation.receptive_field import (
    conv_cost,
    conv_stack,
    exponential_dilations,
    measured_receptive_field,
    receptive_field,
    receptive_field_table,
    touched_pixels,
)


@pytest.mark.parametrize("levels", [1, 2, 3, 4, 5])
def test_exponential_dilations_reach_2_to_the_l_plus_1_minus_1(levels):
    layers = exponential_dilations(levels)
    assert [d for _, _, d in layers] == [2**i for i in range(levels)]
    assert receptive_field(layers) == 2 ** (levels + 1) - 1
    model = conv_stack(layers)
    assert measured_receptive_field(model, 2 ** (levels + 1) + 7) == 2 ** (levels + 1) - 1
    # no holes: every pixel of the square is reached, and parameters grow linearly (9 per layer)
    assert touched_pixels(model, 2 ** (levels + 1) - 1).all()
    assert sum(p.numel() for p in model.parameters()) == 9 * levels


@pytest.mark.parametrize(
    "layers",
    [
        [(3, 1, 1)] * 4,
        [(3, 2, 1), (3, 2, 1), (3, 1, 1)],
        [(7, 2, 1), (3, 2, 1), (3, 1, 2), (3, 1, 4)],
        [(5, 1, 3), (3, 3, 1), (1, 1, 1)],
        [(3, 1, 2), (3, 1, 2), (3, 1, 2)],
    ],
)
def test_formula_equals_gradient_receptive_field(layers):
    model = conv_stack(layers)
    assert measured_receptive_field(model, 97) == receptive_field(layers)


def test_table_and_empty_stack():
    table = receptive_field_table([(3, 2, 1), (3, 1, 2)])
    assert [r["rf"] for r in table] == [3, 3 + 4 * 2] and [r["jump"] for r in table] == [2, 2]
    assert table[1]["effective_kernel"] == 5
    assert receptive_field([]) == 1


def test_gridding_holes_of_equal_dilations():
    touched = touched_pixels(conv_stack([(3, 1, 2)] * 3), 21)
    rows, cols = touched.nonzero().T
    assert (
        receptive_field([(3, 1, 2)] * 3) == 13
        and measured_receptive_field(conv_stack([(3, 1, 2)] * 3), 21) == 13
    )
    # only every other row and column of the 13 x 13 square is seen: 7 x 7 = 49 of 169 pixels
    assert int(touched.sum()) == 49
    assert (rows % 2 == rows[0] % 2).all() and (cols % 2 == cols[0] % 2).all()


DILATIONS = {32: [False, False, False], 16: [False, False, True], 8: [False, True, True]}


@pytest.fixture(scope="module")
def resnets():
    return {os: torchvision.models.resnet50(replace_stride_with_dilation=d) for os, d in DILATIONS.items()}


def test_conv_cost_equals_flop_counter_and_a_single_conv(resnets):
    conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    cost = conv_cost(conv, 16)
    assert cost["gmacs"] * 1e9 == 8 * 8 * 8 * 3 * 9 and cost["out_h"] == 8
    assert cost["activation_mib"] * 2**20 == 8 * 8 * 8 * 4
    for model in resnets.values():
        ours = conv_cost(model, 64)
        with FlopCounterMode(display=False) as counter:
            copy.deepcopy(model).to("meta")(torch.zeros(1, 3, 64, 64, device="meta"))
        assert ours["gmacs"] * 1e9 == counter.get_total_flops() / 2


def test_output_stride_costs_grow(resnets):
    costs = {os: conv_cost(model, 64) for os, model in resnets.items()}
    assert [costs[os]["out_h"] for os in (32, 16, 8)] == [2, 4, 8]
    assert costs[32]["gmacs"] < costs[16]["gmacs"] < costs[8]["gmacs"]
    assert costs[32]["activation_mib"] < costs[16]["activation_mib"] < costs[8]["activation_mib"]


def test_bad_input():
    with pytest.raises(ValueError, match="layers\\[0\\] must be \\(kernel, stride, dilation\\)"):
        receptive_field([(3, 1)])
    with pytest.raises(ValueError, match="layers\\[1\\]\\[2\\] must be an int >= 1"):
        receptive_field([(3, 1, 1), (3, 1, 0)])
    with pytest.raises(TypeError, match="layers must be a list"):
        receptive_field(3)
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        conv_cost("resnet", 64)
