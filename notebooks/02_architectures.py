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
# # Chapter 2: CNN architectures
#
# The networks that shaped computer vision, each as readable code that is **exactly**
# torchvision's model (same weights, same outputs, tested), and the tools to measure them.
#
# **You will learn:** the inception module and global average pooling (Inception-v1); the residual
# block, why its skip joins before the ReLU, and why it makes deep nets trainable (Exercise 7-1, and
# the degradation problem: a deeper plain net training worse than a shallower one);
# bottleneck, Inception-ResNet and ResNeXt blocks, and why a ResNeXt block *is* a grouped
# convolution; squeeze-and-excitation; MobileNetV2's depth-wise separable convolutions and
# inverted residuals (Table 2.1 regenerated); width/depth/resolution scaling, measured by training a
# small net scaled each way, the grid search for $\alpha, \beta, \gamma$, and EfficientNet;
# RegNet's design spaces compared by their error distribution.
#
# **Time:** under a minute in fast mode (`CVCOURSE_FAST=1`). Full mode: about 16 minutes on one CPU
# thread for the model-scaling experiment of 2.6 (22 small nets, measured on a busy 2-core machine),
# about 3 minutes for the degradation experiment (three nets: 14 s, 91 s, 88 s, measured the same way),
# plus a minute or two for the other training cells. **GPU:** helps the training cells only;
# everything else is counting.

# %%
# %matplotlib inline
import inspect
import random

import matplotlib.pyplot as plt
import numpy as np
import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader

# %%
from cvcourse.architectures import (
    efficientnet,
    inception_resnet,
    inception_v1,
    mobilenet,
    regnet,
    resnet,
    resnext,
    scaling,
    small,
    squeeze_excitation,
    widgets,
)
from cvcourse.architectures.complexity import (
    conv_flops,
    conv_params,
    count_flops,
    count_parameters,
    format_rows,
    receptive_field,
    stage_summary,
)
from cvcourse.data import ShapesClassification
from cvcourse.runtime import device, fast_mode, pick, seed_everything
from cvcourse.train import accuracy, evaluate, fit
from cvcourse.viz import style_axes

seed_everything(0)
RESULTS = {"fast_mode": fast_mode()}  # the chapter's headline numbers, filled as the cells run

# %% tags=["parameters"]
image_size = 32                           # synthetic shapes images, pixels
train_size = pick(full=1000, fast=64)     # training images for the training cells
val_size = pick(full=500, fast=32)
batch_size = pick(full=64, fast=32)
grad_batch = pick(full=32, fast=8)        # batch for the gradient-norm measurement
shallow_depth = 8                         # degradation: a shallow plain net (6n + 2 weighted layers) ...
deep_depth = pick(full=56, fast=32)       # ... vs a deep plain and a deep residual one
deep_epochs = pick(full=3, fast=6)
regnet_models = pick(full=5, fast=2)      # models sampled per design space
regnet_steps = pick(full=20, fast=2)      # optimizer steps per sampled model
max_phi = pick(full=3, fast=1)            # compound scaling: measure phi = 0 .. max_phi
scaling_train = pick(full=4000, fast=32)  # model scaling: training images (rendered at 32 px, resized)
scaling_val = pick(full=1000, fast=32)    # ... unseen images (seed 777) the accuracy is measured on
scaling_epochs = pick(full=3, fast=1)
scaling_steps = pick(full=None, fast=1)   # fast mode: a tiny run, one optimizer step per net
scaling_seeds = (0,)                      # each net trained once per seed, accuracies averaged
scaling_widths = pick(full=(1.0, 1.5, 2.0, 3.0), fast=(1.0, 2.0))
scaling_depths = pick(full=(1.0, 2.0, 3.0), fast=(1.0, 2.0))
scaling_resolutions = pick(full=(1.0, 1.5, 2.0), fast=(1.0, 2.0))
scaling_fixed = pick(full=((1.0, 1.0), (2.0, 1.0), (1.0, 1.5)), fast=((1.0, 1.0), (2.0, 1.0)))
scaling_fixed_widths = pick(full=(1.0, 1.5, 2.0), fast=(1.0, 2.0))
grid_values = pick(full=(1.0, 1.1, 1.2), fast=(1.0, 1.2))  # the beta and gamma values of the grid

# %% [markdown]
# ## 2.1 Inception-v1 (GoogLeNet)
#
# **Stem**: five layers take a 224 px image down to 28 px, the largest a 7x7 convolution with
# stride 2. **Inception module**: four branches run on the same input and are concatenated along
# the channels: a 1x1; a 1x1 then a 3x3; a 1x1 then a 5x5; a 3x3 max-pool then a 1x1. The 1x1s
# shrink the channels first, which keeps the module cheap. (torchvision's "5x5" branch uses a 3x3
# kernel, a quirk of its ported weights; ours keeps it so the weights load.)

# %%
print(inspect.getsource(inception_v1.Inception.forward))
net = inception_v1.googlenet(init_weights=False).eval()
rows = stage_summary(net, (1, 3, 224, 224), ["conv1", "maxpool1", "conv2", "conv3", "maxpool2",
                                             "inception3a", "inception3b", "maxpool3", "inception4a"])
print(format_rows(rows))
assert rows[4].output_shape[-1] == 28  # the stem takes 224 px down to 28 px

# %% [markdown]
# The module's output channels are the sum of its branches' outputs. Inception 3a:
# $64 + 128 + 32 + 32 = 256$.

# %%
m3a = net.inception3a
branch_out = [m3a.branch1.conv.out_channels, m3a.branch2[1].conv.out_channels,
              m3a.branch3[1].conv.out_channels, m3a.branch4[1].conv.out_channels]
print("branch outputs:", branch_out, "-> concatenated:", sum(branch_out))
assert sum(branch_out) == rows[5].output_shape[1] == 256

# %% [markdown]
# **Auxiliary softmax**: two small classifiers on intermediate features give extra losses in
# training (and regularise); at inference they are discarded, so in eval mode the model returns
# only the main logits.
#
# **Global average pooling classifier**: the last 1024 x 7 x 7 activation is averaged to 1024
# numbers before the linear layer. Flattening instead would need $1024 \cdot 7 \cdot 7 \cdot 1000$
# weights:

# %%
train_out = inception_v1.googlenet(num_classes=10, init_weights=False).train()(torch.rand(2, 3, 64, 64))
print({k: tuple(v.shape) for k, v in train_out._asdict().items()})
flatten_fc = count_parameters(nn.Linear(1024 * 7 * 7, 1000, device="meta"))  # meta: no memory
gap_fc = count_parameters(net.fc)
print(f"classifier after flattening: {flatten_fc:,} parameters; after GAP: {gap_fc:,} "
      f"({flatten_fc / gap_fc:.0f}x fewer); whole GoogLeNet without aux heads: "
      f"{count_parameters(net) - count_parameters(net.aux1) - count_parameters(net.aux2):,}")
assert flatten_fc - 1000 == 49 * (gap_fc - 1000)

