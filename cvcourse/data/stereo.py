"""Rendered stereo pairs with exact disparity: fronto-parallel layers, or shapes standing on a ground plane.

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

Two scenes (``StereoShapes(..., scene=...)``):

* ``"layers"`` (default): the background and every shape at random, independent disparities. One
  image then carries **no depth cue**: nothing in the left view tells how far a plane is, so a
  monocular network can only learn the typical disparity.
* ``"ground"``: a tilted ground plane seen by a camera looking slightly down, as in KITTI (Geiger et
  al. 2012). A plane's disparity is affine in the image coordinates; for a ground plane it depends on
  the row only, ``d(v) = a + b v`` with ``b > 0`` (zero at the horizon ``v_h = -a / b``, above the
  image here, growing towards the bottom rows). Its texture is laid on the plane, so its columns are
  ``d(v)`` times wider near the camera (texture gradient); every shape stands on the ground, its
  disparity is the ground's at its lowest row and its size is proportional to its disparity (a
  shape of fixed physical size). So height in the image, size and texture scale all tell depth:
  the monocular cues real scenes have (Hoiem et al. 2005; Dijk & de Croon 2019,
  https://arxiv.org/abs/1905.07005, show that monocular networks on KITTI read mostly the height in
  the image).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from cvcourse._checks import check_bool, check_choice, check_float, check_int, check_type

from .datasets import check_index
from .geometry import THING_IDS, rasterise
from .shapes import (
    MIN_SIZE,
    Layout,
    ShapeSpec,
    _contrasting_colour,
    render,
    sample_layout,
    sample_rng,
    shape_mask,
)

__all__ = ["SCENES", "GroundPlane", "StereoShapes", "render_stereo", "sample_ground", "render_ground_stereo"]

SCENES = ("layers", "ground")


def _seen_by_right_camera(layout: Layout, disparity: np.ndarray, disparities: np.ndarray) -> np.ndarray:
    """bool [H, W]: the left pixels whose point the right camera sees (in view, not occluded).

    ``disparity`` [H, W] is the dense left-view disparity, ``disparities`` [K] the shapes' planes.
    """
    n = layout.size
    centres = np.arange(n) + 0.5
    xx, yy = np.meshgrid(centres, centres)  # [H, W] pixel centres of the left view
    x_right = xx - disparity  # where each left pixel's point lands in the right view
    valid = (x_right >= 0) & (x_right < n)
    for k, s in enumerate(layout.shapes):
        # A point on a farther surface is hidden in the right view when shape k covers x_right
        # there, i.e. when the left-frame point x_right + d_k is inside shape k.
        farther = disparity < disparities[k]
        hidden = shape_mask(s.label, x_right + disparities[k], yy, s.cx, s.cy, s.radius, s.angle)
        valid &= ~(farther & hidden)
    return valid


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
            f"disparities must have shape ({len(layout.shapes)},), one per shape, got {disparities.shape}"
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

    valid = _seen_by_right_camera(layout, disparity, disparities)
    return {
        "left": left,
        "right": right,
        "disparity": disparity.astype(np.float32),
        "valid": valid,
        "masks": masks,
    }


@dataclass
class GroundPlane:
    r"""A textured ground plane whose disparity grows linearly down the image, :math:`d(v) = a + b v`.

    With the camera at height :math:`h` above the ground, its horizon at row :math:`v_h` and focal
    length :math:`f`, a ground point seen at row :math:`v` lies at depth :math:`z = f h / (v - v_h)`,
    so its disparity :math:`d = B f / z = (B / h)(v - v_h)` is affine in the row. Here the plane is
    given by its disparity ``near`` at the bottom edge (:math:`v = H`) and its ``horizon``
    :math:`v_h < 0` (above the image, so every row has :math:`d > 0`):
    :math:`b = \text{near} / (H - v_h)`, :math:`a = -b\, v_h`.

    The texture is value noise laid on the plane: its lattice column is
    :math:`(u - W/2) / (c\, d(v))` (a ground strip of fixed width looks :math:`d(v)` times wider near
    the camera, the texture gradient), its lattice row :math:`8 v / H`. It is a function of
    continuous coordinates, so the right view, which shows at ``(x, v)`` what the left one shows at
    ``(x + d(v), v)``, is rendered exactly.
    """

    size: int
    near: float  # disparity at the bottom edge, pixels
    horizon: float  # row v_h where the disparity would be 0 (< 0: above the image)
    noise: np.ndarray  # [10, C] lattice in [-1, 1]
    colours: np.ndarray  # [2, 3] dark and light colour of the texture
    integer: bool = False  # round each row's disparity to whole pixels (>= 1)
    cell: float = 0.75  # lattice column width in pixels per pixel of disparity

    def disparity(self, v: np.ndarray) -> np.ndarray:
        """Disparity of the ground at rows ``v`` (pixel-centre coordinates, any shape)."""
        d = self.near * (np.asarray(v, dtype=np.float64) - self.horizon) / (self.size - self.horizon)
        return np.maximum(1.0, np.round(d)) if self.integer else d

    def texture(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """RGB float32 [H, W, 3] of the ground at left-view points ``(x [H, W], y [H, 1])``, 8 bits."""
        n = self.size
        smooth = self.near * (y - self.horizon) / (n - self.horizon)  # [H, 1] unrounded d(v)
        u = (x - n / 2) / (self.cell * smooth) + self.noise.shape[1] / 2  # [H, W] lattice columns
        v = np.broadcast_to(8 * y / n + 1, u.shape)  # [H, W] lattice rows
        u0, v0 = np.floor(u).astype(int), np.floor(v).astype(int)
        fu, fv = u - u0, v - v0
        lattice = self.noise
        value = (  # bilinear interpolation of the lattice
            lattice[v0, u0] * (1 - fu) * (1 - fv)
            + lattice[v0, u0 + 1] * fu * (1 - fv)
            + lattice[v0 + 1, u0] * (1 - fu) * fv
            + lattice[v0 + 1, u0 + 1] * fu * fv
        )
        mix = np.clip(0.5 + 0.8 * value, 0, 1)[..., None]  # high contrast, for photometric matching
        rgb = self.colours[0] + (self.colours[1] - self.colours[0]) * mix
        return (np.rint(np.clip(rgb, 0, 1) * 255) / 255).astype(np.float32)


def sample_ground(
    rng: np.random.Generator, size: int, max_disparity: float, max_objects: int, integer: bool = False
) -> tuple[Layout, GroundPlane, np.ndarray]:
    """Draw a ground plane and 1 .. ``max_objects`` shapes standing on it.

    The plane's disparity is ``near`` in ``[0.7, 0.95] * max_disparity`` at the bottom edge and
    ``[0.15, 0.3] * max_disparity`` at the top edge. A shape's lowest point is drawn in the lower
    55 % of the image; its circumradius is ``k * d * size / (4 max_disparity)`` with ``k`` in
    ``[0.4, 0.65]`` (size proportional to disparity); its disparity is the ground's at its lowest
    pixel row. Returns ``(layout, plane, disparities)``, the shapes sorted far to near.
    """
    near = rng.uniform(0.7, 0.95) * max_disparity
    top = rng.uniform(0.15, 0.3) * max_disparity  # disparity at v = 0
    horizon = -size * top / (near - top)  # d(0) = near * (0 - v_h) / (H - v_h) = top
    columns = 2 * int(np.ceil(2 * size / (0.75 * 0.15 * max_disparity))) + 4  # |u - W/2| <= 2 W
    base = np.array([[0.12, 0.14, 0.06], [0.85, 0.75, 0.5]])
    plane = GroundPlane(
        size=size,
        near=near,
        horizon=horizon,
        noise=rng.uniform(-1, 1, (10, columns)),
        colours=np.clip(base + rng.normal(0, 0.06, (2, 3)), 0, 1),
        integer=integer,
    )
    layout, _ = sample_layout(rng, size, 1)  # a Layout to carry the shapes (its background is unused)
    layout.shapes, layout.windows = [], []
    shapes, disparities = [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        label = THING_IDS[rng.integers(len(THING_IDS))]
        lowest = rng.uniform(0.45, 1.0) * size  # where the shape touches the ground
        radius = rng.uniform(0.4, 0.65) * float(plane.disparity(lowest)) * size / (4 * max_disparity)
        radius = float(np.clip(radius, 2.0, size / 2 - 1))
        cx, cy = rng.uniform(radius, size - radius), max(radius, lowest - radius)
        angle = rng.uniform(0, 2 * np.pi)
        rows, _, mask = rasterise(label, cx, cy, radius, angle, size)
        if not mask.any():
            continue
        bottom_row = rows.start + int(np.nonzero(mask.any(axis=1))[0].max())
        spec = ShapeSpec(label, cx, cy, radius, angle, _contrasting_colour(rng, plane.colours))
        spec.shade = rng.uniform(0, 2 * np.pi)
        shapes.append(spec)
        disparities.append(float(plane.disparity(bottom_row + 0.5)))  # standing on the ground
    order = np.argsort(disparities, kind="stable")  # far to near: nearer shapes painted later
    layout.shapes = [shapes[i] for i in order]
    return layout, plane, np.array(disparities, dtype=np.float64)[order]


def render_ground_stereo(
    layout: Layout, plane: GroundPlane, disparities: np.ndarray
) -> dict[str, np.ndarray]:
    """Render the left and right views of shapes standing on a ground plane, and the left disparity.

    The background's disparity is the plane's ``d(v)``, a function of the row; the right view shows at
    ``(x, v)`` the ground's left-view point ``(x + d(v), v)`` and shape ``k`` shifted by
    ``disparities[k]``. Same outputs as :func:`render_stereo`.

    Args:
        layout: the shapes (its background is replaced by the plane).
        plane: the ground.
        disparities: float [K], non-decreasing, each ``>=`` the ground's disparity on every row the
            shape covers (true for shapes standing on the ground, :func:`sample_ground`).
    """
    check_type("layout", layout, Layout, "a Layout")
    check_type("plane", plane, GroundPlane, "a GroundPlane")
    n = layout.size
    disparities = np.asarray(disparities, dtype=np.float64)
    if disparities.shape != (len(layout.shapes),) or np.any(np.diff(disparities) < 0):
        raise ValueError(
            f"disparities must be non-decreasing with shape ({len(layout.shapes)},), "
            f"got {disparities.tolist()}"
        )
    left, masks, _ = render(layout, shape_shifts=np.zeros(len(disparities)))
    right, right_masks, _ = render(layout, shape_shifts=disparities)
    x = (np.arange(n) + 0.5)[None, :]  # [1, W] pixel-centre columns
    y = (np.arange(n) + 0.5)[:, None]  # [H, 1] pixel-centre rows
    ground = plane.disparity(y)  # [H, 1]
    for k, m in enumerate(masks):
        if m.any() and disparities[k] < ground[np.nonzero(m.any(axis=1))[0].max(), 0]:
            raise ValueError(f"shape {k} (disparity {disparities[k]}) lies behind the ground it covers")
    left = np.where(masks.any(0)[..., None], left, plane.texture(np.broadcast_to(x, (n, n)), y))
    right = np.where(right_masks.any(0)[..., None], right, plane.texture(x + ground, y))
    disparity = np.broadcast_to(ground, (n, n)).copy()
    for k, m in enumerate(masks):
        disparity[m] = disparities[k]
    return {
        "left": left.astype(np.float32),
        "right": right.astype(np.float32),
        "disparity": disparity.astype(np.float32),
        "valid": _seen_by_right_camera(layout, disparity, disparities),
        "masks": masks,
    }


class StereoShapes(Dataset):
    """Rectified stereo pairs of shapes scenes with exact disparity, ``(left, right, disparity)``.

    ``left``, ``right`` are FloatTensor[3, H, W] in [0, 1]; ``disparity`` is FloatTensor[H, W] in
    pixels in the left view, ``u_R = u_L - d``, and 0 where the left pixel has no match in the right
    image (occluded or out of view). The background plane has a disparity ``d_0`` in
    ``[0.1, 0.3] * max_disparity``, each shape one in ``[d_0 + 0.2 * max_disparity, max_disparity]``
    (nearer shapes painted later). Depth: ``depth = focal_length * baseline / disparity``.
    With ``scene="ground"`` the background is a ground plane, ``d(v) = a + b v`` from
    ``[0.15, 0.3] * max_disparity`` at the top row to ``[0.7, 0.95] * max_disparity`` at the
    bottom, and the shapes stand on it (:func:`sample_ground`): one image then carries depth cues.

    Args:
        n: number of pairs (>= 0).
        size: image side in pixels (16 .. 1024).
        seed: seed of the whole data set.
        max_disparity: largest disparity in pixels (1 .. size / 2).
        max_objects: most shapes per scene (count uniform in 1 .. max_objects).
        subpixel: real-valued disparities (default); False rounds every plane to whole pixels
            (then ``left[v, u] == right[v, u - d]`` exactly on valid pixels).
        noise_std: independent Gaussian sensor noise added to each view (default none).
        scene: ``"layers"`` (fronto-parallel planes at random depths, no monocular depth cue) or
            ``"ground"`` (shapes standing on a textured, tilted ground plane).

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
        scene: str = "layers",
    ) -> None:
        self.n = check_int("n", n, low=0)
        self.size = check_int("size", size, low=MIN_SIZE, high=1024)
        self.seed = check_int("seed", seed, low=0)
        self.max_disparity = check_float("max_disparity", max_disparity, low=1.0, high=self.size / 2)
        self.max_objects = check_int("max_objects", max_objects, low=1, high=25)
        self.subpixel = check_bool("subpixel", subpixel)
        self.noise_std = check_float("noise_std", noise_std, low=0.0, high=1.0)
        self.scene = check_choice("scene", scene, SCENES)
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
        if self.scene == "ground":
            layout, plane, d = sample_ground(
                rng, self.size, self.max_disparity, self.max_objects, integer=not self.subpixel
            )
            return self._tensors(render_ground_stereo(layout, plane, d), rng)
        count = int(rng.integers(1, self.max_objects + 1))
        layout, _ = sample_layout(rng, self.size, count)
        d_max = self.max_disparity
        d0 = rng.uniform(0.1, 0.3) * d_max
        d = np.sort(rng.uniform(d0 + 0.2 * d_max, d_max, len(layout.shapes)))  # nearer = painted later
        if not self.subpixel:
            d0, d = max(1.0, round(d0)), np.maximum(1.0, np.round(d))
        return self._tensors(render_stereo(layout, d0, d), rng)

    def _tensors(self, out: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        for view in ("left", "right"):
            if self.noise_std > 0:
                noisy = out[view] + rng.normal(0, self.noise_std, out[view].shape)
                out[view] = (np.round(np.clip(noisy, 0, 1) * 255) / 255).astype(np.float32)
            out[view] = torch.from_numpy(np.ascontiguousarray(out[view].transpose(2, 0, 1)))  # [3, H, W]
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
            f"max_disparity={self.max_disparity}, scene={self.scene!r})"
        )
