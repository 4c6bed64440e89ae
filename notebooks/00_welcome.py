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
# # Welcome to Machine Learning for Computer Vision
#
# This course is a set of notebooks, one per chapter of the lecture notes. Each chapter reads like
# the lecture: the idea and its formula, the code that computes it, a picture or a widget to play
# with, a check against the notes' worked numbers, and a training cell that shows the idea working.
#
# **In this notebook** you check that your environment works, learn the three conventions every
# chapter follows, and try a first widget.
#
# **Time:** a few seconds (fast mode or full mode alike). **GPU:** not needed here.

# %%
# %matplotlib inline
from cvcourse.runtime import device, fast_mode, pick, seed_everything

seed_everything(0)  # every notebook starts from the same seed: reruns give the same numbers
print(f"computing on: {device()}, fast mode: {fast_mode()}")
RESULTS = {"device": str(device()), "fast_mode": fast_mode()}  # headline numbers, as in every chapter

# %% tags=["parameters"]
# The knobs of a notebook live in its `parameters` cell. In fast mode (CVCOURSE_FAST=1) they shrink.
image_stride = pick(full=1, fast=2)  # show the photo at full or half resolution

# %% [markdown]
# ## 1. Is everything installed?
#
# The table shows the versions, the device the course computes on (CUDA when PyTorch sees a GPU,
# then Apple's MPS, else the CPU; set `CVCOURSE_DEVICE` to choose) and whether fast mode is on.
# The last line runs a compiled torchvision operator: it fails when PyTorch and torchvision do not
# match, the most common broken install.

# %%
from cvcourse.welcome import environment_report

report = environment_report()
for name, value in report.items():
    print(f"{name:>28}: {value}")
assert report["torchvision ops"] == "ok", report["torchvision ops"]
RESULTS["torchvision_ops"] = report["torchvision ops"]

# %% [markdown]
# ## 2. How the course works
#
# - **Fast and full mode.** With `CVCOURSE_FAST=1` every notebook shrinks its data and epochs so it
#   runs in seconds (that is how the tests run them). Without it, training cells train for real:
#   minutes on a laptop CPU, seconds on a GPU.
# - **The code is the lesson.** Everything a notebook computes comes from the `cvcourse` package,
#   where each function carries the notes' formula in its docstring and is tested against the library
#   it mirrors (`torch.optim`, `torchvision`, ...). Read any of it with `??` or `inspect.getsource`.
# - **Nothing downloads unless you ask.** Data are synthetic scenes generated from a seed, and the
#   photographs that scikit-image ships; the trained models the chapters show ship in `data/`. The one
#   exception is a button: chapter 3's attention viewer can load torchvision's ImageNet ViT-B/16
#   weights (330 MB), only when you press it and only online (offline it says so). Below: one of each.

# %%
import matplotlib.pyplot as plt

from cvcourse.data import ShapesClassification, sample_image
from cvcourse.viz import show_images

shapes = ShapesClassification(8, size=64, seed=0)
images, labels = zip(*(shapes[i] for i in range(len(shapes))), strict=True)
show_images(list(images), titles=[shapes.classes[y] for y in labels], ncols=8,
            suptitle="Synthetic shapes, generated from seed 0")
plt.show()

# %% [markdown]
# ## 3. A first widget: image filters
#
# A filter replaces each pixel by a weighted sum of its neighbours, a convolution, the operation
# every CNN in this course is built from. A Gaussian blur with standard deviation $\sigma$ uses the
# weights $G_\sigma(x, y) = \frac{1}{2\pi\sigma^2} e^{-(x^2 + y^2)/(2\sigma^2)}$; Sobel filters
# approximate the image gradient, whose magnitude lights up edges.
#
# Pick a filter and drag the slider: the picture answers at once.

# %%
from cvcourse.welcome import filter_explorer

photo = sample_image("astronaut")[::image_stride, ::image_stride]
explorer = filter_explorer(photo)
explorer

# %% [markdown]
# The widget is a thin view over a pure function, `filter_image`, which you can call yourself. For
# instance, blurring never changes the mean brightness of the image (the Gaussian's weights sum to 1),
# up to what the border handling changes:

# %%
from cvcourse.welcome import filter_image

blurred = filter_image(photo, "gaussian blur", strength=3.0)
print(f"mean brightness before {photo.mean() / 255:.4f}, after blur {blurred.mean():.4f}")
assert abs(photo.mean() / 255 - blurred.mean()) < 1e-2
RESULTS["blur_mean_change"] = float(abs(photo.mean() / 255 - blurred.mean()))

# %% [markdown]
# ## Where to go next
#
# Open **01_optimizers** to start with how networks are trained, or jump to any chapter: each one
# stands on its own. When a cell takes longer than a couple of seconds it shows a progress bar; the
# stop button ends a training run cleanly and keeps what it has learnt so far.
