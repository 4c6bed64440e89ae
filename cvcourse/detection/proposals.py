r"""Selective search: region proposals by greedy hierarchical merging of superpixels (section 4.3.2).

Uijlings et al., "Selective Search for Object Recognition", IJCV 2013
(https://doi.org/10.1007/s11263-013-0620-5), section 3, one colour space and one strategy:

1. Segment the image into superpixels (Felzenszwalb and Huttenlocher's graph segmentation,
   ``skimage.segmentation.felzenszwalb``).
2. Merge the two most similar *adjacent* regions; every merge is a proposed region.
3. Repeat until one region covers the image: n superpixels give 2n - 1 regions.

The similarity of regions :math:`r_i, r_j` (each term in [0, 1]) is

.. math::
    s = a_c \sum_k \min(c_i^k, c_j^k) + a_t \sum_k \min(t_i^k, t_j^k)
        + a_s \Big(1 - \frac{|r_i| + |r_j|}{|im|}\Big)
        + a_f \Big(1 - \frac{|BB_{ij}| - |r_i| - |r_j|}{|im|}\Big)

with :math:`c` a colour histogram (25 bins per channel), :math:`t` a texture histogram (8 oriented,
half-wave rectified Gaussian derivatives per channel, 10 bins each), both L1-normalised, :math:`|r|` a
size in pixels and :math:`BB_{ij}` the box around both regions. The size term merges small regions
first; the fill term prefers regions that fill each other's gaps. A merged region's histograms are the
size-weighted mean of its parts' (exactly the histograms of the union, tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

from cvcourse._checks import check_float, check_int, check_tensor, check_type

__all__ = ["SelectiveSearch", "superpixels", "region_features", "similarity", "selective_search"]

COLOUR_BINS, TEXTURE_BINS, ORIENTATIONS = 25, 10, 8


@dataclass
class SelectiveSearch:
    """What selective search produced on one image.

    Attributes:
        labels (Tensor[H, W], int64): the superpixels, 0 .. n-1.
        boxes (Tensor[2n - 1, 4], float64): every region's box (xyxy, pixel edges): the n superpixels,
            then one per merge in merge order (the last covers all regions).
        merges (Tensor[n - 1, 2], int64): the two regions merged into region n + k at step k.
        sizes (Tensor[2n - 1]): region sizes in pixels.
    """

    labels: Tensor
    boxes: Tensor
    merges: Tensor
    sizes: Tensor

    def proposals(self) -> Tensor:
        """The distinct boxes, the merged (larger) regions' first, as Tensor[K, 4]."""
        flipped = self.boxes.flip(0)
        _, first = np.unique(flipped.numpy(), axis=0, return_index=True)
        return flipped[torch.from_numpy(np.sort(first))]


def superpixels(image: np.ndarray, scale: float = 100.0, sigma: float = 0.8, min_size: int = 50) -> Tensor:
    """Felzenszwalb-Huttenlocher superpixels of an RGB image (``skimage.segmentation.felzenszwalb``)."""
    from skimage.segmentation import felzenszwalb

    return torch.from_numpy(felzenszwalb(image, scale=scale, sigma=sigma, min_size=min_size).astype(np.int64))


def _texture_bins(image: np.ndarray) -> np.ndarray:
    """Per pixel, for every channel and orientation, the bin (0..9) of the rectified Gaussian derivative.

    Returns:
        int ndarray [H, W, 3 * 8]: the histogram slot (channel, orientation) times 10 plus the bin.
    """
    out = []
    for ch in range(3):
        channel = image[..., ch].astype(np.float64)
        gy = ndimage.gaussian_filter(channel, 1.0, order=(1, 0))
        gx = ndimage.gaussian_filter(channel, 1.0, order=(0, 1))
        for k in range(ORIENTATIONS):
            theta = np.pi * k / (ORIENTATIONS / 2)  # 8 directions over the full circle
            response = np.maximum(0.0, gx * np.cos(theta) + gy * np.sin(theta))  # half-wave rectified
            top = response.max() if response.max() > 0 else 1.0
            bins = np.minimum((response / top * TEXTURE_BINS).astype(np.int64), TEXTURE_BINS - 1)
            out.append((ch * ORIENTATIONS + k) * TEXTURE_BINS + bins)
    return np.stack(out, axis=-1)


