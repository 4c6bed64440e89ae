"""small_mask_rcnn.py: the model's contract (torchvision's MaskRCNN outputs, losses, bad config), mask AP
equal to pycocotools' COCOeval in segm mode (random, tied, single-pixel, empty masks, empty images,
no detections at all), bad inputs, a short run overfitting a few scenes, and the shipped model."""

import contextlib
import io

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from cvcourse.data import ShapesSegmentation
from cvcourse.runtime import data_dir
from cvcourse.segmentation.small_mask_rcnn import (
    FILE_NAME,
    LOSS_NAMES,
    NUM_CLASSES,
    VAL_SEED,
    build_shapes_mask_rcnn,
    evaluate_mask_rcnn,
    load_shapes_mask_rcnn,
    mask_average_precision,
    predict_masks,
    train_mask_rcnn,
)

MASK_AP_FLOOR = 0.5  # the shipped mask AP on 500 unseen scenes is 0.545 (data/README.md)
STATS = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large"]


# ------------------------------------------------------------------------------ the authority
def pycocotools_segm(preds, targets, threshold=0.5):
    """COCOeval(..., "segm") on the same masks as RLE; the result set is built as loadRes builds it
    (area and bbox from the RLE, ids from 1), so that an empty result set works too."""
    labels = sorted({int(c) for d in preds + targets for c in d["labels"]})

    def rle(mask):
        return mask_utils.encode(np.asfortranarray(mask.numpy().astype(np.uint8)))

    images = [
        {"id": i, "height": t["masks"].shape[-2], "width": t["masks"].shape[-1]}
        for i, t in enumerate(targets)
    ]
    gt = {"images": images, "categories": [{"id": c} for c in labels]}
    gt["annotations"] = []
    for i, t in enumerate(targets):
        for m, c in zip(t["masks"], t["labels"].tolist(), strict=True):
            r = rle(m.bool())
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": i,
                    "category_id": c,
                    "segmentation": r,
                    "area": float(mask_utils.area(r)),
                    "bbox": mask_utils.toBbox(r).tolist(),
                    "iscrowd": 0,
                }
            )
    dt = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
    for i, p in enumerate(preds):
        masks = p["masks"][:, 0] if p["masks"].dim() == 4 else p["masks"]
        for m, s, c in zip(masks, p["scores"].tolist(), p["labels"].tolist(), strict=True):
            r = rle(m if m.dtype == torch.bool else m > threshold)
            dt["annotations"].append(
                {
                    "id": len(dt["annotations"]) + 1,
                    "image_id": i,
                    "category_id": c,
                    "segmentation": r,
                    "area": float(mask_utils.area(r)),
                    "bbox": mask_utils.toBbox(r).tolist(),
                    "score": s,
                    "iscrowd": 0,
                }
            )
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt, coco_dt = COCO(), COCO()
        coco_gt.dataset, coco_dt.dataset = gt, dt
        coco_gt.createIndex()
        coco_dt.createIndex()
        e = COCOeval(coco_gt, coco_dt, "segm")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e


