"""attention.py against torch.nn.functional.scaled_dot_product_attention (float64), plus the notes' steps."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse.transformers.attention import (
    attention_with_weights,
    causal_mask,
    dot_product_attention_one,
    scaled_dot_product_attention,
)

D = torch.float64


def _qkv(batch=(2, 3), L=4, S=6, E=5, Ev=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(*batch, L, E, generator=g, dtype=D),
        torch.randn(*batch, S, E, generator=g, dtype=D),
        torch.randn(*batch, S, Ev, generator=g, dtype=D),
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"is_causal": True},
        {"scale": 0.37},
        {"attn_mask": torch.rand(4, 6, generator=torch.Generator().manual_seed(1)) > 0.4},
        {"attn_mask": torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(2), dtype=D)},
    ],
)
def test_matches_torch(kwargs):
    q, k, v = _qkv()
    torch.testing.assert_close(
        scaled_dot_product_attention(q, k, v, **kwargs),
        F.scaled_dot_product_attention(q, k, v, **kwargs),
    )


@pytest.mark.parametrize("L,S", [(4, 6), (6, 4), (1, 1), (5, 5)])
def test_causal_top_left_aligned_like_torch(L, S):
    q, k, v = _qkv(L=L, S=S)
    torch.testing.assert_close(
        scaled_dot_product_attention(q, k, v, is_causal=True),
        F.scaled_dot_product_attention(q, k, v, is_causal=True),
    )


def test_fully_masked_query_gives_zero_like_torch():
    q, k, v = _qkv()
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[2] = False  # query 2 may attend to nothing
    ours, weights = attention_with_weights(q, k, v, attn_mask=mask)
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert torch.all(ours[..., 2, :] == 0) and torch.all(weights[..., 2, :] == 0)
    assert not torch.isnan(ours).any()


@pytest.mark.parametrize("L,S", [(0, 6), (4, 0), (0, 0)])
def test_empty_sequences_like_torch(L, S):
    q, k, v = _qkv(L=L, S=S)
    ours, ref = scaled_dot_product_attention(q, k, v), F.scaled_dot_product_attention(q, k, v)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref)


def test_ties_give_uniform_weights():
    q = torch.zeros(1, 3, 4, dtype=D)  # every score is 0: a tie between all keys
    k, v = torch.randn(1, 5, 4, dtype=D), torch.randn(1, 5, 2, dtype=D)
    out, w = attention_with_weights(q, k, v)
    torch.testing.assert_close(w, torch.full((1, 3, 5), 0.2, dtype=D))
    torch.testing.assert_close(out, v.mean(dim=1, keepdim=True).expand(1, 3, 2))


def test_grouped_query_attention_like_torch():
    g = torch.Generator().manual_seed(3)
    q = torch.randn(2, 6, 4, 5, generator=g, dtype=D)
    k, v = (
        torch.randn(2, 2, 7, 5, generator=g, dtype=D),
        torch.randn(2, 2, 7, 3, generator=g, dtype=D),
    )
    torch.testing.assert_close(
        scaled_dot_product_attention(q, k, v, enable_gqa=True),
        F.scaled_dot_product_attention(q, k, v, enable_gqa=True),
    )


def test_weights_are_the_softmax_of_scaled_scores_by_a_slow_loop():
    q, k, v = _qkv(batch=(1,))
    out, w = attention_with_weights(q, k, v)
    dk = q.shape[-1]
    for i in range(q.shape[1]):
        scores = torch.tensor([float(q[0, i] @ k[0, j]) / dk**0.5 for j in range(k.shape[1])], dtype=D)
        expected = torch.exp(scores) / torch.exp(scores).sum()
        torch.testing.assert_close(w[0, i], expected)
        torch.testing.assert_close(out[0, i], sum(expected[j] * v[0, j] for j in range(k.shape[1])))


def test_dot_product_attention_one_is_the_notes_formula():
    g = torch.Generator().manual_seed(4)
    x1, Y = torch.randn(5, generator=g, dtype=D), torch.randn(7, 5, generator=g, dtype=D)
    a1, w = dot_product_attention_one(x1, Y)
    torch.testing.assert_close(w, torch.softmax(x1 @ Y.T, dim=0))
    torch.testing.assert_close(a1, w @ Y)
    # the same as the general function without projections and without the temperature
    torch.testing.assert_close(a1, scaled_dot_product_attention(x1[None], Y, Y, scale=1.0)[0])


def test_causal_mask():
    m = causal_mask(4)
    assert m.dtype == torch.bool and torch.equal(m, torch.tril(torch.ones(4, 4, dtype=torch.bool)))
    assert causal_mask(0).shape == (0, 0) and causal_mask(1).item()
    with pytest.raises(ValueError, match="size"):
        causal_mask(-1)


def test_gradcheck():
    q, k, v = (t.requires_grad_() for t in _qkv(batch=(1,), L=3, S=4, E=2, Ev=2))
    mask = torch.tensor([[True, True, False, True]] * 3)
    assert torch.autograd.gradcheck(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=mask), (q, k, v)
    )


@pytest.mark.parametrize(
    "shapes,match",
    [
        (((4, 5), (6, 4), (6, 7)), "last dim"),
        (((4, 5), (6, 5), (5, 7)), "same length"),
        (((5,), (6, 5), (6, 7)), "query must have shape"),
    ],
)
def test_bad_shapes_raise_clear_errors(shapes, match):
    q, k, v = (torch.randn(*s) for s in shapes)
    with pytest.raises(ValueError, match=match):
        scaled_dot_product_attention(q, k, v)


def test_bad_arguments():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="is_causal"):
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(4, 6, dtype=torch.bool), is_causal=True)
    with pytest.raises(TypeError, match="query must be a torch.Tensor, got list"):
        scaled_dot_product_attention([[1.0]], k, v)
    with pytest.raises(ValueError, match="x1"):
        dot_product_attention_one(torch.randn(3), torch.randn(4, 5))
    # wrong type -> TypeError, wrong value -> ValueError, the message names the argument
    with pytest.raises(ValueError, match=r"Y must have 2 dimensions, got shape \[5\]"):
        dot_product_attention_one(torch.randn(5), torch.randn(5))
    with pytest.raises(TypeError, match="x1 must be a torch.Tensor, got list"):
        dot_product_attention_one([1.0], torch.randn(4, 1))
    with pytest.raises(TypeError, match="size must be an int, got float 3.0"):
        causal_mask(3.0)
    with pytest.raises(ValueError, match="dropout_p must be a number >= 0.0 and <= 1.0, got 2.0"):
        scaled_dot_product_attention(q, k, v, dropout_p=2.0)
    with pytest.raises(TypeError, match="is_causal must be True or False, got int 1"):
        scaled_dot_product_attention(q, k, v, is_causal=1)


@settings(max_examples=25, deadline=None)
@given(
    L=st.integers(0, 5),
    S=st.integers(0, 5),
    E=st.integers(1, 4),
    causal=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_property_matches_torch(L, S, E, causal, seed):
    q, k, v = _qkv(batch=(2,), L=L, S=S, E=E, Ev=3, seed=seed)
    torch.testing.assert_close(
        scaled_dot_product_attention(q, k, v, is_causal=causal),
        F.scaled_dot_product_attention(q, k, v, is_causal=causal),
    )
