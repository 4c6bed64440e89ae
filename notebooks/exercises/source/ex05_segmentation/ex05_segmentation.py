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
# # Exercise sheet 5: segmentation by hand
#
# **What you practise.** The measures and operations of semantic and panoptic segmentation (notes,
# chapter 5, and the slides on segmentation): per-class IoU and mIoU from a confusion matrix, bilinear
# upsampling, the transposed convolution, the receptive field of stacked dilated convolutions, and the
# panoptic quality PQ. Each is checked against torch, torchmetrics, or the notes' worked numbers.
#
# **Points.** Exercises 1-5: 3, 3, 3, 2, 4 (checked automatically; some checks are hidden and run when
# your notebook is graded), exercise 6: 2 (written, graded by hand). Total: 17 points.
#
# **Time.** About 90 minutes. Every cell runs in about a second on a laptop CPU; no GPU needed.
#
# **How to work.** Replace each `raise NotImplementedError()` with your code, run the cell, then run
# the check cell below it. A check that passes prints nothing; one that fails says what it expected
# and what it got. Do not rename the functions or change their arguments: the grader calls them.

# %%
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.classification import multiclass_confusion_matrix, multiclass_jaccard_index
from torchmetrics.functional.detection import panoptic_quality as torchmetrics_pq

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
# ## Exercise 1: IoU per class and mIoU from a confusion matrix (3 points)
#
# For $K$ classes, the confusion matrix $M \in \mathbb{N}^{K \times K}$ counts the pixels of true class $i$
# predicted as class $j$ in $M_{ij}$ (rows: truth, columns: prediction, as `torchmetrics`). Class $c$'s
# IoU is $\frac{TP_c}{TP_c + FP_c + FN_c}$ with $TP_c = M_{cc}$, $FN_c$ the rest of row $c$, $FP_c$ the rest of
# column $c$. A class that appears neither in the truth nor in the prediction has no IoU: return NaN
# for it, and leave it out of the mean. Write `iou_from_confusion(confusion)` returning
# `(per_class, miou)`: a float Tensor$[K]$ and a float (or 0-d tensor).

# %% nbgrader={"grade": false, "grade_id": "iou_from_confusion", "locked": false, "schema_version": 3, "solution": true, "task": false}
def iou_from_confusion(confusion):
    """Per-class IoU Tensor[K] (NaN for absent classes) and their mean over the present classes."""
    ### BEGIN SOLUTION
    confusion = confusion.to(torch.float64)
    tp = confusion.diagonal()
    union = confusion.sum(dim=0) + confusion.sum(dim=1) - tp
    per_class = torch.where(union > 0, tp / union, torch.full_like(tp, float("nan")))
    return per_class, per_class.nanmean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_iou_from_confusion", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def check_iou(target, preds, classes, what):
    confusion = multiclass_confusion_matrix(preds.flatten(), target.flatten(), classes)
    per_class, miou = iou_from_confusion(confusion)
    expected = multiclass_jaccard_index(preds.flatten(), target.flatten(), classes, average="none")
    present = torch.isin(torch.arange(classes), torch.cat([target.flatten(), preds.flatten()]))
    check_shape(f"per-class IoU ({what})", per_class, (classes,))
    check_close(f"IoU of the present classes ({what})", per_class[present], expected[present])
    check(bool(per_class[~present].isnan().all()), f"the IoU of an absent class should be NaN ({what}), got {per_class[~present].tolist()}")
    check_close(f"mIoU ({what}): mean over the present classes", miou, expected[present].mean())


with exercise(1, "iou_from_confusion"):
    worked = torch.tensor([[3, 1], [2, 4]])  # IoU_0 = 3 / (3 + 1 + 2), IoU_1 = 4 / (4 + 2 + 1)
    check_close("per-class IoU of [[3, 1], [2, 4]]", iou_from_confusion(worked)[0], torch.tensor([3 / 6, 4 / 7]))
    torch.manual_seed(1)
    target = torch.randint(4, (32, 32))
    preds = torch.where(torch.rand(32, 32) < 0.7, target, torch.randint(4, (32, 32)))
    check_iou(target, preds, 4, "random 32 x 32 maps, 4 classes")
