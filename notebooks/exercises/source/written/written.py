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

# %% [markdown]
# # Written assignment: the exercise sheet and the questions code cannot answer
#
# **What you practise.** Explaining the architectures of the course in your own words: the exercise
# sheet's questions 7-1 (backbones), 7-2 (detection) and 7-3 (segmentation), and one question from each
# of chapters 1, 4, 5, 6 and 7 that a computation alone does not answer. Every answer is graded by hand.
#
# **Points.** 19 questions, 30 points in all (shown with each question).
#
# **Time.** About two hours. Answer each question in the cell below it, replacing `YOUR ANSWER HERE`;
# a few precise sentences (and a formula where one is asked for) are better than a long text.

# %% [markdown]
# **7-1 (a)** The residual blocks of a ResNet compute $x_{l+1} = f_l(x_l) + x_l$, with $l$ the layer index,
# $f_l$ the $l$-th layer and $x_l$ the feature map at layer $l$. Express the final feature map $x_L$ as a
# function of $x_l$ for any $l = 1, \dots, L-1$ (it may also depend on the intermediate $x_i$, $i = l,
# \dots, L-1$). (1 point)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex7_1a", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# $x_L = f_{L-1}(x_{L-1}) + x_{L-1} = f_{L-1}(x_{L-1}) + f_{L-2}(x_{L-2}) + x_{L-2} = \dots = x_l +
# \sum_{i=l}^{L-1} f_i(x_i)$.

# %% [markdown]
# **7-1 (b)** From (a), derive $\frac{\partial \mathcal{L}}{\partial x_l}$, the gradient of the loss with
# respect to the feature $x_l$ in a residual network. Interpret the result. (2 points)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex7_1b", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# $\frac{\partial \mathcal{L}}{\partial x_l} = \frac{\partial \mathcal{L}}{\partial x_L}\frac{\partial
# x_L}{\partial x_l} = \frac{\partial \mathcal{L}}{\partial x_L}\Big(1 + \frac{\partial}{\partial
# x_l}\sum_{i=l}^{L-1} f_i(x_i)\Big) = \frac{\partial \mathcal{L}}{\partial x_L} + \frac{\partial
# \mathcal{L}}{\partial x_L}\frac{\partial}{\partial x_l}\sum_{i=l}^{L-1} f_i(x_i)$.
# The gradient that comes directly from the loss, $\partial\mathcal{L}/\partial x_L$, reaches every $x_l$
# without modification. This ensures useful gradients for all layers, while gradients propagated only
# through many layers may vanish or explode.

# %% [markdown]
# **7-1 (c)** In image classification a spatial feature map must at some point be reduced to a fixed-size
# vector, to arrive at logits for the whole image. Compare how this is done in ResNet and in the Vision
# Transformer (ViT). (2 points)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex7_1c", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ResNet uses global average pooling: $x_\text{cls} = \frac{1}{HW}\sum_{(i,j) \in [H]\times[W]} x_{ij}$. ViT
# feeds a dedicated, learned classification token next to the patch tokens; through self-attention it
# aggregates information from all other tokens. In both cases the resulting vector goes to a classification
# head (an MLP). Some ViT implementations use an average-pooled feature vector instead of the token.

# %% [markdown]
# **7-1 (d)** Compare ResNet, ViT and Swin regarding their inductive bias for image data. (2 points)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex7_1d", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# ResNet, a CNN, has the most inductive bias: convolutions explicitly build in locality and translation
# equivariance. ViT, a transformer with global self-attention (designed for text), does not build in such
# image-specific properties; its main source of inductive bias are the position embeddings, which let it
# leverage (not enforce) position and locality. Swin lies in between: attention instead of convolutions
# (less bias than ResNet), but restricted to local windows, which emphasises locality (more bias than ViT).

# %% [markdown]
# **7-2 (a)** Why is Faster R-CNN called a two-stage architecture (in comparison to YOLO)? (1 point)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex7_2a", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# The Region Proposal Network first produces box proposals, which a separate prediction head then refines
# and classifies: the final boxes come in two stages. One-stage detectors such as YOLO predict the final
# boxes with a single head, without that refinement step.

