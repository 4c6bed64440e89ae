r"""Residual networks: ResNet-18/34/50, ResNeXt-50 (32x4d) and Wide ResNet-50-2.

Papers: He et al., "Deep Residual Learning for Image Recognition" (https://arxiv.org/abs/1512.03385);
Xie et al., "Aggregated Residual Transformations for Deep Neural Networks" (ResNeXt,
https://arxiv.org/abs/1611.05431); Zagoruyko & Komodakis, "Wide Residual Networks"
(https://arxiv.org/abs/1605.07146).

Notes, section 2.2: a residual block outputs :math:`F(x; \theta) + x`. The skip joins *before* the
final ReLU, so the block can start as (almost) the identity and training perturbs it. A stage is a
stack of blocks; the first block of stages 2-4 halves the spatial size and doubles the channels
(stride 2 in a convolution, no pooling).

This module matches ``torchvision.models.resnet`` layer for layer: the attribute names equal
torchvision's state-dict keys (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0``,
``fc``, ...), so ``model.load_state_dict(torchvision_model.state_dict(), strict=True)`` works and
gives the same outputs (tested). Like torchvision v1.5, a bottleneck block downsamples in its 3x3
convolution; the original paper (and the notes) strided the first 1x1: ``BottleneckV1`` and
``resnet50_v1`` are that variant, with the same weights.

Pretrained weights (needs internet, not used by the course)::

    import torchvision
    tv = torchvision.models.resnet50(weights="IMAGENET1K_V2")
    model = resnet50()
    model.load_state_dict(tv.state_dict(), strict=True)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cvcourse._checks import check_bool, check_int, check_tensor, check_type
from cvcourse.architectures._weights import check_no_weights

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "BottleneckV1",
    "ResNet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet50_v1",
    "resnext50_32x4d",
    "wide_resnet50_2",
]


def conv3x3(
    in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1
) -> nn.Conv2d:
    """3x3 convolution with padding ``dilation`` (the output keeps the size at stride 1) and no bias
    (a BatchNorm follows, whose shift is the bias). ``dilation`` r leaves r - 1 gaps between taps."""
    return nn.Conv2d(
        in_planes,
        out_planes,
        kernel_size=3,
        stride=stride,
        padding=dilation,
        groups=groups,
        bias=False,
        dilation=dilation,
    )


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def _check_block(inplanes, planes, stride, downsample, groups, base_width, dilation=1) -> None:
    for name, value in (
        ("inplanes", inplanes),
        ("planes", planes),
        ("stride", stride),
        ("groups", groups),
        ("base_width", base_width),
        ("dilation", dilation),
    ):
        check_int(name, value, low=1)
    if downsample is not None:
        check_type("downsample", downsample, nn.Module, "an nn.Module or None")


class BasicBlock(nn.Module):
    """The standard residual block: two 3x3 conv + BN, skip added before the last ReLU.

    ``y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` where ``shortcut`` is the identity,
    or a strided 1x1 conv + BN (``downsample``) when the shape changes.
    """

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        _check_block(inplanes, planes, stride, downsample, groups, base_width, dilation)
        if groups != 1 or base_width != 64:
            raise ValueError(
                f"BasicBlock supports only groups=1, base_width=64, got {groups} and {base_width}"
            )
        if dilation > 1:  # as torchvision, which raises NotImplementedError here
            raise ValueError(
                f"BasicBlock supports only dilation=1 (torchvision dilates Bottleneck ResNets only), "
                f"got dilation={dilation}"
            )
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x  # [B, C_in, H, W]
        out = self.relu(self.bn1(self.conv1(x)))  # [B, planes, H/s, W/s]
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)  # match the shape of the residual branch
        out += identity  # the skip joins before the ReLU (notes, 2.2)
        return self.relu(out)


class Bottleneck(nn.Module):
    """Bottleneck block: 1x1 (compress) -> 3x3 (stride, groups) -> 1x1 (expand by 4), plus skip.

    The middle width is ``planes * base_width / 64 * groups``: 64/4 = 1/4 of the output channels
    for ResNet-50; ``groups=32, base_width=4`` gives ResNeXt-50 (32x4d), whose 3x3 is a grouped
    convolution (section 2.3); ``base_width=128`` gives Wide ResNet-50-2.
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        _check_block(inplanes, planes, stride, downsample, groups, base_width, dilation)
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)  # dilated in a dilated stage
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x  # [B, 4*planes_in, H, W]
        out = self.relu(self.bn1(self.conv1(x)))  # [B, width, H, W]
        out = self.relu(self.bn2(self.conv2(out)))  # [B, width, H/s, W/s]
        out = self.bn3(self.conv3(out))  # [B, 4*planes, H/s, W/s]
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class BottleneckV1(Bottleneck):
    """The bottleneck of the original paper ("ResNet v1", and the notes): the stride is on the *first* 1x1.

    Same layers and state-dict keys as ``Bottleneck`` (torchvision's "v1.5", stride on the 3x3), so
    the same weights load into either; only where the stride-2 sits differs. A stride-2 1x1 reads one
    pixel of every 2 x 2 (it equals sub-sampling ``x[:, :, ::2, ::2]``, then a 1x1), and the
    projection shortcut is a stride-2 1x1 too, so a down-sampling v1 block never sees three quarters
    of its input pixels; v1.5's stride-2 3x3 covers them all, for more FLOPs (its 3x3 runs at the
    input resolution).
    """

    def __init__(self, inplanes: int, planes: int, stride: int = 1, *args, **kwargs) -> None:
        super().__init__(inplanes, planes, stride, *args, **kwargs)  # Bottleneck's arguments
        self.conv1.stride, self.conv2.stride = (stride, stride), (1, 1)  # the stride moves to the 1x1


class ResNet(nn.Module):
    """Stem (7x7/2 conv, 3x3/2 max-pool) -> four stages -> global average pool -> linear.

    Args:
        block: ``BasicBlock`` or ``Bottleneck``.
        layers: number of blocks per stage, e.g. ``[2, 2, 2, 2]`` for ResNet-18.
        num_classes: size of the output logits.
        zero_init_residual: start every block's last BN at zero, so each block starts as the
            identity (the notes' remark that training perturbs the identity function).
        groups: groups of the 3x3 convolutions (ResNeXt cardinality).
        width_per_group: channels per group of the 3x3 convolutions (64 for ResNet).
        replace_stride_with_dilation: three flags, for stages 2, 3, 4 (``layer2`` .. ``layer4``):
            True replaces the stage's stride 2 by stride 1 and multiplies the dilation of its 3x3
            convolutions by 2 instead (notes, 5.1.5: a *dilated stage*; the first block keeps the
            previous dilation, r / 2, the others get r). ``[False, True, True]`` gives output
            stride 8, ``[False, False, True]`` output stride 16 (DeepLab), as torchvision.
            Bottleneck blocks only.
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: list[int],
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        replace_stride_with_dilation: list[bool] | None = None,
    ) -> None:
        super().__init__()
        if not (isinstance(block, type) and issubclass(block, (BasicBlock, Bottleneck))):
            raise TypeError(f"block must be the class BasicBlock or Bottleneck, got {block!r}")
        check_type("layers", layers, (list, tuple), "a list of 4 stage depths")
        if len(layers) != 4:
            raise ValueError(f"layers must list 4 stage depths, got {layers!r}")
        for i, depth in enumerate(layers):
            check_int(f"layers[{i}]", depth, low=1)
        check_int("num_classes", num_classes, low=1)
        check_bool("zero_init_residual", zero_init_residual)
        check_int("groups", groups, low=1)
        check_int("width_per_group", width_per_group, low=1)
        if replace_stride_with_dilation is None:
            replace_stride_with_dilation = [False, False, False]
        check_type("replace_stride_with_dilation", replace_stride_with_dilation, (list, tuple), "3 bools")
        if len(replace_stride_with_dilation) != 3:
            raise ValueError(
                f"replace_stride_with_dilation must hold 3 bools (stages 2, 3, 4), "
                f"got {replace_stride_with_dilation!r}"
            )
        for i, flag in enumerate(replace_stride_with_dilation):
            check_bool(f"replace_stride_with_dilation[{i}]", flag)
        if block is BasicBlock and any(replace_stride_with_dilation):
            raise ValueError(
                f"replace_stride_with_dilation needs Bottleneck blocks (ResNet-50 and up), as "
                f"torchvision; got {replace_stride_with_dilation!r} with BasicBlock"
            )
        self.inplanes = 64
        self.dilation = 1  # the dilation of the stage being built; doubles with each dilated stage
        self.groups = groups
        self.base_width = width_per_group
        # Stem: 224 -> 112 (conv) -> 56 (max-pool)
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        # Body: each later stage halves H, W and doubles the channels
        self.layer1 = self._make_layer(block, 64, layers[0])
        dilate = replace_stride_with_dilation
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2, dilate=dilate[0])
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2, dilate=dilate[1])
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2, dilate=dilate[2])
        # Head: global average pooling instead of flattening (few parameters, any input size)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():  # same initialisation as torchvision
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(
        self,
        block: type[BasicBlock | Bottleneck],
        planes: int,
        blocks: int,
        stride: int = 1,
        dilate: bool = False,
    ) -> nn.Sequential:
        previous_dilation = self.dilation
        if dilate:  # keep the resolution: the stride becomes dilation (same receptive field growth)
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            # projection shortcut: strided 1x1 conv + BN so that the skip matches the new shape
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [
            block(self.inplanes, planes, stride, downsample, self.groups, self.base_width, previous_dilation)
        ]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(
                block(
                    self.inplanes,
                    planes,
                    groups=self.groups,
                    base_width=self.base_width,
                    dilation=self.dilation,
                )
            )
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        check_tensor("x", x, shape=("B", 3, "H", "W"), dtype="float")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # [B, 64, H/4, W/4]
        x = self.layer1(x)  # [B, 64e, H/4, W/4]   (e = block.expansion)
        x = self.layer2(x)  # [B, 128e, H/8, W/8]
        x = self.layer3(x)  # [B, 256e, H/16, W/16]   (H/8 if layer3 is dilated)
        x = self.layer4(x)  # [B, 512e, H/32, W/32]   (H/16 or H/8 if dilated)
        x = torch.flatten(self.avgpool(x), 1)  # [B, 512e]
        return self.fc(x)  # [B, num_classes]


def resnet18(
    *,
    weights: None = None,
    num_classes: int = 1000,
    zero_init_residual: bool = False,
    replace_stride_with_dilation: list[bool] | None = None,
) -> ResNet:
    """ResNet-18: basic blocks, [2, 2, 2, 2] per stage (same as ``torchvision.models.resnet18``).

    ``replace_stride_with_dilation`` is accepted as torchvision does, and refused unless all False
    (basic blocks are not dilated)."""
    check_no_weights(weights, "resnet18")
    return ResNet(
        BasicBlock,
        [2, 2, 2, 2],
        num_classes,
        zero_init_residual,
        replace_stride_with_dilation=replace_stride_with_dilation,
    )


def resnet34(
    *,
    weights: None = None,
    num_classes: int = 1000,
    zero_init_residual: bool = False,
    replace_stride_with_dilation: list[bool] | None = None,
) -> ResNet:
    """ResNet-34: basic blocks, [3, 4, 6, 3] per stage."""
    check_no_weights(weights, "resnet34")
    return ResNet(
        BasicBlock,
        [3, 4, 6, 3],
        num_classes,
        zero_init_residual,
        replace_stride_with_dilation=replace_stride_with_dilation,
    )


def resnet50(
    *,
    weights: None = None,
    num_classes: int = 1000,
    zero_init_residual: bool = False,
    replace_stride_with_dilation: list[bool] | None = None,
) -> ResNet:
    """ResNet-50: bottleneck blocks, [3, 4, 6, 3] per stage.

    ``replace_stride_with_dilation=[False, True, True]`` is the dilated ResNet-50 of output stride 8
    that torchvision's ``fcn_resnet50`` and ``deeplabv3_resnet50`` use as backbone."""
    check_no_weights(weights, "resnet50")
    return ResNet(
        Bottleneck,
        [3, 4, 6, 3],
        num_classes,
        zero_init_residual,
        replace_stride_with_dilation=replace_stride_with_dilation,
    )


def resnet50_v1(*, num_classes: int = 1000, zero_init_residual: bool = False) -> ResNet:
    """ResNet-50 as in the paper: ``resnet50`` with ``BottleneckV1`` blocks (stride on the first 1x1).

    Same state-dict keys as ``resnet50``; its FLOPs are the paper's 3.8 x 10^9 multiply-adds (tested),
    against about 4.1 x 10^9 for torchvision's v1.5."""
    return ResNet(BottleneckV1, [3, 4, 6, 3], num_classes, zero_init_residual)


def resnext50_32x4d(
    *,
    weights: None = None,
    num_classes: int = 1000,
    zero_init_residual: bool = False,
    replace_stride_with_dilation: list[bool] | None = None,
) -> ResNet:
    """ResNeXt-50 (32x4d): ResNet-50 with 3x3 convs of G = 32 groups of d = 4 (x stage) channels."""
    check_no_weights(weights, "resnext50_32x4d")
    return ResNet(
        Bottleneck, [3, 4, 6, 3], num_classes, zero_init_residual, 32, 4, replace_stride_with_dilation
    )


def wide_resnet50_2(
    *,
    weights: None = None,
    num_classes: int = 1000,
    zero_init_residual: bool = False,
    replace_stride_with_dilation: list[bool] | None = None,
) -> ResNet:
    """Wide ResNet-50-2: ResNet-50 with twice the channels inside every bottleneck (wider)."""
    check_no_weights(weights, "wide_resnet50_2")
    return ResNet(
        Bottleneck, [3, 4, 6, 3], num_classes, zero_init_residual, 1, 64 * 2, replace_stride_with_dilation
    )
