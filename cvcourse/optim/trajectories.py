r"""Optimizer trajectories on a 2-D surface, for the notes' figures 1.1-1.8 and the explorer widget.

``trajectories`` runs several optimizers at once: their points are the rows of one array
``theta[n_optimizers, 2]`` and each family's update (SGD with momentum / Nesterov, AdaGrad, RMSProp,
Adam / AdamW) is applied to its block of rows with per-row hyperparameters, so 6 optimizers x 300
steps take milliseconds (``benchmarks/bench_optim.py``). The updates are the same formulas, in the
same order, as the classes of this package (and so as ``torch.optim``); ``trajectories_loop`` is the
obvious version that steps the real optimizer objects one by one, and the tests check both agree.

Optimizers are given as ``{label: (OptimizerClass, kwargs)}`` with a class of this package or of
``torch.optim`` (``SGD``, ``Adagrad``, ``RMSprop``, ``Adam``, ``AdamW``); the class fills in its
defaults and validates the kwargs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from cvcourse._checks import check_int, check_type, describe

from . import adagrad, adam, adamw, rmsprop, sgd
from .sgd import minibatches
from .surfaces import LeastSquares, Surface

__all__ = ["Trajectories", "trajectories", "trajectories_loop"]

_CLASSES = {
    "SGD": sgd.SGD,
    "Adagrad": adagrad.Adagrad,
    "RMSprop": rmsprop.RMSprop,
    "Adam": adam.Adam,
    "AdamW": adamw.AdamW,
}
_ESCAPE = 1e6  # a point farther than this from the window's centre has diverged


@dataclass
class Trajectories:
    """Paths of several optimizers on one surface.

    Attributes:
        labels: the optimizers' labels, in the order given.
        paths: [n, steps + 1, 2] points, the start first; NaN from the step where a path diverged.
        losses: [n, steps + 1] full-data loss at each point (NaN after divergence).
        diverged_at: [n] index of the first diverged step, or -1.
    """

    labels: list[str]
    paths: np.ndarray
    losses: np.ndarray
    diverged_at: np.ndarray


def _groups(optimizers: Mapping) -> list[tuple[str, str, dict]]:
    """(label, family, full param group) per optimizer, defaults filled in by the class itself."""
    check_type("optimizers", optimizers, Mapping, "a dict label -> (class, kwargs)")
    if len(optimizers) == 0:
        raise ValueError("optimizers must hold at least one label -> (class, kwargs), got an empty dict")
    out = []
    for label, spec in optimizers.items():
        if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Mapping)):
            raise TypeError(f"optimizers[{label!r}] must be a pair (class, kwargs), got {describe(spec)}")
        cls, kwargs = spec
        name = getattr(cls, "__name__", None)
        if name not in _CLASSES:
            raise ValueError(f"optimizers[{label!r}] must use one of {sorted(_CLASSES)}, got {cls!r}")
        dummy = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        group = _CLASSES[name]([dummy], **kwargs).param_groups[0]  # validates, fills in defaults
        family = {"SGD": "sgd", "Adagrad": "adagrad", "RMSprop": "rmsprop"}.get(name, "adam")
        out.append((str(label), family, group))
    return out


def _batch_schedule(surface: Surface, batch_size: int | None, steps: int, seed: int) -> list:
    """The mini-batch indices of every step, following the notes' epoch loop (None: full batch)."""
    if batch_size is None:
        return [None] * steps
    if not isinstance(surface, LeastSquares):
        raise ValueError(f"batch_size needs a data set surface (least squares), got {surface.name!r}")
    generator = torch.Generator().manual_seed(seed)
    schedule: list = []
    while len(schedule) < steps:  # as many epochs as it takes
        schedule.extend(idx.numpy() for idx in minibatches(len(surface.y), batch_size, generator))
    return schedule[:steps]


def _gradient(surface: Surface, theta: np.ndarray, idx) -> np.ndarray:
    return surface.grad(theta) if idx is None else surface.batch_grad(theta, idx)


def _column(groups: list[dict], key, index: int | None = None) -> np.ndarray:
    """Hyperparameter ``key`` of each group as a column [n, 1] that broadcasts over (x, y)."""
    values = [g[key] if index is None else g[key][index] for g in groups]
    return np.array(values, dtype=np.float64)[:, None]


def _check_run(surface, start, steps, seed) -> np.ndarray:
    check_type("surface", surface, Surface, "a Surface (cvcourse.optim.surfaces)")
    start = surface.start if start is None else start
    try:
        point = np.asarray(start, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"start must be a point (x, y) of two numbers, got {describe(start)}") from None
    if point.shape != (2,) or not np.all(np.isfinite(point)):
        raise ValueError(f"start must be a finite point (x, y), got {describe(start)}")
    check_int("steps", steps, low=0)
    check_int("seed", seed, low=0)
    return point


