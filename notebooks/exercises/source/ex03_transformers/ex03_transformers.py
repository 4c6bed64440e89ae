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

# %%

# %% [markdown]
# # Exercise sheet 3: attention, heads, patches and positions
#
# **What you practise.** The pieces of a Vision Transformer (notes, chapter 3), each checked against
# torch: scaled dot-product attention with a mask and a causal mask
# (`F.scaled_dot_product_attention`), multi-head self-attention with its split and merge of the heads
# (`nn.MultiheadAttention`), the patch embedding (a strided convolution), the sinusoidal positional
# encoding (its worked numbers), and the two ways to get one vector per image, global average
# pooling and a [CLS] token (exercise sheet, Exercise 7-1 (c)).
#
# **Points.** Exercise 1: 4, exercise 2: 1, exercise 3: 3, exercise 4: 2, exercise 5: 2, exercise 6: 2
# (checked automatically; some checks are hidden and run when your notebook is graded), exercise 7: 2
# (written, graded by hand). Total: 16 points.
#
# **Time.** About 75 minutes. Every cell runs in about a second on a laptop CPU; no GPU needed.
#
# **How to work.** Replace each `raise NotImplementedError()` with your code, run the cell, then run
# the check cell below it. A check that passes prints nothing; one that fails says what it expected
# and what it got. Do not rename the functions or change their arguments: the grader calls them.

# %%
import math

import torch
import torch.nn.functional as F
from torch import nn

