"""centernet.py: targets, Gaussian radius, heatmap focal loss, peaks and decoding against plain loops
and hand-worked cases (float64); the model's interface, overfitting, the shipped weights, bad input."""

import math

import pytest
import torch
import torchvision

from cvcourse.data import ShapesDetection
from cvcourse.detection.boxes import box_iou
from cvcourse.detection.centernet import (
    TRAINING,
    CenterNet,
    centernet_targets,
    decode_centernet,
    draw_gaussian,
    extract_peaks,
    gaussian_radius,
    gaussian_radius_exact,
    heatmap_focal_loss,
)

D = torch.float64
STRIDE, CELLS = 4, 16  # 64-pixel images, 16 x 16 maps


def roundtrip(boxes, labels, num_classes=5, cells=CELLS, dtype=D):
    target = {"boxes": torch.as_tensor(boxes, dtype=dtype).reshape(-1, 4), "labels": torch.as_tensor(labels)}
    enc = centernet_targets(target, num_classes, cells, STRIDE)
    dec = decode_centernet(enc["heatmap"], enc["size_map"], enc["offset_map"], STRIDE, k=1000)
    return target, enc, dec


def as_rows(boxes, labels):
    """(label, x1, y1, x2, y2) rows sorted, to compare detections with targets in any order."""
    rows = torch.cat([labels[:, None].to(boxes.dtype), boxes], dim=1)
    return rows[torch.argsort(rows[:, 1] * 1e6 + rows[:, 2] * 1e3 + rows[:, 0])]


def assert_recovers(target, dec, atol=1e-4):
    assert len(dec["boxes"]) == len(target["boxes"])
    torch.testing.assert_close(
        as_rows(dec["boxes"], dec["labels"]), as_rows(target["boxes"], target["labels"]), atol=atol, rtol=0
    )
    assert bool((dec["scores"] == 1).all()) and dec["labels"].dtype == torch.int64


# --- decode(encode(targets)) ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_roundtrip_on_dataset_scenes(dtype):
    data = ShapesDetection(60, seed=3)
    for i in range(len(data)):
        t = data[i][1]
        target, enc, dec = roundtrip(t["boxes"], t["labels"], dtype=dtype)
        if bool(enc["mask"].all()):  # no same-class collision: every box comes back
            assert_recovers(target, dec)


def test_roundtrip_random_float_boxes():
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        n = int(torch.randint(1, 12, (), generator=g))
        xy = torch.rand(n, 2, generator=g, dtype=D) * 60
        wh = torch.rand(n, 2, generator=g, dtype=D) * (64 - xy)
        boxes = torch.cat([xy, xy + wh], dim=1)
        labels = torch.randint(1, 6, (n,), generator=g)
        target, enc, dec = roundtrip(boxes, labels)
        kept = enc["mask"]
        assert_recovers({"boxes": boxes[kept], "labels": labels[kept]}, dec)


