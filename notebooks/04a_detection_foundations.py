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
# # Chapter 4a: Object detection foundations
#
# **What you will learn** (sections 4.1-4.3.2 of the notes, the detection slides, Exercise 7-2 (a)-(d)):
# how detections are scored (IoU, true and false positives, the precision-recall curve, AP with both
# interpolations, mAP, COCO mAP); the Viola-Jones detector (decision stumps, AdaBoost on the notes' worked
# example and against scikit-learn, Haar-like features, the integral image, the attentional cascade, the
# multi-scale sliding window, non-maximum suppression step by step); object localisation (classification
# and regression heads, the background class, the multi-task loss); and region-proposal detectors
# (selective search, R-CNN's warping and box parametrisation, Fast R-CNN's RoIPool and Huber loss, the
# notes' Table 4.1 recomputed, Faster R-CNN's RPN with anchors, RoIAlign).
#
# Every piece of code is imported from `cvcourse.detection`, where each function is tested against its
# authority (`torchvision.ops`, pycocotools, scikit-image, scikit-learn).
#
# **How long**: fast mode (`CVCOURSE_FAST=1`) about half a minute; full mode about a minute on 2 CPU
# cores (a larger cascade training set). **GPU**: not needed; nothing here trains long.

# %%
# %matplotlib inline
from fractions import Fraction

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
import torchvision

from cvcourse.runtime import fast_mode, pick, seed_everything
from cvcourse.viz import draw_boxes, show_images, style_axes

seed_everything(0)
torch.set_num_threads(1)  # small tensors: one thread is quicker and leaves the other cores alone
RESULTS = {"fast_mode": fast_mode()}

# %% tags=["parameters"]
CASCADE_FACES = pick(full=400, fast=200)  # synthetic face patches to train the cascade on
CASCADE_NEGATIVES = pick(full=1500, fast=800)  # background patches (crops of scikit-image photos)
STAGE_SIZES = (3, 6, 12)  # stumps per cascade stage: few first, more later
HELD_OUT = pick(full=(500, 3000), fast=(200, 800))  # held-out faces and background patches
METRIC_IMAGES = pick(full=50, fast=20)  # scenes for the mAP@0.5-vs-COCO-mAP experiment

# %% [markdown]
# ## 4.1 Metrics
#
# **Intersection over union.** The notes write
# $\mathrm{IoU}(BB_i, BB_j) = \frac{|BB_i \cap BB_j|}{|BB_i| + |BB_j| - |BB_i \cup BB_j|}$: that
# denominator has a typo. $|BB_i| + |BB_j|$ counts the intersection twice, so subtracting the *union*
# leaves the intersection again, and the ratio is always 1. The right one subtracts the **intersection**:
#
# $$\mathrm{IoU}(BB_i, BB_j) = \frac{|BB_i \cap BB_j|}{|BB_i| + |BB_j| - |BB_i \cap BB_j|} = \frac{|BB_i \cap BB_j|}{|BB_i \cup BB_j|}$$

# %%
from cvcourse.detection import box_area, box_iou

a = torch.tensor([[10.0, 10.0, 50.0, 40.0]], dtype=torch.float64)  # (x1, y1, x2, y2), 40 x 30
b = torch.tensor([[30.0, 20.0, 70.0, 60.0]], dtype=torch.float64)  # 40 x 40
inter = (min(50, 70) - max(10, 30)) * (min(40, 60) - max(10, 20))  # 20 x 20 = 400
union = box_area(a) + box_area(b) - inter  # 1200 + 1600 - 400
iou = box_iou(a, b)[0, 0]
print(f"|A ∩ B| = {inter}, |A ∪ B| = {union.item():.0f}, IoU = {iou.item():.4f}")
assert torch.isclose(iou, inter / union[0]) and torch.isclose(iou, torchvision.ops.box_iou(a, b)[0, 0])
typo = inter / (box_area(a) + box_area(b) - union)  # the notes' denominator
assert torch.allclose(typo, torch.ones(1, dtype=torch.float64))  # 1 for any two overlapping boxes
RESULTS["iou_example"] = iou.item()

# %% [markdown]
# **True and false positives, precision and recall.** A detection is a TP if it has the class of a
# ground-truth box and $\mathrm{IoU} > \rho_\mathrm{IoU}$ with it (each ground truth matched once, highest
# score first); otherwise it is a FP. $\text{recall} = |TP| / |\text{ground truth}|$,
# $\text{precision} = |TP| / |\text{detections}|$. A scene like Fig. 4.2: ground truth (yellow) and a
# detector's boxes with their confidence (orange): some good, some loose, a duplicate and some misses.

# %%
from cvcourse.data import ShapesDetection

scene, target = ShapesDetection(1, size=160, seed=7, max_objects=6)[0]
gt = target["boxes"].double()
g = torch.Generator().manual_seed(3)
jitter = torch.randn(len(gt), 4, generator=g, dtype=torch.float64) * (gt[:, 2:] - gt[:, :2]).repeat(1, 2) * 0.12
found = gt + jitter  # one detection per object, more or less well placed
duplicate = gt[:1] + 6.0  # a second, shifted box on object 0
false = torch.tensor([[5.0, 5.0, 35.0, 30.0], [100.0, 120.0, 150.0, 155.0]], dtype=torch.float64)
dets = torch.cat([found, duplicate, false]).clamp(0, 160)
scores = torch.rand(len(dets), generator=g, dtype=torch.float64)
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.imshow(scene.permute(1, 2, 0))
draw_boxes(ax, gt, colors="yellow")
draw_boxes(ax, dets, scores=scores, colors="orange", linewidth=1.5)
style_axes(ax, "Ground truth (yellow), detections (orange)", "x (pixels)", "y (pixels)")

