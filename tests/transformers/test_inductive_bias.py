"""Windowed attention mask, the three models, and the data-size experiment's mechanics."""

import pytest
import torch
import torch.nn.functional as F

from cvcourse.architectures.resnet import BasicBlock
from cvcourse.transformers.inductive_bias import (
    LocalViT,
    SmallResNet,
    data_size_experiment,
    make_model,
    window_attention_mask,
)


def test_window_mask_against_a_loop():
    grid, window, shift = 6, 3, 1
    mask = window_attention_mask(grid, window, shift)
    assert mask.shape == (37, 37) and not mask[0].any() and not mask[:, 0].any()
    for i in range(36):
        for j in range(36):
            (ri, ci), (rj, cj) = divmod(i, grid), divmod(j, grid)
            same = (ri + shift) // window == (rj + shift) // window and (ci + shift) // window == (
                cj + shift
            ) // window
            assert bool(mask[1 + i, 1 + j]) == (not same)
    # one window covering everything = global attention
    assert not window_attention_mask(4, 4).any()
    with pytest.raises(ValueError, match="window"):
        window_attention_mask(4, 5)


def test_windowed_vit_is_local_and_global_vit_is_not():
    """A change in one corner patch reaches the far corner's token after one layer only globally."""
    torch.manual_seed(0)
    outputs = {}
    for name, window in (("global", None), ("windowed", 2)):
        model = LocalViT(3, image_size=16, patch_size=4, depth=1, window=window).double().eval()
        x = torch.randn(1, 3, 16, 16, dtype=torch.float64)

        def tokens(x, model=model):  # the first layer's output tokens
            patches = model.patch_embed(x).flatten(2).transpose(1, 2)
            seq = torch.cat([model.cls_token.expand(1, -1, -1), patches], 1) + model.pos_embedding
            return model.layers[0](seq, src_mask=model.mask_0)

        bumped = x.clone()
        bumped[..., :4, :4] += 1  # patch (0, 0)
        outputs[name] = (tokens(bumped) - tokens(x)).abs()[0, 1 + 15].max().item()  # patch (3, 3)
    assert outputs["global"] > 1e-6 and outputs["windowed"] == 0


@pytest.mark.parametrize("kind", ["resnet", "vit", "windowed vit"])
def test_models_classify_32px_images(kind):
    model = make_model(kind, 5)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 5)
    assert 15_000 < sum(p.numel() for p in model.parameters()) < 80_000


def test_experiment_mechanics():
    from cvcourse.data import ShapesClassification

    train, val = ShapesClassification(32, seed=0), ShapesClassification(16, seed=1)
    results = data_size_experiment(train, val, sizes=[8, 32], kinds=("resnet", "vit"), epochs=1, device="cpu")
    assert set(results) == {"resnet", "vit"} and all(len(v) == 2 for v in results.values())
    assert all(0 <= a <= 1 for v in results.values() for a in v)
    with pytest.raises(ValueError, match="sizes"):
        data_size_experiment(train, val, sizes=[64])
    with pytest.raises(ValueError, match="kind must be one of 'resnet', 'vit', .*got str 'mlp'"):
        make_model("mlp", 5)
    with pytest.raises(TypeError, match="epochs must be an int, got float 1.5"):
        data_size_experiment(train, val, sizes=[8], epochs=1.5)
    with pytest.raises(ValueError, match="kinds\\[0\\] must be one of"):
        data_size_experiment(train, val, sizes=[8], kinds=("cnn",))


def test_window_mask_and_vit_check_their_arguments():
    with pytest.raises(TypeError, match="window must be an int, got float 2.0"):
        window_attention_mask(4, 2.0)
    with pytest.raises(ValueError, match="shift must be an int >= 0, got -1"):
        window_attention_mask(4, 2, -1)
    with pytest.raises(ValueError, match="heads must be an int >= 1, got 0"):
        LocalViT(3, heads=0)
    with pytest.raises(ValueError, match="image_size .* must be divisible by patch_size"):
        LocalViT(3, image_size=30, patch_size=4)


def test_small_resnet_is_built_from_chapter_2s_basic_block():
    # each block is architectures.resnet.BasicBlock, and the whole network is the formula:
    # y = relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut(x)), then GAP and the linear layer
    torch.manual_seed(0)
    model = SmallResNet(5, width=4).double().eval()
    assert all(type(block) is BasicBlock for block in model.blocks)
    assert model.blocks[0].downsample is None and model.blocks[1].downsample is not None
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)

    def block(b, x):
        y = F.relu(b.bn1(b.conv1(x)))
        return F.relu(b.bn2(b.conv2(y)) + (x if b.downsample is None else b.downsample(x)))

    y = model.stem(x)
    for b in model.blocks:
        y = block(b, y)
    torch.testing.assert_close(model(x), model.fc(y.mean(dim=(2, 3))))
