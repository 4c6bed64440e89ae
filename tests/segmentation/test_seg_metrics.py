"""metrics.py against torchmetrics (confusion matrix, micro/macro accuracy, Jaccard index), random
and degenerate inputs: absent classes, a single pixel, every pixel ignored, ignore_index in and out
of the class range, scores instead of labels."""

import math

import pytest
import torch
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassJaccardIndex,
)

from cvcourse.segmentation.metrics import (
    confusion_matrix,
    iou_per_class,
    mean_accuracy,
    mean_iou,
    pixel_accuracy,
    scores_from_confusion,
)

D = torch.float64


def theirs(preds, target, c, ignore_index=None):
    kw = {"ignore_index": ignore_index}
    return {
        "cm": MulticlassConfusionMatrix(c, **kw)(preds, target),
        "pixel_accuracy": MulticlassAccuracy(c, average="micro", **kw)(preds, target),
        "mean_accuracy": MulticlassAccuracy(c, average="macro", **kw)(preds, target),
        "iou_per_class": MulticlassJaccardIndex(c, average=None, **kw)(preds, target),
        "mean_iou": MulticlassJaccardIndex(c, average="macro", **kw)(preds, target),
    }


def ours(preds, target, c, ignore_index=None):
    kw = {"ignore_index": ignore_index}
    return {
        "cm": confusion_matrix(preds, target, c, **kw),
        "pixel_accuracy": pixel_accuracy(preds, target, c, **kw),
        "mean_accuracy": mean_accuracy(preds, target, c, **kw),
        "iou_per_class": iou_per_class(preds, target, c, **kw),
        "mean_iou": mean_iou(preds, target, c, **kw),
    }


def assert_same(preds, target, c, ignore_index=None):
    a, b = ours(preds, target, c, ignore_index), theirs(preds, target, c, ignore_index)
    assert torch.equal(a["cm"], b["cm"].long())
    for key in ("pixel_accuracy", "mean_accuracy", "iou_per_class", "mean_iou"):
        assert a[key].dtype == D
        torch.testing.assert_close(a[key], b[key].to(D), equal_nan=True, atol=1e-6, rtol=1e-6, msg=key)
    return a


def random_maps(seed, n=3, c=6, h=9, w=7, absent=(), noise=0.4):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, c, (n, h, w), generator=g)
    for k in absent:  # take class k out of the target
        target[target == k] = (k + 1) % c
    preds = torch.where(
        torch.rand(n, h, w, generator=g) < noise, torch.randint(0, c, (n, h, w), generator=g), target
    )
    for k in absent:
        preds[preds == k] = (k + 1) % c
    return preds, target


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ignore_index", [None, 0, 3, 255])
def test_random_maps_equal_torchmetrics(seed, ignore_index):
    preds, target = random_maps(seed)
    if ignore_index == 255:
        target[:, :2] = 255
    assert_same(preds, target, 6, ignore_index)


@pytest.mark.parametrize("ignore_index", [None, 2])
def test_class_absent_from_both_is_zero_and_left_out_of_the_means(ignore_index):
    preds, target = random_maps(7, absent=(4,))
    a = assert_same(preds, target, 6, ignore_index)
    assert a["iou_per_class"][4] == 0 and a["cm"][4].sum() == 0 and a["cm"][:, 4].sum() == 0
    keep = [k for k in range(6) if k != 4 and k != ignore_index]
    torch.testing.assert_close(a["mean_iou"], a["iou_per_class"][keep].mean())


def test_class_predicted_but_absent_from_target_counts_with_zero():
    target = torch.tensor([[0, 1, 3, 3]])
    preds = torch.tensor([[0, 2, 1, 3]])
    a = assert_same(preds, target, 4)
    # classes 0..3 all appear somewhere: IoU (1, 0, 0, 1/2), mean over all four
    torch.testing.assert_close(a["iou_per_class"], torch.tensor([1, 0, 0, 0.5], dtype=D))
    assert a["mean_iou"] == 1.5 / 4


