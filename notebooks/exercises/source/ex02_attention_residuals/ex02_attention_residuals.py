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
# # Exercise sheet 2: attention, residual gradients, [CLS] vs average pooling
#
# **What you practise.** Scaled dot-product attention with a mask (notes, section 3.1.1), checked
# against `torch.nn.functional.scaled_dot_product_attention`; the gradient through a stack of
# residual blocks (exercise sheet, Exercise 7-1 (a)(b)), measured with autograd; and the two ways a
# network turns a feature map into one vector per image, global average pooling (ResNet) and a
# [CLS] token (ViT) (Exercise 7-1 (c)(d)).
#
# **Points.** Exercise 1: 4, exercise 2: 1, exercise 3: 3, exercise 4: 2 (checked automatically;
# some checks are hidden and run when your notebook is graded), exercise 5: 2 (written, graded by
# hand). Total: 12 points.
#
# **Time.** About 60 minutes. Every cell runs in about a second on a laptop CPU; no GPU needed.
#
# **How to work.** Replace each `raise NotImplementedError()` with your code, run the cell, then run
# the check cell below it. A check that passes prints nothing; one that fails says what it expected
# and what it got. Do not rename the functions or change their arguments: the grader calls them.

# %%
import torch
import torch.nn.functional as F
from torch import nn

from cvcourse.grading import (
    check,
    check_close,
    check_raises,
    check_shape,
    check_written_here,
    exercise,
    forbidden,
)
from cvcourse.runtime import seed_everything

seed_everything(0)
torch.set_default_dtype(torch.float64)  # the checks compare in float64, to 1e-6 relative
torch.set_printoptions(precision=4)

# %% [markdown]
# ## Exercise 1: scaled dot-product attention (4 points)
#
# With queries $Q \in \mathbb{R}^{N \times d_K}$, keys $K \in \mathbb{R}^{M \times d_K}$ and values
# $V \in \mathbb{R}^{M \times d_V}$ (notes, section 3.1.1):
#
# $$A = \mathrm{softmax}_\text{row-wise}\left(\frac{Q K^T}{\sqrt{d_K}}\right) V \in \mathbb{R}^{N \times d_V}.$$
#
# A boolean `mask` of shape $N \times M$ says which keys each query may attend to (`True` = may
# attend, the convention of `F.scaled_dot_product_attention`). A masked key must get weight exactly 0
# and the weights of each row must still sum to 1: set the masked **scores** to $-\infty$ before the
# softmax. Leading batch dimensions (`[..., N, d_K]`) must work too. Write it with matrix products
# and `torch.softmax`; calling `F.scaled_dot_product_attention` does not count.