def region_features(image: np.ndarray, labels: Tensor) -> dict[str, Tensor]:
    """Sizes, boxes and L1-normalised colour and texture histograms of every label, vectorised.

    Returns:
        ``size`` (Tensor[n]), ``box`` (Tensor[n, 4], xyxy pixel edges), ``colour`` (Tensor[n, 75]),
        ``texture`` (Tensor[n, 240]), all float64.
    """
    labels = check_tensor("labels", labels, ndim=2, dtype="int")
    image = np.asarray(image)
    if image.shape[:2] != tuple(labels.shape) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be [H, W, 3] with H, W = {tuple(labels.shape)}, got {image.shape}")
    n = int(labels.max()) + 1
    flat = labels.reshape(-1).numpy()
    size = np.bincount(flat, minlength=n).astype(np.float64)
    rows, cols = np.indices(labels.shape)
    box = np.zeros((n, 4))
    box[:, 0] = np.full(n, np.inf)
    np.minimum.at(box[:, 0], flat, cols.reshape(-1))
    box[:, 1] = np.inf
    np.minimum.at(box[:, 1], flat, rows.reshape(-1))
    np.maximum.at(box[:, 2], flat, cols.reshape(-1) + 1)
    np.maximum.at(box[:, 3], flat, rows.reshape(-1) + 1)
    colour_bin = (image.astype(np.int64) * COLOUR_BINS // 256).reshape(-1, 3) + np.arange(3) * COLOUR_BINS
    colour = (
        np.bincount((flat[:, None] * 3 * COLOUR_BINS + colour_bin).reshape(-1), minlength=n * 3 * COLOUR_BINS)
        .reshape(n, -1)
        .astype(np.float64)
    )
    slots = 3 * ORIENTATIONS * TEXTURE_BINS
    texture_bin = _texture_bins(image).reshape(len(flat), -1)
    texture = (
        np.bincount((flat[:, None] * slots + texture_bin).reshape(-1), minlength=n * slots)
        .reshape(n, -1)
        .astype(np.float64)
    )
    return {
        "size": torch.from_numpy(size),
        "box": torch.from_numpy(box),
        # an unused label (no pixel) keeps an all-zero histogram
        "colour": torch.from_numpy(colour / np.maximum(colour.sum(1, keepdims=True), 1)),
        "texture": torch.from_numpy(texture / np.maximum(texture.sum(1, keepdims=True), 1)),
    }


def similarity(
    feats: dict[str, Tensor], i: Tensor, j: Tensor, image_size: int, weights=(1.0, 1.0, 1.0, 1.0)
) -> Tensor:
    """The similarity of region pairs ``(i[e], j[e])`` (Tensor[E]), all pairs at once (module docstring)."""
    a_c, a_t, a_s, a_f = (check_float("weights", w, low=0.0) for w in weights)
    colour = torch.minimum(feats["colour"][i], feats["colour"][j]).sum(-1)
    texture = torch.minimum(feats["texture"][i], feats["texture"][j]).sum(-1)
    both = feats["size"][i] + feats["size"][j]
    size = 1 - both / image_size
    bi, bj = feats["box"][i], feats["box"][j]
    hull = torch.cat([torch.minimum(bi[:, :2], bj[:, :2]), torch.maximum(bi[:, 2:], bj[:, 2:])], dim=1)
    fill = 1 - ((hull[:, 2] - hull[:, 0]) * (hull[:, 3] - hull[:, 1]) - both) / image_size
    return a_c * colour + a_t * texture + a_s * size + a_f * fill


def _adjacent_pairs(labels: Tensor) -> Tensor:
    """Pairs (i < j) of labels that touch horizontally or vertically: Tensor[E, 2]."""
    pairs = torch.cat(
        [
            torch.stack([labels[:, :-1].reshape(-1), labels[:, 1:].reshape(-1)], 1),
            torch.stack([labels[:-1].reshape(-1), labels[1:].reshape(-1)], 1),
        ]
    )
    pairs = pairs[pairs[:, 0] != pairs[:, 1]].sort(1).values
    return torch.unique(pairs, dim=0)


def selective_search(
    image: np.ndarray,
    *,
    scale: float = 100.0,
    sigma: float = 0.8,
    min_size: int = 50,
    weights=(1.0, 1.0, 1.0, 1.0),
) -> SelectiveSearch:
    """Selective search on an RGB image (uint8 ndarray [H, W, 3]); see the module docstring.

    Args:
        image: the photo.
        scale, sigma, min_size: ``felzenszwalb``'s parameters (a larger ``scale``: fewer, larger superpixels).
        weights: :math:`(a_c, a_t, a_s, a_f)`, the weights of the colour, texture, size and fill terms.
    """
    check_type("image", image, np.ndarray, "a uint8 ndarray [H, W, 3]")
    check_int("min_size", min_size, low=1)
    labels = superpixels(
        image,
        check_float("scale", scale, low=0.0, low_inclusive=False),
        check_float("sigma", sigma, low=0.0),
        min_size,
    )
    base = region_features(image, labels)
    n, image_size = len(base["size"]), labels.numel()
    # room for all 2n - 1 regions; region n + k is made by merge k
    feats = {k: torch.cat([v, v.new_zeros((n - 1, *v.shape[1:]))]) for k, v in base.items()}
    neighbours: list[set[int]] = [set() for _ in range(2 * n - 1)]
    pairs = _adjacent_pairs(labels)
    for a, b in pairs.tolist():
        neighbours[a].add(b)
        neighbours[b].add(a)
    sims = dict(
        zip(
            map(tuple, pairs.tolist()),
            similarity(feats, pairs[:, 0], pairs[:, 1], image_size, weights).tolist(),
            strict=True,
        )
    )
    merges = []
    for new in range(n, 2 * n - 1):
        if not sims:  # disconnected pieces (cannot happen on one image): merge the two largest-numbered
            live = sorted({r for r in range(new) if all(r not in m for m in merges)})[-2:]
            i, j = live
        else:
            i, j = max(sims, key=sims.get)  # the most similar adjacent pair
        merges.append((i, j))
        si, sj = feats["size"][i], feats["size"][j]
        feats["size"][new] = si + sj
        for key in ("colour", "texture"):  # the union's histogram, exactly
            feats[key][new] = (si * feats[key][i] + sj * feats[key][j]) / (si + sj)
        feats["box"][new] = torch.cat(
            [
                torch.minimum(feats["box"][i, :2], feats["box"][j, :2]),
                torch.maximum(feats["box"][i, 2:], feats["box"][j, 2:]),
            ]
        )
        neighbours[new] = (neighbours[i] | neighbours[j]) - {i, j}
        for r in (i, j):
            for other in neighbours[r]:
                sims.pop((min(r, other), max(r, other)), None)
                neighbours[other].discard(r)
        sims.pop((i, j), None)
        if neighbours[new]:
            others = torch.tensor(sorted(neighbours[new]))
            values = similarity(feats, others, torch.full_like(others, new), image_size, weights)
            for other, value in zip(others.tolist(), values.tolist(), strict=True):
                sims[(other, new)] = value
                neighbours[other].add(new)
    return SelectiveSearch(
        labels, feats["box"], torch.tensor(merges, dtype=torch.int64).reshape(-1, 2), feats["size"]
    )
