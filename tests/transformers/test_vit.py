"""VisionTransformer against torchvision.models.VisionTransformer: keys, strict loads, outputs, sizes."""

import pytest
import torch
from torchvision.models import vision_transformer as tv

from cvcourse.transformers import vit as ours_vit
from cvcourse.transformers.vit import PatchEmbedding, VisionTransformer, VisionTransformerGAP, patchify

D = torch.float64
SMALL = {
    "image_size": 32,
    "patch_size": 8,
    "num_layers": 2,
    "num_heads": 4,
    "hidden_dim": 32,
    "mlp_dim": 64,
    "num_classes": 7,
}


def _randomise(state_dict, seed=0):
    """Random values everywhere (torchvision zero-initialises the head, which would hide bugs)."""
    g = torch.Generator().manual_seed(seed)
    out = {
        k: torch.randn(v.shape, generator=g, dtype=v.dtype) * 0.1 if v.is_floating_point() else v
        for k, v in state_dict.items()
    }
    return {k: v.abs() + 0.5 if k.endswith("running_var") else v for k, v in out.items()}


def _check_same(ref, ours, x):
    assert list(ours.state_dict()) == list(ref.state_dict())
    state = _randomise(ref.state_dict())
    ref.load_state_dict(state, strict=True)
    ours.load_state_dict(state, strict=True)
    ref.eval(), ours.eval()
    torch.testing.assert_close(ours(x), ref(x))


@pytest.mark.parametrize("extra", [{}, {"representation_size": 16}, {"num_classes": 1}])
def test_small_config_matches_torchvision(extra):
    cfg = {**SMALL, **extra}
    x = torch.randn(2, 3, 32, 32, dtype=D)
    _check_same(tv.VisionTransformer(**cfg).to(D), VisionTransformer(**cfg).to(D), x)


def test_conv_stem_matches_torchvision():
    stem_ref = [tv.ConvStemConfig(8, 3, 2), tv.ConvStemConfig(16, 3, 2)]
    stem_ours = [ours_vit.ConvStemConfig(8, 3, 2), ours_vit.ConvStemConfig(16, 3, 2)]
    cfg = {**SMALL, "patch_size": 4}
    x = torch.randn(2, 3, 32, 32, dtype=D)
    _check_same(
        tv.VisionTransformer(**cfg, conv_stem_configs=stem_ref).to(D),
        VisionTransformer(**cfg, conv_stem_configs=stem_ours).to(D),
        x,
    )


def test_vit_b_16_matches_torchvision_at_a_small_image_size():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 32, 32)
    _check_same(
        tv.vit_b_16(image_size=32, num_classes=10),
        ours_vit.vit_b_16(image_size=32, num_classes=10),
        x,
    )


@pytest.fixture(scope="module")
def meta_models():
    """ViT-B/L/H built once each on the meta device (no memory allocated), ours and torchvision's."""
    with torch.device("meta"):
        return {
            name: (getattr(ours_vit, name)(), getattr(tv, name)())
            for name in ("vit_b_16", "vit_l_16", "vit_h_14")
        }


def _count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", ["vit_b_16", "vit_l_16", "vit_h_14"])
def test_builders_have_torchvision_keys_shapes_and_sizes(meta_models, name):
    ours, ref = meta_models[name]
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in ref.state_dict().items()
    ]
    assert _count(ours) == _count(ref)


def test_size_table_of_the_notes(meta_models):
    """The notes' table: layers, heads, hidden size, MLP = 4 x hidden, parameters (86 M / 307 M / 632 M)."""
    table = {
        "vit_b_16": (12, 12, 768, 86),
        "vit_l_16": (24, 16, 1024, 307),
        "vit_h_14": (32, 16, 1280, 632),
    }
    for name, (layers, heads, hidden, millions) in table.items():
        model = meta_models[name][0]
        block = model.encoder.layers[0]
        assert len(model.encoder.layers) == layers and block.num_heads == heads
        assert model.hidden_dim == hidden and model.mlp_dim == 4 * hidden
        # torchvision's ViT-L/16 has 304.3 M parameters, the paper's table says 307 M: within 1.5 %
        assert abs(_count(model) / 1e6 - millions) / millions < 0.015, (name, _count(model))


def test_patchify_then_W_E_equals_the_stride_P_convolution():
    model = VisionTransformer(**SMALL).to(D)
    x = torch.randn(2, 3, 32, 32, dtype=D)
    W_E = model.conv_proj.weight.reshape(SMALL["hidden_dim"], -1).T  # [P^2 C, D]
    tokens = patchify(x, 8) @ W_E + model.conv_proj.bias  # [N, 16, D]
    torch.testing.assert_close(tokens, model._process_input(x))
    # a patch is the pixels of its square, channel by channel
    torch.testing.assert_close(patchify(x, 8)[1, 5], x[1, :, 8:16, 8:16].reshape(-1))


def test_gap_variant_averages_patch_tokens():
    cls_model, gap_model = VisionTransformer(**SMALL).to(D), VisionTransformerGAP(**SMALL).to(D)
    state = _randomise(cls_model.state_dict())
    cls_model.load_state_dict(state)
    gap_model.load_state_dict(state)
    x = torch.randn(2, 3, 32, 32, dtype=D)
    tokens = cls_model.encoder(
        torch.cat([cls_model.class_token.expand(2, -1, -1), cls_model._process_input(x)], 1)
    )
    torch.testing.assert_close(gap_model(x), gap_model.heads(tokens[:, 1:].mean(1)))
    torch.testing.assert_close(cls_model(x), cls_model.heads(tokens[:, 0]))


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="divisible by patch_size"):
        VisionTransformer(**{**SMALL, "patch_size": 5})
    model = VisionTransformer(**SMALL)
    with pytest.raises(ValueError, match=r"\[N, 3, 32, 32\]"):
        model(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match="divisible by patch_size"):
        patchify(torch.randn(1, 3, 10, 10), 4)
    with pytest.raises(ValueError, match="weights"):
        ours_vit.vit_b_16(weights="IMAGENET1K_V1")


def test_patch_embedding_module_equals_conv_proj():
    model = VisionTransformer(**SMALL).to(D)
    embed = PatchEmbedding.from_conv(model.conv_proj)
    x = torch.randn(2, 3, 32, 32, dtype=D)
    torch.testing.assert_close(embed(x), model._process_input(x))
    assert PatchEmbedding(4, 3, 10)(torch.randn(1, 3, 8, 8)).shape == (1, 4, 10)
    with pytest.raises(ValueError, match="kernel = stride"):
        PatchEmbedding.from_conv(torch.nn.Conv2d(3, 8, 4, stride=2))
