"""Selective search: the hierarchy, the merged features equal the union's, the loop-free similarity
equals the formula written pair by pair, and proposals that cover the objects of a scene."""

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from cvcourse.data import ShapesDetection
from cvcourse.detection.proposals import region_features, selective_search, similarity, superpixels


def _scene(seed=0, size=96):
    image, target = ShapesDetection(1, size=size, seed=seed)[0]
    return (image.permute(1, 2, 0).numpy() * 255).astype(np.uint8), target


def test_hierarchy_boxes_and_features_of_the_union():
    image, _ = _scene()
    ss = selective_search(image, scale=50, min_size=20)
    n = int(ss.labels.max()) + 1
    assert len(ss.boxes) == 2 * n - 1 and len(ss.merges) == n - 1
    assert ss.boxes[-1].tolist() == [0, 0, image.shape[1], image.shape[0]]
    assert ss.sizes[-1] == ss.labels.numel()
    members = {r: {r} for r in range(n)}
    used = set()
    for k, (i, j) in enumerate(ss.merges.tolist()):
        assert i not in used and j not in used  # a region is merged once
        used |= {i, j}
        members[n + k] = members[i] | members[j]
    # every region's box is the box of its pixels, computed directly from the merged labels
    for region in (n, n + (n - 1) // 2, 2 * n - 2):
        mask = torch.isin(ss.labels, torch.tensor(sorted(members[region])))
        rows, cols = mask.nonzero().unbind(1)
        assert ss.boxes[region].tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
        assert ss.sizes[region] == mask.sum()


def test_merged_histograms_are_the_unions_histograms():
    image, _ = _scene(1)
    labels = superpixels(image, scale=50, min_size=20)
    feats = region_features(image, labels)
    merged = labels.clone()
    merged[merged == 1] = 0  # regions 0 and 1 as one
    union = region_features(image, merged)
    s0, s1 = feats["size"][0], feats["size"][1]
    for key in ("colour", "texture"):
        assert torch.allclose(union[key][0], (s0 * feats[key][0] + s1 * feats[key][1]) / (s0 + s1))
        assert torch.allclose(feats[key].sum(1), torch.ones(len(feats[key]), dtype=torch.float64))
        assert union[key][1].sum() == 0  # label 1 has no pixel left


def test_similarity_equals_the_formula_pair_by_pair():
    image, _ = _scene(2)
    labels = superpixels(image, scale=50, min_size=20)
    feats = region_features(image, labels)
    n, size = len(feats["size"]), labels.numel()
    i, j = torch.randint(0, n, (20,)), torch.randint(0, n, (20,))
    fast = similarity(feats, i, j, size, weights=(1.0, 0.5, 2.0, 0.3))
    for e in range(20):
        a, b = int(i[e]), int(j[e])
        colour = sum(
            min(x, y) for x, y in zip(feats["colour"][a].tolist(), feats["colour"][b].tolist(), strict=True)
        )
        texture = sum(
            min(x, y) for x, y in zip(feats["texture"][a].tolist(), feats["texture"][b].tolist(), strict=True)
        )
        sa, sb = float(feats["size"][a]), float(feats["size"][b])
        ba, bb = feats["box"][a].tolist(), feats["box"][b].tolist()
        hull = (max(ba[2], bb[2]) - min(ba[0], bb[0])) * (max(ba[3], bb[3]) - min(ba[1], bb[1]))
        slow = colour + 0.5 * texture + 2.0 * (1 - (sa + sb) / size) + 0.3 * (1 - (hull - sa - sb) / size)
        assert fast[e].item() == pytest.approx(slow, abs=1e-12)


def test_proposals_cover_the_objects():
    recalls = []
    for seed in range(4):
        image, target = _scene(seed, size=128)
        proposals = selective_search(image, scale=50, min_size=20).proposals()
        assert len(torch.unique(proposals, dim=0)) == len(proposals)
        recalls += (box_iou(target["boxes"].double(), proposals).max(1).values >= 0.7).tolist()
    assert np.mean(recalls) >= 0.8  # high recall, the notes' requirement of a proposal method


def test_errors():
    image, _ = _scene()
    with pytest.raises(TypeError, match="image"):
        selective_search(torch.zeros(8, 8, 3))
    with pytest.raises(ValueError, match="scale"):
        selective_search(image, scale=0)
    with pytest.raises(ValueError, match="image must be"):
        region_features(image[:10], superpixels(image))
