"""The stuff of a shapes scene: the sky / ground / water regions and their textures.

The background plane is a function of continuous coordinates ``(x, y)``, so a stereo view can render
it exactly at shifted coordinates ``x + d`` (:mod:`cvcourse.data.stereo`). Used by
:func:`cvcourse.data.shapes.render`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .geometry import THING_CLASSES

if TYPE_CHECKING:
    from .shapes import Layout

STUFF_CLASSES: tuple[str, ...] = ("sky", "ground", "water")
VOID_ID = 0
CATEGORIES: tuple[str, ...] = ("void", *THING_CLASSES, *STUFF_CLASSES)  # id -> name
STUFF_IDS: tuple[int, ...] = tuple(range(1 + len(THING_CLASSES), len(CATEGORIES)))  # (6, 7, 8)
SKY, GROUND, WATER = STUFF_IDS


def _smooth_noise(noise: np.ndarray, x: np.ndarray, y: np.ndarray, size: int) -> np.ndarray:
    """Value noise: the [6, 18] lattice ``noise`` bilinearly interpolated at columns ``x`` [1, W]
    and rows ``y`` [H, 1] -> [H, W], values in [-1, 1].

    One lattice cell is ``size / 3`` pixels, so the image spans 3 x 3 cells (rows 1 .. 4, columns
    6 .. 9); the other columns leave room for the shifted coordinates ``x + d`` of stereo views
    (``-2 size <= x + d <= 3.6 size``). Bilinear interpolation is separable, a tent kernel
    ``max(0, 1 - |t - j|)`` along each axis, so it is two small matrix products:
    ``noise(y, x) = Wy @ lattice @ Wx^T``.
    """
    v = y.ravel() / (size / 3) + 1  # [H] lattice row coordinates
    u = x.ravel() / (size / 3) + 6  # [W] lattice column coordinates
    wy = np.maximum(0, 1 - np.abs(v[:, None] - np.arange(noise.shape[0])))  # [H, 6]
    wx = np.maximum(0, 1 - np.abs(u[:, None] - np.arange(noise.shape[1])))  # [W, 18]
    return wy @ noise @ wx.T  # [H, W]


def _stuff_map(layout: Layout, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Stuff category id (sky / ground / water) at points ``(x, y)`` of the background plane."""
    amp, freq, phase = layout.wave
    stuff = np.where(y < layout.horizon + layout.slope * (x - layout.size / 2), SKY, GROUND)
    if layout.water is not None:
        stuff = np.where(y > layout.water + amp * np.sin(freq * x + phase), WATER, stuff)
    return stuff


def _background(layout: Layout, x: np.ndarray, y: np.ndarray, stuff: np.ndarray) -> np.ndarray:
    """RGB [H, W, 3] of the background at columns ``x`` [1, W] and rows ``y`` [H, 1]: each stuff
    region mixes its two colours with a texture of its own (sky: vertical gradient, ground: smooth
    noise, water: wave stripes)."""
    n = layout.size
    # float32 is plenty for colours and several times faster than float64 for sin.
    x, y = x.astype(np.float32), y.astype(np.float32)
    noise = _smooth_noise(layout.noise.astype(np.float32), x, y, n)  # [H, W] in [-1, 1]
    phase = layout.wave[2]
    sky = np.minimum(y / max(layout.horizon, 1.0), 1) + 0.15 * noise  # gradient down to the horizon
    ground = 0.5 + 0.6 * noise
    waves = np.float32(16 * np.pi / n) * y + 2 * noise + np.float32(phase)  # eight per image
    water = 0.5 + 0.4 * np.sin(waves)
    mix = np.where(stuff == SKY, sky, np.where(stuff == GROUND, ground, water))
    mix = np.minimum(np.maximum(mix, 0), 1)[..., None]  # [H, W, 1]
    pairs = np.stack([layout.colours[k] for k in STUFF_IDS]).astype(np.float32)  # [3, 2, 3 rgb]
    region = stuff - STUFF_IDS[0]  # [H, W] in 0 .. 2
    first = np.take(pairs[:, 0], region, axis=0)  # [H, W, 3]
    second = np.take(pairs[:, 1], region, axis=0)  # [H, W, 3]
    return first + (second - first) * mix
