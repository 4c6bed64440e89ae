# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
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

# %% [markdown]
# # Chapter 7: Autoencoders and variational autoencoders
#
# **What you will learn** (the autoencoder / VAE / β-VAE slides of "CNNs part II"): an autoencoder as
# *learned* compression, set against the best linear code (PCA, which a linear autoencoder learns) and
# against *hard-coded, entropy-based* compression (JPEG) at the same number of bytes; denoising and
# inpainting; why a plain autoencoder's latent space is irregular; the VAE (encode to a distribution,
# reconstruction − KL, the ELBO in nats and bits per dimension, the reparameterisation trick, local and
# global regularisation, sampling, interpolation); and the β-VAE, with disentanglement **measured**
# against the known factors of synthetic shapes. A latent-space explorer at the end.
#
# Every function is imported from `cvcourse.generative` and checked there against an authority
# (`torch.distributions`, scikit-learn's PCA and mutual information, SciPy's subspace angles, Pillow's JPEG).
#
# **How long**: fast mode (`CVCOURSE_FAST=1`) about a minute; full mode trains every model for real,
# several minutes on 2 idle CPU cores (the training cells). **GPU**: optional; it speeds up the training cells. The pictures of trained
# latent spaces use models the course ships (`data/`, trained by `data/scripts/train_generative.py`).

# %%
# %matplotlib inline
import inspect

import matplotlib.pyplot as plt
import torch

from cvcourse.runtime import device, fast_mode, pick, seed_everything
from cvcourse.viz import show_images, style_axes

seed_everything(0)
torch.set_num_threads(pick(full=torch.get_num_threads(), fast=1))  # tiny fast-mode models: 1 thread is quicker
DEVICE = device()
RESULTS = {"fast_mode": fast_mode()}  # the chapter's headline numbers, filled as the cells run

# %% tags=["parameters"]
LATENT_SIZES = pick(full=[2, 4, 8, 16, 32], fast=[2, 8])  # autoencoder bottlenecks for the compression table
AE_EPOCHS = pick(full=150, fast=4)
DENOISE_EPOCHS = pick(full=60, fast=3)
SHAPES_TRAIN = pick(full=4000, fast=400)  # shapes for the in-notebook conv training
SHAPES_EPOCHS = pick(full=10, fast=1)
VAE_EPOCHS = pick(full=200, fast=5)
SHAPES_TEST = pick(full=2000, fast=500)  # shapes of an unseen seed, for the disentanglement table
PROGRESS = not fast_mode()  # tqdm bars on the training cells (fast-mode runs take seconds)

# %% [markdown]
# ## 7.1 The autoencoder: learned compression
#
# An autoencoder compresses very high-dimensional data (an image, any vector) to a much smaller
# representation and back: an **encoder** $z = f_\phi(x)$, a **bottleneck** $z \in \mathbb{R}^k$ (the
# **latent space**), a **decoder** $\hat x = g_\Theta(z)$, trained so that $\hat x \approx x$.
#
# Our data: scikit-learn's 1797 handwritten digits, $8 \times 8$ pixels with 17 grey levels, split into a
# training and a test part. Here the code is $k$ numbers; the decoder outputs logits, `decode` gives the image.

# %%
from cvcourse.generative.factors import digits
from cvcourse.generative.models import mlp_autoencoder

grey = digits()
print({k: tuple(v.shape) for k, v in grey.items()})
ae = mlp_autoencoder((1, 8, 8), latent_dim=8)
print(ae)
fig = show_images(grey["test"][:10], titles=[str(int(c)) for c in grey["test_labels"][:10]],
                  suptitle="Test digits (8 × 8, grey levels 0..16 scaled to [0, 1])")

# %% [markdown]
# **Training** (`cvcourse.train.fit`, through `train_autoencoder`): one autoencoder per bottleneck size,
# squared error, Adam.

# %%
from cvcourse.generative.training import train_autoencoder

