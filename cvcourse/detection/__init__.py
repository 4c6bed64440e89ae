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
* ``matching``: the Hungarian algorithm (``linear_sum_assignment``: scipy's optimum);
* ``widgets``: ``anchor_explorer()``, ``nms_explorer()``, ``pr_curve_explorer()`` (import them from
  ``cvcourse.detection.widgets``).
"""

from .anchors import anchor_grid, base_anchors, label_anchors, sample_anchors
from .boxes import (
    box_area,
    box_convert,
    box_iou,
    decode_boxes,
    encode_boxes,
    generalized_box_iou,
)
from .losses import sigmoid_focal_loss, smooth_l1
from .matching import linear_sum_assignment
from .metrics import average_precision, coco_map, match_detections, precision_recall
from .nms import batched_nms, nms, nms_loop, nms_steps
from .roi import roi_align, roi_align_samples, roi_pool, roi_pool_bins

__all__ = [
    "box_area",
    "box_convert",
    "box_iou",
    "generalized_box_iou",
    "encode_boxes",
    "decode_boxes",
    "match_detections",
    "precision_recall",
    "average_precision",
    "coco_map",
    "nms",
    "batched_nms",
    "nms_steps",
    "nms_loop",
    "roi_pool",
    "roi_align",
    "roi_pool_bins",
    "roi_align_samples",
    "sigmoid_focal_loss",
    "smooth_l1",
    "base_anchors",
    "anchor_grid",
    "label_anchors",
    "sample_anchors",
    "linear_sum_assignment",
]

# Viola-Jones and proposals
from .adaboost import AdaBoost, Stump, fit_stump, spam_example  # noqa: E402, F401
from .cascade import Cascade, cascade_rates, face_patches, nonface_patches, patch_features, train_cascade  # noqa: E402, F401
from .haar import (  # noqa: E402, F401
    HaarFeatures,
    haar_feature_grid,
    haar_features,
    haar_mask,
    normalized_haar_features,  # noqa: E402, F401
)
from .integral import integral_image, integral_image_loop, rectangle_sum  # noqa: E402, F401
from .proposals import SelectiveSearch, selective_search  # noqa: E402, F401
from .rcnn_cost import alexnet_2012, count_flops, rcnn_table, shared_pass_size  # noqa: E402, F401
from .sliding_window import face_scene, sliding_window_detect, window_grid  # noqa: E402, F401
