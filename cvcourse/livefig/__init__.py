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

The package, one idea per module: ``png`` (the frame encoder), ``canvas`` (the live canvas,
``interactive_figure``, ``redraw``, ``relayout``), ``artists`` (``LiveArtists``), ``colorbar``
(``LiveColorbar``) and ``_private`` (the matplotlib/ipympl internals used, and the public path
taken, with one ``LiveFigureWarning``, in a release that lacks them).
"""

from cvcourse.livefig._private import LiveFigureWarning
from cvcourse.livefig.artists import LiveArtists
from cvcourse.livefig.canvas import interactive_figure, redraw, relayout
from cvcourse.livefig.colorbar import LiveColorbar
from cvcourse.livefig.png import PNG_COMPRESS_LEVEL, encode_png

__all__ = [
    "PNG_COMPRESS_LEVEL",
    "LiveArtists",
    "LiveColorbar",
    "LiveFigureWarning",
    "encode_png",
    "interactive_figure",
    "redraw",
    "relayout",
]
