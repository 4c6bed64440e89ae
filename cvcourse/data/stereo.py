"""Rendered stereo pairs with exact disparity: fronto-parallel layers at several depths.

A rectified stereo rig of focal length ``f`` (pixels) and baseline ``b`` sees a point at depth ``z``
in the left image at ``(u_L, v)`` and in the right image on the same row at ``(u_R, v)``, with

    d = u_L - u_R,    z = b f / d    (disparity ``d`` in pixels, > 0, larger for nearer points)

as in the lecture notes (chapter 6, "Stereo correspondence") and in Scharstein & Szeliski, "A
Taxonomy and Evaluation of Dense Two-Frame Stereo Correspondence Algorithms" (IJCV 2002), whose
Middlebury data uses the same sign (:func:`cvcourse.data.real.stereo_pair`). So the left pixel ``u``
is found at ``u - d`` in the right image. (The notes' Monodepth paragraph, arXiv:1609.03677, writes
``u + d`` for this correspondence; with ``d = u_L - u_R`` it is ``u - d``, which the data follows.)

The scene is the same procedural shapes scene as the other data sets (:mod:`cvcourse.data.shapes`),
cut into layers: the background plane at disparity ``d_0`` and each shape on its own plane in front
of it, nearer shapes painted over farther ones. Since every layer is a function of continuous
coordinates, the right view is rendered exactly, sub-pixel disparities included: a layer at
disparity ``d`` shows at column ``x`` of the right image what it shows at ``x + d`` in the left one.

The ground truth is defined in the left view. A left pixel is *valid* when the point it sees is also
seen by the right camera: it lands inside the right image (``0 <= x - d < W``) and no nearer layer
covers it there (occlusion). ``StereoShapes[i]`` returns ``(left, right, disparity)`` with
``disparity = 0`` at invalid pixels (KITTI's convention: true disparities are all > 0);
:meth:`StereoShapes.sample` returns the dense disparity and the ``valid`` mask separately.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from cvcourse._checks import check_bool, check_float, check_int, check_type

from .datasets import check_index
from .shapes import MIN_SIZE, Layout, render, sample_layout, sample_rng, shape_mask

__all__ = ["StereoShapes", "render_stereo"]


def render_stereo(
    layout: Layout, background_disparity: float, disparities: np.ndarray
) -> dict[str, np.ndarray]:
    """Render the left and right views of a layered scene and its left-view disparity.

    Args:
        layout: the scene; ``layout.shapes[k]`` lies on a plane at disparity ``disparities[k]``.
        background_disparity: disparity ``d_0 > 0`` of the background plane.
        disparities: float [K], non-decreasing (later shapes are painted over earlier ones, so they
            must be nearer), all ``>= background_disparity``.

    Returns:
        dict of numpy arrays: ``left``, ``right`` float32 [H, W, 3]; ``disparity`` float32 [H, W]
        (dense, in pixels, left view); ``valid`` bool [H, W]; ``masks`` bool [K, H, W] (left view).
    """
    check_type("layout", layout, Layout, "a Layout (see cvcourse.data.shapes.sample_layout)")
    n = layout.size
    disparities = np.asarray(disparities, dtype=np.float64)
    d0 = check_float("background_disparity", background_disparity, low=0.0)
    if disparities.shape != (len(layout.shapes),):
        raise ValueError(
            f"disparities must have shape ({len(layout.shapes)},), one per shape, "
            f"got {disparities.shape}"
        )
    if np.any(np.diff(disparities) < 0) or np.any(disparities < d0):
        raise ValueError(
            "disparities must be non-decreasing and >= background_disparity "
            f"({d0}), got {disparities.tolist()}"
        )
    left, masks, _ = render(layout)
    right, _, _ = render(layout, shift=d0, shape_shifts=disparities)
    disparity = np.full((n, n), d0)
    for k, m in enumerate(masks):
        disparity[m] = disparities[k]

    centres = np.arange(n) + 0.5
    xx, yy = np.meshgrid(centres, centres)  # [H, W] pixel centres of the left view
    x_right = xx - disparity  # where each left pixel's point lands in the right view
    valid = (x_right >= 0) & (x_right < n)
    for k, s in enumerate(layout.shapes):
        # A point on a farther plane is hidden in the right view when shape k covers x_right there,
        # i.e. when the left-frame point x_right + d_k is inside shape k.
        farther = disparity < disparities[k]
        hidden = shape_mask(s.label, x_right + disparities[k], yy, s.cx, s.cy, s.radius, s.angle)
        valid &= ~(farther & hidden)
    return {
        "left": left,
        "right": right,
        "disparity": disparity.astype(np.float32),
        "valid": valid,
        "masks": masks,
    }


class StereoShapes(Dataset):
    """Rectified stereo pairs of shapes scenes with exact disparity, ``(left, right, disparity)``.

    ``left``, ``right`` are FloatTensor[3, H, W] in [0, 1]; ``disparity`` is FloatTensor[H, W] in
    pixels in the left view, ``u_R = u_L - d``, and 0 where the left pixel has no match in the right
    image (occluded or out of view). The background plane has a disparity ``d_0`` in
    ``[0.1, 0.3] * max_disparity``, each shape one in ``[d_0 + 0.2 * max_disparity, max_disparity]``
    (nearer shapes painted later). Depth: ``depth = focal_length * baseline / disparity``.

    Args:
        n: number of pairs (>= 0).
        size: image side in pixels (16 .. 1024).
        seed: seed of the whole data set.
        max_disparity: largest disparity in pixels (1 .. size / 2).
        max_objects: most shapes per scene (count uniform in 1 .. max_objects).
        subpixel: real-valued disparities (default); False rounds every plane to whole pixels
            (then ``left[v, u] == right[v, u - d]`` exactly on valid pixels).
        noise_std: independent Gaussian sensor noise added to each view (default none).

    Attributes:
        focal_length: ``f`` in pixels (equal to ``size``: a 53 degree field of view).
        baseline: ``B`` in metres (0.1).
    """

    def __init__(
        self,
        n: int,
        size: int = 64,
        seed: int = 0,
        max_disparity: float = 16.0,
        max_objects: int = 4,
        subpixel: bool = True,
        noise_std: float = 0.0,
    ) -> None:
        self.n = check_int("n", n, low=0)
        self.size = check_int("size", size, low=MIN_SIZE, high=1024)
        self.seed = check_int("seed", seed, low=0)
        self.max_disparity = check_float("max_disparity", max_disparity, low=1.0, high=self.size / 2)
        self.max_objects = check_int("max_objects", max_objects, low=1, high=25)
        self.subpixel = check_bool("subpixel", subpixel)
        self.noise_std = check_float("noise_std", noise_std, low=0.0, high=1.0)
        self.focal_length = float(self.size)
        self.baseline = 0.1

    def __len__(self) -> int:
        return self.n

    def sample(self, index: int) -> dict[str, torch.Tensor]:
        """Everything about pair ``index``: ``left``, ``right`` [3, H, W]; dense ``disparity`` [H,
        W]; ``valid`` bool [H, W]; ``depth`` [H, W] in metres; ``masks`` bool [K, H, W] (left
        view)."""
        index = check_index(index, self.n)
        rng = sample_rng(self.seed, index)
        count = int(rng.integers(1, self.max_objects + 1))
        layout, _ = sample_layout(rng, self.size, count)
        d_max = self.max_disparity
        d0 = rng.uniform(0.1, 0.3) * d_max
        d = np.sort(
            rng.uniform(d0 + 0.2 * d_max, d_max, len(layout.shapes))
        )  # nearer = painted later
        if not self.subpixel:
            d0, d = max(1.0, round(d0)), np.maximum(1.0, np.round(d))
        out = render_stereo(layout, d0, d)
        for view in ("left", "right"):
            if self.noise_std > 0:
                noisy = out[view] + rng.normal(0, self.noise_std, out[view].shape)
                out[view] = (np.round(np.clip(noisy, 0, 1) * 255) / 255).astype(np.float32)
            out[view] = torch.from_numpy(
                np.ascontiguousarray(out[view].transpose(2, 0, 1))
            )  # [3, H, W]
        out["disparity"] = torch.from_numpy(out["disparity"])
        out["valid"] = torch.from_numpy(out["valid"])
        out["masks"] = torch.from_numpy(out["masks"])
        out["depth"] = self.focal_length * self.baseline / out["disparity"]
        return out

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s = self.sample(index)
        return s["left"], s["right"], torch.where(s["valid"], s["disparity"], torch.zeros(()))

    def __repr__(self) -> str:
        return (
            f"StereoShapes(n={self.n}, size={self.size}, seed={self.seed}, "
            f"max_disparity={self.max_disparity})"
        )
