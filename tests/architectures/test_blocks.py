"""Squeeze-and-excitation, stochastic depth, MobileNetV2 Table 2.1, EfficientNet scaling,
Inception-ResNet blocks."""

import math

import pytest
import torch
import torchvision
from torch import nn
from torchvision.ops import SqueezeExcitation as TVSqueezeExcitation
from torchvision.ops import StochasticDepth as TVStochasticDepth

from cvcourse.architectures import (
    InceptionResNetA,
    InceptionResNetB,
    SqueezeExcitation,
    compound_scaling,
    conv_params,
    count_parameters,
    receptive_field,
    scaled_efficientnet,
)
from cvcourse.architectures.efficientnet import stochastic_depth
from cvcourse.architectures.mobilenet import INVERTED_RESIDUAL_SETTING, make_divisible


@pytest.mark.parametrize("c,s", [(16, 4), (64, 4), (3, 1), (1, 1)])
def test_squeeze_excitation_equals_torchvision(c, s):
    torch.manual_seed(c)
    tv = TVSqueezeExcitation(c, s).double()
    ours = SqueezeExcitation(c, s).double()
    ours.load_state_dict(tv.state_dict(), strict=True)
    x = torch.randn(2, c, 5, 3, dtype=torch.float64)
    torch.testing.assert_close(ours(x), tv(x), rtol=1e-12, atol=1e-12)
    scale = ours.scale(x)
    assert scale.shape == (2, c, 1, 1) and (scale >= 0).all() and (scale <= 1).all()
    x1 = torch.randn(1, c, 1, 1, dtype=torch.float64)  # degenerate 1x1 map
    torch.testing.assert_close(ours(x1), tv(x1))


def test_squeeze_excitation_bad_input():
    with pytest.raises(ValueError, match=r"x must have shape \[B, 8, H, W\], got shape \[1, 4, 3, 3\]"):
        SqueezeExcitation(8, 2)(torch.zeros(1, 4, 3, 3))
    with pytest.raises(ValueError, match="squeeze_channels must be an int >= 1, got 0"):
        SqueezeExcitation(8, 0)
    with pytest.raises(TypeError, match="input_channels must be an int, got float"):
        SqueezeExcitation(8.0, 2)


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 1.0])
@pytest.mark.parametrize("training", [True, False])
def test_stochastic_depth_equals_torchvision(p, training):
    x = torch.randn(64, 3, 2, 2, dtype=torch.float64)
    tv = TVStochasticDepth(p, "row").train(training)
    torch.manual_seed(0)
    expected = tv(x)
    torch.manual_seed(0)
    got = stochastic_depth(x, p, training)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    if training and 0 < p < 1:  # some rows dropped, kept ones scaled by 1 / (1 - p)
        kept = got.flatten(1).abs().sum(1) > 0
        assert 0 < kept.sum() < 64
        torch.testing.assert_close(got[kept], x[kept] / (1 - p))
    with pytest.raises(ValueError, match=r"p must be a number >= 0.0 and <= 1.0, got 1.5"):
        stochastic_depth(x, 1.5)
    with pytest.raises(TypeError, match="p must be a real number, got str"):
        stochastic_depth(x, "0.5")
    with pytest.raises(TypeError, match="training must be True or False"):
        stochastic_depth(x, 0.5, training=None)


def test_mobilenet_v2_table_2_1_regenerated_from_model():
    """Notes' Table 2.1 (t, c, n, s): read back from the built model, not from the constant."""
    model = torchvision.models.mobilenet_v2()  # built by the authority: read its blocks
    from cvcourse.architectures import mobilenet_v2

    for m in (model, mobilenet_v2()):
        blocks = list(m.features)[1:-1]
        stages, i = [], 0
        while i < len(blocks):
            b = blocks[i]
            t = b.conv[0][0].out_channels // b.conv[0][0].in_channels if len(b.conv) == 4 else 1
            n = 1
            while i + n < len(blocks) and blocks[i + n].out_channels == b.out_channels:
                n += 1
            stages.append((t, b.out_channels, n, b.stride))
            i += n
        printed = [
            (1, 16, 1, 1),
            (6, 24, 2, 2),
            (6, 32, 3, 2),
            (6, 64, 4, 2),
            (6, 96, 3, 1),
            (6, 160, 3, 2),
            (6, 320, 1, 1),
        ]  # the table as printed in the notes
        assert stages == printed == [tuple(r) for r in INVERTED_RESIDUAL_SETTING]


def test_make_divisible_rounds_like_torchvision():
    from torchvision.models._utils import _make_divisible

    for v in [1, 3.2, 7.9, 8, 12, 15.99, 16.5, 27.6, 1280 * 0.35, 1000.1]:
        assert make_divisible(v) == _make_divisible(v, 8)


