r"""Receptive fields of convolution stacks, dilated convolutions and their cost (notes 5.1.5).

A stack of layers ``(kernel k, stride s, dilation d)`` sees, from one output pixel, an input square of
side

.. math::
    r_L = 1 + \sum_{l=1}^{L} d_l (k_l - 1) \prod_{m < l} s_m ,

so stride multiplies the growth of everything after it and dilation multiplies one layer's.
3x3 layers with dilations :math:`1, 2, 4, \dots, 2^{l-1}` reach :math:`2^{l+1} - 1` after ``l`` layers
(exponential growth, linear parameters, unchanged resolution). ``measured_receptive_field`` checks
the formula on real ``nn.Conv2d`` layers through the gradient of one output pixel; ``touched_pixels``
shows the *gridding* holes of equal dilations; ``conv_cost`` counts a network's multiply-adds and
activation memory with forward hooks (on the meta device: no arithmetic is done), checked against
``torch.utils.flop_counter``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cvcourse._checks import check_int, check_type

__all__ = [
    "receptive_field",
    "receptive_field_table",
    "exponential_dilations",
    "conv_stack",
    "measured_receptive_field",
    "touched_pixels",
    "conv_cost",
    "valid_tap_fraction",
    "valid_unet_sizes",
]

Layer = tuple[int, int, int]  # (kernel, stride, dilation)


def _layers(layers: Sequence) -> list[Layer]:
    check_type("layers", layers, (list, tuple), "a list of (kernel, stride, dilation) tuples")
    out = []
    for i, layer in enumerate(layers):
        check_type(f"layers[{i}]", layer, (list, tuple), "a (kernel, stride, dilation) tuple")
        if len(layer) != 3:
            raise ValueError(f"layers[{i}] must be (kernel, stride, dilation), got {len(layer)} values")
        k, s, d = (check_int(f"layers[{i}][{j}]", v, low=1) for j, v in enumerate(layer))
        out.append((k, s, d))
    return out


def receptive_field_table(layers: Sequence) -> list[dict[str, int]]:
    r"""Layer by layer: the effective kernel :math:`d (k - 1) + 1`, the jump (distance in input
    pixels between neighbouring outputs, the product of the strides so far) and the receptive field.

    Returns:
        one dict per layer: ``kernel``, ``stride``, ``dilation``, ``effective_kernel``, ``jump``, ``rf``.
    """
    rf, jump, rows = 1, 1, []
    for k, s, d in _layers(layers):
        effective = d * (k - 1) + 1
        rf += (effective - 1) * jump  # this layer widens the view by (k_eff - 1) steps of the jump so far
        jump *= s
        rows.append(
            {"kernel": k, "stride": s, "dilation": d, "effective_kernel": effective, "jump": jump, "rf": rf}
        )
    return rows


def receptive_field(layers: Sequence) -> int:
    """The receptive field (side in input pixels) of one output pixel of the stack (1 for no layer)."""
    table = receptive_field_table(layers)
    return table[-1]["rf"] if table else 1


def exponential_dilations(levels: int, kernel: int = 3) -> list[Layer]:
    """The notes' stack: ``levels`` stride-1 ``kernel x kernel`` layers with dilations 1, 2, 4, ..."""
    levels, kernel = check_int("levels", levels, low=1), check_int("kernel", kernel, low=1)
    return [(kernel, 1, 2**i) for i in range(levels)]


