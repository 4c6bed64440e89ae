"""MultiheadAttention against torch.nn.MultiheadAttention (float64, random weights, strict loads)."""

import pytest
import torch

from cvcourse.transformers.attention import causal_mask
from cvcourse.transformers.multihead import MultiheadAttention, multi_head_attention

D = torch.float64
N, L, S, E, H = 3, 4, 6, 8, 2


def _pair(seed=0, **kwargs):
    torch.manual_seed(seed)
    ref = torch.nn.MultiheadAttention(E, H, dtype=D, **kwargs).eval()
    ours = MultiheadAttention(E, H, dtype=D, **kwargs).eval()
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ref, ours


def _inputs(batch_first, kdim=E, seed=1):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(N, L, E, generator=g, dtype=D), torch.randn(N, S, kdim, generator=g, dtype=D)
    return (x, y) if batch_first else (x.transpose(0, 1), y.transpose(0, 1))


def _masks(seed=2):
    g = torch.Generator().manual_seed(seed)
    return {
        "none": {},
        "bool attn_mask": {"attn_mask": torch.rand(L, S, generator=g) > 0.6},
        "float 3d attn_mask": {"attn_mask": torch.randn(N * H, L, S, generator=g, dtype=D)},
        "key_padding_mask": {"key_padding_mask": torch.rand(N, S, generator=g) > 0.7},
        "both, per head": {
            "attn_mask": torch.rand(L, S, generator=g) > 0.7,
            "key_padding_mask": torch.rand(N, S, generator=g) > 0.8,
            "average_attn_weights": False,
        },
    }


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize(
    "options",
    [{}, {"bias": False}, {"kdim": 3, "vdim": 3}, {"add_bias_kv": True, "add_zero_attn": True}],
)
@pytest.mark.parametrize("mask", list(_masks()))
def test_matches_torch(batch_first, options, mask):
    ref, ours = _pair(batch_first=batch_first, **options)
    x, y = _inputs(batch_first, kdim=options.get("kdim", E))
    kwargs = _masks()[mask]
    (out_r, w_r), (out_o, w_o) = ref(x, y, y, **kwargs), ours(x, y, y, **kwargs)
    torch.testing.assert_close(out_o, out_r)
    torch.testing.assert_close(w_o, w_r)
    out_o2, none = ours(x, y, y, need_weights=False, **kwargs)
    assert none is None
    torch.testing.assert_close(out_o2, out_r)


def test_self_attention_with_causal_mask_and_is_causal():
    ref, ours = _pair(batch_first=True)
    x, _ = _inputs(True)
    blocked = ~causal_mask(L)  # nn.MultiheadAttention: True = blocked
    expected = ref(x, x, x, attn_mask=blocked, is_causal=True, need_weights=False)[0]
    torch.testing.assert_close(ours(x, x, x, attn_mask=blocked, is_causal=True)[0], expected)
    torch.testing.assert_close(ours(x, x, x, is_causal=True)[0], expected)  # builds the mask itself


def test_unbatched_input():
    ref, ours = _pair()
    g = torch.Generator().manual_seed(5)
    x, kpm = torch.randn(L, E, generator=g, dtype=D), torch.tensor([False, True, False, False])
    (a, wa), (b, wb) = ref(x, x, x, key_padding_mask=kpm), ours(x, x, x, key_padding_mask=kpm)
    torch.testing.assert_close(b, a)
    torch.testing.assert_close(wb, wa)


def test_strict_load_both_ways_and_same_init_distribution():
    ref = torch.nn.MultiheadAttention(E, H, kdim=3, vdim=5)
    ours = MultiheadAttention(E, H, kdim=3, vdim=5)
    ref.load_state_dict(ours.state_dict(), strict=True)
    ours.load_state_dict(ref.state_dict(), strict=True)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in ref.state_dict().items()
    }
    fresh = MultiheadAttention(E, H)
    assert torch.all(fresh.in_proj_bias == 0) and torch.all(fresh.out_proj.bias == 0)


def test_gradients_match():
    ref, ours = _pair(batch_first=True)
    x, y = _inputs(True)
    ref(x, y, y)[0].square().sum().backward()
    ours(x, y, y)[0].square().sum().backward()
    for (name, p_ref), p_ours in zip(ref.named_parameters(), ours.parameters(), strict=True):
        torch.testing.assert_close(p_ours.grad, p_ref.grad, msg=name)


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        MultiheadAttention(10, 3)
    ours = MultiheadAttention(E, H, batch_first=True)
    x = torch.randn(N, L, E)
    with pytest.raises(ValueError, match="feature sizes"):
        ours(x, torch.randn(N, S, E + 1), torch.randn(N, S, E + 1))
    with pytest.raises(ValueError, match="attn_mask must have shape"):
        ours(x, x, x, attn_mask=torch.zeros(L + 1, L, dtype=torch.bool))
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        ours(x, x, x, key_padding_mask=torch.zeros(N, L + 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="3-D"):
        ours(x, x[0], x[0])
    with pytest.raises(TypeError, match="bool or float"):
        ours(x, x, x, attn_mask=torch.zeros(L, L, dtype=torch.long))
    # wrong type -> TypeError, wrong value -> ValueError, the message names the argument
    with pytest.raises(TypeError, match="key must be a torch.Tensor, got list"):
        ours(x, [[0.0]], x)
    with pytest.raises(ValueError, match=r"value must have 2 or 3 dimensions, got shape \[4\]"):
        ours(x, x, torch.zeros(4))
    with pytest.raises(TypeError, match="num_heads must be an int, got float 2.0"):
        MultiheadAttention(8, 2.0)
    with pytest.raises(ValueError, match="embed_dim must be an int >= 1, got 0"):
        MultiheadAttention(0, 1)
    with pytest.raises(ValueError, match="dropout must be a number >= 0.0 and <= 1.0, got 1.5"):
        MultiheadAttention(8, 2, dropout=1.5)
    with pytest.raises(TypeError, match="batch_first must be True or False, got int 1"):
        MultiheadAttention(8, 2, batch_first=1)


def test_the_core_function_is_the_module():
    # multi_head_attention (what chapter 3 shows) given the module's weights gives its output and
    # per-head weights, and torch's nn.MultiheadAttention's
    ref, ours = _pair()
    x, y = _inputs(batch_first=True)
    out_r, w_r = ref(x.transpose(0, 1), y.transpose(0, 1), y.transpose(0, 1), average_attn_weights=False)
    packed, bias = ours.in_proj_weight, ours.in_proj_bias
    for in_proj in (packed, tuple(packed.split(E))):  # stacked [3E, E], or W_Q, W_K, W_V apart
        out, weights = multi_head_attention(
            x, y, y, H, in_proj, bias, ours.out_proj.weight, ours.out_proj.bias
        )
        assert weights.shape == (N, H, L, S)
        torch.testing.assert_close(out, out_r.transpose(0, 1))
        torch.testing.assert_close(weights, w_r)
    # self-attention takes the one-product path: the same numbers
    self_r = ref(x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1))[0].transpose(0, 1)
    out, _ = multi_head_attention(x, x, x, H, packed, bias, ours.out_proj.weight, ours.out_proj.bias)
    torch.testing.assert_close(out, self_r)
