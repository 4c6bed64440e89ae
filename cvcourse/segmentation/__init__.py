"""Chapter 5a: semantic segmentation, exact and readable.

Modules, in the order of the notes (section 5.1, appendix 5.A):

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
  (the last defined in ``viewer``; import all three from ``cvcourse.segmentation.widgets``).
"""

from .deeplab import ASPP, ASPPv2, DeepLabHead, DeepLabV3, deeplabv3_resnet50
from .fcn import FCN, FCNHead, SmallFCN, fcn_resnet50
from .losses import pixel_cross_entropy, softmax_focal_loss
from .metrics import (
    confusion_matrix,
    iou_per_class,
    mean_accuracy,
    mean_iou,
    pixel_accuracy,
    scores_from_confusion,
)
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
]
