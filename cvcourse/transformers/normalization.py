r"""Layer normalisation vs batch normalisation: which entries are normalised together (notes' Fig. 3.4).

Ba et al., "Layer Normalization", 2016, https://arxiv.org/abs/1607.06450; Ioffe & Szegedy, "Batch
Normalization", 2015, https://arxiv.org/abs/1502.03167; the four-panel figure is from Wu & He, "Group
Normalization", 2018, https://arxiv.org/abs/1803.08494.

Layer norm of activation i (over its D features, independent of the rest of the batch):

.. math:: \mu^{(i)} = \frac1D \sum_j a^{(i)}_j,
          \quad v^{(i)} = \frac1D \sum_j (a^{(i)}_j - \mu^{(i)})^2,
          \quad s^{(i)}_j = \gamma_j \frac{a^{(i)}_j - \mu^{(i)}}{\sqrt{v^{(i)} + \epsilon}} + \beta_j

``layer_norm`` and ``batch_norm`` write the statistics out (same numbers as ``F.layer_norm`` and
``F.batch_norm(training=True)``). ``normalised_together`` draws Fig. 3.4 *from the code*: it perturbs
one entry and records which outputs move, i.e. which entries share that entry's mean and variance.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from cvcourse._checks import check_choice, describe

__all__ = ["layer_norm", "batch_norm", "NORMS", "normalised_together"]


def layer_norm(a: Tensor, eps: float = 1e-5) -> Tensor:
    """Layer norm without affine (gamma = 1, beta = 0) over the last dim.

    Args:
        a: Tensor[B, ..., D], B activations a^(i) of D features.

    Returns:
        Tensor like ``a``: (a - mu^(i)) / sqrt(v^(i) + eps).
    """
    mu = a.mean(dim=-1, keepdim=True)  # [B, ..., 1]: mu^(i)
    v = ((a - mu) ** 2).mean(dim=-1, keepdim=True)  # biased variance v^(i), as the notes write it
    return (a - mu) / torch.sqrt(v + eps)


def batch_norm(a: Tensor, eps: float = 1e-5) -> Tensor:
    """Batch norm in training mode without affine: statistics per channel over batch and space.

    Args:
        a: Tensor[N, C, *] (e.g. [N, C, H, W] images or [N, C, L] tokens channels-first).

    Returns:
        Tensor like ``a``.
    """
    dims = [0, *range(2, a.dim())]  # every axis but the channel axis
    mu = a.mean(dim=dims, keepdim=True)  # [1, C, 1, ...]
    v = ((a - mu) ** 2).mean(dim=dims, keepdim=True)
    return (a - mu) / torch.sqrt(v + eps)


# The four panels of Fig. 3.4, on [N, C, H, W] tensors.
NORMS: dict[str, Callable[[Tensor], Tensor]] = {
    "batch norm": lambda x: F.batch_norm(x, None, None, training=True),
    "layer norm": lambda x: F.layer_norm(x, x.shape[1:]),  # a^(i) = all of sample i's C*H*W values
    "instance norm": lambda x: F.instance_norm(x),
    "group norm": lambda x: F.group_norm(x, num_groups=2),
}


def normalised_together(
    norm: str | Callable[[Tensor], Tensor],
    shape: tuple[int, int, int, int] = (4, 6, 3, 3),
    index: tuple[int, int, int, int] = (0, 0, 0, 0),
    seed: int = 0,
) -> Tensor:
    """Which entries are normalised together with ``index``: the outputs that move when it moves.

    Args:
        norm: a key of ``NORMS`` or a function of a Tensor[N, C, H, W].
        shape: (N, C, H, W) of the random test tensor.
        index: the entry that is perturbed.
        seed: seed of the random test tensor.

    Returns:
        BoolTensor[N, C, H, W], True where the output depends on the entry at ``index``.
    """
    if isinstance(norm, str):
        fn = NORMS[check_choice("norm", norm, sorted(NORMS))]
    elif callable(norm):
        fn = norm
    else:
        raise TypeError(f"norm must be one of {sorted(NORMS)} or a callable, got {describe(norm)}")
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    bumped = x.clone()
    bumped[index] += 1.0
    return (fn(bumped) - fn(x)).abs() > 1e-9
