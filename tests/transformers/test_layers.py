"""Encoder/decoder layers against torch.nn.TransformerEncoderLayer / TransformerDecoderLayer."""

import pytest
import torch

from cvcourse.transformers.attention import causal_mask
from cvcourse.transformers.layers import (
    TransformerDecoderLayer,
    TransformerEncoderLayer,
    ffn_as_conv1d,
)

D = torch.float64
ARGS = {"d_model": 16, "nhead": 4, "dim_feedforward": 24, "dropout": 0.0, "dtype": D}


def _load(ref_cls, ours_cls, **kwargs):
    torch.manual_seed(0)
    ref = ref_cls(**ARGS, **kwargs).eval()
    ours = ours_cls(**ARGS, **kwargs).eval()
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.load_state_dict(ours.state_dict(), strict=True)
    return ref, ours


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer_matches_torch(norm_first, activation, batch_first):
    ref, ours = _load(
        torch.nn.TransformerEncoderLayer,
        TransformerEncoderLayer,
        norm_first=norm_first,
        activation=activation,
        batch_first=batch_first,
    )
    x = torch.randn(3, 5, 16, dtype=D)  # [N, L, E]
    if not batch_first:
        x = x.transpose(0, 1)  # [L, N, E]
    mask = ~causal_mask(5)
    kpm = torch.zeros(3, 5, dtype=torch.bool)
    kpm[0, 4] = kpm[2, 1:] = True
    torch.testing.assert_close(ours(x), ref(x))
    torch.testing.assert_close(ours(x, src_mask=mask), ref(x, src_mask=mask))
    torch.testing.assert_close(ours(x, src_key_padding_mask=kpm), ref(x, src_key_padding_mask=kpm))


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_torch(norm_first):
    ref, ours = _load(
        torch.nn.TransformerDecoderLayer,
        TransformerDecoderLayer,
        norm_first=norm_first,
        batch_first=True,
    )
    tgt, memory = torch.randn(2, 5, 16, dtype=D), torch.randn(2, 7, 16, dtype=D)
    mask = ~causal_mask(5)
    torch.testing.assert_close(ours(tgt, memory, tgt_mask=mask), ref(tgt, memory, tgt_mask=mask))
    mkpm = torch.zeros(2, 7, dtype=torch.bool)
    mkpm[1, 3:] = True
    torch.testing.assert_close(
        ours(tgt, memory, memory_key_padding_mask=mkpm),
        ref(tgt, memory, memory_key_padding_mask=mkpm),
    )


def test_post_norm_output_is_normalised_pre_norm_is_not():
    post = TransformerEncoderLayer(**ARGS, norm_first=False)
    pre = TransformerEncoderLayer(**ARGS, norm_first=True)
    x = 5 + 3 * torch.randn(2, 6, 16, dtype=D)
    y = post(x)  # LN last: mean 0, variance 1 per token
    torch.testing.assert_close(y.mean(-1), torch.zeros(2, 6, dtype=D), atol=1e-9, rtol=0)
    assert pre(x).mean(-1).abs().min() > 1  # the residual stream keeps x's offset


@pytest.mark.parametrize("layer_cls", [TransformerEncoderLayer, TransformerDecoderLayer])
def test_ffn_equals_two_1x1_convolutions(layer_cls):
    layer = layer_cls(**ARGS).eval()
    x = torch.randn(3, 5, 16, dtype=D)  # [N, L, E]
    conv = ffn_as_conv1d(layer)
    torch.testing.assert_close(conv(x.transpose(1, 2)).transpose(1, 2), layer._ff_block(x))
    with pytest.raises(TypeError, match="TransformerEncoderLayer"):
        ffn_as_conv1d(torch.nn.Linear(2, 2))


def test_bad_activation():
    with pytest.raises(ValueError, match="activation"):
        TransformerEncoderLayer(8, 2, activation="tanh")
