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
# # Chapter 6: Depth estimation
#
# **What you will learn** (section 6 of the notes): stereo correspondence, $d = u_L - u_R$ and $z = bf/d$ on
# a real Middlebury pair with ground truth, and why far things are hard ($\Delta z \approx z^2/(bf)\,\Delta d$);
# classic block matching (a cost volume of SAD / SSD / ZNCC, winner-take-all, sub-pixel parabolas, the
# left-right check), measured with bad-pixel rates and end-point error, and where it fails; why supervised
# stereo is expensive; monocular depth and **Monodepth**: forward warping and its holes, backward bilinear
# sampling, the right-view pitfall and the correct flow (Figs. 6.1-6.4); its three losses with their
# gradients; where one image's depth can come from (a scene without any monocular cue, and shapes standing
# on a ground plane); a small Monodepth trained without any depth label, evaluated with the standard depth
# metrics, and which cue it reads (contact row, not size).
#
# Code: `cvcourse.depth` (SSIM checked against scikit-image, warps and matching against obvious loops).
#
# **How long**: fast mode (`CVCOURSE_FAST=1`) under a minute (half-resolution matching, a few training
# steps, the shipped model for the pictures); full mode about 8 minutes on a CPU (full-resolution matching,
# and a Monodepth trained here for 500 steps, most of the time). **GPU**: optional; it speeds up the training
# cell.

# %%
# %matplotlib inline
import inspect

import matplotlib.pyplot as plt
import numpy as np
import torch

from cvcourse.runtime import device, fast_mode, pick, seed_everything
from cvcourse.viz import style_axes

seed_everything(0)
torch.set_num_threads(pick(full=torch.get_num_threads(), fast=1))
DEVICE = device()
RESULTS = {"fast_mode": fast_mode()}  # the chapter's headline numbers, filled as the cells run

# %% tags=["parameters"]
SCALE = pick(full=1, fast=2)  # Middlebury pair: 1 = 500 x 741 as scikit-image ships it, 2 = half size
MAX_DISPARITY = 64 // SCALE  # disparities tried by block matching (true ones reach 60 px at full size)
TRAIN_PAIRS = pick(full=2000, fast=64)  # StereoShapes(scene="ground") pairs for the Monodepth trained here
TRAIN_EPOCHS = pick(full=4, fast=1)
TRAIN_STEPS = pick(full=None, fast=3)  # fast mode: a few steps, to show the loop runs
TEST_PAIRS = pick(full=500, fast=32)  # unseen pairs (seed 2) for the depth metrics

# %% [markdown]
# ## 6 Stereo correspondence
#
# In an ideal (rectified) stereo rig the two cameras differ by a horizontal translation, the **baseline**
# $b$. A 3D point projects to $(u_L, v_L)$ in the left image and to the **same row** $v_R = v_L$ in the right
# one, so finding correspondences is a search along rows (the epipolar lines). The **disparity** and the
# depth are
#
# $$d = u_L - u_R, \qquad z = \frac{b f}{d}$$
#
# with $f$ the focal length in pixels. The real pair here is Middlebury's "motorcycle" (2014), which
# scikit-image ships with its ground-truth disparity; its calibration adds `doffs`, the offset between the
# two principal points: $z = bf/(d + d_\text{offs})$.

# %%
from cvcourse.data import MOTORCYCLE_CALIBRATION
from cvcourse.depth.geometry import depth_resolution, disparity_to_depth
from cvcourse.depth.widgets import middlebury

left, right, truth = middlebury(SCALE)  # [3, H, W] in [0, 1], [H, W] in pixels (0 = unknown)
cal = dict(MOTORCYCLE_CALIBRATION)
cal["focal_length"] /= SCALE
cal["doffs"] /= SCALE  # pixel quantities shrink with the image; the baseline does not
known = truth > 0
depth = disparity_to_depth(truth.double(), cal["baseline"], cal["focal_length"], cal["doffs"])
u, v = int(truth.shape[1] * 0.55), truth.shape[0] // 2
assert abs(depth[v, u] - cal["baseline"] * cal["focal_length"] / (truth.double()[v, u] + cal["doffs"])) < 1e-9
print(f"image {tuple(truth.shape)}, ground truth on {known.double().mean():.1%} of the pixels, "
      f"disparity {truth[known].min():.1f} .. {truth[known].max():.1f} px, "
      f"depth {depth[known].min():.2f} .. {depth[known].max():.2f} m")

