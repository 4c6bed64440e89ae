"""The shipped detectors: ``load_shapes_detector(kind)`` verifies the checksum, loads strictly, returns the
model in eval mode with its record, and the record is true (the RetinaNet's mAP on the validation scenes
is measured again); bad kinds and damaged or missing files are refused with clear errors."""

import hashlib
import shutil

import pytest
import torch

from cvcourse.data import ShapesDetection
from cvcourse.detection.pretrained import (
    DETECTOR_CLASSES,
    INFO_KEYS,
    detector_file,
    load_shapes_detector,
    save_detector,
)
from cvcourse.detection.retinanet import RetinaNet
from cvcourse.detection.training import VAL_SEED, evaluate_detector
from cvcourse.runtime import data_dir

RETINANET = data_dir() / "retinanet_shapes.pt"


def test_shipped_retinanet_loads_and_its_record_is_true():
    model, info = load_shapes_detector("retinanet")
    assert isinstance(model, RetinaNet) and not model.training
    assert RETINANET.stat().st_size <= 5 * 2**20
    assert set(INFO_KEYS) <= set(info)
    assert info["val_seed"] == VAL_SEED and info["image_size"] == 64 and info["max_objects"] == 4
    assert info["params"] == sum(p.numel() for p in model.parameters()) <= 1_500_000
    assert info["train_seconds"] > 0 and info["device"] and info["torch_version"]
    assert 0 < info["map"] <= info["map_50"] and 0 < info["map_75"] <= info["map_50"]
    # measured again on the same 500 validation scenes (never trained on): the same numbers
    scores = evaluate_detector(
        model, ShapesDetection(info["val_scenes"], size=64, seed=VAL_SEED, max_objects=4)
    )
    for key in ("map", "map_50", "map_75"):
        assert abs(scores[key] - info[key]) < 0.01, (key, scores[key], info[key])
    preds = model.predict(torch.rand(2, 3, 64, 64))
    assert len(preds) == 2 and all(set(p) == {"boxes", "scores", "labels"} for p in preds)
    assert all(p["labels"].dtype == torch.int64 and len(p["boxes"]) <= 100 for p in preds)


def test_shipped_retinanet_meets_the_floor_for_every_detector():
    _, info = load_shapes_detector("retinanet")
    assert info["map_50"] >= 0.5  # the chapter's floor for every detector


@pytest.mark.xfail(
    strict=True,
    reason="the shipped RetinaNet (strides 8-32, 0.56 M parameters, 20 epochs) reaches mAP@0.5 0.59 on "
    "seed 777, short of the 0.8 asked of the best detector (CenterNet is the best one: 0.93)",
)
def test_shipped_retinanet_meets_the_best_detector_target():
    _, info = load_shapes_detector("retinanet")
    assert info["map_50"] >= 0.8


def test_bad_kinds_are_refused():
    with pytest.raises(ValueError, match="kind"):
        load_shapes_detector("yolo")
    with pytest.raises(TypeError, match="kind"):
        load_shapes_detector(3)
    assert sorted(DETECTOR_CLASSES) == ["centernet", "detr", "retinanet"]
    assert detector_file("detr") == "detr_shapes.pt"


def test_damaged_missing_or_mislabelled_files_are_refused(tmp_path):
    path = tmp_path / "retinanet_shapes.pt"
    shutil.copy(RETINANET, path)
    shutil.copy(data_dir() / "SHA256SUMS", tmp_path / "SHA256SUMS")
    model, _ = load_shapes_detector("retinanet", path)  # a copy with its checksum line loads
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt"):
        load_shapes_detector("retinanet", path)
    with pytest.raises(FileNotFoundError, match="train_shapes_detector.py --kind retinanet"):
        load_shapes_detector("retinanet", tmp_path / "nothing" / "retinanet_shapes.pt")
    # a RetinaNet file saved under the name of another kind: its checksum is right, its kind is not
    other = tmp_path / "detr_shapes.pt"
    info = {k: 0 for k in INFO_KEYS}
    checkpoint = torch.load(RETINANET, weights_only=True)
    torch.save({**checkpoint, "kind": "retinanet"}, other)
    (tmp_path / "SHA256SUMS").write_text(
        f"{hashlib.sha256(other.read_bytes()).hexdigest()}  detr_shapes.pt\n"
    )
    with pytest.raises(ValueError, match="holds a 'retinanet' detector"):
        load_shapes_detector("detr", other)
    with pytest.raises(ValueError, match="info must hold"):
        save_detector(model, "retinanet", {"map": 1.0}, tmp_path / "x.pt")
    save_detector(model, "retinanet", info, tmp_path / "ok.pt")
    saved = torch.load(tmp_path / "ok.pt", weights_only=True)
    assert saved["kind"] == "retinanet" and saved["config"] == model.config
    assert all(v.dtype == torch.float16 for v in saved["state_dict"].values() if v.is_floating_point())
