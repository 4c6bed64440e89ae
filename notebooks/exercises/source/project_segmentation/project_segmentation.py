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
# # Project: pre-trained vs from scratch, and SegFormer's attention
#
# **What you do.** The course's version of a graded segmentation assignment (its report is in the
# course notes): on the shapes scenes (32 x 32, 9 classes: 5 shapes, 3 kinds of background, void),
# you build a tiny segmentation network on a **pre-trained encoder** (the convolutional encoder of
# chapter 7's shipped VAE, trained on other images, without labels), train it with its pre-trained
# weights and from scratch, compare the validation mIoU curves, write SegFormer's **spatial-reduction
# attention** yourself, and answer the report's questions.
#
# **Points.** Exercise 1: 2, exercise 2: 4, exercise 3: 4 (checked automatically; the hidden checks
# include a minimum mIoU), exercises 4-7: 2, 2, 2, 3 (written, graded by hand). Total: 19 points.
#
# **Time.** About three hours. Each training run takes well under a minute on 2 CPU cores; no GPU needed.
#
# **How to work.** Replace each `raise NotImplementedError()` with your code, run the cell, then run
# the check cell below it. A check that passes prints nothing; one that fails says what it expected
# and what it got. Do not rename the functions or change their arguments: the grader calls them.

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.classification import multiclass_jaccard_index

from cvcourse.data import ShapesSegmentation
from cvcourse.generative.pretrained import load_shapes_betavaes
from cvcourse.grading import check, check_close, check_shape, exercise
from cvcourse.runtime import seed_everything

seed_everything(0)
torch.set_num_threads(1)  # the grader runs several notebooks side by side
NUM_CLASSES = 9


def scenes(n, seed):
    """n shapes scenes of 32 x 32: images Tensor[n, 3, 32, 32] in [0, 1], labels LongTensor[n, 32, 32]."""
    data = ShapesSegmentation(n, size=32, seed=seed)
    images, labels = zip(*[data[i] for i in range(n)], strict=True)
    return torch.stack(images), torch.stack(labels)


def pretrained_encoder(pretrained=True):
    """Three stride-2 3x3 convolutions (16, 32, 64 channels): [B, 3, 32, 32] -> [B, 64, 4, 4].

    With pretrained=True the weights of chapter 7's VAE (beta = 0) on ShapesFactors images; otherwise
    freshly initialised (PyTorch's default initialisation).
    """
    vaes, _ = load_shapes_betavaes()
    encoder = vaes[0.0].encoder.features.train()
    if not pretrained:
        for module in encoder.modules():
            if isinstance(module, nn.Conv2d):
                module.reset_parameters()
    return encoder


def evaluate_miou(model, images, labels):
    """Mean IoU over the 9 classes of the model's arg-max prediction (torchmetrics)."""
    model.eval()
    with torch.no_grad():
        predicted = model(images).argmax(dim=1)
    model.train()
    return float(multiclass_jaccard_index(predicted, labels, NUM_CLASSES, average="macro"))


train_images, train_labels = scenes(128, seed=0)
val_images, val_labels = scenes(64, seed=1)  # another seed: scenes never seen in training
print("train", tuple(train_images.shape), "val", tuple(val_images.shape))

# %% [markdown]
# ## Exercise 1: a segmentation head on the encoder (2 points)
#
# The encoder sees the image at 1/8 of its resolution ($4 \times 4$ features of 64 channels). Write
# `TinySegmenter(encoder, num_classes)`: its `forward(images)` runs the encoder, **upsamples** the features
# bilinearly back to the image size, concatenates the image itself (3 channels: a skip connection, as in
# U-Net, carrying the detail the encoder threw away), and maps the $64 + 3$ channels to `num_classes`
# logits per pixel with a $3\times3$ convolution (64 channels), a ReLU and a $1\times1$ convolution. Output:
# Tensor$[B, \text{num\_classes}, H, W]$; keep the encoder as the attribute `encoder`.

