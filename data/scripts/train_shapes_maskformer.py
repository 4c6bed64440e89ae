"""Train the small MaskFormer chapter 5b ships: ``data/maskformer_shapes.pt``.

Usage (from the repository root; about half an hour on one busy CPU core)::

    python data/scripts/train_shapes_maskformer.py      # writes data/maskformer_shapes.pt
    sha256sum data/maskformer_shapes.pt                  # then replace its line in data/SHA256SUMS

Data: ``ShapesSegmentation(n, size=64, seed=0, kind="panoptic")`` for training; the shipped model is
scored on 300 scenes of seed 777 (never trained on) with our ``panoptic_quality`` (= torchmetrics):
``info["pq"]``, ``info["sq"]``, ``info["rq"]``, things and stuff apart. The model is
``SmallMaskFormer(masked_attention=True)`` (Mask2Former's masked attention), trained by
:func:`cvcourse.segmentation.small_maskformer.train_maskformer` (``fit`` with a step function; the
recipe is ``TRAINING``). Weights are stored in float16 (the loader casts back) and scored
as stored. Deterministic: fixed seeds, 1 CPU thread. ``--init FILE --train-seed 1 --epochs E --lr LR``
continues an earlier file on other scenes (the runs are listed in ``info["runs"]``); ``--rescore FILE
--out FILE`` only scores a file's weights again (with ``panoptic_predict``'s defaults).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from cvcourse.runtime import seed_everything
from cvcourse.segmentation.small_maskformer import (
    FILE,
    TRAINING,
    SmallMaskFormer,
    evaluate_maskformer,
    train_maskformer,
)

DATA = Path(__file__).resolve().parents[1]
SIZE, TEST_SCENES = 64, 300
INFERENCE = {"object_mask_threshold": 0.5, "overlap_threshold": 0.8}  # panoptic_predict's defaults


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=TRAINING["train_scenes"], help="training scenes")
    parser.add_argument("--epochs", type=int, default=TRAINING["epochs"])
    parser.add_argument("--batch-size", type=int, default=TRAINING["batch_size"])
    parser.add_argument("--lr", type=float, default=TRAINING["lr"])
    parser.add_argument("--no-masked-attention", action="store_true", help="plain MaskFormer")
    parser.add_argument("--init", type=Path, default=None, help="continue from this checkpoint's weights")
    parser.add_argument("--train-seed", type=int, default=0, help="the training scenes' seed (never 777)")
    parser.add_argument("--device", default="cpu", help="cpu (the shipped, deterministic run) or cuda")
    parser.add_argument("--out", type=Path, default=DATA / FILE)
    parser.add_argument("--rescore", type=Path, default=None, help="only re-score this file's weights")
    args = parser.parse_args()
    if args.rescore is not None:
        rescore(args.rescore, args.out)
        return

    torch.set_num_threads(1)
    seed_everything(0)
    start = time.perf_counter()
    model = SmallMaskFormer(image_size=SIZE, masked_attention=not args.no_masked_attention)
    previous = None
    if args.init is not None:  # a continued run: the earlier file's weights and recipe
        previous = torch.load(args.init, map_location="cpu", weights_only=True)
        model = SmallMaskFormer(**previous["config"])
        model.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in previous["state_dict"].items()}
        )
    history = train_maskformer(
        model,
        train_scenes=args.train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.train_seed,
        device=args.device,
        live_plot=False,
    )
    train_seconds = time.perf_counter() - start
    earlier = (
        []
        if previous is None
        else previous.get("runs", [previous["recipe"] | {"seconds": previous["train_seconds"]}])
    )
    runs = [*earlier]
    runs.append(
        {
            "train_scenes": args.train,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "train_seed": args.train_seed,
            "seconds": round(train_seconds, 1),
        }
    )
    # score the weights as shipped: float16, cast back to float32 (what the loader gives)
    half = {k: v.half() if v.is_floating_point() else v for k, v in model.cpu().state_dict().items()}
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    model.eval()
    scores = evaluate_maskformer(model, scenes=TEST_SCENES, seed=777)
    print({k: v for k, v in scores.items() if k != "per_class"})
    checkpoint = {
        "state_dict": half,
        "config": model.config,
        "image_size": SIZE,
        "recipe": runs[0],
        "runs": runs,  # the first run and any continuations (--init)
        "params": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(sum(r["seconds"] for r in runs), 1),
        "device": args.device,
        "train_loss": [
            *(previous["train_loss"] if previous else []),
            *(float(x) for x in history["train_loss"]),
        ],
        "val_seed": 777,
        "inference": INFERENCE,
        **scores,
    }
    torch.save(checkpoint, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 2**20:.2f} MiB) in {train_seconds:.0f} s")


def rescore(path: Path, out: Path) -> None:
    """Score a file's weights again on the test scenes with today's ``panoptic_predict`` defaults
    (the shipped file was trained with MaskFormer's object_mask_threshold 0.8, then re-scored with 0.5)."""
    torch.set_num_threads(1)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = SmallMaskFormer(**checkpoint["config"])
    model.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in checkpoint["state_dict"].items()}
    )
    scores = evaluate_maskformer(model.eval(), scenes=TEST_SCENES, seed=777)
    print({k: v for k, v in scores.items() if k != "per_class"})
    torch.save({**checkpoint, **scores, "inference": INFERENCE}, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
