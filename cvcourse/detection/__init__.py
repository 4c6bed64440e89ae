"""Chapter 4a: object detection foundations, exact and readable.

Modules, in the order of the notes (sections 4.1-4.3.2):

* ``boxes``: box area, format conversion, IoU, generalised IoU (= ``torchvision.ops``), the R-CNN box
  parametrisation ``encode_boxes`` / ``decode_boxes`` (= torchvision's ``BoxCoder``);
* ``metrics``: TP/FP matching, precision and recall, AP (all-point and COCO's 101-point), COCO mAP
  (= pycocotools' ``COCOeval``);
* ``nms``: greedy non-maximum suppression, batched NMS (= ``torchvision.ops``), NMS step by step;
* ``roi``: RoIPool and RoIAlign (= ``torchvision.ops.roi_pool`` / ``roi_align``, values and gradients);
* ``losses``: the sigmoid focal loss (= ``torchvision.ops.sigmoid_focal_loss``), Fast R-CNN's smooth L1;
* ``anchors``: anchor grids (= torchvision's ``AnchorGenerator``), RPN labelling and sampling;
* ``matching``: the Hungarian algorithm (= ``scipy.optimize.linear_sum_assignment``'s optimum);
* ``widgets``: the anchor, NMS and precision-recall explorers.
"""

from .boxes import (
    box_area,
    box_convert,
    box_iou,
    decode_boxes,
    encode_boxes,
    generalized_box_iou,
)
from .nms import batched_nms, nms, nms_loop, nms_steps

__all__ = [
    "box_area",
    "box_convert",
    "box_iou",
    "generalized_box_iou",
    "encode_boxes",
    "decode_boxes",
    "nms",
    "batched_nms",
    "nms_steps",
    "nms_loop",
]
