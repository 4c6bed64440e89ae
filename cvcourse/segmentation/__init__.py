"""Chapter 5a: semantic segmentation, exact and readable.

Modules, in the order of the notes (section 5.1, appendix 5.A):

* ``metrics``: confusion matrix, pixel accuracy, mean accuracy, IoU per class, mIoU (= torchmetrics);
* ``losses``: pixel-wise cross-entropy (= ``F.cross_entropy``) and the softmax focal loss;
"""

from .metrics import (
    confusion_matrix,
    iou_per_class,
    mean_accuracy,
    mean_iou,
    pixel_accuracy,
    scores_from_confusion,
)

__all__ = [
    "confusion_matrix",
    "pixel_accuracy",
    "mean_accuracy",
    "iou_per_class",
    "mean_iou",
    "scores_from_confusion",
]
