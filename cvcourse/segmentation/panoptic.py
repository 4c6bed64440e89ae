r"""Panoptic quality (Kirillov et al., "Panoptic Segmentation", https://arxiv.org/abs/1801.00868) and
the Panoptic FPN merge rule (Kirillov et al., https://arxiv.org/abs/1901.02446); notes, 5.3.

A panoptic map is a ``LongTensor[B, H, W, 2]`` of ``(category id, instance id)`` per pixel, the
layout of ``torchmetrics.detection.PanopticQuality``. A *segment* is one ``(category, instance)``
pair of an image (a stuff category's instance id is ignored: the whole category is one segment).

.. math::
    \mathrm{PQ}_c = \underbrace{\frac{\sum_{(p, g) \in TP_c} \mathrm{IoU}(p, g)}{|TP_c|}}_{\mathrm{SQ}_c}
    \times \underbrace{\frac{|TP_c|}{|TP_c| + \tfrac12 |FP_c| + \tfrac12 |FN_c|}}_{\mathrm{RQ}_c}

with the counts summed over the images, a prediction and a ground-truth segment of the same
category a true positive when their IoU is above 0.5 (:func:`match_segments`), and PQ, SQ, RQ the
means over the categories that occur (a non-zero denominator).

Void and ignore rules (those of torchmetrics and of panopticapi):

* a pixel whose category is neither a thing nor a stuff is *void*: in the target always, in the
  predictions only with ``allow_unknown_preds_category=True`` (otherwise it is an error);
* void target pixels are left out of every IoU: a prediction's void-target pixels and the target's
  void-predicted pixels are not counted in the union;
* an unmatched prediction is not a false positive when more than half of it lies on void target
  pixels; an unmatched ground-truth segment is not a false negative when more than half of it is
  predicted void.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import torch
from torch import Tensor

from cvcourse._checks import check_bool, check_float, check_int, check_tensor, check_type

__all__ = [
    "SegmentMatch",
    "match_segments",
    "panoptic_merge",
    "panoptic_quality",
    "panoptic_stats",
]

Color = tuple[int, int]


def _categories(things, stuffs) -> tuple[list[int], list[int]]:
    out = []
    for name, value in (("things", things), ("stuffs", stuffs)):
        check_type(name, value, Collection, "a collection of int category ids")
        if isinstance(value, (str, bytes, Tensor)):
            raise TypeError(f"{name} must be a collection of int category ids, got {type(value).__name__}")
        out.append(sorted({check_int(f"{name} entry", v) for v in value}))
    things_, stuffs_ = out
    common = set(things_) & set(stuffs_)
    if common:
        raise ValueError(f"things and stuffs must be disjoint, got {sorted(common)} in both")
    if not things_ and not stuffs_:
        raise ValueError("things and stuffs must not both be empty")
    return things_, stuffs_


def _check_maps(preds, targets) -> tuple[Tensor, Tensor]:
    preds = check_tensor("preds", preds, ndim=(3, 4, 5, 6), dtype="int")
    targets = check_tensor("targets", targets, ndim=(3, 4, 5, 6), dtype="int")
    if preds.shape != targets.shape:
        raise ValueError(
            f"preds and targets must have the same shape, got {list(preds.shape)} and {list(targets.shape)}"
        )
    if preds.shape[-1] != 2:
        raise ValueError(
            f"preds must have shape [B, *spatial, 2] (category, instance), got {list(preds.shape)}"
        )
    return preds, targets


def _normalise(
    image: Tensor, things: list[int], stuffs: list[int], void: Color, allow_unknown: bool
) -> Tensor:
    """[N, 2] pairs of one image: stuff instance ids set to 0, unknown categories set to ``void``."""
    out = image.reshape(-1, 2).clone()
    is_stuff = torch.isin(out[:, 0], torch.tensor(stuffs, dtype=out.dtype))
    is_thing = torch.isin(out[:, 0], torch.tensor(things, dtype=out.dtype))
    out[is_stuff, 1] = 0
    unknown = ~(is_stuff | is_thing)
    if not allow_unknown and bool(unknown.any()):
        found = sorted(set(out[unknown, 0].tolist()))
        raise ValueError(
            f"preds hold categories that are neither things nor stuffs: {found} "
            "(pass allow_unknown_preds_category=True to count them as void)"
        )
    out[unknown] = torch.tensor(void, dtype=out.dtype)
    return out


def _areas(pairs: Tensor) -> dict[tuple, int]:
    keys, counts = torch.unique(pairs, dim=0, return_counts=True)
    return {
        tuple(k): int(c) for k, c in zip(keys.reshape(len(keys), -1).tolist(), counts.tolist(), strict=True)
    }


@dataclass
class SegmentMatch:
    """What :func:`match_segments` finds in one image.

    Attributes:
        matches: ``(pred segment, target segment, IoU)`` of every true positive.
        false_positives: unmatched predicted segments that count (at most half on void target).
        false_negatives: unmatched target segments that count (at most half predicted void).
        ignored: unmatched segments left out by the void rule (predicted ones, then target ones).
    """

    matches: list[tuple[Color, Color, float]] = field(default_factory=list)
    false_positives: list[Color] = field(default_factory=list)
    false_negatives: list[Color] = field(default_factory=list)
    ignored: list[Color] = field(default_factory=list)


def match_segments(pred: Tensor, target: Tensor, void: Color) -> SegmentMatch:
    r"""Match the segments of one image at IoU > 0.5; the matching is unique, no assignment needed.

    Args:
        pred, target (LongTensor[N, 2]): ``(category, instance)`` per pixel, already normalised
            (stuff instance ids 0, every unknown category replaced by ``void``).
        void: the ``(category, instance)`` pair that marks void pixels.

    The IoU of a predicted segment :math:`p` and a target segment :math:`g` of the same category
    leaves out the pixels the other side calls void:

    .. math::
        \mathrm{IoU}(p, g) = \frac{|p \cap g|}{|p| - |p \cap \mathrm{void}_g| + |g|
        - |\mathrm{void}_p \cap g| - |p \cap g|}.

    **Why the matching is unique.** Let :math:`g' = g \setminus \mathrm{void}_p` (the part of
    :math:`g` predicted non-void). The denominator is :math:`|p' \cup g'|` for
    :math:`p' = p \setminus \mathrm{void}_g`, which contains :math:`g'`, and :math:`p \cap g \subseteq g'`.
    So :math:`\mathrm{IoU}(p, g) > \tfrac12` implies :math:`|p \cap g| > \tfrac12 |g'|`: :math:`p`
    covers more than half of :math:`g'`. Predicted segments are disjoint (each pixel has one
    label), so two of them cannot both cover more than half of :math:`g'`: at most one prediction
    matches :math:`g`. The same argument with the roles swapped gives at most one target per
    prediction. Hence the pairs with IoU > 0.5 already form a one-to-one matching, and no Hungarian
    algorithm (as in DETR) is needed.

    Returns:
        :class:`SegmentMatch`.
    """
    check_tensor("pred", pred, shape=("N", 2), dtype="int", sizes=(sizes := {}))
    check_tensor("target", target, shape=("N", 2), dtype="int", sizes=sizes)
    check_type("void", void, tuple, "a (category, instance) tuple")
    void = (check_int("void[0]", void[0]), check_int("void[1]", void[1]))
    pred_area = _areas(pred)
    target_area = _areas(target)
    inter = _areas(torch.stack([pred, target], dim=1))  # keys ((pc, pi), (tc, ti))
    inter = {(k[:2], k[2:]): v for k, v in inter.items()}

    result = SegmentMatch()
    matched_p, matched_t = set(), set()
    for (p, g), overlap in sorted(inter.items()):
        if g == void or p[0] != g[0]:
            continue
        union = pred_area[p] - inter.get((p, void), 0) + target_area[g] - inter.get((void, g), 0) - overlap
        iou = overlap / union
        if iou > 0.5:
            result.matches.append((p, g, iou))
            matched_p.add(p)
            matched_t.add(g)
    for p in sorted(set(pred_area) - matched_p - {void}):
        on_void = inter.get((p, void), 0)
        (result.false_positives if on_void / pred_area[p] <= 0.5 else result.ignored).append(p)
    for g in sorted(set(target_area) - matched_t - {void}):
        predicted_void = inter.get((void, g), 0)
        (result.false_negatives if predicted_void / target_area[g] <= 0.5 else result.ignored).append(g)
    return result


def panoptic_stats(
    preds: Tensor, targets: Tensor, things, stuffs, *, allow_unknown_preds_category: bool = False
) -> dict[str, Tensor]:
    """Per-category sums over a batch: ``iou_sum`` (float64), ``tp``, ``fp``, ``fn`` (int64).

    Categories are ordered things first, then stuffs, each sorted (torchmetrics' order); the order
    is returned as ``categories``.
    """
    preds, targets = _check_maps(preds, targets)
    things_, stuffs_ = _categories(things, stuffs)
    check_bool("allow_unknown_preds_category", allow_unknown_preds_category)
    categories = things_ + stuffs_
    void = (1 + max([0, *categories]), 0)
    index = {c: i for i, c in enumerate(categories)}
    n = len(categories)
    stats = {
        "iou_sum": torch.zeros(n, dtype=torch.float64),
        "tp": torch.zeros(n, dtype=torch.int64),
        "fp": torch.zeros(n, dtype=torch.int64),
        "fn": torch.zeros(n, dtype=torch.int64),
    }
    for p_img, t_img in zip(preds, targets, strict=True):
        p = _normalise(p_img, things_, stuffs_, void, allow_unknown_preds_category)
        t = _normalise(t_img, things_, stuffs_, void, True)
        m = match_segments(p, t, void)
        for _, g, iou in m.matches:
            stats["iou_sum"][index[g[0]]] += iou
            stats["tp"][index[g[0]]] += 1
        for s in m.false_positives:
            stats["fp"][index[s[0]]] += 1
        for s in m.false_negatives:
            stats["fn"][index[s[0]]] += 1
    stats["categories"] = torch.tensor(categories)
    return stats


def panoptic_quality(
    preds: Tensor,
    targets: Tensor,
    things,
    stuffs,
    *,
    return_sq_rq: bool = False,
    return_per_class: bool = False,
    allow_unknown_preds_category: bool = False,
) -> Tensor:
    """Panoptic quality, equal to ``torchmetrics.detection.PanopticQuality`` (float64).

    Each IoU is computed in float64 here; torchmetrics divides its integer areas in float32 (then
    sums in float64), so the two agree to about 1e-7, not to the last bit.

    Args:
        preds, targets (LongTensor[B, *spatial, 2]): ``(category id, instance id)`` per pixel.
        things, stuffs: disjoint collections of category ids (not both empty).
        return_sq_rq: also return SQ and RQ (torchmetrics' ``return_sq_and_rq``).
        return_per_class: per-category values instead of the mean (things first, then stuffs,
            each sorted).
        allow_unknown_preds_category: count predicted pixels of other categories as void instead of
            raising.

    Returns:
        a scalar PQ (NaN when no category occurs); ``[PQ, SQ, RQ]`` with ``return_sq_rq``;
        ``Tensor[1, C]`` of PQ per category with ``return_per_class``; ``Tensor[C, 3]`` (PQ, SQ, RQ
        per category) with both. As in torchmetrics, a category that never occurs has 0 here.
    """
    check_bool("return_sq_rq", return_sq_rq)
    check_bool("return_per_class", return_per_class)
    s = panoptic_stats(
        preds, targets, things, stuffs, allow_unknown_preds_category=allow_unknown_preds_category
    )
    tp = s["tp"].to(torch.float64)
    denominator = tp + 0.5 * s["fp"] + 0.5 * s["fn"]
    zero = torch.zeros((), dtype=torch.float64)
    sq = torch.where(tp > 0, s["iou_sum"] / tp.clamp(min=1), zero)
    rq = torch.where(denominator > 0, tp / denominator.clamp(min=0.5), zero)
    pq = sq * rq
    if return_per_class:
        return torch.stack([pq, sq, rq], dim=-1) if return_sq_rq else pq[None]
    occurs = denominator > 0
    means = torch.stack([pq[occurs].mean(), sq[occurs].mean(), rq[occurs].mean()])
    return means if return_sq_rq else means[0]


def panoptic_merge(
    masks: Tensor,
    scores: Tensor,
    labels: Tensor,
    semantic: Tensor,
    stuffs,
    *,
    score_threshold: float = 0.5,
    overlap_threshold: float = 0.5,
    stuff_area_threshold: int = 64,
    void: int = 0,
) -> Tensor:
    """The Panoptic FPN merge of instance and semantic predictions into one panoptic map.

    The heuristic of the Panoptic FPN paper (section 4, as in detectron2's
    ``combine_semantic_and_instance_outputs``):

    1. things over stuff, by score: instances with ``score >= score_threshold`` are placed in
       decreasing score; each takes only the pixels still free; an instance whose already-taken
       part exceeds ``overlap_threshold`` of its mask is dropped (it is mostly a duplicate), as is
       one with no free pixel left;
    2. stuff fills the rest: for each stuff category of the semantic map, its still-free pixels
       become one segment, unless fewer than ``stuff_area_threshold`` (small stuff is removed);
    3. what is left is void.

    Args:
        masks (BoolTensor[N, H, W]): binary instance masks.
        scores (Tensor[N]): their confidences.
        labels (LongTensor[N]): their thing categories.
        semantic (LongTensor[H, W]): the semantic head's category per pixel.
        stuffs: the stuff category ids (other categories of ``semantic`` are not placed).
        score_threshold, overlap_threshold: see step 1.
        stuff_area_threshold: see step 2 (pixels).
        void: the category id of unassigned pixels.

    Returns:
        LongTensor[H, W, 2]: ``(category, instance)``; instances numbered 1, 2, ... in the order
        placed, stuff and void have instance 0.
    """
    sizes: dict[str, int] = {}
    masks = check_tensor("masks", masks, shape=("N", "H", "W"), dtype="bool", sizes=sizes)
    scores = check_tensor("scores", scores, shape=("N",), dtype="float", finite=True, sizes=sizes)
    labels = check_tensor("labels", labels, shape=("N",), dtype="int", sizes=sizes)
    semantic = check_tensor("semantic", semantic, shape=("H", "W"), dtype="int", sizes=sizes)
    check_type("stuffs", stuffs, Collection, "a collection of int category ids")
    _, stuffs_ = _categories([], stuffs) if len(stuffs) else ([], [])
    check_float("score_threshold", score_threshold)
    check_float("overlap_threshold", overlap_threshold, low=0.0, high=1.0)
    check_int("stuff_area_threshold", stuff_area_threshold, low=0)
    void = check_int("void", void)
    if set(labels.tolist()) & set(stuffs_):
        raise ValueError(
            f"labels must be thing categories, got stuff ids {sorted(set(labels.tolist()) & set(stuffs_))}"
        )

    H, W = semantic.shape
    category = torch.full((H, W), void, dtype=torch.int64)
    instance = torch.zeros(H, W, dtype=torch.int64)
    taken = torch.zeros(H, W, dtype=torch.bool)
    order = torch.argsort(scores, descending=True, stable=True)
    next_id = 1
    for k in order.tolist():
        if float(scores[k]) < score_threshold:
            continue
        area = int(masks[k].sum())
        if area == 0:
            continue
        free = masks[k] & ~taken
        if int(free.sum()) == 0 or (area - int(free.sum())) / area > overlap_threshold:
            continue
        category[free], instance[free] = int(labels[k]), next_id
        taken |= free
        next_id += 1
    for c in stuffs_:
        free = (semantic == c) & ~taken
        if int(free.sum()) == 0 or int(free.sum()) < stuff_area_threshold:
            continue
        category[free] = c
        taken |= free
    return torch.stack([category, instance], dim=-1)
