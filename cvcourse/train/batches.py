"""Batches on their way into the model: moved to the device, counted, and scored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from cvcourse._checks import check_tensor

__all__ = ["accuracy", "batch_size", "to_device"]


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    r"""Fraction of samples whose highest-scoring class is the target class.

    .. math:: \mathrm{accuracy} = \frac{1}{N} \sum_i [\arg\max_c \mathrm{logits}_{i,c} = y_i]

    Ties go to the lowest class index, as in ``torch.argmax``. Also per pixel: logits [N, C, H, W]
    with targets [N, H, W].

    Args:
        logits: Tensor[N, C, ...] of class scores (logits or probabilities).
        targets: Tensor[N, ...] of int class ids in [0, C).

    Returns:
        the accuracy, a float in [0, 1].
    """
    check_tensor("logits", logits)
    check_tensor("targets", targets)
    if logits.ndim != targets.ndim + 1 or logits.shape[:1] + logits.shape[2:] != targets.shape:
        raise ValueError(
            f"logits must be [N, C, ...] and targets [N, ...] (same N and ...), got "
            f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)}"
        )
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


def batch_size(batch: Any) -> int:
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
