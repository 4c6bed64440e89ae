r"""Table 4.1 recomputed: the FLOPs of R-CNN vs Fast R-CNN with AlexNet (section 4.3.2 of the notes).

=========== ================== ==============
             Conv FLOPs         FF FLOPs
=========== ================== ==============
R-CNN        n x 2154 M         n x 117 M
Fast R-CNN   16 310 M           n x 117 M
=========== ================== ==============

Counting convention that gives the notes' numbers exactly: **2 FLOPs per multiply-accumulate plus
1 per bias** (a convolution output costs :math:`2\,C_{in} k^2 + 1`, a linear output :math:`2\,d_{in} + 1`),
on AlexNet as Krizhevsky et al. (2012) describe it, with a single tower (no ``groups``): convolutions of
96, 256, 384, 384 and 256 channels, the first without padding, on a 227 x 227 crop
(``alexnet_2012``): 2,153.9 M conv FLOPs. The fully connected part, 9216 -> 4096 -> 4096 -> 1000, is
torchvision's ``AlexNet.classifier`` unchanged: 117.3 M. torchvision's own ``alexnet()`` is the
narrower "one weird trick" variant (64, 192, 384, 256, 256 channels, https://arxiv.org/abs/1404.5997):
1,316.8 M conv FLOPs per 227 x 227 crop under the same convention.

No image size gives exactly 16,310 M for the shared convolutional pass: squares of side 603-606 give
16,307.4 M (-0.02 %), sides 607-610 give 16,328.3 M (``shared_pass_size``).
"""

from __future__ import annotations

import copy

import torch
import torchvision
from torch import nn

from cvcourse._checks import check_float, check_int, check_type

__all__ = ["alexnet_2012", "count_flops", "rcnn_table", "shared_pass_size"]


def alexnet_2012() -> torchvision.models.AlexNet:
    """torchvision's ``AlexNet`` with the layer widths of Krizhevsky et al. 2012 (one tower), no weights.

    Built on PyTorch's ``meta`` device: shapes only, no memory. The classifier (and so the FF FLOPs) is
    torchvision's unchanged.
    """
    with torch.device("meta"):
        model = torchvision.models.alexnet(weights=None)
        f = model.features  # same indices as torchvision: conv at 0, 3, 6, 8, 10
        f[0] = nn.Conv2d(3, 96, kernel_size=11, stride=4, padding=0)  # 227 -> 55, as in the paper
        f[3] = nn.Conv2d(96, 256, kernel_size=5, padding=2)
        f[6] = nn.Conv2d(256, 384, kernel_size=3, padding=1)
        f[8] = nn.Conv2d(384, 384, kernel_size=3, padding=1)
        f[10] = nn.Conv2d(384, 256, kernel_size=3, padding=1)
    return model


def count_flops(model: nn.Module, height: int, width: int) -> dict[str, int]:
    r"""FLOPs of one forward pass, split into convolutions and fully connected (FF) layers.

    Convention (the notes'): a convolution with :math:`C_{out} H_o W_o` outputs costs
    :math:`C_{out} H_o W_o (2 C_{in} k_h k_w / g + 1)` (multiply and add per weight, one add per bias);
    a linear layer :math:`d_{out} (2 d_{in} + 1)`. Pooling and ReLU are not counted. The model runs on
    the ``meta`` device (forward hooks read the output shapes).

    Args:
        model: an ``nn.Module`` (built on ``meta`` or anywhere else; it is not changed).
        height, width: the input image size.

    Returns:
        ``{"conv": ..., "ff": ..., "conv_macs": ..., "ff_macs": ...}`` (ints).
    """
    check_type("model", model, nn.Module, "an nn.Module")
    height, width = check_int("height", height, low=1), check_int("width", width, low=1)
    counts = {"conv": 0, "ff": 0, "conv_macs": 0, "ff_macs": 0}

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs = output.numel() * module.in_channels // module.groups * kh * kw
            counts["conv_macs"] += macs
            counts["conv"] += 2 * macs + (output.numel() if module.bias is not None else 0)
        elif isinstance(module, nn.Linear):
            macs = output.numel() * module.in_features
            counts["ff_macs"] += macs
            counts["ff"] += 2 * macs + (output.numel() if module.bias is not None else 0)

    # a copy on meta: shapes only, and the caller's model keeps its weights and device
    meta = model if next(model.parameters()).device.type == "meta" else copy.deepcopy(model).to("meta")
    handles = [m.register_forward_hook(hook) for m in meta.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            meta(torch.zeros(1, 3, height, width, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return counts


def rcnn_table(
    n: int, model: nn.Module | None = None, crop: int = 227, image: tuple[int, int] = (605, 605)
) -> dict[str, dict[str, int]]:
    """Table 4.1 for ``n`` proposals: R-CNN runs the whole CNN on every warped crop; Fast R-CNN runs the
    convolutions once on the image and only the FF layers on every RoI (RoIPool gives each 256 x 6 x 6).

    Returns:
        ``{"R-CNN": {"conv": n conv(crop), "ff": n ff}, "Fast R-CNN": {"conv": conv(image), "ff": n ff}}``.
    """
    n = check_int("n", n, low=0)
    model = alexnet_2012() if model is None else model
    per_crop = count_flops(model, crop, crop)
    shared = count_flops(model.features, *image)["conv"]
    return {
        "R-CNN": {"conv": n * per_crop["conv"], "ff": n * per_crop["ff"]},
        "Fast R-CNN": {"conv": shared, "ff": n * per_crop["ff"]},
    }


def shared_pass_size(
    target_flops: float = 16_310e6, model: nn.Module | None = None, sizes=range(500, 701)
) -> tuple[int, int]:
    """The square image side whose shared convolutional pass costs closest to ``target_flops``.

    Returns:
        (side, conv FLOPs at that side); the smallest side among equally close ones.
    """
    target_flops = check_float("target_flops", target_flops, low=0.0, low_inclusive=False)
    features = (alexnet_2012() if model is None else model).features
    best = min(sizes, key=lambda s: (abs(count_flops(features, s, s)["conv"] - target_flops), s))
    return best, count_flops(features, best, best)["conv"]
