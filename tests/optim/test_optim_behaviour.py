"""The measured remarks of notes 1.3-1.4 (cvcourse.optim.behaviour), against loops and torch.optim."""

import math

import numpy as np
import pytest
import torch

import cvcourse.optim as co
from cvcourse.optim import surfaces
from cvcourse.optim.behaviour import (
    adam_step_bound,
    effective_learning_rates,
    momentum_filter,
    nesterov_step_parts,
    single_parameter_steps,
    steps_to_tolerance,
)


def test_momentum_filter_is_torch_buffer_times_one_minus_mu():
    grads = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mu = 0.9
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1.0, momentum=mu, dampening=mu, foreach=False)  # b = mu b + (1-mu) g
    filtered = momentum_filter(grads, mu)
    for t, g in enumerate(grads):
        p.grad = g.clone()
        opt.step()
        if t > 0:  # torch's first buffer is g itself (no dampening at step 1)
            expected = opt.state[p]["momentum_buffer"] - mu**t * grads[0] * mu  # remove the undamped start
            torch.testing.assert_close(filtered[t], expected)
    torch.testing.assert_close(filtered[0], (1 - mu) * grads[0])


def test_momentum_filter_variance_and_edge_cases():
    noise = torch.randn(40_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    v = momentum_filter(noise, 0.8)[500:].var().item()
    assert abs(v - 0.2 / 1.8) < 0.01
    assert torch.equal(momentum_filter(noise[:5], 0.0), noise[:5])  # mu = 0: no filtering
    with pytest.raises(ValueError, match="mu"):
        momentum_filter(noise, 1.0)
    with pytest.raises(ValueError, match="grads"):
        momentum_filter(torch.tensor(1.0), 0.5)


def test_nesterov_parts_match_the_two_optimizers():
    canyon = surfaces.canyon()
    theta, v = np.array([-1.0, 0.4]), np.array([0.2, -0.3])
    parts = nesterov_step_parts(canyon.grad, theta, v, lr=0.02, mu=0.9)
    np.testing.assert_allclose(parts["lookahead"], theta + 0.9 * v)
    np.testing.assert_allclose(parts["standard"], theta + 0.9 * v - 0.02 * canyon.grad(theta))
    np.testing.assert_allclose(parts["nesterov"], theta + 0.9 * v - 0.02 * canyon.grad(theta + 0.9 * v))
    same = nesterov_step_parts(canyon.grad, theta, np.zeros(2), lr=0.02, mu=0.9)  # no velocity: equal
    np.testing.assert_allclose(same["standard"], same["nesterov"])


def test_steps_to_tolerance_against_closed_form():
    # SGD on f = x^2/2 + y^2/2 with lr: f_t = (1 - lr)^(2t) f_0, so the first t with f_t < tol is known.
    sphere = surfaces.sphere()
    f0 = float(sphere.value(np.array(sphere.start)))
    got = steps_to_tolerance(sphere, {"SGD": (co.SGD, dict(lr=0.1))}, tol=1e-6, steps=500)["SGD"]
    assert got == math.floor(math.log(1e-6 / f0) / (2 * math.log(0.9))) + 1
    never = steps_to_tolerance(sphere, {"SGD": (co.SGD, dict(lr=1e-4))}, tol=1e-6, steps=10)["SGD"]
    assert never == 11
    with pytest.raises(ValueError, match="tol"):
        steps_to_tolerance(sphere, {"SGD": (co.SGD, dict(lr=0.1))}, tol=0.0, steps=10)


@pytest.mark.parametrize(
    "cls,torch_cls,kw", [(co.Adam, torch.optim.Adam, {}), (co.RMSprop, torch.optim.RMSprop, {"alpha": 0.99})]
)
def test_single_parameter_steps_equal_torch(cls, torch_cls, kw):
    grads = torch.randn(30, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ours = single_parameter_steps(cls, grads, lr=0.1, **kw)
    theirs = single_parameter_steps(torch_cls, grads, lr=0.1, foreach=False, **kw)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


@pytest.mark.parametrize("seed", range(4))
def test_adam_step_bound_holds_and_is_reached_at_t1(seed):
    gen = torch.Generator().manual_seed(seed)
    grads = torch.randn(400, generator=gen, dtype=torch.float64) ** 3 * torch.rand(400, generator=gen) ** 4
    steps = single_parameter_steps(co.Adam, grads, lr=1.0, eps=0.0).abs()
    bound = torch.tensor([adam_step_bound(t) for t in range(1, 401)], dtype=torch.float64)
    assert (steps <= bound + 1e-12).all()
    assert adam_step_bound(1) == pytest.approx(1.0)  # the first corrected step is exactly lr
    large_t = 0.1 / math.sqrt(0.001 * (1 - 0.81 / 0.999))
    assert adam_step_bound(100_000) == pytest.approx(large_t)
    with pytest.raises(ValueError, match="beta1"):
        adam_step_bound(5, beta1=0.99, beta2=0.9)


def test_l2_equals_decay_only_without_momentum():
    canyon = surfaces.canyon()

    def grad_fn(w):
        return torch.from_numpy(canyon.grad(w.numpy()))

    w0 = torch.tensor(canyon.start, dtype=torch.float64)
    l2, decay = co.l2_vs_decay(grad_fn, w0, lr=0.05, weight_decay=0.1, steps=50, adaptive=False)
    torch.testing.assert_close(l2, decay)
    l2, decay = co.l2_vs_decay(grad_fn, w0, lr=0.05, weight_decay=0.1, steps=50, adaptive=False, momentum=0.9)
    assert (l2 - decay).abs().max() > 1e-3
    # SGDW by hand: b = mu b + g; theta = theta (1 - lr lambda) - lr b
    theta, b = w0.clone(), torch.zeros(2, dtype=torch.float64)
    for t in range(50):
        g = grad_fn(theta)
        b = g if t == 0 else 0.9 * b + g
        theta = theta * (1 - 0.05 * 0.1) - 0.05 * b
    torch.testing.assert_close(decay[-1], theta)
    with pytest.raises(ValueError, match="momentum"):
        co.l2_vs_decay(grad_fn, w0, lr=0.05, weight_decay=0.1, steps=5, adaptive=True, momentum=0.9)


@pytest.mark.parametrize(
    "cls,torch_cls,kw",
    [
        (co.Adagrad, torch.optim.Adagrad, {"lr": 0.05}),
        (co.RMSprop, torch.optim.RMSprop, {"lr": 0.05, "alpha": 0.9}),
    ],
)
def test_effective_learning_rates_by_hand_and_against_torch(cls, torch_cls, kw):
    canyon = surfaces.canyon(angle=30)
    steps = 60
    rates = effective_learning_rates(cls, canyon, steps, **kw)
    assert rates.shape == (steps, 2)
    theirs = effective_learning_rates(torch_cls, canyon, steps, foreach=False, **kw)
    np.testing.assert_array_equal(rates, theirs)
    # by hand, from the path the optimizer takes: s from the gradients at the path's points
    path = co.trajectories_loop(canyon, {"x": (torch_cls, dict(foreach=False, **kw))}, steps=steps).paths[0]
    grads = canyon.grad(path[:-1])  # [steps, 2], the gradient used at each step
    if cls is co.Adagrad:
        s = np.cumsum(grads**2, axis=0)
    else:
        s, acc = np.empty_like(grads), np.zeros(2)
        for t, g in enumerate(grads):
            acc = kw["alpha"] * acc + (1 - kw["alpha"]) * g**2
            s[t] = acc
    expected = kw["lr"] / (np.sqrt(s) + 1e-10 if cls is co.Adagrad else np.sqrt(s) + 1e-8)
    np.testing.assert_allclose(rates, expected, rtol=1e-12)
    # without momentum the step is -rate * g, coordinate by coordinate
    np.testing.assert_allclose(np.diff(path, axis=0), -rates * grads, rtol=1e-10, atol=1e-15)


def test_effective_learning_rates_adagrad_falls_rmsprop_recovers_and_checks():
    canyon = surfaces.canyon()
    ada = effective_learning_rates(co.Adagrad, canyon, 150, lr=0.05)
    rms = effective_learning_rates(co.RMSprop, canyon, 150, lr=0.05, alpha=0.9)
    assert (np.diff(ada, axis=0) <= 0).all()
    assert (rms[-1] > 10 * rms.min(axis=0)).all()
    with pytest.raises(ValueError, match="lr_decay"):
        effective_learning_rates(co.Adagrad, canyon, 5, lr=0.05, lr_decay=0.1)
    with pytest.raises(ValueError, match="centered"):
        effective_learning_rates(co.RMSprop, canyon, 5, lr=0.05, centered=True)
    with pytest.raises(ValueError, match="optimizer_class"):
        effective_learning_rates(co.SGD, canyon, 5, lr=0.05)
    with pytest.raises(ValueError, match="steps"):
        effective_learning_rates(co.Adagrad, canyon, 0, lr=0.05)
    with pytest.raises(TypeError, match="surface"):
        effective_learning_rates(co.Adagrad, "canyon", 5, lr=0.05)
