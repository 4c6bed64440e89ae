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
# # Chapter 5b: Instance and panoptic segmentation
#
# **What you will learn** (sections 5.2-5.3 of the notes, the Mask R-CNN / RoI and the instance /
# panoptic slides, Exercises 7-2 (f) and 7-3 (b)-(d)): how Mask R-CNN turns a detector into an
# instance segmenter (RoIAlign instead of RoIPool, the mask head, its loss, pasting masks back);
# things and stuff, and the panoptic quality PQ = SQ x RQ; Panoptic FPN's merge rule; MaskFormer's
# mask classification, its inference rule and how one model gives semantic, instance and panoptic
# outputs; Mask2Former's masked attention; and a small Mask R-CNN and a small MaskFormer trained on
# our synthetic scenes, scored by mask AP and by PQ.
#
# Every piece of code is imported from `cvcourse.segmentation`, where it is tested against its
# authority (torchvision's `roi_heads`, `torchvision.ops`, torchmetrics' `PanopticQuality`, pycocotools).
#
# **How long**: fast mode (`CVCOURSE_FAST=1`) well under a minute (measured under nbval: 21-37 s, 15 s
# of CPU, on 2 busy cores; the shipped models make the pictures, the training cells run 3 steps only);
# full mode trains both models again: Mask R-CNN with the recipe of the shipped file's first run (982 s
# on one busy CPU thread, mask AP 0.245; the shipped file then trained 741 s more, to 0.545), the
# MaskFormer with a shorter one (`NOTEBOOK_FULL`; the shipped run took 1083 s).
# **GPU**: optional; it only speeds up the training cells.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from cvcourse.data import STUFF_IDS, THING_IDS, ShapesSegmentation
from cvcourse.runtime import device, fast_mode, pick, seed_everything
from cvcourse.viz import style_axes

seed_everything(0)
torch.set_num_threads(pick(full=torch.get_num_threads(), fast=1))
DEVICE = device()
RESULTS = {"fast_mode": int(fast_mode())}  # the chapter's headline numbers, filled as the cells run

# %% tags=["parameters"]
RCNN_EPOCHS = pick(full=6, fast=1)  # full: the shipped recipe, small_mask_rcnn.FULL
RCNN_SCENES = pick(full=800, fast=8)
RCNN_MAX_STEPS = pick(full=None, fast=3)  # fast mode: a few optimisation steps only
FORMER_EPOCHS = pick(full=4, fast=1)  # full: small_maskformer.NOTEBOOK_FULL (the shipped run: TRAINING)
FORMER_SCENES = pick(full=1200, fast=8)
FORMER_MAX_STEPS = pick(full=None, fast=3)
EVAL_SCENES = pick(full=300, fast=24)  # ShapesSegmentation(seed=777), never used for training

# %% [markdown]
# ## 5.2 Instance segmentation
#
# Instance segmentation = object detection + a mask per object: every instance of the categories of
# interest is found, classified and segmented. Exercise 7-2 (f): *any* detector becomes an instance
# segmenter by adding one more prediction branch beside the class and the box; in Mask R-CNN that
# branch is a small fully-convolutional network on the RoI features of each detection.
#
# ### 5.2.1 Mask R-CNN: RoIAlign instead of RoIPool
#
# RoIPool (Faster R-CNN) snaps the proposal and its bins to the feature grid, which shifts masks by
# up to a pixel of the feature map. RoIAlign (1) divides the proposal into equal bins *without*
# snapping, (2) samples a regular grid of points in each bin by bilinear interpolation, (3) averages
# (or max-pools) them. The RoI slide's worked example: a 4 x 6 RoI pooled to 3 x 3. The slide shows
# three rows; the fourth is chosen here (`ROI_EXAMPLE_FEATURES`), the RoI is the whole map, stride 1,
# 2 x 2 samples per bin.

# %%
from cvcourse.segmentation.mask_rcnn import MaskHead, mask_loss, paste_masks, roi_pooling_example

ex = roi_pooling_example()
x = ex["features"]
# RoIPool by hand: rows [floor(p*4/3), ceil((p+1)*4/3)) overlap (0-2, 1-3, 2-4), columns 0-2, 2-4, 4-6
rows, cols = [(0, 2), (1, 3), (2, 4)], [(0, 2), (2, 4), (4, 6)]
pool_by_hand = torch.tensor([[x[r0:r1, c0:c1].max() for c0, c1 in cols] for r0, r1 in rows], dtype=x.dtype)
assert torch.equal(pool_by_hand, ex["roi_pool"])
# RoIAlign by hand (aligned=False): bins of 4/3 x 2, samples at (0.25, 0.75) of each bin, bilinear
def bilinear(img, y, x):  # torchvision's rule: clamp to the map, interpolate between the 4 neighbours
    y, x = min(max(y, 0.0), img.shape[0] - 1), min(max(x, 0.0), img.shape[1] - 1)
    y0, x0 = int(y), int(x)
    y1, x1, ly, lx = min(y0 + 1, img.shape[0] - 1), min(x0 + 1, img.shape[1] - 1), y - y0, x - x0
    return (1 - ly) * ((1 - lx) * img[y0, x0] + lx * img[y0, x1]) + ly * ((1 - lx) * img[y1, x0] + lx * img[y1, x1])
bh, bw = 4 / 3, 2.0
align_by_hand = torch.tensor([[np.mean([bilinear(x, (i + fy) * bh, (j + fx) * bw) for fy in (0.25, 0.75) for fx in (0.25, 0.75)])
                               for j in range(3)] for i in range(3)], dtype=x.dtype)
assert torch.allclose(align_by_hand, ex["roi_align"])
print("RoIPool (bins snapped to pixels, overlapping rows):\n", ex["roi_pool"].numpy())
print("RoIAlign (exact bins, 2 x 2 bilinear samples averaged):\n", ex["roi_align"].numpy().round(4))
RESULTS["roi_align_00"] = float(ex["roi_align"][0, 0])

