# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
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
# # Chapter 1 — Optimizers
#
# **What you will learn:** how stochastic gradient descent walks down a loss with mini-batches; why a
# canyon makes it oscillate; what Newton's method would do and why nobody uses it on a network;
# how momentum and Nesterov momentum, AdaGrad, RMSProp, Adam and AdamW change the step — each one
# written from scratch in `cvcourse.optim` and checked to give *the same numbers* as `torch.optim`.
#
# **Time:** under a minute in fast mode (`CVCOURSE_FAST=1`), about 3–4 minutes in full mode on a
# 2-core laptop CPU (the training comparison at the end takes most of it). **GPU:** only the training cell at the end uses it (it is a few times faster there); everything
# else is tiny 2-D arithmetic.

# %%
# %matplotlib inline
import inspect
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torchvision

import cvcourse.optim as co
from cvcourse.optim import surfaces
from cvcourse.optim.widgets import draw_paths, trajectory_explorer
from cvcourse.runtime import device, fast_mode, pick, seed_everything

seed_everything(0)
torch.set_num_threads(min(2, torch.get_num_threads()))
RESULTS = {"fast_mode": fast_mode()}  # the chapter's headline numbers, filled as the cells run

# %% tags=["parameters"]
steps = pick(full=300, fast=150)  # optimizer steps on the 2-D surfaces
n_train = pick(full=4000, fast=192)  # training images for the comparison at the end
n_val = pick(full=800, fast=96)
epochs = pick(full=8, fast=1)  # per optimizer; 7 optimizers share the ~3 min CPU budget
batch_size = 64
image_size = 32

# %% [markdown]
# ## 1.1 Stochastic gradient descent with mini-batches
#
# SGD follows a noisy estimate of the gradient computed on a mini-batch of $B$ samples. One epoch:
#
# 1. shuffle the training data $\mathcal{D}^{\text{train}}$;
# 2. for $u = 0, \dots, U-1$ with $U = \lceil N / B \rceil$: predict on the batch
#    $\mathbf{X}^{(u)}$, compute the loss and its gradient $\nabla\mathcal{L}$, and update
#    $\boldsymbol\theta \leftarrow \boldsymbol\theta - \eta\,\nabla\mathcal{L}$.
#
# Here is that loop in `cvcourse` — the shuffle and the $U$ batches:

# %%
print(inspect.getsource(co.minibatches))

# %% [markdown]
# We run it on a small linear regression (the `least_squares` surface: 256 samples, 2 weights) with
# the full batch and with $B = 16$. With $B = 16$ an epoch has $U = \lceil 256/16 \rceil = 16$ steps,
# each on a noisy gradient.

# %%
ls = surfaces.least_squares()
X, y = torch.from_numpy(ls.X), torch.from_numpy(ls.y)
N = len(y)


def batch_loss(w, idx):  # the mean squared error on the mini-batch idx
    return 0.5 * ((X[idx] @ w - y[idx]) ** 2).mean()


w0 = torch.tensor(ls.start, dtype=torch.float64)
paths = {B: co.minibatch_sgd(batch_loss, w0, N, lr=0.1, batch_size=B, epochs=3,
                             generator=torch.Generator().manual_seed(0)) for B in (N, 16)}
assert len(paths[16]) - 1 == 3 * math.ceil(N / 16)  # U = ceil(N / B) steps per epoch
assert len(paths[N]) - 1 == 3  # the full batch: one step per epoch
fig, ax = plt.subplots(figsize=(5, 4))
Xg, Yg, Zg = ls.grid()
ax.contour(Xg, Yg, np.log1p(Zg - Zg.min()), levels=15, cmap="Greys")
for B, p in paths.items():
    ax.plot(p[:, 0], p[:, 1], ".-", label=f"B = {B} ({len(p) - 1} steps)")
ax.set(title="Mini-batch SGD, 3 epochs", xlabel="$w_1$", ylabel="$w_2$")
ax.legend()
plt.show()

# %% [markdown]
# **Spheres.** On an isotropic paraboloid $f = \frac12(x^2+y^2)$ there is no preferred direction,
# and a larger learning rate converges faster (up to $\eta < 2$ here; the gradient is $\boldsymbol\theta$,
# so each step multiplies the distance to the minimum by $1-\eta$).

# %%
sphere, canyon = surfaces.sphere(), surfaces.canyon()
to_reach = {}
for lr in (0.05, 0.2, 0.5):
    t = co.trajectories(sphere, {"SGD": (co.SGD, dict(lr=lr))}, steps=steps)
    to_reach[lr] = int(np.argmax(t.losses[0] < 1e-6))  # first step below 1e-6
print("steps to reach f < 1e-6:", to_reach)
assert to_reach[0.05] > to_reach[0.2] > to_reach[0.5] > 0
RESULTS.update({f"sphere_steps_lr{lr}": n for lr, n in to_reach.items()})

