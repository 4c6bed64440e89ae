r"""Scaled dot-product attention, built up the way the notes do (section 3.1.1).

Vaswani et al., "Attention Is All You Need", 2017, https://arxiv.org/abs/1706.03762.

The notes go in three steps, and so does this module:

1. ``dot_product_attention_one``: one vector :math:`x_1` against the tokens :math:`Y`,
   :math:`a_1 = \mathrm{softmax}(x_1 Y^T)\, Y` (no projections, no temperature).
2. ``scaled_dot_product_attention``: many queries at once,
   :math:`A = \mathrm{softmax}_\text{row-wise}(Q K^T / \sqrt{d_K})\, V`.
   Same arguments, semantics and result as ``torch.nn.functional.scaled_dot_product_attention``
   (boolean masks: True = "may attend"; float masks are added to the scores; ``is_causal`` keeps the
   lower triangle; a query whose keys are all masked gets a zero output, as torch's math backend does).
3. ``attention_with_weights``: the same computation that also returns the attention weights
   :math:`\mathrm{softmax}(QK^T/\sqrt{d_K})`, for plotting.

``causal_mask`` builds the lower-triangular mask of masked self-attention (section 3.1.4).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cvcourse._checks import check_bool, check_float, check_int, check_tensor

__all__ = [
    "dot_product_attention_one",
    "scaled_dot_product_attention",
    "attention_with_weights",
    "causal_mask",
]


def dot_product_attention_one(x1: Tensor, Y: Tensor) -> tuple[Tensor, Tensor]:
    r"""Dot-product attention of one vector against M tokens: :math:`a_1 = \mathrm{softmax}(x_1 Y^T) Y`.

    Args:
        x1: Tensor[d_Y], the vector that attends.
        Y: Tensor[M, d_Y], the tokens attended to.

    Returns:
        ``(a1, weights)``: a1 Tensor[d_Y] the weighted mean of Y's rows, weights Tensor[M] summing to 1.
    """
    check_tensor("x1", x1, ndim=1)
    check_tensor("Y", Y, ndim=2)
    if Y.shape[1] != x1.shape[0]:
        raise ValueError(
            f"expected x1 of shape [d_Y] and Y of shape [M, d_Y], got x1 "
            f"{tuple(x1.shape)} and Y {tuple(Y.shape)}"
        )
    scores = Y @ x1  # [M]: x1 Y^T, one similarity per token
    weights = torch.softmax(scores, dim=0)  # [M]
    return weights @ Y, weights  # [d_Y], [M]


def causal_mask(size: int, device: torch.device | str | None = None) -> Tensor:
    """The mask of masked self-attention: position i may attend to positions j <= i.

    Uses the ``F.scaled_dot_product_attention`` convention (True = may attend). For
    ``nn.MultiheadAttention`` / our ``MultiheadAttention``, whose boolean masks mean "blocked", pass
    ``~causal_mask(n)``.

    Args:
        size: sequence length n >= 0.
        device: where to build the mask.

    Returns:
        BoolTensor[n, n], lower triangular (diagonal included).
    """
    size = check_int("size", size, low=0)
    return torch.ones(size, size, dtype=torch.bool, device=device).tril()


def _check_qkv(query: Tensor, key: Tensor, value: Tensor, enable_gqa: bool) -> None:
    for name, t in (("query", query), ("key", key), ("value", value)):
        check_tensor(name, t)
        if t.dim() < 2:
            raise ValueError(f"{name} must have shape [..., L, E], got {tuple(t.shape)}")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"query and key must share the last dim E (d_K), got query "
            f"{tuple(query.shape)} and key {tuple(key.shape)}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"key and value must have the same length S, got key "
            f"{tuple(key.shape)} and value {tuple(value.shape)}"
        )
    if not enable_gqa:
        try:
            torch.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
        except RuntimeError as err:
            raise ValueError(
                f"batch dims of query {tuple(query.shape)}, key {tuple(key.shape)} and "
                f"value {tuple(value.shape)} do not broadcast"
            ) from err


def attention_with_weights(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> tuple[Tensor, Tensor]:
    r"""Scaled dot-product attention that also returns its weights.

    .. math:: A = \mathrm{softmax}_\text{row-wise}\left(\frac{Q K^T}{\sqrt{d_K}} + M\right) V

    with Q = ``query``, K = ``key``, V = ``value``, d_K = ``query.shape[-1]`` (or ``1/scale**2``),
    M = ``attn_mask`` (0 where attention is allowed, -inf where it is not).

    Args:
        query: Tensor[..., L, E], L queries of dimension d_K = E.
        key: Tensor[..., S, E], S keys.
        value: Tensor[..., S, Ev], S values.
        attn_mask: BoolTensor broadcastable to [..., L, S] (True = may attend) or a float Tensor
            added to the scores.
        dropout_p: dropout probability on the weights (applied to the output only; the returned
            weights are before dropout).
        is_causal: keep only j <= i (top-left aligned lower triangle); not with ``attn_mask``.
        scale: temperature 1/sqrt(d_K) by default.
        enable_gqa: grouped-query attention: key/value have fewer heads (dim -3) than query.

    Returns:
        ``(output, weights)``: Tensor[..., L, Ev] and Tensor[..., L, S] (rows sum to 1, or to 0 for a
        query that may attend to nothing).
    """
    _check_qkv(query, key, value, enable_gqa)
    if is_causal and attn_mask is not None:
        raise ValueError("attn_mask must be None when is_causal=True (as in F.scaled_dot_product_attention)")
    dropout_p = check_float("dropout_p", dropout_p, low=0.0, high=1.0)
    check_bool("is_causal", is_causal)
    check_bool("enable_gqa", enable_gqa)
    if scale is not None:
        scale = check_float("scale", scale)
    L, S = query.shape[-2], key.shape[-2]
    if enable_gqa and query.dim() >= 3 and key.shape[-3] != query.shape[-3]:
        # Each group of query heads shares one key/value head.
        if query.shape[-3] % key.shape[-3] != 0:
            raise ValueError(
                f"with enable_gqa, query heads ({query.shape[-3]}) must be a multiple of "
                f"key heads ({key.shape[-3]})"
            )
        key = key.repeat_interleave(query.shape[-3] // key.shape[-3], dim=-3)
        value = value.repeat_interleave(query.shape[-3] // value.shape[-3], dim=-3)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale

    # Scaling q (L x d_K numbers) before the product is cheaper than scaling the L x S scores.
    scores = (query * scale) @ key.transpose(-2, -1)  # [..., L, S]: q_i . k_j / sqrt(d_K)
    # The masks edit the fresh scores tensor in place (the product's backward needs only q and k),
    # which saves a copy of the [..., L, S] scores: as fast as torch's own math backend.
    if is_causal:  # key j is hidden from query i when j > i: the strict upper triangle
        hidden = torch.ones(L, S, dtype=torch.bool, device=query.device).triu(1)  # [L, S]
        scores.masked_fill_(hidden, float("-inf"))
    elif attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))  # may broadcast scores up
        else:
            scores = scores + attn_mask
    weights = torch.softmax(scores, dim=-1)  # [..., L, S], each row sums to 1
    if attn_mask is not None and not is_causal:  # causal rows always keep key 0
        # A query that may attend to no key has a row of -inf scores: softmax gives NaN (0/0);
        # torch's math backend returns zeros there ("safe softmax"), and so do we.
        blocked = torch.isneginf(scores).all(dim=-1, keepdim=True)  # [..., L, 1]
        weights = weights.masked_fill(blocked, 0.0)
    dropped = torch.dropout(weights, dropout_p, train=True) if dropout_p > 0 else weights
    return dropped @ value, weights  # [..., L, Ev], [..., L, S]


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """Same as ``torch.nn.functional.scaled_dot_product_attention``; see ``attention_with_weights``.

    Returns:
        Tensor[..., L, Ev].
    """
    output, _ = attention_with_weights(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    return output