def rect(h, w, y0, x0, y1, x1):
    m = torch.zeros(h, w, dtype=torch.bool)
    m[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
    return m


def make_masks(n_images=24, seed=0, classes=(1, 2, 5), tied=False, size=(110, 100)):
    """Ground-truth masks of every COCO area range (small < 32², medium, large > 96² pixels; holes
    punched in some), detections jittered from them (shifted, pixels flipped), duplicates, false
    positives, single-pixel and empty masks; images without ground truth and without detections."""
    rng = np.random.default_rng(seed)
    H, W = size
    preds, targets = [], []
    for i in range(n_images):
        m = 0 if i % 7 == 3 else int(rng.integers(1, 6))
        gts, labels = [], rng.choice(classes, m)
        for _ in range(m):
            side = rng.choice([4, 40, 99])
            h, w = (max(1, int(side * f)) for f in rng.uniform(0.5, 1.1, 2))
            y0, x0 = int(rng.integers(0, max(H - h, 1))), int(rng.integers(0, max(W - w, 1)))
            g = rect(H, W, y0, x0, y0 + h, x0 + w)
            if rng.random() < 0.3:
                g &= torch.from_numpy(rng.random((H, W)) < 0.8)
            gts.append(g)
        if i % 6 == 2 and m:  # a single-pixel ground truth
            gts[0] = rect(H, W, 5, 7, 6, 8)
        if i % 6 == 4 and m:  # a large one (> 96² pixels)
            gts[-1] = rect(H, W, 2, 2, H - 4, W - 2)
        dets, det_labels = [], []
        for g, c in zip(gts, labels, strict=True):
            if rng.random() < 0.8:
                d = torch.roll(g, shifts=tuple(int(s) for s in rng.integers(-3, 4, 2)), dims=(0, 1))
                d ^= torch.from_numpy(rng.random((H, W)) < 0.01)
                dets.append(d)
                det_labels.append(c)
        dets += gts[:2]  # duplicates
        det_labels += list(labels[:2])
        for _ in range(0 if i % 5 == 1 else int(rng.integers(0, 4))):  # false positives
            y0, x0 = (int(v) for v in rng.integers(0, 80, 2))
            dets.append(rect(H, W, y0, x0, y0 + int(rng.integers(1, 30)), x0 + int(rng.integers(1, 30))))
            det_labels.append(rng.choice(classes))
        if i % 4 == 0:
            dets.append(rect(H, W, 5, 7, 6, 8))  # a single pixel
            dets.append(torch.zeros(H, W, dtype=torch.bool))  # an empty mask
            det_labels += [classes[0], classes[-1]]
        if i % 7 == 5:
            dets, det_labels = [], []
        scores = rng.random(len(dets))
        if tied:
            scores = scores.round(1)
        probs = torch.stack(dets).double() * 0.6 + 0.2 if dets else torch.zeros(0, H, W, dtype=torch.float64)
        preds.append(
            {
                "masks": probs[:, None],  # probabilities [N, 1, H, W], as torchvision's output
                "scores": torch.tensor(scores),
                "labels": torch.tensor(det_labels, dtype=torch.int64),
            }
        )
        targets.append(
            {
                "masks": torch.stack(gts).to(torch.uint8) if gts else torch.zeros(0, H, W, dtype=torch.uint8),
                "labels": torch.tensor(labels, dtype=torch.int64),
            }
        )
    return preds, targets


def assert_same(ours, e):
    np.testing.assert_allclose([ours[k] for k in STATS], e.stats[:6], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["precision"], e.eval["precision"][:, :, :, 0, -1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["mar_100"], e.stats[8], rtol=0, atol=1e-12)
    for k, c in enumerate(e.params.catIds):
        p = e.eval["precision"][:, :, k, 0, -1]
        p = p[p > -1]
        assert ours["map_per_class"][c] == pytest.approx(p.mean() if p.size else -1.0, abs=1e-12)


# ------------------------------------------------------------------------------ mask AP
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"seed": 1, "tied": True}, {"seed": 2, "classes": (3,)}, {"seed": 3, "n_images": 3}],
)
def test_mask_ap_equals_pycocotools(kwargs):
    preds, targets = make_masks(**kwargs)
    ours = mask_average_precision(preds, targets)
    e = pycocotools_segm(preds, targets)
    assert_same(ours, e)
    assert 0.0 < ours["map"] < 1.0  # neither trivial nor perfect
    if kwargs.get("n_images", 24) == 24:  # many images: every area range is exercised
        assert all(ours[k] > -1 for k in STATS[3:]), {k: ours[k] for k in STATS}


def test_mask_ap_bool_masks_equal_thresholded_probabilities():
    preds, targets = make_masks(10, seed=4)
    as_bool = [{**p, "masks": p["masks"][:, 0] > 0.5} for p in preds]
    a, b = mask_average_precision(preds, targets), mask_average_precision(as_bool, targets)
    assert a["map"] == b["map"] and a["map"] > 0


def test_mask_ap_degenerate_cases_like_pycocotools():
    preds, targets = make_masks(8, seed=5)
    nothing = [{"masks": p["masks"][:0], "scores": p["scores"][:0], "labels": p["labels"][:0]} for p in preds]
    e = pycocotools_segm(nothing, targets)
    assert_same(mask_average_precision(nothing, targets), e)
    assert e.stats[0] == 0.0  # no detections: AP 0 where there is ground truth
    # an image holding nothing at all, alone, and next to others
    empty_t = {"masks": torch.zeros(0, 9, 9, dtype=torch.uint8), "labels": torch.zeros(0, dtype=torch.int64)}
    empty_p = {
        "masks": torch.zeros(0, 1, 9, 9),
        "scores": torch.zeros(0),
        "labels": torch.zeros(0, dtype=torch.int64),
    }
    alone = mask_average_precision([empty_p], [empty_t])
    assert alone["map"] == -1 and alone["classes"] == []
    ones = rect(9, 9, 2, 2, 3, 3)  # single pixels: exact hit, one pixel off, and a tie in score
    t = {"masks": torch.stack([ones, rect(9, 9, 6, 6, 7, 7)]).to(torch.uint8), "labels": torch.tensor([1, 1])}
    p = {
        "masks": torch.stack([ones, rect(9, 9, 6, 7, 7, 8), ones])[:, None].float(),
        "scores": torch.tensor([0.5, 0.5, 0.5]),
        "labels": torch.tensor([1, 1, 1]),
    }
    ours = mask_average_precision([p, empty_p], [t, empty_t])
    assert_same(ours, pycocotools_segm([p, empty_p], [t, empty_t]))
    # a detection only of a class without ground truth: that class is left out (-1)
    p2 = {**p, "labels": torch.tensor([1, 4, 1])}
    ours = mask_average_precision([p2], [t])
    assert_same(ours, pycocotools_segm([p2], [t]))
    assert ours["map_per_class"][4] == -1