# %% [markdown]
# ## 2.2 Residual networks
#
# A residual block outputs $F(x; \theta) + x$: it only has to learn a *perturbation* of the
# identity. The skip joins **before** the final ReLU: added after it, the skip would add a
# non-negative signal to every block and the block could no longer nudge its input down.

# %%
print(inspect.getsource(resnet.BasicBlock.forward))

# %% [markdown]
# **Training starts near the identity** (the notes' remark): with small weights each block is close to
# $x \mapsto x$ and training perturbs it. torchvision's `zero_init_residual=True` makes it exact: the
# last BN of every residual branch starts at $\gamma = 0$, so $F(x) = 0$ and each block outputs
# $\mathrm{ReLU}(x) = x$ for its (non-negative, post-ReLU) input. **Batch normalisation is used heavily**:
# every convolution of a ResNet is followed by one.

# %%
identity_net = resnet.resnet18(zero_init_residual=True).eval()
x = torch.relu(torch.randn(2, 64, 56, 56))  # a block's input comes out of a ReLU
with torch.no_grad():
    for block in identity_net.layer1:
        assert torch.equal(block(x), x)  # F(x) = 0: the block is the identity
convs = [m for m in identity_net.modules() if isinstance(m, nn.Conv2d)]
bns = [m for m in identity_net.modules() if isinstance(m, nn.BatchNorm2d)]
print(f"ResNet-18: {len(convs)} convolutions, {len(bns)} batch norms")
assert len(convs) == len(bns) == 20

# %% [markdown]
# ### ResNet-18, stage by stage
# Each stage is a stack of two-conv blocks; the first block of stages 2-4 halves H, W (stride 2,
# no pooling) and doubles the channels. The table is computed from the model with a FLOP counter
# (`torch.utils.flop_counter`, 2 FLOPs per multiply-add).

# %%
r18 = resnet.resnet18()
r18_rows = stage_summary(r18, (1, 3, 224, 224), ["conv1", "maxpool", "layer1", "layer2", "layer3",
                                                  "layer4", "avgpool", "fc"])
print(format_rows(r18_rows))
assert sum(r.flops for r in r18_rows) == count_flops(r18, (1, 3, 224, 224))
assert [r.output_shape[1] for r in r18_rows[2:6]] == [64, 128, 256, 512]
assert [r.output_shape[2] for r in r18_rows[2:6]] == [56, 28, 14, 7]
# stages 2-4 cost the same FLOPs: half the size squared (1/4) times twice the channels squared (4)
assert r18_rows[3].flops == r18_rows[4].flops == r18_rows[5].flops

# %% [markdown]
# ### The bottleneck block
# 1x1 (compress the channels by 4) -> 3x3 -> 1x1 (restore): three layers for about the
# parameters and FLOPs of two 3x3s. Compare ResNet-34's basic block on 64 channels with
# ResNet-50's bottleneck on 256 channels (at 56 x 56). The weights are counted from the blocks'
# convolutions: $2 \cdot 3 \cdot 3 \cdot 64 \cdot 64 = 73{,}728$ against
# $256 \cdot 64 + 3 \cdot 3 \cdot 64 \cdot 64 + 64 \cdot 256 = 69{,}632$.

# %%
basic = resnet.BasicBlock(64, 64)
bottle = resnet.Bottleneck(256, 64)
for name, block, c in (("basic, 64 ch", basic, 64), ("bottleneck, 256 ch", bottle, 256)):
    print(f"{name:>18}: {count_parameters(block):>7,} parameters, "
          f"{count_flops(block, (1, c, 56, 56)) / 1e6:6.1f} MFLOPs")
conv_weights = {name: sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d))
                for name, block in (("basic", basic), ("bottleneck", bottle))}
print("convolution weights:", conv_weights)
assert conv_weights == {"basic": 73_728, "bottleneck": 69_632}
assert conv_weights["basic"] == 2 * conv_params(64, 64, 3)  # the formula agrees with the blocks
assert conv_weights["bottleneck"] == conv_params(256, 64, 1) + conv_params(64, 64, 3) + conv_params(64, 256, 1)
assert abs(count_flops(bottle, (1, 256, 56, 56)) / count_flops(basic, (1, 64, 56, 56)) - 1) < 0.1

# %% [markdown]
# **Where the stride goes.** The notes put the down-sampling stride on the *first* 1x1 of a stage's first
# bottleneck, as the original ResNet ("v1") did; torchvision, and so our `Bottleneck`, follow "ResNet v1.5"
# and put it on the 3x3 (its weights are the ones that load; NVIDIA, who named it, report v1.5 about 0.5 %
# more accurate top-1 on ImageNet, not measured here). `resnet.BottleneckV1` is the notes' version, with the same
# layers and weights. The difference, computed: a stride-2 1x1 reads one pixel of every 2 x 2, and so does
# the projection shortcut, so the v1 block never sees three quarters of its input (the gradient is zero
# there); v1.5 sees every pixel, at more FLOPs, since its 3x3 runs before the stride:

# %%
down = resnet.resnet50().layer2[0]  # first block of stage 2: 256 -> 512 channels, 56 -> 28 px
print(f"v1.5: conv1 (1x1) stride {down.conv1.stride}, conv2 (3x3) stride {down.conv2.stride}, "
      f"conv3 (1x1) stride {down.conv3.stride}")
assert down.conv1.stride == (1, 1) and down.conv2.stride == (2, 2) and down.conv3.stride == (1, 1)
down_v1 = resnet.resnet50_v1().layer2[0]
down_v1.load_state_dict(down.state_dict(), strict=True)  # the same weights, the stride moved
assert down_v1.conv1.stride == (2, 2) and down_v1.conv2.stride == (1, 1)
seen = {}
for name, block in (("v1 (notes)", down_v1), ("v1.5 (torchvision)", down)):
    x = torch.randn(1, 256, 56, 56, requires_grad=True)
    block.eval()(x).sum().backward()
    seen[name] = float((x.grad.abs().sum(dim=1) > 0).float().mean())  # share of input pixels that matter
    print(f"{name:>18}: sees {seen[name]:.0%} of the input pixels, "
          f"{count_flops(block, (1, 256, 56, 56)) / 1e6:.0f} MFLOPs")
assert seen == {"v1 (notes)": 0.25, "v1.5 (torchvision)": 1.0}
with torch.device("meta"):
    macs = {v: count_flops(build()) / 2 for v, build in (("v1", resnet.resnet50_v1), ("v1.5", resnet.resnet50))}
print(f"ResNet-50: {macs['v1'] / 1e9:.2f} G multiply-adds (v1), {macs['v1.5'] / 1e9:.2f} G (v1.5)")
assert 3.8e9 <= macs["v1"] < 3.9e9  # the paper's "3.8 x 10^9 FLOPs" (multiply-adds): its ResNet-50 is v1

