"""The notebook's experiments: each row computed from its parts, on small inputs."""

import pytest
import torch

from cvcourse.generative.compression import jpeg_at_budget, mse, pca, pca_reconstruct, principal_angles
from cvcourse.generative.disentanglement import mig
from cvcourse.generative.experiments import (
    compression_row,
    disentanglement_row,
    fit_linear_autoencoder,
    image_patches,
    regularisation,
)
from cvcourse.generative.factors import ShapesFactors, digits, factor_labels
from cvcourse.generative.models import conv_vae, mlp_autoencoder, mlp_vae


def test_fit_linear_autoencoder_reaches_pca():
    x = digits()["train"][:400].flatten(1).double()
    model = fit_linear_autoencoder(x, 3)
    assert principal_angles(model.decoder.weight.detach(), pca(x - x.mean(0), 3)[1].T).max() < 1e-3
    with torch.no_grad():
        assert mse(model(x), x) == pytest.approx(mse(pca_reconstruct(x, *pca(x, 3)), x), rel=1e-6)


def test_compression_row():
    d = digits()
    torch.manual_seed(0)
    model = mlp_autoencoder((1, 8, 8), 4).eval()
    row = compression_row(model, d["train"], d["test"][:100], 4)
    assert row["k"] == 4 and all(0 < row[m] < 1 for m in ("ae", "pca", "jpeg"))
    decoded, size, quality = jpeg_at_budget(d["test"][:100], 4.0)
    assert (row["jpeg"], row["jpeg_bytes"], row["jpeg_quality"]) == (
        mse(decoded, d["test"][:100]),
        size,
        quality,
    )
    mean, comps = pca(d["train"].flatten(1), 4)
    unquantised = mse(pca_reconstruct(d["test"][:100].flatten(1), mean, comps), d["test"][:100].flatten(1))
    assert row["pca"] == pytest.approx(unquantised, rel=0.05)  # 8 bits cost little


def test_image_patches():
    p = image_patches(10, seed=1)
    assert p.shape == (10, 1, 8, 8) and 0 <= p.min() and p.max() <= 1
    assert torch.equal(p, image_patches(10, seed=1)) and not torch.equal(p, image_patches(10, seed=2))


def test_regularisation_and_disentanglement_rows():
    torch.manual_seed(0)
    x = digits(binarize=True)["test"][:50]
    stats = regularisation(mlp_vae((1, 8, 8), 2), x)
    assert set(stats) == {"mean_norm", "spread", "sigma", "kl"} and stats["sigma"] > 0
    shapes = ShapesFactors(60, seed=0)
    labels = factor_labels(shapes.factors)
    model = conv_vae((3, 32, 32), 4, channels=(8, 8, 8)).eval()
    row = disentanglement_row(model, shapes.images, labels)
    with torch.no_grad():
        mu = model.encode(shapes.images)[0]
    assert row["mig"] == pytest.approx(mig(mu, labels)[0]) and 0 <= row["active"] <= 4
