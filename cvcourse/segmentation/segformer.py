r"""SegFormer: a hierarchical transformer encoder with efficient attention and an all-MLP decoder.

Paper: Xie et al., "SegFormer: Simple and Efficient Design for Semantic Segmentation with
Transformers" (https://arxiv.org/abs/2105.15203); the layer layout and attribute names follow the
authors' code (NVlabs/SegFormer, ``mix_transformer.py``: ``patch_embed1.proj``, ``block1.0.attn.sr``,
``mlp.dwconv``, ...). The report ``004_...`` quotes its spatial-reduction lines.

Four pieces:

* **Overlapping patch embedding** (:class:`OverlapPatchEmbed`): a strided convolution whose kernel
  is larger than its stride (7x7 / 4 for stage 1, 3x3 / 2 later), so neighbouring patches share
  pixels (ViT's patches do not overlap), then LayerNorm.
* **Efficient self-attention** (:class:`EfficientSelfAttention`): queries from all :math:`N = HW`
  tokens, keys and values from a map shrunk by a strided ``sr_ratio`` x ``sr_ratio`` convolution, so
  the attention matrix is :math:`N \times N / R` with :math:`R = \text{sr\_ratio}^2` instead of
  :math:`N \times N`:

  .. math:: \mathrm{Attention}(Q, \hat K, \hat V)
            = \operatorname{softmax}\big(Q \hat K^\top / \sqrt{d_h}\big) \hat V,
            \quad \hat K, \hat V \in \mathbb{R}^{N / R \times C}.

  With ``sr_ratio = 1`` it *is* multi-head self-attention (tested against ``nn.MultiheadAttention``);
  :func:`attention_cost` counts its multiply-adds.
* **Mix-FFN** (:class:`MixFFN`): ``fc1 -> 3x3 depthwise conv -> GELU -> fc2``. The depthwise conv
  leaks position information through its zero padding, so SegFormer needs no positional encoding
  (and works at any resolution).
* **All-MLP decoder** (:class:`AllMLPDecoder`): every stage's tokens -> a linear layer to ``C`` ->
  bilinear up-sampling to 1/4 of the input -> concatenation -> a 1x1 conv fusion -> a linear classifier.

``SegFormer(...)`` maps images [N, 3, H, W] to logits [N, num_classes, H, W] (the paper predicts at
1/4 of the input; the last bilinear up-sampling to H x W is ours, to meet the chapter's interface).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvcourse._checks import check_int, check_tensor, check_type

__all__ = [
    "OverlapPatchEmbed",
    "EfficientSelfAttention",
    "attention_cost",
    "MixFFN",
    "SegFormerBlock",
    "AllMLPDecoder",
    "SegFormerConfig",
    "SegFormer",
]


class OverlapPatchEmbed(nn.Module):
    """[N, C_in, H, W] -> tokens [N, h w, C] and (h, w): a conv with kernel > stride, then LayerNorm."""

    def __init__(self, in_channels: int, embed_dim: int, patch_size: int = 7, stride: int = 4) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, patch_size, stride, padding=patch_size // 2)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, int, int]:
        x = self.proj(x)  # [N, C, h, w], h = H / stride
        h, w = x.shape[-2:]
        return self.norm(x.flatten(2).transpose(1, 2)), h, w  # [N, h w, C]


class EfficientSelfAttention(nn.Module):
    """Multi-head self-attention whose keys and values come from a map ``sr_ratio`` times smaller per side.

    Args:
        dim: token channels C.
        num_heads: heads (C must be divisible by it).
        sr_ratio: side of the strided convolution that shrinks the keys' map (1: plain attention).
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int = 1) -> None:
        super().__init__()
        self.dim, self.num_heads = check_int("dim", dim, low=1), check_int("num_heads", num_heads, low=1)
        self.sr_ratio = check_int("sr_ratio", sr_ratio, low=1)
        if dim % num_heads:
            raise ValueError(f"dim must be divisible by num_heads, got dim={dim}, num_heads={num_heads}")
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)  # keys and values in one matrix, as the authors' code
        self.proj = nn.Linear(dim, dim)
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, kernel_size=sr_ratio, stride=sr_ratio)  # the spatial reduction
            self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        check_tensor("x", x, shape=("N", h * w, self.dim), dtype="float")
        n, length, c = x.shape
        heads, head_dim = self.num_heads, c // self.num_heads
        q = self.q(x).reshape(n, length, heads, head_dim).transpose(1, 2)  # [N, heads, hw, d_h]
        if self.sr_ratio > 1:
            grid = x.transpose(1, 2).reshape(n, c, h, w)  # tokens back to a map
            x = self.norm(self.sr(grid).flatten(2).transpose(1, 2))  # [N, hw / R, C], R = sr_ratio^2
        k, v = (
            self.kv(x).reshape(n, -1, 2, heads, head_dim).permute(2, 0, 3, 1, 4)
        )  # 2 x [N, heads, hw/R, d_h]
        attention = (q @ k.transpose(-2, -1) / math.sqrt(head_dim)).softmax(dim=-1)  # [N, heads, hw, hw/R]
        out = (attention @ v).transpose(1, 2).reshape(n, length, c)  # [N, hw, C]: heads side by side
        return self.proj(out)