from cvcourse.grading import (
    check,
    check_close,
    check_equal,
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
# ## Exercise 2: the causal mask (1 point)
#
# In a decoder (and in autoregressive image models) token $n$ may only attend to tokens $m \le n$:
# the mask is lower-triangular. Write `causal_mask(n)`, the boolean $n \times n$ mask in the convention
# of exercise 1 (`True` = may attend), without `torch.tril` / `torch.triu`. The check runs your
# attention with it against `F.scaled_dot_product_attention(..., is_causal=True)`.

# %% nbgrader={"grade": false, "grade_id": "causal_mask", "locked": false, "schema_version": 3, "solution": true, "task": false}
def causal_mask(n):
    """Bool Tensor[n, n], True where query i may attend to key j, i.e. j <= i."""
    ### BEGIN SOLUTION
    index = torch.arange(n)
    return index[None, :] <= index[:, None]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_causal_mask", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
with exercise(2, "causal_mask"):
    with forbidden(torch, "tril", "build the mask by comparing indices"), forbidden(torch, "triu", "no triu"):
        mask = causal_mask(5)
    check_shape("causal_mask(5)", mask, (5, 5))
    check(mask.dtype == torch.bool, f"causal_mask should be a bool tensor, got dtype {mask.dtype}")
    check_equal("causal_mask(5)", mask, torch.ones(5, 5, dtype=torch.bool).tril())
    q, k, v = torch.randn(3, 5, 4), torch.randn(3, 5, 4), torch.randn(3, 5, 2)
    check_close("attention with causal_mask(5)", scaled_dot_product_attention(q, k, v, mask),
                F.scaled_dot_product_attention(q, k, v, is_causal=True))
### BEGIN HIDDEN TESTS
with exercise(2, "causal_mask"):
    check_equal("causal_mask(1)", causal_mask(1), torch.ones(1, 1, dtype=torch.bool))
    check_equal("causal_mask(9)", causal_mask(9), torch.ones(9, 9, dtype=torch.bool).tril())
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: multi-head self-attention (3 points)
#
# Multi-head attention (section 3.1.2) projects the tokens $X \in \mathbb{R}^{B \times N \times D}$ to
# $Q, K, V = X W_Q^T + b_Q, \dots$, **splits** each into $h$ heads of $D/h$ features
# ($[B, N, D] \to [B, h, N, D/h]$: feature $j$ of head $i$ is feature $i \cdot D/h + j$), runs the attention
# in every head, **merges** the heads back ($[B, h, N, D/h] \to [B, N, D]$) and applies the output
# projection $W_O$. Write `split_heads`, `merge_heads` and `multi_head_self_attention(x, mha)`, where
# `mha` is an `nn.MultiheadAttention(D, h, batch_first=True)`: its stacked projection
# `mha.in_proj_weight` ($[3D, D]$: $W_Q, W_K, W_V$ one below the other), `mha.in_proj_bias`,
# `mha.out_proj.weight`, `mha.out_proj.bias` and `mha.num_heads`. Use your attention of exercise 1.

# %% nbgrader={"grade": false, "grade_id": "multi_head_self_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def split_heads(x, heads):
    """Tensor[B, N, D] -> Tensor[B, heads, N, D // heads]."""
    ### BEGIN SOLUTION
    b, n, d = x.shape
    return x.reshape(b, n, heads, d // heads).transpose(1, 2)
    ### END SOLUTION


def merge_heads(x):
    """Tensor[B, heads, N, d] -> Tensor[B, N, heads * d], the inverse of split_heads."""
    ### BEGIN SOLUTION
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)
    ### END SOLUTION


def multi_head_self_attention(x, mha):
    """Self-attention of Tensor[B, N, D] tokens with the weights of nn.MultiheadAttention `mha`."""
    ### BEGIN SOLUTION
    q, k, v = F.linear(x, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
    heads = [split_heads(t, mha.num_heads) for t in (q, k, v)]
    return F.linear(merge_heads(scaled_dot_product_attention(*heads)), mha.out_proj.weight, mha.out_proj.bias)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_multi_head_self_attention", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def check_mha(batch, tokens, dim, heads):
    mha = nn.MultiheadAttention(dim, heads, batch_first=True)
    nn.init.normal_(mha.in_proj_bias), nn.init.normal_(mha.out_proj.bias)
    x = torch.randn(batch, tokens, dim)
    with torch.no_grad():
        expected = mha(x, x, x, need_weights=False)[0]
        with forbidden(mha, "forward", "compute the heads yourself, not mha(x, x, x)"):
            out = multi_head_self_attention(x, mha)
    check_shape(f"output (D={dim}, {heads} heads)", out, (batch, tokens, dim))
    check_close(f"output (D={dim}, {heads} heads)", out, expected)


with exercise(3, "multi_head_self_attention", also=("split_heads", "merge_heads")):
    torch.manual_seed(3)
    x = torch.arange(2 * 3 * 8.0).reshape(2, 3, 8)
    heads = split_heads(x, 4)
    check_shape("split_heads(x [2, 3, 8], 4)", heads, (2, 4, 3, 2))
    check_close("head 1 of token 2 of image 0 (features 2 and 3 of that token)", heads[0, 1, 2], x[0, 2, 2:4])
    check_close("merge_heads(split_heads(x, 4))", merge_heads(heads), x)
    check_mha(2, 5, 8, 2)
### BEGIN HIDDEN TESTS
check_written_here(multi_head_self_attention)
with exercise(3, "multi_head_self_attention", also=("split_heads", "merge_heads")):
    check_mha(3, 7, 12, 3)
    check_mha(1, 1, 6, 1)
    check_mha(2, 4, 16, 8)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: the patch embedding (2 points)
#
# ViT (section 3.2) cuts a $C \times H \times W$ image into $N = \frac{H}{P}\cdot\frac{W}{P}$ patches of
# $P \times P$ pixels, flattens each into $C P^2$ numbers (channel first, then row, then column, as
# `weight.flatten(1)` of a convolution kernel) and maps it linearly to $D$ features: tokens
# $[B, N, D]$, patches in row-major order. Write `patch_embedding(images, weight, bias)` with
# `weight` $[D, C, P, P]$ and `bias` $[D]$, with `reshape`/`permute` (or `unfold`) and a matrix product; the
# check compares with a convolution of stride $P$ (`F.conv2d`, which you may not call here).

# %% nbgrader={"grade": false, "grade_id": "patch_embedding", "locked": false, "schema_version": 3, "solution": true, "task": false}
def patch_embedding(images, weight, bias):
    """Tensor[B, C, H, W] images, weight [D, C, P, P], bias [D] -> tokens Tensor[B, N, D]."""
    ### BEGIN SOLUTION
    b, c, h, w = images.shape
    p = weight.shape[-1]
    patches = images.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)  # [B, H/P, W/P, C, P, P]
    return patches.reshape(b, (h // p) * (w // p), c * p * p) @ weight.flatten(1).T + bias
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_patch_embedding", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def check_patches(batch, channels, height, width, patch, dim):
    images = torch.randn(batch, channels, height, width)
    weight, bias = torch.randn(dim, channels, patch, patch), torch.randn(dim)
    expected = F.conv2d(images, weight, bias, stride=patch).flatten(2).transpose(1, 2)  # [B, N, D]
    with forbidden(F, "conv2d", "write the patches and the product yourself, not F.conv2d"):
        tokens = patch_embedding(images, weight, bias)
    check_shape(f"tokens ({height}x{width} images, P={patch}, D={dim})", tokens, expected.shape)
    check_close(f"tokens ({height}x{width} images, P={patch}, D={dim})", tokens, expected)


with exercise(4, "patch_embedding"):
    torch.manual_seed(4)
    check_patches(2, 3, 8, 12, 4, 5)
### BEGIN HIDDEN TESTS
check_written_here(patch_embedding)
with exercise(4, "patch_embedding"):
    check_patches(1, 1, 6, 6, 6, 3)  # one patch
    check_patches(3, 2, 4, 6, 2, 7)
    check_patches(1, 3, 5, 5, 1, 2)  # 1 x 1 patches: a per-pixel linear map
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: the sinusoidal positional encoding (2 points)
#
# The original transformer (section 3.1.3) adds to token $pos$ the vector
# $$\text{PE}_{pos,\,2i} = \sin\!\big(pos \cdot \omega_i\big), \qquad \text{PE}_{pos,\,2i+1} = \cos\!\big(pos \cdot \omega_i\big),
#   \qquad \omega_i = 10000^{-2i/d}, \quad i = 0, \dots, d/2 - 1.$$
# Write `sinusoidal_positions(n, d)` ($d$ even), a Tensor$[n, d]$. The check compares with the formula's
# numbers and with the property that makes it useful: $\text{PE}_{p} \cdot \text{PE}_{p+k} = \sum_i \cos(k\,\omega_i)$,
# which depends on the offset $k$ only, not on $p$.

# %% nbgrader={"grade": false, "grade_id": "sinusoidal_positions", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sinusoidal_positions(n, d):
    """Tensor[n, d]: row pos is the encoding of position pos (d even)."""
    ### BEGIN SOLUTION
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    omega = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * omega)
    pe[:, 1::2] = torch.cos(pos * omega)
    return pe
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_sinusoidal_positions", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def check_positions(n, d):
    pe = sinusoidal_positions(n, d)
    check_shape(f"sinusoidal_positions({n}, {d})", pe, (n, d))
    check_close("row 0 (position 0: sin 0 = 0, cos 0 = 1)", pe[0], torch.tensor([0.0, 1.0] * (d // 2)))
    for pos, i in sorted({(1, 0), (n - 1, d // 4), (n - 1, d // 2 - 1)}):
        omega = 10000.0 ** (-2 * i / d)
        check_close(f"PE[{pos}, {2 * i}] = sin({pos} * 10000^(-{2 * i}/{d}))", pe[pos, 2 * i], math.sin(pos * omega))
        check_close(f"PE[{pos}, {2 * i + 1}] = cos(...)", pe[pos, 2 * i + 1], math.cos(pos * omega))
    for k in (1, 3):
        want = sum(math.cos(k * 10000.0 ** (-2 * i / d)) for i in range(d // 2))
        dots = (pe[:-k] * pe[k:]).sum(dim=1)  # PE_p . PE_{p+k} for every p
        check_close(f"PE_p . PE_(p+{k}) for every p", dots, torch.full_like(dots, want))


with exercise(5, "sinusoidal_positions"):
    check_positions(10, 8)
### BEGIN HIDDEN TESTS
check_written_here(sinusoidal_positions)
with exercise(5, "sinusoidal_positions"):
    check_positions(50, 64)
    check_positions(4, 2)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: [CLS] token vs global average pooling (2 points)
#
# Classification needs one vector per image (Exercise 7-1 (c); the written assignment asks you to compare them in words). A ResNet averages its last feature
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
with exercise(6, "global_average_pool"):
    fmap = torch.randn(2, 3, 5, 4)
    expected = F.adaptive_avg_pool2d(fmap, 1).flatten(1)  # [B, C]
    check_close("global_average_pool output", global_average_pool(fmap), expected)
    check_raises("global_average_pool on a 3-d tensor", global_average_pool, fmap[0])
with exercise(6, "prepend_cls_token"):
    patches, cls = torch.randn(2, 9, 6), torch.randn(1, 1, 6)
    tokens = prepend_cls_token(patches, cls.requires_grad_(True))
    check_shape("prepend_cls_token output", tokens, (2, 10, 6))
    check_close("token 0 of every image", tokens[:, 0], cls.detach()[0].expand(2, 6))
    check_close("tokens 1..N", tokens[:, 1:], patches)
    tokens.sum().backward()
    check_close("cls_token.grad (sum over 2 images)", cls.grad, torch.full_like(cls, 2.0))
### BEGIN HIDDEN TESTS
with exercise(6, "global_average_pool"):
    one = torch.randn(3, 2, 1, 1)
    check_close("global_average_pool of a 1x1 map", global_average_pool(one), one.flatten(1))
    check_raises("global_average_pool on a 5-d tensor", global_average_pool, one[None])
with exercise(6, "prepend_cls_token"):
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
# ## Exercise 7: why divide by $\sqrt{d_K}$? (2 points, graded by hand)
#
# The cell below draws random queries and keys with independent unit-variance entries and measures
# the spread of the scores $q \cdot k$ and the largest softmax weight per row, with and without the
# $1/\sqrt{d_K}$. Explain in three or four sentences what you see as $d_K$ grows, why the variance of
# $q\cdot k$ is $d_K$, and what an unscaled softmax would do to the gradients during training.

# %%
for d_k in (4, 64, 1024):
    q, k = torch.randn(256, d_k), torch.randn(256, d_k)
    scores = q @ k.T
    top = torch.softmax(scores, dim=-1).max(dim=-1).values.mean()
    top_scaled = torch.softmax(scores / d_k**0.5, dim=-1).max(dim=-1).values.mean()
    print(f"d_K={d_k:5d}: std of q.k = {scores.std():6.2f}, largest weight: unscaled {top:.3f}, scaled {top_scaled:.3f}")

# %% [markdown] nbgrader={"grade": true, "grade_id": "scaling_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# $q \cdot k = \sum_{j=1}^{d_K} q_j k_j$ is a sum of $d_K$ independent products of mean 0 and variance 1, so its
# variance is $d_K$ and its standard deviation $\sqrt{d_K}$: 2, 8 and 32 in the table. Unscaled, the scores
# of a row then differ by tens as $d_K$ grows, and the softmax puts almost all of its weight on the largest
# one (the largest weight approaches 1): it behaves like an arg max. In that saturated regime the softmax's
# Jacobian, $\text{diag}(a) - a a^T$, is almost zero, so almost no gradient reaches the queries and keys and
# training stalls. Dividing by $\sqrt{d_K}$ brings the scores back to unit variance whatever $d_K$, and the
# weights stay spread out as in the scaled column.
