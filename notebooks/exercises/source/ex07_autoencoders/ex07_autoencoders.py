# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: nbgrader,tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %%

# %% [markdown]
# # Exercise sheet 7: the variational autoencoder's pieces
#
# **What you practise.** The parts of a VAE's loss (notes and slides, chapter 7): the KL divergence of a
# diagonal Gaussian from the standard normal in closed form, the reparameterisation trick (and that
# gradients flow through it), the Gaussian log-density, a Monte-Carlo estimate of the KL that agrees
# with the closed form, and the $\beta$-VAE loss. Each is checked against `torch.distributions` and
# autograd.
#
# **Points.** Exercises 1-5: 2, 2, 2, 2, 3 (checked automatically; some checks are hidden and run when
# your notebook is graded), exercise 6: 2 (written, graded by hand). Total: 13 points.
#
# **Time.** About 60 minutes. Every cell runs in about a second on a laptop CPU; no GPU needed.
#
# **How to work.** Replace each `raise NotImplementedError()` with your code, run the cell, then run
# the check cell below it. A check that passes prints nothing; one that fails says what it expected
# and what it got. Do not rename the functions or change their arguments: the grader calls them.
# The encoder outputs a mean $\mu$ and a **log-variance** $\ell = \log\sigma^2$ per latent dimension,
# Tensors$[B, J]$.

# %%
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from cvcourse.grading import (
    check,
    check_close,
    check_shape,
    check_written_here,
    exercise,
    forbidden,
)
from cvcourse.runtime import seed_everything

seed_everything(0)
torch.set_default_dtype(torch.float64)  # the checks compare in float64, to 1e-6 relative
torch.set_printoptions(precision=4)

# %% [markdown]
# ## Exercise 1: the KL divergence of the encoder's Gaussian (2 points)
#
# $$D_\text{KL}\big(\mathcal{N}(\mu, \text{diag}\,\sigma^2)\,\|\,\mathcal{N}(0, I)\big) = \frac12 \sum_{j=1}^{J} \big(\mu_j^2 + \sigma_j^2 - \log\sigma_j^2 - 1\big).$$
# Write `gaussian_kl(mu, logvar)`, one value per sample: Tensor$[B]$.

# %% nbgrader={"grade": false, "grade_id": "gaussian_kl", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gaussian_kl(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample: Tensor[B, J] twice -> Tensor[B]."""
    ### BEGIN SOLUTION
    return 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(dim=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_gaussian_kl", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def torch_kl(mu, logvar):
    return kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(dim=-1)


with exercise(1, "gaussian_kl"):
    check_close("KL of N(0, I) from itself", gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))
    check_close("KL of N(mu = 1, sigma^2 = e) in 1-d: (1 + e - 1 - 1) / 2",
                gaussian_kl(torch.ones(1, 1), torch.ones(1, 1)), torch.tensor([(torch.e - 1) / 2]))
    torch.manual_seed(1)
    mu, logvar = torch.randn(4, 8), torch.randn(4, 8)
    kl = gaussian_kl(mu, logvar)
    check_shape("gaussian_kl of a [4, 8] batch", kl, (4,))
    check_close("gaussian_kl of random means and log-variances", kl, torch_kl(mu, logvar))
### BEGIN HIDDEN TESTS
check_written_here(gaussian_kl)
with exercise(1, "gaussian_kl"):
    mu, logvar = torch.randn(10, 32) * 3, torch.randn(10, 32) * 2
    check_close("gaussian_kl, wide ranges", gaussian_kl(mu, logvar), torch_kl(mu, logvar))
    check_close("gaussian_kl of one latent dimension", gaussian_kl(mu[:, :1], logvar[:, :1]), torch_kl(mu[:, :1], logvar[:, :1]))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: the reparameterisation trick (2 points)
#
# Sampling $z \sim \mathcal{N}(\mu, \sigma^2)$ is not differentiable in $\mu$ and $\sigma$; writing
# $z = \mu + \sigma \odot \varepsilon$ with $\varepsilon \sim \mathcal{N}(0, I)$ drawn independently is (slides,
# "reparameterization trick"). Write `reparameterize(mu, logvar, eps)` with $\sigma = e^{\ell/2}$ and the
# noise `eps` given (so that the check is reproducible). The check also asks autograd for
# $\partial z / \partial \mu = 1$ and $\partial z / \partial \ell = \frac12 \sigma \varepsilon$.

