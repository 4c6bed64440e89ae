"""The live canvas: an ipympl canvas widget that sends whole frames at once, and ``redraw``.

``interactive_figure`` builds a figure on it whatever the notebook's backend; its layout is solved
on the first draw and then frozen (``relayout`` solves it once more). ``redraw`` renders and sends
a frame now rather than asking the browser to ask for one (``draw_idle``, a round trip more).
"""

from __future__ import annotations

import functools
import itertools
import warnings
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_webagg_core import FigureCanvasWebAggCore
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine

from cvcourse._checks import check_float, check_int, check_type
from cvcourse.livefig import _private
from cvcourse.livefig.png import encode_png

__all__ = ["interactive_figure", "redraw", "relayout"]


def _ipympl_classes():
    """Import ipympl's Canvas and FigureManager without switching the notebook's backend.

    ``import ipympl`` calls ``matplotlib.use("module://ipympl.backend_nbagg")`` when matplotlib is
    already imported, which would turn every later ``%matplotlib inline`` figure into a widget. We
    only want the canvas class, so ``matplotlib.use`` is a no-op while the package is imported.
    """
    real_use = matplotlib.use
    matplotlib.use = lambda *args, **kwargs: None
    try:
        from ipympl.backend_nbagg import Canvas, FigureManager
    finally:
        matplotlib.use = real_use
    return Canvas, FigureManager


def _fast_frames(canvas: Any) -> bool:
    """Whether ``LiveCanvas`` can send its own whole frames: the WebAgg internals it sets exist.

    True for a canvas that is not WebAgg-based (plain Agg, headless: nothing is sent anyway).
    """
    if not isinstance(canvas, FigureCanvasWebAggCore):
        return True
    return _private.available(canvas, _private.CANVAS_INTERNALS, "sending whole frames at once")


@functools.cache
def _live_canvas_class() -> type:
    """ipympl's Canvas sending whole frames with a faster PNG encoder; the rest (the widget model
    included) as is."""
    Canvas, _ = _ipympl_classes()

    class LiveCanvas(Canvas):
        def get_diff_image(self) -> bytes | None:
            """The frame to send: always the whole figure, never only the pixels that changed.

            matplotlib's ``get_diff_image`` sends a "diff" frame when it can: the changed pixels,
            transparent elsewhere, drawn by the browser over the frame before. But ipympl's view
            loads every frame into one ``Image``: a frame that arrives while the one before is
            still loading replaces it, and that one is never drawn. A lost full frame costs
            nothing, the next one has every pixel; a lost diff frame leaves its pixels stale for
            good. In Chromium that showed as ghost curves in the trajectory explorer: ipympl
            answers each of the view's "draw" requests (several while it starts up) and a dragged
            slider sends a frame per value, so frames do arrive back to back.

            Where this release's canvas lacks the bookkeeping set here (``_private``), the frame
            is matplotlib's own, and ``redraw`` only asks the browser for frames.
            """
            if not _fast_frames(self):
                return super().get_diff_image()
            if not self._png_is_old:
                return None
            pixels = np.asarray(self.get_renderer().buffer_rgba())  # [H, W, 4] uint8
            self.set_image_mode("full")
            self._last_buff = pixels.view(np.uint32).squeeze(2).copy()  # ipympl's _data_url reads it
            self._force_full = False
            self._png_is_old = False
            return encode_png(pixels)

    return LiveCanvas


_figure_numbers = itertools.count(1000)


def _check_whole_pixels(figsize: tuple[float, float], dpi: float) -> None:
    """Refuse a size that is not a whole number of pixels in floating point.

    4.6 in at 100 dpi is 459.99999999999994 px: matplotlib rounds it to 460 rows for every frame,
    but ipympl's front end sizes its canvas with the float and the browser keeps 459, so the page can
    never show the frame the kernel sent (its last row is cut off). Whole-pixel sizes (4.8 in, 5.2 in,
    or any ``pixels / dpi`` that multiplies back exactly) avoid it, on screens of 1x and 2x pixels.
    """
    for i, (inches, scale) in enumerate((v, r) for v in figsize for r in (1, 2)):
        pixels = inches * dpi * scale
        if pixels != round(pixels):
            good = [round(inches * 10 + k) / 10 for k in (-1, 0, 1)]
            good = [g for g in good if g * dpi == round(g * dpi) and g * dpi * 2 == round(g * dpi * 2)]
            raise ValueError(
                f"figsize[{i // 2}] must be a whole number of pixels at {dpi:g} dpi (and "
                f"at twice that, a HiDPI screen), got {inches!r} in = {pixels!r} px; try "
                f"{' or '.join(map(str, good)) or 'another size'}"
            )