# %% [markdown]
# **The precision-recall curve**: rank the detections by confidence and lower the threshold $\rho_\min$
# one detection at a time. Recall never decreases; precision goes down at each FP and up at each TP.
# **AP** is the area under the curve after making precision monotone
# ($p_\text{interp}(r) = \max_{r' \ge r} p(r')$): exactly (all-point, PASCAL VOC) or as the mean of
# $p_\text{interp}$ at recalls $0, 0.01, \dots, 1$ (COCO's 101-point rule).

# %%
from cvcourse.detection.metrics import average_precision, coco_map, match_detections, precision_recall

tp, _ = match_detections(dets, scores, gt, iou_threshold=0.5)
precision, recall, thresholds = precision_recall(scores, tp, num_gt=len(gt))
ap_all, ap_101 = average_precision(recall, precision, "all_points"), average_precision(recall, precision, "coco101")
envelope = torch.from_numpy(np.maximum.accumulate(precision.numpy()[::-1])[::-1].copy())
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(recall, precision, "o-", label="precision at each threshold")
ax.step(recall, envelope, where="post", color="C1", label="interpolated (monotone)")
ax.fill_between(recall, envelope, step="post", alpha=0.2, color="C1")
style_axes(ax, f"PR curve: AP all-point {ap_all:.3f}, COCO 101-point {ap_101:.3f}", "recall", "precision")
ax.legend(loc="lower left")
one = coco_map([{"boxes": dets, "scores": scores, "labels": torch.zeros(len(dets), dtype=torch.int64)}],
               [{"boxes": gt, "labels": torch.zeros(len(gt), dtype=torch.int64)}])
assert abs(one["map_50"] - ap_101) < 1e-12  # COCO's AP@0.5 of one class is the 101-point area
RESULTS.update(ap_all_points=ap_all, ap_coco101=ap_101)

# %% [markdown]
# **mAP** is the mean AP over the classes; **COCO mAP** also averages over the IoU thresholds
# $\rho_\mathrm{IoU} \in \{0.50, 0.55, \dots, 0.95\}$ (our `coco_map` equals pycocotools' `COCOeval`). The
# notes' remark, shown: a detector that finds **every** object with loose boxes (IoU about 0.6) beats one
# that misses a quarter of them at mAP@0.5, and loses badly in COCO mAP, which rewards localisation.

# %%
def shift(boxes, fraction):  # move every box right by a fraction of its width
    w = boxes[:, 2] - boxes[:, 0]
    return boxes + torch.stack([w, 0 * w, w, 0 * w], 1) * fraction


scenes = ShapesDetection(METRIC_IMAGES, size=128, seed=11, max_objects=5)
targets = [{"boxes": t["boxes"].double(), "labels": t["labels"]} for _, t in scenes]
loose = [{"boxes": shift(t["boxes"], 0.25), "scores": torch.rand(len(t["boxes"]), dtype=torch.float64),
          "labels": t["labels"]} for t in targets]  # IoU = 0.75 / 1.25 = 0.6 for each box
keep = [torch.arange(len(t["boxes"])) % 4 != 3 for t in targets]  # misses every fourth object
tight = [{"boxes": shift(t["boxes"], 0.02)[k], "scores": torch.rand(int(k.sum()), dtype=torch.float64),
          "labels": t["labels"][k]} for t, k in zip(targets, keep, strict=True)]
maps = {name: coco_map(preds, targets) for name, preds in (("loose, finds all", loose), ("tight, misses 1/4", tight))}
for name, m in maps.items():
    print(f"{name:18s}: mAP@0.5 {m['map_50']:.3f}   mAP@0.75 {m['map_75']:.3f}   COCO mAP {m['map']:.3f}")
assert maps["loose, finds all"]["map_50"] > maps["tight, misses 1/4"]["map_50"]
assert maps["loose, finds all"]["map"] < 0.5 * maps["tight, misses 1/4"]["map"]
RESULTS.update(loose_map50=maps["loose, finds all"]["map_50"], loose_coco_map=maps["loose, finds all"]["map"])

# %% [markdown]
# ### Precision-recall explorer
#
# A confidence threshold and an IoU threshold: the detections drawn as TP / FP, the point of the curve
# where the threshold sits, and AP shaded.

# %%
from cvcourse.detection.widgets import pr_curve_explorer

pr_curve_explorer()

# %% [markdown]
# ## 4.2 Viola-Jones
#
# The first successful learned face detector: AdaBoost picks a few Haar-like features, the integral image
# computes each in constant time, and a cascade rejects the background quickly.
#
# ### 4.2.1 Boosting
#
# A **weak learner** is a little better than chance; a **decision stump** thresholds one feature (a
# depth-1 tree). **AdaBoost** trains $M$ of them one after the other on reweighted data: start from
# $w^{(i)} = 1/N$; fit $\mathrm{WL}_j$; $\varepsilon_j = \sum_{\text{misclassified}} w^{(i)}$;
# $\beta_j = (1 - \varepsilon_j)/\varepsilon_j$; multiply the misclassified weights by $\beta_j$ and
# renormalise; finally $\mathrm{SL}(x) = \left(\sum_j \ln(\beta_j)\,\mathrm{WL}_j(x) > 0\right)$.
#
# **The notes' spam example.** Their table was a lost figure; `spam_example` is one built so that the
# algorithm, choosing each stump by smallest weighted error, reproduces every number of the example.

# %%
import inspect

from cvcourse.detection.adaboost import AdaBoost, spam_example

