"""The attention-map viewer: pick an image, a layer, a head (or the mean), rollout on/off and a query
patch (click on the image or use the sliders) and see where that token looks.

A thin ipywidgets view over pure functions: ``viewer_images`` (the pictures, resized to the model's
input), ``attention_heatmap`` (what is drawn). Out of the box it uses the small ViT the course trained
on its synthetic shapes (``load_shapes_vit``, offline); the "torchvision ViT-B/16" button loads
torchvision's ImageNet weights into our ``vit_b_16`` when the computer is online and says so in one
line when it is not.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle
from torch import Tensor, nn

from cvcourse._checks import check_int, check_tensor, check_type
from cvcourse.viz import LiveArtists, LiveColorbar, interactive_figure, show_heatmap, style_axes

from .attention_maps import attention_maps, query_heatmap

__all__ = ["viewer_images", "attention_heatmap", "attention_viewer", "imagenet_preprocess"]

PHOTOS = ("astronaut", "chelsea", "coffee")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
MEAN_OF_HEADS = "mean"  # the head menu's value for the mean over heads


def _resize(image: Tensor, size: int) -> Tensor:
    """[3, H, W] -> [3, size, size] (centre crop to a square, then antialiased bilinear resize)."""
    h, w = image.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    square = image[:, top : top + s, left : left + s]
    return F.interpolate(
        square[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )[0].clamp(0, 1)


def viewer_images(size: int, num_shapes: int = 4, seed: int = 1) -> dict[str, Tensor]:
    """The viewer's pictures as float images in [0, 1]: synthetic shapes and scikit-image's photos.

    Args:
        size: side of the square model input.
        num_shapes: how many synthetic images (``ShapesClassification`` with ``seed``, unseen in training).
        seed: seed of the synthetic images.

    Returns:
        ``{name: Tensor[3, size, size]}``.
    """
    from cvcourse.data import ShapesClassification
    from cvcourse.data.real import sample_image

    shapes = ShapesClassification(num_shapes, size=size, seed=seed)
    images = {f"shapes #{i} ({shapes.classes[label]})": img for i, (img, label) in enumerate(shapes)}
    for name in PHOTOS:
        photo = torch.from_numpy(np.ascontiguousarray(sample_image(name))).permute(2, 0, 1).float() / 255
        images[f"photo: {name}"] = _resize(photo, size)
    return images


def imagenet_preprocess(image: Tensor) -> Tensor:
    """[3, H, W] in [0, 1] -> [3, 224, 224] normalised as torchvision's ImageNet weights expect."""
    x = _resize(image, 224)
    mean, std = (
        torch.tensor(IMAGENET_MEAN)[:, None, None],
        torch.tensor(IMAGENET_STD)[:, None, None],
    )
    return (x - mean) / std


def attention_heatmap(
    model: nn.Module,
    image: Tensor,
    layer: int,
    head: int | None = None,
    rollout: bool = False,
    query: tuple[int, int] | None = None,
    maps: Tensor | None = None,
) -> np.ndarray:
    """Where one token looks: the attention of a query over the patch grid.

    Args:
        model: a ViT (ours or torchvision's).
        image: Tensor[3, S, S], already preprocessed for ``model``.
        layer: 0-based layer.
        head: head index, or None for the mean over heads.
        rollout: attention rollout up to ``layer`` (mean over heads) instead of the raw weights.
        query: patch (row, col) that asks, or None for the [CLS] token.
        maps: the image's ``attention_maps`` if already computed (saves a forward pass).

    Returns:
        ndarray[G, G] of attention weights over the patches.
    """
    check_type("model", model, nn.Module, "an nn.Module (a ViT)")
    if maps is None:
        check_tensor("image", image, ndim=3, dtype="float")
        maps = attention_maps(model, image[None])
    grid = round((maps.shape[-1] - 1) ** 0.5)
    if query is None:
        token = 0
    else:
        check_type("query", query, (tuple, list), "a patch (row, col), or None for [CLS]")
        if len(query) != 2:
            raise ValueError(f"query must be a patch (row, col), got {len(query)} values")
        row, col = (check_int(f"query[{i}]", v) for i, v in enumerate(query))
        if not (0 <= row < grid and 0 <= col < grid):
            raise ValueError(f"query must be a patch (row, col) inside the {grid} x {grid} grid, got {query}")
        token = 1 + row * grid + col
    return query_heatmap(maps, layer, head, token, rollout).cpu().numpy()