# %% [markdown]
# ### Exercise 7-1: why deep residual networks train
# (a) With $x_{l+1} = x_l + f_l(x_l)$, unrolling gives $x_L = x_l + \sum_{i=l}^{L-1} f_i(x_i)$.
# (b) So
# $$\frac{\partial \mathcal{L}}{\partial x_l} = \frac{\partial \mathcal{L}}{\partial x_L}
# \Big(1 + \frac{\partial}{\partial x_l}\sum_{i=l}^{L-1} f_i(x_i)\Big):$$
# the "1" carries the loss gradient to every block unchanged. A plain network
# $x_{l+1} = f_l(x_l)$ multiplies $L$ Jacobians instead, and its early gradients vanish or explode.
# Our nets use pre-activation blocks (BN-ReLU-conv twice, nothing after the sum), so (a) holds
# exactly:

# %%
print(inspect.getsource(small.PreActBlock.forward))
torch.manual_seed(0)
res = small.residual_cnn(20).double().eval()
with torch.no_grad():  # forward values only
    x_l = res.stem(torch.randn(2, 3, 16, 16, dtype=torch.float64))
    xs, fs = [x_l], []
    for block in list(res.blocks)[:3]:  # the first stage: identity skips
        fs.append(block.branch(xs[-1]))
        xs.append(block(xs[-1]))
print("max |x_L - (x_l + sum f_i)| =", float((xs[-1] - (x_l + sum(fs))).abs().max()))
assert torch.allclose(xs[-1], x_l + sum(fs), atol=1e-12)

# %% [markdown]
# (b) measured: $\lVert \partial \mathcal{L} / \partial x_l \rVert$ at the input of every block
# of a 56-layer plain CNN and a 56-layer ResNet (same layers, skips or not), at initialisation.

# %%
seed_everything(0)
xb, yb = torch.rand(grad_batch, 3, image_size, image_size), torch.randint(0, 5, (grad_batch,))
norms = {kind: small.block_input_gradients(build(56, num_classes=5), xb, yb)
         for kind, build in (("plain", small.plain_cnn), ("residual", small.residual_cnn))}
fig, ax = plt.subplots(figsize=(6, 3.5))
for kind, g in norms.items():
    ax.semilogy(range(len(g)), g, "o-", label=f"{kind}-56")
style_axes(ax, "Gradient norm at each block's input (init)", "block l (input side first)",
           "‖∂L/∂x_l‖")
ax.legend()
plt.show()
spread = {k: max(g) / min(g) for k, g in norms.items()}
print({k: f"{v:.3g}" for k, v in spread.items()})
assert spread["plain"] > 10 * spread["residual"]
RESULTS.update({f"gradient_spread_{k}": float(v) for k, v in spread.items()})

# %% [markdown]
# ## 2.2.2 Inception-ResNet
# Inception modules used as the residual function: **A** has a 1x1 path, a 1x1 -> 3x3 path and a
# 1x1 -> 3x3 -> 3x3 path (a factorised 5x5); **B** a 1x1 path and a 1x1 -> 1x7 -> 7x1 path (a
# factorised 7x7). A final 1x1 restores the skip's channels. Factorising keeps the receptive field
# with fewer weights:

# %%
block_a, block_b = inception_resnet.InceptionResNetA(), inception_resnet.InceptionResNetB()
for block, c, hw in ((block_a, 320, 35), (block_b, 1088, 17)):
    y = block.eval()(torch.rand(1, c, hw, hw))  # A runs at 35 x 35 in the paper (Fig. 16), B at 17 x 17
    print(f"{type(block).__name__}: {count_parameters(block):,} parameters, shape kept: {tuple(y.shape)}")
assert receptive_field([(3, 1), (3, 1)]) == 5  # two 3x3 see 5x5
# the factorised paths' weights, read from the blocks, against one conv with the same inputs and outputs
(_, a1, a2), (_, b1, b2) = block_a.branch2, block_b.branch1  # A: 1x1, 3x3, 3x3; B: 1x1, 1x7, 7x1
for name, (first, second), k in (("A: 3x3 + 3x3", (a1[0], a2[0]), 5), ("B: 1x7 + 7x1", (b1[0], b2[0]), 7)):
    factorised = first.weight.numel() + second.weight.numel()
    single = conv_params(first.in_channels, second.out_channels, k)
    print(f"{name}: {factorised:,} weights; one {k}x{k} ({first.in_channels} -> {second.out_channels}): {single:,}")
    assert factorised < single

# %% [markdown]
# One axis is not enough for the 1x7 + 7x1 pair (each of the two has a 1-D receptive field of 7 along its
# own axis). In 2-D: the set of input pixels that reach one output pixel (`receptive_region`, from the
# gradient), for a 1x7 alone, the 1x7 + 7x1 pair and a 7x7, with positive weights:

# %%
from cvcourse.architectures.complexity import receptive_region


def positive(*convs):  # positive weights: no contribution can cancel
    net = nn.Sequential(*convs).double()
    for p in net.parameters():
        nn.init.uniform_(p, 0.1, 1.0)
    return net


one_by_seven = positive(nn.Conv2d(1, 1, (1, 7), padding=(0, 3)))
pair = positive(nn.Conv2d(1, 1, (1, 7), padding=(0, 3)), nn.Conv2d(1, 1, (7, 1), padding=(3, 0)))
full = positive(nn.Conv2d(1, 1, 7, padding=3))
regions = {name: receptive_region(net) for name, net in (("1x7", one_by_seven), ("1x7 + 7x1", pair), ("7x7", full))}
fig, axes = plt.subplots(1, 3, figsize=(8, 2.8))
for ax, (name, region) in zip(axes, regions.items(), strict=True):
    ax.imshow(region.numpy(), cmap="Blues", vmin=0, vmax=1.3)
    style_axes(ax, f"{name}: {int(region.sum())} pixels", "input column", "input row")
plt.show()
assert torch.equal(regions["1x7 + 7x1"], regions["7x7"]) and int(regions["7x7"].sum()) == 49
assert int(regions["1x7"].sum()) == 7
weights_pair, weights_full = (sum(c.weight.numel() for c in n) for n in (pair, full))
print(f"same 7 x 7 region with {weights_pair} weights instead of {weights_full}")
assert weights_pair == 14 and weights_full == 49

# %% [markdown]
# ## 2.3 ResNeXt
# **Inception and Inception-ResNet modules are multi-branch** (the notes' remark): *split* the input into
# branches, *transform* each (1x1, 1x1 → 3x3, ...), *merge* them (concatenate). Each branch is a
# different, **hand-designed** path. Our Inception module, taken apart:

# %%
module = inception_v1.googlenet(init_weights=False).eval().inception3a
x = torch.rand(1, 192, 28, 28)
with torch.no_grad():
    branches = [module.branch1(x), module.branch2(x), module.branch3(x), module.branch4(x)]  # split, transform
    assert torch.equal(torch.cat(branches, dim=1), module(x))  # merge: the module is the concatenation
print("branch outputs:", [tuple(b.shape[1:]) for b in branches], "-> merged:", tuple(module(x).shape[1:]))

