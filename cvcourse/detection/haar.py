r"""Haar-like features: 2-, 3- and 4-rectangle filters on a detection window (section 4.2.1 of the notes).

Viola and Jones, CVPR 2001 (https://doi.org/10.1109/CVPR.2001.990517), section 2. A feature is a few
adjacent rectangles of equal size; its value is a signed sum of their pixel sums, each computed in
four lookups of the integral image (``cvcourse.detection.integral``). Same kinds, enumeration and
values as ``skimage.feature.haar_like_feature_coord`` / ``haar_like_feature``:

* ``type-2-x``: two rectangles side by side, value = right - left;
* ``type-2-y``: two rectangles one above the other, value = bottom - top;
* ``type-3-x`` / ``type-3-y``: three in a row / column, value = middle - left - right (top, bottom);
* ``type-4``: a 2 x 2 checkerboard, value = top-right + bottom-left - top-left - bottom-right.

In every kind the k-th rectangle (in scikit-image's order) has the sign :math:`(-1)^{k+1}`, k = 1..4.
A 24 x 24 window holds 162,336 of them, which is why AdaBoost is used to pick a few (the notes' remark).

Features are kept as two tensors: ``rects`` (Tensor[F, 4, 4], int64) holds each feature's up to four
rectangles as inclusive ``(top, left, bottom, right)`` relative to the window, and ``signs``
(Tensor[F, 4]) their signs, 0 for the unused slots of 2- and 3-rectangle features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from cvcourse._checks import check_choice, check_float, check_int, check_tensor, check_type

from .integral import integral_image, rectangle_sum

__all__ = [
    "KINDS",
    "HaarFeatures",
    "haar_feature_grid",
    "haar_features",
    "normalized_haar_features",
    "haar_mask",
]

# kind -> (rows, columns) of unit rectangles, and the order of the rectangles (grid row, grid column)
KINDS = {
    "type-2-x": ((1, 2), ((0, 0), (0, 1))),
    "type-2-y": ((2, 1), ((0, 0), (1, 0))),
    "type-3-x": ((1, 3), ((0, 0), (0, 1), (0, 2))),
    "type-3-y": ((3, 1), ((0, 0), (1, 0), (2, 0))),
    "type-4": ((2, 2), ((0, 0), (0, 1), (1, 1), (1, 0))),
}
SIGNS = (-1.0, 1.0, -1.0, 1.0)


@dataclass
class HaarFeatures:
    """A bank of Haar-like features on a ``height x width`` window.

    Attributes:
        kinds: the kind of each feature (names of ``KINDS``), a list of F strings.
        rects (Tensor[F, 4, 4]): inclusive (top, left, bottom, right) of each rectangle, relative to
            the window's top-left pixel; unused slots are (0, 0, 0, 0).
        signs (Tensor[F, 4]): +1 / -1 per rectangle, 0 for unused slots.
        height, width: the window the features were enumerated on.
    """

    kinds: list[str]
    rects: Tensor
    signs: Tensor
    height: int
    width: int

    def __len__(self) -> int:
        return len(self.kinds)

    def __getitem__(self, index) -> HaarFeatures:
        index = torch.as_tensor(index).reshape(-1)
        return HaarFeatures(
            [self.kinds[i] for i in index.tolist()],
            self.rects[index],
            self.signs[index],
            self.height,
            self.width,
        )


def haar_feature_grid(height: int, width: int, kinds=tuple(KINDS), *, step: int = 1) -> HaarFeatures:
    """Every Haar-like feature of the given kinds that fits a ``height x width`` window.

    With ``step=1`` these are exactly scikit-image's ``haar_like_feature_coord(width, height, kind)``
    (as a set; the order differs). ``step > 1`` keeps only positions and unit sizes that are multiples
    of ``step`` (a coarser bank, for fast training).

    Args:
        height, width: the window's size in pixels.
        kinds: feature kinds, names of ``KINDS``.
        step: keep positions and unit sizes that are multiples of it.

    Returns:
        HaarFeatures with F features.
    """
    height, width = check_int("height", height, low=1), check_int("width", width, low=1)
    step = check_int("step", step, low=1)
    kinds = [
        check_choice("kinds", kind, KINDS)
        for kind in check_type("kinds", kinds, (list, tuple), "a list of kind names")
    ]
    names, rects, signs = [], [], []
    for kind in kinds:
        (ny, nx), order = KINDS[kind]
        for h in range(step, height // ny + 1, step):  # unit rectangle height
            for w in range(step, width // nx + 1, step):
                r, c = torch.meshgrid(
                    torch.arange(0, height - ny * h + 1, step),
                    torch.arange(0, width - nx * w + 1, step),
                    indexing="ij",
                )
                r, c = r.reshape(-1), c.reshape(-1)  # [P] top-left corners of the whole feature
                block = torch.zeros(len(r), 4, 4, dtype=torch.int64)
                for k, (gy, gx) in enumerate(order):
                    top, left = r + gy * h, c + gx * w
                    block[:, k] = torch.stack([top, left, top + h - 1, left + w - 1], dim=1)
                sign = torch.zeros(len(r), 4, dtype=torch.float64)
                sign[:, : len(order)] = torch.tensor(SIGNS[: len(order)], dtype=torch.float64)
                names += [kind] * len(r)
                rects.append(block)
                signs.append(sign)
    if not rects:
        empty = torch.zeros(0, 4, 4, dtype=torch.int64)
        return HaarFeatures([], empty, torch.zeros(0, 4, dtype=torch.float64), height, width)
    return HaarFeatures(names, torch.cat(rects), torch.cat(signs), height, width)


def haar_features(
    ii: Tensor, features: HaarFeatures, top: Tensor | int = 0, left: Tensor | int = 0
) -> Tensor:
    r"""Values :math:`f = \sum_k s_k \, \mathrm{sum}(R_k)` of every feature in every window, vectorised.

    Args:
        ii (Tensor[..., H, W]): integral image(s) (``integral_image``).
        features: the bank (window-relative rectangles).
        top, left (int or Tensor[P]): top-left pixel of each window in the image (default: one window
            at (0, 0)).

    Returns:
        Tensor[..., P, F] in float64 (or [..., 1, F] for one window). Equals scikit-image's
        ``haar_like_feature(ii, top, left, width, height, ...)`` on the same features.
    """
    check_type("features", features, HaarFeatures, "a HaarFeatures bank")
    ii = check_tensor("ii", ii, ndim=(2, 3, 4)).to(torch.float64)
    top = torch.as_tensor(top, dtype=torch.int64).reshape(-1, 1, 1)  # [P, 1, 1]
    left = torch.as_tensor(left, dtype=torch.int64).reshape(-1, 1, 1)
    r = features.rects  # [F, 4, 4]
    # [..., P, F, 4]: the sum of every rectangle of every feature in every window
    sums = rectangle_sum(ii, top + r[..., 0], left + r[..., 1], top + r[..., 2], left + r[..., 3])
    return (sums * features.signs).sum(-1)


def normalized_haar_features(
    ii: Tensor, ii_sq: Tensor, features: HaarFeatures, top: Tensor, left: Tensor, scale: float = 1.0
) -> Tensor:
    r"""Feature values of windows scaled by ``scale``, on the window normalised to zero mean, unit variance.

    Viola-Jones scan windows of every size by scaling the rectangles, not the image (the notes'
    multi-scale sliding window), and normalise each window's contrast by its standard deviation
    (paper, section 5.1). To make one threshold valid at every scale we use rectangle *means*:

    .. math:: f = \sum_k s_k \, \frac{\bar I_{R_k} - \mu}{\sigma}

    with :math:`\bar I_{R_k}` the mean over rectangle :math:`R_k` scaled to the window,
    :math:`\mu, \sigma` the window's mean and standard deviation (from the integral images of the
    image and of its square). A scaled rectangle covers ``[floor(t s), floor((b + 1) s))``.

    Args:
        ii, ii_sq (Tensor[H, W]): integral images of the image and of the squared image.
        features: the bank, enumerated on a ``features.height x features.width`` window.
        top, left (Tensor[P], int): top-left pixel of each window.
        scale: window size / feature window size (>= 1).

    Returns:
        Tensor[P, F] in float64.
    """
    check_type("features", features, HaarFeatures, "a HaarFeatures bank")
    scale = check_float("scale", scale, low=1.0)
    ii, ii_sq = check_tensor("ii", ii, ndim=2).double(), check_tensor("ii_sq", ii_sq, ndim=2).double()
    top = torch.as_tensor(top, dtype=torch.int64).reshape(-1, 1, 1)  # [P, 1, 1]
    left = torch.as_tensor(left, dtype=torch.int64).reshape(-1, 1, 1)
    wh, ww = int(features.height * scale), int(features.width * scale)  # the window's size in pixels
    window = (top[:, 0, 0], left[:, 0, 0], top[:, 0, 0] + wh - 1, left[:, 0, 0] + ww - 1)
    mean = rectangle_sum(ii, *window) / (wh * ww)  # [P]
    var = rectangle_sum(ii_sq, *window) / (wh * ww) - mean**2
    std = var.clamp_min(0).sqrt().clamp_min(1e-3)  # a flat window: no contrast to normalise
    r = features.rects  # [F, 4, 4]
    t0, l0 = torch.floor(r[..., 0] * scale).long(), torch.floor(r[..., 1] * scale).long()
    t1, l1 = torch.floor((r[..., 2] + 1) * scale).long() - 1, torch.floor((r[..., 3] + 1) * scale).long() - 1
    area = ((t1 - t0 + 1) * (l1 - l0 + 1)).double()  # [F, 4]
    sums = rectangle_sum(ii, top + t0, left + l0, top + t1, left + l1)  # [P, F, 4]
    centred = sums / area - mean[:, None, None]  # [P, F, 4]
    return (centred * features.signs).sum(-1) / std[:, None]


def haar_mask(features: HaarFeatures, index: int) -> Tensor:
    """Feature ``index`` drawn on its window: +1 where a pixel is added, -1 where subtracted, 0 elsewhere.

    ``(haar_mask(f, i) * patch).sum()`` is the feature's value on ``patch`` (tested), which is what
    the four lookups compute without visiting the pixels.
    """
    check_type("features", features, HaarFeatures, "a HaarFeatures bank")
    index = check_int("index", index, low=0, high=len(features) - 1)
    mask = torch.zeros(features.height, features.width, dtype=torch.float64)
    rects, signs = features.rects[index].tolist(), features.signs[index].tolist()
    for (t, lft, b, rgt), sign in zip(rects, signs, strict=True):
        if sign:
            mask[t : b + 1, lft : rgt + 1] = sign
    return mask


def _integral_pair(image: Tensor) -> tuple[Tensor, Tensor]:
    """Integral images of ``image`` and of its square (the window variance needs both)."""
    image = image.double()
    return integral_image(image), integral_image(image * image)
