"""PCA = sklearn, principal angles = scipy, the linear autoencoder learns PCA's subspace, JPEG round trips."""

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.decomposition import PCA

from cvcourse.generative.compression import (
    jpeg_at_budget,
    jpeg_roundtrip,
    mse,
    pca,
    pca_reconstruct,
    principal_angles,
    quantize,
)
from cvcourse.generative.factors import digits
from cvcourse.generative.models import LinearAutoencoder


@pytest.mark.parametrize("k", [1, 5, 64])
def test_pca_equals_sklearn(k):
    x = digits()["train"].flatten(1).double()
    mean, comps = pca(x, k)
    theirs = PCA(n_components=k, svd_solver="full").fit(x.numpy())
    np.testing.assert_allclose(mean.numpy(), theirs.mean_, atol=1e-12)
    # the same axes up to sign (a tie-free spectrum: digits' top eigenvalues are distinct)
    top = min(k, 10)
    np.testing.assert_allclose(
        np.abs((comps[:top] * torch.from_numpy(theirs.components_[:top])).sum(1).numpy()), 1.0, atol=1e-8
    )
    ours = pca_reconstruct(x, mean, comps).numpy()
    np.testing.assert_allclose(ours, theirs.inverse_transform(theirs.transform(x.numpy())), atol=1e-9)


def test_pca_degenerate():
    x = torch.ones(4, 3, dtype=torch.float64)  # no variance: any axes, perfect reconstruction
    mean, comps = pca(x, 2)
    torch.testing.assert_close(pca_reconstruct(x, mean, comps), x)
    assert pca(x, 0)[1].shape == (0, 3)
    torch.testing.assert_close(pca_reconstruct(x, mean, pca(x, 0)[1]), x)  # k = 0: the mean
    with pytest.raises(ValueError, match="k must be an int"):
        pca(x, 4)


@pytest.mark.parametrize("shape", [((10, 3), (10, 2)), ((6, 1), (6, 4)), ((5, 5), (5, 5))])
def test_principal_angles_equal_scipy(shape):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(shape[0], generator=g, dtype=torch.float64)
    b = torch.randn(shape[1], generator=g, dtype=torch.float64)
    theirs = np.sort(scipy.linalg.subspace_angles(a.numpy(), b.numpy()))
    np.testing.assert_allclose(principal_angles(a, b).numpy(), theirs, atol=1e-7)
    mix = torch.randn(a.shape[1], a.shape[1], generator=g, dtype=torch.float64)
    assert principal_angles(a, a @ mix).max() < 1e-6  # an invertible mix: the same subspace


def test_linear_autoencoder_learns_the_principal_subspace():
    x = digits()["train"].flatten(1).double()
    x = x - x.mean(0)
    k = 5
    torch.manual_seed(0)
    model = LinearAutoencoder(64, k).double()
    optimizer = torch.optim.LBFGS(
        model.parameters(),
        lr=1,
        max_iter=2000,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure():
        optimizer.zero_grad()
        loss = (model(x) - x).pow(2).sum(1).mean()
        loss.backward()
        return loss

    for _ in range(3):
        optimizer.step(closure)
    angles = principal_angles(model.decoder.weight.detach(), pca(x, k)[1].T)
    assert angles.max() < 1e-3, angles
    # and it reconstructs exactly as well as PCA
    assert closure().item() == pytest.approx(
        (pca_reconstruct(x, *pca(x, k)) - x).pow(2).sum(1).mean().item(), rel=1e-6
    )
    # a random linear map's subspace is far from it: the check can fail
    assert principal_angles(torch.randn(64, k, dtype=torch.float64), pca(x, k)[1].T).max() > 0.5


def test_quantize():
    codes = torch.tensor([[0.0, 10.0], [1.0, -5.0], [0.26, 2.0]], dtype=torch.float64)
    q = quantize(codes, 2, torch.tensor([0.0, -5.0]), torch.tensor([1.0, 10.0]))  # 4 levels
    torch.testing.assert_close(q[:, 0], torch.tensor([0.0, 1.0, 1 / 3], dtype=torch.float64))
    torch.testing.assert_close(q[:, 1], torch.tensor([10.0, -5.0, 0.0], dtype=torch.float64))
    assert (quantize(codes, 8, codes.amin(0), codes.amax(0)) - codes).abs().max() <= 15 / 255 / 2 + 1e-12


def test_jpeg_roundtrip_and_budget():
    images = digits()["test"][:100]
    decoded, size = jpeg_roundtrip(images, 95)
    assert decoded.shape == images.shape and mse(decoded, images) < 1e-3
    low, small = jpeg_roundtrip(images, 5)
    assert small < size and mse(low, images) > mse(decoded, images)
    best, used, quality = jpeg_at_budget(images, 12.0)
    assert used <= 12.0 and jpeg_roundtrip(images, quality + 1)[1] > 12.0
    rgb = torch.zeros(3, 3, 16, 16)
    rgb[1, 0] = 1.0  # a single red image among black ones does not bleed into its neighbours
    out, _ = jpeg_roundtrip(rgb, 90)
    assert out[0].max() < 0.05 and out[1, 0].mean() > 0.9
    one = torch.rand(1, 1, 8, 8)  # a single image
    assert jpeg_roundtrip(one, 50)[0].shape == (1, 1, 8, 8)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        jpeg_roundtrip(torch.zeros(2, 2, 8, 8), 50)
    with pytest.raises(ValueError, match="quality must be an int"):
        jpeg_roundtrip(images, 0)