### BEGIN HIDDEN TESTS
check_written_here(iou_from_confusion)
with exercise(1, "iou_from_confusion"):
    target = torch.randint(3, (50, 40))  # classes 3 and 4 absent everywhere
    check_iou(target, torch.where(torch.rand(50, 40) < 0.5, target, 0), 5, "two absent classes")
    check_iou(target, target, 3, "perfect prediction")
    only_predicted = torch.zeros(6, 6, dtype=torch.long)
    only_predicted[0, 0] = 2  # class 2 only predicted, never true: IoU 0, not NaN
    check_iou(torch.zeros(6, 6, dtype=torch.long), only_predicted, 3, "a class only predicted")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: bilinear upsampling (3 points)
#
# To upsample an $H \times W$ map to $H' \times W'$ (slides, "bilinear interpolation upsampling"), output pixel
# $(i, j)$ looks up the input at $y = (i + \frac12)\frac{H}{H'} - \frac12$, $x = (j + \frac12)\frac{W}{W'} - \frac12$ (pixel
# centres aligned, `align_corners=False`), clamped to $[0, H-1]$ and $[0, W-1]$, and mixes the four
# neighbours: with $y_0 = \lfloor y \rfloor$, $y_1 = \min(y_0+1, H-1)$, $\alpha = y - y_0$ and the same for $x$,
# $$\text{out} = (1-\alpha)(1-\beta)\,v_{y_0x_0} + (1-\alpha)\beta\, v_{y_0x_1} + \alpha(1-\beta)\, v_{y_1x_0} + \alpha\beta\, v_{y_1x_1}.$$
# Write `bilinear_resize(x, out_h, out_w)` for Tensor$[B, C, H, W]$ with index arithmetic (no loops over
# pixels needed: gather rows, then columns); the check compares with
# `F.interpolate(mode="bilinear", align_corners=False)`, which you may not call.

# %% nbgrader={"grade": false, "grade_id": "bilinear_resize", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bilinear_resize(x, out_h, out_w):
    """Bilinear resize of Tensor[B, C, H, W] to Tensor[B, C, out_h, out_w] (align_corners=False)."""
    ### BEGIN SOLUTION
    def coords(n_out, n_in):
        pos = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * n_in / n_out - 0.5).clamp(0, n_in - 1)
        low = pos.floor().long()
        return low, (low + 1).clamp(max=n_in - 1), pos - low

    y0, y1, a = coords(out_h, x.shape[-2])
    x0, x1, b = coords(out_w, x.shape[-1])
    rows = x[..., y0, :] * (1 - a)[:, None] + x[..., y1, :] * a[:, None]  # [B, C, out_h, W]
    return rows[..., x0] * (1 - b) + rows[..., x1] * b
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_bilinear_resize", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def check_resize(shape, out_h, out_w):
    x = torch.randn(shape)
    expected = F.interpolate(x, size=(out_h, out_w), mode="bilinear", align_corners=False)
    with forbidden(F, "interpolate", "compute the interpolation yourself, not F.interpolate"):
        out = bilinear_resize(x, out_h, out_w)
    check_shape(f"bilinear_resize({list(shape)} -> {out_h} x {out_w})", out, expected.shape)
    check_close(f"bilinear_resize({list(shape)} -> {out_h} x {out_w})", out, expected)


with exercise(2, "bilinear_resize"):
    two = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # the slides' 2 x 2 -> 4 x 4 example
    check_close("bilinear_resize of [[1, 2], [3, 4]] to 4 x 4, first row", bilinear_resize(two, 4, 4)[0, 0, 0],
                torch.tensor([1.0, 1.25, 1.75, 2.0]))
    torch.manual_seed(2)
    check_resize((2, 3, 5, 4), 10, 8)
