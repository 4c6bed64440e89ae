"""The training comparison: same start and batches for every optimizer, one History each."""

import pytest
import torch
from torch.utils.data import TensorDataset

from cvcourse.optim.compare import SmallCNN, compare_optimizers, default_optimizers


def tiny_data(n, seed):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.rand(n, 3, 16, 16, generator=g), torch.randint(0, 3, (n,), generator=g))


def test_small_cnn_shapes_and_bad_input():
    assert SmallCNN(5)(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    with pytest.raises(ValueError, match="num_classes must be an int >= 2, got 1"):
        SmallCNN(1)
    for bad in (True, 3.0):  # a bool or a float is the wrong type, not a wrong value
        with pytest.raises(TypeError, match="num_classes must be an int, got"):
            SmallCNN(bad)


def test_compare_optimizers_same_start_same_batches():
    torch.set_num_threads(1)
    opts = default_optimizers()
    assert {"SGD", "SGD + Nesterov", "Adam", "AdamW"} <= set(opts)
    same = {"a": opts["SGD"], "b": opts["SGD"], "adam": opts["Adam"]}
    hist = compare_optimizers(
        same,
        tiny_data(32, 0),
        tiny_data(16, 1),
        num_classes=3,
        epochs=2,
        batch_size=8,
        device="cpu",
    )
    assert list(hist) == ["a", "b", "adam"]
    assert hist["a"]["train_loss"] == hist["b"]["train_loss"]  # identical runs: same start, same batches
    assert hist["a"]["train_loss"] != hist["adam"]["train_loss"]
    assert len(hist["adam"]["val_accuracy"]) == 2
    with pytest.raises(ValueError, match="optimizers must hold at least one"):
        compare_optimizers({}, tiny_data(4, 0), tiny_data(4, 1), num_classes=3)
    with pytest.raises(TypeError, match="optimizers must be a dict"):
        compare_optimizers([opts["SGD"]], tiny_data(4, 0), tiny_data(4, 1), num_classes=3)
    with pytest.raises(TypeError, match=r"optimizers\['SGD'\] must be callable"):
        compare_optimizers({"SGD": "sgd"}, tiny_data(4, 0), tiny_data(4, 1), num_classes=3)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        compare_optimizers(same, tiny_data(4, 0), tiny_data(4, 1), num_classes=3, batch_size=0)
