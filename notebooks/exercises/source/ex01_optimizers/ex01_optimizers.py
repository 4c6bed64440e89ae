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
# **What you practise.** Writing one update step of SGD with momentum, Nesterov momentum, RMSProp,
# Adam and AdamW (notes, sections 1.3 and 1.4; chapter 1's notebook) as plain functions on tensors,
# and checking them, step by step, against `torch.optim`, the implementations you use every day.
#
# **Points.** Exercise 1: 3, exercise 2: 2, exercise 3: 2, exercise 4: 4, exercise 5: 3 (checked
# automatically; some checks are hidden and run when your notebook is graded), exercise 6: 2 (a
# written answer, graded by hand). Total: 16 points.
#
# **Time.** About 75 minutes. Every cell runs in well under a second on a laptop CPU; no GPU needed.
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
# ## Exercise 2: Nesterov momentum (2 points)
#
# Nesterov momentum takes the gradient at the look-ahead point $\theta^{(t)} + \mu v^{(t)}$ (section 1.3).
# `torch.optim.SGD(..., nesterov=True)` stores that look-ahead point as its parameter, so it only needs
# the gradient at its own parameters (chapter 1 shows that both forms give the same points):
#
# $$b^{(t+1)} = \mu\, b^{(t)} + \nabla, \qquad \theta^{(t+1)} = \theta^{(t)} - \text{lr}\,\big(\nabla + \mu\, b^{(t+1)}\big), \qquad b^{(0)} = 0.$$
#
# Write `nesterov_step(theta, grad, buf, lr, momentum)` returning $(\theta^{(t+1)}, b^{(t+1)})$, checked
# against `torch.optim.SGD(nesterov=True)` and its `momentum_buffer`.

# %% nbgrader={"grade": false, "grade_id": "nesterov_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def nesterov_step(theta, grad, buf, lr, momentum):
    """One step of SGD with Nesterov momentum, in torch's form.

    Args:
        theta: Tensor[*shape], the parameters.
        grad: Tensor[*shape], the gradient of the loss at theta.
        buf: Tensor[*shape], the momentum buffer b (zeros before the first step).
        lr: the learning rate (> 0).
        momentum: mu in [0, 1).

    Returns:
        (theta, buf) after the step, both Tensor[*shape].
    """
    ### BEGIN SOLUTION
    buf = momentum * buf + grad
    return theta - lr * (grad + momentum * buf), buf
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_nesterov_step", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def check_trajectory(step, optimizer, state, hyper, shape=(3, 4), steps=5, torch_only=None):
    """Run the student's `step` from zeros next to torch's `optimizer`; compare after every step.

    `state` names the student's extra tensors by torch's keys (`["momentum_buffer"]`); `step` is
    called as step(theta, grad, *extra, **hyper) and returns (theta, *extra); `torch_only` holds the
    optimizer's options the student's function does not take (`nesterov=True`).
    """
    theta, grads = torch.randn(shape), torch.randn(steps, *shape)
    extra = [torch.zeros(shape) for _ in state]
    expected = torch_optimizer_trajectory(optimizer, theta, grads, **hyper, **(torch_only or {}))
    for t, (grad, want) in enumerate(zip(grads, expected, strict=True), start=1):
        with forbidden(torch.optim, optimizer.__name__, "write the step, not torch.optim"):
            theta, *extra = step(theta, grad, *extra, **hyper)
        check_shape(f"theta after step {t}", theta, shape)
        for key, value in zip(state, extra, strict=True):
            check_close(f"{key} after step {t} ({hyper})", value, want[key])
        check_close(f"theta after step {t} ({hyper})", theta, want["param"])


with exercise(2, "nesterov_step"):
    torch.manual_seed(3)
    check_trajectory(nesterov_step, torch.optim.SGD, ["momentum_buffer"], dict(lr=0.1, momentum=0.9),
                     torch_only=dict(nesterov=True))
### BEGIN HIDDEN TESTS
check_written_here(nesterov_step)
with exercise(2, "nesterov_step"):
    for lr, mu in [(0.01, 0.5), (1.0, 0.99), (0.3, 0.3)]:
        check_trajectory(nesterov_step, torch.optim.SGD, ["momentum_buffer"], dict(lr=lr, momentum=mu),
                         shape=(7,), steps=9, torch_only=dict(nesterov=True))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: RMSProp (2 points)
#
# RMSProp replaces AdaGrad's sum of squared gradients by an exponential moving average, so old
# gradients are forgotten (section 1.4.2; torch calls $\beta$ `alpha`):
#
# $$s \leftarrow \beta s + (1-\beta)\, \nabla \odot \nabla, \qquad \theta \leftarrow \theta - \frac{\text{lr}}{\sqrt{s} + \varepsilon} \odot \nabla, \qquad s^{(0)} = 0.$$
#
# Write `rmsprop_step(theta, grad, s, lr, alpha, eps)` returning `(theta, s)`; the check compares with
# `torch.optim.RMSprop` and its `square_avg`.

