"""Live figures for widgets: an ipympl canvas that answers a control change within a frame or two.

What a control change costs, and where the time goes
----------------------------------------------------
When a slider moves, the browser sends the new value to the kernel; the widget's callback changes
some artists; matplotlib renders the figure with Agg; the kernel encodes the frame as a PNG and
sends it; the browser decodes it and paints it. Measured on a 2-core laptop (see
``benchmarks/bench_widgets_python.py`` and ``bench_widgets_browser.py``), a full Agg redraw of a
two-panel figure costs 120-150 ms, most of it laying out and drawing tick labels, and the PNG
30-50 ms at PIL's default compression. Four things here cut that down:

1. **Draw now, not later.** ``redraw`` renders and sends at once (``canvas.draw()``), where
   ``draw_idle()`` asks the browser to ask the kernel for a frame: one more round trip (about 35 ms).
   Dragging a slider does not pile up frames: while the kernel is busy, the ipywidgets front end
   holds back new values and sends only the latest once the kernel is idle again.
2. **Blitting** (matplotlib's recipe, https://matplotlib.org/stable/users/explain/animations/
   blitting.html): the artists a widget changes are marked *animated*. A full draw renders
   everything else once and keeps it as a background; an update restores the background and draws
   only the changed artists, so ticks, labels and static images are not redrawn.
3. **Live colour bars.** A colour bar whose range follows the data would be drawn again, ticks and
   labels, on every update; ``LiveColorbar`` draws the bar once and redraws only its tick labels.
4. **Faster PNG.** Frames are encoded at zlib level 1 instead of 6 (about 3x faster, about 15 %
   larger, which a local or Binder websocket carries easily) and with one PNG filter for the whole
   frame computed by numpy (``encode_png``) instead of PIL's per-row choice (1.5-3x faster again,
   the same size). Every frame is the whole figure, never only the changed pixels: the browser
   drops a frame that arrives while the one before is still loading, and a dropped "diff" frame
   leaves stale pixels behind for good (``LiveCanvas.get_diff_image`` says more).

Example::

    fig, ax, canvas = interactive_figure()
    ax.set(xlim=(0, 6), ylim=(-1, 1))
    (line,) = ax.plot(x, np.sin(x))
    live = LiveArtists(fig, [line])
    slider.observe(lambda change: (line.set_ydata(np.sin(change.new * x)), live.redraw()))

Use ``live.redraw(full=True)`` when a change moves something outside the animated artists (axis
limits and so tick labels, a colour bar's range, a new surface's contours).
"""

from __future__ import annotations

import functools
import itertools
import struct
import warnings
import zlib
from collections.abc import Iterable
from typing import Any

import matplotlib
import numpy as np
from matplotlib import colors
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colorbar import Colorbar
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine
from matplotlib.text import Text

__all__ = ["PNG_COMPRESS_LEVEL", "LiveArtists", "LiveColorbar", "encode_png", "interactive_figure",
           "redraw", "relayout"]