# %%
fig, axes = plt.subplots(2, 2, figsize=(11, 7), layout="constrained")
for ax, image, name in ((axes[0, 0], left, "left"), (axes[0, 1], right, "right")):
    ax.imshow(image.permute(1, 2, 0))
    for row in np.linspace(40, truth.shape[0] - 40, 6) / 1:
        ax.axhline(row, color="yellow", linewidth=0.8)  # epipolar lines: the same rows in both views
    style_axes(ax, f"{name} image with epipolar rows", "u (pixels)", "v (pixels)")
shown = axes[1, 0].imshow(np.where(known, truth, np.nan), cmap="turbo")
fig.colorbar(shown, ax=axes[1, 0], label="disparity d (pixels)")
style_axes(axes[1, 0], "true disparity (white: unknown)", "u (pixels)", "v (pixels)")
shown = axes[1, 1].imshow(np.where(known, depth, np.nan), cmap="turbo_r")
fig.colorbar(shown, ax=axes[1, 1], label="depth z (metres)")
style_axes(axes[1, 1], "depth z = b f / (d + doffs)", "u (pixels)", "v (pixels)")

# %% [markdown]
# **Why far things are hard.** Differentiating $z = bf/d$: $\partial z/\partial d = -bf/d^2 = -z^2/(bf)$, so one
# pixel of matching error costs
#
# $$\Delta z \approx \frac{z^2}{b f}\, \Delta d,$$
#
# growing with the square of the distance. For this rig:

# %%
near, far = depth[known].min().item(), depth[known].max().item()
for z in (near, far):
    dz = depth_resolution(z, cal["baseline"], cal["focal_length"]).item()
    print(f"z = {z:.2f} m: one pixel of disparity is {100 * dz:.1f} cm of depth ({dz / z:.1%} of z)")
ratio = depth_resolution(far, cal["baseline"], cal["focal_length"]) / depth_resolution(near, cal["baseline"],
                                                                                        cal["focal_length"])
assert abs(ratio - (far / near) ** 2) < 1e-9  # quadratic in the distance
RESULTS["depth_step_far_over_near"] = float(ratio)

# %% [markdown]
# ## Classic matching: cost volume, winner-take-all, sub-pixel, left-right check
#
# Local stereo (Scharstein & Szeliski 2002): for every left pixel and every candidate disparity $d$, compare
# a window around $(u, v)$ with the window around $(u - d, v)$ in the right image. Three costs, means over
# the window $W$ of $n$ pixels: **SAD** $\frac1n\sum|I_L - I_R|$, **SSD** $\frac1n\sum(I_L - I_R)^2$, and
# **ZNCC**, the correlation of the two windows after removing their means and dividing by their standard
# deviations (so it ignores gain and offset changes between the cameras), as the cost $1 - \text{ZNCC}$.
# All disparities at once give the **cost volume** $C[d, v, u]$; the window sums are box filters computed
# with cumulative sums, so a window costs the same whatever its size. **Winner-take-all** picks
# $\arg\min_d C$; a **parabola** through $C(d-1), C(d), C(d+1)$ refines it to sub-pixel.

# %%
from cvcourse.depth.matching import block_matching, cost_volume, left_right_check, subpixel_refine

print(inspect.getsource(subpixel_refine).split('"""')[-1])

# %%
from cvcourse.depth.metrics import disparity_metrics

grey_l, grey_r = left.mean(0), right.mean(0)
maps, table = {}, {}
for cost in ("sad", "ssd", "zncc"):
    maps[cost] = block_matching(grey_l, grey_r, MAX_DISPARITY, window=5, cost=cost)
    table[cost] = disparity_metrics(maps[cost], truth)
integer = block_matching(grey_l, grey_r, MAX_DISPARITY, window=5, cost="zncc", subpixel=False)
table["zncc, no sub-pixel"] = disparity_metrics(integer, truth)
for name, row in table.items():
    print(f"{name:20s} EPE {row['epe']:5.2f} px   bad > 1 px {row['bad_1']:6.1%}   bad > 3 px {row['bad_3']:6.1%}")
