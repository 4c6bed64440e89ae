"""mask_rcnn.py: mask_loss = torchvision's maskrcnn_loss (value, gradient, empty), paste_masks =
paste_masks_in_image (random and degenerate boxes), MaskHead = MaskRCNNHeads + MaskRCNNPredictor
(state dict and outputs), and the RoI slide's 4x6 -> 3x3 worked example computed by hand."""

import math

import pytest
import torch
import torchvision
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.roi_heads import maskrcnn_loss, paste_masks_in_image

from cvcourse.segmentation.mask_rcnn import (
    ROI_EXAMPLE_FEATURES,
    MaskHead,
    mask_loss,
    paste_masks,
    roi_pooling_example,
)

D = torch.float64


def random_boxes(g, n, size, min_side=1.0):
    xy = torch.rand(n, 2, generator=g, dtype=D) * (size - min_side)
    wh = min_side + torch.rand(n, 2, generator=g, dtype=D) * (size - xy - min_side).clamp(min=0)
    return torch.cat([xy, xy + wh], dim=1)


def loss_case(seed, n_images=2, classes=4, m=7, size=20):
    g = torch.Generator().manual_seed(seed)
    proposals, gt_masks, gt_labels, idxs = [], [], [], []
    for i in range(n_images):
        n_gt, n_prop = 1 + i, 3 + 2 * i
        gt_masks.append((torch.rand(n_gt, size, size, generator=g) < 0.5).to(torch.uint8))
        gt_labels.append(torch.randint(1, classes, (n_gt,), generator=g))
        props = random_boxes(g, n_prop, size)
        props[0] = torch.tensor([3.0, 4.0, 3.0, 9.0], dtype=D)  # zero width
        proposals.append(props)
        idxs.append(torch.randint(0, n_gt, (n_prop,), generator=g))
    k = sum(len(p) for p in proposals)
    logits = torch.randn(k, classes, m, m, generator=g, dtype=D, requires_grad=True)
    return logits, proposals, gt_masks, gt_labels, idxs


@pytest.mark.parametrize("seed", range(3))
def test_mask_loss_equals_torchvision(seed):
    logits, *rest = loss_case(seed)
    ours = mask_loss(logits, *rest)
    theirs = maskrcnn_loss(logits, *rest)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    (g1,) = torch.autograd.grad(ours, logits)
    (g2,) = torch.autograd.grad(theirs, logits)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-12)
    # only the ground-truth class's channel gets a gradient
    labels = torch.cat([lab[i] for lab, i in zip(rest[2], rest[3], strict=True)])
    other = torch.ones_like(g1, dtype=torch.bool)
    other[torch.arange(len(labels)), labels] = False
    assert not bool(g1[other].any()) and bool(g1[~other].any())


def test_mask_loss_gradcheck_and_empty():
    logits, *rest = loss_case(5, n_images=1, m=3, size=8)
    assert torch.autograd.gradcheck(lambda z: mask_loss(z, *rest), (logits,))
    empty = torch.zeros(0, 4, 7, 7, dtype=D, requires_grad=True)
    args = (
        [torch.zeros(0, 4, dtype=D)],
        [torch.zeros(1, 8, 8)],
        [torch.tensor([1])],
        [torch.zeros(0, dtype=torch.long)],
    )
    out = mask_loss(empty, *args)
    assert float(out.detach()) == 0.0 and out.requires_grad
    assert torch.equal(out, maskrcnn_loss(empty, *args))


def test_mask_loss_is_the_bce_of_the_roi_aligned_target():
    # one proposal on the ground truth's box; the target is the RoIAligned mask (fractional at its edges)
    mask = torch.zeros(1, 16, 16)
    mask[0, 4:12, 2:10] = 1
    box = torch.tensor([[2.0, 4.0, 10.0, 12.0]], dtype=D)
    target = torchvision.ops.roi_align(mask[:, None].to(D), [box], (8, 8), 1.0)[0, 0]
    logits = torch.zeros(1, 3, 8, 8, dtype=D)
    logits[0, 2] = torch.where(target > 0.5, 20.0, -20.0)
    loss = mask_loss(logits, [box], [mask], [torch.tensor([2])], [torch.tensor([0])])
    bce = -(
        target * torch.log(torch.sigmoid(logits[0, 2]))
        + (1 - target) * torch.log(1 - torch.sigmoid(logits[0, 2]))
    )
    assert math.isclose(float(loss), float(bce.mean()), rel_tol=1e-12)
    # zero logits: BCE = log 2 whatever the target
    zero = mask_loss(torch.zeros_like(logits), [box], [mask], [torch.tensor([2])], [torch.tensor([0])])
    assert math.isclose(float(zero), math.log(2), rel_tol=1e-12)


