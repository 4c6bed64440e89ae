"""The one training loop every chapter uses: ``fit`` trains, ``evaluate`` measures.

A training step is the same everywhere (Goodfellow et al., *Deep Learning*, ch. 8, algorithm 8.1):

    theta <- theta - eta * grad_theta (1/B) sum_i L(f_theta(x_i), y_i)

``loss.backward()`` computes the gradient of the mini-batch loss, ``optimizer.step()`` applies
the optimizer's update rule (plain SGD above; Adam etc. in chapter 1). Around that step ``fit``
adds what a course needs: the device (``cvcourse.runtime.device()``); mixed precision and
channels-last memory on CUDA only (Micikevicius et al. 2017, https://arxiv.org/abs/1710.03740, the
``torch.autocast`` + ``torch.amp.GradScaler`` recipe); a ``tqdm.auto`` progress bar; a live loss
plot that redraws one picture in a notebook; a ``History`` of every number; an atomic checkpoint;
a clean stop on Ctrl-C or the notebook's stop button.

Losses and metrics are averaged over samples: a batch of B samples counts B times, so the epoch
numbers equal the numbers over the whole data set even when the last batch is smaller.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn
from tqdm.auto import tqdm

from cvcourse.runtime import device as default_device

__all__ = ["History", "accuracy", "evaluate", "fit", "load_checkpoint", "to_device"]

Metric = Callable[[Any, Any], float]
StepFn = Callable[[nn.Module, Any, torch.device], tuple[torch.Tensor, Any, Any]]


class History(dict):
    """Per-epoch lists of numbers: ``history["train_loss"][e]`` is the mean loss of epoch ``e``.

    Keys: ``train_loss``, ``train_<metric>``, ``val_loss``, ``val_<metric>``, ``lr``, ``epoch_time``
    (seconds). ``history.steps["train_loss"]`` holds the loss of every step and
    ``history.steps["epoch"]`` where it falls on the epoch axis (1.5 = half-way through epoch 2);
    ``history.interrupted`` is True when training was stopped by hand.
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

            _, axes = plt.subplots(1, 2 if _metric_keys(self) else 1, figsize=(10, 3.5),
                                   squeeze=False, layout="constrained")
            axes = axes.ravel()
        _draw_history(self, axes)
        return axes[0].figure


def _metric_keys(history: Mapping[str, list]) -> list[str]:
    """``train_accuracy``, ``val_accuracy``, ...: everything per split that is not a loss."""
    return [k for k in history if k.startswith(("train_", "val_")) and not k.endswith("_loss")]


