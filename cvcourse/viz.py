"""Plotting shared by every chapter: image grids, boxes, masks, heatmaps and live widget figures.

Every chapter draws the same few things: a grid of images, boxes in ``(x1, y1, x2, y2)`` format on
top of an image, a binary / semantic / instance / panoptic mask over an image, a heatmap (attention,
class activation, disparity) over an image. They live here once so that every notebook looks alike.

Two kinds of figure:

* static figures (``show_images``) are ordinary pyplot figures: in a notebook with
  ``%matplotlib inline`` they show at the end of the cell (assign the result,
  ``fig = show_images(...)``, so that it is not shown twice);
* ``interactive_figure`` builds a figure whose canvas is an ipympl widget whatever the notebook's
  backend, so a widget can update artists in place (``line.set_data(...)``, then ``redraw(fig)``,
  or ``LiveArtists`` to redraw only what changed) and the picture changes at once; see
  ``cvcourse.livefig`` for what an update costs and why.

``projector()`` is a style with large fonts for lectures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import matplotlib
import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

# Live figures (ipympl canvas, fast redraws) live in cvcourse.livefig; re-exported here.
from cvcourse.livefig import LiveArtists, LiveColorbar, interactive_figure, redraw, relayout

__all__ = [
    "PROJECTOR_RC",
    "draw_boxes",
    "LiveArtists",
    "LiveColorbar",
    "interactive_figure",
    "nice_ceil",
    "overlay_mask",
    "overlay_panoptic",
    "palette",
    "projector",
    "redraw",
    "relayout",
    "show_heatmap",
    "show_images",
    "style_axes",
    "to_image",
]

# Font sizes readable from the back of a lecture hall.
PROJECTOR_RC: dict[str, Any] = {
    "font.size": 14,
    "axes.titlesize": 16,
    "axes.labelsize": 14,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "figure.titlesize": 18,
    "lines.linewidth": 2.5,
    "lines.markersize": 8,
}


@contextlib.contextmanager
def projector() -> Iterator[None]:
    """Context manager with large fonts and thick lines: ``with projector(): show_images(...)``."""
    with matplotlib.rc_context(PROJECTOR_RC):
        yield


def palette(n: int) -> list[tuple[float, float, float]]:
    """``n`` distinct RGB colours in [0, 1]: tab10 for up to 10, tab20 up to 20, then hsv."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if n <= 10:
        colors = plt.get_cmap("tab10").colors
    elif n <= 20:
        colors = plt.get_cmap("tab20").colors
    else:
        colors = [plt.get_cmap("hsv")(i / n)[:3] for i in range(n)]
    return [tuple(float(c) for c in color[:3]) for color in colors[:n]]


# ----------------------------------------------------------------------------- images


def to_image(image: Any, name: str = "image") -> np.ndarray:
    """Convert an image to a NumPy array that ``imshow`` draws as is.

    Accepts a torch tensor or an ndarray, [C, H, W] or [H, W, C] (C in 1, 3, 4) or [H, W], float in
    [0, 1] or uint8. Tensors are read as [C, H, W] (torch's layout) and arrays as [H, W, C] when the
    shape allows both. Colour floats are clipped to [0, 1] (imshow would clip them anyway, with a
    warning); grey images keep their values (``_show`` picks the grey scale's range).

    Returns:
        ndarray [H, W] or [H, W, 3|4].
    """
    is_tensor = isinstance(image, torch.Tensor)
    if is_tensor:
        image = image.detach().cpu()
        if image.dtype in (torch.float16, torch.bfloat16):  # NumPy has no bfloat16
            image = image.float()
        array = image.numpy()
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, "
                        f"got {type(image).__name__}")
    if array.ndim == 3:
        channels_first = array.shape[0] in (1, 3, 4)
        channels_last = array.shape[-1] in (1, 3, 4)
        if not (channels_first or channels_last):
            raise ValueError(f"{name} must be [C, H, W] or [H, W, C] with C in (1, 3, 4), "
                             f"got shape {tuple(array.shape)}")
        if channels_first and (is_tensor or not channels_last):
            array = np.moveaxis(array, 0, -1)  # [C, H, W] -> [H, W, C]
        if array.shape[-1] == 1:
            array = array[..., 0]
    elif array.ndim != 2:
        raise ValueError(f"{name} must have 2 or 3 dimensions, got shape {tuple(array.shape)}")
    if array.dtype == np.bool_:
        array = array.astype(np.float32)
    if array.ndim == 3 and np.issubdtype(array.dtype, np.floating):
        array = np.clip(array, 0.0, 1.0)
    return array


