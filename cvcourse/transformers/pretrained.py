"""Weights for the course's ViTs: our own small ViT (shipped, offline) and torchvision's ViT-B/16 (online).

* ``load_shapes_vit()``: a small ViT that ``data/scripts/train_vit_shapes.py`` trained on the course's
  synthetic shapes (``cvcourse.data.ShapesClassification``); the file ``data/vit_shapes.pt`` is
  checked against its line in ``data/SHA256SUMS`` before it is read.
* ``load_torchvision_vit_b_16()``: torchvision's ImageNet weights for ViT-B/16, loaded strictly into
  our ``vit_b_16()``. Only when asked; when the weights are not cached and there is no network, a
  ``ConnectionError`` says so in one sentence instead of a stack trace from deep inside urllib.
"""

from __future__ import annotations

from pathlib import Path

import torch

from cvcourse.weights import load_verified

from .vit import ConvStemConfig, VisionTransformer, vit_b_16

__all__ = [
    "SHAPES_VIT_FILE",
    "SHAPES_VIT_CONFIG",
    "build_shapes_vit",
    "load_shapes_vit",
    "load_torchvision_vit_b_16",
]

SHAPES_VIT_FILE = "vit_shapes.pt"
# 32 x 32 images -> an 8 x 8 grid of tokens + [CLS]; ~0.1 M parameters. The tokens come from a small
# convolutional stem (two 3x3 stride-2 conv-BN-ReLU layers, 24 and 48 channels, then a 1x1
# projection; Xiao et al., "Early Convolutions Help Transformers See Better",
# https://arxiv.org/abs/2106.14881, torchvision's ``conv_stem_configs``) instead of the single
# 4 x 4 patch projection: on one shared CPU core the plain patch embedding learned too slowly (see
# data/scripts/train_vit_shapes.py). This one: 95 % on 500 images of an unseen seed (info["unseen_accuracy"]).
SHAPES_VIT_CONFIG: dict[str, int | list[int]] = {
    "image_size": 32,
    "patch_size": 4,
    "num_layers": 4,
    "num_heads": 4,
    "hidden_dim": 48,
    "mlp_dim": 96,
    "num_classes": 5,
    "stem_channels": [24, 48],
}


def build_shapes_vit(config: dict | None = None) -> VisionTransformer:
    """A freshly initialised ViT with the shipped model's configuration (or ``config``).

    ``stem_channels`` (a list of ints, one 3x3 stride-2 conv-BN-ReLU layer each) becomes torchvision's
    ``conv_stem_configs``; an empty list or no key gives the plain patch projection.
    """
    config = dict(SHAPES_VIT_CONFIG if config is None else config)
    stem = config.pop("stem_channels", [])
    stem_configs = [ConvStemConfig(c, kernel_size=3, stride=2) for c in stem] or None
    return VisionTransformer(**config, conv_stem_configs=stem_configs)


def load_shapes_vit(
    path: str | Path | None = None, device: torch.device | str = "cpu"
) -> tuple[VisionTransformer, dict]:
    """The small ViT trained on synthetic shapes, checksum verified.

    Args:
        path: the weights file (default ``data_dir() / "vit_shapes.pt"``).
        device: where to put the model.

    Returns:
        ``(model, info)``: the model in eval mode and a dict with ``classes`` (label names),
        ``config`` and the training record (``val_accuracy``, ``epochs``, ...).

    Raises:
        FileNotFoundError: the file or its checksum line is missing.
        ValueError: the file does not match its checksum (corrupt or replaced).
    """
    checkpoint = load_verified(SHAPES_VIT_FILE, path, script="train_vit_shapes.py")
    model = build_shapes_vit(checkpoint["config"])
    model.load_state_dict(checkpoint["state_dict"], strict=True)
    info = {k: v for k, v in checkpoint.items() if k != "state_dict"}
    return model.to(device).eval(), info


def load_torchvision_vit_b_16(progress: bool = False) -> tuple[VisionTransformer, list[str]]:
    """torchvision's ImageNet ViT-B/16 weights (``IMAGENET1K_V1``) in our ``vit_b_16()``.

    Uses torch hub's cache when the file is there; otherwise downloads it (330 MB).

    Returns:
        ``(model, categories)``: the model in eval mode (224 x 224 input, ImageNet normalisation) and
        the 1000 class names.

    Raises:
        ConnectionError: the weights are not cached and cannot be downloaded (offline).
    """
    from torchvision.models import ViT_B_16_Weights

    weights = ViT_B_16_Weights.IMAGENET1K_V1
    try:
        state_dict = weights.get_state_dict(progress=progress, check_hash=True)
    except (
        OSError,
        RuntimeError,
    ) as err:  # URLError is an OSError; blocked sockets raise RuntimeError
        raise ConnectionError(
            f"could not download torchvision's ViT-B/16 weights ({weights.url}); is this computer "
            f"offline? ({type(err).__name__}: {err}). The course's own small ViT (load_shapes_vit) "
            f"works offline."
        ) from err
    model = vit_b_16()
    model.load_state_dict(state_dict, strict=True)
    return model.eval(), list(weights.meta["categories"])
