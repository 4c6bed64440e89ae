"""The shipped chapter-7 models: checksums verified, strict loads, and their recorded quality reproduced
on data they never saw (the digits' test split; shapes of seed 1)."""

import shutil

import pytest
import torch

from cvcourse.generative.experiments import disentanglement_row
from cvcourse.generative.factors import ShapesFactors, digits, factor_labels
from cvcourse.generative.losses import bernoulli_nll, elbo
from cvcourse.generative.pretrained import (
    DIGITS_FILE,
    DIGITS_MODELS,
    SHAPES_BETAS,
    SHAPES_FILE,
    load_digits_autoencoders,
    load_shapes_betavaes,
)
from cvcourse.runtime import data_dir


def test_digits_models_reproduce_their_records():
    models, info = load_digits_autoencoders()
    assert list(models) == list(DIGITS_MODELS)
    assert (data_dir() / DIGITS_FILE).stat().st_size < 5 * 2**20
    test = digits(binarize=True)["test"]
    for name, model in models.items():
        record = info["models"][name]
        with torch.no_grad():
            code = model.encode(test)
            logits = model.decoder(code[0] if isinstance(code, tuple) else code)
        assert bernoulli_nll(logits, test).mean().item() == pytest.approx(record["recon"], rel=1e-3)
        if DIGITS_MODELS[name][0] == "vae":
            torch.manual_seed(0)
            assert elbo(model, test, samples=8).mean().item() == pytest.approx(record["elbo"], abs=0.3)
    # the VAE beats storing the pixels (1 bit/dim) and the prior (recon of a model that ignores z)
    vae = info["models"]["VAE (β = 1)"]
    assert vae["bits_per_dim"] < 0.6 and vae["recon"] < info["models"]["VAE without KL (β = 0)"]["recon"] + 2


def test_shapes_models_reproduce_their_records():
    models, info = load_shapes_betavaes()
    assert tuple(models) == SHAPES_BETAS and (data_dir() / SHAPES_FILE).stat().st_size < 5 * 2**20
    test = ShapesFactors(2000, seed=1)  # what the script measured on (training used seed 0)
    labels = factor_labels(test.factors)
    rows = {beta: disentanglement_row(model, test.images, labels) for beta, model in models.items()}
    for beta, row in rows.items():
        record = info["models"][beta]
        assert row["recon"] == pytest.approx(record["recon"], rel=1e-3)
        assert row["mig"] == pytest.approx(record["mig"], abs=1e-6)
    # beta trades reconstruction for fewer latents in use
    assert rows[max(SHAPES_BETAS)]["recon"] > rows[1.0]["recon"]
    assert rows[max(SHAPES_BETAS)]["active"] < rows[0.0]["active"]


def _copy(tmp_path, name):
    for file in (name, "SHA256SUMS"):
        shutil.copy(data_dir() / file, tmp_path / file)
    return tmp_path / name


@pytest.mark.parametrize(
    "name, load", [(DIGITS_FILE, load_digits_autoencoders), (SHAPES_FILE, load_shapes_betavaes)]
)
def test_corrupt_or_missing_files_are_refused(tmp_path, name, load):
    path = _copy(tmp_path, name)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="corrupt"):
        load(path)
    (tmp_path / "SHA256SUMS").write_text("")
    with pytest.raises(FileNotFoundError, match="SHA256SUMS"):
        load(path)
    with pytest.raises(FileNotFoundError, match="missing"):
        load(tmp_path / "nothing.pt")
