"""cvcourse.optim's optimizers against torch.optim (foreach=False), float64, hundreds of steps.

Authority: torch.optim.X with the same hyperparameters. Also: param groups with different
hyperparameters, closures, maximize, None / sparse gradients, state keys, state_dict round trips in
both directions, and bad hyperparameters rejected like torch rejects them.
"""

import itertools

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cvcourse.optim as ours

TOL = dict(rtol=1e-12, atol=1e-12)
STEPS = 300

CASES = {
    "SGD": [
        dict(lr=0.01),
        dict(lr=0.05, momentum=0.9),
        dict(lr=0.02, momentum=0.9, nesterov=True),
        dict(lr=0.03, momentum=0.5, dampening=0.3),
        dict(lr=0.01, weight_decay=0.1),
        dict(lr=0.02, momentum=0.8, dampening=0.5, weight_decay=0.05),
        dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True),
        dict(lr=0.0),
        dict(),
    ],
    "Adagrad": [
        dict(),
        dict(lr=0.1),
        dict(lr=0.1, lr_decay=0.01),
        dict(lr=0.05, weight_decay=0.1),
        dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6),
        dict(lr=0.2, lr_decay=0.05, weight_decay=0.01, initial_accumulator_value=0.1, maximize=True),
    ],
    "RMSprop": [
        dict(),
        dict(lr=1e-3, alpha=0.9),
        dict(lr=1e-3, momentum=0.9),
        dict(lr=1e-3, centered=True),
        dict(lr=5e-4, alpha=0.95, eps=1e-6, weight_decay=0.1, momentum=0.5, centered=True),
        dict(lr=1e-3, maximize=True, momentum=0.3),
    ],
    "Adam": [
        dict(),
        dict(lr=0.01),
        dict(lr=0.01, betas=(0.8, 0.99)),
        dict(lr=0.01, amsgrad=True),
        dict(lr=0.005, weight_decay=0.1),
        dict(lr=0.01, eps=1e-4, betas=(0.0, 0.5)),
        dict(lr=0.01, weight_decay=0.05, amsgrad=True, maximize=True),
        dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    ],
    "AdamW": [
        dict(),
        dict(lr=0.01),
        dict(lr=0.01, weight_decay=0.1),
        dict(lr=0.01, amsgrad=True),
        dict(lr=0.02, betas=(0.5, 0.9), weight_decay=0.0),
        dict(lr=0.01, weight_decay=0.3, amsgrad=True, maximize=True, eps=1e-3),
    ],
}
ALL = [(name, kw) for name, cases in CASES.items() for kw in cases]


def make_params(seed=0, shapes=((5, 3), (4,), (1,), ())):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, dtype=torch.float64, generator=g) for s in shapes]


def gradient(params, seed, t):
    """A deterministic, non-trivial gradient: depends on the step and on the current parameters."""
    g = torch.Generator().manual_seed(seed * 100003 + t)
    return [
        torch.randn(p.shape, dtype=torch.float64, generator=g) + 0.5 * p.detach() ** 3 / (1 + p.detach() ** 2)
        for p in params
    ]


def run(cls, groups_kwargs, steps=STEPS, seed=0, start=None, opt_kwargs=None):
    """Run optimizer `cls` on copies of the test parameters; returns (params, optimizer)."""
    params = [p.clone().requires_grad_(True) for p in (start or make_params(seed))]
    opt = cls(params, **(opt_kwargs or {}), **groups_kwargs)
    step_params(opt, params, steps, seed)
    return params, opt


def step_params(opt, params, steps, seed, t0=0):
    for t in range(t0, t0 + steps):
        for p, g in zip(params, gradient(params, seed, t), strict=False):
            p.grad = g
        opt.step()


def torch_cls(name):
    return getattr(torch.optim, name)


def assert_same_params(a, b):
    for x, y in zip(a, b, strict=False):
        torch.testing.assert_close(x, y, equal_nan=True, **TOL)