# %% nbgrader={"grade": false, "grade_id": "reparameterize", "locked": false, "schema_version": 3, "solution": true, "task": false}
def reparameterize(mu, logvar, eps):
    """z = mu + sigma * eps, sigma = exp(logvar / 2); all Tensor[B, J]."""
    ### BEGIN SOLUTION
    return mu + (0.5 * logvar).exp() * eps
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_reparameterize", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def check_reparameterize(shape):
    mu, logvar, eps = torch.randn(shape), torch.randn(shape), torch.randn(shape)
    mu.requires_grad_(True), logvar.requires_grad_(True)
    z = reparameterize(mu, logvar, eps)
    check_shape(f"z for {list(shape)}", z, shape)
    check_close("z = mu + sigma * eps", z, mu.detach() + Normal(0.0, 1.0).scale * (0.5 * logvar.detach()).exp() * eps)
    check(z.requires_grad, "z should depend on mu and logvar through autograd (did you detach or sample anew?)")
    z.sum().backward()
    check_close("dz/dmu", mu.grad, torch.ones(shape))
    check_close("dz/dlogvar = sigma * eps / 2", logvar.grad, 0.5 * (0.5 * logvar.detach()).exp() * eps)


with exercise(2, "reparameterize"):
    torch.manual_seed(2)
    check_reparameterize((3, 4))
### BEGIN HIDDEN TESTS
check_written_here(reparameterize)
with exercise(2, "reparameterize"):
    check_reparameterize((16, 2))
    check_reparameterize((1, 64))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: the Gaussian log-density (2 points)
#
# $\log \mathcal{N}(z; \mu, \text{diag}\,\sigma^2) = -\frac12 \sum_j \Big(\log(2\pi) + \ell_j + \frac{(z_j - \mu_j)^2}{\sigma_j^2}\Big)$.
# Write `gaussian_log_prob(z, mu, logvar)`, summed over the latent dimensions: Tensor$[\dots]$ for inputs
# Tensor$[\dots, J]$ (broadcasting `mu`, `logvar` against `z`).

# %% nbgrader={"grade": false, "grade_id": "gaussian_log_prob", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gaussian_log_prob(z, mu, logvar):
    """log N(z; mu, exp(logvar)), summed over the last dimension."""
    ### BEGIN SOLUTION
    import math

    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu) ** 2 / logvar.exp()).sum(dim=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_gaussian_log_prob", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def check_log_prob(z, mu, logvar, what):
    expected = Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(dim=-1)
    check_close(f"gaussian_log_prob ({what})", gaussian_log_prob(z, mu, logvar), expected)


with exercise(3, "gaussian_log_prob"):
    torch.manual_seed(3)
    check_log_prob(torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3), "random")
### BEGIN HIDDEN TESTS
check_written_here(gaussian_log_prob)
with exercise(3, "gaussian_log_prob"):
    check_log_prob(torch.randn(7, 4, 6), torch.randn(4, 6), torch.randn(4, 6) * 3, "broadcast over samples")
    check_log_prob(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1), "standard normal at 0")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: a Monte-Carlo KL (2 points)
#
# The KL divergence is an expectation, $D_\text{KL}(q\|p) = \mathbb{E}_{z \sim q}\big[\log q(z) - \log p(z)\big]$. Write
# `monte_carlo_kl(mu, logvar, eps)`, where `eps` holds $S$ noise samples, Tensor$[S, B, J]$: draw
# $z_s = \mu + \sigma\varepsilon_s$ with your `reparameterize`, and average $\log q(z_s) - \log \mathcal{N}(z_s; 0, I)$ over
# the samples with your `gaussian_log_prob`, returning Tensor$[B]$. With many samples it approaches your
# closed form of exercise 1.

