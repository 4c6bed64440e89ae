r"""Stereo geometry: disparity, depth, and why far things are hard.

For an ideal (rectified) stereo rig with baseline :math:`b` (metres) and focal length :math:`f`
(pixels), a 3D point seen at column :math:`u_L` of the left image and :math:`u_R` of the right one
(same row, :math:`v_R = v_L`) has disparity and depth (notes, chapter 6, "Stereo correspondence")

.. math::

    d = u_L - u_R, \qquad z = \frac{b f}{d}.

Middlebury's calibration adds ``doffs``, the offset of the two principal points:
:math:`z = b f / (d + d_\text{offs})` (Scharstein et al. 2014, https://vision.middlebury.edu/stereo/).
Depth resolution follows from :math:`\partial z / \partial d = -b f / d^2 = -z^2 / (b f)`: one pixel of
disparity error costs :math:`\Delta z \approx z^2 / (b f) \cdot \Delta d`, growing with the square
of the distance.

Zero disparity is a point at infinity: ``disparity_to_depth`` returns ``inf`` there, on purpose and
never a NaN; likewise ``depth_to_disparity`` maps ``inf`` depth to 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvcourse._checks import check_float, check_tensor

__all__ = ["disparity_to_depth", "depth_to_disparity", "depth_resolution"]


def _check_rig(baseline: float, focal_length: float, doffs: float) -> tuple[float, float, float]:
    b = check_float("baseline", baseline, low=0.0, low_inclusive=False)
    f = check_float("focal_length", focal_length, low=0.0, low_inclusive=False)
    return b, f, check_float("doffs", doffs, low=0.0)


def disparity_to_depth(disparity: Tensor, baseline: float, focal_length: float, doffs: float = 0.0) -> Tensor:
    r"""Depth :math:`z = b f / (d + d_\text{offs})` of every disparity.

    Args:
        disparity: Tensor[...] of disparities in pixels, finite and ``>= 0`` (``u_R = u_L - d``).
        baseline: :math:`b` in metres, > 0.
        focal_length: :math:`f` in pixels, > 0.
        doffs: principal-point offset in pixels (Middlebury's ``doffs``), >= 0; 0 for an ideal rig.

    Returns:
        Tensor[...] of depths in metres (the units of ``baseline``); ``inf`` where
        ``disparity + doffs == 0`` (a point at infinity), never NaN.
    """
    b, f, doffs = _check_rig(baseline, focal_length, doffs)
    check_tensor("disparity", disparity, dtype="float", finite=True)
    if bool((disparity < 0).any()):
        raise ValueError(f"disparity must be >= 0 (u_R = u_L - d), got a minimum of {disparity.min().item()}")
    shifted = disparity + doffs
    # b f / 0 is inf in IEEE arithmetic; said explicitly so that nobody "fixes" it into a NaN.
    return torch.where(shifted > 0, b * f / shifted, torch.full_like(shifted, float("inf")))


def depth_to_disparity(depth: Tensor, baseline: float, focal_length: float, doffs: float = 0.0) -> Tensor:
    r"""Disparity :math:`d = b f / z - d_\text{offs}`, the inverse of :func:`disparity_to_depth`.

    Args:
        depth: Tensor[...] of depths in metres, ``> 0``; ``inf`` is allowed (disparity 0).
        baseline, focal_length, doffs: as in :func:`disparity_to_depth`.

    Returns:
        Tensor[...] of disparities in pixels.
    """
    b, f, doffs = _check_rig(baseline, focal_length, doffs)
    check_tensor("depth", depth, dtype="float")
    if bool(torch.isnan(depth).any()) or bool((depth <= 0).any()):
        raise ValueError(
            "depth must be > 0 (inf allowed, NaN not), got "
            f"{'NaN' if torch.isnan(depth).any() else depth.min().item()}"
        )
    return b * f / depth - doffs


def depth_resolution(
    depth: Tensor | float, baseline: float, focal_length: float, disparity_step: float = 1.0
) -> Tensor:
    r"""Depth change :math:`\Delta z \approx z^2 / (b f) \cdot \Delta d` caused by a disparity step.

    First-order (the derivative of :math:`z = b f / d`); exact to first order in
    :math:`\Delta d / d`.

    Args:
        depth: depth(s) :math:`z` in metres, > 0 (a Tensor or a number).
        baseline, focal_length: the rig, as in :func:`disparity_to_depth`.
        disparity_step: :math:`\Delta d` in pixels (1 = one pixel of matching error), > 0.

    Returns:
        Tensor of the same shape as ``depth``: :math:`\Delta z` in metres.
    """
    b, f, _ = _check_rig(baseline, focal_length, 0.0)
    step = check_float("disparity_step", disparity_step, low=0.0, low_inclusive=False)
    if not isinstance(depth, Tensor):
        depth = torch.tensor(check_float("depth", depth, low=0.0, low_inclusive=False), dtype=torch.float64)
    check_tensor("depth", depth, dtype="float", finite=True)
    if bool((depth <= 0).any()):
        raise ValueError(f"depth must be > 0, got a minimum of {depth.min().item()}")
    return depth**2 / (b * f) * step
