"""Monodepth's losses: the formulas written out by hand, their zeros, and their gradients (gradcheck)."""

import pytest
import torch

from cvcourse.depth.losses import lr_consistency_loss, photometric_error, photometric_loss, smoothness_loss
from cvcourse.depth.ssim import ssim_map


def test_photometric_is_alpha_dssim_plus_l1():
    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 8, 9, dtype=torch.float64), torch.rand(2, 3, 8, 9, dtype=torch.float64)
    dssim = ((1 - ssim_map(a, b, 3, sample_covariance=False)) / 2).clamp(0, 1)
    expected = (0.85 * dssim + 0.15 * (a - b).abs()).mean(1, keepdim=True)
    torch.testing.assert_close(photometric_error(a, b), expected)
    torch.testing.assert_close(photometric_loss(a, b), expected.mean())
    mask = torch.zeros(2, 1, 8, 9, dtype=torch.bool)
    mask[:, :, 2:5, 3:7] = True
    torch.testing.assert_close(photometric_loss(a, b, mask=mask), expected[mask].mean())
    assert photometric_loss(a, a).item() == pytest.approx(0.0, abs=1e-12)
    assert photometric_loss(a, b, alpha=0.0).item() == pytest.approx((a - b).abs().mean().item())


def test_smoothness_against_the_loop_and_its_zeros():
    torch.manual_seed(1)
    d = torch.rand(1, 1, 4, 5, dtype=torch.float64) + 0.5
    image = torch.rand(1, 3, 4, 5, dtype=torch.float64)
    dn = d / d.mean()
    total_x = total_y = 0.0
    for v in range(4):
        for u in range(4):
            total_x += abs(dn[0, 0, v, u + 1] - dn[0, 0, v, u]) * torch.exp(
                -(image[0, :, v, u + 1] - image[0, :, v, u]).abs().mean()
            )
    for v in range(3):
        for u in range(5):
            total_y += abs(dn[0, 0, v + 1, u] - dn[0, 0, v, u]) * torch.exp(
                -(image[0, :, v + 1, u] - image[0, :, v, u]).abs().mean()
            )
    assert smoothness_loss(d, image).item() == pytest.approx((total_x / 16 + total_y / 15).item())
    assert smoothness_loss(torch.full_like(d, 3.0), image).item() == 0.0
    # an edge in the image makes a disparity step there cheaper
    step = torch.zeros(1, 1, 4, 6, dtype=torch.float64)
    step[..., 3:] = 1.0
    flat = torch.zeros(1, 3, 4, 6, dtype=torch.float64)
    assert smoothness_loss(step + 1, step.expand(1, 3, 4, 6)) < smoothness_loss(step + 1, flat)
    # scaling the disparity does not change the loss (d / mean(d))
    assert smoothness_loss(5 * d, image).item() == pytest.approx(smoothness_loss(d, image).item())


def test_lr_consistency_zero_for_a_consistent_pair_and_positive_otherwise():
    d = torch.full((1, 1, 3, 10), 2.0, dtype=torch.float64)
    assert lr_consistency_loss(d, d).item() == 0.0
    assert lr_consistency_loss(d, d + 1).item() == pytest.approx(1.0)


def test_gradchecks():
    torch.manual_seed(2)
    a = torch.rand(1, 2, 5, 6, dtype=torch.float64)
    b = torch.rand(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: photometric_loss(a, x), (b,))
    d = (torch.rand(1, 1, 5, 6, dtype=torch.float64) + 0.5).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: smoothness_loss(x, a), (d,))
    dl = (torch.randint(1, 3, (1, 1, 5, 6)) + 0.3 + 0.4 * torch.rand(1, 1, 5, 6)).double().requires_grad_()
    dr = (torch.rand(1, 1, 5, 6, dtype=torch.float64) * 3).requires_grad_()
    assert torch.autograd.gradcheck(lr_consistency_loss, (dl, dr))


def test_bad_input():
    with pytest.raises(ValueError, match="reconstruction"):
        photometric_loss(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 5))
    with pytest.raises(ValueError, match="alpha"):
        photometric_loss(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), alpha=1.5)
    with pytest.raises(ValueError, match="mask"):
        photometric_loss(
            torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), mask=torch.zeros(1, 1, 4, 4, dtype=torch.bool)
        )
    with pytest.raises(ValueError, match="image"):
        smoothness_loss(torch.rand(1, 1, 4, 4), torch.rand(1, 3, 4, 5))
