r"""Mask R-CNN's mask branch (He et al., https://arxiv.org/abs/1703.06870; notes, 5.2.1).

* :class:`MaskHead`: four 3x3 convs on the 14x14 RoIAlign features, a 2x2 stride-2 transposed conv
  to 28x28, and a 1x1 conv to one mask **per class** (``num_classes`` channels). Each channel is
  read through a sigmoid on its own, not a softmax across classes: the box head has already chosen
  the class, so masks do not compete and the mask of class :math:`k` only has to separate
  object from background (the notes' remark: decoupling mask and class prediction).
* :func:`mask_loss`: binary cross-entropy over the :math:`28 \times 28` cells of the ground-truth
  class's channel only; the target is the ground-truth mask cut out by the proposal with RoIAlign,

  .. math::
      L_\mathrm{mask} = -\frac{1}{K m^2} \sum_{k=1}^{K} \sum_{u, v}
      \big[ t_{kuv} \log \sigma(z_{k, c_k, u, v}) + (1 - t_{kuv}) \log (1 - \sigma(z_{k, c_k, u, v})) \big],

  equal to ``torchvision.models.detection.roi_heads.maskrcnn_loss``.
* :func:`paste_masks`: a 28x28 mask back into the image by its box (padded by one cell, resized
  bilinearly to the integer box), equal to ``roi_heads.paste_masks_in_image``.
* :func:`roi_pooling_example`: the 4x6 RoI -> 3x3 worked example of the RoI slides, RoIPool vs
  RoIAlign.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvcourse._checks import check_int, check_tensor, check_type
from cvcourse.detection import roi_align, roi_pool

__all__ = ["ROI_EXAMPLE_FEATURES", "MaskHead", "mask_loss", "paste_masks", "roi_pooling_example"]


def _tensor_list(name: str, value, **kw) -> list[Tensor]:
    check_type(name, value, (list, tuple), "a list of tensors, one per image")
    return [check_tensor(f"{name}[{i}]", v, **kw) for i, v in enumerate(value)]


def mask_loss(
    mask_logits: Tensor,
    proposals: list[Tensor],
    gt_masks: list[Tensor],
    gt_labels: list[Tensor],
    mask_matched_idxs: list[Tensor],
) -> Tensor:
    """Mask R-CNN's mask loss, equal to torchvision's ``maskrcnn_loss`` (value and gradient).

    Args:
        mask_logits (Tensor[K, C, m, m]): the mask head's logits for the K positive proposals of all
            images, in order.
        proposals (list of Tensor[K_i, 4]): the positive proposals of each image (x1, y1, x2, y2).
        gt_masks (list of Tensor[G_i, H, W]): each image's ground-truth masks (0/1, any dtype).
        gt_labels (list of LongTensor[G_i]): their classes.
        mask_matched_idxs (list of LongTensor[K_i]): the ground truth each proposal is matched to.

    Returns:
        the mean BCE over the :math:`K m^2` cells of each proposal's ground-truth class channel (0
        with a gradient when there is no proposal).
    """
    mask_logits = check_tensor("mask_logits", mask_logits, shape=("K", "C", "m", "m"), dtype="float")
    proposals = _tensor_list("proposals", proposals, shape=(None, 4), dtype="float")
    gt_masks = _tensor_list("gt_masks", gt_masks, ndim=3)
    gt_labels = _tensor_list("gt_labels", gt_labels, ndim=1, dtype="int")
    mask_matched_idxs = _tensor_list("mask_matched_idxs", mask_matched_idxs, ndim=1, dtype="int")
    n = len(proposals)
    if not len(gt_masks) == len(gt_labels) == len(mask_matched_idxs) == n:
        raise ValueError(
            "proposals, gt_masks, gt_labels and mask_matched_idxs must have one entry per image, got "
            f"{n}, {len(gt_masks)}, {len(gt_labels)}, {len(mask_matched_idxs)}"
        )
    m = mask_logits.shape[-1]
    labels, targets = [], []
    for i, (boxes, masks, cls, idx) in enumerate(
        zip(proposals, gt_masks, gt_labels, mask_matched_idxs, strict=True)
    ):
        if len(idx) != len(boxes):
            raise ValueError(
                f"mask_matched_idxs[{i}] must have one entry per proposal ({len(boxes)}), got {len(idx)}"
            )
        if len(cls) != len(masks):
            raise ValueError(f"gt_labels[{i}] must have one label per mask ({len(masks)}), got {len(cls)}")
        if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= len(masks)):
            raise ValueError(f"mask_matched_idxs[{i}] must index gt_masks[{i}] (0 .. {len(masks) - 1})")
        labels.append(cls[idx])
        # the target: ground-truth mask idx[j] cut out by proposal j and resampled to m x m
        rois = torch.cat([idx.to(boxes)[:, None], boxes], dim=1)
        targets.append(roi_align(masks[:, None].to(boxes), rois, (m, m), 1.0)[:, 0])
    labels_ = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)
    targets_ = torch.cat(targets) if targets else mask_logits.new_zeros(0, m, m)
    if len(labels_) != len(mask_logits):
        raise ValueError(
            f"mask_logits must have one row per proposal ({len(labels_)}), got {len(mask_logits)}"
        )
    if targets_.numel() == 0:
        return mask_logits.sum() * 0
    chosen = mask_logits[torch.arange(len(labels_)), labels_]  # [K, m, m]: the ground-truth class's channel
    return F.binary_cross_entropy_with_logits(chosen, targets_)


def paste_masks(masks: Tensor, boxes: Tensor, image_shape, padding: int = 1) -> Tensor:
    r"""Paste m x m masks into the image by their boxes, as torchvision's ``paste_masks_in_image``.

    1. pad each mask by ``padding`` zero cells and enlarge its box by the same factor
       :math:`(m + 2p) / m` about its centre (so the mask's border falls off smoothly);
    2. make the box integer (truncation toward zero, as torchvision's ``.to(int64)``);
    3. resize the padded mask bilinearly (``align_corners=False``) to the box's
       :math:`(y_2 - y_1 + 1) \times (x_2 - x_1 + 1)` pixels (at least 1 x 1);
    4. copy the part inside the image.

    Args:
        masks (Tensor[N, 1, m, m]): mask probabilities (or logits).
        boxes (Tensor[N, 4]): (x1, y1, x2, y2) in image pixels.
        image_shape: (H, W).
        padding: cells of zero padding.

    Returns:
        Tensor[N, 1, H, W]. A box entirely outside the image gives an empty mask here, where
        torchvision raises a shape error for boxes left of, right of, or below the image (its
        slice bounds go negative and wrap around).
    """
    sizes: dict[str, int] = {}
    masks = check_tensor("masks", masks, shape=("N", 1, "m", "m"), dtype="float", sizes=sizes)
    boxes = check_tensor("boxes", boxes, shape=("N", 4), dtype="float", finite=True, sizes=sizes)
    check_type("image_shape", image_shape, (tuple, list, torch.Size), "a pair (H, W)")
    if len(image_shape) != 2:
        raise ValueError(f"image_shape must be a pair (H, W), got {image_shape!r}")
    H, W = (check_int(f"image_shape[{i}]", v, low=1) for i, v in enumerate(image_shape))
    padding = check_int("padding", padding, low=0)
    m = masks.shape[-1]
    scale = (m + 2 * padding) / m
    padded = F.pad(masks, (padding,) * 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) * 0.5
    half = (boxes[:, 2:] - boxes[:, :2]) * 0.5 * scale
    big = torch.cat([centre - half, centre + half], dim=1).to(torch.int64)
    out = masks.new_zeros(len(masks), 1, H, W)
    for k, (x1, y1, x2, y2) in enumerate(big.tolist()):
        w, h = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)
        resized = F.interpolate(padded[k : k + 1], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        xs, xe = max(x1, 0), min(x2 + 1, W, x1 + w)
        ys, ye = max(y1, 0), min(y2 + 1, H, y1 + h)
        if xs < xe and ys < ye:
            out[k, 0, ys:ye, xs:xe] = resized[ys - y1 : ye - y1, xs - x1 : xe - x1]
    return out


class MaskHead(nn.Module):
    """The mask head: convs, a transposed conv (x2) and one mask per class.

    The parameters are named as torchvision's: ``heads`` holds the state dict of
    ``MaskRCNNHeads(in_channels, layers, dilation)`` and ``predictor`` that of
    ``MaskRCNNPredictor(layers[-1], dim_reduced, num_classes)``, so either loads into the other.

    Args:
        in_channels: channels of the RoI features (e.g. 14 x 14 from RoIAlign).
        num_classes: masks predicted per RoI (background included, as torchvision).
        layers: output channels of each 3x3 conv (the paper: four of 256).
        dim_reduced: channels of the transposed conv.
        dilation: of the 3x3 convs.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        layers=(256, 256, 256, 256),
        dim_reduced: int = 256,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels, low=1)
        num_classes = check_int("num_classes", num_classes, low=1)
        check_type("layers", layers, (tuple, list), "a sequence of channel counts")
        if not layers:
            raise ValueError("layers must hold at least one channel count, got an empty sequence")
        layers = [check_int(f"layers[{i}]", c, low=1) for i, c in enumerate(layers)]
        dim_reduced = check_int("dim_reduced", dim_reduced, low=1)
        dilation = check_int("dilation", dilation, low=1)
        blocks, c = [], in_channels
        for out in layers:
            conv = nn.Conv2d(c, out, 3, padding=dilation, dilation=dilation)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            blocks.append(nn.Sequential(conv, nn.ReLU(inplace=True)))
            c = out
        self.heads = nn.Sequential(*blocks)
        self.predictor = nn.Sequential(
            OrderedDict(
                [
                    ("conv5_mask", nn.ConvTranspose2d(c, dim_reduced, 2, 2, 0)),
                    ("relu", nn.ReLU(inplace=True)),
                    ("mask_fcn_logits", nn.Conv2d(dim_reduced, num_classes, 1, 1, 0)),
                ]
            )
        )
        for name, p in self.predictor.named_parameters():
            if "weight" in name:
                nn.init.kaiming_normal_(p, mode="fan_out", nonlinearity="relu")
        self.in_channels, self.num_classes = in_channels, num_classes

    def forward(self, features: Tensor) -> Tensor:
        """Tensor[K, in_channels, s, s] RoI features -> Tensor[K, num_classes, 2s, 2s] mask logits."""
        check_tensor("features", features, shape=(None, self.in_channels, None, None), dtype="float")
        return self.predictor(self.heads(features))

    @staticmethod
    def select(mask_logits: Tensor, labels: Tensor) -> Tensor:
        """The sigmoid of each RoI's own class channel: Tensor[K, 1, m, m] (torchvision's
        ``maskrcnn_inference`` for one image)."""
        sizes: dict[str, int] = {}
        check_tensor("mask_logits", mask_logits, shape=("K", None, None, None), dtype="float", sizes=sizes)
        check_tensor("labels", labels, shape=("K",), dtype="int", sizes=sizes)
        return mask_logits[torch.arange(len(labels)), labels][:, None].sigmoid()


# the RoI slide's 4 x 6 RoI: the slide shows three rows; the fourth (last) row is ours
ROI_EXAMPLE_FEATURES = (
    (0.1, 0.2, 0.3, 0.4, 0.5, 0.6),
    (1.0, 0.7, 0.2, 0.6, 0.1, 0.9),
    (0.9, 0.8, 0.7, 0.3, 0.5, 0.2),
    (0.3, 0.4, 0.1, 0.8, 0.6, 0.5),  # chosen: the slide leaves this row out
)


def roi_pooling_example(sampling_ratio: int = 2) -> dict[str, Tensor]:
    """The 4x6 RoI -> 3x3 worked example of the RoI slides, RoIPool vs RoIAlign (float64).

    Values the slide leaves out, chosen here: the fourth row of the RoI (``ROI_EXAMPLE_FEATURES``),
    the RoI is the whole 4 x 6 map, stride 1 (``spatial_scale=1``), the box ``(0, 0, 5, 3)`` in
    pixel indices for RoIPool (it covers the pixels 0..5 x 0..3 inclusive) and ``(0, 0, 6, 4)`` in
    continuous coordinates for RoIAlign (``aligned=False``, ``sampling_ratio`` x ``sampling_ratio``
    points per bin, 2 x 2 by default).

    RoIPool splits 4 rows into 3 bins by ``floor(p * 4/3)`` .. ``ceil((p + 1) * 4/3)``: rows
    ``[0, 2), [1, 3), [2, 4)`` (they overlap: quantisation), columns ``[0, 2), [2, 4), [4, 6)``, and
    takes each bin's maximum. RoIAlign's bins are exactly 4/3 x 2 and their values are averages of
    bilinear samples, so no pixel is counted twice by rounding.

    Returns:
        ``{"features": [4, 6], "roi_pool": [3, 3], "roi_align": [3, 3]}``.
    """
    sampling_ratio = check_int("sampling_ratio", sampling_ratio, low=1)
    x = torch.tensor(ROI_EXAMPLE_FEATURES, dtype=torch.float64)
    pooled = roi_pool(x[None, None], torch.tensor([[0, 0, 0, 5, 3]], dtype=torch.float64), (3, 3))
    aligned = roi_align(
        x[None, None],
        torch.tensor([[0, 0, 0, 6, 4]], dtype=torch.float64),
        (3, 3),
        sampling_ratio=sampling_ratio,
    )
    return {"features": x, "roi_pool": pooled[0, 0], "roi_align": aligned[0, 0]}
