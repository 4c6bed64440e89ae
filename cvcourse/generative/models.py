r"""Autoencoders and VAEs: an encoder to a small latent code (the bottleneck), a decoder back.

* ``Autoencoder``: :math:`z = f_\phi(x)`, :math:`\hat x = g_\Theta(z)`, trained to reconstruct
  (Hinton & Salakhutdinov 2006, https://doi.org/10.1126/science.1127647).
* ``LinearAutoencoder``: both maps linear; trained on squared error it learns the same subspace
  as PCA (Baldi & Hornik 1989, https://doi.org/10.1016/0893-6080(89)90014-2).
* ``VAE``: the encoder gives a Gaussian :math:`q_\phi(z|x) = N(\mu, \mathrm{diag}\,\sigma^2)`
  instead of a point (Kingma & Welling 2013, https://arxiv.org/abs/1312.6114).

Encoders and decoders are small MLPs (``MLPEncoder``, ``MLPDecoder``) or convolution stacks
(``ConvEncoder``, ``ConvDecoder``); ``mlp_autoencoder``, ``mlp_vae``, ``conv_autoencoder`` and
``conv_vae`` put them together. Decoders output **logits**; ``decode`` applies the sigmoid and gives
images in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cvcourse._checks import check_int, check_tensor, check_type

from .losses import reparameterize

__all__ = [
    "Autoencoder",
    "ConvDecoder",
    "ConvEncoder",
    "LinearAutoencoder",
    "MLPDecoder",
    "MLPEncoder",
    "VAE",
    "conv_autoencoder",
    "conv_vae",
    "mlp_autoencoder",
    "mlp_vae",
]


def _check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    check_type("image_shape", shape, (tuple, list), "a (C, H, W) or (D,) tuple")
    return tuple(check_int(f"image_shape[{i}]", s, low=1) for i, s in enumerate(shape))


class MLPEncoder(nn.Module):
    """Flatten, then Linear + ReLU layers, then a Linear to ``out_dim`` (the code, or mu and logvar)."""

    def __init__(self, image_shape: Sequence[int], out_dim: int, hidden: Sequence[int] = (256, 128)):
        super().__init__()
        self.image_shape = _check_shape(image_shape)
        sizes = [math.prod(self.image_shape), *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], check_int("out_dim", out_dim, low=1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # [N, *image_shape] -> [N, out_dim]


class MLPDecoder(nn.Module):
    """Linear + ReLU layers from the code, a Linear to every pixel, reshaped: logits [N, *image_shape]."""

    def __init__(self, latent_dim: int, image_shape: Sequence[int], hidden: Sequence[int] = (128, 256)):
        super().__init__()
        self.image_shape = _check_shape(image_shape)
        sizes = [check_int("latent_dim", latent_dim, low=1), *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], math.prod(self.image_shape)))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).unflatten(1, self.image_shape)  # [N, d] -> [N, *image_shape]


class ConvEncoder(nn.Module):
    """Stride-2 3x3 convolutions (each halves H and W), flatten, Linear to ``out_dim``."""

    def __init__(self, image_shape: Sequence[int], out_dim: int, channels: Sequence[int] = (32, 64, 64)):
        super().__init__()
        self.image_shape = _check_shape(image_shape)
        c, h, w = self.image_shape
        if h % 2 ** len(channels) or w % 2 ** len(channels):
            raise ValueError(
                f"image_shape's H and W must be multiples of {2 ** len(channels)} "
                f"({len(channels)} stride-2 layers), got {self.image_shape}"
            )
        layers: list[nn.Module] = []
        for a, b in zip([c, *channels[:-1]], channels, strict=True):
            layers += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.grid = (h // 2 ** len(channels), w // 2 ** len(channels))
        self.fc = nn.Linear(channels[-1] * self.grid[0] * self.grid[1], check_int("out_dim", out_dim, low=1))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x).flatten(1))  # [N, C, H, W] -> [N, C', H/8, W/8] -> [N, out_dim]


class ConvDecoder(nn.Module):
    """The encoder mirrored: Linear to a small grid, stride-2 transposed convolutions (each doubles)."""

    def __init__(self, latent_dim: int, image_shape: Sequence[int], channels: Sequence[int] = (64, 64, 32)):
        super().__init__()
        self.image_shape = _check_shape(image_shape)
        c, h, w = self.image_shape
        self.grid = (h // 2 ** len(channels), w // 2 ** len(channels))
        self.channels = tuple(channels)
        self.fc = nn.Linear(
            check_int("latent_dim", latent_dim, low=1), channels[0] * self.grid[0] * self.grid[1]
        )
        layers: list[nn.Module] = []
        for a, b in zip(channels, [*channels[1:], c], strict=True):
            layers += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.ReLU()]
        self.features = nn.Sequential(*layers[:-1])  # no ReLU on the logits

    def forward(self, z: Tensor) -> Tensor:
        grid = self.fc(z).relu().unflatten(1, (self.channels[0], *self.grid))  # [N, C', H/8, W/8]
        return self.features(grid)  # [N, C, H, W] logits


class Autoencoder(nn.Module):
    """Encoder to a code z, decoder back to the image: ``forward(x)`` gives the reconstruction's logits."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder = check_type("encoder", encoder, nn.Module, "an nn.Module")
        self.decoder = check_type("decoder", decoder, nn.Module, "an nn.Module")

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)  # [N, d]

    def decode(self, z: Tensor) -> Tensor:
        """Codes [N, d] -> images [N, ...] in [0, 1]."""
        check_tensor("z", z, ndim=2, dtype="float")
        return torch.sigmoid(self.decoder(z))

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


