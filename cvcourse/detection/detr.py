r"""DETR, the detection transformer (section 4.3.6): a set of boxes in one pass, trained with the
Hungarian loss.

Carion et al., "End-to-End Object Detection with Transformers", 2020, https://arxiv.org/abs/2005.12872
(the reference code is ``facebookresearch/detr``: ``models/detr.py``, ``matcher.py``,
``position_encoding.py``, ``transformer.py``; the names and the order of operations follow it).

Architecture, the notes' six steps, on a 64 x 64 image:

1. a small CNN (``backbone``, stride 8 instead of the notes' ResNet's 32: our images are small) gives
   the activation :math:`A` [N, 128, 8, 8];
2. a 1x1 convolution (``input_proj``) turns its channels into :math:`d`;
3. the 2-D sine positional encoding (``sine_position_encoding_2d``) is added, as in DETR, to the
   queries and keys of every attention layer (not to the values);
4. the transformer encoder turns the 64 tokens into the memory (keys and values of the decoder);
5. :math:`Q` learned object queries (``query_embed``, learned positional encodings) go through the
   decoder, all in parallel (parallel decoding: no autoregression);
6. MLP heads give each query's class logits (:math:`C + 1`, the last is "no object") and its box
   :math:`(c_x, c_y, w, h)` normalised by the image size, through a sigmoid.

The layers are chapter 3's ``cvcourse.transformers`` encoder and decoder layers (post-norm, as DETR),
with one change to ``forward``: the positions are added to the queries and keys at every layer.

Training: ``match`` pairs predictions with targets by the Hungarian algorithm on ``hungarian_cost``,
then ``set_loss`` is the Hungarian loss on those pairs; with ``aux_loss`` every decoder layer's output
goes through the same heads and is matched and scored too (DETR's auxiliary decoding losses).
Prediction needs no NMS (``DETR.predict``): the loss matches each object to exactly one query and
pushes every other query to "no object", and the decoder's self-attention lets queries see each
other, so duplicates are what training removes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvcourse._checks import check_bool, check_float, check_int, check_tensor, check_type
from cvcourse.transformers.layers import TransformerDecoderLayer, TransformerEncoderLayer

from .boxes import box_convert, generalized_box_iou
from .matching import linear_sum_assignment

__all__ = [
    "TRAINING",
    "COST_WEIGHTS",
    "DETR",
    "sine_position_encoding_2d",
    "hungarian_cost",
    "match",
    "set_loss",
    "normalise_targets",
    "query_box_centers",
]

# The full-mode recipe (see ``cvcourse.detection.training.train_detector``).
TRAINING = {"epochs": 12, "lr": 5e-4, "batch_size": 16, "train_scenes": 4000, "weight_decay": 1e-4}

# DETR's weights of the class, L1 and GIoU terms in the matching cost and in the loss
# (``set_cost_class``, ``set_cost_bbox``, ``set_cost_giou`` = ``ce``, ``bbox``, ``giou`` loss coefs).
COST_WEIGHTS = (1.0, 5.0, 2.0)


def sine_position_encoding_2d(
    height: int,
    width: int,
    d_model: int,
    *,
    temperature: float = 10000.0,
    normalize: bool = True,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""DETR's 2-D sine positional encoding (``PositionEmbeddingSine``): half the channels encode the
    row, half the column, each with the 1-D sinusoid of chapter 3.

    With :math:`d' = d / 2` channels per axis, row :math:`y` and column :math:`x` counted from 1
    (``normalize``: scaled to :math:`(0, 2\pi]`, i.e. :math:`y \cdot 2\pi / H`), and
    :math:`\omega_k = T^{-2 \lfloor k/2 \rfloor / d'}`:

    .. math:: \mathrm{pe}_y[2i] = \sin(y\,\omega_{2i}), \quad \mathrm{pe}_y[2i + 1] = \cos(y\,\omega_{2i}),
              \qquad \mathrm{pe}(y, x) = [\mathrm{pe}_y \,|\, \mathrm{pe}_x]

    Without ``normalize``, ``pe_y`` of row ``i`` is ``sinusoidal_positional_encoding(H + 1, d / 2)[i + 1]``
    (the same formula, positions from 1). DETR adds ``eps = 1e-6`` to the divisor for padded images;
    ours have no padding, so it is left out.

    Args:
        height, width: the feature map's size (rows, columns).
        d_model: d, the number of channels; a multiple of 4 (sin/cos pairs for each axis).
        temperature: T, the 10000 of the formula.
        normalize: scale positions to (0, 2 pi] so maps of any size span the same angles.
        dtype: floating dtype of the result.

    Returns:
        Tensor[d_model, height, width]: channels ``0 .. d/2 - 1`` for the row, the rest for the column.
    """
    height = check_int("height", height, low=1)
    width = check_int("width", width, low=1)
    d_model = check_int("d_model", d_model, low=4)
    if d_model % 4:
        raise ValueError(
            f"d_model must be a multiple of 4 (half the channels per axis, in sin/cos pairs), got {d_model}"
        )
    temperature = check_float("temperature", temperature, low=0.0, low_inclusive=False)
    check_bool("normalize", normalize)
    half = d_model // 2
    y = torch.arange(1, height + 1, dtype=torch.float64)  # [H] rows 1..H
    x = torch.arange(1, width + 1, dtype=torch.float64)  # [W]
    if normalize:
        y, x = y / height * 2 * math.pi, x / width * 2 * math.pi
    k = torch.arange(half, dtype=torch.float64)
    omega = temperature ** (-2 * torch.div(k, 2, rounding_mode="floor") / half)  # [d/2]

    def one_axis(pos: Tensor) -> Tensor:  # [L] -> [L, d/2], sin on even channels, cos on odd
        angle = pos[:, None] * omega  # [L, d/2]
        return torch.where(k % 2 == 0, angle.sin(), angle.cos())

    pe_y = one_axis(y)[:, None, :].expand(height, width, half)  # [H, W, d/2]
    pe_x = one_axis(x)[None, :, :].expand(height, width, half)  # [H, W, d/2]
    return torch.cat([pe_y, pe_x], dim=-1).permute(2, 0, 1).to(dtype)  # [d, H, W]


