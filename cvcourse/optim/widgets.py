"""Optimizer trajectory explorer: every optimizer of the chapter on a 2-D loss surface, live.

The thin ipywidgets view over :mod:`cvcourse.optim.explorer` (``explorer_data`` computes what it
shows, ``draw_paths`` the same picture statically): ``trajectory_explorer`` redraws the same
artists in place when a control changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np

from cvcourse._checks import check_choice

from .explorer import (  # noqa: F401 - re-exported: the names the notebook and tests import here
    _COLORS,
    OPTIMIZERS,
    SURFACE_DEFAULTS,
    _check_names,
    _gap,
    _last_point,
    _legend_label,
    _loss_limits,
    draw_paths,
    explorer_data,
    optimizer_specs,
)
from .surfaces import SURFACES, LeastSquares, get_surface
from .trajectories import Trajectories

__all__ = [
    "OPTIMIZERS",
    "SURFACE_DEFAULTS",
    "optimizer_specs",
    "explorer_data",
    "draw_paths",
    "trajectory_explorer",
]


def trajectory_explorer(
    surface: str = "canyon",
    names: Sequence[str] = ("SGD", "Momentum", "Adam"),
    figsize: tuple[float, float] = (10.0, 4.2),
):
    """Build the optimizer trajectory explorer.

    Controls: surface, start point (sliders, or a click on the contour plot), learning rate (log
    slider), momentum, beta1, beta2, number of steps, mini-batch size (least-squares surface) and
    the optimizers shown. The contour plot and the loss panel update in place.

    Args:
        surface: initial surface name, one of ``SURFACES``.
        names: optimizers shown at first.
        figsize: figure size in inches.

    Returns:
        An ``ipywidgets.VBox`` with attributes ``controls`` (dict of the widgets by name), ``fig``,
        ``ax_contour``, ``ax_loss``, ``lines`` (dict name -> contour Line2D), ``update()`` (redraw
        from the controls, returns the ``Trajectories``) and ``on_click(x, y)`` (set the start).
    """
    import ipywidgets as widgets

    from cvcourse.viz import LiveArtists, interactive_figure

    check_choice("surface", surface, SURFACES)
    _check_names(names)
    fig, (ax_c, ax_l), canvas = interactive_figure(figsize=figsize, ncols=2)
    surf = get_surface(surface)
    defaults = SURFACE_DEFAULTS[surface]
    style, layout = {"description_width": "125px"}, widgets.Layout(width="340px")
    c = {
        "surface": widgets.Dropdown(options=list(SURFACES), value=surface, description="surface"),
        "x0": widgets.FloatSlider(description="start w₁", step=0.05, style=style, layout=layout),
        "y0": widgets.FloatSlider(description="start w₂", step=0.05, style=style, layout=layout),
        "lr": widgets.FloatLogSlider(
            value=defaults["lr"],
            base=10,
            min=-4,
            max=0.5,
            step=0.05,
            description="learning rate",
            readout_format=".4f",
            style=style,
            layout=layout,
        ),
        "momentum": widgets.FloatSlider(
            value=0.9,
            min=0.0,
            max=0.99,
            step=0.01,
            description="momentum μ",
            style=style,
            layout=layout,
        ),
        "beta1": widgets.FloatSlider(
            value=0.9,
            min=0.0,
            max=0.99,
            step=0.01,
            description="Adam β₁",
            style=style,
            layout=layout,
        ),
        "beta2": widgets.FloatSlider(
            value=0.999,
            min=0.5,
            max=0.999,
            step=0.001,
            readout_format=".3f",
            description="β₂ (2nd moment)",
            style=style,
            layout=layout,
        ),
        "steps": widgets.IntSlider(
            value=defaults["steps"],
            min=1,
            max=1000,
            step=1,
            description="steps",
            style=style,
            layout=layout,
        ),
        "batch_size": widgets.Dropdown(
            options=[("full batch", 0), ("64", 64), ("16", 16), ("4", 4)],
            value=0,
            description="batch size",
            style=style,
        ),
        "names": widgets.SelectMultiple(
            options=list(OPTIMIZERS),
            value=tuple(names),
            rows=6,
            description="optimizers",
            style=style,
        ),
    }
    lines, loss_lines, crosses = {}, {}, {}
    for name in OPTIMIZERS:
        color = _COLORS[name]
        (lines[name],) = ax_c.plot([], [], ".-", markersize=2, lw=1.2, color=color, label=name)
        (crosses[name],) = ax_c.plot([], [], "x", color=color, markersize=12, mew=3)
        (loss_lines[name],) = ax_l.semilogy([1], [1], color=color, label=name)
    (start_dot,) = ax_c.plot([], [], "ko", markersize=6)
    (min_star,) = ax_c.plot([], [], "k*", markersize=12)
    ax_l.set(title="Loss minus its minimum", xlabel="step", ylabel="$f(w) - f^*$ (log scale)")
    ax_c.set(xlabel="$w_1$", ylabel="$w_2$")
    box = widgets.VBox()
    status = {"contours": {}, "hold": False, "full": True, "legend": None, "limits": None}
    # A control change redraws only the paths, markers and loss curves, over the rest of the figure
    # rendered once (contours, axes, legend). A new surface, new loss-panel limits or a new legend
    # (another optimizer shown, or one diverging) render the whole figure again, or restore its
    # background if that state was rendered before: every surface's is rendered while building.
    live = LiveArtists(fig, [*lines.values(), *crosses.values(), start_dot, *loss_lines.values()])

    def set_surface(name: str) -> None:
        nonlocal surf
        surf = get_surface(name)
        xmin, xmax, ymin, ymax = surf.extent
        status["hold"] = True  # one redraw for all the controls changed here
        for key, (lo, hi), value in (
            ("x0", (xmin, xmax), surf.start[0]),
            ("y0", (ymin, ymax), surf.start[1]),
        ):
            with c[key].hold_sync():  # one message to the browser per slider, not five
                c[key].min, c[key].max = -1e9, 1e9  # no transient min > max while moving the range
                c[key].min, c[key].max, c[key].value = lo, hi, value
        c["lr"].value, c["steps"].value = (
            SURFACE_DEFAULTS[name]["lr"],
            SURFACE_DEFAULTS[name]["steps"],
        )
        c["batch_size"].disabled = not isinstance(surf, LeastSquares)
        c["batch_size"].value = 0
        status["hold"] = False
        for contour in status["contours"].values():  # contours are drawn once per surface
            contour.set_visible(False)
        if name not in status["contours"]:
            X, Y, Z = surf.grid()
            status["contours"][name] = ax_c.contour(
                X, Y, np.log1p(Z - Z.min()), levels=20, cmap="Greys", linewidths=0.7
            )
        status["contours"][name].set_visible(True)
        min_star.set_data([surf.minimum[0]], [surf.minimum[1]])
        ax_c.set(xlim=(xmin, xmax), ylim=(ymin, ymax), title=f"Trajectories on the {surf.name} surface")

    def update(*_) -> Trajectories | None:
        if status["hold"]:
            return None
        shown = tuple(c["names"].value) or ("SGD",)
        traj = explorer_data(
            surf,
            start=(c["x0"].value, c["y0"].value),
            lr=c["lr"].value,
            momentum=c["momentum"].value,
            beta1=c["beta1"].value,
            beta2=c["beta2"].value,
            steps=c["steps"].value,
            names=shown,
            batch_size=c["batch_size"].value or None,
        )
        start_dot.set_data([c["x0"].value], [c["y0"].value])
        handles = []
        for name in OPTIMIZERS:
            visible = name in shown
            for artist in (lines[name], loss_lines[name], crosses[name]):
                artist.set_visible(visible)
            if not visible:
                continue
            i = shown.index(name)
            lines[name].set_data(traj.paths[i, :, 0], traj.paths[i, :, 1])
            lines[name].set_label(_legend_label(name, traj, i))
            diverged = traj.diverged_at[i] >= 0
            crosses[name].set_data(
                *([[v] for v in _last_point(surf, traj.paths[i])] if diverged else ([], []))
            )
            loss_lines[name].set_data(np.arange(traj.losses.shape[1]), _gap(surf, traj.losses[i]))
            handles.append(lines[name])
        gaps = np.stack([_gap(surf, traj.losses[i]) for i in range(len(shown))])
        limits = _loss_limits(gaps, traj.losses.shape[1] - 1, status["limits"])
        if limits != status["limits"]:
            ax_l.set(xlim=limits[0], ylim=limits[1])
            status["limits"], status["full"] = limits, True
        legend = tuple((h, h.get_label()) for h in handles)
        if legend != status["legend"]:
            # Below both panels, outside the plots, so it never hides a path.
            for old in fig.legends:
                old.remove()
            fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=9)
            status["legend"], status["full"] = legend, True
        key = (surf.name, limits, tuple(label for _, label in legend))  # all but the artists
        if status.pop("prerender", False):
            live.prerender(key)
        else:
            live.redraw(full=status["full"], key=key)
        status["full"] = False
        box.trajectories = traj
        return traj

    def on_surface(change) -> None:
        # The new figure goes to the browser before the controls' new ranges and values: the
        # picture is what the user watches, and re-rendering five sliders first delayed it.
        with contextlib.ExitStack() as held:
            for key in ("x0", "y0", "lr", "steps", "batch_size"):
                held.enter_context(c[key].hold_sync())
            set_surface(change["new"])
            status["full"] = True  # new contours and limits
            update()

    def on_click(x: float, y: float) -> None:
        status["hold"] = True
        c["x0"].value, c["y0"].value = float(x), float(y)
        status["hold"] = False
        update()

    def on_press(event) -> None:
        if event.inaxes is ax_c and event.xdata is not None:
            on_click(event.xdata, event.ydata)

    set_surface(surface)
    c["surface"].observe(on_surface, names="value")
    for key, widget in c.items():
        if key != "surface":
            widget.observe(update, names="value")
    canvas.mpl_connect("button_press_event", on_press)
    column1 = widgets.VBox([c["surface"], c["x0"], c["y0"], c["lr"], c["steps"]])
    column2 = widgets.VBox([c["momentum"], c["beta1"], c["beta2"], c["batch_size"]])
    hint = widgets.HTML("Click on the contour plot to move the start point.")
    box.children = [widgets.HBox([column1, column2, c["names"]]), hint, canvas]
    box.controls, box.fig, box.ax_contour, box.ax_loss = c, fig, ax_c, ax_l
    box.lines, box.update, box.on_click = lines, update, on_click
    update()
    for name in SURFACES:  # each surface's background now (~0.1 s each): the menu answers at once
        if name != surface:
            set_surface(name)
            status["prerender"] = True
            update()
    set_surface(surface)
    status["full"] = True
    update()
    return box
