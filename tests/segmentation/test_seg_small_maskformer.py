"""small_maskformer.py: the model's contract (shapes, masked attention), the targets, the matching
(cost = the per-pair losses, assignment = scipy's optimum), dice / BCE against by-hand formulas, the
set loss, clear errors, a short run that overfits two scenes, and the shipped model's loader."""

import inspect
import itertools

import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment as scipy_lsa
from torchmetrics.detection import PanopticQuality

from cvcourse.data import STUFF_IDS, THING_IDS, ShapesSegmentation
from cvcourse.runtime import seed_everything
from cvcourse.segmentation.maskformer import masked_attention_mask
from cvcourse.segmentation.panoptic import panoptic_quality
from cvcourse.segmentation.small_maskformer import (
    NUM_CLASSES,
    WEIGHTS,
    SmallMaskFormer,
    dice_loss,
    evaluate_maskformer,
    load_shapes_maskformer,
    maskformer_loss,
    maskformer_matching,
    matching_cost,
    panoptic_predict,
    panoptic_targets,
    sigmoid_bce_loss,
    train_maskformer,
)
from cvcourse.weights import verified_file

D = torch.float64
PQ_FLOOR = 0.5  # the shipped model reaches 0.550 on 300 scenes of seed 777
TINY = {"width": 16, "d_model": 32, "num_queries": 10, "dim_feedforward": 64}


def scenes(n, seed=0, size=64):
    data = ShapesSegmentation(n, size=size, seed=seed, kind="panoptic")
    items = [data[i] for i in range(n)]
    return torch.stack([im for im, _ in items]), torch.stack([p for _, p in items])


# ----------------------------------------------------------------------------- model contract
@pytest.mark.parametrize("masked", [False, True])
def test_forward_contract(masked):
    torch.manual_seed(0)
    model = SmallMaskFormer(masked_attention=masked, num_decoder_layers=3, num_queries=12)
    images, _ = scenes(2)
    out = model(images)
    assert out["pred_logits"].shape == (2, 12, NUM_CLASSES + 1)
    assert out["pred_masks"].shape == (2, 12, 64, 64)  # at the input resolution
    assert len(out["aux_outputs"]) == 3  # the prediction before layer 0 and after layers 0, 1
    for aux in out["aux_outputs"]:
        assert aux["pred_logits"].shape == out["pred_logits"].shape
        assert aux["pred_masks"].shape == out["pred_masks"].shape
    assert torch.isfinite(out["pred_masks"]).all()


def test_masked_attention_uses_the_previous_prediction():
    """Layer l's cross-attention gets masked_attention_mask of the prediction before it, resized to
    the level it attends to (strides 16, 8, 4 in turn); the plain MaskFormer gets no mask."""
    torch.manual_seed(0)
    images, _ = scenes(2)
    for masked in (True, False):
        model = SmallMaskFormer(masked_attention=masked, **TINY).eval()
        seen = []
        for layer in model.layers:
            layer.register_forward_pre_hook(
                lambda _m, args, kwargs, seen=seen: seen.append(
                    args[4] if len(args) > 4 else kwargs.get("attn_mask")
                ),
                with_kwargs=True,
            )
        with torch.no_grad():
            out = model(images)
            levels, mask_features = model.pixel_decoder(images)
        if not masked:
            assert seen == [None] * len(model.layers)
            continue
        # the prediction before layer 0, by hand: MLP(norm(query_feat)) . pixel embeddings
        embed = model.mask_embed(model.decoder_norm(model.query_feat.weight))  # [Q, d]
        masks = torch.einsum("qd,ndhw->nqhw", embed, mask_features)
        small = F.interpolate(masks, size=levels[0].shape[-2:], mode="bilinear", align_corners=False)
        expected = masked_attention_mask(small).repeat_interleave(model.nhead, dim=0)
        assert torch.equal(seen[0], expected)
        for i, mask in enumerate(seen):
            hw = levels[i % 3].shape[-2] * levels[i % 3].shape[-1]
            assert mask.shape == (2 * model.nhead, TINY["num_queries"], hw)
            assert not mask.all(-1).any()  # no query is left with nothing to attend to
        assert torch.isfinite(out["pred_masks"]).all()