# %% [markdown]
# **Canyons.** $f = \frac12(x^2 + 25\,y^2)$ is 25 times steeper across than along. SGD oscillates
# across the canyon, yet the loss decreases at every step: **the loss curve alone does not show the
# oscillation** — plot the path as well.

# %%
t = co.trajectories(canyon, {"SGD, lr = 0.075": (co.SGD, dict(lr=0.075))}, steps=60)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
draw_paths(canyon, t, *axes, title="SGD in a canyon: the path oscillates")
plt.show()
sign_flips = int(np.sum(np.diff(np.sign(t.paths[0, :, 1])) != 0))
assert np.all(np.diff(t.losses[0]) < 0) and sign_flips == 60  # loss falls, w2 flips every step
print(f"the loss decreased at all 60 steps while w2 changed sign {sign_flips} times")

# %% [markdown]
# **Local minima and saddle points.** GD stops at a critical point, whichever it meets: on a tilted
# double well, the start decides between the global minimum, a local minimum, and — on the ridge —
# the saddle point between them.

# %%
lm = surfaces.local_minima()
x_global, x_saddle, x_local = lm.critical_x
starts = {"right": (1.8, 1.2), "left": (-1.8, 1.2), "on the ridge": (x_saddle, 1.2)}
one = {"SGD": (co.SGD, dict(lr=0.05))}
paths = {name: co.trajectories(lm, one, start=s, steps=steps).paths[0] for name, s in starts.items()}
fig, ax = plt.subplots(figsize=(6, 4))
Xg, Yg, Zg = lm.grid()
ax.contour(Xg, Yg, Zg, levels=25, cmap="Greys")
for name, p in paths.items():
    ax.plot(p[:, 0], p[:, 1], ".-", ms=3, label=f"start {name}")
ax.set(title="SGD stops at the critical point it meets", xlabel="$w_1$", ylabel="$w_2$")
ax.legend()
plt.show()
ends = np.array([p[-1, 0] for p in paths.values()])
np.testing.assert_allclose(ends, [x_local, x_global, x_saddle], atol=1e-3)
print(f"ends at w1 = {np.round(ends, 3)}: local minimum, global minimum, saddle point")

# %% [markdown]
# ## 1.2 Second-order methods
#
# **Newton's method** fits the paraboloid of the second-order Taylor expansion at $x_t$,
# $$f(x_t + \Delta x) \approx f(x_t) + f'(x_t)\,\Delta x + \tfrac12 f''(x_t)\,\Delta x^2,$$
# and steps to its minimum, $\Delta x = -f'(x_t)/f''(x_t)$. On a quadratic the paraboloid *is* the
# function, so one step lands on the minimum.

# %%
a, b, x = 3.0, -4.0, 5.0  # f(x) = a x^2 + b x, minimum at -b / (2a)
x1 = x + co.newton_step_1d(2 * a * x + b, 2 * a)
assert abs(x1 - (-b / (2 * a))) < 1e-12
print(f"one Newton step from x = {x}: x = {x1:.6f} = -b/(2a)")
f = lambda x: torch.log(torch.cosh(x - 1)).sum()  # not quadratic: a few steps  # noqa: E731
xs = co.newton_method(f, torch.tensor([0.5], dtype=torch.float64), steps=4)
print("Newton on log cosh(x - 1):", [round(v, 10) for v in xs[:, 0].tolist()])
assert abs(xs[-1, 0].item() - 1) < 1e-9

# %% [markdown]
# For many variables the update is $-\mathrm{lr}\cdot\mathbf{H}_f^{-1}(\mathbf{x}_t)\,\nabla f(\mathbf{x}_t)$.
# On the canyon, whose Hessian is constant, one step with lr = 1 reaches the minimum that took SGD
# dozens of oscillating steps:

# %%
print(inspect.getsource(co.newton_step))
start = np.array(canyon.start)
step = co.newton_step(torch.from_numpy(canyon.grad(start)), torch.from_numpy(canyon.hessian(start)))
np.testing.assert_allclose(start + step.numpy(), canyon.minimum, atol=1e-12)

# %% [markdown]
# **Why not on networks?** With $k$ parameters $\mathbf{H}$ has $k^2$ entries ($O(k^2)$ memory) and
# solving with it costs $O(k^3)$ operations. The notes stop at the orders (n:147); here is the size
# for ResNet-18, $k$ counted from torchvision's model (built without weights), 4 bytes per float32
# entry: $4k^2 \approx 547$ TB ($10^{12}$ bytes), about 497 TiB.

# %%
k = sum(p.numel() for p in torchvision.models.resnet18(weights=None).parameters())
cost = co.hessian_cost(k, bytes_per_entry=4)
print(f"ResNet-18: k = {k:,} parameters")
print(f"Hessian: {cost['entries']:.2e} entries = {cost['bytes'] / 1e12:,.1f} TB "
      f"= {cost['bytes'] / 2**40:,.1f} TiB in float32")
