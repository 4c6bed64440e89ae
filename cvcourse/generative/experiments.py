"""The chapter's experiments, each a function so that a notebook cell stays a few lines long.

* ``fit_linear_autoencoder``: a linear autoencoder trained to convergence (L-BFGS, float64), for the
  "linear AE = PCA" comparison.
* ``compression_row``: one latent size k: a trained autoencoder, PCA and JPEG, each at k bytes per
  image, their mean squared errors on the same images.
* ``image_patches``: 8 x 8 grey patches of scikit-image's photos, data the digits models never saw.
* ``regularisation``: how spread out the codes are and how wide the encoder's Gaussians (the KL's
  global and local effect).
* ``disentanglement_row``: MIG, latent correlation, active dimensions and reconstruction of one model.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from cvcourse._checks import check_int, check_tensor

from .compression import jpeg_at_budget, mse, pca, quantize
from .disentanglement import active_dims, latent_correlation, mig
from .latent import encode
from .losses import bernoulli_nll, kl_normal
from .models import LinearAutoencoder

__all__ = [
    "compression_row",
    "disentanglement_row",
    "fit_linear_autoencoder",
    "image_patches",
    "regularisation",
]


def fit_linear_autoencoder(x: Tensor, k: int, seed: int = 0) -> LinearAutoencoder:
    """A ``LinearAutoencoder`` fitted to the rows of ``x`` [N, D] by L-BFGS on the squared error."""
    check_tensor("x", x, ndim=2, dtype="float")
    torch.manual_seed(seed)
    model = LinearAutoencoder(x.shape[1], check_int("k", k, low=1)).to(x.dtype)
    optimizer = torch.optim.LBFGS(
        model.parameters(),
        lr=1,
        max_iter=2000,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = (model(x) - x).pow(2).sum(1).mean()
        loss.backward()
        return loss

    for _ in range(3):
        optimizer.step(closure)
    return model.eval()


@torch.no_grad()
def _ae_reconstruct(model: nn.Module, images: Tensor, low: Tensor, high: Tensor, bits: int = 8) -> Tensor:
    z = quantize(encode(model, images), bits, low, high)  # k numbers, 8 bits each
    return model.decode(z)


def compression_row(model: nn.Module, train: Tensor, test: Tensor, k: int) -> dict[str, float]:
    """Mean squared error per pixel on ``test`` of three codes of k bytes per image.

    * the autoencoder ``model`` (latent size k), its code quantised to 8 bits per number over the
      range the training codes take;
    * PCA with k components fitted on ``train``, coefficients quantised the same way;
    * JPEG at the best quality with at most k bytes per image (``jpeg_at_budget``).

    Returns:
        ``{"k", "ae", "pca", "jpeg", "jpeg_bytes", "jpeg_quality"}``.
    """
    codes = encode(model, train)
    recon = _ae_reconstruct(model, test, codes.amin(0), codes.amax(0))
    flat_train, flat_test = train.flatten(1), test.flatten(1)
    mean, components = pca(flat_train, k)
    coeffs = (flat_train - mean) @ components.T
    q = quantize((flat_test - mean) @ components.T, 8, coeffs.amin(0), coeffs.amax(0))
    pca_recon = mean + q @ components
    jpeg, size, quality = jpeg_at_budget(test, float(k))
    return {
        "k": k,
        "ae": mse(recon, test),
        "pca": mse(pca_recon, flat_test),
        "jpeg": mse(jpeg, test),
        "jpeg_bytes": size,
        "jpeg_quality": quality,
    }


def image_patches(n: int, size: int = 8, seed: int = 0) -> Tensor:
    """``n`` random ``size`` x ``size`` grey patches of scikit-image's camera and coins photos, in [0, 1]:
    Tensor[n, 1, size, size]. Real images, but nothing like a digit."""
    import skimage.data

    rng = np.random.default_rng(check_int("seed", seed))
    photos = [skimage.data.camera(), skimage.data.coins()]
    patches = []
    for i in range(check_int("n", n, low=1)):
        photo = photos[i % len(photos)]
        r, c = rng.integers(0, photo.shape[0] - size), rng.integers(0, photo.shape[1] - size)
        patches.append(photo[r : r + size, c : c + size])
    return torch.tensor(np.stack(patches), dtype=torch.float32)[:, None] / 255.0


@torch.no_grad()
def regularisation(model: nn.Module, images: Tensor) -> dict[str, float]:
    """How the KL term shapes a VAE's codes on ``images``.

    Returns:
        ``{"mean_norm": mean of |mu|, "spread": std of mu over the data (mean over dims),
        "sigma": mean sigma of q(z|x), "kl": mean KL to N(0, I)}`` (global: means near 0 and together;
        local: sigma not collapsed to a point).
    """
    mu, logvar = model.encode(images)
    return {
        "mean_norm": float(mu.norm(dim=1).mean()),
        "spread": float(mu.std(0).mean()),
        "sigma": float(torch.exp(0.5 * logvar).mean()),
        "kl": float(kl_normal(mu, logvar).mean()),
    }


@torch.no_grad()
def disentanglement_row(model: nn.Module, images: Tensor, factor_labels: Tensor) -> dict[str, float]:
    """MIG, mean |correlation| of the active latents, their number, and reconstruction (nats / image)."""
    mu, logvar = model.encode(images)
    active = active_dims(mu)
    return {
        "mig": mig(mu, factor_labels)[0],
        "correlation": latent_correlation(mu[:, active])[1],
        "active": int(active.sum()),
        "recon": float(bernoulli_nll(model.decoder(mu), images).mean()),
        "kl": float(kl_normal(mu, logvar).mean()),
    }
