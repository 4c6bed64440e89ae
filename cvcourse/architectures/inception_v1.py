"""Inception-v1 (GoogLeNet): the inception module, auxiliary classifiers, global average pooling.

Paper: Szegedy et al., "Going Deeper with Convolutions" (https://arxiv.org/abs/1409.4842).
Matches ``torchvision.models.googlenet``: same state-dict keys (``conv1.conv.weight``,
``inception3a.branch2.1.bn.weight``, ``aux1.fc1.weight``, ...), same outputs (tested), the same
``transform_input`` (re-normalises ImageNet-normalised input to the [-1, 1] range the original
weights expect) and the same auxiliary logits in training mode.

Notes, section 2.1:

* **Stem**: 224 -> 28 with a 7x7/2 convolution, max-pools and 1x1/3x3 convolutions.
* **Inception module**: four parallel branches concatenated along channels: 1x1; 1x1 -> 3x3;
  1x1 -> 5x5; 3x3 max-pool -> 1x1. The 1x1 convolutions first shrink the channels, which is
  what keeps parameters and FLOPs low.
  *Departure*: torchvision's (and so this) "5x5" branch uses a 3x3 kernel, a known quirk of the
  ported weights (pytorch/vision#906); we keep it so the weights load.
* **Auxiliary softmax**: two small classifiers on inception4a and 4d, used only in training as
  extra losses (regularisers); discarded at inference.
* **Global average pooling classifier**: 1024 x 7 x 7 -> 1024 by averaging, then one linear layer,
  instead of flattening into a huge fully connected layer.

Pretrained weights (online only)::

    tv = torchvision.models.googlenet(weights="IMAGENET1K_V1", aux_logits=True)
    model = googlenet(transform_input=True)
    model.load_state_dict(tv.state_dict(), strict=True)   # aux heads are not trained
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvcourse._checks import check_bool, check_float, check_int, check_tensor
from cvcourse.architectures._weights import check_no_weights

__all__ = ["BasicConv2d", "Inception", "InceptionAux", "GoogLeNet", "GoogLeNetOutputs", "googlenet"]


class GoogLeNetOutputs(NamedTuple):
    """Training-mode output with auxiliary heads (same field order as torchvision)."""

    logits: Tensor
    aux_logits2: Tensor | None
    aux_logits1: Tensor | None


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
    """The inception module: concatenate four branches along the channel axis.

    Args:
        in_channels: channels of the input.
        ch1x1: output channels of the 1x1 branch.
        ch3x3red, ch3x3: reduction (1x1) and output channels of the 3x3 branch.
        ch5x5red, ch5x5: reduction and output channels of the "5x5" branch (3x3 kernel, see above).
        pool_proj: output channels of the 1x1 after the 3x3 max-pool.
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
    ) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1),  # 5x5 in the paper
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        # every branch keeps H, W: [B, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W]
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: 4x4 average pool -> 1x1 conv (128) -> fc 1024 -> dropout -> fc."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)  # 128 channels x 4 x 4
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = F.adaptive_avg_pool2d(x, (4, 4))  # [B, C, 4, 4]
        x = torch.flatten(self.conv(x), 1)  # [B, 2048]
        x = self.dropout(F.relu(self.fc1(x), inplace=True))  # [B, 1024]
        return self.fc2(x)  # [B, num_classes]


class GoogLeNet(nn.Module):
    """Inception-v1. In training mode with ``aux_logits`` it returns ``GoogLeNetOutputs``.

    Args:
        num_classes: size of the output logits.
        aux_logits: build the two auxiliary classifiers (torchvision's default: True).
        transform_input: map ImageNet-normalised input to the (x - 0.5) / 0.5 normalisation.
        init_weights: truncated-normal init (std 0.01) as torchvision; False keeps PyTorch's.
        dropout: dropout before the main classifier.
        dropout_aux: dropout inside the auxiliary classifiers.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        aux_logits: bool = True,
        transform_input: bool = False,
        init_weights: bool = True,
        dropout: float = 0.2,
        dropout_aux: float = 0.7,
    ) -> None:
        super().__init__()
        check_int("num_classes", num_classes, low=1)
        self.aux_logits = check_bool("aux_logits", aux_logits)
        self.transform_input = check_bool("transform_input", transform_input)
        check_bool("init_weights", init_weights)
        check_float("dropout", dropout, low=0.0, high=1.0)
        check_float("dropout_aux", dropout_aux, low=0.0, high=1.0)
        # Stem: 224 -> 112 -> 56 -> 56 -> 28
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        # Body: nine inception modules (paper Table 1)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        # Auxiliary classifiers on 4a (512 ch) and 4d (528 ch)
        self.aux1 = InceptionAux(512, num_classes, dropout_aux) if aux_logits else None
        self.aux2 = InceptionAux(528, num_classes, dropout_aux) if aux_logits else None
        # Head: global average pooling classifier
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)
        if init_weights:
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

    def _transform_input(self, x: Tensor) -> Tensor:
        # undo ImageNet's (x - mean) / std per channel and apply (x - 0.5) / 0.5 instead
        x_ch0 = torch.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
        x_ch1 = torch.unsqueeze(x[:, 1], 1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
        x_ch2 = torch.unsqueeze(x[:, 2], 1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
        return torch.cat((x_ch0, x_ch1, x_ch2), 1)

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:
        check_tensor("x", x, shape=("B", 3, "H", "W"), dtype="float")
        if self.transform_input:
            x = self._transform_input(x)
        x = self.maxpool1(self.conv1(x))  # [B, 64, H/4, W/4]
        x = self.maxpool2(self.conv3(self.conv2(x)))  # [B, 192, H/8, W/8]
        x = self.maxpool3(self.inception3b(self.inception3a(x)))  # [B, 480, H/16, W/16]
        x = self.inception4a(x)  # [B, 512, H/16, W/16]
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))  # [B, 528, H/16, W/16]
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))  # [B, 832, H/32, W/32]
        x = self.inception5b(self.inception5a(x))  # [B, 1024, H/32, W/32]
        x = torch.flatten(self.avgpool(x), 1)  # [B, 1024]
        x = self.fc(self.dropout(x))  # [B, num_classes]
        if self.training and self.aux_logits:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


def googlenet(
    *,
    weights: None = None,
    num_classes: int = 1000,
    aux_logits: bool = True,
    transform_input: bool = False,
    init_weights: bool = True,
    dropout: float = 0.2,
    dropout_aux: float = 0.7,
) -> GoogLeNet:
    """GoogLeNet (same as ``torchvision.models.googlenet(weights=None, ...)``)."""
    check_no_weights(weights, "googlenet")
    return GoogLeNet(num_classes, aux_logits, transform_input, init_weights, dropout, dropout_aux)