def _draw_history(history: History, axes: Any) -> None:
    """Loss against epochs on ``axes[0]`` (steps faint, epoch means bold), metrics on ``axes[1]``.

    An epoch's mean is drawn at the epoch's end (x = 1 for the first epoch), where its last step is.
    """
    from cvcourse.viz import style_axes

    ax = axes[0]
    ax.clear()
    if history.steps["train_loss"]:
        ax.plot(history.steps["epoch"], history.steps["train_loss"], color="C0", alpha=0.3,
                linewidth=1, label="train loss (step)")
    for key, color in (("train_loss", "C0"), ("val_loss", "C1")):
        if history.get(key):
            ax.plot(range(1, len(history[key]) + 1), history[key], "o-", color=color,
                    label=key.replace("_", " "))
    style_axes(ax, "Loss", "epoch", "loss", grid=True)
    if ax.lines:
        ax.legend(loc="upper right")
    if len(axes) > 1:
        ax = axes[1]
        ax.clear()
        for key in _metric_keys(history):
            ax.plot(range(1, len(history[key]) + 1), history[key], "o-",
                    label=key.replace("_", " "))
        style_axes(ax, "Metrics", "epoch", "value", grid=True)
        if ax.lines:
            ax.legend(loc="lower right")


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of samples whose highest-scoring class is the target class.

    accuracy = (1/N) sum_i [argmax_c logits[i, c] == targets[i]]; ties go to the lowest class
    index, as in ``torch.argmax``. Also per pixel: logits [N, C, H, W] with targets [N, H, W].

    Args:
        logits: Tensor[N, C, ...] of class scores (logits or probabilities).
        targets: Tensor[N, ...] of int class ids in [0, C).

    Returns:
        the accuracy, a float in [0, 1].
    """
    if not isinstance(logits, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise TypeError(f"logits and targets must be tensors, got {type(logits).__name__} "
                        f"and {type(targets).__name__}")
    if logits.ndim != targets.ndim + 1 or logits.shape[:1] + logits.shape[2:] != targets.shape:
        raise ValueError(f"logits must be [N, C, ...] and targets [N, ...] (same N and ...), got "
                         f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)}")
    if targets.numel() == 0:
        raise ValueError("accuracy of an empty batch is undefined: targets has no elements")
    if targets.is_floating_point():
        raise TypeError(f"targets must hold integer class ids, got dtype {targets.dtype}")
    predictions = logits.argmax(dim=1)  # [N, ...]
    return (predictions == targets).double().mean().item()


def to_device(obj: Any, device: torch.device | str, channels_last: bool = False) -> Any:
    """Move every tensor inside ``obj`` to ``device``; dicts, lists and tuples keep their type.

    Handles ``(x, y)`` pairs, dict targets, lists of dicts (detection), any nesting of them;
    non-tensors (strings, numbers) are returned as they are. With ``channels_last``, 4-D float
    tensors (image batches [N, C, H, W]) are stored channels-last, the layout tensor cores prefer.
    """
    if isinstance(obj, torch.Tensor):
        obj = obj.to(device, non_blocking=True)
        if channels_last and obj.ndim == 4 and obj.is_floating_point():
            obj = obj.contiguous(memory_format=torch.channels_last)
        return obj
    if isinstance(obj, Mapping):
        return type(obj)({k: to_device(v, device, channels_last) for k, v in obj.items()})
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(to_device(v, device, channels_last) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device, channels_last) for v in obj)
    return obj


def _batch_size(batch: Any) -> int:
    """Number of samples in a batch: the length of its first part (the inputs)."""
    inputs = batch
    if isinstance(batch, Mapping):
        inputs = next(iter(batch.values()), None)
    elif isinstance(batch, (list, tuple)) and batch:
        inputs = batch[0]
    if isinstance(inputs, torch.Tensor):
        return int(inputs.shape[0]) if inputs.ndim else 1
    if isinstance(inputs, (list, tuple)):
        return len(inputs)
    return 1


def _default_step(loss_fn: Callable | None) -> StepFn:
    """The usual step: ``outputs = model(inputs)``, ``loss = loss_fn(outputs, targets)``."""

    def step(model: nn.Module, batch: Any, device: torch.device) -> tuple[torch.Tensor, Any, Any]:
        if not isinstance(batch, (list, tuple)) or len(batch) != 2:
            got = type(batch).__name__
            if isinstance(batch, (list, tuple)):
                got += f" of length {len(batch)}"
            raise ValueError(f"batches must be (inputs, targets) pairs, got a {got}; for other "
                             f"layouts pass step_fn(model, batch, device)")
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
        raise ValueError(f"amp=True needs a CUDA device, got device {device}; leave amp=None "
                         f"to use mixed precision on CUDA only")
    if not (amp if amp is not None else device.type == "cuda"):
        return _Precision(False, torch.float32, False)
    if torch.cuda.is_bf16_supported():
        return _Precision(True, torch.bfloat16, False)
    return _Precision(True, torch.float16, True)


def _check(name: str, ok: bool, expected: str, got: Any, error: type = ValueError) -> None:
    """Raise ``error("<name> <expected>, got <got>")`` unless ``ok``: messages name the argument."""
    if not ok:
        raise error(f"{name} {expected}, got {got!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_model(model: Any) -> None:
    _check("model", isinstance(model, nn.Module), "must be a torch.nn.Module", type(model).__name__,
           TypeError)


def _check_loader(name: str, loader: Any) -> None:
    _check(name, isinstance(loader, Iterable), "must be an iterable of batches (e.g. a DataLoader)",
           type(loader).__name__, TypeError)
    if hasattr(loader, "__len__"):
        _check(name, len(loader) > 0, "must not be empty (no batches: is the dataset empty, or "
               "batch_size larger than it with drop_last=True?)", f"len {len(loader)}")


def _check_metrics(metrics: Any) -> dict[str, Metric]:
    _check("metrics", metrics is None or isinstance(metrics, Mapping),
           "must be a dict name -> fn(outputs, targets) -> float", type(metrics).__name__,
           TypeError)
    for name, fn in (metrics or {}).items():
        _check("metrics", isinstance(name, str) and callable(fn),
               "must map names (str) to functions", f"{name!r}: {type(fn).__name__}", TypeError)
    return dict(metrics or {})


def _run_epoch(model, loader, step, device, metrics, precision, optimizer=None, scaler=None,
               on_step=None, max_batches=None, channels_last=False) -> dict[str, float]:
    """One pass over ``loader``, training when given an optimizer; returns sample-weighted means."""
    totals: dict[str, float] = {}
    samples = 0
    for i, batch in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        batch = to_device(batch, device, channels_last)
        n = _batch_size(batch)
        amp_on = precision.autocast  # float16/bfloat16 forward on CUDA
        with torch.autocast(device.type, precision.dtype) if amp_on else nullcontext():
            loss, outputs, targets = step(model, batch, device)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            got = f"shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss)
            raise ValueError(f"the loss must be a one-element tensor (the mean over the batch), "
                             f"got {got}; use reduction='mean'")
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"the loss is {loss_value} after {samples} samples of this "
                                     f"epoch: lower the learning rate or check the data")
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        totals["loss"] = totals.get("loss", 0.0) + loss_value * n
        if outputs is not None:
            outputs = outputs.detach() if isinstance(outputs, torch.Tensor) else outputs
            for name, fn in metrics.items():
                totals[name] = totals.get(name, 0.0) + float(fn(outputs, targets)) * n
        samples += n
        if on_step is not None:
            on_step(loss_value)
    if samples == 0:
        raise ValueError("the loader yielded no batches in this epoch; it must not be empty")
    return {name: total / samples for name, total in totals.items()}


def evaluate(model: nn.Module, loader: Iterable, loss_fn: Callable | None = None,
             metrics: Mapping[str, Metric] | None = None, device: torch.device | str | None = None,
             step_fn: StepFn | None = None, amp: bool | None = None) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over ``loader``, in eval mode and without gradients.

    The model's train/eval mode is restored afterwards.

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
    _check_model(model)
    _check_loader("loader", loader)
    metrics = _check_metrics(metrics)
    device = torch.device(device) if device is not None else default_device()
    if step_fn is not None:
        step = step_fn
    else:  # without a loss, a stand-in 0 keeps one code path; "loss" is dropped from the result
        step = _default_step(loss_fn or (lambda outputs, targets: torch.zeros(())))
    was_training = model.training
    model.to(device).eval()
    try:
        with torch.no_grad():
            result = _run_epoch(model, loader, step, device, metrics, _amp_settings(device, amp))
    finally:
        model.train(was_training)
    if loss_fn is None and step_fn is None:
        del result["loss"]
    return result


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Colab, VS Code, nbval); False in a terminal."""
    ipython = sys.modules.get("IPython")  # a kernel has imported it; don't import it (0.4 s) here
    if ipython is None:
        return False
    return getattr(ipython.get_ipython(), "kernel", None) is not None