print(f"solve:   ~{cost['flops']:.1e} operations = {cost['flops'] / 1e15 / 86400:,.0f} days at 1 PFLOP/s")
assert k == 11_689_512 and cost["bytes"] == 4 * k**2  # torchvision's documented count; 4 bytes per entry
assert round(cost["bytes"] / 1e12) == 547 and round(cost["bytes"] / 2**40) == 497  # 547 TB, 497 TiB
RESULTS["resnet18_hessian_tb"] = cost["bytes"] / 1e12

# %% [markdown]
# ## 1.3 Momentum
#
# **Standard momentum** adds a velocity, a running average of the past steps:
# $$v^{(t+1)} = \mu v^{(t)} - \mathrm{lr}\,\nabla\mathcal{L}(\boldsymbol\theta^{(t)}),\qquad
# \boldsymbol\theta^{(t+1)} = \boldsymbol\theta^{(t)} + v^{(t+1)}.$$
# `torch.optim.SGD` (and `cvcourse.optim.SGD`) keep $b = -v/\mathrm{lr}$ instead — the same path
# for a constant learning rate:

# %%
print(inspect.getsource(co.SGD.step))

# %% [markdown]
# Figure 1.1 of the notes: plain SGD against momentum ($\mu = 0.9$) on the sphere and the canyon,
# same learning rate. Momentum gets there first in both.

# %%
sgd_vs_momentum = lambda lr: {"SGD": (co.SGD, dict(lr=lr)),  # noqa: E731
                              "Momentum": (co.SGD, dict(lr=lr, momentum=0.9))}
fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), layout="constrained")
first_below = {}
for row, (surface, lr) in enumerate(((sphere, 0.02), (canyon, 0.02))):
    t = co.trajectories(surface, sgd_vs_momentum(lr), steps=steps)
    draw_paths(surface, t, *axes[row], title=f"SGD vs momentum on the {surface.name}, lr = {lr}")
    first_below[surface.name] = [int(np.argmax(loss < 1e-4)) or steps for loss in t.losses]
plt.show()
print("steps to reach f - f* < 1e-4 (SGD, momentum):", first_below)
assert all(mom < sgd for sgd, mom in first_below.values())
for name, (sgd, mom) in first_below.items():
    RESULTS[f"{name}_steps_sgd"], RESULTS[f"{name}_steps_momentum"] = sgd, mom

# %% [markdown]
# **Momentum counteracts poor conditioning** (the notes' remark). On canyons of growing condition number
# $\kappa$ (the ratio of the Hessian's largest to smallest eigenvalue), each method with its best
# constant settings for a quadratic (SGD: $\mathrm{lr} = 2/(1+\kappa)$; momentum, Polyak's heavy ball:
# $\mathrm{lr} = 4/(1+\sqrt\kappa)^2$, $\mu = ((\sqrt\kappa-1)/(\sqrt\kappa+1))^2$): SGD needs about
# $\kappa$ times more steps than on a sphere, momentum about $\sqrt\kappa$.

# %%
from cvcourse.optim.behaviour import momentum_filter, nesterov_step_parts, steps_to_tolerance

conditions = (4, 16, 64, 256)
needed = {"SGD": [], "momentum": []}
for kappa in conditions:
    r = math.sqrt(kappa)
    tuned = {"SGD": (co.SGD, dict(lr=2 / (1 + kappa))),
             "momentum": (co.SGD, dict(lr=4 / (1 + r) ** 2, momentum=((r - 1) / (r + 1)) ** 2))}
    for label, n in steps_to_tolerance(surfaces.canyon(condition=kappa), tuned, tol=1e-8, steps=5000).items():
        needed[label].append(n)
print("condition number:", conditions, "\nsteps to f - f* < 1e-8:", needed)
growth = {label: n[-1] / n[0] for label, n in needed.items()}  # kappa grows 64x
assert growth["SGD"] > 30 and growth["momentum"] < 12, growth  # ~kappa vs ~sqrt(kappa) = 8
RESULTS.update({f"conditioning_growth_{label}": g for label, g in growth.items()})

# %% [markdown]
# **Momentum is a low-pass filter** (the notes' second remark): the buffer, rescaled by $1-\mu$, is an
# exponential moving average $m_t = \mu m_{t-1} + (1-\mu) g_t$ of the gradients. For gradients with
# independent noise of variance $\sigma^2$ its variance is
# $\frac{1-\mu}{1+\mu}\sigma^2$: 19 times smaller for
# $\mu = 0.9$. Measured on noisy gradients $g_t = 1 + \text{noise}$:

