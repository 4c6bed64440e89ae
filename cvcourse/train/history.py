"""``History``: every number a training run produced, per epoch and per step, and its picture."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["History", "draw_history", "metric_keys"]


class History(dict):
    """Per-epoch lists of numbers: ``history["train_loss"][e]`` is the mean loss of epoch ``e``.

    Keys: ``train_loss``, ``train_<metric>``, ``val_loss``, ``val_<metric>``, ``lr``, ``epoch_time``
    (seconds). ``history.steps["train_loss"]`` holds the loss of every step and
    ``history.steps["epoch"]`` where it falls on the epoch axis (1.5 = half-way through epoch 2);
    ``history.interrupted`` is True when training was stopped by hand. Under ``torchrun`` every
    number is the mean over all processes, so every rank holds the same History.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.steps: dict[str, list[float]] = {"train_loss": [], "epoch": []}
        self.interrupted = False

    def append(self, key: str, value: float) -> None:
        self.setdefault(key, []).append(float(value))

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.get("train_loss", []))

    def plot(self, axes: Any = None) -> Any:
        """Draw the loss (and the metrics on a second axes) with matplotlib; returns the figure."""
        if axes is None:
            import matplotlib.pyplot as plt

            _, axes = plt.subplots(
                1, 2 if metric_keys(self) else 1, figsize=(10, 3.5), squeeze=False, layout="constrained"
            )
            axes = axes.ravel()
        draw_history(self, axes)
        return axes[0].figure


def metric_keys(history: Mapping[str, list]) -> list[str]:
    """``train_accuracy``, ``val_accuracy``, ...: everything per split that is not a loss."""
    return [k for k in history if k.startswith(("train_", "val_")) and not k.endswith("_loss")]


def draw_history(history: History, axes: Any) -> None:
    """Loss against epochs on ``axes[0]`` (steps faint, epoch means bold), metrics on ``axes[1]``.

    An epoch's mean is drawn at the epoch's end (x = 1 for the first epoch), where its last step is.
    """
    from cvcourse.viz import style_axes

    ax = axes[0]
    ax.clear()
    if history.steps["train_loss"]:
        ax.plot(
            history.steps["epoch"],
            history.steps["train_loss"],
            color="C0",
            alpha=0.3,
            linewidth=1,
            label="train loss (step)",
        )
    for key, color in (("train_loss", "C0"), ("val_loss", "C1")):
        if history.get(key):
            ax.plot(
                range(1, len(history[key]) + 1), history[key], "o-", color=color, label=key.replace("_", " ")
            )
    style_axes(ax, "Loss", "epoch", "loss", grid=True)
    if ax.lines:
        ax.legend(loc="upper right")
    if len(axes) > 1:
        ax = axes[1]
        ax.clear()
        for key in metric_keys(history):
            ax.plot(range(1, len(history[key]) + 1), history[key], "o-", label=key.replace("_", " "))
        style_axes(ax, "Metrics", "epoch", "value", grid=True)
        if ax.lines:
            ax.legend(loc="lower right")
