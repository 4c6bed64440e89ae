r"""An attentional cascade of boosted Haar-feature classifiers (section 4.2.3 of the notes).

Viola and Jones, CVPR 2001 (https://doi.org/10.1109/CVPR.2001.990517), section 4. Stage i is an
AdaBoost classifier over a few Haar features whose threshold is lowered until it keeps (almost) every
face: detection rate :math:`d_i` close to 1, false-positive rate :math:`f_i` well below 1. A window is
a face only if every stage says so; most background windows leave after one or two cheap stages. The
next stage is trained on the negatives that got through (bootstrapping). With rates measured on the
windows that reach each stage, the whole cascade's rates are the **products**

.. math:: D = \prod_i d_i, \qquad F = \prod_i f_i.

The data are synthetic: ``face_patches`` draws grey 16 x 16 face-like patterns (dark eyes and mouth
on a brighter oval, random shape, lighting and noise), ``nonface_patches`` crops scikit-image's photos.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from cvcourse._checks import check_float, check_int, check_tensor, check_type

from .adaboost import AdaBoost
from .haar import HaarFeatures

__all__ = [
    "face_patches",
    "nonface_patches",
    "feature_matrix",
    "patch_features",
    "Cascade",
    "train_cascade",
    "cascade_rates",
]

NEGATIVE_PHOTOS = ("camera", "coffee", "chelsea", "rocket", "coins")


def _ellipse(y, x, cy, cx, ry, rx):
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0


def face_patches(n: int, size: int = 16, seed: int = 0) -> Tensor:
    """``n`` grey face-like patches in [0, 1]: Tensor[n, size, size] (float64).

    A bright oval with two dark eyes and a dark mouth, each face with its own proportions (+-10 %),
    position (+-4 %), contrast, lighting gradient and noise; drawn 4x supersampled, then averaged.
    """
    n, size = check_int("n", n, low=0), check_int("size", size, low=8)
    rng = np.random.default_rng(seed)
    s4 = 4 * size
    y, x = np.meshgrid((np.arange(s4) + 0.5) / s4, (np.arange(s4) + 0.5) / s4, indexing="ij")

    def u(lo, hi):  # one value per face, broadcast over the pixels: [n, 1, 1]
        return rng.uniform(lo, hi, (n, 1, 1))

    cy, cx, k = 0.5 + u(-0.04, 0.04), 0.5 + u(-0.04, 0.04), u(0.9, 1.1)
    skin, dark = u(0.55, 0.85), u(0.3, 0.5)
    img = np.broadcast_to(u(0.05, 0.95), (n, s4, s4)).copy()  # what is around the face
    oval = _ellipse(y, x, cy, cx, 0.5 * k, 0.42 * k)
    img = np.where(oval, skin, img)
    for ex in (-0.2, 0.2):  # the eyes
        img = np.where(_ellipse(y, x, cy - 0.12 * k, cx + ex * k, 0.07 * k, 0.1 * k), skin - dark, img)
    img = np.where(_ellipse(y, x, cy + 0.25 * k, cx, 0.05 * k, 0.18 * k), skin - 0.8 * dark, img)  # the mouth
    img = img + u(-0.15, 0.15) * (x - 0.5) + u(-0.15, 0.15) * (y - 0.5)  # lighting
    img = torch.from_numpy(img)[:, None]
    img = F.avg_pool2d(img, 4)[:, 0] + torch.from_numpy(rng.normal(0, 0.03, (n, size, size)))
    return img.clamp(0, 1)


def nonface_patches(n: int, size: int = 16, seed: int = 0, photos=NEGATIVE_PHOTOS) -> Tensor:
    """``n`` background patches: random crops (side ``size`` .. ``6 size``) of scikit-image's photos,
    grey, resized to ``size`` x ``size``. Tensor[n, size, size] (float64, in [0, 1])."""
    from cvcourse.data.real import sample_image

    n, size = check_int("n", n, low=0), check_int("size", size, low=8)
    rng = np.random.default_rng(seed)
    greys = [torch.from_numpy(sample_image(name)).double().mean(-1) / 255 for name in photos]
    out = torch.empty(n, size, size, dtype=torch.float64)
    for i in range(n):  # one crop each: a short loop over patches, not a hot path
        grey = greys[rng.integers(len(greys))]
        side = int(rng.integers(size, min(6 * size, *grey.shape) + 1))
        top, left = rng.integers(0, grey.shape[0] - side + 1), rng.integers(0, grey.shape[1] - side + 1)
        crop = grey[top : top + side, left : left + side][None, None]
        out[i] = F.interpolate(crop, size=(size, size), mode="area")[0, 0]
    return out


def feature_matrix(features: HaarFeatures) -> Tensor:
    r"""The bank as one linear map on flattened patches: ``W`` (Tensor[H W, F]) with
    :math:`W_{p, j} = \sum_k s_{jk} [p \in R_{jk}] / |R_{jk}|`, so ``patch.flatten() @ W`` gives every
    feature's signed sum of rectangle means (the four lookups compute the same numbers per window)."""
    check_type("features", features, HaarFeatures, "a HaarFeatures bank")
    h, w = features.height, features.width
    rows, cols = torch.arange(h)[:, None, None], torch.arange(w)[None, :, None]  # broadcast with [F]
    weights = torch.zeros(h, w, len(features), dtype=torch.float64)
    for k in range(4):  # the four rectangle slots, each vectorised over the features
        t, lft, b, rgt = features.rects[:, k].unbind(-1)  # [F] each
        inside = (rows >= t) & (rows <= b) & (cols >= lft) & (cols <= rgt)  # [H, W, F]
        weights += inside * (features.signs[:, k] / ((b - t + 1) * (rgt - lft + 1)))
    return weights.reshape(h * w, len(features))


