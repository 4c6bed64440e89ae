"""The chapter's training comparison: one small CNN trained with each optimizer, same budget.

Every run starts from the same initial weights and sees the same mini-batches in the same order, so
the only difference between the curves is the optimizer. Training goes through
``cvcourse.train.fit`` (GPU when present). The notes remark that a tuned Nesterov momentum often
beats Adam in vision; the notebook shows what happens on the synthetic shapes with a short budget.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from cvcourse._checks import check_bool, check_int, check_type

from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["SmallCNN", "default_optimizers", "compare_optimizers"]


class SmallCNN(nn.Module):
    """Three 3x3 conv blocks (16, 32, 64 channels) with batch norm, global average pool, a head.

    Args:
        num_classes: number of output logits.
        in_channels: image channels.
    """

    def __init__(self, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        check_int("num_classes", num_classes, low=2)
        check_int("in_channels", in_channels, low=1)

        def block(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            )

        self.features = nn.Sequential(
            block(in_channels, 16), nn.MaxPool2d(2), block(16, 32), nn.MaxPool2d(2), block(32, 64)
        )
        self.head = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # [B, 64, H/4, W/4]
        return self.head(x.mean(dim=(2, 3)))  # global average pool -> [B, num_classes]


def default_optimizers() -> dict[str, Callable]:
    """The chapter's optimizers with common settings for this CNN: label -> params -> optimizer."""
    return {
        "SGD": lambda p: SGD(p, lr=0.1),
        "SGD + momentum": lambda p: SGD(p, lr=0.1, momentum=0.9),
        "SGD + Nesterov": lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        "AdaGrad": lambda p: Adagrad(p, lr=0.05),
        "RMSProp": lambda p: RMSprop(p, lr=1e-3),
        "Adam": lambda p: Adam(p, lr=3e-3),
        "AdamW": lambda p: AdamW(p, lr=3e-3, weight_decay=1e-2),
    }


def compare_optimizers(
    optimizers: Mapping[str, Callable],
    train_set: Dataset,
    val_set: Dataset,
    num_classes: int,
    epochs: int = 1,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Train ``SmallCNN`` once per optimizer from the same start on the same batches.

    Args:
        optimizers: label -> factory ``params -> torch.optim.Optimizer`` (``default_optimizers()``).
        train_set, val_set: data sets of ``(image Tensor[3, H, W], label)``.
        num_classes: number of classes.
        epochs: epochs per optimizer (the same budget for all).
        batch_size: mini-batch size.
        device: None means ``cvcourse.runtime.device()``.
        seed: seeds the initial weights and the shuffling.
        progress: show a progress bar per run.

    Returns:
        dict label -> ``cvcourse.train.History`` (``train_loss``, ``val_accuracy``, ...).
    """
    from cvcourse.train import accuracy, fit

    check_type("optimizers", optimizers, Mapping, "a dict label -> factory params -> optimizer")
    if not optimizers:
        raise ValueError("optimizers must hold at least one label -> factory, got an empty dict")
    for label, make in optimizers.items():
        check_type(f"optimizers[{label!r}]", make, Callable, "callable params -> optimizer")
    check_int("num_classes", num_classes, low=2)
    check_int("epochs", epochs, low=0)
    check_int("batch_size", batch_size, low=1)
    check_int("seed", seed, low=0)
    check_bool("progress", progress)
    torch.manual_seed(seed)
    initial = SmallCNN(num_classes).state_dict()  # the same start for every optimizer
    histories = {}
    for label, make in optimizers.items():
        model = SmallCNN(num_classes)
        model.load_state_dict(copy.deepcopy(initial))
        loader = DataLoader(
            train_set,
            batch_size=batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(seed),
        )  # same batch order
        val_loader = DataLoader(val_set, batch_size=256)
        histories[label] = fit(
            model,
            loader,
            nn.functional.cross_entropy,
            make(model.parameters()),
            epochs=epochs,
            val_loader=val_loader,
            metrics={"accuracy": accuracy},
            device=device,
            live_plot=False,
            progress=progress,
        )
    return histories
