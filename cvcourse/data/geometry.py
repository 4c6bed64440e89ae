"""The five thing shapes: inside tests, rasterisation at pixel centres, and tight boxes.

Each shape is an exact inside test in its own frame (no anti-aliasing, so labels are exact), the
same test :mod:`cvcourse.data.shapes` uses to paint and to label a scene. Tests check it against
``matplotlib.path.Path.contains_points`` on the shape's polygon, and :func:`masks_to_boxes`
against ``torchvision.ops.masks_to_boxes`` (+1 on x2 and y2: pixel-edge coordinates, as in COCO).
"""

from __future__ import annotations

import numpy as np

from cvcourse._checks import check_choice, check_int, check_type

__all__ = ["THING_CLASSES", "THING_IDS", "shape_mask", "rasterise", "masks_to_boxes"]

THING_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "star")
THING_IDS: tuple[int, ...] = tuple(range(1, 1 + len(THING_CLASSES)))  # (1, 2, 3, 4, 5)


def shape_mask(
    label: int, x: np.ndarray, y: np.ndarray, cx: float, cy: float, radius: float, angle: float
) -> np.ndarray:
    """Inside test of a thing at points ``(x, y)``: True where the point is inside the shape.

    The point is moved into the shape's frame, ``(p, q) = R(-angle) (x - cx, y - cy) / radius``, and
    tested against a unit shape that fits in the unit circle (so the whole shape lies within
    ``radius`` of its centre, which is how placement keeps shapes inside the image).
    """
    check_choice("label", check_int("label", label), THING_IDS)  # a thing id
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = x - cx, y - cy
    p = (c * dx + s * dy) / radius
    q = (-s * dx + c * dy) / radius
    name = THING_CLASSES[label - 1]
    if name == "circle":
        return p * p + q * q <= 0.81  # radius 0.9: a circle as large as the other shapes look
    if name == "square":
        return np.maximum(np.abs(p), np.abs(q)) <= 0.70  # half side 0.7 < 1/sqrt(2)
    if name == "triangle":
        # Equilateral triangle inscribed in the unit circle: inradius 1/2, one half-plane per edge,
        # edge normals at -90, 30 and 150 degrees (the vertices point the opposite way).
        h = np.sqrt(3) / 2  # cos 30 degrees
        return (-q <= 0.5) & (h * p + 0.5 * q <= 0.5) & (-h * p + 0.5 * q <= 0.5)
    if name == "cross":
        ap, aq = np.abs(p), np.abs(q)
        return ((ap <= 0.9) & (aq <= 0.3)) | ((aq <= 0.9) & (ap <= 0.3))
    if name == "star":
        # Five-pointed star, outer radius 1, inner radius 0.45. Fold the polar angle into one
        # half-spike: gamma = 0 at an inner corner I = (0.45, 0), gamma = pi/5 at the tip O. Inside
        # means on the origin's side of the edge I -> O.
        rho = np.hypot(p, q)
        beta = np.mod(np.arctan2(q, p) + np.pi / 2, 2 * np.pi / 5)  # a tip at angle -90 degrees (up)
        gamma = np.abs(beta - np.pi / 5)
        px, py = rho * np.cos(gamma), rho * np.sin(gamma)
        ox, oy, ix = np.cos(np.pi / 5), np.sin(np.pi / 5), 0.45
        return (ox - ix) * py - oy * (px - ix) >= 0.0
    raise AssertionError(name)  # unreachable: every thing class is handled above


def rasterise(
    label: int, cx: float, cy: float, radius: float, angle: float, size: int
) -> tuple[slice, slice, np.ndarray]:
    """The pixels of one shape in a ``size`` x ``size`` image, computed only in the window around
    it.

    Returns:
        ``(rows, cols, mask)``: slices of the image window and the bool [h, w] mask inside it, so
        that ``full[rows, cols] = mask`` gives the [H, W] mask. Pixel centres are ``index + 0.5``.
    """
    check_int("size", size, low=1)
    r0, r1 = max(int(np.floor(cy - radius)), 0), min(int(np.ceil(cy + radius)) + 1, size)
    c0, c1 = max(int(np.floor(cx - radius)), 0), min(int(np.ceil(cx + radius)) + 1, size)
    c1, r1 = max(c0, c1), max(r0, r1)  # a shape (shifted) out of the image has an empty window
    y = (np.arange(r0, r1) + 0.5)[:, None]  # [h, 1]
    x = (np.arange(c0, c1) + 0.5)[None, :]  # [1, w]
    mask = shape_mask(label, x, y, cx, cy, radius, angle)  # [h, w] by broadcasting
    return slice(r0, r1), slice(c0, c1), mask


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight ``(x1, y1, x2, y2)`` boxes, pixel-edge coordinates, of bool masks [K, H, W] -> float32
    [K, 4]."""
    check_type("masks", masks, np.ndarray, "a bool ndarray [K, H, W]")
    if masks.ndim != 3:
        raise ValueError(f"masks must have shape [K, H, W], got shape {list(masks.shape)}")
    boxes = np.zeros((len(masks), 4), dtype=np.float32)
    for k, m in enumerate(masks):
        if not m.any():
            raise ValueError(f"masks[{k}] must hold at least one pixel (an empty mask has no box)")
        cols, rows = np.flatnonzero(m.any(axis=0)), np.flatnonzero(m.any(axis=1))
        boxes[k] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return boxes
