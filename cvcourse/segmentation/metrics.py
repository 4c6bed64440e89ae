r"""Semantic-segmentation metrics from one confusion matrix (notes, 5.1; ``002_...``'s slides).

Every score here is read off the :math:`C \times C` confusion matrix :math:`M`, with
:math:`M_{ij}` = number of pixels of true class :math:`i` predicted as class :math:`j`:

.. math::
    \mathrm{TP}_c = M_{cc}, \quad \mathrm{FN}_c = \sum_j M_{cj} - M_{cc}, \quad
    \mathrm{FP}_c = \sum_i M_{ic} - M_{cc}

* pixel accuracy :math:`\sum_c \mathrm{TP}_c / \sum_{ij} M_{ij}` (= torchmetrics'
  ``MulticlassAccuracy(average="micro")``);
* mean accuracy: the mean over classes of the recall :math:`\mathrm{TP}_c / (\mathrm{TP}_c +
  \mathrm{FN}_c)` (= ``MulticlassAccuracy(average="macro")``);
* IoU per class :math:`\mathrm{TP}_c / (\mathrm{TP}_c + \mathrm{FP}_c + \mathrm{FN}_c)`
  (= ``MulticlassJaccardIndex(average=None)``) and its mean, mIoU (= ``average="macro"``).

Conventions, chosen to equal torchmetrics 1.x exactly (tests/segmentation/test_seg_metrics.py):

* ``ignore_index``: pixels whose **target** is ``ignore_index`` are dropped before anything is
  counted (it may be a class id such as 0 "void", or a value outside the classes such as 255).
* A class with no pixel in the target **and** none in the prediction (:math:`\mathrm{TP} + \mathrm{FP}
  + \mathrm{FN} = 0`) has IoU and recall 0 in the per-class lists (a 0/0), and is **left out** of the
  means. A class that is predicted but absent from the target counts in the means with 0.
* mIoU also leaves out the class ``ignore_index`` when it is a class id; mean accuracy does not
  (torchmetrics' rule: that class can still collect false positives).
* Nothing left (every pixel ignored): pixel and mean accuracy are 0, mIoU is NaN.

Scores are float64 tensors. To score a data set, sum the confusion matrices of its batches and call
:func:`scores_from_confusion` once (a mean of per-image mIoUs is a different, noisier number).
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvcourse._checks import check_int, check_tensor

__all__ = [
    "confusion_matrix",
    "pixel_accuracy",
    "mean_accuracy",
    "iou_per_class",
    "mean_iou",
    "scores_from_confusion",
]


def _labels(
    preds: Tensor, target: Tensor, num_classes: int, ignore_index: int | None
) -> tuple[Tensor, Tensor]:
    """Checked, flattened (pred label, target label) of the pixels that are not ignored."""
    num_classes = check_int("num_classes", num_classes, low=2)
    if ignore_index is not None:
        ignore_index = check_int("ignore_index", ignore_index)
    check_tensor("target", target, dtype="int")
    check_tensor("preds", preds)
    if preds.is_floating_point():  # scores [N, C, ...] -> labels by argmax over the class axis
        if preds.ndim != target.ndim + 1 or preds.shape[1] != num_classes:
            raise ValueError(
                f"preds of floating dtype must be scores of shape [N, {num_classes}, ...] for a target "
                f"of shape {list(target.shape)}, got shape {list(preds.shape)}"
            )
        scores = preds.movedim(1, -1)
        if scores.shape[:-1] != target.shape:
            raise ValueError(
                f"preds must have shape {[target.shape[0], num_classes, *target.shape[1:]]}, "
                f"got shape {list(preds.shape)}"
            )
        preds = scores.argmax(-1)
    else:
        check_tensor("preds", preds, dtype="int")
        if preds.shape != target.shape:
            raise ValueError(
                f"preds must have the shape of target {list(target.shape)}, got shape {list(preds.shape)}"
            )
    p, t = preds.reshape(-1).long(), target.reshape(-1).long()
    if ignore_index is not None:
        keep = t != ignore_index
        p, t = p[keep], t[keep]
    for name, x in (("preds", p), ("target", t)):
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= num_classes):
            extra = "" if ignore_index is None or name == "preds" else f" or ignore_index {ignore_index}"
            raise ValueError(
                f"{name} must hold class ids in [0, {num_classes - 1}]{extra}, "
                f"got values in [{int(x.min())}, {int(x.max())}]"
            )
    return p, t


def confusion_matrix(
    preds: Tensor, target: Tensor, num_classes: int, *, ignore_index: int | None = None
) -> Tensor:
    r"""The confusion matrix :math:`M_{ij}` = #pixels of true class ``i`` predicted as ``j``.

    Equal to torchmetrics' ``MulticlassConfusionMatrix(num_classes, ignore_index=...)``.

    Args:
        preds: predicted labels (an integer tensor of ``target``'s shape) or scores / logits
            ``[N, C, ...]`` (float; the label is the argmax over dim 1).
        target: true labels ``[N, ...]`` in ``[0, C)`` (or ``ignore_index``).
        num_classes: ``C`` >= 2 (binary segmentation is C = 2: background and object).
        ignore_index: a target value whose pixels are not counted, or None.

    Returns:
        Tensor[C, C] int64, rows = truth, columns = prediction.
    """
    p, t = _labels(preds, target, num_classes, ignore_index)
    # one bincount over the pair index t * C + p counts every (truth, prediction) cell at once
    return torch.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)


def _counts(cm: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    cm = cm.to(torch.float64)
    tp = cm.diagonal()
    return tp, cm.sum(0) - tp, cm.sum(1) - tp  # TP, FP, FN


def _ratio(num: Tensor, den: Tensor) -> Tensor:
    """num / den with 0 where den = 0 (torchmetrics' zero_division = 0)."""
    return torch.where(den > 0, num / den.clamp(min=1), torch.zeros_like(num))


def scores_from_confusion(cm: Tensor, *, ignore_index: int | None = None) -> dict[str, Tensor]:
    r"""All four scores from a confusion matrix (summed over a data set, say).

    Args:
        cm: Tensor[C, C], rows = truth (as :func:`confusion_matrix` returns it).
        ignore_index: the ignored class id, if it is one (it is then left out of mIoU; pixels were
            already dropped when the matrix was counted).

    Returns:
        ``{"pixel_accuracy", "mean_accuracy", "mean_iou"}`` (0-dim float64) and
        ``"iou_per_class"``, ``"accuracy_per_class"`` (Tensor[C] float64).
    """
    check_tensor("cm", cm, ndim=2)
    if cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square [C, C] matrix, got shape {list(cm.shape)}")
    if ignore_index is not None:
        ignore_index = check_int("ignore_index", ignore_index)
    tp, fp, fn = _counts(cm)
    present = (tp + fp + fn) > 0  # in the target or in the prediction
    iou = _ratio(tp, tp + fp + fn)
    recall = _ratio(tp, tp + fn)
    in_iou = present.clone()
    if ignore_index is not None and 0 <= ignore_index < cm.shape[0]:
        in_iou[ignore_index] = False
    total = tp.sum() + fn.sum()
    return {
        "pixel_accuracy": _ratio(tp.sum(), total),
        "mean_accuracy": recall[present].mean() if present.any() else torch.zeros((), dtype=torch.float64),
        "mean_iou": iou[in_iou].mean() if in_iou.any() else torch.tensor(float("nan"), dtype=torch.float64),
        "iou_per_class": iou,
        "accuracy_per_class": recall,
    }


def _scores(preds, target, num_classes, ignore_index) -> dict[str, Tensor]:
    cm = confusion_matrix(preds, target, num_classes, ignore_index=ignore_index)
    return scores_from_confusion(cm, ignore_index=ignore_index)


def pixel_accuracy(
    preds: Tensor, target: Tensor, num_classes: int, *, ignore_index: int | None = None
) -> Tensor:
    r"""The fraction of (non-ignored) pixels right: :math:`\sum_c \mathrm{TP}_c / \#\mathrm{pixels}`.

    Dominated by the big classes (sky, road): a model that never finds a small object loses little.
    Arguments as :func:`confusion_matrix`; = ``MulticlassAccuracy(average="micro")``.
    """
    return _scores(preds, target, num_classes, ignore_index)["pixel_accuracy"]


def mean_accuracy(
    preds: Tensor, target: Tensor, num_classes: int, *, ignore_index: int | None = None
) -> Tensor:
    r"""The mean over classes of the recall :math:`\mathrm{TP}_c / (\mathrm{TP}_c + \mathrm{FN}_c)`.

    Every class weighs the same however many pixels it has. Classes absent from target and
    prediction are left out (module docstring). Arguments as :func:`confusion_matrix`;
    = ``MulticlassAccuracy(average="macro")``.
    """
    return _scores(preds, target, num_classes, ignore_index)["mean_accuracy"]


def iou_per_class(
    preds: Tensor, target: Tensor, num_classes: int, *, ignore_index: int | None = None
) -> Tensor:
    r"""Tensor[C], each class's IoU :math:`\mathrm{TP}_c / (\mathrm{TP}_c + \mathrm{FP}_c + \mathrm{FN}_c)`.

    The Jaccard index of the predicted and the true pixel sets of class ``c``; 0 for a class absent
    from both. Arguments as :func:`confusion_matrix`; = ``MulticlassJaccardIndex(average=None)``.
    """
    return _scores(preds, target, num_classes, ignore_index)["iou_per_class"]


def mean_iou(preds: Tensor, target: Tensor, num_classes: int, *, ignore_index: int | None = None) -> Tensor:
    r"""mIoU: the mean of :func:`iou_per_class` over the classes present in target or prediction.

    The standard score of semantic segmentation (PASCAL VOC, Cityscapes). NaN when every pixel is
    ignored. Arguments as :func:`confusion_matrix`; = ``MulticlassJaccardIndex(average="macro")``.
    """
    return _scores(preds, target, num_classes, ignore_index)["mean_iou"]
