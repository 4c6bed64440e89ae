r"""Training an autoencoder or a (beta-)VAE with the course's one loop, ``cvcourse.train.fit``.

An autoencoder's batch is ``(corrupt(x), x)``: plain reconstruction when ``corrupt`` is None,
denoising or inpainting otherwise (Vincent et al. 2008, https://doi.org/10.1145/1390156.1390294).
Its loss is the Bernoulli negative log-likelihood ``bernoulli_nll`` or the squared error, both
summed over pixels and averaged over the batch.

A VAE needs a step of its own (``vae_step``): the forward pass returns ``(logits, mu, logvar)`` and
the loss ``vae_loss`` has two parts, which are recorded as the metrics ``recon`` and ``kl``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from cvcourse._checks import check_choice, check_float, check_int, check_tensor
from cvcourse.runtime import device as default_device
from cvcourse.train import History, fit

from .losses import bernoulli_nll, kl_normal, vae_loss

__all__ = ["reconstruction_loss", "train_autoencoder", "train_vae", "vae_step"]


def reconstruction_loss(kind: str = "bce") -> Callable[[Tensor, Tensor], Tensor]:
    """``loss(logits, x)``: ``"bce"`` (Bernoulli NLL) or ``"mse"`` (squared error of sigmoid(logits)),
    summed over pixels and averaged over the batch."""
    check_choice("kind", kind, ("bce", "mse"))
    if kind == "bce":
        return lambda logits, x: bernoulli_nll(logits, x).mean()
    return lambda logits, x: (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1).mean()


def _loader(images: Tensor, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    check_tensor("images", images, dtype="float")
    return DataLoader(
        TensorDataset(images),
        batch_size=check_int("batch_size", batch_size, low=1),
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed),
    )


def train_autoencoder(
    model: nn.Module,
    images: Tensor,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    loss: str = "bce",
    corrupt: Callable[[Tensor], Tensor] | None = None,
    val_images: Tensor | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    **fit_options,
) -> History:
    """Train ``model`` (``forward(x) -> logits``) to reconstruct ``images`` from ``corrupt(images)``.

    Args:
        model: an ``Autoencoder`` (or a ``LinearAutoencoder`` with ``loss="mse"`` on raw outputs: its
            output is then compared directly, no sigmoid).
        images: Tensor[N, ...] in [0, 1].
        epochs, lr, batch_size: Adam on mini-batches, shuffled with ``seed``.
        loss: ``"bce"`` or ``"mse"``.
        corrupt: a function of a batch applied to the input only (noise, a hidden square), or None.
        val_images: images to report the validation loss on (uncorrupted inputs), or None.
        device: None means ``cvcourse.runtime.device()``.
        **fit_options: passed to ``fit`` by keyword (``live_plot``, ``progress``, ...).

    Returns:
        ``fit``'s History (``train_loss`` per epoch, ``val_loss`` with ``val_images``).
    """
    epochs = check_int("epochs", epochs, low=0)
    lr = check_float("lr", lr, low=0, low_inclusive=False)
    loss_fn = reconstruction_loss(loss)
    from .models import LinearAutoencoder

    if isinstance(model, LinearAutoencoder):
        check_choice("loss", loss, ("mse",))
        loss_fn = lambda out, x: (out - x).pow(2).flatten(1).sum(1).mean()  # noqa: E731

    def step(net: nn.Module, batch, device) -> tuple[Tensor, Tensor, Tensor]:
        (x,) = batch
        inputs = corrupt(x) if corrupt is not None and net.training else x
        out = net(inputs)
        return loss_fn(out, x), out, x

    return _fit_images(model, images, val_images, step, epochs, lr, batch_size, seed, device, **fit_options)


def vae_step(beta: float) -> Callable:
    """The ``step_fn`` of a beta-VAE for ``fit``: loss ``vae_loss(..., beta)``, outputs for the metrics."""
    beta = check_float("beta", beta, low=0.0)

    def step(model: nn.Module, batch, device) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor], Tensor]:
        (x,) = batch
        logits, mu, logvar = model(x)
        total, _, _ = vae_loss(logits, x, mu, logvar, beta)
        return total, (logits, mu, logvar), x

    return step


# Recorded each epoch as train_recon / train_kl (and val_...): the two parts of the loss, in nats.
VAE_METRICS = {
    "recon": lambda out, x: float(bernoulli_nll(out[0].detach(), x).mean()),
    "kl": lambda out, x: float(kl_normal(out[1].detach(), out[2].detach()).mean()),
}


def train_vae(
    model: nn.Module,
    images: Tensor,
    *,
    epochs: int,
    beta: float = 1.0,
    lr: float = 1e-3,
    batch_size: int = 64,
    val_images: Tensor | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    **fit_options,
) -> History:
    """Train a ``VAE`` on ``images`` (in [0, 1]) with the beta-VAE loss; returns ``fit``'s History.

    The History holds ``train_loss``, ``train_recon`` and ``train_kl`` per epoch (nats per image; the
    negative ELBO is ``recon + kl``), and the same with ``val_`` for ``val_images``.
    """
    epochs = check_int("epochs", epochs, low=0)
    lr = check_float("lr", lr, low=0, low_inclusive=False)
    return _fit_images(
        model,
        images,
        val_images,
        vae_step(beta),
        epochs,
        lr,
        batch_size,
        seed,
        device,
        metrics=VAE_METRICS,
        **fit_options,
    )


def _fit_images(model, images, val_images, step, epochs, lr, batch_size, seed, device, **fit_options):
    """Adam on shuffled mini-batches of ``images`` through ``fit`` with ``step``: both trainings' loop."""
    device = torch.device(device) if device is not None else default_device()
    val = None if val_images is None else _loader(val_images, 512, False, seed)
    return fit(
        model,
        _loader(images, batch_size, True, seed),
        None,
        torch.optim.Adam(model.parameters(), lr=lr),
        epochs=epochs,
        val_loader=val,
        device=device,
        step_fn=step,
        **fit_options,
    )
