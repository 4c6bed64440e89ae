"""Train chapter 5b's small Mask R-CNN and ship it: ``data/mask_rcnn_shapes.pt``.

Usage (from the repository root)::

    python data/scripts/train_shapes_mask_rcnn.py            # writes data/mask_rcnn_shapes.pt
    sha256sum data/mask_rcnn_shapes.pt                       # then replace its line in data/SHA256SUMS

``build_shapes_mask_rcnn()`` (defaults) is trained by ``train_mask_rcnn`` with the module's
``TRAINING`` recipe (``--epochs`` etc. override it) on ``ShapesSegmentation(kind="instance")`` scenes of
seed 0, then scored on ``ShapesSegmentation(500, seed=777, kind="instance")`` (never trained on) by
``evaluate_mask_rcnn`` (mask AP = pycocotools' segm mode, box AP = its bbox mode) after its weights are
rounded to float16 as stored. On the CPU the run is deterministic (one thread, deterministic algorithms).

``--init FILE --train-seed S`` continues training from a file this script wrote, on scenes of another
seed (the first run's record is kept in ``info``, this one's in ``info["continued"]``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch

from cvcourse.data import ShapesSegmentation
from cvcourse.runtime import seed_everything
from cvcourse.segmentation.small_mask_rcnn import (
    FILE_NAME,
    TRAINING,
    VAL_SEED,
    build_shapes_mask_rcnn,
    evaluate_mask_rcnn,
    save_mask_rcnn,
    train_mask_rcnn,
)

DATA = Path(__file__).resolve().parents[1]
VAL_SCENES, TRAIN_SEED, MAX_OBJECTS = 500, 0, 4


def machine(device: torch.device) -> str:
    """A short description of where the run happened (the train time depends on it)."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    threads = torch.get_num_threads()
    return f"cpu: {platform.processor() or platform.machine()}, {threads} thread(s), {os.cpu_count()} cores"


def half_rounded(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with its floating-point weights rounded to float16 and back (what the file stores)."""
    state = {k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, help="override TRAINING['epochs']")
    parser.add_argument("--lr", type=float, help="override TRAINING['lr']")
    parser.add_argument("--batch-size", type=int, help="override TRAINING['batch_size']")
    parser.add_argument("--train-scenes", type=int, help="override TRAINING['train_scenes']")
    parser.add_argument("--val-scenes", type=int, default=VAL_SCENES, help="scenes of seed 777 scored")
    parser.add_argument("--device", default="cpu", help="cpu (the shipped, deterministic run) or cuda")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    parser.add_argument("--out", type=Path, help=f"default data/{FILE_NAME}")
    parser.add_argument("--init", type=Path, help="continue from this file (written by this script)")
    parser.add_argument("--train-seed", type=int, default=TRAIN_SEED, help="seed of the training scenes")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    seed_everything(0)
    recipe = dict(TRAINING)
    for key in ("epochs", "lr", "batch_size", "train_scenes"):
        if getattr(args, key) is not None:
            recipe[key] = getattr(args, key)
    if args.train_seed == VAL_SEED:
        parser.error(f"--train-seed {VAL_SEED} is the validation seed")
    before = None
    if args.init is None:
        model = build_shapes_mask_rcnn()
    else:
        blob = torch.load(args.init, map_location="cpu", weights_only=True)
        model, before = build_shapes_mask_rcnn(**blob["config"]), blob["info"]
        model.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()}
        )
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"mask_rcnn: {params} parameters, recipe {recipe}", flush=True)
    history = train_mask_rcnn(
        model, **recipe, seed=args.train_seed, max_objects=MAX_OBJECTS, device=device, progress=True
    )
    train_seconds = history.train_seconds
    model = half_rounded(model.cpu()).eval()
    size = model.config["image_size"]
    start = time.perf_counter()
    scores = evaluate_mask_rcnn(
        model, ShapesSegmentation(args.val_scenes, size, VAL_SEED, kind="instance", max_objects=MAX_OBJECTS)
    )
    info = {
        "image_size": size,
        "max_objects": MAX_OBJECTS,
        "val_seed": VAL_SEED,
        "val_scenes": args.val_scenes,
        **{k: scores[k] for k in ("mask_ap", "mask_ap50", "mask_ap75", "box_ap", "box_ap50", "ms_per_image")},
        "params": params,
        "train_seconds": train_seconds,
        "eval_seconds": time.perf_counter() - start,
        "data": f"ShapesSegmentation({recipe['train_scenes']}, {size}, seed={args.train_seed}, "
        f"kind='instance', max_objects={MAX_OBJECTS}), horizontal flips",
        "device": machine(device),
        "torch_version": str(torch.__version__),
        "python_version": sys.version.split()[0],
        "train_seed": args.train_seed,
        "recipe": recipe,
        "steps": len(history.steps["train_loss"]),
        "history": {k: [float(v) for v in vals] for k, vals in history.items()},
    }
    if before is not None:  # a continued run: the file keeps the first run's record, plus this one's
        continued = {
            "recipe": recipe,
            "train_seed": args.train_seed,
            "train_seconds": train_seconds,
            "steps": info["steps"],
            "data": info["data"],
            "from_mask_ap": before["mask_ap"],
        }
        scored = (
            "mask_ap",
            "mask_ap50",
            "mask_ap75",
            "box_ap",
            "box_ap50",
            "ms_per_image",
            "eval_seconds",
            "val_scenes",
        )
        info = dict(before) | {k: info[k] for k in scored}
        info["train_seconds"] = before["train_seconds"] + train_seconds
        info["data"] = before["data"] + "; then " + continued["data"]
        info["continued"] = continued
    out = args.out or DATA / FILE_NAME
    save_mask_rcnn(model, info, out)
    print(
        f"saved {out} ({out.stat().st_size / 2**20:.2f} MiB); "
        f"trained in {train_seconds:.0f} s on {info['device']}"
    )
    print(
        {
            k: round(info[k], 4)
            for k in ("mask_ap", "mask_ap50", "mask_ap75", "box_ap", "box_ap50", "ms_per_image")
        }
    )


if __name__ == "__main__":
    main()
