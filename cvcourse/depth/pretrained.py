"""The course's own trained Monodepth: ``load_shapes_monodepth()``, offline, checksum verified.

``data/scripts/train_monodepth_shapes.py`` trained it self-supervised (no depth labels) on
``cvcourse.data.StereoShapes(..., scene="ground")`` pairs (shapes standing on a textured ground
plane: one image has depth cues; ``info["scene"]`` says which scene); the file
``data/monodepth_shapes.pt`` is checked against its line in ``data/SHA256SUMS`` before it is read.
"""

from __future__ import annotations

from pathlib import Path

import torch

from cvcourse.weights import load_verified

from .monodepth import Monodepth

__all__ = ["SHAPES_MONODEPTH_FILE", "load_shapes_monodepth"]

SHAPES_MONODEPTH_FILE = "monodepth_shapes.pt"


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
    checkpoint = load_verified(SHAPES_MONODEPTH_FILE, path, script="train_monodepth_shapes.py")
    model = Monodepth(**checkpoint["config"])
    state = {k: v.float() for k, v in checkpoint["state_dict"].items()}  # stored as float16
    model.load_state_dict(state, strict=True)
    info = {k: v for k, v in checkpoint.items() if k != "state_dict"}
    return model.to(device).eval(), info