# %%
noisy = 1 + torch.randn(20_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
for mu in (0.5, 0.9, 0.99):
    filtered = momentum_filter(noisy, mu)[1000:]  # after the start-up transient
    print(f"mu = {mu}: variance {filtered.var().item():.4f}, predicted {(1 - mu) / (1 + mu):.4f} "
          f"(gradients: {noisy.var().item():.3f}); mean {filtered.mean().item():.3f}")
    assert abs(filtered.var().item() / noisy.var().item() - (1 - mu) / (1 + mu)) < 0.25 * (1 - mu) / (1 + mu)
    assert abs(filtered.mean().item() - 1) < 0.1  # the signal passes, the noise is averaged away

# %% [markdown]
# **Nesterov momentum** evaluates the gradient at the look-ahead point $\boldsymbol\theta^{(t)} + \mu v^{(t)}$:
# $$v^{(t+1)} = \mu v^{(t)} - \mathrm{lr}\,\nabla\mathcal{L}(\boldsymbol\theta^{(t)} + \mu v^{(t)}),\qquad
# \boldsymbol\theta^{(t+1)} = \boldsymbol\theta^{(t)} + v^{(t+1)}.$$
# Torch stores the look-ahead point itself as the parameter, so it needs only the gradient at its
# own parameters: $b \leftarrow \mu b + g$, $\boldsymbol\theta \leftarrow \boldsymbol\theta - \mathrm{lr}(g + \mu b)$.
# The two forms give the same points:

# %%
grad_fn = lambda w: torch.from_numpy(canyon.grad(w.numpy()))  # noqa: E731
w0 = torch.tensor(canyon.start, dtype=torch.float64)
notes_form = co.nesterov_lookahead(grad_fn, w0, lr=0.02, mu=0.9, steps=100)
torch_form = co.trajectories_loop(canyon, {"torch": (torch.optim.SGD, dict(lr=0.02, momentum=0.9,
                                                                              nesterov=True))},
                                  start=canyon.start, steps=100).paths[0]
print("largest difference between the two forms:", np.abs(notes_form.numpy() - torch_form).max())
np.testing.assert_allclose(notes_form.numpy(), torch_form, rtol=1e-10, atol=1e-12)

# %% [markdown]
# **Figure 1.2**, the two steps from the same point and velocity: standard momentum adds $\mu v$ and the
# gradient step taken at $\boldsymbol\theta$; Nesterov first moves to the look-ahead point $\boldsymbol\theta + \mu v$
# and takes the gradient *there*: past the floor of the canyon, it already "sees" the far wall and
# turns back, where the standard step, computed at $\boldsymbol\theta$, goes on down the wall.

# %%
parts = nesterov_step_parts(canyon.grad, theta=np.array([-1.2, 0.4]), v=np.array([0.25, -0.8]), lr=0.02, mu=0.9)
fig, ax = plt.subplots(figsize=(6, 3.6))
Xg, Yg, Zg = canyon.grid()
ax.contour(Xg, Yg, Zg, levels=20, cmap="Greys")
arrow = dict(angles="xy", scale_units="xy", scale=1, width=0.006)
th, la = parts["theta"], parts["lookahead"]
ax.quiver(*th, *(la - th), color="tab:gray", label="momentum step μv", **arrow)
ax.quiver(*la, *(parts["standard"] - la), color="tab:blue", label="gradient step at θ (standard)", **arrow)
ax.quiver(*la, *(parts["nesterov"] - la), color="tab:red", label="gradient step at θ + μv (Nesterov)", **arrow)
ax.set(title="Fig. 1.2: one momentum step, standard vs Nesterov", xlabel="$w_1$", ylabel="$w_2$",
       xlim=(-1.6, -0.4), ylim=(-0.7, 0.6))
ax.legend(fontsize=8, loc="upper right")
plt.show()
assert canyon.value(parts["nesterov"]) < canyon.value(parts["standard"])  # the look-ahead corrects the overshoot
assert (parts["nesterov"] - parts["lookahead"])[1] > 0 > (parts["standard"] - parts["lookahead"])[1]  # back vs on

# %% [markdown]
# Figure 1.3: SGD vs momentum vs Nesterov momentum on the canyon. The look-ahead damps the
# oscillation.

# %%
three = {**sgd_vs_momentum(0.02), "Nesterov": (co.SGD, dict(lr=0.02, momentum=0.9, nesterov=True))}
t = co.trajectories(canyon, three, steps=steps)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
draw_paths(canyon, t, *axes, title="SGD vs momentum vs Nesterov")
plt.show()
assert t.losses[2, 100] < t.losses[1, 100] < t.losses[0, 100]

# %% [markdown]
# ## 1.4 Adaptive learning rates
#
# **The idea: one learning rate per parameter.** If the curvature changes along the axes (the
# parameters are independent), a step is better balanced when the learning rate is *reduced* along the
# dimension where the gradient is large and *increased* where it is small. Figure 1.4: on the canyon
# the gradient is mostly across ($w_2$), so SGD's step points across the canyon; dividing each
# coordinate by the size of its gradient makes the step point much closer to the minimum. In high
# dimension nobody can look at the landscape, so the methods below set the per-parameter rates from the
# gradients themselves.

# %%
w = np.array(canyon.start)
g = canyon.grad(w)
directions = {"SGD, -g": -g, "per-coordinate rates, -g / |g|": -g / np.abs(g)}
to_min = np.asarray(canyon.minimum) - w
cosine = {k: float(d @ to_min / np.linalg.norm(d) / np.linalg.norm(to_min)) for k, d in directions.items()}
fig, ax = plt.subplots(figsize=(6, 3.6))
Xg, Yg, Zg = canyon.grid()
ax.contour(Xg, Yg, Zg, levels=20, cmap="Greys")
for (label, d), color in zip(directions.items(), ("tab:blue", "tab:red"), strict=True):
    d = 0.8 * d / np.linalg.norm(d)
    ax.quiver(*w, *d, angles="xy", scale_units="xy", scale=1, color=color, width=0.006,
              label=f"{label} (cos to minimum {cosine[label]:.2f})")
ax.plot(*canyon.minimum, "k*", ms=10)
ax.set(title="Fig. 1.4: large gradient along w2, small along w1", xlabel="$w_1$", ylabel="$w_2$")
ax.legend(fontsize=8, loc="lower right")
plt.show()
print(f"gradient at the start: {g.round(2)}; cosine with the direction to the minimum: {cosine}")
assert cosine["per-coordinate rates, -g / |g|"] > 0.9 > 0.5 > cosine["SGD, -g"]

# %% [markdown]
# ### AdaGrad
# Each coordinate of the gradient is divided by the root of the sum of its past squares:
# $$\mathbf{s}^{(t+1)} = \mathbf{s}^{(t)} + \nabla\mathcal{L}\odot\nabla\mathcal{L},\qquad
# \boldsymbol\theta^{(t+1)} = \boldsymbol\theta^{(t)} - \frac{\mathrm{lr}}{\sqrt{\mathbf{s}^{(t+1)}}+\varepsilon}\odot\nabla\mathcal{L}.$$
# $\mathbf{s}$ only grows, so the step keeps shrinking — possibly long before the minimum
# (Figure 1.5).

# %%
sgd_ada = {"SGD": (co.SGD, dict(lr=0.05)), "AdaGrad": (co.Adagrad, dict(lr=0.05))}
t = co.trajectories(canyon, sgd_ada, steps=steps)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
draw_paths(canyon, t, *axes, title="SGD vs AdaGrad, lr = 0.05")
plt.show()
step_len = np.linalg.norm(np.diff(t.paths[1], axis=0), axis=1)
print(f"AdaGrad's step: {step_len[0]:.3f} at first, {step_len[-1]:.5f} at the end; "
      f"still {np.linalg.norm(t.paths[1, -1]):.2f} from the minimum")
assert t.losses[1, -1] > 100 * t.losses[0, -1]  # AdaGrad stopped far away

# %% [markdown]
# ### RMSProp
# An exponential moving average forgets old gradients, so the step does not vanish:
# $$\mathbf{s}^{(t+1)} = \beta\,\mathbf{s}^{(t)} + (1-\beta)\,\nabla\mathcal{L}\odot\nabla\mathcal{L},\qquad
# \boldsymbol\theta^{(t+1)} = \boldsymbol\theta^{(t)} - \frac{\mathrm{lr}}{\sqrt{\mathbf{s}^{(t+1)}}+\varepsilon}\odot\nabla\mathcal{L}$$
# (torch calls $\beta$ `alpha`).

# %%
print(inspect.getsource(co.RMSprop.step))

# %% [markdown]
# **AdaGrad's vanishing steps vs RMSProp's**, same surface, same lr. Without momentum both step by
# $-\mathrm{lr}_i\,\nabla_i\mathcal{L}$ with a per-coordinate rate
# $\mathrm{lr}_i = \mathrm{lr}/(\sqrt{s_i}+\varepsilon)$, read here from the optimizers' state
# (`effective_learning_rates`). AdaGrad's $\mathbf{s}$ sums every squared gradient, so its rates can
# only fall and its steps shrink with them; RMSProp's average forgets, so when the gradients get small
# its rates rise again, and it gets much further. The other side of it: with a constant lr RMSProp's
# step stays of the order of lr, so it does not settle: its loss falls below $10^{-12}$, then it
# bounces back and ends jittering around the minimum (a decaying learning rate would let it settle).

# %%
from cvcourse.optim.behaviour import effective_learning_rates

ada_rms = {"AdaGrad": (co.Adagrad, dict(lr=0.05)), "RMSProp": (co.RMSprop, dict(lr=0.05, alpha=0.9))}
t = co.trajectories(canyon, ada_rms, steps=steps)
step_len = np.linalg.norm(np.diff(t.paths, axis=1), axis=2)  # [2, steps]
rates = {label: effective_learning_rates(cls, canyon, steps, **kw) for label, (cls, kw) in ada_rms.items()}
fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), layout="constrained")
draw_paths(canyon, t, *axes[0], title="AdaGrad vs RMSProp, lr = 0.05")
for label, lengths, color in zip(t.labels, step_len, ("tab:red", "tab:purple"), strict=True):  # as draw_paths
    axes[1, 0].semilogy(range(1, steps + 1), lengths, color=color, label=label)
    for i, style in ((0, "-"), (1, "--")):
        axes[1, 1].semilogy(range(1, steps + 1), rates[label][:, i], style, color=color, label=f"{label}, $w_{i + 1}$")
