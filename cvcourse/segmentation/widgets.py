"""The chapter's widgets: the receptive field of a (dilated) convolution stack, the upsampling
methods on a small grid of numbers, the segmentation viewer (5a) and the panoptic viewer (5b).

Each is a thin ipywidgets view over a pure function of :mod:`cvcourse.segmentation.explorers`
(``receptive_field_view``, ``upsampling_view``); drawing goes through ``LiveArtists`` (the
changing images, outlines and texts are redrawn over a background rendered once).
``segmentation_viewer()`` lives in :mod:`cvcourse.segmentation.viewer` and ``panoptic_viewer()`` in
:mod:`cvcourse.segmentation.panoptic_viewer` (they need the shipped models); both are re-exported here,
so every widget of the chapter is imported from ``widgets``.
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Rectangle

from cvcourse.viz import LiveArtists, interactive_figure, style_axes

from .explorers import GRID, INPUTS, METHODS, SCHEDULES, receptive_field_view, upsampling_view
from .panoptic_viewer import panoptic_viewer  # the viewers, importable from here like every widget
from .viewer import segmentation_viewer

__all__ = [
    "receptive_field_explorer",
    "upsampling_explorer",
    "segmentation_viewer",
    "panoptic_viewer",
    "formula_html",
]

STYLE = {"description_width": "initial"}


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


class _GridPainter:
    """Paints a grid of numbers as one RGB picture: cell colours from a colour map, each value's
    digits stamped in black. One image artist instead of text artists (each text costs a layout and
    a glyph rendering per redraw: the grid's texts made a control change slower than 150 ms); the
    strings' bitmaps are rendered once by FreeType and kept."""

    def __init__(self, ax, cmap: str = "Blues") -> None:
        from matplotlib import colormaps
        from matplotlib.font_manager import FontProperties, findfont
        from matplotlib.ft2font import FT2Font

        self.ax = ax  # painted at the axes' size in pixels (once drawn, the layout is frozen)
        self.cmap = colormaps[cmap]
        self.font = FT2Font(findfont(FontProperties(family="DejaVu Sans")))
        self.bitmaps: dict[tuple[str, int], np.ndarray] = {}

    def _bitmap(self, text: str, points: int) -> np.ndarray:
        key = (text, points)
        if key not in self.bitmaps:
            self.font.set_size(points, 72)  # 1 point = 1 pixel of the picture
            self.font.set_text(text)
            self.font.draw_glyphs_to_bitmap()
            self.bitmaps[key] = np.asarray(self.font.get_image(), dtype=np.float64) / 255
        return self.bitmaps[key]

    def paint(self, values: np.ndarray, lo: float, hi: float) -> np.ndarray:
        h, w = values.shape
        box = self.ax.get_window_extent()
        ph, pw = max(round(box.height), 8), max(round(box.width), 8)
        rows, cols = np.arange(ph) * h // ph, np.arange(pw) * w // pw  # the cell of every picture pixel
        level = (values - lo) / max(hi - lo, 1e-12) / 1.6  # the darkest blue stays light enough for digits
        picture = self.cmap(level[rows[:, None], cols[None, :]])[..., :3].copy()
        texts = [[_number(v) for v in row] for row in values]
        longest = max(len(t) for row in texts for t in row)
        points = int(min(40, ph / h * 0.4, pw / w / (0.65 * longest + 0.6)))  # the longest fits in a cell
        for r in range(h):
            for c in range(w):
                ink = self._bitmap(texts[r][c], points)
                top = max(int((r + 0.5) * ph / h - ink.shape[0] / 2), 0)
                left = max(int((c + 0.5) * pw / w - ink.shape[1] / 2), 0)
                region = picture[top : top + ink.shape[0], left : left + ink.shape[1]]
                region *= 1 - ink[: region.shape[0], : region.shape[1], None]  # black ink over the colour
        return picture


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
    for ax, name in ((ax_in, "input"), (ax_out, "output")):
        img = ax.imshow(np.ones((1, 1, 3)), extent=(0, 1, 1, 0), interpolation="nearest")
        ax.set_xlim(0, 1)
        ax.set_ylim(1, 0)
        ax.set_xticks([])
        ax.set_yticks([])
        style_axes(ax, name, "column", "row")
        panels[name] = (ax, img)
    painters = {name: _GridPainter(ax) for name, (ax, _) in panels.items()}
    note = widgets.HTML()
    spines = [*ax_in.spines.values(), *ax_out.spines.values()]
    live = LiveArtists(fig, [panels["input"][1], panels["output"][1], *spines, ax_in.title, ax_out.title])
    state: dict = {}

    def show(name: str, values: np.ndarray, lo: float, hi: float) -> None:
        panels[name][1].set_data(painters[name].paint(values, lo, hi))

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
