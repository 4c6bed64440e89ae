"""Chapter 2's training cell as a script: the same ``fit`` call on 1 process, N GPUs or N CPU processes.

    python scripts/train_torchrun.py                                  # one process (GPU if present)
    torchrun --standalone --nproc_per_node=4 scripts/train_torchrun.py   # 4 GPUs of one machine
    torchrun --standalone --nproc_per_node=2 scripts/train_torchrun.py --device cpu  # 2 CPU processes

Nothing in the training code changes: ``cvcourse.train.fit`` sees torchrun's environment, starts the
process group (nccl on CUDA, gloo on the CPU), puts each process on ``cuda:LOCAL_RANK``, wraps the
model in ``DistributedDataParallel`` and gives each process its share of every epoch. The loader's
``batch_size`` is per process: the global batch is ``nproc_per_node × --batch-size``. Only rank 0
prints and saves the checkpoint; every rank ends with the same weights.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from cvcourse.architectures import small
from cvcourse.data import ShapesClassification
from cvcourse.runtime import seed_everything
from cvcourse.train import accuracy, fit
from cvcourse.train.distributed import is_main_process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=4000, help="training images")
    parser.add_argument("--val", type=int, default=1000, help="validation images (another seed)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64, help="per process")
    parser.add_argument("--depth", type=int, default=20, help="ResNet depth 6n + 2")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: the course's choice)")
    parser.add_argument("--checkpoint", default=None, help="file to save to (rank 0)")
    args = parser.parse_args()

    generator = seed_everything(0)  # the same initial weights on every rank (DDP also broadcasts)
    train_set = ShapesClassification(args.train, size=32, seed=0)
    val_set = ShapesClassification(args.val, size=32, seed=1)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, generator=generator)
    val_loader = DataLoader(val_set, batch_size=256)
    model = small.residual_cnn(args.depth, num_classes=len(train_set.classes))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    start = time.perf_counter()
    history = fit(
        model,
        train_loader,
        nn.functional.cross_entropy,
        optimizer,
        epochs=args.epochs,
        val_loader=val_loader,
        metrics={"accuracy": accuracy},
        device=args.device,
        checkpoint=args.checkpoint,
    )
    if is_main_process():
        world = int(os.environ.get("WORLD_SIZE", "1"))
        print(
            f"{world} process(es), global batch {world * args.batch_size}: "
            f"{time.perf_counter() - start:.1f} s, val accuracy {history['val_accuracy'][-1]:.3f}, "
            f"train loss {history['train_loss'][-1]:.4f}"
        )


if __name__ == "__main__":
    main()
