"""Forward time of every cvcourse reference model against the torchvision model it mirrors.

Both models get the same weights (ours strictly loads torchvision's state dict), run in eval mode
under ``torch.inference_mode`` on the same input, and are timed *interleaved* (ours, theirs, ours,
...) so that load from other processes hits both alike. Each row prints the median of ``repeats``
runs and the ratio ours / torchvision (target: within 10 %, i.e. ratio <= 1.10), in wall time and
in this process's CPU time (on CPU with one thread the CPU time is far less sensitive to other
processes on a shared machine). Numbers depend on the machine's load: run on an idle machine,

    python benchmarks/bench_architectures.py [--size 224] [--batch 1] [--repeats 15] [--threads 1]
    [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchvision

from cvcourse.architectures import BUILDERS


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(
    name: str, size: int, batch: int, repeats: int, device: torch.device
) -> tuple[float, float, float, float]:
    """Median (wall ours, wall torchvision, CPU ours, CPU torchvision) seconds of one forward."""
    kwargs = {"init_weights": False} if name == "googlenet" else {}
    theirs = getattr(torchvision.models, name)(weights=None, **kwargs).eval().to(device)
    ours = BUILDERS[name]().eval().to(device)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(batch, 3, size, size, device=device)
    times: dict[str, list[float]] = {"ours": [], "theirs": []}
    cpu: dict[str, list[float]] = {"ours": [], "theirs": []}
    with torch.inference_mode():
        for model in (ours, theirs, ours, theirs):  # warm-up
            model(x)
        torch.testing.assert_close(ours(x), theirs(x))  # same model, or the timing means nothing
        for _ in range(repeats):
            for key, model in (("ours", ours), ("theirs", theirs)):
                _sync(device)
                start, start_cpu = time.perf_counter(), time.process_time()
                model(x)
                _sync(device)
                times[key].append(time.perf_counter() - start)
                cpu[key].append(time.process_time() - start_cpu)
    med = {k: statistics.median(v) for k, v in (times | {f"cpu_{k}": c for k, c in cpu.items()}).items()}
    return med["ours"], med["theirs"], med["cpu_ours"], med["cpu_theirs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="*", default=list(BUILDERS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(
        f"input {args.batch}x3x{args.size}x{args.size}, {args.repeats} repeats, "
        f"{args.threads} thread(s), device {device}, torch {torch.__version__}"
    )
    print(
        f"{'model':<18}{'ours ms':>10}{'tv ms':>10}{'ratio':>8}{'ours cpu':>10}{'tv cpu':>10}"
        f"{'cpu ratio':>10}"
    )
    for name in args.models:
        ours, theirs, cpu_ours, cpu_theirs = bench(name, args.size, args.batch, args.repeats, device)
        flag = "" if min(ours / theirs, cpu_ours / cpu_theirs) <= 1.10 else "  (> 1.10)"
        print(
            f"{name:<18}{ours * 1e3:>10.2f}{theirs * 1e3:>10.2f}{ours / theirs:>8.3f}"
            f"{cpu_ours * 1e3:>10.2f}{cpu_theirs * 1e3:>10.2f}{cpu_ours / cpu_theirs:>10.3f}{flag}"
        )


if __name__ == "__main__":
    main()
