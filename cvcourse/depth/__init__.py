"""Chapter 6, depth estimation: stereo geometry, classic block matching, warping, and a self-supervised
Monodepth.

* :mod:`~cvcourse.depth.geometry`: ``disparity_to_depth``, ``depth_to_disparity``, ``depth_resolution``;
* :mod:`~cvcourse.depth.matching`: ``cost_volume`` (SAD / SSD / ZNCC), ``block_matching``,
  ``subpixel_refine``, ``left_right_check``;
* :mod:`~cvcourse.depth.warp`: ``reconstruct_left``, ``reconstruct_right`` (backward bilinear sampling),
  ``forward_warp`` (splatting, with its holes);
* :mod:`~cvcourse.depth.ssim`: ``ssim``, equal to scikit-image's ``structural_similarity``;
* :mod:`~cvcourse.depth.losses`: photometric, edge-aware smoothness, left-right consistency;
* :mod:`~cvcourse.depth.metrics`: ``depth_metrics`` (abs rel ... delta < 1.25^3), bad-pixel rates, EPE;
* :mod:`~cvcourse.depth.monodepth`, :mod:`~cvcourse.depth.training`, :mod:`~cvcourse.depth.pretrained`:
  the small network, its training through ``cvcourse.train.fit``, ``load_shapes_monodepth()``;
* :mod:`~cvcourse.depth.cues`: ``cue_probe``, which monocular cue (contact row or size) the network reads;
* :mod:`~cvcourse.depth.widgets`: ``correspondence_explorer()``, ``warp_explorer()``.
"""

from .geometry import depth_resolution, depth_to_disparity, disparity_to_depth
from .losses import lr_consistency_loss, photometric_loss, smoothness_loss
from .matching import block_matching, cost_volume, left_right_check, subpixel_refine, winner_take_all
from .metrics import bad_pixel_rate, depth_metrics, disparity_metrics, end_point_error
from .monodepth import Monodepth, monodepth_loss
from .pretrained import load_shapes_monodepth
from .ssim import ssim, ssim_map
from .warp import forward_warp, reconstruct_left, reconstruct_right

__all__ = [
    "disparity_to_depth",
    "depth_to_disparity",
    "depth_resolution",
    "cost_volume",
    "winner_take_all",
    "subpixel_refine",
    "block_matching",
    "left_right_check",
    "reconstruct_left",
    "reconstruct_right",
    "forward_warp",
    "ssim",
    "ssim_map",
    "photometric_loss",
    "smoothness_loss",
    "lr_consistency_loss",
    "depth_metrics",
    "bad_pixel_rate",
    "end_point_error",
    "disparity_metrics",
    "Monodepth",
    "monodepth_loss",
    "load_shapes_monodepth",
]