def _check_weights(weights: Sequence[float]) -> tuple[float, float, float]:
    check_type("weights", weights, (tuple, list), "a tuple (class, L1, GIoU) of 3 numbers >= 0")
    if len(weights) != 3:
        raise ValueError(f"weights must be (class, L1, GIoU), 3 numbers, got {len(weights)}")
    return tuple(check_float(f"weights[{i}]", w, low=0.0) for i, w in enumerate(weights))


def _check_prediction(pred_logits: Tensor, pred_boxes: Tensor, sizes: dict) -> None:
    check_tensor("pred_logits", pred_logits, shape=("Q", "C+1"), dtype="float", sizes=sizes)
    check_tensor("pred_boxes", pred_boxes, shape=("Q", 4), dtype="float", sizes=sizes, finite=True)
    if pred_logits.shape[1] < 2:
        raise ValueError(
            f"pred_logits needs C + 1 >= 2 columns (the last: no object), got {pred_logits.shape}"
        )


def _check_target(tgt_labels: Tensor, tgt_boxes: Tensor, num_classes: int, sizes: dict) -> None:
    check_tensor("tgt_labels", tgt_labels, shape=("O",), dtype="int", sizes=sizes)
    check_tensor("tgt_boxes", tgt_boxes, shape=("O", 4), dtype="float", sizes=sizes, finite=True)
    if tgt_labels.numel() and not (0 <= int(tgt_labels.min()) and int(tgt_labels.max()) < num_classes):
        raise ValueError(
            f"tgt_labels must be class indices 0..{num_classes - 1} (dataset label - 1; {num_classes} "
            f"is no object), got {tgt_labels.tolist()}"
        )
    if bool((tgt_boxes[:, 2:] <= 0).any()):
        raise ValueError("tgt_boxes must be (cx, cy, w, h) with w > 0 and h > 0")


