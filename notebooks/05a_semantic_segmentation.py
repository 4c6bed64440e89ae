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
# # Chapter 5a: Semantic segmentation
#
# **What you will learn** (section 5.1 and appendix 5.A of the notes, the "Semantic segmentation" and
# "CNNs part II" slides, Exercise 7-3 (a), and the SegFormer assignment report): what semantic,
# instance and panoptic segmentation ask for; pixel-wise losses and the metrics (pixel accuracy, mean
# accuracy, IoU, mIoU) read off one confusion matrix; Kinect's body-part forest; why a sliding window
# is hopeless; every way to upsample (nearest, bilinear, bed of nails, max unpooling, transposed
# convolution and its checkerboard, pixel shuffle); FCN, SegNet, U-Net, HRNet; dilated convolutions
# and their receptive field; SPP, PSPNet and DeepLab's ASPP; transformers for dense prediction and
# SegFormer; and a U-Net trained on our synthetic scenes, pre-trained vs from scratch.
#
# Every piece of code is imported from `cvcourse.segmentation`, where it is tested against its
# authority (torchmetrics, `torch.nn.functional`, scikit-learn, torchvision, `torch.utils.flop_counter`).
#
# **How long**: fast mode (`CVCOURSE_FAST=1`) about half a minute on 2 free CPU cores (20 s of CPU
# time; shipped weights for the pictures, tiny training runs). Full mode about 10 minutes on 2 CPU
# cores: the U-Net about 5 min (1800 steps; 328 s on one thread of a busy machine, 0.13 s per step on
# 2 free cores; it reaches mIoU 0.71 on the unseen scenes, the shipped file's 8000 steps 0.947), the
# SegFormer under a minute, the pre-training experiment about 2 min.
# **GPU**: optional; it only speeds up the training cells.

# %%
# %matplotlib inline
import inspect

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from cvcourse.runtime import device, fast_mode, pick, seed_everything
from cvcourse.viz import overlay_mask, overlay_panoptic, style_axes

seed_everything(0)
torch.set_num_threads(pick(full=torch.get_num_threads(), fast=1))
DEVICE = device()
RESULTS = {"fast_mode": int(fast_mode())}  # the chapter's headline numbers, filled as the cells run

# %% tags=["parameters"]
KINECT_TRAIN = pick(full=200, fast=30)  # rendered bodies for the forest
KINECT_TREES = pick(full=30, fast=8)
KINECT_PIXELS = pick(full=300, fast=100)  # training pixels per body
UNET_EPOCHS = pick(full=6, fast=1)  # full: the shipped recipe, shortened to fit about 5 minutes on 2 cores
UNET_SCENES = pick(full=2400, fast=16)
SEGFORMER_EPOCHS = pick(full=4, fast=1)
SEGFORMER_SCENES = pick(full=200, fast=16)
TEST_SCENES = 300  # ShapesSegmentation(seed=777), never used for training: the shipped models' test set
OWN_TEST_SCENES = pick(full=300, fast=48)  # of those, to score this notebook's own (fast: tiny) runs

# %% [markdown]
# ## 5.1 Semantic segmentation: the task
#
# **Semantic segmentation**: given an image, output a category for every pixel. Exercise 7-3 (a) sets
# it beside its two relatives:
#
# * **semantic**: every pixel gets exactly one class; object instances are not told apart;
# * **instance**: object detection plus a mask per object; instances are told apart, background
#   ("stuff") pixels get nothing;
# * **panoptic**: both at once: every pixel gets a class *and* an instance id; for countable
#   "thing" classes the ids separate the objects, for "stuff" (sky, water) the id is not used.
#
# One scene of `ShapesSegmentation` (things: circle, square, triangle, cross, star; stuff: sky,
# ground, water) in the three labellings:

# %%
from cvcourse.data import ShapesSegmentation

SCENE_SEED = 5
scenes = {kind: ShapesSegmentation(4, seed=SCENE_SEED, kind=kind) for kind in ("semantic", "instance", "panoptic")}
image, semantic = scenes["semantic"][0]
_, instance = scenes["instance"][0]
_, panoptic = scenes["panoptic"][0]
assert torch.equal(image, scenes["panoptic"][0][0])  # the same scene, three kinds of label
CLASSES = scenes["semantic"].classes
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
axes[0].imshow(image.permute(1, 2, 0))
overlay_mask(axes[1], image, semantic, background=None)
overlay_mask(axes[2], image, instance["masks"])
overlay_panoptic(axes[3], image, panoptic)
titles = ["image", "semantic: a class per pixel", "instance: a mask per object", "panoptic: class + id"]
for ax, title in zip(axes, titles, strict=True):
    style_axes(ax, title, "x (pixels)", "y (pixels)")
print("classes present:", [CLASSES[c] for c in semantic.unique().tolist()])
print("instances:", len(instance["labels"]), "| panoptic segments:", len(torch.unique(panoptic.reshape(-1, 2), dim=0)))

# %% [markdown]
# **Three set-ups, three losses** (the "CNNs part II" slides). *Binary*: one class marked 1, the rest
# 0: one output channel, binary cross-entropy. *Multi-class*: classes are mutually exclusive and every
# pixel has one: C channels, softmax cross-entropy. *Multi-label*: classes may overlap (a pixel is both
# "thing" and "circle"): one channel per class, a binary cross-entropy on each.

# %%
things = torch.tensor(scenes["semantic"].thing_ids)
binary = torch.isin(semantic, things).float()  # [H, W]: object vs not
multiclass = semantic  # [H, W] ids, one per pixel
multilabel = torch.stack([binary, *(semantic == c for c in range(1, 9))]).float()  # [1 + 8, H, W]
logits_bin, logits_mc, logits_ml = torch.randn(1, *binary.shape), torch.randn(9, *binary.shape), torch.randn(9, *binary.shape)
losses = {
    "binary (BCE)": F.binary_cross_entropy_with_logits(logits_bin[0], binary),
    "multi-class (CE)": F.cross_entropy(logits_mc[None], multiclass[None]),
    "multi-label (BCE per channel)": F.binary_cross_entropy_with_logits(logits_ml, multilabel),
}
assert (multilabel.sum(0) >= 1).all() and (multilabel.sum(0)[binary == 1] == 2).all()  # labels overlap on objects
for name, value in losses.items():
    print(f"{name:30s} target shape {tuple({'binary (BCE)': binary, 'multi-class (CE)': multiclass}.get(name, multilabel).shape)}  loss of random logits {value:.3f}")

# %% [markdown]
# ### Pixel-wise losses
#
# The pixel-wise cross-entropy is the log loss $-\sum_{c} y_c \log \hat y_c$ of each pixel, averaged over
# the pixels. The **focal loss** $\mathrm{FL}(p_t) = -\alpha_t (1 - p_t)^\gamma \log p_t$ scales it down
# where the pixel is already right ($p_t \to 1$): the thousands of easy sky pixels stop drowning the
# few hard border pixels. *Why the alphas?* $(1-p_t)^\gamma$ balances easy vs hard; $\alpha_t$ balances
# the classes (frequent vs rare), a separate problem.

# %%
from cvcourse.segmentation.losses import pixel_cross_entropy, softmax_focal_loss

g = torch.Generator().manual_seed(0)
logits = torch.randn(2, 9, 64, 64, generator=g, dtype=torch.float64)
labels = torch.stack([semantic, scenes["semantic"][1][1]])
ce = pixel_cross_entropy(logits, labels)
assert torch.allclose(ce, F.cross_entropy(logits, labels))
assert torch.allclose(softmax_focal_loss(logits, labels, gamma=0.0), ce)
p_t = torch.tensor([0.1, 0.5, 0.9, 0.99], dtype=torch.float64)
for gamma in (0, 1, 2, 5):
    factor = (1 - p_t) ** gamma
    print(f"gamma = {gamma}: (1 - p_t)^gamma at p_t = 0.1, 0.5, 0.9, 0.99:", np.round(factor.numpy(), 4))
