"""Training and evaluating the small Monodepth on ``StereoShapes``: what the notebook and the script share.

* :func:`stereo_tensors`: a ``StereoShapes`` set rendered once into tensors (rendering every epoch
  again would cost more than the training step).
* :class:`FlipSwap`: Monodepth's flip augmentation. Mirroring both views and swapping them gives
  another valid rectified pair (the mirrored right view is the left view of a mirrored rig).
* :func:`train_monodepth`: ``cvcourse.train.fit`` with :func:`~cvcourse.depth.monodepth.monodepth_step`,
  Adam and a cosine learning-rate decay. The true disparity travels with the batch only so that the
  validation abs rel can be reported; the loss never sees it.
* :func:`evaluate_depth`: the depth-metrics table of a model on pairs it never saw, optionally with
  per-image median scaling (the usual protocol for models whose scale is unknown), on all pixels or
  on the shapes' or the background's only (:func:`evaluate_disparity` for any disparity maps).
* :func:`row_prior`: the best guess that looks at nothing but the pixel's row (the median true
  disparity of each row over training pairs): "height in the image", the first monocular cue.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset

from cvcourse._checks import check_bool, check_choice, check_float, check_int, check_tensor, check_type
from cvcourse.data import StereoShapes
from cvcourse.train import History, fit

from .metrics import DEPTH_METRICS, depth_metrics
from .monodepth import Monodepth, monodepth_step

__all__ = [
    "stereo_tensors",
    "FlipSwap",
    "abs_rel_of_disparity",
    "train_monodepth",
    "predict_disparity",
    "evaluate_depth",
    "evaluate_disparity",
    "row_prior",
    "REGIONS",
]

REGIONS = ("all", "shapes", "background")


def stereo_tensors(dataset: StereoShapes) -> TensorDataset:
    """``(left [N, 3, H, W], right [N, 3, H, W], disparity [N, H, W])`` of every pair, rendered once."""
    check_type("dataset", dataset, StereoShapes, "a cvcourse.data.StereoShapes")
    items = [dataset[i] for i in range(len(dataset))]
    return TensorDataset(*(torch.stack([item[k] for item in items]) for k in range(3)))


class FlipSwap(Dataset):
    """Wrap a dataset of ``(left, right, disparity)``: with probability ``p`` return the mirrored pair
    ``(flip(right), flip(left), disparity)``; the disparity is then no longer the left view's and is
    set to 0 (unknown), so validation on it would be wrong: use this for training sets only."""

    def __init__(self, dataset: Dataset, p: float = 0.5, seed: int = 0) -> None:
        self.dataset, self.p = dataset, check_float("p", p, low=0.0, high=1.0)
        self.generator = torch.Generator().manual_seed(check_int("seed", seed, low=0))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor]:
        left, right, disparity = self.dataset[index]
        if torch.rand((), generator=self.generator) < self.p:
            return right.flip(-1), left.flip(-1), torch.zeros_like(disparity)
        return left, right, disparity


def abs_rel_of_disparity(disparity: Tensor, target: Tensor) -> float:
    """abs rel of the depths of a predicted disparity [B, 1, H, W] against a true one [B, H, W]
    (0 = unknown). Depth is b f / d, so b f cancels: abs rel = mean |d / d_hat - 1|."""
    valid = target > 0
    if not bool(valid.any()):
        return float("nan")
    return depth_metrics(
        1 / disparity[:, 0].clamp(min=1e-6),
        torch.where(valid, 1 / target.clamp(min=1e-6), torch.zeros_like(target)),
    )["abs_rel"]


def train_monodepth(
    train: Dataset,
    val: Dataset | None = None,
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 16,
    max_disparity: float = 16.0,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
    live_plot: bool = True,
    max_steps: int | None = None,
) -> tuple[Monodepth, History]:
    """Train a fresh :class:`Monodepth` self-supervised on ``(left, right, disparity)`` pairs.

    Args:
        train: training pairs (e.g. ``FlipSwap(stereo_tensors(StereoShapes(...)))``).
        val: validation pairs with true disparity, for the reported ``val_abs_rel``, or None.
        epochs, lr, batch_size: Adam with a cosine decay from ``lr`` to ``lr / 20`` over the epochs.
        max_disparity: the network's largest disparity in pixels.
        seed: seeds the initialisation and the shuffling.
        device, progress, live_plot, max_steps: passed to ``fit``.

    Returns:
        ``(model in eval mode, history)``.
    """
    epochs, batch_size = check_int("epochs", epochs, low=1), check_int("batch_size", batch_size, low=1)
    lr = check_float("lr", lr, low=0.0, low_inclusive=False)
    check_bool("progress", progress)
    torch.manual_seed(check_int("seed", seed, low=0))
    model = Monodepth(max_disparity=max_disparity)
    loader = DataLoader(
        train,
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    val_loader = None if val is None else DataLoader(val, batch_size=64)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda e: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * e / epochs))
    )
    history = fit(
        model,
        loader,
        None,
        optimizer,
        epochs=epochs,
        val_loader=val_loader,
        metrics={"abs_rel": abs_rel_of_disparity},
        device=device,
        scheduler=scheduler,
        step_fn=monodepth_step,
        progress=progress,
        live_plot=live_plot,
        max_steps=max_steps,
    )
    return model.eval(), history


@torch.no_grad()
def predict_disparity(model: torch.nn.Module, images: Tensor, batch_size: int = 64) -> Tensor:
    """``model``'s left disparity [N, 1, H, W] of images [N, 3, H, W], in batches, on the model's device."""
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = torch.cat(
        [model(images[i : i + batch_size].to(dev)).cpu() for i in range(0, len(images), batch_size)]
    )
    model.train(was_training)
    return out


def row_prior(dataset: StereoShapes) -> Tensor:
    """Median true disparity of every row over the pairs of ``dataset`` (valid pixels): Tensor[H].

    A predictor that sees only the row of a pixel; on a scene whose depth does not depend on the
    row it is a constant. Rows without any valid pixel get the overall median.
    """
    check_type("dataset", dataset, StereoShapes, "a cvcourse.data.StereoShapes")
    _, _, disparity = stereo_tensors(dataset).tensors  # [N, H, W], 0 = unknown
    overall = disparity[disparity > 0].median() if bool((disparity > 0).any()) else torch.tensor(1.0)
    rows = [disparity[:, v][disparity[:, v] > 0] for v in range(disparity.shape[1])]
    return torch.stack([r.median() if len(r) else overall for r in rows])  # [H]


def evaluate_disparity(
    predicted: Tensor, dataset: StereoShapes, median_scaling: bool = False, region: str = "all"
) -> dict[str, float]:
    """Depth metrics of predicted disparities ``predicted`` [N, H, W] (pixels, > 0) of ``dataset``'s pairs.

    Depth is ``dataset.focal_length * dataset.baseline / disparity``, in metres, over the pixels with
    ground truth (pixels seen by both cameras), restricted to ``region``: ``"all"``, ``"shapes"``
    (the things' pixels) or ``"background"`` (the rest). With ``median_scaling`` every prediction is
    first multiplied by ``median(true depth) / median(predicted depth)`` of its image, over the same
    pixels (Zhou et al. 2017, https://arxiv.org/abs/1704.07813): the protocol for models that cannot
    know the scale.
    """
    check_type("dataset", dataset, StereoShapes, "a cvcourse.data.StereoShapes")
    check_bool("median_scaling", median_scaling)
    check_choice("region", region, REGIONS)
    n, size = len(dataset), dataset.size
    check_tensor("predicted", predicted, shape=(n, size, size), dtype="float")
    samples = [dataset.sample(i) for i in range(n)]
    valid = torch.stack([torch.where(s["valid"], s["disparity"], torch.zeros(())) for s in samples]) > 0
    if region != "all":
        things = torch.stack([s["masks"].any(0) for s in samples])  # [N, H, W]
        valid &= things if region == "shapes" else ~things
    disparity = torch.stack([s["disparity"] for s in samples]).double()
    bf = dataset.focal_length * dataset.baseline
    depth = bf / predicted.double().clamp(min=1e-6)  # [N, H, W] metres
    target = torch.where(valid, bf / disparity.clamp(min=1e-6), torch.zeros((), dtype=torch.float64))
    if median_scaling:
        for i in range(n):
            if valid[i].any():  # an image without pixels of the region keeps its scale (not counted)
                # quantile(0.5) = numpy's median (the mean of the middle two), as Monodepth's evaluation
                depth[i] *= target[i][valid[i]].quantile(0.5) / depth[i][valid[i]].quantile(0.5)
    result = depth_metrics(depth, target)
    return {k: result[k] for k in DEPTH_METRICS}


def evaluate_depth(
    model: torch.nn.Module, dataset: StereoShapes, median_scaling: bool = False, region: str = "all"
) -> dict[str, float]:
    """Depth metrics (abs rel, sq rel, RMSE, RMSE log, delta < 1.25^k) of ``model`` on ``dataset``:
    :func:`evaluate_disparity` of the model's left disparities (see there for ``median_scaling`` and
    ``region``)."""
    check_type("dataset", dataset, StereoShapes, "a cvcourse.data.StereoShapes")
    left, _, _ = stereo_tensors(dataset).tensors
    return evaluate_disparity(predict_disparity(model, left)[:, 0], dataset, median_scaling, region)
