"""Chapter 1 speed: trajectories, the explorer's update, optimizer steps, each beside its authority.

Run: ``python benchmarks/bench_optim.py`` (pin to one core for the issue's figures:
``taskset -c 0 python benchmarks/bench_optim.py``). Prints the best of several repeats (ms) and the
ratio ours / authority. Timings depend on the machine and its load; the first line calibrates by
the cost of one small NumPy operation.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import cvcourse.optim as co  # noqa: E402
from cvcourse.optim import surfaces  # noqa: E402
from cvcourse.optim.widgets import OPTIMIZERS, optimizer_specs, trajectory_explorer  # noqa: E402


def best_ms(fn, repeat: int = 20) -> tuple[float, float]:
    """(best wall time, best CPU time of this process) of fn() in milliseconds.

    On a shared machine the wall time includes waiting for a core; the CPU time does not.
    """
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.process_time() - c) * 1e3)
    return min(wall), min(cpu)


def main() -> None:
    torch.set_num_threads(1)
    x = np.zeros((6, 2))
    op_us = best_ms(lambda: [x * x for _ in range(1000)], 5)[0]
    print(f"calibration: one NumPy op on a [6, 2] array = {op_us:.2f} us")

    specs = optimizer_specs(OPTIMIZERS, lr=0.02)
    canyon = surfaces.canyon()
    torch_specs = {k: (getattr(torch.optim, cls.__name__), kw) for k, (cls, kw) in specs.items()}
    co.trajectories(canyon, specs, steps=300)  # warm up (torch's first optimizer import)
    fast = best_ms(lambda: co.trajectories(canyon, specs, steps=300))
    loop = best_ms(lambda: co.trajectories_loop(canyon, torch_specs, steps=300), 5)
    print(
        f"trajectories, 6 optimizers x 300 steps: {fast[0]:.1f} ms (CPU time {fast[1]:.1f}); "
        f"torch.optim loop: {loop[0]:.1f} ms; ratio ours/torch = {fast[0] / loop[0]:.3f} "
        f"(target <= 20 ms)"
    )

    widget = trajectory_explorer("canyon", names=OPTIMIZERS)
    lrs = iter(np.geomspace(1e-3, 0.05, 1000))
    update = best_ms(lambda: setattr(widget.controls["lr"], "value", float(next(lrs))))
    draw = best_ms(
        lambda: (
            setattr(widget.controls["lr"], "value", float(next(lrs))),
            widget.fig.canvas.draw(),
        ),
        10,
    )
    surface = best_ms(
        lambda: setattr(
            widget.controls["surface"],
            "value",
            "sphere" if widget.controls["surface"].value != "sphere" else "canyon",
        ),
        6,
    )
    print(
        f"explorer, learning-rate change (6 optimizers, 150 steps): {update[0]:.1f} ms "
        f"(CPU time {update[1]:.1f}); with a full Agg render: {draw[0]:.1f} ms "
        f"(CPU {draw[1]:.1f}); surface change: {surface[0]:.1f} ms (CPU {surface[1]:.1f}) "
        f"(target <= 100 ms of Python time)"
    )

    params = [torch.randn(s, dtype=torch.float32) for s in ((64, 3, 7, 7), (64,), (512, 512), (1000, 512))]
    for name, kwargs in (
        ("SGD", dict(lr=0.1, momentum=0.9)),
        ("Adagrad", {}),
        ("RMSprop", {}),
        ("Adam", {}),
        ("AdamW", {}),
    ):
        results = []
        for cls, extra in (
            (getattr(co, name), {}),
            (getattr(torch.optim, name), {"foreach": False}),
        ):
            ps = [p.clone().requires_grad_(True) for p in params]
            for p in ps:
                p.grad = torch.ones_like(p) * 1e-3
            opt = cls(ps, **kwargs, **extra)
            results.append(best_ms(opt.step, 20)[0])
        print(
            f"{name:8s} step on 0.8M parameters: ours {results[0]:.2f} ms, "
            f"torch.optim(foreach=False) {results[1]:.2f} ms, ratio {results[0] / results[1]:.2f}"
        )


if __name__ == "__main__":
    main()