# %% [markdown]
# **7-2 (b)** Explain the purpose of RoI pooling in Faster R-CNN. (1 point)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex7_2b", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# The detection head needs features of a fixed size (7x7) for every proposal, whatever its size and shape.
# RoI pooling, a max pooling with adaptive window sizes, cuts the proposal's region out of the shared
# feature map and pools it to that fixed size; it is differentiable, so the head trains end to end on the
# shared features.

# %% [markdown]
# **7-2 (c)** What are anchor boxes and what is their purpose? (1 point)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex7_2c", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# Predefined boxes of specific heights and widths, placed at every position. The box subheads predict only
# offsets of the actual box w.r.t. its anchor, so each can specialise for objects of one shape and scale,
# which improves detection. The anchors must represent the object shapes of the data set well. Anchor-free
# detectors (e.g. DETR) exist too.

# %% [markdown]
# **7-2 (d)** What is non-maximum suppression (NMS) in object detection? (1 point)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex7_2d", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# Ideally a detector makes exactly one prediction per object, but sliding-window style detectors produce
# many redundant predictions of the same object. NMS is a post-processing step that suppresses every
# prediction that overlaps (IoU above a threshold) a prediction of higher confidence.

# %% [markdown]
# **7-2 (e)** In what regard is the training objective of DETR fundamentally different from preceding object
# detectors? (2 points)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex7_2e", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# DETR is a set-prediction approach: instead of a superset of predictions reduced by NMS, it is trained to
# predict the set of objects directly, without redundancy (Faster R-CNN is not penalised for two predictions
# of one object). The predictions must coordinate, which the decoder's self-attention does, and the
# predicted set is matched one-to-one with the ground truth by the Hungarian algorithm, so exactly one
# prediction is supervised positively per object.

# %% [markdown]
# **7-2 (f)** Using Mask R-CNN as the example, explain how an instance segmentation architecture is obtained
# from an object detector. (1 point)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex7_2f", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# Any detector can be extended by a further prediction branch for instance masks next to the class and box
# branches (if masks are predicted w.r.t. the whole image, the mask branch may even replace the box branch).
# In Mask R-CNN the mask branch is a small sequence of convolutions on the RoI-pooled (RoIAlign) features of
# each detection.

# %% [markdown]
# **7-3 (a)** Explain the differences between semantic, instance and panoptic segmentation. (2 points)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex7_3a", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Semantic: every pixel gets exactly one class (pixel-level classification; instances are not
# distinguished). Instance: object detection with a pixel mask per detected object (instances distinguished;
# no prediction for background pixels). Panoptic: the combination: every pixel gets one class and one
# instance id; for "thing" classes (countable: person, car) the ids are equal if and only if the pixels
# belong to the same instance, for "stuff" classes (sky, water) the id is not considered.

# %% [markdown]
# **7-3 (b)** Why is MaskFormer fundamentally different from preceding architectures for semantic
# segmentation? (1 point)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex7_3b", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# Earlier methods treat semantic segmentation as per-pixel classification. MaskFormer partitions the image
# into a set of segments (masks) and classifies each mask as a whole (mask classification).

# %% [markdown]
# **7-3 (c)** Compare the architectures of DETR and MaskFormer. (2 points)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex7_3c", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Both follow the set-prediction principle: a transformer decoder operates on learned queries and on image
# features from a backbone, and its output query embeddings produce the predictions. MaskFormer adds a pixel
# decoder whose per-pixel embeddings are multiplied with the query embeddings to give each query's mask.

# %% [markdown]
# **7-3 (d)** What is the central innovation of Mask2Former compared to MaskFormer on task level? (1 point)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex7_3d", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# Mask2Former unifies semantic, instance and panoptic segmentation: one architecture for all three tasks.
# Mask classification makes it possible, because whole masks can be treated as instances, which the per-
# pixel formulation cannot do without further ado.