def test_model_errors():
    with pytest.raises(ValueError, match="image_size"):
        SmallMaskFormer(image_size=40)
    with pytest.raises(ValueError, match="d_model"):
        SmallMaskFormer(d_model=60)
    with pytest.raises(TypeError, match="masked_attention"):
        SmallMaskFormer(masked_attention="yes")
    with pytest.raises(ValueError, match="images"):
        SmallMaskFormer(**TINY)(torch.rand(1, 3, 32, 32))
    with pytest.raises(TypeError, match="model"):
        panoptic_predict(torch.nn.Linear(2, 2), torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match="seed"):
        train_maskformer(SmallMaskFormer(**TINY), train_scenes=2, epochs=1, seed=777)


# ----------------------------------------------------------------------------- targets
def test_panoptic_targets_one_segment_per_thing_instance_and_stuff_class():
    _, panoptic = scenes(3, seed=5)
    for p in panoptic:
        target = panoptic_targets(p)
        masks, labels = target["masks"], target["labels"]
        assert masks.dtype == torch.bool and masks.shape[1:] == p.shape[:2]
        assert torch.equal(masks.sum(0), torch.ones_like(masks[0], dtype=torch.int64))  # a partition
        things = {(int(c), int(i)) for c, i in p.flatten(0, 1).tolist() if c in THING_IDS}
        stuffs = {int(c) for c in p[..., 0].unique() if int(c) in STUFF_IDS}
        assert len(labels) == len(things) + len(stuffs)
        assert sorted(int(c) for c in labels if int(c) in STUFF_IDS) == sorted(stuffs)
        for label, mask in zip(labels, masks, strict=True):
            assert bool((p[..., 0][mask] == label).all())
            if int(label) in THING_IDS:
                assert len(p[..., 1][mask].unique()) == 1  # one instance


# ----------------------------------------------------------------------------- losses and matching
def test_dice_and_bce_equal_by_hand():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 30, generator=g, dtype=D) * 3
    targets = (torch.rand(5, 30, generator=g) > 0.5).to(D)
    targets[0] = 0  # an empty target
    for m in range(5):
        p = [1 / (1 + float(torch.exp(-x))) for x in logits[m]]
        t = targets[m].tolist()
        num = 2 * sum(a * b for a, b in zip(p, t, strict=True)) + 1
        dice = 1 - num / (sum(p) + sum(t) + 1)
        assert dice_loss(logits, targets)[m].item() == pytest.approx(dice, rel=1e-12)
        bce = -sum(
            b * torch.log(torch.tensor(a, dtype=D)) + (1 - b) * torch.log(torch.tensor(1 - a, dtype=D))
            for a, b in zip(p, t, strict=True)
        ) / len(p)
        assert sigmoid_bce_loss(logits, targets)[m].item() == pytest.approx(float(bce), rel=1e-9)
    # a perfect, confident prediction has dice ~ 0
    assert dice_loss(torch.where(targets > 0, 30.0, -30.0).to(D), targets).max() < 1e-6