def hungarian_cost(
    pred_logits: Tensor,
    pred_boxes: Tensor,
    tgt_labels: Tensor,
    tgt_boxes: Tensor,
    weights: Sequence[float] = COST_WEIGHTS,
) -> Tensor:
    r"""The matching cost of every (prediction, ground truth) pair of one image, as the notes write it:

    .. math:: \mathcal{L}_{\text{match}}(\hat y_i, y_j) = -\lambda_{\text{cls}}\, \hat p_i[c_j]
              + \mathcal{L}_{\text{box}}(\hat b_i, b_j), \qquad
              \mathcal{L}_{\text{box}} = \lambda_{L1} \|\hat b_i - b_j\|_1
              + \lambda_{\text{giou}} (1 - \mathrm{GIoU}(\hat b_i, b_j))

    The notes leave :math:`\mathcal{L}_{\text{box}}` as "a linear combination of the Huber loss and
    IoU" with no weights; this is DETR's: the L1 loss (the Huber loss's linear part) and the GIoU loss
    with :math:`(\lambda_{\text{cls}}, \lambda_{L1}, \lambda_{\text{giou}}) = (1, 5, 2)`. The class
    term is the probability, not its log: bounded, so it cannot swamp the box terms (DETR's matcher:
    "we approximate the NLL by 1 - proba; the 1 is a constant"). DETR's matcher writes
    :math:`-\mathrm{GIoU}`; the constant 1 changes no assignment. Padding targets (:math:`c_j = \emptyset`)
    cost 0 for every prediction, so they are simply left out: the unmatched queries are the "no object".

    Args:
        pred_logits: Tensor[Q, C + 1] class logits (the last column: no object).
        pred_boxes: Tensor[Q, 4] predicted ``(cx, cy, w, h)`` normalised by the image size.
        tgt_labels: LongTensor[O] class indices ``0 .. C - 1`` (the dataset's label minus 1).
        tgt_boxes: Tensor[O, 4] ground truth ``(cx, cy, w, h)`` normalised, w, h > 0.
        weights: ``(lambda_cls, lambda_L1, lambda_giou)``.

    Returns:
        Tensor[Q, O]: ``cost[i, j]`` of giving target j to query i.
    """
    sizes: dict = {}
    _check_prediction(pred_logits, pred_boxes, sizes)
    _check_target(tgt_labels, tgt_boxes, pred_logits.shape[1] - 1, sizes)
    w_cls, w_l1, w_giou = _check_weights(weights)
    prob = pred_logits.softmax(-1)  # [Q, C+1] p_i
    cost_class = -prob[:, tgt_labels]  # [Q, O] -p_i[c_j]
    cost_l1 = torch.cdist(pred_boxes, tgt_boxes.to(pred_boxes), p=1)  # [Q, O] ||b_i - b_j||_1
    giou = generalized_box_iou(
        box_convert(pred_boxes, "cxcywh", "xyxy"), box_convert(tgt_boxes.to(pred_boxes), "cxcywh", "xyxy")
    )  # [Q, O]
    return w_cls * cost_class + w_l1 * cost_l1 + w_giou * (1 - giou)