@pytest.mark.parametrize(
    "name,kwargs", ALL, ids=[f"{n}-{i}" for n, c in CASES.items() for i in range(len(c))]
)
def test_equal_to_torch_over_many_steps(name, kwargs):
    mine, opt = run(getattr(ours, name), kwargs)
    ref, ref_opt = run(torch_cls(name), kwargs, opt_kwargs={"foreach": False})
    assert_same_params(mine, ref)
    # the same state, key for key, including the step counter's value and dtype
    for p, q in zip(mine, ref, strict=False):
        s, r = opt.state[p], ref_opt.state[q]
        assert s.keys() == r.keys()
        for key in r:
            assert torch.is_tensor(s[key]) and s[key].dtype == r[key].dtype, key
            torch.testing.assert_close(s[key], r[key], **TOL)


def test_hyperparameter_grid_against_torch():
    """A denser grid, fewer steps: every combination of the main knobs."""
    grid = {
        "SGD": dict(lr=[0.01, 0.1], momentum=[0, 0.5, 0.99], dampening=[0, 0.2], weight_decay=[0, 0.1]),
        "Adam": dict(
            lr=[1e-3, 0.05],
            betas=[(0.9, 0.999), (0.5, 0.6)],
            weight_decay=[0, 0.2],
            amsgrad=[False, True],
        ),
        "RMSprop": dict(lr=[1e-3, 1e-2], alpha=[0.5, 0.99], momentum=[0, 0.9], centered=[False, True]),
        "Adagrad": dict(lr=[1e-2, 0.5], lr_decay=[0, 0.1], initial_accumulator_value=[0, 1.0]),
    }
    count = 0
    for name, knobs in grid.items():
        for values in itertools.product(*knobs.values()):
            kwargs = dict(zip(knobs, values, strict=False))
            mine, _ = run(getattr(ours, name), kwargs, steps=60, seed=count)
            ref, _ = run(torch_cls(name), kwargs, steps=60, seed=count, opt_kwargs={"foreach": False})
            assert_same_params(mine, ref)
            count += 1
    assert count == 24 + 16 + 16 + 8


@pytest.mark.parametrize("name", list(CASES))
def test_param_groups_with_different_hyperparameters(name):
    hyper = {
        "SGD": [
            dict(lr=0.1, momentum=0.9, nesterov=True),
            dict(lr=0.01),
            dict(lr=0.05, momentum=0.5, weight_decay=0.1),
        ],
        "Adagrad": [dict(lr=0.1), dict(lr=0.3, lr_decay=0.1), dict(lr=0.05, weight_decay=0.2)],
        "RMSprop": [dict(lr=1e-2, centered=True), dict(lr=1e-3, momentum=0.9), dict(alpha=0.5)],
        "Adam": [
            dict(lr=0.01, amsgrad=True),
            dict(lr=0.1, betas=(0.5, 0.9)),
            dict(weight_decay=0.1),
        ],
        "AdamW": [dict(lr=0.01, weight_decay=0.5), dict(lr=0.1, amsgrad=True), dict()],
    }[name]
    results = []
    for cls, extra in ((getattr(ours, name), {}), (torch_cls(name), {"foreach": False})):
        params = [p.requires_grad_(True) for p in make_params(3, ((3, 2), (4,), (2, 2)))]
        groups = [dict(params=[p], **h) for p, h in zip(params, hyper, strict=False)]
        opt = cls(groups, lr=0.02, **extra)
        step_params(opt, params, 200, seed=3)
        results.append(params)
    assert_same_params(*results)


@pytest.mark.parametrize("name,kwargs", [(n, c[1]) for n, c in CASES.items()])
def test_closure_is_called_and_its_loss_returned(name, kwargs):
    target = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    results = []
    for cls, extra in ((getattr(ours, name), {}), (torch_cls(name), {"foreach": False})):
        w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        opt = cls([w], **kwargs, **extra)
        calls, losses = [], []

        def closure(opt=opt, w=w, calls=calls):
            opt.zero_grad()
            loss = ((w - target) ** 2).sum()  # step() runs the closure with grad enabled
            loss.backward()
            calls.append(1)
            return loss

        for _ in range(50):
            losses.append(opt.step(closure).item())
        assert len(calls) == 50
        results.append((w.detach().clone(), losses))
    torch.testing.assert_close(results[0][0], results[1][0], **TOL)
    assert results[0][1] == pytest.approx(results[1][1], rel=1e-12, abs=1e-12)