autoencoders, ae_histories = {}, {}
for k in LATENT_SIZES:
    seed_everything(0)
    autoencoders[k] = mlp_autoencoder((1, 8, 8), k)
    ae_histories[k] = train_autoencoder(autoencoders[k], grey["train"], epochs=AE_EPOCHS, loss="mse",
                                        val_images=grey["test"], device=DEVICE, live_plot=False, progress=PROGRESS)
    autoencoders[k].cpu().eval()
print({k: round(h["val_loss"][-1], 3) for k, h in ae_histories.items()}, "(test squared error per image)")
assert all(h["train_loss"][-1] < h["train_loss"][0] for h in ae_histories.values())

# %% [markdown]
# **What the best *linear* autoencoder learns is PCA.** With $\hat x = W_2(W_1 x + b_1) + b_2$ and squared
# error, the optimum projects onto the top-$k$ principal subspace (Baldi & Hornik 1989). We fit one to
# convergence and compare the span of its decoder's columns with scikit-learn's principal components:
# the **principal angles** between the two subspaces are ~0. (The columns themselves are *not* the
# principal axes: any invertible mix of them spans the same subspace and reconstructs equally well.)

# %%
from sklearn.decomposition import PCA

from cvcourse.generative.compression import principal_angles
from cvcourse.generative.experiments import fit_linear_autoencoder

flat = grey["train"].flatten(1).double()
linear_ae = fit_linear_autoencoder(flat, k=5)
sk_pca = PCA(n_components=5).fit(flat.numpy())
angles = principal_angles(linear_ae.decoder.weight.detach(), torch.from_numpy(sk_pca.components_.T))
print("principal angles (rad):", angles.numpy().round(6))
cosines = torch.nn.functional.normalize(linear_ae.decoder.weight.detach().T, dim=1) @ torch.from_numpy(
    sk_pca.components_).T
print("|cos| between decoder columns and principal axes:\n", cosines.abs().numpy().round(2))
assert angles.max() < 1e-3
RESULTS["linear_ae_max_principal_angle"] = float(angles.max())

# %% [markdown]
# **Learned vs hard-coded compression, at the same number of bytes.** The slide's contrast: JPEG is
# *entropy-based, hard-coded* compression (a fixed 8 × 8 DCT, quantisation, Huffman coding: the same for
# every picture); an autoencoder is *data-specific, learned* compression. For a bottleneck of $k$ numbers
# stored at 8 bits each (k bytes per image), we compare on the same test digits the autoencoder, PCA with
# $k$ components (also 8 bits each), and JPEG (Pillow) at the best quality that fits in k bytes per image.
# The test digits are encoded as one mosaic, so JPEG's header and tables are shared (each digit is exactly
# one DCT block). The decoder's weights and JPEG's codec are not counted: both are fixed and shared.

# %%
from cvcourse.generative.experiments import compression_row

table = [compression_row(autoencoders[k], grey["train"], grey["test"], k) for k in LATENT_SIZES]
print(f"{'k bytes':>7} | {'AE':>7} {'PCA':>7} {'JPEG':>7} | JPEG bytes (quality)   mean squared error per pixel")
for row in table:
    print(f"{row['k']:>7} | {row['ae']:7.4f} {row['pca']:7.4f} {row['jpeg']:7.4f} | "
          f"{row['jpeg_bytes']:5.1f} (q={row['jpeg_quality']})")
    RESULTS.update({f"compression_{m}_mse_k{row['k']}": row[m] for m in ("ae", "pca", "jpeg")})
if not fast_mode():  # a few fast-mode epochs do not train the autoencoder to this point
    assert all(row["ae"] < row["pca"] for row in table if row["k"] <= 8)

# %% [markdown]
# JPEG cannot go below about 5.4 bytes per digit (quality 1), so at $k = 2$ it even spends more. On
# digits, the learned code wins at small $k$: it knows what digits look like. PCA catches up as $k$
# grows. **Where learned compression does not win: data it was not trained on.** The same models on
# $8 \times 8$ patches of photographs (scikit-image's camera and coins):

# %%
from cvcourse.generative.experiments import image_patches

