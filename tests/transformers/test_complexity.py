"""The notes' numbers: a 224 x 224 image with pixel tokens, self-attention vs RNN costs."""

import pytest

from cvcourse.transformers.complexity import attention_vs_rnn, pixel_attention_memory


def test_pixel_token_estimate_of_the_notes():
    m = pixel_attention_memory(224, bytes_per_entry=2, layers=12, heads=8)
    assert m["entries"] == 224**4
    assert round(m["entries"] / 1e9, 1) == 2.5  # "2.5 bln entries"
    assert round(m["bytes_one"] / 1e9) == 5  # "5 GB in half precision"
    assert round(m["bytes_all"] / 1e9) == 483  # "483 GB for 12 layers x 8 heads"


def test_attention_vs_rnn():
    c = attention_vs_rnn(n=100, d=512)
    assert c["self-attention"]["operations"] == 100 * 100 * 512 and c["rnn"]["operations"] == 100 * 512 * 512
    assert c["self-attention"]["sequential"] == 1 and c["rnn"]["sequential"] == 100
    assert c["self-attention"]["path"] == 1 and c["rnn"]["path"] == 100
    # attention is cheaper exactly when n < d
    assert (
        attention_vs_rnn(511, 512)["self-attention"]["operations"]
        < attention_vs_rnn(511, 512)["rnn"]["operations"]
    )
    assert (
        attention_vs_rnn(513, 512)["self-attention"]["operations"]
        > attention_vs_rnn(513, 512)["rnn"]["operations"]
    )


@pytest.mark.parametrize(
    "bad, error", [(0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_errors(bad, error):
    # wrong type -> TypeError, wrong value -> ValueError
    with pytest.raises(error, match="n must be"):
        attention_vs_rnn(bad, 4)
    with pytest.raises(error, match="image_size"):
        pixel_attention_memory(bad)
