r"""Monodepth's self-supervised losses: photometric appearance, edge-aware smoothness, left-right consistency.

Godard, Mac Aodha & Brostow, "Unsupervised Monocular Depth Estimation with Left-Right Consistency",
CVPR 2017 (https://arxiv.org/abs/1609.03677), eqs. (2)-(4). No depth label appears anywhere: the
network's disparity is judged only by how well it lets one view be rebuilt from the other.

* **Appearance** (eq. 2), per pixel between an image :math:`I` and its reconstruction
  :math:`\tilde I`:

  .. math:: C_{ap} = \alpha \frac{1 - \mathrm{SSIM}(I, \tilde I)}{2}
            + (1 - \alpha) \lvert I - \tilde I \rvert,
            \qquad \alpha = 0.85,

  SSIM over a 3 x 3 window (:func:`cvcourse.depth.ssim.ssim_map` with
  ``sample_covariance=False``), averaged over channels and pixels.
* **Disparity smoothness** (eq. 3), edge-aware: disparity gradients are penalised less where the
  image has edges (depth discontinuities usually sit on image edges):

  .. math:: C_{ds} = \overline{\lvert \partial_x d^* \rvert e^{-\lVert \partial_x I \rVert}
                     + \lvert \partial_y d^* \rvert e^{-\lVert \partial_y I \rVert}},

  with :math:`\lVert \cdot \rVert` the mean over colour channels. Departure from the 2017 paper:
  :math:`d^* = d / \bar d` is the disparity divided by its mean (Monodepth2, Godard et al. 2019,
  https://arxiv.org/abs/1806.01260), so the loss cannot be lowered by shrinking all disparities.
* **Left-right consistency** (eq. 4): the left disparity should equal the right disparity seen from
  the left, :math:`C_{lr} = \overline{\lvert d_L(u, v) - d_R(u - d_L(u, v), v) \rvert}`.

Every loss is a mean (a one-element tensor), differentiable in the disparities.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvcourse._checks import check_float, check_tensor

from .ssim import ssim_map
from .warp import reconstruct_left

__all__ = ["photometric_error", "photometric_loss", "smoothness_loss", "lr_consistency_loss"]


def photometric_error(image: Tensor, reconstruction: Tensor, alpha: float = 0.85) -> Tensor:
    r"""The per-pixel appearance error :math:`C_{ap}`, averaged over channels: Tensor[B, 1, H, W].

    Args:
        image: Tensor[B, C, H, W], the true image.
        reconstruction: Tensor[B, C, H, W], the image rebuilt from the other view.
        alpha: weight of the SSIM term in [0, 1] (0.85, as Monodepth).
    """
    sizes: dict[str, int] = {}
    check_tensor("image", image, shape=("B", "C", "H", "W"), dtype="float", sizes=sizes)
    check_tensor("reconstruction", reconstruction, shape=("B", "C", "H", "W"), dtype="float", sizes=sizes)
    alpha = check_float("alpha", alpha, low=0.0, high=1.0)
    dssim = ((1 - ssim_map(image, reconstruction, window=3, sample_covariance=False)) / 2).clamp(0, 1)
    l1 = (image - reconstruction).abs()
    return (alpha * dssim + (1 - alpha) * l1).mean(dim=1, keepdim=True)


def photometric_loss(
    image: Tensor, reconstruction: Tensor, alpha: float = 0.85, mask: Tensor | None = None
) -> Tensor:
    r"""Mean appearance error :math:`C_{ap}` (eq. 2), optionally over the pixels of ``mask`` only.

    Args:
        image, reconstruction, alpha: as in :func:`photometric_error`.
        mask: bool Tensor[B, 1, H, W] of the pixels to average over, or None for all.

    Returns:
        one-element Tensor.
    """
    error = photometric_error(image, reconstruction, alpha)
    if mask is None:
        return error.mean()
    check_tensor("mask", mask, shape=tuple(error.shape), dtype="bool")
    if not bool(mask.any()):
        raise ValueError("mask must select at least one pixel, got an all-False mask")
    return error[mask].mean()


def smoothness_loss(disparity: Tensor, image: Tensor) -> Tensor:
    r"""Edge-aware smoothness :math:`C_{ds}` (eq. 3) of a mean-normalised disparity.

    Args:
        disparity: Tensor[B, 1, H, W] in pixels, > 0 on average per image.
        image: Tensor[B, C, H, W], the image the disparity belongs to (its edges).

    Returns:
        one-element Tensor.
    """
    sizes: dict[str, int] = {}
    check_tensor("disparity", disparity, shape=("B", 1, "H", "W"), dtype="float", sizes=sizes)
    check_tensor("image", image, shape=("B", None, "H", "W"), dtype="float", sizes=sizes)
    d = disparity / (disparity.mean(dim=(2, 3), keepdim=True) + 1e-7)  # d* = d / mean(d)
    grad_dx = (d[..., :, 1:] - d[..., :, :-1]).abs()  # [B, 1, H, W-1]
    grad_dy = (d[..., 1:, :] - d[..., :-1, :]).abs()  # [B, 1, H-1, W]
    edge_x = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(dim=1, keepdim=True)
    edge_y = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(dim=1, keepdim=True)
    return (grad_dx * torch.exp(-edge_x)).mean() + (grad_dy * torch.exp(-edge_y)).mean()


def lr_consistency_loss(disparity_left: Tensor, disparity_right: Tensor) -> Tensor:
    r"""Left-right consistency :math:`C_{lr}` (eq. 4): mean :math:`|d_L - d_R(u - d_L)|`.

    Args:
        disparity_left: Tensor[B, 1, H, W], the left view's disparity in pixels.
        disparity_right: Tensor[B, 1, H, W], the right view's disparity in pixels.

    Returns:
        one-element Tensor (the left term; Monodepth adds the symmetric right term, which
        :func:`monodepth_loss` does by calling this with mirrored images).
    """
    check_tensor("disparity_left", disparity_left, shape=("B", 1, "H", "W"), dtype="float")
    right_seen_from_left = reconstruct_left(disparity_right, disparity_left)  # d_R(u - d_L(u))
    return (disparity_left - right_seen_from_left).abs().mean()
