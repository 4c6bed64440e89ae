"""kinect.py: rendering, the depth-comparison features (by loop, and invariant to distance), the
forest (= scikit-learn's, bagging and random subsets), mean shift (= scikit-learn's MeanShift)."""

import numpy as np
import pytest
from sklearn.cluster import MeanShift

from cvcourse.segmentation.kinect import (
    BACKGROUND_DEPTH,
    PARTS,
    body_dataset,
    depth_features,
    joint_proposals,
    mean_shift,
    part_centres,
    predict_parts,
    probe_agreement,
    random_offsets,
    random_pose,
    render_body,
    sample_pixels,
    train_forest,
)


def test_render_is_a_person_with_every_part_and_scales_with_distance():
    pose = random_pose(np.random.default_rng(0))
    near, near_labels = render_body(pose, 2.0)
    far, far_labels = render_body(pose, 4.0)
    assert set(np.unique(near_labels)) <= set(range(len(PARTS))) and (near_labels > 0).sum() > 200
    assert ((near_labels > 0) == (near < BACKGROUND_DEPTH)).all()
    body = near[near_labels > 0]
    assert (body > 1.5).all() and (body < 2.2).all()  # surfaces within 0.5 m of 2 m
    # twice as far: about a quarter of the pixels (area scales with 1 / z^2)
    assert 0.18 < (far_labels > 0).sum() / (near_labels > 0).sum() < 0.32


def test_features_equal_a_loop():
    data = body_dataset(1, seed=2)
    depth = data["depth"][0]
    pixels = sample_pixels(data["labels"], 30)[0]
    offsets = random_offsets(7, seed=1)
    ours = depth_features(depth, pixels, offsets)
    h, w = depth.shape
    for m, (r, c) in enumerate(pixels):
        for k, (dp, dn) in enumerate(offsets):

            def probe(off, r=r, c=c):
                pr, pc = (int(np.rint(r + off[0] / depth[r, c])), int(np.rint(c + off[1] / depth[r, c])))
                return depth[pr, pc] if 0 <= pr < h and 0 <= pc < w else BACKGROUND_DEPTH

            assert ours[m, k] == probe(dp) - probe(dn)
    # half the pairs compare a probe with the pixel itself (Delta n = 0)
    assert (offsets[: len(offsets) // 2, 1] == 0).all() and (offsets[len(offsets) // 2 :, 1] != 0).all()


def test_depth_normalised_offsets_land_on_the_same_body_part_near_and_far():
    offsets = random_offsets(60, seed=0, reach=90)
    rng = np.random.default_rng(5)
    for _ in range(3):
        pose = random_pose(rng)
        normalised, pairs = probe_agreement(pose, offsets, 2.0, 4.0, normalise=True)
        fixed, _ = probe_agreement(pose, offsets, 2.0, 4.0, normalise=False)
        assert pairs > 50
        assert normalised > 0.5 and normalised > 4 * fixed


@pytest.fixture(scope="module")
def small():
    train, test = body_dataset(30, seed=0), body_dataset(6, seed=1)
    return train, test, random_offsets(60, seed=0, reach=90)


def test_forest_is_sklearn_with_bagging_and_random_subsets(small):
    train, test, offsets = small
    forest = train_forest(train, offsets, per_image=100, trees=8, max_depth=10)
    assert forest.n_estimators == 8 and forest.bootstrap and forest.max_features == "sqrt"
    assert len({tuple(t.tree_.feature[:3]) for t in forest.estimators_}) > 1  # the trees differ
    labels, probs = predict_parts(forest, test["depth"][0], offsets)
    truth = test["labels"][0]
    assert ((labels > 0) == (truth > 0)).all()
    np.testing.assert_allclose(probs.sum(-1), 1.0)
    accuracy = (labels[truth > 0] == truth[truth > 0]).mean()
    assert accuracy > 0.5  # chance over 10 parts is 0.1 (the torso alone is about 0.3)
    tree = train_forest(train, offsets, per_image=100, trees=1, bootstrap=False, max_features=None)
    assert tree.n_estimators == 1 and not tree.bootstrap


def test_joints_are_near_the_part_centres(small):
    train, test, offsets = small
    forest = train_forest(train, offsets, per_image=100, trees=8, max_depth=10)
    errors = []
    for depth, z, pose in zip(test["depth"], test["z"], test["poses"], strict=True):
        _, probs = predict_parts(forest, depth, offsets)
        proposals, centres = joint_proposals(depth, probs, z), part_centres(pose)
        errors += [np.hypot(*np.subtract(proposals[k], centres[k])) for k in proposals]
    assert len(errors) > 40 and np.median(errors) < 0.15  # metres


def test_flat_mean_shift_equals_sklearn_and_gaussian_finds_the_mode():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 0.3, (200, 2)), rng.normal(3, 0.3, (100, 2))])
    seed = np.array([[0.8, 0.5]])
    theirs = MeanShift(bandwidth=1.0, seeds=seed).fit(points).cluster_centers_[0]
    np.testing.assert_allclose(mean_shift(points, seed[0], 1.0, kernel="flat"), theirs, atol=2e-3)
    mode = mean_shift(points, np.array([2.0, 2.0]), 0.5)
    np.testing.assert_allclose(mode, points[200:].mean(0), atol=0.1)
    # weights: zero weight on the first cluster moves the mode to the second
    w = np.r_[np.zeros(200), np.ones(100)]
    np.testing.assert_allclose(
        mean_shift(points, np.zeros(2), 5.0, weights=w), points[200:].mean(0), atol=0.1
    )


def test_bad_input():
    depth = np.ones((8, 8))
    with pytest.raises(ValueError, match="pixels must be \\[M, 2\\]"):
        depth_features(depth, np.zeros((3, 3), int), random_offsets(2))
    with pytest.raises(ValueError, match="offsets must be \\[K, 2, 2\\]"):
        depth_features(depth, np.zeros((3, 2), int), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="depth must be \\[H, W\\]"):
        depth_features(np.ones(4), np.zeros((3, 2), int), random_offsets(2))
    with pytest.raises(ValueError, match="z must be a number"):
        render_body(random_pose(np.random.default_rng(0)), 100.0)
    with pytest.raises(ValueError, match="kernel must be one of"):
        mean_shift(np.zeros((3, 2)), np.zeros(2), 1.0, kernel="epanechnikov")