# zlib level of the frames sent to the browser (PIL's default is 6).
PNG_COMPRESS_LEVEL = 1


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
            """
            if not self._png_is_old:
                return None
            pixels = np.asarray(self.get_renderer().buffer_rgba())  # [H, W, 4] uint8
            self.set_image_mode("full")
            self._last_buff = pixels.view(np.uint32).squeeze(2).copy()  # ipympl's _data_url reads it
            self._force_full = False
            self._png_is_old = False
            return encode_png(pixels)

    return LiveCanvas


def encode_png(pixels: np.ndarray, level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """An RGBA image as PNG bytes: every row with PNG's "Up" filter, then zlib at ``level``.

    PIL (what matplotlib uses) tries the five PNG filters on every row and keeps the best; for the
    frames of a figure, plots over flat backgrounds or rows of a photo, "Up" (each byte minus the
    one above it, mod 256) compresses as well, and computing it for the whole image in one numpy
    subtraction makes a frame 1.5-3x faster to encode (``benchmarks/bench_widgets_python.py``).
    """
    if not (isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8 and pixels.ndim == 3
            and pixels.shape[2] == 4 and pixels.shape[0] > 0 and pixels.shape[1] > 0):
        raise ValueError(f"pixels must be a uint8 ndarray of shape [H, W, 4] with H, W >= 1, got "
                         f"{getattr(pixels, 'dtype', type(pixels).__name__)} "
                         f"{getattr(pixels, 'shape', '')}")
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 9:
        raise ValueError(f"level must be a zlib level, an int in [0, 9], got {level!r}")
    height, width, _ = pixels.shape
    flat = pixels.reshape(height, width * 4)
    rows = np.empty((height, 1 + width * 4), np.uint8)  # [H, 1 + 4W]: filter byte, then the row
    rows[:, 0] = 2  # "Up"
    rows[0, 1:] = flat[0]  # the row above the first one counts as zeros
    np.subtract(flat[1:], flat[:-1], out=rows[1:, 1:])  # uint8: wraps mod 256, as PNG wants

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA, not interlaced
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), level)) + chunk(b"IEND", b""))


_figure_numbers = itertools.count(1000)


def interactive_figure(figsize: tuple[float, float] = (6, 4), nrows: int = 1, ncols: int = 1,
                       **subplot_kw: Any) -> tuple[Figure, Any, Any]:
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
    if (not isinstance(figsize, (tuple, list)) or len(figsize) != 2
            or not all(isinstance(v, (int, float)) and v > 0 for v in figsize)):
        raise ValueError(f"figsize must be (width, height) in inches, both > 0, got {figsize!r}")
    for name, value in (("nrows", nrows), ("ncols", ncols)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    _, FigureManager = _ipympl_classes()
    fig = Figure(figsize=tuple(figsize), layout="constrained")
    canvas = _live_canvas_class()(fig)  # also sets fig.canvas = canvas
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
            # Axes.set_title(y=...) sets; ax.clear() sets it back.
            ax._autotitlepos = False


def relayout(fig: Figure) -> None:
    """Solve the constrained layout once more on the next draw (then keep it again).

    For a change that alters what surrounds the axes, such as longer tick labels (another
    model's stage names) or a wider legend; it costs one layout solve, about 40 ms.
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    fig.set_layout_engine("constrained")


def _browser_attached(canvas: Any) -> bool:
    """False for an ipympl canvas whose browser view has not said it is ready; True otherwise.

    ipympl mirrors each frame into ``_data_url`` until the front end sends "initialized". A frame
    pushed before that (while the cell that builds the widget still runs) left the view blank in
    Chromium, so until then the browser is asked to fetch the frame itself (``draw_idle``).
    """
    return not getattr(canvas, "syncing_data_url", False)


def redraw(fig: Figure) -> None:
    """Render ``fig`` and send it to the browser now (``draw_idle`` would cost a round trip more)."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    canvas = fig.canvas
    if _browser_attached(canvas):
        canvas.draw()
    else:  # render here (headless code reads these pixels); the browser fetches it when ready
        FigureCanvasAgg.draw(canvas)
        canvas.draw_idle()


class LiveArtists:
    """Redraw only the artists a widget changes, over a background rendered once (blitting).

    Args:
        fig: a figure from ``interactive_figure`` (any Agg-based canvas works, headless too).
        artists: the artists the widget changes: lines, images, texts (a title), patches, a
            legend, or whole Axes (an axes whose limits change, with its ticks). They are drawn in
            this order, over everything else.

    ``redraw()`` restores the background, draws the artists and sends the frame; ``redraw(full=True)``
    renders the whole figure again (and takes a new background), for changes elsewhere. Saving the
    figure (``fig.savefig``) still includes the artists.

    Backgrounds can be kept by key: ``redraw(full=True, key=k)``, where ``k`` names everything
    outside the artists (say, the surface shown and the axis limits), keeps the background it
    renders, and a later ``redraw(full=True, key=k)`` restores it instead of rendering again.
    ``prerender(k)`` renders one ahead of time without sending anything (a widget's menu entries,
    while it is being built). The last ``MAX_BACKGROUNDS`` are kept.
    """

    MAX_BACKGROUNDS = 16

    def __init__(self, fig: Figure, artists: Iterable[Artist]):
        if not isinstance(fig, Figure):
            raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
        if not hasattr(fig.canvas, "copy_from_bbox"):
            raise ValueError(f"fig's canvas must be Agg-based (interactive_figure's is), "
                             f"got {type(fig.canvas).__name__}")
        self.fig = fig
        self._artists: list[Artist] = []
        self._background = None
        self._background_size: tuple[float, float] | None = None
        self._backgrounds: dict[Any, Any] = {}  # key -> background, oldest first
        self._key: Any = None  # the key of the full draw under way
        self.artists = artists
        fig.canvas.mpl_connect("draw_event", self._on_draw)

    @property
    def artists(self) -> list[Artist]:
        return list(self._artists)

    @artists.setter
    def artists(self, artists: Iterable[Artist]) -> None:
        artists = list(artists)
        for artist in artists:
            if not isinstance(artist, Artist):
                raise TypeError(f"artists must be matplotlib Artists, got {type(artist).__name__}")
        for artist in self._artists:
            if artist not in artists:
                artist.set_animated(False)
        for artist in artists:
            artist.set_animated(True)  # left out of full draws: drawn by us, over the background
        self._artists = artists

    def _on_draw(self, event: Any) -> None:
        """A full draw just rendered everything but our artists: keep that, then draw them."""
        if not getattr(event.canvas, "_is_saving", False):
            self._background = event.canvas.copy_from_bbox(self.fig.bbox)
            self._background_size = self.fig.bbox.size.tolist()
            if self._key is not None:
                self._backgrounds.pop(self._key, None)
                self._backgrounds[self._key] = self._background
                while len(self._backgrounds) > self.MAX_BACKGROUNDS:
                    self._backgrounds.pop(next(iter(self._backgrounds)))
        self._draw_artists(event.renderer)

    def _draw_artists(self, renderer: Any) -> None:
        for artist in self._artists:
            if artist.get_visible() and artist.figure is self.fig:  # skip removed artists
                artist.draw(renderer)

    def _full_draw(self, key: Any, send: bool) -> None:
        self._key = key
        try:
            if send:
                redraw(self.fig)  # _on_draw takes the background and draws the artists
            else:
                FigureCanvasAgg.draw(self.fig.canvas)
        finally:
            self._key = None

    def prerender(self, key: Any) -> None:
        """Render the figure as it is now and keep its background under ``key``; send nothing."""
        if key is None:
            raise ValueError("key must name the figure's state, got None")
        self._full_draw(key, send=False)

    def redraw(self, full: bool = False, key: Any = None) -> None:
        """Show the artists' new state; ``full=True`` re-renders the whole figure (or restores the
        background kept under ``key``)."""
        canvas = self.fig.canvas
        # A new device pixel ratio (browser zoom, another screen) changes the figure's pixel size:
        # every kept background is then the wrong size.
        if self._background_size != self.fig.bbox.size.tolist():
            self._background = None
            self._backgrounds.clear()
        if full and key is not None and key in self._backgrounds:
            self._background = self._backgrounds[key]
        elif full or self._background is None:
            self._full_draw(key, send=True)
            return
        canvas.restore_region(self._background)
        self._draw_artists(canvas.get_renderer())
        if _browser_attached(canvas):
            canvas.blit(self.fig.bbox)  # ipympl/WebAgg: encode and send the frame
        else:
            canvas.draw_idle()  # the browser fetches the frame once its view is ready


class LiveColorbar:
    """A colour bar that follows an image's colour range without being drawn again.

    A colour bar whose range changes re-renders its axes: ticks, tick labels, the rotated label;
    in the attention viewer that was 30 of the 55 ms an update cost. Here the bar shows the colour
    map over a fixed [0, 1] with ``ticks`` evenly spaced ticks, drawn once into the background;
    only the tick labels are live: ``Text`` artists reading ``vmin + f (vmax - vmin)`` of the
    image's current colour range. Give ``labels`` to ``LiveArtists`` and call ``update()`` after
    ``image.set_clim``.

    Example::

        shown = ax.imshow(heat)
        bar = LiveColorbar(shown, ax=ax, label="weight")
        live = LiveArtists(fig, [shown, *bar.labels])
        ...
        shown.set_data(new), shown.set_clim(new.min(), new.max()), bar.update(), live.redraw()

    Args:
        image: the image (any ``ScalarMappable`` with a linear colour range) the bar describes.
        ax: the Axes the bar takes its room from (``Figure.colorbar``'s ``ax``).
        ticks: number of ticks, at least 2 (the ends of the range are always ticks).
        fmt: ``str.format`` pattern of a label; give every value the same width (e.g. ``"{:.3f}"``
            for weights in [0, 1]): the layout keeps room for the first labels only.
        label: the bar's label, or None.
        **colorbar_kw: passed to ``Figure.colorbar`` (``fraction``, ``pad``, ...).
    """

    def __init__(self, image: ScalarMappable, ax: Axes, ticks: int = 5, fmt: str = "{:.3f}",
                 label: str | None = None, **colorbar_kw: Any):
        if not isinstance(image, ScalarMappable):
            raise TypeError(f"image must be a matplotlib ScalarMappable (e.g. from imshow), "
                            f"got {type(image).__name__}")
        if not isinstance(ax, Axes):
            raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
        if isinstance(ticks, bool) or not isinstance(ticks, int) or ticks < 2:
            raise ValueError(f"ticks must be an int >= 2, got {ticks!r}")
        try:
            fmt.format(0.5)
        except (AttributeError, IndexError, KeyError, ValueError) as err:
            raise ValueError(f"fmt must be a str.format pattern of one number, e.g. '{{:.3f}}', "
                             f"got {fmt!r} ({err})") from None
        self.image, self.fmt = image, fmt
        self._fractions = np.linspace(0.0, 1.0, ticks)
        # The bar's own colours: the image's colour map over [0, 1], not linked to the image, so a
        # new colour range does not redraw the bar.
        fixed = ScalarMappable(colors.Normalize(0.0, 1.0), image.get_cmap())
        self.colorbar: Colorbar = ax.figure.colorbar(fixed, ax=ax, **colorbar_kw)
        bar_ax = self.colorbar.ax
        self.colorbar.set_ticks(self._fractions)
        # The real tick labels are kept for the layout (their room, where the label goes) but
        # drawn transparent; the live labels sit exactly where they would be.
        self.colorbar.set_ticklabels([self._text(f) for f in self._fractions])
        bar_ax.tick_params(labelcolor="none")
        if label:
            self.colorbar.set_label(label)
        # Where the bar's tick labels go: beside its long axis, on the side of its ticks.
        side = self.colorbar.ticklocation  # "right" or "left" (vertical), "bottom" or "top"
        axis = bar_ax.yaxis if side in ("left", "right") else bar_ax.xaxis
        tick = "ytick" if axis is bar_ax.yaxis else "xtick"
        pad = matplotlib.rcParams[f"{tick}.major.pad"] + matplotlib.rcParams[f"{tick}.major.size"]
        transform, va, ha = {
            "right": bar_ax.get_yaxis_text2_transform, "left": bar_ax.get_yaxis_text1_transform,
            "top": bar_ax.get_xaxis_text2_transform, "bottom": bar_ax.get_xaxis_text1_transform,
        }[side](pad)
        edge = 1.0 if side in ("right", "top") else 0.0
        font = axis.get_ticklabels()[0].get_fontproperties()
        self.labels: list[Text] = [
            bar_ax.text(*((edge, f) if axis is bar_ax.yaxis else (f, edge)), "",
                        transform=transform, va=va, ha=ha, fontproperties=font)
            for f in self._fractions
        ]
        self.update()

    def _text(self, fraction: float) -> str:
        low, high = self.image.get_clim()
        if low is None or high is None:
            return ""
        return self.fmt.format(low + fraction * (high - low))

    def update(self) -> None:
        """Write the labels for the image's current colour range (``image.get_clim()``)."""
        for text, fraction in zip(self.labels, self._fractions, strict=True):
            text.set_text(self._text(fraction))
