"""The pure views of chapter 5b: the merge trace equals MaskFormer's inference, PQ's picture its matching."""

import numpy as np
import pytest
import torch

from cvcourse.data import STUFF_IDS, THING_IDS, ShapesSegmentation
from cvcourse.segmentation.maskformer import maskformer_inference
from cvcourse.segmentation.panoptic import panoptic_quality
from cvcourse.segmentation.panoptic_views import (
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    MATCHED,
    STATUSES,
    instances_picture,
    merge_picture,
    merge_trace,
    panoptic_picture,
    pq_picture,
    query_picture,
)
from cvcourse.segmentation.viewer import CLASS_COLOURS


@pytest.mark.parametrize("seed", range(6))
def test_merge_trace_equals_maskformer_inference(seed):
    g = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(12, 10, generator=g, dtype=torch.float64)
    logits[:, 0] = -20.0  # class 0 (void) is never predicted by the shapes models
    logits[::3, 2] += 8  # some confident thing queries (class 2) ...
    logits[1::4, 7] += 8  # ... and stuff ones (class 7), so every status occurs somewhere
    masks = 4 * torch.randn(12, 16, 16, generator=g, dtype=torch.float64)
    for obj, overlap in ((0.8, 0.8), (0.3, 0.5), (0.0, 0.0)):
        trace = merge_trace(logits, masks, THING_IDS, object_mask_threshold=obj, overlap_threshold=overlap)
        expected = maskformer_inference(
            logits,
            masks,
            "panoptic",
            things=THING_IDS,
            object_mask_threshold=obj,
            overlap_threshold=overlap,
            void=0,
        )
        assert torch.equal(trace["panoptic"], expected)
        assert {s["status"] for s in trace["steps"]} <= set(STATUSES)
        placed = [s for s in trace["steps"] if s["status"] == "placed"]
        union = torch.zeros(16, 16, dtype=torch.bool)
        for s in placed:  # placed segments are disjoint and make up the non-void map
            assert not (union & s["segment"]).any()
            union |= s["segment"]
        assert torch.equal(union, expected[..., 0] != 0)


def test_merge_trace_statuses_on_a_hand_made_case():
    logits = torch.full((4, 10), -10.0)
    logits[0, 1] = logits[1, 9] = logits[3, 6] = 10.0  # circle, no object, (2: uniform), sky
    masks = torch.full((4, 4, 4), -10.0)
    masks[0, :2], masks[3] = 10.0, 10.0  # query 0 wins its top half over sky (equal score, first wins)
    strict = merge_trace(logits, masks, THING_IDS)  # sky wins 8 of its 16 pixels: 0.5 < 0.8, dropped
    assert [s["status"] for s in strict["steps"]][3] == "overlap below threshold"
    assert torch.equal(strict["panoptic"][2:, :, 0], torch.zeros(2, 4, dtype=torch.long))
    trace = merge_trace(logits, masks, THING_IDS, overlap_threshold=0.5)
    assert [s["status"] for s in trace["steps"]] == ["placed", "no object", "low score", "placed"]
    assert torch.equal(trace["panoptic"][:2, :, 0], torch.ones(2, 4, dtype=torch.long))
    assert torch.equal(trace["panoptic"][2:, :, 0], torch.full((2, 4), 6))
    assert trace["steps"][0]["instance"] == 1 and trace["steps"][3]["instance"] == 0
    image = torch.zeros(3, 4, 4)
    first = merge_picture(image, trace, 0)
    np.testing.assert_allclose(first[:2], np.broadcast_to(CLASS_COLOURS[1], (2, 4, 3)))
    np.testing.assert_allclose(first[2:], 0.25)  # not yet placed: the grey scene
    last = merge_picture(image, trace, 3)
    np.testing.assert_allclose(last[:2], np.broadcast_to(0.7 * CLASS_COLOURS[1], (2, 4, 3)))
    np.testing.assert_allclose(last[2:], np.broadcast_to(CLASS_COLOURS[6], (2, 4, 3)))
    with pytest.raises(ValueError, match="step must be"):
        merge_picture(image, trace, 4)
    with pytest.raises(TypeError, match="things must be"):
        merge_trace(logits, masks, 3)
    with pytest.raises(ValueError, match="mask_logits must have shape"):
        merge_trace(logits, masks[:3], THING_IDS)