# %% nbgrader={"grade": false, "grade_id": "monte_carlo_kl", "locked": false, "schema_version": 3, "solution": true, "task": false}
def monte_carlo_kl(mu, logvar, eps):
    """Mean over S samples of log q(z) - log p(z): mu, logvar Tensor[B, J], eps Tensor[S, B, J] -> Tensor[B]."""
    ### BEGIN SOLUTION
    z = reparameterize(mu, logvar, eps)  # [S, B, J]
    zeros = torch.zeros_like(mu)
    return (gaussian_log_prob(z, mu, logvar) - gaussian_log_prob(z, zeros, zeros)).mean(dim=0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_monte_carlo_kl", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def torch_monte_carlo(mu, logvar, eps):
    q = Normal(mu, (0.5 * logvar).exp())
    z = mu + q.scale * eps
    return (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(dim=-1).mean(dim=0)


with exercise(4, "monte_carlo_kl"):
    torch.manual_seed(4)
    mu, logvar, eps = torch.randn(3, 5), torch.randn(3, 5) * 0.5, torch.randn(10, 3, 5)
    mc = monte_carlo_kl(mu, logvar, eps)
    check_shape("monte_carlo_kl (10 samples, batch 3)", mc, (3,))
    check_close("monte_carlo_kl with the given samples", mc, torch_monte_carlo(mu, logvar, eps))
    many = monte_carlo_kl(mu, logvar, torch.randn(20000, 3, 5))
    check_close("monte_carlo_kl of 20000 samples vs the closed form (to 5 %)", many, torch_kl(mu, logvar), rtol=0.05, atol=0.05)
### BEGIN HIDDEN TESTS
check_written_here(monte_carlo_kl)
with exercise(4, "monte_carlo_kl"):
    mu, logvar, eps = torch.randn(2, 9) * 2, torch.randn(2, 9), torch.randn(1, 2, 9)
    check_close("monte_carlo_kl with one sample", monte_carlo_kl(mu, logvar, eps), torch_monte_carlo(mu, logvar, eps))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: the β-VAE loss (3 points)
#
# The VAE maximises the evidence lower bound; its loss per image is a reconstruction term plus the KL
# term, and the $\beta$-VAE weighs the KL by $\beta$ (slides, "beta-VAE"):
# $$\mathcal{L} = \frac1B \sum_{b=1}^B \Big(\underbrace{\lVert x_b - \hat x_b \rVert^2}_{\text{sum over all pixels}} + \beta\, D_\text{KL}\big(q(z|x_b)\,\|\,\mathcal{N}(0, I)\big)\Big).$$
# Write `beta_vae_loss(x, x_hat, mu, logvar, beta)` for images Tensor$[B, C, H, W]$, returning a 0-d tensor
# (autograd must reach `x_hat`, `mu` and `logvar`).

# %% nbgrader={"grade": false, "grade_id": "beta_vae_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def beta_vae_loss(x, x_hat, mu, logvar, beta=1.0):
    """The beta-VAE loss averaged over the batch (squared error summed over pixels + beta KL)."""
    ### BEGIN SOLUTION
    reconstruction = ((x - x_hat) ** 2).flatten(1).sum(dim=1)  # [B]
    return (reconstruction + beta * gaussian_kl(mu, logvar)).mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_beta_vae_loss", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def check_loss(batch, beta):
    x, x_hat = torch.rand(batch, 1, 6, 5), torch.rand(batch, 1, 6, 5).requires_grad_(True)
    mu, logvar = torch.randn(batch, 4).requires_grad_(True), torch.randn(batch, 4).requires_grad_(True)
    expected = F.mse_loss(x_hat, x, reduction="sum") / batch + beta * torch_kl(mu, logvar).mean()
    loss = beta_vae_loss(x, x_hat, mu, logvar, beta)
    check_shape(f"beta_vae_loss (batch {batch}, beta {beta})", loss, ())
    check_close(f"beta_vae_loss (batch {batch}, beta {beta})", loss, expected)
    grads = torch.autograd.grad(loss, (x_hat, mu, logvar))
    want = torch.autograd.grad(expected, (x_hat, mu, logvar))
    for name, got, ref in zip(("x_hat", "mu", "logvar"), grads, want, strict=True):
        check_close(f"gradient of the loss w.r.t. {name} (beta {beta})", got, ref)


with exercise(5, "beta_vae_loss"):
    torch.manual_seed(5)
    check_loss(4, 1.0)
    check_loss(4, 4.0)
### BEGIN HIDDEN TESTS
check_written_here(beta_vae_loss)
with exercise(5, "beta_vae_loss"):
    check_loss(1, 0.0)
    check_loss(7, 0.5)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: what β does (2 points, graded by hand)
#
# The cell shows the two terms of your loss for an encoder that matches the data closely (small
# $\sigma$, spread-out $\mu$) and for one that stays close to the prior, for three values of $\beta$. In three
# or four sentences: which encoder does a large $\beta$ favour, what does that do to reconstructions and
# samples, and why do $\beta$-VAEs with $\beta > 1$ tend to give more disentangled latent dimensions?

# %%
torch.manual_seed(6)
x = torch.rand(8, 1, 8, 8)
sharp = dict(x_hat=x + 0.02 * torch.randn_like(x), mu=3 * torch.randn(8, 4), logvar=torch.full((8, 4), -6.0))
prior_like = dict(x_hat=x.mean() + 0 * x, mu=0.1 * torch.randn(8, 4), logvar=torch.zeros(8, 4))
for beta in (0.1, 1.0, 10.0):
    losses = {name: float(beta_vae_loss(x, beta=beta, **enc)) for name, enc in [("sharp", sharp), ("prior-like", prior_like)]}
    print(f"beta = {beta:4}: sharp encoder {losses['sharp']:7.2f}, prior-like encoder {losses['prior-like']:7.2f}")

# %% [markdown] nbgrader={"grade": true, "grade_id": "beta_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# A large $\beta$ makes the KL term dominate: at $\beta = 10$ the encoder that stays close to the prior has the
# smaller loss although it reconstructs nothing, while at $\beta = 0.1$ the sharp encoder wins. Training with a
# large $\beta$ therefore pushes the posteriors towards $\mathcal{N}(0, I)$: the latent code carries less information,
# reconstructions become blurrier, but the aggregate posterior fills the prior better, so samples decoded from
# $z \sim \mathcal{N}(0, I)$ look more like data. Because the prior is factorised (independent dimensions) and
# capacity is expensive, the encoder is pushed to use few dimensions, each for one independent factor of
# variation, which is the disentanglement $\beta$-VAEs are known for (at the price of reconstruction quality).
