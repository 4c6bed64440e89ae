"""One-stage pieces: k-means anchors against a plain loop and torchvision's IoU, the Tiny YOLOv2 table,
SSD's default boxes against torchvision's DefaultBoxGenerator, hard negative mining against
torchvision's SSD selection, the focal table against torchvision's focal loss, the prior bias."""

import math

import pytest
import torch
import torchvision
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator

from cvcourse.data import ShapesDetection
from cvcourse.detection.one_stage import (
    binary_focal_loss,
    cumulative_loss,
    focal_modulation_table,
    hard_negative_mining,
    kmeans_anchors,
    layer_table,
    mean_best_iou,
    prior_bias,
    ssd_default_boxes,
    ssd_scales,
    tiny_yolov2,
    wh_iou,
    yolo_decode,
)


def centred(wh):
    return torch.cat([-wh / 2, wh / 2], 1)


def training_wh(n=200):
    data = ShapesDetection(n, size=64, seed=0, max_objects=4)
    boxes = torch.cat([data[i][1]["boxes"] for i in range(n)]).double()
    return boxes[:, 2:] - boxes[:, :2]


# ---------------------------------------------------------------------------- wh IoU, k-means
def test_wh_iou_is_torchvision_iou_of_centred_boxes():
    g = torch.Generator().manual_seed(0)
    a, b = (
        torch.rand(30, 2, generator=g, dtype=torch.float64) * 50,
        torch.rand(7, 2, generator=g).double() * 50,
    )
    a[3] = b[2]  # an exact tie: IoU 1
    ours = wh_iou(a, b)
    assert torch.allclose(ours, torchvision.ops.box_iou(centred(a), centred(b)), atol=1e-12)
    assert ours[3, 2] == 1.0


def test_wh_iou_degenerate_and_bad_input():
    zero = torch.zeros(1, 2, dtype=torch.float64)
    assert wh_iou(zero, zero).item() == 0.0  # two empty boxes: 0, not NaN
    line = torch.tensor([[0.0, 5.0]], dtype=torch.float64)
    assert wh_iou(line, torch.tensor([[2.0, 2.0]], dtype=torch.float64)).item() == 0.0
    assert wh_iou(torch.zeros(0, 2), torch.ones(3, 2)).shape == (0, 3)
    with pytest.raises(ValueError, match="wh_a"):
        wh_iou(torch.ones(3, 4), torch.ones(2, 2))
    with pytest.raises(ValueError, match=">= 0"):
        wh_iou(-torch.ones(3, 2), torch.ones(2, 2))
    with pytest.raises(TypeError, match="wh_b"):
        wh_iou(torch.ones(3, 2), [[1.0, 2.0]])


def kmeans_loop(wh, k, iters, seed):
    """The obvious version: Python loops over boxes and centroids."""
    g = torch.Generator().manual_seed(seed)
    cents = [wh[i].clone() for i in torch.randperm(len(wh), generator=g)[:k].tolist()]
    assign = None
    for _ in range(iters):
        new = []
        for box in wh:
            ious = [float(min(box[0], c[0]) * min(box[1], c[1])) for c in cents]
            ious = [i / (float(box.prod()) + float(c.prod()) - i) for i, c in zip(ious, cents, strict=True)]
            new.append(max(range(k), key=lambda j, ious=ious: (ious[j], -j)))
        if new == assign:
            break
        assign = new
        for j in range(k):
            members = [wh[i] for i in range(len(wh)) if assign[i] == j]
            if members:
                cents[j] = torch.stack(members).mean(0)
    cents = torch.stack(cents)
    return cents[cents.prod(1).argsort()]


@pytest.mark.parametrize("k", [1, 5, 9])
def test_kmeans_equals_the_loop(k):
    wh = training_wh(60)
    anchors, mean_iou = kmeans_anchors(wh, k, seed=3)
    assert torch.allclose(anchors, kmeans_loop(wh, k, 300, 3), atol=1e-12)
    assert anchors.shape == (k, 2) and torch.all(anchors.prod(1).diff() >= 0)  # sorted by area
    assert mean_iou == pytest.approx(mean_best_iou(wh, anchors))


def test_kmeans_is_a_fixed_point_and_beats_its_start():
    wh = training_wh()
    for k in (5, 9):
        anchors, mean_iou = kmeans_anchors(wh, k, seed=0)
        start = wh[torch.randperm(len(wh), generator=torch.Generator().manual_seed(0))[:k]]
        assert mean_iou > mean_best_iou(wh, start) + 0.02  # learned anchors fit better than the start
        assign = wh_iou(wh, anchors).argmax(1)
        for j in range(k):  # converged: every centroid is the mean of the boxes closest to it
            assert torch.allclose(anchors[j], wh[assign == j].mean(0), atol=1e-9)
    five, nine = kmeans_anchors(wh, 5)[1], kmeans_anchors(wh, 9)[1]
    assert nine > five  # more anchors, better fit (YOLOv3's 9 vs YOLOv2's 5)