assert table["zncc"]["bad_3"] < table["sad"]["bad_3"]  # the two cameras' exposures differ: ZNCC copes
assert table["zncc"]["epe"] < table["zncc, no sub-pixel"]["epe"]
RESULTS.update({f"bm_{k.split(',')[0]}_{m}": v[m] for k, v in table.items() if "," not in k for m in ("epe", "bad_1",
                                                                                                       "bad_3")})

# %% [markdown]
# **The left-right check.** Match the other way too (the right view's disparity, by matching the mirrored pair)
# and keep a left pixel only if the right pixel it matched points back: $|d_L(u) - d_R(u - d_L(u))| \le 1$.
# Occluded pixels (seen by the left camera only) have no true match and fail it.

# %%
d_right = block_matching(grey_l, grey_r, MAX_DISPARITY, window=5, cost="zncc", view="right")
consistent = left_right_check(maps["zncc"], d_right, threshold=1.0)
checked = disparity_metrics(maps["zncc"], truth, mask=consistent)
print(f"kept {checked['coverage']:.1%} of the pixels with ground truth: bad > 3 px {checked['bad_3']:.1%} "
      f"(all pixels: {table['zncc']['bad_3']:.1%}), EPE {checked['epe']:.2f} px")
assert checked["bad_3"] < table["zncc"]["bad_3"]
RESULTS.update(lr_check_coverage=checked["coverage"], lr_check_bad_3=checked["bad_3"])

# %% [markdown]
# **Window size: detail against noise.** A small window follows depth edges but has little texture to
# match (noisy); a large one is reliable but blurs across edges ("fattening" of near objects).

# %%
windows = (3, 9, 21)
fig, axes = plt.subplots(1, len(windows), figsize=(13, 3.4), layout="constrained")
for ax, window in zip(axes, windows, strict=True):
    found = block_matching(grey_l, grey_r, MAX_DISPARITY, window=window, cost="zncc")
    score = disparity_metrics(found, truth)
    RESULTS[f"bm_zncc_window{window}_bad_3"] = score["bad_3"]
    ax.imshow(found, cmap="turbo", vmin=0, vmax=MAX_DISPARITY)
    style_axes(ax, f"ZNCC {window}x{window}: bad > 3 px {score['bad_3']:.1%}", "u (pixels)", "v (pixels)")

# %% [markdown]
# **Where it fails**, on this pair: **textureless** regions (a window with no structure matches anything:
# the floor, the black tyres), **occlusions** (pixels beside the motorbike seen by the left camera only: no
# match exists, and the left-right check flags them), and **repetition** (the spokes and the regular
# grille: several disparities match equally well). Red: error above 3 px.

# %%
error = (maps["zncc"] - truth).abs()
texture = torch.nn.functional.avg_pool2d((grey_l[None, None] - grey_l.mean()).abs(), 9, 1, 4)[0, 0]
flat = texture < texture[known].quantile(0.15)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
axes[0].imshow(grey_l, cmap="gray")
axes[0].imshow(np.ma.masked_where(~((error > 3) & known).numpy(), np.ones_like(error)), cmap="autumn", alpha=0.8)
style_axes(axes[0], "ZNCC 5x5 errors > 3 px (red)", "u (pixels)", "v (pixels)")
axes[1].imshow(np.ma.masked_where(consistent.numpy(), np.ones_like(error)), cmap="cool", vmin=0, vmax=1)
style_axes(axes[1], "pixels rejected by the left-right check", "u (pixels)", "v (pixels)")
bad_flat = ((error > 3) & known & flat).sum() / (known & flat).sum()
bad_textured = ((error > 3) & known & ~flat).sum() / (known & ~flat).sum()
print(f"bad > 3 px in the least textured 15%: {bad_flat:.1%}; elsewhere {bad_textured:.1%}")
RESULTS.update(bm_bad_3_textureless=float(bad_flat), bm_bad_3_textured=float(bad_textured))

# %% [markdown]
# ### Correspondence explorer
#
# Pick a left pixel (click, or the sliders): its epipolar row is drawn in the right image, with the
# matching cost at every disparity for the chosen cost and window, the winner (red) and the true match
# (green). The lower panel lays the right row over the left one, shifted by the winner. Try the black
# tyre (textureless), the spokes (repetition), and the region just left of the bike (occluded).

# %%
from cvcourse.depth.widgets import correspondence_explorer, pixel_costs