x_spam, y_spam = spam_example()
print(" x1 URLs  x2 CAPS  spam")
for (x1, x2), y in zip(x_spam.tolist(), y_spam.tolist(), strict=True):
    print(f"{x1:8.0f} {x2:8.0f} {y:+5.0f}")
print(inspect.getsource(AdaBoost.fit).split("step 1")[1].split("self.weights_")[0])

# %%
boost = AdaBoost(3).fit(x_spam, y_spam)
for j, (stump, eps, beta) in enumerate(zip(boost.stumps_, boost.errors_, boost.betas_, strict=True)):
    weights = " ".join(str(Fraction(w).limit_denominator(100)) for w in boost.weights_[j].tolist())
    print(f"WL{j + 1}: {str(stump):8s} eps = {Fraction(eps).limit_denominator(100)!s:5s} "
          f"beta = {beta:.0f}   weights before: {weights}")
assert [str(s) for s in boost.stumps_] == ["x1 > 3", "x1 > 10", "x2 > 20"]
assert [Fraction(e).limit_denominator(100) for e in boost.errors_] == [Fraction(2, 8), Fraction(2, 12), Fraction(5, 20)]
assert np.allclose(boost.betas_, [3, 5, 3])
ln = torch.tensor([np.log(3), np.log(5), np.log(3)], dtype=torch.float64)  # SL = ln3 WL1 + ln5 WL2 + ln3 WL3
votes = torch.stack([s.predict(x_spam) for s in boost.stumps_], 1)
assert torch.allclose(boost.decision_function(x_spam), votes @ ln)
print("SL on the training e-mails:", boost.predict(x_spam).tolist(), " true:", y_spam.tolist())
RESULTS["adaboost_betas"] = [round(b, 6) for b in boost.betas_]

# %% [markdown]
# In round 1 three stumps tie at $\varepsilon = 2/8$ ($x_1 > 3$, $x_1 > 6.5$, $x_1 > 10$): the notes'
# numbers force a tie, since $x_1 > 10$ errs on two samples (weight $1/12$ each in round 2). The notes'
# final formula says "$> 0$", their example "$\ge 0$"; they differ only when the sum is exactly 0.
#
# **The same algorithm is scikit-learn's `AdaBoostClassifier`** (SAMME). SAMME weighs a stump by
# $\ln\frac{1-\varepsilon}{\varepsilon} + \ln(K - 1)$, which for $K = 2$ classes is $\ln\beta$, and
# multiplies the misclassified weights by $e^{\ln\beta} = \beta$. One difference: scikit-learn's trees
# pick the split of smallest **Gini impurity**, not of smallest error; with `criterion="gini"` ours does
# too, and the two agree stump for stump on random data.

# %%
from sklearn.ensemble import AdaBoostClassifier
from sklearn.tree import DecisionTreeClassifier

rng = np.random.default_rng(0)
x_rand = rng.normal(size=(200, 5)).astype(np.float32).astype(np.float64)  # sklearn's trees use float32
y_rand = np.where(x_rand[:, 0] + x_rand[:, 1] ** 2 - 1 + 0.5 * rng.normal(size=200) > 0, 1, -1)
sk = AdaBoostClassifier(DecisionTreeClassifier(max_depth=1), n_estimators=20, random_state=0).fit(x_rand, y_rand)
ours = AdaBoost(20, criterion="gini").fit(torch.from_numpy(x_rand), torch.from_numpy(y_rand).double())
same = [t.tree_.feature[0] == s.feature and abs(t.tree_.threshold[0] - s.threshold) < 1e-6
        for t, s in zip(sk.estimators_, ours.stumps_, strict=True)]
assert all(same) and np.allclose(sk.estimator_weights_, ours.estimator_weights_.numpy())
assert np.array_equal(sk.predict(x_rand), ours.predict(torch.from_numpy(x_rand)).numpy())
print("same 20 stumps, estimator weights = ln beta:", ours.estimator_weights_[:4].numpy().round(4), "...")

# %% [markdown]
# **Haar-like features.** On a 24 × 24 window, rectangles of 2, 3 or 4 equal parts; the feature is the
# signed sum of their pixels ($+$ white, $-$ black below), and a weak learner is
# $\mathrm{WL}_j(x) = 1$ if $s_j f_j \ge s_j \rho_j$ else $-1$ (polarity $s_j$, threshold $\rho_j$).
# Same kinds, enumeration and values as scikit-image's `haar_like_feature`.

# %%
from cvcourse.detection.haar import KINDS, haar_feature_grid, haar_mask

bank24 = haar_feature_grid(24, 24)
print(f"{len(bank24):,} features in a 24 x 24 window")  # the tests check it is scikit-image's set
assert len(bank24) == 162_336
fig, axes = plt.subplots(1, 5, figsize=(11, 2.6))
for ax, kind in zip(axes, KINDS, strict=True):
    bank = haar_feature_grid(24, 24, [kind])
    unit = bank.rects[:, 0, 2:] - bank.rects[:, 0, :2] + 1  # [F, 2] height, width of one rectangle
    index = int(((unit.min(1).values >= 6) & (bank.rects[:, 0, :2].min(1).values >= 3)).nonzero()[0, 0])
    ax.imshow(haar_mask(bank, index), cmap="gray", vmin=-1.5, vmax=1.5)
    style_axes(ax, kind, "x", "y")

# %% [markdown]
# ### 4.2.2 Integral images
#
# $II(i, j) = \sum_{i' \le i, j' \le j} I(i', j')$, computed with the recurrence
# $II(i, j) = II(i, j-1) + II(i-1, j) - II(i-1, j-1) + I(i, j)$ (or two cumulative sums). Then any
# rectangle's sum is **four lookups**, $II(A) - II(B) - II(C) + II(D)$, whatever its size (Fig. 4.5:
# $A$ its bottom-right pixel, $B$ above its top-right, $C$ left of its bottom-left, $D$ diagonally above-left).

