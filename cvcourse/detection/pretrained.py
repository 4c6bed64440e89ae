"""The course's trained detectors: ``load_shapes_detector(kind)``, offline, checksum verified.

``data/scripts/train_shapes_detector.py --kind K`` trains the detector of kind ``K`` on
``ShapesDetection`` scenes (seeds other than 777) with its module's ``TRAINING`` recipe, scores it
on ``ShapesDetection(500, seed=777)`` with ``evaluate_detector`` and writes ``data/<K>_shapes.pt``:
``torch.save({"kind", "config", "state_dict", "info"})``, floating-point weights in float16. The file
is checked against its line in ``data/SHA256SUMS`` before it is read.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import torch
from torch import nn

from cvcourse._checks import check_choice, check_type
from cvcourse.weights import load_verified

__all__ = [
    "DETECTOR_CLASSES",
    "INFO_KEYS",
    "detector_class",
    "detector_file",
    "half_rounded",
    "load_shapes_detector",
    "save_detector",
]

# kind -> (module, class): imported only when asked for, so a missing detector breaks only its kind
DETECTOR_CLASSES = {
    "retinanet": ("cvcourse.detection.retinanet", "RetinaNet"),
    "centernet": ("cvcourse.detection.centernet", "CenterNet"),
    "detr": ("cvcourse.detection.detr", "DETR"),
}
# what every shipped file's info holds at least
INFO_KEYS = (
    "image_size",
    "max_objects",
    "val_seed",
    "map",
    "map_50",
    "map_75",
    "params",
    "train_seconds",
    "device",
    "torch_version",
)
SCRIPT = "train_shapes_detector.py"


def detector_class(kind: str) -> type[nn.Module]:
    """The detector class of ``kind`` ("retinanet", "centernet" or "detr"), imported now."""
    check_type("kind", kind, str, f"a detector kind, one of {', '.join(map(repr, DETECTOR_CLASSES))}")
    check_choice("kind", kind, DETECTOR_CLASSES)
    module, name = DETECTOR_CLASSES[kind]
    return getattr(importlib.import_module(module), name)


def detector_file(kind: str) -> str:
    """The shipped file's name of ``kind``: ``"<kind>_shapes.pt"``."""
    check_type("kind", kind, str, f"a detector kind, one of {', '.join(map(repr, DETECTOR_CLASSES))}")
    check_choice("kind", kind, DETECTOR_CLASSES)
    return f"{kind}_shapes.pt"


def save_detector(model: nn.Module, kind: str, info: dict, path: str | os.PathLike) -> None:
    """Write ``{"kind", "config", "state_dict" (floats in float16), "info"}`` for ``load_shapes_detector``.

    ``info`` must hold every key of ``INFO_KEYS`` (plain Python values: the loader reads the file with
    ``weights_only=True``).
    """
    check_type("model", model, nn.Module, "a detector (torch.nn.Module with .config)")
    check_choice("kind", kind, DETECTOR_CLASSES)
    check_type("info", info, dict, "a dict")
    missing = [k for k in INFO_KEYS if k not in info]
    if missing:
        raise ValueError(f"info must hold {', '.join(INFO_KEYS)}; missing {', '.join(missing)}")
    check_type("path", path, (str, os.PathLike), "a file path (str or os.PathLike)")
    state = {
        k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()
        for k, v in model.state_dict().items()
    }
    torch.save(
        {"kind": kind, "config": dict(model.config), "state_dict": state, "info": dict(info)}, Path(path)
    )


def half_rounded(model: nn.Module) -> nn.Module:
    """``model`` with its floating-point weights rounded to float16 and back (what the file stores)."""
    state = {k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    return model


def load_shapes_detector(
    kind: str, path: str | os.PathLike | None = None, device: torch.device | str = "cpu"
) -> tuple[nn.Module, dict]:
    """One of the chapter's trained detectors, checksum verified.

    Args:
        kind: ``"retinanet"``, ``"centernet"`` or ``"detr"``.
        path: the weights file (default ``data_dir() / "<kind>_shapes.pt"``).
        device: where to put the model.

    Returns:
        ``(model, info)``: the model in eval mode (``model.predict(images [N, 3, H, W] in [0, 1])`` ->
        one dict per image with ``boxes`` xyxy pixels, ``scores``, ``labels`` 1-based), and ``info``
        with ``image_size``, ``max_objects``, ``val_seed``, ``map``, ``map_50``, ``map_75`` (on
        ``ShapesDetection(500, seed=val_seed)``), ``params``, ``train_seconds``, ``device`` (the
        machine it trained on), ``torch_version`` and the recipe.

    Raises:
        TypeError / ValueError: ``kind`` is not a string / not one of the three.
        FileNotFoundError: the file or its checksum line is missing (it names the script to run).
        ValueError: the file does not match its checksum, or holds another kind.
    """
    name = detector_file(kind)
    checkpoint = load_verified(name, path, script=f"{SCRIPT} --kind {kind}")
    if checkpoint.get("kind") != kind:
        raise ValueError(f"{name} holds a {checkpoint.get('kind')!r} detector, not a {kind!r} one")
    model = detector_class(kind)(**checkpoint["config"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in checkpoint["state_dict"].items()}
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), dict(checkpoint["info"])