explorer = correspondence_explorer(scale=2, max_disparity=32)
explorer

# %%
e_left, e_right, _ = middlebury(2)
column = cost_volume(e_left, e_right, 32, 5, "zncc")[:, explorer.controls["row"].value, explorer.controls["col"].value]
assert torch.allclose(explorer.state["costs"], column, atol=1e-4)  # the widget shows the volume's column
explorer.controls["cost"].value = "sad"
assert explorer.state["winner"] == int(explorer.state["costs"].argmin())

# %% [markdown]
# ## Why supervised stereo is expensive
#
# A network can learn to match (it learns the costs and the aggregation), but supervising it needs the true
# disparity of every pixel: structured light, as Middlebury used for the pair above, or a LiDAR, as KITTI
# did (and KITTI's ground truth is sparse). As the notes remark, **for lack of such data, existing models are
# trained on synthetic data** (rendered scenes with exact disparity, like `StereoShapes` here)
# **and fine-tuned afterwards on the little real data there is.** Learning *without* depth labels avoids
# this: that is Monodepth.

# %% [markdown]
# ## 6.1 Monocular depth estimation
#
# Reconstruct the 3D structure from **one** image. In principle this is ill-posed (a small near object and a
# big far one give the same picture); humans solve it by learning the regularities of the world (sizes,
# perspective, occlusion, shading). Traditional supervised encoder-decoders need a large amount of realistic
# synthetic data and, for fine-tuning, expensive depth sensors.
#
# ### 6.1.1 Monodepth
#
# **Naive approach**: feed a CNN both images and make it predict the disparity: needs ground truth.
# **Reconstruction approach**: predict the left disparity and use it to *reconstruct* the other image; the
# photometric error is the training signal, no depth needed. (The notes write the correspondence as
# $u + \tilde d$; with $d = u_L - u_R$ it is $u - d$, the convention of our data.) Monodepth (Godard et al.
# 2017) takes only the left image as input and predicts disparity.
#
# **Fig. 6.1, naive training flow: forward warping.** Push each left pixel to $u - d$ in the right image:
# disparities are not integers (which pixel gets the colour?), several pixels land on one (ambiguous), and
# some right pixels receive none: **holes**. Here with the *true* disparity of the real pair:

# %%
from cvcourse.depth.warp import forward_warp, reconstruct_left, reconstruct_right

d_left = truth[None, None]
pushed, filled = forward_warp(left[None], d_left)
landing = torch.round(torch.arange(truth.shape[1]) - truth).long()
collisions = sum(len(r) - len(torch.unique(r)) for r in landing)  # left pixels that hit an occupied pixel
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
axes[0].imshow(pushed[0].permute(1, 2, 0))
style_axes(axes[0], f"forward warp of the left image: {(~filled).double().mean():.1%} holes (black)",
           "u (pixels)", "v (pixels)")
axes[1].imshow(right.permute(1, 2, 0))
style_axes(axes[1], "the real right image", "u (pixels)", "v (pixels)")
print(f"{collisions} left pixels land on an already-taken right pixel")
assert (~filled).any() and collisions > 0
RESULTS["forward_warp_hole_fraction"] = float((~filled).double().mean())

# %% [markdown]
# **Backward bilinear sampling** asks the other question: for each pixel of the image to build, *where does it
# come from?*, and interpolates there (differentiably). **Fig. 6.2, the pitfall**: rebuilding the *right*
# image backwards from the left one needs the disparity *of the right view*,
# $\tilde I_R(u) = I_L(u + d_R(u))$. Train that way and the network learns $d_R$, aligned with an image it
# will not have at test time. Using the left disparity in its place is wrong wherever the disparity varies:

# %%
from cvcourse.depth.losses import photometric_loss

d_right_true, seen = forward_warp(truth[None, None], d_left)  # the true right-view disparity (holes = 0)
valid_r = seen & (d_right_true > 0)
rebuilt_ok = reconstruct_right(left[None], d_right_true)
rebuilt_wrong = reconstruct_right(left[None], d_left)  # the left view's disparity used as the right's
err_ok = photometric_loss(right[None], rebuilt_ok, mask=valid_r).item()
err_wrong = photometric_loss(right[None], rebuilt_wrong, mask=valid_r).item()
print(f"right image rebuilt with the right view's disparity: {err_ok:.4f}; with the left view's: {err_wrong:.4f}")
assert err_ok < err_wrong