# %% [markdown]
# The picture: RoIPool's quantised bins (the rows 1 and 2 belong to two bins each) against
# RoIAlign's exact bins with their four sample points each.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for ax, name in zip(axes, ("RoIPool: snapped bins", "RoIAlign: exact bins + samples"), strict=True):
    ax.imshow(x, cmap="viridis", extent=(0, 6, 4, 0))
    style_axes(ax, name, "x (feature cells)", "y (feature cells)")
for (r0, r1), c in zip(rows, ("w", "r", "orange"), strict=True):
    axes[0].add_patch(plt.Rectangle((0.05, r0 + 0.05), 5.9, r1 - r0 - 0.1, fill=False, ec=c, lw=2))
for i in range(4):
    axes[1].axhline(i * bh, color="w", lw=1.5)
for j in range(4):
    axes[1].axvline(j * bw, color="w", lw=1.5)
points = [((j + fx) * bw, (i + fy) * bh) for i in range(3) for j in range(3) for fy in (0.25, 0.75) for fx in (0.25, 0.75)]
axes[1].scatter(*np.array(points).T, c="r", s=14)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### The mask head
#
# A small fully-convolutional network on the 14 x 14 RoIAlign features of each detection: four 3 x 3
# convolutions, a 2 x 2 transposed convolution to 28 x 28, and a 1 x 1 scoring layer with **one mask
# per class**. Each channel goes through its own sigmoid (a multi-label problem), not a softmax across
# classes: the box branch has already chosen the class, so the masks do not compete and the mask of
# class k only separates object from background. The notes' remark: empirically, multiple sigmoids
# work better than a softmax. Its parameters are named as torchvision's, so its weights load there.

# %%
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor

head = MaskHead(in_channels=64, num_classes=6, layers=(64, 64, 64, 64), dim_reduced=64)
rois = torch.randn(3, 64, 14, 14)  # three RoIs' features from RoIAlign
logits = head(rois)
print("RoI features", list(rois.shape), "-> mask logits", list(logits.shape), "(one 28 x 28 mask per class)")
tv_heads, tv_pred = MaskRCNNHeads(64, [64] * 4, 1), MaskRCNNPredictor(64, 64, 6)
tv_heads.load_state_dict(head.heads.state_dict()), tv_pred.load_state_dict(head.predictor.state_dict())
assert torch.allclose(logits, tv_pred(tv_heads(rois)))  # the same network as torchvision's
per_class = MaskHead.select(logits, torch.tensor([1, 3, 5]))  # sigmoid of each RoI's own class channel
print("masks used at inference:", list(per_class.shape), "in [0, 1]")

# %% [markdown]
# **The mask loss** (notes): for ground-truth class $c$ and mask $m$ (cut out by the proposal and
# resampled to 28 x 28), only channel $c$ of the prediction is trained,
# $\mathcal{L}_\text{mask}(c, m) = \frac{1}{28 \times 28} \sum_{u, v} \mathcal{L}_\text{BCE}(\hat m_c[u, v], m[u, v])$.
# Ours equals torchvision's `maskrcnn_loss` on a scene of the instance dataset:

# %%
from torchvision.models.detection.roi_heads import maskrcnn_loss

image, target = ShapesSegmentation(4, size=64, seed=5, kind="instance")[0]
gt_boxes, gt_masks, gt_labels = target["boxes"], target["masks"], target["labels"]
proposals = gt_boxes + torch.randn_like(gt_boxes)  # jittered boxes, matched to their own object
matched = torch.arange(len(gt_boxes))
mask_logits = torch.randn(len(gt_boxes), 6, 28, 28, requires_grad=True)
ours = mask_loss(mask_logits, [proposals], [gt_masks], [gt_labels], [matched])
theirs = maskrcnn_loss(mask_logits, [proposals], [gt_masks], [gt_labels], [matched])
assert torch.allclose(ours, theirs)
g_ours, = torch.autograd.grad(ours, mask_logits)
g_theirs, = torch.autograd.grad(theirs, mask_logits)
assert torch.allclose(g_ours, g_theirs)
assert (g_ours[torch.arange(len(gt_labels)), gt_labels] != 0).any() and g_ours[:, 0].abs().sum() == 0  # only class c
print(f"mask loss {ours.item():.5f} = torchvision maskrcnn_loss {theirs.item():.5f}; gradient only on channel c")
RESULTS["mask_loss_example"] = ours.item()

# %% [markdown]
# **Inference.** The box branch's class picks the channel, and its box says where the 28 x 28 mask
# goes: the mask is padded by one cell, resized bilinearly to the (enlarged, integer) box and pasted
# into the image. Ours equals torchvision's `paste_masks_in_image`:

# %%
from torchvision.models.detection.roi_heads import paste_masks_in_image

from cvcourse.detection import roi_align

small = torch.sigmoid(mask_logits.detach()[matched, gt_labels])[:, None]  # [K, 1, 28, 28]
pasted = paste_masks(small, gt_boxes, (64, 64))
assert torch.allclose(pasted, paste_masks_in_image(small, gt_boxes, (64, 64)))
# pasting the ground-truth masks' own 28 x 28 crops back gives the masks again (up to the resampling)
crops = roi_align(gt_masks[:, None].float(), torch.cat([matched[:, None].float(), gt_boxes], 1), (28, 28), 1.0)
back = paste_masks(crops, gt_boxes, (64, 64))[:, 0] > 0.5
iou = ((back & gt_masks.bool()).sum((1, 2)) / (back | gt_masks.bool()).sum((1, 2))).tolist()
areas = gt_masks.flatten(1).sum(1).tolist()
print("IoU of each mask with its 28 x 28 crop pasted back:", [round(v, 3) for v in iou], "areas", areas)
assert iou[int(np.argmax(areas))] > 0.8  # the integer box costs small objects the most
fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
for ax, pic, name in zip(axes, (image.permute(1, 2, 0), crops[0, 0], back[0]), ("scene", "28 x 28 crop (object 0)", "pasted back by its box"), strict=True):
    ax.imshow(pic, cmap="gray")
    style_axes(ax, name, "x (pixels / cells)", "y (pixels / cells)")