def patch_features(patches: Tensor, features: HaarFeatures) -> Tensor:
    r"""Normalised Haar features of whole patches, all patches at once: Tensor[N, F].

    The same numbers as ``normalized_haar_features`` on each patch's integral images (tested):
    :math:`\sum_k s_k (\bar I_{R_k} - \mu) / \sigma`. For a batch of training patches the rectangle
    means are one matrix product (``feature_matrix``); scanning an image uses the integral image.
    """
    check_type("features", features, HaarFeatures, "a HaarFeatures bank")
    patches = check_tensor("patches", patches, shape=(None, features.height, features.width), dtype="float")
    flat = patches.double().flatten(1)  # [N, H W]
    mean, std = flat.mean(1), flat.std(1, unbiased=False).clamp_min(1e-3)  # [N]
    signed_means = flat @ feature_matrix(features)  # [N, F]
    return (signed_means - mean[:, None] * features.signs.sum(1)) / std[:, None]


@dataclass
class Cascade:
    r"""Stages of boosted stumps with their thresholds, over one Haar feature bank.

    Attributes:
        features: the bank the stumps index into (``stump.feature`` is a column of it).
        stages: one ``AdaBoost`` per stage; ``thresholds``: stage i says "face" when its
            :math:`\sum_j \ln\beta_j WL_j(x) \ge` ``thresholds[i]``.
        train_rates: per stage, ``(d_i, f_i)`` on the faces and negatives it was trained on.
    """

    features: HaarFeatures
    stages: list[AdaBoost] = field(default_factory=list)
    thresholds: list[float] = field(default_factory=list)
    train_rates: list[tuple[float, float]] = field(default_factory=list)

    def used_features(self) -> Tensor:
        """The columns of the bank some stump uses (all a detector needs to compute)."""
        used = {s.feature for stage in self.stages for s in stage.stumps_}
        return torch.tensor(sorted(used), dtype=torch.int64)

    def stage_passes(self, x: Tensor) -> Tensor:
        """Bool Tensor[N, S]: which samples (bank features ``x``, [N, F]) stage i accepts, on its own."""
        return torch.stack(
            [stage.decision_function(x) >= t for stage, t in zip(self.stages, self.thresholds, strict=True)],
            dim=1,
        )

    def predict(self, x: Tensor) -> Tensor:
        """Bool Tensor[N]: accepted by every stage."""
        return self.stage_passes(x).all(1)


def train_cascade(
    faces: Tensor,
    negatives: Tensor,
    features: HaarFeatures,
    stage_sizes=(1, 3, 6, 10),
    *,
    min_detection: float = 0.99,
    max_negatives: int = 1000,
) -> Cascade:
    """Train a cascade stage by stage, each on the faces and the negatives all earlier stages let through.

    Args:
        faces, negatives (Tensor[N, F]): bank features (``patch_features``) of faces and of a pool of
            background patches.
        features: the bank.
        stage_sizes: stumps per stage (few first, more later, as in the paper).
        min_detection: each stage's threshold is the largest that keeps this fraction of training faces.
        max_negatives: negatives per stage, taken in order from those still passing.
    """
    check_type("features", features, HaarFeatures, "a HaarFeatures bank")
    faces = check_tensor("faces", faces, shape=(None, len(features)), dtype="float")
    negatives = check_tensor("negatives", negatives, shape=(None, len(features)), dtype="float")
    min_detection = check_float("min_detection", min_detection, low=0.0, high=1.0, low_inclusive=False)
    max_negatives = check_int("max_negatives", max_negatives, low=1)
    cascade = Cascade(features)
    alive = torch.ones(len(negatives), dtype=torch.bool)  # negatives every stage so far accepted
    for size in stage_sizes:
        neg = negatives[alive.nonzero()[:max_negatives, 0]]
        if len(neg) == 0:
            break  # nothing left to reject
        x = torch.cat([faces, neg])
        y = torch.cat([torch.ones(len(faces)), -torch.ones(len(neg))]).double()
        stage = AdaBoost(check_int("stage size", size, low=1)).fit(x, y)
        face_scores = stage.decision_function(faces)
        keep = int(np.ceil(min_detection * len(faces)))  # faces that must stay above the threshold
        threshold = float(face_scores.sort(descending=True).values[keep - 1])
        cascade.stages.append(stage)
        cascade.thresholds.append(threshold)
        cascade.train_rates.append(
            (
                float((face_scores >= threshold).double().mean()),
                float((stage.decision_function(neg) >= threshold).double().mean()),
            )
        )
        alive &= stage.decision_function(negatives) >= threshold
    return cascade


def cascade_rates(cascade: Cascade, faces: Tensor, negatives: Tensor) -> list[dict[str, float]]:
    """Per stage, on held-out samples: the detection and false-positive rates among the samples that
    reach the stage (``d``, ``f``), and those of the cascade up to it (``D``, ``F``: accepted by stages
    1..i, over all samples). ``D`` and ``F`` are the running products of ``d`` and ``f``."""
    rows = []
    passes_f, passes_n = cascade.stage_passes(faces), cascade.stage_passes(negatives)
    reach_f, reach_n = torch.ones(len(faces), dtype=torch.bool), torch.ones(len(negatives), dtype=torch.bool)
    for i in range(len(cascade.stages)):
        d = float(passes_f[reach_f, i].double().mean()) if reach_f.any() else 0.0
        f = float(passes_n[reach_n, i].double().mean()) if reach_n.any() else 0.0
        reach_f, reach_n = reach_f & passes_f[:, i], reach_n & passes_n[:, i]
        big_d, big_f = float(reach_f.double().mean()), float(reach_n.double().mean())
        rows.append({"d": d, "f": f, "D": big_d, "F": big_f})
    return rows
