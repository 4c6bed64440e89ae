"""Data-parallel training under ``torchrun``: the same training cell on N GPUs (or N CPU processes).

Run a chapter's training code as a script::

    torchrun --standalone --nproc_per_node=4 train_my_model.py

and ``fit`` notices (the ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` variables torchrun sets):

1. it starts the process group if the script has not (``nccl`` on CUDA, ``gloo`` on the CPU); each
   process computes on ``cuda:LOCAL_RANK`` (or the CPU);
2. it wraps the model in ``DistributedDataParallel`` (Li et al. 2020,
   https://arxiv.org/abs/2006.15704): every process keeps a full copy of the model, computes the
   gradient of *its* mini-batch, and the gradients are averaged over processes (an all-reduce)
   inside ``backward()``, so every copy takes the same optimizer step;
3. a ``DataLoader`` over a map-style dataset is sharded with a ``DistributedSampler``: each process
   sees ``1/world_size`` of every epoch, shuffled as the original loader was (``set_epoch`` every
   epoch), in batches of the loader's own ``batch_size``. So **the global batch is
   ``world_size × batch_size``**: with 4 processes and ``batch_size=64`` one optimizer step averages
   256 samples, and a learning rate tuned for 64 may want scaling (Goyal et al. 2017,
   https://arxiv.org/abs/1706.02677);
4. the logged losses and metrics are averaged over all processes (sums and sample counts are
   all-reduced), so every rank holds the same ``History``; only rank 0 shows progress bars and plots
   and writes checkpoints.

Exactness: with SGD and a model without batch norm, ``world_size`` processes with per-process batch
B end with the same weights as one process with batch ``world_size × B`` (the union of the ranks'
batches is the single process's batch; the mean of the ranks' mean gradients is its mean gradient).
Batch norm normalises over each process's own batch; convert it with
``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` for exact equality there too. Buffers (batch norm's
running statistics) are rank 0's, broadcast at every forward pass.
"""

from __future__ import annotations

import atexit
import os
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset, RandomSampler, Sampler

__all__ = [
    "DistributedContext",
    "all_reduce_sums",
    "context",
    "device_for",
    "is_main_process",
    "shard_loader",
    "wrap_model",
]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: ``rank`` of ``world_size``, and ``local_rank`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as err:
        raise ValueError(
            f"the environment variable {name} must be an int (torchrun sets it), got {value!r}"
        ) from err


def context(device_type: str | None = None) -> DistributedContext:
    """The distributed context of this process, starting the process group when torchrun asks.

    Args:
        device_type: ``"cuda"`` or ``"cpu"``, the backend's choice when the group is started here
            (``nccl`` for CUDA, ``gloo`` otherwise); None means CUDA when available.

    Returns:
        ``DistributedContext(rank, world_size, local_rank)``; world size 1 outside torchrun.
    """
    if dist.is_available() and dist.is_initialized():
        return DistributedContext(
            dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", dist.get_rank())
        )
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size <= 1:
        return DistributedContext()
    if not dist.is_available():
        raise RuntimeError(
            f"WORLD_SIZE={world_size} asks for distributed training, but this "
            f"PyTorch build has no torch.distributed"
        )
    local_rank = _env_int("LOCAL_RANK", 0)
    if device_type is None:
        device_type = "cuda" if torch.cuda.is_available() else "cpu"
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    atexit.register(_destroy)  # started here, so closed here: no "destroy_process_group" warning
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank)


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def is_main_process() -> bool:
    """True on rank 0 (and outside torchrun): the process that prints, draws and saves."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def device_for(ctx: DistributedContext, chosen: torch.device) -> torch.device:
    """This rank's device: ``cuda:LOCAL_RANK`` when training on CUDA under torchrun, else ``chosen``."""
    if chosen.type == "cuda":
        return torch.device("cuda", ctx.local_rank)
    return chosen


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """``DistributedDataParallel`` around ``model`` (already on ``device``); it shares its weights."""
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


class _StridedSampler(Sampler[int]):
    """Indices ``rank, rank + world_size, ...``: every sample exactly once over all ranks.

    Used for evaluation, where ``DistributedSampler``'s padding (it repeats samples so that every
    rank gets as many) would count some samples twice in the averaged metrics.
    """

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        self.indices = list(range(rank, length, world_size))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


_LOADER_OPTIONS = (
    "num_workers",
    "collate_fn",
    "pin_memory",
    "drop_last",
    "timeout",
    "worker_init_fn",
    "prefetch_factor",
    "persistent_workers",
    "generator",
)


def shard_loader(loader: Any, ctx: DistributedContext, *, train: bool, name: str) -> Any:
    """The same loader over this rank's share of the dataset (see the module docstring).

    A ``DataLoader`` over a map-style dataset with the default batching is rebuilt with the same
    options and a ``DistributedSampler`` (training) or a strided sampler (evaluation). Anything
    else (an iterable dataset, a custom sampler, a plain iterable) cannot be split from here: it
    is used as it is, every rank then sees all of it, with one warning.
    """
    shardable = (
        isinstance(loader, DataLoader)
        and not isinstance(loader.dataset, IterableDataset)
        and loader.batch_size is not None
        and type(loader.sampler).__name__ in ("RandomSampler", "SequentialSampler")
    )
    if not shardable:
        warnings.warn(
            f"{name} is not a DataLoader over a map-style dataset with default batching, "
            f"so it cannot be sharded over the {ctx.world_size} processes: every process "
            f"uses all of it. Shard it yourself (e.g. a DistributedSampler) to divide the "
            f"work.",
            stacklevel=3,
        )
        return loader
    options = {key: getattr(loader, key) for key in _LOADER_OPTIONS if hasattr(loader, key)}
    if options.get("num_workers", 0) == 0:
        options.pop("prefetch_factor", None)
        options.pop("persistent_workers", None)
    options.pop("generator", None)  # the sampler below does the shuffling
    if train:
        shuffle = isinstance(loader.sampler, RandomSampler)
        seed = int(torch.empty((), dtype=torch.int64).random_().item()) if shuffle else 0
        # The same seed on every rank: each rank must cut the *same* permutation into shares.
        seed_tensor = torch.tensor([seed], device=_comm_device())
        dist.broadcast(seed_tensor, src=0)
        sampler = DistributedSampler(
            loader.dataset,
            num_replicas=ctx.world_size,
            rank=ctx.rank,
            shuffle=shuffle,
            seed=int(seed_tensor.item()),
            drop_last=loader.drop_last,
        )
    else:
        sampler = _StridedSampler(len(loader.dataset), ctx.rank, ctx.world_size)
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler, **options)


def _comm_device() -> torch.device:
    """Where tensors for a collective live: the current GPU for nccl, the CPU for gloo."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sums(totals: dict[str, float], samples: int) -> tuple[dict[str, float], int]:
    """Sum ``totals`` and ``samples`` over all ranks (one all-reduce), in float64."""
    keys = sorted(totals)
    values = torch.tensor(
        [totals[k] for k in keys] + [float(samples)], dtype=torch.float64, device=_comm_device()
    )
    dist.all_reduce(values)
    values = values.tolist()
    return dict(zip(keys, values[:-1], strict=True)), int(round(values[-1]))
