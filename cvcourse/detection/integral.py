r"""The integral image and the four-lookup rectangle sum (section 4.2.2 of the notes).

Viola and Jones, "Rapid object detection using a boosted cascade of simple features", CVPR 2001
(https://doi.org/10.1109/CVPR.2001.990517), section 2.1. ``integral_image`` equals
``skimage.transform.integral_image`` and ``rectangle_sum`` equals ``skimage.transform.integrate``
(inclusive corners), both on a 2-D image.

The notes' definition and recurrence, with ``I`` the image and ``II`` its integral image:

.. math::
    II(i, j) = \sum_{i' \le i,\ j' \le j} I(i', j'),
    \qquad II(i, j) = II(i, j-1) + II(i-1, j) - II(i-1, j-1) + I(i, j)

and the sum of the pixels of a rectangle in four lookups, ``II(A) - II(B) - II(C) + II(D)``, with
``A`` its bottom-right pixel, ``B`` the pixel just above its top-right one, ``C`` the pixel just left
of its bottom-left one, ``D`` the pixel diagonally above-left of its top-left one (Fig. 4.5).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cvcourse._checks import check_tensor

__all__ = ["integral_image", "integral_image_loop", "rectangle_sum"]


def integral_image(image: Tensor) -> Tensor:
    r"""The integral image :math:`II(i, j) = \sum_{i' \le i, j' \le j} I(i', j')` of the last two dims.

    Args:
        image (Tensor[..., H, W]): one image or a batch (leading dims are kept); real numbers.

    Returns:
        Tensor[..., H, W]: ``II``, two cumulative sums (rows, then columns); integer images are
        summed in int64, float images in their own dtype.
    """
    image = check_tensor("image", image, ndim=(2, 3, 4))
    if image.dtype == torch.bool or image.is_complex():
        raise TypeError(f"image must hold real numbers, got dtype {image.dtype}")
    if not image.is_floating_point():
        image = image.long()  # uint8 sums overflow at once
    return image.cumsum(-2).cumsum(-1)


def integral_image_loop(image: Tensor) -> Tensor:
    r"""The notes' recurrence, one pixel at a time (slow; for reading, tested equal to ``integral_image``).

    :math:`II(i, j) = II(i, j-1) + II(i-1, j) - II(i-1, j-1) + I(i, j)`, with ``II = 0`` outside the image.

    Args:
        image (Tensor[H, W]): a 2-D image.
    """
    image = check_tensor("image", image, ndim=2)
    h, w = image.shape
    ii = torch.zeros(h + 1, w + 1, dtype=torch.float64)  # a zero row and column in front: II(-1, .) = 0
    for i in range(h):
        for j in range(w):
            ii[i + 1, j + 1] = ii[i + 1, j] + ii[i, j + 1] - ii[i, j] + image[i, j]
    return ii[1:, 1:]


def rectangle_sum(ii: Tensor, top: Tensor, left: Tensor, bottom: Tensor, right: Tensor) -> Tensor:
    r"""Sum of the pixels in rows ``top..bottom`` and columns ``left..right`` (inclusive), four lookups each.

    ``II(A) - II(B) - II(C) + II(D)`` with ``A = (bottom, right)``, ``B = (top - 1, right)``,
    ``C = (bottom, left - 1)``, ``D = (top - 1, left - 1)``; a lookup outside the image (row or
    column -1) reads 0, which we get by padding ``II`` with a zero row and column in front.
    Vectorised: the four corner tensors broadcast together, any shape ``S``. Equals
    ``skimage.transform.integrate(ii, (top, left), (bottom, right))``.

    Args:
        ii (Tensor[..., H, W]): an integral image (``integral_image``).
        top, left, bottom, right (int Tensors, broadcastable to ``S``): the corners, with
            ``0 <= top <= bottom < H`` and ``0 <= left <= right < W``.

    Returns:
        Tensor[..., *S]: the rectangle sums.
    """
    ii = check_tensor("ii", ii, ndim=(2, 3, 4))
    corners = {"top": top, "left": left, "bottom": bottom, "right": right}
    for name, value in corners.items():
        corners[name] = torch.as_tensor(check_tensor(name, value, dtype="int"), device=ii.device)
    top, left, bottom, right = torch.broadcast_tensors(*corners.values())
    h, w = ii.shape[-2:]
    if top.numel() and (bool((top < 0).any()) or bool((bottom >= h).any()) or bool((top > bottom).any())):
        raise ValueError(
            f"rows must satisfy 0 <= top <= bottom < H = {h}, got top {top.min().item()}.."
            f"{top.max().item()}, bottom {bottom.min().item()}..{bottom.max().item()}"
        )
    if left.numel() and (bool((left < 0).any()) or bool((right >= w).any()) or bool((left > right).any())):
        raise ValueError(
            f"columns must satisfy 0 <= left <= right < W = {w}, got left {left.min().item()}.."
            f"{left.max().item()}, right {right.min().item()}..{right.max().item()}"
        )
    padded = F.pad(ii, (1, 0, 1, 0))  # padded[r + 1, c + 1] = II(r, c); padded[0, .] = padded[., 0] = 0
    a = padded[..., bottom + 1, right + 1]
    b = padded[..., top, right + 1]
    c = padded[..., bottom + 1, left]
    d = padded[..., top, left]
    return a - b - c + d
