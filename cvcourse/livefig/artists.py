"""``LiveArtists``: redraw only the artists a widget changes, over a background kept from a full draw.

matplotlib's blitting recipe (https://matplotlib.org/stable/users/explain/animations/blitting.html):
the changed artists are marked *animated*, so a full draw renders everything else; that render is
kept as the background, and an update restores it and draws only the animated artists.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cvcourse._checks import check_type
from cvcourse.livefig.canvas import redraw, send_now

__all__ = ["LiveArtists"]


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
        check_type("fig", fig, Figure, "a matplotlib Figure")
        if not hasattr(fig.canvas, "copy_from_bbox"):
            raise ValueError(
                f"fig's canvas must be Agg-based (interactive_figure's is), got {type(fig.canvas).__name__}"
            )
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
        for i, artist in enumerate(artists):
            check_type(f"artists[{i}]", artist, Artist, "a matplotlib Artist")
        for artist in self._artists:
            if artist not in artists:
                artist.set_animated(False)
        for artist in artists:
            artist.set_animated(True)  # left out of full draws: drawn by us, over the background
        self._artists = artists

    def _on_draw(self, event: Any) -> None:
        """A full draw just rendered everything but our artists: keep that, then draw them."""
        if not event.canvas.is_saving():  # savefig renders at its own dpi: not a background
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
        if send_now(canvas):
            canvas.blit(self.fig.bbox)  # ipympl/WebAgg: encode and send the frame
        else:
            canvas.draw_idle()  # the browser fetches the frame once its view is ready
