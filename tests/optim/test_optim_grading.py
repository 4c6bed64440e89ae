"""Tests of cvcourse.optim.grading: chapter 1's ``torch_optimizer_trajectory``, checked against the
closed form of SGD and Adam with a constant gradient."""

import pytest
import torch

from cvcourse.optim.grading import torch_optimizer_trajectory


def test_trajectory_matches_closed_form_sgd_and_adam():
    p0 = torch.randn(3, 2, dtype=torch.float64)
    g = torch.randn(3, 2, dtype=torch.float64)
    steps = 5
    sgd = torch_optimizer_trajectory(torch.optim.SGD, p0, [g] * steps, lr=0.1, momentum=0.5)
    for t, record in enumerate(sgd, start=1):
        buffer = g * sum(0.5**k for k in range(t))  # b_t = mu b_{t-1} + g with b_1 = g
        torch.testing.assert_close(record["momentum_buffer"], buffer)
        previous = p0 if t == 1 else sgd[t - 2]["param"]
        torch.testing.assert_close(record["param"], previous - 0.1 * buffer)
    adam = torch_optimizer_trajectory(torch.optim.Adam, p0, g.expand(steps, 3, 2), lr=0.01, eps=0.0)
    # With a constant gradient and eps = 0, the bias-corrected step is exactly lr * sign(g).
    torch.testing.assert_close(adam[-1]["param"], p0 - steps * 0.01 * g.sign())
    assert set(adam[0]) == {"param", "step", "exp_avg", "exp_avg_sq"}
    torch.testing.assert_close(adam[0]["exp_avg"], 0.1 * g)


def test_trajectory_degenerate_and_bad_inputs():
    p0 = torch.zeros(2, dtype=torch.float64)
    before = p0.clone()
    assert torch_optimizer_trajectory(torch.optim.SGD, p0, [], lr=0.1) == []
    torch_optimizer_trajectory(torch.optim.SGD, p0, [torch.ones(2)], lr=0.1)
    assert torch.equal(p0, before), "the starting parameter is not modified"
    with pytest.raises(ValueError, match=r"grads\[1\] must have shape \[2\], got shape \[3\]"):
        torch_optimizer_trajectory(torch.optim.SGD, p0, [torch.ones(2), torch.ones(3)], lr=0.1)
    with pytest.raises(TypeError, match="optimizer_class must be a torch.optim.Optimizer class"):
        torch_optimizer_trajectory(torch.nn.Linear, p0, [], lr=0.1)
    with pytest.raises(TypeError, match="param must have a float dtype, got dtype torch.int64"):
        torch_optimizer_trajectory(torch.optim.SGD, torch.zeros(2, dtype=torch.long), [], lr=0.1)
    with pytest.raises(TypeError, match="param must be a torch.Tensor, got list"):
        torch_optimizer_trajectory(torch.optim.SGD, [0.0, 0.0], [], lr=0.1)
    with pytest.raises(TypeError, match=r"grads\[0\] must be a torch.Tensor.*got list"):
        torch_optimizer_trajectory(torch.optim.SGD, p0, [[1.0, 1.0]], lr=0.1)
    with pytest.raises(TypeError, match="grads must be a sequence of tensors"):
        torch_optimizer_trajectory(torch.optim.SGD, p0, 3, lr=0.1)
