r"""What a ViT's patch embedding looks at: its filters and their principal components (Fig. 3.8).

Dosovitskiy et al., "An Image is Worth 16x16 Words", https://arxiv.org/abs/2010.11929, Fig. 7 (left):
"RGB embedding filters (first 28 principal components)" of ViT-L/32 pre-trained on JFT-300M. A plain
ViT embeds a patch :math:`\mathbf{x}` (flattened, :math:`P^2C` numbers) as :math:`\mathbf{x}\mathbf{W}_E`,
so the d columns of :math:`\mathbf{W}_E` are d filters of shape :math:`C \times P \times P`, and the
figure shows the top principal components of those d filters.

* ``embedding_filters``: the filters of any patch embedding, read as the Jacobian of one token's
  embedding with respect to the image, cropped to the pixels it depends on. For a plain patch
  projection (a stride-P convolution) that is exactly :math:`\mathbf{W}_E` (tested). For a
  convolutional stem (conv-BN-ReLU layers, not linear) it is the stem's linearisation, averaged over
  the given images: the linear filter each embedding dimension applies on average, over the token's
  whole receptive field (7 x 7 pixels for two 3x3 stride-2 layers).
* ``principal_components``: the filters centred, then their SVD: the rows of
  :math:`\mathbf{V}^T` are the principal axes and :math:`\sigma_k^2 / \sum \sigma^2` the share of the
  variance each explains (the same as ``sklearn.decomposition.PCA``, tested).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cvcourse._checks import check_int, check_tensor, check_type

__all__ = ["embedding_filters", "principal_components"]


def embedding_filters(
    embed: nn.Module, images: Tensor, row: int | None = None, col: int | None = None
) -> Tensor:
    """The filters of a patch embedding, as the Jacobian of token (row, col), averaged over images.

    Args:
        embed: the embedding, images [N, C, H, W] -> token grid [N, D, G, G] (a ViT's ``conv_proj``).
        images: Tensor[N, C, H, W], the images to average the Jacobian over.
        row, col: the token's place in the G x G grid (default: the centre, G // 2).

    Returns:
        Tensor[D, C, k_h, k_w]: one filter per embedding dimension, cropped to the bounding box of the
        pixels that move the token (its receptive field).
    """
    check_type("embed", embed, nn.Module, "a torch.nn.Module")
    check_tensor("images", images, ndim=4, dtype="float")
    was_training = embed.training
    embed.eval()
    try:
        x = images.detach().clone().requires_grad_(True)
        grid = embed(x)  # [N, D, G, G]
        check_tensor("embed(images)", grid, ndim=4)
        g = grid.shape[-1]
        row = check_int("row", g // 2 if row is None else row, low=0, high=g - 1)
        col = check_int("col", g // 2 if col is None else col, low=0, high=g - 1)
        # the images do not interact, so the gradient of the sum over N is the sum of the Jacobians
        jac = torch.stack(
            [
                torch.autograd.grad(grid[:, k, row, col].sum(), x, retain_graph=True)[0].mean(0)
                for k in range(grid.shape[1])
            ]
        )  # [D, C, H, W]
    finally:
        embed.train(was_training)
    support = jac.abs().sum(dim=(0, 1)) > 0  # [H, W]: the pixels the token depends on
    rows, cols = support.any(1).nonzero().flatten(), support.any(0).nonzero().flatten()
    if len(rows) == 0:
        raise ValueError("the token does not depend on any pixel of images (all-zero Jacobian)")
    return jac[:, :, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def principal_components(filters: Tensor, k: int | None = None) -> tuple[Tensor, Tensor]:
    """Principal components of D filters, each reshaped like a filter.

    Args:
        filters: Tensor[D, ...], one filter per row (e.g. [D, C, P, P]).
        k: how many components (default: all, min(D, numel of one filter)).

    Returns:
        ``(components Tensor[k, ...], explained Tensor[k])``: unit-norm principal axes, largest variance
        first, and the share of the variance each explains.
    """
    check_tensor("filters", filters, dtype="float")
    if filters.ndim < 2 or filters.shape[0] < 2:
        raise ValueError(f"filters must be Tensor[D, ...] with D >= 2, got shape {tuple(filters.shape)}")
    flat = filters.flatten(1)
    flat = flat - flat.mean(0)  # centre: [D, F]
    _, sv, vt = torch.linalg.svd(flat, full_matrices=False)  # rows of vt: the principal axes
    k = check_int("k", len(sv) if k is None else k, low=1, high=len(sv))
    explained = sv**2 / (sv**2).sum()
    return vt[:k].reshape(k, *filters.shape[1:]), explained[:k]
