r"""Structural similarity (SSIM), equal to ``skimage.metrics.structural_similarity``.

Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to structural
similarity", IEEE TIP 2004. Over a window around each pixel, with local means :math:`\mu`, variances
:math:`\sigma^2` and covariance :math:`\sigma_{xy}`:

.. math::

    \mathrm{SSIM}(x, y) = \frac{(2 \mu_x \mu_y + C_1)(2 \sigma_{xy} + C_2)}
                               {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)},
    \qquad C_1 = (K_1 L)^2,\; C_2 = (K_2 L)^2,

:math:`L` the data range, :math:`K_1 = 0.01`, :math:`K_2 = 0.03`. It is 1 for identical windows and
compares brightness, contrast and structure separately, which is why Monodepth uses it in its
photometric loss.

What matches scikit-image (``gaussian_weights=False``, the default): a uniform ``window x window``
box (``scipy.ndimage.uniform_filter``, whose ``mode="reflect"`` is the half-sample symmetric padding
done here by hand: torch's ``"reflect"`` is scipy's ``"mirror"``); variances with the sample
correction :math:`N / (N - 1)` (``use_sample_covariance=True``); the mean SSIM over the pixels
whose window lies inside the image (a border of ``(window - 1) // 2`` is cropped), averaged over
channels. Monodepth's loss uses a 3 x 3 window without the sample correction
(``sample_covariance=False``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cvcourse._checks import check_bool, check_float, check_int, check_tensor

__all__ = ["ssim_map", "ssim"]


def _symmetric_pad(x: Tensor, pad: int) -> Tensor:
    """Pad the last two dims by ``pad`` with the edge repeated: ``(c b a | a b c | c b a)``."""
    if pad == 0:
        return x
    x = torch.cat([x[..., :pad].flip(-1), x, x[..., -pad:].flip(-1)], dim=-1)
    return torch.cat([x[..., :pad, :].flip(-2), x, x[..., -pad:, :].flip(-2)], dim=-2)


def ssim_map(
    x: Tensor,
    y: Tensor,
    window: int = 7,
    data_range: float = 1.0,
    sample_covariance: bool = True,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    r"""The SSIM of the window around every pixel (scikit-image's ``full=True`` map).

    Args:
        x, y: Tensor[B, C, H, W] of the same shape, float.
        window: odd side of the square window, ``3 <= window <= min(H, W)``.
        data_range: :math:`L`, the range of the pixel values (1 for images in [0, 1]).
        sample_covariance: divide by :math:`N - 1` instead of :math:`N` (scikit-image's default).
        k1, k2: the constants :math:`K_1, K_2`.

    Returns:
        Tensor[B, C, H, W] in [-1, 1], differentiable.
    """
    sizes: dict[str, int] = {}
    check_tensor("x", x, shape=("B", "C", "H", "W"), dtype="float", sizes=sizes)
    check_tensor("y", y, shape=("B", "C", "H", "W"), dtype="float", sizes=sizes)
    window = check_int("window", window, low=3)
    if window % 2 == 0:
        raise ValueError(f"window must be odd, got {window}")
    if window > min(x.shape[-2:]):
        raise ValueError(f"window must be <= the image's smaller side {min(x.shape[-2:])}, got {window}")
    data_range = check_float("data_range", data_range, low=0.0, low_inclusive=False)
    check_bool("sample_covariance", sample_covariance)
    k1, k2 = check_float("k1", k1, low=0.0), check_float("k2", k2, low=0.0)

    def mean(t: Tensor) -> Tensor:  # the box filter: mean over the window, same size out
        return F.avg_pool2d(_symmetric_pad(t, window // 2), window, stride=1)

    n = window * window
    norm = n / (n - 1) if sample_covariance else 1.0
    mu_x, mu_y = mean(x), mean(y)
    var_x = norm * (mean(x * x) - mu_x**2)
    var_y = norm * (mean(y * y) - mu_y**2)
    cov_xy = norm * (mean(x * y) - mu_x * mu_y)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    return ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))


def ssim(
    x: Tensor, y: Tensor, window: int = 7, data_range: float = 1.0, sample_covariance: bool = True
) -> Tensor:
    """Mean SSIM of each image, as ``structural_similarity(x[b], y[b], channel_axis=0,
    win_size=window, data_range=data_range)``.

    Args:
        x, y, window, data_range, sample_covariance: as in :func:`ssim_map`.

    Returns:
        Tensor[B]: the map's mean over the pixels whose window is inside the image, then over
        channels.
    """
    s = ssim_map(x, y, window, data_range, sample_covariance)
    p = (window - 1) // 2
    h, w = s.shape[-2:]
    return s[..., p : h - p, p : w - p].mean(dim=(-2, -1)).mean(dim=1)  # [B]
