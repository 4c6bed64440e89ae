"""Dilated ResNets (``replace_stride_with_dilation``) equal torchvision's: keys, strict load, outputs."""

import pytest
import torch
import torchvision
from torch import nn

from cvcourse.architectures.resnet import Bottleneck, ResNet, resnet18, resnet34, resnet50, resnext50_32x4d

FLAGS = [[False, False, False], [False, False, True], [False, True, True], [True, True, True]]


def randomize_bn(model: nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine parameters, so eval-mode BN is really tested."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)


def stage_outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The outputs of layer1 .. layer4 (hooks), after one forward pass."""
    outputs = []
    hooks = [
        getattr(model, f"layer{i}").register_forward_hook(lambda m, a, o: outputs.append(o))
        for i in range(1, 5)
    ]
    model(x)
    for hook in hooks:
        hook.remove()
    return outputs


@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: "".join("TF"[not v] for v in f))
@pytest.mark.parametrize("builder", [resnet50, resnext50_32x4d])
def test_dilated_resnet_equals_torchvision_float64(builder, flags):
    torch.manual_seed(0)
    tv = getattr(torchvision.models, builder.__name__)(
        weights=None, num_classes=7, replace_stride_with_dilation=flags
    )
    randomize_bn(tv)
    ours = builder(num_classes=7, replace_stride_with_dilation=flags)
    assert list(ours.state_dict()) == list(tv.state_dict())  # same keys in the same order
    result = ours.load_state_dict(tv.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    # every convolution has torchvision's geometry (stride, padding, dilation)
    tv_convs = {k: m for k, m in tv.named_modules() if isinstance(m, nn.Conv2d)}
    for key, conv in ours.named_modules():
        if isinstance(conv, nn.Conv2d):
            other = tv_convs[key]
            assert (conv.stride, conv.padding, conv.dilation) == (
                other.stride,
                other.padding,
                other.dilation,
            ), key
    ours, tv = ours.double().eval(), tv.double().eval()
    x = torch.randn(2, 3, 64, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = stage_outputs(tv, x), stage_outputs(ours, x)
        torch.testing.assert_close(ours(x), tv(x), rtol=1e-12, atol=1e-12)
    for a, b in zip(got, expected, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # output stride: 32 halved by each dilated stage (notes 5.1.5: OS 16 with layer4 dilated, 8 with 3 and 4)
    stride = 32 // 2 ** sum(flags)
    assert got[-1].shape[-2:] == (64 // stride, 32 // stride)
    assert expected[-1].abs().max() > 1e-3


def test_dilated_stage_follows_the_notes():
    """A dilated stage of rate r: the first block dilation r / 2 and stride 1, the others r."""
    model = resnet50(replace_stride_with_dilation=[False, True, True])
    assert [b.conv2.dilation[0] for b in model.layer3] == [1, 2, 2, 2, 2, 2]
    assert [b.conv2.dilation[0] for b in model.layer4] == [2, 4, 4]
    assert model.layer3[0].conv2.stride == (1, 1) and model.layer3[0].downsample[0].stride == (1, 1)
    assert all(b.conv2.padding == b.conv2.dilation for b in model.modules() if isinstance(b, Bottleneck))


def test_dilation_keeps_parameters_and_grows_activations():
    plain, dilated = resnet50(), resnet50(replace_stride_with_dilation=[False, True, True])
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in dilated.parameters())
    x = torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        assert (
            stage_outputs(plain.eval(), x)[-1].shape[-1] * 4 == stage_outputs(dilated.eval(), x)[-1].shape[-1]
        )


def test_bad_dilation_arguments():
    with pytest.raises(NotImplementedError):  # torchvision refuses dilated basic blocks ...
        torchvision.models.resnet18(replace_stride_with_dilation=[False, False, True])
    for builder in (resnet18, resnet34):  # ... and so do we, with our rule: a wrong value is a ValueError
        with pytest.raises(ValueError, match="needs Bottleneck blocks"):
            builder(replace_stride_with_dilation=[False, False, True])
        assert isinstance(builder(replace_stride_with_dilation=[False, False, False]), ResNet)
    with pytest.raises(ValueError, match=r"must hold 3 bools .*got \[True, True\]"):
        resnet50(replace_stride_with_dilation=[True, True])
    with pytest.raises(
        TypeError, match=r"replace_stride_with_dilation\[1\] must be True or False, got int 1"
    ):
        resnet50(replace_stride_with_dilation=[False, 1, True])
    with pytest.raises(TypeError, match="replace_stride_with_dilation must be 3 bools, got str"):
        resnet50(replace_stride_with_dilation="FTT")
