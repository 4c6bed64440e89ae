"""The small RetinaNet: the prior bias and what it does at initialisation, anchors and their labels
(= ``label_anchors`` with RetinaNet's thresholds), the focal loss normalised by the positives, the
box loss, post-processing, ``inspect``, the imbalance statistics, and overfitting a few scenes."""

import math

import pytest
import torch

from cvcourse.data import ShapesDetection
from cvcourse.detection.anchors import anchor_grid, label_anchors
from cvcourse.detection.boxes import box_iou, decode_boxes, encode_boxes, generalized_box_iou
from cvcourse.detection.losses import sigmoid_focal_loss, smooth_l1
from cvcourse.detection.retinanet import (
    TRAINING,
    RetinaNet,
    anchor_statistics,
    per_anchor_losses,
    prior_bias,
)
from cvcourse.detection.training import evaluate_detector, render_scenes, train_detector


@pytest.fixture(scope="module")
def batch():
    scenes = render_scenes(ShapesDetection(6, seed=11))
    return scenes.images, scenes.targets


def _model(**kw):
    torch.manual_seed(0)
    return RetinaNet(**kw)


def test_prior_bias_is_the_notes_value():
    b = prior_bias(0.01)
    assert b == pytest.approx(-math.log(0.99 / 0.01), abs=1e-15)
    assert round(b, 3) == -4.595 and abs(b - -4.6) < 0.01  # the notes' "about -4.6"
    assert 1 / (1 + math.exp(-b)) == pytest.approx(0.01)  # sigma(b) = psi
    assert prior_bias(0.5) == 0.0


def test_initial_probability_is_the_prior(batch):
    images, _ = batch
    model = _model()
    assert torch.allclose(model.cls_head[-1].bias, torch.full_like(model.cls_head[-1].bias, prior_bias(0.01)))
    probs = model.eval()(images)["cls_logits"].sigmoid()
    assert abs(probs.mean().item() - 0.01) < 0.002
    flat = _model(prior=None).eval()(images)["cls_logits"].sigmoid()
    assert (_model(prior=None).cls_head[-1].bias == 0).all() and abs(flat.mean().item() - 0.5) < 0.02
    # with the prior the first loss is far smaller: the easy negatives no longer swamp it
    targets = batch[1]
    assert _model().loss(images, targets)["cls"] < 0.2 * _model(prior=None).loss(images, targets)["cls"]


