"""Multi-head attention (section 3.1.3): h attention heads in parallel, concatenated, projected.

Vaswani et al., "Attention Is All You Need", 2017, https://arxiv.org/abs/1706.03762.

.. math:: \\mathbf{A} = [A^{(1)} | \\dots | A^{(h)}]\\, W_O, \\qquad
          A^{(i)} = \\mathrm{softmax}\\left(\\frac{Q^{(i)} K^{(i)T}}{\\sqrt{d_K}}\\right) V^{(i)},
          \\qquad d_K = d_V = d_Y / h

Same constructor, parameter names (``in_proj_weight``, ``in_proj_bias``, ``out_proj.weight``, ...),
call signature and outputs as ``torch.nn.MultiheadAttention``, so a state dict loads strictly both
ways. The heads are not h separate modules: one packed projection ``in_proj_weight`` ([3E, E] = the
stacked W_Q, W_K, W_V of all heads) is computed once and its columns are split into h groups of
d_K = E / h, which is the same thing and what torch (and pretrained checkpoints) store.

Mask conventions follow ``nn.MultiheadAttention`` (the opposite of ``F.scaled_dot_product_attention``):
a boolean ``attn_mask`` / ``key_padding_mask`` is True where attention is *blocked*; float masks are
added to the scores. Departures from torch: ``is_causal=True`` without ``attn_mask`` builds the
causal mask instead of raising, and a query whose keys are all blocked gets a zero output (torch gives
zeros when ``need_weights=False`` and NaN when ``need_weights=True``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import attention_with_weights, causal_mask

__all__ = ["MultiheadAttention"]


class MultiheadAttention(nn.Module):
    """Multi-head attention, drop-in for ``torch.nn.MultiheadAttention``.

    Args:
        embed_dim: d_Y = E, the model dimension.
        num_heads: h; E must be divisible by h (each head has d_K = d_V = E / h).
        dropout: dropout on the attention weights (training only).
        bias: add biases to the input and output projections.
        add_bias_kv: append a learned key and value (``bias_k``, ``bias_v``) to the sequence.
        add_zero_attn: append a zero key and value to the sequence.
        kdim: dimension of the keys' input (default E); values' input ``vdim`` likewise.
        batch_first: inputs are [N, L, E] instead of [L, N, E].
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"embed_dim and num_heads must be > 0, got {embed_dim} and {num_heads}"
            )
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        factory = {"device": device, "dtype": dtype}
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.head_dim = embed_dim // num_heads  # d_K = d_V = E / h
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.batch_first, self.add_zero_attn = batch_first, add_zero_attn

        if self._qkv_same_embed_dim:
            # rows [0:E] = W_Q^T, [E:2E] = W_K^T, [2E:3E] = W_V^T (nn.Linear keeps out x in)
            self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim, **factory))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = nn.Parameter(torch.empty(embed_dim, embed_dim, **factory))
            self.k_proj_weight = nn.Parameter(torch.empty(embed_dim, self.kdim, **factory))
            self.v_proj_weight = nn.Parameter(torch.empty(embed_dim, self.vdim, **factory))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim, **factory))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)  # W_O
        if add_bias_kv:
            self.bias_k = nn.Parameter(torch.empty(1, 1, embed_dim, **factory))
            self.bias_v = nn.Parameter(torch.empty(1, 1, embed_dim, **factory))
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # Same initialisation as torch: Xavier for the projections, zero biases.
        for w in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
            if w is not None:
                nn.init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)
        for b in (self.bias_k, self.bias_v):
            if b is not None:
                nn.init.xavier_normal_(b)

    def _project(
        self, query: Tensor, key: Tensor, value: Tensor, same_input: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Q = X W_Q + b_Q, K = Y W_K + b_K, V = Y W_V + b_V (inputs [N, L or S, E])."""
        E = self.embed_dim
        b_q, b_k, b_v = (
            (None, None, None) if self.in_proj_bias is None else self.in_proj_bias.split(E)
        )
        if self._qkv_same_embed_dim and same_input:
            # self-attention: one product with the packed [3E, E] matrix, then split (faster)
            return F.linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        if self._qkv_same_embed_dim:
            w_q, w_k, w_v = self.in_proj_weight.split(E)
        else:
            w_q, w_k, w_v = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` to ``key``/``value``.

        Args:
            query: Tensor[L, N, E] ([N, L, E] if batch_first, [L, E] unbatched).
            key: Tensor[S, N, kdim] (same layout); value: Tensor[S, N, vdim].
            key_padding_mask: Tensor[N, S] ([S] unbatched); True (or -inf) = ignore that key.
            need_weights: also return the attention weights.
            attn_mask: Tensor[L, S] or [N * h, L, S]; True (or -inf) = query i may not attend key j.
            average_attn_weights: average the returned weights over heads.
            is_causal: causal self-attention (builds the mask when ``attn_mask`` is None).

        Returns:
            ``(output, weights)``: output like ``query`` with E features; weights Tensor[N, L, S]
            (averaged) or [N, h, L, S], or None when ``need_weights`` is False.
        """
        same_input = query is key and key is value  # self-attention: one packed projection
        batched = query.dim() == 3
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor) or t.dim() != query.dim() or t.dim() not in (2, 3):
                raise ValueError(
                    f"query, key and value must all be 3-D (batched) or 2-D (unbatched) "
                    f"tensors, got {name} with shape {getattr(t, 'shape', type(t))}"
                )
        if not batched:  # [L, E] -> [1, L, E]
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif not self.batch_first:  # [L, N, E] -> [N, L, E]
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        N, L, E = query.shape
        if E != self.embed_dim or key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise ValueError(
                f"expected feature sizes query {self.embed_dim}, key {self.kdim}, value "
                f"{self.vdim}; got {E}, {key.shape[-1]}, {value.shape[-1]}"
            )
        if key.shape[:2] != value.shape[:2] or key.shape[0] != N:
            raise ValueError(
                f"key {tuple(key.shape)} and value {tuple(value.shape)} must share batch and "
                f"length, and match the query's batch size {N}"
            )
        if is_causal and attn_mask is None:
            attn_mask = ~causal_mask(L, device=query.device)[:, : key.shape[1]]

        q, k, v = self._project(query, key, value, same_input)  # [N, L, E], [N, S, E], [N, S, E]
        mask = self._float_mask(
            attn_mask, key_padding_mask, N, L, key.shape[1], q.dtype
        )  # [N, h|1, L, S]
        if self.bias_k is not None:  # one extra learned key/value that every query can attend to
            k = torch.cat([k, self.bias_k.expand(N, 1, E)], dim=1)
            v = torch.cat([v, self.bias_v.expand(N, 1, E)], dim=1)
            mask = None if mask is None else F.pad(mask, (0, 1))
        if self.add_zero_attn:  # one extra all-zero key/value, after the heads are split in torch
            k = torch.cat([k, k.new_zeros(N, 1, E)], dim=1)
            v = torch.cat([v, v.new_zeros(N, 1, E)], dim=1)
            mask = None if mask is None else F.pad(mask, (0, 1))
        S = k.shape[1]

        h, d = self.num_heads, self.head_dim
        q = q.view(N, L, h, d).transpose(1, 2)  # [N, h, L, d_K]
        k = k.view(N, S, h, d).transpose(1, 2)  # [N, h, S, d_K]
        v = v.view(N, S, h, d).transpose(1, 2)  # [N, h, S, d_V]
        p = self.dropout if self.training else 0.0
        heads, weights = attention_with_weights(
            q, k, v, attn_mask=mask, dropout_p=p
        )  # [N, h, L, d_V]
        concat = heads.transpose(1, 2).reshape(N, L, E)  # [N, L, h * d_V] = [A^(1) | ... | A^(h)]
        out = self.out_proj(concat)  # [N, L, E]: ... W_O

        if not batched:
            out, weights = out.squeeze(0), weights.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)  # back to [L, N, E]
        if not need_weights:
            return out, None
        return out, (weights.mean(dim=-3) if average_attn_weights else weights)

    def _float_mask(
        self,
        attn_mask: Tensor | None,
        key_padding_mask: Tensor | None,
        N: int,
        L: int,
        S: int,
        dtype: torch.dtype,
    ) -> Tensor | None:
        """Merge both masks into one additive float mask (0 = attend, -inf = blocked), [N, h|1, L, S]."""
        merged = None
        if attn_mask is not None:
            if attn_mask.dim() == 2 and attn_mask.shape == (L, S):
                merged = _as_float(attn_mask, dtype)[None, None]  # [1, 1, L, S]
            elif attn_mask.dim() == 3 and attn_mask.shape == (N * self.num_heads, L, S):
                merged = _as_float(attn_mask, dtype).view(N, self.num_heads, L, S)
            else:
                raise ValueError(
                    f"attn_mask must have shape {(L, S)} or {(N * self.num_heads, L, S)}, "
                    f"got {tuple(attn_mask.shape)}"
                )
        if key_padding_mask is not None:
            if key_padding_mask.shape != (N, S):
                raise ValueError(
                    f"key_padding_mask must have shape {(N, S)} ({(S,)} unbatched), got "
                    f"{tuple(key_padding_mask.shape)}"
                )
            pad = _as_float(key_padding_mask, dtype)[:, None, None, :]  # [N, 1, 1, S]
            merged = pad if merged is None else merged + pad
        return merged


def _as_float(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """Boolean "blocked" mask -> additive mask (-inf where True); float masks pass through."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
            mask, float("-inf")
        )
    if not torch.is_floating_point(mask):
        raise TypeError(f"masks must be bool or float tensors, got dtype {mask.dtype}")
    return mask.to(dtype)
