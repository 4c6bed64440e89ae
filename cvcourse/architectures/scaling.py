r"""Model scaling measured (notes 2.6, Figs. 2.6-2.8): train a small CNN scaled in depth, width and
resolution, and grid-search the compound-scaling coefficients.

Paper: Tan and Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks"
(https://arxiv.org/abs/1905.11946), Sec. 3 and Figs. 3-4 (the notes' Figs. 2.6-2.7). The paper scales
EfficientNet-B0 on ImageNet; here a small pre-activation ResNet (``small.PreActBlock``) is scaled on
the synthetic shapes (``cvcourse.data.ShapesClassification``), so the curves train on a CPU in minutes.

The scaled net for multipliers :math:`d, w, r` (baseline ``ScalingBase``: ``blocks`` residual blocks
spread over 3 stages of ``width``, 2 ``width`` and 4 ``width`` channels, input ``resolution`` px):

- depth: ``round(d * blocks)`` blocks in all, spread evenly over the stages (extras to the later ones);
- width: ``round(w * width)`` channels in the first stage;
- resolution: images rendered at 32 px, resized to ``round(r * resolution)`` px (antialiased bilinear).

Every block after a stage's first costs the same FLOPs in every stage (half the side, twice the
channels), so FLOPs follow :math:`d \cdot w^2 \cdot r^2` up to the stem (linear in w), the rounding, and
the stride-2 blocks (cheaper, and not repeated with depth): within -2 % .. +4 % when the input side is a
multiple of 4, up to 18 % more when it is not (odd sides round up at each stride 2: 21 -> 11 -> 6 px).
Compound scaling with coefficient :math:`\phi`:

.. math:: d = \alpha^\phi,\quad w = \beta^\phi,\quad r = \gamma^\phi,\qquad
          \alpha \beta^2 \gamma^2 \approx 2,\ \alpha, \beta, \gamma \ge 1

``grid_search`` fixes :math:`\phi = 1`, takes :math:`\beta, \gamma` from a grid and solves
:math:`\alpha = 2 / (\beta^2 \gamma^2)`, keeping the points with :math:`\alpha \ge 1`, as the paper's
small grid search (which found :math:`\alpha = 1.2, \beta = 1.1, \gamma = 1.15` for B0).
All results are plain dicts and lists, ready to print, plot or save as JSON.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from cvcourse._checks import check_float, check_int, check_tensor, check_type
from cvcourse.architectures.complexity import count_flops, count_parameters
from cvcourse.architectures.small import PreActBlock
from cvcourse.data import ShapesClassification
from cvcourse.runtime import seed_everything
from cvcourse.train import accuracy, evaluate, fit

__all__ = [
    "ScalingBase",
    "ScaledCNN",
    "scaled_config",
    "scaled_cnn",
    "ScalingExperiment",
    "scaling_curves",
    "constraint_grid",
    "grid_search",
    "compound_vs_single",
    "plot_single_dimension",
    "plot_width_at_fixed",
    "draw_scaling_approaches",
]

SOURCE_SIZE = 32  # images are rendered once at this size and resized to each resolution


@dataclass(frozen=True)
class ScalingBase:
    """The baseline (phi = 0): residual blocks in all, first-stage channels, input pixels."""

    blocks: int = 6
    width: int = 10
    resolution: int = 16

    def __post_init__(self) -> None:
        check_int("blocks", self.blocks, low=3)
        check_int("width", self.width, low=1)
        check_int("resolution", self.resolution, low=4, high=SOURCE_SIZE)


def scaled_config(
    depth: float = 1.0, width: float = 1.0, resolution: float = 1.0, base: ScalingBase = ScalingBase()
) -> dict:
    """The rounded network for multipliers (d, w, r) of ``base``, and the multipliers it realises.

    Returns:
        dict with ``blocks`` (per stage, a tuple of 3), ``channels`` (first stage), ``pixels`` and
        ``d``, ``w``, ``r``: the realised multipliers (``sum(blocks) / base.blocks``, ...).
    """
    check_type("base", base, ScalingBase, "a ScalingBase")
    d = check_float("depth", depth, low=1 / base.blocks)
    w = check_float("width", width, low=1 / base.width)
    # the tiny slack lets (alpha beta^2 gamma^2)^(phi/2) reach the top exactly despite float rounding
    r = check_float(
        "resolution", resolution, low=4 / base.resolution, high=SOURCE_SIZE / base.resolution + 1e-9
    )
    total = max(3, round(d * base.blocks))
    per_stage = tuple(total // 3 + (1 if i >= 3 - total % 3 else 0) for i in range(3))  # extras go last
    channels = max(1, round(w * base.width))
    pixels = round(r * base.resolution)
    return {
        "blocks": per_stage,
        "channels": channels,
        "pixels": pixels,
        "d": total / base.blocks,
        "w": channels / base.width,
        "r": pixels / base.resolution,
    }


class ScaledCNN(nn.Module):
    """3x3 stem -> 3 stages of PreActBlocks (c, 2c, 4c channels; stride 2 into stages 2, 3) -> head.

    Args:
        blocks: residual blocks per stage, e.g. ``(2, 2, 2)``.
        channels: channels of the first stage (c).
        num_classes: size of the output logits.
    """

    def __init__(self, blocks: Sequence[int], channels: int, num_classes: int = 5) -> None:
        super().__init__()
        check_type("blocks", blocks, (tuple, list), "a tuple of 3 block counts like (2, 2, 2)")
        if len(blocks) != 3:
            raise ValueError(f"blocks must hold 3 block counts (one per stage), got {tuple(blocks)}")
        self.blocks_per_stage = tuple(check_int(f"blocks[{i}]", n, low=1) for i, n in enumerate(blocks))
        check_int("channels", channels, low=1)
        check_int("num_classes", num_classes, low=1)
        self.stem = nn.Conv2d(3, channels, 3, 1, 1, bias=False)
        layers: list[nn.Module] = []
        c_in = channels
        for stage, n in enumerate(self.blocks_per_stage):
            c_out = channels * 2**stage
            for i in range(n):
                layers.append(PreActBlock(c_in, c_out, stride=2 if stage > 0 and i == 0 else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(c_in)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        check_tensor("x", x, shape=("B", 3, "H", "W"), dtype="float")
        x = self.blocks(self.stem(x))  # [B, 4c, H/4, W/4]
        x = torch.relu(self.bn(x)).mean(dim=(2, 3))  # global average pooling: [B, 4c]
        return self.fc(x)  # [B, num_classes]


def scaled_cnn(
    depth: float = 1.0,
    width: float = 1.0,
    resolution: float = 1.0,
    *,
    base: ScalingBase = ScalingBase(),
    num_classes: int = 5,
) -> tuple[ScaledCNN, int]:
    """The baseline scaled by (d, w, r): ``(model, input pixels)``; see ``scaled_config``."""
    cfg = scaled_config(depth, width, resolution, base)
    return ScaledCNN(cfg["blocks"], cfg["channels"], num_classes), cfg["pixels"]


class ScalingExperiment:
    """Shapes data and one training recipe; ``run(d, w, r)`` trains and evaluates a scaled net.

    Every net sees the same images (resized to its resolution), the same number of epochs and the
    same seeds; a configuration already trained (the same rounded net) is not trained again.

    Args:
        train_size, val_size: images to train on (seed ``train_seed``) and to measure on (seed 777).
        epochs: passes over the training images (Adam, cosine learning-rate decay, then precise BN).
        batch_size, lr: the recipe.
        seeds: training seeds; the accuracy reported is their mean.
        base: the baseline net.
        max_steps: stop each training early (a quick look), or None.
        device: where to train; None means ``cvcourse.runtime.device()``.
    """

    def __init__(
        self,
        train_size: int,
        val_size: int,
        *,
        epochs: int,
        batch_size: int = 64,
        lr: float = 2e-3,
        seeds: Sequence[int] = (0,),
        base: ScalingBase = ScalingBase(),
        train_seed: int = 0,
        max_steps: int | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        check_int("train_size", train_size, low=1)
        check_int("val_size", val_size, low=1)
        self.epochs = check_int("epochs", epochs, low=1)
        self.batch_size = check_int("batch_size", batch_size, low=1)
        self.lr = check_float("lr", lr, low=0.0, low_inclusive=False)
        check_type("seeds", seeds, (tuple, list), "a tuple of ints like (0, 1)")
        if not seeds:
            raise ValueError("seeds must hold at least one seed, got an empty one")
        self.seeds = tuple(check_int(f"seeds[{i}]", s) for i, s in enumerate(seeds))
        self.base = check_type("base", base, ScalingBase, "a ScalingBase")
        self.max_steps = None if max_steps is None else check_int("max_steps", max_steps, low=1)
        self.device = device
        train = ShapesClassification(train_size, size=SOURCE_SIZE, seed=check_int("train_seed", train_seed))
        val = ShapesClassification(val_size, size=SOURCE_SIZE, seed=777)  # never used for training
        self.num_classes = len(train.classes)
        self._images = {split: _stack(ds) for split, ds in (("train", train), ("val", val))}
        self._resized: dict[int, dict[str, TensorDataset]] = {}
        self._done: dict[tuple, dict] = {}

    def data(self, pixels: int) -> dict[str, TensorDataset]:
        """Training and validation images resized to ``pixels`` (antialiased bilinear), kept for reuse."""
        check_int("pixels", pixels, low=4, high=SOURCE_SIZE)
        if pixels not in self._resized:
            self._resized[pixels] = {
                split: TensorDataset(_resize(x, pixels), y) for split, (x, y) in self._images.items()
            }
        return self._resized[pixels]

    def run(self, depth: float = 1.0, width: float = 1.0, resolution: float = 1.0) -> dict:
        """Train the scaled net once per seed and measure it on the unseen images.

        Returns:
            dict: the asked ``depth``, ``width``, ``resolution``; ``scaled_config``'s keys; ``flops``
            (one 1-image forward pass), ``params``, ``accuracy`` (mean over seeds),
            ``accuracies`` (per seed), ``seconds`` (training and evaluation, all seeds).
        """
        cfg = scaled_config(depth, width, resolution, self.base)
        key = (cfg["blocks"], cfg["channels"], cfg["pixels"])
        if key not in self._done:
            self._done[key] = self._train(cfg)
        return {"depth": float(depth), "width": float(width), "resolution": float(resolution),
                **cfg, **self._done[key]}  # fmt: skip

    def _train(self, cfg: dict) -> dict:
        data = self.data(cfg["pixels"])
        start, accuracies = time.perf_counter(), []
        for seed in self.seeds:
            generator = seed_everything(seed)
            model = ScaledCNN(cfg["blocks"], cfg["channels"], self.num_classes)
            loader = DataLoader(data["train"], batch_size=self.batch_size, shuffle=True, generator=generator)
            optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
            fit(model, loader, F.cross_entropy, optimizer, epochs=self.epochs, device=self.device,
                scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.epochs),
                max_steps=self.max_steps, live_plot=False, progress=False)  # fmt: skip
            _precise_batch_norm(model, loader, self.device)
            val_loader = DataLoader(data["val"], batch_size=256)
            accuracies.append(
                evaluate(model, val_loader, metrics={"accuracy": accuracy}, device=self.device)["accuracy"]
            )
        model = ScaledCNN(cfg["blocks"], cfg["channels"], self.num_classes)
        return {
            "flops": count_flops(model, (1, 3, cfg["pixels"], cfg["pixels"])),
            "params": count_parameters(model),
            "accuracy": sum(accuracies) / len(accuracies),
            "accuracies": accuracies,
            "seconds": time.perf_counter() - start,
        }


@torch.no_grad()
def _precise_batch_norm(model: nn.Module, loader: DataLoader, device: torch.device | str | None) -> None:
    """Replace BatchNorm's running statistics by their exact mean over the training images.

    After a short training at a high learning rate the running averages (momentum 0.1) lag behind the
    weights, and eval-mode accuracy swings by tens of points from one epoch to the next. "Precise BN"
    (Wu and Johnson, https://arxiv.org/abs/2105.07576; pycls, which RegNet and our grid search follow)
    recomputes them with the final weights: a cumulative average (momentum None) over one pass.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average: the plain mean over the batches seen
    dev = next(model.parameters()).device if device is None else torch.device(device)
    was_training = model.training
    model.train()
    for images, _ in loader:
        model(images.to(dev))
    model.train(was_training)
    for bn in norms:
        bn.momentum = 0.1


def _stack(dataset: ShapesClassification) -> tuple[Tensor, Tensor]:
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])  # [N, 3, 32, 32]
    return images, torch.tensor([dataset[i][1] for i in range(len(dataset))])