def test_anchors_are_anchor_grid_centred_on_the_cells_in_the_heads_order(batch):
    images, _ = batch
    model = _model()
    anchors = model.anchors()
    expected = torch.cat(
        [
            anchor_grid((64 // s, 64 // s), s, sizes, model.aspect_ratios) + s / 2
            for s, sizes in zip((8, 16, 32), model.anchor_sizes, strict=True)
        ]
    )
    assert torch.equal(anchors, expected) and torch.equal(model.anchors(images), anchors)
    out = model(images)
    assert out["cls_logits"].shape == (6, len(anchors), 5) and out["box_regression"].shape == (
        6,
        len(anchors),
        4,
    )
    # location-major: anchor a of cell (i, j) of P3 is row (i * 8 + j) * k + a, centred on the cell
    k = model.num_anchors
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    i, j = 3, 5
    assert torch.equal(centres[(i * 8 + j) * k], torch.tensor([8 * j + 4.0, 8 * i + 4.0]))
    # the head's channels a * C + c belong to anchor a: zero all but one channel and find it there
    with torch.no_grad():
        model.cls_head[-1].weight.zero_()
        model.cls_head[-1].bias.zero_()
        model.cls_head[-1].bias[2 * 5 + 3] = 1.0  # anchor 2, class 3
    logits = model(images)["cls_logits"][0]
    hot = torch.nonzero(logits == 1.0)
    assert len(hot) == len(anchors) // k and (hot[:, 0] % k == 2).all() and (hot[:, 1] == 3).all()


def test_assign_is_label_anchors_with_retinanet_thresholds(batch):
    _, targets = batch
    model = _model()
    anchors = model.anchors()
    labels, classes, boxes = model.assign(anchors, targets)
    for n, t in enumerate(targets):
        expected, matched = label_anchors(anchors, t["boxes"], 0.5, 0.4, allow_low_quality=True)
        assert torch.equal(labels[n], expected)
        pos = expected == 1
        assert torch.equal(classes[n][pos].argmax(1) + 1, t["labels"][matched[pos]])
        assert (classes[n][pos].sum(1) == 1).all() and (classes[n][~pos] == 0).all()
        assert torch.equal(boxes[n][pos], t["boxes"][matched[pos]])
        # each object's best anchor is positive, even for a small object (it may be matched to another
        # object it overlaps more: torchvision's low-quality rule, kept as it is)
        iou = box_iou(t["boxes"], anchors)  # [G, A]
        assert (labels[n][iou.argmax(1)] == 1).all()


@pytest.mark.parametrize("box_loss", ["smooth_l1", "giou"])
def test_loss_is_focal_plus_box_over_the_positives(batch, box_loss):
    images, targets = batch
    model = _model(box_loss=box_loss).eval()
    losses = model.loss(images, targets)
    out = model(images)
    anchors = model.anchors()
    labels, classes, gt = model.assign(anchors, targets)
    pos = labels == 1
    num_pos = pos.sum()
    focal = sigmoid_focal_loss(out["cls_logits"], classes, 0.25, 2.0)[labels >= 0].sum()
    torch.testing.assert_close(losses["cls"], focal / num_pos)
    codes, anchors_p = out["box_regression"][pos], anchors.expand(6, -1, -1)[pos]
    if box_loss == "smooth_l1":
        box = smooth_l1(codes, encode_boxes(gt[pos], anchors_p), beta=1 / 9, reduction="sum")
    else:
        box = (1 - torch.diag(generalized_box_iou(decode_boxes(codes, anchors_p), gt[pos]))).sum()
    torch.testing.assert_close(losses["box"], box / num_pos)
    torch.testing.assert_close(losses["loss"], losses["cls"] + losses["box"])
    # normalised by the positives: the same scenes twice give the same numbers
    twice = model.loss(torch.cat([images, images]), list(targets) + list(targets))
    for key in ("cls", "box"):
        torch.testing.assert_close(twice[key], losses[key])


def test_loss_has_finite_gradients_and_handles_an_empty_scene(batch):
    images, targets = batch
    for box_loss in ("smooth_l1", "giou"):
        model = _model(box_loss=box_loss)
        model.loss(images, targets)["loss"].backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    empty = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}]
    losses = _model().loss(images[:1], empty)
    assert losses["box"] == 0 and losses["cls"] > 0  # all negatives, normalised by max(1, 0)


def test_predict_format_thresholds_and_nms(batch):
    images, _ = batch
    # untrained, probabilities near 0.5: many candidates; no cap, so that NMS is what removes boxes
    model = _model(prior=None, topk_candidates=5000, detections_per_image=5000).eval()
    preds = model.predict(images, score_threshold=0.3)
    assert len(preds) == 6
    for p in preds:
        assert set(p) == {"boxes", "scores", "labels"} and p["labels"].dtype == torch.int64
        assert len(p["boxes"]) > 0 and (p["scores"] > 0.3).all()
        assert (p["scores"][:-1] >= p["scores"][1:]).all()
        assert ((p["labels"] >= 1) & (p["labels"] <= 5)).all()
        assert (p["boxes"] >= 0).all() and (p["boxes"] <= 64).all()
        for c in p["labels"].unique():
            same = p["boxes"][p["labels"] == c]
            iou = box_iou(same, same).fill_diagonal_(0)
            assert (iou <= 0.5).all()
    raw = model.predict(images, score_threshold=0.3, nms=False)
    assert all(len(r["boxes"]) >= len(p["boxes"]) for r, p in zip(raw, preds, strict=True))
    assert any(len(r["boxes"]) > len(p["boxes"]) for r, p in zip(raw, preds, strict=True))
    assert all(len(p["boxes"]) == 0 for p in model.predict(images, score_threshold=1.0))
    capped = _model(prior=None).eval().predict(images, score_threshold=0.0, nms=False)
    assert all(len(p["boxes"]) == 100 for p in capped)  # detections_per_image
    assert model.training is False and _model().train().predict(images[:1]) is not None


def test_inspect_gives_every_anchor_of_the_first_image(batch):
    images, _ = batch
    model = _model().eval()
    view = model.inspect(images)
    anchors = model.anchors()
    assert view["anchors"].shape == anchors.shape and view["scores"].shape == (len(anchors), 5)
    torch.testing.assert_close(view["scores"], model(images[:1])["cls_logits"][0].sigmoid())
    with torch.no_grad():  # zero codes decode to the anchors themselves (clipped to the image)
        model.box_head[-1].weight.zero_()
        model.box_head[-1].bias.zero_()
    torch.testing.assert_close(model.inspect(images)["boxes"], anchors.clamp(0, 64))