patches = image_patches(400)
foreign = [compression_row(autoencoders[k], grey["train"], patches, k) for k in LATENT_SIZES]
for row in foreign:
    print(f"photo patches, {row['k']:>2} bytes: AE {row['ae']:.4f}  PCA(digits) {row['pca']:.4f}  "
          f"JPEG {row['jpeg']:.5f} ({row['jpeg_bytes']:.1f} bytes)")
assert all(row["jpeg"] < row["ae"] / 10 for row in foreign)  # JPEG is 10x+ better on foreign data
RESULTS.update({f"patches_{m}_mse_k{foreign[-1]['k']}": foreign[-1][m] for m in ("ae", "jpeg")})

# %%
k = LATENT_SIZES[-1]
with torch.no_grad():
    shown = torch.cat([grey["test"][:6], autoencoders[k].reconstruct(grey["test"][:6]),
                       patches[:6], autoencoders[k].reconstruct(patches[:6])])
fig = show_images(shown, ncols=6, suptitle=f"Rows: digits, AE (k={k}); photo patches, the same AE")

# %% [markdown]
# ## Other uses: denoising and inpainting
#
# Trained to reconstruct the clean image from a corrupted one, an autoencoder learns to remove what
# does not belong to the data: salt-and-pepper noise (**denoising**), a hidden square (**neural
# inpainting**). Below on digits (MLP) and on single shapes (a small conv autoencoder). The errors
# are measured on test images, corrupted input vs the network's output against the clean image: over the
# whole image for denoising, inside the hidden square for inpainting.

# %%
from cvcourse.generative.factors import ShapesFactors
from cvcourse.generative.latent import add_noise, hide_square
from cvcourse.generative.models import conv_autoencoder