def _resize(images: Tensor, pixels: int) -> Tensor:
    if pixels == images.shape[-1]:
        return images
    # antialiased bilinear: every source pixel contributes, as a camera of lower resolution would
    return F.interpolate(images, size=(pixels, pixels), mode="bilinear", antialias=True, align_corners=False)


def _check_multipliers(name: str, values: Sequence[float]) -> tuple[float, ...]:
    check_type(name, values, (tuple, list), "a tuple of multipliers like (1.0, 1.5, 2.0)")
    if not values:
        raise ValueError(f"{name} must hold at least one multiplier, got an empty one")
    return tuple(check_float(f"{name}[{i}]", v, low=1.0) for i, v in enumerate(values))


def _sweep(experiment: ScalingExperiment, points: list[dict], desc: str) -> list[dict]:
    results = []
    for p in tqdm(points, desc=desc, unit="net"):
        results.append(experiment.run(p["depth"], p["width"], p["resolution"]))
    return results


def scaling_curves(
    experiment: ScalingExperiment,
    *,
    widths: Sequence[float] = (1.0, 1.5, 2.0, 2.5),
    depths: Sequence[float] = (1.0, 2.0, 3.0, 4.0),
    resolutions: Sequence[float] = (1.0, 1.25, 1.5, 2.0),
    fixed: Sequence[tuple[float, float]] = ((1.0, 1.0), (2.0, 1.0), (1.0, 1.25), (2.0, 1.25)),
    fixed_widths: Sequence[float] = (1.0, 1.5, 2.0, 3.0),
) -> dict:
    """Single-dimension scaling (Fig. 2.6) and width scaling at fixed (depth, resolution) (Fig. 2.7).

    Args:
        experiment: the data and the recipe.
        widths, depths, resolutions: multipliers of each single-dimension curve (Fig. 2.6).
        fixed: the (depth, resolution) pairs of Fig. 2.7 (the paper: d = 1, 2 and r = 1, 1.3).
        fixed_widths: the width multipliers of each Fig. 2.7 curve.

    Returns:
        ``{"width": [...], "depth": [...], "resolution": [...], "width_at": {(d, r): [...]}}``, each
        list one ``ScalingExperiment.run`` result per multiplier, in the order given.
    """
    check_type("experiment", experiment, ScalingExperiment, "a ScalingExperiment")
    widths = _check_multipliers("widths", widths)
    depths = _check_multipliers("depths", depths)
    resolutions = _check_multipliers("resolutions", resolutions)
    fixed_widths = _check_multipliers("fixed_widths", fixed_widths)
    check_type("fixed", fixed, (tuple, list), "a tuple of (depth, resolution) pairs")
    for i, pair in enumerate(fixed):
        check_type(f"fixed[{i}]", pair, (tuple, list), "a (depth, resolution) pair")
        if len(pair) != 2:
            raise ValueError(f"fixed[{i}] must be a (depth, resolution) pair, got {pair!r}")
        _check_multipliers(f"fixed[{i}]", pair)
    one = {"depth": 1.0, "width": 1.0, "resolution": 1.0}
    curves: dict = {
        dim: _sweep(experiment, [{**one, dim: v} for v in values], f"{dim} scaling")
        for dim, values in (("width", widths), ("depth", depths), ("resolution", resolutions))
    }
    curves["width_at"] = {
        (float(d), float(r)): _sweep(
            experiment,
            [{"depth": d, "width": w, "resolution": r} for w in fixed_widths],
            f"width at d={d}, r={r}",
        )
        for d, r in fixed
    }
    return curves