def test_mean_best_iou_by_hand_and_kmeans_errors():
    wh = torch.tensor([[10.0, 10.0], [20.0, 10.0]], dtype=torch.float64)
    anchors = torch.tensor([[10.0, 10.0]], dtype=torch.float64)
    assert mean_best_iou(wh, anchors) == pytest.approx((1.0 + 0.5) / 2)
    with pytest.raises(ValueError, match="at least k=3"):
        kmeans_anchors(wh, 3)
    with pytest.raises(ValueError, match="> 0"):
        kmeans_anchors(torch.tensor([[0.0, 1.0], [2.0, 2.0]]), 1)
    with pytest.raises(TypeError, match="k must be an int"):
        kmeans_anchors(wh, 1.5)
    with pytest.raises(ValueError, match="at least one box"):
        mean_best_iou(torch.zeros(0, 2), anchors)


def test_kmeans_with_identical_boxes_and_k_equal_n():
    same = torch.full((6, 2), 7.0, dtype=torch.float64)
    anchors, mean_iou = kmeans_anchors(same, 2)
    assert mean_iou == 1.0 and torch.all(anchors == 7.0)  # the second centroid keeps its start
    wh = training_wh(3)
    assert kmeans_anchors(wh, len(wh))[1] == pytest.approx(1.0)  # one anchor per box


