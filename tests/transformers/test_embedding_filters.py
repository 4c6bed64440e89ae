"""Embedding filters (= W_E for a plain patch projection) and their principal components (= sklearn's PCA)."""

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from cvcourse.transformers.embedding_filters import embedding_filters, principal_components
from cvcourse.transformers.pretrained import build_shapes_vit
from cvcourse.transformers.vit import VisionTransformer


def test_plain_patch_projection_gives_its_weights():
    torch.manual_seed(0)
    vit = VisionTransformer(image_size=32, patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32)
    images = torch.rand(3, 3, 32, 32)
    filters = embedding_filters(vit.conv_proj, images, row=1, col=2)
    assert filters.shape == (16, 3, 8, 8)  # cropped to the token's 8 x 8 patch
    torch.testing.assert_close(filters, vit.conv_proj.weight)


def test_conv_stem_receptive_field_is_7x7():
    torch.manual_seed(0)
    vit = build_shapes_vit()  # two 3x3 stride-2 layers and a 1x1 projection
    filters = embedding_filters(vit.conv_proj, torch.rand(4, 3, 32, 32))
    assert filters.shape == (48, 3, 7, 7)
    assert vit.training  # the mode is restored


def test_principal_components_equal_sklearn():
    torch.manual_seed(0)
    filters = torch.randn(20, 3, 2, 2, dtype=torch.float64) * torch.linspace(0.1, 3, 12).reshape(3, 2, 2)
    components, explained = principal_components(filters, k=5)
    pca = PCA(n_components=5).fit(filters.flatten(1).numpy())
    ours = components.flatten(1).numpy()
    signs = np.sign((ours * pca.components_).sum(1))  # an axis is defined up to its sign
    np.testing.assert_allclose(ours * signs[:, None], pca.components_, atol=1e-10)
    np.testing.assert_allclose(explained.numpy(), pca.explained_variance_ratio_, atol=1e-12)
    assert components.shape == (5, 3, 2, 2)


def test_checks():
    with pytest.raises(ValueError, match="filters"):
        principal_components(torch.randn(1, 4))
    with pytest.raises(ValueError, match="k must be"):
        principal_components(torch.randn(5, 4), k=6)
    with pytest.raises(TypeError, match="embed"):
        embedding_filters("conv", torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="row"):
        embedding_filters(torch.nn.Conv2d(3, 4, 4, stride=4), torch.rand(1, 3, 8, 8), row=2)