@pytest.mark.parametrize(
    "b,width,depth",
    [("efficientnet_b1", 1.0, 1.1), ("efficientnet_b2", 1.1, 1.2), ("efficientnet_b3", 1.2, 1.4)],
)
def test_scaled_b0_is_torchvisions_b1_to_b3(b, width, depth):
    with torch.device("meta"):
        tv = getattr(torchvision.models, b)()
        ours = scaled_efficientnet(width, depth)
    assert list(ours.state_dict()) == list(tv.state_dict())
    assert count_parameters(ours) == count_parameters(tv)


def test_compound_scaling_formula():
    m = compound_scaling(2.0, alpha=1.2, beta=1.1, gamma=1.15)
    assert math.isclose(m["constraint"], 1.2 * 1.1**2 * 1.15**2)
    assert math.isclose(m["flops_factor"], m["depth"] * m["width"] ** 2 * m["resolution"] ** 2)
    assert abs(m["constraint"] - 2) < 0.1  # the paper's alpha, beta, gamma satisfy the constraint
    assert compound_scaling(0.0)["flops_factor"] == 1.0  # phi = 0 is the baseline
    with pytest.raises(ValueError, match="beta must be a number >= 1.0, got 0.9"):
        compound_scaling(1.0, beta=0.9)
    with pytest.raises(ValueError, match="phi must be a number >= 0.0, got -1.0"):
        compound_scaling(-1.0)
    with pytest.raises(TypeError, match="alpha must be a real number"):
        compound_scaling(1.0, alpha=None)


@pytest.mark.parametrize("block,c", [(InceptionResNetA, 32), (InceptionResNetB, 48)])
def test_inception_resnet_blocks_keep_shape_and_are_residual(block, c):
    torch.manual_seed(0)
    m = block(c).eval()
    x = torch.rand(2, c, 9, 9)
    y = m(x.clone())
    assert y.shape == x.shape
    nn.init.zeros_(m.conv.weight)
    nn.init.zeros_(m.conv.bias)
    torch.testing.assert_close(m(x.clone()), torch.relu(x))  # residual branch off: y = relu(x)


def test_factorised_convolutions_see_as_far_with_fewer_parameters():
    # 1x7 then 7x1 sees a 7x7 window with 2*7 instead of 49 weights per channel pair
    assert receptive_field([(1, 1), (7, 1)]) == 7 and receptive_field([(7, 1), (1, 1)]) == 7
    assert conv_params(160, 160, 1) * 7 * 2 < conv_params(160, 160, 7)
    # two 3x3 see 5x5 with 18 instead of 25 weights per channel pair
    assert receptive_field([(3, 1), (3, 1)]) == 5
    assert 2 * conv_params(32, 32, 3) < conv_params(32, 32, 5)


NOTES_TABLE_2_1 = [  # Table 2.1 as printed in the notes (LaTeX stripped)
    ("224 × 3", "conv2d", "-", "32", "1", "2"),
    ("112 × 32", "bottleneck", "1", "16", "1", "1"),
    ("112 × 16", "bottleneck", "6", "24", "2", "2"),
    ("56 × 24", "bottleneck", "6", "32", "3", "2"),
    ("28 × 32", "bottleneck", "6", "64", "4", "2"),
    ("14 × 64", "bottleneck", "6", "96", "3", "1"),
    ("14 × 96", "bottleneck", "6", "160", "3", "2"),
    ("7 × 160", "bottleneck", "6", "320", "1", "1"),
    ("7 × 320", "conv2d 1x1", "-", "1280", "1", "1"),
    ("7 × 1280", "avgpool 7x7", "-", "-", "1", "-"),
    ("1 × 1 × 1280", "conv2d 1x1", "-", "k", "-", "1"),
]


def test_table_2_1_function_on_ours_and_torchvision():
    from cvcourse.architectures import mobilenet_v2
    from cvcourse.architectures.mobilenet import table_2_1

    assert table_2_1(mobilenet_v2()) == NOTES_TABLE_2_1
    assert table_2_1(torchvision.models.mobilenet_v2()) == NOTES_TABLE_2_1
    assert table_2_1(mobilenet_v2(), input_size=64)[-2] == (
        "2 × 1280",
        "avgpool 2x2",
        "-",
        "-",
        "1",
        "-",
    )
    with pytest.raises(TypeError, match=r"model must be a MobileNetV2 \(with .features\), got Linear"):
        table_2_1(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="model must be a MobileNetV2"):
        table_2_1("mobilenet_v2")
