"""The scene generator: shape geometry against matplotlib's polygon test, label consistency,
determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.path import Path
from torchvision.ops import masks_to_boxes as tv_masks_to_boxes

from cvcourse.data.shapes import (
    CATEGORIES,
    STUFF_IDS,
    THING_CLASSES,
    THING_IDS,
    masks_to_boxes,
    render,
    render_scene,
    sample_layout,
    sample_rng,
    shape_mask,
)


def _polygon(name: str) -> np.ndarray | None:
    """Vertices [V, 2] of each polygonal shape in its unit frame (y down, so -90 degrees is up)."""
    if name == "square":
        return np.array([[-0.7, -0.7], [0.7, -0.7], [0.7, 0.7], [-0.7, 0.7]])
    if name == "triangle":
        angles = np.deg2rad([90, 210, 330])
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    if name == "cross":
        a, w = 0.9, 0.3
        return np.array(
            [
                [w, -a],
                [w, -w],
                [a, -w],
                [a, w],
                [w, w],
                [w, a],
                [-w, a],
                [-w, w],
                [-a, w],
                [-a, -w],
                [-w, -w],
                [-w, -a],
            ]
        )
    if name == "star":
        angles = np.deg2rad(-90 + 36 * np.arange(10))
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    return None


@pytest.mark.parametrize("label", THING_IDS)
def test_shape_mask_matches_matplotlib_polygon_test(label):
    """Random points, random pose: our inside test equals matplotlib's point-in-polygon
    (float64)."""
    rng = np.random.default_rng(label)
    cx, cy, radius, angle = 20.0, 30.0, 12.0, rng.uniform(0, 2 * np.pi)
    x, y = rng.uniform(0, 50, 20000), rng.uniform(0, 60, 20000)
    ours = shape_mask(label, x, y, cx, cy, radius, angle)
    name = THING_CLASSES[label - 1]
    unit = _polygon(name)
    if unit is None:  # circle of radius 0.9
        expected = np.hypot(x - cx, y - cy) <= 0.9 * radius
    else:
        c, s = np.cos(angle), np.sin(angle)
        vertices = unit @ np.array([[c, s], [-s, c]]) * radius + [cx, cy]  # rotate by +angle
        expected = Path(vertices).contains_points(np.stack([x, y], axis=1))
    assert ours.any() and (~ours).any()
    np.testing.assert_array_equal(ours, expected)
    # Every shape fits in its circumradius, which is what keeps placed shapes inside the image.
    assert np.all(np.hypot(x[ours] - cx, y[ours] - cy) <= radius)


def test_shape_mask_rejects_unknown_label():
    with pytest.raises(ValueError, match="label must be one of 1, 2, 3, 4, 5, got int 0"):
        shape_mask(0, np.zeros(1), np.zeros(1), 0.0, 0.0, 1.0, 0.0)
    with pytest.raises(TypeError, match="label must be an int, got bool"):  # was a ValueError
        shape_mask(True, np.zeros(1), np.zeros(1), 0.0, 0.0, 1.0, 0.0)
    assert shape_mask(np.int64(1), np.zeros(1), np.zeros(1), 0.0, 0.0, 1.0, 0.0).all()  # NumPy ids


def test_scene_functions_check_their_arguments():
    rng = sample_rng(0, 0)
    with pytest.raises(ValueError, match="seed must be an int >= 0, got -1"):
        sample_rng(-1, 0)
    with pytest.raises(TypeError, match="index must be an int, got float"):
        sample_rng(0, 1.0)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        render_scene(0)  # a seed where the generator goes
    with pytest.raises(ValueError, match="size must be an int >= 16, got 8"):
        render_scene(rng, size=8)
    with pytest.raises(ValueError, match="classes must be one of 1, 2, 3, 4, 5, got int 7"):
        render_scene(rng, classes=(1, 7))
    with pytest.raises(ValueError, match="classes must hold at least one thing id"):
        sample_layout(rng, 32, 2, classes=())
    with pytest.raises(ValueError, match=r"radius_range\[1\] must be a number >= 0.3 and <= 0.5, got 0.2"):
        render_scene(rng, radius_range=(0.3, 0.2))
    with pytest.raises(TypeError, match="radius_range must be a pair"):
        render_scene(rng, radius_range=0.2)
    with pytest.raises(ValueError, match="noise_std must be a number >= 0.0, got -0.1"):
        render_scene(rng, noise_std=-0.1)
    with pytest.raises(TypeError, match="random_count must be True or False, got int 1"):
        render_scene(rng, random_count=1)
    layout, _ = sample_layout(rng, 32, 2)
    with pytest.raises(ValueError, match=r"shape_shifts must have shape \(\d+,\), one per shape"):
        render(layout, shape_shifts=np.zeros(len(layout.shapes) + 1))
    with pytest.raises(TypeError, match="layout must be a Layout"):
        render("scene")
    with pytest.raises(ValueError, match="rng must be a numpy Generator when noise_std > 0"):
        render(layout, noise_std=0.1)


def test_masks_to_boxes_equals_torchvision_and_refuses_empty_masks():
    masks = np.zeros((3, 6, 7), dtype=bool)
    masks[0, 2, 3] = True  # a single pixel
    masks[1, 1:4, 0:7] = True  # touching the left and right borders
    masks[2] = True  # the whole image
    expected = tv_masks_to_boxes(torch.from_numpy(masks)).numpy() + np.array([0, 0, 1, 1])
    np.testing.assert_array_equal(masks_to_boxes(masks), expected)
    assert masks_to_boxes(np.zeros((0, 6, 7), dtype=bool)).shape == (0, 4)  # no shapes, no boxes
    with pytest.raises(ValueError, match=r"masks\[1\] must hold at least one pixel"):
        masks_to_boxes(np.stack([masks[0], np.zeros((6, 7), dtype=bool)]))
    with pytest.raises(ValueError, match=r"masks must have shape \[K, H, W\], got shape \[6, 7\]"):
        masks_to_boxes(masks[0])
    with pytest.raises(TypeError, match="masks must be a bool ndarray"):
        masks_to_boxes(torch.from_numpy(masks))


def _check_scene(scene, size):
    k = len(scene.labels)
    assert scene.image.shape == (size, size, 3) and scene.image.dtype == np.float32
    assert scene.image.min() >= 0 and scene.image.max() <= 1
    assert np.abs(scene.image * 255 - np.round(scene.image * 255)).max() < 1e-3  # 8-bit values
    assert k >= 1 and scene.masks.shape == (k, size, size) and scene.boxes.shape == (k, 4)
    assert set(scene.labels.tolist()) <= set(THING_IDS)
    # Masks: non-empty, disjoint (occlusion applied).
    assert scene.masks.reshape(k, -1).any(axis=1).all()
    assert scene.masks.sum(axis=0).max() <= 1
    # Boxes: tight around the masks, pixel-edge convention = torchvision's inclusive boxes + 1.
    expected = tv_masks_to_boxes(torch.from_numpy(scene.masks)).numpy() + np.array([0, 0, 1, 1])
    np.testing.assert_array_equal(scene.boxes, expected)
    assert np.all(scene.boxes[:, 2:] > scene.boxes[:, :2])
    # Semantic map: the thing's id on its mask, a stuff id everywhere else.
    covered = scene.masks.any(axis=0)
    for m, label in zip(scene.masks, scene.labels, strict=True):
        assert np.all(scene.semantic[m] == label)
    assert set(np.unique(scene.semantic[~covered]).tolist()) <= set(STUFF_IDS)
    # Panoptic map: category = semantic; instance k + 1 on mask k, 0 on stuff.
    np.testing.assert_array_equal(scene.panoptic[..., 0], scene.semantic)
    for i, m in enumerate(scene.masks):
        np.testing.assert_array_equal(scene.panoptic[..., 1] == i + 1, m)
    assert np.all(scene.panoptic[..., 1][~covered] == 0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), size=st.integers(16, 96), num_objects=st.integers(1, 8))
def test_scene_labels_are_consistent(seed, size, num_objects):
    scene = render_scene(sample_rng(seed, 0), size=size, num_objects=num_objects)
    _check_scene(scene, size)
    assert len(scene.labels) <= num_objects
    for s in scene.layout.shapes:  # each whole shape lies inside the image
        assert s.radius <= s.cx <= size - s.radius and s.radius <= s.cy <= size - s.radius


def test_single_object_at_minimum_size():
    scene = render_scene(sample_rng(0, 0), size=16, num_objects=1)
    _check_scene(scene, 16)
    assert len(scene.labels) == 1


def test_sampled_visibility_equals_rendered_masks():
    rng = sample_rng(3, 7)
    layout, visible = sample_layout(rng, 64, 6)
    _, masks, _ = render(layout)
    np.testing.assert_array_equal(visible, masks)


def test_occluded_shapes_keep_at_least_half_of_what_was_visible():
    """Later shapes hide at most half of an earlier one's pixels at the time they are placed."""
    for index in range(20):
        layout, visible = sample_layout(sample_rng(1, index), 48, 8)
        for k in range(1, len(layout.shapes) + 1):
            before, _ = _prefix_masks(layout, k - 1)
            after, _ = _prefix_masks(layout, k)
            for j in range(k - 1):
                assert after[j].sum() >= 0.5 * before[j].sum() > 0