def match(
    pred_logits: Tensor,
    pred_boxes: Tensor,
    tgt_labels: Tensor,
    tgt_boxes: Tensor,
    weights: Sequence[float] = COST_WEIGHTS,
) -> tuple[Tensor, Tensor]:
    r"""The optimal permutation of one image,
    :math:`\sigma^* = \arg\min_\sigma \sum_j \mathcal{L}_{\text{match}}(\hat y_{\sigma(j)}, y_j)`,
    by ``cvcourse.detection.linear_sum_assignment`` on ``hungarian_cost``.

    Arguments as ``hungarian_cost`` (needs Q >= O: every target gets its own query).

    Returns:
        ``(query_idx, target_idx)``: LongTensor[O] each; query ``query_idx[k]`` predicts target
        ``target_idx[k]``; the other Q - O queries are matched to "no object". Empty without targets.
    """
    with torch.no_grad():
        cost = hungarian_cost(pred_logits, pred_boxes, tgt_labels, tgt_boxes, weights)
    if cost.shape[1] > cost.shape[0]:
        raise ValueError(
            f"match needs at least as many queries as targets, got {cost.shape[0]} < {cost.shape[1]}"
        )
    rows, cols = linear_sum_assignment(cost)
    return torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)


def _match_batch(pred_logits: Tensor, pred_boxes: Tensor, targets: Sequence[dict], weights) -> list:
    """``match`` for every image of a batch, with one cost matrix for all (as DETR's matcher does):
    the cost of all N * Q queries against all targets of the batch, then image n's block."""
    labels = torch.cat([t["labels"] for t in targets]).long()
    boxes = torch.cat([t["boxes"] for t in targets]).to(pred_boxes)
    with torch.no_grad():
        cost = hungarian_cost(pred_logits.flatten(0, 1), pred_boxes.flatten(0, 1), labels, boxes, weights)
    cost = cost.view(*pred_logits.shape[:2], -1).cpu()  # [N, Q, sum O]
    indices, start = [], 0
    for n, target in enumerate(targets):
        stop = start + len(target["labels"])
        rows, cols = linear_sum_assignment(cost[n, :, start:stop])  # [Q, O_n]
        indices.append((torch.as_tensor(rows), torch.as_tensor(cols)))
        start = stop
    return indices