def attention_cost(n: int, d: int, R: int) -> dict[str, int]:
    r"""Multiply-adds of one :class:`EfficientSelfAttention` on ``n`` tokens of ``d`` channels.

    ``R`` is the paper's reduction ratio of the *sequence* (``sr_ratio ** 2``; 1 = plain attention):

    * ``scores`` :math:`Q \hat K^\top`: :math:`n \cdot (n/R) \cdot d`, and ``weighted_sum``
      :math:`A \hat V` the same: together :math:`2 n^2 d / R`, the term that R divides;
    * ``projections``: queries and output :math:`2 n d^2`, keys and values :math:`2 (n / R) d^2`;
    * ``reduction``: the strided conv, :math:`n d^2` (each of the :math:`n / R` outputs reads
      :math:`R` positions of :math:`d` channels for each of :math:`d` outputs; 0 when R = 1).

    Biases, softmax and LayerNorm are not counted (as ``torch.utils.flop_counter``).
    """
    n, d = check_int("n", n, low=1), check_int("d", d, low=1)
    R = check_int("R", R, low=1)
    if n % R:
        raise ValueError(
            f"n must be divisible by R (the reduced sequence has n / R tokens), got n={n}, R={R}"
        )
    m = n // R  # keys and values
    cost = {
        "scores": n * m * d,
        "weighted_sum": n * m * d,
        "projections": 2 * n * d * d + 2 * m * d * d,
        "reduction": n * d * d if R > 1 else 0,
    }
    cost["total"] = sum(cost.values())
    return cost


