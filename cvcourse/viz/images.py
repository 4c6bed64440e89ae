"""Images: any tensor or array as something ``imshow`` draws, grids of images, heatmaps over images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from cvcourse._checks import check_bool, check_float, check_int, check_type, describe

__all__ = ["show_heatmap", "show_images", "to_image"]


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
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {describe(image)}")
    if array.ndim == 3:
        channels_first = array.shape[0] in (1, 3, 4)
        channels_last = array.shape[-1] in (1, 3, 4)
        if not (channels_first or channels_last):
            raise ValueError(
                f"{name} must be [C, H, W] or [H, W, C] with C in (1, 3, 4), got shape {tuple(array.shape)}"
            )
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


def show_images(
    images: Any,
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    cmap: str | None = None,
    figsize: tuple[float, float] | None = None,
    suptitle: str | None = None,
) -> Figure:
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
            raise ValueError(
                f"images as one tensor/array must be a batch [N, C, H, W], "
                f"[N, H, W, C] or [N, H, W], got shape {tuple(images.shape)}"
            )
        images = list(images)
    elif not isinstance(images, Sequence) or isinstance(images, str):
        raise TypeError(f"images must be a sequence of images or a batch tensor, got {describe(images)}")
    if len(images) == 0:
        raise ValueError("images must hold at least one image, got an empty sequence")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must have one entry per image ({len(images)}), got {len(titles)}")
    arrays = [to_image(image, f"images[{i}]") for i, image in enumerate(images)]
    ncols = min(len(arrays), 8) if ncols is None else ncols
    ncols = check_int("ncols", ncols, low=1)
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


def _as_numpy(value: Any, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, (np.ndarray, list, tuple)):
        return np.asarray(value)
    raise TypeError(f"{name} must be a torch.Tensor, ndarray or list, got {describe(value)}")


def show_heatmap(
    ax: Axes,
    heat: Any,
    image: Any = None,
    alpha: float = 0.5,
    cmap: str = "inferno",
    colorbar: bool = True,
    label: str | None = None,
) -> AxesImage:
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
    alpha = check_float("alpha", alpha, low=0.0, high=1.0)
    colorbar = check_bool("colorbar", colorbar)
    check_type("ax", ax, Axes, "a matplotlib Axes")
    if image is not None:
        picture = to_image(image)
        height, width = picture.shape[:2]
        _show(ax, picture)
        # extent = (left, right, bottom, top) in pixel coordinates of the image.
        shown = ax.imshow(
            heat,
            cmap=cmap,
            alpha=alpha,
            interpolation="bilinear",
            extent=(-0.5, width - 0.5, height - 0.5, -0.5),
        )
    else:
        shown = ax.imshow(heat, cmap=cmap, interpolation="nearest")
    if colorbar:
        bar = ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        if label:
            bar.set_label(label)
    return shown