### BEGIN HIDDEN TESTS
check_written_here(bilinear_resize)
with exercise(2, "bilinear_resize"):
    check_resize((1, 2, 7, 3), 16, 11)
    check_resize((2, 1, 8, 8), 3, 5)  # downsampling
    check_resize((1, 1, 1, 1), 4, 4)
    check_resize((1, 1, 4, 6), 4, 6)  # same size: the identity
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: the transposed convolution (3 points)
#
# A transposed convolution with stride $s$ ("deconvolution", slides) **scatters** every input pixel: input
# value $x_{n,c,i,j}$ times the kernel $w_{c,o,:,:}$ is **added** into the output window that starts at
# $(i s, j s)$. With a $k \times k$ kernel an $H \times W$ input gives $(H-1)s + k$ rows and $(W-1)s + k$ columns;
# where windows overlap (when $k > s$) their contributions add up. Write
# `conv_transpose(x, weight, stride)` for `x` $[B, C_\text{in}, H, W]$ and `weight` $[C_\text{in}, C_\text{out}, k, k]$
# (torch's layout), no padding, no bias; compared with `F.conv_transpose2d`, which you may not call.

# %% nbgrader={"grade": false, "grade_id": "conv_transpose", "locked": false, "schema_version": 3, "solution": true, "task": false}
def conv_transpose(x, weight, stride):
    """Transposed convolution: Tensor[B, C_in, H, W], weight [C_in, C_out, k, k] -> [B, C_out, H', W']."""
    ### BEGIN SOLUTION
    b, _, h, w = x.shape
    c_out, k = weight.shape[1], weight.shape[-1]
    out = torch.zeros(b, c_out, (h - 1) * stride + k, (w - 1) * stride + k, dtype=x.dtype)
    for i in range(h):
        for j in range(w):
            contribution = torch.einsum("bc,cokl->bokl", x[:, :, i, j], weight)
            out[:, :, i * stride : i * stride + k, j * stride : j * stride + k] += contribution
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_conv_transpose", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def check_transpose(shape, c_out, k, stride):
    x, weight = torch.randn(shape), torch.randn(shape[1], c_out, k, k)
    expected = F.conv_transpose2d(x, weight, stride=stride)
    with forbidden(F, "conv_transpose2d", "scatter the kernel yourself, not F.conv_transpose2d"):
        out = conv_transpose(x, weight, stride)
    what = f"{list(shape)}, C_out={c_out}, k={k}, stride={stride}"
    check_shape(f"conv_transpose ({what})", out, expected.shape)
    check_close(f"conv_transpose ({what})", out, expected)


with exercise(3, "conv_transpose"):
    one = conv_transpose(torch.tensor([[[[1.0, 2.0]]]]), torch.ones(1, 1, 3, 3), 2)  # overlap in column 2
    check_close("conv_transpose of [[1, 2]] with a 3 x 3 kernel of ones, stride 2, first row", one[0, 0, 0],
                torch.tensor([1.0, 1.0, 3.0, 2.0, 2.0]))
    torch.manual_seed(3)
    check_transpose((2, 3, 4, 5), 2, 3, 2)
### BEGIN HIDDEN TESTS
check_written_here(conv_transpose)
with exercise(3, "conv_transpose"):
    check_transpose((1, 2, 3, 3), 4, 2, 2)  # k = s: no overlap
    check_transpose((2, 1, 5, 2), 3, 4, 1)
    check_transpose((1, 3, 1, 1), 2, 5, 3)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: the receptive field of dilated convolutions (2 points)
#
# A $k \times k$ convolution with dilation $d$ spaces its taps $d$ pixels apart (atrous convolution,
# DeepLab): it sees $d(k-1) + 1$ pixels. Stacked at stride 1, the receptive fields add up:
# $r = 1 + \sum_l d_l (k - 1)$. With $3\times3$ kernels and dilations $1, 2, 4, \dots, 2^{L-1}$ (the notes'
# example) the receptive field grows exponentially, $r = 2^{L+1} - 1$, with only $9L$ weights per channel pair.
# Write `dilated_receptive_field(dilations, k)`, an int; the check measures it with autograd on real
# dilated `nn.Conv2d` layers.

