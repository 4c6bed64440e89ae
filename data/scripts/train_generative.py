"""Train the autoencoders chapter 7 ships: ``data/autoencoders_digits.pt`` and ``data/betavae_shapes.pt``.

Usage (from the repository root; about 1 minute for the digits models and 10 for the shapes models on
one free CPU core)::

    python data/scripts/train_generative.py              # writes both files
    sha256sum data/autoencoders_digits.pt data/betavae_shapes.pt   # then replace their lines in SHA256SUMS

* digits: four MLPs with a 2-D latent space on the binarised digits' training split
  (``factors.digits(binarize=True)``, seed 0): an autoencoder, a VAE without KL (beta = 0), the VAE
  and a beta-VAE with beta = 2 (``pretrained.DIGITS_MODELS``). Adam, lr 1e-3, batch 64.
* shapes: conv VAEs with 8 latent dimensions on ``ShapesFactors(n, seed=0)``, one per beta in
  ``pretrained.SHAPES_BETAS``. Adam, lr 1e-3, batch 32.

Quality is measured on data never used in training (the digits' test split; ``ShapesFactors`` of seed
1) after the weights were rounded to float16, and stored in the file. Deterministic: fixed seeds, one
CPU thread, deterministic algorithms; other torch versions give weights that differ in the last bits.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from cvcourse.generative.disentanglement import active_dims, latent_correlation, mig
from cvcourse.generative.factors import ShapesFactors, digits, factor_labels
from cvcourse.generative.latent import encode
from cvcourse.generative.losses import bernoulli_nll, bits_per_dim, elbo, kl_normal
from cvcourse.generative.pretrained import (
    DIGITS_CONFIG,
    DIGITS_FILE,
    DIGITS_MODELS,
    SHAPES_BETAS,
    SHAPES_CONFIG,
    SHAPES_FILE,
    build_digits_model,
    build_shapes_vae,
)
from cvcourse.generative.training import train_autoencoder, train_vae
from cvcourse.runtime import seed_everything

DATA = Path(__file__).resolve().parents[1]


def half(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict in float16 (the shipped form); the model is given the rounded weights too."""
    state = {k: v.half() for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return state


@torch.no_grad()
def vae_record(model, images: torch.Tensor) -> dict[str, float]:
    torch.manual_seed(123)
    mu, logvar = model.encode(images)
    recon = bernoulli_nll(model.decoder(mu), images).mean()  # decoding the mean code
    bound = elbo(model, images, samples=8).mean()
    return {
        "recon": float(recon),
        "kl": float(kl_normal(mu, logvar).mean()),
        "elbo": float(bound),
        "bits_per_dim": float(bits_per_dim(bound, images[0].numel())),
    }


def train_digits(epochs: int) -> None:
    data = digits(binarize=True)
    state_dicts, records = {}, {}
    for name, (kind, beta) in DIGITS_MODELS.items():
        seed_everything(0)
        model = build_digits_model(kind)
        start = time.perf_counter()
        if kind == "ae":
            train_autoencoder(model, data["train"], epochs=epochs, loss="bce", device="cpu", progress=False)
        else:
            train_vae(model, data["train"], epochs=epochs, beta=beta, device="cpu", progress=False)
        state_dicts[name] = half(model)
        model.eval()
        if kind == "ae":
            with torch.no_grad():
                record = {"recon": float(bernoulli_nll(model(data["test"]), data["test"]).mean())}
        else:
            record = vae_record(model, data["test"])
        record.update(epochs=epochs, beta=beta, seconds=round(time.perf_counter() - start, 1))
        records[name] = record
        print(name, record, flush=True)
    torch.save(
        {
            "config": DIGITS_CONFIG,
            "models": records,
            "state_dicts": state_dicts,
            "data": "sklearn digits, binarised at 8/16, train split of factors.digits(seed=0)",
        },
        DATA / DIGITS_FILE,
    )


def train_shapes(n: int, epochs: int) -> None:
    train, test = ShapesFactors(n, seed=0), ShapesFactors(2000, seed=1)
    labels = factor_labels(test.factors)
    state_dicts, records = {}, {}
    for beta in SHAPES_BETAS:
        seed_everything(0)
        model = build_shapes_vae()
        start = time.perf_counter()
        train_vae(model, train.images, epochs=epochs, beta=beta, batch_size=32, device="cpu", progress=False)
        state_dicts[str(beta)] = half(model)
        model.eval()
        record = vae_record(model, test.images)
        mu = encode(model, test.images)
        record.update(
            mig=mig(mu, labels)[0],
            correlation=latent_correlation(mu[:, active_dims(mu)])[1],
            active=int(active_dims(mu).sum()),
            epochs=epochs,
            train_images=n,
            seconds=round(time.perf_counter() - start, 1),
        )
        records[str(beta)] = record
        print("beta", beta, record, flush=True)
    torch.save(
        {
            "config": SHAPES_CONFIG,
            "models": records,
            "state_dicts": state_dicts,
            "data": f"ShapesFactors({n}, seed=0); measured on ShapesFactors(2000, seed=1)",
        },
        DATA / SHAPES_FILE,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--digits-epochs", type=int, default=200)
    parser.add_argument("--shapes-train", type=int, default=8000)
    parser.add_argument("--shapes-epochs", type=int, default=25)
    parser.add_argument("--only", choices=("digits", "shapes"), default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    if args.only in (None, "digits"):
        train_digits(args.digits_epochs)
    if args.only in (None, "shapes"):
        train_shapes(args.shapes_train, args.shapes_epochs)


if __name__ == "__main__":
    main()
