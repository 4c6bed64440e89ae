"""Run by ``torchrun`` from test_train_distributed.py: trains with ``fit`` and saves what it got.

Usage: ``torchrun --standalone --nproc_per_node=2 ddp_worker.py OUT_DIR BATCH_SIZE``. Each rank
writes ``rank<R>.pt`` with its final weights, its History and what it saw of the process group.
"""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ddp_setup import make_loader, make_model, train  # noqa: E402


def main() -> None:
    out, batch_size = Path(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(1)
    model = make_model()
    history = train(model, make_loader(batch_size), make_loader(batch_size, shuffle=False))
    rank = dist.get_rank()  # fit started the process group
    torch.save(
        {
            "state": model.state_dict(),
            "history": dict(history),
            "steps": history.steps,
            "world_size": dist.get_world_size(),
            "backend": dist.get_backend(),
        },
        out / f"rank{rank}.pt",
    )


if __name__ == "__main__":
    main()
