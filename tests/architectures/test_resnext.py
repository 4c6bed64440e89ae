"""The notes' equivalence proof as a test: G branches == one grouped-convolution bottleneck."""

import pytest
import torch
from torch import nn
from torchvision.models.resnet import Bottleneck as TVBottleneck

from cvcourse.architectures import (
    ResNeXtBranchBlock,
    ResNeXtGroupedBlock,
    branches_to_grouped,
    conv_flops,
    conv_params,
    count_flops,
    count_parameters,
)


def randomize(model: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g, dtype=t.dtype) + 0.5)
            elif t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g, dtype=t.dtype) * 0.3)


@pytest.mark.parametrize("channels,cardinality,width", [(16, 4, 2), (32, 8, 4), (8, 1, 3), (12, 3, 1)])
@pytest.mark.parametrize("train", [False, True])
def test_branch_and_grouped_forms_are_the_same_function(channels, cardinality, width, train):
    branches = ResNeXtBranchBlock(channels, cardinality, width).double()
    randomize(branches, seed=channels + cardinality)
    grouped = branches_to_grouped(branches)
    branches.train(train)
    grouped.train(train)
    x = torch.randn(3, channels, 7, 6, dtype=torch.float64)
    expected = branches(x)
    got = grouped(x)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    assert expected.std() > 0.01
    if train:  # batch statistics of each branch's BN are the slices of the grouped BN's
        for b, branch in enumerate(branches.branches):
            sl = slice(b * width, (b + 1) * width)
            torch.testing.assert_close(grouped.bn1.running_mean[sl], branch[1].running_mean)
            torch.testing.assert_close(grouped.bn2.running_var[sl], branch[4].running_var)


def test_copy_breaks_if_a_branch_weight_is_misplaced():
    """The equivalence needs the right slicing: swapping two branches' 3x3 kernels breaks it."""
    branches = ResNeXtBranchBlock(16, 4, 2).double().eval()
    randomize(branches, seed=0)
    grouped = branches_to_grouped(branches).eval()
    with torch.no_grad():
        grouped.conv2.weight[[0, 1, 2, 3]] = grouped.conv2.weight[[2, 3, 0, 1]].clone()
    x = torch.randn(2, 16, 5, 5, dtype=torch.float64)
    assert not torch.allclose(grouped(x), branches(x))


def test_grouped_block_is_torchvisions_bottleneck():
    """Form (c) has the keys and outputs of torchvision's ResNeXt bottleneck (256 ch, 32x4d)."""
    tv = TVBottleneck(256, 64, groups=32, base_width=4).double()
    randomize(tv, seed=1)
    ours = ResNeXtGroupedBlock(256, 32, 4).double()
    ours.load_state_dict(tv.state_dict(), strict=True)
    x = torch.randn(2, 256, 4, 4, dtype=torch.float64)
    for train in (False, True):
        tv.train(train)
        ours.train(train)
        torch.testing.assert_close(ours(x.clone()), tv(x.clone()), rtol=1e-10, atol=1e-10)


def test_parameters_equal_across_forms():
    branches = ResNeXtBranchBlock(64, 8, 4)
    grouped = ResNeXtGroupedBlock(64, 8, 4)
    # BN: the branch form has G BNs of d channels each = one BN of G*d channels
    assert count_parameters(branches) == count_parameters(grouped)


@pytest.mark.parametrize("groups", [1, 2, 4, 8, 32])
def test_grouped_convolution_is_g_times_cheaper(groups):
    conv = nn.Conv2d(64, 128, 3, padding=1, groups=groups, bias=False)
    assert count_parameters(conv) == conv_params(64, 128, 3, groups) == conv_params(64, 128, 3) // groups
    flops = count_flops(conv, (1, 64, 10, 10), meta=False)
    assert flops == conv_flops(64, 128, 3, 10, 10, groups)
    assert flops * groups == count_flops(
        nn.Conv2d(64, 128, 3, padding=1, bias=False), (1, 64, 10, 10), meta=False
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="cardinality must be an int >= 1, got 0"):
        ResNeXtBranchBlock(16, 0, 2)
    with pytest.raises(TypeError, match="width must be an int, got float 2.0"):
        ResNeXtGroupedBlock(16, 2, 2.0)
    with pytest.raises(TypeError, match="block must be a ResNeXtBranchBlock, got Conv2d"):
        branches_to_grouped(nn.Conv2d(1, 1, 1))
    with pytest.raises(TypeError, match="groups must be an int, got float"):
        conv_params(64, 128, 3, groups=2.0)
    with pytest.raises(ValueError, match="groups=3"):
        conv_params(64, 128, 3, groups=3)
