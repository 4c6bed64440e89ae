"""The latent explorer: a 2-D latent space with the data encoded on it, coloured by class, and the
image the decoder makes of any point (a click on the map, or the z1 / z2 sliders), for several models.

Switching between the plain autoencoder and the VAEs shows the notes' point: the autoencoder's codes
lie in scattered, stretched clusters with empty space between them, and points there decode to
blurs that are no digit; the VAE's KL term packs the codes around N(0, I), and every point decodes
to something digit-like.

A thin ipywidgets view over pure functions: ``latent_map`` (the codes and the map's limits) and
``decode_point`` (what is drawn on the right). Out of the box it shows the course's four shipped
digits models (``load_digits_autoencoders``) on the digits' test split.
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.lines import Line2D
from torch import Tensor, nn

from cvcourse._checks import check_tensor
from cvcourse.viz import LiveArtists, interactive_figure, palette, style_axes

from .latent import distance_to_data, encode

__all__ = ["decode_point", "latent_explorer", "latent_map"]


def latent_map(model: nn.Module, images: Tensor) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The 2-D codes of ``images`` (z, or mu for a VAE) and map limits that hold them with a margin.

    Returns:
        ``(codes, (x0, x1, y0, y1))``: ndarray[N, 2] and the limits, a 15 % margin around the codes'
        1st..99th percentiles (so a few outliers do not shrink the rest to a dot).
    """
    codes = encode(model, images).numpy()
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"model must have a 2-D latent space, got codes of shape {list(codes.shape)}")
    lo, hi = np.percentile(codes, 1, axis=0), np.percentile(codes, 99, axis=0)
    margin = 0.15 * (hi - lo) + 1e-6
    return codes, (
        float(lo[0] - margin[0]),
        float(hi[0] + margin[0]),
        float(lo[1] - margin[1]),
        float(hi[1] + margin[1]),
    )


@torch.no_grad()
def decode_point(model: nn.Module, z: tuple[float, float] | Tensor) -> np.ndarray:
    """The decoder's image of one latent point: ndarray[H, W] (grey) or [H, W, 3], values in [0, 1]."""
    z = torch.as_tensor(z, dtype=torch.float32).reshape(1, -1)
    check_tensor("z", z, shape=(1, 2))
    image = model.decode(z)[0]  # [C, H, W]
    return image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy()


