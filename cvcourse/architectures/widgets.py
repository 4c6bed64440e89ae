"""Explorers for chapter 2: per-stage cost of the reference models, and compound scaling.

Each widget is a thin ipywidgets view over a pure function that computes what it shows
(``architecture_rows``, ``scaling_curves``); the tests call those and build the widgets headless.
"""

from __future__ import annotations

import functools
import html

import ipywidgets as widgets
import numpy as np
import torch
from torch import nn

from cvcourse._checks import check_choice, check_int
from cvcourse.architectures import BUILDERS
from cvcourse.architectures.complexity import StageRow, count_flops, stage_summary
from cvcourse.architectures.efficientnet import compound_scaling, scaled_efficientnet
from cvcourse.viz import LiveArtists, interactive_figure, nice_ceil, relayout, style_axes

__all__ = [
    "architecture_rows",
    "architecture_explorer",
    "scaling_curves",
    "scaled_b0_flops",
    "compound_scaling_explorer",
    "EXPLORER_STAGES",
]

_RESNET = ["conv1", "maxpool", "layer1", "layer2", "layer3", "layer4", "fc"]
EXPLORER_STAGES: dict[str, list[str] | None] = {
    "resnet18": _RESNET,
    "resnet34": _RESNET,
    "resnet50": _RESNET,
    "resnext50_32x4d": _RESNET,
    "wide_resnet50_2": _RESNET,
    "googlenet": [
        "conv1",
        "maxpool1",
        "conv3",
        "maxpool2",
        "inception3a",
        "inception3b",
        "maxpool3",
        "inception4a",
        "inception4b",
        "inception4c",
        "inception4d",
        "inception4e",
        "maxpool4",
        "inception5a",
        "inception5b",
        "fc",
    ],
    "mobilenet_v2": None,  # default: every entry of ``features`` then the classifier
    "efficientnet_b0": None,
}


def _shape_only(x: torch.Tensor) -> torch.Tensor:
    return x


# Shape-preserving modules with no FLOPs under FlopCounterMode.
_ELEMENTWISE = (
    nn.modules.batchnorm._BatchNorm,
    nn.ReLU,
    nn.ReLU6,
    nn.SiLU,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Sigmoid,
    nn.Dropout,
    nn.GELU,
)


@functools.cache
def _meta_model(name: str) -> nn.Module:
    """The model on the meta device (shapes only: instant to build, no memory), for counting.

    BatchNorm and the activations run on the meta device as Python decompositions, most of a
    counting pass, yet ``FlopCounterMode`` does not count them (it counts matmuls and convolutions
    only). Here they pass their input through: same shapes, same parameters, same FLOP counts, 3-6x
    faster (``tests/architectures`` checks the rows equal ``stage_summary`` of the untouched model).
    """
    with torch.device("meta"):
        model = BUILDERS[name]().eval()
    for module in model.modules():
        if isinstance(module, _ELEMENTWISE):
            module.forward = _shape_only
    return model


@functools.lru_cache(maxsize=256)
def _rows(name: str, input_size: int) -> tuple[StageRow, ...]:
    # meta=False: the model is already a meta copy of its own, so no copy is needed.
    size = (1, 3, input_size, input_size)
    return tuple(stage_summary(_meta_model(name), size, EXPLORER_STAGES[name], meta=False))


def architecture_rows(name: str, input_size: int = 224) -> list[StageRow]:
    """Per-stage output shape, parameters and FLOPs of model ``name`` on a 1x3xSxS input (cached)."""
    check_choice("name", name, BUILDERS)
    check_int("input_size", input_size, low=32)  # pixels
    return list(_rows(name, input_size))


def _table_html(rows: list[StageRow]) -> str:
    head = "<tr><th>stage</th><th>output shape</th><th>parameters</th><th>MFLOPs</th></tr>"
    body = "".join(
        f"<tr><td>{html.escape(r.name)}</td><td style='white-space:nowrap'>{list(r.output_shape)}</td>"
        f"<td style='text-align:right'>{r.params:,}</td>"
        f"<td style='text-align:right'>{r.flops / 1e6:,.1f}</td></tr>"
        for r in rows
    )
    total = (
        f"<tr><th>total</th><th></th><th style='text-align:right'>"
        f"{sum(r.params for r in rows):,}</th><th style='text-align:right'>"
        f"{sum(r.flops for r in rows) / 1e6:,.1f}</th></tr>"
    )
    return f"<table>{head}{body}{total}</table>"


