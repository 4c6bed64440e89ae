r"""A small RetinaNet (Lin et al. 2017, https://arxiv.org/abs/1708.02002) for 64-pixel scenes, notes 4.3.4.

A one-stage detector: the classifier and the box regressor run on every anchor of every pyramid
level, with no proposals and no second stage.

* **Backbone**: five stride-2 stages of two 3 x 3 conv-BN-ReLU layers; :math:`C_3, C_4, C_5` at
  strides 8, 16, 32 (8 x 8, 4 x 4, 2 x 2 on a 64-pixel image).
* **FPN** (``cvcourse.detection.fpn``): :math:`P_3, P_4, P_5` with ``fpn_channels`` channels.
* **Anchors** (``cvcourse.detection.anchor_grid``): at every location of :math:`P_k` the sizes of
  ``anchor_sizes[k]`` times the ``aspect_ratios``, centred on the cell (``anchor_grid`` puts them on
  the cell's corner, as torchvision does; we add half a stride). The shapes are 6 .. 31 pixels wide:
  sizes 8 and 11 on :math:`P_3`, 16 and 23 on :math:`P_4`, 32 and 45 on :math:`P_5`.
* **Heads**, shared by all levels: a class subnet ending in :math:`A \cdot C` logits, **one sigmoid per
  class** (multi-label BCE, "no class" = background), its last bias initialised to the prior
  :math:`b = -\ln((1 - \psi) / \psi)` (:math:`\psi = 0.01`: :math:`b \approx -4.6`) so that at the start
  every anchor says "background" with probability :math:`1 - \psi` and the many easy negatives do not
  swamp the first steps; and a box subnet ending in :math:`4 A` codes (``encode_boxes``).
* **Training targets**: an anchor whose best IoU with a ground truth is :math:`\ge 0.5` is positive
  for that object's class, :math:`< 0.4` negative (all classes 0), in between ignored; each ground
  truth's best anchor is positive too (``label_anchors(anchors, boxes, 0.5, 0.4)``).
* **Loss**: :math:`\frac{1}{N_{pos}}\bigl(\sum_{\text{anchors not ignored}} \sum_k \mathrm{FL}(p_k, y_k)
  + \lambda \sum_{\text{positives}} \mathcal{L}_{box}\bigr)`, the focal loss (:math:`\alpha = 0.25`,
  :math:`\gamma = 2`, ``sigmoid_focal_loss``) summed over anchors and classes and divided by the number
  of positive anchors of the batch; the box loss smooth L1 (:math:`\beta = 1/9`) on the codes, or
  :math:`1 - \mathrm{GIoU}` of the decoded boxes.
* **Post-processing** per image: scores above ``score_threshold``, the ``topk_candidates`` best
  (anchor, class) pairs, decoded, clipped to the image, ``batched_nms`` per class (IoU 0.5), at most
  ``detections_per_image``.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import Tensor, nn

from cvcourse._checks import check_bool, check_choice, check_float, check_int, check_tensor, check_type

from .anchors import IGNORED, POSITIVE, anchor_grid, label_anchors
from .boxes import decode_boxes, encode_boxes, generalized_box_iou
from .fpn import FeaturePyramidNetwork
from .losses import sigmoid_focal_loss, smooth_l1
from .nms import batched_nms
from .one_stage import prior_bias  # b = -ln((1 - psi) / psi), re-exported here

__all__ = ["RetinaNet", "TRAINING", "prior_bias", "anchor_statistics", "per_anchor_losses"]

# the full-mode recipe of the shipped detector (train_detector's arguments)
TRAINING = {"epochs": 20, "lr": 3e-3, "batch_size": 32, "train_scenes": 4000, "weight_decay": 1e-4}
BOX_LOSSES = ("smooth_l1", "giou")
STRIDES = (8, 16, 32)


def _conv_bn(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _subnet(channels: int, convs: int, outputs: int) -> nn.Sequential:
    """``convs`` 3 x 3 conv + ReLU layers, then a 3 x 3 conv to ``outputs`` (RetinaNet's head, smaller)."""
    layers: list[nn.Module] = []
    for _ in range(convs):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
    layers.append(nn.Conv2d(channels, outputs, 3, padding=1))
    for m in layers:
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
    return nn.Sequential(*layers)


def _clip(boxes: Tensor, height: int, width: int) -> Tensor:
    """Boxes [K, 4] clipped to the image ``[0, width] x [0, height]``."""
    x = boxes[:, 0::2].clamp(0, width)
    y = boxes[:, 1::2].clamp(0, height)
    return torch.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], 1)