shapes_train, shapes_test = ShapesFactors(SHAPES_TRAIN, seed=2).images, ShapesFactors(200, seed=3).images
noise = lambda x: add_noise(x, 0.15)  # noqa: E731
inpaint = lambda x: hide_square(x, x.shape[-1] // 3)[0]  # noqa: E731
cleaners = {}
for data, build, epochs in (("digits", lambda: mlp_autoencoder((1, 8, 8), 16), DENOISE_EPOCHS),
                            ("shapes", lambda: conv_autoencoder((3, 32, 32), 16, (16, 32, 64)), SHAPES_EPOCHS)):
    train = grey["train"] if data == "digits" else shapes_train
    for task, corrupt in (("denoise", noise), ("inpaint", inpaint)):
        seed_everything(0)
        cleaners[data, task] = build()
        train_autoencoder(cleaners[data, task], train, epochs=epochs, loss="bce", corrupt=corrupt,
                          batch_size=32, device=DEVICE, live_plot=False, progress=PROGRESS)
        cleaners[data, task].cpu().eval()

# %%
from cvcourse.generative.compression import mse

generator = torch.Generator().manual_seed(5)
rows = []
for (data, task), model in cleaners.items():
    clean = grey["test"][:200] if data == "digits" else shapes_test
    if task == "denoise":  # the error over the whole image
        corrupted, region = add_noise(clean, 0.15, generator=generator), torch.ones_like(clean, dtype=torch.bool)
    else:  # the error inside the hidden square, what inpainting must fill in
        corrupted, mask = hide_square(clean, clean.shape[-1] // 3, generator=generator)
        region = mask.expand_as(clean)
    with torch.no_grad():
        restored = model.reconstruct(corrupted)
    rows.append((data, task, mse(corrupted[region], clean[region]), mse(restored[region], clean[region])))
    print(f"{data:6} {task:7}: corrupted {rows[-1][2]:.4f} -> restored {rows[-1][3]:.4f} (MSE per pixel)")
    RESULTS[f"{task}_{data}_mse"] = rows[-1][3]
    if not fast_mode():  # fast mode's one or three epochs are too few to restore anything
        assert rows[-1][3] < rows[-1][2]
fig = show_images(torch.cat([corrupted[:6], restored[:6], clean[:6]]), ncols=6,
                  suptitle="Shapes inpainting: input, output, truth")

# %% [markdown]
# ## What about generating new data? The irregular latent space
#
# An autoencoder is trained *only* to encode and decode with as little loss as possible, no matter how
# the latent space is organised. So the latent space can be **extremely irregular**: close points can
# decode to very different images, and some points decode to meaningless content. Decoding a random point
# is not a generative process. Shown on the course's shipped 2-D-latent models (binarised digits, so that
# a Bernoulli decoder is an exact likelihood later on): the plain autoencoder first.

# %%
from cvcourse.generative.latent import distance_to_data, encode
from cvcourse.generative.pretrained import load_digits_autoencoders

binary = digits(binarize=True)
shipped, shipped_info = load_digits_autoencoders()
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, name in zip(axes, ("AE", "VAE (β = 1)"), strict=True):
    codes = encode(shipped[name], binary["test"])
    points = ax.scatter(codes[:, 0], codes[:, 1], c=binary["test_labels"], cmap="tab10", s=6)
    style_axes(ax, f"{name}: codes of the test digits", "z1", "z2")
fig.colorbar(points, ax=axes, label="digit class")
print({name: record["recon"] for name, record in shipped_info["models"].items()}, "(test recon, nats/image)")

# %% [markdown]
# **Empty space, random points, points between two codes.** How much of the region the codes occupy is
# empty? For random points spread uniformly over the box that holds the codes, the distance to the nearest
# code, in units of the typical spacing between neighbouring codes: large means wide gaps with no data
# behind them. We also decode random points and the straight line between two test digits' codes, and
# measure how far each decode is from the nearest real digit.

# %%
from cvcourse.generative.latent import interpolate

typical = float(distance_to_data(binary["test"], binary["train"]).median())
g = torch.Generator().manual_seed(0)
far = {}
for name in ("AE", "VAE (β = 1)"):
    model, codes = shipped[name], encode(shipped[name], binary["test"])
    lo, hi = codes.amin(0), codes.amax(0)
    random_points = lo + (hi - lo) * torch.rand(1000, 2, generator=g)
    spacing = torch.cdist(codes, codes).fill_diagonal_(float("inf")).amin(1).median()
    gap = float((distance_to_data(random_points, codes) / spacing).median())
    with torch.no_grad():
        far[name] = (gap, float(distance_to_data(model.decode(random_points), binary["train"]).median()),
                     model.decode(interpolate(codes[0], codes[1], 9)))
    print(f"{name:12}: empty space {gap:.1f} code spacings; random decodes {far[name][1]:.2f} from the nearest "
          f"digit (a test digit: {typical:.2f})")
fig = show_images(torch.cat([far["AE"][2], far["VAE (β = 1)"][2]]), ncols=9,
                  suptitle="From one test digit to another: AE (top), VAE (bottom)")
assert far["AE"][0] > 1.5 * far["VAE (β = 1)"][0]  # the autoencoder's codes leave wide gaps
RESULTS["empty_space_ae"], RESULTS["empty_space_vae"] = far["AE"][0], far["VAE (β = 1)"][0]

# %% [markdown]
# Measured honestly: the autoencoder's codes leave far more empty space, but at this tiny scale (8 × 8
# digits, 2 latents) its decoder is smooth, so its decodes of random points are about as far from real
# digits as the VAE's (both are blurry digit-like blobs). The irregularity shows in the geometry more than in
# these decodes; the explorer below lets you look for the meaningless ones in the gaps.

# %% [markdown]
# **Close in latent space, close in image space?** *Trustworthiness* (scikit-learn) is 1 when the $k$
# nearest neighbours of every code are also its image's nearest neighbours, and drops when latent
# neighbours are images far apart.

# %%
from sklearn.manifold import trustworthiness

for name in shipped:
    trust = trustworthiness(binary["test"].flatten(1).numpy(), encode(shipped[name], binary["test"]).numpy(),
                            n_neighbors=5)
    RESULTS[f"trustworthiness_{name}"] = float(trust)
    print(f"{name:24}: trustworthiness {trust:.3f}")

# %% [markdown]
# ## 7.2 The variational autoencoder
#
# Instead of mapping an input to a fixed vector, the VAE maps it to a **distribution**
# $q_\phi(z|x) = N(\mu(x), \mathrm{diag}\,\sigma^2(x))$ and is trained on
#
# $$L(\Theta, \phi; x) = \underbrace{\mathbb{E}_{q_\phi(z|x)}[\log p_\Theta(x|z)]}_{\text{reconstruction}}
#   - \underbrace{D_{KL}(q_\phi(z|x)\,\|\,p(z))}_{\text{distance to } N(0, I)}$$
#
# With a Gaussian $q$ and the prior $p(z) = N(0, I)$ the KL has a closed form,
# $D_{KL} = \frac12\sum_j (\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2)$. Ours equals `torch.distributions`':

# %%
from torch.distributions import Normal, kl_divergence

from cvcourse.generative.losses import kl_normal

print(inspect.getsource(kl_normal).split('"""')[-1])
mu, logvar = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
theirs = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1)
print("ours:", kl_normal(mu, logvar).numpy().round(4), "\ntorch:", theirs.numpy().round(4))
assert torch.allclose(kl_normal(mu, logvar), theirs)

# %% [markdown]
# **The ELBO.** $L$ is a lower bound on $\log p_\Theta(x)$ (the *evidence*): the **ELBO**. With a
# Bernoulli decoder on the binarised digits, $-\log p(x|z)$ is the binary cross-entropy summed over the 64
# pixels, in nats, and $-\mathrm{ELBO} / (64 \ln 2)$ is **bits per dimension** (1 bit/dim = storing every
# pixel as is). The importance-weighted bound with $K$ samples (Burda et al.) is tighter and still below
# $\log p(x)$: the gap shows how loose the ELBO is.

# %%
from cvcourse.generative.losses import bits_per_dim, elbo, importance_weighted_bound

vae = shipped["VAE (β = 1)"]
torch.manual_seed(0)
test_elbo = elbo(vae, binary["test"], samples=8).mean()
iw = importance_weighted_bound(vae, binary["test"], samples=pick(full=256, fast=32)).mean()
print(f"test ELBO {test_elbo:.2f} nats = {bits_per_dim(test_elbo, 64):.3f} bits/dim; "
      f"importance-weighted bound {iw:.2f} nats = {bits_per_dim(iw, 64):.3f} bits/dim")
assert test_elbo < iw < 0
RESULTS.update(elbo_nats=float(test_elbo), elbo_bits_per_dim=float(bits_per_dim(test_elbo, 64)), iw_nats=float(iw))

# %% [markdown]
# **Sampling blocks back-propagation; the reparameterisation trick does not.** Gradient descent needs
# $\nabla_\phi L$, but $z \sim N(\mu, \sigma^2)$ is a random draw: it has no gradient with respect to $\mu$ and
# $\sigma$. The trick moves the randomness into $\epsilon \sim N(0, I)$, which does not depend on the
# parameters: $z = \mu + \sigma \cdot \epsilon$. Then $\partial z/\partial\mu = 1$ and $\partial z/\partial\sigma = \epsilon$.

# %%
from cvcourse.generative.losses import reparameterize

mu = torch.tensor([[0.5, -1.0]], requires_grad=True)
logvar = torch.tensor([[0.0, -2.0]], requires_grad=True)
sampled = torch.normal(mu.detach(), torch.exp(0.5 * logvar.detach()))  # sampling as such
print("direct sample:", sampled, "requires grad:", sampled.requires_grad)
eps = torch.randn(1, 2)
z = reparameterize(mu, logvar, eps)
z.sum().backward()
print("reparameterised z:", z.detach(), "\n dz/dmu =", mu.grad, "\n dz/dlogvar =", logvar.grad,
      "= eps * sigma / 2 =", (eps * torch.exp(0.5 * logvar.detach()) / 2))
assert not sampled.requires_grad and torch.equal(mu.grad, torch.ones(1, 2))
assert torch.allclose(logvar.grad, eps * torch.exp(0.5 * logvar.detach()) / 2)

# %% [markdown]
# **Local and global regularisation.** The KL term pulls every $q(z|x)$ towards $N(0, I)$: the means to 0
# (**global**: the encoded distributions stay close together), the variances to 1 (**local**: no
# punctual distributions). Encoding the data set with the VAE and with the same VAE trained without the
# KL term ($\beta = 0$):

# %%
from matplotlib.patches import Ellipse

from cvcourse.generative.experiments import regularisation

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
for ax, name in zip(axes, ("VAE without KL (β = 0)", "VAE (β = 1)"), strict=True):
    with torch.no_grad():
        mu, logvar = shipped[name].encode(binary["test"][:150])
    sigma = torch.exp(0.5 * logvar)
    for m, s in zip(mu, sigma, strict=True):  # one ellipse of +-1 sigma per digit
        ax.add_patch(Ellipse(m.tolist(), 2 * s[0].item(), 2 * s[1].item(), alpha=0.15))
    ax.scatter(mu[:, 0], mu[:, 1], c=binary["test_labels"][:150], cmap="tab10", s=8)
    stats = regularisation(shipped[name], binary["test"])
    style_axes(ax, f"{name}\nmean |μ| {stats['mean_norm']:.2f}, mean σ {stats['sigma']:.3f}", "z1", "z2")
    RESULTS[f"mean_sigma_{name}"] = stats["sigma"]
no_kl, with_kl = (regularisation(shipped[n], binary["test"]) for n in ("VAE without KL (β = 0)", "VAE (β = 1)"))
assert with_kl["sigma"] > 10 * no_kl["sigma"] and with_kl["mean_norm"] < no_kl["mean_norm"]

# %% [markdown]
# Without the KL, the σ collapse to points and the means spread out wherever is convenient: an
# autoencoder again. **Generating new data**: decode $z \sim N(0, I)$. The VAE was trained so that its codes
# fill exactly the region the prior samples; the β = 0 model's codes span a region many times wider, so the
# same draws see only the few classes that happen to sit near its origin.

# %%
g = torch.Generator().manual_seed(1)
z = torch.randn(16, 2, generator=g)
with torch.no_grad():
    samples = {name: shipped[name].decode(z) for name in ("VAE (β = 1)", "VAE without KL (β = 0)")}
fig = show_images(torch.cat(list(samples.values())), ncols=16, figsize=(12, 1.8),
                  suptitle="z ~ N(0, I) decoded: VAE (top), VAE without KL (bottom)")
codes = encode(shipped["VAE without KL (β = 0)"], binary["test"])
print(f"the β = 0 model's codes span {(codes.amax(0) - codes.amin(0)).numpy().round(1)}; N(0, I) covers a "
      f"small patch of it: its samples decode only what lies there")
assert (codes.amax(0) - codes.amin(0)).min() > 5 * 2  # far wider than the prior's +-2.5

# %% [markdown]
# **Interpolation that stays on the data**: along the line between two test digits' codes, how far is each
# decode from the nearest real digit (mean over six pairs)? A path that leaves the data rises in the middle.

# %%
fig, ax = plt.subplots(figsize=(6, 3))
path_far = {}
for name in ("AE", "VAE (β = 1)"):
    codes = encode(shipped[name], binary["test"])
    d = [distance_to_data(shipped[name].decode(interpolate(codes[i], codes[j], 11)).detach(), binary["train"])
         for i, j in ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11))]
    path_far[name] = torch.stack(d).mean(0)
    ax.plot(torch.linspace(0, 1, 11), path_far[name], "o-", label=name)