def architecture_explorer(name: str = "resnet18", input_size: int = 224) -> widgets.Box:
    """Pick a model and an input size; see the per-stage table and bars of parameters and FLOPs.

    Returns:
        The widget; ``.controls`` holds the ``model`` and ``input_size`` controls, ``.fig`` the
        figure, ``.table`` the HTML table, ``.rows`` the current ``StageRow`` list.
    """
    check_choice("name", name, BUILDERS)
    check_int("input_size", input_size, low=32, high=512)  # the slider's range
    model = widgets.Dropdown(options=list(BUILDERS), value=name, description="model")
    size = widgets.IntSlider(
        value=input_size,
        min=32,
        max=512,
        step=32,
        description="input size",
        continuous_update=False,
    )
    # 6.5 in wide, so figure and table sit side by side on a 1280 px projector screen. Horizontal
    # bars, one row per stage, named once on the left: readable from the back of the room, and
    # upright text renders several times faster than rotated text.
    fig, (ax_p, ax_f), canvas = interactive_figure(figsize=(6.5, 5), ncols=2)
    ax_f.sharey(ax_p)
    ax_f.tick_params(axis="y", labelleft=False)
    table = widgets.HTML()
    box = widgets.HBox([widgets.VBox([model, size, canvas]), table])
    # A new input size changes only the FLOP bars and their title: they are redrawn over the rest.
    # The FLOP axis is scaled for the largest input size, so the bars visibly grow with resolution.
    live = LiveArtists(fig, [])
    shown = {"model": None, "bars": [], "widest": 0, "prerender": False}
    style_axes(ax_p, "parameters", "parameters (M)", "stage")
    style_axes(ax_f, "FLOPs", "FLOPs (G)", "")
    ax_p.invert_yaxis()  # the first stage at the top, as in the table

    def draw_model(rows: list[StageRow]) -> None:
        # New bars and tick labels on the same axes (no ax.clear(): it would throw away the ticks,
        # title and label positions that are costly to rebuild).
        # FLOPs grow with H x W: the largest stage at the largest size, rounded up to a round
        # number so that every size gives the same axis (and the same kept background).
        largest = nice_ceil(size.max**2 / size.value**2 * max(r.flops for r in rows) / 1e9)
        for bars in shown["bars"]:
            bars.remove()
        shown["bars"] = [
            ax_p.barh(range(len(rows)), [r.params / 1e6 for r in rows], color="tab:blue"),
            ax_f.barh(range(len(rows)), [r.flops / 1e9 for r in rows], color="tab:orange"),
        ]
        ax_p.set_yticks(range(len(rows)), [r.name for r in rows], fontsize=8)  # shared with ax_f
        ax_p.set_ylim(len(rows) - 0.4, -0.6)
        ax_p.set_xlim(0, 1.05 * max(r.params for r in rows) / 1e6)
        ax_f.set_xlim(0, largest)
        ax_p.set_title(f"{model.value}: parameters")
        live.artists = [*shown["bars"][1].patches, ax_f.title]
        widest = max(len(r.name) for r in rows)
        if widest > shown["widest"]:  # longer stage names than any so far: make room, once
            relayout(fig)
            shown["widest"] = widest
        shown["model"] = model.value

    def update(_=None) -> None:
        rows = architecture_rows(model.value, size.value)
        box.rows = rows
        table.value = _table_html(rows)
        full = shown["model"] != model.value
        if full:
            draw_model(rows)
        for bar, row in zip(live.artists[:-1], rows, strict=True):
            bar.set_width(row.flops / 1e9)
        ax_f.set_title(f"FLOPs at {size.value} px")
        key = (model.value, ax_f.get_xlim(), shown["widest"])  # all but the FLOP bars and title
        if shown["prerender"]:
            live.prerender(key)
        else:
            live.redraw(full=full, key=key)

    model.observe(update, names="value")
    size.observe(update, names="value")
    # Count every model and render its background now (~1.5 s), so the menu answers at once; the
    # model with the longest stage names first, so that the layout leaves room for all of them.
    first = model.value
    longest = {n: max(len(r.name) for r in architecture_rows(n, size.value)) for n in BUILDERS}
    shown["prerender"] = True
    for name in sorted(BUILDERS, key=lambda n: -longest[n]):
        if model.value == name:
            update()
        else:
            model.value = name  # the observer prerenders it
    shown["prerender"] = False
    if model.value == first:
        update()
    else:
        model.value = first
    box.controls = {"model": model, "input_size": size}
    box.fig = fig
    box.table = table
    return box


@functools.lru_cache(maxsize=256)
def scaled_b0_flops(phi: float, alpha: float, beta: float, gamma: float) -> int:
    """FLOPs of EfficientNet-B0 scaled by ``compound_scaling(phi, alpha, beta, gamma)``, measured
    with the FLOP counter at resolution ``round(224 * gamma**phi)``."""
    m = compound_scaling(phi, alpha, beta, gamma)
    with torch.device("meta"):
        model = scaled_efficientnet(m["width"], m["depth"]).eval()
    r = int(round(224 * m["resolution"]))
    return count_flops(model, (1, 3, r, r))


