"""The course's own trained segmenters: ``load_shapes_segmenter(kind)``, offline, checksum verified.

``data/scripts/train_shapes_segmenter.py --kind unet|segformer`` trained them on
``ShapesSegmentation(kind="semantic")`` scenes of seed 0 (recipes in :data:`RECIPES`) and scored
them on 300 scenes of seed 777 that training never saw (``info["miou"]``,
``info["iou_per_class"]``). The files ``data/unet_shapes.pt`` and ``data/segformer_shapes.pt`` are
checked against their lines in ``data/SHA256SUMS`` before they are read.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from cvcourse._checks import check_choice
from cvcourse.weights import load_verified

__all__ = ["SEGMENTER_FILES", "RECIPES", "build_segmenter", "load_shapes_segmenter"]

SEGMENTER_FILES = {"unet": "unet_shapes.pt", "segformer": "segformer_shapes.pt"}
SCRIPT = "train_shapes_segmenter.py"

# what the shipped files were trained with (train_segmenter's arguments; seed 0, 64 x 64 scenes)
RECIPES = {
    "unet": {"train_scenes": 3200, "epochs": 20, "batch_size": 8, "lr": 4e-3, "loss": "ce+dice"},
    "segformer": {"train_scenes": 1000, "epochs": 8, "batch_size": 8, "lr": 2e-3},
}


def build_segmenter(kind: str, config: dict | None = None) -> nn.Module:
    """A fresh segmenter of ``kind`` ("unet" or "segformer"), the shipped size unless ``config``."""
    check_choice("kind", kind, SEGMENTER_FILES)
    if kind == "unet":
        from .unet import UNet

        return UNet(**(config or {}))
    from .segformer import SegFormer

    return SegFormer(**(config or {}))


def load_shapes_segmenter(
    kind: str = "unet", path: str | Path | None = None, device: torch.device | str = "cpu"
) -> tuple[nn.Module, dict]:
    """The shipped U-Net or SegFormer trained on ``ShapesSegmentation``, checksum verified.

    Args:
        kind: "unet" or "segformer".
        path: the weights file (default ``data_dir() / "<kind>_shapes.pt"``).
        device: where to put the model.

    Returns:
        ``(model, info)``: the model in eval mode, ``model(images [N, 3, H, W] in [0, 1])`` ->
        logits [N, 9, H, W]; ``info`` holds ``image_size`` (64), ``classes``, ``config``, the
        recipe, the training curves (``train_loss``, ``val_miou`` on seed 9), ``train_seconds`` and
        ``device`` of the training run, and the scores on 300 unseen scenes of ``val_seed`` (777):
        ``miou``, ``pixel_accuracy``, ``mean_accuracy``, ``iou_per_class`` (9 floats).

    Raises:
        FileNotFoundError: the file or its checksum line is missing (the message names the script).
        ValueError: an unknown ``kind``, or a file that does not match its checksum.
    """
    check_choice("kind", kind, SEGMENTER_FILES)
    checkpoint = load_verified(SEGMENTER_FILES[kind], path, script=f"{SCRIPT} --kind {kind}")
    model = build_segmenter(kind, checkpoint["config"])
    model.load_state_dict(checkpoint["state_dict"], strict=True)
    info = {k: v for k, v in checkpoint.items() if k != "state_dict"}
    return model.to(device).eval(), info