class LinearAutoencoder(Autoencoder):
    r""":math:`\hat x = W_2 (W_1 x + b_1) + b_2`: no nonlinearity, and ``decode`` is the identity map.

    Trained on squared error, the decoder's columns span the top-``latent_dim`` principal subspace of
    the data (they are not the principal axes themselves: any invertible mix of them is as good).
    """

    def __init__(self, in_dim: int, latent_dim: int):
        in_dim, latent_dim = check_int("in_dim", in_dim, low=1), check_int("latent_dim", latent_dim, low=1)
        super().__init__(nn.Linear(in_dim, latent_dim), nn.Linear(latent_dim, in_dim))

    def decode(self, z: Tensor) -> Tensor:
        check_tensor("z", z, ndim=2, dtype="float")
        return self.decoder(z)


class VAE(nn.Module):
    r"""Encoder to :math:`(\mu, \log\sigma^2)`, a sample :math:`z = \mu + \sigma\epsilon`, decoder.

    The encoder outputs ``2 * latent_dim`` numbers per image: the first half is :math:`\mu`, the second
    :math:`\log\sigma^2`. ``forward(x)`` returns ``(logits, mu, logvar)``, what ``vae_loss`` takes.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int):
        super().__init__()
        self.encoder = check_type("encoder", encoder, nn.Module, "an nn.Module")
        self.decoder = check_type("decoder", decoder, nn.Module, "an nn.Module")
        self.latent_dim = check_int("latent_dim", latent_dim, low=1)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # [N, 2d] -> 2 x [N, d]
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """Codes [N, d] -> images [N, ...] in [0, 1] (the Bernoulli means)."""
        check_tensor("z", z, shape=(None, self.latent_dim), dtype="float")
        return torch.sigmoid(self.decoder(z))

    def reconstruct(self, x: Tensor) -> Tensor:
        """Decode the mean code (no noise): the usual picture of what the VAE keeps of x."""
        return self.decode(self.encode(x)[0])

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` new images: z from the prior N(0, I), decoded."""
        n = check_int("n", n, low=0)
        p = next(self.parameters())
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=p.dtype).to(p.device)
        return self.decode(z)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return self.decoder(z), mu, logvar


def mlp_autoencoder(
    image_shape: Sequence[int], latent_dim: int, hidden: Sequence[int] = (256, 128)
) -> Autoencoder:
    latent_dim = check_int("latent_dim", latent_dim, low=1)
    return Autoencoder(
        MLPEncoder(image_shape, latent_dim, hidden), MLPDecoder(latent_dim, image_shape, hidden[::-1])
    )


def mlp_vae(image_shape: Sequence[int], latent_dim: int, hidden: Sequence[int] = (256, 128)) -> VAE:
    latent_dim = check_int("latent_dim", latent_dim, low=1)
    return VAE(
        MLPEncoder(image_shape, 2 * latent_dim, hidden),
        MLPDecoder(latent_dim, image_shape, hidden[::-1]),
        latent_dim,
    )


def conv_autoencoder(
    image_shape: Sequence[int], latent_dim: int, channels: Sequence[int] = (32, 64, 64)
) -> Autoencoder:
    latent_dim = check_int("latent_dim", latent_dim, low=1)
    return Autoencoder(
        ConvEncoder(image_shape, latent_dim, channels), ConvDecoder(latent_dim, image_shape, channels[::-1])
    )


def conv_vae(image_shape: Sequence[int], latent_dim: int, channels: Sequence[int] = (32, 64, 64)) -> VAE:
    latent_dim = check_int("latent_dim", latent_dim, low=1)
    return VAE(
        ConvEncoder(image_shape, 2 * latent_dim, channels),
        ConvDecoder(latent_dim, image_shape, channels[::-1]),
        latent_dim,
    )