def test_matching_cost_is_the_per_pair_losses():
    g = torch.Generator().manual_seed(1)
    Q, O, C = 6, 4, NUM_CLASSES
    logits = torch.randn(Q, C + 1, generator=g, dtype=D)
    masks = torch.randn(Q, 8, 8, generator=g, dtype=D)
    labels = torch.randint(1, C, (O,), generator=g)
    tmasks = torch.rand(O, 8, 8, generator=g) > 0.5
    cost = matching_cost(logits, masks, labels, tmasks)
    w_cls, w_bce, w_dice = WEIGHTS
    prob = logits.softmax(-1)
    for i, j in itertools.product(range(Q), range(O)):
        x, t = masks[i].flatten()[None], tmasks[j].flatten()[None]
        by_pair = (
            -w_cls * prob[i, labels[j]] + w_bce * sigmoid_bce_loss(x, t)[0] + w_dice * dice_loss(x, t)[0]
        )
        assert cost[i, j].item() == pytest.approx(by_pair.item(), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_matching_is_scipys_optimum(seed):
    g = torch.Generator().manual_seed(seed)
    Q, O = 10, int(torch.randint(1, 8, (1,), generator=g))
    logits = torch.randn(Q, NUM_CLASSES + 1, generator=g, dtype=D)
    masks = torch.randn(Q, 16, 16, generator=g, dtype=D)
    labels = torch.randint(1, NUM_CLASSES, (O,), generator=g)
    tmasks = torch.rand(O, 16, 16, generator=g) > 0.5
    rows, cols = maskformer_matching(logits, masks, labels, tmasks)
    cost = matching_cost(logits, masks, labels, tmasks).numpy()
    r, c = scipy_lsa(cost)
    assert len(rows) == O and len(set(rows.tolist())) == O and sorted(cols.tolist()) == list(range(O))
    assert cost[rows.numpy(), cols.numpy()].sum() == pytest.approx(cost[r, c].sum(), rel=1e-12)


def test_matching_errors():
    with pytest.raises(ValueError, match="queries"):
        maskformer_matching(
            torch.randn(2, 10), torch.randn(2, 4, 4), torch.tensor([1, 2, 3]), torch.ones(3, 4, 4)
        )
    with pytest.raises(ValueError, match="tgt_labels"):
        matching_cost(torch.randn(2, 10), torch.randn(2, 4, 4), torch.tensor([9]), torch.ones(1, 4, 4))
    with pytest.raises(ValueError, match="tgt_masks"):
        matching_cost(torch.randn(2, 10), torch.randn(2, 4, 4), torch.tensor([1]), torch.ones(1, 5, 4))
    with pytest.raises(ValueError, match="weights"):
        matching_cost(
            torch.randn(2, 10), torch.randn(2, 4, 4), torch.tensor([1]), torch.ones(1, 4, 4), (1, 2)
        )


def test_loss_by_hand_and_errors():
    """The loss parts equal their formulas on the matched pairs; the aux term is the earlier
    predictions' losses; a perfect prediction scores lower than a random one."""
    torch.manual_seed(0)
    images, panoptic = scenes(2, seed=4)
    targets = [panoptic_targets(p) for p in panoptic]
    out = SmallMaskFormer(**TINY)(images)
    loss = maskformer_loss(out, targets)
    Q = out["pred_logits"].shape[1]
    classes = torch.full((2, Q), NUM_CLASSES)
    src, tgt = [], []
    for n, t in enumerate(targets):
        q, o = maskformer_matching(out["pred_logits"][n], out["pred_masks"][n], t["labels"], t["masks"])
        classes[n, q] = t["labels"][o]
        src.append(out["pred_masks"][n, q].flatten(1))
        tgt.append(t["masks"][o].flatten(1).float())
    logp = out["pred_logits"].log_softmax(-1)
    w = torch.where(classes == NUM_CLASSES, 0.1, 1.0)
    ce = -(w * logp.gather(-1, classes[..., None])[..., 0]).sum() / w.sum()
    src, tgt = torch.cat(src), torch.cat(tgt)
    assert loss["ce"].item() == pytest.approx(ce.item(), rel=1e-5)
    assert loss["bce"].item() == pytest.approx(F.binary_cross_entropy_with_logits(src, tgt).item(), rel=1e-5)
    assert loss["dice"].item() == pytest.approx(dice_loss(src, tgt).mean().item(), rel=1e-5)
    aux = sum(
        maskformer_loss({k: a[k] for k in ("pred_logits", "pred_masks")}, targets)["loss"]
        for a in out["aux_outputs"]
    )
    assert loss["aux"].item() == pytest.approx(aux.item(), rel=1e-5)
    assert loss["loss"].item() == pytest.approx(
        (sum(wt * loss[k] for wt, k in zip(WEIGHTS, ("ce", "bce", "dice"), strict=True)) + aux).item(),
        rel=1e-5,
    )
    # a perfect prediction: each target on its own query with its class, the rest "no object"
    perfect_logits = torch.full_like(out["pred_logits"], -20.0)
    perfect_logits[..., NUM_CLASSES] = 20.0
    perfect_masks = torch.full_like(out["pred_masks"], -20.0)
    for n, t in enumerate(targets):
        k = len(t["labels"])
        perfect_logits[n, :k, NUM_CLASSES] = -20.0
        perfect_logits[n, torch.arange(k), t["labels"]] = 20.0
        perfect_masks[n, :k] = torch.where(t["masks"], 20.0, -20.0)
    perfect = maskformer_loss({"pred_logits": perfect_logits, "pred_masks": perfect_masks}, targets)
    assert perfect["loss"].item() < 1e-3 < loss["loss"].item()
    with pytest.raises(ValueError, match="one dict per image"):
        maskformer_loss(out, targets[:1])
    with pytest.raises(ValueError, match="pred_masks"):
        maskformer_loss({"pred_logits": out["pred_logits"]}, targets)
    with pytest.raises(TypeError, match="targets"):
        maskformer_loss(out, {"labels": 1})
    with pytest.raises(ValueError, match="eos_coef"):
        maskformer_loss(out, targets, eos_coef=2.0)


# ----------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def overfit():
    """A tiny Mask2Former trained 80 steps on two scenes of seed 3."""
    seed_everything(0)
    model = SmallMaskFormer(masked_attention=True, **TINY)
    history = train_maskformer(
        model,
        train_scenes=2,
        epochs=80,
        batch_size=2,
        lr=3e-3,
        seed=3,
        progress=False,
        live_plot=False,
        device="cpu",
    )
    return model, history


def test_overfits_two_scenes(overfit):
    model, history = overfit
    losses = history["train_loss"]
    assert losses[-1] < 0.3 * losses[0]
    images, panoptic = scenes(2, seed=3)
    pred = panoptic_predict(model, images)
    assert pred.shape == (2, 64, 64, 2) and pred.dtype == torch.int64
    pq = panoptic_quality(pred, panoptic, set(THING_IDS), set(STUFF_IDS), allow_unknown_preds_category=True)
    assert pq > 0.8
    # evaluate_maskformer is panoptic_quality on the same maps, things and stuff apart
    scores = evaluate_maskformer(model, scenes=2, seed=3)
    assert scores["pq"] == pytest.approx(float(pq), abs=1e-12)
    per = scores["per_class"]
    occurring = {c: v for c, v in per.items() if v[1] > 0 or v[2] > 0}
    things = [v[0] for c, v in occurring.items() if c in THING_IDS]
    assert scores["pq_things"] == pytest.approx(sum(things) / len(things), abs=1e-12)
    assert 0 <= scores["void_fraction"] <= 1


# ----------------------------------------------------------------------------- the shipped model
def _shipped():
    try:
        verified_file("maskformer_shapes.pt", script="train_shapes_maskformer.py")
    except FileNotFoundError:
        return False
    return True


def test_loader_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_shapes_maskformer.py"):
        load_shapes_maskformer(tmp_path / "maskformer_shapes.pt")


@pytest.mark.skipif(not _shipped(), reason="data/maskformer_shapes.pt not trained yet")
def test_shipped_model():
    model, info = load_shapes_maskformer()
    assert not model.training
    for key in ("image_size", "pq", "sq", "rq", "pq_things", "pq_stuff", "params", "train_seconds", "recipe"):
        assert key in info
    assert info["image_size"] == model.image_size == 64
    assert info["params"] == sum(p.numel() for p in model.parameters())
    assert info["val_seed"] == 777 and info["recipe"]["train_seed"] != 777
    assert info["pq"] >= PQ_FLOOR
    # it was scored with panoptic_predict's defaults
    defaults = inspect.signature(panoptic_predict).parameters
    assert info["inference"] == {
        k: defaults[k].default for k in ("object_mask_threshold", "overlap_threshold")
    }
    assert 0 <= info["void_fraction"] < 0.1
    # on unseen scenes, our PQ / SQ / RQ of its predictions = torchmetrics'
    images, panoptic = scenes(24, seed=777)
    pred = panoptic_predict(model, images)
    metric = PanopticQuality(
        set(THING_IDS), set(STUFF_IDS), allow_unknown_preds_category=True, return_sq_and_rq=True
    )
    ours = panoptic_quality(
        pred, panoptic, set(THING_IDS), set(STUFF_IDS), return_sq_rq=True, allow_unknown_preds_category=True
    )
    torch.testing.assert_close(ours, metric(pred, panoptic).to(D), rtol=0, atol=1e-6)