def test_pq_picture_colours_the_matching():
    data = ShapesSegmentation(3, size=64, seed=5, kind="panoptic")
    image, target = data[0]
    pred = target.clone()
    things = torch.isin(target[..., 0], torch.tensor(THING_IDS))
    first = target[things][0]
    gone = (target[..., 0] == first[0]) & (target[..., 1] == first[1])
    pred[gone] = torch.tensor([int(STUFF_IDS[0]), 0])  # one thing missed (FN), sky grows
    pred[:4, :4] = torch.tensor([int(THING_IDS[1]), 9])  # a spurious small thing (FP)
    picture, pq = pq_picture(image, pred, target, THING_IDS, STUFF_IDS)
    expected = panoptic_quality(pred[None], target[None], THING_IDS, STUFF_IDS, return_sq_rq=True)
    np.testing.assert_allclose([pq["pq"], pq["sq"], pq["rq"]], expected.numpy())
    match = pq["match"]
    assert len(match.false_positives) >= 1 and len(match.false_negatives) >= 1 and match.matches
    assert int(target[0, 0, 0]) in STUFF_IDS  # the spurious thing lies on stuff: red
    np.testing.assert_allclose(picture[0, 0], FALSE_POSITIVE)
    assert np.isclose(picture[gone.numpy()], FALSE_NEGATIVE).all()  # the missed thing: blue
    tp = torch.zeros(64, 64, dtype=torch.bool)
    for s, _, _ in match.matches:
        tp |= (pred[..., 0] == s[0]) & ((pred[..., 1] == s[1]) | (s[0] in STUFF_IDS))
    assert np.isclose(picture[(tp & ~gone).numpy()], MATCHED).all()
    with pytest.raises(ValueError, match="target must have shape"):
        pq_picture(image, pred, target[:8], THING_IDS, STUFF_IDS)


def test_small_pictures():
    image = torch.rand(3, 5, 6)
    target = torch.zeros(5, 6, 2, dtype=torch.long)
    target[..., 0], target[1:3, 1:3] = 7, torch.tensor([2, 1])
    picture = panoptic_picture(target)
    np.testing.assert_allclose(picture[0, 0], CLASS_COLOURS[7])
    np.testing.assert_allclose(picture[1, 1], CLASS_COLOURS[2] * 0.8)  # instance 1: shade 0.8
    heat = query_picture(image, torch.full((5, 6), 50.0))
    np.testing.assert_allclose(heat, np.broadcast_to([0.95, 0.1, 0.1], (5, 6, 3)), atol=1e-6)
    cold = query_picture(image, torch.full((5, 6), -50.0))
    np.testing.assert_allclose(cold, 0.25 + 0.5 * image.mean(0)[..., None].numpy().repeat(3, 2), atol=1e-6)
    masks = torch.zeros(2, 1, 5, 6)
    masks[0, 0, :2], masks[1, 0, 3:] = 0.9, 0.9
    found = {"masks": masks, "scores": torch.tensor([0.9, 0.3]), "labels": torch.tensor([3, 4])}
    drawn = instances_picture(image, found, 0.5)
    np.testing.assert_allclose(drawn[0, 0], CLASS_COLOURS[3] * 0.6)
    np.testing.assert_allclose(drawn[4], cold[4])  # the 0.3 detection is not drawn
    with pytest.raises(ValueError, match="score_threshold must be"):
        instances_picture(image, found, 1.5)
    with pytest.raises(ValueError, match="mask_logits must have shape"):
        query_picture(image, torch.zeros(4, 6))
