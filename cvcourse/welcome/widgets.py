"""The welcome notebook's first widget.

``filter_explorer()`` is the course's first widget, a thin view over the pure function
``filter_image``: pick a filter and its strength, and the picture answers at once.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from cvcourse._checks import check_choice, check_float, check_type

__all__ = ["FILTERS", "filter_explorer", "filter_image"]

FILTERS = ("identity", "gaussian blur", "sobel edges", "sharpen")


def filter_image(image: np.ndarray, kind: str = "gaussian blur", strength: float = 2.0) -> np.ndarray:
    """Filter an RGB image with one of ``FILTERS``.

    Args:
        image (ndarray[H, W, 3]): uint8 or float image.
        kind: one of ``FILTERS``.
        strength: the Gaussian's standard deviation in pixels (blur, and the smoothing before
            edges and sharpening), ``>= 0``.

    Returns:
        ndarray[H, W, 3] float in [0, 1].
    """
    check_type("image", image, np.ndarray, "an ndarray of shape [H, W, 3]")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an ndarray of shape [H, W, 3], got shape {image.shape}")
    check_choice("kind", kind, FILTERS)
    strength = check_float("strength", strength, low=0.0)
    x = image.astype(np.float64) / (255.0 if image.dtype == np.uint8 else 1.0)
    blurred = ndimage.gaussian_filter(x, sigma=(strength, strength, 0))  # no blur across channels
    if kind == "identity":
        out = x
    elif kind == "gaussian blur":
        out = blurred
    elif kind == "sobel edges":
        grey = blurred.mean(axis=2)
        magnitude = np.hypot(ndimage.sobel(grey, axis=0), ndimage.sobel(grey, axis=1))
        out = np.repeat((magnitude / max(magnitude.max(), 1e-12))[..., None], 3, axis=2)
    else:  # sharpen: add back what the blur removed (unsharp masking)
        out = x + (x - blurred)
    return np.clip(out, 0.0, 1.0)


def filter_explorer(image: np.ndarray | None = None):
    """A dropdown for the filter, a slider for its strength, and the filtered image beside the original.

    The figure is drawn once; a control change replaces the image data (``set_data``) and redraws
    only that image and its title over the rest (``LiveArtists``), so it answers at once.
    """
    import ipywidgets as widgets

    from cvcourse.data import sample_image
    from cvcourse.viz import LiveArtists, interactive_figure

    image = sample_image("astronaut")[::2, ::2] if image is None else image
    filter_image(image[:1, :1], "identity")  # checks the image here, not in the first callback
    kind = widgets.Dropdown(options=FILTERS, value="gaussian blur", description="filter")
    strength = widgets.FloatSlider(
        value=2.0, min=0.0, max=8.0, step=0.25, description="sigma (px)", continuous_update=True
    )
    fig, (ax_in, ax_out), canvas = interactive_figure(figsize=(8, 4), ncols=2)
    ax_in.imshow(image)
    ax_in.set_title("original")
    shown = ax_out.imshow(filter_image(image, kind.value, strength.value))
    for ax in (ax_in, ax_out):
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")
    live = LiveArtists(fig, [shown, ax_out.title])

    def update(_=None):
        shown.set_data(filter_image(image, kind.value, strength.value))
        ax_out.set_title(f"{kind.value}, sigma = {strength.value:g} px")
        live.redraw()

    kind.observe(update, names="value")
    strength.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox([kind, strength]), canvas])
    box.controls = {"filter": kind, "sigma": strength}
    box.fig = fig
    return box
