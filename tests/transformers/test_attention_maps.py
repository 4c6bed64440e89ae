"""Hooks read the same weights a manual forward computes; rollout and distance against slow loops."""

import pytest
import torch
from torchvision.models import vision_transformer as tv

from cvcourse.transformers.attention_maps import (
    attention_maps,
    attention_rollout,
    mean_attention_distance,
    query_heatmap,
    record_attention,
)
from cvcourse.transformers.vit import VisionTransformer

D = torch.float64
CFG = {
    "image_size": 16,
    "patch_size": 4,
    "num_layers": 3,
    "num_heads": 2,
    "hidden_dim": 8,
    "mlp_dim": 16,
    "num_classes": 3,
}


@pytest.fixture(scope="module")
def model_and_maps():
    torch.manual_seed(0)
    model = VisionTransformer(**CFG).to(D).eval()
    x = torch.randn(2, 3, 16, 16, dtype=D)
    return model, x, attention_maps(model, x)


def test_hooks_record_what_the_layers_compute(model_and_maps):
    model, x, maps = model_and_maps
    assert maps.shape == (3, 2, 2, 17, 17)
    # the manual forward, layer by layer, asking each attention module for its weights
    tokens = torch.cat([model.class_token.expand(2, -1, -1), model._process_input(x)], 1)
    tokens = tokens + model.encoder.pos_embedding
    for l, block in enumerate(model.encoder.layers):
        h = block.ln_1(tokens)
        _, weights = block.self_attention(h, h, h, need_weights=True, average_attn_weights=False)
        torch.testing.assert_close(maps[l], weights)
        tokens = block(tokens)
    torch.testing.assert_close(maps.sum(-1), torch.ones(3, 2, 2, 17, dtype=D))


def test_hooks_are_removed_and_output_unchanged(model_and_maps):
    model, x, _ = model_and_maps
    before = model(x)
    with record_attention(model) as maps:
        during = model(x)
    assert len(maps) == 3
    torch.testing.assert_close(during, before)
    for block in model.encoder.layers:
        assert not block.self_attention._forward_hooks and not block.self_attention._forward_pre_hooks


def test_works_on_torchvision_vit_too(model_and_maps):
    model, x, maps = model_and_maps
    ref = tv.VisionTransformer(**CFG).to(D)
    ref.load_state_dict(model.state_dict())
    torch.testing.assert_close(attention_maps(ref, x), maps)


def test_rollout_against_a_slow_loop(model_and_maps):
    _, _, maps = model_and_maps
    out = attention_rollout(maps)
    T = maps.shape[-1]
    for n in range(2):
        R = torch.eye(T, dtype=D)
        for l in range(3):
            A = 0.5 * maps[l, n].mean(0) + 0.5 * torch.eye(T, dtype=D)
            A = A / A.sum(-1, keepdim=True)
            R = A @ R
            torch.testing.assert_close(out[l, n], R)
    torch.testing.assert_close(out.sum(-1), torch.ones(3, 2, T, dtype=D))
    # residual = 1: only the identity is left
    torch.testing.assert_close(
        attention_rollout(maps, residual=1.0)[-1], torch.eye(T, dtype=D).expand(2, T, T)
    )


def test_mean_attention_distance_against_a_slow_loop(model_and_maps):
    _, _, maps = model_and_maps
    got = mean_attention_distance(maps, patch_size=4)
    G, P = 4, 4
    expected = torch.zeros(3, 2, dtype=D)
    for l in range(3):
        for h in range(2):
            total = 0.0
            for n in range(2):
                for i in range(G * G):
                    w = maps[l, n, h, 1 + i, 1:]
                    w = w / w.sum()
                    total += sum(
                        float(w[j]) * P * ((i // G - j // G) ** 2 + (i % G - j % G) ** 2) ** 0.5
                        for j in range(G * G)
                    )
            expected[l, h] = total / (2 * G * G)
    torch.testing.assert_close(got, expected)


def test_distance_of_one_hot_attention_is_known():
    """Every patch attends only to itself -> distance 0; only to its right neighbour -> one patch."""
    G, T = 3, 10
    eye = torch.zeros(1, 1, 1, T, T, dtype=D)
    eye[..., range(T), range(T)] = 1
    assert mean_attention_distance(eye, patch_size=16).item() == 0
    shift = torch.zeros(1, 1, 1, T, T, dtype=D)
    for i in range(G * G):
        r, c = divmod(i, G)
        shift[..., 1 + i, 1 + r * G + (c + 1) % G] = 1  # wraps around: distance 16 or 2 * 16
    expected = (16 * 2 + 32) / 3  # per row: two steps of one patch and one wrap of two patches
    torch.testing.assert_close(mean_attention_distance(shift, 16), torch.tensor([[expected]], dtype=D))


def test_query_heatmap(model_and_maps):
    _, _, maps = model_and_maps
    torch.testing.assert_close(
        query_heatmap(maps, 1, head=1, query=5, image=1), maps[1, 1, 1, 5, 1:].reshape(4, 4)
    )
    torch.testing.assert_close(query_heatmap(maps, 2), maps[2, 0, :, 0, 1:].mean(0).reshape(4, 4))
    torch.testing.assert_close(
        query_heatmap(maps, 2, rollout=True), attention_rollout(maps)[2, 0, 0, 1:].reshape(4, 4)
    )
    with pytest.raises(ValueError, match="layer"):
        query_heatmap(maps, 3)
    with pytest.raises(ValueError, match="head"):
        query_heatmap(maps, 0, head=2)


def test_bad_input():
    with pytest.raises(ValueError, match="no MultiheadAttention"):
        attention_maps(torch.nn.Linear(2, 2), torch.randn(1, 2))
    with pytest.raises(ValueError, match=r"maps must have shape \[\*, \*, \*, T, T\], got shape \[2, 3, 3\]"):
        attention_rollout(torch.rand(2, 3, 3))
    with pytest.raises(ValueError, match="residual must be a number >= 0.0 and <= 1.0, got 2.0"):
        attention_rollout(torch.rand(1, 1, 1, 5, 5), residual=2)
    with pytest.raises(TypeError, match="layer must be an int, got float 0.0"):
        query_heatmap(torch.rand(1, 1, 1, 5, 5), 0.0)
    with pytest.raises(TypeError, match="maps must be a torch.Tensor"):
        mean_attention_distance([[0.0]], 4)
    with pytest.raises(ValueError, match="square grid"):
        mean_attention_distance(torch.rand(1, 1, 1, 11, 11), 4)