def trajectories(
    surface: Surface,
    optimizers: Mapping,
    start=None,
    steps: int = 300,
    batch_size: int | None = None,
    seed: int = 0,
) -> Trajectories:
    """Run every optimizer from ``start`` for ``steps`` steps on ``surface``, all at once.

    Args:
        surface: a ``Surface`` (``surfaces.py``).
        optimizers: ``{label: (OptimizerClass, kwargs)}``.
        start: (x0, y0); default ``surface.start``.
        steps: number of updates.
        batch_size: mini-batch size B for a ``LeastSquares`` surface (noisy gradients, the same
            batches for every optimizer); None uses the full gradient.
        seed: seed of the mini-batch shuffles.

    Returns:
        ``Trajectories`` with paths [n, steps + 1, 2].
    """
    start = _check_run(surface, start, steps, seed)
    specs = _groups(optimizers)
    order = sorted(range(len(specs)), key=lambda i: specs[i][1])  # rows of one family together
    families = [specs[i][1] for i in order]
    theta = np.tile(start, (len(specs), 1))  # [n, 2], rows in `order`
    path = np.empty((steps + 1,) + theta.shape)  # [steps + 1, n, 2]
    path[0] = theta
    blocks = []
    for family in dict.fromkeys(families):  # each family once, in row order
        rows = slice(families.index(family), len(families) - families[::-1].index(family))
        blocks.append((family, rows, [specs[i][2] for i in order[rows]]))
    state = {family: _init_state(family, groups) for family, _, groups in blocks}
    sign = np.where([specs[i][2]["maximize"] for i in order], -1.0, 1.0)[:, None]
    schedule = _batch_schedule(surface, batch_size, steps, seed)
    with np.errstate(all="ignore"):  # a diverging optimizer overflows quietly; marked below
        for t in range(1, steps + 1):
            g = sign * _gradient(surface, theta, schedule[t - 1])  # [n, 2]
            for family, rows, _ in blocks:
                _UPDATES[family](theta[rows], g[rows], state[family], t)
            path[t] = theta
        paths = np.transpose(path, (1, 0, 2))[np.argsort(order)]  # [n, steps + 1, 2], given order
        return _finish([s[0] for s in specs], paths, surface)


def _finish(labels: list[str], paths: np.ndarray, surface: Surface) -> Trajectories:
    xmin, xmax, ymin, ymax = surface.extent
    centre = np.array([(xmin + xmax) / 2, (ymin + ymax) / 2])
    with np.errstate(all="ignore"):
        bad = ~np.isfinite(paths).all(-1) | (np.abs(paths - centre).max(-1) > _ESCAPE)  # [n, T]
    diverged_at = np.where(bad.any(1), bad.argmax(1), -1)
    after = np.cumsum(bad, axis=1) > 0  # every step from the first bad one on
    paths = np.where(after[..., None], np.nan, paths)
    with np.errstate(all="ignore"):
        losses = np.where(after, np.nan, surface.value(np.nan_to_num(paths)))
    return Trajectories(labels, paths, losses, diverged_at)


# Each family's update, on its rows theta[m, 2] in place, with hyperparameters as columns [m, 1].
# Same formulas and order as the classes (see their docstrings for the symbols). Options that no
# row uses (weight decay, lr decay, centering, amsgrad) are skipped: each NumPy call costs ~1 us.


def _init_state(family: str, groups: list[dict]) -> dict:
    m = len(groups)
    wd = _column(groups, "weight_decay")
    state = {
        "lr": _column(groups, "lr"),
        "l2": wd,
        "any_l2": bool(wd.any()),
        "a": np.zeros((m, 2)),
        "b": np.zeros((m, 2)),
        "c": np.zeros((m, 2)),
    }
    if family == "sgd":
        mu = _column(groups, "momentum")
        state.update(
            mu=mu,
            damp=np.where(mu == 0, 1.0, 1 - _column(groups, "dampening")),
            nesterov=_column(groups, "nesterov"),
            any_nesterov=any(g["nesterov"] for g in groups),
        )
    elif family == "adagrad":
        state.update(lr_decay=_column(groups, "lr_decay"), eps=_column(groups, "eps"))
        state["a"] += _column(groups, "initial_accumulator_value")
    elif family == "rmsprop":
        state.update(
            alpha=_column(groups, "alpha"),
            eps=_column(groups, "eps"),
            mu=_column(groups, "momentum"),
            centered=_column(groups, "centered"),
            any_centered=any(g["centered"] for g in groups),
        )
    else:
        decoupled = _column(groups, "decoupled_weight_decay")
        state.update(
            beta1=_column(groups, "betas", 0),
            beta2=_column(groups, "betas", 1),
            eps=_column(groups, "eps"),
            amsgrad=_column(groups, "amsgrad") > 0,
            any_amsgrad=any(g["amsgrad"] for g in groups),
            l2=wd * (1 - decoupled),
            any_l2=bool((wd * (1 - decoupled)).any()),
            decay=1 - state["lr"] * wd * decoupled,
            any_decay=bool((wd * decoupled).any()),
        )
    return state


