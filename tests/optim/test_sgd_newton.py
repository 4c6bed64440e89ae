"""The notes' forms next to torch's: momentum velocity, Nesterov look-ahead, the epoch loop,
L2 vs weight decay, Newton's method (authority: torch.optim, autograd, closed-form quadratics)."""

import math

import pytest
import torch

import cvcourse.optim as ours
from cvcourse.optim.newton import hessian_cost, newton_method, newton_step, newton_step_1d

A = torch.tensor([[3.0, 1.0], [1.0, 0.5]], dtype=torch.float64)
B = torch.tensor([1.0, -2.0], dtype=torch.float64)


def quad_grad(x):
    return A @ x - B  # f = 1/2 x^T A x - B^T x


def torch_path(opt_cls, x0, steps, **kwargs):
    x = x0.clone().requires_grad_(True)
    opt = opt_cls([x], **kwargs)
    path = [x.detach().clone()]
    for _ in range(steps):
        x.grad = quad_grad(x.detach())
        opt.step()
        path.append(x.detach().clone())
    return torch.stack(path)


@pytest.mark.parametrize("lr,mu", [(0.1, 0.9), (0.3, 0.5), (0.05, 0.0), (0.2, 0.99)])
def test_notes_nesterov_lookahead_equals_torch_reformulation(lr, mu):
    x0 = torch.tensor([2.0, -1.0], dtype=torch.float64)
    notes = ours.nesterov_lookahead(quad_grad, x0, lr=lr, mu=mu, steps=100)
    kwargs = dict(lr=lr, momentum=mu, nesterov=mu > 0)
    torch.testing.assert_close(
        notes, torch_path(torch.optim.SGD, x0, 100, foreach=False, **kwargs), rtol=1e-10, atol=1e-10
    )


def test_notes_velocity_momentum_equals_torch_buffer_form():
    lr, mu, x0 = 0.1, 0.8, torch.tensor([1.0, 1.0], dtype=torch.float64)
    x, v, path = x0.clone(), torch.zeros(2, dtype=torch.float64), [x0.clone()]
    for _ in range(100):  # v = mu v - lr grad, theta = theta + v
        v = mu * v - lr * quad_grad(x)
        x = x + v
        path.append(x)
    torch.testing.assert_close(
        torch.stack(path), torch_path(ours.SGD, x0, 100, lr=lr, momentum=mu), rtol=1e-10, atol=1e-10
    )


@pytest.mark.parametrize("n,b", [(10, 3), (10, 10), (10, 1), (1, 1), (7, 100)])
def test_minibatches_is_the_notes_epoch(n, b):
    batches = list(ours.minibatches(n, b, torch.Generator().manual_seed(0)))
    assert len(batches) == math.ceil(n / b)  # U = ceil(N / B)
    assert sorted(torch.cat(batches).tolist()) == list(range(n))  # every sample once per epoch
    assert all(len(x) == b for x in batches[:-1]) and 1 <= len(batches[-1]) <= b


def test_minibatches_rejects_bad_sizes():
    for n, b, words in ((0, 1, "n must be an int >= 1, got 0"), (5, 0, "batch_size must be an int >= 1")):
        with pytest.raises(ValueError, match=words):
            list(ours.minibatches(n, b))
    wrong_types = ((5, 2.0, "batch_size must be an int, got float"), (True, 1, "n must be an int, got bool"))
    for n, b, words in wrong_types:
        with pytest.raises(TypeError, match=words):  # the wrong type, not a wrong value
            list(ours.minibatches(n, b))