def test_roundtrip_degenerate_cases():
    # single-pixel objects, one in each corner and one in the middle
    pixels = [[0, 0, 1, 1], [63, 0, 64, 1], [0, 63, 1, 64], [63, 63, 64, 64], [31, 32, 32, 33]]
    assert_recovers(*roundtrip(pixels, [1, 2, 3, 4, 5])[::2])
    # touching the border, the whole image, and zero-area boxes on the far border (centre cell 15,
    # offset exactly 1: the clamp keeps them inside the map)
    border = [[0, 10, 20, 30], [40, 0, 64, 9], [0, 0, 64, 64], [64, 64, 64, 64], [64, 20, 64, 40]]
    target, enc, dec = roundtrip(border, [1, 2, 3, 4, 5])
    assert_recovers(target, dec)
    assert int(enc["xs"].max()) == CELLS - 1 and float(enc["offset"].max()) == 1.0
    # two objects of different classes centred in the same cell (here on the same point): both kept
    same_cell = [[10, 10, 30, 30], [15, 16, 25, 24], [18, 18, 22, 23]]
    target, enc, dec = roundtrip(same_cell, [1, 2, 3])
    assert len(set(zip(enc["ys"].tolist(), enc["xs"].tolist(), strict=True))) == 1
    assert_recovers(target, dec)
    # many objects: one per cell and class over the whole map
    ys, xs = torch.meshgrid(torch.arange(CELLS), torch.arange(CELLS), indexing="ij")
    centres = torch.stack([xs.flatten(), ys.flatten()], 1).to(D) * STRIDE + 1.5
    many = torch.cat([centres - 1.5, centres + 1.5], 1).repeat(2, 1)
    labels = torch.cat([torch.full((CELLS**2,), 2), torch.full((CELLS**2,), 5)])
    assert_recovers(*roundtrip(many, labels)[::2])
    # no objects: an empty heatmap and no detections
    target, enc, dec = roundtrip(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    assert float(enc["heatmap"].max()) == 0 and len(dec["boxes"]) == 0


def test_same_class_same_cell_collision_keeps_the_first():
    boxes = [[10, 10, 30, 30], [13, 14, 29, 27]]  # centres (20, 20) and (21, 20.5): cell (5, 5) twice
    target, enc, dec = roundtrip(boxes, [3, 3])
    assert enc["mask"].tolist() == [True, False]
    assert_recovers({"boxes": target["boxes"][:1], "labels": target["labels"][:1]}, dec)


def test_targets_follow_the_notes_definitions():
    box = torch.tensor([[9.0, 21.0, 30.0, 38.0]], dtype=D)
    enc = centernet_targets({"boxes": box, "labels": torch.tensor([4])}, 5, (16, 16), 4)
    cx, cy = (9 + 30) / 2 / 4, (21 + 38) / 2 / 4  # the centre in cells: 4.875, 7.375
    assert (int(enc["xs"]), int(enc["ys"]), int(enc["classes"])) == (math.floor(cx), math.floor(cy), 3)
    torch.testing.assert_close(enc["offset"][0], torch.tensor([cx - 4, cy - 7], dtype=D))
    torch.testing.assert_close(enc["size"][0], torch.tensor([21 / 4, 17 / 4], dtype=D))
    assert int(enc["radius"]) == int(gaussian_radius(17 / 4, 21 / 4))
    heat = enc["heatmap"]
    assert float(heat[3, 7, 4]) == 1.0 and int((heat == 1).sum()) == 1  # one centre, in class 4's map
    assert float(heat[[0, 1, 2, 4]].abs().max()) == 0


# --- Gaussian radius and drawing ------------------------------------------------------------------


def test_gaussian_radius_hand_computed():
    # a 5 x 5 cell box, o = 0.7; the three quadratics of CornerNet's code, worked by hand:
    #   case 1: b = 10, c = 25 (0.3 / 1.7)         -> (10 + sqrt(100 - 4 * 25 * 0.3 / 1.7)) / 2
    #   case 2: a = 4, b = 20, c = 0.3 * 25 = 7.5  -> (20 + sqrt(400 - 16 * 7.5)) / 2
    #   case 3: a = 2.8, b = -14, c = -7.5         -> (-14 + sqrt(196 + 4 * 2.8 * 7.5)) / 2 = the minimum
    r1 = (10 + math.sqrt(100 - 4 * 25 * 0.3 / 1.7)) / 2
    r2 = (20 + math.sqrt(400 - 16 * 7.5)) / 2
    r3 = (-14 + math.sqrt(196 + 4 * 2.8 * 7.5)) / 2
    assert r3 < r1 and r3 < r2
    assert gaussian_radius(5, 5, 0.7) == pytest.approx(r3, abs=1e-12)
    # the exact roots divide by 2a and take the smaller root: case 2 is the minimum here
    assert gaussian_radius_exact(5, 5, 0.7) == pytest.approx((20 - math.sqrt(400 - 16 * 7.5)) / 8, abs=1e-12)
    assert gaussian_radius(0, 0) == 0 and gaussian_radius_exact(0, 7) == 0


@pytest.mark.parametrize("h, w", [(5, 5), (2.5, 7.75), (1, 1), (8, 3), (30, 12)])
@pytest.mark.parametrize("o", [0.5, 0.7, 0.9])
def test_exact_radius_is_where_the_worst_iou_reaches_min_overlap(h, w, o):
    r = gaussian_radius_exact(h, w, o)
    box = torch.tensor([[0.0, 0.0, w, h]], dtype=D)

    def worst_iou(r):
        moved = torch.tensor(
            [[r, r, w + r, h + r], [r, r, w - r, h - r], [-r, -r, w + r, h + r]], dtype=D
        )  # the three cases: shifted, shrunk, grown
        return float(box_iou(box, moved).min())

    assert worst_iou(r) == pytest.approx(o, abs=1e-9)
    assert worst_iou(0.99 * r) > o > worst_iou(1.01 * r)
    assert gaussian_radius(h, w, o) >= r  # CornerNet's code gives a larger radius


def test_draw_gaussian_equals_the_formula_and_max_merges():
    heat = torch.zeros(16, 16, dtype=D)
    draw_gaussian(heat, (3, 5), 2)
    sigma = 5 / 6
    expected = torch.zeros(16, 16, dtype=D)
    for y in range(16):
        for x in range(16):
            if abs(x - 3) <= 2 and abs(y - 5) <= 2:
                expected[y, x] = math.exp(-((x - 3) ** 2 + (y - 5) ** 2) / (2 * sigma**2))
    torch.testing.assert_close(heat, expected, atol=1e-15, rtol=0)
    # a second object nearby: the maximum of the two, both peaks stay at 1
    other = torch.zeros(16, 16, dtype=D)
    draw_gaussian(other, (5, 6), 3)
    draw_gaussian(heat, (5, 6), 3)
    torch.testing.assert_close(heat, torch.maximum(expected, other))
    assert float(heat[5, 3]) == 1 and float(heat[6, 5]) == 1
    # at a corner the window is cut; radius 0 marks only the centre
    corner = draw_gaussian(torch.zeros(4, 4, dtype=D), (0, 0), 2)
    torch.testing.assert_close(corner[:3, :3], expected[5:8, 3:6])  # the lower-right quarter
    assert float(corner[3].abs().max()) == 0
    single = draw_gaussian(torch.zeros(4, 4, dtype=D), (3, 1), 0)
    assert float(single.sum()) == 1 and float(single[1, 3]) == 1


# --- heatmap focal loss ---------------------------------------------------------------------------


def focal_loop(logits, gt, alpha=2.0, beta=4.0):
    """The paper's Eq. 1, one pixel at a time."""
    total, n = 0.0, 0
    for z, y in zip(logits.flatten().tolist(), gt.flatten().tolist(), strict=True):
        p = 1 / (1 + math.exp(-z))
        if y == 1:
            total += (1 - p) ** alpha * math.log(p)
            n += 1
        else:
            total += (1 - y) ** beta * p**alpha * math.log(1 - p)
    return -total / max(n, 1)


def random_heatmaps(seed=0, n=2):
    g = torch.Generator().manual_seed(seed)
    data = ShapesDetection(n, seed=seed)
    gt = torch.stack([centernet_targets(data[i][1], 5, CELLS, STRIDE)["heatmap"].to(D) for i in range(n)])
    return torch.randn(gt.shape, generator=g, dtype=D) * 3, gt


@pytest.mark.parametrize("alpha, beta", [(2, 4), (0, 0), (1.5, 2), (3, 1)])
def test_focal_loss_equals_the_loop(alpha, beta):
    logits, gt = random_heatmaps(seed=int(2 * alpha + beta))
    assert heatmap_focal_loss(logits, gt, alpha, beta).item() == pytest.approx(
        focal_loop(logits, gt, alpha, beta), rel=1e-12
    )


def test_focal_loss_edge_cases_and_gradient():
    logits, gt = random_heatmaps()
    # no objects: finite, and the negatives' sum (N counted as 1)
    empty = torch.zeros_like(gt)
    loss = heatmap_focal_loss(logits, empty)
    assert math.isfinite(loss.item()) and loss.item() == pytest.approx(focal_loop(logits, empty), rel=1e-12)
    # a perfect prediction: very sure at the centres, very sure "no" everywhere else -> ~0
    perfect = torch.where(gt == 1, 30.0, -30.0).to(D)
    assert 0 <= heatmap_focal_loss(perfect, gt).item() < 1e-10
    # saturated logits stay finite (logs on the logits, no clamp)
    assert math.isfinite(heatmap_focal_loss(-perfect * 10, gt).item())
    # near a centre a false alarm costs less than far away: the (1 - Y)^beta factor
    one = draw_gaussian(torch.zeros(1, 9, 9, dtype=D)[0], (4, 4), 2)[None]
    near, far = torch.full_like(one, -30.0), torch.full_like(one, -30.0)
    near[0, 4, 4] = far[0, 4, 4] = 30.0
    near[0, 4, 5], far[0, 8, 8] = 0.0, 0.0  # one unsure pixel: next to the centre, or far from it
    assert 0 < one[0, 4, 5] < 1 and one[0, 8, 8] == 0
    ratio = heatmap_focal_loss(near, one) / heatmap_focal_loss(far, one)
    assert ratio.item() == pytest.approx((1 - one[0, 4, 5].item()) ** 4, rel=1e-9)
    small = logits[:1, :2, :5, :5].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: heatmap_focal_loss(t, gt[:1, :2, :5, :5]), (small,))


