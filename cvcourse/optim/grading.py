"""Chapter 1's grading helper: what ``torch.optim`` does, step by step, for the optimizer exercises.

The exercise notebook ``notebooks/exercises/source/ex01_optimizers`` checks a student's update rule
against ``torch_optimizer_trajectory``: the authority, a ``torch.optim`` optimizer run on one
parameter with given gradients. It holds no solution. The generic checks (``exercise``,
``check_close``, ...) are ``cvcourse.grading``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from cvcourse._checks import check_tensor, check_type, describe

__all__ = ["torch_optimizer_trajectory"]


def torch_optimizer_trajectory(
    optimizer_class: type[torch.optim.Optimizer],
    param: Tensor,
    grads: Sequence[Tensor] | Tensor,
    **hyperparameters: Any,
) -> list[dict[str, Tensor]]:
    """Run a ``torch.optim`` optimizer on one parameter with given gradients, recording every step.

    The authority the optimizer exercises are checked against: ``optimizer_class([p], foreach=False,
    **hyperparameters)`` takes one step per gradient ``grads[t]`` (fed as ``p.grad``, so the
    gradient does not depend on ``p``, which is all a single update rule needs).

    Args:
        optimizer_class: e.g. ``torch.optim.Adam``.
        param: Tensor[*shape], the starting parameter (not modified).
        grads: T gradients of shape [*shape] (a list or a Tensor[T, *shape]).
        **hyperparameters: passed to the optimizer, e.g. ``lr=0.1, momentum=0.9``.

    Returns:
        One dict per step: ``"param"`` (the parameter after the step) and every tensor of the
        optimizer's state under torch's keys (``"momentum_buffer"``, ``"exp_avg"``,
        ``"exp_avg_sq"``...).
    """
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, torch.optim.Optimizer)):
        raise TypeError(
            f"optimizer_class must be a torch.optim.Optimizer class, got {describe(optimizer_class)}"
        )
    check_tensor("param", param, dtype="float")
    if not isinstance(grads, Tensor):
        check_type("grads", grads, Sequence, "a sequence of tensors or a Tensor[T, *shape]")
    p = param.detach().clone().requires_grad_(True)
    optimizer = optimizer_class([p], foreach=False, **hyperparameters)
    trajectory = []
    for t, grad in enumerate(grads):
        check_tensor(f"grads[{t}]", grad, shape=tuple(p.shape))
        p.grad = grad.detach().to(p.dtype).clone()
        optimizer.step()
        record = {"param": p.detach().clone()}
        record.update({k: v.detach().clone() for k, v in optimizer.state[p].items() if isinstance(v, Tensor)})
        trajectory.append(record)
    return trajectory