def test_minibatch_sgd_with_full_batch_is_gradient_descent():
    X = torch.randn(12, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = X @ torch.tensor([1.0, -1.0], dtype=torch.float64)

    def loss(w, idx):
        return 0.5 * ((X[idx] @ w - y[idx]) ** 2).mean()

    w0 = torch.zeros(2, dtype=torch.float64)
    path = ours.minibatch_sgd(loss, w0, n=12, lr=0.1, batch_size=12, epochs=5)
    gd, w = [w0], w0.clone()
    for _ in range(5):
        w = w - 0.1 * (X.T @ (X @ w - y)) / 12
        gd.append(w)
    torch.testing.assert_close(path, torch.stack(gd), rtol=1e-12, atol=1e-12)
    small = ours.minibatch_sgd(loss, w0, n=12, lr=0.1, batch_size=5, epochs=2)
    assert small.shape == (2 * 3 + 1, 2)


def test_l2_equals_decay_for_sgd_but_not_for_adam():
    x0 = torch.tensor([2.0, -3.0], dtype=torch.float64)
    l2, decay = ours.l2_vs_decay(quad_grad, x0, lr=0.05, weight_decay=0.1, steps=50, adaptive=False)
    torch.testing.assert_close(l2, decay, rtol=1e-12, atol=1e-12)
    l2, decay = ours.l2_vs_decay(quad_grad, x0, lr=0.05, weight_decay=0.1, steps=50, adaptive=True)
    assert (l2 - decay).abs().max() > 1e-3
    # and the decoupled Adam path is torch's AdamW
    ref = torch_path(torch.optim.AdamW, x0, 50, lr=0.05, weight_decay=0.1, foreach=False)
    torch.testing.assert_close(decay, ref, rtol=1e-12, atol=1e-12)


def test_notes_loops_check_their_arguments():
    x0 = torch.tensor([2.0, -3.0], dtype=torch.float64)
    with pytest.raises(TypeError, match="steps must be an int, got bool"):
        ours.nesterov_lookahead(quad_grad, x0, lr=0.1, mu=0.9, steps=True)
    with pytest.raises(TypeError, match=r"theta must be a torch.Tensor of shape \[k\], got list"):
        ours.nesterov_lookahead(quad_grad, [2.0, -3.0], lr=0.1, mu=0.9, steps=3)
    with pytest.raises(ValueError, match="Invalid mu value: mu must be >= 0.0 and < 1.0"):
        ours.nesterov_lookahead(quad_grad, x0, lr=0.1, mu=1.0, steps=3)
    with pytest.raises(TypeError, match="epochs must be an int, got float"):
        ours.minibatch_sgd(lambda w, idx: w.sum(), x0, n=4, lr=0.1, batch_size=2, epochs=1.0)
    with pytest.raises(TypeError, match="loss_fn must be a function"):
        ours.minibatch_sgd(None, x0, n=4, lr=0.1, batch_size=2, epochs=1)
    with pytest.raises(ValueError, match="steps must be an int >= 0, got -1"):
        ours.l2_vs_decay(quad_grad, x0, lr=0.05, weight_decay=0.1, steps=-1, adaptive=False)
    with pytest.raises(TypeError, match="adaptive must be True or False, got int 1"):
        ours.l2_vs_decay(quad_grad, x0, lr=0.05, weight_decay=0.1, steps=5, adaptive=1)
    with pytest.raises(TypeError, match="theta0 must have a float dtype"):
        ours.l2_vs_decay(quad_grad, torch.tensor([1, 2]), lr=0.05, weight_decay=0.1, steps=5, adaptive=True)


def test_newton_1d_reaches_the_minimum_of_a_parabola_in_one_step():
    a, b, _c, x = 3.0, -4.0, 1.0, 5.0  # f = a x^2 + b x + c, minimum at -b / (2a)
    x1 = x + newton_step_1d(2 * a * x + b, 2 * a)
    assert x1 == pytest.approx(-b / (2 * a), abs=1e-15)
    with pytest.raises(ValueError, match="d2f must be a number > 0.0, got 0.0"):
        newton_step_1d(1.0, 0.0)
    with pytest.raises(ValueError, match="d2f must be a number > 0.0, got -2.0"):
        newton_step_1d(1.0, -2.0)
    with pytest.raises(ValueError, match="df must be a finite number, got nan"):
        newton_step_1d(float("nan"), 2.0)
    with pytest.raises(TypeError, match="df must be a real number, got str"):
        newton_step_1d("1", 2.0)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_newton_converges_in_one_step_on_quadratics(k):
    g = torch.Generator().manual_seed(k)
    M = torch.randn(k, k, dtype=torch.float64, generator=g)
    H = M @ M.T + k * torch.eye(k, dtype=torch.float64)
    b = torch.randn(k, dtype=torch.float64, generator=g)

    def f(x):
        return 0.5 * x @ H @ x - b @ x

    xs = newton_method(f, torch.randn(k, dtype=torch.float64, generator=g), steps=1)
    torch.testing.assert_close(xs[1], torch.linalg.solve(H, b), rtol=1e-12, atol=1e-12)
    step = newton_step(H @ xs[0] - b, H, lr=0.5)
    torch.testing.assert_close(xs[0] + 2 * step, xs[1], rtol=1e-12, atol=1e-12)


def test_newton_on_a_non_quadratic_converges_fast():
    def f(x):  # strictly convex, minimum at 0
        return torch.log(torch.cosh(x)).sum() + 0.5 * (x**2).sum()

    xs = newton_method(f, torch.tensor([0.5, -0.3], dtype=torch.float64), steps=5)
    assert xs[-1].abs().max() < 1e-12


def test_newton_step_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"hessian must have shape \[k, k\] \(with k=3\), got shape \[2, "):
        newton_step(torch.ones(3), torch.eye(2))
    with pytest.raises(ValueError, match=r"grad must have shape \[k\], got shape \[1, 3\]"):
        newton_step(torch.ones(1, 3), torch.eye(3))
    with pytest.raises(TypeError, match=r"grad must be a torch.Tensor of shape \[k\], got list"):
        newton_step([1.0], torch.eye(1))
    with pytest.raises(TypeError, match="hessian must have a float dtype"):
        newton_step(torch.ones(2), torch.eye(2, dtype=torch.long))
    with pytest.raises(ValueError, match="steps must be an int >= 0, got -1"):
        newton_method(lambda x: x.sum(), torch.ones(1), steps=-1)
    with pytest.raises(TypeError, match="steps must be an int, got float"):
        newton_method(lambda x: x.sum(), torch.ones(1), steps=1.0)