def _sgd(theta, g, s, t):
    if s["any_l2"]:
        g = g + s["l2"] * theta
    # b = mu b + (1 - tau) g, starting at b = g (with mu = 0, b = g every step: plain SGD)
    s["a"] = s["mu"] * s["a"] + (1.0 if t == 1 else s["damp"]) * g
    if s["any_nesterov"]:  # Nesterov steps along g + mu b
        theta -= s["lr"] * (s["a"] + s["nesterov"] * (g + s["mu"] * s["a"] - s["a"]))
    else:
        theta -= s["lr"] * s["a"]


def _adagrad(theta, g, s, t):
    if s["any_l2"]:
        g = g + s["l2"] * theta
    s["a"] += g * g  # s = s + g^2
    clr = s["lr"] / (1 + (t - 1) * s["lr_decay"])
    theta -= clr * (g / (np.sqrt(s["a"]) + s["eps"]))


def _rmsprop(theta, g, s, t):
    if s["any_l2"]:
        g = g + s["l2"] * theta
    s["a"] = s["alpha"] * s["a"] + (1 - s["alpha"]) * (g * g)  # s = beta s + (1 - beta) g^2
    if s["any_centered"]:  # subtract the squared running mean of g
        s["c"] = s["c"] + (1 - s["alpha"]) * (g - s["c"])
        avg = np.sqrt(s["a"] - s["centered"] * (s["c"] * s["c"])) + s["eps"]
    else:
        avg = np.sqrt(s["a"]) + s["eps"]
    s["b"] = s["mu"] * s["b"] + g / avg  # momentum buffer; with mu = 0 it is g / avg
    theta -= s["lr"] * s["b"]


def _adam(theta, g, s, t):
    if s["any_l2"]:  # Adam's L2 penalty goes through the averages ...
        g = g + s["l2"] * theta
    if s["any_decay"]:  # ... AdamW's decay does not
        theta *= s["decay"]
    s["a"] += (1 - s["beta1"]) * (g - s["a"])  # g_avg = b1 g_avg + (1 - b1) g
    s["b"] = s["beta2"] * s["b"] + (1 - s["beta2"]) * (g * g)  # s = b2 s + (1 - b2) g^2
    second = s["b"]
    if s["any_amsgrad"]:
        s["c"] = np.maximum(s["c"], s["b"])  # running max of s
        second = np.where(s["amsgrad"], s["c"], s["b"])
    denom = np.sqrt(second) / np.sqrt(1 - s["beta2"] ** t) + s["eps"]
    theta -= (s["lr"] / (1 - s["beta1"] ** t)) * (s["a"] / denom)


_UPDATES = {"sgd": _sgd, "adagrad": _adagrad, "rmsprop": _rmsprop, "adam": _adam}


def trajectories_loop(
    surface: Surface,
    optimizers: Mapping,
    start=None,
    steps: int = 300,
    batch_size: int | None = None,
    seed: int = 0,
) -> Trajectories:
    """The obvious version of ``trajectories``: one optimizer object per path, stepped one by one.

    Same arguments and result; the classes may be this package's or ``torch.optim``'s.
    """
    start = _check_run(surface, start, steps, seed)
    specs = _groups(optimizers)
    schedule = _batch_schedule(surface, batch_size, steps, seed)
    paths = np.empty((len(specs), steps + 1, 2))
    with np.errstate(all="ignore"):
        for i, (cls, kwargs) in enumerate(optimizers.values()):
            p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
            opt = cls([p], **kwargs)
            paths[i, 0] = start
            for t in range(steps):
                p.grad = torch.from_numpy(_gradient(surface, p.detach().numpy(), schedule[t]))
                opt.step()
                paths[i, t + 1] = p.detach().numpy()
        return _finish([s[0] for s in specs], paths, surface)
