"""What the optimizer trajectory explorer shows, without the widget: the knobs in, the paths out.

``explorer_data`` is the pure function (the knobs in, the ``Trajectories`` out); ``draw_paths``
draws them on a contour plot and a loss-vs-step panel (the notebook's static figures); the helpers
below give the legend labels and the loss panel's limits that ``cvcourse.optim.widgets`` reuses when
it redraws the same artists in place. A diverging optimizer's path is drawn up to the step where it
left, clipped to the window, and marked with a cross and "diverged at step k" in the legend.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cvcourse._checks import check_choice, check_type

from .adagrad import Adagrad
from .adam import Adam
from .rmsprop import RMSprop
from .sgd import SGD
from .surfaces import SURFACES, Surface, get_surface
from .trajectories import Trajectories, trajectories

__all__ = [
    "OPTIMIZERS",
    "SURFACE_DEFAULTS",
    "optimizer_specs",
    "explorer_data",
    "draw_paths",
]

OPTIMIZERS = ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam")
# Per surface, a learning rate and step count at which the notes' points show (users may change it).
SURFACE_DEFAULTS = {
    "sphere": dict(lr=0.1, steps=100),
    "canyon": dict(lr=0.03, steps=150),
    "local minima": dict(lr=0.05, steps=200),
    "rosenbrock": dict(lr=2e-3, steps=300),
    "least squares": dict(lr=0.05, steps=200),
}
_COLORS = dict(
    zip(
        OPTIMIZERS,
        ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"),
        strict=True,
    )
)


def optimizer_specs(
    names: Sequence[str], lr: float, momentum: float = 0.9, beta1: float = 0.9, beta2: float = 0.999
) -> dict:
    """The explorer's optimizers as ``{label: (class, kwargs)}`` for ``trajectories``.

    All share the learning rate, as in the notes' figures; RMSProp uses beta2 as its beta (alpha).
    """
    _check_names(names)
    table = {
        "SGD": (SGD, dict(lr=lr)),
        "Momentum": (SGD, dict(lr=lr, momentum=momentum)),
        "Nesterov": (SGD, dict(lr=lr, momentum=momentum, nesterov=momentum > 0)),
        "AdaGrad": (Adagrad, dict(lr=lr)),
        "RMSProp": (RMSprop, dict(lr=lr, alpha=beta2)),
        "Adam": (Adam, dict(lr=lr, betas=(beta1, beta2))),
    }
    return {name: table[name] for name in names}


def _check_names(names) -> None:
    check_type("names", names, (list, tuple), "a list of optimizer names")
    for name in names:
        check_choice("names", name, OPTIMIZERS)


def explorer_data(
    surface: str | Surface,
    start=None,
    lr: float = 0.05,
    momentum: float = 0.9,
    beta1: float = 0.9,
    beta2: float = 0.999,
    steps: int = 150,
    names: Sequence[str] = OPTIMIZERS,
    batch_size: int | None = None,
) -> Trajectories:
    """What the explorer shows: the trajectories of ``names`` on ``surface`` from ``start``.

    Args:
        surface: a surface name (``SURFACES``) or a ``Surface``.
        start: (x0, y0); default the surface's start.
        lr, momentum, beta1, beta2: the shared hyperparameters.
        steps: number of steps.
        names: optimizers to run, among ``OPTIMIZERS``.
        batch_size: mini-batch size on the least-squares surface (None: full gradient).

    Returns:
        ``Trajectories`` with one path per name.
    """
    if isinstance(surface, str):
        surface = get_surface(check_choice("surface", surface, SURFACES))
    _check_names(names)
    if len(names) == 0:
        raise ValueError("names must hold at least one optimizer, got an empty list")
    return trajectories(
        surface,
        optimizer_specs(names, lr, momentum, beta1, beta2),
        start=start,
        steps=steps,
        batch_size=batch_size,
    )


def _gap(surface: Surface, losses: np.ndarray) -> np.ndarray:
    """f - f(minimum), floored at 1e-16 so that a log axis can show it."""
    f_star = float(surface.value(np.asarray(surface.minimum, dtype=np.float64)))
    return np.maximum(losses - f_star, 1e-16)


def _legend_label(label: str, traj: Trajectories, i: int) -> str:
    k = int(traj.diverged_at[i])
    return label if k < 0 else f"{label} (diverged at step {k})"


def _loss_limits(
    gaps: np.ndarray, steps: int, current: tuple | None = None
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Loss-panel limits that move in coarse steps: whole decades for f - f*, and 1, 1.5, 2, 3, 4, 5,
    6, 8 or 10 times a power of ten for the steps.

    The current range is kept while the curves fit in it and it is not much too wide (hysteresis):
    x while the steps are more than half of it, y within four decades below and two above. Small
    control changes then keep the axes and their tick labels, so only the curves are redrawn; and
    the scale does not jump at every move, which makes curves easier to compare.
    """
    from cvcourse.viz import nice_ceil  # lazily, like the widget: matplotlib only when drawing

    finite = gaps[np.isfinite(gaps)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (1e-16, 1.0)
    y = (float(10.0 ** np.floor(np.log10(low))), float(10.0 ** np.ceil(np.log10(max(high, 10 * low)))))
    x = (0.0, nice_ceil(steps, (1, 1.5, 2, 3, 4, 5, 6, 8, 10)))
    if current is not None:
        x_high, (y_low, y_high) = current[0][1], current[1]
        if x_high / 2 < steps <= x_high:
            x = current[0]
        if y_low <= y[0] <= 1e4 * y_low and y_high / 100 <= y[1] <= y_high:
            y = (y_low, y_high)
    return x, y


def _last_point(surface: Surface, path: np.ndarray) -> np.ndarray:
    """The last finite point of a path, clipped into the window (where a cross marks divergence)."""
    finite = path[np.isfinite(path).all(-1)]
    xmin, xmax, ymin, ymax = surface.extent
    return np.clip(finite[-1], [xmin, ymin], [xmax, ymax])


def draw_paths(surface: Surface, traj: Trajectories, ax_contour, ax_loss, title: str = "") -> None:
    """Static figure: contour of ``surface`` with every path, and f - f* against the step."""
    X, Y, Z = surface.grid()
    ax_contour.contour(X, Y, np.log1p(Z - Z.min()), levels=20, cmap="Greys", linewidths=0.7)
    ax_contour.plot(*surface.minimum, "k*", markersize=12, label="minimum")
    for i, label in enumerate(traj.labels):
        color = _COLORS.get(label)
        ax_contour.plot(
            traj.paths[i, :, 0],
            traj.paths[i, :, 1],
            ".-",
            markersize=2,
            lw=1.2,
            color=color,
            label=_legend_label(label, traj, i),
        )
        if traj.diverged_at[i] >= 0:
            ax_contour.plot(*_last_point(surface, traj.paths[i]), "x", color=color, markersize=12, mew=3)
        ax_loss.semilogy(_gap(surface, traj.losses[i]), color=color, label=label)
    xmin, xmax, ymin, ymax = surface.extent
    ax_contour.set(xlim=(xmin, xmax), ylim=(ymin, ymax))
    ax_contour.set_title(title or f"Trajectories on the {surface.name} surface")
    ax_contour.set(xlabel="$w_1$", ylabel="$w_2$")
    ax_contour.legend(fontsize=8, loc="best")
    ax_loss.set(title="Loss minus its minimum", xlabel="step", ylabel="$f(w) - f^*$ (log scale)")
