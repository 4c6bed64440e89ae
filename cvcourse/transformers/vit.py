r"""The vision transformer (section 3.2): patches -> tokens -> pre-norm transformer encoder -> [CLS].

Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
2020, https://arxiv.org/abs/2010.11929.

Same constructor arguments, state-dict keys and outputs as ``torchvision.models.VisionTransformer``
(and ``vit_b_16`` / ``vit_l_16`` / ``vit_h_14`` build the same configurations), so torchvision's
pretrained weights load strictly into this model. The pieces, as in the notes:

1. Patches: a C x H x W image is cut into (H/P)(W/P) patches of P x P, each flattened to a
   :math:`P^2 C` vector and projected by :math:`W_E \in \mathbb{R}^{P^2 C \times d_Y}`. That is
   exactly a convolution with kernel P and stride P (``conv_proj``); ``patchify`` does the
   flattening by hand so the two can be compared.
2. A learned [CLS] token is put in front of the sequence; learned positional embeddings are added.
3. L pre-norm encoder blocks (LN -> MHSA -> residual, LN -> MLP with GELU -> residual), final LN.
4. The [CLS] token's output goes to the classifier head (``VisionTransformerGAP`` averages the patch
   tokens instead, Exercise 7-1 (c)).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from cvcourse._checks import check_float, check_int, check_tensor

from .multihead import MultiheadAttention
from .patches import PatchEmbedding, patchify  # re-exported: the first step of a ViT

__all__ = [
    "PatchEmbedding",
    "VisionTransformer",
    "VisionTransformerGAP",
    "ConvStemConfig",
    "EncoderBlock",
    "Encoder",
    "patchify",
    "vit_b_16",
    "vit_b_32",
    "vit_l_16",
    "vit_l_32",
    "vit_h_14",
]


class ConvStemConfig(NamedTuple):
    """One conv-BN-ReLU layer of the optional convolutional stem (https://arxiv.org/abs/2106.14881)."""

    out_channels: int
    kernel_size: int
    stride: int
    norm_layer: Callable[..., nn.Module] = nn.BatchNorm2d
    activation_layer: Callable[..., nn.Module] = nn.ReLU


class MLPBlock(nn.Sequential):
    """The FFN of a ViT block: Linear -> GELU -> Dropout -> Linear -> Dropout (keys 0 and 3)."""

    def __init__(self, in_dim: int, mlp_dim: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(in_dim, mlp_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_dim, in_dim),
            nn.Dropout(dropout),
        )
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)


class EncoderBlock(nn.Module):
    """Pre-norm encoder block: x + MHSA(LN(x)), then x + MLP(LN(x))."""

    def __init__(
        self,
        num_heads: int,
        hidden_dim: int,
        mlp_dim: int,
        dropout: float,
        attention_dropout: float,
        norm_layer: Callable[..., nn.Module] = partial(nn.LayerNorm, eps=1e-6),  # noqa: B008 (torchvision's)
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.ln_1 = norm_layer(hidden_dim)
        self.self_attention = MultiheadAttention(
            hidden_dim, num_heads, dropout=attention_dropout, batch_first=True
        )
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = norm_layer(hidden_dim)
        self.mlp = MLPBlock(hidden_dim, mlp_dim, dropout)

    def forward(self, input: Tensor) -> Tensor:
        if input.dim() != 3:
            raise ValueError(f"expected tokens of shape [N, L, hidden_dim], got {tuple(input.shape)}")
        x = self.ln_1(input)
        # need_weights=False: the attention maps are read with hooks (attention_maps.py), which
        # switch this flag on, so there is only one forward pass to maintain.
        x, _ = self.self_attention(x, x, x, need_weights=False)
        x = self.dropout(x) + input
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    """Positional embedding + dropout + L encoder blocks + final layer norm."""

    def __init__(
        self,
        seq_length: int,
        num_layers: int,
        num_heads: int,
        hidden_dim: int,
        mlp_dim: int,
        dropout: float,
        attention_dropout: float,
        norm_layer: Callable[..., nn.Module] = partial(nn.LayerNorm, eps=1e-6),  # noqa: B008 (torchvision's)
    ) -> None:
        super().__init__()
        # learned positional embeddings, one per token (including [CLS]); init from BERT
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_length, hidden_dim).normal_(std=0.02))
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.Sequential(
            OrderedDict(
                (
                    f"encoder_layer_{i}",
                    EncoderBlock(num_heads, hidden_dim, mlp_dim, dropout, attention_dropout, norm_layer),
                )
                for i in range(num_layers)
            )
        )
        self.ln = norm_layer(hidden_dim)

    def forward(self, input: Tensor) -> Tensor:
        if input.dim() != 3:
            raise ValueError(f"expected tokens of shape [N, L, hidden_dim], got {tuple(input.shape)}")
        return self.ln(self.layers(self.dropout(input + self.pos_embedding)))


