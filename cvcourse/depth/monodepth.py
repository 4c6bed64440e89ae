r"""A small Monodepth: an encoder-decoder that predicts disparity from one image, trained on stereo pairs.

Godard, Mac Aodha & Brostow, "Unsupervised Monocular Depth Estimation with Left-Right Consistency",
CVPR 2017 (https://arxiv.org/abs/1609.03677). The network sees **only the left image** and outputs
two disparity maps, the left view's :math:`d_L` and the right view's :math:`d_R`, at four scales.
Training needs the right image too, but no depth: the left image is rebuilt from the right one with
:math:`d_L` (backward sampling, :func:`cvcourse.depth.warp.reconstruct_left`), the right one from the
left with :math:`d_R`, and the loss (notes, Fig. 6.4; paper eq. 1) is, summed over scales :math:`s`,

.. math::

    C_s = \alpha_{ap} (C^l_{ap} + C^r_{ap}) + \alpha_{ds} (C^l_{ds} + C^r_{ds})
          + \alpha_{lr} (C^l_{lr} + C^r_{lr}),

with :math:`\alpha_{ap} = 1`, :math:`\alpha_{ds} = 0.1 / 2^s` and :math:`\alpha_{lr} = 1`
(:mod:`cvcourse.depth.losses`). At test time only :math:`d_L` of the finest scale is used.

Departures from the paper, for a CPU-sized course model: ~0.5 M parameters instead of 31 M (four
stride-2 stages of two 3 x 3 convolutions, ELU, skip connections, nearest upsampling); disparities
are in pixels of the input image, :math:`d = d_\max \sigma(\cdot)`, rather than a fraction of the
width (the left-right term is divided by the width, so that its weight means what the paper's does);
the output starts at :math:`0.2\, d_\max` instead of :math:`0.5\, d_\max`. As in the paper, the
loss of a coarse scale compares images area-downsampled to that scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvcourse._checks import check_float, check_int, check_tensor

from .losses import lr_consistency_loss, photometric_loss, smoothness_loss
from .warp import reconstruct_left, reconstruct_right

__all__ = ["MonodepthConfig", "Monodepth", "monodepth_loss", "monodepth_step"]


@dataclass
class MonodepthConfig:
    max_disparity: float = 16.0  # largest disparity the network can output, in pixels
    width: int = 16  # channels of the first stage; doubled at every stage
    num_scales: int = 4  # disparity outputs at 1/8, 1/4, 1/2 and full resolution


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.ELU())


class Monodepth(nn.Module):
    """Image [N, 3, H, W] in [0, 1] (H, W multiples of 16) -> left disparity [N, 1, H, W] in pixels.

    ``model(x)`` gives the finest left disparity (what inference uses); ``model.scales(x)`` gives the
    list of the ``num_scales`` outputs, coarsest first, Tensor[N, 2, H / 2**s, W / 2**s] at scale
    ``s`` (channel 0 the left view's disparity, channel 1 the right view's), in pixels of the input.
    """

    def __init__(self, max_disparity: float = 16.0, width: int = 16, num_scales: int = 4) -> None:
        super().__init__()
        self.config = MonodepthConfig(
            check_float("max_disparity", max_disparity, low=0.0, low_inclusive=False),
            check_int("width", width, low=1),
            check_int("num_scales", num_scales, low=1, high=4),
        )
        c = [width * 2**i for i in range(4)]  # encoder channels at H/2 .. H/16: 16, 32, 64, 128
        stages = zip([3, *c[:-1]], c, strict=True)  # (in, out) channels of each stage
        self.encoder = nn.ModuleList([nn.Sequential(_conv(i, o, 2), _conv(o, o)) for i, o in stages])
        # decoder stage i works at H / 2**i: upsample the stage below, reduce its channels,
        # concatenate the encoder's map of the same size (the image itself at i = 0), convolve
        out = [c[0], c[0], c[1], c[2]]  # decoder channels at H, H/2, H/4, H/8
        skip = [3, c[0], c[1], c[2]]
        below = [out[1], out[2], out[3], c[3]]
        self.up = nn.ModuleList([_conv(below[i], out[i]) for i in range(4)])
        self.fuse = nn.ModuleList([_conv(out[i] + skip[i], out[i]) for i in range(4)])
        self.heads = nn.ModuleList([nn.Conv2d(out[i], 2, 3, 1, 1) for i in range(4)])
        for head in self.heads:
            # Start at 0.2 * max_disparity (sigmoid(b) = 0.2), a far plane, rather than at half the
            # range: a photometric gradient only sees a pixel or two around the current disparity.
            nn.init.constant_(head.bias, math.log(0.2 / 0.8))

    @property
    def max_disparity(self) -> float:
        return self.config.max_disparity

    def scales(self, x: Tensor) -> list[Tensor]:
        """The multi-scale disparities, coarsest first: Tensor[N, 2, H / 2**s, W / 2**s], in input pixels."""
        check_tensor("x", x, shape=(None, 3, None, None), dtype="float")
        if x.shape[-1] % 16 or x.shape[-2] % 16:
            raise ValueError(f"x's height and width must be multiples of 16, got {list(x.shape[-2:])}")
        skips = [x]
        for stage in self.encoder:  # [N, 16, H/2], [N, 32, H/4], [N, 64, H/8], [N, 128, H/16]
            skips.append(stage(skips[-1]))
        y = skips[-1]
        outputs = []
        for i in (3, 2, 1, 0):  # decoder: H/8, H/4, H/2, H
            y = self.up[i](F.interpolate(y, scale_factor=2, mode="nearest"))
            y = self.fuse[i](torch.cat([y, skips[i]], dim=1))  # skip from the encoder (the image at i=0)
            if i < self.config.num_scales:
                outputs.append(self.max_disparity * torch.sigmoid(self.heads[i](y)))  # [N, 2, h, w]
        return outputs

    def forward(self, x: Tensor) -> Tensor:
        return self.scales(x)[-1][:, :1]  # [N, 1, H, W] the finest left disparity


def monodepth_loss(
    scales: list[Tensor], left: Tensor, right: Tensor, smoothness_weight: float = 0.1, lr_weight: float = 1.0
) -> tuple[Tensor, dict[str, float]]:
    r"""Monodepth's loss summed over scales (paper eq. 1): appearance + smoothness + left-right.

    Args:
        scales: the network's outputs, coarsest first, Tensor[B, 2, H / 2**s, W / 2**s] (left,
            right disparity in pixels of the full image).
        left, right: Tensor[B, 3, H, W], the stereo pair.
        smoothness_weight: :math:`\alpha_{ds}` at the finest scale (divided by :math:`2^s` at
            scale :math:`s`, coarser scales having larger :math:`s`).
        lr_weight: :math:`\alpha_{lr}`.

    Returns:
        ``(loss, parts)``: the total (one-element tensor) and the three terms summed over scales.
    """
    sizes: dict[str, int] = {}
    check_tensor("left", left, shape=("B", 3, "H", "W"), dtype="float", sizes=sizes)
    check_tensor("right", right, shape=("B", 3, "H", "W"), dtype="float", sizes=sizes)
    check_float("smoothness_weight", smoothness_weight, low=0.0)
    check_float("lr_weight", lr_weight, low=0.0)
    parts = {"appearance": 0.0, "smoothness": 0.0, "lr": 0.0}
    total = left.new_zeros(())
    for s, disparity in enumerate(reversed(scales)):  # s = 0 is the finest scale
        check_tensor(
            f"scales[{len(scales) - 1 - s}]",
            disparity,
            shape=(left.shape[0], 2, left.shape[2] >> s, left.shape[3] >> s),
            dtype="float",
        )
        # the pair at this scale (area averages) and the disparity in this scale's pixels
        im_l, im_r = (F.avg_pool2d(im, 2**s) if s else im for im in (left, right))
        width = im_l.shape[-1]
        d_left, d_right = disparity[:, :1] / 2**s, disparity[:, 1:] / 2**s
        appearance = photometric_loss(im_l, reconstruct_left(im_r, d_left)) + photometric_loss(
            im_r, reconstruct_right(im_l, d_right)
        )
        smooth = smoothness_loss(d_left, im_l) + smoothness_loss(d_right, im_r)
        # right term: d_R(u) against d_L(u + d_R(u)), i.e. the left-right loss of the mirrored pair
        lr = (
            lr_consistency_loss(d_left, d_right) + lr_consistency_loss(d_right.flip(-1), d_left.flip(-1))
        ) / width
        total = total + appearance + smoothness_weight / 2**s * smooth + lr_weight * lr
        for key, value in (("appearance", appearance), ("smoothness", smooth), ("lr", lr)):
            parts[key] += float(value.detach())
    return total, parts


def monodepth_step(
    model: Monodepth, batch: tuple[Tensor, ...], device: torch.device
) -> tuple[Tensor, Tensor, Tensor]:
    """``step_fn`` for :func:`cvcourse.train.fit`: the batch is ``(left, right, disparity)``.

    The true disparity is **not** used by the loss (self-supervision); it is only handed back as the
    "targets" so that ``fit`` can report depth metrics on the validation pairs.

    Returns:
        ``(loss, left disparity [B, 1, H, W], true disparity [B, H, W])``.
    """
    left, right, disparity = batch[0], batch[1], batch[2]
    scales = model.scales(left)
    loss, _ = monodepth_loss(scales, left, right)
    return loss, scales[-1][:, :1], disparity