class MixFFN(nn.Module):
    """Tokens -> ``fc1`` (C -> hidden) -> 3x3 depthwise conv on the token map -> GELU -> ``fc2``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)  # one 3x3 filter per channel
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        x = self.fc1(x)  # [N, hw, hidden]
        n, length, c = x.shape
        x = self.dwconv(x.transpose(1, 2).reshape(n, c, h, w)).flatten(2).transpose(1, 2)
        return self.fc2(F.gelu(x))  # [N, hw, C]


class SegFormerBlock(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))`` (Mix-FFN)."""

    def __init__(self, dim: int, num_heads: int, sr_ratio: int, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = EfficientSelfAttention(dim, num_heads, sr_ratio)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MixFFN(dim, dim * mlp_ratio)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        x = x + self.attn(self.norm1(x), h, w)
        return x + self.mlp(self.norm2(x), h, w)


class AllMLPDecoder(nn.Module):
    """Each stage's map -> linear to ``dim`` -> up-sample to the finest map -> concat -> fuse -> classify."""

    def __init__(self, in_dims: tuple[int, ...], dim: int, num_classes: int) -> None:
        super().__init__()
        self.linear = nn.ModuleList(nn.Linear(c, dim) for c in in_dims)  # "MLP" layers, one per stage
        self.fuse = nn.Sequential(
            nn.Conv2d(len(in_dims) * dim, dim, 1, bias=False), nn.BatchNorm2d(dim), nn.ReLU()
        )
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Conv2d(dim, num_classes, 1)

    def forward(self, maps: list[Tensor]) -> Tensor:
        size = maps[0].shape[-2:]  # 1/4 of the input
        unified = []
        for linear, x in zip(self.linear, maps, strict=True):
            n, _, h, w = x.shape
            x = linear(x.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(n, -1, h, w)  # [N, dim, h, w]
            unified.append(F.interpolate(x, size=size, mode="bilinear"))
        return self.classifier(self.dropout(self.fuse(torch.cat(unified[::-1], dim=1))))


@dataclass
class SegFormerConfig:
    num_classes: int = 9
    embed_dims: tuple[int, ...] = (16, 32, 64, 128)
    num_heads: tuple[int, ...] = (1, 2, 4, 8)
    depths: tuple[int, ...] = (2, 2, 2, 2)
    sr_ratios: tuple[int, ...] = (4, 2, 1, 1)  # per side: 64 x 64 images give 16 x 16 tokens at stage 1
    mlp_ratio: int = 4
    decoder_dim: int = 64


class SegFormer(nn.Module):
    """Images [N, 3, H, W] -> logits [N, num_classes, H, W]; stages at strides 4, 8, 16, 32 (H, W % 32 == 0).

    Args (one entry per stage): ``embed_dims``, ``num_heads``, ``depths`` (blocks), ``sr_ratios``;
    ``mlp_ratio`` (Mix-FFN hidden width / C); ``decoder_dim``; ``num_classes``. The defaults are a
    small model for 64 x 64 scenes (MiT-B0 is dims 32, 64, 160, 256, sr 8, 4, 2, 1, depths 2 each).
    ``model.config`` rebuilds it: ``SegFormer(**asdict(model.config))``.
    """

    def __init__(
        self,
        num_classes: int = 9,
        embed_dims: tuple[int, ...] = (16, 32, 64, 128),
        num_heads: tuple[int, ...] = (1, 2, 4, 8),
        depths: tuple[int, ...] = (2, 2, 2, 2),
        sr_ratios: tuple[int, ...] = (4, 2, 1, 1),
        mlp_ratio: int = 4,
        decoder_dim: int = 64,
    ) -> None:
        super().__init__()
        lists = {"embed_dims": embed_dims, "num_heads": num_heads, "depths": depths, "sr_ratios": sr_ratios}
        for name, values in lists.items():
            check_type(name, values, (list, tuple), "4 ints, one per stage")
            if len(values) != 4:
                raise ValueError(f"{name} must hold 4 ints, one per stage, got {values!r}")
            for i, v in enumerate(values):
                check_int(f"{name}[{i}]", v, low=1)
        self.config = SegFormerConfig(
            check_int("num_classes", num_classes, low=1),
            *(tuple(v) for v in lists.values()),
            check_int("mlp_ratio", mlp_ratio, low=1),
            check_int("decoder_dim", decoder_dim, low=1),
        )
        dims = [3, *embed_dims]
        for i in range(4):  # attribute names as the authors' code: patch_embed1, block1, norm1, ...
            patch, stride = (7, 4) if i == 0 else (3, 2)
            setattr(self, f"patch_embed{i + 1}", OverlapPatchEmbed(dims[i], dims[i + 1], patch, stride))
            blocks = [
                SegFormerBlock(dims[i + 1], num_heads[i], sr_ratios[i], mlp_ratio) for _ in range(depths[i])
            ]
            setattr(self, f"block{i + 1}", nn.ModuleList(blocks))
            setattr(self, f"norm{i + 1}", nn.LayerNorm(dims[i + 1]))
        self.decode_head = AllMLPDecoder(tuple(embed_dims), decoder_dim, num_classes)

    def encode(self, x: Tensor) -> list[Tensor]:
        """The four stages' maps [N, C_i, H / 2^(i+2), W / 2^(i+2)], finest first (the hierarchy)."""
        maps = []
        for i in range(1, 5):
            tokens, h, w = getattr(self, f"patch_embed{i}")(x)  # [N, hw, C_i]
            for block in getattr(self, f"block{i}"):
                tokens = block(tokens, h, w)
            tokens = getattr(self, f"norm{i}")(tokens)
            x = tokens.transpose(1, 2).reshape(len(tokens), -1, h, w)  # back to a map for the next stage
            maps.append(x)
        return maps

    def forward(self, x: Tensor) -> Tensor:
        check_tensor("x", x, shape=("N", 3, "H", "W"), dtype="float")
        if x.shape[-2] % 32 or x.shape[-1] % 32:
            raise ValueError(f"x's height and width must be multiples of 32, got shape {list(x.shape)}")
        logits = self.decode_head(self.encode(x))  # [N, K, H/4, W/4]
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear")  # [N, K, H, W]

    def rebuild(self) -> SegFormer:
        """A fresh, untrained model of the same configuration."""
        return SegFormer(**asdict(self.config))
