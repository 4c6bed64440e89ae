"""Speed of chapter 4b's detectors: our FPN next to torchvision's, and each shipped detector's inference.

* FPN forward, ours / ``torchvision.ops.FeaturePyramidNetwork`` with the same weights: three levels
  (the RetinaNet's C3-C5 of a batch of 32 64-pixel images, and a larger 256-channel pyramid), the ratio
  printed (> 1 = ours slower; the two compute the same convolutions, so about 1 is expected);
* inference ms per image of every shipped detector (``load_shapes_detector``; kinds whose file is
  not there yet are skipped): ``model.predict`` on 64 validation scenes (seed 777), batch 32,
  post-processing included.

Timings depend on the machine and its load: on a shared machine run it a few times.

    python benchmarks/bench_detectors.py [--threads 1] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import OrderedDict
from functools import partial

import torch
from torchvision.ops import FeaturePyramidNetwork as TVFeaturePyramidNetwork

from cvcourse.data import ShapesDetection
from cvcourse.detection.fpn import FeaturePyramidNetwork
from cvcourse.detection.pretrained import DETECTOR_CLASSES, load_shapes_detector
from cvcourse.detection.training import VAL_SEED, render_scenes


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_fpn(repeats: int) -> None:
    cases = {
        "FPN [48, 64, 96] -> 64, 32 x (8, 4, 2)^2": ([48, 64, 96], 64, 32, 8),
        "FPN [256, 512, 1024] -> 256, 2 x (64, 32, 16)^2": ([256, 512, 1024], 256, 2, 64),
    }
    g = torch.Generator().manual_seed(0)
    for name, (channels, out, n, size) in cases.items():
        ours = FeaturePyramidNetwork(channels, out).eval()
        theirs = TVFeaturePyramidNetwork(channels, out).eval()
        theirs.load_state_dict(ours.state_dict(), strict=True)
        x = OrderedDict(
            (f"c{i}", torch.randn(n, c, size >> i, size >> i, generator=g)) for i, c in enumerate(channels)
        )
        with torch.no_grad():
            t_ours = median_time(partial(ours, x), repeats)
            t_theirs = median_time(partial(theirs, x), repeats)
        print(
            f"{name:50s} ours {t_ours * 1e3:8.2f} ms   torchvision {t_theirs * 1e3:8.2f} ms   "
            f"ratio {t_ours / t_theirs:5.2f}"
        )


def predict_batches(model, batches) -> None:
    for images in batches:
        model.predict(images)


def bench_detectors(repeats: int) -> None:
    scenes = render_scenes(ShapesDetection(64, seed=VAL_SEED))
    for kind in DETECTOR_CLASSES:
        try:
            model, info = load_shapes_detector(kind)
        except (FileNotFoundError, ImportError) as err:
            print(f"{kind:12s} skipped: {type(err).__name__}: {str(err)[:80]}")
            continue
        batches = [scenes.images[i : i + 32] for i in range(0, len(scenes), 32)]
        seconds = median_time(partial(predict_batches, model, batches), repeats)
        print(
            f"{kind:12s} {seconds * 1e3 / len(scenes):7.2f} ms / image   "
            f"({info['params']} parameters, map_50 {info['map_50']:.3f} on seed {info['val_seed']})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    bench_fpn(args.repeats)
    bench_detectors(max(args.repeats // 2, 1))


if __name__ == "__main__":
    main()