def interactive_figure(
    figsize: tuple[float, float] = (6, 4), nrows: int = 1, ncols: int = 1, **subplot_kw: Any
) -> tuple[Figure, Any, Any]:
    """A figure drawn on an ipympl canvas widget, to place inside an ipywidgets layout.

    Works whatever the notebook's backend (inline or widget) and headless (pytest, no kernel). The
    figure is not registered with pyplot, so ``plt.show()`` and the inline backend never draw it a
    second time and it is garbage-collected with the widget. Constrained layout places the axes on
    the first draw and is then frozen: a widget changes data, not its layout, and re-solving the
    layout on every draw doubled what an update cost.

    Example::

        fig, ax, canvas = interactive_figure()
        (line,) = ax.plot(x, y)
        slider.observe(lambda change: (line.set_ydata(f(change.new)), redraw(fig)))
        widgets.VBox([slider, canvas])

    Args:
        figsize: (width, height) in inches.
        nrows, ncols: grid of axes, as in ``plt.subplots``.
        **subplot_kw: passed to every ``add_subplot`` (e.g. ``projection="3d"``).

    Returns:
        ``(fig, axes, canvas)``: the Figure; one Axes, or an ndarray of Axes of shape
        [nrows, ncols] squeezed like ``plt.subplots``; the canvas widget (``fig.canvas``).
    """
    check_type("figsize", figsize, (tuple, list), "(width, height) in inches")
    if len(figsize) != 2:
        raise ValueError(f"figsize must be (width, height) in inches, got {len(figsize)} values")
    figsize = tuple(
        check_float(f"figsize[{i}]", v, low=0, low_inclusive=False) for i, v in enumerate(figsize)
    )
    nrows, ncols = check_int("nrows", nrows, low=1), check_int("ncols", ncols, low=1)
    _, FigureManager = _ipympl_classes()
    fig = Figure(figsize=figsize, layout="constrained")
    _check_whole_pixels(figsize, fig.dpi)
    canvas = _live_canvas_class()(fig)  # also sets fig.canvas = canvas
    _fast_frames(canvas)  # warns now, while the widget is built, if the fast path is off
    with warnings.catch_warnings():  # ipympl's own Toolbar trips a traitlets deprecation warning
        warnings.filterwarnings("ignore", "Passing unrecognized arguments", DeprecationWarning)
        FigureManager(canvas, next(_figure_numbers))  # draw() sends through the manager
    # A bare picture that sits inside a VBox: no "Figure 1000" header, toolbar or footer.
    canvas.header_visible = False
    canvas.footer_visible = False
    canvas.toolbar_visible = False
    canvas.resizable = False
    axes = fig.subplots(nrows, ncols, squeeze=True, subplot_kw=subplot_kw or None)
    canvas.mpl_connect("draw_event", _freeze_layout)
    return fig, axes, canvas


def _freeze_layout(event: Any) -> None:
    """After the first draw, keep the axes and their titles where they were placed.

    A widget changes data, not its layout. Constrained layout re-solves on every draw, and every
    draw also measures all tick labels to lift each title above them; together that was about half
    of a redraw. The first draw's solution is kept. (Axis labels keep being placed on every draw:
    they move with the width of the tick labels, which a widget may change.)
    """
    fig = event.canvas.figure
    if isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine):
        return  # already frozen
    fig.set_layout_engine("none")  # keeps the positions computed by this draw
    for ax in fig.axes:
        if not any(tick.label2.get_visible() for tick in ax.xaxis.get_major_ticks()):
            # No tick labels above the axes: the title's place cannot change. This is the flag
            # Axes.set_title(y=...) sets; ax.clear() sets it back. Without it, titles are placed
            # on every draw (slower, same picture).
            if _private.available(ax, (_private.TITLE_FLAG,), "keeping titles in place"):
                setattr(ax, _private.TITLE_FLAG, False)


def relayout(fig: Figure) -> None:
    """Solve the constrained layout once more on the next draw (then keep it again).

    For a change that alters what surrounds the axes, such as longer tick labels (another
    model's stage names) or a wider legend; it costs one layout solve, about 40 ms.
    """
    check_type("fig", fig, Figure, "a matplotlib Figure")
    fig.set_layout_engine("constrained")


def _browser_attached(canvas: Any) -> bool:
    """False for an ipympl canvas whose browser view has not said it is ready; True otherwise.

    ipympl mirrors each frame into ``_data_url`` until the front end sends "initialized". A frame
    pushed before that (while the cell that builds the widget still runs) left the view blank in
    Chromium, so until then the browser is asked to fetch the frame itself (``draw_idle``).
    """
    return not getattr(canvas, "syncing_data_url", False)


def send_now(canvas: Any) -> bool:
    """Whether a frame may be pushed to the browser at once (else ``canvas.draw_idle()`` asks it
    to fetch one): its view is ready, and this release has what ``LiveCanvas`` relies on."""
    return _browser_attached(canvas) and _fast_frames(canvas)


def redraw(fig: Figure) -> None:
    """Render ``fig`` and send it to the browser now (``draw_idle`` would cost a round trip more)."""
    check_type("fig", fig, Figure, "a matplotlib Figure")
    canvas = fig.canvas
    if send_now(canvas):
        canvas.draw()
    else:  # render here (headless code reads these pixels); the browser fetches it when ready
        FigureCanvasAgg.draw(canvas)
        canvas.draw_idle()