def constraint_grid(
    betas: Sequence[float], gammas: Sequence[float], target: float = 2.0
) -> list[dict[str, float]]:
    r"""The grid at :math:`\phi = 1`: every (beta, gamma) with :math:`\alpha = \text{target} /
    (\beta^2\gamma^2) \ge 1`, so that :math:`\alpha\beta^2\gamma^2 = \text{target}` holds exactly.

    Returns:
        ``[{"alpha": ..., "beta": ..., "gamma": ...}, ...]`` in the order of ``betas`` then ``gammas``.
    """
    betas = _check_multipliers("betas", betas)
    gammas = _check_multipliers("gammas", gammas)
    target = check_float("target", target, low=1.0)
    grid = []
    for beta in betas:
        for gamma in gammas:
            alpha = target / (beta**2 * gamma**2)
            if alpha >= 1.0 - 1e-12:  # the notes: alpha, beta, gamma >= 1
                grid.append({"alpha": max(alpha, 1.0), "beta": beta, "gamma": gamma})
    if not grid:
        raise ValueError(f"no (beta, gamma) of the grid leaves alpha >= 1 for target {target}")
    return grid


def grid_search(
    experiment: ScalingExperiment,
    *,
    betas: Sequence[float] = (1.0, 1.1, 1.2, 1.3),
    gammas: Sequence[float] = (1.0, 1.1, 1.2, 1.3),
    target: float = 2.0,
) -> dict:
    """Train the baseline scaled by every point of ``constraint_grid`` (phi = 1); pick the best.

    Returns:
        ``{"points": [run result + alpha, beta, gamma, ...], "best": the point of highest accuracy
        (the first one on a tie), "base": the baseline's result}``.
    """
    check_type("experiment", experiment, ScalingExperiment, "a ScalingExperiment")
    grid = constraint_grid(betas, gammas, target)
    base = experiment.run()
    points = []
    for p in tqdm(grid, desc="grid search (phi = 1)", unit="net"):
        result = experiment.run(p["alpha"], p["beta"], p["gamma"])
        points.append({**p, **result, "flops_ratio": result["flops"] / base["flops"]})
    best = max(points, key=lambda p: p["accuracy"])  # max keeps the first of equal ones
    return {"points": points, "best": best, "base": base}


