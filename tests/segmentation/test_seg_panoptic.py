"""panoptic.py: panoptic_quality against torchmetrics' PanopticQuality (PQ, SQ, RQ, per class) on
shapes scenes with perturbed predictions (spurious things, stuff confusion, void pixels, shifted and
split instances), empty images and a single pixel; the IoU > 0.5 matching; the Panoptic FPN merge
on hand-made cases."""

import itertools
import math

import pytest
import torch
from torchmetrics.detection import PanopticQuality

from cvcourse.data import STUFF_IDS, THING_IDS, ShapesSegmentation
from cvcourse.segmentation.panoptic import match_segments, panoptic_merge, panoptic_quality, panoptic_stats

THINGS, STUFFS = set(THING_IDS), set(STUFF_IDS)
OPTIONS = list(itertools.product([False, True], [False, True]))


def theirs(preds, targets, things=THINGS, stuffs=STUFFS, sq_rq=False, per_class=False, allow=False):
    metric = PanopticQuality(
        things, stuffs, return_sq_and_rq=sq_rq, return_per_class=per_class, allow_unknown_preds_category=allow
    )
    return metric(preds, targets)


def assert_same(preds, targets, things=THINGS, stuffs=STUFFS, allow=False):
    for sq_rq, per_class in OPTIONS:
        a = panoptic_quality(
            preds,
            targets,
            things,
            stuffs,
            return_sq_rq=sq_rq,
            return_per_class=per_class,
            allow_unknown_preds_category=allow,
        )
        b = theirs(preds, targets, things, stuffs, sq_rq, per_class, allow)
        assert a.dtype == torch.float64 and a.shape == b.shape
        # torchmetrics divides int areas in float32 before summing in float64; ours is float64 throughout
        torch.testing.assert_close(a, b, equal_nan=True, atol=1e-6, rtol=1e-6)


def scenes(n=6, size=48, seed=3):
    data = ShapesSegmentation(n, size=size, seed=seed, kind="panoptic", max_objects=5)
    return torch.stack([data[i][1] for i in range(n)])


