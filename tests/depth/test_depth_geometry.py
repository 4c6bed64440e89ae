"""Disparity <-> depth: z = b f / (d + doffs), inf at zero disparity, depth resolution z^2 / (b f)."""

import pytest
import torch

from cvcourse.data import MOTORCYCLE_CALIBRATION
from cvcourse.depth.geometry import depth_resolution, depth_to_disparity, disparity_to_depth


def test_round_trip_random_and_middlebury_calibration():
    d = torch.rand(50, dtype=torch.float64) * 60 + 0.1
    for b, f, doffs in (
        (0.1, 64.0, 0.0),
        tuple(MOTORCYCLE_CALIBRATION[k] for k in ("baseline", "focal_length", "doffs")),
    ):
        z = disparity_to_depth(d, b, f, doffs)
        torch.testing.assert_close(z, b * f / (d + doffs))
        torch.testing.assert_close(depth_to_disparity(z, b, f, doffs), d)


def test_zero_disparity_is_infinitely_far_and_back():
    z = disparity_to_depth(torch.tensor([0.0, 2.0]), 0.5, 100.0)
    assert torch.isinf(z[0]) and not torch.isnan(z).any() and z[1] == 25.0
    assert depth_to_disparity(z, 0.5, 100.0).tolist() == [0.0, 2.0]


def test_resolution_is_the_derivative():
    b, f, z = 0.193, 995.0, torch.tensor([1.0, 5.0, 20.0], dtype=torch.float64)
    d = depth_to_disparity(z, b, f)
    finite = disparity_to_depth(d - 1e-4, b, f) - disparity_to_depth(d + 1e-4, b, f)  # dz for dd = 2e-4
    torch.testing.assert_close(depth_resolution(z, b, f, 2e-4), finite, rtol=1e-6, atol=0)
    assert depth_resolution(10.0, b, f).item() == pytest.approx(100 / (b * f))


@pytest.mark.parametrize(
    "call, error, word",
    [
        (lambda: disparity_to_depth(torch.tensor([1.0]), -0.1, 10.0), ValueError, "baseline"),
        (lambda: disparity_to_depth(torch.tensor([1.0]), 0.1, 0.0), ValueError, "focal_length"),
        (lambda: disparity_to_depth(torch.tensor([-1.0]), 0.1, 10.0), ValueError, "disparity"),
        (lambda: disparity_to_depth(torch.tensor([float("nan")]), 0.1, 10.0), ValueError, "disparity"),
        (lambda: disparity_to_depth([1.0], 0.1, 10.0), TypeError, "disparity"),
        (lambda: depth_to_disparity(torch.tensor([0.0]), 0.1, 10.0), ValueError, "depth"),
        (
            lambda: depth_resolution(torch.tensor([1.0]), 0.1, 10.0, disparity_step=0),
            ValueError,
            "disparity_step",
        ),
    ],
)
def test_bad_input(call, error, word):
    with pytest.raises(error, match=word):
        call()