# %% [markdown]
# ResNeXt keeps split-transform-merge but makes every branch **the same** (so nothing is hand-designed
# per branch), and merges by a sum, which is what makes it a grouped convolution (below).
#
# A **grouped convolution** splits the $C_{in}$ input channels into $G$ chunks, each convolved by
# its own $\frac{C_{out}}{G} \times \frac{C_{in}}{G} \times k \times k$ kernels: $G$ times fewer
# parameters and FLOPs. Counted:

# %%
for groups in (1, 2, 4, 32):
    conv = nn.Conv2d(128, 128, 3, padding=1, groups=groups, bias=False)
    print(f"G={groups:>2}: {count_parameters(conv):>7,} parameters, "
          f"{count_flops(conv, (1, 128, 28, 28)) / 1e6:6.1f} MFLOPs")
    assert count_parameters(conv) * groups == conv_params(128, 128, 3)
    assert count_flops(conv, (1, 128, 28, 28)) * groups == conv_flops(128, 128, 3, 28, 28)

# %% [markdown]
# **Less expressive** (the notes' remark): output channel group $g$ sees only input group $g$, so a
# grouped convolution cannot mix information across groups; the network is expected to build its
# hierarchy of features anyway. Which output channels each input channel reaches:

# %%
grouped_conv = nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=False).double()
x = torch.randn(1, 8, 5, 5, dtype=torch.float64)
jac = torch.autograd.functional.jacobian(grouped_conv, x)  # [1, 8, 5, 5, 1, 8, 5, 5]
reach = jac.abs().sum(dim=(0, 2, 3, 4, 6, 7)) > 0  # [out channel, in channel]
print(reach.int().numpy())
assert torch.equal(reach, torch.block_diag(*[torch.ones(2, 2, dtype=torch.bool)] * 4))  # block-diagonal

# %% [markdown]
# A **ResNeXt block** with $G$ branches of width $d$ sums the branches:
# $\mathbf{y} = \mathbf{x} + \sum_b \mathcal{T}_b(\mathbf{x})$. The notes prove it is a
# bottleneck block with a grouped 3x3: the last 1x1s stack into one 1x1 on the $Gd$ concatenated
# channels, the first 1x1s into one 1x1 with $Gd$ outputs, and the 3x3 of branch $b$ sees only
# its own $d$ channels, a grouped convolution. The proof as code: copy the branch weights into a
# grouped block and compare the outputs.

# %%
print(inspect.getsource(resnext.branches_to_grouped))

# %%
torch.manual_seed(0)
branchy = resnext.ResNeXtBranchBlock(channels=64, cardinality=8, width=4).double()
for p in branchy.parameters():  # random weights, so the check is not about an initialisation
    nn.init.normal_(p, std=0.3)
grouped = resnext.branches_to_grouped(branchy)
x = torch.randn(2, 64, 8, 8, dtype=torch.float64)
for mode in ("train", "eval"):
    branchy.train(mode == "train"), grouped.train(mode == "train")
    with torch.no_grad():
        diff = float((branchy(x) - grouped(x)).abs().max())
    print(f"{mode}: max |branches - grouped| = {diff:.1e}")
    assert diff < 1e-10
assert grouped.conv2.groups == 8 and count_parameters(grouped) == count_parameters(branchy)

# %% [markdown]
# **FLOP-matched configurations** (the notes' remark). With $G$ fixed, a block on $C = 256$ channels has
# $G\,(2Cd + 9d^2)$ convolution weights (so FLOPs, at a fixed size); setting it equal to ResNet-50's
# bottleneck (69,632) is a second-order equation in $d$, whose positive root
# $d = (-2CG + \sqrt{(2CG)^2 + 36\,G\,W})/(18G)$ rounds to the paper's Table 2. More groups at the same
# FLOPs means **wider** activations ($Gd$ channels in the 3x3), which the paper found works better
# (ResNeXt-50 32×4d: 22.2 % top-1 error vs ResNet-50's 23.9 %, as reported in the paper, not measured here).

# %%
W = conv_weights["bottleneck"]  # ResNet-50's bottleneck on 256 channels, counted above: 69,632
widths = {g: resnext.flop_matched_width(g, channels=256, weights=W) for g in (1, 2, 4, 8, 32)}
flops_resnet = count_flops(resnet.Bottleneck(256, 64), (1, 256, 56, 56))
for g, d in widths.items():
    block = resnet.Bottleneck(256, 64, groups=g, base_width=round(d))  # a real ResNeXt block: 3x3 of G groups
    w, f = resnext.block_weights(256, g, round(d)), count_flops(block, (1, 256, 56, 56))
    print(f"G = {g:2d}: d = {d:6.2f} -> {round(d):2d}, {w:,} weights ({w / W - 1:+.1%}), "
          f"{f / 1e6:.0f} MFLOPs at 56 x 56 ({f / flops_resnet - 1:+.1%}), 3x3 width G d = {g * round(d)}")
    assert sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d)) == w  # formula = module
    assert abs(f / flops_resnet - 1) < 0.03  # FLOP-matched, counted on the module
assert [round(d) for d in widths.values()] == [64, 40, 24, 14, 4]  # Table 2 of the paper
assert [g * round(d) for g, d in widths.items()] == sorted(g * round(d) for g, d in widths.items())  # wider

# %% [markdown]
# ## 2.4 Squeeze-and-excitation
# Each channel is re-weighted, $\tilde{\mathbf{x}}_c = s_c \mathbf{x}_c$ with $s_c \in [0, 1]$:
# **squeeze** by global average pooling, **excitation** by a two-layer network that compresses the
# channels by $r$ (16) and restores them, then a sigmoid. Ours equals `torchvision.ops.SqueezeExcitation`:

# %%
print(inspect.getsource(squeeze_excitation.SqueezeExcitation.scale))
se, tv_se = squeeze_excitation.SqueezeExcitation(256, 256 // 16), torchvision.ops.SqueezeExcitation(256, 256 // 16)
se.load_state_dict(tv_se.state_dict(), strict=True)
x = torch.randn(2, 256, 7, 7)
s = se.scale(x).detach()  # values only
print(f"{count_parameters(se):,} parameters; s in [{float(s.min()):.3f}, {float(s.max()):.3f}]")
assert torch.equal(se(x), tv_se(x)) and s.min() >= 0 and s.max() <= 1

# %% [markdown]
# **SE-ResNet module** (Fig. 2.5): the SE block re-weights the residual branch *before* the skip is added,
# $\mathrm{ReLU}(\mathbf{x} + \mathrm{SE}(F(\mathbf{x})))$; an SENet is a ResNet / ResNeXt built of these. It costs
# $2C^2/r$ extra weights per block (+ biases), about 10 % here:

# %%
print(inspect.getsource(squeeze_excitation.SEBottleneck.forward))
plain_block = resnet.Bottleneck(256, 64)
se_block = squeeze_excitation.SEBottleneck(plain_block)
extra = count_parameters(se_block) - count_parameters(plain_block)
print(f"bottleneck {count_parameters(plain_block):,} parameters, SE-bottleneck {count_parameters(se_block):,} (+{extra:,})")
assert extra == 2 * 256 * 16 + 16 + 256 and se_block.eval()(torch.rand(1, 256, 14, 14)).shape == (1, 256, 14, 14)

# %% [markdown]
# ## 2.5 MobileNetV2
# **Depth-wise separable convolution**: a depth-wise $k \times k$ convolution (groups = channels,
# each channel filtered alone) then a point-wise 1x1 that mixes channels. Its cost relative to a
# standard convolution is $\frac{1}{C_{out}} + \frac{1}{k^2}$, up to about 9x fewer FLOPs for 3x3:

# %%
c_in, c_out, hw = 144, 144, 28
standard = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
separable = nn.Sequential(nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False),
                          nn.Conv2d(c_in, c_out, 1, bias=False))