focal = softmax_focal_loss(logits, labels, gamma=2.0)
print(f"random logits: cross-entropy {ce:.3f}, focal (gamma 2) {focal:.3f}")
RESULTS["focal_over_ce_random_logits"] = float(focal / ce)

# %% [markdown]
# ### Metrics, all from one confusion matrix
#
# With $M_{ij}$ = pixels of true class $i$ predicted as $j$: $\mathrm{TP}_c = M_{cc}$,
# $\mathrm{FP}_c$ = the rest of column $c$, $\mathrm{FN}_c$ = the rest of row $c$. **Pixel accuracy**
# $\sum_c \mathrm{TP}_c / \sum M$; **mean accuracy** (mAcc) the mean over classes of
# $\mathrm{TP}_c/(\mathrm{TP}_c+\mathrm{FN}_c)$; **IoU** $\mathrm{IoU}_c = \mathrm{TP}_c / (\mathrm{TP}_c +
# \mathrm{FP}_c + \mathrm{FN}_c)$ and **mIoU** its mean over classes (notes: $\mathrm{mIoU} = \frac1C \sum_c
# \mathrm{IoU}_c$, summed over the whole data set before dividing). Ours equal torchmetrics'
# `MulticlassAccuracy` (micro / macro) and `MulticlassJaccardIndex`; like torchmetrics, a class absent
# from both target and prediction is left out of the means, and pixels whose target is `ignore_index`
# are not counted.

# %%
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

from cvcourse.segmentation.metrics import confusion_matrix, scores_from_confusion

noisy = torch.where(torch.rand(labels.shape, generator=g) < 0.15, torch.randint(1, 9, labels.shape, generator=g), labels)
cm = confusion_matrix(noisy, labels, 9)
scores = scores_from_confusion(cm)
assert torch.isclose(scores["mean_iou"], MulticlassJaccardIndex(9)(noisy, labels).double(), atol=1e-6)
assert torch.isclose(scores["pixel_accuracy"], MulticlassAccuracy(9, average="micro")(noisy, labels).double(), atol=1e-6)
assert torch.isclose(scores["mean_accuracy"], MulticlassAccuracy(9, average="macro")(noisy, labels).double(), atol=1e-6)
fig, ax = plt.subplots(figsize=(5.5, 4.5))
ax.imshow(np.log1p(cm.numpy()), cmap="Blues")
ax.set_xticks(range(9), CLASSES, rotation=60)
ax.set_yticks(range(9), CLASSES)
style_axes(ax, "confusion matrix (log scale), 15 % of pixels random", "predicted class", "true class")
print({k: round(float(v), 3) for k, v in scores.items() if v.ndim == 0})
print("IoU per class:", {c: round(float(v), 3) for c, v in zip(CLASSES, scores["iou_per_class"], strict=True)})
absent = [CLASSES[c] for c in range(1, 9) if cm[c].sum() == 0 and cm[:, c].sum() > 0]
print("absent from the truth but predicted (IoU 0, counted in the mean):", absent)
RESULTS["noisy_miou"] = float(scores["mean_iou"])

# %% [markdown]
# **mIoU is not perception** (remark in 5.1). Two predictions of the same scenes: one right everywhere
# except for scattered single wrong pixels, one with clean regions but blocky borders (computed at
# 1/8 resolution). We pick the noise rate so that both have the same mIoU (to 0.01). They look nothing
# alike, and a human prefers one of them (which?), yet the number cannot tell them apart.

# %%
def blocky(lab, factor=8):
    small = lab[:, ::factor, ::factor]
    return small.repeat_interleave(factor, 1).repeat_interleave(factor, 2)


