"""Synthetic "shapes" scenes: the one scene generator behind every synthetic data set of the course.

A scene is a textured background split into *stuff* regions (sky, ground, water) with coloured,
rotated *thing* shapes (circle, square, triangle, cross, star) painted on top, later shapes
occluding earlier ones. Everything is procedural: a :class:`Layout` holds the parameters (region
boundaries, noise lattices, shape centres, radii, angles, colours) and :func:`render` evaluates them
at pixel centres. Because the picture is a function of continuous coordinates, the same layout can
be rendered with every layer shifted sideways, which is how :mod:`cvcourse.data.stereo` makes the
right view of a stereo pair with exact (sub-pixel) ground truth.

Things and stuff follow Kirillov et al., "Panoptic Segmentation" (CVPR 2019, arXiv:1801.00868):
countable objects with instances (things) versus amorphous regions (stuff); boxes and panoptic maps
follow COCO (arXiv:1405.0312) and the formats torchvision and torchmetrics consume.

Conventions (the same in every view of the data):

* Pixel ``(row i, column j)`` covers ``[j, j + 1) x [i, i + 1)``; its centre is
  ``(x, y) = (j + 0.5, i + 0.5)``. A pixel belongs to a shape when its centre is inside the shape
  (hard, aliased edges: labels are exact).
* Boxes are ``(x1, y1, x2, y2)`` in pixel-edge coordinates, tight around the *visible* mask:
  ``x1 = min column``, ``x2 = max column + 1``, so a box's area ``(x2 - x1) * (y2 - y1)`` counts
  pixels (COCO's convention; ``torchvision.ops.masks_to_boxes(masks) + [0, 0, 1, 1]``).
* One table of category ids, :data:`CATEGORIES`: ``0`` is "void" (never generated; free to use as
  an ignore label), things are ``1 .. 5`` (the detection labels, 0 = background as torchvision's
  detection models expect), stuff is ``6 .. 8``. A panoptic map is ``(H, W, 2)`` holding
  ``(category id, instance id)`` per pixel, the layout ``torchmetrics.detection.PanopticQuality``
  takes: instance ids are ``1 .. K`` for things (the index into ``boxes`` plus one), 0 for stuff.
* Determinism: a scene depends only on the ``numpy.random.Generator`` it is given; data sets derive
  it from ``(seed, index)`` with :func:`sample_rng`, so sample ``i`` has the same bytes whatever
  order it is read in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cvcourse._checks import check_bool, check_choice, check_float, check_int, check_type, describe

from .background import (
    CATEGORIES,
    GROUND,
    SKY,
    STUFF_CLASSES,
    STUFF_IDS,
    VOID_ID,
    WATER,
    _background,
    _stuff_map,
)
from .geometry import THING_CLASSES, THING_IDS, masks_to_boxes, rasterise, shape_mask

__all__ = [
    "THING_CLASSES",
    "STUFF_CLASSES",
    "CATEGORIES",
    "THING_IDS",
    "STUFF_IDS",
    "VOID_ID",
    "MIN_SIZE",
    "ShapeSpec",
    "Layout",
    "Scene",
    "sample_rng",
    "shape_mask",
    "masks_to_boxes",
    "sample_layout",
    "render",
    "render_scene",
]

# Smallest image side: below it a star and a circle are a few indistinguishable pixels.
MIN_SIZE = 16

# Base colours of the stuff regions (RGB in [0, 1]); each scene jitters them.
_STUFF_COLOURS = {
    SKY: ((0.45, 0.65, 0.95), (0.80, 0.90, 1.00)),  # top -> horizon gradient
    GROUND: ((0.35, 0.50, 0.20), (0.55, 0.42, 0.25)),  # grass <-> earth noise
    WATER: ((0.10, 0.30, 0.55), (0.25, 0.50, 0.70)),  # wave stripes
}


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` of a data set seeded with ``seed``.

    It is ``numpy.random.default_rng([seed, index])``: ``SeedSequence`` hashes the pair, so
    neighbouring seeds and indices give independent streams.
    """
    return np.random.default_rng([check_int("seed", seed, low=0), check_int("index", index, low=0)])


@dataclass
class ShapeSpec:
    """One thing: a shape of class ``label`` (1-based) with centre ``(cx, cy)`` in pixels,
    circumradius ``radius``, rotation ``angle`` (radians), fill ``colour`` (RGB) and a shading
    direction."""

    label: int
    cx: float
    cy: float
    radius: float
    angle: float
    colour: np.ndarray  # [3]
    shade: float = 0.0  # direction (radians) of the light-to-dark gradient across the shape


