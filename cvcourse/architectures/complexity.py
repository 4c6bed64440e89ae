r"""How big is a network: parameters, FLOPs, per-stage summaries and receptive fields.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (the authority), which counts
one multiply-add as **2 FLOPs** and only counts matrix products and convolutions (BatchNorm, ReLU,
pooling and additions are ignored, as in most papers). A convolution with C_in -> C_out channels,
a k x k kernel, G groups and an H x W output costs

.. math:: \text{FLOPs} = 2 \cdot H W \cdot C_{out} \cdot \frac{C_{in}}{G} k^2

(``conv_flops``) and has :math:`C_{out} \frac{C_{in}}{G} k^2` (+ C_out bias) parameters
(``conv_params``): G times fewer with G groups (notes, section 2.3). torchvision's model cards list
"GFLOPS" that are multiply-adds, i.e. ``count_flops(...) / 2``.

Counting runs on PyTorch's ``meta`` device by default: shapes are propagated and operations
counted without computing anything, so ResNet-50 at 224 px takes milliseconds.

Receptive field of a chain of layers with kernels :math:`k_l`, strides :math:`s_l` and dilations
:math:`d_l` (Araujo et al., "Computing Receptive Fields of Convolutional Neural Networks",
Distill 2019, https://distill.pub/2019/computing-receptive-fields/):

.. math:: r = 1 + \sum_{l=1}^{L} d_l (k_l - 1) \prod_{i<l} s_i
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cvcourse._checks import check_bool, check_int, check_type

__all__ = [
    "count_parameters",
    "count_flops",
    "conv_params",
    "conv_flops",
    "StageRow",
    "stage_summary",
    "default_stages",
    "format_rows",
    "receptive_field",
    "empirical_receptive_field",
    "receptive_region",
]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalars in the model's parameters (optionally only ``requires_grad`` ones)."""
    check_type("model", model, nn.Module, "a torch.nn.Module")
    check_bool("trainable_only", trainable_only)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _check_input_size(input_size: Sequence[int]) -> tuple[int, ...]:
    check_type("input_size", input_size, (tuple, list), "a tuple of ints like (1, 3, 224, 224)")
    if len(input_size) == 0:
        raise ValueError("input_size must be a tuple of ints like (1, 3, 224, 224), got an empty one")
    return tuple(check_int(f"input_size[{i}]", s, low=1) for i, s in enumerate(input_size))


def _on_meta(model: nn.Module, meta: bool) -> nn.Module:
    # a copy on the meta device: counting there needs no memory and no arithmetic
    return copy.deepcopy(model).to("meta") if meta else model


def count_flops(model: nn.Module, input_size: Sequence[int] = (1, 3, 224, 224), meta: bool = True) -> int:
    """FLOPs (2 per multiply-add) of one forward pass in eval mode, via ``FlopCounterMode``.

    Args:
        model: any module taking one tensor.
        input_size: shape of the input tensor, e.g. ``(1, 3, 224, 224)``.
        meta: count on a meta-device copy (fast, no memory); False runs the real model.

    Returns:
        The total FLOP count as an int.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    size = _check_input_size(input_size)
    check_bool("meta", meta)
    net = _on_meta(model, meta)
    was_training = net.training
    net.eval()
    dev = "meta" if meta else next((p.device for p in net.parameters()), torch.device("cpu"))
    dtype = next((p.dtype for p in net.parameters()), torch.float32)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(torch.zeros(size, device=dev, dtype=dtype))
    finally:
        net.train(was_training)
    return int(counter.get_total_flops())


def conv_params(c_in: int, c_out: int, k: int, groups: int = 1, bias: bool = False) -> int:
    """Parameters of a k x k convolution: ``c_out * (c_in / groups) * k * k`` (+ ``c_out`` bias)."""
    for name, value in (("c_in", c_in), ("c_out", c_out), ("k", k), ("groups", groups)):
        check_int(name, value, low=1)
    check_bool("bias", bias)
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide c_in={c_in} and c_out={c_out}")
    return c_out * (c_in // groups) * k * k + (c_out if bias else 0)


def conv_flops(c_in: int, c_out: int, k: int, h_out: int, w_out: int, groups: int = 1) -> int:
    """FLOPs of a k x k convolution: ``2 * h_out * w_out * c_out * (c_in / groups) * k * k``."""
    check_int("h_out", h_out, low=0)
    check_int("w_out", w_out, low=0)
    return 2 * h_out * w_out * conv_params(c_in, c_out, k, groups)


@dataclass
class StageRow:
    """One row of a per-stage summary."""

    name: str
    output_shape: tuple[int, ...]
    params: int
    flops: int


def default_stages(model: nn.Module) -> list[str]:
    """The module paths summarised by default: the children of ``features`` (MobileNet,
    EfficientNet) followed by the other top-level children, else the top-level children."""
    names = []
    for name, child in model.named_children():
        if child is None:
            continue
        if name == "features" and isinstance(child, nn.Sequential):
            names += [f"features.{n}" for n, _ in child.named_children()]
        else:
            names.append(name)
    return names


def stage_summary(
    model: nn.Module,
    input_size: Sequence[int] = (1, 3, 224, 224),
    stages: Sequence[str] | None = None,
    meta: bool = True,
) -> list[StageRow]:
    """Output shape, parameters and FLOPs of each stage (a named sub-module) in eval mode.

    A forward hook catches each stage's input and output; the stage's FLOPs are then counted by
    running it alone on the caught input under ``FlopCounterMode``.

    Args:
        model: the network.
        input_size: shape of the input, e.g. ``(1, 3, 224, 224)``.
        stages: dotted module names (``"layer1"``, ``"features.3"``); default ``default_stages``.
        meta: run on a meta-device copy (shapes and counts only).

    Returns:
        One ``StageRow`` per stage, in the order given (stages never called are left out).
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    size = _check_input_size(input_size)
    if stages is not None:
        check_type("stages", stages, (list, tuple), "a list of module names or None")
    check_bool("meta", meta)
    net = _on_meta(model, meta)
    was_training = net.training
    net.eval()
    try:
        return _stage_rows(net, size, stages, meta)
    finally:
        net.train(was_training)


