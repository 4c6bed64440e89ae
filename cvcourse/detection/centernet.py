r"""CenterNet, "Objects as Points" (Zhou, Wang and Krähenbühl 2019, https://arxiv.org/abs/1904.07850):
an object is the peak of a per-class heatmap at its box centre, plus a size and an offset read there.

The notes' section 4.3.5, step by step (and the official code, github.com/xingyizhou/CenterNet):

1. **Targets** (:func:`centernet_targets`): the centre :math:`p` of a box, in output cells of
   stride :math:`R`, falls in cell :math:`\tilde p = \lfloor p / R \rfloor`. Class :math:`c`'s heatmap
   :math:`Y_c` gets a Gaussian there (:func:`draw_gaussian`, 1 at :math:`\tilde p`), whose radius
   grows with the box (:func:`gaussian_radius`); overlapping Gaussians are merged by their maximum.
   The cell also stores the box size :math:`s = (x_2 - x_1, y_2 - y_1) / R` and the offset
   :math:`p / R - \tilde p \in [0, 1)^2` lost by the floor.
2. **Loss** (:meth:`CenterNet.loss`): the penalty-reduced focal loss on the heatmap
   (:func:`heatmap_focal_loss`) plus L1 losses on size and offset at the centre cells:
   :math:`L = L_k + \lambda_{size} L_{size} + \lambda_{off} L_{off}` with 0.1 and 1 as in the paper
   (the notes say "Huber"; the paper and its code use L1).
3. **Inference** (:func:`extract_peaks`, :func:`decode_centernet`): the local maxima of the heatmap
   (a pixel equal to the maximum of its 3 x 3 neighbourhood), the top 100, each decoded to the box
   :math:`R\,(\tilde p + \hat o) \pm R\,\hat s / 2`. No NMS.

One departure, on purpose: the size and offset heads predict 2 numbers **per class** (``[N, C, 2, h,
w]``; the official code's ``--cat_spec_wh`` option for the size, extended to the offset), where the
paper has one class-agnostic pair per cell. Two objects of different classes whose centres fall in the
same cell then keep their own boxes; with the paper's heads one of them is lost (the paper counts such
collisions: < 0.1 % of COCO's objects). Two objects of the *same* class in one cell still collide: the
first keeps the cell (``mask`` False for the second), as in any single-peak design.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvcourse._checks import check_float, check_int, check_tensor, check_type

from ._validate import check_boxes

__all__ = [
    "TRAINING",
    "CenterNet",
    "Peaks",
    "centernet_targets",
    "decode_centernet",
    "draw_gaussian",
    "extract_peaks",
    "gaussian_radius",
    "gaussian_radius_exact",
    "heatmap_focal_loss",
]

# The full-mode recipe (data/scripts/train_shapes_detector.py, cvcourse.detection.training.train_detector).
TRAINING = {"epochs": 12, "lr": 2e-3, "batch_size": 32, "train_scenes": 3000, "weight_decay": 1e-4}
PRIOR_BIAS = -2.19  # the paper's heatmap bias: sigma(-2.19) = 0.1, so the first steps are not swamped


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    r"""CornerNet's Gaussian radius, as CenterNet's code computes it (``gaussian_radius`` in both repos).

    CornerNet (Law and Deng 2018, https://arxiv.org/abs/1808.01244) asks how far each corner of an
    :math:`h \times w` box may move so that the box still has IoU :math:`\ge o` (``min_overlap``) with
    the original. Three cases give three quadratics :math:`a r^2 - b r + c = 0`:

    * both corners shift the same way: :math:`a = 1,\ b = h + w,\ c = hw\,(1 - o)/(1 + o)`;
    * both move inwards: :math:`a = 4,\ b = 2(h + w),\ c = (1 - o)\,hw`;
    * both move outwards: :math:`a = 4o,\ b = -2o(h + w),\ c = (o - 1)\,hw`;

    and the code returns :math:`\min_i (b_i + \sqrt{b_i^2 - 4 a_i c_i}) / 2`.

    **The variant followed, and why.** That is not the root of the quadratics: the root is
    :math:`(b - \sqrt{b^2 - 4ac}) / (2a)` (:func:`gaussian_radius_exact`), and the code divides by 2
    instead of :math:`2a` and takes the other sign in the first two cases, so its radius is larger
    (a 5 x 5 box: 1.37 against 0.41). We follow the code because it made the published results:
    CenterNet trains with these radii, and on our 16 x 16 maps the exact radius is below 1 cell for
    most objects, which would leave single-pixel targets and lose the point of the Gaussian.

    Args:
        height, width: the box size in heatmap cells, >= 0.
        min_overlap: the IoU :math:`o` in (0, 1).

    Returns:
        the radius (a float; :func:`centernet_targets` uses ``max(0, int(radius))``).
    """
    h, w, o = _radius_args(height, width, min_overlap)
    b1, c1 = h + w, w * h * (1 - o) / (1 + o)
    r1 = (b1 + math.sqrt(b1**2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - o) * w * h
    r2 = (b2 + math.sqrt(b2**2 - 4 * 4 * c2)) / 2
    a3, b3, c3 = 4 * o, -2 * o * (h + w), (o - 1) * w * h
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def gaussian_radius_exact(height: float, width: float, min_overlap: float = 0.7) -> float:
    r"""The radius the three quadratics of :func:`gaussian_radius` really give: the largest :math:`r`
    such that moving the corners by up to :math:`r` in any of the three ways keeps IoU :math:`\ge o`,

    .. math:: r = \min\Bigl(\tfrac{b_1 - \sqrt{b_1^2 - 4c_1}}{2},\ \tfrac{b_2 - \sqrt{b_2^2 - 16c_2}}{8},\
        \tfrac{b_3 + \sqrt{b_3^2 - 16 o c_3}}{8 o}\Bigr).

    For comparison only (the notebook shows both); the targets use :func:`gaussian_radius`.
    """
    h, w, o = _radius_args(height, width, min_overlap)
    b1, c1 = h + w, w * h * (1 - o) / (1 + o)
    r1 = (b1 - math.sqrt(b1**2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - o) * w * h
    r2 = (b2 - math.sqrt(b2**2 - 16 * c2)) / 8
    a3, b3, c3 = 4 * o, -2 * o * (h + w), (o - 1) * w * h
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / (2 * a3)
    return min(r1, r2, r3)


def _radius_args(height: Any, width: Any, min_overlap: Any) -> tuple[float, float, float]:
    h = check_float("height", height, low=0.0)
    w = check_float("width", width, low=0.0)
    o = check_float("min_overlap", min_overlap, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    return h, w, o


def draw_gaussian(heatmap: Tensor, center: tuple[int, int], radius: int) -> Tensor:
    r"""Draw one object's Gaussian peak into ``heatmap`` (in place), merging by the maximum:

    .. math:: Y[y, x] \leftarrow \max\Bigl(Y[y, x],\
        \exp\Bigl(-\frac{(x - \tilde p_x)^2 + (y - \tilde p_y)^2}{2\sigma^2}\Bigr)\Bigr),
        \qquad \sigma = \frac{2r + 1}{6},

    on the :math:`(2r + 1)^2` window around :math:`\tilde p` (cut at the borders), so
    :math:`Y[\tilde p] = 1` and two nearby objects keep both their peaks (the official
    ``draw_umich_gaussian``, which also sets values below float epsilon to 0; we keep them).

    Args:
        heatmap (Tensor[h, w]): one class's heatmap, floating point, values in [0, 1].
        center: the centre cell :math:`(\tilde p_x, \tilde p_y)` as ints inside the map.
        radius: :math:`r`, an int >= 0 (0 marks the centre cell only).

    Returns:
        ``heatmap`` itself.
    """
    check_tensor("heatmap", heatmap, ndim=2, dtype="float")
    check_type("center", center, (tuple, list), "an (x, y) pair of ints")
    if len(center) != 2:
        raise ValueError(f"center must be an (x, y) pair of ints, got {center!r}")
    height, width = heatmap.shape
    cx = check_int("center[0]", center[0], low=0, high=width - 1)
    cy = check_int("center[1]", center[1], low=0, high=height - 1)
    radius = check_int("radius", radius, low=0)
    sigma = (2 * radius + 1) / 6
    offsets = torch.arange(-radius, radius + 1, dtype=heatmap.dtype, device=heatmap.device)
    gaussian = torch.exp(-(offsets[None, :] ** 2 + offsets[:, None] ** 2) / (2 * sigma**2))  # [2r+1, 2r+1]
    # the window cut at the borders: rows y0..y1 (exclusive) of the map, the same rows of the Gaussian
    x0, x1 = max(cx - radius, 0), min(cx + radius + 1, width)
    y0, y1 = max(cy - radius, 0), min(cy + radius + 1, height)
    patch = gaussian[y0 - cy + radius : y1 - cy + radius, x0 - cx + radius : x1 - cx + radius]
    heatmap[y0:y1, x0:x1] = torch.maximum(heatmap[y0:y1, x0:x1], patch)
    return heatmap


def centernet_targets(
    targets: dict,
    num_classes: int,
    output_size: int | tuple[int, int],
    stride: int,
    *,
    min_overlap: float = 0.7,
) -> dict[str, Tensor]:
    r"""Encode one image's boxes as CenterNet's training targets (step 1 of the module docstring).

    For box :math:`k` of class :math:`c` with centre :math:`p` (pixels), in cells of stride :math:`R`:
    :math:`\tilde p = \lfloor p / R \rfloor` (the last row/column for a centre on the far border),
    offset :math:`o = p / R - \tilde p`, size :math:`s = (x_2 - x_1, y_2 - y_1) / R`, radius
    :math:`\max(0, \lfloor \text{gaussian\_radius}(s_h, s_w) \rfloor)` (the official ``ctdet.py``
    first rounds :math:`s_h, s_w` up to whole cells; we take the size as it is, which the shipped
    weights were trained with).

    Args:
        targets: ``{"boxes": Tensor[K, 4] xyxy pixels inside the image, "labels": Tensor[K] in 1 .. C}``.
        num_classes: :math:`C`.
        output_size: the heatmap's ``(h, w)`` (or one int for both); the image is ``R h x R w`` pixels.
        stride: the output stride :math:`R`.
        min_overlap: passed to :func:`gaussian_radius`.

    Returns:
        ``heatmap`` [C, h, w]; per object ``classes`` [K] (0-based channel), ``ys``, ``xs`` [K] (the
        cell), ``size`` [K, 2] :math:`(s_w, s_h)`, ``offset`` [K, 2] :math:`(o_x, o_y)`, ``radius``
        [K] and ``mask`` [K] (False where an earlier object of the same class took the cell); and the
        dense ``size_map``, ``offset_map`` [C, 2, h, w] holding each kept object's numbers at its cell.
    """
    num_classes = check_int("num_classes", num_classes, low=1)
    stride = check_int("stride", stride, low=1)
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"output_size must be an int or an (h, w) pair, got {output_size!r}")
        h, w = (check_int(f"output_size[{i}]", s, low=1) for i, s in enumerate(output_size))
    else:
        h = w = check_int("output_size", output_size, low=1)
    boxes, labels = _check_target("targets", targets, num_classes, (stride * h, stride * w))
    dtype = boxes.dtype if boxes.is_floating_point() else torch.float32
    boxes = boxes.to(dtype).cpu() / stride  # [K, 4] in cells
    k = len(boxes)
    heatmap = torch.zeros(num_classes, h, w, dtype=dtype)
    size_map = torch.zeros(num_classes, 2, h, w, dtype=dtype)
    offset_map = torch.zeros(num_classes, 2, h, w, dtype=dtype)
    centers = (boxes[:, :2] + boxes[:, 2:]) / 2  # [K, 2] (x, y)
    size = boxes[:, 2:] - boxes[:, :2]  # [K, 2] (w, h)
    xs = centers[:, 0].floor().long().clamp(max=w - 1)  # a centre on the right border -> the last cell
    ys = centers[:, 1].floor().long().clamp(max=h - 1)
    offset = centers - torch.stack([xs, ys], dim=1).to(dtype)  # [K, 2] in [0, 1]
    classes = labels.cpu() - 1
    radius = torch.zeros(k, dtype=torch.long)
    mask = torch.zeros(k, dtype=torch.bool)
    taken: set[tuple[int, int, int]] = set()
    for i in range(k):
        c, y, x = int(classes[i]), int(ys[i]), int(xs[i])
        radius[i] = max(0, int(gaussian_radius(float(size[i, 1]), float(size[i, 0]), min_overlap)))
        draw_gaussian(heatmap[c], (x, y), int(radius[i]))
        if (c, y, x) not in taken:  # the first object of a class keeps its cell
            taken.add((c, y, x))
            mask[i] = True
            size_map[c, :, y, x], offset_map[c, :, y, x] = size[i], offset[i]
    return {
        "heatmap": heatmap,
        "classes": classes,
        "ys": ys,
        "xs": xs,
        "size": size,
        "offset": offset,
        "radius": radius,
        "mask": mask,
        "size_map": size_map,
        "offset_map": offset_map,
    }


def _check_target(
    name: str, target: Any, num_classes: int, image_hw: tuple[int, int]
) -> tuple[Tensor, Tensor]:
    check_type(name, target, dict, 'a dict with "boxes" Tensor[K, 4] and "labels" Tensor[K]')
    for key in ("boxes", "labels"):
        if key not in target:
            raise ValueError(f'{name} must have a "{key}" entry, got keys {sorted(target)}')
    sizes: dict = {}
    boxes = check_boxes(f'{name}["boxes"]', target["boxes"], sizes=sizes, size_name="K")
    labels = check_tensor(f'{name}["labels"]', target["labels"], shape=("K",), sizes=sizes, dtype="int")
    if len(labels) and (int(labels.min()) < 1 or int(labels.max()) > num_classes):
        raise ValueError(f'{name}["labels"] must be in 1 .. {num_classes}, got {labels.tolist()}')
    height, width = image_hw
    if len(boxes) and (
        float(boxes[:, :2].min()) < 0 or float(boxes[:, 2].max()) > width or float(boxes[:, 3].max()) > height
    ):
        raise ValueError(
            f'{name}["boxes"] must lie inside the {width} x {height} image, got {boxes.tolist()}'
        )
    return boxes, labels


def heatmap_focal_loss(pred: Tensor, gt: Tensor, alpha: float = 2.0, beta: float = 4.0) -> Tensor:
    r"""CenterNet's penalty-reduced pixel-wise focal loss (the paper's Eq. 1; the notes' :math:`\gamma`
    is the paper's :math:`\alpha`):

    .. math::
        L_k = \frac{-1}{N} \sum_{xyc} \begin{cases}
        (1 - \hat Y_{xyc})^{\alpha} \ln \hat Y_{xyc} & Y_{xyc} = 1 \\
        (1 - Y_{xyc})^{\beta} \, \hat Y_{xyc}^{\alpha} \ln(1 - \hat Y_{xyc}) & \text{otherwise}
        \end{cases}

    with :math:`\hat Y = \sigma(\text{pred})` and :math:`N` the number of objects (the pixels with
    :math:`Y = 1`), counted over the whole batch as the official code does, and 1 when there are none
    (then only the negatives' term is left: finite). :math:`(1 - Y)^\beta` spares the pixels near a
    centre, which the Gaussian marks as "almost an object". The logs are taken on the logits
    (:math:`\ln \sigma(z)`, :math:`\ln \sigma(-z)`), which the official code approximates by clamping
    :math:`\hat Y` to :math:`[10^{-4}, 1 - 10^{-4}]`.

    Args:
        pred (Tensor[*]): heatmap logits :math:`z`, e.g. ``[N, C, h, w]``.
        gt (Tensor[*]): target heatmap :math:`Y` in [0, 1] (exactly 1 at the centres), same shape.
        alpha, beta: the exponents, >= 0 (the paper: 2 and 4).

    Returns:
        the scalar loss.
    """
    pred = check_tensor("pred", pred, dtype="float")
    gt = check_tensor("gt", gt, dtype="float", finite=True)
    if gt.shape != pred.shape:
        raise ValueError(f"gt must have the shape of pred {list(pred.shape)}, got shape {list(gt.shape)}")
    if gt.numel() and (float(gt.min()) < 0 or float(gt.max()) > 1):
        raise ValueError(
            f"gt must hold values in [0, 1], got min {float(gt.min())} and max {float(gt.max())}"
        )
    alpha = check_float("alpha", alpha, low=0.0)
    beta = check_float("beta", beta, low=0.0)
    p = torch.sigmoid(pred)
    positive = gt == 1
    pos_loss = (1 - p) ** alpha * F.logsigmoid(pred)  # (1 - Y^)^a ln Y^
    neg_loss = (1 - gt) ** beta * p**alpha * F.logsigmoid(-pred)  # (1 - Y)^b Y^^a ln(1 - Y^)
    num_objects = max(int(positive.sum()), 1)
    return -torch.where(positive, pos_loss, neg_loss).sum() / num_objects


class Peaks(NamedTuple):
    """The local maxima of a heatmap, best first: ``scores``, ``channels`` (0-based class), ``ys``, ``xs``."""

    scores: Tensor
    channels: Tensor
    ys: Tensor
    xs: Tensor


def extract_peaks(heatmap: Tensor, k: int = 100, kernel: int = 3) -> Peaks:
    r"""The top ``k`` local maxima of a heatmap: the pixels equal to the maximum of their
    ``kernel x kernel`` neighbourhood (``max_pool2d`` with stride 1; the paper's and the notes' step 1).

    **Why no NMS.** An object is trained to one peak: 1 at its centre cell, smaller everywhere around
    it (:func:`draw_gaussian`). The cells next to the peak, which an anchor detector would also fire
    on, are never equal to their neighbourhood's maximum, so they are dropped here, and the max-pool
    does NMS's job with no IoU threshold. Two objects a cell or more apart keep both peaks (each is the
    maximum of its own neighbourhood), where greedy NMS on heavily overlapping boxes would drop one.
    Ties are all kept (a plateau of equal values is all peaks), as in the official code.

    Args:
        heatmap (Tensor[C, h, w]): scores (probabilities).
        k: the most peaks to return, >= 1.
        kernel: the neighbourhood's side, odd, >= 1.

    Returns:
        :class:`Peaks`, sorted by score, highest first (ties in channel, row, column order).
    """
    check_tensor("heatmap", heatmap, ndim=3, dtype="float")
    k = check_int("k", k, low=1)
    kernel = check_int("kernel", kernel, low=1)
    if kernel % 2 == 0:
        raise ValueError(f"kernel must be odd (a centred neighbourhood), got {kernel}")
    neighbourhood_max = F.max_pool2d(heatmap[None], kernel, stride=1, padding=kernel // 2)[0]  # [C, h, w]
    channels, ys, xs = (heatmap == neighbourhood_max).nonzero(as_tuple=True)  # in (c, y, x) order
    scores = heatmap[channels, ys, xs]
    order = torch.sort(scores, descending=True, stable=True).indices[:k]
    return Peaks(scores[order], channels[order], ys[order], xs[order])


def decode_centernet(
    heatmap: Tensor, size: Tensor, offset: Tensor, stride: int, k: int = 100, *, score_threshold: float = 0.0
) -> dict[str, Tensor]:
    r"""CenterNet's boxes from its three maps (the notes' inference steps 1-2): for each of the top
    ``k`` peaks :math:`(c, \tilde p)` of the heatmap with score above ``score_threshold``,

    .. math:: \text{centre} = R\,(\tilde p + \hat O_c[\tilde p]), \qquad
        \text{box} = \text{centre} \pm \tfrac{R}{2}\,\hat S_c[\tilde p].

    The exact inverse of :func:`centernet_targets` (boxes are not clipped to the image here).

    Args:
        heatmap (Tensor[C, h, w]): scores in [0, 1] (the sigmoid of the logits).
        size (Tensor[C, 2, h, w]): :math:`(\hat s_w, \hat s_h)` in cells, per class.
        offset (Tensor[C, 2, h, w]): :math:`(\hat o_x, \hat o_y)`, per class.
        stride: the output stride :math:`R`.
        k: the most detections.
        score_threshold: keep peaks with a score strictly above it (0 drops empty cells).

    Returns:
        ``{"boxes": Tensor[K, 4] xyxy pixels, "scores": Tensor[K], "labels": int64 Tensor[K] 1-based}``.
    """
    sizes: dict = {}
    check_tensor("heatmap", heatmap, shape=("C", "h", "w"), sizes=sizes, dtype="float")
    check_tensor("size", size, shape=("C", 2, "h", "w"), sizes=sizes, dtype="float")
    check_tensor("offset", offset, shape=("C", 2, "h", "w"), sizes=sizes, dtype="float")
    stride = check_int("stride", stride, low=1)
    score_threshold = check_float("score_threshold", score_threshold)
    peaks = extract_peaks(heatmap, k)
    keep = peaks.scores > score_threshold
    c, y, x = peaks.channels[keep], peaks.ys[keep], peaks.xs[keep]
    cells = torch.stack([x, y], dim=1).to(heatmap.dtype)  # [K, 2] (x, y)
    centers = stride * (cells + offset[c, :, y, x])  # [K, 2] pixels
    # [K, 2] half width, half height in pixels; a negative size (an under-trained head) is a zero-size box
    half = stride * size[c, :, y, x].clamp(min=0) / 2
    return {
        "boxes": torch.cat([centers - half, centers + half], dim=1),
        "scores": peaks.scores[keep],
        "labels": c + 1,
    }


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3 x 3 convolution, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


def _head(cin: int, hidden: int, cout: int) -> nn.Sequential:
    """The notes' branch: 3 x 3 convolution, ReLU, 1 x 1 convolution."""
    return nn.Sequential(
        nn.Conv2d(cin, hidden, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(hidden, cout, 1)
    )


class CenterNet(nn.Module):
    r"""A small CenterNet: a conv encoder-decoder to stride 4, then three heads (the notes' architecture).

    Encoder: strides 2, 4, 8, 16 (two conv-BN-ReLU each, channels ``width`` x 1, 2, 4, 4). Decoder: the
    stride-16 map is upsampled (nearest), added to the stride-8 map and smoothed by a 3 x 3 conv; the
    same again to stride 4 after a 1 x 1 conv to the stride-4 map's channels (a small U-Net top-down
    path; the paper's ResNet variant uses deconvolutions). Heads on the stride-4 map (16 x 16 for
    64-pixel images), each 3 x 3 conv, ReLU, 1 x 1 conv: ``heatmap`` C logits (bias -2.19, the
    paper's prior), ``size`` and ``offset`` 2 per class.

    Args (keyword only): ``num_classes``, ``image_size`` (what it was trained on; any multiple of 16
    works), ``width`` (base channels), ``head_width``, ``max_detections``, ``min_overlap`` (targets'
    radius), ``size_weight`` and ``offset_weight`` (:math:`\lambda_{size}, \lambda_{off}`).
    """

    stride = 4

    def __init__(
        self,
        *,
        num_classes: int = 5,
        image_size: int = 64,
        width: int = 32,
        head_width: int = 32,
        max_detections: int = 100,
        min_overlap: float = 0.7,
        size_weight: float = 0.1,
        offset_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.num_classes = check_int("num_classes", num_classes, low=1)
        self.image_size = check_int("image_size", image_size, low=16)
        if self.image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16 (the encoder's stride), got {image_size}")
        width = check_int("width", width, low=1)
        head_width = check_int("head_width", head_width, low=1)
        self.max_detections = check_int("max_detections", max_detections, low=1)
        self.min_overlap = check_float("min_overlap", min_overlap, low=0.0, high=1.0, low_inclusive=False)
        self.size_weight = check_float("size_weight", size_weight, low=0.0)
        self.offset_weight = check_float("offset_weight", offset_weight, low=0.0)
        self.config = {
            "num_classes": num_classes,
            "image_size": image_size,
            "width": width,
            "head_width": head_width,
            "max_detections": max_detections,
            "min_overlap": min_overlap,
            "size_weight": size_weight,
            "offset_weight": offset_weight,
        }
        c1, c2, c3 = width, 2 * width, 4 * width
        self.stage1 = nn.Sequential(_conv(3, c1, 2), _conv(c1, c1))  # stride 2
        self.stage2 = nn.Sequential(_conv(c1, c2, 2), _conv(c2, c2))  # stride 4
        self.stage3 = nn.Sequential(_conv(c2, c3, 2), _conv(c3, c3))  # stride 8
        self.stage4 = nn.Sequential(_conv(c3, c3, 2), _conv(c3, c3))  # stride 16
        self.smooth3 = _conv(c3, c3)
        self.reduce2, self.smooth2 = nn.Conv2d(c3, c2, 1), _conv(c2, c2)
        self.heatmap = _head(c2, head_width, num_classes)
        self.size = _head(c2, head_width, 2 * num_classes)
        self.offset = _head(c2, head_width, 2 * num_classes)
        nn.init.constant_(self.heatmap[-1].bias, PRIOR_BIAS)

    def features(self, images: Tensor) -> Tensor:
        """The stride-4 feature map ``[N, 2 width, H/4, W/4]``."""
        x2 = self.stage2(self.stage1(images))  # [N, c2, H/4, W/4]
        x3 = self.stage3(x2)  # [N, c3, H/8, W/8]
        x4 = self.stage4(x3)  # [N, c3, H/16, W/16]
        # top-down: upsample (nearest), add the encoder's map of that stride (the skip), 3 x 3 conv
        y3 = self.smooth3(F.interpolate(x4, scale_factor=2, mode="nearest") + x3)  # [N, c3, H/8, W/8]
        up = F.interpolate(self.reduce2(y3), scale_factor=2, mode="nearest")  # 1 x 1 to c2 channels first
        return self.smooth2(up + x2)  # [N, c2, H/4, W/4]

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """Raw head outputs: ``heatmap`` logits [N, C, h, w], ``size`` and ``offset`` [N, C, 2, h, w]."""
        images = self._check_images(images)
        f = self.features(images)
        n, _, h, w = f.shape
        return {
            "heatmap": self.heatmap(f),
            "size": self.size(f).view(n, self.num_classes, 2, h, w),
            "offset": self.offset(f).view(n, self.num_classes, 2, h, w),
        }

    def _check_images(self, images: Any) -> Tensor:
        images = check_tensor("images", images, shape=(None, 3, None, None), dtype="float")
        if images.shape[-1] % 16 or images.shape[-2] % 16 or images.shape[-1] == 0 or images.shape[-2] == 0:
            raise ValueError(f"images must have H and W multiples of 16, got shape {list(images.shape)}")
        return images

    def encode(self, targets: list[dict], output_size: tuple[int, int]) -> list[dict[str, Tensor]]:
        """:func:`centernet_targets` for each image's target dict."""
        check_type("targets", targets, (list, tuple), "a list of target dicts, one per image")
        return [
            centernet_targets(t, self.num_classes, output_size, self.stride, min_overlap=self.min_overlap)
            for t in targets
        ]

    def loss(self, images: Tensor, targets: list[dict]) -> dict[str, Tensor]:
        r""":math:`L = L_k + \lambda_{size} L_{size} + \lambda_{off} L_{off}` on a batch (the paper's Eq. 3),

        .. math:: L_{size} = \frac{1}{N}\sum_k \bigl|\hat S_{c_k}[\tilde p_k] - s_k\bigr|_1, \qquad
            L_{off} = \frac{1}{N}\sum_k \bigl|\hat O_{c_k}[\tilde p_k] - o_k\bigr|_1

        over the N objects of the batch that own their cell (``mask``).

        Returns:
            ``{"loss", "heatmap", "size", "offset"}`` (the total and the three unweighted parts).
        """
        out = self(images)
        if len(targets) != len(images):
            raise ValueError(f"targets must have one dict per image ({len(images)}), got {len(targets)}")
        encoded = self.encode(list(targets), tuple(out["heatmap"].shape[-2:]))
        # the losses in float32 even under CUDA's autocast (bfloat16 logs lose the small terms)
        out = {k: v.float() for k, v in out.items()}
        device, dtype = out["heatmap"].device, out["heatmap"].dtype
        gt = torch.stack([e["heatmap"] for e in encoded]).to(device, dtype)
        heat = heatmap_focal_loss(out["heatmap"], gt)
        size_err, offset_err, count = out["size"].new_zeros(()), out["offset"].new_zeros(()), 0
        for i, e in enumerate(encoded):
            m = e["mask"]
            c, y, x = e["classes"][m].to(device), e["ys"][m].to(device), e["xs"][m].to(device)
            size_err = size_err + (out["size"][i, c, :, y, x] - e["size"][m].to(device, dtype)).abs().sum()
            offset_err = (
                offset_err + (out["offset"][i, c, :, y, x] - e["offset"][m].to(device, dtype)).abs().sum()
            )
            count += int(m.sum())
        size, offset = size_err / max(count, 1), offset_err / max(count, 1)
        total = heat + self.size_weight * size + self.offset_weight * offset
        return {"loss": total, "heatmap": heat, "size": size, "offset": offset}

    @torch.no_grad()
    def predict(
        self, images: Tensor, score_threshold: float = 0.05, nms: bool = True
    ) -> list[dict[str, Tensor]]:
        """Detections per image: ``boxes`` [K, 4] xyxy pixels (clipped to the image), ``scores``,
        ``labels`` 1-based, at most ``max_detections``, score > ``score_threshold``.

        ``nms`` is accepted for the common interface and ignored: the 3 x 3 peak search replaces NMS
        (:func:`extract_peaks`). Call ``model.eval()`` first (batch norm).
        """
        score_threshold = check_float("score_threshold", score_threshold, low=0.0, high=1.0)
        out = self(images)
        height, width = images.shape[-2:]
        results = []
        for heat, size, offset in zip(out["heatmap"].sigmoid(), out["size"], out["offset"], strict=True):
            det = decode_centernet(
                heat, size, offset, self.stride, self.max_detections, score_threshold=score_threshold
            )
            boxes = det["boxes"]
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
            results.append(det)
        return results

    @torch.no_grad()
    def inspect(self, images: Tensor) -> dict[str, Any]:
        """For the viewer and the notebook, first image only: ``heatmap`` [C, h, w] (probabilities),
        ``peaks`` (:class:`Peaks` of the top ``max_detections`` maxima, scores unthresholded),
        ``size`` and ``offset`` [C, 2, h, w] and ``stride``. Call ``model.eval()`` first."""
        out = self(images[:1])
        heat = out["heatmap"][0].sigmoid()
        return {
            "heatmap": heat,
            "peaks": extract_peaks(heat, self.max_detections),
            "size": out["size"][0],
            "offset": out["offset"][0],
            "stride": self.stride,
        }