def test_closure_runs_under_no_grad_context():
    w = torch.ones(2, dtype=torch.float64, requires_grad=True)
    opt = ours.Adam([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    with torch.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 2.0 and not torch.equal(w.detach(), torch.ones(2, dtype=torch.float64))


@pytest.mark.parametrize("name", list(CASES))
def test_none_gradient_is_skipped(name):
    a = torch.ones(3, dtype=torch.float64, requires_grad=True)
    b = torch.full((2,), 5.0, dtype=torch.float64, requires_grad=True)
    kwargs = dict(lr=0.1, momentum=0.9) if name in ("SGD", "RMSprop") else dict(lr=0.1)
    opt = getattr(ours, name)([a, b], **kwargs)
    ref = torch_cls(name)(
        [a.detach().clone().requires_grad_(True), b.detach().clone().requires_grad_(True)],
        foreach=False,
        **kwargs,
    )
    for o in (opt, ref):
        x, y = o.param_groups[0]["params"]
        for _ in range(3):
            x.grad = torch.ones_like(x)
            o.step()
        assert torch.equal(y.detach(), torch.full((2,), 5.0, dtype=torch.float64))  # untouched
    assert set(opt.state[b].keys()) == set(ref.state[ref.param_groups[0]["params"][1]].keys())
    torch.testing.assert_close(opt.param_groups[0]["params"][0], ref.param_groups[0]["params"][0], **TOL)


def test_degenerate_parameters_empty_and_single_element():
    for name, kwargs in ALL:
        shapes = ((0,), (1,), (), (0, 3))
        mine, _ = run(getattr(ours, name), kwargs, steps=20, start=make_params(1, shapes))
        ref, _ = run(
            torch_cls(name),
            kwargs,
            steps=20,
            start=make_params(1, shapes),
            opt_kwargs={"foreach": False},
        )
        assert [p.shape for p in mine] == [torch.Size(s) for s in shapes]
        assert_same_params(mine, ref)


@pytest.mark.parametrize("name", list(CASES))
def test_zero_gradients_and_ties(name):
    """All-zero and all-equal gradients: no NaN where torch has none, the same numbers as torch."""
    results = []
    for cls, extra in ((getattr(ours, name), {}), (torch_cls(name), {"foreach": False})):
        w = torch.full((4,), 2.0, dtype=torch.float64, requires_grad=True)
        opt = cls([w], lr=0.1, **extra)
        for t in range(10):
            w.grad = (
                torch.zeros(4, dtype=torch.float64) if t < 5 else torch.full((4,), 3.0, dtype=torch.float64)
            )
            opt.step()
        results.append(w.detach().clone())
    torch.testing.assert_close(results[0], results[1], **TOL)
    assert torch.isfinite(results[0]).all() and (results[0] == results[0][0]).all()


def test_empty_parameter_list_is_rejected():
    for name in CASES:
        with pytest.raises(ValueError):
            getattr(ours, name)([], lr=0.1)


def test_sparse_gradients_as_torch():
    emb_w = torch.randn(10, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    idx = torch.tensor([1, 4, 4, 7])

    def sparse_grad():
        return torch.sparse_coo_tensor(idx[None], torch.ones(4, 3, dtype=torch.float64), (10, 3))

    for name, kwargs in (
        ("SGD", dict(lr=0.1)),
        ("SGD", dict(lr=0.1, momentum=0.9)),
        ("Adagrad", dict(lr=0.5)),
    ):
        results = []
        for cls, extra in ((getattr(ours, name), {}), (torch_cls(name), {"foreach": False})):
            w = emb_w.clone().requires_grad_(True)
            opt = cls([w], **kwargs, **extra)
            for _ in range(5):
                w.grad = sparse_grad()
                opt.step()
            results.append(w.detach())
        torch.testing.assert_close(results[0], results[1], **TOL)
        assert torch.equal(results[0][0], emb_w[0])  # rows without gradient are untouched
    for name in ("RMSprop", "Adam", "AdamW"):
        w = emb_w.clone().requires_grad_(True)
        w.grad = sparse_grad()
        with pytest.raises(RuntimeError, match="sparse"):
            getattr(ours, name)([w]).step()
        with pytest.raises(TypeError, match="sparse"):  # also a TypeError, the course's rule
            getattr(ours, name)([w]).step()
        with pytest.raises(RuntimeError, match="sparse"):  # as torch
            torch_cls(name)([w], foreach=False).step()
    w = emb_w.clone().requires_grad_(True)
    w.grad = sparse_grad()
    with pytest.raises(RuntimeError, match="weight_decay"):
        ours.Adagrad([w], weight_decay=0.1).step()


@pytest.mark.parametrize("name,kwargs", [(n, c[-1]) for n, c in CASES.items()] + [("SGD", CASES["SGD"][2])])
@pytest.mark.parametrize("direction", ["ours->torch", "torch->ours"])
def test_state_dict_interchangeable_with_torch(name, kwargs, direction):
    """Run 100 steps with one implementation, load its state dict into the other, run 100 more:
    the same numbers as 200 steps with torch alone."""
    first, second = (getattr(ours, name), torch_cls(name))
    if direction == "torch->ours":
        first, second = second, first
    extra = lambda cls: {"foreach": False} if cls.__module__.startswith("torch") else {}  # noqa: E731
    params, opt = run(first, kwargs, steps=100, opt_kwargs=extra(first))
    saved = opt.state_dict()
    fresh = [p.detach().clone().requires_grad_(True) for p in params]
    opt2 = second(fresh, **kwargs, **extra(second))
    opt2.load_state_dict(saved)
    for key in saved["state"]:
        assert opt2.state_dict()["state"][key].keys() == saved["state"][key].keys()
    step_params(opt2, fresh, 100, seed=0, t0=100)
    ref, _ = run(torch_cls(name), kwargs, steps=200, opt_kwargs={"foreach": False})
    assert_same_params(fresh, ref)


def test_state_dict_keys_and_step_tensor_match_torch_fresh_and_after_steps():
    for name, kwargs in [(n, c[0]) for n, c in CASES.items()]:
        for steps in (0, 3):
            _, opt = run(getattr(ours, name), kwargs, steps=steps)
            _, ref = run(torch_cls(name), kwargs, steps=steps, opt_kwargs={"foreach": False})
            a, b = opt.state_dict(), ref.state_dict()
            assert a["state"].keys() == b["state"].keys(), name  # Adagrad has state from the start
            for i in b["state"]:
                assert a["state"][i].keys() == b["state"][i].keys()
                if "step" in b["state"][i]:
                    assert torch.is_tensor(a["state"][i]["step"]) and a["state"][i]["step"].ndim == 0
                    assert a["state"][i]["step"].item() == b["state"][i]["step"].item() == steps
            group_keys = set(b["param_groups"][0])
            assert set(a["param_groups"][0]) == group_keys, name


def test_lr_scheduler_and_tensor_lr_work():
    results = []
    for cls, extra in ((ours.SGD, {}), (torch.optim.SGD, {"foreach": False})):
        w = torch.ones(3, dtype=torch.float64, requires_grad=True)
        opt = cls([w], lr=torch.tensor(0.1), momentum=0.9, **extra)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
        for _ in range(20):
            w.grad = w.detach() * 2
            opt.step()
            sched.step()
        results.append(w.detach().clone())
    torch.testing.assert_close(results[0], results[1], **TOL)


def test_adamw_loads_adam_state_and_stays_decoupled():
    params, adam = run(ours.Adam, dict(lr=0.01), steps=10)
    adamw = ours.AdamW(params, lr=0.01)
    adamw.load_state_dict(adam.state_dict())
    assert adamw.param_groups[0]["decoupled_weight_decay"] is True


INVALID = {
    "SGD": [
        dict(lr=-0.1),
        dict(momentum=-0.5),
        dict(weight_decay=-1e-4),
        dict(nesterov=True),
        dict(nesterov=True, momentum=0.9, dampening=0.1),
    ],
    "Adagrad": [
        dict(lr=-1.0),
        dict(lr_decay=-0.1),
        dict(weight_decay=-0.1),
        dict(initial_accumulator_value=-1.0),
        dict(eps=-1e-10),
    ],
    "RMSprop": [
        dict(lr=-1.0),
        dict(eps=-1.0),
        dict(momentum=-0.1),
        dict(weight_decay=-0.1),
        dict(alpha=-0.1),
    ],
    "Adam": [
        dict(lr=-1e-3),
        dict(eps=-1e-8),
        dict(betas=(1.0, 0.999)),
        dict(betas=(0.9, 1.0)),
        dict(betas=(-0.1, 0.999)),
        dict(weight_decay=-0.1),
    ],
    "AdamW": [dict(lr=-1e-3), dict(betas=(0.9, 1.5)), dict(weight_decay=-0.01), dict(eps=-1.0)],
}


@pytest.mark.parametrize("name,kwargs", [(n, k) for n, ks in INVALID.items() for k in ks])
def test_invalid_hyperparameters_raise_value_error_like_torch(name, kwargs):
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError) as theirs:
        torch_cls(name)(p, **kwargs)  # the authority rejects it ...
    with pytest.raises(ValueError) as mine:
        getattr(ours, name)(p, **kwargs)  # ... and so do we,
    assert str(theirs.value).split(":")[0] in str(mine.value)  # starting with torch's words,
    arg = "momentum" if "nesterov" in kwargs else next(iter(kwargs))
    assert arg in str(mine.value) and "got" in str(mine.value)  # naming the argument and value


@pytest.mark.parametrize("name", list(CASES))
def test_bad_types_and_unsupported_switches(name):
    p = [torch.zeros(2, requires_grad=True)]
    cls = getattr(ours, name)
    with pytest.raises(TypeError, match="lr must be a real number, got str '0.1'"):
        cls(p, lr="0.1")
    with pytest.raises(TypeError, match="lr must be a real number, got bool True"):
        cls(p, lr=True)  # True is an int to Python, never a learning rate
    with pytest.raises(ValueError, match="lr"):
        cls(p, lr=float("nan"))
    with pytest.raises(ValueError, match=r"lr as a Tensor must have 1 element, got shape \[2\]"):
        cls(p, lr=torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="foreach"):
        cls(p, foreach=True)
    cls(p, foreach=False)  # what torch code often passes: accepted


def test_defaults_match_torch():
    import inspect

    for name in CASES:
        mine = inspect.signature(getattr(ours, name)).parameters
        theirs = inspect.signature(torch_cls(name)).parameters
        assert list(mine) == list(theirs), name
        for key in theirs:
            assert mine[key].default == theirs[key].default, (name, key)
            assert mine[key].kind == theirs[key].kind, (name, key)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_hyperparameters_equal_torch(data):
    """Property: for any valid hyperparameters, 40 steps give torch's numbers."""
    name = data.draw(st.sampled_from(list(CASES)))
    unit = st.floats(0.0, 0.99)
    small = st.floats(0.0, 0.5)
    kwargs = {"lr": data.draw(st.floats(1e-4, 0.3)), "weight_decay": data.draw(small)}
    if name == "SGD":
        kwargs["momentum"] = data.draw(unit)
        kwargs["nesterov"] = kwargs["momentum"] > 0 and data.draw(st.booleans())
        kwargs["dampening"] = 0.0 if kwargs["nesterov"] else data.draw(small)
    elif name == "Adagrad":
        kwargs.update(lr_decay=data.draw(small), initial_accumulator_value=data.draw(small))
    elif name == "RMSprop":
        kwargs.update(
            alpha=data.draw(unit),
            momentum=data.draw(unit),
            centered=data.draw(st.booleans()),
            eps=data.draw(st.floats(1e-8, 1e-2)),
        )
    else:
        kwargs.update(
            betas=(data.draw(unit), data.draw(unit)),
            amsgrad=data.draw(st.booleans()),
            eps=data.draw(st.floats(1e-8, 1e-2)),
        )
    kwargs["maximize"] = data.draw(st.booleans())
    seed = data.draw(st.integers(0, 1000))
    mine, _ = run(getattr(ours, name), kwargs, steps=40, seed=seed)
    ref, _ = run(torch_cls(name), kwargs, steps=40, seed=seed, opt_kwargs={"foreach": False})
    assert_same_params(mine, ref)
