"""Throughput of the synthetic data sets on one CPU core, against the course's budget.

Budget (from the design): 1,000 detection samples of 64 x 64 in <= 2 s on one core. Every view is
timed generating ``n`` fresh samples (no cache), in wall time and in this process's CPU time (less
sensitive to other processes on a shared machine); the last column is CPU time / budget-scaled time,
so a ratio <= 1 meets the budget (it is meant for the detection row, the others are for comparison).
For reference, the same count of ``torch.rand`` images of the same shape is timed as a floor (the
cost of just allocating the tensors). Numbers depend on the machine's
load: run it on an idle machine, ``python benchmarks/bench_data.py [n]``.

``python benchmarks/bench_data.py --learn`` measures instead that ``ShapesClassification`` is
learnable but not trivial: validation accuracy of a small CNN (three conv-BN-ReLU-pool blocks)
trained for a few epochs with Adam, next to a nearest-class-mean classifier on raw pixels.
"""

from __future__ import annotations

import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

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
        f"{'view':38s} {'samples/s':>10s} {'wall ms':>8s} {'CPU ms':>7s} {'rand ms':>8s} {'CPU/budget':>11s}"
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


def learn(n_train: int = 5000, n_val: int = 1000, epochs: int = 5, size: int = 32) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    train, val = (
        ShapesClassification(n_train, size, seed=0),
        ShapesClassification(n_val, size, seed=1),
    )
    x = torch.stack([train[i][0] for i in range(n_train)])  # [N, 3, H, W]
    y = torch.tensor([train[i][1] for i in range(n_train)])
    xv = torch.stack([val[i][0] for i in range(n_val)])
    yv = torch.tensor([val[i][1] for i in range(n_val)])
    means = torch.stack([x[y == c].mean(0) for c in range(len(train.classes))]).flatten(1)
    centroid = (torch.cdist(xv.flatten(1), means).argmin(1) == yv).float().mean().item()
    print(f"nearest class mean on pixels: val accuracy {centroid:.3f} (chance 0.2)")

    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [
            nn.Conv2d(c_in, c_out, 3, padding=1),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]

    model = nn.Sequential(
        *block(3, 16),
        *block(16, 32),
        *block(32, 64),
        nn.Flatten(),
        nn.Linear(64 * (size // 8) ** 2, len(train.classes)),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(n_train).split(64):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(xv).argmax(1) == yv).float().mean().item()
        print(f"small CNN epoch {epoch + 1}: val accuracy {accuracy:.3f}")


if __name__ == "__main__":
    if "--learn" in sys.argv:
        learn()
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