plt.show()

# %% [markdown]
# **Remark (notes).** The same framework does human pose estimation: attach a *keypoint head* instead
# of (or beside) the mask head, predicting one 56 x 56 heat map per keypoint (one-hot target at the
# keypoint, softmax cross-entropy over the map); torchvision ships it as `KeypointRCNN`.

# %% [markdown]
# ## 5.3 Panoptic segmentation: things and stuff
#
# **Things** are countable categories split into instances (our circle, square, triangle, cross,
# star: `THING_IDS`); **stuff** is amorphous and uncountable (sky, ground, water: `STUFF_IDS`).
# Panoptic segmentation gives every pixel a category, and thing pixels also an instance id.
#
# **Panoptic quality.** Predicted and ground-truth segments of the same category match when their
# IoU is above 0.5. That matching is *unique* without any assignment algorithm: segments of one map
# are disjoint, and IoU > 0.5 means covering more than half of the other segment, which two disjoint
# segments cannot both do. Then, per category,
# $\mathrm{PQ} = \underbrace{\frac{\sum_{TP} \mathrm{IoU}}{|TP|}}_{\mathrm{SQ}} \times
# \underbrace{\frac{|TP|}{|TP| + \frac12 |FP| + \frac12 |FN|}}_{\mathrm{RQ}}$, averaged over categories.
#
# A prediction made from the ground truth of three scenes, spoiled on purpose: a spurious small
# thing, a thing missed (predicted as stuff), and two stuff categories confused.

# %%
from cvcourse.segmentation.panoptic import match_segments, panoptic_quality, panoptic_stats

pan = ShapesSegmentation(3, size=64, seed=5, kind="panoptic")
images, targets = torch.stack([pan[i][0] for i in range(3)]), torch.stack([pan[i][1] for i in range(3)])
preds = targets.clone()
preds[0, 2:7, 2:7] = torch.tensor([THING_IDS[1], 50])  # a spurious thing (false positive)
t1 = targets[1]
first = t1[torch.isin(t1[..., 0], torch.tensor(THING_IDS))][0]  # a thing of scene 1 ...
preds[1][(t1[..., 0] == first[0]) & (t1[..., 1] == first[1])] = torch.tensor([STUFF_IDS[0], 0])  # ... missed
stuff2 = [c for c in STUFF_IDS if (targets[2, ..., 0] == c).any()]
swap = stuff2[0], [c for c in STUFF_IDS if c != stuff2[0]][0]
preds[2][targets[2, ..., 0] == swap[0]] = torch.tensor([swap[1], 0])  # stuff confused: wrong category
print(f"scene 2: {pan.classes[swap[0]]} predicted as {pan.classes[swap[1]]}")

# %% [markdown]
# Step by step: the matches, false positives and false negatives of each scene, then the counts per
# category and PQ, SQ, RQ by the formula.

# %%
from collections import defaultdict


def normalise(m):  # [H, W, 2] -> [H * W, 2], stuff instance ids 0 (a stuff category is one segment)
    m = m.reshape(-1, 2).clone()
    m[torch.isin(m[:, 0], torch.tensor(STUFF_IDS)), 1] = 0
    return m

counts = defaultdict(lambda: {"iou": 0.0, "tp": 0, "fp": 0, "fn": 0})
for s in range(3):
    match = match_segments(normalise(preds[s]), normalise(targets[s]), (0, 0))
    print(f"scene {s}: TP {[(p, round(iou, 3)) for p, _, iou in match.matches]}  FP {match.false_positives}  FN {match.false_negatives}")
    for _, g, iou in match.matches:
        counts[g[0]]["iou"] += iou
        counts[g[0]]["tp"] += 1
    for p in match.false_positives:
        counts[p[0]]["fp"] += 1
    for g in match.false_negatives:
        counts[g[0]]["fn"] += 1
per = {c: (v["iou"] / v["tp"] if v["tp"] else 0.0, v["tp"] / (v["tp"] + 0.5 * v["fp"] + 0.5 * v["fn"])) for c, v in sorted(counts.items())}
for c, (sq, rq) in per.items():
    print(f"  {pan.classes[c]:9s} TP {counts[c]['tp']} FP {counts[c]['fp']} FN {counts[c]['fn']}  SQ {sq:.3f}  RQ {rq:.3f}  PQ {sq * rq:.3f}")
pq_hand = np.mean([sq * rq for sq, rq in per.values()])
sq_hand, rq_hand = np.mean([sq for sq, _ in per.values()]), np.mean([rq for _, rq in per.values()])
print(f"PQ {pq_hand:.4f}  SQ {sq_hand:.4f}  RQ {rq_hand:.4f}")

# %% [markdown]
# The same numbers from our `panoptic_quality` and from torchmetrics' `PanopticQuality` (also per class):

# %%
from torchmetrics.detection import PanopticQuality