axes[1, 0].set(title="Step length", xlabel="step t", ylabel="‖θ(t) − θ(t−1)‖")
axes[1, 1].set(title="Per-coordinate rate lr / (√s + ε)", xlabel="step t", ylabel="rate")
axes[1, 0].legend(), axes[1, 1].legend(fontsize=8)
plt.show()
print({label: f"loss {loss:.2e}" for label, loss in zip(t.labels, t.losses[:, -1], strict=True)})
print("rate at the end / smallest rate:", {k: (r[-1] / r.min(axis=0)).round(1) for k, r in rates.items()})
assert t.losses[1, -1] < 0.1 * t.losses[0, -1]  # RMSProp gets much further on the same surface
assert step_len[0, 100] < 0.1 * step_len[0, 0]  # AdaGrad's step has shrunk tenfold
assert (np.diff(rates["AdaGrad"], axis=0) <= 0).all()  # AdaGrad's rates never rise ...
assert (rates["RMSProp"][-1] > 10 * rates["RMSProp"].min(axis=0)).all()  # ... RMSProp's rise again
assert t.losses[1].min() < 1e-12 < 1e-6 * t.losses[1, -1]  # RMSProp came close, then bounced back

# %% [markdown]
# ### Adam
# Adam adds a moving average of the gradient itself, and corrects both averages for starting at 0:
# $\hat{\mathbf{g}} = \mathbf{g}^{(t)}/(1-\beta_1^t)$, $\hat{\mathbf{s}} = \mathbf{s}^{(t)}/(1-\beta_2^t)$,
# $\boldsymbol\theta \leftarrow \boldsymbol\theta - \mathrm{lr}\,\hat{\mathbf{g}}/(\sqrt{\hat{\mathbf{s}}}+\varepsilon)$.
# The first steps with a constant gradient 3, with and without the correction:

