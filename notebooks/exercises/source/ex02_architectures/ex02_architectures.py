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
# # Exercise sheet 2: what convolutional architectures cost and compute
#
# **What you practise.** Counting the parameters and multiply-adds of a (grouped, depth-wise)
# convolution and the receptive field of a stack of layers (notes, chapter 2); the residual block's
# features and gradient (exercise sheet, Exercise 7-1 (a)(b)); a squeeze-and-excitation block and a
# ResNet bottleneck block, written from their parts and checked against torchvision's.
#
# **Points.** Exercise 1: 2, exercise 2: 2, exercise 3: 1, exercise 4: 3, exercise 5: 2, exercise 6: 3
# (checked automatically; some checks are hidden and run when your notebook is graded), exercise 7: 2
# (written, graded by hand). Total: 15 points.
#
# **Time.** About 75 minutes. Every cell runs in about a second on a laptop CPU; no GPU needed.
#
# **How to work.** Replace each `raise NotImplementedError()` with your code, run the cell, then run
# the check cell below it. A check that passes prints nothing; one that fails says what it expected
# and what it got. Do not rename the functions or change their arguments: the grader calls them.

# %%
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cvcourse.grading import (
    check,
    check_close,
    check_equal,
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
# ## Exercise 1: the cost of a grouped convolution (2 points)
#
# A convolution with $C_\text{in}$ input and $C_\text{out}$ output channels, a $k \times k$ kernel and $G$
# groups connects every output channel to $C_\text{in}/G$ input channels only (section 2.3: ResNeXt,
# MobileNet). $G = 1$ is the ordinary convolution, $G = C_\text{in} = C_\text{out}$ the **depth-wise** one.
# Write `conv_cost(c_in, c_out, k, groups, h_out, w_out, bias)` returning `(params, mult_adds)`, two
# ints: the number of learned numbers (weights, plus one bias per output channel if `bias`), and the
# multiply-adds to compute an output of $h_\text{out} \times w_\text{out}$ pixels (the bias adds are not
# multiply-adds). The check counts the parameters of `nn.Conv2d` and its FLOPs with torch's
# `FlopCounterMode` (which counts a multiply-add as 2 FLOPs).

# %% nbgrader={"grade": false, "grade_id": "conv_cost", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv_cost(c_in, c_out, k, groups=1, h_out=1, w_out=1, bias=True):
    """Parameters and multiply-adds of a k x k convolution with `groups` groups.

    Returns:
        (params, mult_adds): two ints.
    """
    ### BEGIN SOLUTION
    weights = c_out * (c_in // groups) * k * k
    return weights + (c_out if bias else 0), weights * h_out * w_out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_conv_cost", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def torch_conv_cost(c_in, c_out, k, groups, h_out, w_out, bias):
    conv = nn.Conv2d(c_in, c_out, k, padding=k // 2, groups=groups, bias=bias)
    with FlopCounterMode(display=False) as counter:
        conv(torch.zeros(1, c_in, h_out, w_out))  # padding k // 2 (odd k): output as large as the input
    return sum(p.numel() for p in conv.parameters()), counter.get_total_flops() // 2


with exercise(1, "conv_cost"):
    for case in [(16, 32, 3, 1, 8, 8, True), (32, 32, 3, 32, 14, 14, False), (64, 128, 1, 1, 7, 7, True)]:
        params, mult_adds = torch_conv_cost(*case)
        check_equal(f"conv_cost{case} (c_in, c_out, k, groups, h_out, w_out, bias)", conv_cost(*case),
                    (params, mult_adds))
### BEGIN HIDDEN TESTS
check_written_here(conv_cost)
with exercise(1, "conv_cost"):
    for case in [(64, 128, 3, 8, 5, 6, True), (12, 24, 5, 12, 3, 3, False), (3, 3, 7, 3, 1, 1, True)]:
        check_equal(f"conv_cost{case}", conv_cost(*case), torch_conv_cost(*case))
### END HIDDEN TESTS

# %% [markdown]
# A depth-wise separable convolution (MobileNet) replaces a $k \times k$ convolution by a depth-wise
# $k \times k$ one and a $1 \times 1$ one; its cost relative to the full convolution is
# $\frac{1}{C_\text{out}} + \frac{1}{k^2}$:

# %%
full = conv_cost(256, 256, 3, 1, 14, 14, bias=False)[1]
separable = conv_cost(256, 256, 3, 256, 14, 14, bias=False)[1] + conv_cost(256, 256, 1, 1, 14, 14, bias=False)[1]
print(f"separable / full = {separable / full:.4f}; 1/C_out + 1/k^2 = {1 / 256 + 1 / 9:.4f}")

# %% [markdown]
# ## Exercise 2: the receptive field of a stack of layers (2 points)
#
# An output pixel of a stack of convolutions (or poolings) with kernel sizes $k_l$ and strides $s_l$
# (input first) sees $r = 1 + \sum_l (k_l - 1) \prod_{i<l} s_i$ input pixels along each axis (section 2.2;
# two $3\times3$ convolutions see $5\times5$, like one $5\times5$). Write `receptive_field(layers)` for a
# list of `(kernel, stride)` pairs, returning an int. The check **measures** it: the input pixels whose
# gradient, for one output pixel of a real stack of `nn.Conv2d`, is not zero.

# %% nbgrader={"grade": false, "grade_id": "receptive_field", "locked": false, "schema_version": 3, "solution": true, "task": false}
def receptive_field(layers):
    """Receptive field, in input pixels along one axis, of `(kernel, stride)` layers (input first)."""
    ### BEGIN SOLUTION
    r, jump = 1, 1
    for k, s in layers:
        r += (k - 1) * jump
        jump *= s
    return r
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_receptive_field", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def measured_receptive_field(layers, size=96):
    stack = nn.Sequential(*[nn.Conv2d(1, 1, k, stride=s) for k, s in layers])
    for conv in stack:
        nn.init.constant_(conv.weight, 1.0)  # positive weights: no gradient cancels by chance
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    out = stack(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(dim=1) > 0).nonzero()
    return int(rows.max() - rows.min() + 1)


with exercise(2, "receptive_field"):
    for layers in ([(3, 1), (3, 1)], [(7, 2), (3, 2), (3, 1)], [(1, 1)]):
        check_equal(f"receptive_field({layers})", receptive_field(layers), measured_receptive_field(layers))
### BEGIN HIDDEN TESTS
with exercise(2, "receptive_field"):
    for layers in ([(3, 2), (3, 2), (3, 2), (3, 1)], [(5, 1), (2, 2), (3, 3)], [(3, 1)] * 5):
        check_equal(f"receptive_field({layers})", receptive_field(layers), measured_receptive_field(layers))
    check_equal("receptive_field([]) (no layers: one pixel)", receptive_field([]), 1)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: a stack of residual blocks (1 point)
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
with exercise(3, "residual_features"):
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
with exercise(3, "residual_features"):
    batch = torch.randn(3, D)
    xs = residual_features(batch, blocks[:2])
    check(len(xs) == 3, f"two blocks give three features x_0, x_1, x_2, got {len(xs)}")
    x1 = blocks[0](batch) + batch
    check_close("x_2 for a batch", xs[2], blocks[1](x1) + x1)
    check(len(residual_features(x0, [])) == 1, "no blocks: the only feature is x_0")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: the gradient through residual blocks (3 points)
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


with exercise(4, "residual_branch_jacobian"):
    x_l = torch.randn(D)
    for l in (0, 2, L - 1):
        B = residual_branch_jacobian(blocks, x_l, l)
        check_shape(f"B for l={l}", B, (D, D))
        full = torch.autograd.functional.jacobian(stack_from(l), x_l)  # dx_L/dx_l, [D, D]
        check_close(f"I + B compared with dx_L/dx_l for l={l}", torch.eye(D) + B, full)
### BEGIN HIDDEN TESTS
with exercise(4, "residual_branch_jacobian"):
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
# ## Exercise 5: a squeeze-and-excitation block (2 points)
#
# SENet (section 2.3) re-weights the channels of a feature map $x \in \mathbb{R}^{B \times C \times H \times W}$ by
# what the whole image contains: **squeeze** $z = \text{GAP}(x) \in \mathbb{R}^{B \times C}$, **excite**
# $a = \sigma\big(W_2\, \text{ReLU}(W_1 z + b_1) + b_2\big) \in (0, 1)^{B \times C}$ with $W_1 \in \mathbb{R}^{C_r \times C}$,
# $W_2 \in \mathbb{R}^{C \times C_r}$, then **scale**: $y_{bchw} = a_{bc}\, x_{bchw}$. Write
# `squeeze_excitation(x, w1, b1, w2, b2)`; the check gives the weights of a
# `torchvision.ops.SqueezeExcitation` (whose fully connected layers are $1\times1$ convolutions) and
# compares with its output.

# %% nbgrader={"grade": false, "grade_id": "squeeze_excitation", "locked": false, "schema_version": 3, "solution": true, "task": false}
def squeeze_excitation(x, w1, b1, w2, b2):
    """SE block: Tensor[B, C, H, W], w1 [C_r, C], b1 [C_r], w2 [C, C_r], b2 [C] -> Tensor[B, C, H, W]."""
    ### BEGIN SOLUTION
    z = x.mean(dim=(2, 3))  # [B, C]
    a = torch.sigmoid(torch.relu(z @ w1.T + b1) @ w2.T + b2)  # [B, C]
    return x * a[:, :, None, None]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_squeeze_excitation", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def check_se(batch, channels, reduced, h, w):
    se = torchvision.ops.SqueezeExcitation(channels, reduced)
    x = torch.randn(batch, channels, h, w)
    weights = (se.fc1.weight[:, :, 0, 0], se.fc1.bias, se.fc2.weight[:, :, 0, 0], se.fc2.bias)
    with torch.no_grad():
        out = squeeze_excitation(x, *weights)
        check_shape("squeeze_excitation output", out, x.shape)
        check_close(f"squeeze_excitation output (C={channels}, C_r={reduced}, {h}x{w})", out, se(x))


with exercise(5, "squeeze_excitation"):
    torch.manual_seed(5)
    check_se(2, 8, 2, 5, 4)
### BEGIN HIDDEN TESTS
check_written_here(squeeze_excitation)
with exercise(5, "squeeze_excitation"):
    check_se(3, 16, 4, 1, 1)
    check_se(1, 6, 6, 7, 3)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: the ResNet bottleneck block (3 points)
#
# ResNet-50's block (section 2.2) squeezes the channels with a $1\times1$ convolution, works at the
# reduced width with a $3\times3$ one (which carries the block's stride), and restores the width with a
# second $1\times1$; each convolution is followed by batch norm, and ReLU comes after the first two and
# after the **sum** with the skip connection. When the block changes the shape, the skip goes through
# `block.downsample` (a strided $1\times1$ convolution and batch norm); otherwise it is the identity.
#
# Write `bottleneck_forward(block, x)` for a `torchvision.models.resnet.Bottleneck` using its parts
# `block.conv1`, `block.bn1`, ..., `block.conv3`, `block.bn3`, `block.downsample` (None or a module) and
# `torch.relu`; calling `block(x)` or `block.forward` does not count.

# %% nbgrader={"grade": false, "grade_id": "bottleneck_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bottleneck_forward(block, x):
    """The forward pass of a torchvision Bottleneck `block`, from its layers: Tensor[B, C, H, W] -> out."""
    ### BEGIN SOLUTION
    skip = x if block.downsample is None else block.downsample(x)
    out = torch.relu(block.bn1(block.conv1(x)))
    out = torch.relu(block.bn2(block.conv2(out)))
    out = block.bn3(block.conv3(out))
    return torch.relu(out + skip)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_bottleneck_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def make_bottleneck(in_channels, width, stride):
    from torchvision.models.resnet import Bottleneck

    out_channels = width * Bottleneck.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                   nn.BatchNorm2d(out_channels))
    block = Bottleneck(in_channels, width, stride=stride, downsample=downsample)
    for bn in [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]:  # not the identity at init
        nn.init.uniform_(bn.weight, 0.5, 1.5), nn.init.uniform_(bn.bias, -0.5, 0.5)
        bn.running_mean.uniform_(-0.2, 0.2), bn.running_var.uniform_(0.5, 2.0)
    return block.eval()


def check_bottleneck(in_channels, width, stride, size):
    block = make_bottleneck(in_channels, width, stride)
    x = torch.randn(2, in_channels, size, size)
    with torch.no_grad():
        expected = block(x)
        with forbidden(block, "forward", "write the block from its layers, not block(x) or block.forward"):
            out = bottleneck_forward(block, x)
    check_shape(f"output (in {in_channels}, width {width}, stride {stride})", out, expected.shape)
    check_close(f"output (in {in_channels}, width {width}, stride {stride})", out, expected)


with exercise(6, "bottleneck_forward"):
    torch.manual_seed(6)
    check_bottleneck(16, 4, 1, 6)  # identity skip: 16 -> 4 -> 4 -> 16 channels
    check_bottleneck(8, 4, 2, 6)  # projection skip: stride 2, 8 -> 16 channels
### BEGIN HIDDEN TESTS
check_written_here(bottleneck_forward)
with exercise(6, "bottleneck_forward"):
    check_bottleneck(32, 8, 1, 3)
    check_bottleneck(16, 8, 2, 5)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 7: why a bottleneck? (2 points, graded by hand)
#
# Use your `conv_cost` to compare a bottleneck block (256 -> 64 -> 64 -> 256 channels, $1\times1$,
# $3\times3$, $1\times1$) with a basic block of two $3\times3$ convolutions at 256 channels, on a $14\times14$
# map. Which costs fewer multiply-adds, by what factor, and what does the bottleneck give up for it?
# In three or four sentences.

# %%
bottleneck_cost = sum(conv_cost(i, o, k, 1, 14, 14, bias=False)[1] for i, o, k in [(256, 64, 1), (64, 64, 3), (64, 256, 1)])
basic_cost = 2 * conv_cost(256, 256, 3, 1, 14, 14, bias=False)[1]
print(f"bottleneck: {bottleneck_cost / 1e6:.1f} M multiply-adds, basic block: {basic_cost / 1e6:.1f} M")

# %% [markdown] nbgrader={"grade": true, "grade_id": "bottleneck_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# The bottleneck costs about 13.6 M multiply-adds against 231 M for two $3\times3$ convolutions at 256
# channels, about 17 times fewer (the $3\times3$ convolution, the expensive one, runs at 64 channels:
# $64^2 \cdot 9$ instead of $256^2 \cdot 9$ per pixel). The price: the spatial mixing happens in a
# 64-dimensional space, so the block's $3\times3$ part can only pass a compressed version of the 256
# channels; the $1\times1$ convolutions decide what survives the squeeze. The saving is what lets
# ResNet-50/101/152 be deep and wide (256-2048 channels at the block outputs) for the cost of a
# shallower plain network.
