r"""Warping one view into the other with a disparity map: backward bilinear sampling and forward splatting.

A left pixel :math:`(u, v)` with disparity :math:`d` sees the point that the right camera sees at
:math:`(u - d, v)` (``u_R = u_L - d``, the sign of :class:`cvcourse.data.StereoShapes` and of
Middlebury). So the left image can be **reconstructed backwards** from the right one:

.. math::

    \tilde I_L(u, v) = I_R(u - d_L(u, v),\, v),

each output pixel asking *where do I come from* and interpolating bilinearly between the two
nearest right pixels. This is differentiable in :math:`d_L` (the bilinear weights are linear in
it), which is what lets Monodepth (Godard et al. 2017, https://arxiv.org/abs/1609.03677) learn a
disparity from a photometric error alone. The same holds the other way: the right image from the
left one with the *right* view's disparity, :math:`\tilde I_R(u, v) = I_L(u + d_R(u, v), v)`.

**Forward warping** pushes every left pixel to :math:`u - d` in the right image instead. Disparities
are real numbers, so pixels land between pixels (ambiguous: which pixel gets the colour?), several
may land on the same pixel (the nearest, largest disparity, should win) and some right pixels
receive nothing: **holes** (notes, Remark after Fig. 6.1).

Pixel coordinates: column ``u`` is the centre of pixel ``u`` (0-based), as ``grid_sample`` with
``align_corners=True``. Points that fall outside the source image (``u - d < 0`` or ``> W - 1``)
have no data: ``padding_mode="border"`` (the default, as Monodepth) repeats the edge pixel there,
``"zeros"`` gives 0; :func:`in_view` says which pixels those are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cvcourse._checks import check_choice, check_tensor

__all__ = ["reconstruct_left", "reconstruct_right", "sample_along_rows", "forward_warp", "in_view"]


def _check_pair(image: Tensor, disparity: Tensor, image_name: str, disparity_name: str) -> None:
    sizes: dict[str, int] = {}
    check_tensor(image_name, image, shape=("B", None, "H", "W"), dtype="float", sizes=sizes)
    check_tensor(disparity_name, disparity, shape=("B", 1, "H", "W"), dtype="float", sizes=sizes)
    if not bool(torch.isfinite(disparity).all()):
        raise ValueError(f"{disparity_name} must hold only finite values, got NaN or inf")


def sample_along_rows(image: Tensor, offset: Tensor, padding_mode: str = "border") -> Tensor:
    r"""``out[b, :, v, u] = image[b, :, v, u + offset[b, 0, v, u]]``, bilinear along the row.

    Args:
        image: Tensor[B, C, H, W].
        offset: Tensor[B, 1, H, W], column offsets in pixels (any real number).
        padding_mode: ``"border"`` (repeat the edge pixel) or ``"zeros"`` outside the image.

    Returns:
        Tensor[B, C, H, W].
    """
    check_choice("padding_mode", padding_mode, ("border", "zeros"))
    b, _, h, w = image.shape
    columns = torch.arange(w, dtype=image.dtype, device=image.device).view(1, 1, 1, w)
    rows = torch.arange(h, dtype=image.dtype, device=image.device).view(1, 1, h, 1)
    x = columns + offset.to(image.dtype)  # [B, 1, H, W] source column of each output pixel
    # grid_sample's coordinates: -1 is the centre of the first pixel, +1 of the last (align_corners).
    x_norm = 2 * x / max(w - 1, 1) - 1
    y_norm = (2 * rows / max(h - 1, 1) - 1).expand(b, 1, h, w)
    grid = torch.stack([x_norm[:, 0], y_norm[:, 0]], dim=-1)  # [B, H, W, 2]
    return F.grid_sample(image, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


def reconstruct_left(right: Tensor, disparity: Tensor, padding_mode: str = "border") -> Tensor:
    r"""The left image rebuilt from the right one: :math:`\tilde I_L(u, v) = I_R(u - d_L(u, v), v)`.

    Args:
        right: Tensor[B, C, H, W], the right image.
        disparity: Tensor[B, 1, H, W], the **left** view's disparity in pixels (finite).
        padding_mode: what out-of-view pixels (``u - d`` outside ``[0, W - 1]``) get: ``"border"``
            or ``"zeros"``.

    Returns:
        Tensor[B, C, H, W], differentiable in both inputs.
    """
    _check_pair(right, disparity, "right", "disparity")
    return sample_along_rows(right, -disparity, padding_mode)


def reconstruct_right(left: Tensor, disparity_right: Tensor, padding_mode: str = "border") -> Tensor:
    r"""The right image rebuilt from the left one: :math:`\tilde I_R(u, v) = I_L(u + d_R(u, v), v)`.

    Args:
        left: Tensor[B, C, H, W], the left image.
        disparity_right: Tensor[B, 1, H, W], the **right** view's disparity in pixels.
        padding_mode: ``"border"`` or ``"zeros"``.

    Returns:
        Tensor[B, C, H, W].
    """
    _check_pair(left, disparity_right, "left", "disparity_right")
    return sample_along_rows(left, disparity_right, padding_mode)


def in_view(disparity: Tensor, view: str = "left") -> Tensor:
    """Which pixels sample inside the other image: ``0 <= u - d <= W - 1`` (left view) or
    ``0 <= u + d <= W - 1`` (right view).

    Args:
        disparity: Tensor[B, 1, H, W] in pixels.
        view: ``"left"`` (a left disparity, used by ``reconstruct_left``) or ``"right"``.

    Returns:
        bool Tensor[B, 1, H, W].
    """
    check_tensor("disparity", disparity, shape=(None, 1, None, None), dtype="float")
    check_choice("view", view, ("left", "right"))
    w = disparity.shape[-1]
    columns = torch.arange(w, dtype=disparity.dtype, device=disparity.device)
    x = columns - disparity if view == "left" else columns + disparity
    return (x >= 0) & (x <= w - 1)


def forward_warp(left: Tensor, disparity: Tensor) -> tuple[Tensor, Tensor]:
    r"""Push every left pixel to :math:`\operatorname{round}(u - d)` in the right image (splatting).

    Where several left pixels land on one right pixel, the nearest (largest disparity) wins, as a
    z-buffer would decide; exact ties are averaged. Right pixels nobody lands on are holes.

    Args:
        left: Tensor[B, C, H, W], the left image.
        disparity: Tensor[B, 1, H, W], the left view's disparity in pixels (finite).

    Returns:
        ``(right, filled)``: Tensor[B, C, H, W] (0 in holes) and bool Tensor[B, 1, H, W], True where
        some left pixel landed. Not differentiable in ``disparity`` (rounding): the reason Monodepth
        samples backwards.
    """
    _check_pair(left, disparity, "left", "disparity")
    b, c, h, w = left.shape
    columns = torch.arange(w, device=left.device).view(1, 1, 1, w)
    target = torch.round(columns - disparity).long()  # [B, 1, H, W] column each pixel lands on
    inside = (target >= 0) & (target < w)
    # flat index of the landing pixel within its image's row-major [H, W]
    rows = torch.arange(h, device=left.device).view(1, 1, h, 1)
    flat = (rows * w + target.clamp(0, w - 1)).view(b, -1)  # [B, H*W]
    d = torch.where(inside, disparity, torch.full_like(disparity, -float("inf"))).view(b, -1)
    # z-buffer: the largest disparity landing on each right pixel
    nearest = torch.full((b, h * w), -float("inf"), dtype=d.dtype, device=d.device)
    nearest = nearest.scatter_reduce(1, flat, d, reduce="amax")
    wins = (d == nearest.gather(1, flat)) & inside.view(b, -1)  # [B, H*W]
    weight = wins.to(left.dtype)
    count = torch.zeros(b, h * w, dtype=left.dtype, device=left.device).scatter_add(1, flat, weight)
    colours = left.reshape(b, c, -1) * weight[:, None]
    summed = torch.zeros(b, c, h * w, dtype=left.dtype, device=left.device)
    summed = summed.scatter_add(2, flat[:, None].expand(b, c, -1), colours)
    filled = count > 0
    right = torch.where(filled[:, None], summed / count.clamp(min=1)[:, None], torch.zeros_like(summed))
    return right.view(b, c, h, w), filled.view(b, 1, h, w)
