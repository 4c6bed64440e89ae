r"""AdaGrad: per-parameter learning rates from the history of squared gradients (notes 1.4.1).

Duchi, Hazan and Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
Optimization", JMLR 12, 2011 (https://jmlr.org/papers/v12/duchi11a.html).

Matches ``torch.optim.Adagrad(foreach=False)``: same constructor, defaults, state keys (``step``
as a float tensor, ``sum``), sparse-gradient path and order of operations.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.optim import Optimizer

from ._checks import SparseGradientError, check_number, check_plain_loop, fill_missing_options, scalar_dtype

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""AdaGrad, as ``torch.optim.Adagrad``.

    The notes' update, with lr decay and weight decay added as in torch:

    .. math::
        s^{(t+1)} = s^{(t)} + \nabla L \odot \nabla L,\qquad
        \theta^{(t+1)} = \theta^{(t)}
            - \frac{\tilde{lr}}{\sqrt{s^{(t+1)}} + \varepsilon} \odot \nabla L,
        \qquad \tilde{lr} = \frac{lr}{1 + (t - 1)\,\text{lr\_decay}}

    Symbols -> variables: s -> ``state_sum`` (``state["sum"]``, starting at
    ``initial_accumulator_value``), nabla L -> ``grad`` (plus ``weight_decay * p``), t -> ``step``
    (``state["step"]``), lr tilde -> ``clr``, epsilon -> ``eps``. Because s only grows, the step
    size only shrinks: AdaGrad can stop before it reaches the minimum (notes, Fig. 1.5).

    Args:
        params: iterable of parameters or of param-group dicts.
        lr: learning rate >= 0 (default 1e-2).
        lr_decay: >= 0, lr is divided by 1 + (t - 1) lr_decay at step t.
        weight_decay: L2 penalty >= 0 added to the gradient.
        initial_accumulator_value: >= 0, the starting value of s.
        eps: >= 0, added to sqrt(s) (default 1e-10).
        maximize: maximise the objective instead.
        foreach, differentiable, fused: accepted for compatibility with torch; only False/None.
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_number("lr", lr, allow_tensor=True)
        check_number("lr_decay", lr_decay)
        check_number("weight_decay", weight_decay)
        check_number("initial_accumulator_value", initial_accumulator_value)
        check_number("eps", eps)
        check_plain_loop(foreach=foreach, differentiable=differentiable, fused=fused)
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)
        # Like torch, Adagrad creates its state at construction (so a fresh state_dict has it).
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p: Tensor) -> None:
        # torch fills `sum` with the *constructor's* initial_accumulator_value for every group
        # (self.defaults, not the group's own value); we follow it to stay equal to torch.
        state = self.state[p]
        state["step"] = torch.tensor(0.0, dtype=scalar_dtype())
        state["sum"] = torch.full_like(
            p, self.defaults["initial_accumulator_value"], memory_format=torch.preserve_format
        )

    def __setstate__(self, state: dict) -> None:
        """A state dict of an older release (an option missing) loads, the option at its default."""
        super().__setstate__(state)
        fill_missing_options(
            self, dict(foreach=None, maximize=False, differentiable=False, fused=None), step_to_tensor=True
        )

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):
        """Update every parameter that has a gradient; return the closure's loss (or None)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, lr_decay = float(group["lr"]), group["lr_decay"]
            lam, eps = group["weight_decay"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:  # a parameter added later with add_param_group
                    self._init_state(p)
                state["step"] += 1
                step = state["step"].item()
                state_sum = state["sum"]
                grad = -p.grad if group["maximize"] else p.grad
                if lam != 0:
                    if grad.is_sparse:
                        raise SparseGradientError(
                            "weight_decay must be 0 with sparse gradients "
                            f"(as in torch), got weight_decay={lam!r}"
                        )
                    grad = grad.add(p, alpha=lam)
                clr = lr / (1 + (step - 1) * lr_decay)
                if grad.is_sparse:
                    _sparse_update(p, grad, state_sum, clr, eps)
                    continue
                state_sum.addcmul_(grad, grad, value=1)  # s = s + g * g
                std = state_sum.sqrt().add_(eps)  # sqrt(s) + eps
                p.addcdiv_(grad, std, value=-clr)  # theta = theta - clr * g / (sqrt(s) + eps)
        return loss


def _sparse_update(p: Tensor, grad: Tensor, state_sum: Tensor, clr: float, eps: float) -> None:
    """The same update touching only the rows present in a sparse gradient (as torch does)."""
    grad = grad.coalesce()  # the update is non-linear, so indices must be unique
    indices, values = grad._indices(), grad._values()

    def make_sparse(v: Tensor) -> Tensor:
        return torch.sparse_coo_tensor(indices, v, grad.size())

    state_sum.add_(make_sparse(values.pow(2)))
    std_values = state_sum.sparse_mask(grad)._values().sqrt_().add_(eps)
    p.add_(make_sparse(values / std_values), alpha=-clr)
