"""MobileNetV2: depth-wise separable convolutions and inverted residual blocks.

Paper: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks"
(https://arxiv.org/abs/1801.04381). Matches ``torchvision.models.mobilenet_v2``: same state-dict
keys (``features.0.0.weight``, ``features.1.conv.0.0.weight``, ``classifier.1.weight``, ...), same
outputs (tested).

Notes, section 2.5:

* **Depth-wise separable convolution** = a depth-wise k x k convolution (``groups = C``, each
  channel filtered alone) followed by a point-wise 1x1 convolution that mixes the channels. For
  C_in -> C_out on an H x W output it costs :math:`H W C_{in} (k^2 + C_{out})` multiply-adds
  instead of :math:`H W C_{in} C_{out} k^2`: a saving of :math:`1/C_{out} + 1/k^2` (8-9x for 3x3).
* **Inverted residual block**: 1x1 conv expanding the channels by ``t``, 3x3 depth-wise conv
  (stride 2 when down-sampling), 1x1 conv compressing back. The last conv has *no* ReLU (a
  "linear bottleneck"), and the skip joins narrow tensors, the opposite of ResNet's bottleneck.
* Table 2.1 lists the stages as (t, c, n, s): ``INVERTED_RESIDUAL_SETTING`` below.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from cvcourse._checks import check_choice, check_float, check_int, check_tensor, check_type, describe
from cvcourse.architectures._weights import check_no_weights

__all__ = [
    "ConvNormActivation",
    "InvertedResidual",
    "MobileNetV2",
    "mobilenet_v2",
    "make_divisible",
    "table_2_1",
    "INVERTED_RESIDUAL_SETTING",
]

# Table 2.1 of the notes: expansion t, output channels c, repeats n, stride s of the first repeat.
INVERTED_RESIDUAL_SETTING: list[tuple[int, int, int, int]] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to the nearest multiple of ``divisor`` without losing more than 10%.

    Same rule as TensorFlow's MobileNet and torchvision's ``_make_divisible``.
    """
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:  # rounding down removed more than 10%: go one step up
        new_v += divisor
    return new_v


class ConvNormActivation(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> activation, as ``torchvision.ops.Conv2dNormActivation``.

    A ``Sequential`` so that the state-dict keys are ``0.weight`` (conv), ``1.*`` (BN). Padding is
    ``(kernel_size - 1) // 2``, which keeps H, W for stride 1 and halves them for stride 2.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        activation_layer: Callable[..., nn.Module] | None = nn.ReLU6,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding=(kernel_size - 1) // 2,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels),
        ]
        if activation_layer is not None:
            layers.append(activation_layer(inplace=True))
        super().__init__(*layers)
        self.out_channels = out_channels


class InvertedResidual(nn.Module):
    """Expand (1x1, ReLU6) -> depth-wise 3x3 (stride, ReLU6) -> project (1x1, linear) [+ skip].

    Args:
        inp: input channels.
        oup: output channels.
        stride: 1 or 2, applied in the depth-wise convolution.
        expand_ratio: t, the hidden width is ``round(inp * t)``; t = 1 skips the expansion conv.
    """

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        check_int("inp", inp, low=1)
        check_int("oup", oup, low=1)
        self.stride = check_choice("stride", check_int("stride", stride), (1, 2))
        check_float("expand_ratio", expand_ratio, low=0.0, low_inclusive=False)
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup  # skip only when shapes agree
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvNormActivation(inp, hidden_dim, kernel_size=1))  # expand
        layers += [
            ConvNormActivation(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim),  # depth-wise
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),  # point-wise projection ...
            nn.BatchNorm2d(oup),  # ... with no activation: the linear bottleneck
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x: Tensor) -> Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """Stem conv (32, stride 2) -> 17 inverted residual blocks -> 1x1 conv to 1280 -> GAP -> linear.

    Args:
        num_classes: size of the output logits (k in Table 2.1).
        width_mult: multiplies every channel count (rounded by ``make_divisible``).
        dropout: dropout probability before the classifier.
    """

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.2) -> None:
        super().__init__()
        check_int("num_classes", num_classes, low=1)
        check_float("width_mult", width_mult, low=0.0, low_inclusive=False)
        check_float("dropout", dropout, low=0.0, high=1.0)
        input_channel = make_divisible(32 * width_mult)
        self.last_channel = make_divisible(1280 * max(1.0, width_mult))
        features: list[nn.Module] = [ConvNormActivation(3, input_channel, stride=2)]  # stem
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            output_channel = make_divisible(c * width_mult)
            for i in range(n):
                # only the first block of a stage strides (notes: stride on the middle 3x3)
                features.append(InvertedResidual(input_channel, output_channel, s if i == 0 else 1, t))
                input_channel = output_channel
        # few channels in the body, so expand before the classifier (notes, 2.5)
        features.append(ConvNormActivation(input_channel, self.last_channel, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes))

        for m in self.modules():  # same initialisation as torchvision
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        check_tensor("x", x, shape=("B", 3, "H", "W"), dtype="float")
        x = self.features(x)  # [B, 1280, H/32, W/32]
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))  # [B, 1280, 1, 1]
        return self.classifier(torch.flatten(x, 1))  # [B, num_classes]


