r"""Classic stereo matching: cost volume, winner-take-all, sub-pixel refinement, left-right check.

Scharstein & Szeliski, "A Taxonomy and Evaluation of Dense Two-Frame Stereo Correspondence
Algorithms", IJCV 2002 (https://vision.middlebury.edu/stereo/taxonomy-IJCV.pdf): local stereo is
(1) a matching cost per pixel and disparity, (2) aggregation over a window, (3) the disparity of
least cost (winner-take-all), (4) refinement. For the left pixel :math:`(u, v)` and a candidate
disparity :math:`d` the right pixel is :math:`(u - d, v)` (``u_R = u_L - d``), and over the window
:math:`W(u, v)` (:math:`n` pixels, all channels):

.. math::

    \text{SAD}(d) = \tfrac1n \sum_W |I_L(u', v') - I_R(u' - d, v')|, \qquad
    \text{SSD}(d) = \tfrac1n \sum_W (I_L - I_R)^2, \qquad
    \text{ZNCC}(d) = \frac{\overline{I_L I_R} - \bar I_L \bar I_R}{\sigma_L \sigma_R},

means rather than sums (the same winner, a cost that does not grow with the window); ZNCC is a
similarity in [-1, 1], so its cost here is :math:`1 - \text{ZNCC}`, and it is 0 (cost 1: no
information) where a window is flat. The cost volume is :math:`C[d, v, u]` for
:math:`d = 0 \dots D`; columns :math:`u < d` have no partner in the right image and cost ``inf``.

Aggregation is a box filter over every disparity slice at once, by cumulative sums along the rows and
then the columns (the integral image, Viola & Jones' trick from chapter 4): the cost of a window
does not depend on its size. Both images are extended by repeating their edge pixels, so every
window is defined, and the left window around :math:`u` meets the right window around :math:`u - d`.

Sub-pixel refinement fits a parabola through the costs at :math:`d - 1, d, d + 1` of the winner
:math:`d` and takes its vertex,

.. math:: \hat d = d + \frac{C(d-1) - C(d+1)}{2\,(C(d-1) - 2 C(d) + C(d+1))},

kept within half a pixel (no refinement at the ends of the range or where the parabola is not convex).
The left-right check keeps a left pixel only when the right view's disparity at the pixel it
matched agrees: :math:`|d_L(u) - d_R(u - d_L(u))| \le \tau`; occluded pixels fail it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cvcourse._checks import check_bool, check_choice, check_float, check_int, check_tensor

__all__ = [
    "COSTS",
    "box_filter",
    "cost_volume",
    "winner_take_all",
    "subpixel_refine",
    "block_matching",
    "left_right_check",
]

COSTS = ("sad", "ssd", "zncc")


def _as_chw(name: str, image: Tensor) -> Tensor:
    check_tensor(name, image, ndim=(2, 3), dtype="float", finite=True)
    return image[None] if image.ndim == 2 else image  # [C, H, W]


def _window_sums_valid(x: Tensor, window: int) -> Tensor:
    """Means over every full ``window x window`` block: [..., H, W] -> [..., H - w + 1, W - w + 1].

    Cumulative sums along the rows, then the columns (a 0 prepended), differenced ``window`` apart.
    """
    c = F.pad(x.cumsum(-1), (1, 0))
    x = c[..., window:] - c[..., :-window]  # row sums
    c = F.pad(x.cumsum(-2), (0, 0, 1, 0))
    return (c[..., window:, :] - c[..., :-window, :]) / window**2


def _check_window(window: int) -> int:
    window = check_int("window", window, low=1)
    if window % 2 == 0:
        raise ValueError(f"window must be odd (centred on the pixel), got {window}")
    return window


def _pad(x: Tensor, r: int) -> Tensor:
    """Repeat the edge rows and columns ``r`` times: [..., H, W] -> [..., H + 2r, W + 2r]."""
    shape = x.shape
    return F.pad(x.reshape(1, -1, *shape[-2:]), (r, r, r, r), mode="replicate").reshape(
        *shape[:-2], shape[-2] + 2 * r, shape[-1] + 2 * r
    )


def box_filter(volume: Tensor, window: int) -> Tensor:
    """Mean over the ``window x window`` neighbourhood of every pixel of every slice, same size out.

    Args:
        volume: Tensor[..., H, W], float.
        window: odd side of the window, >= 1; borders repeat the edge values.

    Returns:
        Tensor[..., H, W].
    """
    check_tensor("volume", volume, dtype="float")
    window = _check_window(window)
    return _window_sums_valid(_pad(volume, window // 2), window)


def _shifted(x: Tensor, d: int) -> Tensor:
    """``x`` moved right by ``d`` columns, ``out[..., u] = x[..., u - d]`` (the first column repeated)."""
    if d == 0:
        return x
    return torch.cat([x[..., :1].expand(*x.shape[:-1], d), x[..., :-d]], dim=-1)


def cost_volume(
    left: Tensor, right: Tensor, max_disparity: int, window: int = 5, cost: str = "sad"
) -> Tensor:
    """Aggregated matching costs of every left pixel at every disparity ``0 .. max_disparity``.

    The window around left pixel ``(u, v)`` is compared with the window around ``(u - d, v)`` in the
    right image; both images are extended by repeating their edge rows and columns.

    Args:
        left, right: Tensor[H, W] or [C, H, W], a rectified pair (same shape, float).
        max_disparity: the largest disparity :math:`D` tried, ``0 <= D < W``.
        window: odd side of the aggregation window.
        cost: ``"sad"``, ``"ssd"`` or ``"zncc"`` (as ``1 - ZNCC``).

    Returns:
        Tensor[D + 1, H, W]: ``volume[d, v, u]``, lower is better; ``inf`` where ``u < d``.
    """
    sizes: dict[str, int] = {}
    left, right = _as_chw("left", left), _as_chw("right", right)
    check_tensor("left", left, shape=("C", "H", "W"), sizes=sizes)
    check_tensor("right", right, shape=("C", "H", "W"), sizes=sizes)
    w = left.shape[-1]
    max_disparity = check_int("max_disparity", max_disparity, low=0, high=w - 1)
    check_choice("cost", cost, COSTS)
    window = _check_window(window)
    r = window // 2
    lp, rp = _pad(left, r), _pad(right, r)  # [C, H+2r, W+2r]
    disparities = range(max_disparity + 1)
    if cost == "zncc":
        # Window means of the right image are computed once and shifted: the window around u - d.
        mean_l, mean_ll = _window_sums_valid(lp, window).mean(0), _window_sums_valid(lp * lp, window).mean(0)
        box_r, box_rr = _window_sums_valid(rp, window).mean(0), _window_sums_valid(rp * rp, window).mean(0)
        mean_r = torch.stack([_shifted(box_r, d) for d in disparities])  # [D+1, H, W]
        mean_rr = torch.stack([_shifted(box_rr, d) for d in disparities])
        products = torch.stack([(lp * _shifted(rp, d)).mean(0) for d in disparities])  # [D+1, H+2r, W+2r]
        mean_lr = _window_sums_valid(products, window)  # [D+1, H, W] (channels count in the window)
        var_l, var_r = (mean_ll - mean_l**2).clamp(min=0), (mean_rr - mean_r**2).clamp(min=0)
        denominator = (var_l * var_r).sqrt()
        flat = denominator < 1e-12  # a textureless window: correlation undefined, taken as 0
        zncc = (mean_lr - mean_l * mean_r) / denominator.clamp(min=1e-12)
        volume = 1 - torch.where(flat, torch.zeros_like(zncc), zncc)
    else:
        power = 1 if cost == "sad" else 2
        pixel = torch.stack([(lp - _shifted(rp, d)).abs().pow(power).mean(0) for d in disparities])
        volume = _window_sums_valid(pixel, window)  # [D+1, H, W]
    columns = torch.arange(w, device=left.device)
    no_partner = columns[None, :] < torch.arange(max_disparity + 1, device=left.device)[:, None]  # [D+1, W]
    return volume.masked_fill(no_partner[:, None, :], float("inf"))


def winner_take_all(volume: Tensor) -> Tensor:
    """The disparity of least cost per pixel, Tensor[H, W] (long); ties go to the smaller disparity."""
    check_tensor("volume", volume, ndim=3, dtype="float")
    return volume.argmin(dim=0)


def subpixel_refine(volume: Tensor, disparity: Tensor) -> Tensor:
    """Parabola-vertex refinement of integer disparities, Tensor[H, W] float (see the module docstring)."""
    check_tensor("volume", volume, ndim=3, dtype="float")
    check_tensor("disparity", disparity, shape=tuple(volume.shape[1:]), dtype="int")
    d_max = volume.shape[0] - 1
    d = disparity.clamp(1, max(d_max - 1, 1))[None]  # [1, H, W] neighbours exist for interior d
    c_minus = volume.gather(0, (d - 1).clamp(min=0))[0]
    c_zero = volume.gather(0, d.clamp(max=d_max))[0]
    c_plus = volume.gather(0, (d + 1).clamp(max=d_max))[0]
    curvature = c_minus - 2 * c_zero + c_plus
    interior = (disparity > 0) & (disparity < d_max) & torch.isfinite(c_plus) & (curvature > 0)
    curvature = torch.where(interior, curvature, torch.ones_like(curvature))  # no inf - inf below
    offset = torch.where(interior, (c_minus - c_plus) / (2 * curvature), torch.zeros_like(c_zero))
    return disparity.to(volume.dtype) + offset.clamp(-0.5, 0.5)


def block_matching(
    left: Tensor,
    right: Tensor,
    max_disparity: int,
    window: int = 5,
    cost: str = "sad",
    subpixel: bool = True,
    view: str = "left",
) -> Tensor:
    """Local stereo: cost volume, winner-take-all, optional parabola refinement.

    Args:
        left, right: Tensor[H, W] or [C, H, W], a rectified pair.
        max_disparity: the largest disparity tried (``0 .. max_disparity``).
        window: odd side of the aggregation window.
        cost: ``"sad"``, ``"ssd"`` or ``"zncc"``.
        subpixel: refine by a parabola fit.
        view: ``"left"``: the left view's disparity (``u_R = u_L - d``); ``"right"``: the right
            view's (``u_L = u_R + d``), computed by matching the mirrored pair.

    Returns:
        Tensor[H, W] of disparities in pixels, in ``[0, max_disparity]``.
    """
    check_bool("subpixel", subpixel)
    check_choice("view", view, ("left", "right"))
    if view == "right":
        # Mirrored, the right image is the left image of a rig whose disparities are the same.
        left, right = _as_chw("left", left), _as_chw("right", right)
        return block_matching(right.flip(-1), left.flip(-1), max_disparity, window, cost, subpixel).flip(-1)
    volume = cost_volume(left, right, max_disparity, window, cost)
    disparity = winner_take_all(volume)
    return subpixel_refine(volume, disparity) if subpixel else disparity.to(volume.dtype)


def left_right_check(disparity_left: Tensor, disparity_right: Tensor, threshold: float = 1.0) -> Tensor:
    r"""Pixels whose left disparity the right view confirms: :math:`|d_L(u) - d_R([u - d_L])| \le \tau`.

    Args:
        disparity_left, disparity_right: Tensor[H, W] of the two views' disparities.
        threshold: :math:`\tau` in pixels, >= 0.

    Returns:
        bool Tensor[H, W]; False also where ``u - d_L`` falls outside the right image.
    """
    sizes: dict[str, int] = {}
    check_tensor("disparity_left", disparity_left, shape=("H", "W"), dtype="float", finite=True, sizes=sizes)
    check_tensor(
        "disparity_right", disparity_right, shape=("H", "W"), dtype="float", finite=True, sizes=sizes
    )
    threshold = check_float("threshold", threshold, low=0.0)
    w = disparity_left.shape[-1]
    columns = torch.arange(w, device=disparity_left.device)
    target = torch.round(columns - disparity_left).long()  # [H, W] column matched in the right image
    inside = (target >= 0) & (target < w)
    seen = disparity_right.gather(1, target.clamp(0, w - 1))  # d_R at the matched pixel
    return inside & ((disparity_left - seen).abs() <= threshold)
