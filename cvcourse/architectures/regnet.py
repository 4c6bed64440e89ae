r"""RegNet's design-space idea: sample networks from a space, train each briefly, compare error CDFs.

Paper: Radosavovic et al., "Designing Network Design Spaces" (https://arxiv.org/abs/2003.13678).
The networks here are small "AnyNetX" models (stem -> 4 stages of X blocks -> head), scaled down
for 32-64 px synthetic images so that a handful can be trained on a laptop CPU.

Notes, section 2.8. Stage i has depth :math:`d_i`, width :math:`w_i`, groups :math:`g_i` and
bottleneck ratio :math:`b_i`: 16 numbers for 4 stages. To judge a design space, sample n models,
train each in a short regime and plot the empirical error distribution function

.. math:: F(e) = \frac{1}{n} \sum_{i=1}^{n} \mathbf{1}[e_i < e]

(``error_cdf``). A curve further up-left is a better space. Two spaces are provided:

* ``"free"`` (AnyNetXA): every stage samples d, w, g, b independently;
* ``"shared"`` (AnyNetXC + XD): one b and one g for all stages, and widths that never shrink,
  the paper's first two restrictions, which cut the space without hurting F(e).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from cvcourse._checks import check_choice, check_int, check_tensor, check_type

__all__ = ["AnyNetConfig", "XBlock", "AnyNet", "sample_config", "error_cdf", "DESIGN_SPACES"]

DEPTHS = (1, 2, 3)
WIDTHS = (8, 16, 24, 32, 48, 64)
GROUPS = (1, 2, 4, 8)
BOTTLENECKS = (1, 2, 4)
DESIGN_SPACES = ("free", "shared")


@dataclass(frozen=True)
class AnyNetConfig:
    """Per-stage depth d_i, width w_i, groups g_i and bottleneck ratio b_i (4 stages)."""

    depths: tuple[int, ...]
    widths: tuple[int, ...]
    groups: tuple[int, ...]
    bottlenecks: tuple[int, ...]


class XBlock(nn.Module):
    """ResNeXt-style block: 1x1 (w -> w/b) -> grouped 3x3 (stride) -> 1x1 (w/b -> w), plus skip."""

    def __init__(self, in_channels: int, width: int, stride: int, groups: int, bottleneck: int):
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("width", width),
            ("stride", stride),
            ("groups", groups),
            ("bottleneck", bottleneck),
        ):
            check_int(name, value, low=1)
        inner = width // bottleneck
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, inner, 1, bias=False),
            nn.BatchNorm2d(inner),
            nn.ReLU(inplace=True),
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(inner, inner, 3, stride, 1, groups=groups, bias=False),
            nn.BatchNorm2d(inner),
            nn.ReLU(inplace=True),
        )
        self.conv3 = nn.Sequential(nn.Conv2d(inner, width, 1, bias=False), nn.BatchNorm2d(width))
        self.shortcut = None
        if stride != 1 or in_channels != width:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, width, 1, stride, bias=False), nn.BatchNorm2d(width)
            )

    def forward(self, x: Tensor) -> Tensor:
        skip = x if self.shortcut is None else self.shortcut(x)
        return torch.relu(skip + self.conv3(self.conv2(self.conv1(x))))


class AnyNet(nn.Module):
    """Stem (3x3/2, 16 ch, as RegNet's) -> stages (stages 2-4 start with stride 2) -> GAP -> fc."""

    def __init__(self, config: AnyNetConfig, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.config = check_type("config", config, AnyNetConfig, "an AnyNetConfig")
        check_int("num_classes", num_classes, low=1)
        self.in_channels = check_int("in_channels", in_channels, low=1)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, 2, 1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
        )
        stages, channels = [], 16
        for i, (d, w, g, b) in enumerate(
            zip(config.depths, config.widths, config.groups, config.bottlenecks, strict=True)
        ):
            blocks = []
            for j in range(d):
                blocks.append(XBlock(channels, w, 2 if i > 0 and j == 0 else 1, g, b))
                channels = w
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        check_tensor("x", x, shape=("B", self.in_channels, "H", "W"), dtype="float")
        x = self.stages(self.stem(x))  # [B, w_4, H/16, W/16]
        return self.fc(x.mean(dim=(2, 3)))  # [B, num_classes]


def _valid_groups(width: int, bottleneck: int) -> list[int]:
    # the grouped 3x3 needs groups dividing its width w / b
    return [g for g in GROUPS if (width // bottleneck) % g == 0 and width % bottleneck == 0]


def sample_config(space: str, rng: random.Random, num_stages: int = 4) -> AnyNetConfig:
    """Draw one configuration uniformly from design space ``space`` ("free" or "shared")."""
    check_choice("space", space, DESIGN_SPACES)
    check_type("rng", rng, random.Random, "a random.Random")
    check_int("num_stages", num_stages, low=1)
    depths = tuple(rng.choice(DEPTHS) for _ in range(num_stages))
    if space == "free":
        widths = tuple(rng.choice(WIDTHS) for _ in range(num_stages))
        bottlenecks = tuple(
            rng.choice([b for b in BOTTLENECKS if w % b == 0 and w // b >= 4]) for w in widths
        )
        pairs = zip(widths, bottlenecks, strict=True)
        groups = tuple(rng.choice(_valid_groups(w, b)) for w, b in pairs)
    else:
        widths = tuple(sorted(rng.choice(WIDTHS) for _ in range(num_stages)))  # w_{i+1} >= w_i
        b = rng.choice([b for b in BOTTLENECKS if all(w % b == 0 and w // b >= 4 for w in widths)])
        g = rng.choice([g for g in GROUPS if all((w // b) % g == 0 for w in widths)])
        bottlenecks, groups = (b,) * num_stages, (g,) * num_stages
    return AnyNetConfig(depths, widths, groups, bottlenecks)


def error_cdf(errors: Sequence[float], e: float | Sequence[float]) -> np.ndarray:
    r"""The empirical error distribution :math:`F(e) = \frac{1}{n}\sum_i \mathbf{1}[e_i < e]`.

    Args:
        errors: e_1, ..., e_n, the errors of the n sampled models (n >= 1).
        e: one threshold or an array of thresholds.

    Returns:
        F at each threshold (same shape as ``e``), values in [0, 1].
    """
    errs = np.asarray(errors, dtype=np.float64).ravel()  # [n]
    if errs.size == 0:
        raise ValueError("errors must hold at least one model's error, got an empty sequence")
    if np.isnan(errs).any():
        raise ValueError(f"errors must not contain NaN, got {int(np.isnan(errs).sum())} NaN of {errs.size}")
    thresholds = np.asarray(e, dtype=np.float64)
    return (errs[None, :] < thresholds.reshape(-1, 1)).mean(axis=1).reshape(thresholds.shape)
