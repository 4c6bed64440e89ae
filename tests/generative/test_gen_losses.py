"""KL, reparameterisation, the VAE loss and the ELBO against torch.distributions, in float64."""

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from cvcourse.generative.losses import (
    bernoulli_nll,
    bits_per_dim,
    elbo,
    importance_weighted_bound,
    kl_normal,
    reparameterize,
    vae_loss,
)
from cvcourse.generative.models import mlp_vae


def _authority_kl(mu, logvar):
    return kl_divergence(
        Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros_like(mu), torch.ones_like(mu))
    ).sum(-1)


@pytest.mark.parametrize("shape", [(7, 5), (1, 1), (0, 3), (3, 1)])
def test_kl_equals_torch_distributions(shape):
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(shape, generator=g, dtype=torch.float64) * 3
    logvar = torch.randn(shape, generator=g, dtype=torch.float64) * 2
    ours = kl_normal(mu, logvar)
    assert ours.shape == (shape[0],)
    torch.testing.assert_close(ours, _authority_kl(mu, logvar), rtol=1e-12, atol=1e-12)


def test_kl_degenerate_values():
    zero = torch.zeros(2, 4, dtype=torch.float64)
    assert torch.equal(kl_normal(zero, zero), torch.zeros(2, dtype=torch.float64))  # q = prior
    extreme = torch.tensor([[0.0, 30.0, -30.0]], dtype=torch.float64)  # huge and tiny variances
    torch.testing.assert_close(
        kl_normal(torch.zeros_like(extreme), extreme),
        _authority_kl(torch.zeros_like(extreme), extreme),
        rtol=1e-10,
        atol=1e-10,
    )
    mu = torch.tensor([[2.0, -1.0]], dtype=torch.float64)  # sigma = 1: only the mean term, |mu|^2 / 2
    assert kl_normal(mu, torch.zeros_like(mu)).item() == pytest.approx(2.5)


def test_kl_gradcheck():
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(kl_normal, (mu, logvar))


def test_reparameterize_equals_rsample_and_carries_gradients():
    g = torch.Generator().manual_seed(2)
    mu = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(7)
    theirs = Normal(mu, torch.exp(0.5 * logvar)).rsample()
    torch.manual_seed(7)
    ours = reparameterize(mu, logvar)
    torch.testing.assert_close(ours, theirs)
    eps = torch.randn(5, 3, generator=g, dtype=torch.float64)
    z = reparameterize(mu, logvar, eps)
    z.sum().backward()
    # dz/dmu = 1, dz/dlogvar = eps * sigma / 2
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    torch.testing.assert_close(logvar.grad, eps * torch.exp(0.5 * logvar.detach()) / 2)
    assert torch.autograd.gradcheck(lambda m, lv: reparameterize(m, lv, eps), (mu, logvar))


def test_sampling_directly_blocks_the_gradient():
    mu = torch.zeros(4, 2, requires_grad=True)
    sigma = torch.ones(4, 2, requires_grad=True)
    assert torch.normal(mu.detach(), sigma.detach()).grad_fn is None
    assert Normal(mu, sigma).sample().requires_grad is False  # sample() is not differentiable
    assert reparameterize(mu, sigma.log() * 2).requires_grad


def test_bernoulli_nll_equals_torch_distributions():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(6, 1, 4, 4, generator=g, dtype=torch.float64) * 4
    x = (torch.rand(6, 1, 4, 4, generator=g, dtype=torch.float64) < 0.5).double()
    theirs = -Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(bernoulli_nll(logits, x), theirs)
    assert bernoulli_nll(logits[:0], x[:0]).shape == (0,)
    with pytest.raises(ValueError, match=r"x must hold values in \[0, 1\]"):
        bernoulli_nll(logits, x * 2)
    with pytest.raises(ValueError, match="logits must have x's shape"):
        bernoulli_nll(logits[:, :, :2], x)