# %% [markdown]
# **Fig. 6.3/6.4, the correct flow**: predict the *left* disparity from the left image and rebuild the *left*
# image by sampling the right one (available at training time) backwards: $\tilde I_L(u) = I_R(u - d_L(u))$.
# With the true disparity the photometric error falls, as the physics says (on the pixels that are in view
# and have ground truth):

# %%
in_view = known[None, None] & ((torch.arange(truth.shape[1]) - truth) >= 0)
errors = {name: photometric_loss(left[None], reconstruct_left(right[None], d), mask=in_view).item()
          for name, d in (("zero disparity", torch.zeros_like(d_left)), ("true disparity", d_left),
                          ("block matching", maps["zncc"][None, None]))}
print({k: round(v, 4) for k, v in errors.items()})
assert errors["true disparity"] < 0.6 * errors["zero disparity"]
# Block matching chose, per pixel, what looks most alike: it can beat the truth on this error, which is
# why a photometric minimum is a good training signal but not the definition of depth.
RESULTS.update({f"photometric_{k.replace(' ', '_')}": v for k, v in errors.items()})

# %% [markdown]
# ### Warp explorer
#
# Scale and shift a disparity map (the true one, block matching's, or the shipped Monodepth's) and see the
# image it rebuilds, its error and the mean photometric error; switch between backward sampling (left from
# right) and forward splatting (right from left, with holes). For the true disparity, scale 1 and shift 0
# give the lowest error of all scales and shifts: that minimum is what Monodepth's training looks for.

# %%
from cvcourse.depth.widgets import warp_explorer

warper = warp_explorer(scale=2, max_disparity=32)
warper

# %%
best = warper.state["mean_error"]
warper.controls["shift"].value = 4.0
assert warper.state["mean_error"] > best  # moving away from the true disparity costs photometric error
warper.controls["shift"].value = 0.0

# %% [markdown]
# ## Monodepth's losses, each with its gradient
#
# - **Appearance** (photometric): $C_{ap} = \alpha\,\frac{1 - \mathrm{SSIM}(I, \tilde I)}{2} + (1-\alpha)\,|I - \tilde I|$,
#   $\alpha = 0.85$, SSIM over $3\times3$ windows (our `ssim` equals scikit-image's `structural_similarity`).
# - **Disparity smoothness**, edge-aware: $C_{ds} = \overline{|\partial_x d^*|\,e^{-|\partial_x I|} + |\partial_y d^*|\,e^{-|\partial_y I|}}$
#   ($d^* = d/\bar d$): disparity may jump where the image has an edge.
# - **Left-right consistency**: $C_{lr} = \overline{|d_L(u) - d_R(u - d_L(u))|}$: the two predicted maps must agree.
#
# On one `StereoShapes` pair, starting from the true disparity plus noise, the gradient of each loss with
# respect to the disparity shows what it pushes:

# %%
from cvcourse.data import StereoShapes
from cvcourse.depth.losses import lr_consistency_loss, smoothness_loss

pair = StereoShapes(1, size=64, seed=3).sample(0)
L, R, D = pair["left"][None], pair["right"][None], pair["disparity"][None, None]
noisy = (D + torch.randn(D.shape, generator=torch.Generator().manual_seed(0))).clamp(min=0.5).requires_grad_()
losses = {"appearance": photometric_loss(L, reconstruct_left(R, noisy)), "smoothness": smoothness_loss(noisy, L),
          "left-right": lr_consistency_loss(noisy, D.clone())}
grads = {name: torch.autograd.grad(loss, noisy)[0][0, 0] for name, loss in losses.items()}
fig, axes = plt.subplots(1, 4, figsize=(14, 3.2), layout="constrained")
axes[0].imshow(L[0].permute(1, 2, 0))
style_axes(axes[0], "left image", "u (pixels)", "v (pixels)")
for ax, (name, g) in zip(axes[1:], grads.items(), strict=True):
    limit = g.abs().max().item()
    ax.imshow(g, cmap="coolwarm", vmin=-limit, vmax=limit)
    style_axes(ax, f"d {name} / d disparity ({losses[name].item():.3f})", "u (pixels)", "v (pixels)")
assert all(g.abs().sum() > 0 for g in grads.values())