# ---------------------------------------------------------------------------- the YOLO table
SLIDES = [  # the slides' table: layer, kernel, stride, output (H, W, C)
    ("Input", None, None, (416, 416, 3)),
    *[
        row
        for c, s in ((16, 416), (32, 208), (64, 104), (128, 52), (256, 26))
        for row in (("Convolution", 3, 1, (s, s, c)), ("MaxPooling", 2, 2, (s // 2, s // 2, c)))
    ],
    ("Convolution", 3, 1, (13, 13, 512)),
    ("MaxPooling", 2, 1, (13, 13, 512)),
    ("Convolution", 3, 1, (13, 13, 1024)),
    ("Convolution", 3, 1, (13, 13, 1024)),
    ("Convolution", 1, 1, (13, 13, 125)),
]


def test_tiny_yolov2_regenerates_the_slides_table():
    model = tiny_yolov2()
    rows = layer_table(model, 416)
    assert [(r["layer"], r["kernel"], r["stride"], r["output"]) for r in rows] == SLIDES
    assert sum(r["params"] for r in rows) == sum(p.numel() for p in model.parameters())
    out = model.eval()(torch.zeros(1, 3, 416, 416))  # the real forward, not only the meta copy
    assert out.shape == (1, 125, 13, 13)


def test_stride_one_pool_pads_like_minus_infinity():
    pool = tiny_yolov2().pool6
    x = torch.randn(1, 2, 13, 13, dtype=torch.float64) - 5  # all negative: zero padding would show
    padded = torch.nn.functional.pad(x, (0, 1, 0, 1), value=-math.inf)
    assert torch.equal(pool(x), torch.nn.functional.max_pool2d(padded, 2, 1))


def test_yolo_decode_by_hand():
    out = torch.zeros(2 * 7, 3, 3, dtype=torch.float64)  # 2 anchors, 2 classes, 3 x 3 grid
    out[7 + 2, 1, 2] = math.log(2.0)  # anchor 1 at (y=1, x=2): width doubled
    out[7 + 6, 1, 2] = 10.0  # its class 1 logit
    anchors = torch.tensor([[10.0, 10.0], [20.0, 8.0]], dtype=torch.float64)
    d = yolo_decode(out, anchors, num_classes=2, stride=32)
    assert d["boxes"].shape == (18, 4)
    i = (1 * 3 + 2) * 2 + 1  # cell-major, then anchor
    cx, cy = (0.5 + 2) * 32, (0.5 + 1) * 32
    assert torch.allclose(
        d["boxes"][i], torch.tensor([cx - 20, cy - 4, cx + 20, cy + 4], dtype=torch.float64)
    )
    assert d["labels"][i] == 1 and d["scores"][i] == pytest.approx(
        0.5 * torch.sigmoid(torch.tensor(10.0)).item()
    )
    assert d["scores"][0] == pytest.approx(0.25)  # sigmoid(0) x 1/2
    with pytest.raises(ValueError, match="output"):
        yolo_decode(out[:-1], anchors, num_classes=2)


# ---------------------------------------------------------------------------- SSD
@pytest.mark.parametrize("clip", [True, False])
def test_ssd_default_boxes_equal_torchvision(clip):
    ratios = [[2], [2, 3], [2, 3], [2, 3], [2], [2]]
    sizes = [38, 19, 10, 5, 3, 1]
    scales = ssd_scales(6, 0.2, 0.9)
    ref = DefaultBoxGenerator(ratios, min_ratio=0.2, max_ratio=0.9, clip=clip)
    assert ref.scales == pytest.approx(scales)
    ours = ssd_default_boxes(sizes, scales, ratios, clip=clip)
    theirs = ref._grid_default_boxes([[s, s] for s in sizes], [300, 300], dtype=torch.float64)
    assert ours.shape == theirs.shape == (8732, 4)  # SSD300's famous 8732 boxes
    assert torch.allclose(ours, theirs, atol=1e-12)


def test_ssd_scales_formula_and_errors():
    s = ssd_scales(6)
    assert s[0] == pytest.approx(0.2) and s[5] == pytest.approx(0.9) and s[6] == 1.0
    assert s[1] - s[0] == pytest.approx(0.7 / 5)
    one = ssd_default_boxes([(1, 2)], [0.5, 1.0], [[]])  # a 1 x 2 map, no extra ratios: 2 squares each
    assert one.shape == (4, 4) and one[:, 0].tolist() == [0.25, 0.25, 0.75, 0.75]
    with pytest.raises(ValueError, match="m, m \\+ 1"):
        ssd_default_boxes([3], [0.2], [[2]])
    with pytest.raises(ValueError, match="m must be an int >= 2"):
        ssd_scales(1)


# ---------------------------------------------------------------------------- hard negative mining
def torchvision_selection(losses, labels, ratio):
    """The selection in torchvision's SSDHead.compute_loss, as written there."""
    foreground = labels > 0
    num_negative = ratio * foreground.sum(1, keepdim=True)
    negative_loss = losses.clone()
    negative_loss[foreground] = -float("inf")
    _, idx = negative_loss.sort(1, descending=True)
    background = idx.sort(1)[1] < num_negative
    return foreground | background


def test_hard_negative_mining_equals_torchvision_ssd():
    g = torch.Generator().manual_seed(1)
    losses = torch.rand(4, 50, generator=g, dtype=torch.float64)
    labels = (torch.rand(4, 50, generator=g) < 0.08).long() * 3
    labels[2] = 0  # an image without positives selects nothing
    ours = hard_negative_mining(losses, labels, 3)
    assert torch.equal(ours, torchvision_selection(losses, labels, 3))
    assert ours[2].sum() == 0
    assert torch.equal(ours.sum(1), (labels > 0).sum(1) * 4)


def test_hard_negative_mining_ties_ignored_and_too_few():
    losses = torch.ones(6, dtype=torch.float64)
    labels = torch.tensor([1, 0, 0, -1, 0, 0])
    assert hard_negative_mining(losses, labels, 2).tolist() == [True, True, True, False, False, False]
    assert hard_negative_mining(losses, labels, 10).tolist() == [True, True, True, False, True, True]
    with pytest.raises(ValueError, match="labels"):
        hard_negative_mining(losses, labels[:3])
    with pytest.raises(TypeError, match="labels"):
        hard_negative_mining(losses, labels.double())


# ---------------------------------------------------------------------------- focal numbers
def test_focal_table_of_the_notes_and_torchvision():
    table = focal_modulation_table([0.9, 0.6, 0.4, 0.1], gamma=2)
    assert torch.allclose(table, torch.tensor([0.01, 0.16, 0.36, 0.81], dtype=torch.float64))
    logits = torch.linspace(-6, 6, 41, dtype=torch.float64)
    for y in (0.0, 1.0):
        target = torch.full_like(logits, y)
        focal = torchvision.ops.sigmoid_focal_loss(logits, target, alpha=-1, gamma=2.0)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
        p = torch.sigmoid(logits)
        p_t = p if y == 1 else 1 - p
        assert torch.allclose(focal / bce, focal_modulation_table(p_t, 2.0), atol=1e-10)
        assert torch.allclose(binary_focal_loss(p_t, 2.0), focal, atol=1e-10)
        alpha_t = 0.25 if y == 1 else 0.75
        weighted = torchvision.ops.sigmoid_focal_loss(logits, target, alpha=0.25, gamma=2.0)
        assert torch.allclose(binary_focal_loss(p_t, 2.0, alpha_t), weighted, atol=1e-10)
    assert torch.equal(focal_modulation_table([0.3], 0.0), torch.ones(1, dtype=torch.float64))
    with pytest.raises(ValueError, match="p_t"):
        focal_modulation_table([1.5])


def test_prior_bias():
    assert prior_bias(0.01) == pytest.approx(-4.595, abs=1e-3) and round(prior_bias(0.01), 1) == -4.6
    assert prior_bias(0.5) == 0.0
    assert prior_bias(0.2) == pytest.approx(torch.logit(torch.tensor(0.2, dtype=torch.float64)).item())
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="psi"):
            prior_bias(bad)


def test_cumulative_loss():
    frac, share = cumulative_loss(torch.tensor([3.0, 1.0, 0.0, 4.0], dtype=torch.float64))
    assert frac.tolist() == [0.25, 0.5, 0.75, 1.0] and share.tolist() == [0.0, 0.125, 0.5, 1.0]
    with pytest.raises(ValueError, match="positive sum"):
        cumulative_loss(torch.zeros(3))
