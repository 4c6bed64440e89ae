r"""The multi-scale sliding window of Viola-Jones (section 4.2.2 of the notes), returning scored boxes.

Viola and Jones, CVPR 2001, section 5.2: the detector scans windows of every position and several
sizes; it scales the rectangle features, not the image, and the integral image makes every feature
cost four lookups per rectangle at any scale. The cascade evaluates stage i only on the windows that
stages 1..i-1 accepted (the attentional part). What comes out are many overlapping boxes per face:
the input of non-maximum suppression (section 4.2.4).

``face_scene`` pastes synthetic faces (``cascade.face_patches``) at several sizes on a photo.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from cvcourse._checks import check_float, check_int, check_tensor, check_type

from .cascade import Cascade, face_patches
from .haar import _integral_pair, normalized_haar_features

__all__ = ["window_grid", "sliding_window_detect", "face_scene"]


def window_grid(
    height: int, width: int, window: int, scale: float, step: float
) -> tuple[Tensor, Tensor, int]:
    """Top-left corners of every ``round(window * scale)``-pixel window of an image, ``step * scale`` apart.

    Returns:
        (top, left) (Tensor[P] each, int64) and the window side in pixels.
    """
    side = int(window * check_float("scale", scale, low=1.0))
    stride = max(1, int(round(check_float("step", step, low=0.0, low_inclusive=False) * scale)))
    if side > min(height, width):
        return torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), side
    top, left = torch.meshgrid(
        torch.arange(0, height - side + 1, stride), torch.arange(0, width - side + 1, stride), indexing="ij"
    )
    return top.reshape(-1), left.reshape(-1), side


def sliding_window_detect(
    image: Tensor, cascade: Cascade, scales=(1.0, 1.5, 2.0, 3.0), step: float = 2.0
) -> tuple[Tensor, Tensor, dict]:
    """Run the cascade on every window of a grey image at every scale.

    Args:
        image (Tensor[H, W]): grey image in [0, 1].
        cascade: a trained ``Cascade``; its feature window is the smallest window.
        scales: window sizes as multiples of the feature window.
        step: window stride in feature-window pixels (scaled with the window).

    Returns:
        boxes (Tensor[K, 4], xyxy, pixel edges) of the windows every stage accepted, their scores (the
        last stage's margin over its threshold, Tensor[K]) and ``stats``: ``windows`` (how many were
        scanned) and ``evaluated`` (how many reached each stage).
    """
    image = check_tensor("image", image, ndim=2, dtype="float")
    check_type("cascade", cascade, Cascade, "a trained Cascade")
    if not cascade.stages:
        raise ValueError("cascade must have at least one stage")
    ii, ii_sq = _integral_pair(image)
    used = cascade.used_features()  # only the features some stump looks at
    bank = cascade.features[used]
    column = {int(f): i for i, f in enumerate(used.tolist())}  # bank column -> column of `values`
    boxes, scores = [], []
    evaluated = [0] * len(cascade.stages)
    windows = 0
    for scale in scales:
        top, left, side = window_grid(*image.shape, cascade.features.height, scale, step)
        windows += len(top)
        if not len(top):
            continue
        values = normalized_haar_features(ii, ii_sq, bank, top, left, scale)  # [P, used]
        alive = torch.ones(len(top), dtype=torch.bool)
        margin = torch.zeros(len(top), dtype=torch.float64)
        for i, (stage, threshold) in enumerate(zip(cascade.stages, cascade.thresholds, strict=True)):
            idx = alive.nonzero()[:, 0]  # the attentional cascade: only survivors are evaluated
            evaluated[i] += len(idx)
            feats = values[idx]  # [P_alive, used]
            votes = torch.stack(
                [
                    torch.where(feats[:, column[s.feature]] > s.threshold, float(s.right), float(s.left))
                    for s in stage.stumps_
                ],
                dim=1,
            )  # [P_alive, M]
            votes = votes.double()
            score = votes @ stage.estimator_weights_
            margin[idx] = score - threshold
            alive[idx] = score >= threshold
        keep = alive.nonzero()[:, 0]
        boxes.append(torch.stack([left[keep], top[keep], left[keep] + side, top[keep] + side], 1).double())
        scores.append(margin[keep])
    boxes = torch.cat(boxes) if boxes else torch.zeros(0, 4, dtype=torch.float64)
    scores = torch.cat(scores) if scores else torch.zeros(0, dtype=torch.float64)
    return boxes, scores, {"windows": windows, "evaluated": evaluated}


def face_scene(
    size: int = 128, sizes=(16, 24, 32, 40), seed: int = 0, photo: str = "brick"
) -> tuple[Tensor, Tensor]:
    """A grey scene: a crop of a scikit-image photo with one synthetic face per entry of ``sizes``.

    Returns:
        image (Tensor[size, size] in [0, 1]) and the faces' boxes (Tensor[K, 4], xyxy, pixel edges).
    """
    from cvcourse.data.real import sample_image

    size = check_int("size", size, low=16)
    rng = np.random.default_rng(seed)
    grey = torch.from_numpy(sample_image(photo)).double().mean(-1) / 255
    image = F.interpolate(grey[None, None], size=(size, size), mode="area")[0, 0].clone()
    faces = face_patches(len(sizes), size=16, seed=seed + 1000)
    boxes = []
    for face, side in zip(faces, sizes, strict=True):
        for _ in range(100):  # place without overlapping an earlier face
            top, left = (int(v) for v in rng.integers(0, size - side + 1, 2))
            box = torch.tensor([left, top, left + side, top + side], dtype=torch.float64)
            if all(box[0] >= b[2] or box[2] <= b[0] or box[1] >= b[3] or box[3] <= b[1] for b in boxes):
                break
        scaled = F.interpolate(face[None, None], size=(side, side), mode="bilinear", align_corners=False)
        image[top : top + side, left : left + side] = scaled[0, 0].clamp(0, 1)
        boxes.append(box)
    return image, torch.stack(boxes)