def test_vae_loss_parts_and_beta():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(3, 8, generator=g, dtype=torch.float64)
    x = torch.rand(3, 8, generator=g, dtype=torch.float64).round()
    mu, logvar = (
        torch.randn(3, 2, generator=g, dtype=torch.float64),
        torch.randn(3, 2, generator=g, dtype=torch.float64),
    )
    total, recon, kl = vae_loss(logits, x, mu, logvar, beta=4.0)
    torch.testing.assert_close(recon, bernoulli_nll(logits, x).mean())
    torch.testing.assert_close(kl, _authority_kl(mu, logvar).mean())
    torch.testing.assert_close(total, recon + 4.0 * kl)
    assert vae_loss(logits, x, mu, logvar, beta=0.0)[0] == recon


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (dict(logvar=torch.zeros(3, 3)), ValueError, "logvar must have mu's shape"),
        (dict(beta=-1.0), ValueError, "beta must be a number >= 0"),
        (dict(beta="1"), TypeError, "beta must be a real number"),
        (dict(x=torch.full((3, 8), 1.5)), ValueError, r"\[0, 1\]"),
        (dict(mu=torch.zeros(2, 2), logvar=torch.zeros(2, 2)), ValueError, "one row per image"),
    ],
)
def test_vae_loss_bad_input(bad, error, match):
    args = dict(
        recon_logits=torch.zeros(3, 8),
        x=torch.zeros(3, 8),
        mu=torch.zeros(3, 2),
        logvar=torch.zeros(3, 2),
        beta=1.0,
    )
    args.update(bad)
    with pytest.raises(error, match=match):
        vae_loss(**args)


class _Tiny1D(torch.nn.Module):
    """A 1-D latent VAE on 3 binary pixels: log p(x) = log of an integral over z, done by quadrature."""

    def __init__(self):
        super().__init__()
        self.decoder = torch.nn.Sequential(torch.nn.Linear(1, 3)).double()
        self.enc = torch.nn.Linear(3, 2).double()
        torch.nn.init.normal_(self.decoder[0].weight, std=2.0)

    def encode(self, x):
        return self.enc(x).chunk(2, dim=1)


def test_elbo_below_log_likelihood_and_importance_bound_in_between():
    torch.manual_seed(0)
    model = _Tiny1D()
    x = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    z = torch.linspace(-12, 12, 20001, dtype=torch.float64)[:, None]  # quadrature grid
    with torch.no_grad():
        log_px_z = -torch.stack([bernoulli_nll(model.decoder(z), xi.expand(len(z), 3)) for xi in x])  # [3, Z]
    log_pz = Normal(0.0, 1.0).log_prob(z[:, 0])
    log_px = torch.logsumexp(log_px_z + log_pz, dim=1) + math.log(float(z[1] - z[0]))  # log p(x), exact
    lower = elbo(model, x, samples=4000)
    iw = importance_weighted_bound(model, x, samples=4000)
    # the K-sample bound is below log p(x) in expectation; one estimate can exceed it by its noise
    assert (lower < log_px).all() and (iw <= log_px + 1e-2).all() and (iw > lower).all()
    # with q = the exact posterior, the ELBO is tight: fit q's mean and variance to the posterior
    post = torch.softmax(log_px_z + log_pz, dim=1)  # [3, Z]
    m = (post * z[:, 0]).sum(1)
    v = (post * (z[:, 0] - m[:, None]) ** 2).sum(1)
    model.encode = lambda inputs: (m[:, None], v.log()[:, None])
    gap = log_px - elbo(model, x, samples=20000)
    assert (gap > -0.02).all() and gap.max() < 0.3  # Gaussian q close to the posterior: nearly tight
    assert bits_per_dim(log_px[0], 3) == pytest.approx(-log_px[0].item() / (3 * math.log(2)))


def test_elbo_of_a_model_on_images():
    torch.manual_seed(0)
    model = mlp_vae((1, 4, 4), 2, hidden=(8,))
    x = (torch.rand(5, 1, 4, 4) < 0.5).float()
    e = elbo(model, x, samples=3)
    assert e.shape == (5,) and (e < 0).all()
    with pytest.raises(ValueError, match="samples must be an int >= 1"):
        elbo(model, x, samples=0)