# %%
m = co.adam_moments(torch.full((30,), 3.0, dtype=torch.float64), beta1=0.9, beta2=0.999)
print(" t      g     g_hat        s   s_hat   step (corrected)   step (uncorrected)")
for i in list(range(5)) + [9, 11, 14, 19, 29]:
    print(f"{i + 1:2d} {m['g'][i]:6.3f} {m['g_hat'][i]:9.3f} {m['s'][i]:8.4f} {m['s_hat'][i]:7.3f}"
          f" {m['step'][i]:18.3f} {m['step_uncorrected'][i]:20.3f}")
torch.testing.assert_close(m["g_hat"], torch.full((30,), 3.0, dtype=torch.float64))  # unbiased
assert abs(m["g"][0] - 0.1 * 3.0) < 1e-12  # g^(1) = (1 - beta1) grad: 10x too small ...
assert m["step_uncorrected"][0] > 3  # ... but s is 1000x too small: uncorrected, the step is ~3x too big
ratio = m["step_uncorrected"] / m["step"]  # how much too large the uncorrected step is, per t
t_max = int(ratio.argmax()) + 1
print(f"uncorrected / corrected step: {ratio[0]:.2f} at t = 1, largest {ratio.max():.2f} at t = {t_max}")
assert abs(ratio[0] - 1000**0.5 / 10) < 1e-9 and t_max == 12 and round(float(ratio.max()), 1) == 6.6
RESULTS["adam_uncorrected_ratio_max"] = float(ratio.max())

# %% [markdown]
# The notes point at $\mathbf{g}^{(1)} = (1-\beta_1)\nabla\mathcal{L}$ being too small; the table
# shows that $\mathbf{s}$ is biased even more ($1-\beta_2 = 0.001$), so *without* the correction
# the first step is $\sqrt{1000}/10 \approx 3.2$ times **too large** (at $t = 1$ only: the ratio
# $(1-\beta_1^t)/\sqrt{1-\beta_2^t}$ keeps growing while $\mathbf{g}$ catches up faster than $\mathbf{s}$, to
# about **6.6 at $t = 12$**, and comes back towards 1 only after hundreds of steps). With the
# correction, the step is exactly lr from the first iteration.
#
# Figures 1.6–1.7: SGD vs AdaGrad vs RMSProp vs Adam, on the canyon and on Rosenbrock's valley.

# %%
four = lambda lr_sgd, lr: {"SGD": (co.SGD, dict(lr=lr_sgd)), "AdaGrad": (co.Adagrad, dict(lr=lr)),  # noqa: E731
                           "RMSProp": (co.RMSprop, dict(lr=lr / 5, alpha=0.9)),
                           "Adam": (co.Adam, dict(lr=lr))}
