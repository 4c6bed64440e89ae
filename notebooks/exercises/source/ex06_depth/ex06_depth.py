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
# # Exercise sheet 6: depth from two views
#
# **What you practise.** The geometry and the losses of stereo and self-supervised depth (notes,
# chapter 6): disparity to depth and back on the Middlebury motorcycle rig, backward warping of the
# right image into the left view (the core of Monodepth's photometric loss), a sum-of-absolute-
# differences cost volume with winner-take-all matching, and SSIM. Each is checked against torch
# (`F.grid_sample`), scipy, scikit-image or the rig's worked numbers.
#
# **Points.** Exercises 1-4: 2, 3, 3, 3 (checked automatically; some checks are hidden and run when
# your notebook is graded), exercise 5: 2 (written, graded by hand). Total: 13 points.
#
# **Time.** About 75 minutes. Every cell runs in about a second on a laptop CPU; no GPU needed.
#
# **How to work.** Replace each `raise NotImplementedError()` with your code, run the cell, then run
# the check cell below it. A check that passes prints nothing; one that fails says what it expected
# and what it got. Do not rename the functions or change their arguments: the grader calls them.
# Convention (as chapter 6): a point at column $u_L$ of the left image is at $u_R = u_L - d$ in the right one.

# %%
import math

import numpy as np
import scipy.ndimage
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity

from cvcourse.data import MOTORCYCLE_CALIBRATION
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
# ## Exercise 1: disparity and depth (2 points)
#
# For a rectified pair with baseline $b$ (metres), focal length $f$ (pixels) and principal-point offset
# $d_\text{offs}$ (Middlebury's `doffs`, pixels), depth and disparity are inversely proportional
# (section 6.1): $z = \frac{b f}{d + d_\text{offs}}$, and $d = \frac{b f}{z} - d_\text{offs}$. Write
# `disparity_to_depth(disparity, baseline, focal_length, doffs)` (a disparity with $d + d_\text{offs} = 0$ is
# a point at infinity: `inf`) and its inverse `depth_to_disparity(depth, baseline, focal_length, doffs)`.

# %% nbgrader={"grade": false, "grade_id": "disparity_to_depth", "locked": false, "schema_version": 3, "solution": true, "task": false}
def disparity_to_depth(disparity, baseline, focal_length, doffs=0.0):
    """Depth in metres of Tensor[...] disparities in pixels (inf where d + doffs = 0)."""
    ### BEGIN SOLUTION
    return baseline * focal_length / (disparity + doffs)
    ### END SOLUTION


def depth_to_disparity(depth, baseline, focal_length, doffs=0.0):
    """Disparity in pixels of Tensor[...] depths in metres."""
    ### BEGIN SOLUTION
    return baseline * focal_length / depth - doffs
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_disparity_to_depth", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
rig = MOTORCYCLE_CALIBRATION  # focal_length 994.978 px, baseline 0.193001 m, doffs 31.086 px
with exercise(1, "disparity_to_depth", also=("depth_to_disparity",)):
    d = torch.tensor([100.0, 200.0, 0.0])
    want = torch.tensor([0.193001 * 994.978 / (100 + 31.086), 0.193001 * 994.978 / (200 + 31.086),
                         0.193001 * 994.978 / 31.086])
    z = disparity_to_depth(d, rig["baseline"], rig["focal_length"], rig["doffs"])
    check_close("depth of disparities 100, 200, 0 px on the motorcycle rig (m)", z, want)
    check_close("depth_to_disparity(disparity_to_depth(d))",
                depth_to_disparity(z, rig["baseline"], rig["focal_length"], rig["doffs"]), d)
### BEGIN HIDDEN TESTS
with exercise(1, "disparity_to_depth", also=("depth_to_disparity",)):
    d = torch.rand(20) * 50
    check_close("depth with doffs = 0", disparity_to_depth(d, 0.1, 64.0), 6.4 / d)
    check_close("disparity 0, doffs 0: a point at infinity", disparity_to_depth(torch.zeros(1), 0.1, 64.0),
                torch.tensor([math.inf]))
    check_close("depth_to_disparity of inf", depth_to_disparity(torch.tensor([math.inf]), 0.1, 64.0), torch.zeros(1))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: backward warping (3 points)
