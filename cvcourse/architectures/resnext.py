r"""The ResNeXt block in its two forms, and the proof (as code) that they are the same function.

Paper: Xie et al., "Aggregated Residual Transformations for Deep Neural Networks"
(https://arxiv.org/abs/1611.05431), Fig. 3 (a) and (c).

Notes, section 2.3. A ResNeXt block with G branches of width d,

.. math:: y = x + \sum_{b=1}^{G} \mathcal{T}_b(x),
          \qquad \mathcal{T}_b = \text{1x1 } (C \to d) \to \text{3x3 } (d \to d)
          \to \text{1x1 } (d \to C),

equals a bottleneck block whose 3x3 is a *grouped* convolution with G groups on G*d channels:

* last 1x1: :math:`y_k = \sum_b w_k^{(b)} \cdot a^{(b)} + x_k
  = [w_k^{(1)} \dots w_k^{(G)}] \cdot
  [a^{(1)} \dots a^{(G)}] + x_k`, one 1x1 conv on the G*d stacked channels;
* first 1x1: G convs of the same input = one conv with G*d outputs, split afterwards;
* middle 3x3: branch b only sees its own d channels = a grouped convolution with G groups.

``ResNeXtBranchBlock`` is form (a) (explicit branches, summed), ``ResNeXtGroupedBlock`` form (c)
(attribute names of ``torchvision.models.resnet.Bottleneck``, so its state dict loads into
``Bottleneck(C, C // 4, groups=G, base_width=...)``); ``branches_to_grouped`` copies the weights
across exactly as the three bullet points say. The BatchNorms are per channel, so a BN on each
branch's d channels is the slice of one BN on the G*d channels; the last BN acts on the sum.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cvcourse._checks import check_int, check_type

__all__ = [
    "ResNeXtBranchBlock",
    "ResNeXtGroupedBlock",
    "branches_to_grouped",
    "block_weights",
    "flop_matched_width",
]


def _check(channels: int, cardinality: int, width: int) -> None:
    check_int("channels", channels, low=1)
    check_int("cardinality", cardinality, low=1)
    check_int("width", width, low=1)


class ResNeXtBranchBlock(nn.Module):
    """Form (a): G parallel bottleneck branches whose outputs are summed, plus the skip.

    Args:
        channels: C, input and output channels.
        cardinality: G, the number of branches.
        width: d, the channels inside each branch.
    """

    def __init__(self, channels: int, cardinality: int, width: int) -> None:
        super().__init__()
        _check(channels, cardinality, width)
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(channels, width, 1, bias=False),  # 0: compress C -> d
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1, bias=False),  # 3: transform d -> d
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.Conv2d(width, channels, 1, bias=False),  # 6: expand d -> C
            )
            for _ in range(cardinality)
        )
        self.bn3 = nn.BatchNorm2d(channels)  # on the aggregated sum
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        total = sum(branch(x) for branch in self.branches)  # [B, C, H, W]
        return self.relu(self.bn3(total) + x)


class ResNeXtGroupedBlock(nn.Module):
    """Form (c): 1x1 (C -> G*d) -> grouped 3x3 (G groups) -> 1x1 (G*d -> C), plus the skip.

    Same layers and names as torchvision's ``Bottleneck`` with ``groups=G`` (no down-sampling).
    """

    def __init__(self, channels: int, cardinality: int, width: int) -> None:
        super().__init__()
        _check(channels, cardinality, width)
        inner = cardinality * width
        self.conv1 = nn.Conv2d(channels, inner, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, inner, 3, padding=1, groups=cardinality, bias=False)
        self.bn2 = nn.BatchNorm2d(inner)
        self.conv3 = nn.Conv2d(inner, channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # [B, G*d, H, W]
        out = self.relu(self.bn2(self.conv2(out)))  # [B, G*d, H, W], group g sees channels g*d:(g+1)*d
        out = self.bn3(self.conv3(out))  # [B, C, H, W]
        return self.relu(out + x)


def _copy_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d, sl: slice) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(dst, name)[sl] = getattr(src, name)
    dst.num_batches_tracked.copy_(src.num_batches_tracked)


@torch.no_grad()
def branches_to_grouped(block: ResNeXtBranchBlock) -> ResNeXtGroupedBlock:
    """Build the grouped-convolution block computing the same function as ``block``.

    Branch b fills channels ``b*d:(b+1)*d``: rows of ``conv1`` and ``conv2``, columns of ``conv3``.
    """
    check_type("block", block, ResNeXtBranchBlock, "a ResNeXtBranchBlock")
    first = block.branches[0]
    channels, width, cardinality = first[0].in_channels, first[0].out_channels, len(block.branches)
    grouped = ResNeXtGroupedBlock(channels, cardinality, width).to(first[0].weight)
    for b, branch in enumerate(block.branches):
        sl = slice(b * width, (b + 1) * width)
        grouped.conv1.weight[sl] = branch[0].weight  # [d, C, 1, 1] -> rows of [G*d, C, 1, 1]
        _copy_bn(grouped.bn1, branch[1], sl)
        grouped.conv2.weight[sl] = branch[3].weight  # [d, d, 3, 3] -> group b of [G*d, d, 3, 3]
        _copy_bn(grouped.bn2, branch[4], sl)
        grouped.conv3.weight[:, sl] = branch[6].weight  # [C, d, 1, 1] -> columns of [C, G*d, 1, 1]
    grouped.bn3.load_state_dict(block.bn3.state_dict())
    return grouped.train(block.training)


def block_weights(channels: int, cardinality: int, width: int) -> int:
    r"""Convolution weights of a ResNeXt block: :math:`G (C d + 9 d^2 + d C)` (1x1, 3x3, 1x1 per branch)."""
    _check(channels, cardinality, width)
    return cardinality * (channels * width + 9 * width * width + width * channels)


def flop_matched_width(cardinality: int, channels: int = 256, weights: int = 69_632) -> float:
    r"""The branch width d that gives a ResNeXt block ``weights`` convolution weights (notes 2.3).

    With G fixed, :math:`G (2 C d + 9 d^2) = W` is a second-order equation in d; its positive root is

    .. math:: d = \frac{-2 C G + \sqrt{(2 C G)^2 + 36 G W}}{18 G}.

    At a fixed spatial size FLOPs are proportional to the weights, so this also matches FLOPs. The
    default W is ResNet-50's bottleneck at C = 256 (1x1 256->64, 3x3 64->64, 1x1 64->256); rounded,
    the roots are the paper's Table 2 widths (G = 1, 2, 4, 8, 32 -> d = 64, 40, 24, 14, 4).
    """
    check_int("cardinality", cardinality, low=1)
    check_int("channels", channels, low=1)
    check_int("weights", weights, low=1)
    a, b = 9 * cardinality, 2 * channels * cardinality  # a d^2 + b d - W = 0
    return (-b + (b * b + 4 * a * weights) ** 0.5) / (2 * a)
