"""The shipped Monodepth: checksum verified, loads strictly, outputs left disparities in pixels; its recorded
quality is what it scores on unseen pairs."""

import shutil

import pytest
import torch

from cvcourse.data import StereoShapes
from cvcourse.depth.pretrained import SHAPES_MONODEPTH_FILE, load_shapes_monodepth
from cvcourse.depth.training import evaluate_depth
from cvcourse.runtime import data_dir


def test_shipped_model_loads_and_its_record_is_true():
    model, info = load_shapes_monodepth()
    assert (data_dir() / SHAPES_MONODEPTH_FILE).stat().st_size < 5 * 2**20
    size, d_max = info["image_size"], info["max_disparity"]
    assert not model.training and model.max_disparity == d_max
    out = model(torch.rand(2, 3, size, size))
    assert out.shape == (2, 1, size, size) and (out > 0).all() and (out < d_max).all()
    # pairs of a seed the script never used (it trained on 0, validated on 1, tested on 2)
    assert info["scene"] == "ground" and "scene='ground'" in info["data"]
    unseen = StereoShapes(100, size=size, seed=7, max_disparity=d_max, scene=info["scene"])
    metrics = evaluate_depth(model, unseen)
    assert abs(metrics["abs_rel"] - info["test_metrics"]["abs_rel"]) < 0.05
    assert set(info["test_metrics"]) == set(metrics)
    assert metrics["abs_rel"] <= 0.15  # the chapter's target, on pairs the script never saw


def _copy(tmp_path):
    for name in (SHAPES_MONODEPTH_FILE, "SHA256SUMS"):
        shutil.copy(data_dir() / name, tmp_path / name)
    return tmp_path / SHAPES_MONODEPTH_FILE


def test_corrupt_or_unlisted_files_are_refused(tmp_path):
    path = _copy(tmp_path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt"):
        load_shapes_monodepth(path)
    (tmp_path / "SHA256SUMS").write_text("")
    with pytest.raises(FileNotFoundError, match="no line"):
        load_shapes_monodepth(path)
    with pytest.raises(FileNotFoundError, match="missing"):
        load_shapes_monodepth(tmp_path / "nothing.pt")
