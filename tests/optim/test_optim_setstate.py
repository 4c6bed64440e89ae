"""Loading a state dict saved by an older torch (options missing, ``step`` a plain number) works, as
with torch's own optimizers: the missing options take their defaults and training goes on the same."""

import copy

import pytest
import torch

import cvcourse.optim as co

CASES = [
    (
        co.SGD,
        torch.optim.SGD,
        dict(lr=0.1, momentum=0.9),
        ["nesterov", "maximize", "foreach", "differentiable", "fused"],
    ),
    (
        co.Adam,
        torch.optim.Adam,
        dict(lr=0.01),
        ["amsgrad", "maximize", "foreach", "capturable", "differentiable", "decoupled_weight_decay", "fused"],
    ),
    (
        co.AdamW,
        torch.optim.AdamW,
        dict(lr=0.01, weight_decay=0.1),
        ["amsgrad", "maximize", "foreach", "capturable", "differentiable", "decoupled_weight_decay", "fused"],
    ),
    (
        co.RMSprop,
        torch.optim.RMSprop,
        dict(lr=0.01),
        ["momentum", "centered", "foreach", "maximize", "differentiable", "capturable"],
    ),
    (co.Adagrad, torch.optim.Adagrad, dict(lr=0.1), ["foreach", "maximize", "differentiable", "fused"]),
]


def _loss(w):
    return ((w - torch.arange(4.0, dtype=w.dtype)) ** 2).sum() + w.prod()


def _run(optimizer, w, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        _loss(w).backward()
        optimizer.step()


@pytest.mark.parametrize(("ours", "theirs", "options", "keys"), CASES, ids=[c[0].__name__ for c in CASES])
def test_an_old_state_dict_loads_and_training_goes_on_like_torch(ours, theirs, options, keys):
    start = torch.linspace(-1, 1, 4, dtype=torch.float64)
    w_old = start.clone().requires_grad_()
    old = theirs([w_old], **options, foreach=False)
    _run(old, w_old, 3)
    saved = copy.deepcopy(old.state_dict())
    for key in keys:  # as saved by a release that did not have these options yet
        del saved["param_groups"][0][key]
    for state in saved["state"].values():
        if "step" in state:
            state["step"] = float(state["step"])  # old releases kept a plain number

    results = []
    for cls in (ours, theirs):
        w = w_old.detach().clone().requires_grad_()
        optimizer = cls([w], **options)
        optimizer.load_state_dict(copy.deepcopy(saved))
        group = optimizer.param_groups[0]
        assert all(key in group for key in keys), [k for k in keys if k not in group]
        for state in optimizer.state.values():
            if "step" in state:
                assert torch.is_tensor(state["step"])
        _run(optimizer, w, 4)
        results.append(w.detach())
    torch.testing.assert_close(results[0], results[1], rtol=1e-12, atol=1e-12)
    if ours is co.AdamW:  # AdamW's decay stays decoupled after loading, as torch's does
        assert optimizer.param_groups[0]["decoupled_weight_decay"] is True
