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
# # Exercise sheet 4: the building blocks of object detection
#
# **What you practise.** The small functions every detector is made of (notes, chapter 4): the IoU of
# two sets of boxes, greedy non-maximum suppression, the average precision of a ranked list of
# detections, RoI max pooling (on the notes' example), the labelling of anchors for a region proposal
# network, the focal loss, and DETR's matching cost for the Hungarian algorithm. Each is checked
# against torchvision, torchmetrics or scipy.
#
# **Points.** Exercises 1-7: 2, 3, 2, 2, 3, 2, 3 (checked automatically; some checks are hidden and
# run when your notebook is graded), exercise 8: 2 (written, graded by hand). Total: 19 points.
#
# **Time.** About 90 minutes. Every cell runs in about a second on a laptop CPU; no GPU needed.
#
# **How to work.** Replace each `raise NotImplementedError()` with your code, run the cell, then run
# the check cell below it. A check that passes prints nothing; one that fails says what it expected
# and what it got. Do not rename the functions or change their arguments: the grader calls them.
# Boxes are `(x1, y1, x2, y2)` with $x_1 \le x_2$, $y_1 \le y_2$ (torchvision's `xyxy`).

# %%
import scipy.optimize
import torch
import torchvision
from torchmetrics.functional.classification import binary_average_precision
from torchvision.models.detection._utils import Matcher

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


def random_boxes(n, size=100.0):
    """n random boxes inside a size x size image, Tensor[n, 4] (x1, y1, x2, y2)."""
    xy = torch.rand(n, 2) * size
    return torch.cat([xy, xy + torch.rand(n, 2) * size / 2], dim=1)


# %% [markdown]
# ## Exercise 1: intersection over union (2 points)
#
# $\text{IoU}(A, B) = \frac{|A \cap B|}{|A \cup B|} = \frac{|A \cap B|}{|A| + |B| - |A \cap B|}$ (section 4.3.1). Write
# `box_iou(boxes1, boxes2)` for Tensor$[N, 4]$ and Tensor$[M, 4]$, returning the Tensor$[N, M]$ of all
# pairs, without loops (broadcast the corners). Boxes that do not overlap have IoU 0.

# %% nbgrader={"grade": false, "grade_id": "box_iou", "locked": false, "schema_version": 3, "solution": true, "task": false}
def box_iou(boxes1, boxes2):
    """IoU of every pair: Tensor[N, 4], Tensor[M, 4] -> Tensor[N, M]."""
    ### BEGIN SOLUTION
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    top_left = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])  # [N, M, 2]
    bottom_right = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area1[:, None] + area2[None, :] - inter)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_box_iou", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
with exercise(1, "box_iou"):
    a, b = torch.tensor([[0.0, 0, 2, 2]]), torch.tensor([[1.0, 1, 3, 3], [2.0, 0, 4, 2], [5.0, 5, 6, 6]])
    check_close("box_iou of [0,0,2,2] with [1,1,3,3] (1 / 7), touching, apart", box_iou(a, b)[0],
                torch.tensor([1 / 7, 0.0, 0.0]))
    torch.manual_seed(1)
    boxes1, boxes2 = random_boxes(5), random_boxes(7)
    iou = box_iou(boxes1, boxes2)
    check_shape("box_iou(5 boxes, 7 boxes)", iou, (5, 7))
    check_close("box_iou of random boxes", iou, torchvision.ops.box_iou(boxes1, boxes2))
### BEGIN HIDDEN TESTS
check_written_here(box_iou)
with exercise(1, "box_iou"):
    boxes = random_boxes(30)
    expected = torchvision.ops.box_iou(boxes, boxes)
    with forbidden(torchvision.ops, "box_iou", "compute the IoU yourself"):
        check_close("box_iou of 30 boxes with themselves", box_iou(boxes, boxes), expected)
        check_shape("box_iou with no boxes", box_iou(boxes, torch.zeros(0, 4)), (30, 0))
        line = torch.tensor([[10.0, 10, 10, 20]])  # zero area
        check_close("IoU of a zero-area box with a box around it", box_iou(line, torch.tensor([[0.0, 0, 50, 50]])),
                    torch.zeros(1, 1))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: greedy non-maximum suppression (3 points)