rosen = surfaces.rosenbrock()
fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), layout="constrained")
t_canyon = co.trajectories(canyon, four(0.05, 0.05), steps=steps)
draw_paths(canyon, t_canyon, *axes[0], title="SGD, AdaGrad, RMSProp, Adam on the canyon")
t_rosen = co.trajectories(rosen, four(1e-3, 0.05), steps=2 * steps)
draw_paths(rosen, t_rosen, *axes[1], title="... and on Rosenbrock's valley")
plt.show()
assert t_rosen.losses[3, -1] < min(t_rosen.losses[:3, -1])  # Adam gets furthest down the valley

# %% [markdown]
# Figure 1.8: the same on the least-squares problem with **small mini-batches** ($B = 4$), i.e.
# noisy gradients. Every method jitters around the minimum; averaging (momentum, Adam's
# $\mathbf{g}$) smooths the noise.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
t_noisy = co.trajectories(ls, four(0.05, 0.05), steps=steps, batch_size=4)
draw_paths(ls, t_noisy, *axes, title="Noisy gradients: batch size 4")
plt.show()
assert np.isfinite(t_noisy.paths).all()

# %% [markdown]
# **Adam's step is bounded** (the notes' remark). By Cauchy-Schwarz, for *any* gradient sequence
# $|\hat{\mathbf{g}}_t|/\sqrt{\hat{\mathbf{s}}_t}$ is at most a bound that depends only on $\beta_1, \beta_2, t$
# (`adam_step_bound`, derivation in `cvcourse/optim/behaviour.py`); for large $t$ it is
# $(1-\beta_1)/\sqrt{(1-\beta_2)(1-\beta_1^2/\beta_2)}$. RMSProp's ratio $|\nabla|/\sqrt{\mathbf{s}}$ can reach
# $1/\sqrt{1-\beta}$: a gradient spike after a quiet stretch gives a step 31.6 × lr with $\beta = 0.999$,
# where Adam's average of the gradient damps the spike by about $1-\beta_1$: its step stays below
# $(1-\beta_1)/\sqrt{1-\beta_2} \approx 3.2$ × lr (Kingma & Ba's bound for a gradient that was about
# zero before) and below the general bound, which no gradient sequence can exceed.

# %%
from cvcourse.optim.behaviour import adam_step_bound, single_parameter_steps

quiet_then_spike = torch.cat([torch.full((1000,), 1e-3, dtype=torch.float64), torch.ones(1, dtype=torch.float64)])
spike = {name: float(single_parameter_steps(cls, quiet_then_spike, lr=1.0, eps=0.0, **kw)[-1].abs())
         for name, cls, kw in (("RMSProp", co.RMSprop, dict(alpha=0.999)), ("Adam", co.Adam, dict(betas=(0.9, 0.999))))}
print(f"step on the spike, in units of lr: {spike}; Adam's bound at t = 1001: {adam_step_bound(1001):.2f}")
assert abs(spike["RMSProp"] - 1000**0.5) < 0.05 and spike["Adam"] < 0.1 / 0.001**0.5 < 0.11 * spike["RMSProp"]
assert spike["Adam"] < adam_step_bound(1001) < 0.2 * spike["RMSProp"]  # Adam's bound is below RMSProp's step
heavy_tailed = torch.randn(2000, generator=torch.Generator().manual_seed(1), dtype=torch.float64) ** 5
adam_steps = single_parameter_steps(co.Adam, heavy_tailed, lr=1.0, eps=0.0).abs()
bound = torch.tensor([adam_step_bound(t) for t in range(1, len(heavy_tailed) + 1)], dtype=torch.float64)
assert (adam_steps <= bound + 1e-12).all()  # the bound holds at every step of a wild sequence
RESULTS.update({f"spike_step_{k}": v for k, v in spike.items()})

# %% [markdown]
# **Adam assumes axis-aligned curvature** (the notes' remark). Its per-coordinate rescaling helps when
# the canyon lies along the axes and not when it is rotated. Same canyon ($\kappa = 25$) rotated by 45°,
# start point rotated with it: SGD is rotation invariant (its path is exactly the rotated path, same
# losses), Adam is not, and needs more than twice the steps.

# %%
rotated = surfaces.canyon(angle=45)
turn = np.array([[1, -1], [1, 1]]) / np.sqrt(2)  # the same 45 degree rotation
sgd_adam = {"SGD": (co.SGD, dict(lr=0.05)), "Adam": (co.Adam, dict(lr=0.05))}
t_axis = co.trajectories(canyon, sgd_adam, steps=steps)
t_rot = co.trajectories(rotated, sgd_adam, start=turn @ np.array(canyon.start), steps=steps)
fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), layout="constrained")
draw_paths(canyon, t_axis, *axes[0], title="SGD vs Adam, canyon along the axes")
draw_paths(rotated, t_rot, *axes[1], title="... and rotated by 45°")
plt.show()
np.testing.assert_allclose(t_rot.losses[0], t_axis.losses[0], rtol=1e-9, atol=1e-15)  # SGD: same losses
np.testing.assert_allclose(t_rot.paths[0], t_axis.paths[0] @ turn.T, atol=1e-12)  # ... on the rotated path
needed = {name: steps_to_tolerance(s, sgd_adam, tol=1e-4, steps=1000, start=st)["Adam"]
          for name, s, st in (("axis", canyon, None), ("rotated", rotated, turn @ np.array(canyon.start)))}
