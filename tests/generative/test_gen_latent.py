"""Encoding, interpolation, traversals, distances to the data, noise and hidden squares."""

import pytest
import torch

from cvcourse.generative.latent import add_noise, distance_to_data, encode, hide_square, interpolate, traverse
from cvcourse.generative.models import mlp_autoencoder, mlp_vae


def test_encode_gives_z_or_mu():
    torch.manual_seed(0)
    x = torch.rand(7, 1, 8, 8)
    ae, vae = mlp_autoencoder((1, 8, 8), 2), mlp_vae((1, 8, 8), 3)
    torch.testing.assert_close(encode(ae, x, batch_size=3), ae.encode(x))
    torch.testing.assert_close(encode(vae, x), vae.encode(x)[0])


def test_interpolate_and_traverse():
    z0, z1 = torch.tensor([0.0, 2.0]), torch.tensor([4.0, -2.0])
    line = interpolate(z0, z1, 5)
    assert torch.equal(line[0], z0) and torch.equal(line[-1], z1) and torch.equal(line[2], (z0 + z1) / 2)
    t = traverse(z0, 1, torch.tensor([-1.0, 0.0, 1.0]))
    assert t.tolist() == [[0.0, -1.0], [0.0, 0.0], [0.0, 1.0]]
    with pytest.raises(ValueError, match="dim must be an int"):
        traverse(z0, 2, torch.zeros(2))
    with pytest.raises(ValueError, match="steps"):
        interpolate(z0, z1, 1)


def test_distance_to_data_is_the_nearest_neighbour():
    g = torch.Generator().manual_seed(0)
    data, images = torch.rand(20, 1, 4, 4, generator=g), torch.rand(5, 1, 4, 4, generator=g)
    loop = torch.tensor([min(float((im - d).norm()) for d in data) for im in images], dtype=torch.float64)
    torch.testing.assert_close(distance_to_data(images, data), loop)
    assert distance_to_data(data[:3], data).abs().max() < 1e-6  # data points are at distance 0
    with pytest.raises(ValueError, match="non-empty"):
        distance_to_data(images, data[:0])


def test_noise_and_hidden_square():
    g = torch.Generator().manual_seed(0)
    x = torch.full((200, 3, 8, 8), 0.5)
    noisy = add_noise(x, 0.3, generator=g)
    changed = (noisy != x).any(1)  # [N, H, W]: all channels of a pixel change together
    assert 0.25 < changed.float().mean() < 0.35 and ((noisy == 0) | (noisy == 1) | (noisy == 0.5)).all()
    assert torch.equal(add_noise(x, 0.0), x)
    hidden, mask = hide_square(x, 3, generator=g)
    assert mask.shape == (200, 1, 8, 8) and (mask.sum((1, 2, 3)) == 9).all()
    assert (hidden[mask.expand_as(x)] == 0).all() and (hidden[~mask.expand_as(x)] == 0.5).all()
    assert hide_square(x[:1], 8)[1].all()  # the whole image