def speckled(lab, rate, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.where(torch.rand(lab.shape, generator=gen) < rate, torch.randint(1, 9, lab.shape, generator=gen), lab)


def miou(pred):
    return float(scores_from_confusion(confusion_matrix(pred, labels, 9))["mean_iou"])


# %%
target_miou, (lo, hi) = miou(blocky(labels)), (0.0, 1.0)
for _ in range(30):  # bisection on the noise rate
    mid = (lo + hi) / 2
    lo, hi = (mid, hi) if miou(speckled(labels, mid)) > target_miou else (lo, mid)
rate = (lo + hi) / 2
assert abs(miou(speckled(labels, rate)) - target_miou) < 0.01
fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
panels = [
    ("truth", labels[0]),
    (f"speckled ({rate:.0%} of pixels): mIoU {miou(speckled(labels, rate)):.3f}", speckled(labels, rate)[0]),
    (f"blocky (1/8 res.): mIoU {target_miou:.3f}", blocky(labels)[0]),
]
for ax, (title, lab) in zip(axes, panels, strict=True):
    overlay_mask(ax, None, lab, background=None, alpha=1.0)
    style_axes(ax, title, "x (pixels)", "y (pixels)")
RESULTS["close_miou_blocky"], RESULTS["close_miou_speckle_rate"] = target_miou, rate

# %% [markdown]
# ## 5.1.1 Kinect human pose estimation
#
# The Kinect's pipeline (Shotton et al. 2011): (1) a depth image, background removed; (2) every pixel
# classified into a body part; (3) joints as local modes of the parts. It was trained on *synthetic*
# people rendered from motion capture. Ours: stick figures of capsules (head, torso, upper arms,
# forearms, thighs, shins: 10 parts) in random poses at 2-4 m from a pinhole camera, background at a
# large constant depth.

# %%
from cvcourse.segmentation import kinect

bodies = kinect.body_dataset(KINECT_TRAIN, seed=0)
bodies_test = kinect.body_dataset(pick(full=40, fast=8), seed=1)
fig, axes = plt.subplots(2, 4, figsize=(11, 5.6))
for i in range(4):
    d = np.where(bodies["depth"][i] < kinect.BACKGROUND_DEPTH, bodies["depth"][i], np.nan)
    axes[0, i].imshow(d, cmap="viridis_r")
    style_axes(axes[0, i], f"depth, z = {bodies['z'][i]:.1f} m", "u (pixels)", "v (pixels)")
    axes[1, i].imshow(bodies["labels"][i], cmap="tab20", vmin=0, vmax=19, interpolation="nearest")
    style_axes(axes[1, i], "body parts", "u (pixels)", "v (pixels)")
print("parts:", kinect.PARTS[1:])

# %% [markdown]
# **Depth-comparison features.** With offsets $\theta = (\Delta p, \Delta n)$, pixel $x$ gives
# $f(x) = D[x + \Delta p / D[x]] - D[x + \Delta n / D[x]]$. Why divide by $D[x]$: an offset of $o_w$
# metres on the body is $o_w f / d$ pixels at depth $d$ (perspective), so $\Delta p = o_w f$ divided by
# the depth covers the same piece of body near and far. Measured: the same pose at 2 m and at 4 m;
# for corresponding pixels, how often does the probe land on the same body part?

# %%
offsets = kinect.random_offsets(pick(full=200, fast=60), seed=0, reach=90)
pose = bodies["poses"][0]
agree = {norm: kinect.probe_agreement(pose, offsets, 2.0, 4.0, normalise=norm)[0] for norm in (True, False)}
print(f"probe on the same part near and far: divided by D[x] {agree[True]:.0%}, by a fixed 3 m {agree[False]:.0%}")
assert agree[True] > 0.5 and agree[True] > 4 * agree[False]
RESULTS["kinect_probe_agreement"] = agree[True]

# %% [markdown]
# **Random forest.** A decision tree on these features is a strong but unstable classifier (high
# variance). A forest averages many trees, and works when their errors are uncorrelated: **bagging**
# trains each tree on a bootstrap replica of the data (sampling with replacement: each replica holds
# about $1 - 1/e \approx 63\,\%$ of the distinct examples), **random splitting** lets each split look
# at a random subset of the features only (here $\sqrt{K}$). We compare one tree, bagging alone, and
# the random forest, on unseen bodies.

# %%
def part_accuracy(forest):
    hits = total = 0
    for d, lab in zip(bodies_test["depth"], bodies_test["labels"], strict=True):
        pred, _ = kinect.predict_parts(forest, d, offsets)
        hits, total = hits + (pred[lab > 0] == lab[lab > 0]).sum(), total + (lab > 0).sum()
    return hits / total


common = dict(per_image=KINECT_PIXELS, max_depth=14)
variants = {
    "one tree": kinect.train_forest(bodies, offsets, trees=1, bootstrap=False, max_features=None, **common),
    "bagging only": kinect.train_forest(bodies, offsets, trees=KINECT_TREES, max_features=None, **common),
    "random forest": kinect.train_forest(bodies, offsets, trees=KINECT_TREES, **common),
}
accuracy = {name: part_accuracy(f) for name, f in variants.items()}
print({k: f"{v:.1%}" for k, v in accuracy.items()})
draws = np.random.default_rng(0).integers(0, 10_000, (20, 10_000))
distinct = np.mean([len(np.unique(r)) / 10_000 for r in draws])
assert abs(distinct - (1 - np.exp(-1))) < 0.005
print(f"distinct examples in a bootstrap replica: {distinct:.3f} (1 - 1/e = {1 - np.exp(-1):.3f})")
RESULTS.update({f"kinect_{k.replace(' ', '_')}_accuracy": float(v) for k, v in accuracy.items()})

# %% [markdown]
# The notes' remark: random forests are **fast and parallelisable** (the trees are independent:
# scikit-learn's `n_jobs` trains them at once), **robust to their hyperparameters**, and
# **interpretable**: the features a forest splits on can be read off. Below, the accuracy at a
# halved and a doubled depth limit, and the reach (pixel-metres) of the offset pairs the forest uses
# most. The original paper also iterated: train, find the poses the model gets wrong, render more of
# those.

# %%
robust = {depth: part_accuracy(kinect.train_forest(bodies, offsets, trees=KINECT_TREES, per_image=KINECT_PIXELS, max_depth=depth))
          for depth in (7, 28)}
print("accuracy at max_depth 7 / 14 / 28:", f"{robust[7]:.1%} / {accuracy['random forest']:.1%} / {robust[28]:.1%}")
importance = variants["random forest"].feature_importances_  # one per offset pair
top = np.argsort(importance)[::-1][:5]
reach = np.linalg.norm(np.asarray(offsets).reshape(len(offsets), -1), axis=1)
print("most used offsets: reach", np.round(reach[top]).astype(int), "vs median reach", int(np.median(reach)))
assert np.isclose(importance.sum(), 1.0)

# %% [markdown]
# **Joints as modes.** Each part's pixels, back-projected to metres and weighted by the forest's
# probability of that part, are climbed by mean shift to their densest point: the joint proposal. The
# crosses are the proposals, the dots the true part centres.

# %%
def to_pixels(points, z, size=64):
    """World (x, y) metres -> image (u, v) pixels at distance z (the renderer's camera)."""
    return [((size - 1) / 2 + x * kinect.FOCAL / z, size * 0.92 - y * kinect.FOCAL / z) for x, y in points]


forest = variants["random forest"]
errors = []
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
for i, ax in enumerate(axes):
    d, z, pose_i = bodies_test["depth"][i], bodies_test["z"][i], bodies_test["poses"][i]
    pred, probs = kinect.predict_parts(forest, d, offsets)
    proposals, centres = kinect.joint_proposals(d, probs, z), kinect.part_centres(pose_i)
    errors += [np.hypot(*np.subtract(proposals[k], centres[k])) for k in proposals]
    ax.imshow(pred, cmap="tab20", vmin=0, vmax=19, interpolation="nearest")
    ax.scatter(*np.array(to_pixels(proposals.values(), z)).T, marker="x", color="black", s=30)
    ax.scatter(*np.array(to_pixels(centres.values(), z)).T, marker="o", facecolor="none", color="white", s=30)
    style_axes(ax, f"predicted parts, z = {z:.1f} m", "u (pixels)", "v (pixels)")
print(f"joint proposals vs part centres: median error {np.median(errors) * 100:.1f} cm over {len(errors)} parts")
RESULTS["kinect_joint_median_error_m"] = float(np.median(errors))

# %% [markdown]
# ## 5.1.2 R-CNN for segmentation: a sliding window, and its cost
#
# The first idea: slide a window over every pixel and let a classification CNN label the pixel at its
# centre (loss: the cross-entropy summed over the pixels). The slides' verdict: "computation time not
# manageable; the CNN is run for each patch". Counted with `conv_cost` (multiply-adds, checked against
# `torch.utils.flop_counter`): a ResNet-50 per 224-pixel window, one window per pixel of a 256 x 256
# image, against one pass of torchvision's FCN-ResNet50 over the whole image.

# %%
import torchvision

from cvcourse.segmentation.receptive_field import conv_cost

per_window = conv_cost(torchvision.models.resnet50(), 224)["gmacs"]
fcn_once = conv_cost(torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=9), 256)["gmacs"]
windows = 256 * 256
print(f"sliding window: {windows} windows x {per_window:.2f} GMACs = {windows * per_window / 1e3:,.0f} TMACs")
print(f"FCN, one pass : {fcn_once:.1f} GMACs -> {windows * per_window / fcn_once:,.0f} times less")
RESULTS["sliding_window_over_fcn"] = windows * per_window / fcn_once

# %% [markdown]
# ## 5.1.3 Down- and upsampling
#
# Labelling every pixel in one pass (a fully convolutional net) at full resolution is too expensive
# ("without reducing the latent space, the memory requirement is nearly infeasible"); so networks
# **downsample** (big receptive field, cheap) and **upsample** back (fine detail). The fixed
# upsamplers first: nearest neighbour, and bilinear interpolation, here on the slide's 2 x 2 example.
# The slide's 4 x 4 answer `[[10, 12, 17, 20], ...]` is PyTorch's `align_corners=False` **truncated to
# integers** (12 is 12.5, 17 is 17.5; rounding would give 18): pixels are squares whose outer edges
# meet. `align_corners=True` makes the corner pixels' centres meet instead, and gives other numbers.

# %%
from cvcourse.segmentation import upsampling as up