# --- peaks and decoding ---------------------------------------------------------------------------


def peaks_loop(heat, kernel):
    """Every pixel equal to the maximum of its kernel x kernel neighbourhood (cut at the borders)."""
    r = kernel // 2
    found = []
    channels, height, width = heat.shape
    for c in range(channels):
        for y in range(height):
            for x in range(width):
                window = heat[c, max(y - r, 0) : y + r + 1, max(x - r, 0) : x + r + 1]
                if heat[c, y, x] == window.max():
                    found.append((-float(heat[c, y, x]), c, y, x))
    return sorted(found)


@pytest.mark.parametrize("kernel", [1, 3, 5])
@pytest.mark.parametrize("levels", [None, 4])  # continuous values, or 4 levels: many ties
def test_extract_peaks_equals_brute_force(kernel, levels):
    g = torch.Generator().manual_seed(kernel)
    heat = torch.rand(3, 9, 11, generator=g, dtype=D)
    if levels:
        heat = (heat * levels).floor() / levels
    expected = peaks_loop(heat, kernel)
    for k in (1, 7, 1000):
        p = extract_peaks(heat, k=k, kernel=kernel)
        got = list(zip((-p.scores).tolist(), p.channels.tolist(), p.ys.tolist(), p.xs.tolist(), strict=True))
        assert got == expected[:k]


