"""Annotations over images: boxes with class and score tags, binary/semantic/instance masks, panoptic maps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.colors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

from cvcourse._checks import check_float, check_type
from cvcourse.viz.images import _as_numpy, _show, to_image
from cvcourse.viz.style import palette

__all__ = ["draw_boxes", "overlay_mask", "overlay_panoptic"]


def draw_boxes(
    ax: Axes,
    boxes: Any,
    labels: Any = None,
    scores: Any = None,
    class_names: Sequence[str] | None = None,
    colors: Any = None,
    linewidth: float = 2.0,
) -> list[Rectangle]:
    """Draw boxes on ``ax``, with a "name: score" tag on each box when labels or scores are given.

    Boxes are in pixel-edge coordinates (COCO, torchvision, ``cvcourse.data``): pixel (row i,
    column j) covers [j, j + 1) x [i, i + 1), so the box of a mask spanning columns 3..5 has
    x1 = 3, x2 = 6. ``imshow`` draws pixel j centred on x = j, covering [j - 0.5, j + 0.5), so
    every box is shifted by -0.5 to hug its pixels on an image drawn with imshow's default extent.

    Args:
        boxes: Tensor[N, 4] or ndarray [N, 4] in (x1, y1, x2, y2) format, x1 <= x2, y1 <= y2.
        labels: Tensor[N] of int class ids (colour and name per class), or None.
        scores: Tensor[N] of confidences, shown with two decimals, or None.
        class_names: names indexed by label (e.g. ``("background", "circle", ...)``).
        colors: one colour for all boxes, or a sequence of colours indexed by label (or by box if
            there are no labels). Default: the ``palette``.
        linewidth: box edge width in points.

    Returns:
        the list of N ``Rectangle`` patches added to ``ax``.
    """
    check_type("ax", ax, Axes, "a matplotlib Axes")
    linewidth = check_float("linewidth", linewidth, low=0.0)
    boxes = _as_numpy(boxes, "boxes").astype(np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)  # no detections: an empty [0, 4], however it was shaped
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be [N, 4] in (x1, y1, x2, y2) format, got shape {boxes.shape}")
    if np.any(boxes[:, 2] < boxes[:, 0]) or np.any(boxes[:, 3] < boxes[:, 1]):
        raise ValueError(
            "boxes must be (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2; "
            "got a box with x2 < x1 or y2 < y1 "
            "(is it in (x, y, w, h) or (cx, cy, w, h) format?)"
        )
    n = len(boxes)
    extras = {}
    for name, value in (("labels", labels), ("scores", scores)):
        if value is not None:
            extras[name] = _as_numpy(value, name).reshape(-1)
            if len(extras[name]) != n:
                raise ValueError(f"{name} must have one entry per box ({n}), got {len(extras[name])}")
    labels, scores = extras.get("labels"), extras.get("scores")
    if labels is not None:
        labels = labels.astype(np.int64)
    if class_names is not None and labels is not None and n and labels.max() >= len(class_names):
        raise ValueError(f"labels go up to {labels.max()} but class_names has {len(class_names)} names")
    keys = labels if labels is not None else np.arange(n)  # what picks the colour
    if colors is None:
        colors = palette(10)
    elif matplotlib.colors.is_color_like(colors):
        colors = [colors]  # one colour for every box
    patches = []
    for i, (x1, y1, x2, y2) in enumerate(boxes - 0.5):  # pixel edges -> imshow coordinates
        color = colors[int(keys[i]) % len(colors)]
        rect = Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=linewidth)
        ax.add_patch(rect)
        patches.append(rect)
        parts = []
        if labels is not None:
            parts.append(class_names[labels[i]] if class_names is not None else str(labels[i]))
        if scores is not None:
            parts.append(f"{scores[i]:.2f}")
        if parts:
            ax.text(
                x1,
                y1,
                ": ".join(parts),
                color="white",
                fontsize="small",
                va="bottom",
                bbox=dict(facecolor=color, edgecolor="none", pad=1.0, alpha=0.8),
            )
    return patches


def _mask_colors(n: int, colors: Any) -> np.ndarray:
    table = np.asarray(palette(max(n, 1)) if colors is None else colors, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] not in (3, 4) or len(table) < n:
        raise ValueError(f"colors must be a sequence of at least {n} RGB colours, got shape {table.shape}")
    return table[:, :3]


def _borders(ids: np.ndarray) -> np.ndarray:
    """bool [H, W]: pixels whose right or lower neighbour has another id (a one-pixel outline)."""
    border = np.zeros(ids.shape, dtype=bool)
    border[:-1, :] |= ids[:-1, :] != ids[1:, :]
    border[:, :-1] |= ids[:, :-1] != ids[:, 1:]
    return border


def overlay_mask(
    ax: Axes, image: Any, mask: Any, alpha: float = 0.5, colors: Any = None, background: int | None = 0
) -> AxesImage:
    """Draw ``image`` and colour ``mask`` over it.

    Three kinds of mask:

    * binary [H, W] bool (or 0/1): one colour where the mask is true;
    * semantic [H, W] int class ids: one colour per class, ``background`` left transparent
      (``background=None`` colours every class);
    * instance [K, H, W] binary masks: one colour per instance, outlined in white (two
      touching instances of one colour stay apart; later masks cover earlier ones).

    Args:
        ax: the Axes to draw on.
        image: as accepted by ``to_image``, or None for the mask alone.
        mask: one of the three kinds above (tensor or ndarray).
        alpha: opacity of the colours in [0, 1].
        colors: RGB colours indexed by class id (semantic) or by instance; default ``palette``.
        background: class id left transparent in a semantic mask.

    Returns:
        the overlay ``AxesImage`` (RGBA, [H, W, 4]).
    """
    check_type("ax", ax, Axes, "a matplotlib Axes")
    mask = _as_numpy(mask, "mask")
    alpha = check_float("alpha", alpha, low=0.0, high=1.0)
    if mask.ndim == 3:  # instance masks [K, H, W] -> ids [H, W], 0 = none, k + 1 = instance k
        ids = np.zeros(mask.shape[1:], dtype=np.int64)
        for k in range(mask.shape[0]):
            ids[mask[k].astype(bool)] = k + 1
        rgb = np.concatenate([np.zeros((1, 3)), _mask_colors(mask.shape[0], colors)])[ids]
        border = _borders(ids)
        rgb[border] = 1.0
        visible = (ids > 0) | border
    elif mask.ndim == 2:
        if mask.dtype == np.bool_ or np.issubdtype(mask.dtype, np.floating):
            if mask.dtype != np.bool_ and not np.all((mask == 0) | (mask == 1)):
                raise ValueError("a float mask must hold only 0 and 1; pass class ids as integers")
            mask = mask.astype(np.int64)
            background = 0
        if np.any(mask < 0):
            raise ValueError(f"mask class ids must be >= 0, got minimum {mask.min()}")
        n_classes = int(mask.max()) + 1 if mask.size else 1
        table = (
            _mask_colors(n_classes, colors)
            if colors is not None or n_classes > 2
            else np.asarray([(0.0, 0.0, 0.0), palette(2)[1]])
        )  # binary: a single colour
        rgb = table[mask]
        visible = mask != background if background is not None else np.ones(mask.shape, bool)
    else:
        raise ValueError(
            f"mask must be [H, W] (binary or class ids) or [K, H, W] (instances), got shape {mask.shape}"
        )
    if image is not None:
        picture = to_image(image)
        if picture.shape[:2] != mask.shape[-2:]:
            raise ValueError(
                f"mask must cover the image: image is {picture.shape[:2]}, mask is {mask.shape[-2:]}"
            )
        _show(ax, picture)
    rgba = np.concatenate([rgb, (alpha * visible)[..., None]], axis=-1)  # [H, W, 4]
    overlay = ax.imshow(rgba, interpolation="nearest")
    ax.set_axis_off()
    return overlay


def overlay_panoptic(
    ax: Axes, image: Any, panoptic: Any, alpha: float = 0.5, colors: Any = None
) -> AxesImage:
    """Colour a panoptic map over ``image``: one hue per class, one shade per instance of it.

    Args:
        ax: the Axes to draw on.
        image: as accepted by ``to_image``, or None.
        panoptic: [H, W, 2] ints, ``[..., 0]`` the semantic class id (0 = unlabelled, transparent),
            ``[..., 1]`` the instance id (0 for "stuff" classes).
        alpha: opacity in [0, 1].
        colors: RGB colours indexed by class id; default ``palette``.

    Returns:
        the overlay ``AxesImage``.
    """
    check_type("ax", ax, Axes, "a matplotlib Axes")
    panoptic = _as_numpy(panoptic, "panoptic")
    alpha = check_float("alpha", alpha, low=0.0, high=1.0)
    if panoptic.ndim != 3 or panoptic.shape[-1] != 2:
        raise ValueError(f"panoptic must be [H, W, 2] (class id, instance id), got shape {panoptic.shape}")
    classes, instances = panoptic[..., 0].astype(np.int64), panoptic[..., 1].astype(np.int64)
    if classes.size and (classes.min() < 0 or instances.min() < 0):
        raise ValueError("panoptic class and instance ids must be >= 0")
    table = _mask_colors(int(classes.max()) + 1 if classes.size else 1, colors)
    # Instances of one class: the class colour in three shades (x 0.6, 0.8, 1.0) by instance id.
    shade = np.where(instances == 0, 1.0, 0.6 + 0.4 * (instances % 3) / 2.0)[..., None]
    rgb = np.clip(table[classes] * shade, 0.0, 1.0)
    # Segment borders in white, so that touching instances of one class stay apart.
    segment = classes * (int(instances.max()) + 1 if instances.size else 1) + instances  # [H, W]
    border = _borders(segment)
    rgb[border] = 1.0
    if image is not None:
        picture = to_image(image)
        if picture.shape[:2] != classes.shape:
            raise ValueError(
                f"panoptic must cover the image: image is {picture.shape[:2]}, panoptic is {classes.shape}"
            )
        _show(ax, picture)
    visible = (classes != 0) | border
    rgba = np.concatenate([rgb, (alpha * visible)[..., None]], axis=-1)  # [H, W, 4]
    overlay = ax.imshow(rgba, interpolation="nearest")
    ax.set_axis_off()
    return overlay