# %% [markdown]
# **Chapter 1.** Adam usually lowers the training loss faster than SGD with momentum, yet well-tuned SGD
# with (Nesterov) momentum is still the default for training CNNs on ImageNet. Give two reasons from the
# chapter and say when you would pick Adam(W) instead. (2 points)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ch1_generalisation", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Adaptive methods rescale every coordinate by $1/\sqrt{\hat s}$, which speeds up training on badly scaled
# problems but changes which minimum is reached: in practice SGD with momentum and a learning-rate schedule
# tends to find solutions that generalise better on vision benchmarks, and its behaviour with weight decay
# is well understood, while Adam with an L2 penalty does not regularise as intended (hence AdamW). SGD also
# has fewer hyperparameters interacting with the schedule and less optimizer state (one buffer instead of
# two). I would pick AdamW for transformers (ViT, DETR), which are hard to train with SGD, for fine-tuning
# pre-trained models, and whenever little tuning time is available.

# %% [markdown]
# **Chapter 4.** The focal loss lets a one-stage detector train on all anchors at once. Explain the problem
# it solves (with the numbers: about $10^5$ anchors per image, a few dozen objects) and why a two-stage
# detector does not need it. (2 points)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ch4_anchor_free", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Of ~$10^5$ anchors only a few dozen overlap an object, so the cross-entropy is a sum over ~$10^5$ easy
# negatives; each contributes a small loss, but together they dominate the gradient and the rare positives
# barely train. The focal loss multiplies the cross-entropy by $(1-p_t)^\gamma$: an easy negative with $p_t
# = 0.99$ is down-weighted by $10^4$ for $\gamma = 2$, so the hard examples dominate; the prior-probability
# bias initialisation ($b = -\ln((1-\pi)/\pi) \approx -4.6$) keeps the first iterations stable. A two-stage
# detector filters first: the RPN and NMS keep ~2000 proposals, and the head is trained on sampled mini-
# batches with a fixed positive:negative ratio (e.g. 1:3), so the imbalance never reaches its loss.

# %% [markdown]
# **Chapter 5.** Why do segmentation networks down-sample and then up-sample instead of keeping the input
# resolution throughout? Name what a network that keeps the full resolution (at a fixed cost) would lose,
# and how U-Net and dilated convolutions each recover what down-sampling throws away. (2 points)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ch5_resolution", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Down-sampling is what makes large receptive fields (context: is this grey region road or sky?) affordable:
# at a fixed budget, full-resolution layers with small kernels see only a small neighbourhood, and memory
# and compute grow with the number of pixels in every layer. The price of down-sampling is lost spatial
# detail, so the prediction must be up-sampled back. U-Net's skip connections bring the encoder's high-
# resolution features to the decoder, so boundaries can be placed precisely; dilated (atrous) convolutions
# (DeepLab) enlarge the receptive field exponentially ($2^{L+1}-1$) without down-sampling, keeping the
# resolution at the cost of computing on larger feature maps.

# %% [markdown]
# **Chapter 6.** Why can a network trained on single images only predict depth up to an unknown scale unless
# something fixes it, and what fixes it for Monodepth? Which monocular cues can it use at all? (2 points)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ch6_scale", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# A single image is the same for a scene and for the same scene scaled by any factor (a toy car close by and
# a real car far away project identically), so absolute depth is not observable from one view. Monodepth is
# trained with stereo pairs of known baseline: the disparity it predicts must warp one view into the other,
# and disparity converts to metric depth through $z = b f / d$, which fixes the scale (trained on monocular
# video it is only known up to scale, hence median scaling at evaluation). At test time it can use cues such
# as the height in the image of the object's contact point with the ground, known object sizes, occlusion
# order, texture gradients and perspective; on the shapes scenes, the contact row carries most of the
# signal.

# %% [markdown]
# **Chapter 7.** Why is a plain autoencoder's latent space a poor place to sample new images from, and what
# in the VAE's loss changes that? (2 points)

# %% [markdown] nbgrader={"grade": true, "grade_id": "ch7_sampling", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# A plain autoencoder is only trained to reconstruct: its codes can sit anywhere, in a small, irregular
# region with gaps, and nothing says where to draw a new code; a random $z$ (or a point between two codes)
# usually decodes to something that is not an image of the data. The VAE encodes each image as a
# distribution and adds the KL term to $\mathcal{N}(0, I)$: codes are pushed to fill the prior, and the
# noise of the reparameterised sample forces nearby codes to decode to similar images, so the latent space
# becomes smooth and $z \sim \mathcal{N}(0, I)$ decodes to plausible images (at the price of blurrier
# reconstructions).