# %%
from skimage.transform import integral_image as sk_integral_image

from cvcourse.detection.integral import integral_image, integral_image_loop, rectangle_sum

image = torch.tensor([[1, 2, 0, 1], [3, 1, 1, 0], [0, 2, 4, 1], [1, 0, 2, 3]], dtype=torch.float64)
ii = integral_image(image)
print(ii)
assert torch.equal(ii, integral_image_loop(image)) and np.allclose(ii, sk_integral_image(image.numpy()))
top, left, bottom, right = 1, 1, 3, 2  # rows 1..3, columns 1..2
A, B, C, D = ii[bottom, right], ii[top - 1, right], ii[bottom, left - 1], ii[top - 1, left - 1]
print(f"II(A) - II(B) - II(C) + II(D) = {A:.0f} - {B:.0f} - {C:.0f} + {D:.0f} = {A - B - C + D:.0f}")
assert A - B - C + D == image[top : bottom + 1, left : right + 1].sum()
assert rectangle_sum(ii, torch.tensor(top), torch.tensor(left), torch.tensor(bottom), torch.tensor(right)) == A - B - C + D

# %% [markdown]
# ### 4.2.3 The attentional cascade
#
# Each stage is a small AdaBoost classifier whose threshold is lowered until it keeps 99 % of the faces;
# each next stage is trained on the background patches the earlier stages let through. We train one on
# synthetic 16 × 16 face-like patches and on crops of scikit-image's photos (features normalised by each
# window's mean and standard deviation, as in the paper).

# %%
from cvcourse.detection.cascade import (
    cascade_rates,
    face_patches,
    nonface_patches,
    patch_features,
    train_cascade,
)

faces, negatives = face_patches(CASCADE_FACES, seed=0), nonface_patches(CASCADE_NEGATIVES, seed=0)
fig = show_images(torch.cat([faces[:8], negatives[:8]])[:, None].repeat(1, 3, 1, 1), ncols=8,
                  titles=["face"] * 8 + ["background"] * 8)
fig.suptitle("Training patches (16 x 16)")
bank = haar_feature_grid(16, 16, step=2)  # a coarse bank: every second position and size
cascade = train_cascade(patch_features(faces, bank), patch_features(negatives, bank), bank, STAGE_SIZES,
                        min_detection=0.99)
for i, (stage, (d, f)) in enumerate(zip(cascade.stages, cascade.train_rates, strict=True)):
    print(f"stage {i + 1}: {len(stage.stumps_):2d} stumps, first {stage.stumps_[0]}; on its training set "
          f"d = {d:.3f}, f = {f:.3f}")

# %% [markdown]
# **The product rule.** On held-out patches, with $d_i, f_i$ measured on the patches that reach stage $i$,
# the whole cascade detects $D = \prod_i d_i$ of the faces and lets through $F = \prod_i f_i$ of the
# background. Stages with $f_i \approx 0.1$ bring $F$ to $10^{-2}$ after two and $10^{-3}$ after three, while
# $D$ stays near 1. Training stops adding stages when no background patch of the pool gets through any more
# (Viola and Jones mined fresh negatives from thousands of images; our pool is a few hundred crops).

# %%
held_faces = patch_features(face_patches(HELD_OUT[0], seed=1), bank)
held_negatives = patch_features(nonface_patches(HELD_OUT[1], seed=1), bank)
rows = cascade_rates(cascade, held_faces, held_negatives)
print("stage    d_i    f_i  |  D = prod d   F = prod f")
for i, r in enumerate(rows):
    print(f"{i + 1:5d}  {r['d']:.3f}  {r['f']:.3f}  |  {r['D']:10.3f}  {r['F']:10.4f}")
assert np.isclose(rows[-1]["D"], np.prod([r["d"] for r in rows])) and np.isclose(rows[-1]["F"], np.prod([r["f"] for r in rows]))
assert rows[-1]["D"] > 0.9 and rows[-1]["F"] < 0.05
RESULTS.update(cascade_stages=len(rows), cascade_detection=rows[-1]["D"], cascade_false_positive=rows[-1]["F"])

# %% [markdown]
# **Multi-scale sliding window.** At inference the detector scans windows at every position and several
# sizes; the rectangles of the features are scaled with the window (not the image), and the integral
# image gives each feature in constant time at any scale. The cascade evaluates stage $i$ only on the
# windows stages $1..i-1$ accepted.

# %%
from cvcourse.detection.sliding_window import face_scene, sliding_window_detect

face_image, face_gt = face_scene(128, sizes=(24, 32, 40), seed=0)
boxes, box_scores, stats = sliding_window_detect(face_image, cascade, scales=(1.0, 1.25, 1.5, 2.0, 2.5), step=1.0)
print(f"{stats['windows']:,} windows; reaching each stage: {stats['evaluated']}; accepted: {len(boxes)}")
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.imshow(face_image, cmap="gray")
draw_boxes(ax, boxes, colors="orange", linewidth=0.8)
draw_boxes(ax, face_gt, colors="yellow")
style_axes(ax, "Accepted windows (orange), faces (yellow)", "x (pixels)", "y (pixels)")
assert (box_iou(face_gt, boxes).max(1).values > 0.5).all() and len(boxes) > len(face_gt)  # many per face
RESULTS["sliding_windows"] = stats["windows"]

# %% [markdown]
# ### 4.2.4 Non-maximum suppression
#
# Many windows fire on every face. **NMS**: until no box is left unchecked, keep the highest-scoring one
# and delete every box whose IoU with it exceeds a threshold (e.g. 0.5). Our `nms` equals torchvision's;
# `nms_steps` records each step.