#
# NMS (section 4.3.1): take the highest-scoring box, keep it, remove every remaining box whose IoU with
# it is **greater than** `iou_threshold`, repeat with the highest-scoring box left. Write
# `nms(boxes, scores, iou_threshold)` returning the indices (into `boxes`) of the kept boxes as an
# int64 Tensor, in decreasing order of score, like `torchvision.ops.nms`. Use your `box_iou`.

# %% nbgrader={"grade": false, "grade_id": "nms", "locked": false, "schema_version": 3, "solution": true, "task": false}
def nms(boxes, scores, iou_threshold):
    """Indices of the boxes kept by greedy NMS, int64 Tensor[K], highest score first."""
    ### BEGIN SOLUTION
    order = torch.argsort(scores, descending=True)
    iou = box_iou(boxes, boxes)
    keep = []
    while order.numel() > 0:
        best = order[0]
        keep.append(int(best))
        order = order[1:][iou[best, order[1:]] <= iou_threshold]
    return torch.tensor(keep, dtype=torch.int64)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_nms", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def check_nms(boxes, scores, threshold, what):
    expected = torchvision.ops.nms(boxes, scores, threshold)
    with forbidden(torchvision.ops, "nms", "write the greedy loop yourself, not torchvision.ops.nms"):
        kept = nms(boxes, scores, threshold)
    check(isinstance(kept, torch.Tensor), f"nms should return a torch.Tensor of indices, got {type(kept).__name__}")
    check(kept.dtype == torch.int64, f"nms should return int64 indices, got dtype {kept.dtype}")
    check_equal(f"indices kept by nms ({what}, threshold {threshold})", kept, expected)


