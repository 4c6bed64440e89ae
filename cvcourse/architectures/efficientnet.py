r"""EfficientNet-B0 and compound model scaling.

Paper: Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks"
(https://arxiv.org/abs/1905.11946). Matches ``torchvision.models.efficientnet_b0``: same state-dict
keys (``features.1.0.block.1.fc1.weight``, ...), same outputs in eval mode, and in train mode the
same stochastic depth (``torchvision.ops.StochasticDepth``, mode "row") drawn from the same
random numbers (tested).

Notes, sections 2.6-2.7: B0 is a network found by architecture search from MobileNet's inverted
residual block ("MBConv": expand 1x1 -> depth-wise k x k -> squeeze-and-excitation -> project 1x1,
SiLU activations). Bigger models scale B0 with one compound coefficient :math:`\phi`:

.. math:: d = \alpha^\phi,\quad w = \beta^\phi,\quad r = \gamma^\phi,
          \qquad \alpha \beta^2 \gamma^2 \approx 2

so that FLOPs (linear in depth, quadratic in width and resolution) grow by about :math:`2^\phi`.
``compound_scaling`` computes the multipliers (paper's grid search: alpha=1.2, beta=1.1,
gamma=1.15).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from cvcourse._checks import check_bool, check_choice, check_float, check_int, check_tensor, check_type
from cvcourse.architectures._weights import check_no_weights
from cvcourse.architectures.mobilenet import ConvNormActivation, make_divisible
from cvcourse.architectures.squeeze_excitation import SqueezeExcitation

__all__ = [
    "stochastic_depth",
    "StochasticDepth",
    "MBConvConfig",
    "MBConv",
    "EfficientNet",
    "efficientnet_b0",
    "scaled_setting",
    "scaled_efficientnet",
    "compound_scaling",
    "B0_SETTING",
]


def stochastic_depth(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Drop whole residual branches per sample ("row" mode of ``torchvision.ops.stochastic_depth``).

    Huang et al., "Deep Networks with Stochastic Depth" (https://arxiv.org/abs/1603.09382). Each
    sample keeps the branch with probability :math:`1 - p`; kept branches are divided by
    :math:`1 - p` so the expectation is unchanged. Identity when not training or ``p == 0``.

    Args:
        x: ``Tensor[B, ...]``, the residual branch.
        p: drop probability in [0, 1].
        training: apply the drop only when True.
    """
    check_tensor("x", x)
    p = check_float("p", p, low=0.0, high=1.0)  # a probability
    check_bool("training", training)
    if not training or p == 0.0:
        return x
    survival_rate = 1.0 - p
    size = [x.shape[0]] + [1] * (x.ndim - 1)  # one coin per sample: [B, 1, 1, 1]
    noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival_rate)
    if survival_rate > 0.0:
        noise.div_(survival_rate)
    return x * noise


