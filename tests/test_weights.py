"""cvcourse.weights: shipped files are read only after their checksum matches; clear errors otherwise."""

import hashlib

import pytest
import torch

from cvcourse.runtime import data_dir
from cvcourse.weights import expected_sha256, load_verified, verified_file


def _ship(folder, name, payload):
    path = folder / name
    torch.save(payload, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "SHA256SUMS").write_text(f"{'0' * 64}  other.pt\n{digest}  {name}\n")
    return path, digest


def test_every_listed_data_file_verifies():
    sums = (data_dir() / "SHA256SUMS").read_text().split()
    names = sums[1::2]
    assert names, "data/SHA256SUMS lists no file"
    for name in names:
        assert verified_file(name, script="x.py") == data_dir() / name


def test_a_good_file_loads_and_the_checksum_is_read(tmp_path):
    path, digest = _ship(tmp_path, "model.pt", {"w": torch.arange(3)})
    assert expected_sha256("model.pt", tmp_path) == digest
    assert expected_sha256("absent.pt", tmp_path) is None
    assert torch.equal(load_verified("model.pt", path, script="make.py")["w"], torch.arange(3))


def test_missing_unlisted_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing.*data/scripts/make.py"):
        verified_file("model.pt", tmp_path / "model.pt", script="make.py")
    path, _ = _ship(tmp_path, "model.pt", {"w": 1})
    (tmp_path / "SHA256SUMS").write_text("")
    with pytest.raises(FileNotFoundError, match="no line for model.pt"):
        verified_file("model.pt", path, script="make.py")
    path, _ = _ship(tmp_path, "model.pt", {"w": 1})
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ValueError, match="corrupt or was replaced"):
        load_verified("model.pt", path, script="make.py")
    with pytest.raises(TypeError, match="path must be a file path"):
        verified_file("model.pt", 3, script="make.py")
