"""Plausible wrong answers for every assignment, injected by tests/exercises/test_exercises.py.

``WRONG[assignment][student]`` is a list of ``(solution cell grade_id, text in the solution, wrong
text)``: every test cell of the assignment is hit by one mistake of each fake student, and must score
0 because a check failed (``CheckFailed``), not because the patched code crashed. Assignments without
autograded code (the written one) map to ``{}``.

``ROBUST[assignment]`` is a student whose answers break instead of being wrong (one raises, one
returns the wrong type, one never returns): ``broken`` maps each test cell hit to the error name and
a piece of the message the student must read; every other task must still score full marks.
"""

from __future__ import annotations

WRONG: dict[str, dict[str, list[tuple[str, str, str]]]] = {
    "ex01_optimizers": {
        "wrong_a": [
            # momentum with the wrong sign: v = mu v + lr g
            ("sgd_momentum_step", "momentum * velocity - lr * grad", "momentum * velocity + lr * grad"),
            # Nesterov's look-ahead forgotten: plain momentum in torch's form
            (
                "nesterov_step",
                "return theta - lr * (grad + momentum * buf), buf",
                "return theta - lr * buf, buf",
            ),
            # AdaGrad's sum instead of RMSProp's moving average
            ("rmsprop_step", "s = alpha * s + (1 - alpha) * grad * grad", "s = s + grad * grad"),
            # Adam without bias correction
            ("adam_step", "g_hat = g / (1 - beta1**t)", "g_hat = g"),
            ("adam_step", "s_hat = s / (1 - beta2**t)", "s_hat = s"),
            # AdamW as Adam with an L2 penalty: the decay goes through g and s
            (
                "adamw_step",
                "    theta = theta * (1 - lr * weight_decay)\n    return adam_step(theta, grad,",
                "    return adam_step(theta, grad + weight_decay * theta,",
            ),
        ],
        "wrong_b": [
            # momentum forgotten: plain SGD
            ("sgd_momentum_step", "momentum * velocity - lr * grad", "-lr * grad"),
            # a dampened buffer (1 - mu) g, as in an exponential average
            ("nesterov_step", "buf = momentum * buf + grad", "buf = momentum * buf + (1 - momentum) * grad"),
            # eps inside the square root: only the hidden tests (large eps) catch it
            ("rmsprop_step", "(s.sqrt() + eps)", "(s + eps).sqrt()"),
            # betas hard-coded to the defaults: only the hidden tests (other betas) catch it
            ("adam_step", "beta1, beta2 = betas", "beta1, beta2 = 0.9, 0.999"),
            # the decay not multiplied by lr (the notes' form, not torch's)
            ("adamw_step", "theta * (1 - lr * weight_decay)", "theta * (1 - weight_decay)"),
        ],
    },
    "ex02_architectures": {
        "wrong_a": [
            # the groups ignored: every output channel sees every input channel
            ("conv_cost", "c_out * (c_in // groups) * k * k", "c_out * c_in * k * k"),
            # the strides forgotten: r = 1 + sum (k - 1)
            ("receptive_field", "jump *= s", "jump *= 1"),
            # the skip connection forgotten: x_{l+1} = f_l(x_l)
            ("residual_features", "block(features[-1]) + features[-1]", "block(features[-1])"),
            # the Jacobian of x_L itself (I + B) instead of the branch term B
            ("residual_branch_jacobian", "        return total\n", "        return x\n"),
            # no sigmoid: the channel weights are not gates in (0, 1)
            (
                "squeeze_excitation",
                "torch.sigmoid(torch.relu(z @ w1.T + b1) @ w2.T + b2)",
                "torch.relu(z @ w1.T + b1) @ w2.T + b2",
            ),
            # ReLU before the sum with the skip instead of after it
            ("bottleneck_forward", "return torch.relu(out + skip)", "return torch.relu(out) + skip"),
        ],
        "wrong_b": [
            # the cost of one output pixel, not of the whole map
            ("conv_cost", "weights * h_out * w_out", "weights"),
            # off by one: r starts at 0
            ("receptive_field", "r, jump = 1, 1", "r, jump = 0, 1"),
            # only the last feature returned, not the list of all of them
            ("residual_features", "    return features\n", "    return features[-1]\n"),
            # only the first block's Jacobian, the deeper blocks forgotten
            ("residual_branch_jacobian", "for block in blocks[l:]:", "for block in blocks[l:l + 1]:"),
            # max pooling instead of the average in the squeeze
            ("squeeze_excitation", "z = x.mean(dim=(2, 3))", "z = x.amax(dim=(2, 3))"),
            # the last batch norm forgotten
            ("bottleneck_forward", "out = block.bn3(block.conv3(out))", "out = block.conv3(out)"),
        ],
    },
    "ex03_transformers": {
        "wrong_a": [
            # no 1/sqrt(d_K) temperature
            ("scaled_dot_product_attention", " / q.shape[-1] ** 0.5", ""),
            # the diagonal masked too: a token may not attend to itself
            ("causal_mask", "index[None, :] <= index[:, None]", "index[None, :] < index[:, None]"),
            # heads split by a reshape without the transpose: tokens and heads mixed up
            (
                "multi_head_self_attention",
                "return x.reshape(b, n, heads, d // heads).transpose(1, 2)",
                "return x.reshape(b, heads, n, d // heads)",
            ),
            # pixels flattened channel last instead of channel first
            ("patch_embedding", ".permute(0, 2, 4, 1, 3, 5)", ".permute(0, 2, 4, 3, 5, 1)"),
            # cos in the even columns too
            (
                "sinusoidal_positions",
                "pe[:, 0::2] = torch.sin(pos * omega)",
                "pe[:, 0::2] = torch.cos(pos * omega)",
            ),
            # no check of the input's dimension
            (
                "cls_vs_gap",
                "    if x.dim() != 4:\n        raise ValueError",
                "    if False:\n        raise ValueError",
            ),
        ],
        "wrong_b": [
            # mask applied to the weights after the softmax: rows no longer sum to 1
            (
                "scaled_dot_product_attention",
                "    if mask is not None:\n"
                '        scores = scores.masked_fill(~mask, float("-inf"))\n'
                "    return torch.softmax(scores, dim=-1) @ v",
                "    weights = torch.softmax(scores, dim=-1)\n"
                "    if mask is not None:\n        weights = weights * mask\n"
                "    return weights @ v",
            ),
            # the upper triangle: every token sees the future
            ("causal_mask", "index[None, :] <= index[:, None]", "index[None, :] >= index[:, None]"),
            # heads merged by a reshape without the transpose
            (
                "multi_head_self_attention",
                "return x.transpose(1, 2).reshape(b, n, h * d)",
                "return x.reshape(b, n, h * d)",
            ),
            # the bias forgotten
            ("patch_embedding", " @ weight.flatten(1).T + bias", " @ weight.flatten(1).T"),
            # exponent i/d instead of 2i/d: frequencies too high
            (
                "sinusoidal_positions",
                "torch.arange(0, d, 2, dtype=torch.float64) / d",
                "torch.arange(d // 2, dtype=torch.float64) / d",
            ),
            # [CLS] appended at the end instead of position 0
            (
                "cls_vs_gap",
                "[cls_token.expand(patches.shape[0], -1, -1), patches]",
                "[patches, cls_token.expand(patches.shape[0], -1, -1)]",
            ),
        ],
    },
    "ex04_detection": {
        "wrong_a": [
            # the union without subtracting the intersection
            (
                "box_iou",
                "inter / (area1[:, None] + area2[None, :] - inter)",
                "inter / (area1[:, None] + area2[None, :])",
            ),
            # boxes taken in the given order, not by decreasing score
            ("nms", "order = torch.argsort(scores, descending=True)", "order = torch.arange(len(scores))"),
            # recall over the objects found, not over all objects
            ("average_precision", "tp / ranks, tp / num_gt", "tp / ranks, tp / tp[-1]"),
            # bin ends rounded down: bins do not overlap and miss pixels
            ("roi_max_pool", "math.ceil((i + 1) * height / h)", "math.floor((i + 1) * height / h)"),
            # no anchor for an object whose best IoU is below the threshold
            ("label_anchors", "labels[(iou == per_gt).any(dim=0)] = 1", "labels = labels"),
            # alpha for the negatives, 1 - alpha for the positives
            (
                "focal_loss",
                "alpha_t = alpha * targets + (1 - alpha) * (1 - targets)",
                "alpha_t = (1 - alpha) * targets + alpha * (1 - targets)",
            ),
            # the class probability as a cost instead of a reward
            ("matching_cost", "cls = -probs[:, labels]", "cls = probs[:, labels]"),
        ],
        "wrong_b": [
            # no clamp: boxes apart get a positive "intersection" (two negative sides)
            ("box_iou", ".clamp(min=0)", ""),
            # suppressing at IoU equal to the threshold too: only the hidden tests catch it
            ("nms", "<= iou_threshold", "< iou_threshold"),
            # the mean precision over all ranks, not at the recall steps
            ("average_precision", "float((steps * precision).sum())", "float(precision.mean())"),
            # average pooling instead of max pooling
            (
                "roi_max_pool",
                "region[:, r0:r1, c0:c1].amax(dim=(1, 2))",
                "region[:, r0:r1, c0:c1].mean(dim=(1, 2))",
            ),
            # an IoU equal to `high` not positive: only the hidden tests catch it
            ("label_anchors", "labels[best >= high] = 1", "labels[best > high] = 1"),
            # (1 - p)^gamma instead of (1 - p_t)^gamma
            ("focal_loss", "(1 - p_t) ** gamma", "(1 - p) ** gamma"),
            # the GIoU as a cost instead of a reward
            ("matching_cost", "w_l1 * l1 - w_giou * giou", "w_l1 * l1 + w_giou * giou"),
        ],
    },
    "ex05_segmentation": {
        "wrong_a": [
            # the union without subtracting the diagonal
            (
                "iou_from_confusion",
                "confusion.sum(dim=0) + confusion.sum(dim=1) - tp",
                "confusion.sum(dim=0) + confusion.sum(dim=1)",
            ),
            # corners aligned (no half-pixel offset)
            (
                "bilinear_resize",
                "((torch.arange(n_out, dtype=torch.float64) + 0.5) * n_in / n_out - 0.5)",
                "(torch.arange(n_out, dtype=torch.float64) * n_in / n_out)",
            ),
            # overlapping windows overwritten instead of added
            ("conv_transpose", " += contribution", " = contribution"),
            # the dilation forgotten
            ("dilated_receptive_field", "d * (k - 1)", "(k - 1)"),
            # FP and FN counted fully instead of by halves
            ("panoptic_quality", "(tp + fp / 2 + fn / 2)", "(tp + fp + fn)"),
        ],
        "wrong_b": [
            # absent classes as IoU 0 in the mean: only the hidden tests (absent classes) catch it
            ("iou_from_confusion", "per_class.nanmean()", "per_class.nan_to_num(0.0).mean()"),
            # no clamp at the border: index -1 wraps around
            ("bilinear_resize", ".clamp(0, n_in - 1)", ""),
            # the kernel flipped (a convolution's habit)
            (
                "conv_transpose",
                'torch.einsum("bc,cokl->bokl", x[:, :, i, j], weight)',
                'torch.einsum("bc,cokl->bokl", x[:, :, i, j], weight.flip(-2, -1))',
            ),
            # off by one: the centre pixel forgotten
            ("dilated_receptive_field", "return 1 + sum(", "return sum("),
            # SQ only: unmatched segments not penalised
            ("panoptic_quality", "/ (tp + fp / 2 + fn / 2)", "/ max(tp, 1)"),
        ],
    },
    "ex06_depth": {
        "wrong_a": [
            # doffs forgotten
            (
                "disparity_to_depth",
                "baseline * focal_length / (disparity + doffs)",
                "baseline * focal_length / disparity",
            ),
            # the wrong disparity sign: sampling at u + d
            (
                "backward_warp",
                "torch.arange(width, dtype=right.dtype) - disparity",
                "torch.arange(width, dtype=right.dtype) + disparity",
            ),
            # the right image shifted the wrong way
            ("sad_cost_volume", "shifted[:, d:] = right[:, : w - d]", "shifted[:, : w - d] = right[:, d:]"),
            # the constants not squared
            ("ssim", "c1, c2 = 0.01**2, 0.03**2", "c1, c2 = 0.01, 0.03"),
        ],
        "wrong_b": [
            # the inverse adds doffs instead of subtracting it
            (
                "disparity_to_depth",
                "baseline * focal_length / depth - doffs",
                "baseline * focal_length / depth + doffs",
            ),
            # border padding instead of zeros outside the view
            ("backward_warp", "torch.where(inside, right.gather(-1, index), 0.0)", "right.gather(-1, index)"),
            # the mean of the window instead of its sum
            (
                "sad_cost_volume",
                "F.conv2d(diff, kernel, padding=window // 2)",
                "F.avg_pool2d(diff, window, stride=1, padding=window // 2)",
            ),
            # sigma_x sigma_y instead of the covariance: the structure term lost
            ("ssim", "(2 * cxy + c2)", "(2 * (vx * vy).clamp(min=0) ** 0.5 + c2)"),
        ],
    },
    "ex07_autoencoders": {
        "wrong_a": [
            # the -1 forgotten
            ("gaussian_kl", "(mu**2 + logvar.exp() - logvar - 1)", "(mu**2 + logvar.exp() - logvar)"),
            # sigma = exp(logvar): the variance used as the standard deviation
            ("reparameterize", "(0.5 * logvar).exp() * eps", "logvar.exp() * eps"),
            # the normalising constant forgotten
            ("gaussian_log_prob", "math.log(2 * math.pi) + logvar + ", "logvar + "),
            # KL(p || q)'s integrand: the two densities swapped
            (
                "monte_carlo_kl",
                "gaussian_log_prob(z, mu, logvar) - gaussian_log_prob(z, zeros, zeros)",
                "gaussian_log_prob(z, zeros, zeros) - gaussian_log_prob(z, mu, logvar)",
            ),
            # beta ignored
            ("beta_vae_loss", "beta * gaussian_kl(mu, logvar)", "gaussian_kl(mu, logvar)"),
        ],
        "wrong_b": [
            # the mean over latent dimensions instead of the sum
            (
                "gaussian_kl",
                "(mu**2 + logvar.exp() - logvar - 1).sum(dim=-1)",
                "(mu**2 + logvar.exp() - logvar - 1).mean(dim=-1)",
            ),
            # the sample detached: no gradient reaches the encoder
            (
                "reparameterize",
                "return mu + (0.5 * logvar).exp() * eps",
                "return (mu + (0.5 * logvar).exp() * eps).detach()",
            ),
            # divided by sigma instead of sigma^2
            ("gaussian_log_prob", "(z - mu) ** 2 / logvar.exp()", "(z - mu) ** 2 / (0.5 * logvar).exp()"),
            # fresh noise instead of the given samples
            (
                "monte_carlo_kl",
                "z = reparameterize(mu, logvar, eps)",
                "z = reparameterize(mu, logvar, torch.randn_like(eps))",
            ),
            # the mean over pixels instead of the sum: the KL dominates
            (
                "beta_vae_loss",
                "((x - x_hat) ** 2).flatten(1).sum(dim=1)",
                "((x - x_hat) ** 2).flatten(1).mean(dim=1)",
            ),
        ],
    },
    "written": {},  # answers graded by hand only
    "project_segmentation": {  # one fake student: each one trains the network (seconds of CPU)
        "wrong_a": [
            # the encoder's output detached: the pre-trained weights are never fine-tuned
            ("TinySegmenter", "self.encoder(images), size=", "self.encoder(images).detach(), size="),
            # the optimizer never steps: the mIoU stays at its initial value
            ("train_segmenter", "            optimizer.step()\n", "            pass\n"),
            # keys and values from all N tokens: no spatial reduction
            (
                "spatial_reduction_attention",
                "kv = sra.norm(sra.sr(grid).flatten(2).transpose(1, 2))",
                "kv = sra.norm(x)",
            ),
        ],
    },
}

