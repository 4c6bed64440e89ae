r"""DeepLab: atrous spatial pyramid pooling on a dilated ResNet; v2's ASPP and torchvision's v3 exactly.

Papers: Chen et al., "DeepLab: Semantic Image Segmentation with Deep Convolutional Nets, Atrous
Convolution, and Fully Connected CRFs" (v2, https://arxiv.org/abs/1606.00915); Chen et al.,
"Rethinking Atrous Convolution for Semantic Image Segmentation" (v3, https://arxiv.org/abs/1706.05587).

Notes, section 5.1.5. A dilated ResNet keeps the resolution (output stride 8 or 16) and ASPP looks
at its activation through parallel 3x3 convolutions of large dilation rates, i.e. at several
scales at once:

* **v2** (:class:`ASPPv2`): one 3x3 dilated convolution per rate (6, 12, 18, 24), each giving class
  scores directly; the branches are **summed**:
  :math:`s = \sum_r \mathrm{conv}^{3\times3}_{r}(x)`.
* **v3** (:class:`ASPP`): a 1x1 conv, three 3x3 dilated convs (12, 24, 36 at output stride 8) and
  **image pooling** (global average -> 1x1 conv -> broadcast back: context of the whole image,
  which a 3x3 of rate 36 on a small map no longer gives, since most of its taps fall on padding),
  each with BN + ReLU, **concatenated** and projected by a 1x1 conv to 256 channels.

:func:`deeplabv3_resnet50` is ``torchvision.models.segmentation.deeplabv3_resnet50``: the dilated
ResNet-50 of :mod:`cvcourse.architectures` (output stride 8), a :class:`DeepLabHead` (ASPP + 3x3
conv + scoring layer) and optionally torchvision's aux :class:`~.fcn.FCNHead` on ``layer3``. Same
builder arguments, same state-dict keys, same outputs (tested in float64). The curriculum of the
notes (train at output stride 16, fine-tune at 8) is a change of ``replace_stride_with_dilation``
with the same weights: dilation changes no parameter.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvcourse._checks import check_int, check_tensor, check_type

from .fcn import FCNHead, SegmentationModel, _segmentation_resnet50

__all__ = ["ASPPv2", "ASPPConv", "ASPPPooling", "ASPP", "DeepLabHead", "DeepLabV3", "deeplabv3_resnet50"]


def _check_rates(rates: Sequence[int]) -> tuple[int, ...]:
    check_type("atrous_rates", rates, (list, tuple), "a list of dilation rates")
    if not rates:
        raise ValueError("atrous_rates must hold at least one rate, got none")
    return tuple(check_int(f"atrous_rates[{i}]", r, low=1) for i, r in enumerate(rates))


class ASPPv2(nn.Module):
    """DeepLab v2's ASPP: class scores = the **sum** of 3x3 convolutions of several dilation rates.

    Args:
        in_channels: channels of the backbone's activation.
        num_classes: output channels.
        atrous_rates: the dilation rates (the paper's ASPP-L: 6, 12, 18, 24).
    """

    def __init__(
        self, in_channels: int, num_classes: int, atrous_rates: Sequence[int] = (6, 12, 18, 24)
    ) -> None:
        super().__init__()
        check_int("in_channels", in_channels, low=1)
        check_int("num_classes", num_classes, low=1)
        self.branches = nn.ModuleList(
            nn.Conv2d(in_channels, num_classes, 3, padding=r, dilation=r) for r in _check_rates(atrous_rates)
        )

    def forward(self, x: Tensor) -> Tensor:
        check_tensor("x", x, ndim=4, dtype="float")
        return sum(branch(x) for branch in self.branches)  # [N, K, h, w]


class ASPPConv(nn.Sequential):
    """3x3 convolution of dilation ``r`` (padding ``r``: same size) -> BN -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )


class ASPPPooling(nn.Sequential):
    """Image pooling: global average -> 1x1 conv -> BN -> ReLU, broadcast back to the input's size."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        for module in self:
            x = module(x)  # [N, C, 1, 1]
        return F.interpolate(x, size=size, mode="bilinear")  # the same vector at every pixel


class ASPP(nn.Module):
    """DeepLab v3's ASPP: 1x1 conv, 3x3 convs of each rate, image pooling; concatenated, projected.

    Args:
        in_channels: channels of the backbone's activation.
        atrous_rates: dilation rates of the 3x3 branches (torchvision: 12, 24, 36).
        out_channels: channels of every branch and of the output (256).
    """

    def __init__(self, in_channels: int, atrous_rates: Sequence[int], out_channels: int = 256) -> None:
        super().__init__()
        check_int("in_channels", in_channels, low=1)
        check_int("out_channels", out_channels, low=1)
        branches = [
            nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU()
            )
        ]
        branches += [ASPPConv(in_channels, out_channels, rate) for rate in _check_rates(atrous_rates)]
        branches.append(ASPPPooling(in_channels, out_channels))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(
            nn.Conv2d(len(self.convs) * out_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Dropout(0.5),
        )

    def forward(self, x: Tensor) -> Tensor:
        check_tensor("x", x, ndim=4, dtype="float")
        branches = torch.cat([conv(x) for conv in self.convs], dim=1)  # [N, (2 + #rates) C, h, w]
        return self.project(branches)  # [N, C, h, w]


class DeepLabHead(nn.Sequential):
    """ASPP -> 3x3 conv (256) -> BN -> ReLU -> 1x1 scoring conv, as torchvision's."""

    def __init__(
        self, in_channels: int, num_classes: int, atrous_rates: Sequence[int] = (12, 24, 36)
    ) -> None:
        super().__init__(
            ASPP(in_channels, atrous_rates),
            nn.Conv2d(256, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(),
            nn.Conv2d(256, check_int("num_classes", num_classes, low=1), 1),
        )


class DeepLabV3(SegmentationModel):
    """torchvision's ``DeepLabV3``: a segmentation model with a :class:`DeepLabHead` classifier."""


def deeplabv3_resnet50(
    *,
    weights: None = None,
    num_classes: int | None = None,
    aux_loss: bool | None = None,
    weights_backbone: None = None,
) -> DeepLabV3:
    """DeepLabV3 with a dilated ResNet-50, as ``torchvision.models.segmentation.deeplabv3_resnet50``.

    Args:
        weights, weights_backbone: must be None (the course never downloads; load torchvision's
            state dict into the model instead, it fits with ``strict=True``).
        num_classes: output channels (None: 21).
        aux_loss: add torchvision's auxiliary FCN head on ``layer3`` (None: no).

    Returns:
        the model; ``model(x [N, 3, H, W])`` -> ``{"out": [N, num_classes, H, W], "aux": ...}``.
    """
    backbone, num_classes, aux = _segmentation_resnet50(
        "deeplabv3_resnet50", weights, num_classes, aux_loss, weights_backbone
    )
    return DeepLabV3(backbone, DeepLabHead(2048, num_classes), FCNHead(1024, num_classes) if aux else None)
