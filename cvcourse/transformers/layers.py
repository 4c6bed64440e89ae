r"""Transformer encoder and decoder layers (sections 3.1.3 and 3.1.4), post-norm and pre-norm.

Vaswani et al., "Attention Is All You Need", 2017, https://arxiv.org/abs/1706.03762 (post-norm);
Xiong et al., "On Layer Normalization in the Transformer Architecture", 2020,
https://arxiv.org/abs/2002.04745 (pre-norm, and why it trains more stably).

Same constructor arguments, submodule names (``self_attn``, ``multihead_attn``, ``linear1``,
``linear2``, ``norm1`` ...) and outputs as ``torch.nn.TransformerEncoderLayer`` and
``torch.nn.TransformerDecoderLayer``, so state dicts load strictly both ways.

Post-norm (``norm_first=False``), with h_j the tokens H of layer i:

.. math:: \bar h_j = \mathrm{LN}(h_j + \mathrm{MHSA}_H(h_j)), \qquad
          h_j^{(i+1)} = \mathrm{LN}(\bar h_j + \mathrm{FFN}(\bar h_j))

Pre-norm (``norm_first=True``): the normalisation moves inside the residual branch,

.. math:: \bar h_j = h_j + \mathrm{MHSA}(\mathrm{LN}(h_j)), \qquad
          h_j^{(i+1)} = \bar h_j + \mathrm{FFN}(\mathrm{LN}(\bar h_j))

The FFN is :math:`\mathrm{FFN}(x) = \mathrm{relu}(x W_1 + b_1) W_2 + b_2` applied to every token
on its own; ``ffn_as_conv1d`` rebuilds it as two 1x1 convolutions, which the notes remark is the same.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from cvcourse._checks import check_choice, check_type

from .multihead import MultiheadAttention

__all__ = ["TransformerEncoderLayer", "TransformerDecoderLayer", "ffn_as_conv1d"]

_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "gelu": F.gelu}


def _activation(activation: str | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    if callable(activation):
        return activation
    check_type("activation", activation, str, "'relu', 'gelu' or a callable")
    return _ACTIVATIONS[check_choice("activation", activation, _ACTIVATIONS)]


class TransformerEncoderLayer(nn.Module):
    """One encoder layer: MHSA and FFN, each in a residual connection with layer norm.

    Args:
        d_model: d_Y, the token dimension.
        nhead: number of attention heads h.
        dim_feedforward: hidden size of the FFN (the notes' "MLP size", usually 4 d_model).
        dropout: dropout after attention, inside and after the FFN.
        activation: "relu" (the notes' FFN), "gelu" or a callable.
        layer_norm_eps: epsilon of the layer norms.
        batch_first: tokens are [N, L, E] instead of [L, N, E].
        norm_first: pre-norm if True, post-norm (the original transformer) if False.
        bias: biases in the linear layers and layer norms.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = F.relu,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **factory
        )
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias, **factory)  # W_1, b_1
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias, **factory)  # W_2, b_2
        self.norm_first = norm_first
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.activation = _activation(activation)

    def forward(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        """Args: src Tensor[L, N, E] ([N, L, E] if batch_first); masks as ``MultiheadAttention``'s
        ``attn_mask`` / ``key_padding_mask`` (True = blocked). Returns a Tensor like ``src``."""
        x = src
        if self.norm_first:  # pre-norm: x + f(LN(x))
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:  # post-norm: LN(x + f(x))
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(
        self, x: Tensor, attn_mask: Tensor | None, key_padding_mask: Tensor | None, is_causal: bool
    ) -> Tensor:
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            is_causal=is_causal,
        )[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        # FFN(x) = relu(x W_1 + b_1) W_2 + b_2, token by token
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(nn.Module):
    """One decoder layer: masked MHSA, cross-attention to the encoder's output, FFN.

    Cross-attention takes its queries from the decoder tokens and its keys and values from
    ``memory`` (the encoder stack's output), so every target token can look at the whole input.
    Arguments as ``TransformerEncoderLayer``.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = F.relu,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **factory
        )
        self.multihead_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **factory
        )
        self.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first = norm_first
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm3 = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.activation = _activation(activation)

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """Args: tgt Tensor[T, N, E], memory Tensor[S, N, E] ([N, ...] if batch_first); ``tgt_mask``
        is usually ``~causal_mask(T)`` (masked self-attention). Returns a Tensor like ``tgt``."""
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(
                self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal
            )
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(
                x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            )
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(
        self, x: Tensor, attn_mask: Tensor | None, key_padding_mask: Tensor | None, is_causal: bool
    ) -> Tensor:
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            is_causal=is_causal,
        )[0]
        return self.dropout1(x)

    def _mha_block(
        self,
        x: Tensor,
        mem: Tensor,
        attn_mask: Tensor | None,
        key_padding_mask: Tensor | None,
        is_causal: bool,
    ) -> Tensor:
        # queries from the decoder (x), keys and values from the encoder (mem)
        x = self.multihead_attn(
            x,
            mem,
            mem,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            is_causal=is_causal,
        )[0]
        return self.dropout2(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


def ffn_as_conv1d(layer: TransformerEncoderLayer | TransformerDecoderLayer) -> nn.Sequential:
    """The layer's FFN rebuilt as two 1D convolutions of kernel size 1 (same weights, same numbers).

    A 1x1 convolution over the token axis applies the same matrix to every token, exactly what the
    FFN's two linear layers do. Input and output are channels-first: Tensor[N, E, L].

    Args:
        layer: an encoder or decoder layer whose ``linear1``/``linear2`` are copied.

    Returns:
        ``nn.Sequential(Conv1d(E, F, 1), activation, Conv1d(F, E, 1))`` (eval-mode FFN, no dropout).
    """
    check_type(
        "layer",
        layer,
        (TransformerEncoderLayer, TransformerDecoderLayer),
        "a TransformerEncoderLayer or TransformerDecoderLayer",
    )
    lin1, lin2 = layer.linear1, layer.linear2
    conv1 = nn.Conv1d(lin1.in_features, lin1.out_features, kernel_size=1, bias=lin1.bias is not None)
    conv2 = nn.Conv1d(lin2.in_features, lin2.out_features, kernel_size=1, bias=lin2.bias is not None)
    conv1 = conv1.to(lin1.weight)
    conv2 = conv2.to(lin2.weight)
    conv1.weight.data.copy_(lin1.weight.data[:, :, None])  # [F, E] -> [F, E, 1]
    conv2.weight.data.copy_(lin2.weight.data[:, :, None])  # [E, F] -> [E, F, 1]
    if lin1.bias is not None:
        conv1.bias.data.copy_(lin1.bias.data)
        conv2.bias.data.copy_(lin2.bias.data)
    act = layer.activation
    return nn.Sequential(conv1, _Lambda(act), conv2)


class _Lambda(nn.Module):
    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)
