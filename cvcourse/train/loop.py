r"""The one training loop every chapter uses: ``fit`` trains, ``evaluate`` measures.

A training step is the same everywhere (Goodfellow et al., *Deep Learning*, ch. 8, algorithm 8.1):

.. math:: \theta \leftarrow \theta - \eta \nabla_\theta \frac{1}{B} \sum_i L(f_\theta(x_i), y_i)

``loss.backward()`` computes the gradient of the mini-batch loss, ``optimizer.step()`` applies
the optimizer's update rule (plain SGD above; Adam etc. in chapter 1). Around that step ``fit``
adds what a course needs: the device (``cvcourse.runtime.device()``); mixed precision and
channels-last memory on CUDA only (Micikevicius et al. 2017, https://arxiv.org/abs/1710.03740, the
``torch.autocast`` + ``torch.amp.GradScaler`` recipe); a ``tqdm.auto`` progress bar; a live loss
plot that redraws one picture in a notebook; a ``History`` of every number; an atomic checkpoint;
a clean stop on Ctrl-C or the notebook's stop button; data-parallel training under ``torchrun``
(:mod:`cvcourse.train.distributed`).

Losses and metrics are averaged over samples: a batch of B samples counts B times, so the epoch
numbers equal the numbers over the whole data set even when the last batch is smaller.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from typing import Any, NamedTuple

import torch
from torch import nn
from tqdm.auto import tqdm

from cvcourse.runtime import device as default_device

from . import distributed
from .arguments import Metric, check_fit_arguments, check_loader, check_metrics, check_model
from .batches import batch_size, to_device
from .checkpoint import Checkpointer
from .history import History
from .live import LivePlot, in_notebook

__all__ = ["evaluate", "fit"]

_ONE_PROCESS = distributed.DistributedContext()  # world size 1: nothing to average over

StepFn = Callable[[nn.Module, Any, torch.device], tuple[torch.Tensor, Any, Any]]


def _default_step(loss_fn: Callable | None) -> StepFn:
    """The usual step: ``outputs = model(inputs)``, ``loss = loss_fn(outputs, targets)``."""

    def step(model: nn.Module, batch: Any, device: torch.device) -> tuple[torch.Tensor, Any, Any]:
        if not isinstance(batch, (list, tuple)) or len(batch) != 2:
            got = type(batch).__name__
            if isinstance(batch, (list, tuple)):
                got += f" of length {len(batch)}"
            raise ValueError(
                f"batches must be (inputs, targets) pairs, got a {got}; for other "
                f"layouts pass step_fn(model, batch, device)"
            )
        inputs, targets = batch
        outputs = model(inputs)
        return loss_fn(outputs, targets), outputs, targets

    return step


class _Precision(NamedTuple):
    autocast: bool  # run the forward pass under torch.autocast
    dtype: torch.dtype  # the autocast dtype
    scale_loss: bool  # use a GradScaler


def _amp_settings(device: torch.device, amp: bool | None) -> _Precision:
    """Mixed precision on CUDA (by default) or nowhere: bfloat16 where the GPU has it, else float16.

    float16 needs loss scaling (small gradients underflow to 0); bfloat16 has float32's range.
    """
    if amp and device.type != "cuda":
        raise ValueError(
            f"amp=True needs a CUDA device, got device {device}; leave amp=None "
            f"to use mixed precision on CUDA only"
        )
    if not (amp if amp is not None else device.type == "cuda"):
        return _Precision(False, torch.float32, False)
    if torch.cuda.is_bf16_supported():
        return _Precision(True, torch.bfloat16, False)
    return _Precision(True, torch.float16, True)


def _mean_over_ranks(value: float, n: int, ctx: distributed.DistributedContext) -> float:
    """The sample-weighted mean of ``value`` (a mean over ``n`` samples) over all ranks."""
    if not ctx.enabled:
        return value
    sums, count = distributed.all_reduce_sums({"v": value * n}, n)
    return sums["v"] / count


def _run_epoch(
    model,
    loader,
    step,
    device,
    metrics,
    precision,
    optimizer=None,
    scaler=None,
    on_step=None,
    max_batches=None,
    channels_last=False,
    ctx=_ONE_PROCESS,
) -> dict[str, float]:
    """One pass over ``loader``, training when given an optimizer; returns sample-weighted means."""
    totals: dict[str, float] = {}
    samples = 0
    for i, batch in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        batch = to_device(batch, device, channels_last)
        n = batch_size(batch)
        with torch.autocast(device.type, precision.dtype) if precision.autocast else nullcontext():
            loss, outputs, targets = step(model, batch, device)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            got = f"shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss)
            raise ValueError(
                f"the loss must be a one-element tensor (the mean over the batch), "
                f"got {got}; use reduction='mean'"
            )
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise FloatingPointError(
                f"the loss is {loss_value} after {samples} samples of this "
                f"epoch: lower the learning rate or check the data"
            )
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()  # under DDP the gradients are averaged over ranks here
            scaler.step(optimizer)
            scaler.update()
        totals["loss"] = totals.get("loss", 0.0) + loss_value * n
        if outputs is not None:
            outputs = outputs.detach() if isinstance(outputs, torch.Tensor) else outputs
            for name, fn in metrics.items():
                totals[name] = totals.get(name, 0.0) + float(fn(outputs, targets)) * n
        samples += n
        if on_step is not None:
            on_step(_mean_over_ranks(loss_value, n, ctx))
    if ctx.enabled:
        totals, samples = distributed.all_reduce_sums(totals, samples)
    if samples == 0:
        raise ValueError("the loader yielded no batches in this epoch; it must not be empty")
    return {name: total / samples for name, total in totals.items()}


def evaluate(
    model: nn.Module,
    loader: Iterable,
    loss_fn: Callable | None = None,
    *,
    metrics: Mapping[str, Metric] | None = None,
    device: torch.device | str | None = None,
    step_fn: StepFn | None = None,
    amp: bool | None = None,
) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over ``loader``, in eval mode and without gradients.

    The model's train/eval mode is restored afterwards. Under ``torchrun`` each process evaluates
    its share of the loader's dataset and the numbers are averaged over all of it.

    Args:
        model: the network.
        loader: iterable of ``(inputs, targets)`` batches (or anything ``step_fn`` understands).
        loss_fn: ``loss_fn(outputs, targets) -> Tensor`` (mean over the batch), or None.
        metrics: dict name -> ``fn(outputs, targets) -> float`` (mean over the batch).
        device: where to compute; None means ``cvcourse.runtime.device()``.
        step_fn: ``step_fn(model, batch, device) -> (loss, outputs, targets)`` for models whose
            forward needs more than ``model(inputs)``; the batch is already on ``device``.
        amp: mixed precision; None means on CUDA only.

    Returns:
        ``{"loss": ..., "<metric>": ...}`` averaged over samples (``loss`` only with a loss).
    """
    check_model(model)
    check_loader("loader", loader)
    metrics = check_metrics(metrics)
    ctx = distributed.context()
    device = _resolve_device(device, ctx)
    if ctx.enabled:
        loader = distributed.shard_loader(loader, ctx, train=False, name="loader")
    return _evaluate(model, loader, loss_fn, metrics, device, step_fn, amp, ctx)


