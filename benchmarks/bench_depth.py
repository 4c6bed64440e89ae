"""Speed of chapter 6's reference code, on CPU (the brief: block matching on the full pair <= 5 s on 2 cores).

1. ``block_matching`` on the full Middlebury motorcycle pair (500 x 741, grey, disparities 0..64, 5 x 5
   window) with SAD, SSD and ZNCC, sub-pixel refinement included; the bad-pixel rates and end-point error
   against the ground truth are printed beside the time.
2. The box filter that aggregates the cost volume vs ``scipy.ndimage.uniform_filter`` (same numbers,
   ``mode="nearest"``) on a 65 x 500 x 741 volume.
3. ``ssim`` vs ``skimage.metrics.structural_similarity`` on the colour pair (7 x 7 window).
4. ``reconstruct_left`` (backward bilinear warp) on the colour pair.

Prints median times and ratios ours / authority (> 1 = ours slower), and for block matching also the CPU
seconds the process used (on a loaded machine the wall time overstates the cost; on an idle one with 2
threads the wall time is at most the CPU time). Run it on an otherwise idle machine.

    python benchmarks/bench_depth.py [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from scipy.ndimage import uniform_filter
from skimage.metrics import structural_similarity

from cvcourse.depth.matching import block_matching, box_filter
from cvcourse.depth.metrics import disparity_metrics
from cvcourse.depth.ssim import ssim
from cvcourse.depth.warp import reconstruct_left
from cvcourse.depth.widgets import middlebury


def median_time(fn, repeats: int, warmup: int = 1, clock=time.perf_counter) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    left, right, truth = middlebury(1)
    grey_l, grey_r = left.mean(0), right.mean(0)
    print(f"Middlebury motorcycle {tuple(truth.shape)}, {args.threads} threads, median of {args.repeats}")
    for cost in ("sad", "ssd", "zncc"):
        seconds = median_time(lambda c=cost: block_matching(grey_l, grey_r, 64, 5, c), args.repeats)
        # CPU seconds of this process (all threads): what the run costs whatever else the machine does
        cpu = median_time(lambda c=cost: block_matching(grey_l, grey_r, 64, 5, c), 1, 0, time.process_time)
        m = disparity_metrics(block_matching(grey_l, grey_r, 64, 5, cost), truth)
        verdict = "ok" if seconds <= 5 else "OVER the 5 s target"
        print(
            f"  block matching {cost:4s} 0..64 px, 5x5: {seconds:6.2f} s wall ({verdict}), {cpu:5.2f} s CPU  "
            f"EPE {m['epe']:.2f} px, "
            f"bad > 1 px {m['bad_1']:.1%}, bad > 3 px {m['bad_3']:.1%}"
        )
    volume = torch.rand(65, *truth.shape)
    ours = median_time(lambda: box_filter(volume, 5), args.repeats)
    theirs = median_time(lambda: uniform_filter(volume.numpy(), size=(1, 5, 5), mode="nearest"), args.repeats)
    print(f"  box filter 65x500x741, 5x5: ours {ours:.3f} s, scipy {theirs:.3f} s, ratio {ours / theirs:.2f}")
    x, y = left[None].double(), right[None].double()
    ours = median_time(lambda: ssim(x, y, 7), args.repeats)
    theirs = median_time(
        lambda: structural_similarity(x[0].numpy(), y[0].numpy(), channel_axis=0, win_size=7, data_range=1.0),
        args.repeats,
    )
    assert np.isclose(
        ssim(x, y, 7).item(),
        structural_similarity(x[0].numpy(), y[0].numpy(), channel_axis=0, win_size=7, data_range=1.0),
    )
    print(f"  SSIM 3 x 500 x 741: ours {ours:.3f} s, scikit-image {theirs:.3f} s, ratio {ours / theirs:.2f}")
    seconds = median_time(lambda: reconstruct_left(right[None], truth[None, None]), args.repeats)
    print(f"  reconstruct_left 3 x 500 x 741: {1000 * seconds:.1f} ms")


if __name__ == "__main__":
    main()
