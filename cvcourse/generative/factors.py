"""The chapter's data: scikit-learn's 8 x 8 digits, and single shapes rendered from known factors.

* ``digits()``: the 1797 handwritten digits that scikit-learn ships (no download), as [N, 1, 8, 8]
  floats in [0, 1] (the 17 grey levels 0..16 divided by 16), optionally binarised, split into a
  training and a test part by a fixed permutation.
* ``ShapesFactors``: one shape on black, drawn from five **generative factors**: its class (the
  course's five shapes, ``cvcourse.data.geometry``), the centre x and y, the size (circumradius) and
  the colour (one of six saturated colours). Every factor is drawn independently and uniformly from
  a seed, and the image is binary in every channel, so a Bernoulli decoder models it exactly. Because
  the factors are known, disentanglement can be measured (``cvcourse.generative.disentanglement``),
  as with dSprites (Matthey et al. 2017, https://github.com/google-deepmind/dsprites-dataset).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from cvcourse._checks import check_bool, check_float, check_int
from cvcourse.data.geometry import THING_CLASSES, THING_IDS, rasterise

__all__ = [
    "COLOURS",
    "FACTORS",
    "IMAGE_SIZE",
    "ShapesFactors",
    "digits",
    "factor_labels",
    "render_factors",
    "sample_factors",
]

IMAGE_SIZE = 32
FACTORS: tuple[str, ...] = ("shape", "x", "y", "size", "colour")
# Six saturated colours: every channel 0 or 1, so the images stay binary.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (1, 0, 0),
    "yellow": (1, 1, 0),
    "green": (0, 1, 0),
    "cyan": (0, 1, 1),
    "blue": (0, 0, 1),
    "magenta": (1, 0, 1),
}
RADIUS = (4.0, 8.0)  # circumradius range in pixels (at IMAGE_SIZE 32)
MARGIN = 8.0  # centres stay MARGIN px inside the border, so the largest shape fits


def digits(binarize: bool = False, test_fraction: float = 0.25, seed: int = 0) -> dict[str, Tensor]:
    """scikit-learn's 8 x 8 digits as tensors, split into train and test.

    Args:
        binarize: threshold at 0.5 (grey level >= 8 of 16), for a Bernoulli decoder whose
            likelihood is then exact.
        test_fraction: the share of images held out, in (0, 1).
        seed: the permutation that splits them.

    Returns:
        ``{"train": Tensor[N1, 1, 8, 8], "test": Tensor[N2, 1, 8, 8], "train_labels": Tensor[N1],
        "test_labels": Tensor[N2]}``, float32 images in [0, 1], int64 labels.
    """
    from sklearn.datasets import load_digits

    check_bool("binarize", binarize)
    test_fraction = check_float(
        "test_fraction", test_fraction, low=0, high=1, low_inclusive=False, high_inclusive=False
    )
    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32)[:, None] / 16.0  # [1797, 1, 8, 8]
    if binarize:
        images = (images >= 0.5).float()
    labels = torch.tensor(bunch.target, dtype=torch.int64)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(check_int("seed", seed)))
    n_test = round(test_fraction * len(images))
    test, train = order[:n_test], order[n_test:]
    return {
        "train": images[train],
        "test": images[test],
        "train_labels": labels[train],
        "test_labels": labels[test],
    }


def sample_factors(n: int, seed: int, size: int = IMAGE_SIZE) -> Tensor:
    """``n`` factor vectors, independent and uniform: Tensor[n, 5] with columns ``FACTORS``.

    shape: an index 0..4 into ``THING_CLASSES``; x, y: the centre in pixels; size: the circumradius
    in pixels; colour: an index 0..5 into ``COLOURS``. Sample i depends only on (seed, i).
    """
    n, size = check_int("n", n, low=0), check_int("size", size, low=16)
    scale = size / IMAGE_SIZE
    rows = []
    for i in range(n):
        rng = np.random.default_rng([int(seed), i])
        rows.append(
            [
                rng.integers(len(THING_CLASSES)),
                rng.uniform(MARGIN * scale, size - MARGIN * scale),
                rng.uniform(MARGIN * scale, size - MARGIN * scale),
                rng.uniform(RADIUS[0] * scale, RADIUS[1] * scale),
                rng.integers(len(COLOURS)),
            ]
        )
    return torch.tensor(rows, dtype=torch.float64).reshape(n, len(FACTORS))


def render_factors(factors: Tensor, size: int = IMAGE_SIZE) -> Tensor:
    """The images of factor vectors: Tensor[n, 5] -> Tensor[n, 3, size, size] of 0s and 1s (float32)."""
    size = check_int("size", size, low=1)
    if not isinstance(factors, Tensor) or factors.ndim != 2 or factors.shape[1] != len(FACTORS):
        from cvcourse._checks import check_tensor

        check_tensor("factors", factors, shape=(None, len(FACTORS)))
    images = np.zeros((len(factors), 3, size, size), dtype=np.float32)
    colours = np.array(list(COLOURS.values()), dtype=np.float32)  # [6, 3]
    for image, (shape, cx, cy, radius, colour) in zip(images, factors.tolist(), strict=True):
        rows, cols, mask = rasterise(THING_IDS[int(shape)], cx, cy, radius, 0.0, size)
        image[:, rows, cols] = colours[int(colour)][:, None, None] * mask  # [3, h, w]
    return torch.from_numpy(images)


class ShapesFactors(Dataset):
    """``n`` single-shape images with their factors, deterministic from ``seed``.

    ``dataset[i]`` is ``(image, image)``: Tensor[3, 32, 32] in {0, 1} twice (an autoencoder's input
    and target, as ``fit`` expects). ``dataset.images`` holds all of them, ``dataset.factors`` the
    Tensor[n, 5] of factors (columns ``FACTORS``).
    """

    factor_names = FACTORS
    classes = THING_CLASSES
    colours = tuple(COLOURS)

    def __init__(self, n: int, seed: int = 0, size: int = IMAGE_SIZE):
        self.factors = sample_factors(n, seed, size)
        self.images = render_factors(self.factors, size)
        self.size = size

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.images[index]


def factor_labels(factors: Tensor, bins: int = 10) -> Tensor:
    """Factors as integer labels for mutual information: Tensor[n, 5] -> int64 [n, 5].

    shape and colour are already labels; x, y and size are cut into ``bins`` equal-width bins.
    """
    from cvcourse._checks import check_tensor

    from .disentanglement import discretize

    check_tensor("factors", factors, shape=(None, len(FACTORS)))
    labels = factors.round().long()
    continuous = [FACTORS.index(name) for name in ("x", "y", "size")]
    labels[:, continuous] = discretize(factors[:, continuous], check_int("bins", bins, low=2))
    return labels
