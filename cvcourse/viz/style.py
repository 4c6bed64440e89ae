"""Course style: large fonts for a projector, the palette, titled axes, round axis limits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from cvcourse._checks import check_bool, check_float, check_int, check_type

__all__ = ["PROJECTOR_RC", "nice_ceil", "palette", "projector", "style_axes"]

# Font sizes readable from the back of a lecture hall.
PROJECTOR_RC: dict[str, Any] = {
    "font.size": 14,
    "axes.titlesize": 16,
    "axes.labelsize": 14,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "figure.titlesize": 18,
    "lines.linewidth": 2.5,
    "lines.markersize": 8,
}


@contextlib.contextmanager
def projector() -> Iterator[None]:
    """Context manager with large fonts and thick lines: ``with projector(): show_images(...)``."""
    with matplotlib.rc_context(PROJECTOR_RC):
        yield


def palette(n: int) -> list[tuple[float, float, float]]:
    """``n`` distinct RGB colours in [0, 1]: tab10 for up to 10, tab20 up to 20, then hsv."""
    n = check_int("n", n, low=0)
    if n <= 10:
        colors = plt.get_cmap("tab10").colors
    elif n <= 20:
        colors = plt.get_cmap("tab20").colors
    else:
        colors = [plt.get_cmap("hsv")(i / n)[:3] for i in range(n)]
    return [tuple(float(c) for c in color[:3]) for color in colors[:n]]


def nice_ceil(value: float, multiples: Sequence[float] = (1, 2, 2.5, 5, 10)) -> float:
    """The smallest ``m * 10**k`` (``m`` in ``multiples``, integer ``k``) that is ``>= value``.

    For axis limits that move in round steps: a widget keeps its axes (and their tick labels)
    while the data stay under the same round limit. ``multiples`` must increase from 1 to 10.
    """
    value = check_float("value", value, low=0, low_inclusive=False)
    if list(multiples) != sorted(multiples) or multiples[0] != 1 or multiples[-1] != 10:
        raise ValueError(f"multiples must increase from 1 to 10, got {tuple(multiples)!r}")
    decade = 10.0 ** np.floor(np.log10(value))
    # (1 - 1e-12): a value that is already round, up to rounding, stays where it is
    return float(decade * next(m for m in multiples if m * decade >= value * (1 - 1e-12)))


def style_axes(
    ax: Axes, title: str, xlabel: str | None = None, ylabel: str | None = None, grid: bool = False
) -> Axes:
    """Give ``ax`` a title and axis labels (every course figure has them); returns ``ax``."""
    check_type("ax", ax, Axes, "a matplotlib Axes")
    check_type("title", title, str, "a non-empty string")
    if not title:
        raise ValueError("title must be a non-empty string, got ''")
    grid = check_bool("grid", grid)
    ax.set_title(title)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if grid:
        ax.grid(True, alpha=0.3)
    return ax