def test_mask_loss_bad_input():
    logits, *rest = loss_case(0)
    with pytest.raises(ValueError, match="mask_logits"):
        mask_loss(logits[:-1], *rest)
    with pytest.raises(TypeError, match="proposals"):
        mask_loss(logits, rest[0][0], *rest[1:])
    with pytest.raises(ValueError, match="one entry per image"):
        mask_loss(logits, rest[0], rest[1][:1], *rest[2:])
    bad = [i.clone() for i in rest[3]]
    bad[0][0] = 7
    with pytest.raises(ValueError, match="mask_matched_idxs"):
        mask_loss(logits, *rest[:3], bad)


# ---------------------------------------------------------------------------------------- paste
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_paste_masks_equals_torchvision(seed, padding):
    g = torch.Generator().manual_seed(seed)
    H, W = 30, 37
    boxes = random_boxes(g, 12, 30.0) - 3.0  # some cross the top/left border
    boxes[:3, 2:] += 10.0  # some cross the bottom/right border
    masks = torch.rand(12, 1, 28, 28, generator=g, dtype=D)
    ours = paste_masks(masks, boxes, (H, W), padding=padding)
    theirs = paste_masks_in_image(masks, boxes, (H, W), padding=padding)
    assert ours.shape == (12, 1, H, W)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_paste_masks_degenerate_boxes():
    g = torch.Generator().manual_seed(1)
    masks = torch.rand(7, 1, 5, 5, generator=g, dtype=D)
    boxes = torch.tensor(
        [
            [3.0, 3.0, 3.0, 3.0],  # zero area
            [4.0, 4.0, 5.0, 5.0],  # one pixel wide box
            [6.0, 2.0, 6.0, 9.0],  # zero width
            [-3.0, -3.0, -1.0, -1.0],  # just outside the top-left corner (truncation reaches pixel 0)
            [-5.0, -5.0, 30.0, 30.0],  # larger than the image
            [5.0, 5.0, 2.0, 2.0],  # inverted
            [25.0, 2.0, 40.0, 8.0],  # starts at the right border
        ],
        dtype=D,
    )
    torch.testing.assert_close(
        paste_masks(masks, boxes, (20, 24)), paste_masks_in_image(masks, boxes, (20, 24))
    )
    # a box entirely outside: torchvision's slices wrap around and it raises; ours is empty
    for box in ([-20.0, 2.0, -10.0, 8.0], [30.0, 2.0, 40.0, 8.0], [5.0, 30.0, 9.0, 40.0]):
        b = torch.tensor([box], dtype=D)
        with pytest.raises(RuntimeError):
            paste_masks_in_image(masks[:1], b, (20, 24))
        assert not bool(paste_masks(masks[:1], b, (20, 24)).any())
    empty = paste_masks(masks[:0], boxes[:0], (20, 24))
    assert empty.shape == (0, 1, 20, 24)
    assert torch.equal(empty, paste_masks_in_image(masks[:0], boxes[:0], (20, 24)))


def test_paste_masks_bad_input():
    m = torch.rand(2, 1, 5, 5)
    with pytest.raises(ValueError, match="boxes"):
        paste_masks(m, torch.zeros(3, 4), (8, 8))
    with pytest.raises(ValueError, match="masks"):
        paste_masks(m[:, 0], torch.zeros(2, 4), (8, 8))
    with pytest.raises(ValueError, match="image_shape"):
        paste_masks(m, torch.zeros(2, 4), (8,))
    with pytest.raises(ValueError, match="padding"):
        paste_masks(m, torch.zeros(2, 4), (8, 8), padding=-1)