# %%
from cvcourse.detection.nms import nms, nms_steps

kept = nms(boxes, box_scores, 0.3)
assert torch.equal(kept, torchvision.ops.nms(boxes, box_scores, 0.3))
steps = nms_steps(boxes, box_scores, 0.3)
fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
for k, ax in enumerate(axes[:3]):
    ax.imshow(face_image, cmap="gray")
    keep_k, suppressed = steps[k]
    draw_boxes(ax, boxes[suppressed], colors="red", linewidth=0.8)
    draw_boxes(ax, boxes[[keep_k]], colors="lime")
    style_axes(ax, f"step {k + 1}: keep 1, suppress {len(suppressed)}", "x", "y")
axes[3].imshow(face_image, cmap="gray")
draw_boxes(axes[3], boxes[kept], scores=box_scores[kept], colors="lime")
style_axes(axes[3], f"after NMS: {len(kept)} boxes", "x", "y")
assert (box_iou(face_gt, boxes[kept]).max(1).values > 0.5).all()  # every face keeps a box
RESULTS["nms_kept"] = len(kept)

# %% [markdown]
# Each face keeps one box, but a tiny cascade trained in seconds also leaves boxes that cover a face only in
# part (NMS cannot merge boxes that overlap less than its threshold) and false positives on the brick
# texture, which it never saw in training. The score of a box is its last stage's margin over the threshold.
#
# **The notes' remark: two close objects can become one.** Two faces overlapping with IoU 0.5 and one
# box each, well placed: NMS at threshold 0.4 deletes the second face's box.

# %%
two = torch.tensor([[20.0, 20.0, 60.0, 60.0], [33.0, 20.0, 73.0, 60.0]], dtype=torch.float64)  # the faces
print(f"IoU of the two objects: {box_iou(two[:1], two[1:]).item():.2f}")
for threshold in (0.4, 0.6):
    print(f"NMS at {threshold}: keeps {nms(two, torch.tensor([0.9, 0.8], dtype=torch.float64), threshold).tolist()}")
assert len(nms(two, torch.tensor([0.9, 0.8], dtype=torch.float64), 0.4)) == 1  # one object lost
assert len(nms(two, torch.tensor([0.9, 0.8], dtype=torch.float64), 0.6)) == 2

# %% [markdown]
# ### NMS explorer
#
# Scored candidate boxes over a scene, the IoU and score thresholds, and a step slider through greedy NMS
# (the box kept at each step, the ones it suppresses); one scene is the close-objects case.

# %%
from cvcourse.detection.widgets import nms_explorer

nms_explorer()

# %% [markdown]
# ## 4.3 CNNs for object detection
#
# ### 4.3.1 Object localisation
#
# With a single object per image: a CNN backbone and two heads, a **classification** head (class logits)
# and a **regression** head (the box). Training is multi-task:
# $\mathcal{L} = \mathcal{L}_\mathrm{CE}(\mathrm{softmax}(\text{scores}), \mathbb{1}[c]) + \lambda\,\mathbb{1}[c \neq \text{bg}]\,\mathcal{L}_\mathrm{MSE}(\widehat{BB}, BB)$.
# Used as a sliding-window detector it needs a **background** class, and the box loss of a background
# patch is ignored: below, changing the box target of a background sample leaves the loss unchanged.

# %%
num_classes = 5 + 1  # the shapes' classes and bg = class 0
backbone = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(4),
                               torch.nn.Flatten())
cls_head, reg_head = torch.nn.Linear(128, num_classes), torch.nn.Linear(128, 4)


def localisation_loss(images, classes, boxes, lam=1.0):
    features = backbone(images)  # [N, 128]
    ce = F.cross_entropy(cls_head(features), classes)
    foreground = (classes != 0).double()  # 1[c != bg]
    mse = ((reg_head(features) - boxes) ** 2).mean(1)  # [N]
    return ce + lam * (foreground * mse).sum() / foreground.sum().clamp_min(1)


patches, classes = torch.rand(4, 3, 32, 32), torch.tensor([1, 0, 3, 0])
targets_bb = torch.rand(4, 4)
moved = targets_bb.clone()
moved[classes == 0] += 10.0  # only the background samples' boxes change
assert torch.isclose(localisation_loss(patches, classes, targets_bb), localisation_loss(patches, classes, moved))

# %% [markdown]
# ### 4.3.2 Region proposal detectors
#
# **Selective search**: segment the image into superpixels, then greedily merge the two most similar
# adjacent regions (colour histogram, texture histogram, size and fill terms, each in [0, 1]) until one
# region is left; every region is a proposal. On a scikit-image photo:

# %%
from skimage.transform import resize

from cvcourse.data.real import sample_image
from cvcourse.detection.proposals import selective_search

photo = (resize(sample_image("coffee"), (200, 300), anti_aliasing=True) * 255).astype(np.uint8)
ss = selective_search(photo, scale=100, min_size=50)
n_sp = int(ss.labels.max()) + 1
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
axes[0].imshow(ss.labels, cmap="tab20")
style_axes(axes[0], f"{n_sp} superpixels (felzenszwalb)", "x", "y")
for ax, (lo, hi, name) in zip(axes[1:], ((n_sp, n_sp + 30, "first 30 merges"),
                                          (2 * n_sp - 31, 2 * n_sp - 1, "last 30 merges")), strict=True):
    ax.imshow(photo)
    draw_boxes(ax, ss.boxes[lo:hi], colors="orange", linewidth=1)
    style_axes(ax, f"Fig. 4.7: {name}", "x", "y")