def test_single_pixel_and_perfect_prediction():
    for c, (p, t) in [(3, (2, 2)), (3, (0, 2)), (2, (0, 0))]:
        a = assert_same(torch.tensor([[p]]), torch.tensor([[t]]), c)
        assert a["pixel_accuracy"] == float(p == t)
    preds, target = random_maps(3, noise=0.0)
    a = assert_same(preds, target, 6)
    assert a["mean_iou"] == 1 and a["pixel_accuracy"] == 1 and a["mean_accuracy"] == 1


@pytest.mark.parametrize("ignore_index", [255, 1])
def test_every_pixel_ignored(ignore_index):
    target = torch.full((2, 3, 3), ignore_index)
    preds = torch.ones(2, 3, 3, dtype=torch.long)
    a = assert_same(preds, target, 4, ignore_index)
    assert a["cm"].sum() == 0 and a["pixel_accuracy"] == 0 and a["mean_accuracy"] == 0
    assert math.isnan(a["mean_iou"])


def test_scores_instead_of_labels_are_argmaxed():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 5, 6, 4, generator=g, dtype=D)
    target = torch.randint(0, 5, (2, 6, 4), generator=g)
    a = assert_same(logits, target, 5)
    assert torch.equal(a["cm"], confusion_matrix(logits.argmax(1), target, 5))


def test_confusion_matrix_by_loop_and_scores_from_it():
    preds, target = random_maps(11, c=4)
    cm = confusion_matrix(preds, target, 4)
    loop = torch.zeros(4, 4, dtype=torch.long)
    for t, p in zip(target.flatten().tolist(), preds.flatten().tolist(), strict=True):
        loop[t, p] += 1
    assert torch.equal(cm, loop) and cm.sum() == target.numel()
    s = scores_from_confusion(cm)
    tp = cm.diagonal().to(D)
    torch.testing.assert_close(s["iou_per_class"], tp / (cm.sum(0) + cm.sum(1) - cm.diagonal()).to(D))
    torch.testing.assert_close(s["accuracy_per_class"], tp / cm.sum(1).to(D))
    # a data set: summed confusion matrices = the matrix of all pixels at once
    p2, t2 = random_maps(12, c=4)
    both = scores_from_confusion(cm + confusion_matrix(p2, t2, 4))
    all_at_once = mean_iou(torch.cat([preds, p2]), torch.cat([target, t2]), 4)
    torch.testing.assert_close(both["mean_iou"], all_at_once)


def test_bad_input_is_refused_with_clear_errors():
    t = torch.zeros(2, 3, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="target must hold class ids in \\[0, 3\\]"):
        confusion_matrix(t, t + 4, 4)
    with pytest.raises(ValueError, match="preds must hold class ids"):
        confusion_matrix(t - 1, t, 4)
    with pytest.raises(ValueError, match="preds must have the shape of target"):
        confusion_matrix(t[:1], t, 4)
    with pytest.raises(ValueError, match="scores of shape \\[N, 4, ...\\]"):
        confusion_matrix(torch.zeros(2, 3, 3, 3), t, 4)
    with pytest.raises(TypeError, match="target must have an int dtype"):
        confusion_matrix(t, t.float(), 4)
    with pytest.raises(TypeError, match="num_classes must be an int"):
        mean_iou(t, t, 4.0)
    with pytest.raises(ValueError, match="num_classes must be an int >= 2"):
        mean_iou(t, t, 0)
    with pytest.raises(ValueError, match="cm must be a square"):
        scores_from_confusion(torch.zeros(3, 4))
    # ignore_index is accepted in the target only
    confusion_matrix(t, t + 255, 4, ignore_index=255)
    with pytest.raises(ValueError, match="preds must hold class ids"):
        confusion_matrix(t + 255, t, 4, ignore_index=255)
