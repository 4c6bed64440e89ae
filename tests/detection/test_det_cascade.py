"""The attentional cascade: the batched patch features equal the integral-image path, each stage keeps
its faces, the product rule, and the sliding window finds the faces of a scene."""

import pytest
import torch
from torchvision.ops import box_iou

from cvcourse.detection.cascade import (
    Cascade,
    cascade_rates,
    face_patches,
    feature_matrix,
    nonface_patches,
    patch_features,
    train_cascade,
)
from cvcourse.detection.haar import _integral_pair, haar_feature_grid, haar_mask, normalized_haar_features
from cvcourse.detection.sliding_window import face_scene, sliding_window_detect, window_grid


@pytest.fixture(scope="module")
def trained():
    bank = haar_feature_grid(16, 16, step=2)
    faces, negatives = face_patches(200, seed=0), nonface_patches(800, seed=0)
    cascade = train_cascade(
        patch_features(faces, bank), patch_features(negatives, bank), bank, (3, 6, 12), min_detection=0.99
    )
    return bank, cascade


def test_patch_features_equal_the_integral_image_path():
    bank = haar_feature_grid(16, 16, step=3)
    patches = torch.cat([face_patches(3, seed=5), nonface_patches(3, seed=5)])
    batched = patch_features(patches, bank)
    for k, patch in enumerate(patches):
        ii, ii_sq = _integral_pair(patch)
        one = normalized_haar_features(ii, ii_sq, bank, torch.tensor([0]), torch.tensor([0]))[0]
        assert torch.allclose(batched[k], one)
    # the linear map's columns are the masks divided by the rectangle areas
    w = feature_matrix(bank)
    i = 7
    areas = {float(v) for v in (1 / w[:, i].abs()[w[:, i] != 0]).tolist()}
    assert torch.equal(torch.sign(w[:, i]).reshape(16, 16), haar_mask(bank, i)) and len(areas) == 1


def test_patches_are_in_range_and_seeded():
    faces = face_patches(5, seed=3)
    assert faces.shape == (5, 16, 16) and faces.min() >= 0 and faces.max() <= 1
    assert torch.equal(faces, face_patches(5, seed=3)) and not torch.equal(faces, face_patches(5, seed=4))
    assert nonface_patches(4, size=12, seed=1).shape == (4, 12, 12)


def test_each_stage_keeps_its_faces_and_rejects_background(trained):
    _, cascade = trained
    assert len(cascade.stages) == 3
    for d, f in cascade.train_rates:
        assert d >= 0.99 and f < 0.6
    assert [len(s.stumps_) for s in cascade.stages] == [3, 6, 12]


def test_product_rule_on_held_out_patches(trained):
    bank, cascade = trained
    faces = patch_features(face_patches(300, seed=1), bank)
    negatives = patch_features(nonface_patches(1500, seed=1), bank)
    rows = cascade_rates(cascade, faces, negatives)
    d_product = f_product = 1.0
    for row in rows:
        d_product *= row["d"]
        f_product *= row["f"]
        assert row["D"] == pytest.approx(d_product) and row["F"] == pytest.approx(f_product)
    assert rows[-1]["D"] > 0.9 and rows[-1]["F"] < 0.05
    assert rows[-1]["D"] == pytest.approx(float(cascade.predict(faces).double().mean()))


def test_sliding_window_finds_the_faces(trained):
    _, cascade = trained
    image, gt = face_scene(128, sizes=(24, 32, 40), seed=0)
    boxes, scores, stats = sliding_window_detect(image, cascade, scales=(1.0, 1.5, 2.0, 2.5), step=1.0)
    assert boxes.shape[1] == 4 and len(boxes) == len(scores) > len(gt)  # many boxes per face: NMS's input
    assert (box_iou(gt, boxes).max(1).values > 0.5).all()
    # the attentional cascade: each stage sees fewer windows
    assert stats["evaluated"][0] == stats["windows"]
    assert stats["evaluated"] == sorted(stats["evaluated"], reverse=True)
    assert stats["evaluated"][-1] < 0.2 * stats["windows"]


def test_window_grid_and_errors():
    top, left, side = window_grid(20, 30, 16, 1.25, 2.0)
    assert side == 20 and len(top) == 1 * 6 and int(left.max()) + side <= 30
    assert len(window_grid(10, 10, 16, 1.0, 1.0)[0]) == 0
    with pytest.raises(ValueError, match="scale"):
        window_grid(20, 20, 16, 0.5, 1.0)
    with pytest.raises(TypeError, match="cascade"):
        sliding_window_detect(torch.zeros(20, 20), "cascade")
    with pytest.raises(ValueError, match="at least one stage"):
        sliding_window_detect(torch.zeros(20, 20), Cascade(haar_feature_grid(16, 16, step=4)))
    with pytest.raises(ValueError, match="faces"):
        train_cascade(torch.zeros(3, 2), torch.zeros(3, 5), haar_feature_grid(16, 16, step=8))