# ------------------------------------------------------------------------------------- MaskHead
def test_mask_head_state_dict_and_outputs_equal_torchvision():
    torch.manual_seed(0)
    ours = MaskHead(8, 5, layers=(16, 12), dim_reduced=10, dilation=2).double()
    heads = MaskRCNNHeads(8, [16, 12], 2).double()
    predictor = MaskRCNNPredictor(12, 10, 5).double()
    expected = {f"heads.{k}" for k in heads.state_dict()} | {f"predictor.{k}" for k in predictor.state_dict()}
    assert set(ours.state_dict()) == expected
    # a strict load of torchvision's two state dicts, under our two attribute names
    ours.load_state_dict(
        {
            **{f"heads.{k}": v for k, v in heads.state_dict().items()},
            **{f"predictor.{k}": v for k, v in predictor.state_dict().items()},
        },
        strict=True,
    )
    x = torch.randn(3, 8, 14, 14, dtype=D)
    out = ours(x)
    assert out.shape == (3, 5, 28, 28)
    torch.testing.assert_close(out, predictor(heads(x)), rtol=0, atol=0)
    labels = torch.tensor([1, 4, 0])
    probs = MaskHead.select(out, labels)
    assert probs.shape == (3, 1, 28, 28)
    torch.testing.assert_close(probs[:, 0], out[torch.arange(3), labels].sigmoid())


def test_mask_head_bad_input():
    with pytest.raises(TypeError, match="num_classes"):
        MaskHead(8, 2.0)
    with pytest.raises(ValueError, match="layers"):
        MaskHead(8, 2, layers=())
    with pytest.raises(ValueError, match="features"):
        MaskHead(8, 2, layers=(4,), dim_reduced=4)(torch.randn(1, 3, 14, 14))


# ------------------------------------------------------------------------------ worked example
def bilinear(x, y, xx):
    """torchvision's bilinear read of map ``x`` at (y, xx), written out for one point."""
    H, W = len(x), len(x[0])
    if y < -1 or y > H or xx < -1 or xx > W:
        return 0.0
    y, xx = max(y, 0.0), max(xx, 0.0)
    y0, x0 = int(y), int(xx)
    if y0 >= H - 1:
        y0, y = H - 1, float(H - 1)
    if x0 >= W - 1:
        x0, xx = W - 1, float(W - 1)
    y1, x1 = min(y0 + 1, H - 1), min(x0 + 1, W - 1)
    ly, lx = y - y0, xx - x0
    return (
        (1 - ly) * (1 - lx) * x[y0][x0]
        + (1 - ly) * lx * x[y0][x1]
        + ly * (1 - lx) * x[y1][x0]
        + ly * lx * x[y1][x1]
    )


def test_roi_worked_example_by_hand():
    ex = roi_pooling_example()
    x = [list(r) for r in ROI_EXAMPLE_FEATURES]
    assert torch.equal(ex["features"], torch.tensor(x, dtype=D))
    # RoIPool: rows floor(p * 4/3) .. ceil((p+1) * 4/3), columns 2p .. 2p + 2, maximum of each bin
    rows = [(math.floor(p * 4 / 3), math.ceil((p + 1) * 4 / 3)) for p in range(3)]
    assert rows == [(0, 2), (1, 3), (2, 4)]  # overlapping bins: row 1 and row 2 are used twice
    pool = [
        [max(x[r][c] for r in range(*rows[p]) for c in range(2 * q, 2 * q + 2)) for q in range(3)]
        for p in range(3)
    ]
    torch.testing.assert_close(ex["roi_pool"], torch.tensor(pool, dtype=D), rtol=0, atol=0)
    # RoIAlign: bins of 4/3 x 2, 2 x 2 samples each at the sub-cell centres, bilinear, averaged
    align = [
        [
            sum(
                bilinear(x, (p + (i + 0.5) / 2) * 4 / 3, (q + (j + 0.5) / 2) * 2)
                for i in range(2)
                for j in range(2)
            )
            / 4
            for q in range(3)
        ]
        for p in range(3)
    ]
    torch.testing.assert_close(ex["roi_align"], torch.tensor(align, dtype=D), rtol=1e-12, atol=1e-12)
    # and both equal torchvision's ops on the same RoI
    t = ex["features"][None, None]
    tv_pool = torchvision.ops.roi_pool(t, torch.tensor([[0, 0, 0, 5, 3]], dtype=D), (3, 3))[0, 0]
    tv_align = torchvision.ops.roi_align(
        t, torch.tensor([[0, 0, 0, 6, 4]], dtype=D), (3, 3), sampling_ratio=2
    )
    torch.testing.assert_close(ex["roi_pool"], tv_pool, rtol=0, atol=0)
    torch.testing.assert_close(ex["roi_align"], tv_align[0, 0], rtol=1e-12, atol=1e-12)
    # RoIAlign averages, RoIPool takes maxima: every pooled value is at least the aligned one here
    assert bool((ex["roi_pool"] >= ex["roi_align"]).all())
    with pytest.raises(ValueError, match="sampling_ratio"):
        roi_pooling_example(0)
