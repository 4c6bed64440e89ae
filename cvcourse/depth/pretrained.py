"""The course's own trained Monodepth: ``load_shapes_monodepth()``, offline, checksum verified.

``data/scripts/train_monodepth_shapes.py`` trained it self-supervised (no depth labels) on
``cvcourse.data.StereoShapes(..., scene="ground")`` pairs (shapes standing on a textured ground
plane: one image has depth cues; ``info["scene"]`` says which scene); the file
``data/monodepth_shapes.pt`` is checked against its line in ``data/SHA256SUMS`` before it is read.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from cvcourse.runtime import data_dir

from .monodepth import Monodepth

__all__ = ["SHAPES_MONODEPTH_FILE", "load_shapes_monodepth"]

SHAPES_MONODEPTH_FILE = "monodepth_shapes.pt"


def _expected_sha256(name: str, folder: Path) -> str | None:
    sums = folder / "SHA256SUMS"
    if not sums.exists():
        return None
    for line in sums.read_text().splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2 and parts[1].lstrip("*").strip() == name:
            return parts[0].lower()
    return None


def load_shapes_monodepth(
    path: str | Path | None = None, device: torch.device | str = "cpu"
) -> tuple[Monodepth, dict]:
    """The small Monodepth trained on ``StereoShapes``, checksum verified.

    Args:
        path: the weights file (default ``data_dir() / "monodepth_shapes.pt"``).
        device: where to put the model.

    Returns:
        ``(model, info)``: the model in eval mode, ``model(left [N, 3, H, W] in [0, 1])`` -> the
        left view's disparity [N, 1, H, W] in pixels; ``info`` holds ``image_size``,
        ``max_disparity``, ``scene`` (the ``StereoShapes`` scene it was trained on), ``config``, the
        training data's description and the metrics measured
        on unseen pairs (``test_metrics``, ``test_metrics_median_scaled``).

    Raises:
        FileNotFoundError: the file or its checksum line is missing.
        ValueError: the file does not match its checksum (corrupt or replaced).
    """
    path = Path(path) if path is not None else data_dir() / SHAPES_MONODEPTH_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: it ships with the course in data/; regenerate it "
            f"with `python data/scripts/train_monodepth_shapes.py`"
        )
    expected = _expected_sha256(path.name, path.parent)
    if expected is None:
        raise FileNotFoundError(f"no line for {path.name} in {path.parent / 'SHA256SUMS'}: cannot verify it")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise ValueError(
            f"{path} is corrupt or was replaced: its SHA-256 is {digest}, SHA256SUMS says "
            f"{expected}; restore it or rerun data/scripts/train_monodepth_shapes.py"
        )
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = Monodepth(**checkpoint["config"])
    state = {k: v.float() for k, v in checkpoint["state_dict"].items()}  # stored as float16
    model.load_state_dict(state, strict=True)
    info = {k: v for k, v in checkpoint.items() if k != "state_dict"}
    return model.to(device).eval(), info
