r"""RoIPool (Fast R-CNN, https://arxiv.org/abs/1504.08083) and RoIAlign (Mask R-CNN,
https://arxiv.org/abs/1703.06870): a fixed-size feature map for each region of interest.

Same signatures, values and gradients as ``torchvision.ops.roi_pool`` / ``roi_align`` (the CPU
kernels in ``torchvision/csrc/ops/cpu/roi_*_kernel.cpp``), vectorised over the RoIs.

RoIPool (notes, 4.3.2): 1. project the box onto the feature map (times ``spatial_scale``); 2. snap
it to the grid (round); 3. split it into :math:`H_o \times W_o` bins of about
:math:`\lceil H_r / H_o \rceil \times \lceil W_r / W_o \rceil` cells (``floor`` of the start,
``ceil`` of the end of each bin) and max-pool each bin: two quantisations (``roi_pool_bins``).

RoIAlign: no rounding at all. Each bin is sampled at ``sampling_ratio`` x ``sampling_ratio`` regular
points (adaptive: ``ceil(bin size)`` per axis when ``sampling_ratio <= 0``), each read from the map by
bilinear interpolation of its four neighbours, and the samples of a bin are averaged
(``roi_align_samples``). Bilinear interpolation is separable, so the whole RoI is two matrix
products: ``A_y @ X @ A_x^T``, where row ``p`` of ``A_y`` holds the interpolation weights of bin
``p``'s sample rows (each sample spreads over the two rows around it).
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvcourse._checks import check_bool, check_float, check_int, check_tensor, check_type

__all__ = ["roi_pool", "roi_align", "roi_pool_bins", "roi_align_samples"]


def _pair(name: str, value) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), got {value!r}")
        return check_int(f"{name}[0]", value[0], low=1), check_int(f"{name}[1]", value[1], low=1)
    size = check_int(name, value, low=1)
    return size, size


def _rois(boxes, input: Tensor) -> Tensor:
    """Tensor[K, 5] (batch index, x1, y1, x2, y2) from either form torchvision takes."""
    if isinstance(boxes, (list, tuple)):
        for i, b in enumerate(boxes):
            check_tensor(f"boxes[{i}]", b, shape=(None, 4), dtype="float")
        if len(boxes) > input.shape[0]:
            raise ValueError(
                f"boxes must have one tensor per image of input ({input.shape[0]}), got {len(boxes)}"
            )
        if not boxes:
            return input.new_zeros(0, 5)
        index = torch.cat(
            [torch.full((len(b), 1), i, dtype=b.dtype, device=b.device) for i, b in enumerate(boxes)]
        )
        return torch.cat([index, torch.cat(list(boxes))], dim=1)
    check_type("boxes", boxes, Tensor, "a Tensor[K, 5] or a list of Tensor[L, 4]")
    rois = check_tensor("boxes", boxes, shape=(None, 5), dtype="float")
    index = rois[:, 0]
    if bool(((index < 0) | (index >= input.shape[0]) | (index != index.round())).any()):
        raise ValueError(f"boxes[:, 0] must be image indices in 0 .. {input.shape[0] - 1}")
    return rois


def _check(input, boxes, output_size, spatial_scale) -> tuple[Tensor, Tensor, int, int, float]:
    input = check_tensor("input", input, ndim=4, dtype="float")
    rois = _rois(boxes, input)
    if not bool(torch.isfinite(rois).all()):
        raise ValueError("boxes must hold only finite coordinates, got NaN or inf")
    ph, pw = _pair("output_size", output_size)
    scale = check_float("spatial_scale", spatial_scale, low=0.0, low_inclusive=False)
    return input, rois.detach(), ph, pw, scale


# ------------------------------------------------------------------------------------- RoIPool
def _c_round(x: Tensor) -> Tensor:
    # C's round(): halves away from zero (torch.round rounds them to even)
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def roi_pool_bins(
    rois: Tensor, output_size, spatial_scale: float, height: int, width: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The bins RoIPool max-pools: rows ``[hstart, hend)`` and columns ``[wstart, wend)``.

    Args:
        rois (Tensor[K, 5]): (batch index, x1, y1, x2, y2) in image coordinates.
        output_size: (H_o, W_o).
        spatial_scale: feature-map pixels per image pixel.
        height, width: the feature map's size (bins are clipped to it).

    Returns:
        ``hstart, hend`` (int64 [K, H_o]) and ``wstart, wend`` (int64 [K, W_o]).
    """
    ph, pw = _pair("output_size", output_size)
    r = rois.to(torch.float64 if rois.dtype == torch.float64 else torch.float32)
    # 1-2. project and snap to the grid; a RoI is at least one cell
    start_w, start_h = _c_round(r[:, 1] * spatial_scale), _c_round(r[:, 2] * spatial_scale)
    end_w, end_h = _c_round(r[:, 3] * spatial_scale), _c_round(r[:, 4] * spatial_scale)
    roi_w = (end_w - start_w + 1).clamp(min=1)
    roi_h = (end_h - start_h + 1).clamp(min=1)

    def bins(start: Tensor, length: Tensor, pooled: int, size: int) -> tuple[Tensor, Tensor]:
        bin_size = (length / pooled)[:, None]  # [K, 1]
        p = torch.arange(pooled, dtype=r.dtype, device=r.device)  # [P]
        lo = torch.floor(p * bin_size) + start[:, None]  # 3. floor of each bin's start ...
        hi = torch.ceil((p + 1) * bin_size) + start[:, None]  # ... and ceil of its end
        return lo.clamp(0, size).long(), hi.clamp(0, size).long()  # [K, P]

    hstart, hend = bins(start_h, roi_h, ph, height)
    wstart, wend = bins(start_w, roi_w, pw, width)
    return hstart, hend, wstart, wend


