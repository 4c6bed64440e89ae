"""The checks ``fit`` and ``evaluate`` run on their arguments before any work starts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from cvcourse._checks import check_int, check_type

Metric = Callable[[Any, Any], float]


def check_model(model: Any) -> nn.Module:
    return check_type("model", model, nn.Module, "a torch.nn.Module")


def check_loader(name: str, loader: Any) -> Iterable:
    check_type(name, loader, Iterable, "an iterable of batches (e.g. a DataLoader)")
    if hasattr(loader, "__len__") and len(loader) == 0:
        raise ValueError(
            f"{name} must not be empty (no batches: is the dataset empty, or "
            f"batch_size larger than it with drop_last=True?), got len 0"
        )
    return loader


def check_metrics(metrics: Any) -> dict[str, Metric]:
    if metrics is None:
        return {}
    check_type("metrics", metrics, Mapping, "a dict name -> fn(outputs, targets) -> float")
    for name, fn in metrics.items():
        if not (isinstance(name, str) and callable(fn)):
            raise TypeError(f"metrics must map names (str) to functions, got {name!r}: {type(fn).__name__}")
    return dict(metrics)


def check_fit_arguments(
    model, train_loader, loss_fn, optimizer, epochs, val_loader, scheduler, max_steps, step_fn
) -> None:
    check_model(model)
    check_loader("train_loader", train_loader)
    if val_loader is not None:
        check_loader("val_loader", val_loader)
    check_type("optimizer", optimizer, torch.optim.Optimizer, "a torch.optim.Optimizer")
    if not (callable(loss_fn) or (loss_fn is None and step_fn is not None)):
        raise TypeError(
            f"loss_fn must be a function loss_fn(outputs, targets) -> Tensor (or None "
            f"with step_fn), got {loss_fn!r}"
        )
    if not (step_fn is None or callable(step_fn)):
        raise TypeError(f"step_fn must be a function or None, got {step_fn!r}")
    check_int("epochs", epochs, low=0)
    if max_steps is not None:
        check_int("max_steps", max_steps, low=1)
    if not (scheduler is None or hasattr(scheduler, "step")):
        raise TypeError(
            f"scheduler must be None or a learning-rate scheduler with .step(), got "
            f"{type(scheduler).__name__}"
        )