def test_two_nearby_objects_both_survive_without_nms():
    # same class, centres in neighbouring cells (y = 20 and 24 px), boxes overlapping with IoU 0.71
    boxes = torch.tensor([[8.0, 8.0, 32.0, 32.0], [8.0, 12.0, 32.0, 36.0]], dtype=D)
    assert float(box_iou(boxes[:1], boxes[1:])) > 0.7
    target, enc, dec = roundtrip(boxes, [2, 2])
    assert enc["xs"].tolist() == [5, 5] and enc["ys"].tolist() == [5, 6]
    peaks = extract_peaks(enc["heatmap"], k=10)
    assert peaks.scores[:2].tolist() == [1.0, 1.0] and float(peaks.scores[2]) == 0  # the rest: empty cells
    assert_recovers(target, dec)
    # greedy NMS at IoU 0.5 would have kept only one of them
    assert len(torchvision.ops.nms(dec["boxes"], torch.tensor([0.9, 0.8], dtype=D), 0.5)) == 1


def test_decode_reads_the_class_maps_and_thresholds():
    heat = torch.zeros(2, 4, 4, dtype=D)
    heat[1, 2, 3], heat[0, 0, 0] = 0.8, 0.3
    size, offset = torch.zeros(2, 2, 4, 4, dtype=D), torch.zeros(2, 2, 4, 4, dtype=D)
    size[1, :, 2, 3], offset[1, :, 2, 3] = torch.tensor([2.0, 1.0]), torch.tensor([0.5, 0.25])
    out = decode_centernet(heat, size, offset, 8, score_threshold=0.5)
    # centre = 8 ((3, 2) + (0.5, 0.25)) = (28, 18); half size = 8 (2, 1) / 2 = (8, 4)
    torch.testing.assert_close(out["boxes"], torch.tensor([[20.0, 14.0, 36.0, 22.0]], dtype=D))
    assert out["labels"].tolist() == [2] and out["scores"].tolist() == [0.8]
    assert len(decode_centernet(heat, size, offset, 8, k=1)["boxes"]) == 1