# %% nbgrader={"grade": false, "grade_id": "TinySegmenter", "locked": false, "schema_version": 3, "solution": true, "task": false}
class TinySegmenter(nn.Module):
    def __init__(self, encoder, num_classes=NUM_CLASSES):
        super().__init__()
        ### BEGIN SOLUTION
        self.encoder = encoder
        self.head = nn.Sequential(nn.Conv2d(64 + 3, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, num_classes, 1))
        ### END SOLUTION

    def forward(self, images):
        ### BEGIN SOLUTION
        features = F.interpolate(self.encoder(images), size=images.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(torch.cat([features, images], dim=1))
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_TinySegmenter", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with exercise(1, "TinySegmenter.__init__", also=("TinySegmenter.forward",)):
    model = TinySegmenter(pretrained_encoder())
    logits = model(train_images[:2])
    check_shape("TinySegmenter(...)(2 images of 3 x 32 x 32)", logits, (2, NUM_CLASSES, 32, 32))
    check(model.encoder is not None and any(p.requires_grad for p in model.encoder.parameters()),
          "model.encoder should be the encoder given, with trainable weights (fine-tuning trains them too)")
    logits.sum().backward()
    first = next(model.encoder.parameters())
    check(first.grad is not None and bool(first.grad.abs().sum() > 0),
          "the loss's gradient should reach the encoder's first convolution")

# %% [markdown]
# ## Exercise 2: train and record the mIoU curve (4 points)
#
# Write `train_segmenter(model, epochs, lr, batch_size)`: Adam with learning rate `lr`, the pixel-wise
# cross-entropy on `train_images` / `train_labels` in shuffled mini-batches, and after every epoch the
# validation mIoU (`evaluate_miou(model, val_images, val_labels)`). Return the list of the `epochs` mIoUs.
# The hidden check trains the **pre-trained** model for 5 epochs with `lr=3e-3`: it must reach a validation
# mIoU of at least 0.2 (a few seconds on 2 CPU cores).

# %% nbgrader={"grade": false, "grade_id": "train_segmenter", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_segmenter(model, epochs=5, lr=3e-3, batch_size=32):
    """Train `model` on the training scenes; return the validation mIoU after each epoch (list of floats)."""
    ### BEGIN SOLUTION
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    curve = []
    for _ in range(epochs):
        order = torch.randperm(len(train_images))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            loss = F.cross_entropy(model(train_images[batch]), train_labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        curve.append(evaluate_miou(model, val_images, val_labels))
    return curve
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_train_segmenter", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
with exercise(2, "train_segmenter", also=("TinySegmenter.__init__", "TinySegmenter.forward"), seconds=150):
    torch.manual_seed(2)
    curve = train_segmenter(TinySegmenter(pretrained_encoder()), epochs=1)
    check(isinstance(curve, list) and len(curve) == 1, f"one epoch should give a list of 1 mIoU, got {curve!r}")
    check(isinstance(curve[0], float) and 0.0 <= curve[0] <= 1.0, f"an mIoU is a float in [0, 1], got {curve[0]!r}")
### BEGIN HIDDEN TESTS
with exercise(2, "train_segmenter", also=("TinySegmenter.__init__", "TinySegmenter.forward"), seconds=150):
    torch.manual_seed(20)
    curve = train_segmenter(TinySegmenter(pretrained_encoder()), epochs=5, lr=3e-3)
    check(len(curve) == 5, f"5 epochs should give 5 mIoUs, got {len(curve)}")
    check(curve[-1] >= 0.2, f"the pre-trained model should reach a validation mIoU >= 0.2 in 5 epochs, got {curve[-1]:.3f}")
### END HIDDEN TESTS

# %% [markdown]
# **The experiment.** The same network and training, once with the pre-trained encoder and once from
# scratch. The curves are what exercise 5 asks you about.

# %%
curves = {}
for name, pretrained in [("pre-trained encoder", True), ("from scratch", False)]:
    torch.manual_seed(0)
    curves[name] = train_segmenter(TinySegmenter(pretrained_encoder(pretrained)), epochs=5)
fig, ax = plt.subplots(figsize=(5, 3.2))
for name, curve in curves.items():
    ax.plot(range(1, len(curve) + 1), curve, marker="o", label=name)
ax.set(title="Validation mIoU, fine-tuned vs from scratch", xlabel="epoch", ylabel="validation mIoU")
ax.legend()
print({name: [round(m, 3) for m in curve] for name, curve in curves.items()})

# %% [markdown]
# ## Exercise 3: SegFormer's spatial-reduction attention (4 points)
#
# Self-attention over all $N = HW$ tokens of a high-resolution feature map costs $O(N^2)$. SegFormer (and
# PVT) keep the $N$ queries but compute the keys and values from a **reduced** map: the tokens
# $x \in \mathbb{R}^{B \times N \times C}$ are reshaped to $[B, C, H, W]$, reduced by `sra.sr`, a convolution with kernel
# and stride $R$ (`sra.sr_ratio`), to $[B, C, H/R, W/R]$, flattened back to $N/R^2$ tokens and normalised by
# `sra.norm` (a LayerNorm); then `sra.attn`, an `nn.MultiheadAttention(C, heads, batch_first=True)`, attends
# from the $N$ queries to those $N/R^2$ keys and values: $O(N^2/R^2)$. (The report's code does the same with
# explicit `q` and `kv` projections.) Write `spatial_reduction_attention(x, height, width, sra)`,
# returning Tensor$[B, N, C]$; with `sra.sr_ratio == 1` there is no reduction and no norm (`sra.sr` and
# `sra.norm` are then `None`).

# %%
class SRA(nn.Module):
    """The parameters of one spatial-reduction attention layer (the student's function runs them)."""

    def __init__(self, channels, heads, sr_ratio):
        super().__init__()
        self.sr_ratio = sr_ratio
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.sr = nn.Conv2d(channels, channels, sr_ratio, stride=sr_ratio) if sr_ratio > 1 else None
        self.norm = nn.LayerNorm(channels) if sr_ratio > 1 else None


# %% nbgrader={"grade": false, "grade_id": "spatial_reduction_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def spatial_reduction_attention(x, height, width, sra):
    """SegFormer's efficient self-attention of Tensor[B, N = height * width, C] tokens."""
    ### BEGIN SOLUTION
    kv = x
    if sra.sr_ratio > 1:
        b, n, c = x.shape
        grid = x.transpose(1, 2).reshape(b, c, height, width)
        kv = sra.norm(sra.sr(grid).flatten(2).transpose(1, 2))  # [B, N / R^2, C]
    return sra.attn(x, kv, kv, need_weights=False)[0]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_spatial_reduction_attention", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
def keys_seen(sra, x, height, width):
    """Run the student's function and record the number of keys its attention was given."""
    seen = []
    hook = sra.attn.register_forward_pre_hook(lambda module, args, kwargs: seen.append(args[1].shape[1]),
                                              with_kwargs=True)
    try:
        out = spatial_reduction_attention(x, height, width, sra)
    finally:
        hook.remove()
    return out, seen


with exercise(3, "spatial_reduction_attention"):
    torch.manual_seed(3)
    x = torch.randn(2, 8 * 8, 16)
    plain = SRA(16, 2, 1)
    out, seen = keys_seen(plain, x, 8, 8)
    check_shape("output (R = 1)", out, (2, 64, 16))
    check_close("output with R = 1: ordinary self-attention", out, plain.attn(x, x, x)[0], atol=1e-5, rtol=1e-4)
    reduced = SRA(16, 2, 4)
    out, seen = keys_seen(reduced, x, 8, 8)
    check_shape("output (R = 4)", out, (2, 64, 16))
    check(seen == [4], f"with R = 4 on an 8 x 8 map the attention should get 8 * 8 / 16 = 4 keys, got {seen}")
### BEGIN HIDDEN TESTS
def report_sra(x, height, width, sra):  # the report's reshapes, with nn.MultiheadAttention for q, k, v
    b, n, c = x.shape
    x_ = x.permute(0, 2, 1).reshape(b, c, height, width)
    x_ = sra.sr(x_).reshape(b, c, -1).permute(0, 2, 1)
    x_ = sra.norm(x_)
    return sra.attn(x, x_, x_)[0]


with exercise(3, "spatial_reduction_attention"):
    for b, h, w, c, heads, r in [(2, 8, 8, 16, 2, 4), (1, 6, 4, 8, 1, 2), (3, 4, 4, 12, 3, 2)]:
        sra = SRA(c, heads, r)
        x = torch.randn(b, h * w, c)
        out, seen = keys_seen(sra, x, h, w)
        check_close(f"output (H={h}, W={w}, R={r})", out, report_sra(x, h, w, sra), atol=1e-5, rtol=1e-4)
        check(seen == [h * w // r**2], f"keys for H={h}, W={w}, R={r}: expected {h * w // r**2}, got {seen}")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: other segmentation architectures (2 points, graded by hand)
#
# Which other architectures for segmentation did the course present (FCN, U-Net, FPN, DeepLab, ...), and
# how do they differ from SegFormer (encoder, decoder, how multi-scale information is handled)?

# %% [markdown] nbgrader={"grade": true, "grade_id": "architectures_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **FCN**: a classification CNN made fully convolutional; its coarse output is upsampled (bilinear or
# transposed convolution), with skip additions from earlier stages (FCN-16s/8s). **U-Net**: an encoder-decoder
# with skip connections that concatenate each encoder stage with the decoder stage of the same resolution,
# for precise boundaries. **FPN**: a top-down pathway with lateral connections merging the levels of a CNN
# backbone into a pyramid of semantically strong maps. **DeepLab**: dilated convolutions keep the resolution
# and ASPP gathers context at several rates. **SegFormer** replaces the CNN by a hierarchical transformer
# (overlapping patch embeddings, efficient spatial-reduction attention, Mix-FFN without position encodings)
# producing four scales, and decodes with a lightweight all-MLP head that upsamples and fuses them, instead of
# the heavier convolutional decoders of U-Net or DeepLab.

# %% [markdown]
# ## Exercise 5: why down- and up-sample? (2 points, graded by hand)
#
# Why do these architectures down-sample and then up-sample instead of keeping the input resolution
# throughout? Use your network as an example: what does its encoder's 1/8 resolution buy, and what does
# the skip connection of exercise 1 give back?

# %% [markdown] nbgrader={"grade": true, "grade_id": "downsampling_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Down-sampling makes the receptive field and the context large at a small cost: after three stride-2
# convolutions each feature sees a large part of the 32 x 32 scene (enough to tell sky from ground or a star
# from a cross), and every layer computes on 64 times fewer positions than at full resolution, which keeps
# memory and compute affordable (and attention's $O(N^2)$ even more so). The price is spatial detail: the
# 4 x 4 features cannot place a boundary to the pixel, so the prediction must be upsampled, and the skip
# connection brings back the full-resolution image (in U-Net, encoder features) so that the head can align
# the coarse, semantically strong decision with the actual edges.

# %% [markdown]
# ## Exercise 6: pre-training and fine-tuning (2 points, graded by hand)
#
# What is the purpose of pre-training and fine-tuning, and for which use cases is it especially beneficial?

# %% [markdown] nbgrader={"grade": true, "grade_id": "pretraining_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Pre-training learns general features (edges, textures, object parts) on a large data set, often with a
# different task or without labels; fine-tuning starts the target task from those weights and adapts them
# with a (usually smaller) learning rate on the target data. The network starts from a good representation
# instead of random weights, so it needs fewer labelled examples and fewer epochs, and it generalises better.
# It helps most when labelled data are scarce or expensive (segmentation masks, medical images), when compute
# is limited, and for data-hungry architectures with little inductive bias (transformers such as SegFormer,
# which from scratch on a small data set do worse than CNNs).

# %% [markdown]
# ## Exercise 7: what did you observe? (3 points, graded by hand)
#
# Describe your two curves (numbers after the first epochs and at the end), explain how the pre-trained
# weights influenced the training and why, although the encoder was trained on other images and without
# segmentation labels, and say what you would expect with more epochs or with far fewer training scenes.

# %% [markdown] nbgrader={"grade": true, "grade_id": "observation_answer", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# (A model answer; the numbers depend on the run.) With the pre-trained encoder the validation mIoU rises
# faster: it is ahead after the first epochs, while the scratch model first has to learn edge and colour detectors that the VAE's
# encoder already had; both reach a similar mIoU after enough epochs, so the gain is mostly speed. The encoder
# was trained to reconstruct other shapes images, which forced it to encode colours, edges and shape outlines
# at 1/8 resolution: exactly the features the segmentation head needs, even without any labels. With more
# epochs the gap shrinks (the task is small and both can learn it); with far fewer training scenes the
# pre-trained model would keep a larger lead, because the scratch model would overfit the few scenes.
