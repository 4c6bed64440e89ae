r"""One-stage detectors (notes, section 4.3.4; the SSD and YOLO slides): the pieces that are not a
whole detector.

* **YOLO's learned anchors** (YOLOv2, Redmon & Farhadi 2016, https://arxiv.org/abs/1612.08242, sec. 2;
  YOLOv3 https://arxiv.org/abs/1804.02767): k-means on the training boxes' ``(w, h)`` with the
  distance :math:`d(BB, BB_\text{centroid}) = 1 - \mathrm{IoU}(BB, BB_\text{centroid})`, the boxes
  aligned at a common centre (``kmeans_anchors``, ``mean_best_iou``, ``wh_iou``).
* **The slides' YOLO table** (``tiny_yolov2``, ``layer_table``): the slides call it YOLO v1, but a
  416 x 416 input, nine layers of 3 x 3 convolutions and an output of 13 x 13 x 125 = 5 anchors x
  (4 box numbers + 1 confidence + 20 VOC classes) is **Tiny YOLOv2** (darknet's ``yolov2-tiny-voc.cfg``);
  YOLO v1 has a 448 x 448 input, 24 convolutions and a 7 x 7 x 30 output. ``yolo_decode`` turns the
  13 x 13 x 125 tensor into the 13 x 13 x 5 = 845 scored boxes of the slides.
* **SSD's default boxes** (Liu et al. 2016, https://arxiv.org/abs/1512.02325, sec. 2.2):
  ``ssd_scales`` (the paper's :math:`s_k`) and ``ssd_default_boxes`` (= torchvision's
  ``DefaultBoxGenerator``); SSD's **hard negative mining** at 3 negatives per positive
  (``hard_negative_mining``, = the selection in torchvision's ``SSDHead`` loss).
* **The focal loss' numbers** (Lin et al. 2017, https://arxiv.org/abs/1708.02002): the modulating
  factor :math:`(1 - p_t)^\gamma` (``focal_modulation_table``, the notes' table for
  :math:`\gamma = 2`), the loss as a function of :math:`p_t` (``binary_focal_loss``), the cumulative
  loss of sorted samples (Fig. 4.18, ``cumulative_loss``) and the prior bias
  :math:`b = -\ln((1 - \psi) / \psi)` (``prior_bias``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cvcourse._checks import check_float, check_int, check_tensor, check_type
from cvcourse.architectures.complexity import stage_summary

__all__ = [
    "wh_iou",
    "kmeans_anchors",
    "mean_best_iou",
    "tiny_yolov2",
    "layer_table",
    "yolo_decode",
    "ssd_scales",
    "ssd_default_boxes",
    "hard_negative_mining",
    "prior_bias",
    "focal_modulation_table",
    "binary_focal_loss",
    "cumulative_loss",
]


# ------------------------------------------------------------------------------ learned anchors
def wh_iou(wh_a: Tensor, wh_b: Tensor) -> Tensor:
    r"""IoU of boxes given by their sizes only, aligned at a common centre (YOLOv2's k-means distance):

    .. math:: \mathrm{IoU} = \frac{I}{w_a h_a + w_b h_b - I}, \qquad I = \min(w_a, w_b) \min(h_a, h_b)

    Args:
        wh_a: Tensor[N, 2] (width, height), >= 0.
        wh_b: Tensor[M, 2] (width, height), >= 0.

    Returns:
        Tensor[N, M]; 0 where both boxes have zero area (no overlap to speak of).
    """
    check_tensor("wh_a", wh_a, shape=("N", 2), dtype="float", finite=True)
    check_tensor("wh_b", wh_b, shape=("M", 2), dtype="float", finite=True)
    if (wh_a < 0).any() or (wh_b < 0).any():
        raise ValueError("wh_a and wh_b must hold sizes >= 0")
    inter = torch.minimum(wh_a[:, None, :], wh_b[None, :, :]).prod(-1)  # [N, M]
    union = wh_a.prod(-1)[:, None] + wh_b.prod(-1)[None, :] - inter  # [N, M]
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), 0.0)


def mean_best_iou(boxes_wh: Tensor, anchors: Tensor) -> float:
    """The mean over the boxes of the IoU with their best anchor (centres aligned): YOLOv2's
    "Avg IOU" (Table 1 of the paper), the figure k-means maximises."""
    check_tensor("boxes_wh", boxes_wh, shape=("N", 2), dtype="float")
    if len(boxes_wh) == 0:
        raise ValueError("boxes_wh must hold at least one box, got none")
    return float(wh_iou(boxes_wh, anchors).max(dim=1).values.mean())


def kmeans_anchors(boxes_wh: Tensor, k: int, iters: int = 300, seed: int = 0) -> tuple[Tensor, float]:
    r"""YOLOv2/v3's learned anchors: k-means on box sizes with :math:`d = 1 - \mathrm{IoU}`.

    Lloyd's algorithm: start from ``k`` distinct boxes drawn at random (``seed``); then repeat
    (1) assign every box to the centroid of the smallest distance, i.e. the largest ``wh_iou``
    (ties: the first centroid), (2) move each centroid to the mean (w, h) of its boxes (a centroid
    left without boxes stays where it is), until no assignment changes or ``iters`` rounds.

    Args:
        boxes_wh: Tensor[N, 2] (width, height) of the training boxes, N >= k.
        k: number of anchors (YOLOv2: 5, YOLOv3: 9).
        iters: the most assignment rounds.
        seed: seed of the initial draw.

    Returns:
        ``(anchors Tensor[k, 2], mean IoU)``: the centroids sorted by area, smallest first, and
        ``mean_best_iou(boxes_wh, anchors)``.
    """
    check_tensor("boxes_wh", boxes_wh, shape=("N", 2), dtype="float", finite=True)
    k = check_int("k", k, low=1)
    iters = check_int("iters", iters, low=1)
    seed = check_int("seed", seed)
    if len(boxes_wh) < k:
        raise ValueError(f"boxes_wh must hold at least k={k} boxes, got {len(boxes_wh)}")
    if (boxes_wh <= 0).any():
        raise ValueError("boxes_wh must hold sizes > 0 (a zero-area box has IoU 0 with every anchor)")
    generator = torch.Generator().manual_seed(seed)
    centroids = boxes_wh[torch.randperm(len(boxes_wh), generator=generator)[:k]].clone()  # [k, 2]
    assignment = torch.full((len(boxes_wh),), -1, dtype=torch.long)
    for _ in range(iters):
        new = wh_iou(boxes_wh, centroids).argmax(dim=1)  # [N] largest IoU = smallest 1 - IoU
        if torch.equal(new, assignment):
            break
        assignment = new
        for j in range(k):
            members = boxes_wh[assignment == j]
            if len(members):
                centroids[j] = members.mean(dim=0)
    anchors = centroids[centroids.prod(-1).argsort()]
    return anchors, mean_best_iou(boxes_wh, anchors)


# ------------------------------------------------------------------------------ the YOLO table
def _conv(c_in: int, c_out: int, k: int = 3) -> nn.Sequential:
    # darknet's block: convolution without bias, batch norm, leaky ReLU with slope 0.1
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.1)
    )


def tiny_yolov2(num_anchors: int = 5, num_classes: int = 20) -> nn.Sequential:
    r"""Tiny YOLOv2 (darknet's ``yolov2-tiny-voc.cfg``), the network of the slides' table.

    Six 3 x 3 convolutions each followed by a 2 x 2 max pool, two more 3 x 3 convolutions and a
    1 x 1 convolution to ``num_anchors * (5 + num_classes)`` channels (125 for VOC): a 416 x 416
    input gives 13 x 13 x 125. The sixth pool has stride 1, so it keeps 13 x 13, but a 2 x 2
    window with stride 1 only fits 12 times in 13: darknet pads one row and one column at the
    bottom and right (asymmetric padding); we pad by repeating the last row and column
    (``ReplicationPad2d((0, 1, 0, 1))``), which for a maximum is the same as darknet's -inf
    padding. Module names ``conv1`` ... ``conv9``, ``pool1`` ... ``pool6`` follow the table's rows.
    """
    num_anchors = check_int("num_anchors", num_anchors, low=1)
    num_classes = check_int("num_classes", num_classes, low=1)
    layers: dict[str, nn.Module] = {}
    channels = [3, 16, 32, 64, 128, 256, 512]
    for i in range(6):
        layers[f"conv{i + 1}"] = _conv(channels[i], channels[i + 1])
        if i < 5:
            layers[f"pool{i + 1}"] = nn.MaxPool2d(2, stride=2)
        else:  # 13 x 13 stays 13 x 13: pad right and bottom by one, then pool with stride 1
            layers["pool6"] = nn.Sequential(nn.ReplicationPad2d((0, 1, 0, 1)), nn.MaxPool2d(2, stride=1))
    layers["conv7"] = _conv(512, 1024)
    layers["conv8"] = _conv(1024, 1024)
    layers["conv9"] = nn.Conv2d(1024, num_anchors * (5 + num_classes), 1)  # the prediction layer
    return nn.Sequential(OrderedDict(layers))


def _kernel_stride(module: nn.Module) -> tuple[str, int, int]:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            return "Convolution", m.kernel_size[0], m.stride[0]
        if isinstance(m, nn.MaxPool2d):
            return "MaxPooling", m.kernel_size, m.stride
    raise ValueError(f"layer_table understands convolutions and max pools, got {type(module).__name__}")


def layer_table(model: nn.Sequential, input_size: int = 416) -> list[dict]:
    """One row per top-level layer of a plain conv net, as the slides' table: kind, kernel, stride,
    output shape (H, W, C), parameters. Shapes and parameters come from
    ``cvcourse.architectures.complexity.stage_summary`` (hooks on a meta-device copy).

    Returns:
        ``[{"name", "layer", "kernel", "stride", "output": (H, W, C), "params", "flops"}]``, the
        input first (as the slides list it).
    """
    check_type("model", model, nn.Sequential, "a torch.nn.Sequential of conv and pool layers")
    size = check_int("input_size", input_size, low=1)
    names = [name for name, _ in model.named_children()]
    rows = [
        {
            "name": "input",
            "layer": "Input",
            "kernel": None,
            "stride": None,
            "output": (size, size, 3),
            "params": 0,
            "flops": 0,
        }
    ]
    for row in stage_summary(model, (1, 3, size, size), stages=names):
        kind, kernel, stride = _kernel_stride(model.get_submodule(row.name))
        _, c, h, w = row.output_shape
        rows.append(
            {
                "name": row.name,
                "layer": kind,
                "kernel": kernel,
                "stride": stride,
                "output": (h, w, c),
                "params": row.params,
                "flops": row.flops,
            }
        )
    return rows


def yolo_decode(output: Tensor, anchors_wh: Tensor, num_classes: int = 20, stride: int = 32) -> dict:
    r"""YOLOv2's boxes from the raw ``[B (5 + C), S, S]`` output of one image: for cell
    :math:`(c_x, c_y)` and anchor :math:`(p_w, p_h)`,
    :math:`b_x = (\sigma(t_x) + c_x) \cdot \text{stride}`, :math:`b_w = p_w e^{t_w}` (the same for y, h),
    confidence :math:`\sigma(t_o)`, class probabilities softmax, and the slides' final score =
    confidence x class probability (of the best class).

    Args:
        output: Tensor[B * (5 + C), S, S] (one image).
        anchors_wh: Tensor[B, 2] anchor sizes in pixels.
        num_classes: C.
        stride: input pixels per cell (32 for a 416 -> 13 network).

    Returns:
        ``{"boxes": Tensor[S * S * B, 4] xyxy px, "scores": [S * S * B], "labels": [S * S * B] 0-based}``.
    """
    num_classes = check_int("num_classes", num_classes, low=1)
    stride = check_int("stride", stride, low=1)
    check_tensor("anchors_wh", anchors_wh, shape=("B", 2), dtype="float")
    b = len(anchors_wh)
    check_tensor("output", output, shape=(b * (5 + num_classes), "S", "S"), dtype="float")
    s = output.shape[-1]
    t = output.reshape(b, 5 + num_classes, s, s).permute(2, 3, 0, 1)  # [S (y), S (x), B, 5 + C]
    cy, cx = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")  # [S, S]
    centre_x = (torch.sigmoid(t[..., 0]) + cx[..., None]) * stride  # [S, S, B]
    centre_y = (torch.sigmoid(t[..., 1]) + cy[..., None]) * stride
    w, h = anchors_wh[:, 0] * torch.exp(t[..., 2]), anchors_wh[:, 1] * torch.exp(t[..., 3])
    boxes = torch.stack([centre_x - w / 2, centre_y - h / 2, centre_x + w / 2, centre_y + h / 2], -1)
    probs = torch.softmax(t[..., 5:], dim=-1) * torch.sigmoid(t[..., 4:5])  # [S, S, B, C]
    scores, labels = probs.max(dim=-1)
    return {"boxes": boxes.reshape(-1, 4), "scores": scores.reshape(-1), "labels": labels.reshape(-1)}


# ------------------------------------------------------------------------------ SSD
def ssd_scales(m: int, s_min: float = 0.2, s_max: float = 0.9) -> list[float]:
    r"""SSD's default-box scales: :math:`s_k = s_\min + \frac{s_\max - s_\min}{m - 1}(k - 1)`,
    :math:`k = 1 \dots m` (fractions of the image side), plus :math:`s_{m + 1} = 1`.

    The paper needs :math:`s_{m+1}` for the extra square box :math:`s'_m = \sqrt{s_m s_{m+1}}` of
    the last map without saying what it is; like torchvision (``DefaultBoxGenerator``) we use 1.

    Returns:
        m + 1 scales.
    """
    m = check_int("m", m, low=2)
    s_min = check_float("s_min", s_min, low=0.0, high=1.0, low_inclusive=False)
    s_max = check_float("s_max", s_max, low=s_min, high=1.0)
    return [s_min + (s_max - s_min) * (k - 1) / (m - 1) for k in range(1, m + 1)] + [1.0]


def ssd_default_boxes(
    feature_sizes: Sequence[int | tuple[int, int]],
    scales: Sequence[float],
    aspect_ratios: Sequence[Sequence[float]],
    clip: bool = True,
) -> Tensor:
    r"""SSD's default boxes on m feature maps (same as torchvision's ``DefaultBoxGenerator``).

    On map k of size :math:`|f_k|` the centres are :math:`((j + 0.5) / |f_k|, (i + 0.5) / |f_k|)`;
    every centre gets a square of side :math:`s_k`, a square of side :math:`s'_k = \sqrt{s_k s_{k+1}}`,
    and for each ratio :math:`a` of ``aspect_ratios[k]`` the boxes
    :math:`(w, h) = (s_k \sqrt{a}, s_k / \sqrt{a})` and :math:`(s_k / \sqrt{a}, s_k \sqrt{a})`.

    Args:
        feature_sizes: m map sizes, an int (square) or (H, W) each.
        scales: m + 1 scales (``ssd_scales``), fractions of the image side.
        aspect_ratios: for each map the ratios > 1 it uses, e.g. ``[[2], [2, 3], ...]``.
        clip: clamp widths and heights to [0, 1] (torchvision's default).

    Returns:
        Tensor[sum_k H_k W_k (2 + 2 |ratios_k|), 4] float64 in (cx, cy, w, h), fractions of the image,
        map by map, location-major (row by row), the boxes of one location together.
    """
    check_type("feature_sizes", feature_sizes, (list, tuple), "a list of map sizes")
    check_type("scales", scales, (list, tuple), "a list of m + 1 scales")
    check_type("aspect_ratios", aspect_ratios, (list, tuple), "a list (one per map) of lists of ratios")
    m = len(feature_sizes)
    if m == 0 or len(scales) != m + 1 or len(aspect_ratios) != m:
        raise ValueError(
            f"feature_sizes, scales and aspect_ratios must have m, m + 1 and m entries (m >= 1), got "
            f"{m}, {len(scales)} and {len(aspect_ratios)}"
        )
    s = [check_float(f"scales[{i}]", v, low=0.0, low_inclusive=False) for i, v in enumerate(scales)]
    out = []
    for k, size in enumerate(feature_sizes):
        fh, fw = (size, size) if not isinstance(size, (tuple, list)) else size
        fh, fw = check_int(f"feature_sizes[{k}]", fh, low=1), check_int(f"feature_sizes[{k}]", fw, low=1)
        wh = [(s[k], s[k]), (math.sqrt(s[k] * s[k + 1]),) * 2]
        check_type(f"aspect_ratios[{k}]", aspect_ratios[k], (list, tuple), "a list of ratios")
        for a in aspect_ratios[k]:
            r = math.sqrt(check_float(f"aspect_ratios[{k}]", a, low=0.0, low_inclusive=False))
            wh += [(s[k] * r, s[k] / r), (s[k] / r, s[k] * r)]
        wh_t = torch.tensor(wh, dtype=torch.float64)  # [n_k, 2]
        if clip:
            wh_t = wh_t.clamp(0, 1)
        cy, cx = torch.meshgrid(
            (torch.arange(fh, dtype=torch.float64) + 0.5) / fh,
            (torch.arange(fw, dtype=torch.float64) + 0.5) / fw,
            indexing="ij",
        )
        centres = torch.stack([cx.reshape(-1), cy.reshape(-1)], -1)  # [H W, 2]
        n = len(wh_t)
        out.append(torch.cat([centres.repeat_interleave(n, 0), wh_t.repeat(fh * fw, 1)], 1))
    return torch.cat(out)


def hard_negative_mining(losses: Tensor, labels: Tensor, ratio: int = 3) -> Tensor:
    """SSD's hard negative mining: per image, keep every positive anchor and the ``ratio`` x (number
    of positives) negatives with the largest classification loss (ties: the lower index first).

    The notes add an NMS over the negatives (OHEM's way); SSD and torchvision's ``SSDHead`` do not.

    Args:
        losses: Tensor[N, A] classification loss of every anchor of N images (or Tensor[A]).
        labels: Tensor[N, A] (or [A]) integer labels: > 0 positive, 0 negative (background), < 0
            ignored (never selected).
        ratio: negatives per positive.

    Returns:
        Bool Tensor of the shape of ``losses``: the anchors the loss is summed over.
    """
    check_tensor("losses", losses, ndim=(1, 2), dtype="float")
    check_tensor("labels", labels, shape=tuple(losses.shape), dtype="int")
    ratio = check_int("ratio", ratio, low=0)
    single = losses.dim() == 1
    losses, labels = (losses[None], labels[None]) if single else (losses, labels)
    positive = labels > 0  # [N, A]
    negative_loss = torch.where(labels == 0, losses, -math.inf)
    order = negative_loss.argsort(dim=1, descending=True, stable=True)  # [N, A]
    rank = order.argsort(dim=1)  # rank of each anchor in that order
    wanted = ratio * positive.sum(dim=1, keepdim=True)  # [N, 1]
    selected = positive | ((rank < wanted) & (labels == 0))
    return selected[0] if single else selected


# ------------------------------------------------------------------------------ focal loss numbers
def prior_bias(psi: float) -> float:
    r"""The classification bias that makes a new network output probability :math:`\psi`:
    :math:`b = -\ln\left(\frac{1 - \psi}{\psi}\right)` (the logit of :math:`\psi`); -4.6 for 0.01."""
    psi = check_float("psi", psi, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    return -math.log((1 - psi) / psi)


def focal_modulation_table(p_t: Sequence[float] | Tensor, gamma: float = 2.0) -> Tensor:
    r"""The focal loss' down-weighting factor :math:`(1 - p_t)^\gamma` for each :math:`p_t`.

    Returns:
        Tensor of the shape of ``p_t``, float64.
    """
    p = torch.as_tensor(p_t, dtype=torch.float64) if not isinstance(p_t, Tensor) else p_t.double()
    gamma = check_float("gamma", gamma, low=0.0)
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"p_t must lie in [0, 1], got values from {p.min():.3g} to {p.max():.3g}")
    return (1 - p) ** gamma


def binary_focal_loss(p_t: Tensor, gamma: float = 2.0, alpha_t: float | Tensor = 1.0) -> Tensor:
    r""":math:`\mathrm{WBFL}_\gamma(p_t) = -\alpha_t (1 - p_t)^\gamma \ln(p_t)` as a function of
    :math:`p_t` (Fig. 4.17; :math:`\gamma = 0` is the cross-entropy, :math:`\alpha_t = 1` unweighted)."""
    check_tensor("p_t", p_t, dtype="float")
    if ((p_t <= 0) | (p_t > 1)).any():
        raise ValueError("p_t must lie in (0, 1]")
    return -alpha_t * focal_modulation_table(p_t, gamma).to(p_t.dtype) * torch.log(p_t)


def cumulative_loss(losses: Tensor) -> tuple[Tensor, Tensor]:
    """Fig. 4.18: sort the per-sample losses from smallest to largest and accumulate them.

    Returns:
        ``(fraction of samples, fraction of the total loss)``, both Tensor[N] ending at 1: point i
        says how much of the loss the i + 1 easiest samples carry.
    """
    check_tensor("losses", losses, ndim=1, dtype="float")
    if len(losses) == 0 or (losses < 0).any() or losses.sum() <= 0:
        raise ValueError("losses must be a non-empty Tensor[N] of losses >= 0 with a positive sum")
    total = losses.sort().values.cumsum(0)
    return torch.arange(1, len(losses) + 1, dtype=losses.dtype) / len(losses), total / total[-1]
