"""Train the semantic segmenters chapter 5a ships: ``data/unet_shapes.pt``, ``data/segformer_shapes.pt``.

Usage (from the repository root; 20-45 minutes each on one busy CPU core)::

    python data/scripts/train_shapes_segmenter.py --kind unet        # writes data/unet_shapes.pt
    python data/scripts/train_shapes_segmenter.py --kind segformer   # writes data/segformer_shapes.pt
    sha256sum data/unet_shapes.pt      # then replace its line in data/SHA256SUMS

Data: ``ShapesSegmentation(n, size=64, seed=0, kind="semantic")`` for training (horizontal flips),
100 scenes of seed 9 for the validation mIoU per epoch, and the shipped model is scored on 300
scenes of seed 777 (never used for training): ``info["miou"]``, ``info["iou_per_class"]``.
Pixel-wise cross-entropy (the U-Net: plus the soft Dice loss, ``RECIPES["unet"]["loss"]``), AdamW
with a cosine decay, through ``cvcourse.train.fit``
(:func:`cvcourse.segmentation.training.train_segmenter`). Deterministic: fixed seeds, 1 CPU thread.

``--kind unet --pretrain-experiment`` also runs the pre-trained vs from-scratch experiment
(:func:`~cvcourse.segmentation.training.pretrain_vs_scratch`, full mode) and stores its two mIoU
curves in the file's info (``info["pretrain_vs_scratch"]``) for the notebook's fast-mode picture.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from cvcourse.data import ShapesSegmentation
from cvcourse.runtime import seed_everything
from cvcourse.segmentation.pretrained import RECIPES, SEGMENTER_FILES, build_segmenter
from cvcourse.segmentation.training import VAL_SEED, evaluate_segmenter, pretrain_vs_scratch, train_segmenter

DATA = Path(__file__).resolve().parents[1]
SIZE, VAL_SCENES, TEST_SCENES = 64, 100, 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=sorted(SEGMENTER_FILES), required=True)
    parser.add_argument("--train", type=int, default=None, help="training scenes (default: the recipe's)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--device", default="cpu", help="cpu (the shipped, deterministic run) or cuda")
    parser.add_argument("--pretrain-experiment", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    recipe = dict(RECIPES[args.kind])
    recipe["train_scenes"] = args.train or recipe["train_scenes"]
    recipe["epochs"] = args.epochs or recipe["epochs"]
    out = args.out or DATA / SEGMENTER_FILES[args.kind]

    torch.set_num_threads(1)
    seed_everything(0)
    start = time.perf_counter()
    model = build_segmenter(args.kind)
    history = train_segmenter(
        model,
        epochs=recipe["epochs"],
        lr=recipe["lr"],
        batch_size=recipe["batch_size"],
        train_scenes=recipe["train_scenes"],
        loss=recipe.get("loss", "ce"),
        seed=0,
        size=SIZE,
        val_scenes=VAL_SCENES,
        val_seed=9,
        device=args.device,
        live_plot=False,
    )
    train_seconds = time.perf_counter() - start
    model = model.cpu().eval()
    test = ShapesSegmentation(TEST_SCENES, size=SIZE, seed=VAL_SEED, kind="semantic")
    scores = evaluate_segmenter(model, test)
    info = {
        "kind": args.kind,
        "config": dict(vars(model.config)),
        "image_size": SIZE,
        "num_classes": 9,
        "classes": list(test.classes),
        "data": f"ShapesSegmentation({recipe['train_scenes']}, size={SIZE}, seed=0, kind='semantic'), "
        f"horizontal flips",
        "recipe": recipe,
        "steps": len(history.steps["train_loss"]),
        "train_loss": history["train_loss"],
        "val_miou": history["val_miou"],
        "val_data": f"ShapesSegmentation({VAL_SCENES}, size={SIZE}, seed=9)",
        "test_data": f"ShapesSegmentation({TEST_SCENES}, size={SIZE}, seed={VAL_SEED}, kind='semantic')",
        "val_seed": VAL_SEED,
        "miou": scores["miou"],
        "pixel_accuracy": scores["pixel_accuracy"],
        "mean_accuracy": scores["mean_accuracy"],
        "iou_per_class": scores["iou_per_class"],
        "params": scores["params"],
        "train_seconds": train_seconds,
        "device": str(args.device),
        "torch_version": str(torch.__version__),  # a plain str: weights_only loading refuses TorchVersion
    }
    if args.pretrain_experiment:
        t0 = time.perf_counter()
        curves = pretrain_vs_scratch(fast=False, progress=False)
        info["pretrain_vs_scratch"] = {**curves, "seconds": time.perf_counter() - t0}
    torch.save({"state_dict": model.state_dict(), **info}, out)
    print(f"saved {out} ({out.stat().st_size / 2**20:.2f} MiB) in {train_seconds:.0f} s")
    print("val mIoU per epoch:", [round(v, 3) for v in history["val_miou"]])
    print(f"seed {VAL_SEED}: mIoU {scores['miou']:.4f}, pixel accuracy {scores['pixel_accuracy']:.4f}")
    print(
        "IoU per class:", dict(zip(test.classes, [round(v, 3) for v in scores["iou_per_class"]], strict=True))
    )
    if args.pretrain_experiment:
        print("pre-trained vs scratch:", info["pretrain_vs_scratch"])


if __name__ == "__main__":
    main()
