"""Depth metrics against Monodepth's compute_errors (numpy, transcribed) and torchmetrics; bad-pixel rates."""

import numpy as np
import pytest
import torch
from torchmetrics.functional import mean_absolute_percentage_error, mean_squared_error

from cvcourse.depth.metrics import bad_pixel_rate, depth_metrics, disparity_metrics, end_point_error


def compute_errors(gt, pred):
    """Monodepth's evaluation_utils.compute_errors (Godard et al., github.com/mrharicot/monodepth)."""
    thresh = np.maximum((gt / pred), (pred / gt))
    a1, a2, a3 = (thresh < 1.25).mean(), (thresh < 1.25**2).mean(), (thresh < 1.25**3).mean()
    rmse = np.sqrt(((gt - pred) ** 2).mean())
    rmse_log = np.sqrt(((np.log(gt) - np.log(pred)) ** 2).mean())
    abs_rel = np.mean(np.abs(gt - pred) / gt)
    sq_rel = np.mean(((gt - pred) ** 2) / gt)
    return abs_rel, sq_rel, rmse, rmse_log, a1, a2, a3


def test_depth_metrics_equal_monodepths_and_torchmetrics():
    torch.manual_seed(0)
    target = torch.rand(4, 30, 40, dtype=torch.float64) * 50 + 1
    prediction = target * torch.exp(0.3 * torch.randn_like(target))
    target[:, :5] = 0  # unknown: left out
    out = depth_metrics(prediction, target)
    valid = target > 0
    expected = compute_errors(target[valid].numpy(), prediction[valid].numpy())
    np.testing.assert_allclose(
        [out[k] for k in ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")], expected, rtol=1e-12
    )
    assert out["abs_rel"] == pytest.approx(
        mean_absolute_percentage_error(prediction[valid], target[valid]).item()
    )
    assert out["rmse"] == pytest.approx(
        mean_squared_error(prediction[valid], target[valid], squared=False).item()
    )
    perfect = depth_metrics(target.clamp(min=1), target)
    assert perfect["abs_rel"] == 0 and perfect["a1"] == 1


def test_disparity_errors():
    target = torch.tensor([[1.0, 2.0, 0.0, 4.0, 10.0]])
    prediction = torch.tensor([[1.5, 4.0, 7.0, 8.5, 10.0]])
    assert end_point_error(prediction, target) == pytest.approx((0.5 + 2 + 4.5 + 0) / 4)
    assert bad_pixel_rate(prediction, target, 1.0) == 0.5
    assert bad_pixel_rate(prediction, target, 3.0) == 0.25
    assert bad_pixel_rate(prediction, target, 2.0) == 0.25  # "more than": an error of exactly 2 is not bad
    mask = torch.tensor([[True, True, True, False, True]])
    out = disparity_metrics(prediction, target, mask)
    assert out["coverage"] == 0.75 and out["bad_3"] == 0.0


def test_bad_input():
    with pytest.raises(ValueError, match="ground truth"):
        depth_metrics(torch.ones(3), torch.zeros(3))
    with pytest.raises(ValueError, match="target"):
        depth_metrics(torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match="prediction"):
        depth_metrics(torch.tensor([0.0, 1.0]), torch.ones(2))
    with pytest.raises(ValueError, match="finite"):
        bad_pixel_rate(torch.tensor([float("nan")]), torch.ones(1))
    with pytest.raises(ValueError, match="threshold"):
        bad_pixel_rate(torch.ones(2), torch.ones(2), -1.0)