FIRST_EXERCISE = {
    "ex01_optimizers": "Exercise 1 (`sgd_momentum_step`) is not answered yet",
    "ex02_architectures": "Exercise 1 (`conv_cost`) is not answered yet",
    "ex03_transformers": "Exercise 1 (`scaled_dot_product_attention`) is not answered yet",
    "ex04_detection": "Exercise 1 (`box_iou`) is not answered yet",
    "ex05_segmentation": "Exercise 1 (`iou_from_confusion`) is not answered yet",
    "ex06_depth": "Exercise 1 (`disparity_to_depth`) is not answered yet",
    "ex07_autoencoders": "Exercise 1 (`gaussian_kl`) is not answered yet",
    "project_segmentation": "Exercise 1 (`TinySegmenter.__init__`) is not answered yet",
}

ROBUST = {
    "ex01_optimizers": {
        "mistakes": [
            (
                "sgd_momentum_step",
                "velocity = momentum * velocity - lr * grad",
                'raise RuntimeError("my bug")',
            ),
            (
                "nesterov_step",
                "return theta - lr * (grad + momentum * buf), buf",
                "return [theta.tolist(), buf.tolist()]",
            ),
            ("rmsprop_step", "s = alpha * s + (1 - alpha) * grad * grad", "while True:\n        pass"),
        ],
        "broken": {
            "test_sgd_momentum_step": (
                "RuntimeError",
                "raised while checking Exercise 1, `sgd_momentum_step`",
            ),
            "test_nesterov_step": ("CheckFailed", "theta after step 1 should be a torch.Tensor, got list"),
            "test_rmsprop_step": (
                "TimeLimitExceeded",
                "Exercise 3 (`rmsprop_step`) did not finish within 30 s",
            ),
        },
    },
}