f_std, f_sep = count_flops(standard, (1, c_in, hw, hw)), count_flops(separable, (1, c_in, hw, hw))
print(f"standard {f_std / 1e6:.1f} MFLOPs, separable {f_sep / 1e6:.1f} MFLOPs: {f_std / f_sep:.1f}x fewer")
assert np.isclose(f_sep / f_std, 1 / c_out + 1 / 9)
depthwise = separable[0]
reach = torch.autograd.functional.jacobian(lambda t: depthwise(t), torch.randn(1, c_in, 5, 5)).abs().sum(dim=(0, 2, 3, 4, 6, 7)) > 0
assert torch.equal(reach, torch.eye(c_in, dtype=torch.bool))  # less expressive: no channel sees another

# %% [markdown]
# **Inverted residual block**: 1x1 expanding the channels by $t$ -> 3x3 depth-wise (stride 2
# when down-sampling) -> 1x1 compressing back, with no ReLU after it (a linear bottleneck, since
# ReLUs on a narrow tensor lose information). The skip joins the narrow ends.

# %%
print(inspect.getsource(mobilenet.InvertedResidual.__init__).split('"""')[-1])

# %% [markdown]
# **Table 2.1 regenerated from the model**: read back from the built network's layers (t from
# the expansion convolution, n by counting blocks, s from the strides, inputs from a shape pass),
# and checked against the table as printed in the notes.

# %%
table = mobilenet.table_2_1(mobilenet.mobilenet_v2())
print(f"{'Input':<14}{'Operator':<13}{'t':>3}{'c':>6}{'n':>3}{'s':>3}")
for row in table:
    print(f"{row[0]:<14}{row[1]:<13}{row[2]:>3}{row[3]:>6}{row[4]:>3}{row[5]:>3}")
notes_table = [("224 × 3", "conv2d", "-", "32", "1", "2"),
               ("112 × 32", "bottleneck", "1", "16", "1", "1"), ("112 × 16", "bottleneck", "6", "24", "2", "2"),
               ("56 × 24", "bottleneck", "6", "32", "3", "2"), ("28 × 32", "bottleneck", "6", "64", "4", "2"),
               ("14 × 64", "bottleneck", "6", "96", "3", "1"), ("14 × 96", "bottleneck", "6", "160", "3", "2"),
               ("7 × 160", "bottleneck", "6", "320", "1", "1"), ("7 × 320", "conv2d 1x1", "-", "1280", "1", "1"),
               ("7 × 1280", "avgpool 7x7", "-", "-", "1", "-"), ("1 × 1 × 1280", "conv2d 1x1", "-", "k", "-", "1")]
assert table == notes_table
assert mobilenet.table_2_1(torchvision.models.mobilenet_v2()) == notes_table  # torchvision's too

# %% [markdown]
# The notes' three remarks on the table, read from the models: the channels **grow slowly** (32 → 320
# over the blocks, where ResNet-50 reaches 2048); the **stem is light** (one 3x3 convolution to 32
# channels); and because the last block is narrow, a 1x1 **expands to 1280** channels before the classifier.

# %%
mb, r50 = mobilenet.mobilenet_v2(), resnet.resnet50()
stem_mb = count_parameters(mb.features[0])
stem_r50 = count_parameters(r50.conv1) + count_parameters(r50.bn1)
print(f"stem parameters: MobileNetV2 {stem_mb:,}, ResNet-50 {stem_r50:,}; "
      f"last block {mb.features[-1][0].in_channels} channels -> {mb.features[-1][0].out_channels} before the "
      f"classifier; ResNet-50 ends at {r50.fc.in_features}")
assert stem_mb < stem_r50 / 8 and mb.features[-1][0].in_channels == 320 and mb.features[-1][0].out_channels == 1280
assert mb.classifier[-1].in_features == 1280 < r50.fc.in_features == 2048

# %% [markdown]
# ## 2.6 Model scaling
# Width (channels), depth (blocks) and resolution each improve accuracy; **compound scaling** ties
# them to one coefficient $\phi$: $d = \alpha^\phi$, $w = \beta^\phi$, $r = \gamma^\phi$ with
# $\alpha \beta^2 \gamma^2 \approx 2$, so FLOPs, linear in depth and quadratic in width and
# resolution, grow by about $2^\phi$. Measured with the FLOP counter on EfficientNet-B0 scaled
# that way (channels rounded to multiples of 8 and blocks rounded up, as torchvision does):

# %%
base = count_flops(efficientnet.efficientnet_b0(), (1, 3, 224, 224))
for phi in range(max_phi + 1):
    m = efficientnet.compound_scaling(phi)
    res_px = round(224 * m["resolution"])
    measured = count_flops(efficientnet.scaled_efficientnet(m["width"], m["depth"]), (1, 3, res_px, res_px)) / base
    print(f"phi={phi}: d x{m['depth']:.2f}, w x{m['width']:.2f}, r {res_px} px -> FLOPs x{measured:.2f} "
          f"(predicted {m['flops_factor']:.2f}, 2^phi = {2 ** phi})")
    assert 0.5 * 2**phi <= measured <= 2 * 2**phi  # about 2^phi (rounding adds a bit)
print(f"alpha * beta^2 * gamma^2 = {m['constraint']:.3f}")
assert round(m["constraint"], 2) == 1.92  # 1.2 * 1.1^2 * 1.15^2 = 1.9203: "about 2"
RESULTS["efficientnet_constraint"] = m["constraint"]

# %% [markdown]
# Play with $\phi$, $\alpha$, $\beta$, $\gamma$: the line is the prediction, the dashed line
# $2^\phi$; "measure FLOPs" builds B0 scaled that way and marks its FLOPs counted by the FLOP counter.

# %%
widgets.compound_scaling_explorer()

# %% [markdown]
# ### Scaling one dimension at a time, measured (Figs. 2.6-2.8)
# The paper scales EfficientNet-B0 on ImageNet; we scale a small pre-activation ResNet on the shapes
# (`scaling.ScaledCNN`: a 3x3 stem, three stages of residual blocks with $c, 2c, 4c$ channels, global
# average pooling). Baseline ($\phi = 0$): 6 blocks, $c = 10$, 16 px inputs. Depth $d$ multiplies the
# blocks, width $w$ the channels, resolution $r$ the input side (images rendered at 32 px and resized),
# each rounded to whole blocks, channels and pixels. Fig. 2.8, drawn from these real nets (the titles give
# their FLOPs, counted):