def scaling_curves(
    phi_max: float, alpha: float, beta: float, gamma: float, num: int = 41
) -> dict[str, np.ndarray]:
    """The FLOP growth factors against phi: predicted ``(alpha beta^2 gamma^2)^phi`` and the
    ``2^phi`` the constraint aims at, and the depth/width/resolution multipliers."""
    m = compound_scaling(phi_max, alpha, beta, gamma)  # validates the arguments
    phis = np.linspace(0.0, phi_max, check_int("num", num, low=2))
    return {
        "phi": phis,
        "predicted": m["constraint"] ** phis,
        "two_to_phi": 2.0**phis,
        "depth": alpha**phis,
        "width": beta**phis,
        "resolution": gamma**phis,
    }


def compound_scaling_explorer(
    phi: float = 1.0, alpha: float = 1.2, beta: float = 1.1, gamma: float = 1.15
) -> widgets.Box:
    """Sliders for phi, alpha, beta, gamma; plots the FLOP growth against the 2^phi line, and on
    "measure" marks the FLOPs of EfficientNet-B0 scaled that way, counted with the FLOP counter.

    The sliders only recompute formulas, so they answer at once; building and counting a scaled
    model takes about half a second, so it happens on the button (and once at start), and a measured
    dot stays on the plot only while the sliders still show the values it was measured for.

    Returns:
        The widget; ``.controls`` holds the four sliders and the ``measure`` button, ``.fig`` the
        figure, ``.info`` the text.
    """
    compound_scaling(phi, alpha, beta, gamma)  # validates the arguments
    sliders = {
        "phi": widgets.FloatSlider(value=phi, min=0.0, max=4.0, step=0.5, description="φ"),
        "alpha": widgets.FloatSlider(value=alpha, min=1.0, max=2.0, step=0.05, description="α depth"),
        "beta": widgets.FloatSlider(value=beta, min=1.0, max=1.6, step=0.05, description="β width"),
        "gamma": widgets.FloatSlider(value=gamma, min=1.0, max=1.6, step=0.05, description="γ res."),
    }
    measure = widgets.Button(
        description="measure FLOPs",
        icon="calculator",
        tooltip="build B0 scaled by these values and count its FLOPs (~0.5 s)",
    )
    fig, ax, canvas = interactive_figure(figsize=(6, 4))
    (pred_line,) = ax.plot([], [], label="predicted (αβ²γ²)^φ")
    (two_line,) = ax.plot([], [], "k--", label="2^φ")
    (point,) = ax.plot([], [], "o", color="tab:red", label="EfficientNet-B0 scaled, measured")
    ax.set_yscale("log", base=2)
    ax.legend(loc="upper left")
    info = widgets.HTML()
    box = widgets.VBox([widgets.HBox([widgets.VBox([*sliders.values(), measure]), info]), canvas])
    measured: dict[tuple[float, ...], float] = {}  # slider values -> measured FLOP ratio
    # φ moves only the dot and the title; α, β, γ also bend the predicted curve. They are redrawn
    # over the rest; the y axis spans whole powers of 2, so it (and the figure) is redrawn in full
    # only when the curve crosses into another one.
    live = LiveArtists(fig, [pred_line, point, ax.title])
    ax.set_xlim(0.0, 4.0)

    def values() -> tuple[float, float, float, float]:
        return tuple(round(sliders[k].value, 6) for k in ("phi", "alpha", "beta", "gamma"))

    def update(_=None) -> None:
        v = values()
        curves = scaling_curves(4.0, *v[1:])
        pred_line.set_data(curves["phi"], curves["predicted"])
        two_line.set_data(curves["phi"], curves["two_to_phi"])
        ratio = measured.get(v)
        point.set_data([v[0]] if ratio else [], [ratio] if ratio else [])
        top = 2.0 ** np.ceil(
            np.log2(max(curves["predicted"].max(), curves["two_to_phi"].max(), ratio or 0.0) * 1.05)
        )
        full = ax.get_ylim() != (1.0 / 1.05, top)
        if full:
            ax.set_ylim(1.0 / 1.05, top)
        m = compound_scaling(*v)
        style_axes(ax, f"Compound scaling: αβ²γ² = {m['constraint']:.2f}", "φ", "FLOPs / FLOPs(φ=0)")
        found = f"{ratio:.2f} measured" if ratio else "press <i>measure FLOPs</i> to count"
        info.value = (
            f"depth × {m['depth']:.2f}<br>width × {m['width']:.2f}<br>"
            f"resolution × {m['resolution']:.2f} ({round(224 * m['resolution'])} px)<br>"
            f"FLOPs × {m['flops_factor']:.2f} predicted, {found}"
        )
        live.redraw(full=full)

    def measure_now(_=None) -> None:
        v = values()
        measured[v] = scaled_b0_flops(*v) / scaled_b0_flops(0.0, *v[1:])
        update()

    for s in sliders.values():
        s.observe(update, names="value")
    measure.on_click(measure_now)
    measure_now()
    box.controls = {**sliders, "measure": measure}
    box.fig = fig
    box.info = info
    return box