with exercise(2, "nms"):
    boxes = torch.tensor([[0.0, 0, 10, 10], [1.0, 1, 11, 11], [20.0, 20, 30, 30], [0.0, 0, 9, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    check_nms(boxes, scores, 0.5, "two clusters")
    torch.manual_seed(2)
    check_nms(random_boxes(40), torch.rand(40), 0.3, "40 random boxes")
### BEGIN HIDDEN TESTS
check_written_here(nms)
with exercise(2, "nms"):
    check_nms(random_boxes(80, 50.0), torch.rand(80), 0.5, "80 crowded boxes")
    check_nms(torch.zeros(0, 4), torch.zeros(0), 0.5, "no boxes")
    check_nms(boxes[:1], scores[:1], 0.5, "one box")
    same = torch.tensor([[0.0, 0, 10, 10]] * 3)
    check_nms(same, torch.tensor([0.1, 0.3, 0.2]), 0.99, "three identical boxes")
    half = torch.tensor([[0.0, 0, 10, 10], [0.0, 0, 10, 20]])  # IoU exactly 0.5: not above the threshold
    check_nms(half, torch.tensor([0.9, 0.8]), 0.5, "IoU equal to the threshold")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: average precision of a ranked list (2 points)
#
# After matching, the detections of one class, sorted by decreasing score, are a list of true (1) and
# false (0) positives; `num_gt` objects are in the images. At rank $k$, precision
# $P_k = \frac{\text{TP}_k}{k}$ and recall $R_k = \frac{\text{TP}_k}{\text{num\_gt}}$ (section 4.3.1). Write
# `average_precision(is_tp, num_gt)` $= \sum_k (R_k - R_{k-1})\, P_k$ (with $R_0 = 0$): the area under the
# step-wise precision-recall curve, as scikit-learn and torchmetrics compute it. Objects never detected
# keep the recall below 1, and lower the AP. Return a float (or a 0-d tensor).

# %% nbgrader={"grade": false, "grade_id": "average_precision", "locked": false, "schema_version": 3, "solution": true, "task": false}
def average_precision(is_tp, num_gt):
    """AP of detections ranked by score: is_tp bool Tensor[K] (rank order), num_gt >= 1 objects."""
    ### BEGIN SOLUTION
    tp = torch.cumsum(is_tp.to(torch.float64), dim=0)
    ranks = torch.arange(1, len(is_tp) + 1, dtype=torch.float64)
    precision, recall = tp / ranks, tp / num_gt
    steps = torch.diff(recall, prepend=torch.zeros(1))
    return float((steps * precision).sum())
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_average_precision", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def torchmetrics_ap(is_tp, num_gt):
    """torchmetrics' AP over the list (scores = rank), scaled to the objects the list never found."""
    if not bool(is_tp.any()):
        return 0.0
    scores = torch.linspace(1, 0, len(is_tp) + 1)[:-1]  # strictly decreasing: no ties
    return float(binary_average_precision(scores, is_tp.long())) * int(is_tp.sum()) / num_gt


with exercise(3, "average_precision"):
    ranked = torch.tensor([True, False, True, True])
    check_close("AP of [TP, FP, TP, TP], 3 objects: (1 + 2/3 + 3/4) / 3", average_precision(ranked, 3),
                (1 + 2 / 3 + 3 / 4) / 3)
    check_close("AP of [TP, FP, TP, TP], 5 objects (2 never found)", average_precision(ranked, 5),
                torchmetrics_ap(ranked, 5))
### BEGIN HIDDEN TESTS
with exercise(3, "average_precision"):
    for n, extra in [(30, 5), (50, 0), (7, 1)]:
        is_tp = torch.rand(n) < 0.5
        num_gt = int(is_tp.sum()) + extra  # every true positive is an object; `extra` were missed
        check_close(f"AP of a random list of {n}, {num_gt} objects", average_precision(is_tp, num_gt),
                    torchmetrics_ap(is_tp, num_gt))
    check_close("AP of only false positives", average_precision(torch.zeros(4, dtype=torch.bool), 3), 0.0)
    check_close("AP of a perfect list", average_precision(torch.ones(6, dtype=torch.bool), 6), 1.0)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: RoI max pooling on the notes' example (2 points)
#
# Fast R-CNN's RoIPool (section 4.3.2) turns a region of any size $H \times W$ into a fixed $h \times w$ grid:
# bin $(i, j)$ covers rows $\lfloor i H / h \rfloor$ to $\lceil (i+1) H / h \rceil - 1$ and columns
# $\lfloor j W / w \rfloor$ to $\lceil (j+1) W / w \rceil - 1$ of the region (bins may overlap when $h$ does not
# divide $H$), and takes the maximum in each bin. Write `roi_max_pool(region, h, w)` for a region
# Tensor$[C, H, W]$ already cut out of the feature map, returning Tensor$[C, h, w]$. The first check is the
# notes' RoI (the three rows the notes print), pooled to $3 \times 3$; all are compared with
# `torchvision.ops.roi_pool` on a box covering the region.

# %% nbgrader={"grade": false, "grade_id": "roi_max_pool", "locked": false, "schema_version": 3, "solution": true, "task": false}
def roi_max_pool(region, h, w):
    """Max pooling of Tensor[C, H, W] into an h x w grid of (possibly overlapping) bins."""
    ### BEGIN SOLUTION
    import math

    _, height, width = region.shape
    out = torch.empty(region.shape[0], h, w, dtype=region.dtype)
    for i in range(h):
        r0, r1 = math.floor(i * height / h), math.ceil((i + 1) * height / h)
        for j in range(w):
            c0, c1 = math.floor(j * width / w), math.ceil((j + 1) * width / w)
            out[:, i, j] = region[:, r0:r1, c0:c1].amax(dim=(1, 2))
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_roi_max_pool", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
NOTES_ROI = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [1.0, 0.7, 0.2, 0.6, 0.1, 0.9], [0.9, 0.8, 0.7, 0.3, 0.5, 0.2]])


def torchvision_roi_pool(region, h, w):
    _, height, width = region.shape
    box = torch.tensor([[0.0, 0.0, 0.0, width - 1.0, height - 1.0]])  # (image, x1, y1, x2, y2), inclusive
    return torchvision.ops.roi_pool(region[None], box, (h, w))[0]


with exercise(4, "roi_max_pool"):
    pooled = roi_max_pool(NOTES_ROI[None], 3, 3)
    check_shape("roi_max_pool(notes' 3 x 6 RoI, 3, 3)", pooled, (1, 3, 3))
    check_close("roi_max_pool of the notes' RoI: maxima of 1 x 2 bins", pooled[0],
                torch.tensor([[0.2, 0.4, 0.6], [1.0, 0.6, 0.9], [0.9, 0.7, 0.5]]))
    check_close("roi_max_pool of the notes' RoI to 2 x 4 (overlapping bins)", roi_max_pool(NOTES_ROI[None], 2, 4),
                torchvision_roi_pool(NOTES_ROI[None], 2, 4))
### BEGIN HIDDEN TESTS
check_written_here(roi_max_pool)
with exercise(4, "roi_max_pool"):
    for shape, (h, w) in [((2, 7, 5), (3, 3)), ((3, 14, 14), (7, 7)), ((1, 2, 3), (4, 5)), ((1, 1, 1), (2, 2))]:
        region = torch.randn(shape)
        check_close(f"roi_max_pool of a {shape} region to {h} x {w}", roi_max_pool(region, h, w),
                    torchvision_roi_pool(region, h, w))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: labelling anchors for the RPN (3 points)
#
# Faster R-CNN's region proposal network learns from anchors labelled by their IoU with the ground
# truth (section 4.3.2). Given `iou` Tensor$[G, A]$ (ground-truth box $g$ vs anchor $a$), an anchor is
# **positive** (label 1) if its best IoU is $\ge$ `high` (0.7), **negative** (0) if it is $<$ `low` (0.3),
# **ignored** (-1) in between; and, so that every object gets an anchor, each ground truth's best anchors
# (all anchors whose IoU with $g$ equals $g$'s largest IoU) are positive too. Write
# `label_anchors(iou, high, low)` returning an int64 Tensor$[A]$. The check compares with torchvision's
# `Matcher(high, low, allow_low_quality_matches=True)`.

# %% nbgrader={"grade": false, "grade_id": "label_anchors", "locked": false, "schema_version": 3, "solution": true, "task": false}
def label_anchors(iou, high=0.7, low=0.3):
    """RPN labels of A anchors from Tensor[G, A] IoUs: 1 positive, 0 negative, -1 ignored (int64)."""
    ### BEGIN SOLUTION
    best = iou.max(dim=0).values  # [A]: each anchor's best IoU
    labels = torch.full_like(best, -1, dtype=torch.int64)
    labels[best < low] = 0
    labels[best >= high] = 1
    per_gt = iou.max(dim=1, keepdim=True).values  # [G, 1]
    labels[(iou == per_gt).any(dim=0)] = 1
    return labels
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_label_anchors", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def torchvision_labels(iou, high, low):
    matched = Matcher(high, low, allow_low_quality_matches=True)(iou)  # gt index, -1 below low, -2 between
    return torch.where(matched >= 0, 1, torch.where(matched == -1, 0, -1))


def check_labels(iou, high, low, what):
    labels = label_anchors(iou, high, low)
    check(isinstance(labels, torch.Tensor), f"label_anchors should return a torch.Tensor, got {type(labels).__name__}")
    check_equal(f"anchor labels ({what}, high={high}, low={low})", labels, torchvision_labels(iou, high, low))


with exercise(5, "label_anchors"):
    iou = torch.tensor([[0.9, 0.5, 0.1, 0.2], [0.2, 0.4, 0.25, 0.6]])
    check_labels(iou, 0.7, 0.3, "2 objects, 4 anchors; object 1's best anchor has IoU 0.6 only")
    torch.manual_seed(5)
    check_labels(torchvision.ops.box_iou(random_boxes(4), random_boxes(50)), 0.7, 0.3, "random boxes")
### BEGIN HIDDEN TESTS
check_written_here(label_anchors)
with exercise(5, "label_anchors"):
    check_labels(torchvision.ops.box_iou(random_boxes(10, 40.0), random_boxes(200, 40.0)), 0.6, 0.2, "crowded")
    tie = torch.tensor([[0.5, 0.5, 0.1], [0.0, 0.1, 0.2]])  # two best anchors for object 0
    check_labels(tie, 0.7, 0.3, "a tie for the best anchor")
    check_labels(torch.tensor([[0.3, 0.7, 0.29, 0.9]]), 0.7, 0.3, "IoUs equal to the thresholds")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: the focal loss (2 points)
#
# For a logit $x$ with target $y \in \{0, 1\}$, $p = \sigma(x)$ and $p_t = p$ if $y = 1$ else $1 - p$,
# RetinaNet's focal loss (section 4.3.3) is $\text{FL} = -\alpha_t (1 - p_t)^\gamma \log p_t$ with $\alpha_t = \alpha$
# for $y = 1$ and $1 - \alpha$ for $y = 0$. The factor $(1-p_t)^\gamma$ down-weights easy examples: with
# $\gamma = 2$ an example at $p_t = 0.9$ counts 100 times less than in the cross-entropy. Write
# `focal_loss(logits, targets, alpha, gamma)`, element-wise (same shape as `logits`), numerically
# stable for large $|x|$ (compute $\log p_t$ with `F.binary_cross_entropy_with_logits`, which you may use).

# %% nbgrader={"grade": false, "grade_id": "focal_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def focal_loss(logits, targets, alpha=0.25, gamma=2.0):
    """Element-wise sigmoid focal loss, Tensor of the shape of logits."""
    ### BEGIN SOLUTION
    ce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # -log p_t
    p = torch.sigmoid(logits)
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return alpha_t * (1 - p_t) ** gamma * ce
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_focal_loss", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
def check_focal(logits, targets, alpha, gamma, what):
    expected = torchvision.ops.sigmoid_focal_loss(logits, targets, alpha=alpha, gamma=gamma, reduction="none")
    with forbidden(torchvision.ops, "sigmoid_focal_loss", "write the loss yourself"):
        loss = focal_loss(logits, targets, alpha, gamma)
    check_shape(f"focal loss ({what})", loss, logits.shape)
    check_close(f"focal loss ({what}, alpha={alpha}, gamma={gamma})", loss, expected)


with exercise(6, "focal_loss"):
    x = torch.logit(torch.tensor([0.9, 0.9]))  # p = 0.9: easy for y = 1, hard for y = 0
    y = torch.tensor([1.0, 0.0])
    ratio = focal_loss(x, y, 0.5, 2.0) / torch.nn.functional.binary_cross_entropy_with_logits(x, y, reduction="none")
    check_close("focal / (alpha * CE) at p = 0.9: (1 - p_t)^2 = 0.01 for y = 1, 0.81 for y = 0", ratio / 0.5,
                torch.tensor([0.01, 0.81]))
    torch.manual_seed(6)
    check_focal(torch.randn(4, 6) * 3, (torch.rand(4, 6) < 0.3).double(), 0.25, 2.0, "random logits")
### BEGIN HIDDEN TESTS
check_written_here(focal_loss)
with exercise(6, "focal_loss"):
    check_focal(torch.tensor([-60.0, 60.0, 0.0]), torch.tensor([1.0, 0.0, 1.0]), 0.25, 2.0, "saturated logits")
    check_focal(torch.randn(50) * 5, (torch.rand(50) < 0.5).double(), 0.8, 0.0, "gamma = 0")
    check_focal(torch.randn(3, 3), torch.ones(3, 3), 0.5, 5.0, "gamma = 5")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 7: DETR's matching cost (3 points)
#
# DETR (section 4.4) matches its $Q$ predictions one-to-one with the $G$ ground-truth objects by the
# Hungarian algorithm on a cost matrix $C \in \mathbb{R}^{Q \times G}$:
# $$C_{qg} = -\lambda_\text{cls}\, \hat p_q(c_g) + \lambda_{L1}\, \lVert \hat b_q - b_g \rVert_1 - \lambda_\text{giou}\, \text{GIoU}(\hat b_q, b_g),$$
# with $\hat p_q$ the predicted class probabilities (Tensor$[Q, K]$), $c_g$ the class of object $g$, and boxes
# in `xyxy`. Write `matching_cost(probs, pred_boxes, labels, gt_boxes, w_cls, w_l1, w_giou)`; you may use
# `torchvision.ops.generalized_box_iou`. Then `hungarian_match(cost)`: the matched `(rows, cols)` as
# int64 tensors, with `scipy.optimize.linear_sum_assignment` (rows sorted).

# %% nbgrader={"grade": false, "grade_id": "matching_cost", "locked": false, "schema_version": 3, "solution": true, "task": false}
def matching_cost(probs, pred_boxes, labels, gt_boxes, w_cls=1.0, w_l1=5.0, w_giou=2.0):
    """DETR's cost, Tensor[Q, G]."""
    ### BEGIN SOLUTION
    cls = -probs[:, labels]  # [Q, G]
    l1 = (pred_boxes[:, None, :] - gt_boxes[None, :, :]).abs().sum(dim=-1)
    giou = torchvision.ops.generalized_box_iou(pred_boxes, gt_boxes)
    return w_cls * cls + w_l1 * l1 - w_giou * giou
    ### END SOLUTION


def hungarian_match(cost):
    """(rows, cols), int64 tensors: the assignment of smallest total cost."""
    ### BEGIN SOLUTION
    rows, cols = scipy.optimize.linear_sum_assignment(cost.detach().cpu().numpy())
    return torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_matching_cost", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def check_matching(q, g, k, weights):
    probs = torch.softmax(torch.randn(q, k), dim=-1)
    pred, gt, labels = random_boxes(q), random_boxes(g), torch.randint(k, (g,))
    cost = matching_cost(probs, pred, labels, gt, *weights)
    giou = torchvision.ops.generalized_box_iou(pred, gt)
    expected = -weights[0] * probs[:, labels] + weights[1] * torch.cdist(pred, gt, p=1) - weights[2] * giou
    check_shape(f"matching_cost ({q} predictions, {g} objects)", cost, (q, g))
    check_close(f"matching_cost (weights {weights})", cost, expected)
    rows, cols = hungarian_match(cost)
    want_rows, want_cols = scipy.optimize.linear_sum_assignment(expected.numpy())
    check_equal("matched rows", rows, torch.as_tensor(want_rows))
    check_equal("matched columns", cols, torch.as_tensor(want_cols))


with exercise(7, "matching_cost", also=("hungarian_match",)):
    torch.manual_seed(7)
    check_matching(6, 3, 4, (1.0, 5.0, 2.0))
### BEGIN HIDDEN TESTS
with exercise(7, "matching_cost", also=("hungarian_match",)):
    check_matching(10, 10, 3, (2.0, 1.0, 0.5))
    check_matching(4, 1, 2, (0.0, 0.0, 1.0))
    check_matching(5, 0, 2, (1.0, 5.0, 2.0))  # no objects: nothing to match
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 8: NMS vs set prediction (2 points, graded by hand)
#
# Run the cell: your NMS on two heavily overlapping objects (a crowd). In three or four sentences:
# what does greedy NMS get wrong here, which threshold would keep both objects and what would it cost
# elsewhere, and why does DETR, trained with your matching cost, need no NMS at all?

# %%
crowd = torch.tensor([[0.0, 0, 10, 20], [3.0, 0, 13, 20], [0.0, 0, 10, 15], [3.0, 0, 13, 15]])
crowd_scores = torch.tensor([0.9, 0.85, 0.8, 0.75])  # boxes 0, 2 on object A; 1, 3 (duplicates) on object B
print("IoU of the two objects' boxes 0, 1:", f"{float(box_iou(crowd[:1], crowd[1:2])):.3f};",
      "of a duplicate with its object's box (0, 2):", f"{float(box_iou(crowd[:1], crowd[2:3])):.3f}")
for threshold in (0.5, 0.7, 0.8):
    print(f"threshold {threshold}: kept {nms(crowd, crowd_scores, threshold).tolist()}")

# %% [markdown] nbgrader={"grade": true, "grade_id": "nms_answer", "locked": false, "schema_version": 3, "points": 2, "solution": true, "task": false}
# The two objects' boxes overlap with IoU 0.54: at threshold 0.5 NMS keeps box 0 and suppresses box 1, the
# best detection of the second object, only because it overlaps the first; B survives only through its
# weaker, badly placed duplicate 3 (in a denser crowd it would be lost).
# 0.7 keeps one box per object here, and 0.8 keeps the duplicates 2 and 3 too (IoU 0.75 with their
# object's box): a high threshold keeps crowded objects but also lets duplicate detections of one object
# through (false positives), a low one merges neighbours; no single threshold is right for every scene. DETR is trained as
# set prediction: the Hungarian matching assigns each object to exactly one query, and every other query is
# pushed to "no object", so duplicates are penalised during training and the decoder's self-attention lets
# queries coordinate; the output already holds one prediction per object and needs no post-processing.
