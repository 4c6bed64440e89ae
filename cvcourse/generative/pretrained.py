"""The autoencoders the course ships, trained by ``data/scripts/train_generative.py``, checksum verified.

* ``load_digits_autoencoders()``: four MLP models with a **2-D latent space** on the binarised 8 x 8
  digits (``factors.digits(binarize=True)``): a plain autoencoder, a VAE without its KL term
  (beta = 0), the VAE (beta = 1) and a beta-VAE (beta = 2). The latent explorer shows them.
* ``load_shapes_betavaes()``: conv VAEs with 8 latent dimensions on ``ShapesFactors`` (32 x 32, known
  factors), one per beta in ``SHAPES_BETAS``: the disentanglement-vs-beta experiment.

Each file (``data/<name>.pt``) is checked against its line in ``data/SHA256SUMS`` before it is read;
the weights are stored in float16 (the recorded test numbers were measured after that rounding).
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from cvcourse.runtime import data_dir
from cvcourse.weights import load_verified

from .models import VAE, Autoencoder, conv_vae, mlp_autoencoder, mlp_vae

__all__ = [
    "DIGITS_FILE",
    "DIGITS_MODELS",
    "SHAPES_BETAS",
    "SHAPES_FILE",
    "build_digits_model",
    "build_shapes_vae",
    "load_checked",
    "load_digits_autoencoders",
    "load_shapes_betavaes",
]

DIGITS_FILE = "autoencoders_digits.pt"
SHAPES_FILE = "betavae_shapes.pt"
# name -> (kind, beta); beta None for the plain autoencoder
DIGITS_MODELS: dict[str, tuple[str, float | None]] = {
    "AE": ("ae", None),
    "VAE without KL (β = 0)": ("vae", 0.0),
    "VAE (β = 1)": ("vae", 1.0),
    "β-VAE (β = 2)": ("vae", 2.0),
}
DIGITS_CONFIG = {"image_shape": (1, 8, 8), "latent_dim": 2, "hidden": (256, 128)}
SHAPES_BETAS: tuple[float, ...] = (0.0, 1.0, 4.0, 16.0)
SHAPES_CONFIG = {"image_shape": (3, 32, 32), "latent_dim": 8, "channels": (16, 32, 64)}


def build_digits_model(kind: str) -> Autoencoder | VAE:
    """A fresh 2-D-latent digits model: ``kind`` ``"ae"`` or ``"vae"``."""
    if kind == "ae":
        return mlp_autoencoder(**DIGITS_CONFIG)
    if kind == "vae":
        return mlp_vae(**DIGITS_CONFIG)
    raise ValueError(f"kind must be 'ae' or 'vae', got {kind!r}")


def build_shapes_vae() -> VAE:
    """A fresh shapes VAE with the shipped configuration."""
    return conv_vae(**SHAPES_CONFIG)


def load_checked(path: str | Path) -> dict:
    """The checkpoint dict in ``path`` after its SHA-256 matched ``SHA256SUMS`` beside it
    (:func:`cvcourse.weights.load_verified`).

    Raises:
        FileNotFoundError: the file or its checksum line is missing.
        ValueError: the file does not match its checksum (corrupt or replaced).
    """
    path = Path(path)
    return load_verified(path.name, path, script="train_generative.py")


def _restore(model: nn.Module, state_dict: dict) -> nn.Module:
    model.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True)
    return model.eval()


def load_digits_autoencoders(path: str | Path | None = None) -> tuple[dict[str, nn.Module], dict]:
    """The four 2-D-latent digits models.

    Returns:
        ``(models, info)``: ``{name: model}`` in ``DIGITS_MODELS`` order, in eval mode on the CPU; and
        ``info["models"][name]``, the test-split record of each (``recon`` and ``kl`` in nats per
        image, ``elbo`` and ``bits_per_dim`` for the VAEs, ``epochs``), plus ``config``.
    """
    checkpoint = load_checked(Path(path) if path is not None else data_dir() / DIGITS_FILE)
    models = {
        name: _restore(build_digits_model(kind), checkpoint["state_dicts"][name])
        for name, (kind, _) in DIGITS_MODELS.items()
    }
    return models, {k: v for k, v in checkpoint.items() if k != "state_dicts"}


def load_shapes_betavaes(path: str | Path | None = None) -> tuple[dict[float, VAE], dict]:
    """The shapes VAEs, one per beta.

    Returns:
        ``(models, info)``: ``{beta: VAE}`` for ``SHAPES_BETAS``, eval mode, CPU; ``info["models"][beta]``
        holds the test record (``recon``, ``kl``, ``mig``, ``correlation``, ``active``), plus ``config``.
    """
    checkpoint = load_checked(Path(path) if path is not None else data_dir() / SHAPES_FILE)
    models = {
        beta: _restore(build_shapes_vae(), checkpoint["state_dicts"][str(beta)]) for beta in SHAPES_BETAS
    }
    info = {k: v for k, v in checkpoint.items() if k != "state_dicts"}
    info["models"] = {float(b): record for b, record in info["models"].items()}
    return models, info