ax.axhline(typical, color="gray", ls=":", label="a real digit")
style_axes(ax, "Decodes along straight lines between codes", "t (0: first digit, 1: second)",
           "distance to nearest digit")
ax.legend()
RESULTS["interpolation_distance_ae"], RESULTS["interpolation_distance_vae"] = (
    float(path_far["AE"].mean()), float(path_far["VAE (β = 1)"].mean()))

# %% [markdown]
# **Training a VAE** in this notebook (fit with a step of its own: the loss has two parts, recorded as
# `recon` and `kl`). In fast mode a few epochs; in full mode as long as the shipped model (whose
# numbers it should then reproduce, within noise).

# %%
from cvcourse.generative.models import mlp_vae
from cvcourse.generative.training import train_vae

seed_everything(0)
my_vae = mlp_vae((1, 8, 8), latent_dim=2)
history = train_vae(my_vae, binary["train"], epochs=VAE_EPOCHS, beta=1.0, val_images=binary["test"],
                    device=DEVICE, live_plot=False, progress=PROGRESS)
my_vae.cpu().eval()
mine = elbo(my_vae, binary["test"], samples=8).mean()
print(f"this run: test ELBO {mine:.2f} nats (recon {history['val_recon'][-1]:.2f}, KL {history['val_kl'][-1]:.2f}); "
      f"shipped: {shipped_info['models']['VAE (β = 1)']['elbo']:.2f}")
