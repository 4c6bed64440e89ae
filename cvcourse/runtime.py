"""Where code runs and how big it runs: device choice, seeding, fast mode, the data folder.

Every notebook starts with::

    from cvcourse.runtime import device, seed_everything, fast_mode
    seed_everything(0)

``fast_mode()`` is true when the environment variable ``CVCOURSE_FAST=1`` is set (the tests set it);
notebooks use it to shrink data sets and epochs so that they run in seconds on a laptop CPU.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from cvcourse._checks import check_int

__all__ = ["device", "seed_everything", "fast_mode", "data_dir", "pick"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def fast_mode() -> bool:
    """True when ``CVCOURSE_FAST`` is set to 1/true/yes/on (case-insensitive).

    Raises:
        ValueError: if ``CVCOURSE_FAST`` holds anything else, so a typo is not silently ignored.
    """
    value = os.environ.get("CVCOURSE_FAST", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"CVCOURSE_FAST must be 0 or 1 (or true/false), got {value!r}")


def pick(full, fast):
    """Return ``fast`` in fast mode and ``full`` otherwise: ``epochs = pick(full=20, fast=1)``."""
    return fast if fast_mode() else full


def device() -> torch.device:
    """The device the course computes on: CUDA if available, else Apple MPS, else CPU.

    The environment variable ``CVCOURSE_DEVICE`` (e.g. ``cpu``, ``cuda``, ``cuda:1``) overrides the
    choice; asking for a device that is not available raises a ``ValueError`` that says so.
    """
    requested = os.environ.get("CVCOURSE_DEVICE", "").strip()
    if requested:
        try:
            dev = torch.device(requested)
        except RuntimeError as err:
            raise ValueError(
                f"CVCOURSE_DEVICE must name a torch device such as 'cpu' or 'cuda', got {requested!r}"
            ) from err
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"CVCOURSE_DEVICE={requested!r} but CUDA is not available here")
        if dev.type == "mps" and not _mps_available():
            raise ValueError(f"CVCOURSE_DEVICE={requested!r} but MPS is not available here")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA) so reruns give the same numbers.

    Args:
        seed: a non-negative integer.

    Returns:
        A ``torch.Generator`` seeded with ``seed``, handy for a DataLoader's ``generator=``.
    """
    seed = check_int("seed", seed, low=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def data_dir() -> Path:
    """The folder of files the course ships (trained weights, sample data), ``<repo>/data``.

    ``CVCOURSE_DATA`` overrides it (e.g. on Binder or Colab when the package is installed elsewhere).
    """
    override = os.environ.get("CVCOURSE_DATA", "").strip()
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parent.parent / "data"