def roi_pool(input: Tensor, boxes, output_size, spatial_scale: float = 1.0) -> Tensor:
    """RoIPool, equal to ``torchvision.ops.roi_pool`` (values, and gradients: each output takes the
    first maximum of its bin in row-major order, and the gradient flows to it alone).

    Args:
        input (Tensor[B, C, H, W]): the feature map.
        boxes (Tensor[K, 5] or list of Tensor[L, 4]): (batch index, x1, y1, x2, y2) rows, or one box
            tensor per image, in image coordinates.
        output_size (int or (h, w)): the pooled size (H_o, W_o).
        spatial_scale: feature-map pixels per image pixel (1 / 16 for a stride-16 backbone).

    Returns:
        Tensor[K, C, H_o, W_o]; an empty bin (outside the map) gives 0.
    """
    input, rois, ph, pw, scale = _check(input, boxes, output_size, spatial_scale)
    K, (C, H, W) = rois.shape[0], input.shape[1:]
    out = input.new_zeros(K, C, ph, pw)
    if K == 0:
        return out
    hstart, hend, wstart, wend = roi_pool_bins(rois, (ph, pw), scale, H, W)
    bh = (hend - hstart).max(1).values  # [K] the tallest bin of each RoI
    bw = (wend - wstart).max(1).values
    # RoIs whose bins share a size are pooled together: gather their [bh, bw] windows, mask the
    # cells outside each bin, take the max
    for sh, sw in torch.unique(torch.stack([bh, bw], 1), dim=0).tolist():
        sel = torch.nonzero((bh == sh) & (bw == sw)).flatten()
        if sh == 0 or sw == 0:
            continue  # every bin empty: zeros
        rows = hstart[sel, :, None] + torch.arange(sh)  # [k, ph, sh]
        cols = wstart[sel, :, None] + torch.arange(sw)  # [k, pw, sw]
        row_ok, col_ok = rows < hend[sel, :, None], cols < wend[sel, :, None]
        image = rois[sel, 0].long()[:, None, None, None, None]
        windows = input[
            image, :, rows.clamp(max=H - 1)[:, :, :, None, None], cols.clamp(max=W - 1)[:, None, None, :, :]
        ]  # [k, ph, sh, pw, sw, C]
        ok = (row_ok[:, :, :, None, None] & col_ok[:, None, None, :, :])[..., None]
        windows = windows.masked_fill(~ok, float("-inf"))
        windows = windows.permute(0, 5, 1, 3, 2, 4).flatten(4)  # [k, C, ph, pw, sh * sw] row-major
        best = windows.max(dim=-1).values  # torch.max takes the first maximum, as the C++ loop does
        bin_empty = (hend[sel] <= hstart[sel])[:, :, None] | (wend[sel] <= wstart[sel])[:, None, :]
        out[sel] = best.masked_fill(bin_empty[:, None], 0.0)
    return out


