import random

import numpy as np
import pytest
import torch

from cvcourse import runtime


def test_fast_mode_reads_the_environment(monkeypatch):
    monkeypatch.setenv("CVCOURSE_FAST", "1")
    assert runtime.fast_mode() is True
    assert runtime.pick(full=10, fast=2) == 2
    monkeypatch.setenv("CVCOURSE_FAST", "0")
    assert runtime.fast_mode() is False
    assert runtime.pick(full=10, fast=2) == 10
    monkeypatch.delenv("CVCOURSE_FAST")
    assert runtime.fast_mode() is False


def test_fast_mode_rejects_a_typo(monkeypatch):
    monkeypatch.setenv("CVCOURSE_FAST", "yse")
    with pytest.raises(ValueError, match="CVCOURSE_FAST"):
        runtime.fast_mode()


def test_device_defaults_to_what_is_available(monkeypatch):
    monkeypatch.delenv("CVCOURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else None
    dev = runtime.device()
    assert isinstance(dev, torch.device)
    if expected:
        assert dev.type == expected
    else:
        assert dev.type in {"cpu", "mps"}


def test_device_override(monkeypatch):
    monkeypatch.setenv("CVCOURSE_DEVICE", "cpu")
    assert runtime.device() == torch.device("cpu")
    monkeypatch.setenv("CVCOURSE_DEVICE", "not-a-device")
    with pytest.raises(ValueError, match="CVCOURSE_DEVICE"):
        runtime.device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_device_override_to_missing_cuda(monkeypatch):
    monkeypatch.setenv("CVCOURSE_DEVICE", "cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        runtime.device()


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)

    runtime.seed_everything(123)
    a = draw()
    runtime.seed_everything(123)
    b = draw()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    runtime.seed_everything(124)
    c = draw()
    assert a[0] != c[0]


def test_seed_everything_returns_a_seeded_generator():
    g1 = runtime.seed_everything(7)
    g2 = runtime.seed_everything(7)
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))


@pytest.mark.parametrize("bad", [1.5, "3", None, True])
def test_seed_everything_rejects_seeds_of_the_wrong_type(bad):
    with pytest.raises(TypeError, match="^seed must be an int, got "):
        runtime.seed_everything(bad)


def test_seed_everything_rejects_negative_seeds_and_takes_numpy_ints():
    with pytest.raises(ValueError, match="^seed must be an int >= 0, got -1$"):
        runtime.seed_everything(-1)
    g = runtime.seed_everything(np.int64(7))  # a NumPy integer is an int
    assert torch.equal(torch.rand(3, generator=g), torch.rand(3, generator=torch.Generator().manual_seed(7)))


def test_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("CVCOURSE_DATA", raising=False)
    assert runtime.data_dir().name == "data"
    assert (runtime.data_dir() / "README.md").exists()
    monkeypatch.setenv("CVCOURSE_DATA", str(tmp_path))
    assert runtime.data_dir() == tmp_path
