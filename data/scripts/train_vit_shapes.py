"""Train the small ViT that chapter 3's attention viewer ships with: ``data/vit_shapes.pt``.

Usage (from the repository root; about 8 minutes on one free CPU core)::

    python data/scripts/train_vit_shapes.py            # writes data/vit_shapes.pt
    sha256sum data/vit_shapes.pt                       # then replace its line in data/SHA256SUMS

Deterministic: fixed seeds, synthetic data generated from those seeds
(``cvcourse.data.ShapesClassification``), 1 CPU thread, deterministic algorithms. The same torch
version on the same kind of CPU gives the same weights; other versions give weights that differ in
the last bits (the checksum then changes, the accuracy does not).

Recipe: AdamW (lr 1e-3, weight decay 0.05), linear warm-up then cosine decay, label smoothing 0.1,
random horizontal flips (a flipped shape is still the same shape), float32; the weights are stored in
float16 to keep the file small (the test accuracy is measured again after that rounding).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from cvcourse.data import ShapesClassification
from cvcourse.runtime import seed_everything
from cvcourse.train import accuracy, evaluate, fit
from cvcourse.transformers.pretrained import SHAPES_VIT_CONFIG, SHAPES_VIT_FILE, build_shapes_vit

OUT = Path(__file__).resolve().parents[1] / SHAPES_VIT_FILE


def hflip(image: torch.Tensor) -> torch.Tensor:
    """Flip half of the images left-right (uses torch's global generator, seeded below)."""
    return image.flip(-1) if torch.rand(()) < 0.5 else image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=8000, help="training images")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate of AdamW")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    generator = seed_everything(0)
    size = SHAPES_VIT_CONFIG["image_size"]
    train = ShapesClassification(args.train, size=size, seed=0, transform=hflip)
    val = ShapesClassification(2000, size=size, seed=1)
    train_loader = DataLoader(train, batch_size=128, shuffle=True, generator=generator)
    val_loader = DataLoader(val, batch_size=500)

    model = build_shapes_vit()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    warmup = 2

    def lr_factor(epoch: int) -> float:
        if epoch < warmup:
            return (epoch + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (epoch - warmup) / max(1, args.epochs - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    history = fit(
        model,
        train_loader,
        loss_fn,
        optimizer,
        epochs=args.epochs,
        val_loader=val_loader,
        metrics={"accuracy": accuracy},
        device="cpu",
        scheduler=scheduler,
        live_plot=False,
        progress=False,
    )

    state = {k: v.half() for k, v in model.state_dict().items()}  # float16: half the bytes
    model.load_state_dict({k: v.float() for k, v in state.items()})
    val_accuracy = evaluate(model, val_loader, metrics={"accuracy": accuracy}, device="cpu")["accuracy"]
    record = {
        "config": dict(SHAPES_VIT_CONFIG),
        "classes": list(train.classes),
        "state_dict": state,
        "train_images": args.train,
        "epochs": args.epochs,
        "lr": args.lr,
        "val_accuracy": float(val_accuracy),
        "history_val_accuracy": [float(a) for a in history["val_accuracy"]],
        "torch_version": str(torch.__version__),
    }
    torch.save(record, args.out)
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB), validation accuracy {val_accuracy:.3f}"
    )


if __name__ == "__main__":
    main()
