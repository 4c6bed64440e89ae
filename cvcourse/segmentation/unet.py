r"""U-Net: an encoder that finds *what* is in the image, a decoder that finds *where*, joined by skips.

Paper: Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation" (https://arxiv.org/abs/1505.04597).

Notes, section 5.1.4. The encoder is a stack of levels, each two 3x3 convolutions (+ BN + ReLU)
followed by a 2x2 max-pool that halves the size; the number of channels doubles at every level.
The decoder mirrors it: a 2x2 transposed convolution with stride 2 doubles the size, the encoder's
activation of the same level is **concatenated** (the skip), and two 3x3 convolutions refine the
result. Only at the end a 1x1 scoring layer gives one channel per class.

Departures from the paper, both as in "modern implementations" (notes, figure 5.3):

* ``same`` padding (the paper used ``valid`` convolutions, so its output was smaller than its
  input, and tiled large images with overlapping windows: the *overlap-tile* strategy); here the
  output has the input's size, which must be divisible by ``2 ** depth``;
* BatchNorm after each convolution (the 2015 paper predates its use in U-Nets).

Shapes, for ``width=w`` and ``depth=d``: level ``l`` (0-based) of the encoder works at
``H / 2**l`` with ``w * 2**l`` channels; the bottleneck at ``H / 2**d`` with ``w * 2**d``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from cvcourse._checks import check_int, check_tensor

__all__ = ["UNetConfig", "DoubleConv", "UNet"]


@dataclass
class UNetConfig:
    in_channels: int = 3
    num_classes: int = 9
    width: int = 16  # channels of the first level; doubled at every level
    depth: int = 3  # number of 2x downsamplings (the paper: 4, with width 64)


class DoubleConv(nn.Sequential):
    """(3x3 conv, same padding -> BN -> ReLU) twice: one level of the U."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),  # BN's shift is the bias
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """Image [N, C, H, W] -> logits [N, num_classes, H, W] (H, W divisible by ``2 ** depth``).

    Args:
        in_channels: channels of the input image (3).
        num_classes: output channels, one per class (9 for ``ShapesSegmentation``).
        width: channels of the first level (the paper: 64).
        depth: number of down/up-sampling steps (the paper: 4).

    ``model.config`` holds the arguments: ``UNet(**asdict(model.config))`` rebuilds the model.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 9, width: int = 16, depth: int = 3) -> None:
        super().__init__()
        self.config = UNetConfig(
            check_int("in_channels", in_channels, low=1),
            check_int("num_classes", num_classes, low=1),
            check_int("width", width, low=1),
            check_int("depth", depth, low=1, high=6),
        )
        channels = [width * 2**level for level in range(depth + 1)]  # w, 2w, 4w, ... (bottleneck last)
        self.down = nn.ModuleList([DoubleConv(in_channels, channels[0])])
        self.down.extend(DoubleConv(channels[i], channels[i + 1]) for i in range(depth))
        self.pool = nn.MaxPool2d(2)
        # decoder, deepest level first: upsample 2x (halving the channels), concat skip, refine
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(channels[i + 1], channels[i], kernel_size=2, stride=2)
            for i in reversed(range(depth))
        )
        self.fuse = nn.ModuleList(DoubleConv(2 * channels[i], channels[i]) for i in reversed(range(depth)))
        self.score = nn.Conv2d(channels[0], num_classes, kernel_size=1)  # the scoring layer

    def forward(self, x: Tensor) -> Tensor:
        check_tensor("x", x, shape=("N", self.config.in_channels, "H", "W"), dtype="float")
        multiple = 2**self.config.depth
        if x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise ValueError(
                f"x's height and width must be divisible by 2**depth = {multiple}, got shape {list(x.shape)}"
            )
        features = self.encode(x)
        x = features.pop()  # the bottleneck [N, 2^d w, H / 2^d, W / 2^d]
        for up, fuse in zip(self.up, self.fuse, strict=True):
            x = up(x)  # [N, c, 2h, 2w]: twice the size, half the channels
            x = fuse(torch.cat([features.pop(), x], dim=1))  # the skip: concatenate, then refine
        return self.score(x)  # [N, num_classes, H, W]

    def encode(self, x: Tensor) -> list[Tensor]:
        """The encoder's activation at every level, finest first: ``[N, w 2^l, H / 2^l, W / 2^l]``
        for ``l = 0 .. depth`` (the last is the bottleneck). A classifier on the bottleneck is how
        the encoder is pre-trained (:func:`cvcourse.segmentation.training.pretrain_vs_scratch`)."""
        features = [self.down[0](x)]  # [N, w, H, W]
        for level in self.down[1:]:
            features.append(level(self.pool(features[-1])))  # halve the size, double the channels
        return features

    def rebuild(self) -> UNet:
        """A fresh, untrained model of the same configuration."""
        return UNet(**asdict(self.config))
