"""The live loss plot ``fit`` shows in a notebook: one PNG redrawn in place, never a flood."""

from __future__ import annotations

import io
import sys
import time

from .history import History, draw_history

__all__ = ["LivePlot", "in_notebook"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Colab, VS Code, nbval); False in a terminal."""
    ipython = sys.modules.get("IPython")  # a kernel has imported it; don't import it (0.4 s) here
    if ipython is None:
        return False
    return getattr(ipython.get_ipython(), "kernel", None) is not None


class LivePlot:
    """One picture in the notebook's output, redrawn in place through an IPython display handle.

    A PNG rather than a widget, so it shows in every front end and stays in the saved notebook.
    Redraws are spaced at least ``min_interval`` seconds and ten times their own cost apart, so
    drawing never takes more than about a tenth of the training time.
    """

    def __init__(self, history: History, with_metrics: bool, min_interval: float = 1.0) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=(10 if with_metrics else 5.5, 3.5))
        FigureCanvasAgg(self.fig)
        self.axes = self.fig.subplots(1, 2 if with_metrics else 1, squeeze=False).ravel()
        # Fixed margins: a layout engine would double the cost of every redraw.
        self.fig.subplots_adjust(
            left=0.1 if with_metrics else 0.15, right=0.97, bottom=0.15, top=0.9, wspace=0.25
        )
        self.history, self.min_interval = history, min_interval
        # The first picture after min_interval: a training that short gets just the final one.
        self.handle, self.next_time = None, time.monotonic() + min_interval

    def update(self, force: bool = False) -> None:
        from IPython.display import Image, display

        start = time.monotonic()
        if not force and start < self.next_time:
            return
        draw_history(self.history, self.axes)
        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="png", dpi=80)
        image = Image(data=buffer.getvalue(), format="png")
        if self.handle is None:
            self.handle = display(image, display_id=True)
        else:
            self.handle.update(image)
        cost = time.monotonic() - start  # ~0.1 s on a laptop
        self.next_time = time.monotonic() + max(self.min_interval, 10 * cost)