ours = panoptic_quality(preds, targets, THING_IDS, STUFF_IDS, return_sq_rq=True)
metric = PanopticQuality(things=set(THING_IDS), stuffs=set(STUFF_IDS), return_sq_and_rq=True)
theirs = metric(preds, targets)
assert torch.allclose(ours, theirs.double(), atol=1e-6) and np.allclose(ours.numpy(), [pq_hand, sq_hand, rq_hand], atol=1e-6)
ours_c = panoptic_quality(preds, targets, THING_IDS, STUFF_IDS, return_sq_rq=True, return_per_class=True)
metric_c = PanopticQuality(things=set(THING_IDS), stuffs=set(STUFF_IDS), return_sq_and_rq=True, return_per_class=True)
assert torch.allclose(ours_c, metric_c(preds, targets).double(), atol=1e-6)
print(f"by hand {pq_hand:.4f} | ours {ours[0]:.4f} | torchmetrics {theirs[0]:.4f}  (PQ); SQ {ours[1]:.4f}, RQ {ours[2]:.4f}")
RESULTS["pq_spoiled_example"] = float(ours[0])

# %% [markdown]
# ### 5.3.1 Panoptic FPN
#
# Mask R-CNN plus a *stuff* branch: the FPN levels are rescaled to one resolution and summed, and a
# small fully-convolutional head predicts a semantic (stuff) map from them. The two outputs are merged
# by a rule: **things over stuff**; instances are placed by decreasing score, each taking only free
# pixels (an instance mostly covered already is dropped as a duplicate); stuff fills what is left,
# unless its area is tiny. Shown on hand-made predictions of scene 0 (its true masks with scores, a
# shifted duplicate of the first at a lower score, a low-score false detection, and the true semantic map as the stuff head):

# %%
from cvcourse.segmentation.panoptic import panoptic_merge

image0, inst0 = ShapesSegmentation(3, size=64, seed=5, kind="instance")[0]
semantic0 = targets[0, ..., 0]
masks = inst0["masks"].bool()
duplicate = torch.roll(masks[0], shifts=2, dims=1)
fake = torch.zeros(64, 64, dtype=torch.bool)
fake[50:60, 50:60] = True
all_masks = torch.cat([masks, duplicate[None], fake[None]])
scores = torch.cat([torch.linspace(0.95, 0.8, len(masks)), torch.tensor([0.7, 0.3])])
labels = torch.cat([inst0["labels"], inst0["labels"][:1], torch.tensor([1])])
merged = panoptic_merge(all_masks, scores, labels, semantic0, STUFF_IDS)
placed = len(merged[..., 1].unique()) - 1
assert placed == len(masks)  # the duplicate (mostly taken) and the 0.3 detection (below 0.5) are not placed
print(f"{len(all_masks)} detections -> {placed} instances placed; stuff fills the rest")
fig, axes = plt.subplots(1, 3, figsize=(10, 3.3))
from cvcourse.segmentation.panoptic_views import panoptic_picture

for ax, pic, name in zip(axes, (image0.permute(1, 2, 0), panoptic_picture(targets[0]), panoptic_picture(merged)), ("scene", "ground truth", "merge: things over stuff"), strict=True):
    ax.imshow(pic)
    style_axes(ax, name, "x (pixels)", "y (pixels)")
plt.show()

# %% [markdown]
# The stuff branch, step 1 and 2 of the notes, on the FPN of our small Mask R-CNN: each level is
# brought to the finest resolution (stride 4) and the maps are summed; a small fully-convolutional
# head turns the sum into stuff logits (here untrained: only the shapes matter).

# %%
from cvcourse.segmentation.small_mask_rcnn import build_shapes_mask_rcnn

