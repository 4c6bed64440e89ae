r"""Patches as tokens (section 3.2): cut an image into P x P patches, flatten, project with W_E.

A C x H x W image gives (H/P)(W/P) patches, each flattened to a :math:`P^2 C` vector and projected by
:math:`W_E \in \mathbb{R}^{P^2 C \times d_Y}`. That is exactly a convolution with kernel P and stride P
(``VisionTransformer.conv_proj``, as torchvision computes it); ``patchify`` and ``PatchEmbedding``
write it the notes' way so the two can be compared (tested equal).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cvcourse._checks import check_int, check_tensor, check_type

__all__ = ["PatchEmbedding", "patchify"]


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """Cut images into non-overlapping P x P patches and flatten each to a P^2 C vector.

    The flattening order (channel, row, column) is the order of a conv kernel's weights, so
    ``patchify(x, P) @ conv.weight.reshape(D, -1).T + conv.bias`` equals ``conv(x)`` flattened.

    Args:
        images: Tensor[N, C, H, W] with H and W divisible by P.
        patch_size: P.

    Returns:
        Tensor[N, (H/P)(W/P), C P P], patches in row-major order.
    """
    check_tensor("images", images, ndim=4)
    N, C, H, W = images.shape
    P = check_int("patch_size", patch_size, low=1)
    if H % P or W % P:
        raise ValueError(f"image size {H}x{W} must be divisible by patch_size, got patch_size={P}")
    x = images.reshape(N, C, H // P, P, W // P, P)  # [N, C, nh, P, nw, P]
    x = x.permute(0, 2, 4, 1, 3, 5)  # [N, nh, nw, C, P, P]
    return x.reshape(N, (H // P) * (W // P), C * P * P)  # [N, num_patches, C P P]


class PatchEmbedding(nn.Module):
    """Patch embedding as the notes write it: flatten each P x P patch, project it with W_E.

    ``W_E`` is a ``Linear(P^2 C, D)``; ``from_conv`` copies a stride-P convolution's weights into it
    (``VisionTransformer.conv_proj``), and both give the same tokens.

    Args:
        patch_size: P.
        in_channels: C.
        embed_dim: D = d_Y.
    """

    def __init__(self, patch_size: int, in_channels: int = 3, embed_dim: int = 768) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.W_E = nn.Linear(in_channels * patch_size**2, embed_dim)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> PatchEmbedding:
        """The same map as ``conv`` (kernel = stride = P) written as flatten + Linear."""
        check_type("conv", conv, nn.Conv2d, "an nn.Conv2d")
        P = conv.kernel_size[0]
        if conv.kernel_size != (P, P) or conv.stride != (P, P) or conv.padding != (0, 0):
            raise ValueError(
                f"conv must have kernel = stride = P and no padding, got kernel "
                f"{conv.kernel_size}, stride {conv.stride}, padding {conv.padding}"
            )
        embed = cls(P, conv.in_channels, conv.out_channels).to(conv.weight)
        with torch.no_grad():
            embed.W_E.weight.copy_(conv.weight.reshape(conv.out_channels, -1))  # [D, C P P]
            if conv.bias is not None:
                embed.W_E.bias.copy_(conv.bias)
            else:
                embed.W_E.bias.zero_()
        return embed

    def forward(self, images: Tensor) -> Tensor:
        """Tensor[N, C, H, W] -> tokens Tensor[N, (H/P)(W/P), D]."""
        return self.W_E(patchify(images, self.patch_size))