@dataclass
class Layout:
    """The parameters of a scene; :func:`render` turns them into pixels.

    The background is split by the horizon ``y = horizon + slope * (x - size / 2)`` into sky (above)
    and ground (below); when ``water`` is not None, ``y > water + amp * sin(freq * x + phase)`` is
    water. ``noise`` is a coarse lattice of random values bilinearly interpolated into smooth
    texture.
    """

    size: int
    horizon: float
    slope: float
    water: float | None
    wave: tuple[float, float, float]  # (amp px, freq rad/px, phase) of the shore line
    colours: dict[int, np.ndarray]  # stuff id -> [2, 3] pair of colours
    noise: np.ndarray  # [6, 18] lattice of values in [-1, 1], one cell = size / 3 pixels
    shapes: list[ShapeSpec] = field(default_factory=list)
    # (rows, cols, mask) of each shape unshifted, kept by sample_layout so that render need not
    # rasterise the shapes a second time (a pure cache: render recomputes them when it is empty).
    windows: list[tuple[slice, slice, np.ndarray]] = field(default_factory=list, repr=False)


@dataclass
class Scene:
    """A rendered scene with all its labels (numpy arrays; the data sets convert them to tensors).

    Attributes:
        image: float32 [H, W, 3] in [0, 1], quantised to 8 bits (so it equals ``uint8 / 255``).
        boxes: float32 [K, 4] ``(x1, y1, x2, y2)`` tight around the visible masks, pixel edges.
        labels: int64 [K] thing category ids in ``1 .. 5`` (0 = background is never a box).
        masks: bool [K, H, W] visible part of each thing (occlusion applied), never empty.
        semantic: int64 [H, W] category id of every pixel (things 1..5, stuff 6..8).
        panoptic: int64 [H, W, 2] ``(category id, instance id)``; instance ``k + 1`` is
            ``masks[k]``, 0 for stuff.
        layout: the parameters the scene was rendered from.
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    semantic: np.ndarray
    panoptic: np.ndarray
    layout: Layout


# ----------------------------------------------------------------------------- sampling
def _random_colours(rng: np.random.Generator, count: int) -> np.ndarray:
    """Saturated colours [count, 3]: random hue, saturation in [0.5, 1], value in [0.45, 1].

    HSV -> RGB with the closed form ``v - v s clip(min(k, 4 - k), 0, 1)``, ``k = (n + 6 h) mod 6``
    for ``n = 5, 3, 1`` (red, green, blue).
    """
    h, s, v = rng.uniform(0, 1, count), rng.uniform(0.5, 1.0, count), rng.uniform(0.45, 1.0, count)
    k = np.mod(np.array([5.0, 3.0, 1.0]) + h[:, None] * 6, 6)  # [count, 3]
    return v[:, None] - (v * s)[:, None] * np.minimum(np.maximum(np.minimum(k, 4 - k), 0), 1)


def _contrasting_colour(rng: np.random.Generator, background: np.ndarray, candidates: int = 4) -> np.ndarray:
    """Of a few random colours, the one farthest (worst case) from the background colours [M, 3]."""
    colours = _random_colours(rng, candidates)  # [C, 3]
    distance = ((colours[:, None] - background[None]) ** 2).sum(axis=-1).min(axis=1)  # [C] squared
    return colours[np.argmax(distance)]


def sample_layout(
    rng: np.random.Generator,
    size: int,
    num_objects: int,
    classes: tuple[int, ...] = THING_IDS,
    radius_range: tuple[float, float] = (0.1, 0.25),
    max_hidden: float = 0.5,
    tries: int = 20,
) -> tuple[Layout, np.ndarray]:
    """Draw a background and up to ``num_objects`` shapes, each fully inside the image.

    A new shape is rejected (and redrawn, ``tries`` times at most) when it would hide more than
    ``max_hidden`` of an earlier shape's visible pixels, so every kept shape stays recognisable;
    when all tries fail the scene simply has fewer shapes (never fewer than one).

    Args:
        rng: the sample's generator.
        size: image side in pixels.
        num_objects: how many shapes to try to place (>= 1).
        classes: thing ids to draw from, uniformly.
        radius_range: circumradius range as fractions of ``size`` (at least 3 px).
        max_hidden: the largest fraction of an earlier shape a new one may cover.
        tries: placement attempts per shape.

    Returns:
        ``(layout, visible)``: the layout and the bool [K, H, W] visible masks of its shapes.
    """
    _check_scene_args(rng, size, num_objects, classes, radius_range)
    check_float("max_hidden", max_hidden, low=0.0, high=1.0)
    check_int("tries", tries, low=1)
    layout = Layout(
        size=size,
        horizon=rng.uniform(0.15, 0.6) * size,
        slope=rng.uniform(-0.3, 0.3),
        water=rng.uniform(0.65, 0.9) * size if rng.uniform() < 0.5 else None,
        wave=(rng.uniform(0.5, 2.0), rng.uniform(0.1, 0.4) * 32 / size, rng.uniform(0, 2 * np.pi)),
        colours={
            k: np.clip(np.array(v) + rng.normal(0, 0.08, (2, 3)), 0, 1) for k, v in _STUFF_COLOURS.items()
        },
        noise=rng.uniform(-1, 1, (6, 18)),
    )
    background = np.concatenate(list(layout.colours.values()))  # [6, 3]
    visible: list[np.ndarray] = []  # [H, W] each, what is left to see of the shapes placed so far
    areas: list[int] = []  # pixel count of each visible mask
    r_lo = max(3.0, radius_range[0] * size)
    r_hi = max(r_lo, radius_range[1] * size)
    for _ in range(num_objects):
        for _ in range(tries):
            r = rng.uniform(r_lo, r_hi)
            spec = ShapeSpec(
                label=classes[rng.integers(len(classes))],
                cx=rng.uniform(r, size - r),
                cy=rng.uniform(r, size - r),
                radius=r,
                angle=rng.uniform(0, 2 * np.pi),
                colour=np.zeros(3),
            )
            rows, cols, mask = rasterise(spec.label, spec.cx, spec.cy, spec.radius, spec.angle, size)
            hidden = [np.count_nonzero(v[rows, cols] & mask) for v in visible]
            if mask.any() and all(h <= max_hidden * a for h, a in zip(hidden, areas, strict=True)):
                break
        else:
            continue  # no acceptable place for this shape: leave it out
        spec.colour, spec.shade = _contrasting_colour(rng, background), rng.uniform(0, 2 * np.pi)
        for v in visible:
            v[rows, cols] &= ~mask
        areas = [a - h for a, h in zip(areas, hidden, strict=True)] + [np.count_nonzero(mask)]
        full = np.zeros((size, size), dtype=bool)
        full[rows, cols] = mask
        visible.append(full)
        layout.shapes.append(spec)
        layout.windows.append((rows, cols, mask))
    return layout, np.array(visible, dtype=bool).reshape(len(visible), size, size)


def _check_scene_args(rng, size, num_objects, classes, radius_range) -> None:
    check_type("rng", rng, np.random.Generator, "a numpy.random.Generator (see sample_rng)")
    check_int("size", size, low=MIN_SIZE)
    check_int("num_objects", num_objects, low=1)
    check_type("classes", classes, (tuple, list), "a tuple of thing ids")
    if len(classes) == 0:
        raise ValueError(f"classes must hold at least one thing id of {THING_IDS}, got an empty one")
    for c in classes:
        check_choice("classes", c, THING_IDS)
    if not (isinstance(radius_range, (tuple, list)) and len(radius_range) == 2):
        raise TypeError(f"radius_range must be a pair (low, high), got {describe(radius_range)}")
    low = check_float("radius_range[0]", radius_range[0], low=0.0, high=0.5, low_inclusive=False)
    check_float("radius_range[1]", radius_range[1], low=low, high=0.5)  # inside the image


# ----------------------------------------------------------------------------- rendering
def render(
    layout: Layout,
    shift: float = 0.0,
    shape_shifts: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    noise_std: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rasterise a layout at the pixel centres, every layer optionally shifted to the left.

    A layer shifted by ``d`` shows at column ``x`` what the unshifted layer shows at ``x + d``: the
    stereo relation ``u_R = u_L - d``. ``shift`` moves the background plane, ``shape_shifts[k]``
    moves shape ``k``; shapes later in the list are painted over earlier ones.

    Args:
        layout: what to draw.
        shift: background shift in pixels.
        shape_shifts: float [K] per-shape shifts in pixels (default: ``shift`` for all).
        rng: generator of the sensor noise (needed when ``noise_std > 0``).
        noise_std: standard deviation of the additive pixel noise (uniform, zero mean: as good as
            Gaussian for the purpose and several times cheaper to draw).

    Returns:
        ``(image, masks, stuff)``: float32 [H, W, 3] in [0, 1] quantised to 8 bits; bool [K, H, W]
        visible masks; int64 [H, W] stuff id of the (possibly hidden) background.
    """
    check_type("layout", layout, Layout, "a Layout (see sample_layout)")
    check_float("shift", shift)
    check_float("noise_std", noise_std, low=0.0)
    if rng is not None:
        check_type("rng", rng, np.random.Generator, "a numpy.random.Generator or None")
    n, k = layout.size, len(layout.shapes)
    shape_shifts = np.full(k, shift) if shape_shifts is None else np.asarray(shape_shifts, float)
    if shape_shifts.shape != (k,):
        raise ValueError(f"shape_shifts must have shape ({k},), one per shape, got {shape_shifts.shape}")
    x = (np.arange(n) + 0.5)[None, :]  # [1, W] pixel-centre columns
    y = (np.arange(n) + 0.5)[:, None]  # [H, 1] pixel-centre rows
    stuff = _stuff_map(layout, x + shift, y)  # [H, W]
    image = _background(layout, x + shift, y, stuff)  # [H, W, 3]
    masks = np.zeros((k, n, n), dtype=bool)
    for i, (spec, d) in enumerate(zip(layout.shapes, shape_shifts, strict=True)):
        if d == 0 and len(layout.windows) == k:
            rows, cols, m = layout.windows[i]  # already rasterised by sample_layout
        else:
            rows, cols, m = rasterise(spec.label, spec.cx - d, spec.cy, spec.radius, spec.angle, n)
        # Shading: brighter on one side, darker on the other, so a shape is not a flat stamp.
        dx, dy = x[:, cols] + d - spec.cx, y[rows] - spec.cy  # [1, w], [h, 1]
        t = (dx * np.cos(spec.shade) + dy * np.sin(spec.shade)) / spec.radius  # [h, w]
        image[rows, cols][m] = spec.colour * (1 + 0.25 * t[m, None])
        masks[:i, rows, cols] &= ~m
        masks[i, rows, cols] = m
    if noise_std > 0:
        if rng is None:
            raise ValueError("rng must be a numpy Generator when noise_std > 0, got None")
        uniform = rng.random(image.shape, dtype=np.float32) - 0.5  # variance 1 / 12
        image = image + np.float32(noise_std * np.sqrt(12)) * uniform
    image = np.rint(np.minimum(np.maximum(image, 0), 1) * 255).astype(np.float32) / 255  # 8 bits
    return image, masks, stuff