assert history["train_loss"][-1] < history["train_loss"][0]
RESULTS["trained_vae_elbo_nats"] = float(mine)

# %% [markdown]
# ## 7.3 The β-VAE and disentanglement
#
# **Disentanglement** means that the latent neurons are uncorrelated and each learns a different aspect
# (factor) of the data. The β-VAE weights the KL term:
#
# $$L(\Theta, \phi; x) = \mathbb{E}_{q_\phi(z|x)}[\log p_\Theta(x|z)] - \beta\, D_{KL}(q_\phi(z|x)\,\|\,p(z))$$
#
# A larger β forces the autoencoder to map the information onto only a few latent variables (the others
# stay on the prior and carry nothing). To *measure* this we need data whose factors are known:
# single shapes on black, rendered from five independent factors, shape, x, y, size and colour.

# %%
from cvcourse.generative.factors import FACTORS, factor_labels
from cvcourse.generative.pretrained import load_shapes_betavaes

factor_test = ShapesFactors(SHAPES_TEST, seed=1)  # the shipped models trained on seed 0
fig = show_images(factor_test.images[:8], titles=[
    f"{factor_test.classes[int(f[0])]}, {factor_test.colours[int(f[4])]}\nx={f[1]:.0f} y={f[2]:.0f} r={f[3]:.1f}"
    for f in factor_test.factors[:8]], suptitle="Shapes with known factors: " + ", ".join(FACTORS))
