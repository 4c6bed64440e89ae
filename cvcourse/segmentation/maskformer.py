r"""MaskFormer (Cheng et al., https://arxiv.org/abs/2107.06278) and Mask2Former
(https://arxiv.org/abs/2112.01527) inference and masked attention; notes, 5.3.2-5.3.3.

Mask classification: each of :math:`Q` queries predicts a class distribution
:math:`p_i \in \Delta^{C + 1}` (the last entry is "no object", :math:`\varnothing`) and a mask
:math:`m_i = \sigma(\text{mask logits}_i) \in [0, 1]^{H \times W}`. One model gives every output:

* **semantic**: the score of class :math:`c` at pixel :math:`(u, v)` is
  :math:`\sum_i p_i(c)\, m_i(u, v)` (the no-object column dropped);
* **panoptic**: query :math:`i` keeps its most likely class :math:`c_i = \arg\max_c p_i(c)` if it
  is not :math:`\varnothing` and :math:`p_i(c_i)` exceeds ``object_mask_threshold``; each pixel goes
  to the kept query of the highest

  .. math:: s_i(u, v) = p_i(c_i) \cdot m_i(u, v),

  only where :math:`m_i(u, v) \ge 0.5`; a query whose won pixels are less than
  ``overlap_threshold`` of its own mask (:math:`m_i \ge 0.5`) is dropped, and the queries of one
  stuff class are merged into one segment (MaskFormer's ``panoptic_inference``);
* **instance**: the top-k (query, class) pairs by :math:`p_i(c)`, each scored by
  :math:`p_i(c)` times the mean of :math:`m_i` over its binary mask :math:`m_i > 0.5`
  (Mask2Former's ``instance_inference``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvcourse._checks import check_choice, check_float, check_int, check_tensor, check_type

__all__ = ["masked_attention_mask", "maskformer_inference"]

MODES = ("semantic", "panoptic", "instance")


def _ids(name: str, value) -> set[int]:
    if value is None:
        return set()
    check_type(name, value, (set, frozenset, list, tuple), "a collection of class indices")
    return {check_int(f"{name} entry", v, low=0) for v in value}


def maskformer_inference(
    class_logits: Tensor,
    mask_logits: Tensor,
    mode: str = "semantic",
    *,
    things=None,
    object_mask_threshold: float = 0.8,
    overlap_threshold: float = 0.8,
    topk: int = 100,
    void: int = -1,
):
    r"""Turn MaskFormer's per-query classes and masks into a semantic, panoptic or instance output.

    Args:
        class_logits (Tensor[Q, C + 1]): class logits per query, the last column "no object".
        mask_logits (Tensor[Q, H, W]): mask logits per query.
        mode: "semantic", "panoptic" or "instance".
        things: class indices (0 .. C - 1) that are things (panoptic: each query its own instance;
            the others are stuff, merged per class).
        object_mask_threshold: panoptic: the least :math:`p_i(c_i)` of a kept query (strict).
        overlap_threshold: panoptic: the least share of its own mask a query must win.
        topk: instance: how many (query, class) pairs to return (at most :math:`Q C`).
        void: panoptic: the category of pixels no query takes.

    Returns:
        * semantic: Tensor[C, H, W] of class scores (``argmax(0)`` is the segmentation);
        * panoptic: LongTensor[H, W, 2] of ``(class, instance)``, instances numbered 1, 2, ... per
          segment in query order, stuff and void with instance 0 (torchmetrics' layout);
        * instance: ``{"masks": BoolTensor[K, H, W], "scores": Tensor[K], "labels": LongTensor[K]}``
          sorted by :math:`p_i(c)`, the scores rescaled by the mean mask probability.
    """
    sizes: dict[str, int] = {}
    class_logits = check_tensor("class_logits", class_logits, shape=("Q", None), dtype="float", sizes=sizes)
    mask_logits = check_tensor(
        "mask_logits", mask_logits, shape=("Q", None, None), dtype="float", sizes=sizes
    )
    check_choice("mode", mode, MODES)
    if class_logits.shape[1] < 2:
        raise ValueError(f"class_logits must have C + 1 >= 2 columns, got shape {list(class_logits.shape)}")
    C = class_logits.shape[1] - 1
    things_ = _ids("things", things)
    if things_ and max(things_) >= C:
        raise ValueError(f"things must be class indices in 0 .. {C - 1}, got {sorted(things_)}")
    check_float("object_mask_threshold", object_mask_threshold, low=0.0, high=1.0)
    check_float("overlap_threshold", overlap_threshold, low=0.0, high=1.0)
    topk = check_int("topk", topk, low=1)
    void = check_int("void", void)

    probs = class_logits.softmax(-1)  # p_i, [Q, C + 1]
    masks = mask_logits.sigmoid()  # m_i, [Q, H, W]
    if mode == "semantic":
        return torch.einsum("qc,qhw->chw", probs[:, :C], masks)
    if mode == "instance":
        return _instance(probs[:, :C], mask_logits, masks, topk)
    return _panoptic(probs, masks, C, things_, object_mask_threshold, overlap_threshold, void)


def _instance(probs: Tensor, mask_logits: Tensor, masks: Tensor, topk: int) -> dict[str, Tensor]:
    Q, C = probs.shape
    k = min(topk, Q * C)
    scores, flat = probs.flatten().topk(k)  # (query, class) pairs, best first
    query, labels = flat // C, flat % C
    binary = mask_logits[query] > 0
    on = binary.to(masks.dtype).flatten(1)  # in the masks' dtype (a bool sum + 1e-6 would be float32)
    mean_mask = (masks[query].flatten(1) * on).sum(1) / (on.sum(1) + 1e-6)
    return {"masks": binary, "scores": scores * mean_mask, "labels": labels}


def _panoptic(probs, masks, C, things, object_mask_threshold, overlap_threshold, void) -> Tensor:
    H, W = masks.shape[1:]
    category = torch.full((H, W), void, dtype=torch.int64)
    instance = torch.zeros(H, W, dtype=torch.int64)
    score, label = probs.max(-1)  # p_i(c_i), c_i over the C + 1 columns
    keep = (label != C) & (score > object_mask_threshold)
    score, label, masks = score[keep], label[keep], masks[keep]
    if len(label) == 0:
        return torch.stack([category, instance], dim=-1)
    winner = (score[:, None, None] * masks).argmax(0)  # the query of the highest s_i(u, v) per pixel
    next_id = 1
    for k in range(len(label)):
        c = int(label[k])
        won = winner == k
        own = masks[k] >= 0.5
        segment = won & own
        if int(won.sum()) == 0 or int(own.sum()) == 0 or int(segment.sum()) == 0:
            continue
        if int(won.sum()) / int(own.sum()) < overlap_threshold:
            continue
        category[segment] = c
        if c in things:  # each thing query is its own instance
            instance[segment] = next_id
            next_id += 1
        # a stuff query keeps instance 0: all queries of one stuff class form one segment
    return torch.stack([category, instance], dim=-1)


def masked_attention_mask(mask_logits: Tensor, threshold: float = 0.5) -> Tensor:
    r"""Mask2Former's attention mask from the previous layer's mask prediction.

    Query :math:`i` may attend to pixel :math:`(u, v)` only where its predicted mask is on,
    :math:`\sigma(\text{mask logits}_i(u, v)) \ge` ``threshold``. A query whose mask is empty
    everywhere would attend to nothing (a softmax over no key is NaN), so it falls back to
    attending everywhere (Mask2Former's ``attn_mask[attn_mask.sum(-1) == attn_mask.shape[-1]] =
    False``).

    Args:
        mask_logits (Tensor[..., Q, H, W]): mask logits, already resized to the resolution of the
            attended features.
        threshold: the mask probability from which a pixel is attended.

    Returns:
        BoolTensor[..., Q, H * W], **True where attention is blocked** (the ``attn_mask``
        convention of ``torch.nn.MultiheadAttention``; repeat it over the heads there).
    """
    mask_logits = check_tensor("mask_logits", mask_logits, ndim=(3, 4), dtype="float")
    threshold = check_float(
        "threshold", threshold, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
    )
    blocked = mask_logits.flatten(-2).sigmoid() < threshold
    empty = blocked.all(-1, keepdim=True)
    return blocked & ~empty