def perturb(targets, seed, void_preds=False):
    """Predictions made from the targets: shifted instances, spurious things, stuff confusion."""
    g = torch.Generator().manual_seed(seed)
    preds = targets.clone()
    B, H, W, _ = preds.shape
    for b in range(B):
        dy, dx = torch.randint(-3, 4, (2,), generator=g).tolist()
        is_thing = torch.isin(targets[b, ..., 0], torch.tensor(THING_IDS))
        shifted = torch.roll(targets[b], (dy, dx), dims=(0, 1))
        moved = torch.roll(is_thing, (dy, dx), dims=(0, 1))
        preds[b][moved] = shifted[moved]  # instances shifted by a few pixels (some IoU < 0.5)
        for _ in range(int(torch.randint(0, 4, (1,), generator=g))):  # spurious things
            y, x = torch.randint(0, H - 6, (2,), generator=g).tolist()
            s = int(torch.randint(2, 9, (1,), generator=g))
            c = THING_IDS[int(torch.randint(0, len(THING_IDS), (1,), generator=g))]
            preds[b, y : y + s, x : x + s] = torch.tensor([c, 50 + _])
        y, x = torch.randint(0, H // 2, (2,), generator=g).tolist()  # stuff confusion
        block = preds[b, y : y + H // 2, x : x + W // 2]
        stuff = torch.isin(block[..., 0], torch.tensor(STUFF_IDS))
        block[..., 0][stuff] = STUFF_IDS[0] + (block[..., 0][stuff] - STUFF_IDS[0] + 1) % len(STUFF_IDS)
        block[..., 1][stuff] = int(torch.randint(0, 5, (1,), generator=g))  # stuff instance ids ignored
        if void_preds:
            preds[b][torch.rand(H, W, generator=g) < 0.1] = torch.tensor([0, 0])
    return preds


def with_void_targets(targets, seed, fraction=0.15):
    g = torch.Generator().manual_seed(seed)
    out = targets.clone()
    out[torch.rand(out.shape[:-1], generator=g) < fraction] = torch.tensor([0, 0])
    y = int(torch.randint(0, out.shape[1] - 10, (1,), generator=g))
    out[:, y : y + 10, :12] = torch.tensor([0, 0])  # a void block: some predictions mostly on void
    return out


@pytest.mark.parametrize("seed", range(4))
def test_random_scenes_equal_torchmetrics(seed):
    targets = scenes(seed=seed)
    preds = perturb(targets, seed)
    assert_same(preds, targets)
    assert 0.0 < float(panoptic_quality(preds, targets, THINGS, STUFFS)) < 1.0  # not a trivial case


@pytest.mark.parametrize("seed", range(3))
def test_void_pixels_equal_torchmetrics(seed):
    targets = with_void_targets(scenes(seed=10 + seed), seed)
    preds = perturb(scenes(seed=10 + seed), seed, void_preds=True)
    assert_same(preds, targets, allow=True)
    m = match_segments(
        preds[0].reshape(-1, 2).clone(), targets[0].reshape(-1, 2).clone(), (0, 0)
    )  # void = (0, 0) here
    assert m.matches


def test_unknown_prediction_category_is_an_error_unless_allowed():
    targets = scenes(n=2)
    preds = targets.clone()
    preds[0, :3, :3] = torch.tensor([0, 0])
    with pytest.raises(ValueError, match="allow_unknown_preds_category"):
        panoptic_quality(preds, targets, THINGS, STUFFS)
    with pytest.raises(ValueError):
        theirs(preds, targets)
    assert_same(preds, targets, allow=True)


def test_perfect_prediction_and_per_class_order():
    targets = scenes(n=3)
    out = panoptic_quality(targets, targets, THINGS, STUFFS, return_sq_rq=True)
    torch.testing.assert_close(out, torch.ones(3, dtype=torch.float64))
    # order: things sorted then stuffs sorted, as torchmetrics
    s = panoptic_stats(targets, targets, [5, 1, 3, 2, 4], [8, 6, 7])
    assert s["categories"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert_same(targets, targets, things={4, 1, 3, 2, 5}, stuffs={8, 7, 6})


def test_empty_images():
    targets = scenes(n=2)
    void = torch.zeros_like(targets)
    assert_same(void, void, allow=True)  # nothing anywhere: NaN mean, zeros per class
    assert math.isnan(float(panoptic_quality(void, void, THINGS, STUFFS, allow_unknown_preds_category=True)))
    assert_same(void, targets, allow=True)  # everything predicted void: no FN counted (all void)
    assert_same(targets, void)  # every target void: predictions ignored
    mixed = targets.clone()
    mixed[1] = 0
    assert_same(perturb(targets, 1), mixed)


def test_single_pixel():
    for p, t in [([1, 1], [1, 1]), ([1, 1], [2, 1]), ([6, 0], [6, 3]), ([0, 0], [7, 0]), ([7, 2], [0, 0])]:
        preds = torch.tensor(p).view(1, 1, 1, 2)
        targets = torch.tensor(t).view(1, 1, 1, 2)
        assert_same(preds, targets, allow=True)


def test_matching_is_unique_and_iou_by_hand():
    # a 1 x 10 strip: target thing (1, 1) on pixels 0-5, void target on 8-9
    t = torch.tensor([[1, 1]] * 6 + [[6, 0]] * 2 + [[9, 0]] * 2)
    p = torch.tensor([[1, 1]] * 4 + [[1, 2]] * 2 + [[6, 0]] * 2 + [[1, 2]] * 2)
    m = match_segments(p, t, (9, 0))
    # (1,1): 4 / 6 > 0.5 matched; (1,2): IoU 2/(4 - 2 + 6 - 0 - 2) = 1/3, and it is not mostly on void
    assert [(a, b) for a, b, _ in m.matches] == [((1, 1), (1, 1)), ((6, 0), (6, 0))]
    assert m.matches[0][2] == 4 / 6 and m.false_positives == [(1, 2)] and m.false_negatives == []
    # uniqueness: on random maps every target and every prediction appears in at most one match
    for seed in range(5):
        targets = scenes(n=2, seed=seed)
        preds = perturb(targets, seed)
        for b in range(2):
            m = match_segments(preds[b].reshape(-1, 2), targets[b].reshape(-1, 2), (9, 0))
            ps, ts = [x[0] for x in m.matches], [x[1] for x in m.matches]
            assert len(set(ps)) == len(ps) and len(set(ts)) == len(ts)
            assert all(iou > 0.5 for *_, iou in m.matches)


def test_bad_input():
    t = scenes(n=1)
    with pytest.raises(TypeError, match="preds"):
        panoptic_quality(t.tolist(), t, THINGS, STUFFS)
    with pytest.raises(TypeError, match="preds"):
        panoptic_quality(t.float(), t, THINGS, STUFFS)
    with pytest.raises(ValueError, match="same shape"):
        panoptic_quality(t[:, :5], t, THINGS, STUFFS)
    with pytest.raises(ValueError, match="2"):
        panoptic_quality(t[..., :1], t[..., :1], THINGS, STUFFS)
    with pytest.raises(ValueError, match="disjoint"):
        panoptic_quality(t, t, {1, 6}, STUFFS)
    with pytest.raises(ValueError, match="empty"):
        panoptic_quality(t, t, set(), set())
    with pytest.raises(TypeError, match="things"):
        panoptic_quality(t, t, 3, STUFFS)
    with pytest.raises(TypeError, match="return_sq_rq"):
        panoptic_quality(t, t, THINGS, STUFFS, return_sq_rq=1)


# ------------------------------------------------------------------------------------ merge
def box_mask(h, w, y0, y1, x0, x1):
    m = torch.zeros(h, w, dtype=torch.bool)
    m[y0:y1, x0:x1] = True
    return m


def test_merge_things_over_stuff_and_overlap_by_score():
    H, W = 8, 10
    semantic = torch.full((H, W), 6)
    semantic[4:] = 7
    masks = torch.stack([box_mask(H, W, 1, 5, 1, 5), box_mask(H, W, 3, 7, 3, 8), box_mask(H, W, 0, 2, 8, 10)])
    scores = torch.tensor([0.6, 0.9, 0.3])  # the third is below the score threshold
    labels = torch.tensor([1, 2, 3])
    out = panoptic_merge(masks, scores, labels, semantic, STUFFS, stuff_area_threshold=1)
    # the higher-scored instance (label 2) is placed first, gets all its pixels, id 1
    assert torch.equal(out[..., 0][masks[1]], torch.full((int(masks[1].sum()),), 2))
    assert bool((out[..., 1][masks[1]] == 1).all())
    # the other keeps only its free pixels (overlap 4 / 16 <= 0.5), id 2
    own = masks[0] & ~masks[1]
    assert bool((out[..., 0][own] == 1).all()) and bool((out[..., 1][own] == 2).all())
    # stuff fills the rest from the semantic map, instance 0; the low score one is stuff
    rest = ~(masks[0] | masks[1])
    assert torch.equal(out[..., 0][rest], semantic[rest]) and bool((out[..., 1][rest] == 0).all())


def test_merge_drops_duplicates_and_small_stuff():
    H, W = 6, 6
    semantic = torch.full((H, W), 6)
    semantic[:, 5] = 8  # a thin stuff strip of 6 pixels
    a = box_mask(H, W, 0, 4, 0, 4)
    b = box_mask(H, W, 0, 4, 1, 4)  # 12 pixels, 12 taken by a: dropped
    out = panoptic_merge(
        torch.stack([a, b]),
        torch.tensor([0.9, 0.8]),
        torch.tensor([1, 1]),
        semantic,
        STUFFS,
        stuff_area_threshold=7,
    )
    assert int(out[..., 1].max()) == 1  # one instance only
    assert torch.equal(out[..., 0][:, 5], torch.zeros(H, dtype=torch.long))  # small stuff removed: void
    assert bool((out[..., 0][~a & (semantic == 6)] == 6).all())
    # with a higher overlap threshold the duplicate survives as nothing (no free pixels): still dropped
    out2 = panoptic_merge(
        torch.stack([a, b]),
        torch.tensor([0.9, 0.8]),
        torch.tensor([1, 1]),
        semantic,
        STUFFS,
        overlap_threshold=1.0,
        stuff_area_threshold=0,
    )
    assert int(out2[..., 1].max()) == 1 and bool((out2[..., 0][:, 5] == 8).all())
    # no instances: the semantic map itself
    none = panoptic_merge(
        torch.zeros(0, H, W, dtype=torch.bool),
        torch.zeros(0),
        torch.zeros(0, dtype=torch.long),
        semantic,
        STUFFS,
        stuff_area_threshold=0,
    )
    assert torch.equal(none[..., 0], semantic) and not bool(none[..., 1].any())


def test_merge_bad_input():
    m = torch.zeros(2, 4, 4, dtype=torch.bool)
    with pytest.raises(TypeError, match="masks"):
        panoptic_merge(
            m.float(),
            torch.ones(2),
            torch.ones(2, dtype=torch.long),
            torch.zeros(4, 4, dtype=torch.long),
            STUFFS,
        )
    with pytest.raises(ValueError, match="scores"):
        panoptic_merge(
            m, torch.ones(3), torch.ones(2, dtype=torch.long), torch.zeros(4, 4, dtype=torch.long), STUFFS
        )
    with pytest.raises(ValueError, match="labels"):
        panoptic_merge(m, torch.ones(2), torch.full((2,), 6), torch.zeros(4, 4, dtype=torch.long), STUFFS)
    with pytest.raises(TypeError, match="stuffs"):
        panoptic_merge(
            m, torch.ones(2), torch.ones(2, dtype=torch.long), torch.zeros(4, 4, dtype=torch.long), 6
        )
