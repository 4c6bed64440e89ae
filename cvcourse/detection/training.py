r"""Training and scoring the chapter 4b detectors on ``ShapesDetection``: what the notebook, the
script and the tests share.

Every detector of the chapter (RetinaNet, CenterNet, DETR) has the same interface:
``model.loss(images, targets) -> {"loss": ..., <parts>}`` and ``model.predict(images) -> [dict]``.
So one function trains any of them and one function scores any of them:

* :func:`render_scenes`: a ``ShapesDetection`` set rendered once into tensors (the images stacked,
  the targets without their masks), so that no epoch pays for rendering again;
* :func:`train_detector`: ``cvcourse.train.fit`` with a ``step_fn`` that calls ``model.loss``, AdamW,
  a linear warm-up followed by a cosine decay (per step), and gradient clipping, on freshly rendered
  training scenes (optionally mirrored left-right at random);
* :func:`evaluate_detector`: COCO mAP, mAP@0.5 and mAP@0.75 (``coco_map``, = pycocotools) of
  ``model.predict`` on a data set, the inference time per image and the number of parameters.

The learning rate at optimizer step :math:`t` of :math:`T` (warm-up :math:`W` steps):

.. math::
    \eta_t = \eta \cdot \begin{cases} (t + 1) / W & t < W \\
    \eta_{\min} + (1 - \eta_{\min}) \tfrac{1}{2}\bigl(1 + \cos(\pi \tfrac{t - W}{T - W})\bigr) & t \ge W
    \end{cases}

with :math:`\eta_{\min} = 0.02` (the decay ends at 2% of the peak rate).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from cvcourse._checks import check_bool, check_float, check_int, check_type
from cvcourse.data import ShapesDetection
from cvcourse.train import History, fit

from .coco import coco_map

__all__ = [
    "VAL_SEED",
    "RenderedScenes",
    "ClippedAdamW",
    "render_scenes",
    "detection_step",
    "train_detector",
    "predict_all",
    "evaluate_detector",
    "count_parameters",
]

VAL_SEED = 777  # the validation scenes' seed: never used for training
MIN_LR_FACTOR = 0.02


class RenderedScenes(Dataset):
    """Detection scenes held in memory: ``images`` Tensor[N, 3, H, W] and ``targets``, a list of
    ``{"boxes": Tensor[K, 4], "labels": Tensor[K]}``; ``hflip`` mirrors a sample left-right with
    probability 1/2 (boxes mirrored with it: :math:`x' = W - x`), for training sets only."""

    def __init__(self, images: Tensor, targets: Sequence[dict], hflip: bool = False, seed: int = 0) -> None:
        self.images, self.targets = images, list(targets)
        self.hflip = check_bool("hflip", hflip)
        self.generator = torch.Generator().manual_seed(check_int("seed", seed, low=0))

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Tensor, dict]:
        image, target = self.images[index], self.targets[index]
        if self.hflip and bool(torch.rand((), generator=self.generator) < 0.5):
            width = image.shape[-1]
            boxes = target["boxes"][:, [2, 1, 0, 3]] * torch.tensor([-1.0, 1.0, -1.0, 1.0]) + torch.tensor(
                [width, 0.0, width, 0.0]
            )
            return image.flip(-1), {"boxes": boxes, "labels": target["labels"]}
        return image, target


def render_scenes(dataset: Dataset, hflip: bool = False, seed: int = 0) -> RenderedScenes:
    """Every ``(image, target)`` of ``dataset`` (e.g. a ``ShapesDetection``) rendered once, masks dropped."""
    check_type("dataset", dataset, Dataset, "a torch Dataset of (image, target) pairs (e.g. ShapesDetection)")
    items = [dataset[i] for i in range(len(dataset))]
    if not items:
        raise ValueError("dataset must not be empty, got 0 samples")
    images = torch.stack([image for image, _ in items])
    targets = [{"boxes": t["boxes"].float(), "labels": t["labels"].long()} for _, t in items]
    return RenderedScenes(images, targets, hflip=hflip, seed=seed)


def _collate(batch: list[tuple[Tensor, dict]]) -> tuple[Tensor, list[dict]]:
    return torch.stack([image for image, _ in batch]), [target for _, target in batch]


def detection_step(model: nn.Module, batch, device: torch.device) -> tuple[Tensor, dict, None]:
    """``fit``'s ``step_fn`` for the detectors: ``losses = model.loss(images, targets)``.

    Returns ``(losses["loss"], the detached loss parts, None)``: the parts travel as ``outputs`` so
    that ``fit`` logs them as metrics (``train_cls``, ``train_box``, ...).
    """
    images, targets = batch
    losses = model.loss(images, list(targets))
    return losses["loss"], {k: v.detach() for k, v in losses.items()}, None


class ClippedAdamW(torch.optim.AdamW):
    """AdamW that clips the global gradient norm to ``max_norm`` before every step and then sets the
    learning rate of the next step from the warm-up + cosine schedule (module docstring).

    ``fit`` steps schedulers once per epoch; a detector trained for a few epochs wants its rate to
    change every step, and clipping has to happen between ``backward()`` and the update: both live
    here, in the one call that sits there.
    """

    def __init__(
        self,
        params,
        *,
        lr: float,
        weight_decay: float,
        total_steps: int,
        warmup_steps: int,
        max_norm: float | None = 10.0,
    ) -> None:
        super().__init__(params, lr=lr, weight_decay=weight_decay)
        self.peak_lr, self.total_steps, self.warmup_steps = lr, total_steps, warmup_steps
        self.max_norm, self.steps_done = max_norm, 0
        self._set_lr()

    def lr_factor(self, step: int) -> float:
        """The schedule's factor of the peak rate at optimizer step ``step`` (0-based)."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(self.total_steps - self.warmup_steps, 1)
        progress = min((step - self.warmup_steps) / span, 1.0)
        return MIN_LR_FACTOR + (1 - MIN_LR_FACTOR) * 0.5 * (1 + math.cos(math.pi * progress))

    def _set_lr(self) -> None:
        for group in self.param_groups:
            group["lr"] = self.peak_lr * self.lr_factor(self.steps_done)

    def step(self, closure=None):
        if self.max_norm is not None:
            params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
            nn.utils.clip_grad_norm_(params, self.max_norm)
        loss = super().step(closure)
        self.steps_done += 1
        self._set_lr()
        return loss


