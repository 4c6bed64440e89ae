"""``fit`` under torchrun: 2 CPU processes (gloo) equal one process with the doubled batch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from cvcourse.train import distributed

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ddp_setup import make_loader, make_model, train  # noqa: E402

WORKER = Path(__file__).resolve().parent / "ddp_worker.py"


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """Run the worker under ``torchrun --standalone --nproc_per_node=2`` (per-rank batch 4)."""
    out = tmp_path_factory.mktemp("ddp")
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", CVCOURSE_DEVICE="cpu")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(WORKER),
        str(out),
        "4",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"torchrun failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]


def test_two_processes_equal_one_process_with_the_doubled_batch(two_ranks):
    model = make_model()
    history = train(model, make_loader(8), make_loader(8))  # one process, batch 2 x 4
    for rank in two_ranks:
        assert rank["world_size"] == 2 and rank["backend"] == "gloo"
        for name, value in model.state_dict().items():
            torch.testing.assert_close(rank["state"][name], value, atol=1e-6, rtol=0)
        # the logged numbers are means over both ranks: the single process's numbers
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            assert rank["history"][key] == pytest.approx(history[key], abs=1e-9), key
        assert rank["steps"]["train_loss"] == pytest.approx(history.steps["train_loss"], abs=1e-9)
    # both ranks hold identical weights
    for name, value in two_ranks[0]["state"].items():
        assert torch.equal(value, two_ranks[1]["state"][name])


def test_outside_torchrun_there_is_one_process(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    ctx = distributed.context()
    assert (ctx.rank, ctx.world_size, ctx.enabled, ctx.is_main) == (0, 1, False, True)
    assert distributed.is_main_process()


def test_a_bad_world_size_is_named(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE"):
        distributed.context()


def test_device_per_rank():
    ctx = distributed.DistributedContext(rank=3, world_size=4, local_rank=1)
    assert distributed.device_for(ctx, torch.device("cuda")) == torch.device("cuda", 1)
    assert distributed.device_for(ctx, torch.device("cpu")) == torch.device("cpu")


def test_evaluation_shards_cover_every_sample_once():
    shares = [list(distributed._StridedSampler(11, rank, 3)) for rank in range(3)]
    assert sorted(i for share in shares for i in share) == list(range(11))


def test_a_loader_that_cannot_be_sharded_warns():
    ctx = distributed.DistributedContext(rank=0, world_size=2)
    batches = [(torch.zeros(2, 5), torch.zeros(2, dtype=torch.long))]
    with pytest.warns(UserWarning, match="cannot be sharded"):
        assert distributed.shard_loader(batches, ctx, train=True, name="train_loader") is batches
    sampler_loader = DataLoader(TensorDataset(torch.zeros(4, 1)), batch_size=2, sampler=[3, 2, 1, 0])
    with pytest.warns(UserWarning, match="train_loader"):
        distributed.shard_loader(sampler_loader, ctx, train=True, name="train_loader")