def compound_vs_single(
    experiment: ScalingExperiment, alpha: float, beta: float, gamma: float, phi: float = 2.0
) -> dict:
    r"""Compound scaling by :math:`(\alpha^\phi, \beta^\phi, \gamma^\phi)` against scaling one dimension
    alone to the same FLOPs factor :math:`F = (\alpha\beta^2\gamma^2)^\phi`: depth :math:`F`, width or
    resolution :math:`\sqrt{F}`.

    Returns:
        ``{"compound": ..., "depth": ..., "width": ..., "resolution": ..., "base": ...}``, run results.
    """
    check_type("experiment", experiment, ScalingExperiment, "a ScalingExperiment")
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        check_float(name, value, low=1.0)
    check_float("phi", phi, low=0.0)
    factor = (alpha * beta**2 * gamma**2) ** phi
    points = {
        "base": {"depth": 1.0, "width": 1.0, "resolution": 1.0},
        "compound": {"depth": alpha**phi, "width": beta**phi, "resolution": gamma**phi},
        "depth": {"depth": factor, "width": 1.0, "resolution": 1.0},
        "width": {"depth": 1.0, "width": math.sqrt(factor), "resolution": 1.0},
        "resolution": {"depth": 1.0, "width": 1.0, "resolution": math.sqrt(factor)},
    }
    names = list(points)
    results = _sweep(experiment, list(points.values()), f"compound vs single (phi = {phi:g})")
    return dict(zip(names, results, strict=True))


