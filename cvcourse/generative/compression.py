r"""Learned compression against the linear optimum (PCA) and hard-coded compression (JPEG).

An autoencoder with a k-dimensional code stores an image in k numbers. Two yardsticks:

* **PCA** with k components is what the best *linear* autoencoder learns (Baldi & Hornik 1989): for
  centred data the squared-error optimum of :math:`\hat x = W_2 W_1 x` projects onto the top-k
  principal subspace. ``pca`` is the SVD of the centred data (same components as
  ``sklearn.decomposition.PCA`` up to sign); ``principal_angles`` compares two subspaces (same as
  ``scipy.linalg.subspace_angles``): all angles 0 means the same subspace.
* **JPEG** (Pillow) is entropy-based, hard-coded compression: a fixed transform (the 8 x 8 DCT),
  quantisation and Huffman coding, the same for every kind of image. ``jpeg_roundtrip`` encodes a
  whole batch as one mosaic, so the file header and tables are shared and the bytes per image are
  what the image itself costs; ``jpeg_at_budget`` picks the best quality within a byte budget.

For the same number of bytes, a code of k numbers is stored at 8 bits each (``quantize``): k bytes.
Neither the decoder's weights nor JPEG's codec are counted: both are fixed, shared by every image.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from cvcourse._checks import check_float, check_int, check_tensor

__all__ = [
    "jpeg_at_budget",
    "jpeg_roundtrip",
    "mse",
    "pca",
    "pca_reconstruct",
    "principal_angles",
    "quantize",
]


def pca(x: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The top-``k`` principal components of the rows of ``x`` [N, D].

    Returns:
        ``(mean, components)``: Tensor[D] and Tensor[k, D] with orthonormal rows, by decreasing variance.
    """
    check_tensor("x", x, ndim=2, dtype="float")
    k = check_int("k", k, low=0, high=min(x.shape))
    mean = x.mean(0)
    # rows of V^T are the principal axes: X - mean = U S V^T
    _, _, vt = torch.linalg.svd(x - mean, full_matrices=False)
    return mean, vt[:k]


def pca_reconstruct(x: Tensor, mean: Tensor, components: Tensor, bits: int | None = None) -> Tensor:
    r""":math:`\hat x = \bar x + (x - \bar x) V_k^T V_k`: project on the components and back.

    With ``bits``, the k coefficients are first quantised (``quantize``, over their range on ``x``).
    """
    check_tensor("x", x, ndim=2, dtype="float")
    check_tensor("components", components, shape=(None, x.shape[1]), dtype="float")
    coeffs = (x - mean) @ components.T  # [N, k]
    if bits is not None and coeffs.shape[1]:
        coeffs = quantize(coeffs, bits, coeffs.amin(0), coeffs.amax(0))
    return mean + coeffs @ components


def principal_angles(a: Tensor, b: Tensor) -> Tensor:
    r"""The principal angles (radians, increasing) between the column spaces of ``a`` [D, k] and ``b`` [D, m].

    With orthonormal bases :math:`Q_a, Q_b`, the cosines are the singular values of :math:`Q_a^T Q_b`.
    ``scipy.linalg.subspace_angles`` gives the same angles (decreasing) and is more accurate for tiny
    angles, which it computes from sines; here the arccos loses digits below about 1e-8 rad.
    """
    check_tensor("a", a, ndim=2, dtype="float")
    check_tensor("b", b, shape=(a.shape[0], None), dtype="float")
    qa, qb = torch.linalg.qr(a.double())[0], torch.linalg.qr(b.double())[0]
    cosines = torch.linalg.svdvals(qa.T @ qb).clamp(-1, 1)
    return torch.arccos(cosines)


def quantize(codes: Tensor, bits: int, low: Tensor, high: Tensor) -> Tensor:
    """``codes`` [N, d] rounded to the nearest of ``2**bits`` evenly spaced values in [low, high] per
    dimension (values outside are clipped): what storing each number in ``bits`` bits keeps."""
    check_tensor("codes", codes, ndim=2, dtype="float")
    bits = check_int("bits", bits, low=1, high=32)
    levels = 2**bits - 1
    low, high = low.to(codes), high.to(codes)
    step = (high - low).clamp_min(1e-12) / levels
    return low + ((codes.clamp(low, high) - low) / step).round() * step


