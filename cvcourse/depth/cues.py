r"""Which monocular cue does a depth network read? Move one object, keep the rest, watch the prediction.

After Dijk & de Croon, "How do neural networks see depth in single images?" (ICCV 2019,
https://arxiv.org/abs/1905.07005): on KITTI, monocular networks judge an object's depth mostly by
its **vertical position** (where it touches the ground, the height in the image) and hardly by its
apparent size. Here the same experiment runs on the ground scene of
:class:`cvcourse.data.StereoShapes`: one disc is placed on a ground plane with its lowest point at
row :math:`v` and a circumradius :math:`s \cdot r(v)`, where :math:`r(v)` is the radius of a disc
of fixed physical size standing at :math:`v` (:math:`r \propto d(v)`, as the scene draws its shapes).

* ``scale = 1``: a consistent disc; both cues agree, its true disparity is :math:`d(v)`.
* ``scale != 1`` at the same contact row: the size cue says "nearer" (or "farther"), the position
  cue says :math:`d(v)`. A network that reads the contact row keeps predicting :math:`d(v)`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from cvcourse._checks import check_float, check_int
from cvcourse.data.geometry import rasterise
from cvcourse.data.shapes import ShapeSpec, sample_layout, sample_rng
from cvcourse.data.stereo import render_ground_stereo, sample_ground

from .training import predict_disparity

__all__ = ["probe_scene", "cue_probe"]

CIRCLE = 1  # thing id of the circle (cvcourse.data.THING_CLASSES)


def probe_scene(
    lowest: int, scale: float = 1.0, seed: int = 0, size: int = 64, max_disparity: float = 16.0
) -> dict[str, np.ndarray]:
    """A ground plane (of ``seed``, without its shapes) and one disc touching the ground at row ``lowest``.

    Args:
        lowest: row (pixel-edge coordinates) of the disc's lowest point, an int in ``[4, size]``: its
            lowest pixel row is ``lowest - 1`` (or one above, by rasterisation), whose centre gives
            its disparity.
        scale: circumradius as a multiple of the consistent one, ``0.5 * d(lowest) * size / (4 d_max)``.
        seed, size, max_disparity: the plane, as ``StereoShapes(..., scene="ground")`` draws it.

    Returns:
        :func:`cvcourse.data.stereo.render_ground_stereo`'s arrays plus ``ground`` (the plane's
        disparity at the contact row, float) and ``radius``.
    """
    size = check_int("size", size, low=16)
    lowest = check_int("lowest", lowest, low=4, high=size)
    scale = check_float("scale", scale, low=0.1, high=4.0)
    _, plane, _ = sample_ground(sample_rng(check_int("seed", seed, low=0), 0), size, max_disparity, 1)
    layout, _ = sample_layout(sample_rng(seed, 1), size, 1)  # carries the disc; background unused
    contact = float(plane.disparity(lowest - 0.5))
    radius = min(scale * 0.5 * contact * size / (4 * max_disparity), lowest / 2, size / 2 - 1)
    disc = ShapeSpec(CIRCLE, size / 2, lowest - radius, radius, 0.0, np.array([0.9, 0.2, 0.2]))
    rows, _, mask = rasterise(CIRCLE, disc.cx, disc.cy, radius, 0.0, size)
    bottom_row = rows.start + int(np.nonzero(mask.any(axis=1))[0].max())  # lowest - 1 or a row above
    ground = float(plane.disparity(bottom_row + 0.5))  # the ground at the disc's lowest pixel row
    layout.shapes, layout.windows = [disc], []
    out = render_ground_stereo(layout, plane, np.array([ground]))
    return {**out, "ground": ground, "radius": radius}


@torch.no_grad()
def cue_probe(
    model: torch.nn.Module, lowest_rows: list[int], scales: list[float], seed: int = 0, size: int = 64
) -> dict[str, np.ndarray]:
    """The model's mean disparity on the disc of :func:`probe_scene` for every (row, scale).

    Returns:
        ``{"predicted": float [R, S], "ground": float [R]}``: the mean predicted disparity over the
        disc's pixels, and the ground's disparity at each contact row (the disc's true disparity).
    """
    max_disparity = float(getattr(model, "max_disparity", 16.0))
    predicted = np.zeros((len(lowest_rows), len(scales)))
    ground = np.zeros(len(lowest_rows))
    for i, row in enumerate(lowest_rows):
        for j, scale in enumerate(scales):
            scene = probe_scene(row, scale, seed, size, max_disparity)
            left = torch.from_numpy(np.ascontiguousarray(scene["left"].transpose(2, 0, 1)))[None]
            disparity: Tensor = predict_disparity(model, left)[0, 0]  # [H, W]
            predicted[i, j] = disparity[torch.from_numpy(scene["masks"][0])].mean().item()
            ground[i] = scene["ground"]
    return {"predicted": predicted, "ground": ground}