def _show(ax: Axes, picture: np.ndarray, cmap: str | None = None) -> AxesImage:
    """``imshow`` a ``to_image`` array; grey images on a fixed scale where the dtype says one.

    uint8 grey is drawn on 0..255 and float grey within [0, 1] on 0..1, so a dark image looks
    dark; any other grey image (a feature map, a depth map) is stretched to its own min..max.
    """
    if picture.ndim == 3:
        return ax.imshow(picture)
    limits = {}
    if picture.dtype == np.uint8:
        limits = {"vmin": 0, "vmax": 255}
    elif picture.size and 0.0 <= picture.min() and picture.max() <= 1.0:
        limits = {"vmin": 0.0, "vmax": 1.0}
    return ax.imshow(picture, cmap=cmap or "gray", **limits)


def show_images(images: Any, titles: Sequence[str] | None = None, ncols: int | None = None,
                cmap: str | None = None, figsize: tuple[float, float] | None = None,
                suptitle: str | None = None) -> Figure:
    """A grid of images, one per axes, without ticks.

    Args:
        images: a sequence of images (each as accepted by ``to_image``), or a batch tensor or
            array [N, C, H, W], [N, H, W, C] or [N, H, W].
        titles: one title per image.
        ncols: images per row (default: up to 8).
        cmap: colour map for grey images (default ``"gray"``).
        figsize: (width, height) in inches (default: 2 inches per image).
        suptitle: the title of the whole figure.

    Returns:
        the pyplot Figure.
    """
    if isinstance(images, (torch.Tensor, np.ndarray)):
        if images.ndim not in (3, 4):
            raise ValueError(f"images as one tensor/array must be a batch [N, C, H, W], "
                             f"[N, H, W, C] or [N, H, W], got shape {tuple(images.shape)}")
        images = list(images)
    elif not isinstance(images, Sequence) or isinstance(images, str):
        raise TypeError(f"images must be a sequence of images or a batch tensor, "
                        f"got {type(images).__name__}")
    if len(images) == 0:
        raise ValueError("images must hold at least one image, got an empty sequence")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must have one entry per image ({len(images)}), got {len(titles)}")
    arrays = [to_image(image, f"images[{i}]") for i, image in enumerate(images)]
    ncols = min(len(arrays), 8) if ncols is None else ncols
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be an int >= 1, got {ncols!r}")
    nrows = -(-len(arrays) // ncols)  # ceil
    figsize = figsize or (2.0 * ncols, 2.0 * nrows + (0.4 if suptitle else 0.0))
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(arrays):
            _show(ax, arrays[i], cmap)
            if titles is not None:
                ax.set_title(str(titles[i]))
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def nice_ceil(value: float, multiples: Sequence[float] = (1, 2, 2.5, 5, 10)) -> float:
    """The smallest ``m * 10**k`` (``m`` in ``multiples``, integer ``k``) that is ``>= value``.

    For axis limits that move in round steps: a widget keeps its axes (and their tick labels)
    while the data stay under the same round limit. ``multiples`` must increase from 1 to 10.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"value must be a finite number > 0, got {value!r}")
    if list(multiples) != sorted(multiples) or multiples[0] != 1 or multiples[-1] != 10:
        raise ValueError(f"multiples must increase from 1 to 10, got {tuple(multiples)!r}")
    decade = 10.0 ** np.floor(np.log10(value))
    # (1 - 1e-12): a value that is already round, up to rounding, stays where it is
    return float(decade * next(m for m in multiples if m * decade >= value * (1 - 1e-12)))


def style_axes(ax: Axes, title: str, xlabel: str | None = None, ylabel: str | None = None,
               grid: bool = False) -> Axes:
    """Give ``ax`` a title and axis labels (every course figure has them); returns ``ax``."""
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    if not isinstance(title, str) or not title:
        raise ValueError(f"title must be a non-empty string, got {title!r}")
    ax.set_title(title)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if grid:
        ax.grid(True, alpha=0.3)
    return ax


def _as_numpy(value: Any, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, (np.ndarray, list, tuple)):
        return np.asarray(value)
    raise TypeError(f"{name} must be a torch.Tensor, ndarray or list, got {type(value).__name__}")


def draw_boxes(ax: Axes, boxes: Any, labels: Any = None, scores: Any = None,
               class_names: Sequence[str] | None = None, colors: Any = None,
               linewidth: float = 2.0) -> list[Rectangle]:
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
    boxes = _as_numpy(boxes, "boxes").astype(np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)  # no detections: an empty [0, 4], however it was shaped
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be [N, 4] in (x1, y1, x2, y2) format, "
                         f"got shape {boxes.shape}")
    if np.any(boxes[:, 2] < boxes[:, 0]) or np.any(boxes[:, 3] < boxes[:, 1]):
        raise ValueError("boxes must be (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2; "
                         "got a box with x2 < x1 or y2 < y1 "
                         "(is it in (x, y, w, h) or (cx, cy, w, h) format?)")
    n = len(boxes)
    extras = {}
    for name, value in (("labels", labels), ("scores", scores)):
        if value is not None:
            extras[name] = _as_numpy(value, name).reshape(-1)
            if len(extras[name]) != n:
                raise ValueError(f"{name} must have one entry per box ({n}), "
                                 f"got {len(extras[name])}")
    labels, scores = extras.get("labels"), extras.get("scores")
    if labels is not None:
        labels = labels.astype(np.int64)
    if class_names is not None and labels is not None and n and labels.max() >= len(class_names):
        raise ValueError(f"labels go up to {labels.max()} but class_names has "
                         f"{len(class_names)} names")
    keys = labels if labels is not None else np.arange(n)  # what picks the colour
    if colors is None:
        colors = palette(10)
    elif matplotlib.colors.is_color_like(colors):
        colors = [colors]  # one colour for every box
    patches = []
    for i, (x1, y1, x2, y2) in enumerate(boxes - 0.5):  # pixel edges -> imshow coordinates
        color = colors[int(keys[i]) % len(colors)]
        rect = Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color,
                         linewidth=linewidth)
        ax.add_patch(rect)
        patches.append(rect)
        parts = []
        if labels is not None:
            parts.append(class_names[labels[i]] if class_names is not None else str(labels[i]))
        if scores is not None:
            parts.append(f"{scores[i]:.2f}")
        if parts:
            ax.text(x1, y1, ": ".join(parts), color="white", fontsize="small", va="bottom",
                    bbox=dict(facecolor=color, edgecolor="none", pad=1.0, alpha=0.8))
    return patches


def _mask_colors(n: int, colors: Any) -> np.ndarray:
    table = np.asarray(palette(max(n, 1)) if colors is None else colors, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] not in (3, 4) or len(table) < n:
        raise ValueError(f"colors must be a sequence of at least {n} RGB colours, "
                         f"got shape {table.shape}")
    return table[:, :3]


def _borders(ids: np.ndarray) -> np.ndarray:
    """bool [H, W]: pixels whose right or lower neighbour has another id (a one-pixel outline)."""
    border = np.zeros(ids.shape, dtype=bool)
    border[:-1, :] |= ids[:-1, :] != ids[1:, :]
    border[:, :-1] |= ids[:, :-1] != ids[:, 1:]
    return border


def overlay_mask(ax: Axes, image: Any, mask: Any, alpha: float = 0.5, colors: Any = None,
                 background: int | None = 0) -> AxesImage:
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
    mask = _as_numpy(mask, "mask")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
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
        table = _mask_colors(n_classes, colors) if colors is not None or n_classes > 2 else \
            np.asarray([(0.0, 0.0, 0.0), palette(2)[1]])  # binary: a single colour
        rgb = table[mask]
        visible = mask != background if background is not None else np.ones(mask.shape, bool)
    else:
        raise ValueError(f"mask must be [H, W] (binary or class ids) or [K, H, W] (instances), "
                         f"got shape {mask.shape}")
    if image is not None:
        picture = to_image(image)
        if picture.shape[:2] != mask.shape[-2:]:
            raise ValueError(f"mask must cover the image: image is {picture.shape[:2]}, "
                             f"mask is {mask.shape[-2:]}")
        _show(ax, picture)
    rgba = np.concatenate([rgb, (alpha * visible)[..., None]], axis=-1)  # [H, W, 4]
    overlay = ax.imshow(rgba, interpolation="nearest")
    ax.set_axis_off()
    return overlay


def overlay_panoptic(ax: Axes, image: Any, panoptic: Any, alpha: float = 0.5,
                     colors: Any = None) -> AxesImage:
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
    panoptic = _as_numpy(panoptic, "panoptic")
    if panoptic.ndim != 3 or panoptic.shape[-1] != 2:
        raise ValueError(f"panoptic must be [H, W, 2] (class id, instance id), "
                         f"got shape {panoptic.shape}")
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
            raise ValueError(f"panoptic must cover the image: image is {picture.shape[:2]}, "
                             f"panoptic is {classes.shape}")
        _show(ax, picture)
    visible = (classes != 0) | border
    rgba = np.concatenate([rgb, (alpha * visible)[..., None]], axis=-1)  # [H, W, 4]
    overlay = ax.imshow(rgba, interpolation="nearest")
    ax.set_axis_off()
    return overlay


def show_heatmap(ax: Axes, heat: Any, image: Any = None, alpha: float = 0.5, cmap: str = "inferno",
                 colorbar: bool = True, label: str | None = None) -> AxesImage:
    """Draw a heatmap (attention, activation, disparity), stretched over ``image`` if given.

    A coarse heatmap (e.g. 14 x 14 attention over a 224 x 224 image) is stretched to the image with
    bilinear interpolation, each heat cell covering an equal block of pixels.

    Args:
        ax: the Axes to draw on.
        heat: [h, w] tensor or ndarray of real values.
        image: as accepted by ``to_image``, or None.
        alpha: opacity of the heat over the image in [0, 1] (1 when there is no image).
        cmap: colour map name.
        colorbar: add a colour bar.
        label: colour bar label.

    Returns:
        the heatmap ``AxesImage``.
    """
    heat = _as_numpy(heat, "heat").astype(np.float64)
    if heat.ndim != 2 or heat.size == 0:
        raise ValueError(f"heat must be a non-empty [h, w] map, got shape {heat.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if image is not None:
        picture = to_image(image)
        height, width = picture.shape[:2]
        _show(ax, picture)
        # extent = (left, right, bottom, top) in pixel coordinates of the image.
        shown = ax.imshow(heat, cmap=cmap, alpha=alpha, interpolation="bilinear",
                          extent=(-0.5, width - 0.5, height - 0.5, -0.5))
    else:
        shown = ax.imshow(heat, cmap=cmap, interpolation="nearest")
    if colorbar:
        bar = ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        if label:
            bar.set_label(label)
    return shown