assert len(ss.boxes) == 2 * n_sp - 1 and ss.boxes[-1].tolist() == [0, 0, 300, 200]
RESULTS["selective_search_proposals"] = len(ss.proposals())

# %% [markdown]
# A proposal method must have **high recall**: on synthetic scenes, the share of objects that some
# proposal covers with IoU ≥ 0.7.

# %%
recalls = []
for image, t in ShapesDetection(pick(full=20, fast=6), size=128, seed=21):
    rgb = (image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    proposals = selective_search(rgb, scale=50, min_size=20).proposals()
    recalls += (box_iou(t["boxes"].double(), proposals).max(1).values >= 0.7).tolist()
print(f"recall at IoU 0.7: {np.mean(recalls):.2f} over {len(recalls)} objects ({len(proposals)} proposals "
      f"in the last scene)")
assert np.mean(recalls) >= 0.8
RESULTS["proposal_recall_07"] = float(np.mean(recalls))

# %% [markdown]
# **R-CNN** warps each proposal to the CNN's input size (227 × 227 for AlexNet) and predicts a class and
# a box **correction** $\hat t = (\Delta\hat x, \Delta\hat y, \Delta\hat w, \Delta\hat h)$:
# $BB_\mathrm{out} = (x_{SS} + w_{SS}\Delta\hat x,\ y_{SS} + h_{SS}\Delta\hat y,\ w_{SS} e^{\Delta\hat w},\ h_{SS} e^{\Delta\hat h})$,
# with $(x, y)$ the box centre. The targets are $\Delta x = (x_{GT} - x_{SS})/w_{SS}$, $\Delta y = (y_{GT} - y_{SS})/h_{SS}$,
# $\Delta w = \ln(w_{GT}/w_{SS})$, $\Delta h = \ln(h_{GT}/h_{SS})$ (small numbers, easy to regress), and
# the loss is CE plus $\lambda\,\mathbb{1}[c \ne \text{bg}]\,\mathrm{MSE}(\hat t, t)$.

# %%
from cvcourse.detection.boxes import box_convert, decode_boxes, encode_boxes

photo_t = torch.from_numpy(photo).permute(2, 0, 1).double()[None] / 255
crops = [F.interpolate(photo_t[..., int(b[1]):int(b[3]), int(b[0]):int(b[2])], size=(64, 64), mode="bilinear")[0]
         for b in ss.proposals()[5:11]]  # warped to a fixed size, whatever the aspect ratio
fig = show_images(torch.stack(crops), ncols=6, titles=[f"proposal {i}" for i in range(6)])
fig.suptitle("R-CNN: proposals warped to the CNN's input size")
proposal = torch.tensor([[40.0, 30.0, 120.0, 90.0]], dtype=torch.float64)
truth = torch.tensor([[50.0, 25.0, 140.0, 100.0]], dtype=torch.float64)
t = encode_boxes(truth, proposal)
(xs, ys, ws, hs), (xg, yg, wg, hg) = box_convert(proposal, "xyxy", "cxcywh")[0], box_convert(truth, "xyxy", "cxcywh")[0]
by_hand = torch.stack([(xg - xs) / ws, (yg - ys) / hs, torch.log(wg / ws), torch.log(hg / hs)])
print("t =", t[0].numpy().round(4))
assert torch.allclose(t[0], by_hand) and torch.allclose(decode_boxes(t, proposal), truth)  # decode(encode(x)) = x

# %% [markdown]
# **Fast R-CNN** runs the convolutions once on the whole image and cuts each proposal out of the
# feature map with **RoIPool**: project the box onto the feature map (× the spatial scale), **snap** it to
# the grid (round), then max-pool bins of about $\lceil H_r/H_o\rceil \times \lceil W_r/W_o\rceil$, whose
# edges are **snapped** again (floor of the start, ceil of the end). Two quantisations, drawn:

# %%
from cvcourse.detection.roi import roi_pool, roi_pool_bins

feature_map = torch.arange(64, dtype=torch.float64).reshape(1, 1, 8, 8)  # stride 16: a 128 x 128 image
roi = torch.tensor([[0, 21.0, 13.0, 110.0, 75.0]], dtype=torch.float64)  # (batch, x1, y1, x2, y2) in pixels
pooled = roi_pool(feature_map, roi, (2, 2), spatial_scale=1 / 16)
assert torch.equal(pooled, torchvision.ops.roi_pool(feature_map, roi, (2, 2), 1 / 16))
hs, he, ws_, we = roi_pool_bins(roi, (2, 2), 1 / 16, 8, 8)
fig, ax = plt.subplots(figsize=(4.2, 4.2))
ax.imshow(feature_map[0, 0], cmap="Greys", alpha=0.3, extent=(0, 8, 8, 0))
ax.add_patch(plt.Rectangle((21 / 16, 13 / 16), (110 - 21) / 16, (75 - 13) / 16, fill=False, ec="blue", lw=2, label="projected RoI"))
for i in range(2):
    for j in range(2):
        ax.add_patch(plt.Rectangle((ws_[0, j], hs[0, i]), we[0, j] - ws_[0, j], he[0, i] - hs[0, i], fill=False,
                                   ec="red", lw=1.5, ls="--", label="snapped bins" if i + j == 0 else None))
ax.set_xticks(range(9)), ax.set_yticks(range(9)), ax.grid(True)
style_axes(ax, "RoIPool: project, snap, pool 2 x 2", "feature-map column", "feature-map row")
ax.legend(loc="lower right", fontsize=8)
print("pooled:", pooled[0, 0].tolist())

# %% [markdown]
# **Huber (smooth L1) loss** for the box: $\frac12 a^2$ for $|a| \le 1$, $|a| - \frac12$ beyond. L2 grows
# quadratically and lets outliers dominate; the Huber gradient is capped at 1.

# %%
from cvcourse.detection.losses import smooth_l1

a_values = torch.linspace(-3, 3, 121, dtype=torch.float64, requires_grad=True)
huber = smooth_l1(a_values, torch.zeros_like(a_values), reduction="none")
assert torch.allclose(huber, F.smooth_l1_loss(a_values, torch.zeros_like(a_values), reduction="none"))
(grad,) = torch.autograd.grad(huber.sum(), a_values)
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(a_values.detach(), 0.5 * a_values.detach() ** 2, label="½ a² (L2)")
ax.plot(a_values.detach(), huber.detach(), label="Huber")
ax.plot(a_values.detach(), grad, ":", label="Huber gradient")
style_axes(ax, "Huber vs L2", "a = prediction - target", "loss")
ax.legend()
assert grad.abs().max() <= 1.0

# %% [markdown]
# **Table 4.1 recomputed.** R-CNN runs AlexNet on each of $n$ warped crops; Fast R-CNN runs its
# convolutions once and only its fully connected (FF) layers per RoI. Counting **2 FLOPs per
# multiply-accumulate and 1 per bias** on AlexNet as published in 2012 (one tower: 96, 256, 384, 384, 256
# channels, first conv without padding) on a 227 × 227 crop gives exactly the notes' 2154 M and 117 M.
# torchvision's `alexnet()` is the narrower "one weird trick" variant (64, 192, 384, 256, 256): 1317 M.
# No image size gives exactly 16,310 M for the shared pass; the closest square is 603 × 603 (16,307 M).

# %%
from cvcourse.detection.rcnn_cost import alexnet_2012, count_flops, rcnn_table, shared_pass_size

per_crop = count_flops(alexnet_2012(), 227, 227)
with torch.device("meta"):
    tv_alexnet = torchvision.models.alexnet()
side, shared = shared_pass_size(16_310e6)
assert round(per_crop["conv"] / 1e6) == 2154 and round(per_crop["ff"] / 1e6) == 117
assert side == 603 and abs(shared - 16_310e6) / 16_310e6 < 3e-4
print(f"torchvision's AlexNet: {count_flops(tv_alexnet, 227, 227)['conv'] / 1e6:.0f} M conv FLOPs per crop")
n = 2000
table = rcnn_table(n, image=(side, side))
print(f"{'n = 2000':12s} {'conv FLOPs':>14s} {'FF FLOPs':>12s}")
for name, row in table.items():
    print(f"{name:12s} {row['conv'] / 1e9:12.1f} G {row['ff'] / 1e9:10.1f} G")
RESULTS.update(rcnn_conv_mflops=per_crop["conv"] / 1e6, rcnn_ff_mflops=per_crop["ff"] / 1e6, shared_pass_side=side)

# %% [markdown]
# **Faster R-CNN** replaces selective search by a **region proposal network**: a 3 × 3 convolution
# (256 channels, padding 1, ReLU; the notes' "stride 0" means stride 1) and two parallel 1 × 1
# convolutions with $2k$ (objectness, a two-way softmax per anchor) and $4k$ (box corrections) outputs,
# for $k$ anchors per location:

# %%
k = 9  # 3 sizes x 3 aspect ratios
rpn_conv = torch.nn.Sequential(torch.nn.Conv2d(256, 256, 3, stride=1, padding=1), torch.nn.ReLU())
objectness, corrections = torch.nn.Conv2d(256, 2 * k, 1), torch.nn.Conv2d(256, 4 * k, 1)
activations = torch.randn(1, 256, 13, 20)  # C_L x H_L x W_L
hidden = rpn_conv(activations)
print("objectness", tuple(objectness(hidden).shape), " corrections", tuple(corrections(hidden).shape))
assert objectness(hidden).shape == (1, 2 * k, 13, 20) and corrections(hidden).shape == (1, 4 * k, 13, 20)

# %% [markdown]
# **Anchor labelling**: IoU $< 0.3$ with every ground truth: negative; $\ge 0.7$: positive; each ground
# truth's best anchor is positive too; the rest are ignored. A mini-batch takes all positives and fills up
# with negatives (1:1 at most, 256 anchors).

# %%
from cvcourse.detection.anchors import anchor_grid, label_anchors, sample_anchors

rpn_image, rpn_target = ShapesDetection(1, size=256, seed=5, max_objects=4)[0]
anchors = anchor_grid((16, 16), 16, sizes=(32, 64, 128), aspect_ratios=(0.5, 1.0, 2.0)).double()
labels, matched = label_anchors(anchors, rpn_target["boxes"].double())
positive, negative = sample_anchors(labels, 256, 0.5, generator=torch.Generator().manual_seed(0))
counts = {name: int((labels == v).sum()) for name, v in (("positive", 1), ("negative", 0), ("ignored", -1))}
print(f"{len(anchors)} anchors: {counts}; sampled {int(positive.sum())} positives + {int(negative.sum())} negatives")
best = box_iou(rpn_target["boxes"].double(), anchors).argmax(1)
assert (labels[best] == 1).all() and int(positive.sum()) + int(negative.sum()) == 256
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.imshow(rpn_image.permute(1, 2, 0))
draw_boxes(ax, anchors[labels == 1], colors="lime", linewidth=1)
draw_boxes(ax, rpn_target["boxes"], colors="yellow")
style_axes(ax, "Positive anchors (green), ground truth (yellow)", "x (pixels)", "y (pixels)")

# %% [markdown]
# ### Anchor explorer
#
# Scales, aspect ratios and stride over a scene; anchors coloured by their RPN label, the counts, and a
# ground-truth box's best anchors with their IoU.

# %%
from cvcourse.detection.widgets import anchor_explorer

anchor_explorer()

# %% [markdown]
# **RoIAlign vs RoIPool.** RoIAlign does not snap: it samples the feature map bilinearly at regular points
# in each bin and averages them. Sliding a RoI by fractions of a cell, RoIPool's output jumps (the snapped
# box moves one whole cell at a time) while RoIAlign's follows smoothly.

# %%
from cvcourse.detection.roi import roi_align

ramp = torch.arange(16, dtype=torch.float64).repeat(16, 1)[None, None]  # value = column
offsets = torch.linspace(0, 2, 41, dtype=torch.float64)
rois = torch.stack([torch.zeros_like(offsets), 2 + offsets, 2 + 0 * offsets, 8 + offsets, 8 + 0 * offsets], 1)
pool_out = roi_pool(ramp, rois, (1, 1))[:, 0, 0, 0]
align_out = roi_align(ramp, rois, (1, 1), sampling_ratio=2, aligned=True)[:, 0, 0, 0]
assert torch.allclose(align_out, torchvision.ops.roi_align(ramp, rois, (1, 1), sampling_ratio=2, aligned=True)[:, 0, 0, 0])
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(offsets, pool_out, label="RoIPool (max, snapped)")
ax.plot(offsets, align_out, label="RoIAlign (bilinear, no snap)")
style_axes(ax, "One-bin output as the RoI slides", "RoI shift (feature cells)", "pooled value")
ax.legend()
assert len(torch.unique(pool_out)) < 5 and len(torch.unique(align_out)) > 30

# %% [markdown]
# ## Exercise 7-2: object detection
#
# **(a) Why is Faster R-CNN a two-stage detector (compared with YOLO)?** Its RPN first proposes boxes
# (stage one, run once per image: backbone + RPN), then a second head refines each proposal and
# classifies it (stage two, run once per region: RoI pooling, class, box offset). YOLO predicts the final
# boxes with a single head in one pass. In code, stage two is the per-RoI part of Table 4.1: the FF cost
# grows with the number of proposals, the shared conv cost does not.

# %%
stage_one = count_flops(alexnet_2012().features, 600, 600)["conv"]
for n_rois in (1, 300, 2000):
    print(f"{n_rois:5d} RoIs: stage 1 {stage_one / 1e9:5.1f} GFLOPs (once), stage 2 {n_rois * per_crop['ff'] / 1e9:6.1f} GFLOPs")

# %% [markdown]
# **(b) The purpose of RoI pooling.** The second stage's fully connected layers need a fixed-size input
# (7 × 7 in Faster R-CNN), whatever the size and shape of the proposal; RoI pooling is a max pooling with
# adaptive windows that gives exactly that, and it is differentiable (the gradient flows to the max).

# %%
fmap = torch.randn(1, 256, 38, 50, dtype=torch.float64)
sizes = torch.tensor([[0, 0.0, 0.0, 100.0, 60.0], [0, 50.0, 40.0, 700.0, 580.0], [0, 300.0, 10.0, 330.0, 400.0]],
                     dtype=torch.float64)
out = roi_pool(fmap, sizes, (7, 7), spatial_scale=1 / 16)
print("three RoIs of sizes 100x60, 650x540, 30x390 ->", tuple(out.shape))
assert out.shape == (3, 256, 7, 7)

# %% [markdown]
# **(c) Anchor boxes** are predefined boxes of given sizes and aspect ratios placed at every feature-map
# location; the heads predict only offsets with respect to them, so each of the $k$ outputs can specialise
# in one shape and scale. The anchors must represent the objects' shapes: below, the best IoU that tall and
# wide objects (aspect ratios 1:2 and 2:1, like people and cars) reach with the anchors of the cell above,
# with and without the tall and wide anchor ratios. (DETR, next chapter, needs no anchors.)

# %%
square_only = anchor_grid((16, 16), 16, sizes=(32, 64, 128), aspect_ratios=(1.0,)).double()
g = torch.Generator().manual_seed(8)
centre, side = 32 + 192 * torch.rand(200, 2, generator=g), 40 + 60 * torch.rand(200, 1, generator=g)
ratio = torch.where(torch.rand(200, 1, generator=g) < 0.5, 2.0, 0.5) ** 0.5  # h / w = 2 or 1/2
wh = torch.cat([side / ratio, side * ratio], 1)
objects = torch.cat([centre - wh / 2, centre + wh / 2], 1).double()
best_iou = {name: box_iou(objects, a).max(1).values.mean().item() for name, a in
            (("3 ratios", anchors), ("square only", square_only))}
print({name: round(v, 3) for name, v in best_iou.items()})
assert best_iou["3 ratios"] > best_iou["square only"] + 0.1

# %% [markdown]
# **(d) Non-maximum suppression** turns the many overlapping predictions of one object into one: keep the
# highest-scoring box, suppress every box that overlaps it with IoU above a threshold, repeat (section 4.2.4
# above, where it reduced the cascade's windows to one box per face).

# %%
print(f"cascade windows: {len(boxes)} -> after NMS: {len(kept)} (faces: {len(face_gt)})")

# %% [markdown]
# **What to take away.** Detection is scored by IoU-matched precision and recall, summarised as AP per
# class and COCO mAP over IoU thresholds. Viola-Jones already had the structure of later detectors:
# cheap features computed everywhere, a learned classifier, a cascade to save time, NMS at the end.
# The R-CNN family replaced the features by a CNN, then shared its convolutions (RoIPool, Table 4.1),
# then learned the proposals too (the RPN and its anchors).

# %%
print({name: value for name, value in RESULTS.items()})