# %% [markdown]
# ## Where can one image's depth come from? Two scenes
#
# A monocular network can only learn depth if the image carries a **cue** to it. `StereoShapes` renders two
# scenes, both with exact disparity (`u_R = u_L - d`, the right view rendered from continuous coordinates):
#
# * `scene="layers"`: a background plane and shapes, each at a random disparity drawn independently of what
#   the scene looks like. One image then says *nothing* about depth: the best monocular guess is a constant.
# * `scene="ground"`: a tilted ground plane, as a car's camera sees the road (KITTI). A ground point at row
#   $v$ lies at depth $z = fh/(v - v_h)$ (camera height $h$, horizon row $v_h$), so its disparity
#   $d = bf/z = (b/h)(v - v_h)$ is **affine in the row**, $d(v) = a + bv$, larger towards the bottom. Each
#   shape stands on the ground (its disparity is the ground's at its lowest row) and its size is
#   proportional to its disparity (a fixed physical size); the texture lies on the plane, so it is
#   $d(v)$ times wider near the camera. Height in the image, size and texture gradient all tell depth.
#
# The simplest predictor that uses a cue: the median true disparity of each **row** over training pairs
# (it reads the labels, so it is a supervised yardstick, not a rival of the self-supervised network).

# %%
from cvcourse.depth.training import evaluate_disparity, row_prior, stereo_tensors

cue_rows = {}
for scene in ("layers", "ground"):
    train_scene = StereoShapes(pick(full=500, fast=48), size=64, seed=0, scene=scene)
    test_scene = StereoShapes(TEST_PAIRS, size=64, seed=2, scene=scene)
    prior = row_prior(train_scene)  # [H] median disparity of each row
    _, _, train_d = stereo_tensors(train_scene).tensors
    n = len(test_scene)
    cue_rows[scene] = {
        "row prior": evaluate_disparity(prior[None, :, None].expand(n, 64, 64), test_scene),
        "constant": evaluate_disparity(torch.full((n, 64, 64), train_d[train_d > 0].median().item()), test_scene),
    }
    print(f"{scene:7s} abs rel: row prior {cue_rows[scene]['row prior']['abs_rel']:.3f}, "
          f"constant {cue_rows[scene]['constant']['abs_rel']:.3f}")
# no cue in the layers scene: the row does no better than a constant; on the ground it is most of the answer
assert cue_rows["layers"]["row prior"]["abs_rel"] > 0.9 * cue_rows["layers"]["constant"]["abs_rel"]
assert cue_rows["ground"]["row prior"]["abs_rel"] < 0.5 * cue_rows["ground"]["constant"]["abs_rel"]
RESULTS.update({f"{scene}_{name.replace(' ', '_')}_abs_rel": row["abs_rel"]
                for scene, rows_ in cue_rows.items() for name, row in rows_.items()})

# %%
fig, axes = plt.subplots(2, 4, figsize=(12, 6), layout="constrained")
for r, scene in enumerate(("layers", "ground")):
    sample = StereoShapes(2, size=64, seed=5, scene=scene).sample(0)
    axes[r, 0].imshow(sample["left"].permute(1, 2, 0))
    axes[r, 1].imshow(sample["right"].permute(1, 2, 0))
    shown = axes[r, 2].imshow(torch.where(sample["valid"], sample["disparity"], torch.nan), cmap="turbo")
    fig.colorbar(shown, ax=axes[r, 2], label="disparity (px)")
    axes[r, 3].plot(sample["disparity"].mean(1), np.arange(64))
    axes[r, 3].invert_yaxis()
    for ax, name in zip(axes[r, :3], ("left", "right", "true disparity (left view)"), strict=True):
        style_axes(ax, f"{scene}: {name}", "u (pixels)", "v (pixels)")
    style_axes(axes[r, 3], f"{scene}: mean disparity of each row", "disparity (px)", "v (pixels)")

# %% [markdown]
# ## Training a small Monodepth without depth labels
#
# `Monodepth` is a 0.5 M-parameter encoder-decoder (four stride-2 stages, skip connections) that sees the left
# image only and outputs left and right disparities at four scales; the loss sums appearance, smoothness and
# left-right terms over the scales (paper eq. 1). It trains through `cvcourse.train.fit` with a `step_fn`;
# the true disparity rides along in the batch only to *report* validation abs rel. It trains on the ground
# scene (`info["scene"]` of the shipped model says so). Full mode trains one here; fast mode takes a few
# steps to show the loop, and the pictures use the shipped model.