def attention_viewer(
    model: nn.Module | None = None,
    images: dict[str, Tensor] | None = None,
    preprocess: Callable[[Tensor], Tensor] | None = None,
) -> widgets.VBox:
    """Build the attention-map viewer.

    Args:
        model: a ViT; default the shipped shapes ViT (``load_shapes_vit``).
        images: ``{name: Tensor[3, H, W] in [0, 1]}``; default ``viewer_images(model's input size)``.
        preprocess: image -> model input; default identity (the shapes ViT takes [0, 1] images).

    Returns:
        The top-level ``VBox``, with ``.controls`` (dict of the widgets by name), ``.fig``,
        ``.heat_artist``, ``.colorbar`` (a ``LiveColorbar``) and ``.state`` (model, maps, current heat)
        for tests and notebooks.
    """
    from .pretrained import load_shapes_vit, load_torchvision_vit_b_16

    state: dict = {}

    def set_model(new_model: nn.Module, new_preprocess: Callable[[Tensor], Tensor] | None) -> None:
        state["model"] = new_model.eval()
        state["preprocess"] = new_preprocess or (lambda x: x)
        state["layers"] = sum(1 for _ in _attention_layers(new_model))
        state["maps_cache"] = {}

    if model is None:
        model, _ = load_shapes_vit()
    set_model(model, preprocess)
    if images is None:
        images = viewer_images(model.image_size)

    grid0 = model.image_size // model.patch_size
    style = {"description_width": "90px"}
    controls = {
        "image": widgets.Dropdown(options=list(images), description="image", style=style),
        "layer": widgets.IntSlider(
            value=state["layers"] - 1,
            min=0,
            max=state["layers"] - 1,
            description="layer",
            style=style,
        ),
        "head": widgets.Dropdown(options=_head_options(model), description="head", style=style),
        "rollout": widgets.Checkbox(value=False, description="attention rollout", style=style),
        "query": widgets.ToggleButtons(
            options=["[CLS]", "patch"],
            value="[CLS]",
            description="query",
            style={**style, "button_width": "80px"},
        ),
        "row": widgets.IntSlider(
            value=grid0 // 2, min=0, max=grid0 - 1, description="patch row", style=style
        ),
        "col": widgets.IntSlider(
            value=grid0 // 2, min=0, max=grid0 - 1, description="patch column", style=style
        ),
        "pretrained": widgets.Button(
            description="torchvision ViT-B/16 (online, 330 MB)", layout={"width": "300px"}
        ),
    }
    # ipywidgets 8 draws ToggleButtons as a block, its label above the buttons; the class every
    # other labelled control has puts the label beside them, right-aligned like the others.
    controls["query"].add_class("widget-inline-hbox")
    status = widgets.Label(
        value="Model: the course's small ViT trained on synthetic shapes. "
        "Click the left image to pick a query patch."
    )
    fig, (ax_img, ax_heat), canvas = interactive_figure(figsize=(8, 3.8), ncols=2)

    def current() -> tuple[np.ndarray, np.ndarray, tuple[int, int] | None]:
        name = controls["image"].value
        picture = images[name].permute(1, 2, 0).numpy()
        if name not in state["maps_cache"]:
            x = state["preprocess"](images[name])
            state["maps_cache"][name] = attention_maps(state["model"], x[None])
        maps = state["maps_cache"][name]
        query = None if controls["query"].value == "[CLS]" else (controls["row"].value, controls["col"].value)
        heat = attention_heatmap(
            state["model"],
            None,
            controls["layer"].value,
            None if controls["head"].value == MEAN_OF_HEADS else controls["head"].value,
            controls["rollout"].value,
            query,
            maps=maps,
        )
        return picture, heat, query

    picture, heat, _ = current()
    ax_img.imshow(picture)
    style_axes(ax_img, "image (click = query patch)", "x (pixels)", "y (pixels)")
    marker = Rectangle((0, 0), 1, 1, fill=False, edgecolor="cyan", linewidth=2, visible=False)
    ax_img.add_patch(marker)
    heat_artist = show_heatmap(ax_heat, heat, image=picture, alpha=0.6, colorbar=False)
    # The bar's range follows the map: only its tick labels are redrawn (weights are <= 1, so
    # "%.3f" labels keep one width and the layout computed on the first draw fits them all).
    bar = LiveColorbar(heat_artist, ax_heat, fmt="{:.3f}", label="attention weight", fraction=0.046, pad=0.04)
    style_axes(ax_heat, "attention of the query", "x (pixels)", "y (pixels)")
    # A control change redraws the query marker, the heatmap, its title and the bar's labels over
    # a background that holds the rest: axes, ticks, labels and the picture, one background per
    # picture, all rendered while the viewer is built, so the image menu answers like a slider.
    live = LiveArtists(fig, [marker, heat_artist, ax_heat.title, *bar.labels])

    def show_picture(name: str) -> None:
        picture = images[name].permute(1, 2, 0).numpy()
        size = picture.shape[0]
        for ax in (ax_img, ax_heat):
            ax.images[0].set_data(picture)
            ax.set_xlim(-0.5, size - 0.5)
            ax.set_ylim(size - 0.5, -0.5)
        heat_artist.set_extent((-0.5, size - 0.5, size - 0.5, -0.5))

    for name in sorted(images, key=lambda n: n == controls["image"].value):  # current one last
        show_picture(name)
        live.prerender(name)
    shown = {"name": controls["image"].value}

    def redraw(_change=None) -> None:
        if state.get("hold"):
            return
        picture, heat, query = current()
        name = controls["image"].value
        if name != shown["name"]:
            show_picture(name)
        heat_artist.set_data(heat)
        heat_artist.set_clim(float(heat.min()), float(heat.max()) + 1e-12)
        bar.update()
        cell = picture.shape[0] / heat.shape[0]  # pixels per patch
        marker.set_visible(query is not None)
        if query is not None:
            marker.set_xy((query[1] * cell - 0.5, query[0] * cell - 0.5))
            marker.set_width(cell)
            marker.set_height(cell)
        what = (
            "rollout"
            if controls["rollout"].value
            else (
                "mean over heads"
                if controls["head"].value == MEAN_OF_HEADS
                else f"head {controls['head'].value}"
            )
        )
        who = "[CLS]" if query is None else f"patch {query}"
        ax_heat.set_title(f"layer {controls['layer'].value}, {what}: {who}")
        state["heat"] = heat
        # another picture: restore its background (rendered while building)
        live.redraw(full=name != shown["name"], key=name)
        shown["name"] = name

    def on_click(event) -> None:
        if event.inaxes is not ax_img or event.xdata is None:
            return
        size = images[controls["image"].value].shape[-1]
        grid = controls["row"].max + 1
        state["hold"] = True  # one redraw for the three controls changed here
        controls["row"].value = int(np.clip(event.ydata + 0.5, 0, size - 1) * grid // size)
        controls["col"].value = int(np.clip(event.xdata + 0.5, 0, size - 1) * grid // size)
        controls["query"].value = "patch"
        state["hold"] = False
        redraw()

    def on_patch_moved(_change) -> None:
        if controls["query"].value == "[CLS]":
            controls["query"].value = "patch"  # moving the patch sliders means "show a patch"
        else:
            redraw()

    def load_pretrained(_button) -> None:
        status.value = "Loading torchvision's ViT-B/16 weights ..."
        try:
            vit, _ = load_torchvision_vit_b_16()
        except ConnectionError as err:
            status.value = f"Offline: {str(err).split(';')[0]}. Staying with the shapes ViT."
            return
        set_model(vit, imagenet_preprocess)
        controls["head"].options = _head_options(vit)
        grid = vit.image_size // vit.patch_size
        controls["layer"].max = state["layers"] - 1
        for key in ("row", "col"):
            controls[key].max = grid - 1
        status.value = "Model: torchvision's ImageNet ViT-B/16 (224 x 224, 14 x 14 patches)."
        redraw()

    for key in ("image", "layer", "head", "rollout", "query"):
        controls[key].observe(redraw, names="value")
    for key in ("row", "col"):
        controls[key].observe(on_patch_moved, names="value")
    controls["pretrained"].on_click(load_pretrained)
    fig.canvas.mpl_connect("button_press_event", on_click)
    redraw()

    box = widgets.VBox(
        [
            widgets.HBox([controls["image"], controls["head"], controls["rollout"]]),
            widgets.HBox([controls["layer"], controls["query"]]),
            widgets.HBox([controls["row"], controls["col"], controls["pretrained"]]),
            canvas,
            status,
        ]
    )
    box.controls, box.fig, box.heat_artist, box.state, box.status = (
        controls,
        fig,
        heat_artist,
        state,
        status,
    )
    box.on_click = on_click  # exposed so tests can simulate a click
    box.colorbar = bar
    return box


def _attention_layers(model: nn.Module):
    from .multihead import MultiheadAttention

    return (m for m in model.modules() if isinstance(m, (MultiheadAttention, nn.MultiheadAttention)))


def _head_options(model: nn.Module) -> list[tuple[str, int | str]]:
    # Not None for the mean: an ipywidgets Dropdown whose value becomes None clears its index and
    # shows an empty menu.
    heads = next(_attention_layers(model)).num_heads
    return [("mean over heads", MEAN_OF_HEADS)] + [(f"head {h}", h) for h in range(heads)]