class VisionTransformer(nn.Module):
    """Vision transformer; arguments as ``torchvision.models.VisionTransformer``.

    Args:
        image_size: input side H = W (divisible by ``patch_size``).
        patch_size: P.
        num_layers, num_heads, hidden_dim, mlp_dim: L, h, d_Y and the MLP size.
        dropout, attention_dropout: dropout rates.
        num_classes: size of the classifier's output.
        representation_size: if set, a Linear + tanh "pre-logits" layer before the head.
        norm_layer: normalisation of the blocks (LayerNorm, eps 1e-6).
        conv_stem_configs: optional convolutional stem instead of the single patch convolution.
    """

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        num_layers: int,
        num_heads: int,
        hidden_dim: int,
        mlp_dim: int,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        num_classes: int = 1000,
        representation_size: int | None = None,
        norm_layer: Callable[..., nn.Module] = partial(nn.LayerNorm, eps=1e-6),  # noqa: B008 (torchvision's)
        conv_stem_configs: list[ConvStemConfig] | None = None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("image_size", image_size),
            ("patch_size", patch_size),
            ("num_layers", num_layers),
            ("num_heads", num_heads),
            ("hidden_dim", hidden_dim),
            ("mlp_dim", mlp_dim),
            ("num_classes", num_classes),
        ):
            check_int(name, value, low=1)
        for name, value in (("dropout", dropout), ("attention_dropout", attention_dropout)):
            check_float(name, value, low=0.0, high=1.0)
        if image_size % patch_size != 0:
            raise ValueError(f"image_size ({image_size}) must be divisible by patch_size ({patch_size})")
        self.image_size, self.patch_size = image_size, patch_size
        self.hidden_dim, self.mlp_dim = hidden_dim, mlp_dim
        self.attention_dropout, self.dropout = attention_dropout, dropout
        self.num_classes, self.representation_size = num_classes, representation_size
        self.norm_layer = norm_layer

        if conv_stem_configs is None:
            # W_E as a convolution: kernel P, stride P (see patchify)
            self.conv_proj: nn.Module = nn.Conv2d(3, hidden_dim, kernel_size=patch_size, stride=patch_size)
        else:
            self.conv_proj = _conv_stem(conv_stem_configs, hidden_dim)

        seq_length = (image_size // patch_size) ** 2 + 1  # patches + [CLS]
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        self.encoder = Encoder(
            seq_length,
            num_layers,
            num_heads,
            hidden_dim,
            mlp_dim,
            dropout,
            attention_dropout,
            norm_layer,
        )
        self.seq_length = seq_length

        heads: OrderedDict[str, nn.Module] = OrderedDict()
        if representation_size is None:
            heads["head"] = nn.Linear(hidden_dim, num_classes)
        else:
            heads["pre_logits"] = nn.Linear(hidden_dim, representation_size)
            heads["act"] = nn.Tanh()
            heads["head"] = nn.Linear(representation_size, num_classes)
        self.heads = nn.Sequential(heads)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's initialisation (so a freshly built model starts from the same distribution)
        if isinstance(self.conv_proj, nn.Conv2d):
            fan_in = self.conv_proj.in_channels * self.patch_size**2
            nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
            nn.init.zeros_(self.conv_proj.bias)
        else:
            last = self.conv_proj.conv_last
            nn.init.normal_(last.weight, mean=0.0, std=math.sqrt(2.0 / last.out_channels))
            nn.init.zeros_(last.bias)
        if hasattr(self.heads, "pre_logits"):
            nn.init.trunc_normal_(
                self.heads.pre_logits.weight, std=math.sqrt(1 / self.heads.pre_logits.in_features)
            )
            nn.init.zeros_(self.heads.pre_logits.bias)
        nn.init.zeros_(self.heads.head.weight)
        nn.init.zeros_(self.heads.head.bias)

    def _process_input(self, x: Tensor) -> Tensor:
        """Images [N, 3, H, W] -> patch tokens [N, (H/P)(W/P), hidden_dim]."""
        check_tensor("images", x, dtype="float")
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"expected images of shape [N, 3, {self.image_size}, {self.image_size}], got {tuple(x.shape)}"
            )
        n = x.shape[0]
        x = self.conv_proj(x)  # [N, hidden_dim, H/P, W/P]
        x = x.reshape(n, self.hidden_dim, -1)  # [N, hidden_dim, num_patches]
        return x.permute(0, 2, 1)  # [N, num_patches, hidden_dim]: one token per patch

    def pool(self, x: Tensor) -> Tensor:
        """The image representation from the encoder's tokens [N, 1 + num_patches, D]: the [CLS] token."""
        return x[:, 0]

    def forward(self, x: Tensor) -> Tensor:
        """Images Tensor[N, 3, image_size, image_size] -> logits Tensor[N, num_classes]."""
        x = self._process_input(x)
        cls = self.class_token.expand(x.shape[0], -1, -1)  # [N, 1, D]
        x = torch.cat([cls, x], dim=1)  # [N, 1 + num_patches, D]
        x = self.encoder(x)
        return self.heads(self.pool(x))