class _LivePlot:
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
        self.fig.subplots_adjust(left=0.1 if with_metrics else 0.15, right=0.97, bottom=0.15,
                                 top=0.9, wspace=0.25)
        self.history, self.min_interval = history, min_interval
        # The first picture after min_interval: a training that short gets just the final one.
        self.handle, self.next_time = None, time.monotonic() + min_interval

    def update(self, force: bool = False) -> None:
        from IPython.display import Image, display

        start = time.monotonic()
        if not force and start < self.next_time:
            return
        _draw_history(self.history, self.axes)
        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="png", dpi=80)
        image = Image(data=buffer.getvalue(), format="png")
        if self.handle is None:
            self.handle = display(image, display_id=True)
        else:
            self.handle.update(image)
        cost = time.monotonic() - start  # ~0.1 s on a laptop
        self.next_time = time.monotonic() + max(self.min_interval, 10 * cost)


def _save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                     history: History) -> None:
    """Write model, optimizer and history to ``path`` atomically: a temporary file, then os.replace.

    A crash or Ctrl-C while writing leaves the previous checkpoint intact, never half a file.
    """
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "history": dict(history), "steps": history.steps, "epochs": history.epochs}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())  # on disk before the rename: a power cut leaves no empty file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load_checkpoint(path: str | os.PathLike, model: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None) -> History:
    """Load a checkpoint written by ``fit(checkpoint=...)`` into ``model`` (and ``optimizer``).

    Returns:
        the History stored with it (per-epoch lists and ``.steps``).
    """
    path = Path(path)
    _check("path", path.is_file(), "must be an existing checkpoint file", str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    history = History(state["history"])
    history.steps = state["steps"]
    return history


def _check_fit_arguments(model, train_loader, loss_fn, optimizer, epochs, val_loader, scheduler,
                         max_steps, step_fn) -> None:
    _check_model(model)
    _check_loader("train_loader", train_loader)
    if val_loader is not None:
        _check_loader("val_loader", val_loader)
    _check("optimizer", isinstance(optimizer, torch.optim.Optimizer),
           "must be a torch.optim.Optimizer", type(optimizer).__name__, TypeError)
    _check("loss_fn", callable(loss_fn) or (loss_fn is None and step_fn is not None),
           "must be a function loss_fn(outputs, targets) -> Tensor (or None with step_fn)",
           loss_fn, TypeError)
    _check("step_fn", step_fn is None or callable(step_fn), "must be a function or None", step_fn,
           TypeError)
    _check("epochs", _is_int(epochs), "must be an int", epochs, TypeError)
    _check("epochs", epochs >= 0, "must be >= 0", epochs)
    _check("max_steps", max_steps is None or _is_int(max_steps), "must be None or an int",
           max_steps, TypeError)
    _check("max_steps", max_steps is None or max_steps >= 1, "must be >= 1", max_steps)
    _check("scheduler", scheduler is None or hasattr(scheduler, "step"),
           "must be None or a learning-rate scheduler with .step()", type(scheduler).__name__,
           TypeError)


class _Checkpointer:
    """Saves after every epoch, or with a ``monitor`` only when that number improves."""

    def __init__(self, path: str | os.PathLike, monitor: str | None, splits: list[str],
                 metrics: Mapping[str, Metric]) -> None:
        self.path = Path(path)
        _check("checkpoint", self.path.parent.is_dir(), "must be a file path in an existing folder",
               str(self.path))
        known = sorted(f"{split}_{name}" for split in splits for name in ("loss", *metrics))
        _check("checkpoint_monitor", monitor is None or monitor in known,
               f"must be None or one of {known}", monitor)
        self.monitor, self.best = monitor, None

    def after_epoch(self, record: dict[str, float], model: nn.Module,
                    optimizer: torch.optim.Optimizer, history: History) -> None:
        if self.monitor is not None:
            _check("checkpoint_monitor", self.monitor in record,
                   f"must be one of the recorded {sorted(record)}", self.monitor)
            value = record[self.monitor]
            lower_is_better = self.monitor.endswith("loss")
            if self.best is not None and (value >= self.best if lower_is_better
                                          else value <= self.best):
                return  # not better: keep the checkpoint of the best epoch
            self.best = value
        _save_checkpoint(self.path, model, optimizer, history)


def fit(model: nn.Module, train_loader: Iterable, loss_fn: Callable | None,
        optimizer: torch.optim.Optimizer, epochs: int = 1, val_loader: Iterable | None = None,
        metrics: Mapping[str, Metric] | None = None, device: torch.device | str | None = None,
        scheduler: Any = None, live_plot: bool = True, progress: bool = True,
        checkpoint: str | os.PathLike | None = None, amp: bool | None = None,
        channels_last: bool | None = None, max_steps: int | None = None,
        step_fn: StepFn | None = None, checkpoint_monitor: str | None = None) -> History:
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
        checkpoint: file to save model + optimizer + history to after each epoch, or None.
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
    """
    _check_fit_arguments(model, train_loader, loss_fn, optimizer, epochs, val_loader, scheduler,
                         max_steps, step_fn)
    metrics = _check_metrics(metrics)
    device = torch.device(device) if device is not None else default_device()
    precision = _amp_settings(device, amp)
    if channels_last and device.type != "cuda":
        raise ValueError(f"channels_last=True is for CUDA, got device {device}; leave it None")
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    saver = None if checkpoint is None else _Checkpointer(
        checkpoint, checkpoint_monitor, ["train", "val"] if val_loader is not None else ["train"],
        metrics)
    if checkpoint is None and checkpoint_monitor is not None:
        raise ValueError("checkpoint_monitor needs checkpoint= a file path, got checkpoint=None")

    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    scaler = torch.amp.GradScaler(device.type, enabled=precision.scale_loss)
    step = step_fn if step_fn is not None else _default_step(loss_fn)
    history = History()
    steps_per_epoch = len(train_loader) if hasattr(train_loader, "__len__") else None
    total = steps_per_epoch * epochs if steps_per_epoch is not None else None
    if max_steps is not None and total is not None:
        total = min(total, max_steps)
    bar = tqdm(total=total, disable=not progress, unit="step", dynamic_ncols=True)
    live = _LivePlot(history, bool(metrics)) if live_plot and _in_notebook() else None
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
            start = time.perf_counter()
            model.train()
            lr = optimizer.param_groups[0]["lr"]
            train = _run_epoch(model, train_loader, step, device, metrics, precision, optimizer,
                               scaler, on_step, remaining, channels_last)
            record = {f"train_{k}": v for k, v in train.items()}
            if val_loader is not None:
                val = evaluate(model, val_loader, loss_fn, metrics, device, step_fn, amp)
                record.update({f"val_{k}": v for k, v in val.items()})
            record.update(lr=lr, epoch_time=time.perf_counter() - start)
            for key, value in record.items():  # all at once: the lists stay the same length
                history.append(key, value)
            bar.set_postfix({k: f"{v:.4f}" for k, v in record.items()
                             if k == "train_loss" or k.startswith("val_")}, refresh=True)
            if scheduler is not None:
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    scheduler.step(record.get("val_loss", record["train_loss"]))
                else:
                    scheduler.step()
            if saver is not None:
                saver.after_epoch(record, model, optimizer, history)
            if live is not None:
                live.update()  # the last epoch is drawn for sure after the loop
    except KeyboardInterrupt:
        history.interrupted = True
        print(f"Training stopped by hand after {len(history.steps['train_loss'])} steps "
              f"({history.epochs} complete epochs): the model keeps its current weights and "
              f"the history so far is returned.")
    finally:
        bar.close()
    if live is not None and history.steps["train_loss"]:
        live.update(force=True)
    return history
