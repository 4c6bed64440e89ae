# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: nbgrader,tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise sheet 1: optimizers by hand
#
# **What you practise.** Writing one update step of SGD with momentum and of Adam (notes, sections
# 1.3 and 1.4.3) as plain functions on tensors, and checking them, step by step, against
# `torch.optim.SGD` and `torch.optim.Adam`, the implementations you use every day.
#
# **Points.** Exercise 1: 3 points, exercise 2: 4 points (checked automatically; some checks are
# hidden and run when your notebook is graded), exercise 3: 2 points (a written answer, graded by
# hand). Total: 9 points.
#
# **Time.** About 45 minutes. Every cell runs in well under a second on a laptop CPU; no GPU needed.
#
# **How to work.** Replace each `raise NotImplementedError()` with your code, run the cell, then run
# the check cell below it. A check that passes prints nothing; one that fails says what it expected
# and what it got. Do not rename the functions or change their arguments: the grader calls them.

# %%
import torch

from cvcourse.grading import check_close, check_shape, check_written_here, exercise, forbidden
from cvcourse.optim.grading import torch_optimizer_trajectory
from cvcourse.runtime import seed_everything

seed_everything(0)
torch.set_default_dtype(torch.float64)  # the checks compare in float64, to 1e-6 relative
torch.set_printoptions(precision=4)

# %% [markdown]
# ## Exercise 1: SGD with momentum (3 points)
#
# The notes keep a velocity $v$, a running sum of past steps (section 1.3):
#
# $$v^{(t+1)} = \mu\, v^{(t)} - \text{lr}\, \nabla\mathcal{L}(\theta^{(t)}), \qquad
#   \theta^{(t+1)} = \theta^{(t)} + v^{(t+1)}, \qquad v^{(0)} = 0.$$
#
# Write `sgd_momentum_step(theta, grad, velocity, lr, momentum)`, one step of this rule: it takes
# $\theta^{(t)}$ (`theta`), $\nabla\mathcal{L}(\theta^{(t)})$ (`grad`), $v^{(t)}$ (`velocity`),
# $\text{lr}$ and $\mu$ (`momentum`), and returns $(\theta^{(t+1)}, v^{(t+1)})$ as new tensors.
#
# *Good to know.* `torch.optim.SGD` stores $b = -v/\text{lr}$ instead (its `momentum_buffer`:
# $b^{(t+1)} = \mu b^{(t)} + \nabla\mathcal{L}$, $\theta^{(t+1)} = \theta^{(t)} - \text{lr}\, b^{(t+1)}$).
# With a constant learning rate both give the same $\theta$ at every step; the check uses that.

# %% nbgrader={"grade": false, "grade_id": "sgd_momentum_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sgd_momentum_step(theta, grad, velocity, lr, momentum):
    """One step of SGD with momentum, as in the notes.

    Args:
        theta: Tensor[*shape], the parameters theta^(t).
        grad: Tensor[*shape], the gradient of the loss at theta^(t).
        velocity: Tensor[*shape], the velocity v^(t) (zeros before the first step).
        lr: the learning rate (> 0).
        momentum: the momentum coefficient mu in [0, 1).

    Returns:
        (theta, velocity): theta^(t+1) and v^(t+1), both Tensor[*shape].
    """
    ### BEGIN SOLUTION
    velocity = momentum * velocity - lr * grad
    return theta + velocity, velocity
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_sgd_momentum_step", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
with exercise(1, "sgd_momentum_step"):
    torch.manual_seed(1)
    theta, velocity = torch.randn(3, 4), torch.zeros(3, 4)
    grads = torch.randn(5, 3, 4)
    expected = torch_optimizer_trajectory(torch.optim.SGD, theta, grads, lr=0.1, momentum=0.9)
    for t, (grad, want) in enumerate(zip(grads, expected, strict=True), start=1):
        theta, velocity = sgd_momentum_step(theta, grad, velocity, lr=0.1, momentum=0.9)
        check_shape(f"theta after step {t}", theta, (3, 4))
        check_close(f"theta after step {t} (lr=0.1, momentum=0.9)", theta, want["param"])
        check_close(f"velocity after step {t}", velocity, -0.1 * want["momentum_buffer"])
### BEGIN HIDDEN TESTS
check_written_here(sgd_momentum_step)  # not the course's reference code (cvcourse.optim)
with exercise(1, "sgd_momentum_step"):
    for lr, mu, steps in [(0.01, 0.5, 12), (0.3, 0.0, 3), (1.0, 0.99, 6)]:
        theta, velocity = torch.randn(7), torch.zeros(7)
        grads = torch.randn(steps, 7)
        expected = torch_optimizer_trajectory(torch.optim.SGD, theta, grads, lr=lr, momentum=mu)
        for t, (grad, want) in enumerate(zip(grads, expected, strict=True), start=1):
            with forbidden(torch.optim, "SGD", "write the step, not torch.optim.SGD"):
                theta, velocity = sgd_momentum_step(theta, grad, velocity, lr=lr, momentum=mu)
            check_close(f"theta after step {t} (lr={lr}, momentum={mu})", theta, want["param"])
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: Adam with bias correction (4 points)
#
# Adam keeps running averages of the gradient, $g$, and of its square, $s$ (section 1.4.3). With
# $\nabla = \nabla\mathcal{L}(\theta^{(t)})$ and the step counter $t = 1, 2, \dots$:
#
# $$g \leftarrow \beta_1 g + (1 - \beta_1) \nabla, \qquad s \leftarrow \beta_2 s + (1 - \beta_2)\, \nabla \odot \nabla,$$
#
# $$\hat g = \frac{g}{1 - \beta_1^{\,t}}, \qquad \hat s = \frac{s}{1 - \beta_2^{\,t}}, \qquad
#   \theta \leftarrow \theta - \frac{\text{lr}}{\sqrt{\hat s} + \varepsilon} \odot \hat g .$$
#
# $g$ and $s$ start at zero, so without the division by $1 - \beta^{\,t}$ the first steps would be
# far too small. Write `adam_step(theta, grad, g, s, t, lr, betas, eps)` returning the new
# `(theta, g, s)`. The check compares all three with `torch.optim.Adam` (`exp_avg`, `exp_avg_sq`).