def _stage_rows(
    net: nn.Module, size: tuple[int, ...], stages: Sequence[str] | None, meta: bool
) -> list[StageRow]:
    modules = dict(net.named_modules())
    names = list(stages) if stages is not None else default_stages(net)
    missing = [n for n in names if n not in modules]
    if missing:
        raise ValueError(f"stages must name sub-modules of the model, unknown: {missing}")
    caught: dict[str, tuple] = {}

    def catch(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if name not in caught:  # clone: later in-place ops must not change what we keep
                caught[name] = (tuple(t.clone() for t in inputs), output)

        return hook

    hooks = [modules[n].register_forward_hook(catch(n)) for n in names]
    dev = "meta" if meta else next((p.device for p in net.parameters()), torch.device("cpu"))
    try:
        with torch.no_grad():
            net(torch.zeros(size, device=dev))
    finally:
        for h in hooks:
            h.remove()
    rows = []
    for n in names:
        if n not in caught:
            continue
        inp, out = caught[n]
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            modules[n](*inp)
        rows.append(
            StageRow(n, tuple(out.shape), count_parameters(modules[n]), int(counter.get_total_flops()))
        )
    return rows


def format_rows(rows: Sequence[StageRow]) -> str:
    """A plain-text table of stage rows with a total line, for printing in a notebook."""
    lines = [f"{'stage':<14}{'output shape':<22}{'parameters':>14}{'MFLOPs':>12}"]
    for r in rows:
        lines.append(f"{r.name:<14}{str(list(r.output_shape)):<22}{r.params:>14,}{r.flops / 1e6:>12,.1f}")
    lines.append(f"{'total':<36}{sum(r.params for r in rows):>14,}{sum(r.flops for r in rows) / 1e6:>12,.1f}")
    return "\n".join(lines)


def receptive_field(layers: Sequence[tuple[int, int] | tuple[int, int, int]]) -> int:
    r"""Receptive field (in input pixels, along one axis) of a chain of conv/pool layers.

    Args:
        layers: ``(kernel, stride)`` or ``(kernel, stride, dilation)`` per layer, input first.

    Returns:
        :math:`r = 1 + \sum_l d_l (k_l - 1) \prod_{i<l} s_i`.
    """
    check_type("layers", layers, (list, tuple), "a list of (kernel, stride[, dilation])")
    r, jump = 1, 1  # jump = product of the strides before the current layer
    for i, layer in enumerate(layers):
        check_type(f"layers[{i}]", layer, (tuple, list), "a tuple (kernel, stride[, dilation])")
        if len(layer) not in (2, 3):
            raise ValueError(f"layers[{i}] must be (kernel, stride[, dilation]), got {layer!r}")
        with_dilation = (*layer, 1)[:3]  # dilation 1 when not given
        k, s, d = (check_int(f"layers[{i}][{j}]", v, low=1) for j, v in enumerate(with_dilation))
        r += d * (k - 1) * jump
        jump *= s
    return r


def empirical_receptive_field(model: nn.Module, input_size: Sequence[int] = (1, 1, 64, 64)) -> int:
    """Measure the receptive field: the width of the input region whose pixels change the centre
    output pixel (non-zero gradient), along the height axis.

    Weights should be positive (or generic) so that no contributions cancel exactly.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    size = _check_input_size(input_size)
    if len(size) != 4:
        raise ValueError(f"input_size must be (B, C, H, W), got {size}")
    dtype = next((p.dtype for p in model.parameters()), torch.float64)
    x = torch.ones(size, dtype=dtype, requires_grad=True)
    y = model(x)  # [B, C, H', W']
    y[0, :, y.shape[2] // 2, y.shape[3] // 2].sum().backward()
    rows = torch.nonzero(x.grad[0].abs().sum(dim=(0, 2)))  # input rows that reach the centre
    if rows.numel() == 0:
        return 0
    return int(rows.max() - rows.min() + 1)


def receptive_region(model: nn.Module, input_size: Sequence[int] = (1, 1, 15, 15)) -> torch.Tensor:
    """The 2-D set of input pixels that reach the centre output pixel (non-zero gradient).

    Unlike ``receptive_field`` (one axis of a chain of layers), this tells a 1x7 then 7x1 pair from
    a 7x7: both give a full 7 x 7 square, while a 1x7 alone gives a 1 x 7 bar.

    Returns:
        BoolTensor[H, W]: True where an input pixel influences the centre output pixel.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    size = _check_input_size(input_size)
    if len(size) != 4:
        raise ValueError(f"input_size must be (B, C, H, W), got {size}")
    dtype = next((p.dtype for p in model.parameters()), torch.float64)
    x = torch.ones(size, dtype=dtype, requires_grad=True)
    y = model(x)  # [B, C, H', W']
    y[0, :, y.shape[2] // 2, y.shape[3] // 2].sum().backward()
    return x.grad[0].abs().sum(dim=0) > 0
