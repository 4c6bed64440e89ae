"""Sinusoidal encoding against the notes' formula (a loop), permutation equivariance, learned encodings."""

import math

import pytest
import torch

from cvcourse.transformers.layers import TransformerEncoderLayer
from cvcourse.transformers.multihead import MultiheadAttention
from cvcourse.transformers.positional import (
    LearnedPositionalEncoding,
    permutation_gap,
    sinusoidal_positional_encoding,
)

D = torch.float64


@pytest.mark.parametrize("n,d", [(7, 8), (5, 7), (1, 1), (0, 4)])
def test_sinusoid_is_the_formula(n, d):
    pe = sinusoidal_positional_encoding(n, d, dtype=D)
    assert pe.shape == (n, d)
    for pos in range(n):
        for col in range(d):
            i = col // 2  # columns 2i (sin) and 2i + 1 (cos) share the frequency
            angle = pos / 10000 ** (2 * i / d)
            assert pe[pos, col].item() == pytest.approx(
                math.sin(angle) if col % 2 == 0 else math.cos(angle), abs=1e-12
            )


def test_sinusoid_matches_torchs_tutorial_formula():
    """The exp/log form used in PyTorch's tutorials and Annotated Transformer gives the same table."""
    n, d = 50, 16
    pos = torch.arange(n, dtype=D)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=D) * (-math.log(10000.0) / d))
    ref = torch.zeros(n, d, dtype=D)
    ref[:, 0::2], ref[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
    torch.testing.assert_close(sinusoidal_positional_encoding(n, d, dtype=D), ref)


def test_sinusoid_errors():
    with pytest.raises(ValueError, match="d_model"):
        sinusoidal_positional_encoding(3, 0)
    with pytest.raises(ValueError, match="num_positions"):
        sinusoidal_positional_encoding(-1, 4)
    with pytest.raises(TypeError, match="d_model must be an int, got float 4.0"):
        sinusoidal_positional_encoding(3, 4.0)


def test_self_attention_is_permutation_equivariant_and_positions_break_it():
    torch.manual_seed(0)
    mha = MultiheadAttention(8, 2, batch_first=True).double().eval()
    layer = TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).double().eval()
    x = torch.randn(2, 6, 8, dtype=D)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    assert permutation_gap(lambda t: mha(t, t, t)[0], x, perm) < 1e-12
    assert permutation_gap(layer, x, perm) < 1e-12
    pe = sinusoidal_positional_encoding(6, 8, dtype=D)
    assert permutation_gap(lambda t: layer(t + pe), x, perm) > 1e-2
    with pytest.raises(ValueError, match="permutation"):
        permutation_gap(layer, x, torch.tensor([0, 0, 1, 2, 3, 4]))
    with pytest.raises(TypeError, match="perm must have an int dtype"):
        permutation_gap(layer, x, torch.zeros(6))
    with pytest.raises(TypeError, match="tokens must be a torch.Tensor, got list"):
        permutation_gap(layer, [[0.0]], torch.arange(6))


def test_learned_encoding_adds_a_parameter_per_position():
    enc = LearnedPositionalEncoding(10, 4)
    x = torch.zeros(2, 7, 4)
    torch.testing.assert_close(enc(x), enc.pos_embedding[:, :7].expand(2, 7, 4))
    enc(x).sum().backward()
    assert torch.all(enc.pos_embedding.grad[:, :7] == 2) and torch.all(enc.pos_embedding.grad[:, 7:] == 0)
    with pytest.raises(ValueError, match="tokens"):
        enc(torch.zeros(1, 11, 4))