def test_hessian_cost_is_quadratic_memory_cubic_time():
    a, b = hessian_cost(1000), hessian_cost(2000, bytes_per_entry=8)
    assert b["entries"] == 4 * a["entries"] and b["flops"] == 8 * a["flops"]
    assert b["bytes"] == 2 * 4 * a["bytes"]
    with pytest.raises(ValueError, match="k must be an int >= 1, got 0"):
        hessian_cost(0)
    with pytest.raises(TypeError, match="bytes_per_entry must be an int, got bool"):
        hessian_cost(10, bytes_per_entry=True)


def test_adam_moments_match_torch_adam_first_steps():
    grads = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    m = ours.adam_moments(grads, beta1=0.8, beta2=0.95)
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.1, betas=(0.8, 0.95), eps=0.0, foreach=False)
    for t in range(6):
        before = w.detach().clone()
        w.grad = grads[t].clone()
        opt.step()
        torch.testing.assert_close(opt.state[w]["exp_avg"], m["g"][t], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(opt.state[w]["exp_avg_sq"], m["s"][t], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(before - w.detach(), 0.1 * m["step"][t], rtol=1e-10, atol=1e-12)
    const = ours.adam_moments(torch.full((4, 2), -2.0, dtype=torch.float64))
    torch.testing.assert_close(const["g_hat"], torch.full((4, 2), -2.0, dtype=torch.float64))
    with pytest.raises(ValueError, match="betas"):
        ours.adam_moments(grads, beta1=1.0)
    with pytest.raises(TypeError, match="grads must be a torch.Tensor, got list"):
        ours.adam_moments([1.0, 2.0])
    with pytest.raises(ValueError, match=r"grads must have shape \[T, ...\]"):
        ours.adam_moments(torch.tensor(1.0))  # a 0-d tensor: no steps axis
    with pytest.raises(ValueError, match="betas must be a pair"):
        ours.Adam([torch.zeros(2, requires_grad=True)], betas=(0.9, 0.99, 0.999))
    with pytest.raises(TypeError, match="betas must be a pair"):
        ours.Adam([torch.zeros(2, requires_grad=True)], betas=0.9)
