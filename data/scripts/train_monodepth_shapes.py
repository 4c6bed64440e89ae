"""Train the small Monodepth that chapter 6 ships with: ``data/monodepth_shapes.pt``.

Usage (from the repository root; about 10 minutes on one busy CPU core)::

    python data/scripts/train_monodepth_shapes.py      # writes data/monodepth_shapes.pt
    sha256sum data/monodepth_shapes.pt                 # then replace its line in data/SHA256SUMS

Self-supervised, as Monodepth (Godard et al. 2017): the loss sees the left and right images only
(appearance + edge-aware smoothness + left-right consistency, at four scales); the true disparity of
``cvcourse.data.StereoShapes`` is used only to report abs rel on validation pairs (seed 1) and to
measure the shipped model on unseen pairs (seed 2). Deterministic: fixed seeds, 1 CPU thread,
deterministic algorithms. Weights are stored in float16 (the test metrics are measured again after
that rounding).

Scene: ``StereoShapes(..., scene="ground")``, shapes standing on a tilted, textured ground plane
(``--scene layers``, the fronto-parallel planes at random depths, has no monocular depth cue: a
network trained on it does no better than a constant disparity).

Recipe: 64 x 64 pairs, max disparity 16 px, 2000 training pairs with Monodepth's flip-and-swap
augmentation, Adam (lr 2e-3) with a cosine decay, batch 16, 4 epochs (500 steps).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from cvcourse.data import StereoShapes
from cvcourse.depth.monodepth import Monodepth
from cvcourse.depth.pretrained import SHAPES_MONODEPTH_FILE
from cvcourse.depth.training import FlipSwap, evaluate_depth, stereo_tensors, train_monodepth
from cvcourse.runtime import seed_everything

OUT = Path(__file__).resolve().parents[1] / SHAPES_MONODEPTH_FILE
SIZE, MAX_DISPARITY = 64, 16.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=2000, help="training pairs")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--scene", choices=("ground", "layers"), default="ground")
    parser.add_argument("--device", default="cpu", help="cpu (the shipped, deterministic run) or cuda")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    seed_everything(0)
    start = time.perf_counter()
    scene = {"size": SIZE, "max_disparity": MAX_DISPARITY, "scene": args.scene}
    train = FlipSwap(stereo_tensors(StereoShapes(args.train, seed=0, **scene)))
    val = stereo_tensors(StereoShapes(200, seed=1, **scene))
    model, history = train_monodepth(
        train,
        val,
        epochs=args.epochs,
        lr=args.lr,
        max_disparity=MAX_DISPARITY,
        device=args.device,
        live_plot=False,
    )
    model = model.cpu()
    # round to float16 as stored, then measure on unseen pairs
    state = {k: v.half() for k, v in model.state_dict().items()}
    model = Monodepth(**vars(model.config))
    model.load_state_dict({k: v.float() for k, v in state.items()})
    test = StereoShapes(500, seed=2, **scene)
    metrics = evaluate_depth(model, test)
    scaled = evaluate_depth(model, test, median_scaling=True)
    checkpoint = {
        "state_dict": state,
        "config": vars(model.config),
        "image_size": SIZE,
        "max_disparity": MAX_DISPARITY,
        "scene": args.scene,
        "data": f"StereoShapes({args.train}, size={SIZE}, seed=0, max_disparity={MAX_DISPARITY}, "
        f"scene={args.scene!r}), flip-swap",
        "epochs": args.epochs,
        "steps": len(history.steps["train_loss"]),
        "train_loss": history["train_loss"],
        "val_abs_rel": history["val_abs_rel"],
        "test_data": f"StereoShapes(500, size={SIZE}, seed=2, max_disparity={MAX_DISPARITY}, "
        f"scene={args.scene!r})",
        "test_metrics": metrics,
        "test_metrics_median_scaled": scaled,
        "train_seconds": time.perf_counter() - start,
        "torch_version": str(torch.__version__),  # a plain str: weights_only loading refuses TorchVersion
    }
    torch.save(checkpoint, args.out)
    print(
        f"saved {args.out} ({args.out.stat().st_size / 2**20:.2f} MiB) in {checkpoint['train_seconds']:.0f} s"
    )
    print("val abs rel per epoch:", [round(v, 3) for v in history["val_abs_rel"]])
    print("unseen pairs:", {k: round(v, 4) for k, v in metrics.items()})
    print("unseen pairs, median scaled:", {k: round(v, 4) for k, v in scaled.items()})


if __name__ == "__main__":
    main()
