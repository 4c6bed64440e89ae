r"""A small MaskFormer / Mask2Former for the shapes panoptic scenes; notes, 5.3.2-5.3.3.

MaskFormer (Cheng et al., https://arxiv.org/abs/2107.06278) with the parts of Mask2Former
(https://arxiv.org/abs/2112.01527) that fit a 64 x 64 image; the names follow the reference code
(``facebookresearch/Mask2Former``: ``pixel_decoder``, ``query_feat``, ``query_embed``,
``class_embed``, ``mask_embed``, ``HungarianMatcher``, ``SetCriterion``).

Architecture (``SmallMaskFormer``):

1. a small CNN backbone gives features at strides 4, 8 and 16;
2. the pixel decoder (FPN-like, top-down with lateral 1x1 convolutions) turns them into multi-scale
   features (strides 16, 8, 4) and the per-pixel embeddings :math:`\mathcal{E}_{\text{pixel}}`
   [N, d, H/4, W/4];
3. :math:`Q` learned queries go through a transformer decoder; layer :math:`l` cross-attends to the
   pixel decoder's level :math:`l \bmod 3` (Mask2Former's round robin over scales), then
   self-attends, then an FFN;
4. from every query, a class head gives :math:`C + 1` logits (the last "no object") and an MLP the
   mask embedding :math:`\mathcal{E}_{\text{mask}, i}`; the mask is the dot product

   .. math:: m_i(u, v) = \sigma\big(\mathcal{E}_{\text{mask}, i}^\top\, \mathcal{E}_{\text{pixel}}(u, v)\big),

   upsampled to the image;
5. with ``masked_attention=True`` (Mask2Former) query :math:`i` of layer :math:`l` attends only to
   the pixels where the prediction before layer :math:`l` has :math:`m_i \ge 0.5`
   (:func:`~cvcourse.segmentation.maskformer.masked_attention_mask`).

Training: one target segment per thing instance and one per stuff class present
(:func:`panoptic_targets`); :func:`maskformer_matching` pairs queries with segments by the
Hungarian algorithm on the cost :math:`-\lambda_{\text{cls}}\,p_i(c_j) + \lambda_{\text{bce}}
\mathrm{BCE}(m_i, t_j) + \lambda_{\text{dice}} \mathrm{Dice}(m_i, t_j)`, and :func:`maskformer_loss`
is the cross-entropy over all queries (no object weighted 0.1) plus BCE and dice on the matched
masks, on every decoder layer's prediction (deep supervision). Departures: BCE instead of
MaskFormer's focal loss (Mask2Former's choice), and all pixels instead of Mask2Former's sampled
points (a 64 x 64 mask is cheap).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from cvcourse._checks import check_bool, check_float, check_int, check_tensor, check_type
from cvcourse.data import STUFF_IDS, THING_IDS, ShapesSegmentation
from cvcourse.detection.detr import sine_position_encoding_2d
from cvcourse.detection.matching import linear_sum_assignment
from cvcourse.detection.training import ClippedAdamW
from cvcourse.train import fit
from cvcourse.weights import load_verified

from .maskformer import masked_attention_mask, maskformer_inference
from .panoptic import panoptic_quality, panoptic_stats

__all__ = [
    "NUM_CLASSES",
    "TRAINING",
    "NOTEBOOK_FULL",
    "WEIGHTS",
    "SmallMaskFormer",
    "dice_loss",
    "sigmoid_bce_loss",
    "matching_cost",
    "maskformer_matching",
    "maskformer_loss",
    "panoptic_targets",
    "panoptic_predict",
    "train_maskformer",
    "evaluate_maskformer",
    "load_shapes_maskformer",
]

NUM_CLASSES = 9  # class index = category id (0 "void" unused), index 9 = no object
VAL_SEED = 777
FILE, SCRIPT = "maskformer_shapes.pt", "train_shapes_maskformer.py"
# (lambda_cls, lambda_bce, lambda_dice): Mask2Former's class 2, mask 5, dice 5
WEIGHTS = (2.0, 5.0, 5.0)
# the shipped file's first run (train_maskformer's arguments; SmallMaskFormer(masked_attention=True))
TRAINING = {"train_scenes": 3000, "epochs": 6, "batch_size": 16, "lr": 1e-3}
# the notebook's full mode: a shorter run of the same model, to stay within ~10 minutes on a CPU
NOTEBOOK_FULL = {"train_scenes": 1200, "epochs": 4, "batch_size": 16, "lr": 1e-3}


# ----------------------------------------------------------------------------- losses and matching
def dice_loss(mask_logits: Tensor, targets: Tensor) -> Tensor:
    r"""Per-mask dice loss, MaskFormer's ``dice_loss`` before its sum:
    :math:`1 - \frac{2 \sum_u m(u) t(u) + 1}{\sum_u m(u) + \sum_u t(u) + 1}`,
    :math:`m = \sigma(\text{logits})`.

    Args:
        mask_logits (Tensor[M, P]): mask logits, P pixels each.
        targets (Tensor[M, P]): binary masks (0 or 1).

    Returns:
        Tensor[M].
    """
    sizes: dict = {}
    mask_logits = check_tensor("mask_logits", mask_logits, shape=("M", "P"), dtype="float", sizes=sizes)
    targets = check_tensor("targets", targets, shape=("M", "P"), sizes=sizes).to(mask_logits.dtype)
    m = mask_logits.sigmoid()
    return 1 - (2 * (m * targets).sum(-1) + 1) / (m.sum(-1) + targets.sum(-1) + 1)


def sigmoid_bce_loss(mask_logits: Tensor, targets: Tensor) -> Tensor:
    """Per-mask binary cross-entropy, the mean over its P pixels: Tensor[M, P] twice -> Tensor[M]."""
    sizes: dict = {}
    mask_logits = check_tensor("mask_logits", mask_logits, shape=("M", "P"), dtype="float", sizes=sizes)
    targets = check_tensor("targets", targets, shape=("M", "P"), sizes=sizes).to(mask_logits.dtype)
    return F.binary_cross_entropy_with_logits(mask_logits, targets, reduction="none").mean(-1)


def matching_cost(
    pred_logits: Tensor, pred_masks: Tensor, tgt_labels: Tensor, tgt_masks: Tensor, weights=WEIGHTS
) -> Tensor:
    r"""The cost of giving segment j to query i, as one expression (Mask2Former's ``HungarianMatcher``):

    .. math:: \text{cost}_{ij} = -\lambda_{\text{cls}}\, p_i(c_j) + \lambda_{\text{bce}}\,
              \mathrm{BCE}(m_i, t_j) + \lambda_{\text{dice}}\, \mathrm{Dice}(m_i, t_j)

    The class term is the probability, not its log (bounded, as DETR's matcher). Both mask terms are
    computed for all pairs at once: BCE as a matrix product (its target-dependent part is linear in
    :math:`t_j`), dice from the products :math:`m_i^\top t_j`; each equals :func:`sigmoid_bce_loss` /
    :func:`dice_loss` on the pair.

    Args:
        pred_logits (Tensor[Q, C + 1]), pred_masks (Tensor[Q, H, W] logits): one image's queries.
        tgt_labels (LongTensor[O]) in 0 .. C - 1, tgt_masks (Tensor[O, H, W]) binary: its segments.
        weights: ``(lambda_cls, lambda_bce, lambda_dice)``.

    Returns:
        Tensor[Q, O].
    """
    sizes: dict = {}
    check_tensor("pred_logits", pred_logits, shape=("Q", None), dtype="float", sizes=sizes)
    check_tensor("pred_masks", pred_masks, shape=("Q", "H", "W"), dtype="float", sizes=sizes)
    check_tensor("tgt_labels", tgt_labels, shape=("O",), dtype="int", sizes=sizes)
    check_tensor("tgt_masks", tgt_masks, shape=("O", "H", "W"), sizes=sizes)
    w_cls, w_bce, w_dice = _check_weights(weights)
    C = pred_logits.shape[1] - 1
    if len(tgt_labels) and (int(tgt_labels.min()) < 0 or int(tgt_labels.max()) >= C):
        raise ValueError(f"tgt_labels must be in 0 .. {C - 1}, got {tgt_labels.tolist()}")
    x = pred_masks.flatten(1)  # [Q, P] logits
    t = tgt_masks.flatten(1).to(x.dtype)  # [O, P]
    P = x.shape[1]
    cost_class = -pred_logits.softmax(-1)[:, tgt_labels]  # [Q, O] -p_i(c_j)
    # BCE(x, t) = softplus(x) - x t per pixel: mean over pixels for every pair as matrix products
    cost_bce = (F.softplus(x).sum(-1, keepdim=True) - x @ t.T) / P  # [Q, O]
    m = x.sigmoid()  # [Q, P]
    cost_dice = 1 - (2 * m @ t.T + 1) / (m.sum(-1)[:, None] + t.sum(-1)[None, :] + 1)  # [Q, O]
    return w_cls * cost_class + w_bce * cost_bce + w_dice * cost_dice


def _check_weights(weights) -> tuple[float, float, float]:
    check_type("weights", weights, (list, tuple), "(lambda_cls, lambda_bce, lambda_dice)")
    if len(weights) != 3:
        raise ValueError(f"weights must be 3 numbers (lambda_cls, lambda_bce, lambda_dice), got {weights}")
    return tuple(check_float("weights entry", w, low=0.0) for w in weights)  # type: ignore[return-value]


def maskformer_matching(
    pred_logits: Tensor, pred_masks: Tensor, tgt_labels: Tensor, tgt_masks: Tensor, weights=WEIGHTS
) -> tuple[Tensor, Tensor]:
    """The optimal assignment of one image's segments to its queries: our Hungarian algorithm
    (``cvcourse.detection.linear_sum_assignment``) on :func:`matching_cost`.

    Returns:
        ``(query_idx, target_idx)``, LongTensor[O] each (needs Q >= O); the other queries are "no object".
    """
    with torch.no_grad():
        cost = matching_cost(pred_logits, pred_masks, tgt_labels, tgt_masks, weights)
    if cost.shape[1] > cost.shape[0]:
        raise ValueError(
            f"matching needs at least as many queries as segments, got {cost.shape[0]} < {cost.shape[1]}"
        )
    rows, cols = linear_sum_assignment(cost.cpu().double())
    return torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)


def _loss_one(pred_logits, pred_masks, targets, weights, eos_coef) -> dict[str, Tensor]:
    N, Q, C1 = pred_logits.shape
    target_classes = torch.full((N, Q), C1 - 1, dtype=torch.int64, device=pred_logits.device)
    src, tgt = [], []
    for n, target in enumerate(targets):
        labels, masks = target["labels"].to(pred_logits.device), target["masks"].to(pred_masks.device)
        q, o = maskformer_matching(pred_logits[n], pred_masks[n], labels, masks, weights)
        target_classes[n, q] = labels[o]
        src.append(pred_masks[n, q].flatten(1))  # [O, P]
        tgt.append(masks[o].flatten(1))
    class_weight = torch.ones(C1, dtype=pred_logits.dtype, device=pred_logits.device)
    class_weight[-1] = eos_coef
    loss_ce = F.cross_entropy(pred_logits.transpose(1, 2), target_classes, class_weight)
    src_m, tgt_m = torch.cat(src), torch.cat(tgt)
    num_masks = max(len(src_m), 1)
    loss_bce = sigmoid_bce_loss(src_m, tgt_m).sum() / num_masks
    loss_dice = dice_loss(src_m, tgt_m).sum() / num_masks
    w_cls, w_bce, w_dice = weights
    return {
        "loss": w_cls * loss_ce + w_bce * loss_bce + w_dice * loss_dice,
        "ce": loss_ce,
        "bce": loss_bce,
        "dice": loss_dice,
    }


def maskformer_loss(
    outputs: dict, targets: Sequence[dict], *, weights=WEIGHTS, eos_coef: float = 0.1
) -> dict[str, Tensor]:
    r"""MaskFormer's set loss of a batch, summed over the final and every intermediate prediction:

    .. math:: \mathcal{L} = \lambda_{\text{cls}} \mathrm{CE}
              + \lambda_{\text{bce}} \tfrac1M \sum_{\text{matched}} \mathrm{BCE}
              + \lambda_{\text{dice}} \tfrac1M \sum_{\text{matched}} \mathrm{Dice}

    with the cross-entropy the weighted mean over all N Q queries (the unmatched ones' target "no
    object", its weight ``eos_coef``), and M the number of segments in the batch.

    Args:
        outputs: ``SmallMaskFormer``'s dict: ``pred_logits`` [N, Q, C + 1], ``pred_masks``
            [N, Q, H, W] logits, optionally ``aux_outputs`` (a list of such dicts).
        targets: per image ``{"labels": LongTensor[O] in 0 .. C - 1, "masks": BoolTensor[O, H, W]}``
            (:func:`panoptic_targets`).
        weights: ``(lambda_cls, lambda_bce, lambda_dice)``.
        eos_coef: the weight of "no object" in the cross-entropy.

    Returns:
        ``loss`` (all predictions), ``ce``, ``bce``, ``dice`` (the final one), ``aux`` (the others' sum).
    """
    check_type("outputs", outputs, dict, "a dict with 'pred_logits' and 'pred_masks'")
    sizes: dict = {}
    for key in ("pred_logits", "pred_masks"):
        if key not in outputs:
            raise ValueError(f"outputs must have the key {key!r}, got keys {sorted(outputs)}")
    check_tensor("pred_logits", outputs["pred_logits"], shape=("N", "Q", None), dtype="float", sizes=sizes)
    check_tensor(
        "pred_masks", outputs["pred_masks"], shape=("N", "Q", None, None), dtype="float", sizes=sizes
    )
    check_type("targets", targets, (list, tuple), "a list of dicts with 'labels' and 'masks'")
    if len(targets) != sizes["N"]:
        raise ValueError(f"targets must have one dict per image ({sizes['N']}), got {len(targets)}")
    for n, target in enumerate(targets):
        check_type(f"targets[{n}]", target, dict, "a dict with 'labels' and 'masks'")
    weights = _check_weights(weights)
    eos_coef = check_float("eos_coef", eos_coef, low=0.0, high=1.0)
    last = _loss_one(outputs["pred_logits"], outputs["pred_masks"], targets, weights, eos_coef)
    aux = torch.zeros((), device=last["loss"].device)
    for out in outputs.get("aux_outputs", []):
        aux = aux + _loss_one(out["pred_logits"], out["pred_masks"], targets, weights, eos_coef)["loss"]
    return {**last, "loss": last["loss"] + aux, "aux": aux}


def panoptic_targets(panoptic: Tensor, things=THING_IDS) -> dict[str, Tensor]:
    """One image's panoptic map -> MaskFormer's segments: one per thing instance, one per stuff class.

    Args:
        panoptic (LongTensor[H, W, 2]): ``(category, instance)`` per pixel (``ShapesSegmentation``'s
            ``kind="panoptic"``); category 0 is void (no segment).
        things: the thing categories (the others are stuff: their instance ids are ignored).

    Returns:
        ``{"labels": LongTensor[O] (category ids), "masks": BoolTensor[O, H, W]}``, sorted by
        (category, instance).
    """
    panoptic = check_tensor("panoptic", panoptic, shape=(None, None, 2), dtype="int")
    things = {check_int("things entry", t, low=1) for t in things}
    category, instance = panoptic[..., 0], panoptic[..., 1]
    instance = torch.where(torch.isin(category, torch.tensor(sorted(things))), instance, 0)
    pairs = torch.unique(torch.stack([category, instance], -1).flatten(0, 1), dim=0)  # [O, 2] sorted
    pairs = pairs[pairs[:, 0] != 0]
    masks = (category[None] == pairs[:, :1, None]) & (instance[None] == pairs[:, 1:, None])
    return {"labels": pairs[:, 0].clone(), "masks": masks}


# ----------------------------------------------------------------------------- the model
def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.GroupNorm(8, cout), nn.ReLU(inplace=True)
    )


class _MLP(nn.Module):
    def __init__(self, d: int, num_layers: int = 3) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(d, d) for _ in range(num_layers))

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


class _DecoderLayer(nn.Module):
    """Mask2Former's order: masked cross-attention, self-attention, FFN (post-norm each)."""

    def __init__(self, d: int, nhead: int, dim_feedforward: int) -> None:
        super().__init__()
        self.cross_attn = nn.MultiheadAttention(d, nhead, batch_first=True)
        self.self_attn = nn.MultiheadAttention(d, nhead, batch_first=True)
        self.ffn = nn.Sequential(
            nn.Linear(d, dim_feedforward), nn.ReLU(inplace=True), nn.Linear(dim_feedforward, d)
        )
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, tgt, memory, pos, query_pos, attn_mask=None) -> Tensor:
        """tgt, query_pos [N, Q, d]; memory, pos [N, HW, d]; attn_mask [N * nhead, Q, HW] (True: blocked)."""
        attended = self.cross_attn(
            tgt + query_pos, memory + pos, memory, attn_mask=attn_mask, need_weights=False
        )[0]
        tgt = self.norm1(tgt + attended)
        q = k = tgt + query_pos
        tgt = self.norm2(tgt + self.self_attn(q, k, tgt, need_weights=False)[0])
        return self.norm3(tgt + self.ffn(tgt))


class SmallMaskFormer(nn.Module):
    """A small MaskFormer (``masked_attention=True``: Mask2Former) for ``ShapesSegmentation`` scenes.

    Args:
        num_classes: C (class index = category id; the class head has C + 1 logits, the last "no object").
        image_size: side of the square input images (a multiple of 16).
        width: channels of the backbone's first stage (then 2x, 4x, 4x).
        d_model: d, the size of queries, pixel embeddings and mask embeddings.
        num_queries: Q.
        num_decoder_layers: transformer decoder layers (round robin over the strides 16, 8, 4).
        nhead: attention heads.
        dim_feedforward: the FFN's hidden size.
        masked_attention: Mask2Former's masked cross-attention.
    """

    def __init__(
        self,
        *,
        num_classes: int = NUM_CLASSES,
        image_size: int = 64,
        width: int = 32,
        d_model: int = 64,
        num_queries: int = 16,
        num_decoder_layers: int = 3,
        nhead: int = 4,
        dim_feedforward: int = 128,
        masked_attention: bool = False,
    ) -> None:
        super().__init__()
        self.config = {
            "num_classes": check_int("num_classes", num_classes, low=1),
            "image_size": check_int("image_size", image_size, low=16),
            "width": check_int("width", width, low=8),
            "d_model": check_int("d_model", d_model, low=8),
            "num_queries": check_int("num_queries", num_queries, low=1),
            "num_decoder_layers": check_int("num_decoder_layers", num_decoder_layers, low=1),
            "nhead": check_int("nhead", nhead, low=1),
            "dim_feedforward": check_int("dim_feedforward", dim_feedforward, low=1),
            "masked_attention": check_bool("masked_attention", masked_attention),
        }
        if image_size % 16:
            raise ValueError(f"image_size must be a multiple of the backbone's stride 16, got {image_size}")
        if d_model % 8 or d_model % nhead or width % 8:
            raise ValueError(
                f"d_model and width must be multiples of 8, d_model of nhead; got {d_model}, {width}, {nhead}"
            )
        self.num_classes, self.image_size, self.nhead = num_classes, image_size, nhead
        self.masked_attention = masked_attention
        w, d = width, d_model
        # 1. backbone: strides 4 (C2), 8 (C3), 16 (C4)
        self.stem = nn.Sequential(_conv(3, w, 2), _conv(w, w))  # [N, w, S/2, S/2]
        self.layer2 = nn.Sequential(_conv(w, 2 * w, 2), _conv(2 * w, 2 * w))  # [N, 2w, S/4, S/4]
        self.layer3 = nn.Sequential(_conv(2 * w, 4 * w, 2), _conv(4 * w, 4 * w))  # [N, 4w, S/8, S/8]
        self.layer4 = nn.Sequential(_conv(4 * w, 4 * w, 2), _conv(4 * w, 4 * w))  # [N, 4w, S/16, S/16]
        # 2. pixel decoder: lateral 1x1 convs, top-down sums, a 3x3 conv per level; mask features at S/4
        self.lateral = nn.ModuleList([nn.Conv2d(c, d, 1) for c in (4 * w, 4 * w, 2 * w)])  # C4, C3, C2
        self.output = nn.ModuleList([_conv(d, d) for _ in range(3)])
        self.mask_features = nn.Conv2d(d, d, 1)
        self.level_embed = nn.Embedding(3, d)
        for k, s in enumerate((16, 8, 4)):
            side = image_size // s
            self.register_buffer(
                f"pos{k}", sine_position_encoding_2d(side, side, d).flatten(1).T, persistent=False
            )  # [hw, d]
        # 3. queries and decoder
        self.query_feat = nn.Embedding(num_queries, d)
        self.query_embed = nn.Embedding(num_queries, d)
        self.layers = nn.ModuleList(
            _DecoderLayer(d, nhead, dim_feedforward) for _ in range(num_decoder_layers)
        )
        self.decoder_norm = nn.LayerNorm(d)
        # 4. heads
        self.class_embed = nn.Linear(d, num_classes + 1)
        self.mask_embed = _MLP(d, 3)

    def pixel_decoder(self, images: Tensor) -> tuple[list[Tensor], Tensor]:
        """images [N, 3, S, S] -> (features at strides 16, 8, 4, each [N, d, h, w];
        mask features [N, d, S/4, S/4])."""
        c2 = self.layer2(self.stem(images))
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        levels, top = [], None
        for lateral, output, c in zip(self.lateral, self.output, (c4, c3, c2), strict=True):
            x = lateral(c)
            if top is not None:  # top-down: the coarser level, upsampled, added
                x = x + F.interpolate(top, size=x.shape[-2:], mode="nearest")
            top = output(x)
            levels.append(top)
        return levels, self.mask_features(levels[-1])

    def _predict(self, tgt: Tensor, mask_features: Tensor, attn_size) -> tuple[Tensor, Tensor, Tensor | None]:
        decoded = self.decoder_norm(tgt)  # [N, Q, d]
        logits = self.class_embed(decoded)  # [N, Q, C+1]
        # m_i(u, v) = E_mask,i . E_pixel(u, v), at stride 4
        masks = torch.einsum("nqd,ndhw->nqhw", self.mask_embed(decoded), mask_features)
        attn_mask = None
        if self.masked_attention and attn_size is not None:
            small = F.interpolate(masks, size=attn_size, mode="bilinear", align_corners=False)
            attn_mask = masked_attention_mask(small.detach())  # [N, Q, hw] True: blocked
            attn_mask = attn_mask.repeat_interleave(self.nhead, dim=0)  # [N * nhead, Q, hw]
        return logits, masks, attn_mask

    def forward(self, images: Tensor) -> dict:
        """images [N, 3, S, S] in [0, 1] -> ``pred_logits`` [N, Q, C + 1], ``pred_masks`` [N, Q, S, S]
        (mask logits at the input resolution) of the last layer, and ``aux_outputs``: the same for the
        prediction before the first layer and after each earlier layer (Mask2Former's L + 1 predictions)."""
        S = self.image_size
        check_tensor("images", images, shape=(None, 3, S, S), dtype="float")
        levels, mask_features = self.pixel_decoder(images)
        memories = [
            lvl.flatten(2).transpose(1, 2) + self.level_embed.weight[k] for k, lvl in enumerate(levels)
        ]  # [N, hw_k, d]
        N = len(images)
        query_pos = self.query_embed.weight[None].expand(N, -1, -1)  # [N, Q, d]
        tgt = self.query_feat.weight[None].expand(N, -1, -1)
        predictions = []
        logits, masks, attn_mask = self._predict(tgt, mask_features, levels[0].shape[-2:])
        predictions.append((logits, masks))
        for i, layer in enumerate(self.layers):
            k = i % len(levels)
            pos = getattr(self, f"pos{k}").to(tgt.dtype).expand(N, -1, -1)
            tgt = layer(tgt, memories[k], pos, query_pos, attn_mask)
            next_size = levels[(i + 1) % len(levels)].shape[-2:]
            logits, masks, attn_mask = self._predict(tgt, mask_features, next_size)
            predictions.append((logits, masks))
        outs = [
            {
                "pred_logits": lg,
                "pred_masks": F.interpolate(m, size=(S, S), mode="bilinear", align_corners=False),
            }
            for lg, m in predictions
        ]
        return {**outs[-1], "aux_outputs": outs[:-1]}


# ----------------------------------------------------------------------------- inference, training
@torch.no_grad()
def panoptic_predict(
    model: SmallMaskFormer,
    images: Tensor,
    *,
    object_mask_threshold: float = 0.5,
    overlap_threshold: float = 0.8,
) -> Tensor:
    """Panoptic maps by MaskFormer's rule (``maskformer_inference(mode="panoptic", things=THING_IDS)``).

    Args:
        model: a SmallMaskFormer (run in eval mode, its mode restored).
        images (Tensor[N, 3, S, S]) in [0, 1].
        object_mask_threshold, overlap_threshold: as ``maskformer_inference``. MaskFormer's 0.8
            keeps too few of our small model's queries: on 100 scenes of seed 9 (not the test seed)
            the shipped model has PQ 0.456 with 0.8 (10.6 % of the pixels void) and 0.558 with 0.5
            (3.5 % void), hence 0.5.

    Returns:
        LongTensor[N, S, S, 2] of ``(category, instance)``; pixels no query takes are category 0 (void).
    """
    check_type("model", model, SmallMaskFormer, "a SmallMaskFormer")
    was_training = model.training
    model.eval()
    out = model(images)
    model.train(was_training)
    maps = [
        maskformer_inference(
            lg.float().cpu(),
            m.float().cpu(),
            "panoptic",
            things=THING_IDS,
            object_mask_threshold=object_mask_threshold,
            overlap_threshold=overlap_threshold,
            void=0,
        )
        for lg, m in zip(out["pred_logits"], out["pred_masks"], strict=True)
    ]
    return torch.stack(maps)


def _step(model, batch, device):
    images, panoptic = batch
    targets = [panoptic_targets(p) for p in panoptic.cpu()]
    out = model(images)
    losses = maskformer_loss(out, targets)
    return losses["loss"], None, None


def train_maskformer(
    model: SmallMaskFormer,
    *,
    train_scenes: int = TRAINING["train_scenes"],
    epochs: int = TRAINING["epochs"],
    batch_size: int = TRAINING["batch_size"],
    lr: float = TRAINING["lr"],
    weight_decay: float = 1e-4,
    seed: int = 0,
    device=None,
    progress: bool = True,
    live_plot: bool = True,
    max_steps: int | None = None,
):
    """Train ``model`` on ``ShapesSegmentation(train_scenes, kind="panoptic", seed=seed)`` with
    :func:`maskformer_loss` through ``cvcourse.train.fit`` (AdamW, warm-up + cosine per step, the
    gradient norm clipped to 1; tqdm progress).

    Returns:
        the History (``train_loss`` per epoch, ``steps["train_loss"]``), with ``train_seconds``.
    """
    check_type("model", model, SmallMaskFormer, "a SmallMaskFormer")
    train_scenes = check_int("train_scenes", train_scenes, low=1)
    epochs = check_int("epochs", epochs, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    lr = check_float("lr", lr, low=0.0, low_inclusive=False)
    weight_decay = check_float("weight_decay", weight_decay, low=0.0)
    seed = check_int("seed", seed, low=0)
    if seed == VAL_SEED:
        raise ValueError(f"seed must not be {VAL_SEED}: those are the test scenes, never trained on")
    start = time.perf_counter()
    data = ShapesSegmentation(train_scenes, size=model.image_size, seed=seed, kind="panoptic", cache=True)
    loader = DataLoader(
        data,
        batch_size=min(batch_size, train_scenes),
        shuffle=True,
        drop_last=train_scenes > batch_size,
        generator=torch.Generator().manual_seed(seed),
    )
    total = len(loader) * epochs if max_steps is None else min(len(loader) * epochs, max_steps)
    optimizer = ClippedAdamW(
        model.parameters(),
        lr=lr,
        weight_decay=weight_decay,
        total_steps=total,
        warmup_steps=max(1, round(0.05 * total)),
        max_norm=1.0,
    )
    history = fit(
        model,
        loader,
        None,
        optimizer,
        epochs=epochs,
        device=device,
        step_fn=_step,
        progress=progress,
        live_plot=live_plot,
        max_steps=max_steps,
    )
    history.train_seconds = time.perf_counter() - start
    return history


def _pq_subset(stats: dict, keep: Tensor) -> tuple[float, float, float]:
    tp, fp, fn = stats["tp"].double(), stats["fp"].double(), stats["fn"].double()
    denominator = tp + 0.5 * fp + 0.5 * fn
    keep = keep & (denominator > 0)
    if not bool(keep.any()):
        return math.nan, math.nan, math.nan
    sq = torch.where(tp > 0, stats["iou_sum"] / tp.clamp(min=1), torch.zeros_like(tp))
    rq = tp / denominator.clamp(min=0.5)
    return float((sq * rq)[keep].mean()), float(sq[keep].mean()), float(rq[keep].mean())


@torch.no_grad()
def evaluate_maskformer(
    model: SmallMaskFormer, *, scenes: int = 300, seed: int = VAL_SEED, batch_size: int = 50, **thresholds
) -> dict:
    """PQ, SQ, RQ (all, things, stuff) of ``panoptic_predict`` on ``scenes`` scenes of ``seed``, by
    our ``panoptic_quality`` (= torchmetrics; predicted void pixels allowed).

    Returns:
        ``pq``, ``sq``, ``rq``, ``pq_things``, ``sq_things``, ``rq_things``, ``pq_stuff``, ``sq_stuff``,
        ``rq_stuff`` (floats), ``per_class`` ({category: [PQ, SQ, RQ]}), ``void_fraction`` (the share
        of pixels predicted void: torchmetrics does not count a ground-truth segment that is more than
        half predicted void as a false negative, so this is worth watching), ``scenes``, ``seed``.
    """
    check_type("model", model, SmallMaskFormer, "a SmallMaskFormer")
    scenes = check_int("scenes", scenes, low=1)
    seed = check_int("seed", seed, low=0)
    data = ShapesSegmentation(scenes, size=model.image_size, seed=seed, kind="panoptic")
    device = next(model.parameters()).device
    preds, targets = [], []
    for s in range(0, scenes, batch_size):
        items = [data[i] for i in range(s, min(s + batch_size, scenes))]
        images = torch.stack([im for im, _ in items]).to(device)
        preds.append(panoptic_predict(model, images, **thresholds))
        targets.extend(p for _, p in items)
    preds, targets = torch.cat(preds), torch.stack(targets)
    things, stuffs = set(THING_IDS), set(STUFF_IDS)
    pq, sq, rq = panoptic_quality(
        preds, targets, things, stuffs, return_sq_rq=True, allow_unknown_preds_category=True
    ).tolist()
    stats = panoptic_stats(preds, targets, things, stuffs, allow_unknown_preds_category=True)
    cats = stats["categories"]
    is_thing = torch.isin(cats, torch.tensor(THING_IDS))
    per = panoptic_quality(
        preds,
        targets,
        things,
        stuffs,
        return_sq_rq=True,
        return_per_class=True,
        allow_unknown_preds_category=True,
    )
    void = float((preds[..., 0] == 0).double().mean())  # no query won these pixels
    out = {"pq": pq, "sq": sq, "rq": rq, "void_fraction": void, "scenes": scenes, "seed": seed}
    for name, keep in (("things", is_thing), ("stuff", ~is_thing)):
        out[f"pq_{name}"], out[f"sq_{name}"], out[f"rq_{name}"] = _pq_subset(stats, keep)
    out["per_class"] = {int(c): per[i].tolist() for i, c in enumerate(cats)}
    return out


def load_shapes_maskformer(path=None, device="cpu") -> tuple[SmallMaskFormer, dict]:
    """The shipped SmallMaskFormer trained on ``ShapesSegmentation(kind="panoptic")`` scenes of seed 0,
    checksum verified (``data/maskformer_shapes.pt``, made by ``data/scripts/train_shapes_maskformer.py``).

    Returns:
        ``(model, info)``: the model in eval mode; ``info`` holds ``image_size``, ``config``, the
        recipe, ``train_seconds``, ``params``, ``train_loss``, and the scores on unseen scenes of seed
        777: ``pq``, ``sq``, ``rq``, ``pq_things``, ``pq_stuff`` (and SQ/RQ of each, ``per_class``).

    Raises:
        FileNotFoundError: the file or its checksum line is missing (the message names the script).
        ValueError: the file does not match its checksum.
    """
    checkpoint = load_verified(FILE, path, script=SCRIPT)
    model = SmallMaskFormer(**checkpoint["config"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in checkpoint["state_dict"].items()}
    model.load_state_dict(state, strict=True)
    info = {k: v for k, v in checkpoint.items() if k != "state_dict"}
    return model.to(device).eval(), info