def test_anchor_statistics_count_the_imbalance():
    model = _model()
    data = ShapesDetection(5, seed=2)
    stats = anchor_statistics(model, data)
    anchors = model.anchors()
    counts = torch.zeros(3, dtype=torch.int64)
    for i in range(5):
        labels, _ = label_anchors(anchors, data[i][1]["boxes"], 0.5, 0.4)
        counts += torch.stack([(labels == v).sum() for v in (1, 0, -1)])
    assert [stats["positive"], stats["negative"], stats["ignored"]] == counts.tolist()
    assert stats["anchors"] == 5 * len(anchors) == 5 * stats["per_image_anchors"]
    assert sum(level["positive"] for level in stats["per_level"].values()) == stats["positive"]
    assert stats["negatives_per_positive"] == pytest.approx(counts[1].item() / counts[0].item())
    assert stats["negatives_per_positive"] > 10  # the imbalance the focal loss is for


def test_per_anchor_losses_sum_to_the_classification_loss(batch):
    images, targets = batch
    model = _model().eval()
    parts = per_anchor_losses(model, images, targets)
    labels, _, _ = model.assign(model.anchors(), targets)
    assert len(parts["positive"]) == (labels == 1).sum() and len(parts["negative"]) == (labels == 0).sum()
    total = (parts["positive"].sum() + parts["negative"].sum()) / len(parts["positive"])
    torch.testing.assert_close(total, model.loss(images, targets)["cls"])
    assert (parts["negative"] >= 0).all() and not model.training


def test_config_rebuilds_the_model_and_the_recipe_is_complete():
    model = _model(box_loss="giou", head_convs=1)
    twin = RetinaNet(**model.config)
    twin.load_state_dict(model.state_dict(), strict=True)
    assert twin.config == model.config
    assert set(TRAINING) == {"epochs", "lr", "batch_size", "train_scenes", "weight_decay"}
    assert sum(p.numel() for p in model.parameters()) <= 1_500_000


def test_overfits_a_handful_of_scenes():
    torch.manual_seed(0)
    model = RetinaNet()
    train_detector(
        model, epochs=200, lr=5e-3, batch_size=4, train_scenes=4, hflip=False, progress=False, warmup=0.1
    )
    scores = evaluate_detector(model, ShapesDetection(4, seed=0))
    assert scores["map_50"] >= 0.9, scores


def test_bad_inputs_are_refused(batch):
    images, targets = batch
    model = _model()
    with pytest.raises(ValueError, match="images"):
        model(images[:, :2])
    with pytest.raises(TypeError, match="images"):
        model((images * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="images"):
        model(images[:, :, :16, :16])
    with pytest.raises(ValueError, match="one dict per image"):
        model.loss(images, targets[:2])
    bad = [dict(t) for t in targets]
    bad[1]["labels"] = bad[1]["labels"] * 0
    with pytest.raises(ValueError, match=r"targets\[1\]\['labels'\]"):
        model.loss(images, bad)
    bad[1] = {"boxes": targets[1]["boxes"][:, :3], "labels": targets[1]["labels"]}
    with pytest.raises(ValueError, match=r"targets\[1\]\['boxes'\]"):
        model.loss(images, bad)
    with pytest.raises(ValueError, match="score_threshold"):
        model.predict(images, score_threshold=1.5)
    with pytest.raises(TypeError, match="nms"):
        model.predict(images, nms=1)
    with pytest.raises(ValueError, match="prior"):
        RetinaNet(prior=0.0)
    with pytest.raises(ValueError, match="box_loss"):
        RetinaNet(box_loss="l2")
    with pytest.raises(ValueError, match="anchor_sizes"):
        RetinaNet(anchor_sizes=((8,), (16,)))
    with pytest.raises(ValueError, match="aspect_ratios"):
        RetinaNet(aspect_ratios=(1.0, -2.0))
    with pytest.raises(ValueError, match="bg_iou"):
        RetinaNet(fg_iou=0.4, bg_iou=0.5)
    with pytest.raises(TypeError, match="model"):
        anchor_statistics("retinanet", ShapesDetection(2))
    with pytest.raises(ValueError, match="dataset"):
        anchor_statistics(model, ShapesDetection(0))
