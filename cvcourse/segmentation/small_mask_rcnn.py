r"""A small Mask R-CNN for the shapes instance scenes, and mask AP (notes, 5.2.1).

* ``build_shapes_mask_rcnn(**config)``: torchvision's ``MaskRCNN`` class (He et al. 2017,
  https://arxiv.org/abs/1703.06870) around a small CNN with an FPN (strides 4, 8, 16), anchors of 8 to
  32 pixels, RoIAlign on the stride-4 level (7 x 7 for boxes, 14 x 14 for masks) and our ``MaskHead``
  (same weights and names as torchvision's mask head); ``min_size`` = ``max_size`` = the image side,
  so torchvision's transform does not resize the 64-pixel scenes to 800. Six classes: 0 background,
  1..5 the things of ``ShapesSegmentation`` (category id = label).
* ``train_mask_rcnn(model, ...)``: ``cvcourse.train.fit`` with a ``step_fn`` that sums torchvision's
  five losses (RPN objectness and box, classifier, box regression, mask BCE), on
  ``ShapesSegmentation(kind="instance")`` scenes of a seed other than 777.
* ``mask_average_precision(predictions, targets)``: COCO's AP on masks, equal to pycocotools'
  ``COCOeval(..., "segm")``: mask IoU :math:`|A \cap B| / |A \cup B|` (0 when the masks do not
  overlap), areas in mask pixels, the rest exactly as ``cvcourse.detection.coco_map`` (greedy matching
  by score, 101-point interpolated precision, IoU 0.50:0.95); its matching and accumulation are reused.
* ``evaluate_mask_rcnn(model, dataset)``: mask AP and box AP of a model on scenes.
* ``load_shapes_mask_rcnn()``: the shipped model (``data/mask_rcnn_shapes.pt``), checksum verified.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign

from cvcourse._checks import check_bool, check_float, check_int, check_tensor, check_type
from cvcourse.data import ShapesSegmentation
from cvcourse.detection.coco import (
    AREA_RANGES,
    COCO_IOU_THRESHOLDS,
    _accumulate,
    _match_all,
    _rank_in_group,
    coco_map,
)
from cvcourse.train import fit

from .mask_rcnn import MaskHead

__all__ = [
    "DEFAULT_CONFIG",
    "TRAINING",
    "FULL",
    "FAST",
    "VAL_SEED",
    "SmallFPNBackbone",
    "build_shapes_mask_rcnn",
    "train_mask_rcnn",
    "predict_masks",
    "mask_average_precision",
    "evaluate_mask_rcnn",
    "save_mask_rcnn",
    "load_shapes_mask_rcnn",
    "FILE_NAME",
    "SCRIPT",
]

VAL_SEED = 777
FILE_NAME = "mask_rcnn_shapes.pt"
SCRIPT = "train_shapes_mask_rcnn.py"
NUM_CLASSES = 6  # background + the five things

# the notebook's full and fast recipes; the shipped run (data/scripts/train_shapes_mask_rcnn.py) is the
# full one (600 steps: a longer run did not fit on the shared machine)
FULL: dict[str, Any] = {"epochs": 6, "train_scenes": 800, "lr": 2e-3, "batch_size": 8}
TRAINING: dict[str, Any] = dict(FULL)
FAST: dict[str, Any] = {"epochs": 1, "train_scenes": 16, "lr": 2e-3, "batch_size": 8}

DEFAULT_CONFIG: dict[str, Any] = {
    "image_size": 64,
    "widths": (16, 32, 64, 96),  # stem (stride 2), stages at strides 4, 8, 16
    "fpn_channels": 64,
    "anchor_sizes": (8, 16, 32),  # one size per FPN level (strides 4, 8, 16)
    "representation_size": 256,  # the box head's two fully connected layers
    "mask_layers": (64, 64),  # the mask head's 3 x 3 convs (the paper: four of 256)
    "detections_per_image": 20,
}


class SmallFPNBackbone(nn.Module):
    """A small CNN with an FPN on top: ``OrderedDict`` of three maps at strides 4, 8, 16, each with
    ``out_channels`` channels (what torchvision's ``MaskRCNN`` expects of a backbone).

    Args:
        widths: channels of the stride-2 stem and of the three stages (strides 4, 8, 16); each stage
            is a strided 3 x 3 conv and a 3 x 3 conv, with batch norm and ReLU.
        fpn_channels: channels of every FPN level (``out_channels``).
    """

    def __init__(self, widths: Sequence[int] = (16, 32, 64, 96), fpn_channels: int = 64) -> None:
        super().__init__()
        check_type("widths", widths, (tuple, list), "a sequence of 4 channel counts")
        if len(widths) != 4:
            raise ValueError(f"widths must hold 4 channel counts (stem + 3 stages), got {len(widths)}")
        widths = [check_int(f"widths[{i}]", w, low=1) for i, w in enumerate(widths)]
        fpn_channels = check_int("fpn_channels", fpn_channels, low=1)

        def conv(cin: int, cout: int, stride: int) -> list[nn.Module]:
            return [
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]

        self.stem = nn.Sequential(*conv(3, widths[0], 2))
        self.stages = nn.ModuleList(
            nn.Sequential(*conv(cin, cout, 2), *conv(cout, cout, 1))
            for cin, cout in zip(widths[:-1], widths[1:], strict=True)
        )
        self.fpn = FeaturePyramidNetwork(widths[1:], fpn_channels)
        self.out_channels = fpn_channels

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        x = self.stem(x)
        features = OrderedDict()
        for i, stage in enumerate(self.stages):
            x = stage(x)
            features[str(i)] = x
        return self.fpn(features)


def _config(config: dict) -> dict:
    unknown = sorted(set(config) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(
            f"unknown config keys {', '.join(unknown)}; expected some of {', '.join(DEFAULT_CONFIG)}"
        )
    cfg = {**DEFAULT_CONFIG, **config}
    cfg["image_size"] = check_int("image_size", cfg["image_size"], low=16, high=1024)
    for key in ("widths", "anchor_sizes", "mask_layers"):
        check_type(key, cfg[key], (tuple, list), "a sequence of ints")
        cfg[key] = tuple(check_int(f"{key}[{i}]", v, low=1) for i, v in enumerate(cfg[key]))
    if len(cfg["anchor_sizes"]) != 3:
        raise ValueError(
            f"anchor_sizes must hold 3 sizes (one per FPN level), got {len(cfg['anchor_sizes'])}"
        )
    if not cfg["mask_layers"]:
        raise ValueError("mask_layers must hold at least one channel count, got an empty sequence")
    for key in ("fpn_channels", "representation_size", "detections_per_image"):
        cfg[key] = check_int(key, cfg[key], low=1)
    return cfg


def build_shapes_mask_rcnn(**config: Any) -> MaskRCNN:
    """torchvision's ``MaskRCNN`` around ``SmallFPNBackbone``, sized for the shapes scenes.

    Args:
        **config: any of ``DEFAULT_CONFIG``'s keys: ``image_size`` (the side torchvision's transform
            keeps: ``min_size = max_size = image_size``), ``widths``, ``fpn_channels``, ``anchor_sizes``
            (one per level, aspect ratios 0.5, 1, 2), ``representation_size``, ``mask_layers``,
            ``detections_per_image``.

    Returns:
        the model (training mode, randomly initialised), with ``model.config`` (the full config).
        ``model([img [3, H, W] in [0, 1], ...])`` in eval mode gives torchvision's list of dicts
        (``boxes``, ``labels`` 1..5, ``scores``, ``masks`` [K, 1, H, W] probabilities); in training mode
        ``model(images, targets)`` gives the dict of five losses.
    """
    cfg = _config(config)
    backbone = SmallFPNBackbone(cfg["widths"], cfg["fpn_channels"])
    levels = ["0"]  # RoIAlign on the stride-4 level only: 8-32 px shapes span 2-8 cells there
    anchors = AnchorGenerator(tuple((s,) for s in cfg["anchor_sizes"]), ((0.5, 1.0, 2.0),) * 3)
    c = cfg["fpn_channels"]
    mask_head = MaskHead(c, NUM_CLASSES, layers=cfg["mask_layers"], dim_reduced=cfg["mask_layers"][-1])
    model = MaskRCNN(
        backbone,
        num_classes=None,  # set by the two predictors: NUM_CLASSES each
        min_size=cfg["image_size"],
        max_size=cfg["image_size"],
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.25, 0.25, 0.25],
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=300,
        rpn_post_nms_top_n_train=150,
        rpn_pre_nms_top_n_test=150,
        rpn_post_nms_top_n_test=75,
        rpn_batch_size_per_image=128,
        box_roi_pool=MultiScaleRoIAlign(levels, 7, 2),
        box_head=TwoMLPHead(c * 7 * 7, cfg["representation_size"]),
        box_predictor=FastRCNNPredictor(cfg["representation_size"], NUM_CLASSES),
        box_batch_size_per_image=64,
        box_detections_per_img=cfg["detections_per_image"],
        box_score_thresh=0.05,
        mask_roi_pool=MultiScaleRoIAlign(levels, 14, 2),
        mask_head=mask_head.heads,
        mask_predictor=mask_head.predictor,
    )
    model.config = cfg
    return model


# ------------------------------------------------------------------------------------ training
class _InstanceScenes(Dataset):
    """Instance scenes rendered once, in memory; ``hflip`` mirrors a scene (image, boxes, masks)
    left-right with probability 1/2."""

    def __init__(self, dataset: Dataset, hflip: bool, seed: int) -> None:
        items = [dataset[i] for i in range(len(dataset))]
        self.images = [image for image, _ in items]
        self.targets = [
            {"boxes": t["boxes"].float(), "labels": t["labels"].long(), "masks": t["masks"].to(torch.uint8)}
            for _, t in items
        ]
        self.hflip = hflip
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, dict]:
        image, target = self.images[index], self.targets[index]
        if self.hflip and bool(torch.rand((), generator=self.generator) < 0.5):
            w = image.shape[-1]
            b = target["boxes"]
            boxes = torch.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], dim=1)
            return image.flip(-1), {
                "boxes": boxes,
                "labels": target["labels"],
                "masks": target["masks"].flip(-1),
            }
        return image, target


def _collate(batch):
    return [image for image, _ in batch], [target for _, target in batch]


def mask_rcnn_step(model: nn.Module, batch, device: torch.device) -> tuple[Tensor, dict, None]:
    """``fit``'s ``step_fn``: torchvision's loss dict in training mode, summed; the detached parts
    travel as ``outputs`` so that ``fit`` logs them (``train_loss_mask``, ...)."""
    images, targets = batch
    losses = model(list(images), list(targets))
    loss = sum(losses.values())
    return loss, {k: v.detach() for k, v in losses.items()}, None


LOSS_NAMES = ("loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg")


def train_mask_rcnn(
    model: MaskRCNN,
    *,
    epochs: int,
    train_scenes: int,
    lr: float = 2e-3,
    batch_size: int = 8,
    weight_decay: float = 1e-4,
    seed: int = 0,
    max_objects: int = 4,
    hflip: bool = True,
    device: torch.device | str | None = None,
    progress: bool = True,
    live_plot: bool = False,
    max_steps: int | None = None,
):
    """Train ``model`` on ``ShapesSegmentation(train_scenes, model.config["image_size"], seed,
    kind="instance")`` with ``cvcourse.train.fit`` (AdamW, linear warm-up then cosine decay per step,
    gradient norm clipped to 10: ``cvcourse.detection.training.ClippedAdamW``).

    Args:
        model: from ``build_shapes_mask_rcnn``; trained in place, returned in eval mode.
        epochs, train_scenes, lr, batch_size, weight_decay: the recipe.
        seed: of the training scenes and the shuffling; never ``VAL_SEED`` (777).
        max_objects: most shapes per scene.
        hflip: mirror each scene left-right with probability 1/2.
        device, progress, live_plot, max_steps: passed to ``fit``.

    Returns:
        ``fit``'s History (``train_loss`` and each of torchvision's five losses per epoch) with
        ``history.train_seconds`` (rendering included).
    """
    from cvcourse.detection.training import ClippedAdamW

    check_type("model", model, MaskRCNN, "a torchvision MaskRCNN (build_shapes_mask_rcnn)")
    if not hasattr(model, "config"):
        raise ValueError("model must come from build_shapes_mask_rcnn (it has no .config)")
    epochs = check_int("epochs", epochs, low=1)
    train_scenes = check_int("train_scenes", train_scenes, low=1)
    lr = check_float("lr", lr, low=0.0, low_inclusive=False)
    batch_size = check_int("batch_size", batch_size, low=1)
    weight_decay = check_float("weight_decay", weight_decay, low=0.0)
    seed = check_int("seed", seed, low=0)
    if seed == VAL_SEED:
        raise ValueError(f"seed must not be {VAL_SEED}: those are the validation scenes, never trained on")
    check_bool("hflip", hflip)
    check_bool("progress", progress)
    check_bool("live_plot", live_plot)
    if max_steps is not None:
        max_steps = check_int("max_steps", max_steps, low=1)
    start = time.perf_counter()
    size = model.config["image_size"]
    scenes = _InstanceScenes(
        ShapesSegmentation(train_scenes, size, seed, kind="instance", max_objects=max_objects), hflip, seed
    )
    loader = DataLoader(
        scenes,
        batch_size=min(batch_size, train_scenes),
        shuffle=True,
        drop_last=train_scenes > batch_size,
        collate_fn=_collate,
        generator=torch.Generator().manual_seed(seed),
    )
    total = len(loader) * epochs if max_steps is None else min(len(loader) * epochs, max_steps)
    optimizer = ClippedAdamW(
        model.parameters(),
        lr=lr,
        weight_decay=weight_decay,
        total_steps=total,
        warmup_steps=max(1, round(0.05 * total)),
        max_norm=10.0,
    )
    metrics = {name: (lambda outputs, _t, name=name: float(outputs[name])) for name in LOSS_NAMES}
    history = fit(
        model,
        loader,
        None,
        optimizer,
        epochs=epochs,
        device=device,
        step_fn=mask_rcnn_step,
        metrics=metrics,
        progress=progress,
        live_plot=live_plot,
        max_steps=max_steps,
        amp=False,
        channels_last=False,
    )
    history.train_seconds = time.perf_counter() - start
    model.eval()
    return history


# ------------------------------------------------------------------------------------ mask AP
def _check_items(name: str, items: Any, with_scores: bool) -> list[dict]:
    keys = ("masks", "scores", "labels") if with_scores else ("masks", "labels")
    check_type(name, items, (list, tuple), "a list of dicts, one per image")
    out = []
    for i, item in enumerate(items):
        check_type(f"{name}[{i}]", item, dict, f"a dict with keys {', '.join(keys)}")
        missing = [k for k in keys if k not in item]
        if missing:
            raise ValueError(f"{name}[{i}] must have keys {', '.join(keys)}; missing {', '.join(missing)}")
        sizes: dict = {}
        masks = item["masks"]
        check_type(f"{name}[{i}]['masks']", masks, Tensor, "a Tensor[N, H, W] or [N, 1, H, W]")
        if masks.dim() == 4:
            check_tensor(f"{name}[{i}]['masks']", masks, shape=("N", 1, "H", "W"), sizes=sizes)
            masks = masks[:, 0]
        check_tensor(f"{name}[{i}]['masks']", masks, shape=("N", "H", "W"), sizes=sizes)
        labels = check_tensor(
            f"{name}[{i}]['labels']", item["labels"], shape=("N",), sizes=sizes, dtype="int"
        )
        entry = {"masks": masks.detach().cpu(), "labels": labels.detach().cpu().long()}
        if with_scores:
            scores = check_tensor(
                f"{name}[{i}]['scores']",
                item["scores"],
                shape=("N",),
                sizes=sizes,
                dtype="float",
                finite=True,
            )
            entry["scores"] = scores.detach().cpu().double()
        out.append(entry)
    return out


def _binary(masks: Tensor, threshold: float) -> np.ndarray:
    """Bool masks [N, H*W]: bool kept, numbers > threshold (probabilities; torchvision's 0.5)."""
    m = masks if masks.dtype == torch.bool else masks > threshold
    return m.reshape(m.shape[0], m.shape[-2] * m.shape[-1]).numpy()


def _mask_iou(det: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU [D, G] of bool masks [D, P], [G, P]; 0 where the union (or the intersection) is empty."""
    inter = det.astype(np.float64) @ gt.T.astype(np.float64)
    union = det.sum(1)[:, None] + gt.sum(1)[None, :] - inter
    return np.where(inter > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def mask_average_precision(
    predictions: Sequence[dict],
    targets: Sequence[dict],
    mask_threshold: float = 0.5,
    max_detections: int = 100,
) -> dict[str, Any]:
    r"""COCO's mask AP, equal to pycocotools' ``COCOeval(cocoGt, cocoDt, "segm")`` on the same masks.

    The mask IoU :math:`\mathrm{IoU}(A, B) = |A \cap B| / |A \cup B|` replaces the box IoU; the areas
    of the ranges small / medium / large are mask pixel counts; everything else is
    ``cvcourse.detection.coco_map``'s (greedy matching by decreasing score at each IoU threshold
    0.50, 0.55, ..., 0.95, precision made monotone and read at 101 recalls, mean over thresholds and
    classes with ground truth), whose matching and accumulation run here.

    Args:
        predictions: one dict per image: ``masks`` Tensor[N, 1, H, W] or [N, H, W] (probabilities,
            binarised by ``> mask_threshold``, or bool), ``scores`` Tensor[N], ``labels`` Tensor[N]
            (torchvision's Mask R-CNN output as it is).
        targets: one dict per image: ``masks`` Tensor[M, H, W] (0/1 or bool), ``labels`` Tensor[M].
        mask_threshold: in [0, 1).
        max_detections: detections kept per image and class, by score (COCO: 100).

    Returns:
        ``map``, ``map_50``, ``map_75``, ``map_small``, ``map_medium``, ``map_large`` (-1 where nothing
        counts), ``mar_<max_detections>``, ``map_per_class`` ``{class id: AP}``, ``precision``
        [T, 101, K] (area "all") and ``classes``.
    """
    preds = _check_items("predictions", predictions, True)
    gts = _check_items("targets", targets, False)
    if len(preds) != len(gts):
        raise ValueError(
            f"predictions and targets must have one entry per image, got {len(preds)} predictions and "
            f"{len(gts)} targets"
        )
    mask_threshold = check_float("mask_threshold", mask_threshold, low=0.0, high=1.0, high_inclusive=False)
    max_det = check_int("max_detections", max_detections, low=1)
    for i, (p, g) in enumerate(zip(preds, gts, strict=True)):
        if len(p["labels"]) and len(g["labels"]) and p["masks"].shape[-2:] != g["masks"].shape[-2:]:
            raise ValueError(
                f"predictions[{i}]['masks'] and targets[{i}]['masks'] must have the same H, W, got "
                f"{tuple(p['masks'].shape[-2:])} and {tuple(g['masks'].shape[-2:])}"
            )
    det_label = np.concatenate([p["labels"].numpy() for p in preds]) if preds else np.zeros(0, np.int64)
    gt_label = np.concatenate([g["labels"].numpy() for g in gts]) if gts else np.zeros(0, np.int64)
    classes = np.unique(np.concatenate([det_label, gt_label]))
    lay = _mask_layout(preds, gts, classes, mask_threshold, max_det)
    return _summarise(lay, classes, max_det)


def _mask_layout(preds, gts, classes, threshold, max_det) -> dict[str, np.ndarray]:
    """``coco.py``'s layout (one row per (image, class) pair with a mask; detections by rank, at most
    ``max_det``; rows with most detections first) with mask IoUs and mask areas."""
    k = max(len(classes), 1)
    rows = []  # (group id, detection masks by rank, their scores, ground-truth masks)
    for i, (p, g) in enumerate(zip(preds, gts, strict=True)):
        dm, gm = _binary(p["masks"], threshold), _binary(g["masks"].bool(), threshold)
        scores, dl, gl = p["scores"].numpy(), p["labels"].numpy(), g["labels"].numpy()
        for c in np.unique(np.concatenate([dl, gl])):
            d = np.flatnonzero(dl == c)
            _, rank = _rank_in_group(np.zeros(len(d), np.int64), -scores[d])
            d = d[np.argsort(rank)][:max_det]  # by decreasing score, ties in input order (mergesort)
            rows.append((i * k + int(np.searchsorted(classes, c)), dm[d], scores[d], gm[gl == c]))
    rows.sort(key=lambda r: -len(r[1]))  # stable: most detections first, then by group id
    P = len(rows)
    D = max((len(r[1]) for r in rows), default=0)
    G = max((len(r[3]) for r in rows), default=0)
    iou, det_valid, det_score = np.zeros((P, D, G)), np.zeros((P, D), bool), np.zeros((P, D))
    det_area, gt_valid, gt_area = np.zeros((P, D)), np.zeros((P, G), bool), np.zeros((P, G))
    groups = np.array([r[0] for r in rows], np.int64)
    for row, (_, dm, scores, gm) in enumerate(rows):
        nd, ng = len(dm), len(gm)
        iou[row, :nd, :ng] = _mask_iou(dm, gm)
        det_valid[row, :nd], det_score[row, :nd], det_area[row, :nd] = True, scores, dm.sum(1)
        gt_valid[row, :ng], gt_area[row, :ng] = True, gm.sum(1)
    return {
        "iou": iou,
        "det_valid": det_valid,
        "gt_valid": gt_valid,
        "det_score": det_score,
        "image_of": groups // k,
        "class_of": groups % k,
        "det_area": det_area,
        "gt_area": gt_area,
    }


def _summarise(lay: dict, classes: np.ndarray, max_det: int) -> dict[str, Any]:
    """COCOeval's evaluate + accumulate + summarize on a layout (``coco.py``'s ``_match_all`` and
    ``_accumulate``)."""
    thresholds = COCO_IOU_THRESHOLDS
    iou, det_valid, gt_valid = lay["iou"], lay["det_valid"], lay["gt_valid"]
    P, _, G = iou.shape
    K = len(classes)
    precision, recall = {}, {}
    for area_name, (lo, hi) in AREA_RANGES.items():
        gt_ignored = gt_valid & ((lay["gt_area"] < lo) | (lay["gt_area"] > hi))
        matches = _match_all(iou, det_valid, gt_valid, gt_ignored, thresholds)  # [P, T, D]
        matched = matches >= 0
        hit_ignored = (
            gt_ignored[np.arange(P)[:, None, None], np.maximum(matches, 0)]
            if G
            else np.zeros(matches.shape, bool)
        )
        outside = ((lay["det_area"] < lo) | (lay["det_area"] > hi))[:, None, :]
        det_ignored = np.where(matched, hit_ignored, outside)
        precision[area_name], recall[area_name] = _accumulate(
            matched, det_ignored, det_valid, lay["det_score"], gt_valid, gt_ignored,
            lay["image_of"], lay["class_of"], K, max_det,
        )  # fmt: skip

    def mean(values: np.ndarray) -> float:
        values = values[values > -1]
        return float(values.mean()) if values.size else -1.0

    every = precision["all"]
    result: dict[str, Any] = {"map": mean(every)}
    for name, t in (("map_50", 0.5), ("map_75", 0.75)):
        result[name] = mean(every[np.where(thresholds == t)[0]])
    for area_name in ("small", "medium", "large"):
        result[f"map_{area_name}"] = mean(precision[area_name])
    result[f"mar_{max_det}"] = mean(recall["all"])
    result["map_per_class"] = {int(c): mean(every[:, :, k]) for k, c in enumerate(classes)}
    result["precision"] = every
    result["classes"] = [int(c) for c in classes]
    return result


# ------------------------------------------------------------------------------------ evaluation
@torch.no_grad()
def predict_masks(model: MaskRCNN, images: Sequence[Tensor], batch_size: int = 32) -> list[dict]:
    """``model`` in eval mode on ``images`` (each [3, H, W] in [0, 1]), in batches, on the model's
    device; the outputs on the CPU (``masks`` [K, 1, H, W] probabilities)."""
    check_type("model", model, MaskRCNN, "a torchvision MaskRCNN")
    check_type("images", images, (list, tuple, Tensor), "a list of Tensor[3, H, W]")
    images = [
        check_tensor(f"images[{i}]", im, shape=(3, None, None), dtype="float") for i, im in enumerate(images)
    ]
    batch_size = check_int("batch_size", batch_size, low=1)
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[dict] = []
    try:
        for i in range(0, len(images), batch_size):
            batch = [im.to(dev) for im in images[i : i + batch_size]]
            out += [{k: v.cpu() for k, v in p.items()} for p in model(batch)]
    finally:
        model.train(was_training)
    return out


def evaluate_mask_rcnn(model: MaskRCNN, dataset: Dataset, batch_size: int = 32) -> dict[str, float]:
    """Mask AP (``mask_average_precision``) and box AP (``cvcourse.detection.coco_map``) of ``model``
    on the ``(image, target)`` scenes of ``dataset`` (e.g. ``ShapesSegmentation(300, 64, 777,
    kind="instance")``).

    Returns:
        ``mask_ap``, ``mask_ap50``, ``mask_ap75``, ``box_ap``, ``box_ap50``, ``ms_per_image`` (inference
        on the model's device) and ``scenes``.
    """
    check_type("dataset", dataset, Dataset, "a torch Dataset of (image, target) pairs")
    items = [dataset[i] for i in range(len(dataset))]
    if not items:
        raise ValueError("dataset must not be empty, got 0 samples")
    start = time.perf_counter()
    preds = predict_masks(model, [image for image, _ in items], batch_size)
    seconds = time.perf_counter() - start
    targets = [t for _, t in items]
    masks = mask_average_precision(preds, targets)
    boxes = coco_map(
        [{k: p[k] for k in ("boxes", "scores", "labels")} for p in preds],
        [{"boxes": t["boxes"], "labels": t["labels"]} for t in targets],
    )
    return {
        "mask_ap": masks["map"],
        "mask_ap50": masks["map_50"],
        "mask_ap75": masks["map_75"],
        "box_ap": float(boxes["map"]),
        "box_ap50": float(boxes["map_50"]),
        "ms_per_image": 1000.0 * seconds / len(items),
        "scenes": len(items),
    }


# ------------------------------------------------------------------------------------ shipping
INFO_KEYS = ("image_size", "mask_ap", "mask_ap50", "box_ap", "box_ap50", "params", "train_seconds", "data")


def save_mask_rcnn(model: MaskRCNN, info: dict, path: str | os.PathLike) -> None:
    """Write ``{"config", "state_dict" (floats as float16), "info"}`` for ``load_shapes_mask_rcnn``;
    ``info`` holds plain Python values, at least ``INFO_KEYS``."""
    check_type("model", model, MaskRCNN, "a torchvision MaskRCNN (build_shapes_mask_rcnn)")
    check_type("info", info, dict, "a dict")
    missing = [k for k in INFO_KEYS if k not in info]
    if missing:
        raise ValueError(f"info must hold {', '.join(INFO_KEYS)}; missing {', '.join(missing)}")
    check_type("path", path, (str, os.PathLike), "a file path (str or os.PathLike)")
    state = {
        k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()
        for k, v in model.state_dict().items()
    }
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in model.config.items()}
    torch.save({"config": config, "state_dict": state, "info": dict(info)}, path)


def load_shapes_mask_rcnn(
    path: str | os.PathLike | None = None, device: torch.device | str = "cpu"
) -> tuple[MaskRCNN, dict]:
    """The shipped small Mask R-CNN (``data/mask_rcnn_shapes.pt``), checksum verified.

    Returns:
        ``(model, info)``: the model in eval mode on ``device``; ``info`` with ``image_size``,
        ``mask_ap``, ``mask_ap50``, ``box_ap``, ``box_ap50`` (on unseen scenes of seed 777), ``params``,
        ``train_seconds``, ``data`` (the training scenes) and the recipe.

    Raises:
        FileNotFoundError: the file or its checksum line is missing (it names the script that makes it).
        ValueError: the file does not match its checksum.
    """
    from cvcourse.weights import load_verified

    blob = load_verified(FILE_NAME, path, script=SCRIPT)
    model = build_shapes_mask_rcnn(**blob["config"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()}
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), dict(blob["info"])