# %% nbgrader={"grade": false, "grade_id": "scaled_dot_product_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def scaled_dot_product_attention(q, k, v, mask=None):
    """A = softmax(Q K^T / sqrt(d_K)) V, row-wise softmax, optional boolean mask.

    Args:
        q: Tensor[..., N, d_K], the queries.
        k: Tensor[..., M, d_K], the keys.
        v: Tensor[..., M, d_V], the values.
        mask: None or bool Tensor[..., N, M]; True where query n may attend to key m.

    Returns:
        Tensor[..., N, d_V], the attention output.
    """
    ### BEGIN SOLUTION
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # [..., N, M]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v  # [..., N, d_V]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_scaled_dot_product_attention", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
with exercise(1, "scaled_dot_product_attention"):
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, n, d) for n, d in [(5, 8), (7, 8), (7, 3)])
    out = scaled_dot_product_attention(q, k, v)
    check_shape("attention output", out, (2, 5, 3))
    check_close("attention output (no mask)", out, F.scaled_dot_product_attention(q, k, v))
    mask = torch.rand(2, 5, 7) > 0.5
    mask[..., 0] = True  # every query may attend to at least one key
    check_close("attention output (with mask)", scaled_dot_product_attention(q, k, v, mask),
                F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
### BEGIN HIDDEN TESTS
check_written_here(scaled_dot_product_attention)  # not the course's cvcourse.transformers
reference = F.scaled_dot_product_attention  # kept: the block below forbids the student to call it
with exercise(1, "scaled_dot_product_attention"), forbidden(
        F, "scaled_dot_product_attention", "Exercise 1 asks you to compute the attention yourself, "
        "not to call F.scaled_dot_product_attention"):
    q, k, v = (torch.randn(3, 2, 6, d) for d in (64, 64, 5))
    causal = torch.ones(6, 6, dtype=torch.bool).tril()
    check_close("attention output (d_K=64, 2 batch dims)", scaled_dot_product_attention(q, k, v),
                reference(q, k, v))
    check_close("attention output (causal mask)", scaled_dot_product_attention(q, k, v, causal),
                reference(q, k, v, attn_mask=causal))
    one = torch.randn(1, 4)  # a single query and a single key: weight 1
    out = scaled_dot_product_attention(one, one, one[:, :2])
    check_close("attention output (one key)", out, one[:, :2])
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: a stack of residual blocks (1 point)
#
# A residual block computes $x_{l+1} = f_l(x_l) + x_l$ (Exercise 7-1 (a)). Unrolling it from any layer
# $l$ to the last one, $L$:
#
# $$x_L = x_l + \sum_{i=l}^{L-1} f_i(x_i).$$
#
# Write `residual_features(x0, blocks)` that runs $x_0$ through the blocks $f_0, \dots, f_{L-1}$
# (a list of modules) and returns the list of **all** features $[x_0, x_1, \dots, x_L]$.

# %% nbgrader={"grade": false, "grade_id": "residual_features", "locked": false, "schema_version": 3, "solution": true, "task": false}
def residual_features(x0, blocks):
    """Features of a residual stack, x_{l+1} = f_l(x_l) + x_l.

    Args:
        x0: Tensor[D] (or Tensor[B, D]), the input x_0.
        blocks: list of L modules f_0 ... f_{L-1}, each mapping Tensor[..., D] to Tensor[..., D].

    Returns:
        list of L + 1 tensors [x_0, x_1, ..., x_L], each shaped like x0.
    """
    ### BEGIN SOLUTION
    features = [x0]
    for block in blocks:
        features.append(block(features[-1]) + features[-1])
    return features
    ### END SOLUTION


# %%
torch.manual_seed(0)
D, L = 4, 6
blocks = [nn.Sequential(nn.Linear(D, D), nn.Tanh()) for _ in range(L)]  # f_0 ... f_5
x0 = torch.randn(D)

# %% nbgrader={"grade": true, "grade_id": "test_residual_features", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
with exercise(2, "residual_features"):
    xs = residual_features(x0, blocks)
    got = f"{len(xs)} items" if isinstance(xs, list) else type(xs).__name__
    ok = isinstance(xs, list) and len(xs) == L + 1
    check(ok, f"residual_features should return a list of {L + 1} tensors, got {got}")
    check_close("x_0", xs[0], x0)
    for l in range(L):  # the identity of Exercise 7-1 (a), from every layer l
        unrolled = xs[l] + sum(blocks[i](xs[i]) for i in range(l, L))
        check_close(f"x_L compared with x_{l} + sum of f_i(x_i), i = {l}..{L - 1}", xs[L], unrolled)
        step = blocks[l](xs[l]) + xs[l]
        check_close(f"x_{l + 1} compared with f_{l}(x_{l}) + x_{l}", xs[l + 1], step)
### BEGIN HIDDEN TESTS
with exercise(2, "residual_features"):
    batch = torch.randn(3, D)
    xs = residual_features(batch, blocks[:2])
    check(len(xs) == 3, f"two blocks give three features x_0, x_1, x_2, got {len(xs)}")
    x1 = blocks[0](batch) + batch
    check_close("x_2 for a batch", xs[2], blocks[1](x1) + x1)
    check(len(residual_features(x0, [])) == 1, "no blocks: the only feature is x_0")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: the gradient through residual blocks (3 points)
#
# By the chain rule, Exercise 7-1 (b) gives the Jacobian of $x_L$ with respect to $x_l$:
#
# $$\frac{\partial x_L}{\partial x_l} = I + \frac{\partial}{\partial x_l} \sum_{i=l}^{L-1} f_i(x_i),
# \qquad \frac{\partial \mathcal{L}}{\partial x_l} = \frac{\partial \mathcal{L}}{\partial x_L}
# + \frac{\partial \mathcal{L}}{\partial x_L} \frac{\partial}{\partial x_l} \sum_{i=l}^{L-1} f_i(x_i).$$
#
# Write `residual_branch_jacobian(blocks, x_l, l)`: the $D \times D$ matrix
# $B = \frac{\partial}{\partial x_l} \sum_{i=l}^{L-1} f_i(x_i)$, where every $x_i$ ($i > l$) is computed
# from $x_l$ by the blocks $f_l, \dots, f_{L-1}$. Use autograd, e.g.
# `torch.autograd.functional.jacobian(fn, x_l)` with a function `fn` that you write. The check then
# verifies the formula: $I + B$ must equal the Jacobian of the whole stack, and
# $\partial\mathcal{L}/\partial x_l$ must equal $\partial\mathcal{L}/\partial x_L\, (I + B)$.

# %% nbgrader={"grade": false, "grade_id": "residual_branch_jacobian", "locked": false, "schema_version": 3, "solution": true, "task": false}
def residual_branch_jacobian(blocks, x_l, l):
    """B = d/dx_l sum_{i=l}^{L-1} f_i(x_i), the part of dx_L/dx_l that goes through the blocks.

    Args:
        blocks: list of L modules f_0 ... f_{L-1}.
        x_l: Tensor[D], the feature at layer l.
        l: the layer index, 0 <= l <= L.

    Returns:
        Tensor[D, D], B[j, k] = d (sum_i f_i(x_i))[j] / d x_l[k].
    """
    ### BEGIN SOLUTION
    def branch_sum(x):
        total = torch.zeros_like(x)
        for block in blocks[l:]:
            out = block(x)
            total, x = total + out, x + out
        return total

    return torch.autograd.functional.jacobian(branch_sum, x_l)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_residual_branch_jacobian", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def stack_from(l):  # x_l -> x_L through f_l ... f_{L-1}: the authority is autograd on this function
    def run(x):
        for block in blocks[l:]:
            x = block(x) + x
        return x
    return run


with exercise(3, "residual_branch_jacobian"):
    x_l = torch.randn(D)
    for l in (0, 2, L - 1):
        B = residual_branch_jacobian(blocks, x_l, l)
        check_shape(f"B for l={l}", B, (D, D))
        full = torch.autograd.functional.jacobian(stack_from(l), x_l)  # dx_L/dx_l, [D, D]
        check_close(f"I + B compared with dx_L/dx_l for l={l}", torch.eye(D) + B, full)
### BEGIN HIDDEN TESTS
with exercise(3, "residual_branch_jacobian"):
    B = residual_branch_jacobian(blocks, x_l, L)
    check_close("B for l = L (no blocks left)", B, torch.zeros(D, D))
    x = x_l.clone().requires_grad_(True)
    weights = torch.randn(D)  # loss = weights . x_L, so dL/dx_L = weights
    (weights @ stack_from(1)(x)).backward()
    B = residual_branch_jacobian(blocks, x_l, 1)
    check_close("dL/dx_l from (b)", weights + weights @ B, x.grad)
### END HIDDEN TESTS

# %% [markdown]
# **Why it matters.** Shrink the blocks' weights so that each $f_i$ is nearly flat. In a plain stack
# $x_{l+1} = f_l(x_l)$ the gradient is a product of small Jacobians and vanishes; in the residual stack
# $B \approx 0$ and $\partial\mathcal{L}/\partial x_0 \approx \partial\mathcal{L}/\partial x_L$: the
# loss's gradient reaches every layer unmodified.

# %%
with torch.no_grad():
    for block in blocks:
        block[0].weight.mul_(0.05)
plain = torch.autograd.functional.jacobian(lambda x: torch.nn.Sequential(*blocks)(x), x0)
residual = torch.eye(D) + residual_branch_jacobian(blocks, x0, 0)
print(f"norm of dx_L/dx_0, plain stack: {plain.norm():.2e}, residual stack: {residual.norm():.3f}"
      f" (norm of I: {torch.eye(D).norm():.3f})")

# %% [markdown]
# ## Exercise 4: [CLS] token vs global average pooling (2 points)
#
# Classification needs one vector per image (Exercise 7-1 (c)). A ResNet averages its last feature
# map over all positions, $x_\text{cls} = \frac{1}{HW}\sum_{(i,j)} x_{ij}$ (global average pooling). A ViT
# instead puts a learned token in front of the $N$ patch tokens; self-attention lets it gather
# information from all of them, and the head reads its output.
#
# Write `global_average_pool(x)`, `[B, C, H, W] -> [B, C]`, raising a `ValueError` when `x` is not
# 4-dimensional, and `prepend_cls_token(patches, cls_token)`, `[B, N, D]` and `[1, 1, D]` to
# `[B, 1 + N, D]` with the [CLS] token at position 0 of every image (gradients must reach `cls_token`).

# %% nbgrader={"grade": false, "grade_id": "cls_vs_gap", "locked": false, "schema_version": 3, "solution": true, "task": false}
def global_average_pool(x):
    """Mean over the spatial positions: Tensor[B, C, H, W] -> Tensor[B, C]."""
    ### BEGIN SOLUTION
    if x.dim() != 4:
        raise ValueError(f"x must have shape [B, C, H, W], got {tuple(x.shape)}")
    return x.mean(dim=(2, 3))
    ### END SOLUTION


def prepend_cls_token(patches, cls_token):
    """Tensor[B, N, D] patch tokens and a Tensor[1, 1, D] [CLS] token -> Tensor[B, 1 + N, D]."""
    ### BEGIN SOLUTION
    return torch.cat([cls_token.expand(patches.shape[0], -1, -1), patches], dim=1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_cls_vs_gap", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with exercise(4, "global_average_pool"):
    fmap = torch.randn(2, 3, 5, 4)
    expected = F.adaptive_avg_pool2d(fmap, 1).flatten(1)  # [B, C]
    check_close("global_average_pool output", global_average_pool(fmap), expected)
    check_raises("global_average_pool on a 3-d tensor", global_average_pool, fmap[0])
with exercise(4, "prepend_cls_token"):
    patches, cls = torch.randn(2, 9, 6), torch.randn(1, 1, 6)
    tokens = prepend_cls_token(patches, cls.requires_grad_(True))
    check_shape("prepend_cls_token output", tokens, (2, 10, 6))
    check_close("token 0 of every image", tokens[:, 0], cls.detach()[0].expand(2, 6))
    check_close("tokens 1..N", tokens[:, 1:], patches)
    tokens.sum().backward()
    check_close("cls_token.grad (sum over 2 images)", cls.grad, torch.full_like(cls, 2.0))
### BEGIN HIDDEN TESTS
with exercise(4, "global_average_pool"):
    one = torch.randn(3, 2, 1, 1)
    check_close("global_average_pool of a 1x1 map", global_average_pool(one), one.flatten(1))
    check_raises("global_average_pool on a 5-d tensor", global_average_pool, one[None])
with exercise(4, "prepend_cls_token"):
    none = torch.randn(4, 0, 6)  # no patches: only the [CLS] token is left
    out = prepend_cls_token(none, cls.detach())
    check_close("prepend_cls_token with N=0", out, cls.detach().expand(4, 1, 6))
### END HIDDEN TESTS

# %% [markdown]
# With one self-attention step, the [CLS] token's output depends on **every** patch, with weights
# that depend on the content; average pooling weighs every position by exactly $1/(HW)$.

# %%
patches, cls = torch.randn(2, 9, 6), torch.randn(1, 1, 6)
tokens = prepend_cls_token(patches, cls).requires_grad_(True)
scaled_dot_product_attention(tokens, tokens, tokens)[:, 0].sum().backward()
print("gradient norm of the [CLS] output w.r.t. each patch token:", tokens.grad[0, 1:].norm(dim=-1))

# %% [markdown]
# ## Exercise 5: inductive bias (2 points, graded by hand)
#
# Compare ResNet, ViT and Swin: which assumptions about images does each build in (Exercise 7-1 (d))?
# Order them from most to least inductive bias and justify the order in three or four sentences.

# %% [markdown] nbgrader={"grade": true, "grade_id": "inductive_bias_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **ResNet > Swin > ViT.** A ResNet is a CNN: its convolutions build in locality (small kernels) and
# translation equivariance (shared weights), the strongest assumptions about images. ViT uses global
# self-attention, designed for text: every token can attend to every other token from the first layer,
# and only the position embeddings let it learn (not enforce) position and locality. Swin sits in between:
# it uses attention instead of convolutions, but restricted to local windows (shifted between layers,
# with a hierarchy of resolutions), which brings locality back.
