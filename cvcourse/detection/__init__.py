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

Chapter 4b, the detectors (sections 4.3.3-4.3.6 and 4.A):

* ``fpn``: the feature pyramid network (= ``torchvision.ops.FeaturePyramidNetwork``), the level of a box;
* ``one_stage``: YOLO's k-means anchors, Tiny YOLOv2 and its layer table, SSD's default boxes
  (= torchvision's ``DefaultBoxGenerator``), hard negative mining, the focal loss' numbers, the prior bias;
* ``retinanet``, ``centernet``, ``detr``: the three detectors, one small module each;
* ``efficientdet``: BiFPN's fast normalised fusion, compound scaling;
* ``training``, ``pretrained``: ``train_detector``, ``evaluate_detector``, ``load_shapes_detector``;
* ``viewer``: ``detection_viewer()`` (import it from ``cvcourse.detection.widgets``).
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

# Viola-Jones and proposals (chapter 4a); the detectors (chapter 4b)
from .adaboost import AdaBoost, Stump, fit_stump, spam_example  # noqa: E402, F401
from .cascade import Cascade, cascade_rates, face_patches, nonface_patches, patch_features, train_cascade  # noqa: E402, F401
from .centernet import (  # noqa: E402, F401
    CenterNet,
    centernet_targets,
    decode_centernet,
    draw_gaussian,
    extract_peaks,
    gaussian_radius,
    heatmap_focal_loss,
)
from .detr import DETR, hungarian_cost, query_box_centers, set_loss, sine_position_encoding_2d  # noqa: E402, F401
from .efficientdet import (  # noqa: E402, F401
    EFFICIENTDET_TABLE,
    FastNormalizedFusion,
    efficientdet_scaling,
    scaling_differences,
)
from .fpn import FeaturePyramidNetwork, LastLevelMaxPool, LastLevelP6P7, level_of_box  # noqa: E402, F401
from .haar import (  # noqa: E402, F401
    HaarFeatures,
    haar_feature_grid,
    haar_features,
    haar_mask,
    normalized_haar_features,  # noqa: E402, F401
)
from .integral import integral_image, integral_image_loop, rectangle_sum  # noqa: E402, F401
from .one_stage import (  # noqa: E402, F401
    binary_focal_loss,
    cumulative_loss,
    focal_modulation_table,
    hard_negative_mining,
    kmeans_anchors,
    layer_table,
    mean_best_iou,
    prior_bias,
    ssd_default_boxes,
    ssd_scales,
    tiny_yolov2,
    wh_iou,
    yolo_decode,
)
from .pretrained import load_shapes_detector  # noqa: E402, F401
from .proposals import SelectiveSearch, selective_search  # noqa: E402, F401
from .rcnn_cost import alexnet_2012, count_flops, rcnn_table, shared_pass_size  # noqa: E402, F401
from .retinanet import RetinaNet, anchor_statistics, per_anchor_losses  # noqa: E402, F401
from .sliding_window import face_scene, sliding_window_detect, window_grid  # noqa: E402, F401
from .training import evaluate_detector, render_scenes, train_detector  # noqa: E402, F401
