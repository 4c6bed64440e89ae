"""Every builder equals the torchvision model of the same name: keys, strict load, outputs."""

import pytest
import torch
import torchvision
from torch import nn

from cvcourse.architectures import BUILDERS, count_flops, count_parameters, googlenet

TV_WEIGHTS = {  # torchvision's model cards (offline metadata): num_params and GFLOPs
    "resnet18": torchvision.models.ResNet18_Weights.IMAGENET1K_V1,
    "resnet34": torchvision.models.ResNet34_Weights.IMAGENET1K_V1,
    "resnet50": torchvision.models.ResNet50_Weights.IMAGENET1K_V1,
    "resnext50_32x4d": torchvision.models.ResNeXt50_32X4D_Weights.IMAGENET1K_V1,
    "wide_resnet50_2": torchvision.models.Wide_ResNet50_2_Weights.IMAGENET1K_V1,
    "mobilenet_v2": torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1,
    "googlenet": torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1,
    "efficientnet_b0": torchvision.models.EfficientNet_B0_Weights.IMAGENET1K_V1,
}


def tv_model(name: str, **kwargs) -> nn.Module:
    if name == "googlenet":
        # PyTorch's default init: torchvision's std-0.01 init makes GoogLeNet's logits nearly
        # constant, which would make the output comparison weak
        kwargs.setdefault("init_weights", False)
    return getattr(torchvision.models, name)(weights=None, **kwargs)


def strict_copy(builder, tv: nn.Module, **kwargs) -> nn.Module:
    """Build ours on the meta device (no init cost) and strictly load a copy of tv's state dict."""
    with torch.device("meta"):
        ours = builder(**kwargs)
    state = {k: v.clone() for k, v in tv.state_dict().items()}
    result = ours.load_state_dict(state, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
    return ours


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


def loaded_pair(name: str, num_classes: int = 10):
    torch.manual_seed(0)
    tv = tv_model(name, num_classes=num_classes)
    randomize_bn(tv)
    return strict_copy(BUILDERS[name], tv, num_classes=num_classes), tv


@pytest.mark.parametrize("name", list(BUILDERS))
def test_strict_load_and_equal_outputs_float64(name):
    ours, tv = loaded_pair(name)
    ours, tv = ours.double().eval(), tv.double().eval()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = tv(x)
        got = ours(x)
    assert got.shape == expected.shape == (2, 10)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert expected.abs().max() > 1e-3  # the comparison is not between two zero tensors


# ResNeXt's grouped bottleneck is checked in train mode block by block in test_resnext.py
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "googlenet", "efficientnet_b0"])
def test_train_mode_outputs_gradients_and_bn_statistics_equal(name):
    """Train mode: batch statistics, dropout, stochastic depth and aux heads draw the same."""
    ours, tv = loaded_pair(name)
    ours.train()
    tv.train()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(3)
    expected = tv(x)
    torch.manual_seed(3)
    got = ours(x)
    if name == "googlenet":  # GoogLeNetOutputs(logits, aux_logits2, aux_logits1)
        assert len(got) == len(expected) == 3
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        got, expected = got[0] + got[1] + got[2], expected[0] + expected[1] + expected[2]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    got.square().sum().backward()
    expected.square().sum().backward()
    tv_params = dict(tv.named_parameters())
    for key, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, tv_params[key].grad, rtol=1e-4, atol=1e-5, msg=key)
    tv_buffers = dict(tv.named_buffers())
    for key, b in ours.named_buffers():
        torch.testing.assert_close(b, tv_buffers[key], msg=key)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_parameters_and_flops_equal_torchvision_model_card(name):
    with torch.device("meta"):
        model = BUILDERS[name](**({"aux_logits": False} if name == "googlenet" else {}))
    meta = TV_WEIGHTS[name].meta
    assert count_parameters(model) == meta["num_params"]
    # torchvision's card lists GFLOPs as multiply-adds; FlopCounterMode counts 2 per multiply-add
    assert round(count_flops(model, (1, 3, 224, 224)) / 2e9, 3) == pytest.approx(meta["_ops"])


@pytest.mark.parametrize("name", ["resnet50", "googlenet", "efficientnet_b0"])
def test_flops_equal_torchvision_model_at_another_size(name):
    with torch.device("meta"):
        ours, tv = BUILDERS[name](num_classes=7), tv_model(name, num_classes=7)
    assert count_parameters(ours) == count_parameters(tv)
    assert count_flops(ours, (2, 3, 96, 128)) == count_flops(tv, (2, 3, 96, 128))


def test_googlenet_transform_input_and_no_aux_match():
    torch.manual_seed(0)
    tv = tv_model("googlenet", transform_input=True, aux_logits=False, num_classes=5)
    randomize_bn(tv)
    ours = strict_copy(googlenet, tv, transform_input=True, aux_logits=False, num_classes=5)
    assert ours.aux1 is None and ours.aux2 is None
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    ours, tv = ours.double().eval(), tv.double().eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x), rtol=1e-12, atol=1e-12)
        # transform_input really changes the result (else the test above proves nothing about it)
        ours.transform_input = False
        assert (ours(x) - tv(x)).abs().max() > 1e-6


@pytest.mark.parametrize("name", list(BUILDERS))
def test_wrong_input_raises_clear_error(name):
    with torch.device("meta"):
        model = BUILDERS[name]().eval()
    with pytest.raises(ValueError, match=r"^x must have shape \[B, 3, H, W\], got shape \[1, 1, 64, 64\]$"):
        model(torch.zeros(1, 1, 64, 64, device="meta"))
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\].*\[3, 64, 64\]"):
        model(torch.zeros(3, 64, 64, device="meta"))
    with pytest.raises(TypeError, match="x must have a float dtype, got dtype torch.uint8"):
        model(torch.zeros(1, 3, 64, 64, dtype=torch.uint8, device="meta"))
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor of shape \[B, 3, H, W\], got list"):
        model([[0.0]])


@pytest.mark.parametrize("name", list(BUILDERS))
def test_bad_builder_arguments_raise(name):
    with pytest.raises(ValueError, match="never downloads"):
        BUILDERS[name](weights="IMAGENET1K_V1")
    with pytest.raises(ValueError, match="num_classes"):
        BUILDERS[name](num_classes=0)
    with pytest.raises(TypeError, match="num_classes must be an int, got float 2.5"):
        BUILDERS[name](num_classes=2.5)
    with pytest.raises(TypeError, match="num_classes must be an int, got bool"):
        BUILDERS[name](num_classes=True)
