"""ResNeXt's FLOP-matched widths (the quadratic in d) and the 2-D receptive region."""

import pytest
import torch
from torch import nn

from cvcourse.architectures import resnext
from cvcourse.architectures.complexity import count_parameters, receptive_field, receptive_region


@pytest.mark.parametrize("groups", [1, 2, 3, 4, 8, 32, 64])
def test_flop_matched_width_is_the_root(groups):
    d = resnext.flop_matched_width(groups)
    assert groups * (2 * 256 * d + 9 * d * d) == pytest.approx(69_632)  # solves the equation
    assert d > 0


def test_paper_table_2_and_block_weights_match_a_module():
    assert [round(resnext.flop_matched_width(g)) for g in (1, 2, 4, 8, 32)] == [64, 40, 24, 14, 4]
    block = resnext.ResNeXtBranchBlock(channels=256, cardinality=8, width=14)
    convs = sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d))
    assert resnext.block_weights(256, 8, 14) == convs
    assert count_parameters(block) > convs  # + the BatchNorms
    with pytest.raises(ValueError, match="cardinality"):
        resnext.flop_matched_width(0)


def _positive(*convs):
    net = nn.Sequential(*convs).double()
    for p in net.parameters():
        nn.init.uniform_(p, 0.1, 1.0)
    return net


def test_receptive_region_tells_factorised_from_one_axis():
    pair = _positive(nn.Conv2d(1, 1, (1, 7), padding=(0, 3)), nn.Conv2d(1, 1, (7, 1), padding=(3, 0)))
    full = _positive(nn.Conv2d(1, 1, 7, padding=3))
    bar = _positive(nn.Conv2d(1, 1, (1, 7), padding=(0, 3)))
    r_pair, r_full, r_bar = (receptive_region(n) for n in (pair, full, bar))
    assert torch.equal(r_pair, r_full) and r_full.sum() == 49
    assert r_bar.sum() == 7 and r_bar[7].sum() == 7  # one row
    # one axis agrees with the chain formula
    two = _positive(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1))
    assert int(receptive_region(two)[7].sum()) == receptive_field([(3, 1), (3, 1)]) == 5
    single = _positive(nn.Conv2d(1, 1, 1))  # degenerate: a 1x1 sees one pixel
    assert receptive_region(single).sum() == 1
    with pytest.raises(ValueError, match="input_size"):
        receptive_region(single, (1, 15, 15))


def test_se_bottleneck_equals_bottleneck_when_the_gate_is_one_and_adds_se_parameters():
    from cvcourse.architectures.resnet import Bottleneck
    from cvcourse.architectures.squeeze_excitation import SEBottleneck

    torch.manual_seed(0)
    down = nn.Sequential(nn.Conv2d(64, 256, 1, stride=2, bias=False), nn.BatchNorm2d(256))
    plain = Bottleneck(64, 64, stride=2, downsample=down).double().eval()
    se = SEBottleneck(plain).double().eval()
    assert count_parameters(se) == count_parameters(plain) + 2 * 256 * 16 + 16 + 256
    x = torch.randn(2, 64, 8, 8, dtype=torch.float64)
    se.se.scale = lambda t: torch.ones_like(t[:, :, :1, :1])  # gate s = 1: the plain block
    with torch.no_grad():
        torch.testing.assert_close(se(x), plain(x))
    se2 = SEBottleneck(plain).double().eval()
    with torch.no_grad():
        hidden = plain.relu(plain.bn2(plain.conv2(plain.relu(plain.bn1(plain.conv1(x))))))
        branch = plain.bn3(plain.conv3(hidden))
        expected = torch.relu(se2.se.scale(branch) * branch + down(x))
        torch.testing.assert_close(se2(x), expected)
    with pytest.raises(TypeError, match="block"):
        SEBottleneck(nn.Conv2d(1, 1, 1))
