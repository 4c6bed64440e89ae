"""Dataset views: formats, determinism (order and cache independence), collation, torchvision
compatibility, errors."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from cvcourse.data import (
    CATEGORIES,
    STUFF_IDS,
    THING_CLASSES,
    THING_IDS,
    ShapesClassification,
    ShapesDetection,
    ShapesSegmentation,
    collate_detection,
)


def _bytes(sample):
    if isinstance(sample, torch.Tensor):
        return sample.numpy().tobytes()
    if isinstance(sample, dict):
        return b"".join(_bytes(sample[k]) for k in sorted(sample))
    if isinstance(sample, (tuple, list)):
        return b"".join(_bytes(s) for s in sample)
    return repr(sample).encode()


# ----------------------------------------------------------------------------- determinism
@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: ShapesClassification(12, size=24, **kw),
        lambda **kw: ShapesDetection(12, size=40, **kw),
        lambda **kw: ShapesSegmentation(12, size=40, kind="panoptic", **kw),
    ],
)
def test_same_seed_same_bytes_in_any_order_cached_or_not(make):
    a, b = make(seed=3, cache=True), make(seed=3, cache=False)
    forward = [_bytes(a[i]) for i in range(12)]
    backward = [_bytes(b[i]) for i in reversed(range(12))][::-1]
    assert forward == backward
    assert [_bytes(a[i]) for i in range(12)] == forward  # second read, from the cache
    other = make(seed=4, cache=False)
    assert all(_bytes(other[i]) != forward[i] for i in range(12))
    assert len(set(forward)) == 12  # samples differ from each other


def test_views_of_the_same_seed_share_scenes():
    """Detection and segmentation views of one seed show the same images (one generator)."""
    det = ShapesDetection(3, size=32, seed=9)
    for kind in ShapesSegmentation.KINDS:
        seg = ShapesSegmentation(3, size=32, seed=9, kind=kind)
        for i in range(3):
            assert torch.equal(det[i][0], seg[i][0])
    inst = ShapesSegmentation(3, size=32, seed=9, kind="instance")
    assert _bytes(inst[1]) == _bytes(det[1])


# ----------------------------------------------------------------------------- classification
def test_classification_format_and_balance():
    ds = ShapesClassification(300, size=32, seed=0)
    image, label = ds[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 1 and isinstance(label, int)
    assert ds.classes == THING_CLASSES
    counts = torch.bincount(torch.tensor([ds[i][1] for i in range(len(ds))]), minlength=5)
    assert counts.min() > 300 / 5 / 2  # every class is common
    assert torch.equal(ds[-1][0], ds[299][0])


def test_classification_subset_of_classes_and_transform():
    ds = ShapesClassification(60, size=16, num_classes=2, transform=lambda x: 1 - x)
    assert ds.classes == ("circle", "square")
    assert {ds[i][1] for i in range(60)} == {0, 1}
    plain = ShapesClassification(60, size=16, num_classes=2)
    assert torch.equal(ds[5][0], 1 - plain[5][0])


def test_classification_dataloader_batches_and_empty_dataset():
    loader = DataLoader(ShapesClassification(10, size=16), batch_size=4)
    images, labels = next(iter(loader))
    assert images.shape == (4, 3, 16, 16) and labels.dtype == torch.int64
    empty = ShapesClassification(0)
    assert len(empty) == 0 and list(DataLoader(empty, batch_size=4)) == []
    with pytest.raises(IndexError, match="index"):
        empty[0]


# ----------------------------------------------------------------------------- detection
def test_detection_targets_and_collation():
    ds = ShapesDetection(8, size=48, max_objects=5)
    assert ds.classes == ("background", *THING_CLASSES)
    images, targets = next(iter(DataLoader(ds, batch_size=4, collate_fn=collate_detection)))
    assert isinstance(images, tuple) and len(images) == 4 and isinstance(targets, tuple)
    counts = set()
    for image, t in zip(images, targets, strict=True):
        k = len(t["labels"])
        counts.add(k)
        assert image.shape == (3, 48, 48)
        assert t["boxes"].dtype == torch.float32 and t["boxes"].shape == (k, 4)
        assert t["labels"].dtype == torch.int64 and set(t["labels"].tolist()) <= set(THING_IDS)
        assert t["masks"].dtype == torch.uint8 and t["masks"].shape == (k, 48, 48)
        assert 1 <= k <= 5
        assert (t["boxes"][:, 2:] > t["boxes"][:, :2]).all()
    assert collate_detection([]) == ((), ())
    with pytest.raises(TypeError, match=r"batch\[0\] must be an \(image, target\) pair, got Tensor"):
        collate_detection([torch.zeros(3)])
    with pytest.raises(ValueError, match=r"batch\[0\] must be an \(image, target\) pair, got 3 items"):
        collate_detection([(torch.zeros(3), {}, "extra")])  # the right type, the wrong length
    with pytest.raises(TypeError, match="batch must be a list of"):
        collate_detection(torch.zeros(2, 3))


def test_one_object_per_image():
    ds = ShapesDetection(10, size=16, max_objects=1)
    assert all(len(ds[i][1]["labels"]) == 1 for i in range(10))


def test_detection_count_varies_up_to_max_objects():
    ds = ShapesDetection(40, size=64, max_objects=4)
    counts = {len(ds[i][1]["labels"]) for i in range(40)}
    assert counts == {1, 2, 3, 4}


def test_torchvision_mask_rcnn_trains_on_the_targets():
    """The authority for the format: torchvision's Mask R-CNN accepts images and targets as they
    come."""
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    torch.manual_seed(0)
    model = maskrcnn_resnet50_fpn(
        weights=None,
        weights_backbone=None,
        num_classes=len(THING_IDS) + 1,
        min_size=64,
        max_size=64,
    )
    model.train()
    images, targets = collate_detection([ShapesDetection(2, size=64)[i] for i in range(2)])
    losses = model(list(images), list(targets))
    assert {"loss_classifier", "loss_box_reg", "loss_mask"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())


# ----------------------------------------------------------------------------- segmentation
def test_segmentation_kinds():
    sem = ShapesSegmentation(6, size=32, kind="semantic")
    pan = ShapesSegmentation(6, size=32, kind="panoptic")
    assert sem.classes == CATEGORIES and sem.num_classes == 9
    assert ShapesDetection(1).num_classes == 6 and ShapesClassification(1).num_classes == 5
    assert sem.thing_ids == THING_IDS and sem.stuff_ids == STUFF_IDS
    for i in range(6):
        image, semantic = sem[i]
        _, panoptic = pan[i]
        assert semantic.shape == (32, 32) and semantic.dtype == torch.int64
        assert set(semantic.unique().tolist()) <= set(THING_IDS) | set(STUFF_IDS)
        assert panoptic.shape == (32, 32, 2) and torch.equal(panoptic[..., 0], semantic)
        things = panoptic[..., 0] <= max(THING_IDS)
        assert (panoptic[..., 1][things] > 0).all() and (panoptic[..., 1][~things] == 0).all()
    # Stuff regions appear across the data set (sky, ground and water are all used).
    seen = set()
    for i in range(6):
        seen |= set(sem[i][1].unique().tolist())
    assert set(STUFF_IDS) <= seen


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: ShapesClassification(-1), ValueError, "n must be an int >= 0, got -1"),
        (lambda: ShapesClassification("10"), TypeError, "n must be an int, got str"),
        (
            lambda: ShapesClassification(10, size=15),
            ValueError,
            "size must be an int >= 16 and <= 256, got 15",
        ),
        (lambda: ShapesClassification(10, size=0), ValueError, "size must be an int >= 16 and <= 256, got 0"),
        (lambda: ShapesClassification(10, size=32.0), TypeError, "size must be an int, got float"),
        (lambda: ShapesClassification(10, seed=-2), ValueError, "seed must be an int >= 0, got -2"),
        (
            lambda: ShapesClassification(10, num_classes=1),
            ValueError,
            "num_classes must be an int >= 2 and <= 5, got 1",
        ),
        (
            lambda: ShapesClassification(10, num_classes=9),
            ValueError,
            "num_classes must be an int >= 2 and <= 5, got 9",
        ),
        (lambda: ShapesClassification(10, transform=3), TypeError, "transform must be callable"),
        (
            lambda: ShapesClassification(10, cache="yes"),
            TypeError,
            "cache must be True or False, got str 'yes'",
        ),
        (
            lambda: ShapesDetection(10, max_objects=0),
            ValueError,
            "max_objects must be an int >= 1 and <= 25, got 0",
        ),
        (
            lambda: ShapesDetection(10, size=16, max_objects=26),
            ValueError,
            "max_objects must be an int >= 1 and <= 7, got 26",
        ),
        (
            lambda: ShapesDetection(10, max_objects=True),
            TypeError,
            "max_objects must be an int, got bool",
        ),
        (
            lambda: ShapesSegmentation(10, kind="depth"),
            ValueError,
            "kind must be one of 'semantic', 'instance', 'panoptic', got str 'depth'",
        ),
        (lambda: ShapesClassification(3)[3], IndexError, "index must be in [-3, 3), got 3"),
        (lambda: ShapesClassification(3)[1.0], TypeError, "index must be an int, got float"),
    ],
)
def test_bad_arguments_raise_clear_errors(make, error, words):
    with pytest.raises(error) as info:
        make()
    assert words in str(info.value)


def test_classification_image_is_the_rendered_scene_bit_for_bit():
    """The 8-bit cache round trip is exact: the tensor equals the float32 scene the generator
    rendered."""
    from cvcourse.data.shapes import render_scene, sample_rng

    ds = ShapesClassification(5, size=32, seed=2)
    scene = render_scene(
        sample_rng(2, 3), size=32, num_objects=1, classes=THING_IDS, radius_range=(0.25, 0.45)
    )
    assert torch.equal(ds[3][0], torch.from_numpy(scene.image.transpose(2, 0, 1).copy()))
    assert ds[3][1] == int(scene.labels[0]) - 1


def test_classification_is_not_given_away_by_the_average_image():
    """Not trivial: a nearest-class-mean classifier on raw pixels stays near chance (1 / 5).

    (That a small CNN learns the task is measured by ``benchmarks/bench_data.py --learn``.)
    """
    train, val = (
        ShapesClassification(400, size=24, seed=0),
        ShapesClassification(200, size=24, seed=1),
    )
    x = torch.stack([train[i][0] for i in range(len(train))]).flatten(1).double()
    y = torch.tensor([train[i][1] for i in range(len(train))])
    xv = torch.stack([val[i][0] for i in range(len(val))]).flatten(1).double()
    yv = torch.tensor([val[i][1] for i in range(len(val))])
    means = torch.stack([x[y == c].mean(0) for c in range(5)])  # [5, D]
    predicted = torch.cdist(xv, means).argmin(1)
    accuracy = (predicted == yv).double().mean().item()
    assert set(y.tolist()) == set(yv.tolist()) == set(range(5))  # every class in both splits
    assert accuracy < 0.4


def test_worker_processes_give_the_same_samples():
    """Per-index seeding: two DataLoader workers produce exactly what one process does."""
    ds = ShapesDetection(8, size=32, seed=5)
    batches = []
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=4, num_workers=workers, collate_fn=collate_detection)
        batches.append(
            [
                (image, target)
                for images, targets in loader
                for image, target in zip(images, targets, strict=True)
            ]
        )
    assert [_bytes(s) for s in batches[0]] == [_bytes(s) for s in batches[1]]