def render_scene(
    rng: np.random.Generator,
    size: int = 64,
    num_objects: int = 4,
    classes: tuple[int, ...] = THING_IDS,
    radius_range: tuple[float, float] = (0.1, 0.25),
    noise_std: float = 0.02,
    random_count: bool = False,
) -> Scene:
    """Sample a layout and render it with every label (see :class:`Scene`).

    Args:
        rng: the sample's generator (:func:`sample_rng`); the scene depends on nothing else.
        size: image side in pixels (>= :data:`MIN_SIZE`).
        num_objects: shapes to place (some may be left out when they cannot be placed, never all).
        classes: thing ids to draw from.
        radius_range: shape circumradius range as fractions of ``size``.
        noise_std: sensor noise standard deviation.
        random_count: place a uniform random number ``1 .. num_objects`` of shapes instead.
    """
    _check_scene_args(rng, size, num_objects, classes, radius_range)
    check_float("noise_std", noise_std, low=0.0)
    if check_bool("random_count", random_count):
        num_objects = int(rng.integers(1, num_objects + 1))
    layout, _ = sample_layout(rng, size, num_objects, classes, radius_range)
    image, masks, stuff = render(layout, rng=rng, noise_std=noise_std)
    labels = np.array([s.label for s in layout.shapes], dtype=np.int64)
    semantic = stuff.astype(np.int64)
    instance = np.zeros((size, size), dtype=np.int64)
    for k, m in enumerate(masks):
        semantic[m] = labels[k]
        instance[m] = k + 1
    return Scene(
        image=image,
        boxes=masks_to_boxes(masks),
        labels=labels,
        masks=masks,
        semantic=semantic,
        panoptic=np.stack([semantic, instance], axis=-1),
        layout=layout,
    )
