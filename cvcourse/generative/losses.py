r"""The VAE's objective, term by term (Kingma & Welling 2013, https://arxiv.org/abs/1312.6114).

The notes' loss for one image :math:`x`, maximised:

.. math::
    L(\Theta, \phi; x) = \underbrace{\mathbb{E}_{q_\phi(z|x)}[\log p_\Theta(x|z)]}_{\text{reconstruction}}
        - \beta\, \underbrace{D_{KL}(q_\phi(z|x) \,\|\, p(z))}_{\text{distance to } N(0, I)}

With :math:`\beta = 1` it is the **ELBO**, a lower bound on :math:`\log p_\Theta(x)`; :math:`\beta > 1`
is the beta-VAE of Higgins et al. 2017 (https://openreview.net/forum?id=Sy2fzU9gl).

* The encoder gives :math:`q_\phi(z|x) = N(\mu, \mathrm{diag}\,\sigma^2)`, as ``mu`` and
  ``logvar`` :math:`= \log\sigma^2` (the log keeps :math:`\sigma^2 > 0` without a constraint).
* The prior is :math:`p(z) = N(0, I)`; the KL between the two Gaussians has a closed form
  (``kl_normal``, equal to ``torch.distributions.kl_divergence``).
* The decoder is Bernoulli: :math:`p_\Theta(x|z) = \prod_j \hat x_j^{x_j} (1 - \hat x_j)^{1 - x_j}` with
  :math:`\hat x = \mathrm{sigmoid}(\text{logits})`, so :math:`-\log p_\Theta(x|z)` is the binary
  cross-entropy summed over pixels (``bernoulli_nll``), in nats. It is a normalised likelihood for
  binary images (the course's binarised digits and shapes).
* The expectation is estimated with one sample :math:`z = \mu + \sigma \epsilon`,
  :math:`\epsilon \sim N(0, I)` (``reparameterize``): sampling from :math:`N(\mu, \sigma^2)` itself
  has no gradient with respect to :math:`\mu, \sigma`; this form does.

Everything is per sample, summed over pixels and latent dimensions, so the numbers are nats per
image; ``vae_loss`` averages them over the batch for ``fit``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from cvcourse._checks import check_float, check_int, check_tensor

__all__ = [
    "bernoulli_nll",
    "bits_per_dim",
    "check_unit_interval",
    "elbo",
    "importance_weighted_bound",
    "kl_normal",
    "reparameterize",
    "vae_loss",
]


def _check_gaussian(mu: Tensor, logvar: Tensor) -> None:
    check_tensor("mu", mu, ndim=2, dtype="float")
    check_tensor("logvar", logvar, ndim=2, dtype="float")
    if logvar.shape != mu.shape:
        raise ValueError(f"logvar must have mu's shape {list(mu.shape)}, got shape {list(logvar.shape)}")


def check_unit_interval(name: str, x: Tensor) -> Tensor:
    """``x`` if it is a float tensor with every value in [0, 1] (what a Bernoulli decoder models)."""
    check_tensor(name, x, dtype="float")
    if x.numel() and (bool((x < 0).any()) or bool((x > 1).any()) or bool(x.isnan().any())):
        raise ValueError(
            f"{name} must hold values in [0, 1] for a Bernoulli decoder, got values in "
            f"[{float(x.min()):.3g}, {float(x.max()):.3g}]"
        )
    return x


def kl_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    r"""KL divergence of :math:`N(\mu, \mathrm{diag}\,\sigma^2)` to :math:`N(0, I)`, per sample.

    .. math::
        D_{KL} = \frac12 \sum_{j=1}^{d} \left(\mu_j^2 + \sigma_j^2 - 1 - \log \sigma_j^2\right)

    The :math:`\mu_j^2` term pulls the means to 0 (global regularisation: codes stay together);
    :math:`\sigma_j^2 - 1 - \log\sigma_j^2 \ge 0`, zero only at :math:`\sigma_j = 1`, keeps the
    variances from shrinking to points (local regularisation). Same numbers as
    ``kl_divergence(Normal(mu, exp(logvar / 2)), Normal(0, 1)).sum(-1)``.

    Args:
        mu: Tensor[N, d], the means.
        logvar: Tensor[N, d], :math:`\log\sigma^2`.

    Returns:
        Tensor[N], nats.
    """
    _check_gaussian(mu, logvar)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def reparameterize(mu: Tensor, logvar: Tensor, eps: Tensor | None = None) -> Tensor:
    r"""A sample :math:`z = \mu + \sigma \cdot \epsilon` with :math:`\epsilon \sim N(0, I)`.

    The randomness sits in :math:`\epsilon`, which does not depend on the parameters, so
    :math:`\partial z / \partial \mu = 1` and :math:`\partial z / \partial \sigma = \epsilon`: the
    gradient reaches the encoder. (``torch.normal(mu, sigma)`` gives samples of the same law and no
    gradient; ``torch.distributions.Normal(mu, sigma).rsample()`` is this same trick.)

    Args:
        mu: Tensor[N, d].
        logvar: Tensor[N, d], :math:`\log\sigma^2`.
        eps: Tensor[N, d] of standard normal noise, or None to draw it (torch's global generator).

    Returns:
        Tensor[N, d].
    """
    _check_gaussian(mu, logvar)
    if eps is None:
        eps = torch.randn_like(mu)
    elif eps.shape != mu.shape:
        check_tensor("eps", eps, shape=tuple(mu.shape), dtype="float")
    sigma = torch.exp(0.5 * logvar)
    return mu + sigma * eps


def bernoulli_nll(logits: Tensor, x: Tensor) -> Tensor:
    r""":math:`-\log p(x|z)` of a Bernoulli decoder, per sample, summed over pixels (nats).

    :math:`-\sum_j x_j \log \hat x_j + (1 - x_j)\log(1 - \hat x_j)` with
    :math:`\hat x = \mathrm{sigmoid}(\text{logits})`, computed from the logits (stable).

    Args:
        logits: Tensor[N, ...], the decoder's output before the sigmoid.
        x: Tensor[N, ...] of the same shape, values in [0, 1].

    Returns:
        Tensor[N].
    """
    check_tensor("logits", logits, dtype="float")
    check_unit_interval("x", x)
    if logits.shape != x.shape:
        raise ValueError(f"logits must have x's shape {list(x.shape)}, got shape {list(logits.shape)}")
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(dim=1)


def vae_loss(
    recon_logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor, beta: float = 1.0
) -> tuple[Tensor, Tensor, Tensor]:
    r"""The (beta-)VAE loss to minimise, :math:`-L`, averaged over the batch, and its two parts.

    .. math::
        \text{loss} = \underbrace{-\log p_\Theta(x|z)}_{\text{recon}}
            + \beta\, \underbrace{D_{KL}(q_\phi(z|x)\,\|\,N(0, I))}_{\text{kl}}

    Args:
        recon_logits: Tensor[N, ...], the decoder's logits for one sample z per image.
        x: Tensor[N, ...], the images, values in [0, 1].
        mu, logvar: Tensor[N, d], the encoder's Gaussian.
        beta: weight of the KL term, >= 0 (1: the VAE; > 1: beta-VAE; 0: no regularisation).

    Returns:
        ``(total, recon, kl)``: three 0-dim tensors, nats per image.
    """
    beta = check_float("beta", beta, low=0.0)
    _check_gaussian(mu, logvar)
    recon = bernoulli_nll(recon_logits, x)
    if recon.shape[0] != mu.shape[0]:
        raise ValueError(f"mu must have one row per image ({recon.shape[0]}), got shape {list(mu.shape)}")
    kl = kl_normal(mu, logvar)
    recon, kl = recon.mean(), kl.mean()
    return recon + beta * kl, recon, kl


@torch.no_grad()
def elbo(model, x: Tensor, samples: int = 1) -> Tensor:
    r"""The ELBO :math:`\mathbb{E}_q[\log p(x|z)] - D_{KL}(q(z|x)\,\|\,p(z))` per image, in nats.

    The expectation is the mean over ``samples`` draws of z; the KL is exact.

    Args:
        model: a ``VAE`` (``encode(x) -> (mu, logvar)``, ``decoder(z) -> logits``).
        x: Tensor[N, ...], images in [0, 1].
        samples: number of z per image, >= 1.

    Returns:
        Tensor[N] (<= log p(x), the log-likelihood of each image).
    """
    samples = check_int("samples", samples, low=1)
    check_unit_interval("x", x)
    mu, logvar = model.encode(x)
    recon = torch.stack(
        [bernoulli_nll(model.decoder(reparameterize(mu, logvar)), x) for _ in range(samples)]
    ).mean(0)
    return -(recon + kl_normal(mu, logvar))


@torch.no_grad()
def importance_weighted_bound(model, x: Tensor, samples: int = 64) -> Tensor:
    r"""The importance-weighted bound (Burda et al. 2015, https://arxiv.org/abs/1509.00519), per image.

    .. math::
        \log p(x) \ge \mathcal{L}_K = \mathbb{E}\left[\log \frac1K \sum_{k=1}^K
            \frac{p(x|z_k)\,p(z_k)}{q(z_k|x)}\right], \quad z_k \sim q(z|x)

    :math:`\mathcal{L}_1` is the ELBO; :math:`\mathcal{L}_K` grows with K towards :math:`\log p(x)`, so
    it measures how loose the ELBO is.

    Returns:
        Tensor[N], nats.
    """
    samples = check_int("samples", samples, low=1)
    check_unit_interval("x", x)
    mu, logvar = model.encode(x)
    std = torch.exp(0.5 * logvar)
    log_w = []
    for _ in range(samples):
        eps = torch.randn_like(mu)
        z = mu + std * eps
        log_px_z = -bernoulli_nll(model.decoder(z), x)
        log_pz = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(1)
        log_qz = -0.5 * (eps.pow(2) + math.log(2 * math.pi) + logvar).sum(1)
        log_w.append(log_px_z + log_pz - log_qz)
    return torch.logsumexp(torch.stack(log_w), dim=0) - math.log(samples)


def bits_per_dim(log_likelihood: Tensor | float, dims: int) -> Tensor | float:
    r"""Nats per image to bits per dimension: :math:`-\log p(x) / (D \ln 2)`.

    Args:
        log_likelihood: :math:`\log p(x)` (or a bound on it, e.g. the ELBO) in nats.
        dims: D, the number of pixel values per image (64 for an 8 x 8 digit).
    """
    dims = check_int("dims", dims, low=1)
    return -log_likelihood / (dims * math.log(2))