# %% nbgrader={"grade": false, "grade_id": "rmsprop_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def rmsprop_step(theta, grad, s, lr=1e-2, alpha=0.99, eps=1e-8):
    """One RMSProp step: returns (theta, s), both Tensor[*shape]."""
    ### BEGIN SOLUTION
    s = alpha * s + (1 - alpha) * grad * grad
    return theta - lr * grad / (s.sqrt() + eps), s
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rmsprop_step", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with exercise(3, "rmsprop_step"):
    torch.manual_seed(4)
    check_trajectory(rmsprop_step, torch.optim.RMSprop, ["square_avg"], dict(lr=0.01, alpha=0.9, eps=1e-8))
### BEGIN HIDDEN TESTS
check_written_here(rmsprop_step)
with exercise(3, "rmsprop_step"):
    for lr, alpha, eps in [(0.1, 0.5, 1e-3), (1e-3, 0.999, 1e-8), (0.5, 0.0, 0.1)]:
        check_trajectory(rmsprop_step, torch.optim.RMSprop, ["square_avg"], dict(lr=lr, alpha=alpha, eps=eps),
                         shape=(6,), steps=8)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: Adam with bias correction (4 points)
#
# Adam keeps running averages of the gradient, $g$, and of its square, $s$ (section 1.4.3). With
# $\nabla = \nabla\mathcal{L}(\theta^{(t)})$ and the step counter $t = 1, 2, \dots$:
#
# $$g \leftarrow \beta_1 g + (1 - \beta_1) \nabla, \qquad s \leftarrow \beta_2 s + (1 - \beta_2)\, \nabla \odot \nabla,$$
#
# $$\hat g = \frac{g}{1 - \beta_1^{\,t}}, \qquad \hat s = \frac{s}{1 - \beta_2^{\,t}}, \qquad
#   \theta \leftarrow \theta - \frac{\text{lr}}{\sqrt{\hat s} + \varepsilon} \odot \hat g .$$
#
# $g$ and $s$ start at zero, so both are too small during the first steps, but not by the same factor:
# at $t = 1$, $g = (1-\beta_1)\nabla = 0.1\,\nabla$ while $\sqrt{s} = \sqrt{1-\beta_2}\,|\nabla| \approx 0.032\,|\nabla|$
# with the default betas. Without the division by $1 - \beta^{\,t}$ the first step would be
# $0.1/0.032 \approx 3.2$ times **too large** (chapter 1's table of the first steps). Write `adam_step(theta, grad, g, s, t, lr, betas, eps)` returning the new
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
with exercise(4, "adam_step"):
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
with exercise(4, "adam_step"):
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
print(f"without bias correction it would be (1 - 0.9) / sqrt(1 - 0.999) = {0.1 / 0.001 ** 0.5:.2f} times larger")

# %% [markdown]
# ## Exercise 5: AdamW, weight decay is not an L2 penalty (3 points)
#
# With plain SGD, adding $\frac{\lambda}{2}\lVert\theta\rVert^2$ to the loss ($\nabla \leftarrow \nabla + \lambda\theta$) and
# shrinking the weights ($\theta \leftarrow (1 - \text{lr}\,\lambda)\,\theta$) are the same update. With Adam they are
# not: the penalty's gradient goes through $g$ and $s$ and is rescaled by $1/\sqrt{\hat s}$. AdamW (section
# 1.4.4) **decouples** the decay: first $\theta \leftarrow (1 - \text{lr}\,\lambda)\,\theta$ (torch multiplies
# $\lambda$ by lr), then the Adam step of exercise 4 with the plain gradient $\nabla$.
#
# Write `adamw_step(theta, grad, g, s, t, lr, betas, eps, weight_decay)` returning `(theta, g, s)`,
# checked against `torch.optim.AdamW`. You may call your `adam_step`.

# %% nbgrader={"grade": false, "grade_id": "adamw_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def adamw_step(theta, grad, g, s, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """One AdamW step (decoupled weight decay): returns (theta, g, s), each Tensor[*shape]."""
    ### BEGIN SOLUTION
    theta = theta * (1 - lr * weight_decay)
    return adam_step(theta, grad, g, s, t, lr=lr, betas=betas, eps=eps)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_adamw_step", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def adamw_trajectory_check(hyper, shape, steps):
    theta, grads = torch.randn(shape), torch.randn(steps, *shape)
    g, s = torch.zeros(shape), torch.zeros(shape)
    expected = torch_optimizer_trajectory(torch.optim.AdamW, theta, grads, **hyper)
    for t, (grad, want) in enumerate(zip(grads, expected, strict=True), start=1):
        with forbidden(torch.optim, "AdamW", "write the step, not torch.optim.AdamW"):
            theta, g, s = adamw_step(theta, grad, g, s, t, **hyper)
        check_shape(f"theta after step {t}", theta, shape)
        check_close(f"g after step {t} (the decay must not enter g)", g, want["exp_avg"])
        check_close(f"theta after step {t} ({hyper})", theta, want["param"])


with exercise(5, "adamw_step"):
    torch.manual_seed(5)
    adamw_trajectory_check(dict(lr=0.1, weight_decay=0.5), (3, 4), 5)
### BEGIN HIDDEN TESTS
check_written_here(adamw_step)
with exercise(5, "adamw_step"):
    for hyper in [dict(lr=0.01, betas=(0.5, 0.7), eps=0.1, weight_decay=2.0),
                  dict(lr=1.0, betas=(0.0, 0.9), eps=1e-8, weight_decay=0.0)]:
        adamw_trajectory_check(hyper, (5,), 7)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: why does AdaGrad's step shrink? (2 points, graded by hand)
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
