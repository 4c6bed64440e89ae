r"""Squeeze-and-excitation: re-weight the channels of an activation.

Paper: Hu et al., "Squeeze-and-Excitation Networks" (https://arxiv.org/abs/1709.01507).
Matches ``torchvision.ops.SqueezeExcitation`` (same attribute names ``fc1``/``fc2``, same outputs).

Notes, section 2.4: the output channel :math:`\tilde{x}_c = s_c x_c` with :math:`s_c \in [0, 1]`:

* **squeeze**: global average pooling gives one number per channel, :math:`z = \mathrm{GAP}(x)`;
* **excitation**: a two-layer network compresses the channels by a ratio :math:`r` (typically 16)
  and restores them, :math:`s = \sigma(W_2\, \delta(W_1 z))`.

Symbols -> code: ``z = avgpool(x)``, :math:`W_1` = ``fc1`` (C -> C/r), :math:`\delta` =
``activation`` (ReLU), :math:`W_2` = ``fc2`` (C/r -> C), :math:`\sigma` = ``scale_activation``
(sigmoid). The fully connected layers are 1x1 convolutions on the [B, C, 1, 1] vector, as in
torchvision, so no reshape is needed.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from cvcourse._checks import check_int, check_tensor, check_type

__all__ = ["SqueezeExcitation", "SEBottleneck"]


class SqueezeExcitation(nn.Module):
    r"""Squeeze-and-excitation block: ``x * sigmoid(fc2(relu(fc1(avgpool(x)))))``.

    Args:
        input_channels: C, the channels of the input (and output).
        squeeze_channels: C / r, the width of the bottleneck.
        activation: the non-linearity :math:`\delta` between the two layers (ReLU).
        scale_activation: the gate :math:`\sigma` that maps to [0, 1] (sigmoid).
    """

    def __init__(
        self,
        input_channels: int,
        squeeze_channels: int,
        activation: Callable[..., nn.Module] = nn.ReLU,
        scale_activation: Callable[..., nn.Module] = nn.Sigmoid,
    ) -> None:
        super().__init__()
        check_int("input_channels", input_channels, low=1)
        check_int("squeeze_channels", squeeze_channels, low=1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def scale(self, x: Tensor) -> Tensor:
        """The per-channel factors :math:`s` ([B, C, 1, 1], in [0, 1] for a sigmoid gate)."""
        z = self.avgpool(x)  # squeeze: [B, C, 1, 1]
        z = self.activation(self.fc1(z))  # [B, C/r, 1, 1]
        return self.scale_activation(self.fc2(z))  # excitation: [B, C, 1, 1]

    def forward(self, x: Tensor) -> Tensor:
        check_tensor("x", x, shape=("B", self.fc1.in_channels, "H", "W"), dtype="float")
        return self.scale(x) * x  # x~_c = s_c x_c, broadcast over H, W


class SEBottleneck(nn.Module):
    """SE-ResNet module (notes Fig. 2.5; Hu et al., https://arxiv.org/abs/1709.01507, Fig. 3): a ResNet
    bottleneck whose residual branch is re-weighted by squeeze-and-excitation *before* the sum,
    ``relu(x + SE(F(x)))``; the skip is left untouched.

    ``block`` is a ``cvcourse.architectures.resnet.Bottleneck``, kept as an attribute so its weights
    (and its downsample) are the plain bottleneck's.
    """

    def __init__(self, block: nn.Module, reduction: int = 16) -> None:
        super().__init__()
        from .resnet import Bottleneck  # the plain block this one extends

        check_type("block", block, Bottleneck, "a resnet.Bottleneck")
        check_int("reduction", reduction, low=1)
        channels = block.conv3.out_channels
        self.block = block
        self.se = SqueezeExcitation(channels, max(1, channels // reduction))

    def forward(self, x: Tensor) -> Tensor:
        b = self.block
        identity = x if b.downsample is None else b.downsample(x)
        out = b.relu(b.bn1(b.conv1(x)))  # [B, width, H, W]
        out = b.relu(b.bn2(b.conv2(out)))  # [B, width, H/s, W/s]
        out = b.bn3(b.conv3(out))  # F(x): [B, 4 planes, H/s, W/s]
        return b.relu(self.se(out) + identity)  # SE on the branch, then the skip
