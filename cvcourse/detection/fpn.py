r"""The feature pyramid network (FPN, Lin et al. 2017, https://arxiv.org/abs/1612.03144), notes 4.3.3.

A CNN already computes a pyramid: its stages' activations :math:`C_2, C_3, \dots` at strides 4, 8,
... But the early, high-resolution maps are semantically poor. The FPN's **top-down path** gives
every level the semantics of the deepest one. From the deepest level down, for the activation
:math:`A^{(L)}` and the one below it, :math:`A^{(L-1)}`:

1. upsample :math:`A^{(L)}` by nearest neighbour to the size of :math:`A^{(L-1)}`;
2. apply a 1 x 1 convolution (the *lateral* connection) to :math:`A^{(L-1)}` to give it the
   pyramid's number of channels;
3. sum the two, and apply a 3 x 3 convolution to the sum to reduce the aliasing of the upsampling.

The sum (before the 3 x 3 convolution) is what the next, finer level upsamples in its step 1; the
3 x 3 output is the level's pyramid feature :math:`P`.

``FeaturePyramidNetwork`` has the same parameters under the same names as
``torchvision.ops.FeaturePyramidNetwork`` (``inner_blocks.i.0`` the 1 x 1 laterals, ``layer_blocks.i.0``
the 3 x 3 convolutions, ``extra_blocks.p6`` / ``p7``): a state dict loads strictly either way, and
the outputs are the same. ``LastLevelMaxPool`` (Faster R-CNN's extra level "pool") and
``LastLevelP6P7`` (RetinaNet's P6, P7) are torchvision's extra blocks.

``level_of_box`` is the FPN paper's rule for which level a region of interest is pooled from
(its Eq. 1), :math:`k = \lfloor k_0 + \log_2(\sqrt{wh} / 224) \rfloor`, the ``LevelMapper`` of
torchvision's ``MultiScaleRoIAlign``; the notes write :math:`\lceil \cdot \rceil`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvcourse._checks import check_choice, check_float, check_int, check_tensor, check_type

from ._validate import check_boxes

__all__ = ["FeaturePyramidNetwork", "LastLevelMaxPool", "LastLevelP6P7", "level_of_box", "ROUNDINGS"]

ROUNDINGS = ("floor", "ceil")


def _init_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """torchvision's FPN initialisation: Kaiming-uniform weights (a = 1), zero biases."""
    nn.init.kaiming_uniform_(conv.weight, a=1)
    nn.init.constant_(conv.bias, 0)
    return conv


class LastLevelMaxPool(nn.Module):
    """An extra level "pool" under the last one: every second pixel of it (max pooling of size 1,
    stride 2, as torchvision computes it). Faster R-CNN's RPN uses it for its largest anchors."""

    def forward(self, results: list[Tensor], inputs: list[Tensor], names: list[str]):
        return [*results, F.max_pool2d(results[-1], kernel_size=1, stride=2, padding=0)], [*names, "pool"]


