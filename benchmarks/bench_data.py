"""Throughput of the synthetic data sets on one CPU core, against the course's budget.

Budget (from the design): 1,000 detection samples of 64 x 64 in <= 2 s on one core. Every view is
timed generating ``n`` fresh samples (no cache), in wall time and in this process's CPU time (less
sensitive to other processes on a shared machine); the last column is CPU time / budget-scaled time,
so a ratio <= 1 meets the budget (it is meant for the detection row, the others are for comparison).
For reference, the same count of ``torch.rand`` images of the same shape is timed as a floor (the
cost of just allocating the tensors). Numbers depend on the machine's
load: run it on an idle machine, ``python benchmarks/bench_data.py [n]``.
"""

from __future__ import annotations

import sys
import time

import torch

from cvcourse.data import ShapesClassification, ShapesDetection, ShapesSegmentation, StereoShapes

BUDGET_PER_SAMPLE = 2.0 / 1000  # seconds, detection 64 x 64


def _time(dataset, n: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) to generate ``n`` samples."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        dataset[i]
    return time.perf_counter() - wall, time.process_time() - cpu


def main(n: int = 1000) -> None:
    torch.set_num_threads(1)
    views = [
        ("ShapesClassification size=32", ShapesClassification(n, size=32, cache=False), 32),
        ("ShapesDetection size=64", ShapesDetection(n, size=64), 64),
        (
            "ShapesSegmentation size=64 semantic",
            ShapesSegmentation(n, size=64, kind="semantic"),
            64,
        ),
        (
            "ShapesSegmentation size=64 panoptic",
            ShapesSegmentation(n, size=64, kind="panoptic"),
            64,
        ),
        ("StereoShapes size=64", StereoShapes(n, size=64), 64),
        ("ShapesDetection size=128", ShapesDetection(n, size=128), 128),
    ]
    print(
        f"{'view':38s} {'samples/s':>10s} {'wall ms':>8s} {'CPU ms':>7s} {'rand ms':>8s} "
        f"{'CPU/budget':>11s}"
    )
    for name, dataset, size in views:
        seconds, cpu = _time(dataset, n)
        start = time.perf_counter()
        for _ in range(n):
            torch.rand(3, size, size)
        floor = time.perf_counter() - start
        ratio = cpu / (n * BUDGET_PER_SAMPLE)
        print(
            f"{name:38s} {n / seconds:10.0f} {1e3 * seconds / n:8.2f} {1e3 * cpu / n:7.2f} "
            f"{1e3 * floor / n:8.3f} {ratio:11.2f}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
