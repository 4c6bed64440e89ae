"""BottleneckV1 (stride on the first 1x1, the paper and the notes) against torchvision's v1.5."""

import pytest
import torch
import torchvision
from torch import nn

from cvcourse.architectures import resnet
from cvcourse.architectures.complexity import count_flops, count_parameters


def _down_block(cls, inplanes=64, planes=32):
    torch.manual_seed(0)
    down = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=2, bias=False), nn.BatchNorm2d(planes * 4))
    block = cls(inplanes, planes, stride=2, downsample=down).double()
    for m in block.modules():  # random BN statistics and affine, so eval mode is a real check
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.normal_(m.bias)
            nn.init.uniform_(m.running_var, 0.5, 2)
            nn.init.normal_(m.running_mean)
    return block.eval()


def test_v1_block_is_subsampling_then_a_stride_1_block():
    v1 = _down_block(resnet.BottleneckV1)
    assert v1.conv1.stride == (2, 2) and v1.conv2.stride == (1, 1)
    # a stride-2 1x1 reads x[:, :, ::2, ::2]: the same block at stride 1 on the sub-sampled input
    down1 = nn.Sequential(nn.Conv2d(64, 128, 1, bias=False), nn.BatchNorm2d(128))
    same = resnet.Bottleneck(64, 32, stride=1, downsample=down1).double().eval()
    same.load_state_dict(v1.state_dict(), strict=True)
    x = torch.randn(2, 64, 10, 10, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(v1(x), same(x[:, :, ::2, ::2]))


def test_v1_sees_a_quarter_of_the_pixels_v15_all():
    seen = {}
    for cls in (resnet.BottleneckV1, resnet.Bottleneck):
        x = torch.randn(1, 64, 8, 8, dtype=torch.float64, requires_grad=True)
        block = _down_block(cls)
        block(x).square().sum().backward()
        seen[cls.__name__] = float((x.grad.abs().sum(dim=1) > 0).double().mean())
    assert seen == {"BottleneckV1": 0.25, "Bottleneck": 1.0}


def test_stride_1_blocks_are_the_same_and_weights_load_from_torchvision():
    torch.manual_seed(0)
    a = resnet.Bottleneck(256, 64).double().eval()
    b = resnet.BottleneckV1(256, 64).double().eval()
    b.load_state_dict(a.state_dict(), strict=True)
    x = torch.randn(1, 256, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))  # no stride: nothing moves
    with torch.device("meta"):
        v1 = resnet.resnet50_v1()
    result = v1.load_state_dict(torchvision.models.resnet50().state_dict(), strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert v1.layer2[0].conv1.stride == (2, 2) and v1.layer2[0].conv2.stride == (1, 1)


def test_resnet50_v1_flops_are_the_papers():
    with torch.device("meta"):
        v1, v15 = resnet.resnet50_v1(), resnet.resnet50()
    macs_v1, macs_v15 = count_flops(v1) / 2, count_flops(v15) / 2  # 2 FLOPs per multiply-add
    assert 3.8e9 <= macs_v1 < 3.9e9  # the paper's Table 1: 3.8 x 10^9 (multiply-adds)
    assert 4.0e9 < macs_v15 < 4.2e9  # torchvision's model card: 4.09 GFLOPs (multiply-adds)
    assert count_parameters(v1) == count_parameters(v15)


def test_bad_arguments():
    with pytest.raises(ValueError, match="stride"):
        resnet.BottleneckV1(64, 16, stride=0)