# %% nbgrader={"grade": false, "grade_id": "adam_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adam_step(theta, grad, g, s, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """One step of Adam with bias correction, as in the notes.

    Args:
        theta: Tensor[*shape], the parameters.
        grad: Tensor[*shape], the gradient of the loss at theta.
        g: Tensor[*shape], running average of the gradients (zeros before the first step).
        s: Tensor[*shape], running average of the squared gradients (zeros before the first step).
        t: the number of this step, 1 for the first one.
        lr: the learning rate.
        betas: (beta1, beta2), the decay rates of g and s.
        eps: the small constant added to the denominator.

    Returns:
        (theta, g, s) after the step, each Tensor[*shape].
    """
    ### BEGIN SOLUTION
    beta1, beta2 = betas
    g = beta1 * g + (1 - beta1) * grad
    s = beta2 * s + (1 - beta2) * grad * grad
    g_hat = g / (1 - beta1**t)
    s_hat = s / (1 - beta2**t)
    return theta - lr * g_hat / (s_hat.sqrt() + eps), g, s
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_adam_step", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
with exercise(2, "adam_step"):
    torch.manual_seed(2)
    theta, grads = torch.randn(3, 4), torch.randn(6, 3, 4)
    g, s = torch.zeros_like(theta), torch.zeros_like(theta)
    expected = torch_optimizer_trajectory(torch.optim.Adam, theta, grads, lr=0.1)
    for t, (grad, want) in enumerate(zip(grads, expected, strict=True), start=1):
        theta, g, s = adam_step(theta, grad, g, s, t, lr=0.1)
        check_shape(f"theta after step {t}", theta, (3, 4))
        check_close(f"g after step {t}", g, want["exp_avg"])
        check_close(f"s after step {t}", s, want["exp_avg_sq"])
        check_close(f"theta after step {t} (lr=0.1, default betas and eps)", theta, want["param"])
### BEGIN HIDDEN TESTS
check_written_here(adam_step)
with exercise(2, "adam_step"):
    settings = [(0.01, (0.5, 0.7), 0.1), (1.0, (0.0, 0.9), 1e-8), (0.05, (0.99, 0.9999), 1e-3)]
    for lr, betas, eps in settings:
        theta, grads = torch.randn(9), torch.randn(8, 9)
        g, s = torch.zeros_like(theta), torch.zeros_like(theta)
        hyper = dict(lr=lr, betas=betas, eps=eps)
        expected = torch_optimizer_trajectory(torch.optim.Adam, theta, grads, **hyper)
        for t, (grad, want) in enumerate(zip(grads, expected, strict=True), start=1):
            with forbidden(torch.optim, "Adam", "write the step, not torch.optim.Adam"):
                theta, g, s = adam_step(theta, grad, g, s, t, **hyper)
            check_close(f"theta after step {t} ({hyper})", theta, want["param"])
### END HIDDEN TESTS

# %% [markdown]
# The first Adam step moves every coordinate by almost exactly `lr`, whatever the gradient's size:
# $\hat g / \sqrt{\hat s} = \nabla / |\nabla| = \pm 1$ at $t = 1$. Here is the step your function takes.

# %%
first = adam_step(torch.zeros(3), torch.tensor([1e-3, 1.0, 1e3]),
                  torch.zeros(3), torch.zeros(3), t=1, lr=0.1)[0]
print("first step for gradients 1e-3, 1, 1e3:", first.tolist())

# %% [markdown]
# ## Exercise 3: why does AdaGrad's step shrink? (2 points, graded by hand)
#
# AdaGrad (section 1.4.1) divides each step by the root of the **sum** of all past squared gradients:
# $s^{(t+1)} = s^{(t)} + \nabla \odot \nabla$, $\theta^{(t+1)} = \theta^{(t)} - \frac{\text{lr}}{\sqrt{s^{(t+1)}} + \varepsilon} \odot \nabla$.
# In three or four sentences: why does its effective learning rate shrink during training, how fast
# does it shrink when the gradient stays roughly constant, why can that be a problem, and how do
# RMSProp and Adam fix it?

# %% [markdown] nbgrader={"grade": true, "grade_id": "adagrad_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# $s^{(t)}$ is a sum of non-negative terms, so it can only grow: the effective learning rate
# $\text{lr} / (\sqrt{s^{(t)}} + \varepsilon)$ of every coordinate decreases monotonically, whatever the
# loss landscape looks like now. With a roughly constant gradient $\nabla$, $s^{(t)} \approx t\, \nabla^2$,
# so the step is about $\text{lr}/\sqrt{t}$: it decays like $1/\sqrt{t}$. The history never forgets large
# early gradients, so AdaGrad can stall far from the minimum (figure 1.5 in the notes). RMSProp and Adam
# replace the sum by an exponential moving average ($s \leftarrow \beta s + (1-\beta)\nabla^2$), which
# forgets old gradients, so the step size follows the recent gradient scale instead of shrinking for ever.
