"""Train the small ViT that chapter 3's attention viewer ships with: ``data/vit_shapes.pt``.

Usage (from the repository root; about 10 minutes on one free CPU core, 45 on a loaded one)::

    python data/scripts/train_vit_shapes.py            # writes data/vit_shapes.pt
    sha256sum data/vit_shapes.pt                       # then replace its line in data/SHA256SUMS

Deterministic: fixed seeds, synthetic data generated from those seeds
(``cvcourse.data.ShapesClassification``), 1 CPU thread, deterministic algorithms. The same torch
version on the same kind of CPU gives the same weights; other versions give weights that differ in
the last bits (the checksum then changes, the accuracy does not).

Recipe: AdamW (lr 2e-3, weight decay 0.05), one epoch of linear warm-up then cosine decay (per
epoch), label smoothing 0.1, float32. A ViT has no built-in locality or translation equivariance, so it
needs many images; the first shipped ViT (plain 4 x 4 patch projection, 8,000 images, 20 epochs) scored
57 % on unseen images and was still learning slowly. This one has (1) a small convolutional stem
(``SHAPES_VIT_CONFIG["stem_channels"]``: two 3x3 stride-2 conv-BN-ReLU layers, then a 1x1 projection to
the tokens, Xiao et al. 2021, https://arxiv.org/abs/2106.14881), which made it learn several times
faster per image in a short trial on the same data; (2) 20,000 training images; (3) augmentation that
keeps the class: the eight flips and quarter turns of the square (a turned or mirrored shape is still
the same shape) and a random shift of up to 2 pixels (reflected border). The weights are stored in
float16 to keep the file small (the validation accuracy is measured again after that rounding). After
every epoch the record so far is written to ``<out>.partial``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from cvcourse.data import ShapesClassification
from cvcourse.runtime import seed_everything
from cvcourse.train import accuracy, evaluate, fit
from cvcourse.transformers.pretrained import SHAPES_VIT_CONFIG, SHAPES_VIT_FILE, build_shapes_vit

OUT = Path(__file__).resolve().parents[1] / SHAPES_VIT_FILE
MAX_SHIFT = 2
UNSEEN_SEED = 987654


def augment(image: torch.Tensor) -> torch.Tensor:
    """A random element of the square's symmetry group, then a random shift of up to ``MAX_SHIFT`` px.

    Uses torch's global generator (seeded in ``main``), so the augmentation is reproducible.
    """
    turns = torch.randint(0, 4, ())  # drawn in this order: turns, flip, shift
    flip = torch.rand(()) < 0.5
    dy, dx = torch.randint(-MAX_SHIFT, MAX_SHIFT + 1, (2,))
    image = torch.rot90(image, int(turns), dims=(-2, -1))
    if flip:
        image = image.flip(-1)
    size = image.shape[-1]
    padded = F.pad(image[None], (MAX_SHIFT,) * 4, mode="reflect")[0]
    top, left = MAX_SHIFT + int(dy), MAX_SHIFT + int(dx)
    return padded[:, top : top + size, left : left + size]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=20000, help="training images")
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of AdamW")
    parser.add_argument("--warmup", type=int, default=1, help="epochs of linear warm-up")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    generator = seed_everything(0)
    size = SHAPES_VIT_CONFIG["image_size"]
    start = time.time()
    train = ShapesClassification(args.train, size=size, seed=0, transform=augment)
    val = ShapesClassification(2000, size=size, seed=1)
    for i in range(len(train)):  # render (and cache) every image once, before the clock of training
        train[i]
    print(f"rendered {len(train)} training images in {time.time() - start:.0f} s", flush=True)
    train_loader = DataLoader(train, batch_size=128, shuffle=True, generator=generator)
    val_loader = DataLoader(val, batch_size=500)

    model = build_shapes_vit()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)

    def lr_factor(epoch: int) -> float:
        if epoch < args.warmup:
            return (epoch + 1) / args.warmup
        return 0.5 * (1 + math.cos(math.pi * (epoch - args.warmup) / max(1, args.epochs - args.warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    history_val, history_train = [], []
    for epoch in range(args.epochs):  # one fit call per epoch, to print a line per epoch
        history = fit(
            model,
            train_loader,
            loss_fn,
            optimizer,
            epochs=1,
            val_loader=val_loader,
            metrics={"accuracy": accuracy},
            device="cpu",
            scheduler=scheduler,
            live_plot=False,
            progress=False,
        )
        history_val.append(float(history["val_accuracy"][-1]))
        history_train.append(float(history["train_accuracy"][-1]))
        print(
            f"epoch {epoch + 1}/{args.epochs}: train accuracy {history_train[-1]:.3f}, validation "
            f"{history_val[-1]:.3f}, {time.time() - start:.0f} s",
            flush=True,
        )

        write_record(model, val_loader, args, train.classes, history_train, history_val, start, partial=True)
    write_record(model, val_loader, args, train.classes, history_train, history_val, start, partial=False)


def unseen_accuracy(model: torch.nn.Module, n: int = 500) -> float:
    """Accuracy on ``n`` images of ``UNSEEN_SEED`` (training used seed 0, validation seed 1)."""
    data = ShapesClassification(n, size=SHAPES_VIT_CONFIG["image_size"], seed=UNSEEN_SEED)
    loader = DataLoader(data, batch_size=n)
    return float(evaluate(model, loader, metrics={"accuracy": accuracy}, device="cpu")["accuracy"])


def write_record(model, val_loader, args, classes, history_train, history_val, start, partial: bool) -> None:
    """Save the float16 weights and the training record (to ``<out>.partial`` after each epoch)."""
    state = {
        k: v.detach().clone().half() if v.is_floating_point() else v.detach().clone()
        for k, v in model.state_dict().items()
    }  # float16: half the bytes
    rounded = build_shapes_vit()
    rounded.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    val_accuracy = evaluate(rounded, val_loader, metrics={"accuracy": accuracy}, device="cpu")["accuracy"]
    record = {
        "config": dict(SHAPES_VIT_CONFIG),
        "classes": list(classes),
        "state_dict": state,
        "train_images": args.train,
        "epochs": len(history_val),
        "lr": args.lr,
        "augmentation": f"random flip/quarter turn (8 symmetries of the square), shift <= {MAX_SHIFT} px",
        "val_accuracy": float(val_accuracy),
        "history_val_accuracy": list(history_val),
        "history_train_accuracy": list(history_train),
        "train_seconds": round(time.time() - start),
        "torch_version": str(torch.__version__),
    }
    if not partial:  # the shipped number: 500 images of a seed used nowhere in training or validation
        record["unseen_seed"] = UNSEEN_SEED
        record["unseen_accuracy"] = unseen_accuracy(rounded)
    out = args.out.with_name(args.out.name + ".partial") if partial else args.out
    torch.save(record, out)
    size_kib = out.stat().st_size / 1024
    print(f"wrote {out} ({size_kib:.0f} KiB), validation accuracy {val_accuracy:.3f}", flush=True)


if __name__ == "__main__":
    main()
