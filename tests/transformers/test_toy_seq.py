"""The toy encoder-decoder: no leak through the causal mask, one pass = step by step, generation."""

import pytest
import torch

from cvcourse.transformers.toy_seq import (
    EOS,
    SOS,
    ReverseDigits,
    Seq2SeqTransformer,
    decode_digits,
    generate,
    influence_matrix,
    sequence_loss,
    stepwise_logits,
    token_accuracy,
)


@pytest.fixture(scope="module")
def batch():
    ds = ReverseDigits(8, length=5, seed=3)
    inputs = torch.stack([ds[i][0] for i in range(8)])
    return inputs[:, :5], inputs[:, 5:], torch.stack([ds[i][1] for i in range(8)])


def _model(causal):
    torch.manual_seed(0)
    return Seq2SeqTransformer(5, causal=causal).double().eval()


def test_dataset_layout(batch):
    src, tgt_in, tgt_out = batch
    assert torch.equal(tgt_in[:, 0], torch.full((8,), SOS)) and torch.equal(
        tgt_out[:, -1], torch.full((8,), EOS)
    )
    assert torch.equal(tgt_in[:, 1:], src.flip(1)) and torch.equal(tgt_out[:, :-1], src.flip(1))
    a, b = ReverseDigits(4, 5, seed=1), ReverseDigits(4, 5, seed=1)
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(4))


def test_causal_mask_stops_the_leak(batch):
    src, tgt_in, _ = batch
    masked = influence_matrix(_model(True), src, tgt_in)
    T = tgt_in.shape[1]
    assert torch.equal(masked, torch.ones(T, T, dtype=torch.bool).tril())  # never j > i, always j <= i
    leaky = influence_matrix(_model(False), src, tgt_in)
    assert leaky.triu(1).any()  # without the mask, outputs see the future


def test_one_teacher_forced_pass_equals_step_by_step(batch):
    src, tgt_in, _ = batch
    model = _model(True)
    torch.testing.assert_close(stepwise_logits(model, src, tgt_in), model(torch.cat([src, tgt_in], 1)))
    leaky = _model(False)
    assert not torch.allclose(stepwise_logits(leaky, src, tgt_in), leaky(torch.cat([src, tgt_in], 1)))


def test_generate_equals_argmax_of_stepwise_decoding(batch):
    src, _, _ = batch
    model = _model(True)
    out = generate(model, src, max_len=6)
    assert out.shape[0] == 8 and out.shape[1] <= 6
    # feeding the generated prefix back in, one pass reproduces every generated token
    tgt_in = torch.cat([torch.full((8, 1), SOS), out[:, :-1]], 1)
    logits = model.decode(tgt_in, model.encode(src))
    finished = torch.cumsum(out == EOS, 1) - (out == EOS).long() > 0  # positions after an <EoS>
    assert torch.equal(logits.argmax(-1)[~finished], out[~finished])


def test_loss_and_accuracy(batch):
    logits = torch.zeros(2, 3, 13)
    logits[0, :, 4] = 10
    target = torch.tensor([[4, 4, 4], [5, 5, 5]])
    assert token_accuracy(logits, target) == 0.5
    torch.testing.assert_close(
        sequence_loss(logits, target),
        torch.nn.functional.cross_entropy(logits.reshape(6, 13), target.reshape(6)),
    )
    assert decode_digits(torch.tensor([SOS, 3, 12, EOS])) == "<SoS> 0 9 <EoS>"


def test_bad_input():
    with pytest.raises(ValueError, match="length"):
        ReverseDigits(3, length=0)
    with pytest.raises(ValueError, match="LongTensor"):
        Seq2SeqTransformer(5)(torch.zeros(2, 5, dtype=torch.long))


def test_sequence_accuracy_pads_short_generations():
    from cvcourse.transformers.toy_seq import sequence_accuracy

    target = torch.tensor([[4, 5, EOS], [6, 7, EOS]])
    assert sequence_accuracy(torch.tensor([[4, 5, EOS], [6, 8, EOS]]), target) == 0.5
    assert sequence_accuracy(torch.tensor([[4], [EOS]]), target) == 0.0  # stopped early: wrong
    assert sequence_accuracy(torch.tensor([[4, 5, EOS, EOS], [6, 7, EOS, EOS]]), target) == 1.0
