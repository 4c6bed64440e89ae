r"""Upsampling, the decoder's half of segmentation (notes 5.1.3-5.1.4; ``002_...`` and ``003_...``'s slides).

Fixed operators: nearest neighbour, bilinear interpolation (both = ``F.interpolate``), bed of nails
and max unpooling with the pooling's indices (= ``F.max_unpool2d``, SegNet). Learned: the
transposed convolution, written two ways (every input pixel scatters a weighted copy of the kernel;
the transpose of the convolution's matrix, ``conv_matrix(...).T``), both = ``F.conv_transpose2d``;
``bilinear_kernel`` initialises it as an interpolator; ``pixel_shuffle`` (= ``F.pixel_shuffle``)
moves channels into space. ``checkerboard`` measures the artifacts of a transposed convolution on a
constant input, against resize-then-convolve (``resize_conv``), and ``contributions_1d`` rebuilds the
``003_...`` slide's three matrices of which kernel weight reaches which output pixel.

Images are ``[N, C, H, W]`` float tensors unless said otherwise; scales are integers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cvcourse._checks import check_bool, check_choice, check_int, check_tensor

__all__ = [
    "nearest_upsample",
    "bilinear_upsample",
    "bed_of_nails",
    "max_pool_with_indices",
    "max_unpool",
    "transposed_conv_output_size",
    "transposed_conv_scatter",
    "conv_matrix",
    "transposed_conv_by_matrix",
    "bilinear_kernel",
    "bilinear_transposed_conv",
    "resize_conv",
    "checkerboard",
    "pixel_shuffle",
    "contributions_1d",
]


def _image(name: str, x: Tensor) -> Tensor:
    return check_tensor(name, x, ndim=4, dtype="float")


def nearest_upsample(x: Tensor, scale: int) -> Tensor:
    """Every pixel copied into a ``scale x scale`` block (= ``F.interpolate(mode="nearest")``)."""
    x, scale = _image("x", x), check_int("scale", scale, low=1)
    return x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)


def _linear_weights(n_in: int, n_out: int, align_corners: bool, dtype) -> Tensor:
    r"""Matrix [n_out, n_in] of 1-D linear interpolation, PyTorch's source-coordinate rule:

    ``align_corners=True``: :math:`s = d \, (n_{in} - 1) / (n_{out} - 1)` (the corner pixels' centres
    meet); ``False``: :math:`s = (d + \frac12) \, n_{in} / n_{out} - \frac12`, clamped at 0 (pixels
    are squares, their edges meet).
    """
    d = torch.arange(n_out, dtype=torch.float64)
    if align_corners:
        s = d * (n_in - 1) / (n_out - 1) if n_out > 1 else torch.zeros(1, dtype=torch.float64)
    else:
        s = ((d + 0.5) * n_in / n_out - 0.5).clamp(min=0)
    left = s.floor().long().clamp(max=n_in - 1)
    right = (left + 1).clamp(max=n_in - 1)
    frac = s - left
    w = torch.zeros(n_out, n_in, dtype=torch.float64)
    w[torch.arange(n_out), left] += 1 - frac
    w[torch.arange(n_out), right] += frac
    return w.to(dtype)


def bilinear_upsample(x: Tensor, scale: int, align_corners: bool = False) -> Tensor:
    r"""Bilinear interpolation: linear along the rows, then along the columns.

    Equal to ``F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=...)``. The
    ``003_...`` slide's 2x2 -> 4x4 example ``[[10, 20], [30, 40]]`` is ``align_corners=False`` with the
    result truncated to integers (its 12 is 12.5, its 17 is 17.5).
    """
    x, scale = _image("x", x), check_int("scale", scale, low=1)
    align_corners = check_bool("align_corners", align_corners)
    h, w = x.shape[-2:]
    rows = _linear_weights(h, h * scale, align_corners, x.dtype)  # [H', H]
    cols = _linear_weights(w, w * scale, align_corners, x.dtype)  # [W', W]
    return rows @ x @ cols.T


def bed_of_nails(x: Tensor, scale: int) -> Tensor:
    """Each pixel at the top-left corner of its ``scale x scale`` block, zeros elsewhere."""
    x, scale = _image("x", x), check_int("scale", scale, low=1)
    n, c, h, w = x.shape
    out = x.new_zeros(n, c, h * scale, w * scale)
    out[..., ::scale, ::scale] = x
    return out


def max_pool_with_indices(x: Tensor, kernel: int) -> tuple[Tensor, Tensor]:
    """Max pooling (kernel = stride) that remembers where each maximum was (= ``F.max_pool2d(...,
    return_indices=True)``): indices into the flattened ``H x W`` plane, first maximum on ties."""
    x, k = _image("x", x), check_int("kernel", kernel, low=1)
    n, c, h, w = x.shape
    hh, ww = h // k, w // k
    blocks = x[..., : hh * k, : ww * k].reshape(n, c, hh, k, ww, k).permute(0, 1, 2, 4, 3, 5)
    values, where = blocks.reshape(n, c, hh, ww, k * k).max(-1)
    dy, dx = where // k, where % k
    rows = torch.arange(hh).view(hh, 1) * k + dy
    cols = torch.arange(ww).view(1, ww) * k + dx
    return values, rows * w + cols


def max_unpool(x: Tensor, indices: Tensor, output_size: tuple[int, int]) -> Tensor:
    """SegNet's max unpooling: each value goes back where its pooling found the maximum, zeros
    elsewhere (= ``F.max_unpool2d``).

    Args:
        x: pooled values ``[N, C, h, w]``.
        indices: ``[N, C, h, w]`` int, positions in the flattened ``output_size`` plane.
        output_size: ``(H, W)`` of the image before pooling.
    """
    x = _image("x", x)
    check_tensor("indices", indices, shape=tuple(x.shape), dtype="int")
    h, w = (check_int(f"output_size[{i}]", v, low=1) for i, v in enumerate(output_size))
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= h * w):
        raise ValueError(f"indices must lie in [0, {h * w - 1}] for output_size {(h, w)}")
    n, c = x.shape[:2]
    out = x.new_zeros(n, c, h * w)
    out.scatter_(2, indices.reshape(n, c, -1).long(), x.reshape(n, c, -1))
    return out.reshape(n, c, h, w)


def transposed_conv_output_size(n: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    r""":math:`(n - 1)\,s - 2p + k`: a 3x3 input, 3x3 kernel, stride 2, padding 1 gives 5x5."""
    n, kernel = check_int("n", n, low=1), check_int("kernel", kernel, low=1)
    stride, padding = check_int("stride", stride, low=1), check_int("padding", padding, low=0)
    return (n - 1) * stride - 2 * padding + kernel


def _weight(weight: Tensor) -> Tensor:
    return check_tensor("weight", weight, ndim=4, dtype="float")


def transposed_conv_scatter(x: Tensor, weight: Tensor, stride: int = 1, padding: int = 0) -> Tensor:
    """The transposed convolution as the notes draw it: every input pixel drops a copy of the kernel,
    weighted by its value, at ``stride`` times its position; overlapping copies add up; ``padding``
    rows and columns are then cut from each border.

    Args:
        x: ``[N, C_in, H, W]``.
        weight: ``[C_in, C_out, k_h, k_w]`` (``F.conv_transpose2d``'s layout).
        stride, padding: as ``F.conv_transpose2d`` (which this equals).
    """
    x, weight = _image("x", x), _weight(weight)
    if weight.shape[0] != x.shape[1]:
        raise ValueError(
            f"weight must be [{x.shape[1]}, C_out, k, k] for x's channels, got {list(weight.shape)}"
        )
    stride, padding = check_int("stride", stride, low=1), check_int("padding", padding, low=0)
    n, _, h, w = x.shape
    kh, kw = weight.shape[-2:]
    out = x.new_zeros(n, weight.shape[1], (h - 1) * stride + kh, (w - 1) * stride + kw)
    for i in range(h):
        for j in range(w):
            # x[:, :, i, j] [N, C_in] times the kernel [C_in, C_out, kh, kw], summed over C_in
            copy = torch.einsum("nc,cokl->nokl", x[:, :, i, j], weight)
            out[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw] += copy
    return out[:, :, padding : out.shape[2] - padding, padding : out.shape[3] - padding]


def conv_matrix(
    kernel: Tensor, input_size: int | tuple[int, int], stride: int = 1, padding: int = 0
) -> Tensor:
    r"""The matrix :math:`K` of a single-channel convolution: ``F.conv2d(x, kernel)`` flattened
    equals :math:`K \, \mathrm{vec}(x)`.

    Row ``r`` of :math:`K` is output pixel ``r``; it holds the kernel's weights at the input pixels
    that kernel position covers (zero-padding falls outside the matrix). A transposed convolution
    with the same kernel, stride and padding is :math:`K^\top`: it maps the output grid back to the
    input grid (``transposed_conv_by_matrix``).

    Args:
        kernel: ``[k_h, k_w]`` float.
        input_size: ``H`` (square) or ``(H, W)``.
        stride, padding: as ``F.conv2d``.

    Returns:
        Tensor[H_out * W_out, H * W].
    """
    check_tensor("kernel", kernel, ndim=2, dtype="float")
    h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    h, w = check_int("input_size[0]", h, low=1), check_int("input_size[1]", w, low=1)
    stride, padding = check_int("stride", stride, low=1), check_int("padding", padding, low=0)
    kh, kw = kernel.shape
    ho, wo = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    if ho < 1 or wo < 1:
        raise ValueError(
            f"kernel {list(kernel.shape)} does not fit input_size {(h, w)} with padding {padding}"
        )
    k = kernel.new_zeros(ho, wo, h, w)
    for oi in range(ho):
        for oj in range(wo):
            for a in range(kh):
                for b in range(kw):
                    i, j = oi * stride - padding + a, oj * stride - padding + b
                    if 0 <= i < h and 0 <= j < w:
                        k[oi, oj, i, j] = kernel[a, b]
    return k.reshape(ho * wo, h * w)


def transposed_conv_by_matrix(y: Tensor, kernel: Tensor, output_size: int, stride: int = 1, padding: int = 0):
    r""":math:`K^\top \mathrm{vec}(y)`, reshaped: the transposed convolution of a single-channel grid
    ``y`` ``[h, w]`` onto ``[output_size, output_size]`` (= ``F.conv_transpose2d`` when
    ``output_size`` is :func:`transposed_conv_output_size`)."""
    check_tensor("y", y, ndim=2, dtype="float")
    k = conv_matrix(kernel, output_size, stride, padding)
    if k.shape[0] != y.numel():
        raise ValueError(
            f"y must be the convolution's output grid ({k.shape[0]} pixels), got {list(y.shape)}"
        )
    return (k.T @ y.reshape(-1)).reshape(output_size, output_size)


def bilinear_kernel(size: int, dtype: torch.dtype = torch.float64) -> Tensor:
    r"""The ``size x size`` kernel that makes a transposed convolution a bilinear interpolator (FCN's
    initialisation): the outer product of the tent :math:`1 - |x - c| / f`,
    :math:`f = \lceil size / 2 \rceil`. ``size = 3`` gives the notes'
    ``[[1/4, 1/2, 1/4], [1/2, 1, 1/2], [1/4, 1/2, 1/4]]``."""
    size = check_int("size", size, low=1)
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    tent = 1 - (torch.arange(size, dtype=torch.float64) - centre).abs() / factor
    return torch.outer(tent, tent).to(dtype)


def bilinear_transposed_conv(x: Tensor, scale: int) -> Tensor:
    """Upsample every channel by ``scale`` with a transposed convolution initialised by
    ``bilinear_kernel(2 * scale - scale % 2)`` (stride ``scale``, output exactly ``scale`` times larger)."""
    x, scale = _image("x", x), check_int("scale", scale, low=1)
    k = 2 * scale - scale % 2
    weight = bilinear_kernel(k, x.dtype).expand(1, 1, k, k)
    c = x.shape[1]
    out = F.conv_transpose2d(
        x.reshape(-1, 1, *x.shape[-2:]), weight, stride=scale, padding=(k - scale + 1) // 2
    )
    return out.reshape(x.shape[0], c, *out.shape[-2:])


def resize_conv(x: Tensor, weight: Tensor, scale: int, mode: str = "nearest") -> Tensor:
    """Resize by ``scale`` (``"nearest"``, or ``"bilinear"`` with ``align_corners=False``), then a
    stride-1 'same' convolution with ``weight`` ``[C_out, C_in, k, k]`` (odd ``k``): Odena et al.'s
    cure for checkerboard artifacts (https://distill.pub/2016/deconv-checkerboard/)."""
    x, weight = _image("x", x), _weight(weight)
    scale = check_int("scale", scale, low=1)
    check_choice("mode", mode, ("nearest", "bilinear"))
    up = nearest_upsample(x, scale) if mode == "nearest" else bilinear_upsample(x, scale)
    return F.conv2d(up, weight, padding=weight.shape[-1] // 2)


def checkerboard(out: Tensor, border: int = 2) -> float:
    r"""How uneven an upsampler's answer to a **constant** input is: the relative variance
    :math:`\mathrm{Var}(y) / \bar y^2` of the output ``out`` away from its ``border`` pixels (where
    zero padding darkens every method alike). 0: flat, no checkerboard."""
    check_tensor("out", out, ndim=4, dtype="float")
    border = check_int("border", border, low=0)
    inner = out[..., border : out.shape[-2] - border, border : out.shape[-1] - border]
    if inner.numel() == 0:
        raise ValueError(f"out {list(out.shape)} has no pixel left inside a border of {border}")
    return float(inner.var(unbiased=False) / inner.mean() ** 2)


def pixel_shuffle(x: Tensor, scale: int) -> Tensor:
    r"""``[N, C r^2, H, W] -> [N, C, H r, W r]``: channel :math:`c r^2 + i r + j` becomes pixel
    :math:`(i, j)` of every :math:`r \times r` block (= ``F.pixel_shuffle``; ESPCN)."""
    x, r = _image("x", x), check_int("scale", scale, low=1)
    n, c, h, w = x.shape
    if c % (r * r):
        raise ValueError(f"x must have a multiple of scale**2 = {r * r} channels, got {c}")
    return (
        x.reshape(n, c // (r * r), r, r, h, w)
        .permute(0, 1, 4, 2, 5, 3)
        .reshape(n, c // (r * r), h * r, w * r)
    )


def _upsample_1d(x: Tensor, kernel: Tensor, method: str) -> Tensor:
    """1-D, scale 2: ``"transposed"`` (stride 2, padding 1), ``"nearest"`` / ``"bilinear"`` resize + conv."""
    x2 = x.view(1, 1, 1, -1)
    if method == "transposed":
        k = kernel.view(1, 1, 1, -1)
        return F.conv_transpose2d(x2, k, stride=(1, 2), padding=(0, 1), output_padding=(0, 1)).flatten()
    up = (
        x.repeat_interleave(2) if method == "nearest" else torch.stack([x, (x + x.roll(-1)) / 2], 1).flatten()
    )
    return F.conv1d(up.view(1, 1, -1), kernel.view(1, 1, -1), padding=1).flatten()


def contributions_1d(method: str, n: int = 6) -> list[tuple[str, ...]]:
    r"""What reaches each output pixel of a 1-D, scale-2 upsampler with kernel :math:`(a, b, c)`,
    as in ``003_...``'s slide: per interior output pixel, the coefficient of each input pixel that
    contributes, e.g. ``("a + 1/2 b", "1/2 b + c")``.

    Methods: ``"transposed"`` (rows ``(b)`` and ``(a, c)``: pixels get 1 or 2 weights: the
    checkerboard), ``"nearest"`` and ``"bilinear"`` resize + convolution (every row sums to
    :math:`a + b + c`). The slide's bilinear resize inserts midpoints between the samples (the
    ``bilinear_kernel(3)`` transposed convolution).

    Returns:
        the distinct rows, in order of first appearance.
    """
    check_choice("method", method, ("transposed", "nearest", "bilinear"))
    n = check_int("n", n, low=4)
    eye = torch.eye(3, dtype=torch.float64)
    # the operator's matrix [2n, n] for the kernels (1,0,0), (0,1,0), (0,0,1): M = a Ma + b Mb + c Mc
    mats = [
        torch.stack([_upsample_1d(e, k, method) for e in torch.eye(n, dtype=torch.float64)], 1) for k in eye
    ]
    rows: list[tuple[str, ...]] = []
    for o in range(2, 2 * n - 2):  # away from the borders
        cells = []
        for i in range(n):
            terms = [_term(float(m[o, i]), name) for m, name in zip(mats, "abc", strict=True) if m[o, i] != 0]
            if terms:
                cells.append(" + ".join(terms))
        if tuple(cells) not in rows:
            rows.append(tuple(cells))
    return rows


def _term(coef: float, name: str) -> str:
    if coef == 1:
        return name
    if coef == 0.5:
        return f"1/2 {name}"
    return f"{coef:g} {name}"