print("Adam's steps to f - f* < 1e-4:", needed)
assert needed["rotated"] > 2 * needed["axis"]
RESULTS.update({f"adam_steps_{k}": v for k, v in needed.items()})

# %% [markdown]
# ### AdamW
# $$\boldsymbol\theta^{(t+1)} = \boldsymbol\theta^{(t)} - \frac{\mathrm{lr}}{\sqrt{\hat{\mathbf{s}}}+\varepsilon}\odot\hat{\mathbf{g}} - \lambda\boldsymbol\theta^{(t)}$$
# For plain SGD **without momentum**, an L2 penalty ($\nabla \leftarrow \nabla + \lambda\boldsymbol\theta$) and
# weight decay ($\boldsymbol\theta \leftarrow (1-\mathrm{lr}\,\lambda)\boldsymbol\theta$) are the same update. With
# momentum they are not: the penalty enters the velocity and is averaged with the past gradients, decay
# is not (which is why SGDW exists, Loshchilov & Hutter). For Adam they are not either: the penalty goes
# through the averages and is rescaled by $1/\sqrt{\hat{\mathbf{s}}}$. Note:
# torch (and `cvcourse.optim.AdamW`) multiply the decay by lr, $-\mathrm{lr}\,\lambda\boldsymbol\theta$,
# where the notes write $-\lambda\boldsymbol\theta$; we follow torch.

# %%
gaps = {}
for name, adaptive, momentum in (("SGD", False, 0.0), ("SGD, momentum 0.9", False, 0.9), ("Adam", True, 0.0)):
    l2, decay = co.l2_vs_decay(grad_fn, w0, lr=0.05, weight_decay=0.1, steps=100, adaptive=adaptive,
                               momentum=momentum)
    gaps[name] = (l2 - decay).abs().max().item()
    print(f"{name:>17}: largest gap between L2 and weight decay = {gaps[name]:.2e}")
assert gaps["SGD"] < 1e-12 and gaps["SGD, momentum 0.9"] > 1e-3 and gaps["Adam"] > 1e-3

# %% [markdown]
# ## Explore
# Pick a surface, click on the contour plot to move the start, change the learning rate (log
# scale), momentum and betas, and choose the optimizers to compare. A path that diverges is cut
# where it leaves and marked with a cross.

# %%
explorer = trajectory_explorer("canyon", names=("SGD", "Momentum", "Nesterov", "Adam"))
explorer

# %% [markdown]
# ## Training a small CNN with each optimizer
# The same small CNN, the same initial weights and the same mini-batches, trained on the synthetic
# shapes for the same number of epochs with each optimizer (`cvcourse.optim.compare`).

# %%
from cvcourse.data import ShapesClassification
from cvcourse.optim.compare import compare_optimizers, default_optimizers

train_set = ShapesClassification(n_train, size=image_size, seed=0)
val_set = ShapesClassification(n_val, size=image_size, seed=1)
histories = compare_optimizers(default_optimizers(), train_set, val_set,
                               num_classes=len(train_set.classes), epochs=epochs,
                               batch_size=batch_size, device=device(), progress=not fast_mode())

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
for label, h in histories.items():
    axes[0].plot(np.array(h.steps["epoch"]), h.steps["train_loss"], label=label, lw=1)
    axes[1].plot(range(1, len(h["val_accuracy"]) + 1), h["val_accuracy"], "o-", label=label)
axes[0].set(title="Training loss per step", xlabel="epoch", ylabel="cross-entropy")
axes[1].set(title="Validation accuracy", xlabel="epoch", ylabel="accuracy")
axes[1].legend(fontsize=8)
plt.show()
final = {label: h["val_accuracy"][-1] for label, h in histories.items()}
print({k: round(v, 3) for k, v in final.items()})
assert all(np.isfinite(h["train_loss"]).all() for h in histories.values())
RESULTS.update({f"val_accuracy_{label}": acc for label, acc in final.items()})
RESULTS["training_seconds"] = sum(sum(h["epoch_time"]) for h in histories.values())
RESULTS

# %% [markdown]
# With a short budget the adaptive methods often start faster. The notes remark that, **properly
# tuned**, SGD with Nesterov momentum tends to beat Adam in computer vision — and that momentum
# methods prefer wide basins. Try it: raise `epochs` in the parameters cell, or tune the learning
# rates in `default_optimizers()`, and see whether the ranking changes.