# %%
from cvcourse.depth.pretrained import load_shapes_monodepth
from cvcourse.depth.training import FlipSwap, evaluate_depth, train_monodepth

shipped, info = load_shapes_monodepth()
assert info["scene"] == "ground"
train_set = FlipSwap(stereo_tensors(StereoShapes(TRAIN_PAIRS, size=64, seed=0, scene="ground")))
val_set = stereo_tensors(StereoShapes(pick(full=200, fast=16), size=64, seed=1, scene="ground"))
own, history = train_monodepth(train_set, val_set, epochs=TRAIN_EPOCHS, max_steps=TRAIN_STEPS, device=DEVICE)
print(f"trained here: {len(history.steps['train_loss'])} steps; the shipped model: {info['steps']} steps "
      f"on {info['data']}")

# %% [markdown]
# **Depth metrics** on unseen pairs (seed 2), against the true depth $z = bf/d$ over the pixels seen by both
# cameras: abs rel $\overline{|\hat z - z|/z}$, sq rel $\overline{(\hat z - z)^2/z}$, RMSE, RMSE log (metres),
# and $\delta < 1.25^k$, the fraction of pixels within a factor $1.25^k$. Beside the networks: the row prior
# and a constant disparity (the training set's median), on the ground scene and on the layers scene.

# %%
def print_table(title, table):
    print(f"{title:34s}" + "".join(f"{k:>9s}" for k in next(iter(table.values()))))
    for name, row in table.items():
        print(f"{name:34s}" + "".join(f"{v:9.3f}" for v in row.values()))


ground_test = StereoShapes(TEST_PAIRS, size=64, seed=2, scene="ground")
layers_test = StereoShapes(TEST_PAIRS, size=64, seed=2, scene="layers")
tables = {"ground": {"shipped Monodepth": evaluate_depth(shipped, ground_test),
                     "trained here": evaluate_depth(own.cpu(), ground_test),
                     "shipped, median-scaled": evaluate_depth(shipped, ground_test, median_scaling=True),
                     "shipped, shape pixels only": evaluate_depth(shipped, ground_test, region="shapes"),
                     **cue_rows["ground"]},
          "layers": {"shipped (ground-trained)": evaluate_depth(shipped, layers_test),
                     "shipped, median-scaled": evaluate_depth(shipped, layers_test, median_scaling=True),
                     **cue_rows["layers"]}}
for scene, table in tables.items():
    print_table(f"scene={scene!r}", table)
assert tables["ground"]["shipped Monodepth"]["abs_rel"] <= 0.15  # the chapter's target
RESULTS.update({f"shipped_{k}": v for k, v in tables["ground"]["shipped Monodepth"].items()})
RESULTS.update(shipped_median_scaled_abs_rel=tables["ground"]["shipped, median-scaled"]["abs_rel"],
               shipped_shapes_abs_rel=tables["ground"]["shipped, shape pixels only"]["abs_rel"],
               shipped_on_layers_abs_rel=tables["layers"]["shipped (ground-trained)"]["abs_rel"])

# %% [markdown]
# **Said plainly.** On the ground scene the self-supervised network meets the chapter's target
# (abs rel $\le 0.15$, the table) without ever seeing a depth label; median scaling, which fixes each
# image's scale from the ground truth, shows that its *relative* depth is better still: most of what is left
# is the overall scale of each scene (the camera's height and tilt vary from scene to scene). The row prior,
# which read the true labels, does better than the network on abs rel over all pixels (the table): on a
# ground plane the row *is* most of the answer, and a label-free network has to find each scene's scale from
# the photometric loss alone. On the shapes' pixels the network is weakest (it puts their disparity near that
# of the ground behind them, blurring the outline). On the layers scene nothing in one image tells depth: the row prior is no better than a constant,
# and a network (this one, or one trained on layers: `train_monodepth_shapes.py --scene layers`) cannot beat
# the constant either. This is the notes' "monocular depth is ill-posed" made concrete, and why Monodepth works
# on KITTI, whose roads and cars have exactly these cues.
#
# **Which cue does the network read?** As Dijk & de Croon (ICCV 2019, https://arxiv.org/abs/1905.07005) did
# for KITTI: put one disc on the ground, move its contact row $v$, and change its size at a fixed $v$ (scale
# 0.5, 1, 2 of the size a disc standing there has). A network that reads the height in the image follows the
# ground's $d(v)$ whatever the size; one that reads size predicts more disparity for the bigger disc.