# ----------------------------------------------------------------------------- pictures


def _axes(axes, n: int, figsize: tuple[float, float]):
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, n, figsize=figsize, squeeze=False, layout="constrained")
        axes = list(axes[0])
    axes = list(axes) if isinstance(axes, (list, tuple)) else [axes]
    if len(axes) != n:
        raise ValueError(f"axes must be {n} matplotlib Axes, got {len(axes)}")
    return axes


def plot_single_dimension(curves: dict, axes=None, note: str = ""):
    """Fig. 2.6: accuracy against FLOPs for width, depth and resolution scaled alone; returns axes."""
    from cvcourse.viz import style_axes

    check_type("curves", curves, dict, "the dict scaling_curves returns")
    axes = _axes(axes, 3, (11, 3.4))
    for ax, (dim, letter) in zip(axes, (("width", "w"), ("depth", "d"), ("resolution", "r")), strict=True):
        runs = curves[dim]
        flops = [p["flops"] / 1e6 for p in runs]
        ax.plot(flops, [100 * p["accuracy"] for p in runs], "o-")
        for p, f in zip(runs, flops, strict=True):
            ax.annotate(f"{letter}={p[letter]:.2g}", (f, 100 * p["accuracy"]), textcoords="offset points",
                        xytext=(3, -10), fontsize=8)  # fmt: skip
        style_axes(
            ax, f"Scale {dim} alone{note}", "MFLOPs (one image)", "accuracy on unseen images (%)", grid=True
        )
    return axes


