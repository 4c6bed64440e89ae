r"""EfficientDet (notes, appendix 4.A; Tan, Pang & Le 2020, https://arxiv.org/abs/1911.09070).

* **BiFPN's fast normalised fusion** (paper, sec. 3.3): a node fuses its n inputs of one shape with
  learnable weights kept non-negative by a ReLU and normalised by their sum,

  .. math:: O = \sum_i \frac{w_i}{\varepsilon + \sum_j w_j} I_i, \qquad w_i = \mathrm{ReLU}(\tilde w_i),
     \quad \varepsilon = 10^{-4}

  (``FastNormalizedFusion``; the paper prefers it to a softmax over the weights, which it finds
  up to 30 % slower on GPUs for the same accuracy). The notes' :math:`P_i^\text{out}` is this
  fusion of three inputs followed by a convolution.
* **Compound scaling** (paper, sec. 4.2, Eqs. 1-3, Table 1): one coefficient :math:`\phi` scales
  the BiFPN, the heads and the input together (``efficientdet_scaling``):

  .. math:: W_\text{bifpn} = 64 \cdot 1.35^\phi, \quad D_\text{bifpn} = 3 + \phi, \quad
     D_\text{box} = D_\text{class} = 3 + \lfloor \phi / 3 \rfloor, \quad R_\text{input} = 512 + 128 \phi

  The paper's Table 1 (``EFFICIENTDET_TABLE``) departs from its own formulas: the widths are
  rounded to channel counts the hardware likes, D5-D7 keep fewer BiFPN layers and D5 and D7 get
  larger inputs than the formula says, and D7 keeps D6's width and depth (``scaling_differences``
  lists each disagreement).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cvcourse._checks import check_float, check_int, check_type

__all__ = [
    "FastNormalizedFusion",
    "efficientdet_scaling",
    "EFFICIENTDET_TABLE",
    "scaling_differences",
]

# Table 1 of the paper (D0-D7): input size, backbone, BiFPN width and depth, box/class net depth.
EFFICIENTDET_TABLE = {
    0: {"input": 512, "backbone": "B0", "bifpn_width": 64, "bifpn_depth": 3, "head_depth": 3},
    1: {"input": 640, "backbone": "B1", "bifpn_width": 88, "bifpn_depth": 4, "head_depth": 3},
    2: {"input": 768, "backbone": "B2", "bifpn_width": 112, "bifpn_depth": 5, "head_depth": 3},
    3: {"input": 896, "backbone": "B3", "bifpn_width": 160, "bifpn_depth": 6, "head_depth": 4},
    4: {"input": 1024, "backbone": "B4", "bifpn_width": 224, "bifpn_depth": 7, "head_depth": 4},
    5: {"input": 1280, "backbone": "B5", "bifpn_width": 288, "bifpn_depth": 7, "head_depth": 4},
    6: {"input": 1280, "backbone": "B6", "bifpn_width": 384, "bifpn_depth": 8, "head_depth": 5},
    7: {"input": 1536, "backbone": "B6", "bifpn_width": 384, "bifpn_depth": 8, "head_depth": 5},
}


class FastNormalizedFusion(nn.Module):
    r"""BiFPN's weighted fusion of ``num_inputs`` feature maps of one shape:
    :math:`O = \sum_i \frac{\mathrm{ReLU}(\tilde w_i)}{\varepsilon + \sum_j \mathrm{ReLU}(\tilde w_j)} I_i`.

    Args:
        num_inputs: n, the number of maps fused (2 or 3 in a BiFPN).
        eps: :math:`\varepsilon`, keeps the division stable when every weight is 0 (paper: 1e-4).

    The raw weights :math:`\tilde w` (``self.weight``, Tensor[n]) start at 1, i.e. a plain mean.
    """

    def __init__(self, num_inputs: int = 2, eps: float = 1e-4) -> None:
        super().__init__()
        self.num_inputs = check_int("num_inputs", num_inputs, low=1)
        self.eps = check_float("eps", eps, low=0.0, low_inclusive=False)
        self.weight = nn.Parameter(torch.ones(self.num_inputs))

    def normalized_weights(self) -> Tensor:
        r"""Tensor[n]: :math:`w_i / (\varepsilon + \sum_j w_j)`, :math:`w = \mathrm{ReLU}(\tilde w)`."""
        w = torch.relu(self.weight)
        return w / (self.eps + w.sum())

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        check_type("inputs", inputs, (list, tuple), f"a list of {self.num_inputs} tensors of one shape")
        if len(inputs) != self.num_inputs or any(not isinstance(x, Tensor) for x in inputs):
            raise ValueError(f"inputs must be {self.num_inputs} tensors, got {len(inputs)} items")
        if any(x.shape != inputs[0].shape for x in inputs):
            raise ValueError(f"inputs must share one shape, got {[list(x.shape) for x in inputs]}")
        w = self.normalized_weights().to(inputs[0].dtype)
        return sum(w_i * x for w_i, x in zip(w, inputs, strict=True))

    def extra_repr(self) -> str:
        return f"num_inputs={self.num_inputs}, eps={self.eps}"


def _nearest_multiple(value: float, divisor: int = 8) -> int:
    return int(divisor * round(value / divisor))


def efficientdet_scaling(phi: int) -> dict:
    r"""The paper's compound-scaling formulas (Eqs. 1-3) for coefficient :math:`\phi`.

    Returns:
        ``{"phi", "input", "bifpn_width", "bifpn_width_exact", "bifpn_depth", "head_depth"}`` with
        :math:`R = 512 + 128\phi`, :math:`W = 64 \cdot 1.35^\phi` (exact, and rounded to the nearest
        multiple of 8, our reading of "channels the hardware likes": the paper gives no rule),
        :math:`D_\text{bifpn} = 3 + \phi`, :math:`D_\text{box} = D_\text{class} = 3 + \lfloor\phi/3\rfloor`.
    """
    phi = check_int("phi", phi, low=0)
    width = 64 * 1.35**phi
    return {
        "phi": phi,
        "input": 512 + 128 * phi,
        "bifpn_width_exact": width,
        "bifpn_width": _nearest_multiple(width),
        "bifpn_depth": 3 + phi,
        "head_depth": 3 + phi // 3,
    }


def scaling_differences() -> list[tuple[int, str, int, int]]:
    """Where the paper's Table 1 (D0-D7) and its formulas disagree.

    Returns:
        ``[(phi, key, formula value, table value)]`` for each entry of ``EFFICIENTDET_TABLE`` that
        ``efficientdet_scaling(phi)`` does not reproduce.
    """
    out = []
    for phi, row in EFFICIENTDET_TABLE.items():
        formula = efficientdet_scaling(phi)
        for key in ("input", "bifpn_width", "bifpn_depth", "head_depth"):
            if formula[key] != row[key]:
                out.append((phi, key, formula[key], row[key]))
    return out
