"""SSIM equals skimage.metrics.structural_similarity (uniform window, same constants) in float64."""

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from cvcourse.depth.ssim import ssim, ssim_map


def skimage_ssim(x, y, window, sample_covariance=True):
    out = [
        structural_similarity(
            x[b].numpy(),
            y[b].numpy(),
            channel_axis=0,
            win_size=window,
            data_range=1.0,
            use_sample_covariance=sample_covariance,
            full=True,
        )
        for b in range(len(x))
    ]
    return np.array([m for m, _ in out]), np.stack([s for _, s in out])


@pytest.mark.parametrize("window, sample_covariance", [(3, False), (7, True), (5, False), (11, True)])
def test_random_images(window, sample_covariance):
    torch.manual_seed(window)
    x = torch.rand(3, 3, 23, 17, dtype=torch.float64)
    y = (x + 0.3 * torch.randn_like(x)).clamp(0, 1)
    mean, full = skimage_ssim(x, y, window, sample_covariance)
    np.testing.assert_allclose(
        ssim(x, y, window, sample_covariance=sample_covariance).numpy(), mean, rtol=1e-10
    )
    np.testing.assert_allclose(
        ssim_map(x, y, window, sample_covariance=sample_covariance).numpy(), full, atol=1e-12
    )


def test_flat_identical_and_smallest_images():
    flat, other = (
        torch.full((1, 1, 7, 7), 0.4, dtype=torch.float64),
        torch.full((1, 1, 7, 7), 0.9, dtype=torch.float64),
    )
    for a, b in ((flat, flat), (flat, other)):
        mean, full = skimage_ssim(a, b, 7)
        np.testing.assert_allclose(ssim(a, b).numpy(), mean, rtol=1e-9)
        np.testing.assert_allclose(ssim_map(a, b).numpy(), full, atol=1e-9)
    assert ssim(flat, flat).item() == pytest.approx(1.0)
    x = torch.rand(1, 2, 3, 3, dtype=torch.float64)  # the smallest image a 3 x 3 window allows
    np.testing.assert_allclose(ssim(x, x.flip(-1), 3).numpy(), skimage_ssim(x, x.flip(-1), 3)[0], rtol=1e-10)
    thin = torch.rand(1, 1, 1, 9, dtype=torch.float64)  # a single-pixel-tall image: both refuse it
    with pytest.raises(ValueError):
        structural_similarity(thin[0, 0].numpy(), thin[0, 0].numpy(), win_size=3, data_range=1.0)
    with pytest.raises(ValueError, match="window"):
        ssim(thin, thin, 3)


def test_gradcheck():
    torch.manual_seed(0)
    x = torch.rand(1, 1, 5, 6, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 1, 5, 6, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: ssim_map(a, y, 3), (x,))


@pytest.mark.parametrize(
    "kwargs, error",
    [({"window": 4}, ValueError), ({"window": 3.0}, TypeError), ({"data_range": 0.0}, ValueError)],
)
def test_bad_input(kwargs, error):
    x = torch.rand(1, 1, 8, 8)
    with pytest.raises(error):
        ssim(x, x, **kwargs)
    with pytest.raises(ValueError, match="y"):
        ssim(x, torch.rand(1, 1, 8, 9))
