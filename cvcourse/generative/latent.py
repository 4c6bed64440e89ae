"""Working in the latent space: encode a data set, interpolate, measure how far decodes are from data,
and corrupt images for denoising and inpainting.

The notes' claims about a plain autoencoder's latent space ("close points can give very different
decoded data", "some points give meaningless content once decoded") become numbers here:
``distance_to_data`` is how far a decoded image lies from the nearest real image, so decodes of
random points or of points between two codes can be compared across models.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cvcourse._checks import check_float, check_int, check_tensor

__all__ = ["add_noise", "distance_to_data", "encode", "hide_square", "interpolate", "traverse"]


@torch.no_grad()
def encode(model: nn.Module, images: Tensor, batch_size: int = 1024) -> Tensor:
    """The code of every image: an ``Autoencoder``'s z, or a ``VAE``'s mean mu. Tensor[N, d]."""
    check_tensor("images", images, dtype="float")
    batch_size = check_int("batch_size", batch_size, low=1)
    p = next(model.parameters())
    codes = []
    for chunk in images.split(batch_size):
        out = model.encode(chunk.to(p.device, p.dtype))
        codes.append((out[0] if isinstance(out, tuple) else out).cpu())
    return torch.cat(codes) if codes else torch.zeros(0, 0)


def interpolate(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    r"""``steps`` points on the straight line from ``z0`` to ``z1`` (both ends included):
    :math:`z_t = (1 - t) z_0 + t z_1`. Tensor[d] twice -> Tensor[steps, d]."""
    check_tensor("z0", z0, ndim=1, dtype="float")
    check_tensor("z1", z1, shape=tuple(z0.shape), dtype="float")
    t = torch.linspace(0, 1, check_int("steps", steps, low=2), dtype=z0.dtype)[:, None]  # [steps, 1]
    return (1 - t) * z0 + t * z1


def traverse(z: Tensor, dim: int, values: Tensor) -> Tensor:
    """Copies of the code ``z`` [d] with dimension ``dim`` set to each of ``values`` [V]: Tensor[V, d]
    (a latent traversal: decode it to see what that one dimension does)."""
    check_tensor("z", z, ndim=1, dtype="float")
    dim = check_int("dim", dim, low=0, high=z.shape[0] - 1)
    check_tensor("values", values, ndim=1)
    out = z.repeat(len(values), 1)
    out[:, dim] = values.to(z.dtype)
    return out


def distance_to_data(images: Tensor, data: Tensor) -> Tensor:
    """Euclidean distance from each image to its nearest neighbour in ``data`` (pixels flattened).

    Args:
        images: Tensor[M, ...]; data: Tensor[N, ...] of the same image shape, N >= 1.

    Returns:
        Tensor[M].
    """
    check_tensor("images", images, dtype="float")
    check_tensor("data", data, dtype="float")
    if images.shape[1:] != data.shape[1:] or len(data) == 0:
        raise ValueError(
            f"data must be a non-empty batch of images shaped like images' "
            f"{list(images.shape[1:])}, got shape {list(data.shape)}"
        )
    return torch.cdist(images.flatten(1).double(), data.flatten(1).double()).amin(1)


def add_noise(images: Tensor, amount: float, generator: torch.Generator | None = None) -> Tensor:
    """Salt-and-pepper noise: each pixel (all channels together) replaced by 0 or 1 with probability
    ``amount``. Values stay in [0, 1]."""
    check_tensor("images", images, dtype="float")
    amount = check_float("amount", amount, low=0, high=1)
    shape = (images.shape[0], 1, *images.shape[2:]) if images.ndim == 4 else images.shape
    hit = torch.rand(shape, generator=generator) < amount
    salt = (torch.rand(shape, generator=generator) < 0.5).to(images.dtype)
    return torch.where(hit.to(images.device), salt.to(images.device).expand_as(images), images)


def hide_square(images: Tensor, side: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Blank out one ``side`` x ``side`` square per image, at a random place (for inpainting).

    Args:
        images: Tensor[N, C, H, W].

    Returns:
        ``(hidden, mask)``: the images with the square set to 0, and the bool mask [N, 1, H, W] of it.
    """
    check_tensor("images", images, ndim=4, dtype="float")
    n, _, h, w = images.shape
    side = check_int("side", side, low=1, high=min(h, w))
    top = torch.randint(0, h - side + 1, (n,), generator=generator)
    left = torch.randint(0, w - side + 1, (n,), generator=generator)
    rows, cols = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]  # [1, H, 1], [1, 1, W]
    mask = (
        (rows >= top[:, None, None])
        & (rows < top[:, None, None] + side)
        & (cols >= left[:, None, None])
        & (cols < left[:, None, None] + side)
    )[:, None]  # [N, 1, H, W]
    return images.masked_fill(mask.to(images.device), 0.0), mask
