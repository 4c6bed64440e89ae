r"""Pyramid pooling: SPP (appendix 5.A) and PSPNet's pyramid pooling module (``003_...``'s slides).

Both pool one feature map into a few fixed grids of bins, :math:`n \times n` for :math:`n` in
``levels``; bin :math:`i` of :math:`n` along a side of length :math:`L` covers
:math:`[\lfloor iL/n \rfloor, \lceil (i+1)L/n \rceil)` (= ``F.adaptive_max_pool2d`` /
``adaptive_avg_pool2d``, tested). The two differ in what they do with the bins:

* **SPP** (He et al. 2014) max-pools and **flattens**: a vector of fixed length
  :math:`C \sum_n n^2` whatever the input size (a classifier head for any image size, global
  pooling that keeps some layout);
* **PSP** (Zhao et al. 2017) average-pools, reduces each level with a 1x1 conv, **upsamples** every
  level back to the map's size and concatenates them with the map: every pixel gets context from
  the whole image (bin 1), halves, thirds, sixths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvcourse._checks import check_choice, check_int, check_tensor, check_type

__all__ = ["adaptive_pool", "spatial_pyramid_pool", "PyramidPooling"]


def adaptive_pool(x: Tensor, n: int, mode: str = "max") -> Tensor:
    """Pool ``x`` [N, C, H, W] into ``n x n`` bins with the bin edges above (a loop over the bins)."""
    check_tensor("x", x, ndim=4, dtype="float")
    n = check_int("n", n, low=1)
    check_choice("mode", mode, ("max", "avg"))
    h, w = x.shape[-2:]
    out = x.new_empty(*x.shape[:2], n, n)
    for i in range(n):
        r0, r1 = (i * h) // n, math.ceil((i + 1) * h / n)
        for j in range(n):
            c0, c1 = (j * w) // n, math.ceil((j + 1) * w / n)
            cell = x[..., r0:r1, c0:c1]
            out[..., i, j] = cell.amax((-2, -1)) if mode == "max" else cell.mean((-2, -1))
    return out


def spatial_pyramid_pool(x: Tensor, levels: Sequence[int] = (1, 2, 4)) -> Tensor:
    r"""SPP: max-pool into each ``n x n`` grid and concatenate the flattened grids:
    ``[N, C, H, W] -> [N, C * sum(n^2)]`` for any ``H, W`` (at least ``max(levels)``)."""
    check_tensor("x", x, ndim=4, dtype="float")
    check_type("levels", levels, (list, tuple), "a list of grid sizes")
    levels = [check_int(f"levels[{i}]", n, low=1) for i, n in enumerate(levels)]
    if min(x.shape[-2:]) < max(levels):
        raise ValueError(
            f"x must be at least {max(levels)} pixels on a side for levels {levels}, got {list(x.shape)}"
        )
    return torch.cat([adaptive_pool(x, n, "max").flatten(1) for n in levels], dim=1)


class PyramidPooling(nn.Module):
    """PSPNet's pyramid pooling module: for each bin size, adaptive average pooling, a 1x1 conv to
    ``in_channels // len(bins)`` channels (+ BN + ReLU), bilinear upsampling to the map's size;
    the result is the map concatenated with every level: ``[N, 2 C, H, W]``.

    Args:
        in_channels: ``C`` (divisible by ``len(bins)``).
        bins: the grid sizes (the paper's 1, 2, 3, 6).
    """

    def __init__(self, in_channels: int, bins: Sequence[int] = (1, 2, 3, 6)) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels, low=1)
        check_type("bins", bins, (list, tuple), "a list of grid sizes")
        self.bins = tuple(check_int(f"bins[{i}]", b, low=1) for i, b in enumerate(bins))
        if in_channels % len(self.bins):
            raise ValueError(
                f"in_channels must be divisible by len(bins) = {len(self.bins)}, got {in_channels}"
            )
        reduced = in_channels // len(self.bins)
        self.levels = nn.ModuleList(
            nn.Sequential(nn.Conv2d(in_channels, reduced, 1, bias=False), nn.BatchNorm2d(reduced), nn.ReLU())
            for _ in self.bins
        )

    def forward(self, x: Tensor) -> Tensor:
        check_tensor("x", x, ndim=4, dtype="float")
        size = x.shape[-2:]
        pooled = [
            F.interpolate(level(F.adaptive_avg_pool2d(x, b)), size=size, mode="bilinear", align_corners=False)
            for b, level in zip(self.bins, self.levels, strict=True)
        ]
        return torch.cat([x, *pooled], dim=1)
