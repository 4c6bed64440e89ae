"""Checkpoints: model + optimizer + history, written atomically, loaded back with one call."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cvcourse._checks import check_choice, check_type

from .history import History

__all__ = ["Checkpointer", "load_checkpoint", "save_checkpoint"]


def save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, history: History) -> None:
    """Write model, optimizer and history to ``path`` atomically: a temporary file, then os.replace.

    A crash or Ctrl-C while writing leaves the previous checkpoint intact, never half a file.
    """
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": dict(history),
        "steps": history.steps,
        "epochs": history.epochs,
    }
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


def load_checkpoint(
    path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> History:
    """Load a checkpoint written by ``fit(checkpoint=...)`` into ``model`` (and ``optimizer``).

    Returns:
        the History stored with it (per-epoch lists and ``.steps``).
    """
    check_type("path", path, (str, os.PathLike), "a file path (str or os.PathLike)")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path must be an existing checkpoint file, got {str(path)!r}")
    check_type("model", model, nn.Module, "a torch.nn.Module")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    history = History(state["history"])
    history.steps = state["steps"]
    return history


class Checkpointer:
    """Saves after every epoch, or with a ``monitor`` only when that number improves."""

    def __init__(
        self,
        path: str | os.PathLike,
        monitor: str | None,
        splits: list[str],
        metrics: Mapping[str, Callable[..., Any]],
    ) -> None:
        check_type("checkpoint", path, (str, os.PathLike), "a file path (str or os.PathLike)")
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise ValueError(f"checkpoint must be a file path in an existing folder, got {str(self.path)!r}")
        known = sorted(f"{split}_{name}" for split in splits for name in ("loss", *metrics))
        if monitor is not None:
            check_choice("checkpoint_monitor", monitor, known)
        self.monitor, self.best = monitor, None

    def after_epoch(
        self, record: dict[str, float], model: nn.Module, optimizer: torch.optim.Optimizer, history: History
    ) -> None:
        if self.monitor is not None:
            check_choice("checkpoint_monitor", self.monitor, sorted(record))
            value = record[self.monitor]
            lower_is_better = self.monitor.endswith("loss")
            if self.best is not None and (value >= self.best if lower_is_better else value <= self.best):
                return  # not better: keep the checkpoint of the best epoch
            self.best = value
        save_checkpoint(self.path, model, optimizer, history)
