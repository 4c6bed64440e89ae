"""Train one of chapter 4b's detectors and ship it: ``data/<kind>_shapes.pt``.

Usage (from the repository root)::

    python data/scripts/train_shapes_detector.py --kind retinanet   # writes data/retinanet_shapes.pt
    sha256sum data/retinanet_shapes.pt        # then replace its line in data/SHA256SUMS

The kind's class (``cvcourse.detection.pretrained.DETECTOR_CLASSES``) is built with its defaults and
trained with its module's ``TRAINING`` recipe (``epochs``, ``lr``, ``batch_size``, ``train_scenes``,
``weight_decay``; ``--epochs`` etc. override it) by ``train_detector`` on ``ShapesDetection`` scenes of
seed 0, then scored on ``ShapesDetection(500, seed=777)`` (never trained on) by
``evaluate_detector`` after its weights are rounded to float16 as stored. On the CPU the run is
deterministic (one thread, deterministic algorithms).

``--init FILE --train-seed S`` continues training from a shipped file on scenes of another seed (the
file's recipe and train time are kept in ``info["continued"]``). The shipped DETR was made in two runs::

    python data/scripts/train_shapes_detector.py --kind detr                     # 12 epochs, seed 0
    python data/scripts/train_shapes_detector.py --kind detr --init data/detr_shapes.pt \
        --train-seed 1 --epochs 8 --lr 2e-4                                      # 8 more, seed 1
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from pathlib import Path

import torch

from cvcourse.data import ShapesDetection
from cvcourse.detection.pretrained import (
    DETECTOR_CLASSES,
    detector_class,
    detector_file,
    half_rounded,
    load_shapes_detector,
    save_detector,
)
from cvcourse.detection.training import VAL_SEED, evaluate_detector, train_detector
from cvcourse.runtime import seed_everything

DATA = Path(__file__).resolve().parents[1]
SIZE, MAX_OBJECTS, VAL_SCENES, TRAIN_SEED = 64, 4, 500, 0
RECIPE_KEYS = ("epochs", "lr", "batch_size", "train_scenes", "weight_decay")


def machine(device: torch.device) -> str:
    """A short description of where the run happened (the train time depends on it)."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    threads = torch.get_num_threads()
    return f"cpu: {platform.processor() or platform.machine()}, {threads} thread(s), {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", required=True, choices=sorted(DETECTOR_CLASSES))
    parser.add_argument("--epochs", type=int, help="override TRAINING['epochs']")
    parser.add_argument("--lr", type=float, help="override TRAINING['lr']")
    parser.add_argument("--batch-size", type=int, help="override TRAINING['batch_size']")
    parser.add_argument("--train-scenes", type=int, help="override TRAINING['train_scenes']")
    parser.add_argument("--device", default="cpu", help="cpu (the shipped, deterministic run) or cuda")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    parser.add_argument("--out", type=Path, help="default data/<kind>_shapes.pt")
    parser.add_argument("--init", type=Path, help="continue from this shipped file (same kind)")
    parser.add_argument("--train-seed", type=int, default=TRAIN_SEED, help="seed of the training scenes")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    seed_everything(0)
    cls = detector_class(args.kind)
    recipe = dict(importlib.import_module(cls.__module__).TRAINING)
    for key in ("epochs", "lr", "batch_size", "train_scenes"):
        if getattr(args, key) is not None:
            recipe[key] = getattr(args, key)
    recipe = {k: recipe[k] for k in RECIPE_KEYS if k in recipe} | {
        k: v for k, v in recipe.items() if k not in RECIPE_KEYS
    }
    if args.train_seed == VAL_SEED:
        parser.error(f"--train-seed {VAL_SEED} is the validation seed")
    before = None
    if args.init is None:
        model = cls()
    else:
        model, before = load_shapes_detector(args.kind, path=args.init)
        model.train()
    print(
        f"{args.kind}: {sum(p.numel() for p in model.parameters())} parameters, recipe {recipe}", flush=True
    )
    history = train_detector(
        model,
        **recipe,
        seed=args.train_seed,
        device=device,
        size=SIZE,
        max_objects=MAX_OBJECTS,
        progress=True,
    )
    train_seconds = history.train_seconds
    model = half_rounded(model.cpu()).eval()
    start = time.perf_counter()
    scores = evaluate_detector(
        model, ShapesDetection(VAL_SCENES, size=SIZE, seed=VAL_SEED, max_objects=MAX_OBJECTS)
    )
    info = {
        "image_size": SIZE,
        "max_objects": MAX_OBJECTS,
        "val_seed": VAL_SEED,
        "val_scenes": VAL_SCENES,
        "map": scores["map"],
        "map_50": scores["map_50"],
        "map_75": scores["map_75"],
        "ms_per_image": scores["ms_per_image"],
        "params": scores["params"],
        "train_seconds": train_seconds,
        "eval_seconds": time.perf_counter() - start,
        "device": machine(device),
        "torch_version": str(torch.__version__),  # a plain str: weights_only loading refuses TorchVersion
        "python_version": sys.version.split()[0],
        "train_seed": args.train_seed,
        "recipe": recipe,
        "steps": len(history.steps["train_loss"]),
        "train_loss": [float(v) for v in history["train_loss"]],
        "history": {k: [float(v) for v in vals] for k, vals in history.items()},
    }
    if before is not None:  # a continued run: the file keeps the first run's record, plus this one's
        continued = {
            "recipe": recipe,
            "train_seed": args.train_seed,
            "train_seconds": train_seconds,
            "steps": info["steps"],
            "from_map_50": before["map_50"],
        }
        info = dict(before) | {k: info[k] for k in ("map", "map_50", "map_75", "ms_per_image", "params")}
        info["train_seconds"] = before["train_seconds"] + train_seconds
        info["continued"] = continued
    out = args.out or DATA / detector_file(args.kind)
    save_detector(model, args.kind, info, out)
    print(
        f"saved {out} ({out.stat().st_size / 2**20:.2f} MiB); "
        f"trained in {train_seconds:.0f} s on {info['device']}"
    )
    print(
        {k: round(info[k], 4) for k in ("map", "map_50", "map_75", "ms_per_image")},
        f"params {info['params']}",
    )


if __name__ == "__main__":
    main()
