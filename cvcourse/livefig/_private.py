"""The private matplotlib and ipympl internals livefig relies on, and what happens without them.

Three speed-ups read or set attributes that are not public API and may change in a release:

- ``LiveCanvas.get_diff_image`` (always a whole frame, our PNG encoder) reads and sets the
  WebAgg canvas's frame bookkeeping: ``CANVAS_INTERNALS``;
- ``_freeze_layout`` keeps titles in place by clearing an Axes flag: ``TITLE_FLAG``.

Each use first checks with ``available`` that the attributes are there. Where they are not, the
code takes the public path instead: frames rendered by matplotlib's own ``get_diff_image`` and
requested with ``canvas.draw_idle()`` (one browser round trip more), titles placed on every draw.
Slower, but the picture is the same. The first time that happens a ``LiveFigureWarning`` says so,
once per process: a lecture should not fill with warnings.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

__all__ = ["CANVAS_INTERNALS", "TITLE_FLAG", "LiveFigureWarning", "available"]

# matplotlib's FigureCanvasWebAggCore (ipympl's Canvas declares the first two as traits):
# a new frame must be encoded / the next frame must be whole / the last frame's pixels.
CANVAS_INTERNALS: tuple[str, ...] = ("_png_is_old", "_force_full", "_last_buff")
# matplotlib's Axes: place the title above the tick labels on every draw (Axes.set_title(y=...)
# clears it).
TITLE_FLAG = "_autotitlepos"

_warned = False


class LiveFigureWarning(UserWarning):
    """A livefig speed-up is off: this matplotlib or ipympl lacks an internal it relies on."""


def available(obj: Any, names: Iterable[str], what: str) -> bool:
    """True if ``obj`` has every attribute in ``names``; else warn (once per process) and False.

    Args:
        obj: the matplotlib or ipympl object.
        names: the private attributes the speed-up reads or sets.
        what: the speed-up, for the warning ("whole frames sent at once").
    """
    missing = [name for name in names if not hasattr(obj, name)]
    if not missing:
        return True
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(
            f"cvcourse.livefig: {type(obj).__name__} has no {', '.join(missing)} (private to "
            f"matplotlib/ipympl, changed in this release), so {what} is off: widgets use the "
            f"public, slower path (canvas.draw_idle()) and still show the right picture. "
            f"This warning is shown once.",
            LiveFigureWarning,
            stacklevel=3,
        )
    return False