betavaes, betavae_info = load_shapes_betavaes()
print({beta: round(r["recon"], 1) for beta, r in betavae_info["models"].items()}, "test recon (nats/image)")

# %% [markdown]
# **Latent traversals.** Take one test image's code, sweep one latent dimension from −2.5 to 2.5 with
# the others fixed, decode. Each row is one latent dimension (sorted by how much the data use it); a
# disentangled dimension changes one factor only. Dimensions pushed onto the prior change nothing.

# %%
from cvcourse.generative.disentanglement import active_dims
from cvcourse.generative.latent import traverse

base = factor_test.images[:1]
fig, axes = plt.subplots(len(betavaes), 1, figsize=(9, 2.4 * len(betavaes)))
for ax, (beta, model) in zip(axes, betavaes.items(), strict=True):
    mu = encode(model, factor_test.images)
    order = mu.var(0).argsort(descending=True)[:4]  # the 4 most used dimensions
    z0 = encode(model, base)[0]
    with torch.no_grad():
        rows = [model.decode(traverse(z0, int(d), torch.linspace(-2.5, 2.5, 7))) for d in order]
    grid = torch.cat([torch.cat(list(r), dim=2) for r in rows], dim=1)  # [3, 4*32, 7*32]
    ax.imshow(grid.permute(1, 2, 0).numpy())
    ax.set_xticks([]), ax.set_yticks([])
    style_axes(ax, f"β = {beta:g}: {int(active_dims(mu).sum())} of 8 latents in use", "z_d from -2.5 to 2.5",
               "latent d")
fig.tight_layout()