with torch.no_grad():
    fpn = build_shapes_mask_rcnn().backbone(images)  # OrderedDict of FPN levels
    finest = max(f.shape[-1] for f in fpn.values())
    merged_fpn = sum(F.interpolate(f, size=(finest, finest), mode="bilinear", align_corners=False) for f in fpn.values())
    channels = merged_fpn.shape[1]
    stuff_head = torch.nn.Sequential(torch.nn.Conv2d(channels, channels, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(channels, 1 + len(STUFF_IDS), 1))
    stuff_logits = F.interpolate(stuff_head(merged_fpn), size=(64, 64), mode="bilinear", align_corners=False)
for name, f in fpn.items():
    print(f"FPN level {name}: {list(f.shape)} (stride {64 // f.shape[-1]})")
print("rescaled and summed:", list(merged_fpn.shape), "-> stuff logits (other + 3 stuff classes)", list(stuff_logits.shape))
assert merged_fpn.shape[-1] == 16 and stuff_logits.shape == (3, 1 + len(STUFF_IDS), 64, 64)

# %% [markdown]
# ### 5.3.2 MaskFormer
#
# **Mask classification vs per-pixel classification (Exercise 7-3 (b)).** FCN, U-Net, DeepLab
# classify every pixel. MaskFormer partitions the image into a *set of masks* and classifies each
# mask as a whole, like DETR classifies boxes. That one formulation covers every task: instance and
# panoptic segmentation need the masks anyway, and semantic segmentation is a read-out of them,
# $\text{score}_c(u, v) = \sum_i p_i(c)\, m_i(u, v)$.
#
# **Naive vs pixel decoder.** The naive design passes each decoder output through an MLP to a
# full-resolution mask: it must draw fine masks from spatially coarse features. MaskFormer instead
# uses (1) a *pixel decoder* that upsamples backbone features to per-pixel embeddings
# $\mathcal{E}_\text{pixel} \in \mathbb{R}^{d \times H/4 \times W/4}$, (2) an MLP turning each query
# into a mask embedding $\mathcal{E}_{\text{mask}, i} \in \mathbb{R}^d$, (3) the mask as their dot
# product. The parameter count says why the naive head is a poor idea even at 64 x 64:

# %%
from cvcourse.segmentation.small_maskformer import SmallMaskFormer

former = SmallMaskFormer().eval()
d = former.config["d_model"]
naive = torch.nn.Sequential(torch.nn.Linear(d, 256), torch.nn.ReLU(), torch.nn.Linear(256, 64 * 64))
dot_head = sum(p.numel() for p in former.mask_embed.parameters())
print(f"naive MLP to a 64 x 64 mask: {sum(p.numel() for p in naive.parameters()):,d} parameters; mask-embedding MLP: {dot_head:,d}")
with torch.no_grad():
    levels, pixel_emb = former.pixel_decoder(images)
    out = former(images)
print("pixel embeddings", list(pixel_emb.shape), "| masks", list(out["pred_masks"].shape), "| classes", list(out["pred_logits"].shape))

# %% [markdown]
# **The inference rule (notes).** Query $i$ takes its class $c_i = \arg\max_c \mathbf p_i(c)$; for
# each pixel and each query that is not "no object", $s_i(u, v) = \mathbf p_i(c_i) \cdot \mathbf m_i(u, v)$,
# and the pixel goes to the query of the highest score. On scene 0 with hand-made queries (one per true
# segment, noisy classes and masks, plus "no object" queries), by hand against `maskformer_inference`
# with its confidence and overlap thresholds at 0, i.e. the bare rule:

# %%
from cvcourse.segmentation.maskformer import maskformer_inference
from cvcourse.segmentation.small_maskformer import panoptic_targets

g = torch.Generator().manual_seed(0)
segs = panoptic_targets(targets[0])
Q = len(segs["labels"]) + 3
class_logits = torch.randn(Q, 10, generator=g)
class_logits[torch.arange(len(segs["labels"])), segs["labels"]] += 4.0  # each true segment's query
class_logits[len(segs["labels"]):, 9] += 6.0  # the last three: "no object"
mask_logits = torch.randn(Q, 64, 64, generator=g)
mask_logits[: len(segs["labels"])] += 6.0 * segs["masks"].float() - 3.0
p, m = class_logits.softmax(-1), mask_logits.sigmoid()
score, c = p.max(-1)  # p_i(c_i), c_i
real = c != 9  # not "no object"
s = score[real, None, None] * m[real]  # s_i(u, v) [Q', H, W]
winner = torch.nonzero(real)[:, 0][s.argmax(0)]  # the query of each pixel
by_hand = c[winner]  # its class per pixel
pan0 = maskformer_inference(class_logits, mask_logits, "panoptic", things=THING_IDS, object_mask_threshold=0.0, overlap_threshold=0.0, void=0)
covered = m[winner, torch.arange(64)[:, None], torch.arange(64)] >= 0.5  # the rule places pixels inside the mask only
assert torch.equal(pan0[..., 0][covered], by_hand[covered]) and (pan0[..., 0][~covered] == 0).all()
print(f"{Q} queries, {int(real.sum())} real; pixel accuracy of the rule on scene 0: {(by_hand == targets[0, ..., 0]).float().mean():.3f}")

# %% [markdown]
# **One model, three outputs.** The same queries give a semantic map (sum over queries), a panoptic map
# (the rule above, thing queries numbered as instances, stuff queries of a class merged), and instances
# (the top (query, class) pairs with their masks):

# %%
semantic_scores = maskformer_inference(class_logits, mask_logits, "semantic")  # [C, H, W]
assert torch.allclose(semantic_scores, torch.einsum("qc,qhw->chw", p[:, :9], m))
panoptic_out = maskformer_inference(class_logits, mask_logits, "panoptic", things=THING_IDS, void=0)
instances = maskformer_inference(class_logits, mask_logits, "instance", topk=5)
print("semantic:", list(semantic_scores.shape), "| panoptic:", list(panoptic_out.shape), "| instance masks:", list(instances["masks"].shape), "labels", instances["labels"].tolist())
fig, axes = plt.subplots(1, 3, figsize=(10, 3.3))
axes[0].imshow(semantic_scores.argmax(0), cmap="tab10", vmin=0, vmax=9)
axes[1].imshow(panoptic_picture(panoptic_out))
axes[2].imshow(instances["masks"][0], cmap="gray")
for ax, name in zip(axes, ("semantic: argmax_c sum_i p_i(c) m_i", "panoptic", f"best instance ({pan.classes[int(instances['labels'][0])]})"), strict=True):
    style_axes(ax, name, "x (pixels)", "y (pixels)")
plt.show()

# %% [markdown]
# **DETR vs MaskFormer (Exercise 7-3 (c)).** Both are set predictors: a backbone, a transformer
# decoder turning $Q$ learned queries into $Q$ embeddings, a class head with "no object", Hungarian
# matching in the loss. DETR's embeddings go to a box MLP; MaskFormer adds a pixel decoder whose
# per-pixel embeddings are multiplied (dot product) with each query's mask embedding. Our two small
# models, side by side:

# %%
from cvcourse.detection.detr import DETR

detr = DETR().eval()
with torch.no_grad():
    detr_out = detr(images)
n_params = lambda net: sum(q.numel() for q in net.parameters())  # noqa: E731
print(f"{'':12s}{'DETR':>28s}{'MaskFormer':>30s}")
print(f"{'queries':12s}{detr.config['num_queries']:>28d}{former.config['num_queries']:>30d}")
print(f"{'classes':12s}{str(list(detr_out['logits'].shape)):>28s}{str(list(out['pred_logits'].shape)):>30s}")
print(f"{'geometry':12s}{'boxes ' + str(list(detr_out['boxes'].shape)):>28s}{'masks ' + str(list(out['pred_masks'].shape)):>30s}")
print(f"{'parameters':12s}{n_params(detr):>28,d}{n_params(former):>30,d}")
print(f"{'extra part':12s}{'box MLP':>28s}{'pixel decoder + mask MLP':>30s}")

# %% [markdown]
# ### 5.3.3 Mask2Former
#
# Three changes to MaskFormer (notes): **masked attention** in the decoder (faster training, better
# results), **multi-scale high-resolution features** from the pixel decoder, and a loss on **sampled
# points** instead of every pixel.
#
# **Masked attention.** In layer $l$, query $i$ cross-attends only to the pixels where the previous
# layer's mask is on, $\sigma(\text{mask logits}_i) \ge 0.5$ (a query whose mask is empty attends
# everywhere). As code: the mask from `masked_attention_mask`, handed to `nn.MultiheadAttention`,
# gives zero attention weight exactly on the blocked pixels. The hand-made queries of scene 0, at the
# 16 x 16 resolution of the stride-4 level:

# %%
from cvcourse.segmentation.maskformer import masked_attention_mask

small_logits = F.interpolate(mask_logits[None], size=(16, 16), mode="bilinear", align_corners=False)[0]
blocked = masked_attention_mask(small_logits)  # [Q, 256], True: may not attend
attn = torch.nn.MultiheadAttention(32, 1, batch_first=True).eval()
queries, keys = torch.randn(1, Q, 32), torch.randn(1, 256, 32)
with torch.no_grad():
    _, weights = attn(queries, keys, keys, attn_mask=blocked)
assert (weights[0][blocked] == 0).all() and torch.allclose(weights.sum(-1), torch.ones(1, Q))
print("share of pixels each query may attend to:", (~blocked).float().mean(1).numpy().round(2))
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
for ax, q in zip(axes, (0, 1, 2, Q - 1), strict=True):
    ax.imshow((~blocked[q]).reshape(16, 16), cmap="gray", vmin=0, vmax=1)
    style_axes(ax, f"query {q} ({pan.classes[int(c[q])] if c[q] < 9 else 'no object'}): may attend", "x (cells)", "y (cells)")
plt.tight_layout()
plt.show()

# %% [markdown]
# **Multi-scale features.** The pixel decoder returns features at strides 16, 8 and 4; decoder layer
# $l$ attends to level $l \bmod 3$ (round robin, coarse to fine), while the masks are always made at
# the finest level. In our model with `masked_attention=True`, every layer's mask prediction is the
# next layer's attention mask:

# %%
former2 = SmallMaskFormer(masked_attention=True).eval()
with torch.no_grad():
    levels2, _ = former2.pixel_decoder(images)
    out2 = former2(images)
for k, lvl in enumerate(levels2):
    print(f"level {k}: stride {64 // lvl.shape[-1]:2d}, features {list(lvl.shape)}, attended by decoder layers {[i for i in range(len(former2.layers)) if i % 3 == k]}")
print("mask predictions (before the first layer, after each):", 1 + len(out2["aux_outputs"]), "->", list(out2["pred_masks"].shape))

# %% [markdown]
# **Sampled-point mask loss.** Instead of the BCE over all $H \times W$ pixels, Mask2Former computes it
# on $K$ sampled points (bilinear `grid_sample` of logits and targets; the paper samples mostly
# *uncertain* points, importance sampling). With uniform points it is an unbiased estimate of the full
# loss at a fraction of the memory:

# %%
target_masks = segs["masks"].float()[None]  # [1, O, H, W]
pred_logits_m = mask_logits[None, : len(segs["labels"])]
full = F.binary_cross_entropy_with_logits(pred_logits_m, target_masks)
def point_loss(K, gen):  # K uniform points in [-1, 1]^2 (grid_sample's coordinates)
    pts = torch.rand(1, 1, K, 2, generator=gen) * 2 - 1
    at = lambda t: F.grid_sample(t, pts, align_corners=False)[:, :, 0]  # noqa: E731  [1, O, K]
    return F.binary_cross_entropy_with_logits(at(pred_logits_m), at(target_masks))
gen = torch.Generator().manual_seed(1)
estimates = torch.stack([point_loss(112, gen) for _ in range(200)])
print(f"full BCE over {64 * 64} pixels: {full:.4f}; 112 sampled points: {estimates.mean():.4f} +- {estimates.std():.4f} (200 draws)")
assert abs(estimates.mean() - full) < 3 * estimates.std() / 200 ** 0.5 + 0.02

# %% [markdown]
# **Exercise 7-3 (d): Mask2Former's central innovation on the task level.** It *unifies* semantic,
# instance and panoptic segmentation: one architecture (and one training recipe) for all three,
# because mask classification treats whole masks as the units, which separates instances naturally;
# per-pixel classification cannot tell two touching objects of one class apart without extra
# machinery. The three outputs of one set of queries above are that unification in code.

# %% [markdown]
# ## Training: a small Mask R-CNN and a small MaskFormer on the shapes scenes
#
# **Mask R-CNN**: torchvision's `MaskRCNN` class around a small CNN + FPN (strides 4, 8, 16), anchors of
# 8-32 pixels, and *our* `MaskHead` (the weights and names of torchvision's); the mask loss and the
# pasting inside are torchvision's, which are equal to ours (asserted above). Trained by
# `cvcourse.train.fit` on `ShapesSegmentation(kind="instance")` scenes of seed 0; scored by mask AP
# (COCO's AP on masks, equal to pycocotools' segm mode) on unseen scenes of seed 777. Fast mode runs
# a few steps only (the numbers of such a run mean nothing); the pictures and the table use the
# shipped model.

# %%
from cvcourse.segmentation.small_mask_rcnn import (
    FULL,
    build_shapes_mask_rcnn,
    evaluate_mask_rcnn,
    train_mask_rcnn,
)

if (RCNN_EPOCHS, RCNN_SCENES) != (FULL["epochs"], FULL["train_scenes"]) and not fast_mode():
    print("note: not the shipped recipe", FULL)
seed_everything(0)
rcnn = build_shapes_mask_rcnn()
history = train_mask_rcnn(rcnn, epochs=RCNN_EPOCHS, train_scenes=RCNN_SCENES, lr=FULL["lr"], batch_size=FULL["batch_size"],
                          device=DEVICE, max_steps=RCNN_MAX_STEPS, live_plot=False)
rcnn_scores = evaluate_mask_rcnn(rcnn.cpu(), ShapesSegmentation(EVAL_SCENES, size=64, seed=777, kind="instance"))
print(f"this run ({history.train_seconds:.0f} s): mask AP {rcnn_scores['mask_ap']:.3f}, mask AP50 {rcnn_scores['mask_ap50']:.3f}, box AP {rcnn_scores['box_ap']:.3f} on {EVAL_SCENES} unseen scenes")
RESULTS["mask_rcnn_this_run_mask_ap"] = rcnn_scores["mask_ap"]

# %% [markdown]
# **MaskFormer**: `SmallMaskFormer` (a CNN backbone, the FPN-like pixel decoder, 16 queries, 3 decoder
# layers round robin over the scales), the Hungarian matching on class + BCE + dice costs, deep
# supervision; trained on `kind="panoptic"` scenes of seed 0 and scored by PQ, SQ, RQ (things and
# stuff apart) with our `panoptic_quality` (= torchmetrics) on unseen scenes.

# %%
from cvcourse.segmentation.small_maskformer import NOTEBOOK_FULL, evaluate_maskformer, train_maskformer

seed_everything(0)
former = SmallMaskFormer()
history_f = train_maskformer(former, train_scenes=FORMER_SCENES, epochs=FORMER_EPOCHS, batch_size=NOTEBOOK_FULL["batch_size"],
                             lr=NOTEBOOK_FULL["lr"], device=DEVICE, max_steps=FORMER_MAX_STEPS, live_plot=False)
former = former.cpu().eval()
former_scores = evaluate_maskformer(former, scenes=EVAL_SCENES)
print(f"this run ({history_f.train_seconds:.0f} s): PQ {former_scores['pq']:.3f} (things {former_scores['pq_things']:.3f}, stuff {former_scores['pq_stuff']:.3f}), SQ {former_scores['sq']:.3f}, RQ {former_scores['rq']:.3f}")
RESULTS["maskformer_this_run_pq"] = former_scores["pq"]

# %% [markdown]
# **The shipped models** (`data/mask_rcnn_shapes.pt`, `data/maskformer_shapes.pt`, checksum verified,
# made by the scripts in `data/scripts/`), re-scored here on the same unseen scenes. Where a file is
# not there, the model of this run stands in, and the table says so.

# %%
from cvcourse.segmentation.small_mask_rcnn import load_shapes_mask_rcnn
from cvcourse.segmentation.small_maskformer import load_shapes_maskformer

shipped = {}
this_run = {"Mask R-CNN": (rcnn, history), "MaskFormer": (former, history_f)}
for name, loader in (("Mask R-CNN", load_shapes_mask_rcnn), ("MaskFormer", load_shapes_maskformer)):
    try:
        shipped[name] = (*loader(), "shipped")
    except FileNotFoundError as error:
        print(f"{name}: no shipped weights ({str(error).splitlines()[0]}); this run's model stands in")
        net, hist = this_run[name]
        shipped[name] = (net.eval(), {"train_seconds": hist.train_seconds}, "this run")
rcnn_s, rcnn_info, rcnn_src = shipped["Mask R-CNN"]
former_s, former_info, former_src = shipped["MaskFormer"]
rcnn_eval = evaluate_mask_rcnn(rcnn_s, ShapesSegmentation(EVAL_SCENES, size=64, seed=777, kind="instance"))
former_eval = evaluate_maskformer(former_s, scenes=EVAL_SCENES)
for key, here, info in (("mask_ap", rcnn_eval, rcnn_info), ("pq", former_eval, former_info)):
    if key in info:  # the file's own score (its script's evaluation scenes) beside this re-scoring
        print(f"{key}: stored in the file {info[key]:.4f}, re-scored here on {EVAL_SCENES} scenes {here[key]:.4f}")
RESULTS.update(mask_ap=rcnn_eval["mask_ap"], mask_ap50=rcnn_eval["mask_ap50"], pq=former_eval["pq"], pq_things=former_eval["pq_things"], pq_stuff=former_eval["pq_stuff"])

# %%
rows = [("Mask R-CNN", rcnn_src, f"mask AP {rcnn_eval['mask_ap']:.3f}, AP50 {rcnn_eval['mask_ap50']:.3f}; box AP {rcnn_eval['box_ap']:.3f}", rcnn_s, rcnn_info),
        ("MaskFormer", former_src, f"PQ {former_eval['pq']:.3f} (mean of SQ_c x RQ_c), SQ {former_eval['sq']:.3f}, RQ {former_eval['rq']:.3f}; "
         f"things PQ {former_eval['pq_things']:.3f}, stuff PQ {former_eval['pq_stuff']:.3f}", former_s, former_info)]
print(f"on {EVAL_SCENES} unseen scenes of seed 777")
for name, src, score, net, info in rows:
    secs = info.get("train_seconds")
    print(f"{name:11s} [{src:8s}] {sum(q.numel() for q in net.parameters()):9,d} params, trained {secs if secs is None else round(secs)} s | {score}")
per_class = former_eval["per_class"]
print("MaskFormer per class (PQ, SQ, RQ):", {pan.classes[c]: [round(v, 2) for v in vals] for c, vals in per_class.items()})

# %% [markdown]
# **Panoptic FPN's merge on real predictions.** Our Mask R-CNN has no stuff branch; the shipped U-Net of
# chapter 5a plays it (its stuff pixels), and `panoptic_merge` puts Mask R-CNN's instances over them.
# Scored by the same PQ as the MaskFormer, on the same unseen scenes:

# %%
from cvcourse.segmentation.pretrained import load_shapes_segmenter
from cvcourse.segmentation.small_mask_rcnn import predict_masks
from cvcourse.segmentation.training import predict_labels

unet, _ = load_shapes_segmenter("unet")
evalset = ShapesSegmentation(EVAL_SCENES, size=64, seed=777, kind="panoptic")
ev_images, ev_truth = torch.stack([evalset[i][0] for i in range(EVAL_SCENES)]), torch.stack([evalset[i][1] for i in range(EVAL_SCENES)])
stuff_maps = predict_labels(unet, ev_images)  # [N, H, W]
dets = predict_masks(rcnn_s, list(ev_images))
merged_maps = torch.stack([panoptic_merge(d["masks"][:, 0] > 0.5, d["scores"], d["labels"], stuff_maps[i], STUFF_IDS) for i, d in enumerate(dets)])
pq_fpn = panoptic_quality(merged_maps, ev_truth, THING_IDS, STUFF_IDS, return_sq_rq=True, allow_unknown_preds_category=True)
print(f"Mask R-CNN ({rcnn_src}) + U-Net stuff, merged: PQ {pq_fpn[0]:.3f}, SQ {pq_fpn[1]:.3f}, RQ {pq_fpn[2]:.3f} | MaskFormer ({former_src}): PQ {former_eval['pq']:.3f}")
st = panoptic_stats(merged_maps, ev_truth, THING_IDS, STUFF_IDS, allow_unknown_preds_category=True)
counted = (st["tp"] + st["fp"] + st["fn"])[: len(THING_IDS)]
# a thing left void is not a false negative (PQ's void rule): with no instance placed, PQ is the stuff PQ alone
print(f"thing segments counted (TP + FP + FN): {counted.sum().item()} (TP {st['tp'][: len(THING_IDS)].sum().item()})")
RESULTS["pq_mask_rcnn_plus_unet_merge"] = float(pq_fpn[0])

# %% [markdown]
# The models against the ground truth on four unseen scenes: Mask R-CNN's instances (score >= 0.5)
# and MaskFormer's panoptic map (void black), with PQ's matching (green matched, red false positive,
# blue false negative).

# %%
from cvcourse.segmentation.panoptic_viewer import THRESHOLDS
from cvcourse.segmentation.panoptic_views import instances_picture, merge_trace, pq_picture
from cvcourse.segmentation.small_maskformer import panoptic_predict

show = ShapesSegmentation(4, size=64, seed=777, kind="panoptic")
imgs, truths = torch.stack([show[i][0] for i in range(4)]), torch.stack([show[i][1] for i in range(4)])
found = predict_masks(rcnn_s, list(imgs))
maps = panoptic_predict(former_s, imgs)
fig, axes = plt.subplots(4, 4, figsize=(10, 10))
for i in range(4):
    pq_pic, pq_i = pq_picture(imgs[i], maps[i], truths[i], THING_IDS, STUFF_IDS)
    pics = (panoptic_picture(truths[i]), instances_picture(imgs[i], found[i]), panoptic_picture(maps[i]), pq_pic)
    names = ("ground truth", f"Mask R-CNN ({rcnn_src})", f"MaskFormer ({former_src})", f"PQ of the scene {pq_i['pq']:.2f}")
    for ax, pic, name in zip(axes[i], pics, names, strict=True):
        ax.imshow(pic)
        style_axes(ax, name, "x (pixels)", "y (pixels)")
plt.tight_layout()
plt.show()

# %% [markdown]
# **Masked attention in the trained model.** When the MaskFormer in use has `masked_attention=True` (the
# shipped one does), each decoder layer's queries attend only where the previous prediction's mask is
# on. For the queries placed in the first scene's panoptic map, what each may attend to before each
# layer (at that layer's resolution: strides 16, 8, 4), as the model computes it:

# %%
with torch.no_grad():
    out_s = former_s(imgs)  # the batch panoptic_predict saw (a batch of 1 may differ in the last bits)
trace0 = merge_trace(out_s["pred_logits"][0], out_s["pred_masks"][0], THING_IDS, **THRESHOLDS)  # panoptic_predict's
placed_q = [st["query"] for st in trace0["steps"] if st["status"] == "placed"][:4]
assert torch.equal(trace0["panoptic"], maps[0])  # the step-by-step merge = panoptic_predict's map
predictions = [*out_s["aux_outputs"], out_s][: len(former_s.layers)]  # the prediction before each layer
fig, axes = plt.subplots(len(placed_q), len(predictions), figsize=(2.6 * len(predictions), 2.6 * len(placed_q)), squeeze=False)
for j, (pred, side) in enumerate(zip(predictions, (4, 8, 16), strict=False)):
    small = F.interpolate(pred["pred_masks"][:1], size=(side, side), mode="bilinear", align_corners=False)
    allowed = ~masked_attention_mask(small)[0]  # [Q, side * side]
    for i, q in enumerate(placed_q):
        axes[i, j].imshow(allowed[q].reshape(side, side), cmap="gray", vmin=0, vmax=1)
        style_axes(axes[i, j], f"query {q} ({pan.classes[trace0['steps'][q]['label']]}), layer {j}", "x (cells)", "y (cells)")
print("masked attention:", former_s.config["masked_attention"], "| placed queries shown:", placed_q)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## The panoptic viewer
#
# Pick a scene and a view: the MaskFormer's per-query masks and class probabilities (slide `query`),
# its merge step by step (the same slider is the step: queries 0 .. step placed, and what happened to
# each: no object, low score, no pixel won, overlap below the threshold, placed), PQ's matched and
# unmatched segments, or Mask R-CNN's instances. Everything is computed when the widget is built.

# %%
from cvcourse.segmentation.panoptic_viewer import panoptic_viewer

panoptic_viewer({"maskformer": former_s, "mask_rcnn": rcnn_s})

# %%
for key, value in RESULTS.items():
    print(f"{key:32s} {value:.4f}" if isinstance(value, float) else f"{key:32s} {value}")