x = torch.tensor([[10.0, 20.0], [30.0, 40.0]], dtype=torch.float64)[None, None]
SLIDE_BILINEAR = [[10, 12, 17, 20], [15, 17, 22, 25], [25, 27, 32, 35], [30, 32, 37, 40]]
nearest, bilinear = up.nearest_upsample(x, 2), up.bilinear_upsample(x, 2)
assert nearest[0, 0].tolist() == [[10, 10, 20, 20], [10, 10, 20, 20], [30, 30, 40, 40], [30, 30, 40, 40]]
assert torch.equal(bilinear, F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
assert bilinear.trunc()[0, 0].tolist() == SLIDE_BILINEAR and bilinear.round()[0, 0].tolist() != SLIDE_BILINEAR
corners = up.bilinear_upsample(x, 2, align_corners=True)
print("align_corners=False:\n", bilinear[0, 0].numpy(), "\nalign_corners=True:\n", corners[0, 0].numpy().round(2))
RESULTS["bilinear_slide_matches"] = int(bilinear.trunc()[0, 0].tolist() == SLIDE_BILINEAR)

# %% [markdown]
# **Unpooling.** *Bed of nails* puts each value in the top-left corner of its block and zeros elsewhere.
# *Max unpooling* (SegNet) remembers where each max-pooling window found its maximum and puts the
# value back there: the decoder's upsampling layer uses the positions of the matching encoder layer.

# %%
nails = up.bed_of_nails(torch.tensor([[1.0, 2.0], [3.0, 4.0]])[None, None], 2)[0, 0]
assert nails.tolist() == [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]  # the slide's 4 x 4
print(nails.numpy())
feature = torch.rand(1, 1, 4, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
pooled, where = up.max_pool_with_indices(feature, 2)
restored = up.max_unpool(pooled, where, (4, 4))
assert torch.equal(restored, F.max_unpool2d(*F.max_pool2d(feature, 2, return_indices=True), 2))
assert torch.equal(restored[restored != 0], feature[restored != 0])  # every maximum back in place
print("encoder map:\n", feature[0, 0].numpy().round(2), "\nmax-unpooled:\n", restored[0, 0].numpy().round(2))

# %% [markdown]
# **Transposed convolution** (5.1.4), the learnable upsampler: every input pixel drops a copy of the
# kernel, weighted by its value, at `stride` times its position; overlapping copies add up. The notes'
# example: a 3 x 3 input, a 3 x 3 kernel, stride 2 (padding 1, as on the slide) gives a 5 x 5 output,
# $(n - 1)s - 2p + k$. It is also the **transpose of the convolution's matrix**: if
# $\mathrm{conv}(x) = K\,\mathrm{vec}(x)$ maps 5 x 5 to 3 x 3 ($K$ is 9 x 25), then $K^\top$ maps 3 x 3 to 5 x 5.

# %%
print(inspect.getsource(up.transposed_conv_scatter).split("    n, _, h, w = x.shape\n")[-1])
y = torch.arange(1.0, 10.0, dtype=torch.float64).reshape(3, 3)
kernel = torch.tensor([[1.0, 2.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]], dtype=torch.float64)
theirs = F.conv_transpose2d(y[None, None], kernel[None, None], stride=2, padding=1)[0, 0]
scatter = up.transposed_conv_scatter(y[None, None], kernel[None, None], stride=2, padding=1)[0, 0]
K = up.conv_matrix(kernel, 5, stride=2, padding=1)
assert theirs.shape == (5, 5) == (up.transposed_conv_output_size(3, 3, 2, 1),) * 2 and K.shape == (9, 25)
assert torch.allclose(scatter, theirs) and torch.allclose((K.T @ y.flatten()).reshape(5, 5), theirs)
print("K (9 x 25), rows = output pixels of the 5 x 5 -> 3 x 3 convolution:\n", K.int().numpy())
print("K^T vec(y), as 5 x 5 = F.conv_transpose2d:\n", theirs.numpy())

# %% [markdown]
# **"Convolution with a fractional stride"** (the notes' other name): put $s - 1$ zeros between the
# input pixels, pad by $k - 1 - p$, and run an ordinary stride-1 convolution with the kernel flipped:
# the same 5 x 5. (*Deconvolution* is a misnomer: a deconvolution inverts a convolution; this only
# inverts its change of shape.)

# %%
stuffed = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
stuffed[..., ::2, ::2] = y  # stride 2 -> one zero between neighbours
fractional = F.conv2d(F.pad(stuffed, (1,) * 4), kernel.flip(0, 1)[None, None])[0, 0]  # pad k - 1 - p = 1
assert torch.allclose(fractional, theirs)
print("zero-stuffed input:\n", stuffed[0, 0].int().numpy())

# %% [markdown]
# **Bilinear initialisation.** A transposed convolution is usually initialised as a bilinear
# interpolator; for 3 x 3 the notes give $[[\frac14, \frac12, \frac14], [\frac12, 1, \frac12], [\frac14,
# \frac12, \frac14]]$, the outer product of the tent $(\frac12, 1, \frac12)$. With stride 2 it keeps the
# samples and inserts their midpoints: exactly `align_corners=True` interpolation to $2n - 1$.

# %%
tent = up.bilinear_kernel(3)
assert torch.equal(tent, torch.tensor([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]], dtype=torch.float64))
grid = torch.rand(1, 1, 4, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
midpoints = F.conv_transpose2d(grid, tent[None, None], stride=2, padding=1)
assert torch.allclose(midpoints, F.interpolate(grid, size=(7, 9), mode="bilinear", align_corners=True))
print("bilinear_kernel(4), for stride 2 and an output exactly twice as large:\n", up.bilinear_kernel(4).numpy())

# %% [markdown]
# **Checkerboard artifacts.** When the kernel size is not a multiple of the stride, output pixels
# receive different numbers of kernel copies: even a **constant** input comes out as a checkerboard.
# The slide's 1-D picture, kernel $(a, b, c)$, scale 2: rebuilt from the operators' matrices below,
# the transposed convolution alternates pixels that get $\{b\}$ and $\{a, c\}$, while NN-resize and
# bilinear-resize followed by a stride-1 convolution give every pixel weights summing to $a + b + c$.
# Measured on a constant 8 x 8 input with a random positive 3 x 3 kernel: the relative variance
# $\mathrm{Var}(y)/\bar y^2$ of the output (borders aside).

# %%
SLIDE_ROWS = {"transposed": [{"a", "c"}, {"b"}], "nearest": [{"a + b", "c"}, {"a", "b + c"}],
              "bilinear": [{"a + 1/2 b", "1/2 b + c"}, {"1/2 a", "1/2 a + b + 1/2 c", "1/2 c"}]}  # 003_...'s matrices
for method, rows_ in SLIDE_ROWS.items():
    assert {frozenset(r) for r in up.contributions_1d(method)} == {frozenset(r) for r in rows_}
    print(f"{method:10s}", [" | ".join(row) for row in up.contributions_1d(method)])
flat = torch.ones(1, 1, 8, 8, dtype=torch.float64)
w = torch.rand(1, 1, 3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 0.1
artifacts = {
    "transposed conv": up.checkerboard(F.conv_transpose2d(flat, w, stride=2, padding=1, output_padding=1)),
    "NN-resize + conv": up.checkerboard(up.resize_conv(flat, w, 2, "nearest")),
    "bilinear-resize + conv": up.checkerboard(up.resize_conv(flat, w, 2, "bilinear")),
}
assert artifacts["transposed conv"] > 1e-2 and max(artifacts["NN-resize + conv"], artifacts["bilinear-resize + conv"]) < 1e-12
print({k: f"{v:.2e}" for k, v in artifacts.items()})
RESULTS["checkerboard_transposed"] = artifacts["transposed conv"]

# %% [markdown]
# **Pixel shuffle** reverses "less resolution, more channels": $[C r^2, H, W] \to [C, rH, rW]$, each
# group of $r^2$ channels filling the $r \times r$ blocks. A convolution before it learns the upsampling
# at low resolution (ESPCN); no overlap, so no checkerboard.

# %%
channels = torch.arange(16.0).reshape(1, 4, 2, 2)  # 4 channels of 2 x 2
shuffled = up.pixel_shuffle(channels, 2)
assert torch.equal(shuffled, F.pixel_shuffle(channels, 2))
print("channel k holds 4k .. 4k + 3; after the shuffle:\n", shuffled[0, 0].int().numpy())

# %% [markdown]
# **Explore them all**: pick a grid, a method and a scale. Try the constant grid with the transposed
# convolution of ones (a kernel one pixel wider than the stride): the 1 / 2 / 4 pattern is the
# checkerboard.

# %%
from cvcourse.segmentation.widgets import receptive_field_explorer, upsampling_explorer

upsampling_explorer()

# %% [markdown]
# ## 5.1.3-5.1.4 Architectures: FCN, SegNet, U-Net, HRNet
#
# **FCN** (Long et al. 2015): a classification CNN with its fully connected layers replaced by
# convolutions, a 1 x 1 **scoring layer** (one channel per class) and an upsampling back to the image.
# Alone (**FCN-32s**) the mask is as coarse as the total stride 32. **FCN-16s** scores the stride-16
# activation too and adds it to the 2x-upsampled stride-32 scores before the final upsampling;
# **FCN-8s** adds the stride-8 scores as well. The paper's ablation (notes): little gain below stride 8;
# fine-tuning the backbone matters; end-to-end FCN-8s training works as well as coarse-to-fine; the
# skips matter.
#
# **SegNet** (Badrinarayanan et al. 2017): the first symmetric encoder-decoder, each decoder layer
# upsampling by *max unpooling* with the indices of its encoder layer (above). **U-Net** (Ronneberger
# et al. 2015): a decoder symmetric to the encoder that upsamples with transposed convolutions and
# refines with 3 x 3 convolutions; each level's encoder activation is **concatenated** to the decoder's
# (skip connections); the scoring layer only at the end. Encoder: *what* is in the image; decoder:
# *where*. The original used `valid` convolutions, so the output is smaller than the input and a big
# image is segmented tile by tile, each tile's input a larger, mirror-padded area (**overlap-tile**):

# %% [markdown]
# **FCN-32s / 16s / 8s in code.** A small five-stage CNN (total stride 32, `SmallFCN`): the three
# variants differ only in which activations are scored and fused. The output is the image's size in
# every case; what changes is the resolution the scores were computed at.

# %%
from cvcourse.segmentation.fcn import SmallFCN

scene_batch = torch.stack([scenes["semantic"][i][0] for i in range(2)])
for variant in SmallFCN.VARIANTS:
    fcn = SmallFCN(variant).eval()
    with torch.no_grad():
        out = fcn(scene_batch)
    scored = {"32s": "stride 32", "16s": "strides 32 + 16", "8s": "strides 32 + 16 + 8"}[variant]
    print(f"FCN-{variant}: scores from {scored:20s} -> logits {list(out.shape)}  params {sum(p.numel() for p in fcn.parameters()):,}")
    assert out.shape == (2, 9, 64, 64)

# %% [markdown]
# Back to the U-Net's original `valid` padding: the sizes of its maps.

# %%
from cvcourse.segmentation.receptive_field import valid_unet_sizes

sizes = valid_unet_sizes(572, depth=4)
print(" -> ".join(f"{name} {n}" for name, n in sizes))
assert sizes[-1] == ("output", 388)  # the paper's Fig. 1: a 572 x 572 tile gives a 388 x 388 mask
print(f"each 388-pixel output tile needs a {572}-pixel input: {(572 - 388) // 2} pixels of context on every side")
RESULTS["unet_valid_output"] = sizes[-1][1]

# %% [markdown]
# Modern U-Nets (ours, trained below) use `same` padding: output size = input size. **HRNet** (Wang
# et al. 2020) drops the "down then up" template: it keeps a high-resolution branch through the whole
# network and adds parallel lower-resolution branches, exchanging information between them at every
# stage, so fine detail never has to be recovered from a coarse map ("U-Net on anabolics").
#
# ## 5.1.5 Dilated (atrous) convolution
#
# A classification backbone's late activations are semantically rich but spatially coarse, its early
# ones fine but semantically poor.
# How to grow the receptive field without losing resolution? Space the kernel's taps $r$ pixels apart:
# $[K * I](j, i) = \sum_{m, l} K(m, l)\, I(j - r m, i - r l)$. The receptive field of a stack follows
# $\mathrm{RF}_l = \mathrm{RF}_{l-1} + d_l (k_l - 1) \prod_{m<l} s_m$. With dilations $1, 2, 4, \dots$ the
# field after $l$ 3 x 3 layers is $2^{l+1} - 1$: exponential growth, linear parameters, unchanged
# resolution. Checked on real `nn.Conv2d` layers: the gradient of one output pixel is non-zero exactly
# on the pixels it sees.

# %%
from cvcourse.segmentation.receptive_field import (
    conv_stack,
    exponential_dilations,
    measured_receptive_field,
    receptive_field,
    touched_pixels,
)

rows = []
for l in range(1, 6):
    layers = exponential_dilations(l)
    formula, measured = receptive_field(layers), measured_receptive_field(conv_stack(layers), 2 ** (l + 1) + 9)
    assert formula == measured == 2 ** (l + 1) - 1
    rows.append((l, [d for _, _, d in layers], formula, 9 * l))
for l, dil, rf, params in rows:
    print(f"l = {l}: dilations {dil!s:18s} receptive field {rf:3d} x {rf:<3d} weights {params}")
RESULTS["dilated_rf_5_layers"] = rows[-1][2]

# %% [markdown]
# **Gridding.** With equal rates (2, 2, 2) the field is as wide, but the taps only ever land on every
# other row and column: three quarters of the square are never seen. Rates without a common factor
# (1, 2, 3: "hybrid dilated convolution") or the exponential schedule fill it.

# %%
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
for ax, rates in zip(axes, [(2, 2, 2), (1, 2, 4), (1, 2, 3)], strict=True):
    seen = touched_pixels(conv_stack([(3, 1, r) for r in rates]), 17)
    ax.imshow(seen.numpy(), cmap="magma", interpolation="nearest")
    style_axes(ax, f"dilations {rates}: {int(seen.sum())} of {receptive_field([(3, 1, r) for r in rates]) ** 2} seen", "input column", "input row")
RESULTS["gridding_seen_222"] = int(touched_pixels(conv_stack([(3, 1, 2)] * 3), 17).sum())

# %% [markdown]
# Explore: layers, kernel, dilation schedule and stride; the picture shows how many paths lead from
# each input pixel to the centre output pixel, the table beside it the formula layer by layer.

# %%
receptive_field_explorer()

# %% [markdown]
# **Dilated ResNet.** Keep the first stages, and in the last ones replace the stride by dilation:
# the first block of a dilated stage has stride 1 and rate $r/2$, the others rate $r$. Output stride
# 16 (last stage dilated) or 8 (last two). The same weights at every output stride (dilation adds no
# parameter), but the activations grow with the square of the resolution. Computed for our ResNet-50
# (`cvcourse.architectures`, equal to torchvision's) on a 512 x 512 image:

# %%
from cvcourse.architectures.resnet import resnet50

costs = {}
for os_, dilate in ((32, [False, False, False]), (16, [False, False, True]), (8, [False, True, True])):
    model = resnet50(replace_stride_with_dilation=dilate)
    costs[os_] = conv_cost(model, 512)
    params = sum(p.numel() for p in model.parameters())
    print(f"output stride {os_:2d}: final map {costs[os_]['out_h']:3d} x {costs[os_]['out_w']:<3d} {costs[os_]['gmacs']:6.1f} GMACs  conv activations {costs[os_]['activation_mib']:6.0f} MiB  params {params / 1e6:.1f} M")
assert costs[32]["gmacs"] < costs[16]["gmacs"] < costs[8]["gmacs"]
RESULTS["os8_over_os16_gmacs"] = costs[8]["gmacs"] / costs[16]["gmacs"]
RESULTS["os8_over_os16_memory"] = costs[8]["activation_mib"] / costs[16]["activation_mib"]
print(f"OS 8 / OS 16: {RESULTS['os8_over_os16_gmacs']:.1f}x the multiply-adds, {RESULTS['os8_over_os16_memory']:.1f}x the activation memory")

# %% [markdown]
# The **dilated bottleneck block** is the usual 1 x 1 -> 3 x 3 -> 1 x 1 with the 3 x 3 dilated; a
# dilated stage of rate $r$ starts with a block of stride 1 and rate $r/2$, the rest have rate $r$.
# Read off the output-stride-8 ResNet-50 (stage 3: $r = 2$, stage 4: $r = 4$):

# %%
os8 = resnet50(replace_stride_with_dilation=[False, True, True])
for name, r in (("layer3", 2), ("layer4", 4)):
    blocks = list(getattr(os8, name))
    rates, strides = [b.conv2.dilation[0] for b in blocks], [b.conv2.stride[0] for b in blocks]
    kernels = [(b.conv1.kernel_size[0], b.conv2.kernel_size[0], b.conv3.kernel_size[0]) for b in blocks]
    assert rates == [r // 2] + [r] * (len(blocks) - 1) and set(strides) == {1} and set(kernels) == {(1, 3, 1)}
    print(f"{name}: 3 x 3 rates {rates}, strides {strides}")

# %% [markdown]
# Hence DeepLab v3's **curriculum**: train at output stride 16 (cheaper: larger batches), then fine-tune
# the *same weights* at output stride 8 (finer activations). The ratios above say what it saves: at the
# same memory, a batch at OS 16 can be about that many times larger.
#
# ## Pyramid pooling: SPP (appendix 5.A), PSPNet
#
# **SPP** max-pools the feature map into fixed grids (1 x 1, 2 x 2, 4 x 4) and flattens them: a vector
# of fixed length whatever the image size, global pooling that keeps some layout. **PSPNet** average-pools
# into 1, 2, 3, 6 bins, reduces each with a 1 x 1 conv, upsamples every level back and concatenates
# them with the map: each pixel sees the context of the whole image, its half, third, sixth.

# %%
from cvcourse.segmentation.pooling import PyramidPooling, spatial_pyramid_pool

for h, w in ((8, 8), (13, 21), (40, 30)):
    print(f"SPP of a 256 x {h} x {w} map -> vector of {spatial_pyramid_pool(torch.rand(1, 256, h, w)).shape[1]}")
psp = PyramidPooling(256, bins=(1, 2, 3, 6)).eval()
with torch.no_grad():
    context = psp(torch.rand(1, 256, 24, 24))
print("PSP: [1, 256, 24, 24] ->", list(context.shape), "(the map + 4 levels of 64 channels)")

# %% [markdown]
# **DeepLab's ASPP.** v2: parallel 3 x 3 convolutions of rates 6, 12, 18, 24, summed: SPP emulated by
# dilation. But as the rate grows, fewer of the kernel's weights fall on the image rather than on
# the padding (appendix 5.A.1); on a 33 x 33 map (a 513-pixel image at output stride 16):

# %%
from cvcourse.segmentation.receptive_field import valid_tap_fraction

fractions = {rate: valid_tap_fraction(33, rate) for rate in (1, 6, 12, 18, 24, 36)}
print({rate: f"{f:.0%}" for rate, f in fractions.items()})
assert abs(fractions[36] - 1 / 9) < 1e-12  # at a rate past the map only the centre weight sees the image
RESULTS["aspp_valid_taps_rate24"] = fractions[24]

# %% [markdown]
# **DeepLab's ASPP, v2 and v3.** v2 sums 3 x 3 dilated convolutions of rates 6, 12, 18, 24; v3 (a 1 x 1
# branch, three 3 x 3 branches of rates 12, 24, 36 at output stride 8, halved at 16, and **image pooling**,
# a global average broadcast back: the context that a rate-36 kernel on a small map no longer gives)
# concatenates its branches and projects them to 256 channels. **v3+** adds a U-Net-like decoder: the
# ASPP output, upsampled 4x, concatenated with a stride-4 activation and refined by 3 x 3 convolutions.
# `deeplabv3_resnet50` and `fcn_resnet50` are torchvision's models exactly (same state-dict keys,
# same outputs; tested in `tests/segmentation`).

# %%
from cvcourse.segmentation.deeplab import ASPP, ASPPv2

feature_map = torch.rand(1, 64, 33, 33)
aspp2, aspp3 = ASPPv2(64, 9).eval(), ASPP(64, (6, 12, 18), out_channels=32).eval()
with torch.no_grad():
    print("ASPP v2: [1, 64, 33, 33] ->", list(aspp2(feature_map).shape), "(class scores, branches summed)")
    print("ASPP v3: [1, 64, 33, 33] ->", list(aspp3(feature_map).shape), f"({len(aspp3.convs)} branches concatenated, projected)")

# %% [markdown]
# The notes describe v2's branches as "concatenated and aggregated through a 1 x 1 convolution"; the
# paper (and `ASPPv2`) sums their class scores. The sum *is* such a 1 x 1 convolution, with its
# weights fixed to stacked identities:

# %%
with torch.no_grad():
    branches = torch.cat([b(feature_map) for b in aspp2.branches], dim=1)  # [1, 4 * 9, 33, 33]
    identities = torch.cat([torch.eye(9)] * len(aspp2.branches), dim=1)[..., None, None]  # [9, 36, 1, 1]
    assert torch.allclose(F.conv2d(branches, identities), aspp2(feature_map), atol=1e-5)
print("sum of the 4 branches == 1 x 1 conv over their concatenation with weights [I I I I]")

# %% [markdown]
# ## Transformers for dense prediction
#
# **DPT** (Ranftl et al. 2021): a ViT encoder whose tokens from several layers are reassembled into
# image-like maps at several resolutions and fused by a convolutional decoder. **PVT** (Wang et al.
# 2021): a *pyramid* of transformer stages, each starting with a patch embedding that shrinks the map,
# so it gives the multi-scale maps a CNN backbone gives; attention with spatially reduced keys.
# **Swin** (Liu et al. 2021): attention inside local windows, shifted from one layer to the next,
# patch merging between stages: a hierarchical backbone of linear cost. **HRFormer** (Yuan et al.
# 2021): HRNet's parallel resolutions with local-window attention, and 3 x 3 depth-wise convolutions in
# the FFN to connect the windows.
#
# **SegFormer** (Xie et al. 2021): a hierarchical encoder (Mix Transformer) of four stages at strides
# 4, 8, 16, 32, each an **overlapping patch embedding** (a strided convolution with kernel > stride),
# blocks of **efficient self-attention** and **Mix-FFN** (a 3 x 3 depth-wise conv inside the FFN gives
# position information: no positional encoding); and an **all-MLP decoder** (every stage's map
# projected to one width, upsampled to stride 4, concatenated, fused, scored). Efficient self-attention
# computes its keys and values on a map shrunk by a strided convolution: $n$ queries against $n/R$
# keys, $R$ = the reduction of the sequence (the report's `sr_ratio` per side, squared):

# %%
from cvcourse.segmentation.segformer import EfficientSelfAttention, SegFormer, attention_cost

n_tokens, dim = (512 // 4) ** 2, 64  # stage 1 of a 512 x 512 image
for sr in (1, 2, 4, 8):
    cost = attention_cost(n_tokens, dim, sr * sr)
    print(f"sr_ratio {sr} (R = {sr * sr:2d}): {cost['total'] / 1e9:6.2f} GMACs, attention matrix {n_tokens} x {n_tokens // (sr * sr)}")
attn = EfficientSelfAttention(32, 2, sr_ratio=1).double().eval()
mha = torch.nn.MultiheadAttention(32, 2, batch_first=True, dtype=torch.float64).eval()
with torch.no_grad():  # R = 1: the same weights in nn.MultiheadAttention give the same output
    mha.in_proj_weight.copy_(torch.cat([attn.q.weight, attn.kv.weight]))
    mha.in_proj_bias.copy_(torch.cat([attn.q.bias, attn.kv.bias]))
    mha.out_proj.weight.copy_(attn.proj.weight), mha.out_proj.bias.copy_(attn.proj.bias)
    tokens = torch.randn(2, 36, 32, dtype=torch.float64)
    assert torch.allclose(attn(tokens, 6, 6), mha(tokens, tokens, tokens, need_weights=False)[0])
RESULTS["segformer_attention_cost_ratio_sr8"] = attention_cost(n_tokens, dim, 64)["total"] / attention_cost(n_tokens, dim, 1)["total"]

# %% [markdown]
# ## The report's questions, answered with code where code can answer
#
# *How does SegFormer differ from FCN, U-Net, FPN?* All four build multi-scale features and decode
# them to a map; SegFormer's features come from attention (global from the first stage), its positions
# from Mix-FFN's depth-wise convolutions, and its decoder is a few MLPs, where U-Net has a mirrored
# convolutional decoder with skips and FCN a bilinear upsampling of scores. Parameters, compared:

# %%
from cvcourse.segmentation.unet import UNet

with torch.no_grad():
    for name, net in (("FCN-8s (small)", SmallFCN("8s")), ("U-Net", UNet()), ("SegFormer (small)", SegFormer())):
        net.eval()
        print(f"{name:18s} params {sum(p.numel() for p in net.parameters()):8,d}   output {list(net(scene_batch).shape)}")

# %% [markdown]
# *Why down- and upsample instead of keeping the resolution?* Cost and receptive field. Cost: the
# dilated ResNet-50 above, which keeps more resolution, already paid several times the multiply-adds
# and memory of output stride 32 (printed again below). Receptive field: without strides, seeing a
# 63-pixel object takes 31 plain 3 x 3 layers; with four stride-2 stages, eight layers do.

# %%
plain = [(3, 1, 1)] * 31
strided = [(3, 2, 1), (3, 1, 1)] * 4
print(f"31 plain 3x3 layers: RF {receptive_field(plain)}; 8 layers with 4 strides of 2: RF {receptive_field(strided)}")
print(f"ResNet-50 at OS 8 vs OS 32: {costs[8]['gmacs'] / costs[32]['gmacs']:.1f}x the multiply-adds, {costs[8]['activation_mib'] / costs[32]['activation_mib']:.1f}x the memory")
assert receptive_field(plain) == 63 and receptive_field(strided) >= 63


# %% [markdown]
# ## Training a U-Net on the shapes scenes
#
# The loss is the notes' pixel-wise cross-entropy, averaged over the pixels (plus, if the shipped
# recipe says `"loss": "ce+dice"`, a soft Dice term in which every class weighs the same, as in mIoU);
# AdamW with a cosine decay, horizontal flips (the sky stays on top), `cvcourse.train.fit`. We train
# the shipped architecture with the shipped recipe (`info["recipe"]`), on fewer scenes and epochs
# (full mode: a few minutes on 2 cores; fast mode: a couple of steps, to show the loop run). The
# pictures and the table below also use the **shipped** models, trained longer by
# `data/scripts/train_shapes_segmenter.py`.

# %%
import time

from cvcourse.segmentation.pretrained import build_segmenter, load_shapes_segmenter
from cvcourse.segmentation.training import VAL_SEED, evaluate_segmenter, segmentation_tensors, train_segmenter

shipped = {kind: load_shapes_segmenter(kind) for kind in ("unet", "segformer")}  # {kind: (model, info)}
own, own_seconds, own_history = {}, {}, {}
for kind, scenes_, epochs_ in (("unet", UNET_SCENES, UNET_EPOCHS), ("segformer", SEGFORMER_SCENES, SEGFORMER_EPOCHS)):
    info = shipped[kind][1]
    seed_everything(0)
    own[kind] = build_segmenter(kind, info["config"])  # the shipped architecture, freshly initialised
    recipe = {**info["recipe"], "train_scenes": scenes_, "epochs": epochs_}
    start = time.perf_counter()
    own_history[kind] = train_segmenter(own[kind], **recipe, val_scenes=pick(full=100, fast=8), device=DEVICE, live_plot=False)
    own_seconds[kind] = time.perf_counter() - start
    own[kind] = own[kind].cpu().eval()
    print(f"{kind}: {recipe} -> {own_seconds[kind]:.0f} s on {DEVICE}; val mIoU per epoch (seed 9)",
          np.round(own_history[kind]["val_miou"], 3))

# %% [markdown]
# **Scored on unseen scenes.** 300 scenes of seed 777 (training used seed 0, validation seed 9): mIoU
# and pixel accuracy from the confusion matrix of all pixels pooled, IoU per class (void never occurs
# and is left out of the mean, as torchmetrics does), parameters, training seconds (the shipped ones:
# `info["train_seconds"]`, on one CPU thread of a busy machine). The shipped models' scores recomputed
# here must equal what their files say (`info["miou"]`), or the file and the code disagree. (Fast
# mode scores its tiny runs on the first 48 of the scenes only.)

# %%
test_set = segmentation_tensors(ShapesSegmentation(TEST_SCENES, size=64, seed=VAL_SEED, kind="semantic"))
rows = {}
for kind, (model, info) in shipped.items():
    assert info["test_data"] == f"ShapesSegmentation({TEST_SCENES}, size=64, seed={VAL_SEED}, kind='semantic')"
    rows[f"shipped {kind}"] = {**evaluate_segmenter(model, test_set), "train_s": info["train_seconds"]}
    assert abs(rows[f"shipped {kind}"]["miou"] - info["miou"]) < 1e-6
    assert np.allclose(rows[f"shipped {kind}"]["iou_per_class"], info["iou_per_class"], atol=1e-6)
    assert rows[f"shipped {kind}"]["params"] == info["params"]
own_test = torch.utils.data.TensorDataset(*(t[:OWN_TEST_SCENES] for t in test_set.tensors))
for kind, model in own.items():
    rows[f"this run {kind}"] = {**evaluate_segmenter(model, own_test), "train_s": own_seconds[kind]}
print(f"{'model':18s}{'mIoU':>7s}{'pix acc':>8s}" + "".join(f"{c[:6]:>7s}" for c in CLASSES[1:]) + f"{'params':>9s}{'train s':>9s}{'scenes':>7s}")
for name, r in rows.items():
    print(f"{name:18s}{r['miou']:7.3f}{r['pixel_accuracy']:8.3f}" + "".join(f"{v:7.3f}" for v in r["iou_per_class"][1:])
          + f"{r['params']:9,d}{r['train_s']:9.0f}{r['scenes']:7d}")
RESULTS.update({f"{name.replace(' ', '_')}_{k}": rows[name][k] for name in rows for k in ("miou", "pixel_accuracy")})
assert rows["shipped unet"]["miou"] >= 0.85  # the chapter's target, on scenes never trained on
if not fast_mode():  # 1800 steps learn the shapes too (0.71 measured), not only the stuff (0.375 alone)
    assert rows["this run unet"]["miou"] > 0.6

# %% [markdown]
# **Predictions against the ground truth**, the shipped U-Net and SegFormer on four unseen scenes;
# each title lists the IoU of the classes in that scene (or predicted in it). The stuff (sky, ground,
# water) is nearly perfect for both; the small things are where the models differ.

# %%
from matplotlib.patches import Patch

from cvcourse.segmentation.training import predict_labels
from cvcourse.segmentation.viewer import CLASS_COLOURS, scene_ious


def iou_title(name, labels_, predicted_):
    ious = scene_ious(labels_, predicted_)
    parts = [f"{CLASSES[c + 1][:4]} {v:.2f}" for c, v in enumerate(ious) if not np.isnan(v)]
    return f"{name} (mIoU {np.nanmean(ious):.2f})\n" + ", ".join(parts[:3]) + "\n" + ", ".join(parts[3:])


images_, labels_ = test_set.tensors[0][:4], test_set.tensors[1][:4]
predicted = {kind: predict_labels(model, images_) for kind, (model, _) in shipped.items()}
fig, axes = plt.subplots(4, 4, figsize=(12, 13.5), layout="constrained")
for i in range(4):
    axes[0, i].imshow(images_[i].permute(1, 2, 0))
    style_axes(axes[0, i], f"unseen scene {i} (seed 777)", "x (pixels)", "y (pixels)")
    overlay_mask(axes[1, i], None, labels_[i], background=None, alpha=1.0, colors=CLASS_COLOURS)
    style_axes(axes[1, i], "ground truth", "x (pixels)", "y (pixels)")
    for row, kind in ((2, "unet"), (3, "segformer")):
        overlay_mask(axes[row, i], None, predicted[kind][i], background=None, alpha=1.0, colors=CLASS_COLOURS)
        axes[row, i].set_title(iou_title(f"shipped {kind}", labels_[i], predicted[kind][i]), fontsize=7.5)
        axes[row, i].set_xlabel("x (pixels)"), axes[row, i].set_ylabel("y (pixels)")
fig.legend(handles=[Patch(color=CLASS_COLOURS[c], label=CLASSES[c]) for c in range(1, 9)], loc="outside lower center", ncol=8)

# %% [markdown]
# **A small SegFormer** (0.7 M parameters, four stages of widths 16-128, the all-MLP decoder at
# stride 4) trained on the same scenes, in the table above beside the U-Net. On our 64 x 64 scenes
# its decoder works at 16 x 16 and upsamples 4x: the things (a shape is 5-15 pixels across) lose
# their borders, so its mIoU stays well below the U-Net's, whose decoder refines at full resolution.
# (The report's SegFormer, trained from scratch on pets, also came last: 0.32 mIoU.)

# %%
with torch.no_grad():
    maps = shipped["segformer"][0].encode(test_set.tensors[0][:1])  # the four stages' maps
print("SegFormer stage maps on a 64 x 64 scene:", [list(m.shape[1:]) for m in maps])
assert [64 // m.shape[-1] for m in maps] == [4, 8, 16, 32]
things_iou = {name: float(np.mean(r["iou_per_class"][1:6])) for name, r in rows.items()}
stuff_iou = {name: float(np.mean(r["iou_per_class"][6:])) for name, r in rows.items()}
for name in rows:
    print(f"{name:18s} things (5 classes) IoU {things_iou[name]:.3f}   stuff (3 classes) IoU {stuff_iou[name]:.3f}")
assert stuff_iou["shipped segformer"] > 0.9 and things_iou["shipped segformer"] < things_iou["shipped unet"]
RESULTS.update(shipped_unet_things_iou=things_iou["shipped unet"], shipped_segformer_things_iou=things_iou["shipped segformer"])

# %% [markdown]
# ## Pre-trained vs from scratch (the report's experiment, on our data)
#
# *Why pre-train?* The report fine-tuned a ResNet-50 pre-trained on ImageNet and trained the same
# model from scratch on Oxford pets: validation mIoU 0.46 vs 0.44 (21 epochs), and a SegFormer from
# scratch 0.32. Ours, in miniature (`pretrain_vs_scratch`): a U-Net's encoder first learns to *name*
# the shape in `ShapesClassification` images (another task, other images, as ImageNet is for pets),
# then that U-Net is fine-tuned on few segmentation scenes, against the same U-Net from a random
# encoder, same decoder initialisation, same scenes, same steps. Fast mode runs a tiny version (the
# procedure, not a result); the full-mode curves, stored in the shipped U-Net's file, are on the right.

# %%
from cvcourse.segmentation.training import pretrain_vs_scratch

REPORT = {"resnet50_pretrained": 0.4615, "resnet50_scratch": 0.4404, "segformer_scratch": 0.3218}  # pets, validation
here = pretrain_vs_scratch(fast=fast_mode(), device=DEVICE, progress=True)
stored = shipped["unet"][1].get("pretrain_vs_scratch")  # full mode, from the training script
curves = {"this run" + (" (fast: tiny)" if fast_mode() else ""): here}
if stored is not None:
    curves["full mode (stored with the shipped U-Net)"] = stored
fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 3.8), squeeze=False)
for ax, (title, c) in zip(axes[0], curves.items(), strict=True):
    ax.plot(c["epochs"], c["pretrained"], marker="o", label="pre-trained encoder, fine-tuned")
    ax.plot(c["epochs"], c["scratch"], marker="s", label="from scratch")
    style_axes(ax, f"{title}: {c['sizes']['seg_scenes']} scenes", "epoch", "validation mIoU (seed 9)")
    ax.set_ylim(0, 1), ax.legend()
print(f"report (pets): pre-trained {REPORT['resnet50_pretrained']} vs scratch {REPORT['resnet50_scratch']}: "
      f"{REPORT['resnet50_pretrained'] - REPORT['resnet50_scratch']:+.3f}")
for title, c in curves.items():
    gaps = np.subtract(c["pretrained"], c["scratch"])
    print(f"{title}: pre-trained {c['pretrained'][-1]:.3f} vs scratch {c['scratch'][-1]:.3f} after {c['epochs'][-1]} epochs "
          f"({gaps[-1]:+.3f}; after epoch 1 {gaps[0]:+.3f}; ahead in {int((gaps > 0).sum())} of {len(gaps)} epochs; "
          f"classifier's training accuracy {c['pretrain_accuracy']:.2f})")
RESULTS.update(pretrain_here_gain=here["pretrained"][-1] - here["scratch"][-1], pretrain_stored=int(stored is not None))
if stored is not None:
    RESULTS.update(pretrain_full_pretrained=stored["pretrained"][-1], pretrain_full_scratch=stored["scratch"][-1])

# %% [markdown]
# ## The segmentation viewer
#
# An unseen scene, the shipped U-Net's or SegFormer's labels (or their errors in red), and the IoU of
# every class of that scene beside it. Try the scenes where a small triangle or star sits on the
# water: which model finds it?

# %%
from cvcourse.segmentation.widgets import segmentation_viewer

segmentation_viewer()

# %% [markdown]
# ## The chapter's numbers
#
# Every number above that the notes give is asserted where it is computed; the headline numbers of
# this run, in one place:

# %%
for key, value in RESULTS.items():
    print(f"{key:40s} {value:.4g}" if isinstance(value, float) else f"{key:40s} {value}")
assert all(np.isfinite(v) for v in RESULTS.values()) and RESULTS["shipped_unet_miou"] == rows["shipped unet"]["miou"]
