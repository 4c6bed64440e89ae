"""The welcome notebook's environment check and first widget.

``environment_report()`` answers "will the course run here?" in one table: versions, the device the
course will use, fast mode, and two checks that catch the usual broken installs (a torch/torchvision pair
whose compiled ops do not load, and widgets that cannot render).

``filter_explorer()`` is the course's first widget, a thin view over the pure function
``filter_image``: pick a filter and its strength, and the picture answers at once.
"""

from __future__ import annotations

import platform
from importlib import metadata

import numpy as np
from scipy import ndimage

from cvcourse.runtime import device, fast_mode

__all__ = ["environment_report", "filter_image", "FILTERS", "filter_explorer"]

_PACKAGES = ("torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "ipympl", "jupyterlab", "cvcourse")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment_report() -> dict[str, str]:
    """Versions, device and health checks of this environment, as an ordered ``{name: value}`` dict."""
    import torch
    import torchvision

    report = {"python": platform.python_version()}
    report.update({name: _version(name) for name in _PACKAGES})
    dev = device()
    report["device"] = str(dev)
    if dev.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(dev)
    report["fast mode (CVCOURSE_FAST)"] = "on" if fast_mode() else "off"
    try:  # a mismatched torch/torchvision pair fails here: "operator torchvision::nms does not exist"
        boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
        kept = torchvision.ops.nms(boxes, torch.tensor([1.0, 0.5]), 0.5).tolist()
        report["torchvision ops"] = "ok" if kept == [0] else f"wrong result {kept}"
    except Exception as err:  # noqa: BLE001 - the report must show any failure, not raise it
        report["torchvision ops"] = f"BROKEN ({type(err).__name__}: {err})"
    return report


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
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        got = getattr(image, "shape", type(image))
        raise ValueError(f"image must be an ndarray of shape [H, W, 3], got {got}")
    if kind not in FILTERS:
        raise ValueError(f"kind must be one of {FILTERS}, got {kind!r}")
    if not np.isfinite(strength) or strength < 0:
        raise ValueError(f"strength must be a finite number >= 0, got {strength!r}")
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
    kind = widgets.Dropdown(options=FILTERS, value="gaussian blur", description="filter")
    strength = widgets.FloatSlider(value=2.0, min=0.0, max=8.0, step=0.25, description="sigma (px)",
                                   continuous_update=True)
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
