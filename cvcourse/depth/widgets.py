"""Chapter 6's explorers on the real Middlebury pair: stereo correspondence and warping.

* ``correspondence_explorer()``: pick a left pixel (click, or the sliders) and see its epipolar row
  in the right image, the matching cost over every disparity for the chosen cost and window, the
  winner (least cost) and the ground-truth match.
* ``warp_explorer()``: scale and shift a disparity map (the true one, block matching's, or the shipped
  Monodepth's) and see the image it rebuilds, the error map and the mean photometric error; backward
  sampling (the left image from the right one) against forward splatting (the right image from the
  left one, with its holes).

Thin views over pure functions that tests call: :func:`pixel_costs` (one column of
:func:`cvcourse.depth.matching.cost_volume`) and :func:`warp_view`. Everything heavy (the pair, the
block-matched and predicted disparities) is computed while the widget is built; a control change
costs one short computation and a blitted redraw (``LiveArtists``).
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from cvcourse._checks import check_choice, check_float, check_int, check_tensor
from cvcourse.viz import LiveArtists, interactive_figure, style_axes

from .matching import COSTS, block_matching, cost_volume
from .warp import forward_warp, reconstruct_left

__all__ = [
    "middlebury",
    "pixel_costs",
    "warp_view",
    "correspondence_explorer",
    "warp_explorer",
    "COST_LIMITS",
    "WARP_SOURCES",
]

COST_LIMITS = {"sad": 0.6, "ssd": 0.4, "zncc": 2.0}  # y-axis top per cost (means of [0, 1] pixels)
WARP_SOURCES = ("true", "block matching", "Monodepth (shapes)")


def middlebury(scale: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    """The Middlebury motorcycle pair as float tensors: ``left, right`` [3, H, W] in [0, 1] and the
    true disparity [H, W] (0 where unknown), area-downsampled by ``scale`` (disparities divided by it;
    a block with a missing true value is unknown)."""
    from cvcourse.data import stereo_pair

    scale = check_int("scale", scale, low=1, high=8)
    left, right, disparity = stereo_pair()
    left_t, right_t = (
        torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1).float() / 255 for x in (left, right)
    )
    d = torch.from_numpy(disparity)
    if scale > 1:
        h, w = (d.shape[0] // scale) * scale, (d.shape[1] // scale) * scale
        left_t, right_t = (F.avg_pool2d(x[None, :, :h, :w], scale)[0] for x in (left_t, right_t))
        known = F.avg_pool2d((d[None, None, :h, :w] > 0).float(), scale)[0, 0] == 1
        d = torch.where(known, F.avg_pool2d(d[None, None, :h, :w], scale)[0, 0] / scale, torch.zeros(()))
    return left_t, right_t, d


def pixel_costs(
    left: Tensor, right: Tensor, row: int, col: int, max_disparity: int, window: int = 5, cost: str = "sad"
) -> Tensor:
    """The matching cost of left pixel ``(row, col)`` at every disparity: ``cost_volume(...)[:, row, col]``.

    Computed on the rows the window touches only (a few milliseconds instead of a whole volume).

    Returns:
        Tensor[max_disparity + 1] (``inf`` for ``d > col``).
    """
    check_tensor("left", left, shape=(None, "H", "W"), dtype="float")
    h, w = left.shape[-2:]
    row, col = check_int("row", row, low=0, high=h - 1), check_int("col", col, low=0, high=w - 1)
    r = check_int("window", window, low=1) // 2
    top, bottom = max(0, row - r), min(h, row + r + 1)  # replicate padding of this strip = of the image
    volume = cost_volume(left[:, top:bottom], right[:, top:bottom], max_disparity, window, cost)
    return volume[:, row - top, col]


def warp_view(
    left: Tensor,
    right: Tensor,
    disparity: Tensor,
    scale: float = 1.0,
    shift: float = 0.0,
    mode: str = "backward",
) -> tuple[np.ndarray, np.ndarray, float]:
    """Warp with the disparity ``scale * d + shift`` and compare with the image it should equal.

    Args:
        left, right: Tensor[3, H, W] in [0, 1].
        disparity: Tensor[H, W], the left view's disparity in pixels (0 = unknown: those pixels are
            warped with 0 + shift and left out of the mean error).
        scale, shift: the change applied to the disparity.
        mode: ``"backward"``: the left image sampled from the right one (``reconstruct_left``),
            compared with the left image; ``"forward"``: the left pixels pushed into the right view
            (``forward_warp``), compared with the right image, holes excluded from the mean.

    Returns:
        ``(image [H, W, 3], error [H, W], mean error)``: the rebuilt image, the mean absolute colour
        error per pixel (0 in holes), and its mean over the pixels with a known disparity that land in
        view (backward) or over the filled pixels (forward).
    """
    check_tensor("disparity", disparity, shape=tuple(left.shape[-2:]), dtype="float", finite=True)
    scale, shift = check_float("scale", scale, low=0.0), check_float("shift", shift)
    check_choice("mode", mode, ("backward", "forward"))
    d = (scale * disparity + shift)[None, None]  # [1, 1, H, W]
    known = (disparity > 0)[None, None]
    if mode == "backward":
        rebuilt = reconstruct_left(right[None], d)
        target, counted = left[None], known & _in_view(d)
    else:
        rebuilt, filled = forward_warp(left[None], d)
        target, counted = right[None], filled
    error = (rebuilt - target).abs().mean(dim=1, keepdim=True) * (counted | (mode == "backward"))
    mean = float(error[counted].mean()) if bool(counted.any()) else float("nan")
    return rebuilt[0].permute(1, 2, 0).clamp(0, 1).numpy(), error[0, 0].numpy(), mean


def _in_view(d: Tensor) -> Tensor:
    columns = torch.arange(d.shape[-1], dtype=d.dtype)
    return (columns - d >= 0) & (columns - d <= d.shape[-1] - 1)


def correspondence_explorer(scale: int = 2, max_disparity: int = 32) -> widgets.VBox:
    """Build the correspondence explorer on the Middlebury pair (downsampled by ``scale``).

    Returns:
        ``VBox`` with ``.controls`` (``row``, ``col``, ``cost``, ``window``), ``.fig``, ``.state``
        (the current costs, winner and true disparity) and ``.on_click`` (for tests).
    """
    left, right, truth = middlebury(scale)
    h, w = truth.shape
    style = {"description_width": "70px"}
    controls = {
        "row": widgets.IntSlider(value=h // 2, min=0, max=h - 1, description="row v", style=style),
        "col": widgets.IntSlider(value=int(w * 0.55), min=0, max=w - 1, description="column u", style=style),
        "cost": widgets.Dropdown(options=list(COSTS), value="zncc", description="cost", style=style),
        "window": widgets.IntSlider(value=5, min=1, max=21, step=2, description="window", style=style),
    }
    fig, axes, canvas = interactive_figure(figsize=(10, 6.2), nrows=2, ncols=2)
    ax_left, ax_right, ax_cost, ax_row = axes.ravel()
    ax_left.imshow(left.permute(1, 2, 0).numpy())
    style_axes(ax_left, "left image (click a pixel)", "u (pixels)", "v (pixels)")
    ax_right.imshow(right.permute(1, 2, 0).numpy())
    style_axes(ax_right, "right image: the epipolar row", "u (pixels)", "v (pixels)")
    (pixel,) = ax_left.plot([], [], "c+", markersize=14, markeredgewidth=2)
    epipolar = ax_right.axhline(0, color="yellow", linewidth=1)
    (found,) = ax_right.plot(
        [], [], "o", mfc="none", mec="red", markersize=10, markeredgewidth=2, label="winner"
    )
    (true_match,) = ax_right.plot(
        [], [], "x", color="lime", markersize=10, markeredgewidth=2, label="true match"
    )
    ax_right.legend(loc="lower right", fontsize=8)
    d_axis = np.arange(max_disparity + 1)
    (curve,) = ax_cost.plot(d_axis, np.zeros_like(d_axis, dtype=float), "-", color="C0")
    winner_line = ax_cost.axvline(0, color="red", linestyle="--", label="winner (least cost)")
    true_line = ax_cost.axvline(0, color="green", linestyle=":", label="true disparity")
    ax_cost.set_xlim(0, max_disparity)
    ax_cost.legend(loc="upper right", fontsize=8)
    style_axes(ax_cost, "matching cost", "disparity d (pixels)", "cost (lower = better match)")
    (row_left,) = ax_row.plot([], [], color="C0", label="left row")
    (row_right,) = ax_row.plot([], [], color="C3", label="right row, shifted by the winner")
    ax_row.set(xlim=(0, w - 1), ylim=(0, 1))
    ax_row.legend(loc="upper right", fontsize=8)
    style_axes(ax_row, "intensity along the row", "u (pixels)", "grey level")
    grey_l, grey_r = left.mean(0).numpy(), right.mean(0).numpy()
    live = LiveArtists(
        fig,
        [
            pixel,
            epipolar,
            found,
            true_match,
            curve,
            winner_line,
            true_line,
            ax_cost.title,
            row_left,
            row_right,
        ],
    )
    state: dict = {}
    for cost in COSTS:  # one background per cost (its y range), rendered now
        ax_cost.set_ylim(0, COST_LIMITS[cost])
        live.prerender(cost)

    def update(_change=None) -> None:
        if state.get("hold"):
            return
        v, u, cost, window = (controls[k].value for k in ("row", "col", "cost", "window"))
        costs = pixel_costs(left, right, v, u, min(max_disparity, w - 1), window, cost)
        winner = int(torch.argmin(costs))
        true_d = float(truth[v, u])
        state.update(costs=costs, winner=winner, truth=true_d)
        pixel.set_data([u], [v])
        epipolar.set_ydata([v, v])
        found.set_data([u - winner], [v])
        true_match.set_data([u - true_d] if true_d > 0 else [], [v] if true_d > 0 else [])
        shown = np.where(np.isfinite(costs.numpy()), costs.numpy(), np.nan)
        curve.set_ydata(np.minimum(shown, COST_LIMITS[cost]))
        winner_line.set_xdata([winner, winner])
        true_line.set_xdata([true_d, true_d])
        true_line.set_visible(true_d > 0)
        truth_text = f"{true_d:.1f}" if true_d > 0 else "unknown"
        ax_cost.set_title(f"{cost.upper()}, {window}x{window}: winner d = {winner}, true d = {truth_text}")
        row_left.set_data(np.arange(w), grey_l[v])
        row_right.set_data(np.arange(w) + winner, grey_r[v])  # right row moved by d lines up with the left
        ax_cost.set_ylim(0, COST_LIMITS[cost])
        live.redraw(full=cost != state.get("cost"), key=cost)
        state["cost"] = cost

    def on_click(event) -> None:
        if event.inaxes is not ax_left or event.xdata is None:
            return
        state["hold"] = True  # one redraw for both sliders
        controls["row"].value = int(np.clip(round(event.ydata), 0, h - 1))
        controls["col"].value = int(np.clip(round(event.xdata), 0, w - 1))
        state["hold"] = False
        update()

    for control in controls.values():
        control.observe(update, names="value")
    fig.canvas.mpl_connect("button_press_event", on_click)
    update()
    box = widgets.VBox(
        [
            widgets.HBox([controls["row"], controls["col"]]),
            widgets.HBox([controls["cost"], controls["window"]]),
            canvas,
        ]
    )
    box.controls, box.fig, box.state, box.on_click = controls, fig, state, on_click
    return box


def _predicted_disparity(left: Tensor) -> Tensor:
    """The shipped Monodepth's left disparity of a Middlebury image, at the image's size in its pixels.

    The model saw only 64 x 64 shapes: the image is resized to 64 rows (width a multiple of 16),
    and the disparity scaled back by the width ratio. A look, not a measurement.
    """
    from .pretrained import load_shapes_monodepth

    model, info = load_shapes_monodepth()
    h, w = left.shape[-2:]
    size = info["image_size"]
    width = max(16, round(w * size / h / 16) * 16)
    small = F.interpolate(left[None], size=(size, width), mode="area")
    with torch.no_grad():
        d = model(small)  # [1, 1, 64, width] in small pixels
    return F.interpolate(d, size=(h, w), mode="bilinear", align_corners=False)[0, 0] * (w / width)


def warp_explorer(scale: int = 2, max_disparity: int = 32) -> widgets.VBox:
    """Build the warp explorer on the Middlebury pair (downsampled by ``scale``).

    Returns:
        ``VBox`` with ``.controls`` (``source``, ``scale``, ``shift``, ``mode``), ``.fig``,
        ``.state`` (``mean_error``, the disparity maps by source) for tests.
    """
    left, right, truth = middlebury(scale)
    sources = {"true": truth, "block matching": block_matching(left, right, max_disparity, 5, "zncc")}
    try:
        sources["Monodepth (shapes)"] = _predicted_disparity(left)
    except FileNotFoundError:  # the weights file is missing: offer the other two
        pass
    style = {"description_width": "70px"}
    controls = {
        "source": widgets.Dropdown(options=list(sources), value="true", description="disparity", style=style),
        "scale": widgets.FloatSlider(
            value=1.0, min=0.0, max=2.0, step=0.05, description="scale", style=style
        ),
        "shift": widgets.FloatSlider(
            value=0.0, min=-10.0, max=10.0, step=0.5, description="shift (px)", style=style
        ),
        "mode": widgets.ToggleButtons(
            options=["backward", "forward"],
            value="backward",
            description="warping",
            style={**style, "button_width": "100px"},
        ),
    }
    controls["mode"].add_class("widget-inline-hbox")
    fig, (ax_image, ax_error), canvas = interactive_figure(figsize=(10, 3.6), ncols=2)
    picture = ax_image.imshow(left.permute(1, 2, 0).numpy())
    style_axes(ax_image, "rebuilt image", "u (pixels)", "v (pixels)")
    error_image = ax_error.imshow(np.zeros(truth.shape), cmap="magma", vmin=0, vmax=0.3)
    fig.colorbar(error_image, ax=ax_error, fraction=0.046, pad=0.04, label="|colour error|")
    style_axes(ax_error, "error", "u (pixels)", "v (pixels)")
    live = LiveArtists(fig, [picture, error_image, ax_image.title, ax_error.title])
    state: dict = {"sources": sources}

    def update(_change=None) -> None:
        mode = controls["mode"].value
        image, error, mean = warp_view(
            left,
            right,
            sources[controls["source"].value],
            controls["scale"].value,
            controls["shift"].value,
            mode,
        )
        picture.set_data(image)
        error_image.set_data(error)
        what = (
            "left from right (backward)" if mode == "backward" else "right from left (forward: holes black)"
        )
        ax_image.set_title(f"rebuilt: {what}")
        ax_error.set_title(f"error vs the {'left' if mode == 'backward' else 'right'} image: mean {mean:.4f}")
        state["mean_error"] = mean
        live.redraw()

    for control in controls.values():
        control.observe(update, names="value")
    update()
    box = widgets.VBox(
        [
            widgets.HBox([controls["source"], controls["mode"]]),
            widgets.HBox([controls["scale"], controls["shift"]]),
            canvas,
        ]
    )
    box.controls, box.fig, box.state = controls, fig, state
    return box