#
# Monodepth (section 6.3) rebuilds the left image from the right one and the predicted left disparity:
# $\hat I_L(v, u) = I_R\big(v,\, u - d(v, u)\big)$, **sampled** at a real-valued column with linear
# interpolation between the two neighbouring pixels; a column outside $[0, W-1]$ gives 0. Write
# `backward_warp(right, disparity)` for `right` Tensor$[B, C, H, W]$ and `disparity` Tensor$[B, H, W]$;
# the check compares with `F.grid_sample(..., mode="bilinear", padding_mode="zeros", align_corners=True)`,
# which you may not call.

# %% nbgrader={"grade": false, "grade_id": "backward_warp", "locked": false, "schema_version": 3, "solution": true, "task": false}
def backward_warp(right, disparity):
    """The left view rebuilt from the right one: Tensor[B, C, H, W], disparity [B, H, W] -> [B, C, H, W]."""
    ### BEGIN SOLUTION
    width = right.shape[-1]
    u = torch.arange(width, dtype=right.dtype) - disparity  # [B, H, W]: where to sample
    u0 = u.floor()
    w1 = (u - u0)[:, None]  # weight of the right neighbour
    out = torch.zeros_like(right)
    for column, weight in ((u0, 1 - w1), (u0 + 1, w1)):
        inside = ((column >= 0) & (column <= width - 1))[:, None]
        index = column.clamp(0, width - 1).long()[:, None].expand_as(right)
        out = out + torch.where(inside, right.gather(-1, index), 0.0) * weight
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_backward_warp", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def grid_sample_warp(right, disparity):
    b, _, h, w = right.shape
    u = torch.arange(w, dtype=right.dtype) - disparity
    v = torch.arange(h, dtype=right.dtype)[:, None].expand(b, h, w)
    grid = torch.stack([2 * u / (w - 1) - 1, 2 * v / (h - 1) - 1], dim=-1)  # x, y in [-1, 1]
    return F.grid_sample(right, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def check_warp(right, disparity, what):
    expected = grid_sample_warp(right, disparity)
    with forbidden(F, "grid_sample", "sample the right image yourself, not F.grid_sample"):
        out = backward_warp(right, disparity)
    check_shape(f"backward_warp ({what})", out, right.shape)
    check_close(f"backward_warp ({what})", out, expected)


with exercise(2, "backward_warp"):
    row = torch.tensor([[[[0.0, 10.0, 20.0, 30.0, 40.0]]]])  # one row of the right image
    check_close("left row rebuilt with d = 1.5 everywhere: right(u - 1.5), 0 outside",
                backward_warp(row, torch.full((1, 1, 5), 1.5))[0, 0, 0], torch.tensor([0.0, 0.0, 5.0, 15.0, 25.0]))
    torch.manual_seed(2)
    check_warp(torch.rand(2, 3, 6, 9), torch.rand(2, 6, 9) * 4, "random disparities in [0, 4)")
### BEGIN HIDDEN TESTS
check_written_here(backward_warp)
with exercise(2, "backward_warp"):
    check_warp(torch.rand(1, 1, 4, 16), torch.full((1, 4, 16), 3.0), "whole-pixel shift")
    check_warp(torch.rand(2, 2, 5, 7), torch.rand(2, 5, 7) * 12 - 3, "disparities out of view and negative")
    check_warp(torch.rand(1, 3, 3, 4), torch.zeros(1, 3, 4), "zero disparity: the right image itself")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: a SAD cost volume and winner-take-all (3 points)
#
# Block matching (section 6.2) compares each left pixel with the right pixels it could match: for every
# candidate disparity $d = 0 \dots D-1$,
# $C_d(v, u) = \sum_{(i, j) \in \text{window}} \big|I_L(v+i, u+j) - I_R(v+i, u+j-d)\big|$
# over a $k \times k$ window centred on $(v, u)$ (odd $k$; pixels outside the image count as 0 in both images,
# and $I_R$ at a column $< 0$ is 0). Write `sad_cost_volume(left, right, max_disparity, window)` for
# grey images Tensor$[H, W]$, returning Tensor$[D, H, W]$, and `winner_take_all(cost)`: the disparity of
# smallest cost at every pixel, an int64 Tensor$[H, W]$. The check compares with scipy's box filter
# (`scipy.ndimage.correlate`) and, on a texture shifted by 3 pixels, with the true disparity.

# %% nbgrader={"grade": false, "grade_id": "sad_cost_volume", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sad_cost_volume(left, right, max_disparity, window=5):
    """SAD costs Tensor[D, H, W] of disparities 0 .. max_disparity - 1 over window x window blocks."""
    ### BEGIN SOLUTION
    h, w = left.shape
    costs = []
    for d in range(max_disparity):
        shifted = torch.zeros_like(right)
        shifted[:, d:] = right[:, : w - d]  # I_R(v, u - d), 0 for u < d
        diff = (left - shifted).abs()[None, None]
        kernel = torch.ones(1, 1, window, window, dtype=left.dtype)
        costs.append(F.conv2d(diff, kernel, padding=window // 2)[0, 0])
    return torch.stack(costs)
    ### END SOLUTION


def winner_take_all(cost):
    """int64 Tensor[H, W]: the disparity of smallest cost."""
    ### BEGIN SOLUTION
    return cost.argmin(dim=0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_sad_cost_volume", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def scipy_costs(left, right, max_disparity, window):
    left, right = left.numpy(), right.numpy()
    out = []
    for d in range(max_disparity):
        shifted = np.zeros_like(right)
        shifted[:, d:] = right[:, : right.shape[1] - d]
        box = np.ones((window, window))
        out.append(scipy.ndimage.correlate(np.abs(left - shifted), box, mode="constant", cval=0.0))
    return torch.from_numpy(np.stack(out))


def check_costs(left, right, max_disparity, window, what):
    cost = sad_cost_volume(left, right, max_disparity, window)
    check_shape(f"cost volume ({what})", cost, (max_disparity, *left.shape))
    check_close(f"cost volume ({what})", cost, scipy_costs(left, right, max_disparity, window))


with exercise(3, "sad_cost_volume", also=("winner_take_all",)):
    torch.manual_seed(3)
    texture = torch.rand(12, 20)
    left = texture[:, :16]
    right = texture[:, 3:19]  # right(u) = left(u + 3): every left pixel has disparity 3
    check_costs(left, right, 6, 3, "a texture shifted by 3 px, D = 6, 3 x 3 windows")
    best = winner_take_all(sad_cost_volume(left, right, 6, 3))
    check(isinstance(best, torch.Tensor) and best.dtype == torch.int64,
          f"winner_take_all should return an int64 tensor, got {getattr(best, 'dtype', type(best).__name__)}")
    check_equal("winner-take-all disparity away from the left border (columns >= 4)", best[1:-1, 4:-1],
                torch.full((10, 11), 3))
### BEGIN HIDDEN TESTS
check_written_here(sad_cost_volume)
with exercise(3, "sad_cost_volume", also=("winner_take_all",)):
    check_costs(torch.rand(7, 9), torch.rand(7, 9), 4, 5, "random images, 5 x 5")
    check_costs(torch.rand(3, 3), torch.rand(3, 3), 1, 1, "one disparity, 1 x 1 window")
    cost = torch.rand(5, 4, 6)
    check_equal("winner_take_all of a random cost volume", winner_take_all(cost), cost.argmin(dim=0))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: SSIM (3 points)
#
# The structural similarity of two grey images (section 6.3: Monodepth's photometric loss mixes
# $\frac{1 - \text{SSIM}}{2}$ with L1) compares local means $\mu$, variances $\sigma^2$ and the covariance
# $\sigma_{xy}$, each an average over a $k \times k$ window:
# $$\text{SSIM}(x, y) = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}{(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)},
#   \qquad C_1 = (0.01 L)^2,\ C_2 = (0.03 L)^2,$$
# with $\sigma_x^2 = \overline{x^2} - \mu_x^2$ and $\sigma_{xy} = \overline{xy} - \mu_x\mu_y$ (window averages) and $L$
# the data range (1 here). Write `ssim(x, y, window)` for Tensor$[H, W]$ images: the mean of the SSIM map
# over the windows that fit inside the image (no padding: $(H-k+1) \times (W-k+1)$ windows). It is compared
# with scikit-image's `structural_similarity(..., win_size=k, data_range=1, use_sample_covariance=False)`.

# %% nbgrader={"grade": false, "grade_id": "ssim", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ssim(x, y, window=7):
    """Mean SSIM of two Tensor[H, W] images in [0, 1] over the k x k windows inside the image."""
    ### BEGIN SOLUTION
    def mean(t):
        return F.avg_pool2d(t[None, None], window, stride=1)[0, 0]

    mx, my = mean(x), mean(y)
    vx, vy, cxy = mean(x * x) - mx**2, mean(y * y) - my**2, mean(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return ssim_map.mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_ssim", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def check_ssim(x, y, window, what):
    expected = structural_similarity(x.numpy(), y.numpy(), win_size=window, data_range=1.0,
                                     use_sample_covariance=False)
    check_close(f"ssim ({what}, {window} x {window} windows)", ssim(x, y, window), float(expected), rtol=1e-5)


with exercise(4, "ssim"):
    torch.manual_seed(4)
    x = torch.rand(20, 24)
    check_close("ssim of an image with itself", ssim(x, x, 7), 1.0)
    check_ssim(x, (x + 0.1 * torch.randn(20, 24)).clamp(0, 1), 7, "an image and a noisy copy")
### BEGIN HIDDEN TESTS
check_written_here(ssim)
with exercise(4, "ssim"):
    check_ssim(torch.rand(15, 15), torch.rand(15, 15), 3, "two random images")
    check_ssim(x, 0.5 * x + 0.25, 5, "contrast halved")
    check_ssim(torch.full((9, 9), 0.3), torch.full((9, 9), 0.7), 7, "two flat images")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: why SSIM in the photometric loss? (2 points, graded by hand)
#
# The cell compares the L1 difference and $1 - \text{SSIM}$ for a brightness change and for a 1-pixel
# misalignment of the same texture. In three or four sentences: which of the two errors does each
# measure react to, why does that matter for Monodepth (the two cameras do not see exactly the same
# brightness), and why does Monodepth still keep a share of L1?

# %%
torch.manual_seed(5)
tex = torch.rand(32, 33)
base, brighter, shifted = tex[:, :32], (tex[:, :32] * 0.8 + 0.15), tex[:, 1:]
for name, other in [("brightness/contrast change", brighter), ("shifted by 1 px", shifted)]:
    print(f"{name:27s}: L1 = {(base - other).abs().mean():.3f}, 1 - SSIM = {1 - float(ssim(base, other, 7)):.3f}")

# %% [markdown] nbgrader={"grade": true, "grade_id": "ssim_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# L1 compares raw intensities, so it charges the brightness/contrast change an error (0.06) although the
# brightened image is perfectly aligned; SSIM normalises by the local means and variances, so it barely
# reacts to a brightness or contrast change (the structure term stays 1, 1 - SSIM = 0.03) and reacts
# fully to the shift (about 1), which destroys the local correlation of a fine texture. For Monodepth a wrong disparity *is* a
# misalignment, while the two cameras' exposure and vignetting differ: a pure L1 loss would push the
# disparity to explain brightness differences. SSIM alone is insensitive to flat regions and to a global
# intensity offset and has weak gradients on textureless areas, so a share of L1 (0.15 in Monodepth, with
# 0.85 of SSIM) keeps the colours anchored and stabilises training.