class LastLevelP6P7(nn.Module):
    r"""RetinaNet's extra levels: :math:`P_6 = \mathrm{conv}_{3\times3, s2}(x)`,
    :math:`P_7 = \mathrm{conv}_{3\times3, s2}(\mathrm{ReLU}(P_6))`, where :math:`x` is the last pyramid
    level when ``in_channels == out_channels`` and the last backbone map otherwise (torchvision's rule)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels, low=1)
        out_channels = check_int("out_channels", out_channels, low=1)
        self.p6 = _init_conv(nn.Conv2d(in_channels, out_channels, 3, 2, 1))
        self.p7 = _init_conv(nn.Conv2d(out_channels, out_channels, 3, 2, 1))
        self.use_P5 = in_channels == out_channels

    def forward(self, results: list[Tensor], inputs: list[Tensor], names: list[str]):
        p6 = self.p6(results[-1] if self.use_P5 else inputs[-1])
        p7 = self.p7(F.relu(p6))
        return [*results, p6, p7], [*names, "p6", "p7"]


class FeaturePyramidNetwork(nn.Module):
    """The FPN's top-down path over backbone maps given from the finest to the coarsest.

    Args:
        in_channels_list: channels of each input map, finest (highest resolution) first.
        out_channels: channels of every pyramid level.
        extra_blocks: None, ``LastLevelMaxPool()`` or ``LastLevelP6P7(...)`` (or torchvision's), called
            as ``extra_blocks(results, inputs, names) -> (results, names)``.

    ``forward(x)`` takes an ``OrderedDict`` name -> Tensor[N, C_i, H_i, W_i] (finest first) and returns an
    ``OrderedDict`` with the same names (then the extra levels') -> Tensor[N, out_channels, H_i, W_i].
    """

    _version = 2  # torchvision's state-dict version: its loader then reads our keys as they are

    def __init__(
        self, in_channels_list: Sequence[int], out_channels: int, extra_blocks: nn.Module | None = None
    ) -> None:
        super().__init__()
        check_type("in_channels_list", in_channels_list, (list, tuple), "a list of ints (channels per level)")
        if not in_channels_list:
            raise ValueError("in_channels_list must name at least one level, got an empty list")
        self.in_channels_list = [
            check_int(f"in_channels_list[{i}]", c, low=1) for i, c in enumerate(in_channels_list)
        ]
        self.out_channels = check_int("out_channels", out_channels, low=1)
        if extra_blocks is not None:
            check_type("extra_blocks", extra_blocks, nn.Module, "None or an extra-block module")
        # one-layer Sequentials only for the keys: torchvision's blocks are Conv2dNormActivation
        self.inner_blocks = nn.ModuleList(  # step 2: the 1 x 1 laterals
            nn.Sequential(_init_conv(nn.Conv2d(c, self.out_channels, 1))) for c in self.in_channels_list
        )
        self.layer_blocks = nn.ModuleList(  # step 3: the 3 x 3 anti-aliasing convolutions
            nn.Sequential(_init_conv(nn.Conv2d(self.out_channels, self.out_channels, 3, padding=1)))
            for _ in self.in_channels_list
        )
        self.extra_blocks = extra_blocks

    def _check_input(self, x) -> tuple[list[str], list[Tensor]]:
        check_type("x", x, Mapping, "an OrderedDict of feature maps name -> Tensor[N, C, H, W], finest first")
        if len(x) != len(self.in_channels_list):
            raise ValueError(
                f"x must hold {len(self.in_channels_list)} feature maps (one per in_channels_list entry), "
                f"got {len(x)}"
            )
        sizes: dict = {}
        for (name, feature), channels in zip(x.items(), self.in_channels_list, strict=True):
            check_tensor(
                f"x[{name!r}]", feature, shape=("N", channels, None, None), dtype="float", sizes=sizes
            )
        return list(x), list(x.values())

    def forward(self, x: Mapping[str, Tensor]) -> OrderedDict[str, Tensor]:
        names, features = self._check_input(x)
        top = self.inner_blocks[-1](features[-1])  # the deepest level: its lateral only
        results = [self.layer_blocks[-1](top)]
        for i in range(len(features) - 2, -1, -1):
            lateral = self.inner_blocks[i](features[i])  # step 2: 1 x 1 conv to out_channels
            upsampled = F.interpolate(top, size=lateral.shape[-2:], mode="nearest")  # step 1
            top = lateral + upsampled  # step 3: the sum travels on down
            results.insert(0, self.layer_blocks[i](top))  # step 3: 3 x 3 against aliasing
        if self.extra_blocks is not None:
            results, names = self.extra_blocks(list(results), features, list(names))
        return OrderedDict(zip(names, results, strict=True))


def level_of_box(
    boxes: Tensor,
    k0: int = 4,
    canonical: float = 224,
    k_min: int = 2,
    k_max: int = 5,
    rounding: str = "floor",
    eps: float = 1e-6,
) -> Tensor:
    r"""The pyramid level :math:`P_k` a box of size :math:`w \times h` is pooled from (FPN, Eq. 1):

    .. math:: k = \mathrm{clamp}\Bigl(\bigl\lfloor k_0 + \log_2 \tfrac{\sqrt{wh}}{224} + \epsilon
        \bigr\rfloor,\ k_{\min},\ k_{\max}\Bigr)

    A 224 x 224 box (ImageNet's size) goes to :math:`k_0`; a box half as wide to :math:`k_0 - 1`,
    where the map has twice the resolution. The paper floors; the notes write the ceiling
    (``rounding="ceil"``: :math:`\lceil k_0 + \log_2(\sqrt{wh}/224) - \epsilon \rceil`), which sends
    every box that is not exactly a power of 2 times 224 one level coarser. ``eps`` keeps exact powers
    of 2 on their level despite rounding errors of ``log2`` (torchvision's ``LevelMapper`` adds it the
    same way). Zero-area boxes (:math:`\log_2 0 = -\infty`) and huge ones are clamped to
    :math:`[k_{\min}, k_{\max}]`.

    Args:
        boxes (Tensor[N, 4]): (x1, y1, x2, y2).
        k0: the level of a ``canonical``-sized box (4 in the paper).
        canonical: the canonical box side, 224.
        k_min, k_max: the pyramid's levels (2 .. 5 in Faster R-CNN with FPN).
        rounding: ``"floor"`` (the paper, torchvision) or ``"ceil"`` (the notes).
        eps: the small number added before flooring (subtracted before the ceiling).

    Returns:
        Tensor[N] int64: the level k of each box; ``LevelMapper`` returns ``k - k_min``.
    """
    boxes = check_boxes("boxes", boxes)
    k0 = check_int("k0", k0)
    canonical = check_float("canonical", canonical, low=0.0, low_inclusive=False)
    k_min, k_max = check_int("k_min", k_min), check_int("k_max", k_max)
    if k_min > k_max:
        raise ValueError(f"k_min must be <= k_max, got k_min={k_min} and k_max={k_max}")
    check_choice("rounding", rounding, ROUNDINGS)
    eps = check_float("eps", eps, low=0.0)
    if not boxes.is_floating_point():
        boxes = boxes.float()
    side = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))  # sqrt(wh)
    level = k0 + torch.log2(side / canonical)
    eps_t = torch.tensor(eps, dtype=side.dtype)
    level = torch.floor(level + eps_t) if rounding == "floor" else torch.ceil(level - eps_t)
    return level.clamp(min=k_min, max=k_max).to(torch.int64)