class StochasticDepth(nn.Module):
    """Module form of :func:`stochastic_depth` (drops in training mode only)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = check_float("p", p, low=0.0, high=1.0)

    def forward(self, x: Tensor) -> Tensor:
        return stochastic_depth(x, self.p, self.training)


@dataclass
class MBConvConfig:
    """One stage of EfficientNet: expansion t, kernel k, stride s, channels in/out, repeats n."""

    expand_ratio: float
    kernel: int
    stride: int
    input_channels: int
    out_channels: int
    num_layers: int


# EfficientNet-B0 (paper Table 1): t, k, s, c_in, c_out, n
B0_SETTING: list[MBConvConfig] = [
    MBConvConfig(1, 3, 1, 32, 16, 1),
    MBConvConfig(6, 3, 2, 16, 24, 2),
    MBConvConfig(6, 5, 2, 24, 40, 2),
    MBConvConfig(6, 3, 2, 40, 80, 3),
    MBConvConfig(6, 5, 1, 80, 112, 3),
    MBConvConfig(6, 5, 2, 112, 192, 4),
    MBConvConfig(6, 3, 1, 192, 320, 1),
]


class MBConv(nn.Module):
    """Mobile inverted bottleneck with squeeze-and-excitation and stochastic depth.

    ``block``: [expand 1x1 (if t != 1)] -> depth-wise k x k (stride) -> SE (squeeze to c_in/4)
    -> project 1x1 (no activation). The skip (when stride 1 and c_in == c_out) adds the input to
    the stochastically dropped branch.
    """

    def __init__(self, cnf: MBConvConfig, stochastic_depth_prob: float) -> None:
        super().__init__()
        check_type("cnf", cnf, MBConvConfig, "an MBConvConfig")
        check_choice("cnf.stride", check_int("cnf.stride", cnf.stride), (1, 2))
        check_float("stochastic_depth_prob", stochastic_depth_prob, low=0.0, high=1.0)
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        expanded = make_divisible(cnf.input_channels * cnf.expand_ratio)
        layers: list[nn.Module] = []
        if expanded != cnf.input_channels:
            layers.append(ConvNormActivation(cnf.input_channels, expanded, 1, activation_layer=nn.SiLU))
        layers.append(
            ConvNormActivation(
                expanded,
                expanded,
                cnf.kernel,
                cnf.stride,
                groups=expanded,
                activation_layer=nn.SiLU,
            )
        )
        squeeze = max(1, cnf.input_channels // 4)  # SE ratio 1/4 of the block's *input* channels
        layers.append(SqueezeExcitation(expanded, squeeze, activation=partial(nn.SiLU, inplace=True)))
        layers.append(ConvNormActivation(expanded, cnf.out_channels, 1, activation_layer=None))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob)
        self.out_channels = cnf.out_channels

    def forward(self, x: Tensor) -> Tensor:
        result = self.block(x)
        if self.use_res_connect:
            result = self.stochastic_depth(result)
            result += x
        return result


class EfficientNet(nn.Module):
    """Stem conv (SiLU, stride 2) -> MBConv stages -> 1x1 conv to 4 * c_last -> GAP -> linear.

    Args:
        setting: the stages (``B0_SETTING`` for B0).
        dropout: dropout before the classifier (0.2 for B0).
        stochastic_depth_prob: drop probability of the *last* block; block i of N gets
            ``stochastic_depth_prob * i / N`` (a linear ramp, as torchvision).
        num_classes: size of the output logits.
    """

    def __init__(
        self,
        setting: list[MBConvConfig],
        dropout: float = 0.2,
        stochastic_depth_prob: float = 0.2,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        check_int("num_classes", num_classes, low=1)
        check_type("setting", setting, (list, tuple), "a list of MBConvConfig")
        if not setting:
            raise ValueError("setting must list at least one MBConvConfig, got an empty list")
        for i, cnf in enumerate(setting):
            check_type(f"setting[{i}]", cnf, MBConvConfig, "an MBConvConfig")
        check_float("dropout", dropout, low=0.0, high=1.0)
        check_float("stochastic_depth_prob", stochastic_depth_prob, low=0.0, high=1.0)
        layers: list[nn.Module] = [
            ConvNormActivation(3, setting[0].input_channels, 3, 2, activation_layer=nn.SiLU)
        ]
        total_blocks = sum(cnf.num_layers for cnf in setting)
        block_id = 0
        for cnf in setting:
            stage: list[nn.Module] = []
            for _ in range(cnf.num_layers):
                block_cnf = copy.copy(cnf)
                if stage:  # later repeats keep the shape: c_out -> c_out, stride 1
                    block_cnf.input_channels = block_cnf.out_channels
                    block_cnf.stride = 1
                stage.append(MBConv(block_cnf, stochastic_depth_prob * block_id / total_blocks))
                block_id += 1
            layers.append(nn.Sequential(*stage))
        last_in = setting[-1].out_channels
        layers.append(ConvNormActivation(last_in, 4 * last_in, 1, activation_layer=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout, inplace=True), nn.Linear(4 * last_in, num_classes)
        )

        for m in self.modules():  # same initialisation as torchvision
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                init_range = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -init_range, init_range)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        check_tensor("x", x, shape=("B", 3, "H", "W"), dtype="float")
        x = self.features(x)  # [B, 1280, H/32, W/32]
        x = torch.flatten(self.avgpool(x), 1)  # [B, 1280]
        return self.classifier(x)  # [B, num_classes]


def efficientnet_b0(
    *,
    weights: None = None,
    num_classes: int = 1000,
    dropout: float = 0.2,
    stochastic_depth_prob: float = 0.2,
) -> EfficientNet:
    """EfficientNet-B0 (same as ``torchvision.models.efficientnet_b0``)."""
    check_no_weights(weights, "efficientnet_b0")
    return EfficientNet(B0_SETTING, dropout, stochastic_depth_prob, num_classes)


def scaled_setting(width_mult: float = 1.0, depth_mult: float = 1.0) -> list[MBConvConfig]:
    """B0's stages with channels times ``width_mult`` (rounded to multiples of 8) and repeats times
    ``depth_mult`` (rounded up), the rule torchvision uses for EfficientNet-B1...B7."""
    check_float("width_mult", width_mult, low=0.0, low_inclusive=False)
    check_float("depth_mult", depth_mult, low=0.0, low_inclusive=False)
    return [
        MBConvConfig(
            c.expand_ratio,
            c.kernel,
            c.stride,
            make_divisible(c.input_channels * width_mult),
            make_divisible(c.out_channels * width_mult),
            int(math.ceil(c.num_layers * depth_mult)),
        )
        for c in B0_SETTING
    ]


def scaled_efficientnet(
    width_mult: float = 1.0,
    depth_mult: float = 1.0,
    *,
    num_classes: int = 1000,
    dropout: float = 0.2,
    stochastic_depth_prob: float = 0.2,
) -> EfficientNet:
    """B0 scaled in width and depth: (1.0, 1.1) is B1, (1.1, 1.2) B2, (1.2, 1.4) B3, ..."""
    return EfficientNet(scaled_setting(width_mult, depth_mult), dropout, stochastic_depth_prob, num_classes)


def compound_scaling(
    phi: float, alpha: float = 1.2, beta: float = 1.1, gamma: float = 1.15
) -> dict[str, float]:
    r"""Depth, width and resolution multipliers for compound coefficient ``phi``.

    :math:`d = \alpha^\phi`, :math:`w = \beta^\phi`, :math:`r = \gamma^\phi`; FLOPs scale by
    :math:`d\, w^2 r^2 = (\alpha \beta^2 \gamma^2)^\phi` (``flops_factor``), about
    :math:`2^\phi` when the constraint :math:`\alpha\beta^2\gamma^2 \approx 2` holds.

    Returns:
        dict with ``depth``, ``width``, ``resolution``, ``flops_factor`` and ``constraint``
        (the value of :math:`\alpha\beta^2\gamma^2`).
    """
    check_float("alpha", alpha, low=1.0)  # notes: alpha, beta, gamma >= 1
    check_float("beta", beta, low=1.0)
    check_float("gamma", gamma, low=1.0)
    check_float("phi", phi, low=0.0)  # 0 is the baseline
    constraint = alpha * beta**2 * gamma**2
    return {
        "depth": alpha**phi,
        "width": beta**phi,
        "resolution": gamma**phi,
        "flops_factor": constraint**phi,
        "constraint": constraint,
    }
