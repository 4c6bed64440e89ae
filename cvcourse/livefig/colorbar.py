"""``LiveColorbar``: a colour bar that follows an image's colour range with only its labels redrawn."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
from matplotlib import colors
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colorbar import Colorbar
from matplotlib.text import Text

from cvcourse._checks import check_int, check_type

__all__ = ["LiveColorbar"]


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

    def __init__(
        self,
        image: ScalarMappable,
        ax: Axes,
        ticks: int = 5,
        fmt: str = "{:.3f}",
        label: str | None = None,
        **colorbar_kw: Any,
    ):
        check_type("image", image, ScalarMappable, "a matplotlib ScalarMappable (e.g. from imshow)")
        check_type("ax", ax, Axes, "a matplotlib Axes")
        ticks = check_int("ticks", ticks, low=2)
        check_type("fmt", fmt, str, "a str.format pattern of one number, e.g. '{:.3f}'")
        try:
            fmt.format(0.5)
        except (IndexError, KeyError, ValueError) as err:
            raise ValueError(
                f"fmt must be a str.format pattern of one number, e.g. '{{:.3f}}', got {fmt!r} ({err})"
            ) from None
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
            "right": bar_ax.get_yaxis_text2_transform,
            "left": bar_ax.get_yaxis_text1_transform,
            "top": bar_ax.get_xaxis_text2_transform,
            "bottom": bar_ax.get_xaxis_text1_transform,
        }[side](pad)
        edge = 1.0 if side in ("right", "top") else 0.0
        font = axis.get_ticklabels()[0].get_fontproperties()
        self.labels: list[Text] = [
            bar_ax.text(
                *((edge, f) if axis is bar_ax.yaxis else (f, edge)),
                "",
                transform=transform,
                va=va,
                ha=ha,
                fontproperties=font,
            )
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