# %%
from cvcourse.depth.cues import cue_probe

contact_rows, sizes = [24, 32, 40, 48, 56, 64], [0.5, 1.0, 2.0]
probe = cue_probe(shipped, contact_rows, sizes, seed=3)
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax.plot(contact_rows, probe["ground"], "k--", label="true: the ground's d(v) at the contact row")
for j, size_scale in enumerate(sizes):
    ax.plot(contact_rows, probe["predicted"][:, j], "o-", label=f"predicted, disc size x {size_scale}")
style_axes(ax, "Monodepth on one disc: contact row vs size", "contact row v (pixels)", "disparity (px)")
ax.legend(fontsize=8)
assert (np.diff(probe["predicted"], axis=0) > 0).all()  # the prediction follows the contact row
size_effect = (probe["predicted"][:, -1] - probe["predicted"][:, 0]).mean()  # 4x larger disc, same row
row_effect = (probe["predicted"][-1] - probe["predicted"][0]).mean()  # bottom vs top contact row
assert abs(size_effect) < 0.5 * row_effect  # the contact row matters far more than the size
RESULTS.update(probe_row_effect_px=float(row_effect), probe_size_effect_px=float(size_effect))
print(f"moving the disc from row {contact_rows[0]} to {contact_rows[-1]}: {row_effect:+.2f} px; "
      f"making it 4x larger in place: {size_effect:+.2f} px")

# %% [markdown]
# The network reads mostly the **contact row**: moving the disc down raises its predicted disparity almost as
# the ground's $d(v)$ does, while making it four times larger in place does not make it nearer (the change
# printed above is small, and its sign says a larger disc is, if anything, judged *farther*: its pixels reach
# rows higher up, where the ground is far). The same finding as Dijk & de Croon's on KITTI: vertical position,
# not apparent size. Below, the shipped model on unseen ground pairs.

# %%
fig, axes = plt.subplots(3, 4, figsize=(12, 8), layout="constrained")
images, _, disparities = stereo_tensors(StereoShapes(4, size=64, seed=2, scene="ground")).tensors
with torch.no_grad():
    predicted = shipped(images)[:, 0]
for i in range(4):
    axes[0, i].imshow(images[i].permute(1, 2, 0))
    axes[1, i].imshow(disparities[i], cmap="turbo", vmin=0, vmax=16)
    axes[2, i].imshow(predicted[i], cmap="turbo", vmin=0, vmax=16)
    for row, name in enumerate(("left image", "true disparity", "Monodepth's disparity")):
        style_axes(axes[row, i], f"{name} #{i}", "u (pixels)", "v (pixels)")

# %% [markdown]
# **On the Middlebury pair, for a look.** The model saw only 64 x 64 synthetic shapes: on a real photograph
# resized to its input it can say nothing reliable about depth (no real textures, objects or perspective in
# its training data). We show it because seeing a model fail outside its training distribution is a lesson
# too.

# %%
from cvcourse.depth.widgets import _predicted_disparity

look = _predicted_disparity(left)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
axes[0].imshow(np.where(known, truth, np.nan), cmap="turbo")
style_axes(axes[0], "true disparity", "u (pixels)", "v (pixels)")
axes[1].imshow(look, cmap="turbo")
style_axes(axes[1], "shapes-trained Monodepth on the real image", "u (pixels)", "v (pixels)")
RESULTS["middlebury_monodepth_bad_3"] = disparity_metrics(look, truth)["bad_3"]

# %% [markdown]
# **What to take away.** Depth from two views is a correspondence search along rows, $z = bf/d$, and its error
# grows as $z^2$. Block matching is a cost volume and an argmin; ZNCC, sub-pixel parabolas and the left-right
# check each measurably help, and textureless, occluded and repeated regions remain hard. Monodepth turns the
# second view into a training signal: predict the left disparity, rebuild the left image from the right one by
# backward sampling, and penalise appearance, roughness and left-right disagreement, with no depth label.

# %%
RESULTS
