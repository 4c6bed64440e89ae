r"""Small-input networks for the training cells: a deep plain CNN vs a ResNet of the same depth.

Paper: He et al., "Identity Mappings in Deep Residual Networks" (https://arxiv.org/abs/1603.05027)
for the pre-activation block, and the CIFAR networks of https://arxiv.org/abs/1512.03385 (Sec. 4.2:
3x3 stem, three stages of n blocks with 16, 32, 64 channels, depth 6n + 2) for the layout.

Exercise 7-1 (a)(b). With pre-activation blocks the skip adds nothing after the sum, so exactly

.. math:: x_{l+1} = x_l + f_l(x_l) \;\Rightarrow\; x_L = x_l + \sum_{i=l}^{L-1} f_i(x_i),
          \qquad \frac{\partial \mathcal{L}}{\partial x_l} = \frac{\partial \mathcal{L}}
          {\partial x_L}\Big(1 + \frac{\partial}{\partial x_l}\sum_{i=l}^{L-1} f_i(x_i)\Big).

The "1" carries the loss gradient to every block unchanged; a plain network
(:math:`x_{l+1} = f_l(x_l)`) multiplies L Jacobians instead, so early gradients can vanish or
explode, and a deep plain net trains *worse* than a shallower one (the degradation problem).
``block_input_gradients`` measures :math:`\lVert \partial \mathcal{L} / \partial x_l \rVert`
for every block. ``small_resnet18`` is torchvision's ResNet-18 with a 3x3 stride-1 stem and no
max-pool, the usual variant for 32-64 px images.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from cvcourse._checks import check_bool, check_int, check_tensor, check_type
from cvcourse.architectures.resnet import ResNet, resnet18

__all__ = [
    "PreActBlock",
    "DeepCNN",
    "plain_cnn",
    "residual_cnn",
    "block_input_gradients",
    "small_resnet18",
]


class PreActBlock(nn.Module):
    """``f(x) = conv(relu(bn(conv(relu(bn(x))))))``; output ``x + f(x)`` if residual, else ``f(x)``.

    When the shape changes (stride 2 or new width) the skip is a strided 1x1 convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, residual: bool = True) -> None:
        super().__init__()
        check_int("in_channels", in_channels, low=1)
        check_int("out_channels", out_channels, low=1)
        check_int("stride", stride, low=1)
        self.residual = check_bool("residual", residual)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.shortcut = None
        if residual and (stride != 1 or in_channels != out_channels):
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)

    def branch(self, x: Tensor) -> Tensor:
        """The residual function f(x)."""
        out = self.conv1(torch.relu(self.bn1(x)))
        return self.conv2(torch.relu(self.bn2(out)))

    def forward(self, x: Tensor) -> Tensor:
        if not self.residual:
            return self.branch(x)  # plain: x_{l+1} = f(x_l)
        skip = x if self.shortcut is None else self.shortcut(x)
        return skip + self.branch(x)  # residual: x_{l+1} = x_l + f(x_l)


class DeepCNN(nn.Module):
    """3x3 stem -> 3 stages of ``blocks_per_stage`` PreActBlocks (width, 2 width, 4 width) -> head.

    Depth (weighted layers) is ``6 * blocks_per_stage + 2``, the same with and without skips.

    Args:
        blocks_per_stage: n.
        residual: add the skip connections (ResNet) or not (plain CNN).
        width: channels of the first stage.
        num_classes: size of the output logits.
        in_channels: channels of the input images.
    """

    def __init__(
        self,
        blocks_per_stage: int,
        residual: bool,
        width: int = 16,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        check_int("blocks_per_stage", blocks_per_stage, low=1)
        check_bool("residual", residual)
        check_int("width", width, low=1)
        check_int("num_classes", num_classes, low=1)
        self.in_channels = check_int("in_channels", in_channels, low=1)
        self.stem = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        blocks: list[nn.Module] = []
        channels = width
        for stage, out_channels in enumerate((width, 2 * width, 4 * width)):
            for i in range(blocks_per_stage):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(PreActBlock(channels, out_channels, stride, residual))
                channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(channels)  # pre-activation nets end with BN + ReLU
        self.fc = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @property
    def depth(self) -> int:
        """Weighted layers on the longest path: stem + 2 per block + fc."""
        return 2 + 2 * len(self.blocks)

    def forward(self, x: Tensor) -> Tensor:
        check_tensor("x", x, shape=("B", self.in_channels, "H", "W"), dtype="float")
        x = self.blocks(self.stem(x))  # [B, 4w, H/4, W/4]
        x = torch.relu(self.bn(x)).mean(dim=(2, 3))  # global average pooling: [B, 4w]
        return self.fc(x)  # [B, num_classes]


def plain_cnn(depth: int, width: int = 16, num_classes: int = 10, in_channels: int = 3) -> DeepCNN:
    """A plain CNN with ``depth = 6n + 2`` weighted layers (20, 32, 44, 56, ...)."""
    return DeepCNN(_blocks_for(depth), False, width, num_classes, in_channels)


def residual_cnn(depth: int, width: int = 16, num_classes: int = 10, in_channels: int = 3) -> DeepCNN:
    """A pre-activation ResNet with ``depth = 6n + 2`` weighted layers (ResNet-20, -56, ...)."""
    return DeepCNN(_blocks_for(depth), True, width, num_classes, in_channels)


def _blocks_for(depth: int) -> int:
    if check_int("depth", depth) < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 56, ...), got {depth}")
    return (depth - 2) // 6


def block_input_gradients(
    model: DeepCNN, x: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None
) -> list[float]:
    r"""Norms :math:`\lVert \partial \mathcal{L} / \partial x_l \rVert_2` at the input x_l of
    every block (l = 0 first), for one batch. Parameter gradients are left untouched."""
    check_type("model", model, DeepCNN, "a DeepCNN (plain_cnn or residual_cnn)")
    if loss_fn is not None:
        check_type("loss_fn", loss_fn, Callable, "a function (logits, targets) -> loss, or None")
    loss_fn = loss_fn or nn.functional.cross_entropy
    inputs: list[Tensor] = []

    def keep(module: nn.Module, args: tuple) -> None:
        inputs.append(args[0])

    hooks = [block.register_forward_pre_hook(keep) for block in model.blocks]
    try:
        loss = loss_fn(model(x), y)
    finally:
        for h in hooks:
            h.remove()
    grads = torch.autograd.grad(loss, inputs)
    return [float(g.norm()) for g in grads]


def small_resnet18(num_classes: int = 10) -> ResNet:
    """ResNet-18 for 32-64 px images: 3x3 stride-1 stem, no max-pool (so the last stage is H/8)."""
    model = resnet18(num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    return model
