"""Chapters 5a and 5b: semantic, instance and panoptic segmentation, exact and readable.

Modules of 5a, in the order of the notes (section 5.1, appendix 5.A):

* ``metrics``: confusion matrix, pixel accuracy, mean accuracy, IoU per class, mIoU (= torchmetrics);
* ``losses``: pixel-wise cross-entropy (= ``F.cross_entropy``) and the softmax focal loss;
* ``kinect``: synthetic depth bodies, depth-comparison features, the random forest, mean-shift joints;
* ``upsampling``: nearest, bilinear, bed of nails, max unpooling, transposed convolution (scatter and
  ``conv_matrix`` transpose), ``bilinear_kernel``, checkerboard measure, pixel shuffle (= torch ops);
* ``receptive_field``: receptive fields, dilated stacks, gridding, ``conv_cost`` (= FlopCounterMode);
* ``pooling``: SPP and PSPNet's pyramid pooling;
* ``fcn``: ``SmallFCN`` (32s / 16s / 8s skips), ``FCNHead``, ``fcn_resnet50`` (= torchvision's);
* ``unet``: ``UNet`` (same padding);
* ``deeplab``: ``ASPPv2``, ``ASPP``, ``DeepLabHead``, ``deeplabv3_resnet50`` (= torchvision's);
* ``segformer``: ``SegFormer``, ``EfficientSelfAttention``, ``attention_cost``;
* ``training``: ``train_segmenter`` (``cvcourse.train.fit``, AdamW, cosine decay), ``evaluate_segmenter``
  (mIoU, pixel accuracy, IoU per class on unseen scenes), ``predict_labels``, ``pretrain_vs_scratch``
  (the SegFormer report's experiment on our data);
* ``pretrained``: ``load_shapes_segmenter("unet" | "segformer")`` -> ``(model, info)``, the shipped
  weights, checksum verified;
* ``widgets``: ``receptive_field_explorer()``, ``upsampling_explorer()``, ``segmentation_viewer()``
  and 5b's ``panoptic_viewer()`` (the viewers are defined in ``viewer`` and ``panoptic_viewer``;
  import all four from ``cvcourse.segmentation.widgets``).

Modules of 5b (sections 5.2-5.3):

* ``mask_rcnn``: ``MaskHead``, ``mask_loss`` (= torchvision's ``maskrcnn_loss``), ``paste_masks``
  (= ``paste_masks_in_image``), ``roi_pooling_example`` (RoIPool vs RoIAlign, the slide's numbers);
* ``panoptic``: ``panoptic_quality`` (PQ, SQ, RQ, per class; = torchmetrics' ``PanopticQuality``),
  ``match_segments``, ``panoptic_merge`` (Panoptic FPN's rule: things over stuff, by score);
* ``maskformer``: ``maskformer_inference`` (s_i = p_i(c_i) m_i(u, v); semantic, instance, panoptic),
  ``masked_attention_mask`` (Mask2Former);
* ``small_mask_rcnn``: torchvision's ``MaskRCNN`` around a small CNN + FPN with our ``MaskHead``,
  ``train_mask_rcnn``, ``mask_average_precision`` (= pycocotools' segm mode),
  ``load_shapes_mask_rcnn()``;
* ``small_maskformer``: ``SmallMaskFormer`` (Mask2Former-style), Hungarian matching, the losses,
  ``panoptic_predict``, ``train_maskformer``, ``evaluate_maskformer``, ``load_shapes_maskformer()``;
* ``panoptic_views``: the pure functions behind the panoptic viewer (merge trace, PQ picture).
"""

from .deeplab import ASPP, ASPPv2, DeepLabHead, DeepLabV3, deeplabv3_resnet50
from .fcn import FCN, FCNHead, SmallFCN, fcn_resnet50
from .losses import pixel_cross_entropy, softmax_focal_loss
from .mask_rcnn import MaskHead, mask_loss, paste_masks, roi_pooling_example
from .maskformer import masked_attention_mask, maskformer_inference
from .metrics import (
    confusion_matrix,
    iou_per_class,
    mean_accuracy,
    mean_iou,
    pixel_accuracy,
    scores_from_confusion,
)
from .panoptic import match_segments, panoptic_merge, panoptic_quality
from .pooling import PyramidPooling, spatial_pyramid_pool
from .pretrained import load_shapes_segmenter
from .receptive_field import (
    conv_cost,
    conv_stack,
    exponential_dilations,
    measured_receptive_field,
    receptive_field,
    receptive_field_table,
    touched_pixels,
    valid_tap_fraction,
    valid_unet_sizes,
)
from .segformer import EfficientSelfAttention, SegFormer, attention_cost
from .small_mask_rcnn import load_shapes_mask_rcnn, mask_average_precision
from .small_maskformer import SmallMaskFormer, load_shapes_maskformer, panoptic_predict
from .training import evaluate_segmenter, predict_labels, pretrain_vs_scratch, train_segmenter
from .unet import UNet
from .upsampling import (
    bed_of_nails,
    bilinear_kernel,
    bilinear_upsample,
    checkerboard,
    conv_matrix,
    max_pool_with_indices,
    max_unpool,
    nearest_upsample,
    pixel_shuffle,
    resize_conv,
    transposed_conv_by_matrix,
    transposed_conv_scatter,
)

__all__ = [
    "confusion_matrix",
    "pixel_accuracy",
    "mean_accuracy",
    "iou_per_class",
    "mean_iou",
    "scores_from_confusion",
    "pixel_cross_entropy",
    "softmax_focal_loss",
    "nearest_upsample",
    "bilinear_upsample",
    "bed_of_nails",
    "max_pool_with_indices",
    "max_unpool",
    "transposed_conv_scatter",
    "conv_matrix",
    "transposed_conv_by_matrix",
    "bilinear_kernel",
    "resize_conv",
    "checkerboard",
    "pixel_shuffle",
    "receptive_field",
    "receptive_field_table",
    "exponential_dilations",
    "conv_stack",
    "measured_receptive_field",
    "touched_pixels",
    "conv_cost",
    "valid_tap_fraction",
    "valid_unet_sizes",
    "spatial_pyramid_pool",
    "PyramidPooling",
    "SmallFCN",
    "FCN",
    "FCNHead",
    "fcn_resnet50",
    "UNet",
    "ASPPv2",
    "ASPP",
    "DeepLabHead",
    "DeepLabV3",
    "deeplabv3_resnet50",
    "SegFormer",
    "EfficientSelfAttention",
    "attention_cost",
    "train_segmenter",
    "evaluate_segmenter",
    "predict_labels",
    "pretrain_vs_scratch",
    "load_shapes_segmenter",
    "MaskHead",
    "mask_loss",
    "paste_masks",
    "roi_pooling_example",
    "panoptic_quality",
    "match_segments",
    "panoptic_merge",
    "maskformer_inference",
    "masked_attention_mask",
    "mask_average_precision",
    "load_shapes_mask_rcnn",
    "SmallMaskFormer",
    "panoptic_predict",
    "load_shapes_maskformer",
]
