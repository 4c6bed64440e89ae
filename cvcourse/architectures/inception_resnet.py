r"""Inception-ResNet-A and -B: inception modules used as the residual function of a skip.

Paper: Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual Connections on
Learning" (https://arxiv.org/abs/1602.07261), Figs. 16-17 (Inception-ResNet-v2's 35x35 and 17x17
blocks). There is no torchvision model to match; channel counts default to the paper's v2 blocks.

Notes, section 2.2.2:

* **A**: three 1x1 convolutions compress the input; one goes straight to the concatenation, one
  through a 3x3, one through two 3x3 (a factorised 5x5). A 1x1 convolution maps the
  concatenation back to the input channels so it can be added to the skip.
* **B**: two paths: a 1x1, and a 1x1 -> 1x7 -> 7x1 (a factorised 7x7). Then 1x1 back, add.

The paper scales the residual by a small factor (0.1-0.3) before the sum, which stabilised
training of very wide networks: :math:`y = \mathrm{ReLU}(x + s \cdot \mathrm{conv}_{1\times1}
([b_1, b_2, b_3]))`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cvcourse._checks import check_float, check_int

__all__ = ["ConvBNReLU", "InceptionResNetA", "InceptionResNetB"]


class ConvBNReLU(nn.Sequential):
    """Conv (no bias) -> BatchNorm -> ReLU with "same" padding for odd (kh, kw) kernels."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 1) -> None:
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        super().__init__(
            nn.Conv2d(in_channels, out_channels, (kh, kw), padding=(kh // 2, kw // 2), bias=False),
            nn.BatchNorm2d(out_channels, eps=0.001),
            nn.ReLU(inplace=True),
        )


class InceptionResNetA(nn.Module):
    """Inception-ResNet-A (35x35 grid of v2: 320 channels, residual scale 0.17).

    Args:
        channels: input = output channels.
        scale: factor on the residual before it is added to the skip.
    """

    def __init__(self, channels: int = 320, scale: float = 0.17) -> None:
        super().__init__()
        check_int("channels", channels, low=1)
        self.scale = check_float("scale", scale)
        self.branch0 = ConvBNReLU(channels, 32, 1)  # 1x1 straight to the concatenation
        self.branch1 = nn.Sequential(ConvBNReLU(channels, 32, 1), ConvBNReLU(32, 32, 3))
        self.branch2 = nn.Sequential(  # two 3x3 = a factorised 5x5
            ConvBNReLU(channels, 32, 1), ConvBNReLU(32, 48, 3), ConvBNReLU(48, 64, 3)
        )
        self.conv = nn.Conv2d(32 + 32 + 64, channels, 1)  # back to the skip's channels
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1)  # [B, 128, H, W]
        return self.relu(x + self.scale * self.conv(out))  # [B, channels, H, W]


class InceptionResNetB(nn.Module):
    """Inception-ResNet-B (17x17 grid of v2: 1088 channels, residual scale 0.1).

    Args:
        channels: input = output channels.
        scale: factor on the residual before it is added to the skip.
    """

    def __init__(self, channels: int = 1088, scale: float = 0.1) -> None:
        super().__init__()
        check_int("channels", channels, low=1)
        self.scale = check_float("scale", scale)
        self.branch0 = ConvBNReLU(channels, 192, 1)
        self.branch1 = nn.Sequential(  # 1x7 then 7x1 = a factorised 7x7
            ConvBNReLU(channels, 128, 1), ConvBNReLU(128, 160, (1, 7)), ConvBNReLU(160, 192, (7, 1))
        )
        self.conv = nn.Conv2d(192 + 192, channels, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.cat([self.branch0(x), self.branch1(x)], 1)  # [B, 384, H, W]
        return self.relu(x + self.scale * self.conv(out))  # [B, channels, H, W]
