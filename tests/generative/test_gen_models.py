"""Encoders, decoders, autoencoders and VAEs: shapes of codes and decodes, bad input, the VAE's forward."""

import pytest
import torch

from cvcourse.generative.losses import vae_loss
from cvcourse.generative.models import (
    ConvEncoder,
    LinearAutoencoder,
    conv_autoencoder,
    conv_vae,
    mlp_autoencoder,
    mlp_vae,
)


@pytest.mark.parametrize(
    "build, shape",
    [
        (mlp_autoencoder, (1, 8, 8)),
        (conv_autoencoder, (3, 32, 32)),
        (mlp_vae, (1, 8, 8)),
        (conv_vae, (3, 32, 32)),
    ],
)
def test_codes_and_decoded_shapes(build, shape):
    torch.manual_seed(0)
    model = build(shape, 3)
    x = torch.rand(5, *shape)
    code = model.encode(x)
    mu = code[0] if isinstance(code, tuple) else code
    assert mu.shape == (5, 3)
    decoded = model.decode(mu)
    assert decoded.shape == (5, *shape) and 0 <= decoded.min() and decoded.max() <= 1
    assert model.reconstruct(x).shape == (5, *shape)
    assert model.decode(torch.zeros(0, 3)).shape == (0, *shape)  # empty batch


def test_vae_forward_samples_around_the_mean():
    torch.manual_seed(0)
    model = mlp_vae((1, 8, 8), 2)
    x = torch.rand(4, 1, 8, 8)
    logits, mu, logvar = model(x)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (4, 2)
    logits2, _, _ = model(x)
    assert not torch.equal(logits, logits2)  # a new z each time
    torch.testing.assert_close(model.decoder(mu).sigmoid(), model.reconstruct(x))
    vae_loss(logits, x, mu, logvar)[0].backward()
    assert all(p.grad is not None for p in model.encoder.parameters())  # through the sample, to the encoder
    samples = model.sample(6, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (6, 1, 8, 8)


def test_linear_autoencoder_is_linear():
    model = LinearAutoencoder(6, 2).double()
    a, b = torch.randn(3, 6, dtype=torch.float64), torch.randn(3, 6, dtype=torch.float64)
    bias = model(torch.zeros(1, 6, dtype=torch.float64))
    torch.testing.assert_close(model(a + b) - bias, (model(a) - bias) + (model(b) - bias))
    assert torch.equal(model.decode(model.encode(a)), model(a))  # no sigmoid


def test_bad_input():
    with pytest.raises(ValueError, match="multiples of 8"):
        ConvEncoder((3, 30, 30), 4)
    with pytest.raises(ValueError, match="latent_dim must be an int >= 1"):
        mlp_vae((1, 8, 8), 0)
    with pytest.raises(ValueError, match=r"z must have shape \[\*, 2\]"):
        mlp_vae((1, 8, 8), 2).decode(torch.zeros(3, 5))
    with pytest.raises(TypeError, match="image_shape must be"):
        mlp_autoencoder(64, 2)