def mse(a: Tensor, b: Tensor) -> float:
    """Mean squared error per pixel value."""
    if a.shape != b.shape:
        raise ValueError(f"b must have a's shape {list(a.shape)}, got shape {list(b.shape)}")
    return float((a.double() - b.double()).pow(2).mean())


def _mosaic(images: np.ndarray, cols: int) -> np.ndarray:
    n, c, h, w = images.shape
    rows = math.ceil(n / cols)
    canvas = np.zeros((rows * h, cols * w, c), dtype=np.uint8)
    for i, image in enumerate(images):
        r, q = divmod(i, cols)
        canvas[r * h : (r + 1) * h, q * w : (q + 1) * w] = image.transpose(1, 2, 0)
    return canvas


def jpeg_roundtrip(images: Tensor, quality: int) -> tuple[Tensor, float]:
    """Encode ``images`` with JPEG at ``quality`` (1-95) and decode them again.

    The batch is tiled into one mosaic (grey for 1 channel, RGB for 3), so that the header and the
    (optimised) Huffman tables are paid once: the bytes per image are the file size over N. Images
    whose sides are multiples of 8 fill whole 8 x 8 DCT blocks and do not bleed into each other.

    Args:
        images: Tensor[N, C, H, W] in [0, 1], C = 1 or 3, N >= 1.
        quality: Pillow's JPEG quality.

    Returns:
        ``(decoded, bytes_per_image)``: Tensor[N, C, H, W] float32 in [0, 1], and the file size / N.
    """
    check_tensor("images", images, ndim=4, dtype="float")
    quality = check_int("quality", quality, low=1, high=95)
    n, c, h, w = images.shape
    if c not in (1, 3) or n == 0:
        raise ValueError(
            f"images must be a non-empty batch with 1 or 3 channels, got shape {list(images.shape)}"
        )
    pixels = (images.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    cols = math.ceil(math.sqrt(n))
    mosaic = _mosaic(pixels, cols)
    picture = Image.fromarray(mosaic[..., 0] if c == 1 else mosaic, mode="L" if c == 1 else "RGB")
    buffer = io.BytesIO()
    # 4:4:4 for colour: no chroma subsampling, which would bleed colour across image borders
    picture.save(buffer, format="JPEG", quality=quality, optimize=True, subsampling=0)
    size = buffer.tell()
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L" if c == 1 else "RGB"))
    decoded = decoded.reshape(decoded.shape[0], decoded.shape[1], c)
    out = np.stack(
        [
            decoded[(i // cols) * h : (i // cols + 1) * h, (i % cols) * w : (i % cols + 1) * w]
            for i in range(n)
        ]
    ).transpose(0, 3, 1, 2)  # [N, C, H, W]
    return torch.from_numpy(out.astype(np.float32) / 255.0), size / n


def jpeg_at_budget(images: Tensor, bytes_per_image: float) -> tuple[Tensor, float, int]:
    """JPEG at the highest quality whose bytes per image stay within ``bytes_per_image``.

    The quality is found by bisection (the file size grows with the quality). When even quality 1
    is over the budget, quality 1 is returned (its bytes say by how much).

    Returns:
        ``(decoded, bytes_per_image, quality)``.
    """
    budget = check_float("bytes_per_image", bytes_per_image, low=0, low_inclusive=False)
    lo, hi = 1, 95
    best = None
    while lo <= hi:
        q = (lo + hi) // 2
        decoded, size = jpeg_roundtrip(images, q)
        if size <= budget:
            best, lo = (decoded, size, q), q + 1
        else:
            hi = q - 1
    if best is None:
        decoded, size = jpeg_roundtrip(images, 1)
        best = (decoded, size, 1)
    return best