def set_loss(
    pred_logits: Tensor,
    pred_boxes: Tensor,
    targets: Sequence[dict],
    *,
    weights: Sequence[float] = COST_WEIGHTS,
    eos_coef: float = 0.1,
) -> dict[str, Tensor]:
    r"""The Hungarian loss of a batch (DETR's ``SetCriterion``: ``loss_ce``, ``loss_bbox``, ``loss_giou``).

    The notes' form, for the optimal :math:`\sigma^*` of ``match``:

    .. math:: \mathcal{L}_{\text{hungarian}} = \sum_{i=1}^{N} \left(-\ln \hat p_{\sigma^*(i)}(c_i)
              + \mathbb{1}[c_i \neq \emptyset]\, \mathcal{L}_{\text{box}}(\hat b_{\sigma^*(i)}, b_i)\right)

    Two departures, both DETR's: the "no object" targets' log-probabilities are down-weighted by
    ``eos_coef`` = 0.1 (most queries are empty; they would drown the few objects), and the terms are
    normalised: the class term is the weighted mean over all queries (``F.cross_entropy`` with class
    weights), the box terms are summed over matched pairs and divided by the number of targets in the
    batch (at least 1). With ``eos_coef=1`` the class term is the notes' sum over all the batch's
    queries divided by their number, and the box terms the notes' sum divided by the number of targets.

    Args:
        pred_logits: Tensor[N, Q, C + 1] class logits (last: no object).
        pred_boxes: Tensor[N, Q, 4] normalised ``(cx, cy, w, h)``.
        targets: one dict per image with ``labels`` (LongTensor[O], 0 .. C - 1) and ``boxes``
            (Tensor[O, 4] normalised cxcywh), e.g. from ``normalise_targets``.
        weights: ``(lambda_cls, lambda_L1, lambda_giou)``.
        eos_coef: weight of the "no object" class in the cross-entropy.

    Returns:
        dict of scalars: ``loss`` (the weighted sum), ``cls``, ``l1``, ``giou``.
    """
    sizes: dict = {}
    check_tensor("pred_logits", pred_logits, shape=("N", "Q", "C+1"), dtype="float", sizes=sizes)
    check_tensor("pred_boxes", pred_boxes, shape=("N", "Q", 4), dtype="float", sizes=sizes)
    check_type("targets", targets, (list, tuple), "a list of dicts with 'labels' and 'boxes'")
    if len(targets) != pred_logits.shape[0]:
        raise ValueError(f"targets must have one dict per image ({pred_logits.shape[0]}), got {len(targets)}")
    eos_coef = check_float("eos_coef", eos_coef, low=0.0, high=1.0)
    w_cls, w_l1, w_giou = _check_weights(weights)
    num_classes = pred_logits.shape[-1] - 1
    target_classes = torch.full(pred_logits.shape[:2], num_classes, dtype=torch.int64)  # [N, Q] all empty
    for n, target in enumerate(targets):
        check_type(f"targets[{n}]", target, dict, "a dict with 'labels' and 'boxes'")
    matched_pred, matched_tgt = [], []
    for n, (q, o) in enumerate(_match_batch(pred_logits, pred_boxes, targets, weights)):
        target_classes[n, q] = targets[n]["labels"][o].cpu()
        matched_pred.append(pred_boxes[n, q])  # [O, 4]
        matched_tgt.append(targets[n]["boxes"][o].to(pred_boxes))
    class_weight = torch.ones(num_classes + 1, dtype=pred_logits.dtype, device=pred_logits.device)
    class_weight[-1] = eos_coef
    # cross_entropy wants the classes on dim 1: [N, C+1, Q]; weighted mean over the N * Q queries
    loss_cls = F.cross_entropy(
        pred_logits.transpose(1, 2), target_classes.to(pred_logits.device), class_weight
    )
    pred_b, tgt_b = torch.cat(matched_pred), torch.cat(matched_tgt)  # [M, 4] each
    num_boxes = max(len(tgt_b), 1)
    loss_l1 = (pred_b - tgt_b).abs().sum() / num_boxes
    giou = torch.diag(
        generalized_box_iou(box_convert(pred_b, "cxcywh", "xyxy"), box_convert(tgt_b, "cxcywh", "xyxy"))
    )  # [M] the matched pairs only
    loss_giou = (1 - giou).sum() / num_boxes
    loss = w_cls * loss_cls + w_l1 * loss_l1 + w_giou * loss_giou
    return {"loss": loss, "cls": loss_cls, "l1": loss_l1, "giou": loss_giou}


def normalise_targets(targets: Sequence[dict], image_size: int) -> list[dict]:
    """``ShapesDetection`` targets (``boxes`` xyxy pixels, ``labels`` 1..C) -> ``set_loss`` targets
    (``boxes`` cxcywh divided by the image size, ``labels`` 0..C-1)."""
    check_type("targets", targets, (list, tuple), "a list of dicts with 'labels' and 'boxes'")
    out = []
    for n, target in enumerate(targets):
        check_type(f"targets[{n}]", target, dict, "a dict with 'labels' and 'boxes'")
        boxes = box_convert(target["boxes"].float(), "xyxy", "cxcywh") / image_size
        out.append({"labels": target["labels"].long() - 1, "boxes": boxes})
    return out


