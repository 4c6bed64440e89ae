r"""Multi-head attention (section 3.1.3): h attention heads in parallel, concatenated, projected.

Vaswani et al., "Attention Is All You Need", 2017, https://arxiv.org/abs/1706.03762.

.. math:: \mathbf{A} = [A^{(1)} | \dots | A^{(h)}]\, W_O, \qquad
          A^{(i)} = \mathrm{softmax}\left(\frac{Q^{(i)} K^{(i)T}}{\sqrt{d_K}}\right) V^{(i)},
          \qquad d_K = d_V = d_Y / h

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

from cvcourse._checks import check_bool, check_float, check_int, check_tensor

from .attention import attention_with_weights, causal_mask

__all__ = ["MultiheadAttention", "multi_head_attention"]


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
        embed_dim = check_int("embed_dim", embed_dim, low=1)
        num_heads = check_int("num_heads", num_heads, low=1)
        if embed_dim % num_heads != 0:
            raise ValueError(f"embed_dim must be divisible by num_heads ({num_heads}), got {embed_dim}")
        dropout = check_float("dropout", dropout, low=0.0, high=1.0)
        for name, flag in (
            ("bias", bias),
            ("add_bias_kv", add_bias_kv),
            ("add_zero_attn", add_zero_attn),
            ("batch_first", batch_first),
        ):
            check_bool(name, flag)
        kdim = None if kdim is None else check_int("kdim", kdim, low=1)
        vdim = None if vdim is None else check_int("vdim", vdim, low=1)
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
        """Attend from ``query`` to ``key``/``value``: ``multi_head_attention`` with torch's layouts,
        masks and options around it.

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
        query, key, value, key_padding_mask, batched = self._to_batch_first(
            query, key, value, key_padding_mask
        )  # [N, L, E], [N, S, kdim], [N, S, vdim]
        N, L, E = query.shape
        if is_causal and attn_mask is None:
            attn_mask = ~causal_mask(L, device=query.device)[:, : key.shape[1]]
        mask = self._float_mask(attn_mask, key_padding_mask, N, L, key.shape[1], query.dtype)
        extra = []  # keys/values appended after the projection, which every query may attend to
        if self.bias_k is not None:  # one learned key and value
            extra.append((self.bias_k.expand(N, 1, E), self.bias_v.expand(N, 1, E)))
        if self.add_zero_attn:  # one all-zero key and value
            extra.append((query.new_zeros(N, 1, E),) * 2)
        if extra:
            extra_kv = (torch.cat([k for k, _ in extra], 1), torch.cat([v for _, v in extra], 1))
            mask = None if mask is None else F.pad(mask, (0, len(extra)))  # 0 = may attend
        in_proj = (
            self.in_proj_weight
            if self._qkv_same_embed_dim  # [3E, E], packed as torch keeps it
            else (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        )
        out, weights = multi_head_attention(
            query,
            key,
            value,
            self.num_heads,
            in_proj,
            self.in_proj_bias,
            self.out_proj.weight,
            self.out_proj.bias,
            mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
            extra_kv=extra_kv if extra else None,
        )  # [N, L, E], [N, h, L, S]
        if not batched:
            out, weights = out.squeeze(0), weights.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)  # back to [L, N, E]
        if not need_weights:
            return out, None
        return out, (weights.mean(dim=-3) if average_attn_weights else weights)

    def _to_batch_first(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None):
        """Check the inputs and bring them to [N, L or S, features]; also says if they were batched."""
        for name, t in (("query", query), ("key", key), ("value", value)):
            check_tensor(name, t, ndim=(2, 3), dtype="float")
            if t.dim() != query.dim():
                raise ValueError(
                    f"query, key and value must all be 3-D (batched) or 2-D (unbatched), "
                    f"got query with shape {list(query.shape)} and {name} with shape "
                    f"{list(t.shape)}"
                )
        batched = query.dim() == 3
        if not batched:  # [L, E] -> [1, L, E]
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif not self.batch_first:  # [L, N, E] -> [N, L, E]
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        N, _, E = query.shape
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
        return query, key, value, key_padding_mask, batched

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


def multi_head_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    num_heads: int,
    in_proj_weight: Tensor | tuple[Tensor, Tensor, Tensor],
    in_proj_bias: Tensor | None,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    extra_kv: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Multi-head attention: project, split into heads, attend, merge the heads, project.

    .. math:: \mathbf{A} = [A^{(1)} | \dots | A^{(h)}]\, W_O, \qquad
              A^{(i)} = \mathrm{softmax}\left(\frac{Q^{(i)} K^{(i)T}}{\sqrt{d_K}} + M\right) V^{(i)}

    Args:
        query: X, Tensor[N, L, E]; key, value: Y, Tensor[N, S, kdim] and Tensor[N, S, vdim].
        num_heads: h; head i reads columns i d_K .. (i + 1) d_K of Q, K and V (d_K = E / h).
        in_proj_weight: W_Q, W_K, W_V in ``nn.Linear``'s [out, in] layout, stacked into one
            Tensor[3E, E] (as torch stores them) or, for other key/value sizes, a tuple of three.
        in_proj_bias: b_Q, b_K, b_V stacked, Tensor[3E], or None.
        out_proj_weight, out_proj_bias: W_O Tensor[E, E] and b_O Tensor[E] (or None).
        mask: M, an additive float mask [N, h or 1, L, S] (0 = attend, -inf = blocked), or None.
        dropout_p: dropout on the attention weights.
        extra_kv: keys and values [N, s, E] appended after the projection (``add_bias_kv``, ...).

    Returns:
        ``(A, weights)``: Tensor[N, L, E] and the attention weights of every head [N, h, L, S].
    """
    N, L, S, h = query.shape[0], query.shape[1], key.shape[1], num_heads
    packed = isinstance(in_proj_weight, Tensor)
    E = (in_proj_weight.shape[0] // 3) if packed else in_proj_weight[0].shape[0]
    if packed and query is key and key is value:  # self-attention: one product, then split (faster)
        q, k, v = F.linear(query, in_proj_weight, in_proj_bias).chunk(3, dim=-1)
    else:  # Q = X W_Q + b_Q, K = Y W_K + b_K, V = Y W_V + b_V: [N, L, E], [N, S, E], [N, S, E]
        w_q, w_k, w_v = in_proj_weight.split(E) if packed else in_proj_weight
        b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.split(E)
        q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)
    if extra_kv is not None:
        k, v = torch.cat([k, extra_kv[0]], dim=1), torch.cat([v, extra_kv[1]], dim=1)
        S = k.shape[1]
    q = q.reshape(N, L, h, E // h).transpose(1, 2)  # [N, h, L, d_K]
    k = k.reshape(N, S, h, E // h).transpose(1, 2)  # [N, h, S, d_K]
    v = v.reshape(N, S, h, E // h).transpose(1, 2)  # [N, h, S, d_V]
    heads, weights = attention_with_weights(q, k, v, attn_mask=mask, dropout_p=dropout_p)  # [N, h, L, d_V]
    concat = heads.transpose(1, 2).reshape(N, L, E)  # [N, L, h d_V] = [A^(1) | ... | A^(h)]
    return F.linear(concat, out_proj_weight, out_proj_bias), weights  # ... W_O + b_O


def _as_float(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """Boolean "blocked" mask -> additive mask (-inf where True); float masks pass through."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
    if not torch.is_floating_point(mask):
        raise TypeError(f"masks must be bool or float tensors, got dtype {mask.dtype}")
    return mask.to(dtype)