class VisionTransformerGAP(VisionTransformer):
    r"""ViT that classifies the global average of the patch tokens instead of the [CLS] token.

    Exercise 7-1 (c): :math:`x_{cls} = \frac{1}{HW} \sum_{(i, j)} x_{ij}` as in a ResNet. The
    [CLS] token is still in the sequence (so the state dict is unchanged) but its output is unused.
    """

    def pool(self, x: Tensor) -> Tensor:
        return x[:, 1:].mean(dim=1)  # [N, D]


def _conv_stem(configs: list[ConvStemConfig], hidden_dim: int) -> nn.Sequential:
    """Conv-BN-ReLU layers (named like torchvision's Conv2dNormActivation) + a final 1x1 conv."""
    stem, prev = nn.Sequential(), 3
    for i, cfg in enumerate(configs):
        stem.add_module(
            f"conv_bn_relu_{i}",
            nn.Sequential(
                nn.Conv2d(
                    prev,
                    cfg.out_channels,
                    cfg.kernel_size,
                    cfg.stride,
                    padding=(cfg.kernel_size - 1) // 2,
                    bias=False,
                ),
                cfg.norm_layer(cfg.out_channels),
                cfg.activation_layer(inplace=True),
            ),
        )
        prev = cfg.out_channels
    stem.add_module("conv_last", nn.Conv2d(prev, hidden_dim, kernel_size=1))
    return stem


def _vit(
    patch_size: int,
    num_layers: int,
    num_heads: int,
    hidden_dim: int,
    mlp_dim: int,
    weights: Any = None,
    **kwargs: Any,
) -> VisionTransformer:
    if weights is not None:
        raise ValueError(
            "cvcourse builders take no `weights`; use load_torchvision_weights() "
            "(cvcourse.transformers.pretrained) to load torchvision's weights when online"
        )
    return VisionTransformer(
        image_size=kwargs.pop("image_size", 224),
        patch_size=patch_size,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        mlp_dim=mlp_dim,
        **kwargs,
    )


def vit_b_16(**kwargs: Any) -> VisionTransformer:
    """ViT-Base/16: 12 layers, 12 heads, d_Y = 768, MLP 3072 (86 M parameters)."""
    return _vit(16, 12, 12, 768, 3072, **kwargs)


def vit_b_32(**kwargs: Any) -> VisionTransformer:
    """ViT-Base/32: as ViT-B/16 with 32 x 32 patches."""
    return _vit(32, 12, 12, 768, 3072, **kwargs)


def vit_l_16(**kwargs: Any) -> VisionTransformer:
    """ViT-Large/16: 24 layers, 16 heads, d_Y = 1024, MLP 4096 (307 M parameters)."""
    return _vit(16, 24, 16, 1024, 4096, **kwargs)


def vit_l_32(**kwargs: Any) -> VisionTransformer:
    """ViT-Large/32: as ViT-L/16 with 32 x 32 patches."""
    return _vit(32, 24, 16, 1024, 4096, **kwargs)


def vit_h_14(**kwargs: Any) -> VisionTransformer:
    """ViT-Huge/14: 32 layers, 16 heads, d_Y = 1280, MLP 5120 (632 M parameters)."""
    return _vit(14, 32, 16, 1280, 5120, **kwargs)