def _conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class _MLP(nn.Module):
    """DETR's box head: ``num_layers`` linear layers with ReLU between them."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int, num_layers: int) -> None:
        super().__init__()
        dims = [d_in] + [d_hidden] * (num_layers - 1) + [d_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


class DETREncoderLayer(TransformerEncoderLayer):
    """Chapter 3's post-norm encoder layer (same weights) with DETR's ``forward_post``: the positions
    are added to the queries and keys of the self-attention, not to its values."""

    def forward(self, src: Tensor, pos: Tensor) -> Tensor:  # type: ignore[override]
        """src, pos: Tensor[N, HW, d] -> Tensor[N, HW, d]."""
        q = k = src + pos
        src = self.norm1(src + self.dropout1(self.self_attn(q, k, src, need_weights=False)[0]))
        return self.norm2(src + self._ff_block(src))


class DETRDecoderLayer(TransformerDecoderLayer):
    """Chapter 3's post-norm decoder layer (same weights) with DETR's ``forward_post``: the object
    queries are added to the queries (and keys) of the self-attention and to the queries of the
    cross-attention, the image positions to its keys; no causal mask (parallel decoding)."""

    def forward(self, tgt: Tensor, memory: Tensor, pos: Tensor, query_pos: Tensor) -> Tensor:  # type: ignore[override]
        """tgt, query_pos: Tensor[N, Q, d]; memory, pos: Tensor[N, HW, d] -> Tensor[N, Q, d]."""
        q = k = tgt + query_pos
        tgt = self.norm1(tgt + self.dropout1(self.self_attn(q, k, tgt, need_weights=False)[0]))
        attended = self.multihead_attn(tgt + query_pos, memory + pos, memory, need_weights=False)[0]
        tgt = self.norm2(tgt + self.dropout2(attended))
        return self.norm3(tgt + self._ff_block(tgt))


class DETR(nn.Module):
    """A small DETR for ``ShapesDetection`` (64 x 64 images, at most 4 objects).

    Args:
        num_classes: C, object classes (labels 1..C); the class head has C + 1 logits.
        image_size: side of the (square) input images; boxes are normalised by it.
        d_model: d, the transformer's token size.
        num_queries: Q, the number of object queries (at least the most objects per image).
        num_encoder_layers, num_decoder_layers: transformer depth.
        nhead: attention heads.
        dim_feedforward: hidden size of the FFNs.
        dropout: dropout in the transformer (DETR: 0.1; 0 here, the small model underfits first).
        aux_loss: score every decoder layer's output, not only the last (DETR's auxiliary losses).
        eos_coef: weight of the "no object" class in the loss.
    """

    def __init__(
        self,
        *,
        num_classes: int = 5,
        image_size: int = 64,
        d_model: int = 128,
        num_queries: int = 12,
        num_encoder_layers: int = 3,
        num_decoder_layers: int = 3,
        nhead: int = 8,
        dim_feedforward: int = 256,
        dropout: float = 0.0,
        aux_loss: bool = True,
        eos_coef: float = 0.1,
    ) -> None:
        super().__init__()
        self.config = {
            "num_classes": check_int("num_classes", num_classes, low=1),
            "image_size": check_int("image_size", image_size, low=16),
            "d_model": check_int("d_model", d_model, low=2),
            "num_queries": check_int("num_queries", num_queries, low=1),
            "num_encoder_layers": check_int("num_encoder_layers", num_encoder_layers, low=0),
            "num_decoder_layers": check_int("num_decoder_layers", num_decoder_layers, low=1),
            "nhead": check_int("nhead", nhead, low=1),
            "dim_feedforward": check_int("dim_feedforward", dim_feedforward, low=1),
            "dropout": check_float("dropout", dropout, low=0.0, high=1.0, high_inclusive=False),
            "aux_loss": check_bool("aux_loss", aux_loss),
            "eos_coef": check_float("eos_coef", eos_coef, low=0.0, high=1.0),
        }
        if d_model % 4 or d_model % nhead:
            raise ValueError(f"d_model must be a multiple of 4 and of nhead, got {d_model} and nhead {nhead}")
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of the backbone's stride 8, got {image_size}")
        self.num_classes, self.image_size = num_classes, image_size
        # 1. backbone: [N, 3, 64, 64] -> [N, 128, 8, 8] (stride 8)
        self.backbone = nn.Sequential(
            _conv_bn_relu(3, 32, 2),  # [N, 32, 32, 32]
            _conv_bn_relu(32, 64, 2),  # [N, 64, 16, 16]
            _conv_bn_relu(64, 64, 1),
            _conv_bn_relu(64, 128, 2),  # [N, 128, 8, 8]
            _conv_bn_relu(128, 128, 1),
        )
        # 2. 1x1 convolution to d channels
        self.input_proj = nn.Conv2d(128, d_model, kernel_size=1)
        # 3. fixed positions of the 8 x 8 map, [HW, d]
        side = image_size // 8
        pos = sine_position_encoding_2d(side, side, d_model).flatten(1).T
        self.register_buffer("pos", pos, persistent=False)
        layer_args = {"dim_feedforward": dim_feedforward, "dropout": dropout, "batch_first": True}
        # 4. encoder, 5. object queries and decoder (with DETR's final norm, shared by the aux outputs)
        self.encoder = nn.ModuleList(
            DETREncoderLayer(d_model, nhead, **layer_args) for _ in range(num_encoder_layers)
        )
        self.query_embed = nn.Embedding(num_queries, d_model)
        self.decoder = nn.ModuleList(
            DETRDecoderLayer(d_model, nhead, **layer_args) for _ in range(num_decoder_layers)
        )
        self.decoder_norm = nn.LayerNorm(d_model)
        # 6. heads
        self.class_embed = nn.Linear(d_model, num_classes + 1)
        self.bbox_embed = _MLP(d_model, d_model, 4, 3)

    def _images(self, images) -> Tensor:
        if isinstance(images, (list, tuple)):  # collate_detection gives a tuple of [3, H, W]
            check_type("images", images, (list, tuple), "a float Tensor[N, 3, H, W]")
            images = torch.stack(list(images))
        check_tensor("images", images, shape=(None, 3, self.image_size, self.image_size), dtype="float")
        return images

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """images: Tensor[N, 3, S, S] in [0, 1] -> ``logits`` [N, Q, C + 1], ``boxes`` [N, Q, 4]
        (normalised cxcywh) of the last decoder layer, and ``aux_logits`` [L, N, Q, C + 1],
        ``aux_boxes`` [L, N, Q, 4] of every decoder layer (the last one included)."""
        images = self._images(images)
        features = self.input_proj(self.backbone(images))  # [N, d, h, w]
        src = features.flatten(2).transpose(1, 2)  # [N, hw, d] one token per cell
        pos = self.pos.to(src.dtype).expand_as(src)  # [N, hw, d]
        for layer in self.encoder:
            src = layer(src, pos)
        query_pos = self.query_embed.weight[None].expand(len(src), -1, -1)  # [N, Q, d]
        tgt = torch.zeros_like(query_pos)  # DETR starts the decoder from zeros
        outputs = []
        for layer in self.decoder:
            tgt = layer(tgt, src, pos, query_pos)
            outputs.append(self.decoder_norm(tgt))
        hs = torch.stack(outputs)  # [L, N, Q, d]
        logits = self.class_embed(hs)  # [L, N, Q, C+1]
        boxes = self.bbox_embed(hs).sigmoid()  # [L, N, Q, 4] (cx, cy, w, h) in (0, 1)
        return {"logits": logits[-1], "boxes": boxes[-1], "aux_logits": logits, "aux_boxes": boxes}

    def loss(self, images: Tensor, targets: Sequence[dict]) -> dict[str, Tensor]:
        """The Hungarian loss (``set_loss``) of the last decoder layer, plus the same loss of every
        earlier layer when ``aux_loss``. ``targets``: ``ShapesDetection``'s dicts (xyxy pixels,
        labels 1..C). Returns ``loss`` (to backpropagate), ``cls``, ``l1``, ``giou`` (last layer) and
        ``aux`` (the earlier layers' sum, 0 without ``aux_loss``)."""
        out = self(images)
        targets = normalise_targets(targets, self.image_size)
        eos = self.config["eos_coef"]
        last = set_loss(out["logits"], out["boxes"], targets, eos_coef=eos)
        aux = torch.zeros((), device=last["loss"].device)
        if self.config["aux_loss"]:
            for logits, boxes in zip(out["aux_logits"][:-1], out["aux_boxes"][:-1], strict=True):
                aux = aux + set_loss(logits, boxes, targets, eos_coef=eos)["loss"]
        return {**last, "loss": last["loss"] + aux, "aux": aux}

    @torch.no_grad()
    def predict(self, images: Tensor, score_threshold: float = 0.05, nms: bool = True) -> list[dict]:
        """Detections per image: ``boxes`` [K, 4] xyxy pixels, ``scores`` [K], ``labels`` [K] in 1..C.

        Softmax over the C + 1 classes, "no object" dropped: each query's score is its largest class
        probability, its label that class. No NMS (``nms`` is accepted and ignored): the set loss
        trains one query per object and "no object" for the rest, so duplicates are already
        penalised in training, and NMS would only risk removing a true neighbour.
        """
        score_threshold = check_float("score_threshold", score_threshold, low=0.0, high=1.0)
        check_bool("nms", nms)
        was_training = self.training
        self.eval()
        out = self(images)
        self.train(was_training)
        prob = out["logits"].softmax(-1)[..., :-1]  # [N, Q, C] without no object
        scores, labels = prob.max(-1)  # [N, Q]
        boxes = (
            box_convert(out["boxes"].flatten(0, 1), "cxcywh", "xyxy").view_as(out["boxes"]) * self.image_size
        )
        results = []
        for s, lab, b in zip(scores, labels, boxes, strict=True):
            keep = torch.nonzero(s > score_threshold).flatten()
            keep = keep[s[keep].argsort(descending=True)][:100]
            results.append({"boxes": b[keep], "scores": s[keep], "labels": lab[keep] + 1})
        return results

    @torch.no_grad()
    def inspect(self, images: Tensor) -> dict[str, Tensor]:
        """Every query of the first image: ``boxes`` [Q, 4] xyxy pixels, ``probs`` [Q, C + 1] (last
        column: no object)."""
        was_training = self.training
        self.eval()
        out = self(self._images(images)[:1])
        self.train(was_training)
        boxes = box_convert(out["boxes"][0], "cxcywh", "xyxy") * self.image_size
        return {"boxes": boxes, "probs": out["logits"][0].softmax(-1)}


@torch.no_grad()
def query_box_centers(model: DETR, dataset, *, batch_size: int = 64) -> dict[str, Tensor]:
    """Every query's predicted box over many images (the notes' Fig. 4.23: each query specialises in
    an area and a box shape).

    Args:
        model: a DETR.
        dataset: a ``ShapesDetection`` (or any sequence of ``(image, target)``).
        batch_size: images per forward pass.

    Returns:
        ``centers`` [M, Q, 2] ``(cx, cy)`` pixels, ``sizes`` [M, Q, 2] ``(w, h)`` pixels, ``labels``
        [M, Q] the most probable class of each query (1..C, 0 where "no object" wins), ``scores``
        [M, Q] the largest object-class probability, for M images.
    """
    check_type("model", model, DETR, "a DETR")
    batch_size = check_int("batch_size", batch_size, low=1)
    was_training = model.training
    model.eval()
    boxes, probs = [], []
    for start in range(0, len(dataset), batch_size):
        images = torch.stack([dataset[i][0] for i in range(start, min(start + batch_size, len(dataset)))])
        out = model(images)
        boxes.append(out["boxes"] * model.image_size)
        probs.append(out["logits"].softmax(-1))
    model.train(was_training)
    if not boxes:
        raise ValueError("dataset must hold at least one image")
    boxes, probs = torch.cat(boxes), torch.cat(probs)  # [M, Q, 4], [M, Q, C+1]
    best = probs.argmax(-1)  # [M, Q] in 0..C, C = no object
    labels = torch.where(best == model.num_classes, torch.zeros_like(best), best + 1)
    return {
        "centers": boxes[..., :2],
        "sizes": boxes[..., 2:],
        "labels": labels,
        "scores": probs[..., :-1].max(-1).values,
    }
