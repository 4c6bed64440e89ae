"""Additive (Bahdanau) attention against an explicit double loop, gradcheck and argument checks."""

import pytest
import torch

from cvcourse.transformers.additive import AdditiveAttention


def test_equals_the_loop_over_i_and_j():
    torch.manual_seed(0)
    att = AdditiveAttention(5, 3, 7).double()
    s, h = torch.randn(2, 4, 5, dtype=torch.float64), torch.randn(2, 6, 3, dtype=torch.float64)
    context, weights = att(s, h)
    W, U, b, v = att.query_proj.weight, att.key_proj.weight, att.key_proj.bias, att.score.weight[0]
    for n in range(2):
        for i in range(4):
            e = torch.stack([v @ torch.tanh(W @ s[n, i] + U @ h[n, j] + b) for j in range(6)])
            alpha = torch.softmax(e, 0)
            torch.testing.assert_close(weights[n, i], alpha)
            torch.testing.assert_close(context[n, i], (alpha[:, None] * h[n]).sum(0))


def test_gradcheck_and_single_key():
    torch.manual_seed(1)
    att = AdditiveAttention(2, 2, 3).double()
    s = torch.randn(1, 2, 2, dtype=torch.float64, requires_grad=True)
    h = torch.randn(1, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: att(a, b)[0], (s, h))
    context, weights = att(s, h[:, :1])  # one key: weight 1, context = that key
    assert torch.equal(weights, torch.ones(1, 2, 1, dtype=torch.float64))
    torch.testing.assert_close(context, h[:, :1].expand(1, 2, 2))


def test_checks():
    att = AdditiveAttention(2, 3, 4)
    with pytest.raises(ValueError, match="keys"):
        att(torch.randn(1, 2, 2), torch.randn(1, 3, 2))
    with pytest.raises(ValueError, match="hidden_dim"):
        AdditiveAttention(2, 3, 0)


def test_reversal_aligner_learns_the_anti_diagonal():
    from cvcourse.transformers.additive import train_reversal_aligner

    model, losses = train_reversal_aligner(length=5, steps=80, seed=0)
    assert losses[-1] < 0.1 * losses[0]
    src = torch.randint(0, 10, (32, 5), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits, weights = model(src)
    assert torch.equal(logits.argmax(-1), src.flip(1))  # reverses unseen strings
    assert torch.equal(weights.mean(0).argmax(-1), torch.arange(4, -1, -1))  # output i looks at input n-1-i


def test_reversal_aligner_checks():
    from cvcourse.transformers.additive import ReversalAligner, train_reversal_aligner

    with pytest.raises(ValueError, match="src"):
        ReversalAligner(length=4)(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="steps"):
        train_reversal_aligner(steps=0)