def plot_width_at_fixed(curves: dict, ax=None, note: str = ""):
    """Fig. 2.7: width scaling for fixed (depth, resolution); returns the axes."""
    from cvcourse.viz import style_axes

    check_type("curves", curves, dict, "the dict scaling_curves returns")
    (ax,) = _axes(ax, 1, (5.5, 3.6))
    for (d, r), runs in curves["width_at"].items():
        ax.plot(
            [p["flops"] / 1e6 for p in runs],
            [100 * p["accuracy"] for p in runs],
            "o-",
            label=f"d={d:g}, r={r:g}",
        )
    widths = ", ".join(f"{p['w']:.2g}" for p in next(iter(curves["width_at"].values())))
    style_axes(ax, f"Width scaling (w = {widths}) at fixed d, r{note}", "MFLOPs (one image)",
               "accuracy on unseen images (%)", grid=True)  # fmt: skip
    ax.legend()
    return ax


def draw_scaling_approaches(
    factor: float = 2.0,
    alpha: float = 1.2,
    beta: float = 1.1,
    gamma: float = 1.15,
    phi: float = 3.0,
    axes=None,
):
    r"""Fig. 2.8, drawn from the real nets: the baseline; width, depth or resolution alone times ``factor``;
    compound (:math:`\alpha^\phi, \beta^\phi, \gamma^\phi`). Each block is a bar as wide as its
    channels and as tall as its feature map's side; the grey square is the input image. The titles give
    the FLOPs counted on each net, relative to the baseline."""
    from matplotlib.patches import Rectangle

    from cvcourse.viz import style_axes

    check_float("factor", factor, low=1.0, high=SOURCE_SIZE / ScalingBase().resolution)
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        check_float(name, value, low=1.0)
    check_float("phi", phi, low=0.0)
    panels = {
        "baseline": (1.0, 1.0, 1.0),
        "wider": (1.0, factor, 1.0),
        "deeper": (factor, 1.0, 1.0),
        "higher resolution": (1.0, 1.0, factor),
        f"compound (phi={phi:g})": (alpha**phi, beta**phi, gamma**phi),
    }
    axes = _axes(axes, len(panels), (13, 4.6))
    base_model, base_px = scaled_cnn()
    base_flops = count_flops(base_model, (1, 3, base_px, base_px))
    configs = {title: scaled_config(*dwr) for title, dwr in panels.items()}
    top = max(c["pixels"] * 1.1 + sum(n * (c["pixels"] / 2 ** (s + 1) + 1) for s, n in enumerate(c["blocks"]))
              for c in configs.values())  # fmt: skip
    right = max(2 * c["channels"] for c in configs.values()) + 4
    for ax, (title, cfg) in zip(axes, configs.items(), strict=True):
        pixels, y = cfg["pixels"], 0.0
        ax.add_patch(Rectangle((-pixels / 2, y), pixels, pixels, color="0.8"))  # the input image
        ax.text(0, y + pixels / 2, f"{pixels} px", ha="center", va="center", fontsize=8)
        y += pixels * 1.1
        for stage, n in enumerate(cfg["blocks"]):
            channels, side = cfg["channels"] * 2**stage, pixels / 2 ** (stage + 1)
            for _ in range(n):
                ax.add_patch(Rectangle((-channels / 2, y), channels, side, color=f"C{stage}"))
                y += side + 1
        model = ScaledCNN(cfg["blocks"], cfg["channels"])
        ratio = count_flops(model, (1, 3, pixels, pixels)) / base_flops
        ax.set_xlim(-right, right)
        ax.set_ylim(0, top)
        ax.set_yticks([])
        style_axes(ax, f"{title}\nd={cfg['d']:.2f}, w={cfg['w']:.2f}, r={cfg['r']:.2f}\nFLOPs x{ratio:.1f}",
                   "channels (bar width)", "input, then the blocks")  # fmt: skip
        ax.title.set_fontsize(9)
    return axes
