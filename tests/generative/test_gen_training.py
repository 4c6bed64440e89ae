"""Each model's loss falls in a short run through fit, and the VAE's two parts are recorded."""

import torch

from cvcourse.generative.factors import ShapesFactors, digits
from cvcourse.generative.latent import add_noise
from cvcourse.generative.models import LinearAutoencoder, conv_vae, mlp_autoencoder, mlp_vae
from cvcourse.generative.training import train_autoencoder, train_vae

OPTS = dict(device="cpu", progress=False, live_plot=False)


def test_autoencoder_losses_fall():
    x = digits()["train"][:512]
    torch.manual_seed(0)
    h = train_autoencoder(mlp_autoencoder((1, 8, 8), 4), x, epochs=4, loss="mse", val_images=x[:64], **OPTS)
    assert h["train_loss"][-1] < 0.8 * h["train_loss"][0] and len(h["val_loss"]) == 4
    torch.manual_seed(0)
    h = train_autoencoder(
        mlp_autoencoder((1, 8, 8), 4), x, epochs=3, corrupt=lambda b: add_noise(b, 0.2), **OPTS
    )
    assert h["train_loss"][-1] < h["train_loss"][0]
    h = train_autoencoder(LinearAutoencoder(64, 4), x.flatten(1), epochs=3, loss="mse", **OPTS)
    assert h["train_loss"][-1] < h["train_loss"][0]


def test_vae_losses_fall_and_parts_add_up():
    x = digits(binarize=True)["train"][:512]
    torch.manual_seed(0)
    h = train_vae(mlp_vae((1, 8, 8), 2), x, epochs=4, beta=2.0, val_images=x[:64], **OPTS)
    assert h["train_loss"][-1] < h["train_loss"][0]
    for split in ("train", "val"):  # loss = recon + beta * kl, epoch means of the batch means
        total = torch.tensor(h[f"{split}_recon"]) + 2.0 * torch.tensor(h[f"{split}_kl"])
        torch.testing.assert_close(torch.tensor(h[f"{split}_loss"]), total, rtol=1e-5, atol=1e-4)
    shapes = ShapesFactors(128, seed=0).images
    torch.manual_seed(0)
    h = train_vae(conv_vae((3, 32, 32), 4, channels=(8, 8, 8)), shapes, epochs=3, batch_size=32, **OPTS)
    assert h["train_loss"][-1] < h["train_loss"][0]