def _prefix_masks(layout, k):
    from copy import copy

    sub = copy(layout)
    sub.shapes = layout.shapes[:k]
    _, masks, stuff = render(sub)
    return masks, stuff


def test_determinism_and_seed_sensitivity():
    a = render_scene(sample_rng(5, 11), size=48)
    b = render_scene(sample_rng(5, 11), size=48)
    c = render_scene(sample_rng(5, 12), size=48)
    d = render_scene(sample_rng(6, 11), size=48)
    assert a.image.tobytes() == b.image.tobytes() and a.masks.tobytes() == b.masks.tobytes()
    assert a.image.tobytes() != c.image.tobytes() and a.image.tobytes() != d.image.tobytes()


def test_masks_to_boxes_matches_torchvision_on_random_masks():
    rng = np.random.default_rng(0)
    masks = rng.uniform(size=(10, 20, 30)) < 0.02
    masks[:, 5, 7] = True  # non-empty
    masks[0] = False
    masks[0, 19, 29] = True  # a single pixel in the corner: box (29, 19, 30, 20), area 1
    ours = masks_to_boxes(masks)
    expected = tv_masks_to_boxes(torch.from_numpy(masks)).numpy() + np.array([0, 0, 1, 1])
    np.testing.assert_array_equal(ours, expected)
    np.testing.assert_array_equal(ours[0], [29, 19, 30, 20])
    assert masks_to_boxes(np.zeros((0, 4, 4), bool)).shape == (0, 4)


def test_panoptic_quality_of_perfect_prediction_is_one():
    from torchmetrics.detection import PanopticQuality

    metric = PanopticQuality(things=set(THING_IDS), stuffs=set(STUFF_IDS))
    scenes = [render_scene(sample_rng(0, i), size=48) for i in range(4)]
    target = torch.stack([torch.from_numpy(s.panoptic) for s in scenes])  # [B, H, W, 2]
    assert metric(target.clone(), target).item() == pytest.approx(1.0)
    # ... and a prediction that merges every thing into one stuff class scores less.
    wrong = target.clone()
    wrong[..., 1] = 0
    wrong[..., 0] = torch.where(target[..., 0] <= max(THING_IDS), STUFF_IDS[0], target[..., 0])
    metric.reset()
    assert metric(wrong, target).item() < 0.9


def test_category_table():
    assert CATEGORIES[0] == "void"
    assert [CATEGORIES[i] for i in THING_IDS] == list(THING_CLASSES)
    assert [CATEGORIES[i] for i in STUFF_IDS] == ["sky", "ground", "water"]
    assert not set(THING_IDS) & set(STUFF_IDS)
