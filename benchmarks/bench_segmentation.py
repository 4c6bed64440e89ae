"""Speed of chapter 5a's segmentation ops next to their authorities, on CPU, in one run.

Metrics (a batch of 16 label maps of 256 x 256, 21 classes) against torchmetrics' functional
``multiclass_confusion_matrix`` / ``multiclass_jaccard_index`` / ``multiclass_accuracy``; upsampling
against ``torch.nn.functional`` (``interpolate``, ``max_unpool2d``, ``conv_transpose2d``,
``pixel_shuffle``); the pixel-wise losses against ``F.cross_entropy``. The scatter form of the
transposed convolution is a loop over input pixels, written to be read, not to be fast.

Prints the median time of each and the ratio ours / authority (> 1 = ours slower). Timings depend on
the machine and on its load: on a shared machine run it a few times.

    python benchmarks/bench_segmentation.py [--threads 1] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_jaccard_index,
)

from cvcourse.segmentation import losses, metrics
from cvcourse.segmentation import upsampling as up


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(name: str, ours: float, ref: float) -> None:
    print(f"{name:52s} ours {ours * 1e3:9.2f} ms   authority {ref * 1e3:9.2f} ms   ratio {ours / ref:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    r = args.repeats
    g = torch.Generator().manual_seed(0)
    c = 21
    target = torch.randint(0, c, (16, 256, 256), generator=g)
    preds = torch.where(
        torch.rand(target.shape, generator=g) < 0.3, torch.randint(0, c, target.shape, generator=g), target
    )
    target[:, :8] = 255
    kw = {"ignore_index": 255}
    print(f"threads {args.threads}, metrics on {list(target.shape)} labels, {c} classes, ignore_index 255")
    report(
        "confusion_matrix",
        median_time(lambda: metrics.confusion_matrix(preds, target, c, **kw), r),
        median_time(lambda: multiclass_confusion_matrix(preds, target, c, **kw), r),
    )
    report(
        "mean_iou (macro Jaccard)",
        median_time(lambda: metrics.mean_iou(preds, target, c, **kw), r),
        median_time(lambda: multiclass_jaccard_index(preds, target, c, average="macro", **kw), r),
    )
    report(
        "pixel_accuracy (micro accuracy)",
        median_time(lambda: metrics.pixel_accuracy(preds, target, c, **kw), r),
        median_time(lambda: multiclass_accuracy(preds, target, c, average="micro", **kw), r),
    )
    logits = torch.randn(8, c, 128, 128, generator=g)
    lab = torch.randint(0, c, (8, 128, 128), generator=g)
    report(
        "pixel_cross_entropy [8, 21, 128, 128]",
        median_time(lambda: losses.pixel_cross_entropy(logits, lab), r),
        median_time(lambda: F.cross_entropy(logits, lab), r),
    )

    x = torch.randn(8, 64, 64, 64, generator=g)
    print(f"upsampling on {list(x.shape)}")
    report(
        "nearest x2",
        median_time(lambda: up.nearest_upsample(x, 2), r),
        median_time(lambda: F.interpolate(x, scale_factor=2, mode="nearest"), r),
    )
    report(
        "bilinear x2 (align_corners=False)",
        median_time(lambda: up.bilinear_upsample(x, 2), r),
        median_time(lambda: F.interpolate(x, scale_factor=2, mode="bilinear"), r),
    )
    pooled, idx = F.max_pool2d(x, 2, return_indices=True)
    report(
        "max_unpool 2x2",
        median_time(lambda: up.max_unpool(pooled, idx, (64, 64)), r),
        median_time(lambda: F.max_unpool2d(pooled, idx, 2, output_size=(64, 64)), r),
    )
    report(
        "pixel_shuffle r=2",
        median_time(lambda: up.pixel_shuffle(x, 2), r),
        median_time(lambda: F.pixel_shuffle(x, 2), r),
    )
    small = torch.randn(2, 16, 16, 16, generator=g)
    w = torch.randn(16, 8, 4, 4, generator=g)
    report(
        "transposed conv, scatter loop [2, 16, 16, 16]",
        median_time(lambda: up.transposed_conv_scatter(small, w, 2, 1), r),
        median_time(lambda: F.conv_transpose2d(small, w, stride=2, padding=1), r),
    )
    y, k = (
        torch.randn(16, 16, generator=g, dtype=torch.float64),
        torch.randn(3, 3, generator=g, dtype=torch.float64),
    )
    report(
        "transposed conv, K^T matrix (1 channel, 16 -> 31)",
        median_time(lambda: up.transposed_conv_by_matrix(y, k, 31, 2, 1), r),
        median_time(lambda: F.conv_transpose2d(y[None, None], k[None, None], stride=2, padding=1), r),
    )


if __name__ == "__main__":
    main()
