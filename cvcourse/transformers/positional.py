r"""Positional encodings (section 3.1.5): self-attention alone cannot tell token order.

Vaswani et al., "Attention Is All You Need", 2017, https://arxiv.org/abs/1706.03762 (sinusoidal);
Dosovitskiy et al., 2020, https://arxiv.org/abs/2010.11929 (learned, as in ViT's ``pos_embedding``).

Self-attention is permutation equivariant: permuting the input tokens permutes the outputs the same
way, :math:`\mathrm{SA}(P H) = P\, \mathrm{SA}(H)`; ``permutation_gap`` measures how far a layer is from
that. Adding a position-dependent vector to each token breaks the symmetry:

.. math:: \mathrm{pe}_{pos, 2i} = \sin\left(\frac{pos}{10000^{2i/d_Y}}\right), \qquad
          \mathrm{pe}_{pos, 2i+1} = \cos\left(\frac{pos}{10000^{2i/d_Y}}\right)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from cvcourse._checks import check_float, check_int, check_tensor

__all__ = ["sinusoidal_positional_encoding", "LearnedPositionalEncoding", "permutation_gap"]


def sinusoidal_positional_encoding(
    num_positions: int, d_model: int, base: float = 10000.0, dtype: torch.dtype = torch.float32
) -> Tensor:
    r"""The fixed encoding of the original transformer.

    Args:
        num_positions: number of positions ``pos = 0 .. num_positions - 1``.
        d_model: d_Y, the encoding size (even columns use sin, odd columns cos; may be odd).
        base: the 10000 of the formula.
        dtype: floating dtype of the result.

    Returns:
        Tensor[num_positions, d_model], row ``pos`` is :math:`\mathrm{pe}_{pos}`.
    """
    num_positions = check_int("num_positions", num_positions, low=0)
    d_model = check_int("d_model", d_model, low=1)
    base = check_float("base", base, low=0.0, low_inclusive=False)
    pos = torch.arange(num_positions, dtype=torch.float64)[:, None]  # [n, 1]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # [ceil(d/2)]: 2i
    angle = pos / base ** (two_i / d_model)  # [n, ceil(d/2)]: pos / 10000^(2i/d_Y)
    pe = torch.zeros(num_positions, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])  # an odd d_Y has one sin more than cos
    return pe.to(dtype)


class LearnedPositionalEncoding(nn.Module):
    """A learned vector per position, added to the tokens (ViT's ``pos_embedding``).

    Args:
        num_positions: maximum sequence length.
        d_model: token size d_Y.
    """

    def __init__(self, num_positions: int, d_model: int) -> None:
        super().__init__()
        num_positions = check_int("num_positions", num_positions, low=1)
        d_model = check_int("d_model", d_model, low=1)
        self.pos_embedding = nn.Parameter(torch.empty(1, num_positions, d_model).normal_(std=0.02))

    def forward(self, x: Tensor) -> Tensor:
        """x: Tensor[N, L, d_model] with L <= num_positions -> x + pe[:L]."""
        check_tensor("x", x, dtype="float")
        if (
            x.dim() != 3
            or x.shape[-1] != self.pos_embedding.shape[-1]
            or x.shape[1] > self.pos_embedding.shape[1]
        ):
            raise ValueError(
                f"expected tokens [N, L <= {self.pos_embedding.shape[1]}, "
                f"{self.pos_embedding.shape[-1]}], got {tuple(x.shape)}"
            )
        return x + self.pos_embedding[:, : x.shape[1]]


def permutation_gap(layer: Callable[[Tensor], Tensor], tokens: Tensor, perm: Tensor) -> float:
    """max |layer(tokens[:, perm]) - layer(tokens)[:, perm]|: zero for a permutation-equivariant layer.

    Args:
        layer: maps Tensor[N, L, D] to Tensor[N, L, D'] (batch first).
        tokens: Tensor[N, L, D].
        perm: LongTensor[L], a permutation of 0 .. L-1.

    Returns:
        The largest absolute difference.
    """
    check_tensor("tokens", tokens, ndim=3)
    check_tensor("perm", perm, ndim=1, dtype="int")
    if sorted(perm.tolist()) != list(range(tokens.shape[1])):
        raise ValueError(f"perm must be a permutation of 0..{tokens.shape[1] - 1}, got {perm.tolist()}")
    with torch.no_grad():
        return (layer(tokens[:, perm]) - layer(tokens)[:, perm]).abs().max().item()
