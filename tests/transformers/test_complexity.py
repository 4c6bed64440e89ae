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


@pytest.mark.parametrize(
    "image_size, patch, layers, hidden, mlp", [(224, 16, 12, 768, 3072), (64, 8, 2, 32, 48)]
)
def test_vit_flops_equal_the_flop_counter(image_size, patch, layers, hidden, mlp):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from cvcourse.transformers.complexity import vit_flops
    from cvcourse.transformers.vit import VisionTransformer

    with torch.device("meta"):
        model = VisionTransformer(
            image_size=image_size,
            patch_size=patch,
            num_layers=layers,
            num_heads=4,
            hidden_dim=hidden,
            mlp_dim=mlp,
        ).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, 3, image_size, image_size))
    ours = vit_flops(image_size, patch, layers, hidden, mlp)
    assert ours["total"] == counter.get_total_flops()
    by_op = {str(k): v for k, v in counter.get_flop_counts()["Global"].items()}
    assert ours["patch embedding"] == by_op["aten.convolution"]
    assert ours["attention"] == by_op["aten.bmm"]  # Q K^T and the weighted sum: the N^2 part


def test_vit_flops_attention_is_quadratic_in_tokens():
    from cvcourse.transformers.complexity import vit_flops

    a, b = vit_flops(224, 32), vit_flops(224, 16)  # 50 and 197 tokens
    assert b["attention"] * 50**2 == a["attention"] * 197**2
    assert b["mlp"] * 50 == a["mlp"] * 197
    with pytest.raises(ValueError, match="patch_size"):
        vit_flops(224, 15)
    with pytest.raises(TypeError, match="hidden_dim"):
        vit_flops(hidden_dim=7.5)
