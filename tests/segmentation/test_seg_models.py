"""The chapter's small segmenters: U-Net, SmallFCN (32s/16s/8s), SegFormer and its efficient attention."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cvcourse.segmentation.fcn import SmallFCN
from cvcourse.segmentation.segformer import (
    EfficientSelfAttention,
    MixFFN,
    OverlapPatchEmbed,
    SegFormer,
    attention_cost,
)
from cvcourse.segmentation.unet import UNet

MODELS = {
    "unet": lambda: UNet(width=4, depth=3),
    "fcn8s": lambda: SmallFCN("8s", width=4),
    "segformer": lambda: SegFormer(embed_dims=(8, 8, 16, 16), num_heads=(1, 1, 2, 2), depths=(1, 1, 1, 1)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_logits_have_the_image_size_and_nine_channels(name):
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    for h, w in ((64, 64), (32, 96)):
        assert model(torch.rand(2, 3, h, w)).shape == (2, 9, h, w)


@pytest.mark.parametrize("name", list(MODELS))
def test_config_rebuilds_the_model(name):
    model = MODELS[name]()
    config = dict(vars(model.config))
    rebuilt = type(model)(**config)
    assert [(k, v.shape) for k, v in rebuilt.state_dict().items()] == [
        (k, v.shape) for k, v in model.state_dict().items()
    ]


@pytest.mark.parametrize("name", list(MODELS))
def test_bad_images_raise_clear_errors(name):
    model = MODELS[name]().eval()
    with pytest.raises(ValueError, match=r"x must have shape \[N, 3, H, W\], got shape \[3, 64, 64\]"):
        model(torch.rand(3, 64, 64))
    with pytest.raises(TypeError, match="x must have a float dtype, got dtype torch.uint8"):
        model(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match="divisible by|multiples of 32"):
        model(torch.rand(1, 3, 60, 64))


def test_unet_skips_are_concatenated_and_output_sees_the_whole_image():
    torch.manual_seed(0)
    model = UNet(width=4, depth=3).double().eval()
    assert [f.shape[1:] for f in model.encode(torch.rand(1, 3, 32, 32, dtype=torch.float64))] == [
        (4, 32, 32), (8, 16, 16), (16, 8, 8), (32, 4, 4)
    ]  # fmt: skip
    assert model.fuse[0][0].in_channels == 2 * 16  # skip (16) + up-sampled (16)
    # a change of one corner pixel reaches the opposite corner through the bottleneck
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64, requires_grad=True)
    model(x)[0, :, 31, 31].sum().backward()
    assert x.grad[0, :, 0, 0].abs().sum() > 0


def test_small_fcn_variants_differ_only_by_their_skips():
    torch.manual_seed(0)
    fcn32 = SmallFCN("32s", width=4).eval()
    fcn8 = SmallFCN("8s", width=4).eval()
    fcn8.load_state_dict(fcn32.state_dict(), strict=False)
    with torch.no_grad():
        nn.init.zeros_(fcn8.score16.weight), nn.init.zeros_(fcn8.score16.bias)
        nn.init.zeros_(fcn8.score8.weight), nn.init.zeros_(fcn8.score8.bias)
    x = torch.rand(2, 3, 64, 64)
    # with the skip scores at zero, FCN-8s is FCN-32s up-sampled in three steps instead of one
    coarse = fcn32.score32(torch.nn.Sequential(*fcn32.stages)(x))
    assert coarse.shape[-2:] == (2, 2)
    assert fcn32(x).shape == fcn8(x).shape == (2, 9, 64, 64)
    assert set(SmallFCN("16s").state_dict()) - set(SmallFCN("32s").state_dict()) == {
        "score16.weight",
        "score16.bias",
    }
    # FCN-32s's output is a bilinear blow-up of a 2 x 2 map: it is smooth, FCN-8s's is not forced to be
    out32 = fcn32(x)
    torch.testing.assert_close(
        out32, nn.functional.interpolate(coarse, size=(64, 64), mode="bilinear"), rtol=1e-6, atol=1e-6
    )
    with pytest.raises(ValueError, match="variant must be one of '32s', '16s', '8s', got str '4s'"):
        SmallFCN("4s")


@pytest.mark.parametrize("heads", [1, 4])
def test_efficient_attention_with_R_1_is_multi_head_attention(heads):
    """sr_ratio = 1: our module equals nn.MultiheadAttention with the same weights (float64)."""
    torch.manual_seed(0)
    dim, h, w = 16, 5, 3
    ours = EfficientSelfAttention(dim, heads, sr_ratio=1).double()
    mha = nn.MultiheadAttention(dim, heads, batch_first=True).double()
    with torch.no_grad():  # MHA's in_proj stacks q, k, v; ours keeps q and (k, v)
        mha.in_proj_weight.copy_(torch.cat([ours.q.weight, ours.kv.weight]))
        mha.in_proj_bias.copy_(torch.cat([ours.q.bias, ours.kv.bias]))
        mha.out_proj.weight.copy_(ours.proj.weight), mha.out_proj.bias.copy_(ours.proj.bias)
    x = torch.randn(2, h * w, dim, dtype=torch.float64)
    expected, _ = mha(x, x, x, need_weights=False)
    torch.testing.assert_close(ours(x, h, w), expected, rtol=1e-12, atol=1e-12)
    assert not hasattr(ours, "sr")


def test_efficient_attention_reduces_keys_and_values():
    """sr_ratio = r: attention of all queries over keys/values of the map shrunk r x r (LayerNorm'd)."""
    torch.manual_seed(0)
    dim, h, w, r = 8, 8, 4, 2
    ours = EfficientSelfAttention(dim, 2, sr_ratio=r).double()
    mha = nn.MultiheadAttention(dim, 2, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([ours.q.weight, ours.kv.weight]))
        mha.in_proj_bias.copy_(torch.cat([ours.q.bias, ours.kv.bias]))
        mha.out_proj.weight.copy_(ours.proj.weight), mha.out_proj.bias.copy_(ours.proj.bias)
    x = torch.randn(2, h * w, dim, dtype=torch.float64)
    grid = x.transpose(1, 2).reshape(2, dim, h, w)
    reduced = ours.norm(ours.sr(grid).flatten(2).transpose(1, 2))
    assert reduced.shape == (2, h * w // r**2, dim)
    expected, _ = mha(x, reduced, reduced, need_weights=False)
    torch.testing.assert_close(ours(x, h, w), expected, rtol=1e-12, atol=1e-12)
    # gradcheck through the whole module
    small = EfficientSelfAttention(4, 2, sr_ratio=2).double()
    assert torch.autograd.gradcheck(
        lambda t: small(t, 4, 2), torch.randn(1, 8, 4, dtype=torch.float64, requires_grad=True)
    )


@pytest.mark.parametrize("sr_ratio", [1, 2, 4])
def test_attention_cost_equals_the_flop_counter(sr_ratio):
    dim, h, w = 16, 8, 8
    module = EfficientSelfAttention(dim, 2, sr_ratio)
    with FlopCounterMode(display=False) as counter:
        module(torch.randn(1, h * w, dim), h, w)
    cost = attention_cost(h * w, dim, sr_ratio**2)
    assert 2 * cost["total"] == counter.get_total_flops()  # the counter counts 2 FLOPs per multiply-add
    assert cost["scores"] == cost["weighted_sum"] == h * w * (h * w // sr_ratio**2) * dim


def test_attention_cost_falls_by_R():
    n, d = 64 * 64 // 16, 32  # stage 1 of a 64 x 64 image at stride 4... of a 256 x 256 one
    plain, reduced = attention_cost(n, d, 1), attention_cost(n, d, 64)
    assert plain["scores"] == n * n * d and reduced["scores"] * 64 == plain["scores"]
    assert plain["reduction"] == 0 and reduced["reduction"] == n * d * d
    with pytest.raises(ValueError, match="n must be divisible by R"):
        attention_cost(10, 4, 4)
    with pytest.raises(TypeError, match="R must be an int"):
        attention_cost(16, 4, 2.0)


def test_overlapping_patches_and_mix_ffn():
    embed = OverlapPatchEmbed(3, 8, patch_size=7, stride=4)
    tokens, h, w = embed(torch.rand(1, 3, 64, 32))
    assert (h, w) == (16, 8) and tokens.shape == (1, 128, 8)
    assert embed.proj.kernel_size[0] > embed.proj.stride[0]  # neighbouring patches overlap
    ffn = MixFFN(8, 32)
    assert ffn.dwconv.groups == 32 and ffn.dwconv.weight.shape == (32, 1, 3, 3)  # depthwise 3x3
    # the depthwise conv makes the FFN depend on the neighbours: not a per-token MLP
    x = torch.randn(1, 16, 8, requires_grad=True)
    ffn(x, 4, 4)[0, 5].sum().backward()
    assert x.grad[0, 6].abs().sum() > 0 and x.grad[0, 15].abs().sum() == 0


def test_segformer_is_hierarchical_and_rejects_bad_configs():
    model = SegFormer().eval()
    maps = model.encode(torch.rand(1, 3, 64, 64))
    assert [tuple(m.shape[1:]) for m in maps] == [(16, 16, 16), (32, 8, 8), (64, 4, 4), (128, 2, 2)]
    with pytest.raises(ValueError, match="depths must hold 4 ints"):
        SegFormer(depths=(1, 1, 1))
    with pytest.raises(ValueError, match="dim must be divisible by num_heads"):
        SegFormer(embed_dims=(16, 32, 64, 128), num_heads=(3, 2, 4, 8))
    with pytest.raises(ValueError, match=r"x must have shape \[N, 256, 16\], got shape \[1, 10, 16\]"):
        EfficientSelfAttention(16, 2)(torch.rand(1, 10, 16), 16, 16)
