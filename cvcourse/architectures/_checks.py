"""Input checks shared by the architecture builders (clear errors instead of deep stack traces)."""

from __future__ import annotations

import torch
from torch import Tensor


def check_image_batch(x: Tensor, in_channels: int = 3, name: str = "x") -> None:
    """Raise a clear error unless ``x`` is a float ``Tensor[B, in_channels, H, W]``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape [B, {in_channels}, H, W], "
            f"got {type(x).__name__}"
        )
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(
            f"{name} must have shape [B, {in_channels}, H, W] (a batch of {in_channels}-channel "
            f"images), got shape {list(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")


def check_no_weights(weights: object, builder: str) -> None:
    """The course never downloads: ``weights`` must be None (the error says how to load them)."""
    if weights is not None:
        raise ValueError(
            f"{builder}(weights=...) is not supported: cvcourse never downloads. Build "
            f"torchvision.models.{builder}(weights={weights!r}) online and copy its weights with "
            f"model.load_state_dict(tv_model.state_dict(), strict=True); got weights={weights!r}"
        )


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` if it is a positive int, else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return value
