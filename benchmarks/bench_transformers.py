"""Speed of chapter 3's reference code next to its authority, on CPU (the brief: within 10 %).

1. ``scaled_dot_product_attention`` vs ``F.scaled_dot_product_attention`` restricted to the math backend
   (the plain matmul-softmax-matmul PyTorch falls back to), with and without a causal mask.
2. Our ``vit_b_16`` forward vs torchvision's ``vit_b_16`` forward (same weights, eval, no grad).

Prints the median time of each and the ratio ours / authority (> 1 = ours slower). Timings depend on the
machine and on its load: run it on an otherwise idle machine.

    python benchmarks/bench_transformers.py [--threads 2] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torchvision.models import vit_b_16 as tv_vit_b_16

from cvcourse.transformers import scaled_dot_product_attention, vit_b_16


def median_time(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(name: str, ours: float, ref: float) -> None:
    print(f"{name:48s} ours {ours * 1e3:9.2f} ms   authority {ref * 1e3:9.2f} ms   ratio {ours / ref:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.repeats}")

    for B, h, L, d in [(8, 12, 197, 64), (4, 8, 512, 64)]:
        q, k, v = (torch.randn(B, h, L, d) for _ in range(3))
        for causal in (False, True):
            with torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
                ours = median_time(
                    partial(scaled_dot_product_attention, q, k, v, is_causal=causal), args.repeats
                )
                ref = median_time(
                    partial(F.scaled_dot_product_attention, q, k, v, is_causal=causal), args.repeats
                )
            report(f"attention B={B} h={h} L={L} d={d} causal={causal}", ours, ref)

    ours_model, ref_model = vit_b_16().eval(), tv_vit_b_16().eval()
    ours_model.load_state_dict(ref_model.state_dict())
    x = torch.randn(4, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours_model(x), ref_model(x), rtol=1e-4, atol=1e-4)
        ours = median_time(lambda: ours_model(x), args.repeats)
        ref = median_time(lambda: ref_model(x), args.repeats)
    report("ViT-B/16 forward, batch 4, 224 x 224", ours, ref)


if __name__ == "__main__":
    main()