# %% nbgrader={"grade": false, "grade_id": "dilated_receptive_field", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dilated_receptive_field(dilations, k=3):
    """Receptive field (pixels along one axis) of stride-1 k x k convolutions with these dilations."""
    ### BEGIN SOLUTION
    return 1 + sum(d * (k - 1) for d in dilations)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_dilated_receptive_field", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def measured(dilations, k, size=80):
    stack = nn.Sequential(*[nn.Conv2d(1, 1, k, dilation=d) for d in dilations])
    for conv in stack:
        nn.init.constant_(conv.weight, 1.0)
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    out = stack(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(dim=1) > 0).nonzero()
    return int(rows.max() - rows.min() + 1)


with exercise(4, "dilated_receptive_field"):
    for layers in (1, 2, 3, 4):
        dilations = [2**l for l in range(layers)]
        got = dilated_receptive_field(dilations, 3)
        check_equal(f"dilated_receptive_field({dilations}, 3) (the notes: 2^(L+1) - 1)", got, 2 ** (layers + 1) - 1)
        check_equal(f"dilated_receptive_field({dilations}, 3) measured", got, measured(dilations, 3))
### BEGIN HIDDEN TESTS
with exercise(4, "dilated_receptive_field"):
    for dilations, k in [([1, 1, 1], 3), ([3, 1], 5), ([2], 3), ([], 3)]:
        want = measured(dilations, k) if dilations else 1
        check_equal(f"dilated_receptive_field({dilations}, {k})", dilated_receptive_field(dilations, k), want)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: panoptic quality (4 points)
#
# A panoptic map gives every pixel a class and an instance id, Tensor$[H, W, 2]$. For a **stuff** class
# (sky, road) all its pixels form one segment, whatever their instance id; for a **thing** class
# (car, person) each (class, instance id) pair is a segment. A predicted and a true segment **match**
# when they have the same class and IoU $> 0.5$ (such a match is unique). Per class $c$, with the
# matched pairs TP, the unmatched predicted segments FP and the unmatched true segments FN:
# $$\text{PQ}_c = \frac{\sum_{(p, g) \in TP} \text{IoU}(p, g)}{|TP| + \frac12 |FP| + \frac12 |FN|}
#   = \underbrace{\frac{\sum_{TP} \text{IoU}}{|TP|}}_{SQ} \times \underbrace{\frac{|TP|}{|TP| + \frac12|FP| + \frac12|FN|}}_{RQ},$$
# and PQ is the mean of $\text{PQ}_c$ over the classes that appear in the prediction or the truth. Every
# pixel is labelled here (no void). Write `panoptic_quality(pred, gt, things, stuffs)` returning a
# float; it is compared with `torchmetrics`' `panoptic_quality`.

# %% nbgrader={"grade": false, "grade_id": "panoptic_quality", "locked": false, "schema_version": 3, "solution": true, "task": false}
def panoptic_quality(pred, gt, things, stuffs):
    """PQ of a predicted panoptic map against the truth, both Tensor[H, W, 2] (class, instance id)."""
    ### BEGIN SOLUTION
    def segments(panoptic):  # one id per segment for every pixel, and (class, id) of each segment
        cls, inst = panoptic[..., 0], panoptic[..., 1]
        inst = torch.where(torch.isin(cls, torch.tensor(sorted(stuffs))), 0, inst)
        keys, ids = torch.unique(torch.stack([cls, inst], -1).reshape(-1, 2), dim=0, return_inverse=True)
        return keys[:, 0], ids

    p_cls, p_ids = segments(pred)
    g_cls, g_ids = segments(gt)
    inter = torch.zeros(len(p_cls), len(g_cls))
    inter.index_put_((p_ids, g_ids), torch.ones(len(p_ids)), accumulate=True)
    iou = inter / (inter.sum(1)[:, None] + inter.sum(0)[None, :] - inter)
    matched = (iou > 0.5) & (p_cls[:, None] == g_cls[None, :])
    per_class = []
    for c in torch.unique(torch.cat([p_cls, g_cls])):
        pc, gc = p_cls == c, g_cls == c
        tp = int(matched[pc][:, gc].sum())
        fp, fn = int(pc.sum()) - tp, int(gc.sum()) - tp
        per_class.append(float(iou[pc][:, gc][matched[pc][:, gc]].sum()) / (tp + fp / 2 + fn / 2))
    return sum(per_class) / len(per_class)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_panoptic_quality", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