def latent_explorer(
    models: dict[str, nn.Module] | None = None, images: Tensor | None = None, labels: Tensor | None = None
) -> widgets.VBox:
    """Build the latent explorer.

    Args:
        models: ``{name: model with a 2-D latent space}``; default the shipped digits models.
        images, labels: the data drawn on the map (Tensor[N, C, H, W] in [0, 1], Tensor[N] of
            classes); default the binarised digits' test split.

    Returns:
        The top-level ``VBox`` with ``.controls`` (``model``, ``z1``, ``z2``), ``.fig``, ``.image_artist``,
        ``.on_click`` (to simulate a click) and ``.state``.
    """
    if models is None:
        from .pretrained import load_digits_autoencoders

        models, _ = load_digits_autoencoders()
    if images is None or labels is None:
        from .factors import digits

        data = digits(binarize=True)
        images, labels = data["test"], data["test_labels"]
    names = list(models)
    maps = {name: latent_map(models[name], images) for name in names}
    classes = sorted(set(labels.tolist()))
    colours = np.array(palette(len(classes)))[np.searchsorted(classes, labels.numpy())]

    fig, (ax_map, ax_img), canvas = interactive_figure(figsize=(8.4, 4.0), ncols=2)
    scatters = {}
    for name in names:
        codes, _ = maps[name]
        scatters[name] = ax_map.scatter(codes[:, 0], codes[:, 1], c=colours, s=7, alpha=0.7, visible=False)
    handles = [
        Line2D([], [], ls="", marker="o", color=palette(len(classes))[i], label=str(c))
        for i, c in enumerate(classes)
    ]
    ax_map.legend(
        handles=handles,
        title="class",
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        fontsize=7,
        title_fontsize=8,
        handletextpad=0.1,
        borderpad=0.3,
    )
    style_axes(ax_map, "latent space (click = decode that point)", "z1", "z2")
    (marker,) = ax_map.plot([0], [0], "k+", ms=16, mew=2.5)
    shape = decode_point(models[names[0]], (0.0, 0.0)).shape
    image_artist = ax_img.imshow(np.zeros(shape), cmap="gray", vmin=0, vmax=1)
    style_axes(ax_img, "decoded", "x (pixels)", "y (pixels)")

    style = {"description_width": "50px"}
    x0, x1, y0, y1 = maps[names[0]][1]
    controls = {
        "model": widgets.Dropdown(options=names, description="model", style=style, layout={"width": "260px"}),
        "z1": widgets.FloatSlider(
            value=(x0 + x1) / 2,
            min=x0,
            max=x1,
            step=(x1 - x0) / 200,
            description="z1",
            style=style,
            readout_format=".2f",
        ),
        "z2": widgets.FloatSlider(
            value=(y0 + y1) / 2,
            min=y0,
            max=y1,
            step=(y1 - y0) / 200,
            description="z2",
            style=style,
            readout_format=".2f",
        ),
    }
    state: dict = {"hold": False, "images": images}

    def show_model(name: str) -> None:
        for other, scatter in scatters.items():
            scatter.set_visible(other == name)
        x0, x1, y0, y1 = maps[name][1]
        ax_map.set_xlim(x0, x1)
        ax_map.set_ylim(y0, y1)
        ax_map.set_title(f"{name}: latent space (click = decode)")

    # One background per model (its scatter, limits, ticks and title), rendered while building, so
    # the model menu answers like a slider; a slider or a click redraws the marker and the picture.
    live = LiveArtists(fig, [marker, image_artist, ax_img.title])
    for name in names[::-1]:  # the first model last: it is shown first
        show_model(name)
        live.prerender(name)
    shown = {"name": names[0]}

    def redraw(_change=None) -> None:
        if state["hold"]:
            return
        name = controls["model"].value
        z = (controls["z1"].value, controls["z2"].value)
        picture = decode_point(models[name], z)
        image_artist.set_data(picture)
        marker.set_data([z[0]], [z[1]])
        decoded = (
            torch.from_numpy(picture).reshape(1, *images.shape[1:])
            if images.shape[1] == 1
            else torch.from_numpy(picture).permute(2, 0, 1)[None]
        )
        distance = float(distance_to_data(decoded.float(), images)[0])
        ax_img.set_title(f"decoded z = ({z[0]:.2f}, {z[1]:.2f})\ndistance to nearest digit {distance:.2f}")
        state.update(picture=picture, distance=distance)
        if name != shown["name"]:
            show_model(name)
        live.redraw(full=name != shown["name"], key=name)
        shown["name"] = name

    def on_model(change) -> None:
        x0, x1, y0, y1 = maps[change.new][1]
        state["hold"] = True  # new ranges and values: one redraw at the end
        with controls["z1"].hold_sync(), controls["z2"].hold_sync():
            for key, (lo, hi) in (("z1", (x0, x1)), ("z2", (y0, y1))):
                slider = controls[key]
                slider.max = max(hi, slider.min)
                slider.min, slider.max = lo, hi
                slider.step = (hi - lo) / 200
                slider.value = (lo + hi) / 2
        state["hold"] = False
        redraw()

    def on_click(event) -> None:
        if event.inaxes is not ax_map or event.xdata is None:
            return
        state["hold"] = True
        controls["z1"].value = float(np.clip(event.xdata, controls["z1"].min, controls["z1"].max))
        controls["z2"].value = float(np.clip(event.ydata, controls["z2"].min, controls["z2"].max))
        state["hold"] = False
        redraw()

    controls["model"].observe(on_model, names="value")
    for key in ("z1", "z2"):
        controls[key].observe(redraw, names="value")
    fig.canvas.mpl_connect("button_press_event", on_click)
    show_model(names[0])
    redraw()
    box = widgets.VBox([widgets.HBox([controls["model"], controls["z1"], controls["z2"]]), canvas])
    box.controls, box.fig, box.image_artist, box.state, box.on_click = (
        controls,
        fig,
        image_artist,
        state,
        on_click,
    )
    box.maps = maps
    return box