# %%
axes = scaling.draw_scaling_approaches(factor=2.0, alpha=1.2, beta=1.1, gamma=1.15, phi=3.0)
plt.show()
print(inspect.getsource(scaling.scaled_config).split('"""')[-1])

# %% [markdown]
# Every net is trained the same way (Adam, cosine decay, the same images and seeds; then "precise BN":
# BatchNorm's statistics recomputed over the training images, as RegNet's code does) and its accuracy is
# measured on images of a seed never trained on (777). The x axis is FLOPs from the FLOP counter, as in
# the paper. **In fast mode this is a tiny run** (one optimizer step per net): the FLOPs are real, the
# accuracies are not; run the notebook in full mode for the real curves.

# %%
scaling_exp = scaling.ScalingExperiment(scaling_train, scaling_val, epochs=scaling_epochs, seeds=scaling_seeds,
                                        max_steps=scaling_steps)
curves = scaling.scaling_curves(scaling_exp, widths=scaling_widths, depths=scaling_depths,
                                resolutions=scaling_resolutions, fixed=scaling_fixed,
                                fixed_widths=scaling_fixed_widths)
tiny = " (tiny run)" if fast_mode() else ""
scaling.plot_single_dimension(curves, note=tiny)
plt.show()
for dim in ("width", "depth", "resolution"):
    runs = curves[dim]
    print(f"{dim:>10}: " + ", ".join(f"{p['flops'] / 1e6:.1f} MFLOPs {100 * p['accuracy']:.1f} %" for p in runs))
    assert all(a["flops"] < b["flops"] for a, b in zip(runs[:-1], runs[1:], strict=True))  # each step costs more
RESULTS.update({f"scaling_{dim}_accuracy": [p["accuracy"] for p in curves[dim]]
                for dim in ("width", "depth", "resolution")})

# %% [markdown]
# **Does the gain diminish for bigger models?** The notes (and the paper's Fig. 2.6) say the accuracy gain
# saturates: each doubling of FLOPs buys less. Accuracy gained per doubling of FLOPs, step by step along
# each curve:

# %%
gains = {}
for dim in ("width", "depth", "resolution"):
    runs = curves[dim]
    gains[dim] = [100 * (b["accuracy"] - a["accuracy"]) / np.log2(b["flops"] / a["flops"])
                  for a, b in zip(runs[:-1], runs[1:], strict=True)]
    print(f"{dim:>10}: points per doubling of FLOPs, step by step: {np.round(gains[dim], 1).tolist()}")
    RESULTS[f"scaling_{dim}_gain_per_doubling"] = gains[dim]
if not fast_mode():  # resolution: a large gain, then a much smaller one (saturation)
    assert gains["resolution"][0] > 2 * gains["resolution"][-1] > 0

# %% [markdown]
# What the full-mode run shows (seed 0, 4000 training images, 3 epochs, on one CPU thread; other thread
# counts or a GPU round differently and move each number a little: the baseline gave 72.1 % on two
# threads instead of 72.5 %): **resolution** gives the
# clear, saturating curve of the paper: 72.5 % at 16 px, 93.5 % at 24 px, 96.0 % at 32 px, about 18
# points per doubling of FLOPs, then 3. **Width and depth** alone do not show a trend at this budget:
# 72.5, 70.3, 65.6, 90.0 % for $w = 1, 1.5, 2, 3$ and 72.5, 56.1, 70.6 % for $d = 1, 2, 3$ swing by more
# than the gains, the noise of one short training run per net (more seeds and epochs would settle it, at
# several times the CPU time). On these shapes, detail is what 16 px loses, and no extra channel or layer
# can recover it from the image.

# %% [markdown]
# Fig. 2.7: width scaling with depth and resolution held at other values. In the paper, a net scaled in
# depth **and** resolution gets more out of extra width than one scaled in width alone: the dimensions
# are not independent, which is the argument for scaling them together.

# %%
ax = scaling.plot_width_at_fixed(curves, note=tiny)
plt.show()
for (d, r), runs in curves["width_at"].items():
    print(f"d={d:g}, r={r:g}: " + ", ".join(f"w={p['w']:.2g} {100 * p['accuracy']:.1f} %" for p in runs))
    assert [p["d"] for p in runs] == [runs[0]["d"]] * len(runs) and runs[0]["flops"] < runs[-1]["flops"]

# %% [markdown]
# In the full-mode run the curve at $r = 1.5$ lies above the two at $r = 1$ for every width (93.5, 94.4,
# 83.0 % for $w = 1, 1.5, 2$, against at most 74.0 % at 16 px): at equal FLOPs, a wider net at the higher
# resolution beats a wider net alone, the paper's argument for scaling dimensions together. The width
# steps themselves are again within the noise of one run per net.

# %% [markdown]
# ### The grid search for $\alpha, \beta, \gamma$
# With $\phi = 1$ (twice the FLOPs), take $\beta$ and $\gamma$ from a small grid, solve
# $\alpha = 2 / (\beta^2 \gamma^2)$ and keep the points with $\alpha \ge 1$; train each and keep the best
# (the paper found $\alpha = 1.2$, $\beta = 1.1$, $\gamma = 1.15$ for B0, on ImageNet):

# %%
grid = scaling.grid_search(scaling_exp, betas=grid_values, gammas=grid_values)
for p in grid["points"]:
    print(f"alpha {p['alpha']:.2f} beta {p['beta']:.2f} gamma {p['gamma']:.2f} -> {p['blocks']} blocks, "
          f"{p['channels']} ch, {p['pixels']} px: FLOPs x{p['flops_ratio']:.2f}, accuracy {100 * p['accuracy']:.1f} %")
    assert np.isclose(p["alpha"] * p["beta"] ** 2 * p["gamma"] ** 2, 2.0) and min(p["alpha"], p["beta"], p["gamma"]) >= 1
    assert 1.5 < p["flops_ratio"] < 2.6  # about 2, up to the rounding to whole blocks, channels, pixels
best = grid["best"]
print(f"best{tiny}: alpha {best['alpha']:.2f}, beta {best['beta']:.2f}, gamma {best['gamma']:.2f} "
      f"(EfficientNet-B0 on ImageNet: 1.2, 1.1, 1.15); baseline {100 * grid['base']['accuracy']:.1f} %")
b0_point = scaling_exp.run(1.2, 1.1, 1.15)  # EfficientNet's values, trained the same way (not on the grid)
print(f"EfficientNet's alpha 1.2, beta 1.1, gamma 1.15 here: {b0_point['blocks']} blocks, {b0_point['channels']} ch, "
      f"{b0_point['pixels']} px, accuracy {100 * b0_point['accuracy']:.1f} %")
