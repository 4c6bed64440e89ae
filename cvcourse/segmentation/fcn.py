r"""Fully convolutional networks: torchvision's ``fcn_resnet50`` exactly, and small FCN-32s/16s/8s.

Paper: Long, Shelhamer & Darrell, "Fully Convolutional Networks for Semantic Segmentation"
(https://arxiv.org/abs/1411.4038).

Notes, section 5.1.3. An FCN passes the whole image through a CNN (*backbone*), turns the last
activation into one channel per class with a *scoring layer* and *up-samples* the scores to the
image size. With a stride-32 backbone the mask is coarse; the *pyramid of FCNs* fixes that with
skips:

* **FCN-32s**: score the stride-32 activation, up-sample 32x;
* **FCN-16s**: up-sample those scores 2x and **add** the scores of the stride-16 activation, then
  up-sample 16x;
* **FCN-8s**: the same once more with the stride-8 activation, then up-sample 8x.

:class:`SmallFCN` is that pyramid on a small five-stage backbone (for 64 x 64 scenes), readable in
one screen. The paper up-samples 2x with transposed convolutions initialised to bilinear
interpolation and learns them; here every up-sampling is fixed bilinear interpolation (the
paper's ablation found the learned ones add little), so the only difference between the variants
is which skips are added.

:func:`fcn_resnet50` is ``torchvision.models.segmentation.fcn_resnet50``: a dilated ResNet-50
(output stride 8, ``replace_stride_with_dilation=[False, True, True]``) from
:mod:`cvcourse.architectures`, an :class:`FCNHead` on ``layer4`` (and with ``aux_loss`` another on
``layer3``), bilinear up-sampling to the input size. Same builder arguments, same state-dict keys
(``backbone.layer1.0.conv1.weight``, ``classifier.0.weight``, ``aux_classifier.4.bias``, ...),
same outputs ``{"out": [N, K, H, W], "aux": ...}`` (tested in float64 with strict loads both ways).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from cvcourse._checks import check_bool, check_choice, check_int, check_tensor
from cvcourse.architectures._weights import check_no_weights
from cvcourse.architectures.resnet import ResNet, resnet50

__all__ = [
    "FCNHead",
    "ResNetBackbone",
    "SegmentationModel",
    "FCN",
    "fcn_resnet50",
    "SmallFCNConfig",
    "SmallFCN",
]


class FCNHead(nn.Sequential):
    """3x3 conv to ``in_channels / 4`` -> BN -> ReLU -> dropout 0.1 -> 1x1 scoring conv (torchvision's)."""

    def __init__(self, in_channels: int, channels: int) -> None:
        check_int("in_channels", in_channels, low=4)
        check_int("channels", channels, low=1)
        inter_channels = in_channels // 4
        super().__init__(
            nn.Conv2d(in_channels, inter_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(inter_channels),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Conv2d(inter_channels, channels, 1),  # the scoring layer: one channel per class
        )


class ResNetBackbone(nn.Module):
    """A ResNet without its pooling and classifier, returning ``{"out": layer4, "aux": layer3}``.

    The attributes are the ResNet's own modules (``conv1`` ... ``layer4``), so the state-dict keys
    are torchvision's ``IntermediateLayerGetter``'s.
    """

    def __init__(self, resnet: ResNet, aux: bool) -> None:
        super().__init__()
        self.aux = check_bool("aux", aux)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(resnet, name))

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # [N, 64, H/4, W/4]
        x = self.layer2(self.layer1(x))  # [N, 512, H/8, W/8]
        features = OrderedDict()
        x = self.layer3(x)  # [N, 1024, H/8, W/8] (dilated)
        if self.aux:
            features["aux"] = x
        features["out"] = self.layer4(x)  # [N, 2048, H/8, W/8] (dilated)
        return features


class SegmentationModel(nn.Module):
    """Backbone -> classifier on ``"out"`` (and aux classifier on ``"aux"``) -> bilinear to the input size.

    torchvision's ``_SimpleSegmentationModel``: ``model(x)`` returns ``{"out": [N, K, H, W]}`` and,
    with an aux classifier, ``"aux"`` (the auxiliary loss of training; ignore it at inference).
    """

    def __init__(self, backbone: nn.Module, classifier: nn.Module, aux_classifier: nn.Module | None = None):
        super().__init__()
        self.backbone = backbone
        self.classifier = classifier
        self.aux_classifier = aux_classifier

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        check_tensor("x", x, shape=("N", 3, "H", "W"), dtype="float")
        size = x.shape[-2:]
        features = self.backbone(x)
        result = OrderedDict()
        result["out"] = F.interpolate(self.classifier(features["out"]), size=size, mode="bilinear")
        if self.aux_classifier is not None:
            result["aux"] = F.interpolate(self.aux_classifier(features["aux"]), size=size, mode="bilinear")
        return result


class FCN(SegmentationModel):
    """torchvision's ``FCN``: a :class:`SegmentationModel` with :class:`FCNHead` classifiers."""


def _segmentation_resnet50(
    builder_name: str, weights, num_classes: int | None, aux_loss: bool | None, weights_backbone
) -> tuple[ResNetBackbone, int, bool]:
    check_no_weights(weights, builder_name)
    check_no_weights(weights_backbone, "resnet50")
    num_classes = 21 if num_classes is None else check_int("num_classes", num_classes, low=1)
    aux = bool(check_bool("aux_loss", aux_loss) if aux_loss is not None else False)
    backbone = resnet50(replace_stride_with_dilation=[False, True, True])  # output stride 8
    return ResNetBackbone(backbone, aux), num_classes, aux


def fcn_resnet50(
    *,
    weights: None = None,
    num_classes: int | None = None,
    aux_loss: bool | None = None,
    weights_backbone: None = None,
) -> FCN:
    """FCN with a dilated ResNet-50 backbone, as ``torchvision.models.segmentation.fcn_resnet50``.

    Args:
        weights, weights_backbone: must be None (the course never downloads; load torchvision's
            state dict into the model instead, it fits with ``strict=True``).
        num_classes: output channels (None: 21, PASCAL VOC's 20 classes + background).
        aux_loss: add the auxiliary :class:`FCNHead` on ``layer3`` (None: no).

    Returns:
        the model; ``model(x [N, 3, H, W])`` -> ``{"out": [N, num_classes, H, W], "aux": ...}``.
    """
    backbone, num_classes, aux = _segmentation_resnet50(
        "fcn_resnet50", weights, num_classes, aux_loss, weights_backbone
    )
    return FCN(backbone, FCNHead(2048, num_classes), FCNHead(1024, num_classes) if aux else None)


@dataclass
class SmallFCNConfig:
    variant: str = "8s"
    num_classes: int = 9
    width: int = 16


class SmallFCN(nn.Module):
    """A five-stage CNN (total stride 32) with the FCN-32s, -16s or -8s skip fusion.

    Stage ``s`` (1 .. 5) is two 3x3 conv + BN + ReLU and a 2x2 max-pool, at stride ``2**s``, with
    ``width * 2**min(s - 1, 3)`` channels. Scores are taken from stage 5 (stride 32) and, for 16s
    and 8s, from stages 4 (stride 16) and 3 (stride 8). Image [N, 3, H, W] (H, W multiples of 32)
    -> logits [N, num_classes, H, W].

    Args:
        variant: "32s", "16s" or "8s".
        num_classes: output channels.
        width: channels of the first stage.
    """

    VARIANTS = ("32s", "16s", "8s")

    def __init__(self, variant: str = "8s", num_classes: int = 9, width: int = 16) -> None:
        super().__init__()
        self.config = SmallFCNConfig(
            check_choice("variant", variant, self.VARIANTS),
            check_int("num_classes", num_classes, low=1),
            check_int("width", width, low=1),
        )
        channels = [width * 2 ** min(s, 3) for s in range(5)]  # w, 2w, 4w, 8w, 8w
        stages, cin = [], 3
        for cout in channels:
            stages.append(
                nn.Sequential(
                    nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                    nn.BatchNorm2d(cout),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                    nn.BatchNorm2d(cout),
                    nn.ReLU(inplace=True),
                    nn.MaxPool2d(2),
                )
            )
            cin = cout
        self.stages = nn.ModuleList(stages)
        # scoring layers: 1x1 convs, one channel per class, on the activations of stride 32, 16, 8
        self.score32 = nn.Conv2d(channels[4], num_classes, 1)
        self.score16 = nn.Conv2d(channels[3], num_classes, 1) if variant in ("16s", "8s") else None
        self.score8 = nn.Conv2d(channels[2], num_classes, 1) if variant == "8s" else None

    def forward(self, x: Tensor) -> Tensor:
        check_tensor("x", x, shape=("N", 3, "H", "W"), dtype="float")
        if x.shape[-2] % 32 or x.shape[-1] % 32:
            raise ValueError(f"x's height and width must be multiples of 32, got shape {list(x.shape)}")
        size = x.shape[-2:]
        activations = []
        for stage in self.stages:
            x = stage(x)
            activations.append(x)  # strides 2, 4, 8, 16, 32
        scores = self.score32(activations[4])  # [N, K, H/32, W/32]: FCN-32s stops here
        for score, skip in ((self.score16, activations[3]), (self.score8, activations[2])):
            if score is None:
                break
            # up-sample 2x and add the scores of the finer activation (the skip, notes 5.1.3)
            scores = F.interpolate(scores, size=skip.shape[-2:], mode="bilinear") + score(skip)
        return F.interpolate(scores, size=size, mode="bilinear")  # [N, K, H, W]