class RetinaNet(nn.Module):
    """RetinaNet for ``ShapesDetection`` scenes; every argument keyword-only (``model.config`` holds them).

    Args:
        num_classes: object classes C (labels 1 .. C; "background" is no class at all).
        image_size: the side of the images it is made for (any multiple of 32 works).
        channels: output channels of the five backbone stages (strides 2, 4, 8, 16, 32).
        fpn_channels: channels of the pyramid levels and the heads.
        head_convs: 3 x 3 conv layers in each subnet before its output layer (RetinaNet: 4).
        anchor_sizes: the anchor sizes (pixels) on P3, P4, P5.
        aspect_ratios: the anchors' h / w ratios, at every size.
        prior: the class subnet's initial probability psi (bias -ln((1 - psi) / psi)); None: zero bias.
        fg_iou, bg_iou: IoU at or above which an anchor is positive, below which negative.
        alpha, gamma: the focal loss's class weight and focusing exponent.
        box_loss: ``"smooth_l1"`` on the box codes or ``"giou"`` (1 - GIoU of the decoded boxes).
        box_weight: lambda, the box loss's weight.
        topk_candidates, detections_per_image, nms_iou: post-processing.
    """

    def __init__(
        self,
        *,
        num_classes: int = 5,
        image_size: int = 64,
        channels: tuple[int, ...] = (16, 32, 48, 64, 96),
        fpn_channels: int = 64,
        head_convs: int = 2,
        anchor_sizes: tuple[tuple[float, ...], ...] = ((8, 11), (16, 23), (32, 45)),
        aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0),
        prior: float | None = 0.01,
        fg_iou: float = 0.5,
        bg_iou: float = 0.4,
        alpha: float = 0.25,
        gamma: float = 2.0,
        box_loss: str = "giou",
        box_weight: float = 1.0,
        topk_candidates: int = 1000,
        detections_per_image: int = 100,
        nms_iou: float = 0.5,
    ) -> None:
        super().__init__()
        self.num_classes = check_int("num_classes", num_classes, low=1)
        self.image_size = check_int("image_size", image_size, low=32)
        check_type("channels", channels, (tuple, list), "a tuple of 5 ints")
        if len(channels) != 5:
            raise ValueError(f"channels must have 5 entries (one per backbone stage), got {len(channels)}")
        channels = tuple(check_int(f"channels[{i}]", c, low=1) for i, c in enumerate(channels))
        check_type("anchor_sizes", anchor_sizes, (tuple, list), "a tuple of 3 tuples of sizes (P3, P4, P5)")
        if len(anchor_sizes) != 3:
            raise ValueError(f"anchor_sizes must have 3 entries (P3, P4, P5), got {len(anchor_sizes)}")
        for i, sizes in enumerate(anchor_sizes):
            check_type(f"anchor_sizes[{i}]", sizes, (tuple, list), "a tuple of positive sizes")
            if not sizes:
                raise ValueError(f"anchor_sizes[{i}] must not be empty")
            sizes = [
                check_float(f"anchor_sizes[{i}][{j}]", s, low=0.0, low_inclusive=False)
                for j, s in enumerate(sizes)
            ]
            if len(sizes) != len(anchor_sizes[0]):
                raise ValueError("anchor_sizes must hold as many sizes on every level (the heads are shared)")
        check_type("aspect_ratios", aspect_ratios, (tuple, list), "a tuple of positive ratios")
        if prior is not None:
            check_float("prior", prior, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        self.fg_iou = check_float("fg_iou", fg_iou, low=0.0, high=1.0)
        self.bg_iou = check_float("bg_iou", bg_iou, low=0.0, high=self.fg_iou)
        self.alpha = check_float("alpha", alpha, high=1.0)
        self.gamma = check_float("gamma", gamma, low=0.0)
        self.box_loss = check_choice("box_loss", box_loss, BOX_LOSSES)
        self.box_weight = check_float("box_weight", box_weight, low=0.0)
        self.topk_candidates = check_int("topk_candidates", topk_candidates, low=1)
        self.detections_per_image = check_int("detections_per_image", detections_per_image, low=1)
        self.nms_iou = check_float("nms_iou", nms_iou, low=0.0, high=1.0)
        self.anchor_sizes = tuple(tuple(float(s) for s in sizes) for sizes in anchor_sizes)
        self.aspect_ratios = tuple(float(r) for r in aspect_ratios)
        self.num_anchors = len(self.anchor_sizes[0]) * len(self.aspect_ratios)
        self.config = {
            "num_classes": self.num_classes,
            "image_size": self.image_size,
            "channels": channels,
            "fpn_channels": check_int("fpn_channels", fpn_channels, low=1),
            "head_convs": check_int("head_convs", head_convs, low=0),
            "anchor_sizes": self.anchor_sizes,
            "aspect_ratios": self.aspect_ratios,
            "prior": None if prior is None else float(prior),
            "fg_iou": self.fg_iou,
            "bg_iou": self.bg_iou,
            "alpha": self.alpha,
            "gamma": self.gamma,
            "box_loss": self.box_loss,
            "box_weight": self.box_weight,
            "topk_candidates": self.topk_candidates,
            "detections_per_image": self.detections_per_image,
            "nms_iou": self.nms_iou,
        }
        stages, cin = [], 3
        for cout in channels:  # each stage halves the resolution
            stages.append(nn.Sequential(*_conv_bn(cin, cout, 2), *_conv_bn(cout, cout, 1)))
            cin = cout
        self.backbone = nn.ModuleList(stages)
        self.fpn = FeaturePyramidNetwork(list(channels[2:]), fpn_channels)
        self.cls_head = _subnet(fpn_channels, head_convs, self.num_anchors * num_classes)
        self.box_head = _subnet(fpn_channels, head_convs, self.num_anchors * 4)
        if prior is not None:
            nn.init.constant_(self.cls_head[-1].bias, prior_bias(prior))
        self._anchor_cache: dict = {}
        self.anchors()  # checks anchor_sizes and aspect_ratios (anchor_grid's checks) once, now

    # ----------------------------------------------------------------------------------------------
    def _check_images(self, images) -> Tensor:
        images = check_tensor("images", images, shape=(None, 3, None, None), dtype="float")
        if images.shape[0] == 0 or min(images.shape[-2:]) < 32:
            raise ValueError(
                f"images must be a non-empty batch [N, 3, H, W] with H, W >= 32, got {list(images.shape)}"
            )
        return images

    def features(self, images: Tensor) -> OrderedDict[str, Tensor]:
        """The pyramid ``{"p3", "p4", "p5"}`` of images [N, 3, H, W] in [0, 1]."""
        x = (self._check_images(images) - 0.5) / 0.25
        maps = OrderedDict()
        for i, stage in enumerate(self.backbone):
            x = stage(x)
            if i >= 2:
                maps[f"p{i + 1}"] = x
        return self.fpn(maps)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """Raw head outputs over all anchors (levels P3, P4, P5 concatenated, in ``anchors``' order):
        ``{"cls_logits": [N, A, C], "box_regression": [N, A, 4], "grid_sizes": [3, 2]}``."""
        levels = self.features(images)
        n = images.shape[0]
        logits, codes = [], []
        for p in levels.values():  # [N, k C, H, W] -> [N, H W k, C]: location-major, then anchor
            logits.append(self.cls_head(p).permute(0, 2, 3, 1).reshape(n, -1, self.num_classes))
            codes.append(self.box_head(p).permute(0, 2, 3, 1).reshape(n, -1, 4))
        grid = torch.tensor([list(p.shape[-2:]) for p in levels.values()])
        return {"cls_logits": torch.cat(logits, 1), "box_regression": torch.cat(codes, 1), "grid_sizes": grid}

    def anchors_for(self, grid_sizes, device=None) -> Tensor:
        """All anchors [A, 4] (x1, y1, x2, y2 pixels) for the levels' grid sizes, centred on the cells."""
        key = (tuple(tuple(int(v) for v in g) for g in grid_sizes), str(device))
        if key not in self._anchor_cache:
            grids = []
            for (h, w), stride, sizes in zip(key[0], STRIDES, self.anchor_sizes, strict=True):
                grids.append(anchor_grid((h, w), stride, sizes, self.aspect_ratios) + stride / 2)
            self._anchor_cache[key] = torch.cat(grids).to(device)
        return self._anchor_cache[key]

    def anchors(self, images: Tensor | None = None) -> Tensor:
        """The anchors [A, 4] of images of the model's ``image_size`` (or of ``images``' size)."""
        size = (
            (self.image_size, self.image_size)
            if images is None
            else tuple(self._check_images(images).shape[-2:])
        )
        grid = [(math.ceil(size[0] / s), math.ceil(size[1] / s)) for s in STRIDES]
        return self.anchors_for(grid)

    # ----------------------------------------------------------------------------------------------
    def _check_targets(self, targets, n: int) -> list[dict]:
        check_type("targets", targets, (list, tuple), "a list of dicts {'boxes', 'labels'}, one per image")
        if len(targets) != n:
            raise ValueError(f"targets must hold one dict per image ({n}), got {len(targets)}")
        for i, t in enumerate(targets):
            check_type(f"targets[{i}]", t, dict, "a dict with 'boxes' [K, 4] and 'labels' [K]")
            sizes: dict = {}
            check_tensor(f"targets[{i}]['boxes']", t.get("boxes"), shape=("K", 4), dtype="float", sizes=sizes)
            labels = check_tensor(
                f"targets[{i}]['labels']", t.get("labels"), shape=("K",), dtype="int", sizes=sizes
            )
            if len(labels) and (labels.min() < 1 or labels.max() > self.num_classes):
                raise ValueError(
                    f"targets[{i}]['labels'] must be in 1 .. {self.num_classes}, got {labels.tolist()}"
                )
        return list(targets)

    def assign(self, anchors: Tensor, targets: list[dict]) -> tuple[Tensor, Tensor, Tensor]:
        """Training targets of every anchor of every image.

        Returns:
            ``(labels [N, A]`` (1 positive, 0 negative, -1 ignored), ``classes [N, A, C]`` (the one-hot
            multi-label targets, all zero for background), ``boxes [N, A, 4]`` (the matched ground
            truth, meaningful for positives only)).
        """
        labels, classes, boxes = [], [], []
        for t in targets:
            gt = t["boxes"].to(anchors)
            lab, matched = label_anchors(anchors, gt, self.fg_iou, self.bg_iou, allow_low_quality=True)
            positive = lab == POSITIVE
            onehot = torch.zeros(len(anchors), self.num_classes, device=anchors.device)
            onehot[positive, t["labels"][matched[positive]] - 1] = 1.0
            matched_boxes = torch.zeros_like(anchors)
            matched_boxes[positive] = gt[matched[positive]]
            labels.append(lab), classes.append(onehot), boxes.append(matched_boxes)
        return torch.stack(labels), torch.stack(classes), torch.stack(boxes)

    def _losses(self, images: Tensor, targets) -> dict[str, Tensor]:
        images = self._check_images(images)
        targets = self._check_targets(targets, images.shape[0])
        out = self(images)
        anchors = self.anchors_for(out["grid_sizes"], images.device)
        labels, classes, gt_boxes = self.assign(anchors, targets)
        focal = sigmoid_focal_loss(out["cls_logits"], classes, self.alpha, self.gamma)  # [N, A, C]
        return {"out": out, "anchors": anchors, "labels": labels, "gt_boxes": gt_boxes, "focal": focal}

    def loss(self, images: Tensor, targets: list[dict]) -> dict[str, Tensor]:
        """``{"loss": cls + box_weight * box, "cls": ..., "box": ...}``, each divided by the positives."""
        parts = self._losses(images, targets)
        labels, anchors = parts["labels"], parts["anchors"]
        positive = labels == POSITIVE
        num_pos = positive.sum().clamp(min=1)
        cls = parts["focal"][labels != IGNORED].sum() / num_pos
        codes = parts["out"]["box_regression"][positive]  # [P, 4]
        anchors_p = anchors.expand(labels.shape[0], -1, -1)[positive]
        gt = parts["gt_boxes"][positive]
        if len(gt) == 0:
            box = codes.sum() * 0.0
        elif self.box_loss == "smooth_l1":
            box = smooth_l1(codes, encode_boxes(gt, anchors_p), beta=1 / 9, reduction="sum") / num_pos
        else:
            decoded = decode_boxes(codes, anchors_p)
            box = (1 - generalized_box_iou(decoded, gt).diagonal()).sum() / num_pos
        return {"loss": cls + self.box_weight * box, "cls": cls, "box": box}

    # ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def inspect(self, images: Tensor) -> dict[str, Tensor]:
        """For the viewer, the first image: ``{"anchors": [A, 4], "scores": [A, C] (sigmoids), "boxes":
        [A, 4] (each anchor's decoded box, clipped to the image)}``."""
        images = self._check_images(images)[:1]
        out = self(images)
        anchors = self.anchors_for(out["grid_sizes"], images.device)
        boxes = _clip(decode_boxes(out["box_regression"][0], anchors), *images.shape[-2:])
        return {"anchors": anchors, "scores": out["cls_logits"][0].sigmoid(), "boxes": boxes}

    @torch.no_grad()
    def predict(
        self, images: Tensor, score_threshold: float = 0.05, nms: bool = True
    ) -> list[dict[str, Tensor]]:
        """Detections per image: ``{"boxes": [K, 4] xyxy pixels, "scores": [K], "labels": [K] int64
        1-based}``, K <= ``detections_per_image``, by decreasing score. ``nms=False`` skips the NMS
        (to see the duplicates it removes)."""
        score_threshold = check_float("score_threshold", score_threshold, low=0.0, high=1.0)
        check_bool("nms", nms)
        was_training = self.training
        self.eval()
        try:
            out = self(self._check_images(images))
        finally:
            self.train(was_training)
        anchors = self.anchors_for(out["grid_sizes"], images.device)
        height, width = images.shape[-2:]
        results = []
        for logits, codes in zip(out["cls_logits"], out["box_regression"], strict=True):
            scores = logits.sigmoid().flatten()  # [A C], anchor-major
            keep = torch.nonzero(scores > score_threshold).flatten()
            keep = keep[scores[keep].argsort(descending=True, stable=True)[: self.topk_candidates]]
            anchor_idx, cls = keep // self.num_classes, keep % self.num_classes
            boxes = _clip(decode_boxes(codes[anchor_idx], anchors[anchor_idx]), height, width)
            scores, labels = scores[keep], cls + 1
            if nms and len(boxes):
                chosen = batched_nms(boxes, scores, labels, self.nms_iou)
            else:
                chosen = torch.arange(len(boxes), device=boxes.device)
            chosen = chosen[: self.detections_per_image]
            results.append(
                {"boxes": boxes[chosen], "scores": scores[chosen], "labels": labels[chosen].long()}
            )
        return results


# --------------------------------------------------------------------------------------------------
# The class imbalance and the focal loss on real anchors (the notebook's figures)


@torch.no_grad()
def anchor_statistics(model: RetinaNet, dataset) -> dict:
    """How many anchors are positive, negative and ignored on the scenes of ``dataset``.

    Returns:
        ``{"positive", "negative", "ignored", "anchors", "images", "per_image_anchors",
        "negatives_per_positive", "per_level": {"p3": {"positive", "negative", "ignored"}, ...}}``.
    """
    check_type("model", model, RetinaNet, "a RetinaNet")
    if not hasattr(dataset, "__len__") or len(dataset) == 0:
        raise ValueError("dataset must be a non-empty data set of (image, target) pairs")
    anchors = model.anchors()
    level_of = torch.cat(
        [
            torch.full((h * w * model.num_anchors,), i)
            for i, (h, w) in enumerate(
                (math.ceil(model.image_size / s), math.ceil(model.image_size / s)) for s in STRIDES
            )
        ]
    )
    counts = torch.zeros(3, 3, dtype=torch.int64)  # [level, (positive, negative, ignored)]
    for i in range(len(dataset)):
        _, target = dataset[i]
        labels, _ = label_anchors(anchors, target["boxes"].float(), model.fg_iou, model.bg_iou, True)
        for j, code in enumerate((POSITIVE, 0, IGNORED)):
            counts[:, j] += torch.bincount(level_of[labels == code], minlength=3)
    total = counts.sum(0)
    return {
        "positive": int(total[0]),
        "negative": int(total[1]),
        "ignored": int(total[2]),
        "anchors": int(total.sum()),
        "images": len(dataset),
        "per_image_anchors": len(anchors),
        "negatives_per_positive": float(total[1]) / max(int(total[0]), 1),
        "per_level": {
            f"p{k + 3}": dict(zip(("positive", "negative", "ignored"), map(int, counts[k]), strict=True))
            for k in range(3)
        },
    }


@torch.no_grad()
def per_anchor_losses(model: RetinaNet, images: Tensor, targets: list[dict]) -> dict[str, Tensor]:
    """The focal loss of each positive and each negative anchor (summed over the classes), unnormalised.

    Sorted and accumulated, these give the notes' Fig. 4.18: the few hard negatives carry most of
    the negatives' loss. Computed in eval mode with the model's ``alpha`` and ``gamma``.

    Returns:
        ``{"positive": Tensor[P], "negative": Tensor[Q]}`` over all anchors of all images.
    """
    check_type("model", model, RetinaNet, "a RetinaNet")
    was_training = model.training
    model.eval()
    try:
        parts = model._losses(images, targets)
    finally:
        model.train(was_training)
    per_anchor = parts["focal"].sum(-1)  # [N, A]
    return {"positive": per_anchor[parts["labels"] == POSITIVE], "negative": per_anchor[parts["labels"] == 0]}
