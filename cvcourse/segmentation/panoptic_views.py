r"""What the panoptic viewer and chapter 5b's pictures show, as pure functions (notes, 5.2-5.3).

* :func:`panoptic_picture`: a panoptic map in colours (class hue, a shade per instance, void black);
* :func:`query_picture`: one MaskFormer query's mask :math:`m_i(u, v)` in red over the grey scene;
* :func:`merge_trace`: MaskFormer's panoptic inference (``maskformer_inference(mode="panoptic")``)
  query by query, saying what happened to each query (no object, low score, no pixel won, overlap
  below the threshold, placed) and which pixels it took; its map is the same as the inference's
  (tested), and :func:`merge_picture` draws the map after the first ``step + 1`` queries;
* :func:`pq_picture`: PQ's matching of one scene (:func:`~cvcourse.segmentation.panoptic.match_segments`):
  matched predicted segments green, false positives red, false negatives blue;
* :func:`instances_picture`: Mask R-CNN's instances (score at least a threshold) in their class colours.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from cvcourse._checks import check_float, check_int, check_tensor, check_type

from .panoptic import match_segments, panoptic_quality
from .viewer import CLASS_COLOURS

__all__ = [
    "STATUSES",
    "panoptic_picture",
    "query_picture",
    "merge_trace",
    "merge_picture",
    "pq_picture",
    "instances_picture",
]

STATUSES = ("no object", "low score", "no pixel won", "overlap below threshold", "placed")
MATCHED, FALSE_POSITIVE, FALSE_NEGATIVE = (0.2, 0.8, 0.2), (0.9, 0.1, 0.1), (0.2, 0.4, 1.0)


def _grey(image: Tensor) -> np.ndarray:
    """The scene dimmed to grey, ndarray[H, W, 3] in [0.25, 0.75]."""
    check_tensor("image", image, shape=(3, None, None), dtype="float")
    return 0.25 + 0.5 * image.mean(0)[..., None].numpy().repeat(3, axis=2)


def panoptic_picture(panoptic: Tensor) -> np.ndarray:
    """ndarray[H, W, 3]: each pixel in its category's colour (``CLASS_COLOURS``; void 0 black),
    instances of one category in three shades (x 0.6, 0.8, 1.0 by instance id, stuff at 1.0)."""
    panoptic = check_tensor("panoptic", panoptic, shape=(None, None, 2), dtype="int")
    category = panoptic[..., 0].clamp(0, len(CLASS_COLOURS) - 1).numpy()
    instance = panoptic[..., 1].numpy()
    shade = np.where(instance == 0, 1.0, 0.6 + 0.4 * (instance % 3) / 2.0)[..., None]
    return CLASS_COLOURS[category] * shade


def query_picture(image: Tensor, mask_logits: Tensor) -> np.ndarray:
    r"""One query's mask :math:`m_i = \sigma(\text{logits})` over the grey scene: ndarray[H, W, 3],
    ``(1 - m) * grey + m * red``."""
    grey = _grey(image)
    mask_logits = check_tensor("mask_logits", mask_logits, shape=grey.shape[:2], dtype="float")
    m = mask_logits.sigmoid().numpy()[..., None]
    return (1 - m) * grey + m * np.array([0.95, 0.1, 0.1])


def merge_trace(
    class_logits: Tensor,
    mask_logits: Tensor,
    things,
    *,
    object_mask_threshold: float = 0.8,
    overlap_threshold: float = 0.8,
    void: int = 0,
) -> dict:
    r"""MaskFormer's panoptic inference, one query at a time (the rule of ``maskformer_inference``).

    1. query :math:`i` takes its most likely class :math:`c_i` (over :math:`C + 1`, the last "no object");
       it is dropped if :math:`c_i = \varnothing` or :math:`p_i(c_i) \le` ``object_mask_threshold``;
    2. each pixel goes to the kept query of the highest :math:`s_i(u, v) = p_i(c_i)\, m_i(u, v)`;
    3. a kept query places the pixels it won inside its own mask (:math:`m_i \ge 0.5`), unless it won
       none or less than ``overlap_threshold`` of its own mask; thing queries get instance ids 1, 2, ...
       in query order, stuff queries instance 0 (so one stuff class is one segment).

    Args:
        class_logits (Tensor[Q, C + 1]), mask_logits (Tensor[Q, H, W]): one image's MaskFormer output.
        things: the thing class indices.
        object_mask_threshold, overlap_threshold, void: as ``maskformer_inference``.

    Returns:
        ``{"steps": [one dict per query: query, label, score, status (one of STATUSES), instance,
        segment (BoolTensor[H, W], empty unless placed)], "panoptic": LongTensor[H, W, 2]}``.
    """
    sizes: dict[str, int] = {}
    class_logits = check_tensor("class_logits", class_logits, shape=("Q", None), dtype="float", sizes=sizes)
    mask_logits = check_tensor(
        "mask_logits", mask_logits, shape=("Q", None, None), dtype="float", sizes=sizes
    )
    check_type("things", things, (set, frozenset, list, tuple), "a collection of class indices")
    things = {check_int("things entry", t, low=0) for t in things}
    check_float("object_mask_threshold", object_mask_threshold, low=0.0, high=1.0)
    check_float("overlap_threshold", overlap_threshold, low=0.0, high=1.0)
    void = check_int("void", void)
    C = class_logits.shape[1] - 1
    probs, masks = class_logits.softmax(-1), mask_logits.sigmoid()  # p_i [Q, C + 1], m_i [Q, H, W]
    score, label = probs.max(-1)
    keep = (label != C) & (score > object_mask_threshold)
    H, W = masks.shape[1:]
    winner = torch.full((H, W), -1, dtype=torch.int64)
    if bool(keep.any()):
        kept = torch.nonzero(keep)[:, 0]  # [K] query indices
        winner = kept[(score[kept, None, None] * masks[kept]).argmax(0)]  # [H, W] query of the highest s_i
    category = torch.full((H, W), void, dtype=torch.int64)
    instance = torch.zeros(H, W, dtype=torch.int64)
    steps, next_id = [], 1
    for q in range(len(probs)):
        step = {"query": q, "label": int(label[q]), "score": float(score[q]), "instance": 0}
        segment = torch.zeros(H, W, dtype=torch.bool)
        if int(label[q]) == C:
            step["status"] = "no object"
        elif not bool(keep[q]):
            step["status"] = "low score"
        else:
            won, own = winner == q, masks[q] >= 0.5
            segment = won & own
            if int(segment.sum()) == 0:
                step["status"] = "no pixel won"
                segment = torch.zeros_like(segment)
            elif int(won.sum()) / int(own.sum()) < overlap_threshold:
                step["status"] = "overlap below threshold"
                segment = torch.zeros_like(segment)
            else:
                step["status"] = "placed"
                category[segment] = int(label[q])
                if int(label[q]) in things:
                    step["instance"] = next_id
                    instance[segment] = next_id
                    next_id += 1
        steps.append({**step, "segment": segment})
    return {"steps": steps, "panoptic": torch.stack([category, instance], dim=-1)}


def merge_picture(image: Tensor, trace: dict, step: int) -> np.ndarray:
    """The merge after queries 0 .. ``step``: their placed segments in colour (the segment of query
    ``step`` at full brightness, earlier ones at 0.7), the rest of the scene grey. ndarray[H, W, 3]."""
    grey = _grey(image)
    check_type("trace", trace, dict, "a dict from merge_trace")
    steps = trace["steps"]
    step = check_int("step", step, low=0, high=len(steps) - 1)
    picture = grey.copy()
    for s in steps[: step + 1]:
        seg = s["segment"].numpy()
        colour = CLASS_COLOURS[min(s["label"], len(CLASS_COLOURS) - 1)]
        picture[seg] = colour * (1.0 if s["query"] == step else 0.7)
    return picture


def _normalise(panoptic: Tensor, things, stuffs) -> Tensor:
    """[H * W, 2]: stuff instance ids 0, categories neither thing nor stuff void (0, 0)."""
    pairs = panoptic.reshape(-1, 2).clone()
    cats = pairs[:, 0]
    pairs[torch.isin(cats, torch.tensor(sorted(stuffs))), 1] = 0
    known = torch.isin(cats, torch.tensor(sorted({*things, *stuffs})))
    pairs[~known] = 0
    return pairs


def pq_picture(image: Tensor, pred: Tensor, target: Tensor, things, stuffs) -> tuple[np.ndarray, dict]:
    """PQ's matching on one scene, drawn: matched predicted segments green, false positives red,
    false negatives (ground-truth segments no prediction matches) blue on top, over the grey scene.

    Returns:
        ``(picture ndarray[H, W, 3], {"match": SegmentMatch, "pq", "sq", "rq": the scene's values by
        panoptic_quality})``.
    """
    grey = _grey(image)
    sizes: dict[str, int] = {}
    pred = check_tensor("pred", pred, shape=("H", "W", 2), dtype="int", sizes=sizes)
    target = check_tensor("target", target, shape=("H", "W", 2), dtype="int", sizes=sizes)
    if pred.shape[:2] != grey.shape[:2]:
        raise ValueError(f"pred must cover the image {list(grey.shape[:2])}, got {list(pred.shape[:2])}")
    p, t = _normalise(pred, things, stuffs), _normalise(target, things, stuffs)
    match = match_segments(p, t, (0, 0))
    picture = grey.reshape(-1, 3).copy()
    for s, _, _ in match.matches:
        picture[((p[:, 0] == s[0]) & (p[:, 1] == s[1])).numpy()] = MATCHED
    for s in match.false_positives:
        picture[((p[:, 0] == s[0]) & (p[:, 1] == s[1])).numpy()] = FALSE_POSITIVE
    for g in match.false_negatives:  # last: a missed segment shows even where a prediction covers it
        picture[((t[:, 0] == g[0]) & (t[:, 1] == g[1])).numpy()] = FALSE_NEGATIVE
    pq, sq, rq = panoptic_quality(
        pred[None], target[None], things, stuffs, return_sq_rq=True, allow_unknown_preds_category=True
    ).tolist()
    return picture.reshape(grey.shape), {"match": match, "pq": pq, "sq": sq, "rq": rq}


def instances_picture(image: Tensor, prediction: dict, score_threshold: float = 0.5) -> np.ndarray:
    """Mask R-CNN's instances of score >= ``score_threshold`` (masks > 0.5) in their class colours,
    lowest score first so the best is on top, over the grey scene. ndarray[H, W, 3]."""
    grey = _grey(image)
    check_type("prediction", prediction, dict, "a dict with masks, labels, scores")
    score_threshold = check_float("score_threshold", score_threshold, low=0.0, high=1.0)
    masks = check_tensor("prediction['masks']", prediction["masks"], shape=("K", 1, *grey.shape[:2]))
    scores = check_tensor("prediction['scores']", prediction["scores"], shape=(len(masks),))
    labels = check_tensor("prediction['labels']", prediction["labels"], shape=(len(masks),), dtype="int")
    picture = grey.copy()
    order = torch.argsort(scores, stable=True).tolist()
    for n, k in enumerate(o for o in order if float(scores[o]) >= score_threshold):
        colour = CLASS_COLOURS[min(int(labels[k]), len(CLASS_COLOURS) - 1)]
        picture[(masks[k, 0] > 0.5).numpy()] = colour * (0.6 + 0.4 * (n % 3) / 2.0)
    return picture
