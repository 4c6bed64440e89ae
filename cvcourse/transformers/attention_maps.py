r"""Reading a ViT's attention: every layer and head with hooks, attention rollout, attention distance.

* ``record_attention`` / ``attention_maps``: forward hooks on every multi-head attention module (ours
  or ``torch.nn.MultiheadAttention``, so torchvision's ViT works too). A pre-hook switches the call
  to ``need_weights=True, average_attn_weights=False`` and a forward hook keeps the per-head weights:
  the model's own forward runs, no forward code is duplicated.
* ``attention_rollout``: Abnar & Zuidema, "Quantifying Attention Flow in Transformers", 2020,
  https://arxiv.org/abs/2005.00928. With :math:`\bar A_l` the head-averaged weights of layer l,
  :math:`\tilde A_l = \mathrm{rownorm}(\tfrac12 \bar A_l + \tfrac12 I)` (the residual connection
  carries half of the signal) and the rollout is
  :math:`R_l = \tilde A_l \tilde A_{l-1} \cdots \tilde A_1`.
* ``mean_attention_distance``: the ViT paper's Fig. 7 (the notes' Fig. 3.10), the average image-space
  distance :math:`\sum_j a_{ij} \lVert p_i - p_j \rVert` between a query patch i and the patches j
  it attends to, averaged over query patches and images, per head and layer (https://arxiv.org/abs/2010.11929).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from cvcourse._checks import check_bool, check_float, check_int, check_tensor

from .multihead import MultiheadAttention

__all__ = [
    "record_attention",
    "attention_maps",
    "attention_rollout",
    "mean_attention_distance",
    "patch_distances",
    "query_heatmap",
]


def _attention_modules(model: nn.Module) -> list[nn.Module]:
    mods = [m for m in model.modules() if isinstance(m, (MultiheadAttention, nn.MultiheadAttention))]
    if not mods:
        raise ValueError(f"{type(model).__name__} has no MultiheadAttention module to record")
    return mods


@contextmanager
def record_attention(model: nn.Module) -> Iterator[list[Tensor]]:
    """Record the per-head attention weights of every attention layer while the block runs.

    Usage::

        with record_attention(vit) as maps:
            vit(images)
        # maps[l]: Tensor[N, h, T, T], layer l's weights (detached)

    Args:
        model: any module containing ``MultiheadAttention`` layers.

    Yields:
        A list filled with one Tensor[N, h, L, S] per attention call, in call order.
    """
    recorded: list[Tensor] = []

    def ask_for_weights(module, args, kwargs):
        kwargs["need_weights"] = True
        kwargs["average_attn_weights"] = False
        return args, kwargs

    def keep_weights(module, args, output):
        recorded.append(output[1].detach())

    handles = []
    try:
        for m in _attention_modules(model):
            handles.append(m.register_forward_pre_hook(ask_for_weights, with_kwargs=True))
            handles.append(m.register_forward_hook(keep_weights))
        yield recorded
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def attention_maps(model: nn.Module, images: Tensor) -> Tensor:
    """Run ``model`` on ``images`` (eval mode) and return all attention weights.

    Args:
        model: a ViT (ours or torchvision's).
        images: Tensor[N, 3, H, W] as the model expects.

    Returns:
        Tensor[num_layers, N, h, T, T] with T = 1 + number of patches (token 0 is [CLS]).
    """
    was_training = model.training
    model.eval()
    try:
        with record_attention(model) as maps:
            model(images)
    finally:
        model.train(was_training)
    return torch.stack(maps)


def attention_rollout(maps: Tensor, residual: float = 0.5) -> Tensor:
    """Attention rollout after each layer: R_l = Ã_l ... Ã_1 with Ã = rownorm(r I + (1 - r) mean_h A).

    Args:
        maps: Tensor[L, N, h, T, T] from ``attention_maps``.
        residual: weight r of the identity (the residual connection), 0.5 in the paper.

    Returns:
        Tensor[L, N, T, T]; row i of ``out[l]`` says how much token i after layer l draws on each
        input token.
    """
    check_tensor("maps", maps, shape=(None, None, None, "T", "T"), dtype="float")
    residual = check_float("residual", residual, low=0.0, high=1.0)
    eye = torch.eye(maps.shape[-1], dtype=maps.dtype, device=maps.device)
    mixed = residual * eye + (1 - residual) * maps.mean(dim=2)  # [L, N, T, T]
    mixed = mixed / mixed.sum(dim=-1, keepdim=True)  # rows sum to 1 again
    out, rollout = [], eye.expand_as(mixed[0])
    for layer in mixed:  # R_l = Ã_l R_{l-1}
        rollout = layer @ rollout
        out.append(rollout)
    return torch.stack(out)


def patch_distances(grid_size: int, patch_size: int, device=None) -> Tensor:
    """Euclidean distance in pixels between the centres of all patch pairs of a grid.

    Returns:
        Tensor[G*G, G*G], patches in row-major order.
    """
    grid_size = check_int("grid_size", grid_size, low=0)
    patch_size = check_int("patch_size", patch_size, low=1)
    rows, cols = torch.meshgrid(
        torch.arange(grid_size, device=device),
        torch.arange(grid_size, device=device),
        indexing="ij",
    )
    centres = torch.stack([rows.flatten(), cols.flatten()], dim=1).double() * patch_size  # [G*G, 2]
    return torch.cdist(centres, centres)  # [G*G, G*G]


def mean_attention_distance(maps: Tensor, patch_size: int) -> Tensor:
    """Mean attention distance (in pixels) per layer and head, the notes' Fig. 3.10.

    The [CLS] token is left out as query and key (it has no position); each query patch's weights over
    the patches are renormalised to sum to 1 before taking the weighted mean distance.

    Args:
        maps: Tensor[L, N, h, T, T] with T = 1 + G*G.
        patch_size: P, pixels per patch side.

    Returns:
        Tensor[L, h] (float64).
    """
    check_tensor("maps", maps, shape=(None, None, None, "T", "T"), dtype="float")
    patch_size = check_int("patch_size", patch_size, low=1)
    grid = round((maps.shape[-1] - 1) ** 0.5)
    if grid * grid + 1 != maps.shape[-1]:
        raise ValueError(f"expected T = 1 + G*G tokens ([CLS] + a square grid), got T = {maps.shape[-1]}")
    a = maps[..., 1:, 1:].double()  # [L, N, h, G*G, G*G]: patches only
    a = a / a.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    dist = patch_distances(grid, patch_size, device=maps.device)  # [G*G, G*G]
    per_query = (a * dist).sum(dim=-1)  # [L, N, h, G*G]
    return per_query.mean(dim=(1, 3))  # [L, h]


def query_heatmap(
    maps: Tensor,
    layer: int,
    head: int | None = None,
    query: int = 0,
    rollout: bool = False,
    image: int = 0,
) -> Tensor:
    """Attention of one query token over the patch grid, ready to draw over the image.

    Args:
        maps: Tensor[L, N, h, T, T] from ``attention_maps``.
        layer: 0-based layer index.
        head: head index, or None for the mean over heads (always the mean with ``rollout``).
        query: query token (0 = [CLS], 1 + r*G + c = patch (r, c)).
        rollout: show the rollout up to ``layer`` instead of the raw weights.
        image: which image of the batch.

    Returns:
        Tensor[G, G] of weights over the patches (the [CLS] key is dropped).
    """
    check_tensor("maps", maps, shape=(None, None, None, "T", "T"), dtype="float")
    check_bool("rollout", rollout)
    L, N, h, T, _ = maps.shape
    grid = round((T - 1) ** 0.5)
    for name, value, size in (("layer", layer, L), ("query", query, T), ("image", image, N)):
        if not 0 <= check_int(name, value) < size:
            raise ValueError(f"{name} must be in [0, {size - 1}], got {value}")
    if head is not None and not 0 <= check_int("head", head) < h:
        raise ValueError(f"head must be None (mean) or in [0, {h - 1}], got {head}")
    if rollout:
        row = attention_rollout(maps[:, image : image + 1])[layer, 0, query]  # [T]
    elif head is None:
        row = maps[layer, image, :, query].mean(dim=0)  # [T]
    else:
        row = maps[layer, image, head, query]  # [T]
    return row[1:].reshape(grid, grid)