def train_detector(
    model: nn.Module,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    train_scenes: int,
    weight_decay: float = 1e-4,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
    size: int = 64,
    max_objects: int = 4,
    hflip: bool = True,
    warmup: float = 0.05,
    max_norm: float | None = 10.0,
    live_plot: bool = False,
    max_steps: int | None = None,
) -> History:
    """Train ``model`` (any detector with ``loss``) on ``ShapesDetection(train_scenes, size, seed, ...)``.

    Args:
        model: the detector; trained in place (it ends in eval mode).
        epochs, lr, batch_size: passes over the scenes, AdamW's peak learning rate, scenes per step
            (the last incomplete batch is dropped, unless there is only one).
        train_scenes: how many training scenes to render (once, before training).
        weight_decay: AdamW's decoupled weight decay.
        seed: the training scenes' seed (never ``VAL_SEED`` = 777) and the shuffling's.
        device: where to train; None means ``cvcourse.runtime.device()``.
        progress, live_plot, max_steps: passed to ``fit``.
        size, max_objects: the scenes' image side and most objects per scene.
        hflip: mirror each training scene left-right with probability 1/2.
        warmup: the fraction of all steps spent on the linear warm-up, in [0, 1).
        max_norm: clip the gradient's global norm to this, or None for no clipping.

    Returns:
        the ``History`` of ``fit`` (``train_loss`` and every loss part, e.g. ``train_cls``, per epoch;
        ``history.steps["train_loss"]`` per step; ``lr`` at each epoch's start) with
        ``history.train_seconds`` added (rendering included).
    """
    check_type("model", model, nn.Module, "a detector (torch.nn.Module with .loss(images, targets))")
    if not callable(getattr(model, "loss", None)):
        raise TypeError(f"model must have a .loss(images, targets) method, got {type(model).__name__}")
    epochs = check_int("epochs", epochs, low=1)
    lr = check_float("lr", lr, low=0.0, low_inclusive=False)
    batch_size = check_int("batch_size", batch_size, low=1)
    train_scenes = check_int("train_scenes", train_scenes, low=1)
    weight_decay = check_float("weight_decay", weight_decay, low=0.0)
    seed = check_int("seed", seed, low=0)
    if seed == VAL_SEED:
        raise ValueError(f"seed must not be {VAL_SEED}: those are the validation scenes, never trained on")
    check_bool("progress", progress)
    check_bool("hflip", hflip)
    check_bool("live_plot", live_plot)
    warmup = check_float("warmup", warmup, low=0.0, high=1.0, high_inclusive=False)
    if max_norm is not None:
        max_norm = check_float("max_norm", max_norm, low=0.0, low_inclusive=False)
    if max_steps is not None:
        max_steps = check_int("max_steps", max_steps, low=1)
    start = time.perf_counter()
    scenes = render_scenes(
        ShapesDetection(train_scenes, size=size, seed=seed, max_objects=max_objects), hflip, seed
    )
    loader = DataLoader(
        scenes,
        batch_size=min(batch_size, train_scenes),
        shuffle=True,
        drop_last=train_scenes > batch_size,
        collate_fn=_collate,
        generator=torch.Generator().manual_seed(seed),
    )
    total = len(loader) * epochs if max_steps is None else min(len(loader) * epochs, max_steps)
    optimizer = ClippedAdamW(
        model.parameters(),
        lr=lr,
        weight_decay=weight_decay,
        total_steps=total,
        warmup_steps=max(1, round(warmup * total)),
        max_norm=max_norm,
    )
    with torch.no_grad():  # the names of the loss parts, logged as metrics (eval: no batch-norm update)
        images, targets = _collate([scenes[i] for i in range(min(2, len(scenes)))])
        dev = _model_device(model)
        model.eval()  # fit puts it back in training mode
        targets = [{k: v.to(dev) for k, v in t.items()} for t in targets]
        parts = [k for k in model.loss(images.to(dev), targets) if k != "loss"]
    metrics = {name: (lambda outputs, _targets, name=name: float(outputs[name])) for name in parts}
    history = fit(
        model,
        loader,
        None,
        optimizer,
        epochs=epochs,
        device=device,
        step_fn=detection_step,
        metrics=metrics,
        progress=progress,
        live_plot=live_plot,
        max_steps=max_steps,
    )
    history.train_seconds = time.perf_counter() - start
    model.eval()
    return history


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters of ``model``."""
    check_type("model", model, nn.Module, "a torch.nn.Module")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _model_device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def predict_all(
    model: nn.Module, dataset: Dataset, *, batch_size: int = 32, score_threshold: float = 0.05
) -> tuple[list[dict], list[dict], float]:
    """``model.predict`` on every scene of ``dataset`` in batches, on the model's device.

    Returns:
        ``(predictions, targets, seconds)``: one dict per scene each (on the CPU), and the time spent
        inside ``predict`` (inference and post-processing, not rendering).
    """
    check_type("model", model, nn.Module, "a detector (torch.nn.Module with .predict(images))")
    if not callable(getattr(model, "predict", None)):
        raise TypeError(f"model must have a .predict(images) method, got {type(model).__name__}")
    scenes = dataset if isinstance(dataset, RenderedScenes) else render_scenes(dataset)
    batch_size = check_int("batch_size", batch_size, low=1)
    score_threshold = check_float("score_threshold", score_threshold, low=0.0, high=1.0)
    dev = _model_device(model)
    was_training = model.training
    model.eval()
    predictions: list[dict] = []
    seconds = 0.0
    try:
        for i in range(0, len(scenes), batch_size):
            images = scenes.images[i : i + batch_size].to(dev)
            start = time.perf_counter()
            out = model.predict(images, score_threshold=score_threshold)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            seconds += time.perf_counter() - start
            predictions += [{k: v.detach().cpu() for k, v in p.items()} for p in out]
    finally:
        model.train(was_training)
    return predictions, scenes.targets, seconds


def evaluate_detector(model: nn.Module, dataset: Dataset, *, batch_size: int = 32) -> dict:
    """Score a detector on ``dataset`` (e.g. ``ShapesDetection(500, seed=VAL_SEED)``) with COCO's metric.

    Args:
        model: a detector with ``predict(images, score_threshold=...)`` (default threshold 0.05).
        dataset: scenes of ``(image, target)`` pairs; a ``RenderedScenes`` is used as it is.
        batch_size: scenes per ``predict`` call.

    Returns:
        ``{"map", "map_50", "map_75"}`` from ``coco_map`` (= pycocotools), ``ms_per_image`` (the
        measured inference and post-processing time per scene on the model's device), ``params``
        (trainable parameters) and ``scenes`` (how many were scored).
    """
    predictions, targets, seconds = predict_all(model, dataset, batch_size=batch_size)
    result = coco_map(predictions, targets)
    return {
        "map": float(result["map"]),
        "map_50": float(result["map_50"]),
        "map_75": float(result["map_75"]),
        "ms_per_image": 1000.0 * seconds / len(targets),
        "params": count_parameters(model),
        "scenes": len(targets),
    }
