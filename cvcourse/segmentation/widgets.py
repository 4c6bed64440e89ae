"""The chapter's explorers: the receptive field of a (dilated) convolution stack, and the
upsampling methods on a small grid of numbers.

Each is a thin ipywidgets view over a pure function of :mod:`cvcourse.segmentation.explorers`
(``receptive_field_view``, ``upsampling_view``); drawing goes through ``LiveArtists`` (the
changing images, outlines and texts are redrawn over a background rendered once).
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Rectangle

from cvcourse.viz import LiveArtists, interactive_figure, style_axes

from .explorers import GRID, INPUTS, METHODS, SCHEDULES, receptive_field_view, upsampling_view

__all__ = ["receptive_field_explorer", "upsampling_explorer", "formula_html"]

STYLE = {"description_width": "initial"}
MAX_CELLS = 6  # the largest output grid: 2 x 2 input, scale 3


def formula_html(view: dict) -> str:
    """The receptive-field formula and its layer table, as the HTML shown beside the picture."""
    rows = "".join(
        f"<tr><td>{i}</td><td>{r['kernel']}</td><td>{r['stride']}</td><td>{r['dilation']}</td>"
        f"<td>{r['effective_kernel']}</td><td>{r['jump']}</td><td><b>{r['rf']}</b></td></tr>"
        for i, r in enumerate(view["table"], start=1)
    )
    cut = " (cut by the grid)" if view["rf"] > GRID else ""
    return (
        "<div style='font-family: monospace; font-size: 13px'>"
        "RF<sub>l</sub> = RF<sub>l-1</sub> + d<sub>l</sub> (k<sub>l</sub> - 1) jump<sub>l-1</sub>"
        "<br>k<sub>eff</sub> = d (k - 1) + 1, jump<sub>l</sub> = jump<sub>l-1</sub> s<sub>l</sub>"
        "<table style='border-collapse: collapse; margin-top: 6px' cellpadding='3'>"
        "<tr><th>layer</th><th>k</th><th>s</th><th>d</th><th>k<sub>eff</sub></th><th>jump</th><th>RF</th></tr>"
        f"{rows}</table>"
        f"formula: {view['rf']} x {view['rf']}<br>"
        f"measured (gradient of real nn.Conv2d): {view['measured']} x {view['measured']}{cut}<br>"
        f"pixels seen: {view['seen']} of {min(view['rf'], GRID) ** 2}</div>"
    )


def receptive_field_explorer() -> widgets.VBox:
    """Depth, kernel, dilation schedule and stride of a stack of convolutions -> the input pixels the
    centre output pixel sees (shaded by the number of paths; dark holes = gridding), the
    receptive-field square, and the formula's table beside it."""
    controls = {
        "depth": widgets.IntSlider(value=3, min=1, max=5, description="layers", style=STYLE),
        "kernel": widgets.Dropdown(options=[3, 5, 7], value=3, description="kernel", style=STYLE),
        "schedule": widgets.Dropdown(
            options=list(SCHEDULES), value=SCHEDULES[1], description="dilations", style=STYLE
        ),
        "stride": widgets.Dropdown(options=[1, 2], value=1, description="stride (every layer)", style=STYLE),
    }
    fig, ax, canvas = interactive_figure(figsize=(5.2, 4.8))
    image = ax.imshow(np.zeros((GRID, GRID)), cmap="magma", vmin=0, vmax=1, interpolation="nearest")
    square = Rectangle((0, 0), 1, 1, fill=False, edgecolor="tab:cyan", linewidth=1.5)
    ax.add_patch(square)
    ax.plot([GRID // 2], [GRID // 2], marker="+", color="tab:cyan", markersize=8)
    style_axes(ax, "receptive field", "input column", "input row")
    formula = widgets.HTML()
    live = LiveArtists(fig, [image, square, *ax.spines.values(), ax.title])
    state: dict = {}

    def update(_change=None) -> None:
        c = controls
        view = receptive_field_view(
            c["depth"].value, c["kernel"].value, c["schedule"].value, c["stride"].value
        )
        counts = view["counts"].numpy()
        image.set_data(counts / counts.max())
        half = (view["rf"] - 1) / 2
        square.set_bounds(GRID // 2 - half - 0.5, GRID // 2 - half - 0.5, view["rf"], view["rf"])
        ax.set_title(
            f"receptive field {view['rf']} x {view['rf']}, {view['seen']} pixels seen", fontsize="medium"
        )
        formula.value = formula_html(view)
        state["view"] = view
        live.redraw()

    for control in controls.values():
        control.observe(update, names="value")
    update()
    box = widgets.VBox(
        [
            widgets.HBox(list(controls.values())[:2]),
            widgets.HBox(list(controls.values())[2:]),
            widgets.HBox([canvas, formula]),
        ]
    )
    box.controls, box.fig, box.state, box.formula = controls, fig, state, formula
    return box


def _number(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}".rstrip("0")


def upsampling_explorer() -> widgets.VBox:
    """An input grid, a method (nearest, bilinear, bed of nails, max unpooling, transposed
    convolution, pixel shuffle) and a scale -> the output grid with its values."""
    controls = {
        "grid": widgets.Dropdown(options=list(INPUTS), description="input", style=STYLE),
        "method": widgets.Dropdown(
            options=list(METHODS), value="bilinear", description="method", style=STYLE
        ),
        "scale": widgets.Dropdown(options=[2, 3], value=2, description="scale", style=STYLE),
    }
    fig, (ax_in, ax_out), canvas = interactive_figure(figsize=(8.4, 4.5), ncols=2)
    panels = {}
    for ax, cells, name in ((ax_in, 2, "input"), (ax_out, MAX_CELLS, "output")):
        img = ax.imshow(
            np.zeros((1, 1)), cmap="Blues", vmin=0, vmax=1, extent=(0, 1, 1, 0), interpolation="nearest"
        )
        # one monospace text per row (a text per cell costs a glyph layout each: too slow to redraw)
        rows = [
            ax.text(0.5, 0, "", ha="center", va="center", family="monospace", visible=False)
            for _ in range(cells)
        ]
        ax.set_xlim(0, 1)
        ax.set_ylim(1, 0)
        ax.set_xticks([])
        ax.set_yticks([])
        style_axes(ax, name, "column", "row")
        panels[name] = (ax, img, rows)
    note = widgets.HTML()
    live_artists = [a for name in ("input", "output") for a in (panels[name][1], *panels[name][2])]
    spines = [*ax_in.spines.values(), *ax_out.spines.values()]
    live = LiveArtists(fig, [*live_artists, *spines, ax_in.title, ax_out.title])
    state: dict = {}

    def show(name: str, values: np.ndarray, lo: float, hi: float) -> None:
        ax, img, rows = panels[name]
        img.set_data(values)
        img.set_clim(lo, lo + 1.6 * (hi - lo))  # the darkest blue stays light enough for black digits
        h, w = values.shape
        cells = [[_number(v) for v in row] for row in values]
        # a DejaVu Sans Mono character is 0.602 em wide: `width` characters at `size` points fill a cell
        cell_points = ax.get_position().width * fig.get_figwidth() * 72 / w
        width = max(max(len(c) for row in cells for c in row) + 1, round(cell_points / (0.602 * 16)))
        size = cell_points / (0.602 * width)
        for i, t in enumerate(rows):
            t.set_visible(i < h)
            if i < h:
                t.set_text("".join(c.center(width) for c in cells[i]))
                t.set_position((0.5, (i + 0.5) / h))
                t.set_fontsize(size)

    def update(_change=None) -> None:
        c = controls
        view = upsampling_view(c["grid"].value, c["method"].value, c["scale"].value)
        x, y = view["input"].numpy(), view["output"].numpy()
        lo, hi = min(0.0, x.min(), y.min()), max(x.max(), y.max(), 1e-12)
        show("input", x, lo, hi)
        show("output", y, lo, hi)
        ax_in.set_title(f"input {x.shape[0]} x {x.shape[1]}", fontsize="medium")
        ax_out.set_title(f"{c['method'].value}: output {y.shape[0]} x {y.shape[1]}", fontsize="medium")
        note.value = f"<i>{view['note']}</i>"
        state["view"] = view
        live.redraw()

    for control in controls.values():
        control.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox(list(controls.values())), canvas, note])
    box.controls, box.fig, box.state, box.note = controls, fig, state, note
    return box
