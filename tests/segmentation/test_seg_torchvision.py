"""fcn_resnet50 and deeplabv3_resnet50 equal torchvision's: builder arguments, keys, strict loads, outputs."""

import pytest
import torch
import torchvision
from torch import nn

from cvcourse.segmentation.deeplab import ASPP, ASPPv2, deeplabv3_resnet50
from cvcourse.segmentation.fcn import FCNHead, fcn_resnet50

BUILDERS = {"fcn_resnet50": fcn_resnet50, "deeplabv3_resnet50": deeplabv3_resnet50}


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


def tv_model(name: str, **kwargs) -> nn.Module:
    return getattr(torchvision.models.segmentation, name)(weights=None, weights_backbone=None, **kwargs)


@pytest.fixture(scope="module", params=[(name, aux) for name in BUILDERS for aux in (False, True)], ids=str)
def pair(request):
    """(ours, torchvision's) with the same weights, loaded strictly from torchvision's state dict."""
    name, aux = request.param
    torch.manual_seed(0)
    tv = tv_model(name, num_classes=5, aux_loss=aux)
    randomize_bn(tv)
    with torch.device("meta"):
        ours = BUILDERS[name](num_classes=5, aux_loss=aux)
    assert list(ours.state_dict()) == list(tv.state_dict())  # same keys, same order
    result = ours.load_state_dict(
        {k: v.clone() for k, v in tv.state_dict().items()}, strict=True, assign=True
    )
    assert not result.missing_keys and not result.unexpected_keys
    return ours, tv, aux


def test_equal_outputs_float64_including_aux(pair):
    ours, tv, aux = pair
    ours, tv = ours.double().eval(), tv.double().eval()
    x = torch.randn(2, 3, 40, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = tv(x), ours(x)
    assert list(got) == list(expected) == (["out", "aux"] if aux else ["out"])
    for key in expected:
        assert got[key].shape == expected[key].shape == (2, 5, 40, 32)
        torch.testing.assert_close(got[key], expected[key], rtol=1e-12, atol=1e-12)
        assert expected[key].std() > 1e-3  # not two constant tensors
    ours.float(), tv.float()


def test_train_mode_dropout_and_gradients_equal(pair):
    ours, tv, _ = pair
    ours.train(), tv.train()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(3)
    expected = tv(x)
    torch.manual_seed(3)
    got = ours(x)
    loss_tv = sum(v.square().mean() for v in expected.values())
    loss_ours = sum(v.square().mean() for v in got.values())
    torch.testing.assert_close(loss_ours, loss_tv, rtol=1e-5, atol=1e-6)
    loss_tv.backward(), loss_ours.backward()
    tv_params = dict(tv.named_parameters())
    for key in ("classifier.4.weight", "backbone.layer4.2.conv3.weight", "backbone.conv1.weight"):
        torch.testing.assert_close(
            dict(ours.named_parameters())[key].grad, tv_params[key].grad, rtol=1e-4, atol=1e-6
        )


@pytest.mark.parametrize("name", list(BUILDERS))
def test_strict_load_into_torchvision_and_parameter_count(name):
    with torch.device("meta"):
        ours, tv = BUILDERS[name](aux_loss=True), tv_model(name, aux_loss=True)
    result = tv.load_state_dict(ours.state_dict(), strict=True, assign=True)  # the other way round
    assert not result.missing_keys and not result.unexpected_keys
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in tv.parameters())
    # the defaults are torchvision's: 21 classes (VOC), no aux head
    with torch.device("meta"):
        default, tv_default = BUILDERS[name](), tv_model(name)
    assert default.aux_classifier is None and tv_default.aux_classifier is None
    assert default.classifier[-1].out_channels == tv_default.classifier[-1].out_channels == 21


def test_model_card_parameter_counts():
    with torch.device("meta"):
        for name, weights in (
            ("fcn_resnet50", torchvision.models.segmentation.FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1),
            (
                "deeplabv3_resnet50",
                torchvision.models.segmentation.DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1,
            ),
        ):
            model = BUILDERS[name](aux_loss=True)  # the published weights have the aux head
            assert sum(p.numel() for p in model.parameters()) == weights.meta["num_params"]


def test_heads_equal_torchvision_modules():
    from torchvision.models.segmentation.deeplabv3 import ASPP as TVASPP
    from torchvision.models.segmentation.fcn import FCNHead as TVFCNHead

    torch.manual_seed(0)
    for ours, tv in ((FCNHead(16, 3), TVFCNHead(16, 3)), (ASPP(16, (1, 2, 3), 8), TVASPP(16, (1, 2, 3), 8))):
        randomize_bn(tv)
        ours.load_state_dict(tv.state_dict(), strict=True)
        ours, tv = ours.double().eval(), tv.double().eval()
        x = torch.randn(2, 16, 7, 5, dtype=torch.float64)
        torch.testing.assert_close(ours(x), tv(x), rtol=1e-12, atol=1e-12)


def test_aspp_v2_is_a_sum_and_v3_a_concatenation():
    torch.manual_seed(0)
    v2 = ASPPv2(8, 3, atrous_rates=(1, 2, 4)).double()
    x = torch.randn(1, 8, 9, 9, dtype=torch.float64)
    branches = [
        nn.functional.conv2d(x, b.weight, b.bias, padding=r, dilation=r)
        for b, r in zip(v2.branches, (1, 2, 4), strict=True)
    ]
    torch.testing.assert_close(v2(x), sum(branches), rtol=1e-12, atol=1e-12)
    v3 = ASPP(8, (1, 2), out_channels=4).eval()
    assert len(v3.convs) == 4 and v3.project[0].in_channels == 4 * 4  # 1x1, two rates, image pooling
    pooled = v3.convs[-1](torch.randn(1, 8, 6, 5))
    assert pooled.shape == (1, 4, 6, 5)
    torch.testing.assert_close(pooled, pooled[:, :, :1, :1].expand_as(pooled))


@pytest.mark.parametrize("name", list(BUILDERS))
def test_bad_builder_arguments(name):
    with pytest.raises(ValueError, match="never downloads"):
        BUILDERS[name](weights="COCO_WITH_VOC_LABELS_V1")
    with pytest.raises(ValueError, match="never downloads"):
        BUILDERS[name](weights_backbone="IMAGENET1K_V1")
    with pytest.raises(TypeError, match="aux_loss must be True or False, got int 1"):
        BUILDERS[name](aux_loss=1)
    with pytest.raises(ValueError, match="num_classes must be an int >= 1, got 0"):
        BUILDERS[name](num_classes=0)
    with torch.device("meta"):
        model = BUILDERS[name]()
    with pytest.raises(ValueError, match=r"x must have shape \[N, 3, H, W\], got shape \[1, 1, 8, 8\]"):
        model(torch.zeros(1, 1, 8, 8, device="meta"))
    with pytest.raises(TypeError, match="x must have a float dtype, got dtype torch.uint8"):
        model(torch.zeros(1, 3, 8, 8, dtype=torch.uint8, device="meta"))
    with pytest.raises(ValueError, match=r"atrous_rates must hold at least one rate"):
        ASPP(8, ())