RESULTS["scaling_grid_best"] = {k: best[k] for k in ("alpha", "beta", "gamma", "accuracy")}
RESULTS["scaling_efficientnet_point_accuracy"] = b0_point["accuracy"]

# %% [markdown]
# The full-mode grid (8 points, every FLOPs ratio measured between 1.94 and 2.35) picked
# $\alpha = 1.37$, $\beta = 1.1$, $\gamma = 1.1$ at 91.0 % (baseline 72.5 %; the other points 56.1 - 81.8 %).
# EfficientNet's own point (1.2, 1.1, 1.15; not on our grid) reaches 82.4 %, second to it. The
# winner's $\beta$ and $\gamma$ are EfficientNet's 1.1 and (nearly) 1.15; its $\alpha$ is larger: 8
# blocks at $\phi = 1$ instead of the baseline's 6, where EfficientNet's 1.2 would give 7. One run per
# point, so neighbouring points differ by about the noise: read it as "grow all three a little" rather
# than as three exact numbers.

# %% [markdown]
# **Compound against single-dimension scaling at equal FLOPs**: scale the baseline with the found values at
# $\phi = 2$ (FLOPs $\times 4$), against depth $\times 4$, width $\times 2$ or resolution $\times 2$ alone:

# %%
vs = scaling.compound_vs_single(scaling_exp, best["alpha"], best["beta"], best["gamma"], phi=2.0)
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.bar(list(vs), [100 * p["accuracy"] for p in vs.values()], color=["0.6", "C3", "C0", "C1", "C2"])
for i, p in enumerate(vs.values()):
    ax.text(i, 100 * p["accuracy"], f"x{p['flops'] / vs['base']['flops']:.1f}", ha="center", va="bottom")
style_axes(ax, f"phi = 2 (label: FLOPs vs baseline){tiny}", "scaling", "accuracy on unseen images (%)")
plt.show()
assert all(3.0 < p["flops"] / vs["base"]["flops"] < 5.0 for k, p in vs.items() if k != "base")  # all about 4x
RESULTS["scaling_phi2_accuracy"] = {k: p["accuracy"] for k, p in vs.items()}

# %% [markdown]
# Full mode, at 4x the baseline's FLOPs: compound scaling with the found values 78.3 % (3-4-4 blocks, 12
# channels, 19 px), depth alone 71.8 %, width alone 65.6 %, **resolution alone 96.0 %** (baseline 72.5 %).
# Compound beats depth and width alone, as in the paper, but not resolution: the grid was searched at
# $\phi = 1$ and its winner, extrapolated to $\phi = 2$, is not the best way to spend 4x here. On these
# small shapes resolution is what limits the baseline, so the best allocation is lopsided; on ImageNet,
# where B0 is balanced, the paper found compound scaling best. A grid searched at the target size (or
# more seeds per point) would be the next experiment.

# %% [markdown]
# ### Wide ResNet
# ResNet scaled in width only: Wide ResNet-50-2 doubles the channels inside every bottleneck. The notes'
# remark, **wider layers are easier to parallelise on GPUs**: every output channel and pixel of a layer is
# computed independently, so width is more work inside one kernel launch, while depth adds layers that
# must run one after another. Counted: the same convolutions in sequence, more work in each (the timing
# itself depends on the GPU and is not measured here):

# %%
with torch.device("meta"):  # shapes only: no memory, no initialisation
    r50, wrn = resnet.resnet50(), resnet.wide_resnet50_2()
p50, pw = count_parameters(r50), count_parameters(wrn)
f50, fw = count_flops(r50), count_flops(wrn)
print(f"ResNet-50: {p50 / 1e6:.1f} M params, {f50 / 1e9:.1f} GFLOPs; "
      f"Wide ResNet-50-2: {pw / 1e6:.1f} M params, {fw / 1e9:.1f} GFLOPs ({fw / f50:.2f}x)")
assert 2 < fw / f50 < 4  # the inner 3x3 convs cost 4x, the 1x1s 2x
layers = {name: sum(isinstance(m, nn.Conv2d) for m in net.modules()) for name, net in (("r50", r50), ("wrn", wrn))}
print(f"both have {layers['r50']} convolutions in sequence; work per convolution: x{fw / f50:.2f} for the wide one")
assert layers["r50"] == layers["wrn"]  # same depth: the extra work is within layers, which a GPU runs in parallel

# %% [markdown]
# ## 2.7 EfficientNet-B0
# **Neural architecture search (NAS)**: a controller network, trained with policy gradients, outputs
# architectures; each is trained and its accuracy is the controller's reward. B0 was found this way,
# searching around MobileNet's inverted residual block, and B1-B7 are B0 compound-scaled. As the notes
# remark, NAS gives no guiding principle: B0's stages mix 3x3 and 5x5 kernels and strides with no
# visible rule (read from the configuration below).
#
# **The MBConv cell**: 1x1 expansion by $t$ (6, or 1 in the first stage) → $k \times k$ depth-wise conv
# (stride 2 when down-sampling) → squeeze-and-excitation on the expanded channels, squeezing to a quarter
# of the block's *input* channels → 1x1 projection with no activation; SiLU elsewhere; the skip (with
# stochastic depth) only when the shape is kept. The second stage's first block:

# %%
b0 = efficientnet.efficientnet_b0()
kernels = [c.kernel for c in efficientnet.B0_SETTING]
print("stage kernels:", kernels, "strides:", [c.stride for c in efficientnet.B0_SETTING],
      "expansion:", [c.expand_ratio for c in efficientnet.B0_SETTING])
assert set(kernels) == {3, 5} and kernels not in (sorted(kernels), sorted(kernels, reverse=True))  # no simple rule
cell = b0.features[2][0]  # 16 -> 24 channels, stride 2
print(cell)
expand, dw, se_block, project = cell.block
assert expand[0].out_channels == 6 * expand[0].in_channels == 96 and isinstance(expand[2], nn.SiLU)
assert dw[0].groups == dw[0].in_channels == 96 and dw[0].stride == (2, 2)
assert se_block.fc1.out_channels == max(1, 16 // 4) and len(project) == 2  # no activation after the projection
assert not cell.use_res_connect and b0.features[2][1].use_res_connect  # skip only when the shape is kept
tv_b0 = torchvision.models.efficientnet_b0().eval()
b0.load_state_dict(tv_b0.state_dict(), strict=True)
x = torch.rand(1, 3, 224, 224)
with torch.no_grad():
    assert torch.allclose(b0.eval()(x), tv_b0(x), atol=1e-5)  # the same network as torchvision's

# %% [markdown]
# Every stage at 224 px:

# %%
print(format_rows(stage_summary(efficientnet.efficientnet_b0(), (1, 3, 224, 224))))

# %% [markdown]
# ### Architecture explorer
# Pick a model and an input size: per-stage output shape, parameters and FLOPs.

# %%
widgets.architecture_explorer("resnet18", 224)

# %% [markdown]
# ## 2.8 RegNet: comparing design spaces
# A design space is a population of networks (per stage: depth $d_i$, width $w_i$, groups $g_i$,
# bottleneck ratio $b_i$). Sample $n$ models, train each briefly, and plot the error's empirical
# distribution $F(e) = \frac{1}{n}\sum_i \mathbf{1}[e_i < e]$: the higher the curve, the better
# the space. We compare the free space (every stage independent) with a restricted one (shared
# $g$ and $b$, widths that never shrink), training tiny models on the synthetic shapes.

# %%
train_set = ShapesClassification(train_size, size=image_size, seed=0)
val_set = ShapesClassification(val_size, size=image_size, seed=1)
train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=seed_everything(0))
val_loader = DataLoader(val_set, batch_size=128)
num_classes = len(train_set.classes)