def conv_stack(layers: Sequence, dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """Real single-channel ``nn.Conv2d`` layers for ``layers``: weights 1 (so no tap can cancel
    another), no bias, 'same' padding ``d (k - 1) // 2``."""
    convs = []
    for k, s, d in _layers(layers):
        conv = nn.Conv2d(1, 1, k, stride=s, dilation=d, padding=d * (k - 1) // 2, bias=False, dtype=dtype)
        nn.init.ones_(conv.weight)
        convs.append(conv)
    return nn.Sequential(*convs)


def touched_pixels(model: nn.Module, input_size: int) -> Tensor:
    r"""Which input pixels one central output pixel depends on: the non-zero entries of
    :math:`\partial y_{centre} / \partial x` (a bool ``[input_size, input_size]`` map).

    For a stack with all-positive weights this is exactly the set the taps reach: a dilated stack
    with equal rates leaves holes in its square (gridding); dilations 1, 2, 4 fill it.
    """
    check_type("model", model, nn.Module, "an nn.Module of single-channel convolutions")
    n = check_int("input_size", input_size, low=1)
    p = next(model.parameters())
    x = torch.zeros(1, 1, n, n, dtype=p.dtype, requires_grad=True)
    y = model(x)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    return x.grad[0, 0] != 0


def measured_receptive_field(model: nn.Module, input_size: int) -> int:
    """The side of the bounding square of ``touched_pixels``: the receptive field measured on the
    layers themselves (choose ``input_size`` larger than the field, or it is cut)."""
    touched = touched_pixels(model, input_size)
    rows, cols = touched.any(1).nonzero(), touched.any(0).nonzero()
    return int(max(rows.max() - rows.min(), cols.max() - cols.min())) + 1


def conv_cost(model: nn.Module, image_size: int, batch: int = 1) -> dict[str, float]:
    r"""Multiply-adds of every ``nn.Conv2d`` and ``nn.Linear``, and the memory of every conv's
    output activation, for one forward pass on ``[batch, 3, image_size, image_size]``.

    A convolution costs :math:`C_{out} H_{out} W_{out} \cdot (C_{in} / g) \, k_h k_w` multiply-adds;
    its output holds :math:`C_{out} H_{out} W_{out}` numbers. The pass runs on the ``meta`` device
    (shapes only, nothing computed), on a copy of ``model``.

    Returns:
        ``{"gmacs", "activation_mib" (float32 conv outputs, all kept as for training), "out_h",
        "out_w" (of the last conv)}``.
    """
    check_type("model", model, nn.Module, "an nn.Module")
    size, batch = check_int("image_size", image_size, low=1), check_int("batch", batch, low=1)
    import copy

    meta = copy.deepcopy(model).to("meta").eval()
    totals = {"macs": 0, "activations": 0, "out": (0, 0)}

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            totals["macs"] += output.numel() * (module.in_channels // module.groups) * kh * kw
            totals["activations"] += output.numel()
            totals["out"] = tuple(output.shape[-2:])
        else:
            totals["macs"] += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in meta.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            meta(torch.zeros(batch, 3, size, size, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return {
        "gmacs": totals["macs"] / 1e9,
        "activation_mib": totals["activations"] * 4 / 2**20,
        "out_h": totals["out"][0],
        "out_w": totals["out"][1],
    }


def valid_tap_fraction(size: int, rate: int, kernel: int = 3) -> float:
    r"""The fraction of a dilated ``kernel x kernel`` convolution's taps that land inside a
    ``size x size`` map ('same' zero padding), averaged over the map's pixels (appendix 5.A.1: as
    the rate grows, fewer weights see the image; at rate :math:`\ge` ``size`` only the centre does)."""
    size, rate, kernel = (
        check_int("size", size, low=1),
        check_int("rate", rate, low=1),
        check_int("kernel", kernel, low=1),
    )
    pos = torch.arange(size)
    offsets = (torch.arange(kernel) - kernel // 2) * rate
    inside = ((pos[:, None] + offsets[None, :]) >= 0) & (
        (pos[:, None] + offsets[None, :]) < size
    )  # [size, k]
    per_axis = inside.double().mean(1)  # fraction of the k taps inside, per row (or column)
    return float(per_axis.mean() ** 2)  # rows and columns are independent: the 2-D fraction is the product


def valid_unet_sizes(input_size: int = 572, depth: int = 4) -> list[tuple[str, int]]:
    """The feature-map sides of the original U-Net (valid 3x3 convs: -2 each; 2x2 pools; 2x2 up-convs),
    from ``input_size``: 572 gives the paper's 388 output, hence the overlap-tile strategy.

    Returns:
        ``[(stage name, side), ...]`` ending with ``("output", side)``.
    """
    n, depth = check_int("input_size", input_size, low=1), check_int("depth", depth, low=1)
    sizes = [("input", n)]
    for level in range(depth):
        n -= 4  # two valid 3x3 convs
        sizes.append((f"encoder {level + 1}", n))
        if n % 2:
            raise ValueError(f"input_size {input_size} gives an odd map ({n}) before pooling {level + 1}")
        n //= 2
    n -= 4
    sizes.append(("bottleneck", n))
    for level in range(depth):
        n = 2 * n - 4  # up-convolution, then two valid 3x3 convs
        sizes.append((f"decoder {depth - level}", n))
    sizes.append(("output", n))
    if n < 1:
        raise ValueError(f"input_size {input_size} is too small for depth {depth}")
    return sizes
