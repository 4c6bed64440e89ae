r"""What the chapter's two explorers show, as pure functions (``widgets.py`` draws them).

* ``receptive_field_view``: a stack of convolutions (depth, kernel, dilation schedule, stride) ->
  how many paths lead from each input pixel of a ``GRID x GRID`` grid to the centre output pixel
  (the gradient of that pixel through real ``nn.Conv2d`` layers with weights 1: 0 = not seen), the
  receptive field by the formula and the layer table.
* ``upsampling_view``: an input grid, a method and a scale -> the output grid of that upsampler.
"""

from __future__ import annotations

import torch

from cvcourse._checks import check_choice, check_int

from .receptive_field import conv_stack, receptive_field_table
from .upsampling import (
    bed_of_nails,
    bilinear_transposed_conv,
    bilinear_upsample,
    max_unpool,
    nearest_upsample,
    pixel_shuffle,
)

__all__ = [
    "GRID",
    "SCHEDULES",
    "INPUTS",
    "METHODS",
    "dilations",
    "receptive_field_view",
    "upsampling_view",
]

GRID = 65  # input grid of the receptive-field explorer (the centre, 32, is divisible by 2**5)
SCHEDULES = (
    "none: 1, 1, 1, ...",
    "exponential: 1, 2, 4, ...",
    "constant: 2, 2, 2, ...",
    "hybrid: 1, 2, 3, 1, 2, 3",
)


def dilations(schedule: str, depth: int) -> list[int]:
    """The dilation of each of ``depth`` layers under one of ``SCHEDULES``."""
    check_choice("schedule", schedule, SCHEDULES)
    depth = check_int("depth", depth, low=1)
    kind = schedule.split(":")[0]
    rule = {
        "none": lambda i: 1,
        "exponential": lambda i: 2**i,
        "constant": lambda i: 2,
        "hybrid": lambda i: i % 3 + 1,  # HDC (Wang et al. 2018): rates without a common factor
    }[kind]
    return [rule(i) for i in range(depth)]


def receptive_field_view(depth: int, kernel: int, schedule: str, stride: int) -> dict:
    """The receptive field of ``depth`` layers (``kernel``, dilations of ``schedule``, ``stride`` in
    every layer) on a ``GRID x GRID`` input.

    Returns:
        ``counts`` (Tensor[GRID, GRID] float64, the number of paths from each input pixel to the
        output pixel over the grid's centre), ``rf`` (the formula's side), ``measured`` (side of the
        square of pixels with counts > 0, cut at the grid), ``seen`` (pixels with counts > 0),
        ``table`` (receptive_field_table), ``layers``.
    """
    depth, kernel = check_int("depth", depth, low=1, high=6), check_int("kernel", kernel, low=1, high=9)
    stride = check_int("stride", stride, low=1, high=2)
    if kernel % 2 == 0:
        raise ValueError(f"kernel must be odd (a centre pixel), got {kernel}")
    layers = [(kernel, stride, d) for d in dilations(schedule, depth)]
    model = conv_stack(layers)
    x = torch.zeros(1, 1, GRID, GRID, dtype=torch.float64, requires_grad=True)
    y = model(x)
    centre = (GRID // 2) // stride**depth  # the output pixel over input pixel (32, 32)
    y[0, 0, centre, centre].backward()
    counts = x.grad[0, 0].detach()
    seen = counts > 0
    rows, cols = seen.any(1).nonzero(), seen.any(0).nonzero()
    measured = int(max(rows.max() - rows.min(), cols.max() - cols.min())) + 1
    table = receptive_field_table(layers)
    return {
        "counts": counts,
        "rf": table[-1]["rf"],
        "measured": measured,
        "seen": int(seen.sum()),
        "table": table,
        "layers": layers,
    }


INPUTS = {  # 2 x 2 grids: at scale 3 the output is 6 x 6 numbers, few enough to redraw quickly
    "slide 2x2: 10, 20, 30, 40": torch.tensor([[10.0, 20.0], [30.0, 40.0]]),
    "slide 2x2: 1, 2, 3, 4": torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
    "2x2 one bright pixel": torch.tensor([[0.0, 0.0], [0.0, 9.0]]),
    "2x2 constant (checkerboard test)": torch.ones(2, 2),
}
METHODS = (
    "nearest",
    "bilinear",
    "bed of nails",
    "max unpooling",
    "transposed conv (bilinear init)",
    "transposed conv (ones, k = s + 1)",
    "pixel shuffle",
)


def _unpool_indices(h: int, w: int, scale: int) -> torch.Tensor:
    """Where the encoder's max pooling found each maximum: a fixed pseudo-random cell of each block."""
    g = torch.Generator().manual_seed(7 * scale + h)
    dy, dx = torch.randint(0, scale, (h, w), generator=g), torch.randint(0, scale, (h, w), generator=g)
    rows = torch.arange(h)[:, None] * scale + dy
    cols = torch.arange(w)[None, :] * scale + dx
    return rows * (w * scale) + cols


def upsampling_view(grid: str, method: str, scale: int) -> dict:
    """One upsampler applied to one of ``INPUTS``.

    Returns:
        ``input`` (Tensor[h, w], the grid shown on the left), ``output`` (Tensor[h s, w s], float64),
        ``note`` (one line on what the method does with these numbers).
    """
    check_choice("grid", grid, INPUTS)
    check_choice("method", method, METHODS)
    s = check_int("scale", scale, low=2, high=3)
    x = INPUTS[grid].to(torch.float64)
    h, w = x.shape
    x4 = x[None, None]
    if method == "nearest":
        out, note = nearest_upsample(x4, s), "each value copied into its s x s block"
    elif method == "bilinear":
        out, note = bilinear_upsample(x4, s), "align_corners=False; the slide truncates it to integers"
    elif method == "bed of nails":
        out, note = bed_of_nails(x4, s), "each value at its block's top-left corner, zeros elsewhere"
    elif method == "max unpooling":
        idx = _unpool_indices(h, w, s)[None, None]
        out, note = max_unpool(x4, idx, (h * s, w * s)), "each value back where the pooling found its maximum"
    elif method == "transposed conv (bilinear init)":
        k = 2 * s - s % 2
        out, note = (
            bilinear_transposed_conv(x4, s),
            f"kernel bilinear_kernel({k}), stride {s}: borders darker (padding)",
        )
    elif method == "transposed conv (ones, k = s + 1)":
        # a kernel of ones one pixel wider than the stride: 1, 2 or 4 copies overlap at a pixel
        weight = torch.ones(1, 1, s + 1, s + 1, dtype=torch.float64)
        out = torch.nn.functional.conv_transpose2d(x4, weight, stride=s, padding=1, output_padding=1)
        note = "overlapping kernel copies add up: a checkerboard, even on a constant input"
    else:  # pixel shuffle: the input has s^2 channels, channel k = grid + k
        channels = torch.stack([x + k for k in range(s * s)])[None]
        out = pixel_shuffle(channels, s)
        note = f"{s * s} input channels (channel k = grid + k) become each {s} x {s} block"
    return {"input": x, "output": out[0, 0], "note": note}
