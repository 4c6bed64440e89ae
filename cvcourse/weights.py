"""Files the course ships in ``data/`` (weights we trained), read only after their checksum matches.

Every file in ``data/`` has a line ``<sha256>  <name>`` in ``data/SHA256SUMS`` and a script in
``data/scripts/`` that made it. ``verified_file`` finds a file, checks it against its line and says
what to do when it is missing, unlisted or corrupt; ``load_verified`` reads it with torch's safe
loader. Each chapter's ``load_shapes_<thing>()`` builds its model on top of these.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from cvcourse._checks import check_type
from cvcourse.runtime import data_dir

__all__ = ["expected_sha256", "load_verified", "verified_file"]


def expected_sha256(name: str, folder: str | os.PathLike) -> str | None:
    """The checksum ``folder/SHA256SUMS`` lists for ``name`` (lower case), or None."""
    sums = Path(folder) / "SHA256SUMS"
    if not sums.exists():
        return None
    for line in sums.read_text().splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2 and parts[1].lstrip("*").strip() == name:
            return parts[0].lower()
    return None


def verified_file(name: str, path: str | os.PathLike | None = None, *, script: str) -> Path:
    """The path of a shipped file whose SHA-256 matches its line in ``SHA256SUMS``.

    Args:
        name: the file's name in ``data/`` (e.g. ``"vit_shapes.pt"``).
        path: another location of the file (its folder must hold the SHA256SUMS that lists it);
            None means ``data_dir() / name``.
        script: the script that makes the file, named in the messages (``"train_vit_shapes.py"``).

    Raises:
        FileNotFoundError: the file, or its checksum line, is missing.
        ValueError: the file does not match its checksum (corrupt or replaced).
    """
    check_type("name", name, str, "a file name")
    if path is not None:
        check_type("path", path, (str, os.PathLike), "a file path (str or os.PathLike)")
    path = Path(path) if path is not None else data_dir() / name
    remake = f"`python data/scripts/{script}`"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: it ships with the course in data/; regenerate it with {remake}"
        )
    expected = expected_sha256(path.name, path.parent)
    if expected is None:
        raise FileNotFoundError(f"no line for {path.name} in {path.parent / 'SHA256SUMS'}: cannot verify it")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise ValueError(
            f"{path} is corrupt or was replaced: its SHA-256 is {digest}, SHA256SUMS "
            f"says {expected}; restore it or rerun {remake}"
        )
    return path


def load_verified(name: str, path: str | os.PathLike | None = None, *, script: str) -> Any:
    """``torch.load`` (safe, ``weights_only``, on the CPU) of a file checked by ``verified_file``."""
    return torch.load(verified_file(name, path, script=script), map_location="cpu", weights_only=True)