def _evaluate(model, loader, loss_fn, metrics, device, step_fn, amp, ctx) -> dict[str, float]:
    if step_fn is not None:
        step = step_fn
    else:  # without a loss, a stand-in 0 keeps one code path; "loss" is dropped from the result
        step = _default_step(loss_fn or (lambda outputs, targets: torch.zeros(())))
    was_training = model.training
    model.to(device).eval()
    try:
        with torch.no_grad():
            result = _run_epoch(model, loader, step, device, metrics, _amp_settings(device, amp), ctx=ctx)
    finally:
        model.train(was_training)
    if loss_fn is None and step_fn is None:
        del result["loss"]
    return result


def _resolve_device(device, ctx: distributed.DistributedContext) -> torch.device:
    """The device asked for (or the course's default); under torchrun CUDA is ``cuda:LOCAL_RANK``."""
    chosen = torch.device(device) if device is not None else default_device()
    return distributed.device_for(ctx, chosen) if ctx.enabled else chosen


def fit(
    model: nn.Module,
    train_loader: Iterable,
    loss_fn: Callable | None,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int = 1,
    val_loader: Iterable | None = None,
    metrics: Mapping[str, Metric] | None = None,
    device: torch.device | str | None = None,
    scheduler: Any = None,
    live_plot: bool = True,
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
    amp: bool | None = None,
    channels_last: bool | None = None,
    max_steps: int | None = None,
    step_fn: StepFn | None = None,
    checkpoint_monitor: str | None = None,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_loader``; returns the History.

    Each step: ``loss = loss_fn(model(inputs), targets)``, ``loss.backward()``,
    ``optimizer.step()``.
    After each epoch: validation on ``val_loader`` (``evaluate``), ``scheduler.step()``, checkpoint.
    Ctrl-C (or the notebook's stop button) ends training cleanly: the model keeps the weights of the
    last step, and the History so far comes back with ``.interrupted = True``.

    Example::

        history = fit(model, train_loader, nn.functional.cross_entropy,
                      torch.optim.Adam(model.parameters(), lr=1e-3), epochs=pick(full=10, fast=1),
                      val_loader=val_loader, metrics={"accuracy": accuracy})

    Every option after ``optimizer`` is keyword-only. The same call in a script run by
    ``torchrun --nproc_per_node=N script.py`` trains data-parallel on N GPUs or CPU processes; the
    global batch is then N × the loader's ``batch_size`` (see :mod:`cvcourse.train.distributed`).
        history["val_accuracy"][-1]

    Args:
        model: the network; moved to ``device``.
        train_loader: iterable of ``(inputs, targets)`` batches (or what ``step_fn`` understands).
        loss_fn: ``loss_fn(outputs, targets) -> Tensor``, the batch mean; None with ``step_fn``.
        optimizer: any ``torch.optim.Optimizer`` over the model's parameters.
        epochs: number of passes over the data, >= 0.
        val_loader: batches to evaluate on after every epoch, or None.
        metrics: dict name -> ``fn(outputs, targets) -> float``, e.g. ``{"accuracy": accuracy}``;
            recorded as ``train_<name>`` and ``val_<name>``.
        device: None means ``cvcourse.runtime.device()``.
        scheduler: a learning-rate scheduler, stepped once per epoch (``ReduceLROnPlateau`` gets
            the validation loss, or the training loss without ``val_loader``).
        live_plot: redraw a loss plot in place in a notebook (nothing is drawn outside notebooks).
        progress: show a ``tqdm`` progress bar over steps with the current loss.
        checkpoint: file to save model + optimizer + history to after each epoch, or None (under
            torchrun only rank 0 writes it).
        amp: mixed precision (bfloat16, or float16 with loss scaling); None means on CUDA only.
        channels_last: channels-last memory for 4-D tensors; None means on CUDA only.
        max_steps: stop after this many optimizer steps in all (a quick look), or None.
        step_fn: ``step_fn(model, batch, device) -> (loss, outputs, targets)`` replacing the usual
            step, e.g. for detectors whose forward returns losses; ``outputs`` may be None (then no
            metrics). The batch is already on ``device``; during validation the model is in eval
            mode (where torchvision's detectors return predictions, not losses).
        checkpoint_monitor: None saves every epoch (the last); a history key such as ``"val_loss"``
            saves only when it improves (lowest for ``*_loss``, highest otherwise).

    Returns:
        the History: ``history["train_loss"]``, ``history["val_accuracy"]``, ... one per epoch.
        ``model`` itself holds the trained weights (on every rank under torchrun).
    """
    check_fit_arguments(
        model, train_loader, loss_fn, optimizer, epochs, val_loader, scheduler, max_steps, step_fn
    )
    metrics = check_metrics(metrics)
    ctx = distributed.context()
    device = _resolve_device(device, ctx)
    precision = _amp_settings(device, amp)
    if channels_last and device.type != "cuda":
        raise ValueError(f"channels_last=True is for CUDA, got device {device}; leave it None")
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    if checkpoint is None and checkpoint_monitor is not None:
        raise ValueError("checkpoint_monitor needs checkpoint= a file path, got checkpoint=None")
    saver = (
        None
        if checkpoint is None
        else Checkpointer(
            checkpoint, checkpoint_monitor, ["train", "val"] if val_loader is not None else ["train"], metrics
        )
    )

    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    trained = model  # what the steps call: the model itself, or DDP around it (same weights)
    if ctx.enabled:
        trained = distributed.wrap_model(model, device)
        train_loader = distributed.shard_loader(train_loader, ctx, train=True, name="train_loader")
        if val_loader is not None:
            val_loader = distributed.shard_loader(val_loader, ctx, train=False, name="val_loader")
    scaler = torch.amp.GradScaler(device.type, enabled=precision.scale_loss)
    step = step_fn if step_fn is not None else _default_step(loss_fn)
    history = History()
    steps_per_epoch = len(train_loader) if hasattr(train_loader, "__len__") else None
    total = steps_per_epoch * epochs if steps_per_epoch is not None else None
    if max_steps is not None and total is not None:
        total = min(total, max_steps)
    show = ctx.is_main  # only rank 0 prints, draws and saves
    bar = tqdm(total=total, disable=not (progress and show), unit="step", dynamic_ncols=True)
    live = LivePlot(history, bool(metrics)) if live_plot and show and in_notebook() else None
    where = {"epoch": 0, "step": 0, "per_epoch": 0}  # position of the next step on the epoch axis

    def on_step(loss_value: float) -> None:
        where["step"] += 1
        history.steps["train_loss"].append(loss_value)
        # Unknown epoch length (a loader without len()): every step sits at the epoch's end.
        fraction = where["step"] / where["per_epoch"] if where["per_epoch"] else 1.0
        history.steps["epoch"].append(where["epoch"] + fraction)
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
        if live is not None:
            live.update()

    try:
        for epoch in range(epochs):
            done = len(history.steps["train_loss"])
            remaining = None if max_steps is None else max_steps - done
            if remaining == 0:
                break
            bar.set_description(f"epoch {epoch + 1}/{epochs}")
            per_epoch = steps_per_epoch
            if remaining is not None and steps_per_epoch is not None:
                per_epoch = min(steps_per_epoch, remaining)
            where.update(epoch=epoch, step=0, per_epoch=per_epoch)
            sampler = getattr(train_loader, "sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
            start = time.perf_counter()
            trained.train()
            lr = optimizer.param_groups[0]["lr"]
            train = _run_epoch(
                trained,
                train_loader,
                step,
                device,
                metrics,
                precision,
                optimizer,
                scaler,
                on_step,
                remaining,
                channels_last,
                ctx,
            )
            record = {f"train_{k}": v for k, v in train.items()}
            if val_loader is not None:
                val = _evaluate(model, val_loader, loss_fn, metrics, device, step_fn, amp, ctx)
                record.update({f"val_{k}": v for k, v in val.items()})
            record.update(lr=lr, epoch_time=time.perf_counter() - start)
            for key, value in record.items():  # all at once: the lists stay the same length
                history.append(key, value)
            bar.set_postfix(
                {k: f"{v:.4f}" for k, v in record.items() if k == "train_loss" or k.startswith("val_")},
                refresh=True,
            )
            if scheduler is not None:
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    scheduler.step(record.get("val_loss", record["train_loss"]))
                else:
                    scheduler.step()
            if saver is not None and show:
                saver.after_epoch(record, model, optimizer, history)
            if live is not None:
                live.update()  # the last epoch is drawn for sure after the loop
    except KeyboardInterrupt:
        history.interrupted = True
        print(
            f"Training stopped by hand after {len(history.steps['train_loss'])} steps "
            f"({history.epochs} complete epochs): the model keeps its current weights and "
            f"the history so far is returned."
        )
    finally:
        bar.close()
    if live is not None and history.steps["train_loss"]:
        live.update(force=True)
    return history