THINGS, STUFFS = {1, 2}, {0, 3}


def random_panoptic(h, w, blobs, id_offset=0):
    """A stuff background (class 0) with `blobs` rectangles of random classes and instance ids."""
    out = torch.zeros(h, w, 2, dtype=torch.long)
    for n in range(blobs):
        y, x = torch.randint(h - 4, (1,)).item(), torch.randint(w - 4, (1,)).item()
        dy, dx = torch.randint(3, 10, (2,)).tolist()
        out[y : y + dy, x : x + dx] = torch.tensor([[1, 2, 3][torch.randint(3, (1,)).item()], n + 1 + id_offset])
    return out


def check_pq(pred, gt, what):
    expected = float(torchmetrics_pq(pred[None], gt[None], THINGS, STUFFS))
    check_close(f"panoptic_quality ({what})", panoptic_quality(pred, gt, THINGS, STUFFS), expected)


with exercise(5, "panoptic_quality"):
    gt = torch.zeros(4, 4, 2, dtype=torch.long)
    gt[:2, :2] = torch.tensor([1, 7])  # a car of 4 pixels on road (class 0, stuff)
    pred = gt.clone()
    pred[2, 0] = torch.tensor([1, 7])  # one road pixel predicted as the car: IoU 4/5, road IoU 11/12
    check_close("PQ of a car of 4 pixels predicted with 5, on road: (4/5 + 11/12) / 2",
                panoptic_quality(pred, gt, THINGS, STUFFS), (4 / 5 + 11 / 12) / 2)
    torch.manual_seed(5)
    gt = random_panoptic(24, 24, 6)
    pred = gt.clone()
    noise = random_panoptic(24, 24, 2, id_offset=10)
    pred[noise[..., 1] > 0] = noise[noise[..., 1] > 0]
    check_pq(pred, gt, "random scenes, 2 wrong blobs")
### BEGIN HIDDEN TESTS
check_written_here(panoptic_quality)
with exercise(5, "panoptic_quality"):
    for seed in range(4):
        torch.manual_seed(50 + seed)
        gt = random_panoptic(32, 32, 8)
        noise = random_panoptic(32, 32, 3, id_offset=20)
        pred = torch.where((noise[..., 1] > 0)[..., None], noise, gt)
        check_pq(pred, gt, f"random scene {seed}")
    check_pq(gt, gt, "perfect prediction")
    stuff_ids = gt.clone()
    stuff_ids[..., 1] = torch.where(gt[..., 0] == 0, torch.randint(5, gt.shape[:2]), gt[..., 1])
    check_pq(stuff_ids, gt, "stuff with random instance ids (ignored for stuff)")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: why mIoU and not pixel accuracy? (2 points, graded by hand)
#
# The cell below scores a "prediction" that labels every pixel as background on a scene where 95 % of
# the pixels are background. Compare the two numbers and explain in three or four sentences why
# segmentation benchmarks report mIoU (averaged over classes) rather than pixel accuracy, and what mIoU
# still hides.

# %%
target = torch.zeros(100, 100, dtype=torch.long)
target[40:50, 40:90] = 1  # a thin object: 5 % of the pixels
all_background = torch.zeros_like(target)
confusion = multiclass_confusion_matrix(all_background.flatten(), target.flatten(), 2)
print(f"pixel accuracy: {(all_background == target).double().mean():.3f}, mIoU: {float(iou_from_confusion(confusion)[1]):.3f}")

# %% [markdown] nbgrader={"grade": true, "grade_id": "miou_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Pixel accuracy is 0.95 for a prediction that never finds the object: it counts pixels, so large classes
# (background, road, sky) dominate it and small objects barely move it. mIoU computes the IoU per class and
# averages the classes with equal weight: background gets IoU 0.95 but the object 0, so mIoU is 0.475, and
# a missed class costs as much as any other. The IoU also punishes false positives (they enlarge the union),
# which recall-like accuracy per class does not. What mIoU still hides: it weights pixels within a class,
# so one large instance dominates many small ones of the same class (instances are not distinguished,
# which PQ addresses), and a prediction with the right area but the wrong boundary can still score well.