# %%
errors = {"free": [], "shared": []}
rng = random.Random(0)
for space, errs in errors.items():
    for _ in range(regnet_models):
        seed_everything(len(errs))
        model = regnet.AnyNet(regnet.sample_config(space, rng), num_classes=num_classes)
        fit(model, train_loader, nn.functional.cross_entropy, torch.optim.Adam(model.parameters(), 3e-3),
            epochs=100, max_steps=regnet_steps, live_plot=False, progress=False)
        errs.append(1 - evaluate(model, val_loader, metrics={"accuracy": accuracy})["accuracy"])
print({k: np.round(v, 3).tolist() for k, v in errors.items()})
RESULTS.update({f"regnet_median_error_{k}": float(np.median(v)) for k, v in errors.items()})

# %%
e_grid = np.linspace(0, 1, 201)
fig, ax = plt.subplots(figsize=(5, 3.5))
for space, errs in errors.items():
    ax.plot(e_grid, regnet.error_cdf(errs, e_grid), label=f"{space} (n={len(errs)})")
style_axes(ax, "Empirical error distribution F(e) (Fig. 2.9)", "validation error e", "F(e)")
ax.legend()
plt.show()
assert regnet.error_cdf(errors["free"], 1.01) == 1.0 and regnet.error_cdf(errors["free"], 0.0) == 0.0

# %% [markdown]
# The notes' remarks, computed. The design space has **16 dimensions** (4 stages × $d_i, w_i, g_i, b_i$).
# The **perfect** design space, every model at 0 % error, has $F(e) = 1$ for every $e > 0$ (a line at 1,
# like a perfect ROC curve). The paper samples **n = 500** models because an empirical CDF is only as
# precise as its sample: by the Dvoretzky-Kiefer-Wolfowitz inequality, with 95 % probability the whole
# curve is within $\varepsilon = \sqrt{\ln(2/0.05)/(2n)}$ of the true one. Refinement then repeats the
# comparison, each time fixing a parameter or a relation between them (here: shared $g$, $b$ and
# non-shrinking widths), keeping the space whose curve is higher. And a caution from the notes: RegNet
# beat EfficientNet in its paper with EfficientNet *retrained* under RegNet's hyperparameters, not
# EfficientNet's own tuned ones.

# %%
config = regnet.sample_config("free", random.Random(0))
dims = sum(len(getattr(config, f)) for f in ("depths", "widths", "groups", "bottlenecks"))
assert dims == 16
assert (regnet.error_cdf([0.0] * 5, np.array([0.01, 0.5, 1.0])) == 1).all()  # the perfect space
eps = {n: float(np.sqrt(np.log(2 / 0.05) / (2 * n))) for n in (500, regnet_models)}
print(f"16 dimensions; 95 % band of the ECDF: ±{eps[500]:.3f} with n = 500, ±{eps[regnet_models]:.2f} with our n = {regnet_models}")
assert round(eps[500], 3) == 0.061
shared = [regnet.sample_config("shared", random.Random(i)) for i in range(200)]  # the refined space
assert all(len(set(c.groups)) == len(set(c.bottlenecks)) == 1 and list(c.widths) == sorted(c.widths) for c in shared)
print("refined space: 4 depths + 4 non-shrinking widths + one g + one b = 10 free dimensions instead of 16")

# %% [markdown]
# ## Training: the degradation problem
# **Degradation** is a *deeper* plain network training worse than a *shallower* plain one, on its own
# training data: not overfitting (which would show only on validation data) but optimisation. Three
# nets trained the same way on the same shapes batches: a shallow plain CNN, a deep plain CNN, and the
# deep one with skips (same layers). Each run is fixed by its seed, so the assertions are reproducible.
# (The gradient experiment of Exercise 7-1 above compared *equal* depths: that is why the deep plain net
# trains badly; this experiment shows the symptom the ResNet paper started from.)

# %%
histories = {}
for kind, depth, build in (("plain", shallow_depth, small.plain_cnn), ("plain", deep_depth, small.plain_cnn),
                           ("residual", deep_depth, small.residual_cnn)):
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=seed_everything(0))
    model = build(depth, num_classes=num_classes)  # the same seed, the same batches for every net
    histories[f"{kind}-{depth}"] = fit(model, loader, nn.functional.cross_entropy,
                                       torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
                                       epochs=deep_epochs, val_loader=val_loader, metrics={"accuracy": accuracy},
                                       device=device(), live_plot=False, progress=not fast_mode())

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, h in histories.items():
    ax.plot(range(1, len(h["train_loss"]) + 1), h["train_loss"], "o-", label=name)
style_axes(ax, "Training loss: shallow plain, deep plain, deep residual", "epoch", "cross-entropy (training)")
ax.legend()
plt.show()
final = {name: h["train_loss"][-1] for name, h in histories.items()}
print({k: round(v, 3) for k, v in final.items()})
shallow, deep_plain, deep_res = final[f"plain-{shallow_depth}"], final[f"plain-{deep_depth}"], final[f"residual-{deep_depth}"]
assert deep_plain > shallow  # degradation: more layers, a higher *training* loss
assert deep_res < deep_plain  # the same deep net with skips trains better
RESULTS.update({f"train_loss_{k.replace('-', '')}": v for k, v in final.items()})
RESULTS.update({f"val_accuracy_{k.replace('-', '')}": h["val_accuracy"][-1] for k, h in histories.items()})

# %% [markdown]
# Measured in full mode (1000 images, 3 epochs = 48 SGD steps, seed 0, one CPU thread): final training
# loss **plain-8 1.420, plain-56 1.639, residual-56 1.541** (validation accuracy 25.2 %, 20.6 %, 22.6 %;
# chance is 20 %, $\ln 5 = 1.609$). The 56-layer plain net has learnt nothing in 48 steps, its loss still
# at chance, while the 8-layer one has: degradation. The skips make the same 56 layers train, but at this
# short budget not yet as fast as the shallow net (the paper trains 64k iterations, and its Fig. 6 ends
# with ResNet-56 below ResNet-20 and every plain net); with Adam (lr 2e-3) instead of SGD the order was
# the same (1.241, 1.589, 1.420). Fast mode (64 images, 12 steps, 32 layers for the deep pair) is a tiny
# run, and its numbers (1.376, 1.602, 1.442) only keep the order.

# %%
RESULTS