# %% [markdown]
# **Disentanglement measured, and what it costs.** For each β, on shapes of a seed never seen in training:
# the **MIG** (mutual information gap, Chen et al. 2018: for each factor, how much more the most
# informative latent knows about it than the runner-up, over the factor's entropy; 1 = each factor in one
# latent), the mean |correlation| between the latents in use, how many are in use, and the reconstruction
# (nats per image). The slides' "VAE vs disentangled VAE" comparison, in numbers. (The MIGs stay far from
# 1 with these small, briefly trained models; the *trend* with β is what the cell checks. The shape
# and colour factors are discrete and the hardest for a continuous latent to hold alone.)

# %%
from cvcourse.generative.experiments import disentanglement_row

labels = factor_labels(factor_test.factors)
print(f"{'β':>4} | {'MIG':>5} {'|corr|':>6} {'active':>6} | {'recon':>7} {'KL':>6}")
for beta, model in betavaes.items():
    row = disentanglement_row(model, factor_test.images, labels)
    print(f"{beta:>4g} | {row['mig']:5.3f} {row['correlation']:6.3f} {row['active']:>6} | "
          f"{row['recon']:7.1f} {row['kl']:6.1f}")
    RESULTS.update({f"beta{beta:g}_{key}": value for key, value in row.items()})
top = f"beta{max(betavaes):g}"
assert RESULTS[f"{top}_active"] < RESULTS["beta0_active"]  # fewer latents in use
assert RESULTS[f"{top}_mig"] > RESULTS["beta0_mig"]  # each factor more in one latent
assert RESULTS[f"{top}_correlation"] < RESULTS["beta0_correlation"]  # less correlated latents
assert RESULTS[f"{top}_recon"] > RESULTS["beta1_recon"]  # the reconstruction it costs

# %% [markdown]
# **Training a β-VAE here** on the shapes (fast mode: a few hundred images and one epoch, so the numbers
# mean little; full mode trains for real, about 2 minutes on 2 CPU cores).

# %%
from cvcourse.generative.pretrained import build_shapes_vae

seed_everything(0)
my_beta_vae = build_shapes_vae()
beta_history = train_vae(my_beta_vae, ShapesFactors(SHAPES_TRAIN, seed=0).images, epochs=SHAPES_EPOCHS, beta=4.0,
                         batch_size=32, device=DEVICE, live_plot=False, progress=PROGRESS)
my_beta_vae.cpu().eval()
row = disentanglement_row(my_beta_vae, factor_test.images, labels)
print({k: round(v, 3) for k, v in row.items()}, "(this run, β = 4)")
steps = beta_history.steps["train_loss"]
assert sum(steps[-5:]) < sum(steps[:5])  # the loss falls (per step: fast mode runs one epoch)
RESULTS["trained_beta4_mig"] = row["mig"]

# %% [markdown]
# ## Latent explorer
#
# The shipped 2-D-latent models on the test digits: pick a model, click on the map (or move the z1 / z2
# sliders) and see the decode of that point. On the **AE**, click in the gaps between clusters; on the
# **VAE without KL** see the stretched codes; on the **VAE** and the **β-VAE** almost every point decodes
# to a digit, and the classes sit next to each other around the origin.

# %%
from cvcourse.generative.widgets import latent_explorer

explorer = latent_explorer(shipped)
explorer

# %%
before = explorer.image_artist.get_array().copy()
explorer.controls["z1"].value = explorer.controls["z1"].max  # what a click at the right edge does
assert (explorer.image_artist.get_array() != before).any()
explorer.controls["model"].value = "VAE (β = 1)"
RESULTS

# %% [markdown]
# **What to take away.** An autoencoder is learned, data-specific compression: better than PCA (the best
# linear code) and JPEG on the data it knows, far worse on anything else. Its latent space is not made for
# sampling. The VAE encodes to distributions kept close to $N(0, I)$ by the KL term (mean: global, variance:
# local regularisation), trains through the reparameterisation trick, and its ELBO is a true bound on the
# likelihood. β trades reconstruction for fewer, more independent latents, which the MIG and the latent
# correlations measure.