def mobilenet_v2(
    *, weights: None = None, num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.2
) -> MobileNetV2:
    """MobileNetV2 (same as ``torchvision.models.mobilenet_v2``)."""
    check_no_weights(weights, "mobilenet_v2")
    return MobileNetV2(num_classes=num_classes, width_mult=width_mult, dropout=dropout)


def table_2_1(model: MobileNetV2, input_size: int = 224) -> list[tuple[str, ...]]:
    """Regenerate the notes' Table 2.1 from a built MobileNetV2 (its layers, not the constant).

    Each row is (input, operator, t, c, n, s) as strings, the input written "H × C" like the
    notes (``"1 × 1 × 1280"`` for the pooled vector). Consecutive inverted residual blocks with
    the same output channels form one row; t is read from the expansion convolution.
    """
    check_type("model", model, nn.Module, "a MobileNetV2 (this package's or torchvision's)")
    if not isinstance(getattr(model, "features", None), nn.Sequential):  # duck typing: torchvision's too
        raise TypeError(f"model must be a MobileNetV2 (with .features), got {describe(model)}")
    check_int("input_size", input_size, low=32)
    layers = list(model.features)
    shapes = []  # input shape [C, H] of every layer of features, then of the pooling
    with torch.no_grad():
        x = torch.zeros(1, 3, input_size, input_size, device="meta")
        for layer in layers:
            shapes.append((x.shape[1], x.shape[2]))
            x = _meta_forward(layer, x)
        shapes.append((x.shape[1], x.shape[2]))
    stem = layers[0][0]
    rows = [(f"{input_size} × 3", "conv2d", "-", str(stem.out_channels), "1", str(stem.stride[0]))]
    i = 1
    while i < len(layers) - 1:
        block = layers[i]
        first = block.conv[0][0]
        t = first.out_channels // first.in_channels if len(block.conv) == 4 else 1
        n = 1
        while i + n < len(layers) - 1 and layers[i + n].out_channels == block.out_channels:
            n += 1
        c_in, h = shapes[i]
        rows.append(
            (
                f"{h} × {c_in}",
                "bottleneck",
                str(t),
                str(block.out_channels),
                str(n),
                str(block.stride),
            )
        )
        i += n
    c_in, h = shapes[-2]
    rows.append((f"{h} × {c_in}", "conv2d 1x1", "-", str(layers[-1].out_channels), "1", "1"))
    c, h = shapes[-1]
    rows.append((f"{h} × {c}", f"avgpool {h}x{h}", "-", "-", "1", "-"))
    rows.append((f"1 × 1 × {c}", "conv2d 1x1", "-", "k", "-", "1"))  # the classifier, k classes
    return rows


def _meta_forward(layer: nn.Module, x: Tensor) -> Tensor:
    # shapes only: run a meta-device copy of the layer (the model itself is left untouched)
    return copy.deepcopy(layer).to("meta").eval()(x)
