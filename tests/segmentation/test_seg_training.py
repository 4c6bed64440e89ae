"""Training and scoring segmenters: the pixel-wise loss, clear errors, evaluation, short training runs."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset
from torchmetrics.classification import MulticlassJaccardIndex

from cvcourse.data import ShapesSegmentation
from cvcourse.segmentation.fcn import SmallFCN
from cvcourse.segmentation.losses import soft_dice_loss
from cvcourse.segmentation.metrics import mean_iou
from cvcourse.segmentation.segformer import SegFormer
from cvcourse.segmentation.training import (
    RandomHFlip,
    ce_dice_loss,
    evaluate_segmenter,
    pixel_cross_entropy,
    predict_labels,
    pretrain_vs_scratch,
    segmentation_tensors,
    train_segmenter,
)
from cvcourse.segmentation.unet import UNet

SMALL = {
    "unet": lambda: UNet(width=8),
    "fcn8s": lambda: SmallFCN("8s", width=8),
    "segformer": lambda: SegFormer(
        embed_dims=(16, 16, 32, 32), num_heads=(1, 1, 2, 2), depths=(1, 1, 1, 1), sr_ratios=(2, 1, 1, 1)
    ),
}


def test_pixel_cross_entropy_is_the_mean_over_pixels():
    logits = torch.randn(2, 9, 4, 5, dtype=torch.float64)
    labels = torch.randint(0, 9, (2, 4, 5))
    by_hand = -logits.log_softmax(1).gather(1, labels[:, None]).mean()
    torch.testing.assert_close(pixel_cross_entropy(logits, labels), by_hand)
    torch.testing.assert_close(pixel_cross_entropy(logits, labels), F.cross_entropy(logits, labels))


def test_ce_dice_loss_is_cross_entropy_plus_dice_over_the_real_classes():
    logits = torch.randn(2, 9, 6, 5, dtype=torch.float64)
    labels = torch.randint(1, 9, (2, 6, 5))
    dice = soft_dice_loss(logits, labels, classes=torch.arange(1, 9))
    torch.testing.assert_close(ce_dice_loss(logits, labels), F.cross_entropy(logits, labels) + dice)
    # void (0) is not in the Dice mean: a void channel that is never right costs nothing there
    assert dice < soft_dice_loss(logits, labels)
    with pytest.raises(ValueError, match=r"labels must lie in 0 \.\. 8"):
        ce_dice_loss(logits, labels + 1)


def test_bad_input_gives_clear_errors():
    logits, labels = torch.randn(2, 9, 4, 4), torch.randint(0, 9, (2, 4, 4))
    with pytest.raises(ValueError, match=r"labels must lie in 0 \.\. 8 .*got values from 9 to 9"):
        pixel_cross_entropy(logits, torch.full((2, 4, 4), 9))
    with pytest.raises(ValueError, match=r"labels must lie in 0 \.\. 8 .*from -1"):
        pixel_cross_entropy(logits, torch.full((2, 4, 4), -1))
    with pytest.raises(
        ValueError,
        match=r"labels must have shape \[N, H, W\] \(with N=2, H=4, W=4\), got shape \[2, 4, 5\]",
    ):
        pixel_cross_entropy(logits, torch.zeros(2, 4, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="labels must have an int dtype, got dtype torch.float32"):
        pixel_cross_entropy(logits, labels.float())
    with pytest.raises(TypeError, match="logits must have a float dtype"):
        pixel_cross_entropy(labels[:, None], labels)
    with pytest.raises(ValueError, match=r"logits must have shape \[N, C, H, W\]"):
        pixel_cross_entropy(logits[0], labels)
    with pytest.raises(ValueError, match="kind='semantic'"):
        segmentation_tensors(ShapesSegmentation(2, kind="panoptic"))
    with pytest.raises(TypeError, match="dataset must be a cvcourse.data.ShapesSegmentation"):
        segmentation_tensors([(torch.rand(3, 8, 8), labels[0])])
    model = UNet(width=4)
    with pytest.raises(ValueError, match="val_seed must differ from the training seed"):
        train_segmenter(model, epochs=1, lr=1e-3, batch_size=2, train_scenes=2, val_scenes=2, val_seed=0)
    with pytest.raises(TypeError, match="epochs must be an int"):
        train_segmenter(model, epochs=1.5, lr=1e-3, batch_size=2, train_scenes=2)
    with pytest.raises(ValueError, match="lr must be a number > 0.0"):
        train_segmenter(model, epochs=1, lr=0.0, batch_size=2, train_scenes=2)
    with pytest.raises(ValueError, match="loss must be one of 'ce', 'ce\\+dice', got str 'dice'"):
        train_segmenter(model, epochs=1, lr=1e-3, batch_size=2, train_scenes=2, loss="dice")
    with pytest.raises(ValueError, match="at least one scene"):
        evaluate_segmenter(model, ShapesSegmentation(0))


def test_flips_mirror_image_and_labels_together():
    data = segmentation_tensors(ShapesSegmentation(3, size=32, seed=0))
    flipped = RandomHFlip(data, p=1.0)
    for i in range(3):
        image, labels = flipped[i]
        assert torch.equal(image, data[i][0].flip(-1)) and torch.equal(labels, data[i][1].flip(-1))
    assert torch.equal(RandomHFlip(data, p=0.0)[1][1], data[1][1])


def test_evaluate_segmenter_scores_all_pixels_pooled():
    torch.manual_seed(0)
    model = UNet(width=4).eval()
    data = ShapesSegmentation(5, size=32, seed=3)
    scores = evaluate_segmenter(model, data, batch_size=2)
    tensors = segmentation_tensors(data)
    images, labels = tensors.tensors
    predicted = predict_labels(model, images)
    assert predicted.shape == labels.shape == (5, 32, 32) and predicted.dtype == torch.long
    assert scores["miou"] == pytest.approx(float(mean_iou(predicted, labels, 9)), abs=1e-12)
    assert scores["pixel_accuracy"] == pytest.approx(float((predicted == labels).double().mean()), abs=1e-12)
    assert len(scores["iou_per_class"]) == 9 and scores["scenes"] == 5
    assert scores["params"] == sum(p.numel() for p in model.parameters()) and scores["ms_per_image"] > 0
    assert sum(map(sum, scores["confusion"])) == 5 * 32 * 32


class FixedPrediction(nn.Module):
    """A stand-in segmenter whose argmax is a given label map [N, H, W] (for the metric's bookkeeping)."""

    def __init__(self, labels):
        super().__init__()
        self.labels, self.dummy = labels, nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return F.one_hot(self.labels[: len(x)], 9).movedim(-1, 1).float() + 0 * self.dummy


def test_void_is_left_out_of_the_miou_unless_predicted():
    """Void (0) never occurs in the data: the mIoU averages the classes in truth or prediction
    (torchmetrics' macro Jaccard), so void's 0 in the per-class list is not in the mean; a model that
    predicts void somewhere gets it counted with IoU 0."""
    images, labels = segmentation_tensors(ShapesSegmentation(6, size=32, seed=4)).tensors
    assert not (labels == 0).any()
    noisy = torch.where(torch.rand(labels.shape, generator=torch.Generator().manual_seed(0)) < 0.2, 1, labels)
    scores = evaluate_segmenter(FixedPrediction(noisy), TensorDataset(images, labels))
    present = sorted(set(labels.unique().tolist()) | set(noisy.unique().tolist()))
    assert scores["classes_in_miou"] == present and 0 not in present and scores["iou_per_class"][0] == 0
    mean_of_present = sum(scores["iou_per_class"][c] for c in present) / len(present)
    assert scores["miou"] == pytest.approx(mean_of_present, abs=1e-12)
    for ignore_index in (None, 0):  # no void in the truth: ignoring it changes nothing
        theirs = MulticlassJaccardIndex(9, average="macro", ignore_index=ignore_index)(noisy, labels)
        assert scores["miou"] == pytest.approx(float(theirs), abs=1e-6)
    with_void = noisy.clone()
    with_void[0, :4] = 0  # predicted void on a few pixels: a class with IoU 0 enters the mean
    scored = evaluate_segmenter(FixedPrediction(with_void), TensorDataset(images, labels))
    assert scored["classes_in_miou"] == [0, *present] and scored["iou_per_class"][0] == 0
    assert scored["miou"] == pytest.approx(float(MulticlassJaccardIndex(9)(with_void, labels)), abs=1e-6)
    assert scored["miou"] < scores["miou"] * len(present) / (len(present) + 1) + 1e-9


OVERFIT = {  # model, scenes, image side, epochs (one step each): about 10 s on one busy CPU thread
    "unet": (lambda: UNet(width=16), 4, 32, 200),
    # SegFormer predicts at 1/4 resolution and upsamples: a 32 x 32 scene's shapes are too small for 0.9
    "segformer": (SMALL["segformer"], 2, 64, 200),
}


@pytest.mark.parametrize("name", list(OVERFIT))
def test_unet_and_segformer_overfit_a_few_scenes(name):
    """Memorising a few scenes is the first check of a segmenter and its loop: mIoU >= 0.9 on them."""
    make, scenes, size, epochs = OVERFIT[name]
    torch.manual_seed(0)
    model = make()
    train_segmenter(
        model,
        epochs=epochs,
        lr=1e-2,
        batch_size=scenes,
        train_scenes=scenes,
        size=size,
        loss="ce+dice",
        progress=False,
        live_plot=False,
    )
    scores = evaluate_segmenter(model, ShapesSegmentation(scenes, size=size, seed=0))
    assert scores["miou"] >= 0.9, scores["iou_per_class"]
    assert len(scores["classes_in_miou"]) >= 6  # things as well as stuff were there to be learnt


@pytest.mark.parametrize("name", list(SMALL))
def test_each_model_learns_a_few_scenes(name):
    """A short run (60 steps, plain cross-entropy) on two 32 x 32 scenes: the loss falls and the
    mIoU on them rises far above the start. (Memorising them is the test above.)"""
    torch.manual_seed(0)
    model = SMALL[name]()
    before = evaluate_segmenter(model, ShapesSegmentation(2, size=32, seed=0))["miou"]
    history = train_segmenter(
        model, epochs=60, lr=3e-3, batch_size=2, train_scenes=2, size=32, progress=False, live_plot=False
    )
    after = evaluate_segmenter(model, ShapesSegmentation(2, size=32, seed=0))["miou"]
    assert history["train_loss"][-1] < 0.6 * history["train_loss"][0]
    assert after > before + 0.2 and after > 0.35
    assert not model.training


def test_pretrain_vs_scratch_fast_mode_returns_two_curves():
    result = pretrain_vs_scratch(fast=True, progress=False)
    n = len(result["epochs"])
    assert n == result["sizes"]["epochs"] and len(result["pretrained"]) == len(result["scratch"]) == n
    assert all(0 <= v <= 1 for v in result["pretrained"] + result["scratch"])
    assert 0 <= result["pretrain_accuracy"] <= 1