def test_a_negative_predicted_size_decodes_to_a_zero_size_box_never_x2_below_x1():
    heat = torch.zeros(1, 4, 4, dtype=D)
    heat[0, 1, 1] = 0.9
    size, offset = torch.zeros(1, 2, 4, 4, dtype=D), torch.zeros(1, 2, 4, 4, dtype=D)
    size[0, :, 1, 1] = torch.tensor([-2.0, 1.0])  # an under-trained size head: negative width
    box = decode_centernet(heat, size, offset, 8)["boxes"][0]
    torch.testing.assert_close(box, torch.tensor([8.0, 4.0, 8.0, 12.0], dtype=D))  # width 0, height 8
    assert box[2] >= box[0] and box[3] >= box[1]


# --- the model ------------------------------------------------------------------------------------


def scenes(n, seed):
    data = ShapesDetection(n, seed=seed)
    images = torch.stack([data[i][0] for i in range(n)])
    return images, [{"boxes": data[i][1]["boxes"], "labels": data[i][1]["labels"]} for i in range(n)]


def test_model_interface():
    torch.manual_seed(0)
    model = CenterNet()
    assert type(model)(**model.config).config == model.config
    assert sum(p.numel() for p in model.parameters()) <= 1.5e6
    assert set(TRAINING) >= {"epochs", "lr", "batch_size", "train_scenes", "weight_decay"}
    images, targets = scenes(3, seed=5)
    out = model(images)
    assert out["heatmap"].shape == (3, 5, 16, 16)
    assert out["size"].shape == out["offset"].shape == (3, 5, 2, 16, 16)
    # the prior bias: every pixel starts near sigma(-2.19) = 0.1
    torch.testing.assert_close(model.heatmap[-1].bias, torch.full((5,), -2.19))
    losses = model.loss(images, targets)
    assert set(losses) == {"loss", "heatmap", "size", "offset"}
    total = losses["heatmap"] + 0.1 * losses["size"] + losses["offset"]
    torch.testing.assert_close(losses["loss"], total)
    losses["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    preds = model.predict(images, score_threshold=0.0)
    assert len(preds) == 3
    for p in preds:
        assert p["boxes"].shape == (len(p["scores"]), 4) and len(p["scores"]) <= 100
        assert p["labels"].dtype == torch.int64 and bool(((p["labels"] >= 1) & (p["labels"] <= 5)).all())
        assert float(p["boxes"].min()) >= 0 and float(p["boxes"].max()) <= 64
        assert bool((p["scores"][:-1] >= p["scores"][1:]).all())
    # nms is ignored (documented): the same detections either way
    for a, b in zip(model.predict(images, nms=False), model.predict(images, nms=True), strict=True):
        torch.testing.assert_close(a, b)
    view = model.inspect(images)
    assert view["heatmap"].shape == (5, 16, 16) and view["stride"] == 4
    with torch.no_grad():
        torch.testing.assert_close(view["heatmap"], model(images[:1])["heatmap"][0].sigmoid())
    torch.testing.assert_close(view["peaks"].scores, extract_peaks(view["heatmap"]).scores)


def test_overfits_a_handful_of_scenes():
    from cvcourse.detection.coco import coco_map
    from cvcourse.detection.training import train_detector

    torch.manual_seed(0)
    model = CenterNet()
    train_detector(
        model, epochs=120, lr=3e-3, batch_size=8, train_scenes=8, seed=1, device="cpu",
        progress=False, hflip=False, warmup=0.1,
    )  # fmt: skip
    images, targets = scenes(8, seed=1)  # the same scenes train_detector rendered
    result = coco_map(model.predict(images), targets)
    assert result["map_50"] >= 0.9, result["map_50"]


def test_shipped_centernet_loads_and_scores_as_recorded():
    from cvcourse.detection.pretrained import INFO_KEYS, load_shapes_detector
    from cvcourse.detection.training import VAL_SEED, evaluate_detector
    from cvcourse.runtime import data_dir

    assert (data_dir() / "centernet_shapes.pt").stat().st_size <= 5 * 2**20
    model, info = load_shapes_detector("centernet")
    assert isinstance(model, CenterNet) and not model.training and model.config == CenterNet().config
    assert set(INFO_KEYS) <= set(info)
    assert (info["image_size"], info["max_objects"], info["val_seed"]) == (64, 4, VAL_SEED)
    assert info["map_50"] >= 0.5 and info["params"] == sum(p.numel() for p in model.parameters())
    # the recorded numbers are what this file scores on the same 500 unseen scenes
    scores = evaluate_detector(model, ShapesDetection(info["val_scenes"], seed=VAL_SEED, max_objects=4))
    for key in ("map", "map_50", "map_75"):
        assert scores[key] == pytest.approx(info[key], abs=5e-3), key


# --- bad input ------------------------------------------------------------------------------------

BOX = {"boxes": torch.tensor([[1.0, 2.0, 9.0, 9.0]]), "labels": torch.tensor([1])}
OUTSIDE = {**BOX, "boxes": torch.tensor([[0.0, 0, 65, 9]])}
FLIPPED = {**BOX, "boxes": torch.tensor([[5.0, 0, 4, 9]])}
Z3, Z4 = torch.zeros(2, 4, 4), torch.zeros(2, 2, 4, 4)
IMAGE = torch.zeros(1, 3, 64, 64)


@pytest.mark.parametrize(
    "call, arg, error",
    [
        (lambda: gaussian_radius(-1, 3), "height", ValueError),
        (lambda: gaussian_radius(3, "3"), "width", TypeError),
        (lambda: gaussian_radius(3, 3, 1.0), "min_overlap", ValueError),
        (lambda: draw_gaussian(torch.zeros(4), (0, 0), 1), "heatmap", ValueError),
        (lambda: draw_gaussian(torch.zeros(4, 4), (4, 0), 1), r"center\[0\]", ValueError),
        (lambda: draw_gaussian(torch.zeros(4, 4), (0, 0), 1.5), "radius", TypeError),
        (lambda: centernet_targets([BOX], 5, 16, 4), "targets", TypeError),
        (lambda: centernet_targets({"boxes": BOX["boxes"]}, 5, 16, 4), "labels", ValueError),
        (lambda: centernet_targets({**BOX, "labels": torch.tensor([6])}, 5, 16, 4), "labels", ValueError),
        (lambda: centernet_targets(OUTSIDE, 5, 16, 4), "inside", ValueError),
        (lambda: centernet_targets(FLIPPED, 5, 16, 4), "boxes", ValueError),
        (lambda: centernet_targets(BOX, 5, (16,), 4), "output_size", ValueError),
        (lambda: centernet_targets(BOX, 5, 16, 0), "stride", ValueError),
        (lambda: heatmap_focal_loss(torch.zeros(2, 3), torch.zeros(3, 2)), "gt", ValueError),
        (lambda: heatmap_focal_loss(torch.zeros(3), torch.full((3,), 2.0)), "gt", ValueError),
        (lambda: heatmap_focal_loss(torch.zeros(3), torch.zeros(3), beta=-1), "beta", ValueError),
        (lambda: heatmap_focal_loss(torch.zeros(3, dtype=torch.long), torch.zeros(3)), "pred", TypeError),
        (lambda: extract_peaks(torch.zeros(4, 4)), "heatmap", ValueError),
        (lambda: extract_peaks(torch.zeros(1, 4, 4), kernel=2), "kernel", ValueError),
        (lambda: extract_peaks(torch.zeros(1, 4, 4), k=0), "k", ValueError),
        (lambda: decode_centernet(Z3, torch.zeros(2, 2, 4, 5), Z4, 4), "size", ValueError),
        (lambda: decode_centernet(Z3, Z4, torch.zeros(2, 2, 4), 4), "offset", ValueError),
        (lambda: CenterNet(image_size=40), "image_size", ValueError),
        (lambda: CenterNet(num_classes=0), "num_classes", ValueError),
        (lambda: CenterNet()(torch.zeros(1, 3, 40, 64)), "images", ValueError),
        (lambda: CenterNet()(torch.zeros(1, 1, 64, 64)), "images", ValueError),
        (lambda: CenterNet().loss(torch.zeros(2, 3, 64, 64), [BOX]), "targets", ValueError),
        (lambda: CenterNet().predict(IMAGE, score_threshold=2.0), "score_threshold", ValueError),
    ],
)  # fmt: skip
def test_bad_input_names_the_argument(call, arg, error):
    with pytest.raises(error, match=arg):
        call()
