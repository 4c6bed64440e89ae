r"""How good is a depth or disparity map: the standard monocular-depth metrics and stereo's bad-pixel rates.

**Depth** (Eigen, Puhrsch & Fergus 2014, https://arxiv.org/abs/1406.2283, the table every monocular
paper reports, Monodepth's ``compute_errors`` included), over the :math:`N` pixels with ground truth,
:math:`z` true and :math:`\hat z` predicted depth:

.. math::

    \text{abs rel} = \frac{1}{N}\sum \frac{|\hat z - z|}{z}, \quad
    \text{sq rel} = \frac{1}{N}\sum \frac{(\hat z - z)^2}{z}, \quad
    \text{RMSE} = \sqrt{\frac{1}{N}\sum (\hat z - z)^2}, \quad
    \text{RMSE log} = \sqrt{\frac{1}{N}\sum (\log \hat z - \log z)^2},

and the accuracies :math:`\delta < 1.25^k` (:math:`k = 1, 2, 3`): the fraction of pixels with
:math:`\max(\hat z / z, z / \hat z) < 1.25^k`. Lower is better for the errors, higher for the
accuracies.

**Disparity** (Scharstein & Szeliski 2002; the Middlebury and KITTI benchmarks): the end-point
error :math:`\text{EPE} = \frac{1}{N}\sum |\hat d - d|` and the bad-pixel rate, the fraction of
pixels with :math:`|\hat d - d| > \tau` pixels (:math:`\tau` = 1 and 3 here).

Ground truth is given as a map with 0 (or non-finite) where it is missing, the KITTI convention of
:class:`cvcourse.data.StereoShapes` and :func:`cvcourse.data.stereo_pair`; only the other pixels count.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvcourse._checks import check_float, check_tensor

__all__ = ["DEPTH_METRICS", "depth_metrics", "bad_pixel_rate", "end_point_error", "disparity_metrics"]

DEPTH_METRICS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")


def _valid(prediction: Tensor, target: Tensor, mask: Tensor | None, what: str) -> Tensor:
    sizes: dict[str, int] = {}
    check_tensor("prediction", prediction, dtype="float")
    check_tensor("target", target, shape=tuple(prediction.shape), dtype="float", sizes=sizes)
    valid = torch.isfinite(target) & (target > 0)
    if mask is not None:
        check_tensor("mask", mask, shape=tuple(prediction.shape), dtype="bool")
        valid &= mask
    if not bool(valid.any()):
        raise ValueError(f"target has no pixel with ground truth (all {what} are 0, non-finite or masked)")
    if not bool(torch.isfinite(prediction[valid]).all()):
        raise ValueError("prediction must be finite where the target has ground truth, got NaN or inf")
    return valid


def depth_metrics(prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> dict[str, float]:
    r"""Eigen et al.'s seven depth metrics over the pixels with ground truth.

    Args:
        prediction: Tensor[...] of predicted depths, > 0 and finite where the target is valid.
        target: Tensor[...] of true depths, the same shape; 0 or non-finite where unknown.
        mask: optional bool Tensor[...] restricting the pixels further.

    Returns:
        ``{"abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3"}`` as floats (computed in
        float64; ``a1`` is :math:`\delta < 1.25`).
    """
    valid = _valid(prediction, target, mask, "depths")
    z_hat, z = prediction[valid].double(), target[valid].double()
    if bool((z_hat <= 0).any()):
        raise ValueError(
            f"prediction must be > 0 where the target is valid, got a minimum of {z_hat.min().item()}"
        )
    ratio = torch.maximum(z_hat / z, z / z_hat)
    return {
        "abs_rel": ((z_hat - z).abs() / z).mean().item(),
        "sq_rel": ((z_hat - z) ** 2 / z).mean().item(),
        "rmse": ((z_hat - z) ** 2).mean().sqrt().item(),
        "rmse_log": ((z_hat.log() - z.log()) ** 2).mean().sqrt().item(),
        "a1": (ratio < 1.25).double().mean().item(),
        "a2": (ratio < 1.25**2).double().mean().item(),
        "a3": (ratio < 1.25**3).double().mean().item(),
    }


def end_point_error(prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> float:
    r"""Mean absolute disparity error :math:`\frac{1}{N}\sum |\hat d - d|` over pixels with ground truth."""
    valid = _valid(prediction, target, mask, "disparities")
    return (prediction[valid].double() - target[valid].double()).abs().mean().item()


def bad_pixel_rate(
    prediction: Tensor, target: Tensor, threshold: float = 1.0, mask: Tensor | None = None
) -> float:
    r"""Fraction of pixels with ground truth whose disparity is off by more than ``threshold`` pixels.

    Args:
        prediction: Tensor[...] of disparities in pixels.
        target: Tensor[...] of true disparities, 0 where unknown.
        threshold: :math:`\tau` in pixels, >= 0.
        mask: optional bool Tensor[...] restricting the pixels further.
    """
    threshold = check_float("threshold", threshold, low=0.0)
    valid = _valid(prediction, target, mask, "disparities")
    return ((prediction[valid].double() - target[valid].double()).abs() > threshold).double().mean().item()


def disparity_metrics(prediction: Tensor, target: Tensor, mask: Tensor | None = None) -> dict[str, float]:
    """``{"epe", "bad_1", "bad_3", "coverage"}``: EPE, bad-pixel rates at 1 and 3 px, and the fraction
    of ground-truth pixels evaluated (``mask``, e.g. the pixels a left-right check kept)."""
    valid = _valid(prediction, target, mask, "disparities")
    with_truth = torch.isfinite(target) & (target > 0)
    return {
        "epe": end_point_error(prediction, target, mask),
        "bad_1": bad_pixel_rate(prediction, target, 1.0, mask),
        "bad_3": bad_pixel_rate(prediction, target, 3.0, mask),
        "coverage": valid.double().sum().item() / with_truth.double().sum().item(),
    }