# ------------------------------------------------------------------------------------ RoIAlign
def roi_align_samples(
    rois: Tensor, output_size, spatial_scale: float = 1.0, sampling_ratio: int = -1, aligned: bool = False
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Where RoIAlign samples: per RoI, the y of each bin row's samples and the x of each bin
    column's samples (the sample points of bin (i, j) are all pairs of ``y[k, i]`` and ``x[k, j]``).

    Returns:
        ``y`` [K, H_o, G_y], ``x`` [K, W_o, G_x], and the number of samples per bin along each axis
        ``grid_h``, ``grid_w`` (int64 [K]); entries beyond a RoI's own grid count are padding.
    """
    ph, pw = _pair("output_size", output_size)
    dtype = rois.dtype
    offset = 0.5 if aligned else 0.0  # aligned: pixel centres sit at +0.5, so shift back
    x1, y1 = rois[:, 1] * spatial_scale - offset, rois[:, 2] * spatial_scale - offset
    x2, y2 = rois[:, 3] * spatial_scale - offset, rois[:, 4] * spatial_scale - offset
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:  # the legacy behaviour: a RoI is at least 1 x 1
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    bin_h, bin_w = roi_h / ph, roi_w / pw

    def grid(length: Tensor, pooled: int) -> Tensor:
        if sampling_ratio > 0:
            return torch.full(length.shape, sampling_ratio, dtype=torch.int64, device=length.device)
        return torch.ceil(length / pooled).long()

    grid_h, grid_w = grid(roi_h, ph), grid(roi_w, pw)

    def samples(start: Tensor, bin_size: Tensor, grid_n: Tensor, pooled: int) -> Tensor:
        g_max = int(grid_n.max()) if grid_n.numel() else 0
        p = torch.arange(pooled, dtype=dtype)[None, :, None]  # [1, P, 1]
        i = torch.arange(g_max, dtype=dtype)[None, None, :]  # [1, 1, G]
        b, n = bin_size[:, None, None], grid_n.clamp(min=1).to(dtype)[:, None, None]  # 0: no samples
        # the bin's start, then (i + 0.5) sample spacings into it (torchvision's order of operations)
        return start[:, None, None] + p * b + (i + 0.5) * b / n

    return samples(y1, bin_h, grid_h, ph), samples(x1, bin_w, grid_w, pw), grid_h, grid_w


def _interpolation_matrix(coords: Tensor, grid_n: Tensor, size: int) -> Tensor:
    """[K, P, size]: row p averages the bilinear weights of bin p's samples along one axis."""
    K, P, G = coords.shape
    inside = (coords >= -1.0) & (coords <= size)  # a sample further out reads 0
    used = torch.arange(G) < grid_n[:, None, None]  # [K, 1, G] padding samples read nothing
    c = coords.clamp(min=0)
    low = c.floor().long()  # the C++ int cast, on c >= 0
    edge = low >= size - 1  # at the last row: both neighbours are that row
    low = torch.where(edge, size - 1, low)
    high = torch.where(edge, size - 1, low + 1)
    frac = torch.where(edge, torch.zeros_like(c), c - low.to(c.dtype))  # distance to the low row
    weight = (inside & used).to(c.dtype) / grid_n.clamp(min=1).to(c.dtype)[:, None, None]
    matrix = coords.new_zeros(K, P, size)
    matrix.scatter_add_(2, low.flatten(2), ((1 - frac) * weight).flatten(2))
    matrix.scatter_add_(2, high.flatten(2), (frac * weight).flatten(2))
    return matrix


def roi_align(
    input: Tensor,
    boxes,
    output_size,
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Tensor:
    """RoIAlign, equal to ``torchvision.ops.roi_align`` in value and gradient.

    Args:
        input (Tensor[B, C, H, W]): the feature map.
        boxes (Tensor[K, 5] or list of Tensor[L, 4]): RoIs in image coordinates, as for ``roi_pool``.
        output_size (int or (h, w)): (H_o, W_o).
        spatial_scale: feature-map pixels per image pixel.
        sampling_ratio: samples per bin along each axis; <= 0: ``ceil(RoI size / output size)``.
        aligned: shift the RoI by -0.5 pixel so that sample points fall where pixel centres are
            (the corrected version; False is the original Mask R-CNN behaviour).

    Returns:
        Tensor[K, C, H_o, W_o].
    """
    input, rois, ph, pw, scale = _check(input, boxes, output_size, spatial_scale)
    check_int("sampling_ratio", sampling_ratio)
    check_bool("aligned", aligned)
    K, (C, H, W) = rois.shape[0], input.shape[1:]
    out = input.new_zeros(K, C, ph, pw)
    if K == 0:
        return out
    y, x, grid_h, grid_w = roi_align_samples(rois.to(input.dtype), (ph, pw), scale, sampling_ratio, aligned)
    a_y = _interpolation_matrix(y, grid_h, H)  # [K, ph, H]
    a_x = _interpolation_matrix(x, grid_w, W)  # [K, pw, W]
    image = rois[:, 0].long()
    parts = []
    for b in torch.unique(image).tolist():  # one pair of matrix products per image
        sel = torch.nonzero(image == b).flatten()
        k = len(sel)
        feature = input[b].permute(1, 0, 2).reshape(H, C * W)  # [H, C * W]
        rows = (a_y[sel].reshape(k * ph, H) @ feature).reshape(k, ph * C, W)  # A_y X: [k, ph * C, W]
        pooled = rows @ a_x[sel].transpose(1, 2)  # (A_y X) A_x^T: [k, ph * C, pw]
        parts.append((sel, pooled.reshape(k, ph, C, pw).permute(0, 2, 1, 3)))  # [k, C, ph, pw]
    for sel, pooled in parts:
        out = out.index_copy(0, sel, pooled)
    return out