def test_mask_ap_bad_inputs():
    preds, targets = make_masks(2, seed=6)
    with pytest.raises(TypeError, match="predictions"):
        mask_average_precision(preds[0], targets)
    with pytest.raises(ValueError, match="missing scores"):
        mask_average_precision(
            [{"masks": preds[0]["masks"], "labels": preds[0]["labels"]}, preds[1]], targets
        )
    with pytest.raises(ValueError, match="one entry per image"):
        mask_average_precision(preds[:1], targets)
    with pytest.raises(ValueError, match="same H, W"):
        mask_average_precision([{**preds[0], "masks": preds[0]["masks"][..., :50]}, preds[1]], targets)
    with pytest.raises(ValueError, match="labels"):
        mask_average_precision([{**preds[0], "labels": preds[0]["labels"][:0]}, preds[1]], targets)
    with pytest.raises(ValueError, match="mask_threshold"):
        mask_average_precision(preds, targets, mask_threshold=1.0)


# ------------------------------------------------------------------------------ the model
def scenes(n, seed, size=64):
    data = ShapesSegmentation(n, size, seed, kind="instance")
    return [data[i] for i in range(n)]


def test_model_contract():
    torch.manual_seed(0)
    model = build_shapes_mask_rcnn()
    assert model.transform.min_size == (64,) and model.transform.max_size == 64
    items = scenes(2, 0)
    images, targets = [im for im, _ in items], [t for _, t in items]
    model.train()
    losses = model(images, targets)
    assert set(losses) == set(LOSS_NAMES) and all(torch.isfinite(v) for v in losses.values())
    out = predict_masks(model, images)
    assert len(out) == 2
    for o in out:
        k = len(o["labels"])
        assert 0 < k <= model.config["detections_per_image"]  # untrained: scores near 1/6 > 0.05
        assert o["masks"].shape == (k, 1, 64, 64) and o["boxes"].shape == (k, 4)
        assert o["masks"].min() >= 0 and o["masks"].max() <= 1
        assert o["labels"].min() >= 1 and o["labels"].max() < NUM_CLASSES
    assert model.training  # predict_masks restores the mode it found
    model.eval()
    assert predict_masks(model, images)[0]["masks"].shape[-2:] == (64, 64)


def test_model_bad_config_and_inputs():
    with pytest.raises(ValueError, match="unknown config keys bogus"):
        build_shapes_mask_rcnn(bogus=1)
    with pytest.raises(ValueError, match="image_size"):
        build_shapes_mask_rcnn(image_size=8)
    with pytest.raises(ValueError, match="anchor_sizes"):
        build_shapes_mask_rcnn(anchor_sizes=(8, 16))
    with pytest.raises(ValueError, match="widths"):
        build_shapes_mask_rcnn(widths=(8, 16))
    model = build_shapes_mask_rcnn()
    with pytest.raises(ValueError, match=r"images\[0\]"):
        predict_masks(model, [torch.rand(1, 64, 64)])
    with pytest.raises(ValueError, match="777"):
        train_mask_rcnn(model, epochs=1, train_scenes=2, seed=VAL_SEED)
    with pytest.raises(TypeError, match="model"):
        train_mask_rcnn(torch.nn.Linear(2, 2), epochs=1, train_scenes=2)
    with pytest.raises(ValueError, match="epochs"):
        train_mask_rcnn(model, epochs=0, train_scenes=2)


def test_overfits_a_few_scenes():
    torch.manual_seed(0)
    model = build_shapes_mask_rcnn()
    history = train_mask_rcnn(
        model, epochs=100, train_scenes=2, batch_size=2, lr=3e-3, hflip=False, progress=False, device="cpu"
    )
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    result = evaluate_mask_rcnn(model, ShapesSegmentation(2, 64, 0, kind="instance"))
    assert result["mask_ap50"] > 0.9 and result["mask_ap"] > 0.6, result


# ------------------------------------------------------------------------------ the shipped model
def test_loader_missing_file_names_the_script(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_shapes_mask_rcnn.py"):
        load_shapes_mask_rcnn(tmp_path / FILE_NAME)


@pytest.mark.skipif(not (data_dir() / FILE_NAME).exists(), reason="data/mask_rcnn_shapes.pt not shipped yet")
def test_shipped_model():
    model, info = load_shapes_mask_rcnn()
    assert not model.training
    for key in (
        "image_size",
        "mask_ap",
        "mask_ap50",
        "box_ap",
        "box_ap50",
        "params",
        "train_seconds",
        "data",
    ):
        assert key in info
    assert info["params"] == sum(p.numel() for p in model.parameters())
    assert info["val_seed"] == VAL_SEED and info["train_seed"] != VAL_SEED
    assert info["mask_ap"] >= MASK_AP_FLOOR
    # re-measured on the same unseen scenes: what the file says
    scenes_777 = ShapesSegmentation(info["val_scenes"], info["image_size"], VAL_SEED, kind="instance")
    result = evaluate_mask_rcnn(model, scenes_777)
    for key in ("mask_ap", "mask_ap50", "box_ap", "box_ap50"):
        assert result[key] == pytest.approx(info[key], abs=5e-3), key
