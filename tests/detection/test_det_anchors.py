"""anchors.py against torchvision's AnchorGenerator, Matcher + RPN labelling and the balanced sampler."""

import pytest
import torch
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler, Matcher
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList

from cvcourse.detection.anchors import anchor_grid, base_anchors, label_anchors, sample_anchors


@pytest.mark.parametrize(
    "sizes, ratios", [((32, 64, 128), (0.5, 1.0, 2.0)), ((16,), (1.0,)), ((10, 45), (0.3, 1.7, 2.0, 4.0))]
)
@pytest.mark.parametrize("image, grid", [((128, 160), (8, 10)), ((100, 64), (13, 8)), ((32, 32), (1, 1))])
def test_anchor_grid_equals_anchor_generator(sizes, ratios, image, grid):
    generator = AnchorGenerator(sizes=(sizes,), aspect_ratios=(ratios,))
    images = ImageList(torch.zeros(1, 3, *image), [image])
    theirs = generator(images, [torch.zeros(1, 8, *grid)])[0]
    stride = (image[0] // grid[0], image[1] // grid[1])  # torchvision's stride per axis
    ours = anchor_grid(grid, stride, sizes, ratios)
    assert torch.equal(ours, theirs)
    assert generator.num_anchors_per_location() == [len(base_anchors(sizes, ratios))]


def test_base_anchors_have_the_size_and_ratio():
    base = base_anchors((64,), (0.5, 1.0, 2.0), dtype=torch.float64)
    w, h = base[:, 2] - base[:, 0], base[:, 3] - base[:, 1]
    # up to the rounding to whole pixels (45 x 91 for ratio 2)
    torch.testing.assert_close(h / w, torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64), atol=0, rtol=0.03)
    torch.testing.assert_close(w * h, torch.full((3,), 64.0**2, dtype=torch.float64), rtol=0.02, atol=0)


def rpn_labels_torchvision(anchors, gt, high=0.7, low=0.3, allow=True):
    """RegionProposalNetwork.assign_targets_to_anchors for one image (its code, step for step)."""
    from torchvision.ops import box_iou

    matcher = Matcher(high, low, allow_low_quality_matches=allow)
    if gt.numel() == 0:
        return torch.zeros(anchors.shape[0]), None
    idx = matcher(box_iou(gt, anchors))
    labels = (idx >= 0).to(torch.float32)
    labels[idx == Matcher.BELOW_LOW_THRESHOLD] = 0.0
    labels[idx == Matcher.BETWEEN_THRESHOLDS] = -1.0
    return labels, idx


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("allow", [True, False])
def test_label_anchors_equals_matcher_and_rpn(seed, allow):
    g = torch.Generator().manual_seed(seed)
    anchors = anchor_grid((12, 12), 16, (32, 64), (0.5, 1.0, 2.0)).double()
    xy = torch.rand(6, 2, generator=g, dtype=torch.float64) * 160
    gt = torch.cat([xy, xy + 10 + torch.rand(6, 2, generator=g, dtype=torch.float64) * 80], 1)
    gt[0] = gt[1]  # a duplicate ground truth: ties in the best IoU
    gt[2] = torch.tensor([500.0, 500, 520, 520])  # overlaps no anchor: best IoU 0
    labels, matched = label_anchors(anchors, gt, allow_low_quality=allow)
    theirs, idx = rpn_labels_torchvision(anchors, gt, allow=allow)
    assert torch.equal(labels.float(), theirs) and torch.equal(matched, idx)
    assert {-1, 0, 1} >= set(labels.tolist()) and (labels == 1).any()


def test_label_anchors_rules_of_the_notes():
    anchors = torch.tensor(
        [[0, 0, 10, 10], [0, 0, 10, 8], [0, 0, 10, 5], [0, 0, 10, 2], [50, 50, 60, 60]], dtype=torch.float64
    )
    gt = torch.tensor([[0, 0, 10, 10]], dtype=torch.float64)
    labels, matched = label_anchors(anchors, gt)
    # IoU 1 and 0.8 >= 0.7 positive, 0.5 ignored, 0.2 and 0 negative
    assert labels.tolist() == [1, 1, -1, 0, 0] and matched.tolist() == [0, 0, -2, -1, -1]
    # IoUs 0.3, 0.375, 0.6, 0.667, 0: the best (0.667 < 0.7) is positive all the same
    small_gt = torch.tensor([[0, 0, 10, 3]], dtype=torch.float64)
    assert label_anchors(anchors, small_gt)[0].tolist() == [-1, -1, -1, 1, 0]
    assert label_anchors(anchors, small_gt, allow_low_quality=False)[0].tolist() == [-1, -1, -1, -1, 0]
    assert label_anchors(anchors, torch.zeros(0, 4, dtype=torch.float64))[0].tolist() == [0] * 5


@pytest.mark.parametrize("n_pos, n_neg", [(10, 500), (300, 500), (0, 40), (5, 3)])
def test_sample_anchors_equals_balanced_sampler(n_pos, n_neg):
    labels = torch.cat([torch.ones(n_pos), torch.zeros(n_neg), -torch.ones(20)]).long()
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]
    torch.manual_seed(3)
    theirs_pos, theirs_neg = BalancedPositiveNegativeSampler(256, 0.5)([labels])
    torch.manual_seed(3)
    pos, neg = sample_anchors(labels)
    assert torch.equal(pos, theirs_pos[0].bool()) and torch.equal(neg, theirs_neg[0].bool())
    assert int(pos.sum()) == min(n_pos, 128) and int(neg.sum()) == min(n_neg, 256 - int(pos.sum()))
    assert not (pos & neg).any() and (labels[pos] == 1).all() and (labels[neg] == 0).all()
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            sample_anchors(labels, generator=g1), sample_anchors(labels, generator=g2), strict=True
        )
    )


@pytest.mark.parametrize(
    "call, arg, error",
    [
        (lambda: base_anchors((32, -1)), "sizes", ValueError),
        (lambda: base_anchors(32), "sizes", TypeError),
        (lambda: anchor_grid((4, 0), 16), "grid_size", ValueError),
        (lambda: anchor_grid((4, 4), 0), "stride", ValueError),
        (lambda: label_anchors(torch.zeros(3, 4), torch.zeros(2, 5)), "gt_boxes", ValueError),
        (
            lambda: label_anchors(torch.zeros(3, 4), torch.zeros(2, 4), fg_iou=0.2, bg_iou=0.3),
            "bg_iou",
            ValueError,
        ),
        (lambda: label_anchors(torch.zeros(3, 4), torch.zeros(2, 4), fg_iou=-0.7), "fg_iou", ValueError),
        (lambda: sample_anchors(torch.zeros(3)), "labels", TypeError),
        (
            lambda: sample_anchors(torch.zeros(3).long(), positive_fraction=1.5),
            "positive_fraction",
            ValueError,
        ),
        (
            lambda: sample_anchors(torch.zeros(3).long(), batch_size_per_image=0),
            "batch_size_per_image",
            ValueError,
        ),
    ],
)
def test_bad_input_names_the_argument(call, arg, error):
    with pytest.raises(error, match=arg):
        call()
