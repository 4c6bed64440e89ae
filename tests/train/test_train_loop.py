"""Tests for cvcourse.train: fit equals the plain torch loop, numbers equal hand computations in
float64, checkpoints round-trip atomically, Ctrl-C stops cleanly, arguments are validated."""

import collections
import copy
import os

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cvcourse.train import History, accuracy, evaluate, fit, load_checkpoint, loop, to_device
from cvcourse.train import checkpoint as checkpoint_module
from cvcourse.train import live as live_module

CPU = torch.device("cpu")


def make_data(n=10, features=3, classes=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g, dtype=dtype)
    y = torch.randint(0, classes, (n,), generator=g)
    return x, y


def make_model(features=3, classes=3, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(features, 8), nn.Tanh(), nn.Linear(8, classes)).to(dtype)


def loader(x, y, batch_size=4):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)


def quiet_fit(*args, **kwargs):
    kwargs.setdefault("device", CPU)
    kwargs.setdefault("progress", False)
    return fit(*args, **kwargs)


def params(model):
    return [p.detach().clone() for p in model.parameters()]


# ----------------------------------------------------------------------------- fit


def test_a_tiny_model_learns():
    torch.manual_seed(0)
    x = torch.randn(200, 2)
    y = (x[:, 0] * x[:, 1] > 0).long()  # XOR-like quadrants: needs the hidden layer
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    data = DataLoader(TensorDataset(x, y), batch_size=20, shuffle=True)
    history = quiet_fit(
        model, data, F.cross_entropy, optimizer, epochs=15, val_loader=data, metrics={"accuracy": accuracy}
    )
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history["val_loss"][-1] < history["val_loss"][0]
    assert history["val_accuracy"][-1] > 0.9
    assert not history.interrupted and model.training


def test_fit_equals_the_plain_torch_loop():
    x, y = make_data(n=10)
    model = make_model()
    reference = copy.deepcopy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    ref_optimizer = torch.optim.Adam(reference.parameters(), lr=0.01)
    history = quiet_fit(model, loader(x, y), F.cross_entropy, optimizer, epochs=3)
    ref_losses = []
    for _ in range(3):  # the textbook loop, written out
        for xb, yb in loader(x, y):
            loss = F.cross_entropy(reference(xb), yb)
            ref_optimizer.zero_grad()
            loss.backward()
            ref_optimizer.step()
            ref_losses.append(loss.item())
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert history.steps["train_loss"] == ref_losses


def test_epoch_numbers_are_sample_weighted_means():
    # lr = 0: the weights never move, so the epoch loss is the data set's mean loss. Batches of
    # 4, 4 and 2 samples: a plain mean of batch means would be wrong.
    x, y = make_data(n=10)
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    history = quiet_fit(
        model,
        loader(x, y),
        F.cross_entropy,
        optimizer,
        epochs=2,
        val_loader=loader(x, y, batch_size=3),
        metrics={"accuracy": accuracy},
    )
    with torch.no_grad():
        logits = model(x)
    per_sample = F.cross_entropy(logits, y, reduction="none")
    expected_loss = per_sample.sum().item() / len(x)
    expected_accuracy = accuracy_score(y.numpy(), logits.argmax(1).numpy())
    for key in ("train_loss", "val_loss"):
        np.testing.assert_allclose(history[key], [expected_loss] * 2, rtol=1e-12)
    for key in ("train_accuracy", "val_accuracy"):
        np.testing.assert_allclose(history[key], [expected_accuracy] * 2, rtol=1e-12)
    batch_means = [per_sample[i : i + 4].mean().item() for i in (0, 4, 8)]
    assert history.steps["train_loss"][:3] == pytest.approx(batch_means, rel=1e-12)


def test_history_lengths_and_step_positions():
    x, y = make_data(n=16)
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = quiet_fit(
        model,
        loader(x, y),
        F.cross_entropy,
        optimizer,
        epochs=3,
        val_loader=loader(x, y),
        metrics={"accuracy": accuracy},
    )
    assert isinstance(history, History) and history.epochs == 3
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "epoch_time"):
        assert len(history[key]) == 3, key
    assert len(history.steps["train_loss"]) == 3 * 4
    assert history.steps["epoch"][:5] == [0.25, 0.5, 0.75, 1.0, 1.25]
    assert all(t >= 0 for t in history["epoch_time"])


def test_max_steps_stops_part_way():
    x, y = make_data(n=16)
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = quiet_fit(model, loader(x, y), F.cross_entropy, optimizer, epochs=10, max_steps=5)
    assert len(history.steps["train_loss"]) == 5
    assert history.epochs == 2  # 4 steps, then one step of the second epoch
    assert history.steps["epoch"] == [0.25, 0.5, 0.75, 1.0, 2.0]


def test_zero_epochs_trains_nothing():
    x, y = make_data()
    model = make_model()
    before = params(model)
    history = quiet_fit(
        model, loader(x, y), F.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1), epochs=0
    )
    assert history == {} and history.steps["train_loss"] == []
    for p, q in zip(before, model.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_scheduler_is_stepped_once_per_epoch():
    x, y = make_data()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = quiet_fit(model, loader(x, y), F.cross_entropy, optimizer, epochs=3, scheduler=scheduler)
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025], rel=1e-15)


def test_reduce_on_plateau_gets_the_validation_loss(monkeypatch):
    x, y = make_data()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    seen = []
    monkeypatch.setattr(scheduler, "step", lambda value: seen.append(value))
    history = quiet_fit(
        model,
        loader(x, y),
        F.cross_entropy,
        optimizer,
        epochs=2,
        val_loader=loader(x, y),
        scheduler=scheduler,
    )
    assert seen == history["val_loss"]


def test_step_fn_for_models_that_return_losses():
    # A detector-like batch: a list of images and a list of target dicts.
    class LossModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor(3.0, dtype=torch.float64))

        def forward(self, images, targets):
            pairs = zip(images, targets, strict=True)
            return {"loss": sum(((self.w * im).mean() - t["value"]) ** 2 for im, t in pairs)}

    images = [torch.ones(3, 4, 4, dtype=torch.float64) for _ in range(2)]
    targets = [{"value": torch.tensor(1.0, dtype=torch.float64), "name": "a"} for _ in range(2)]
    batches = [(images, targets)] * 3
    seen = []

    def step_fn(model, batch, device):
        seen.append((len(batch[0]), batch[1][0]["name"], device))
        return model(*batch)["loss"], None, None

    model = LossModel()
    history = quiet_fit(
        model,
        batches,
        None,
        torch.optim.SGD(model.parameters(), lr=0.05),
        epochs=4,
        val_loader=batches,
        metrics={"accuracy": accuracy},
        step_fn=step_fn,
    )
    assert seen[0] == (2, "a", CPU)
    # outputs None: no metrics
    assert set(history) == {"train_loss", "val_loss", "lr", "epoch_time"}
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert abs(model.w.item() - 1.0) < abs(3.0 - 1.0)


# ----------------------------------------------------------------------------- Ctrl-C


def test_keyboard_interrupt_mid_epoch_keeps_history_and_weights(capsys):
    x, y = make_data(n=16)
    model = make_model()
    reference = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    calls = {"n": 0}

    def loss_fn(outputs, targets):  # the "stop" button pressed during the 7th step (epoch 2)
        calls["n"] += torch.is_grad_enabled()  # count training steps, not validation batches
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return F.cross_entropy(outputs, targets)

    history = quiet_fit(model, loader(x, y), loss_fn, optimizer, epochs=5, val_loader=loader(x, y))
    assert history.interrupted
    assert len(history.steps["train_loss"]) == 6
    assert history.epochs == 1 and len(history["val_loss"]) == 1  # only the complete epoch
    assert "stopped" in capsys.readouterr().out
    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    batches = list(loader(x, y))
    for xb, yb in (batches + batches)[:6]:
        ref_optimizer.zero_grad()
        F.cross_entropy(reference(xb), yb).backward()
        ref_optimizer.step()
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)  # the 6 updates happened, not a 7th


def test_keyboard_interrupt_in_validation_restores_train_mode():
    x, y = make_data()
    model = make_model()

    def metric(outputs, targets):
        if not torch.is_grad_enabled():  # validation
            raise KeyboardInterrupt
        return 0.0

    history = quiet_fit(
        model,
        loader(x, y),
        F.cross_entropy,
        torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=2,
        val_loader=loader(x, y),
        metrics={"m": metric},
    )
    assert history.interrupted and history.epochs == 0 and model.training


# ----------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip(tmp_path):
    x, y = make_data()
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    path = tmp_path / "model.pt"
    history = quiet_fit(model, loader(x, y), F.cross_entropy, optimizer, epochs=2, checkpoint=path)
    fresh = make_model(seed=1)
    fresh_optimizer = torch.optim.Adam(fresh.parameters(), lr=0.5)
    loaded = load_checkpoint(path, fresh, fresh_optimizer)
    for p, q in zip(model.parameters(), fresh.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert fresh_optimizer.param_groups[0]["lr"] == 0.01
    for a, b in zip(optimizer.state.values(), fresh_optimizer.state.values(), strict=True):
        torch.testing.assert_close(a["exp_avg_sq"], b["exp_avg_sq"], rtol=0, atol=0)
    assert dict(loaded) == dict(history) and loaded.steps == history.steps
    assert os.listdir(tmp_path) == ["model.pt"]  # no temporary files left behind


def test_checkpoint_monitor_keeps_the_best_epoch(tmp_path):
    x, y = make_data()
    model = make_model()
    scores = iter([0.5, 0.9, 0.7, 0.8])  # epoch 2 is the best

    def score(outputs, targets):
        return next(scores)

    quiet_fit(
        model,
        loader(x, y, batch_size=10),
        F.cross_entropy,
        torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=4,
        metrics={"score": score},
        checkpoint=tmp_path / "best.pt",
        checkpoint_monitor="train_score",
    )
    saved = load_checkpoint(tmp_path / "best.pt", make_model())
    assert saved["train_score"] == [0.5, 0.9]


def test_checkpoint_is_atomic(tmp_path, monkeypatch):
    x, y = make_data()
    model = make_model()
    path = tmp_path / "model.pt"
    quiet_fit(
        model,
        loader(x, y),
        F.cross_entropy,
        torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=1,
        checkpoint=path,
    )
    good = path.read_bytes()

    def broken_save(obj, file):  # the disk fills up half-way through writing
        file.write(b"half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", broken_save)
    with pytest.raises(OSError, match="No space"):
        quiet_fit(
            model,
            loader(x, y),
            F.cross_entropy,
            torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=1,
            checkpoint=path,
        )
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["model.pt"]


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_equals_a_hand_computation():
    x, y = make_data(n=11)
    model = make_model()
    result = evaluate(
        model, loader(x, y, batch_size=4), F.cross_entropy, metrics={"accuracy": accuracy}, device=CPU
    )
    with torch.no_grad():
        logits = model(x)
    assert result["loss"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-12)
    assert result["accuracy"] == pytest.approx(accuracy_score(y.numpy(), logits.argmax(1).numpy()), rel=1e-12)
    assert all(p.grad is None for p in model.parameters())


def test_evaluate_restores_the_mode_and_works_without_a_loss():
    x, y = make_data()
    model = nn.Sequential(nn.Dropout(0.5), make_model())
    model.train()
    evaluate(model, loader(x, y), F.cross_entropy, device=CPU)
    assert model.training
    model.eval()
    result = evaluate(model, loader(x, y), metrics={"accuracy": accuracy}, device=CPU)
    assert not model.training and set(result) == {"accuracy"}
    # Dropout off: two evaluations agree exactly.
    assert evaluate(model, loader(x, y), F.cross_entropy, device=CPU) == evaluate(
        model, loader(x, y), F.cross_entropy, device=CPU
    )


# ----------------------------------------------------------------------------- accuracy


def test_accuracy_matches_sklearn_and_torchmetrics():
    from torchmetrics.functional.classification import multiclass_accuracy

    g = torch.Generator().manual_seed(0)
    for n, c in ((1, 2), (7, 3), (100, 10)):
        logits = torch.randn(n, c, generator=g, dtype=torch.float64)
        targets = torch.randint(0, c, (n,), generator=g)
        expected = accuracy_score(targets.numpy(), logits.argmax(1).numpy())
        assert accuracy(logits, targets) == pytest.approx(expected, abs=1e-15)
        tm = multiclass_accuracy(logits, targets, num_classes=c, average="micro").item()
        assert accuracy(logits, targets) == pytest.approx(tm, abs=1e-7)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 20), c=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_accuracy_property_against_sklearn_with_ties(n, c, seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randint(0, 3, (n, c), generator=g).double()  # few values: many ties
    targets = torch.randint(0, c, (n,), generator=g)
    # sklearn on torch's argmax (first maximum), computed independently in NumPy.
    predictions = np.argmax(logits.numpy(), axis=1)  # NumPy also takes the first maximum
    assert accuracy(logits, targets) == accuracy_score(targets.numpy(), predictions)
    assert accuracy(F.one_hot(targets, c).double(), targets) == 1.0


def test_accuracy_ties_pixels_and_bad_input():
    ties = torch.zeros(4, 3, dtype=torch.float64)  # every class ties: argmax picks class 0
    assert accuracy(ties, torch.tensor([0, 0, 1, 2])) == 0.5
    logits = torch.randn(2, 4, 3, 5, generator=torch.Generator().manual_seed(1))
    targets = logits.argmax(1)
    targets[0, 0, 0] = (targets[0, 0, 0] + 1) % 4
    assert accuracy(logits, targets) == pytest.approx(1 - 1 / targets.numel())
    with pytest.raises(ValueError, match="empty"):
        accuracy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="targets"):
        accuracy(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long))
    with pytest.raises(TypeError, match="targets"):
        accuracy(torch.zeros(4, 3), torch.zeros(4))
    with pytest.raises(TypeError, match="logits must be a torch.Tensor"):
        accuracy([[0.0, 1.0]], torch.tensor([1]))


# ----------------------------------------------------------------------------- to_device


def test_to_device_moves_nested_structures():
    Pair = collections.namedtuple("Pair", "image target")
    batch = {
        "images": [torch.zeros(3, 4, 4), torch.zeros(3, 2, 2)],
        "targets": ({"boxes": torch.zeros(2, 4), "name": "cat"}, Pair(torch.zeros(1), 7)),
    }
    moved = to_device(batch, "meta")  # the meta device exists everywhere: proves the move happened
    assert isinstance(moved, dict) and isinstance(moved["images"], list)
    assert isinstance(moved["targets"], tuple) and isinstance(moved["targets"][1], Pair)
    assert moved["targets"][0]["name"] == "cat" and moved["targets"][1].target == 7
    assert all(
        t.device.type == "meta"
        for t in (*moved["images"], moved["targets"][0]["boxes"], moved["targets"][1].image)
    )
    assert batch["images"][0].device.type == "cpu"  # the input is left as it was


def test_to_device_channels_last_only_for_image_batches():
    images, masks = torch.rand(2, 3, 4, 5), torch.zeros(2, 1, 4, 5, dtype=torch.long)
    moved_images, moved_masks = to_device((images, masks), CPU, channels_last=True)
    assert moved_images.is_contiguous(memory_format=torch.channels_last)
    assert moved_masks.is_contiguous() and torch.equal(moved_images, images)


# ----------------------------------------------------------------------------- AMP


def test_amp_settings(monkeypatch):
    assert loop._amp_settings(CPU, None) == (False, torch.float32, False)
    assert loop._amp_settings(CPU, False) == (False, torch.float32, False)
    with pytest.raises(ValueError, match="amp"):
        loop._amp_settings(CPU, True)
    cuda = torch.device("cuda")
    assert loop._amp_settings(cuda, False) == (False, torch.float32, False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert loop._amp_settings(cuda, None) == (True, torch.bfloat16, False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert loop._amp_settings(cuda, None) == (True, torch.float16, True)  # fp16 needs loss scaling


def test_mixed_precision_step_machinery_on_cpu():
    # No GPU here: run the autocast + GradScaler branch on the CPU (which supports bfloat16
    # autocast) to check that the step goes through it; fit only turns it on for CUDA.
    x, y = make_data(n=16, dtype=torch.float32)
    model = make_model(dtype=torch.float32)
    before = params(model)
    dtypes = []
    model.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    step = loop._default_step(F.cross_entropy)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    result = loop._run_epoch(
        model,
        loader(x, y),
        step,
        CPU,
        {"accuracy": accuracy},
        loop._Precision(True, torch.bfloat16, True),
        optimizer,
        scaler,
    )
    assert dtypes == [torch.bfloat16] * 4  # the forward ran in bfloat16
    assert scaler.get_scale() == 2.0**8  # finite gradients: the scale was kept
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
    assert any(not torch.equal(p, q) for p, q in zip(before, model.parameters(), strict=True))
    assert set(result) == {"loss", "accuracy"}


# ----------------------------------------------------------------------------- plots


def test_live_plot_redraws_one_output_in_a_notebook(monkeypatch):
    import IPython.display

    shown, updates = [], []

    class Handle:
        def update(self, obj):
            updates.append(obj)

    def fake_display(obj, display_id=False):
        shown.append(obj)
        return Handle()

    assert live_module.in_notebook() is False  # pytest runs no Jupyter kernel
    monkeypatch.setattr(IPython.display, "display", fake_display)
    monkeypatch.setattr(loop, "in_notebook", lambda: True)
    drawn = []
    draw = live_module.draw_history
    monkeypatch.setattr(
        live_module, "draw_history", lambda history, axes: (drawn.append(history.epochs), draw(history, axes))
    )
    x, y = make_data()
    model = make_model()
    quiet_fit(
        model,
        loader(x, y),
        F.cross_entropy,
        torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=3,
        metrics={"accuracy": accuracy},
    )
    assert len(shown) == 1 and isinstance(shown[0], IPython.display.Image)  # one output ...
    assert all(picture.data[:4] == b"\x89PNG" for picture in shown + updates)  # ... redrawn
    assert drawn[-1] == 3  # the last picture shows all three epochs
    monkeypatch.setattr(loop, "in_notebook", lambda: False)  # outside notebooks: nothing shown
    quiet_fit(model, loader(x, y), F.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1))
    assert len(shown) == 1


def test_history_plot_has_titles_and_labels():
    x, y = make_data()
    model = make_model()
    history = quiet_fit(
        model,
        loader(x, y),
        F.cross_entropy,
        torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=2,
        val_loader=loader(x, y),
        metrics={"accuracy": accuracy},
    )
    fig = history.plot()
    loss_ax, metric_ax = fig.axes
    labels = (loss_ax.get_title(), loss_ax.get_xlabel(), loss_ax.get_ylabel())
    assert labels == ("Loss", "epoch", "loss")
    assert len(loss_ax.lines) == 3 and len(metric_ax.lines) == 2
    np.testing.assert_allclose(metric_ax.lines[1].get_ydata(), history["val_accuracy"])
    plt.close(fig)


# ----------------------------------------------------------------------------- bad arguments


def _good():
    x, y = make_data()
    model = make_model()
    return dict(
        model=model,
        train_loader=loader(x, y),
        loss_fn=F.cross_entropy,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
    )


@pytest.mark.parametrize(
    "change, error, word",
    [
        ({"model": lambda x: x}, TypeError, "model"),
        ({"optimizer": "adam"}, TypeError, "optimizer"),
        ({"loss_fn": None}, TypeError, "loss_fn"),
        ({"epochs": -1}, ValueError, "epochs"),
        ({"epochs": 1.5}, TypeError, "epochs"),
        ({"epochs": True}, TypeError, "epochs"),
        (
            {"train_loader": DataLoader(TensorDataset(torch.zeros(0, 3), torch.zeros(0)))},
            ValueError,
            "train_loader",
        ),
        ({"train_loader": 5}, TypeError, "train_loader"),
        ({"val_loader": []}, ValueError, "val_loader"),
        ({"metrics": [accuracy]}, TypeError, "metrics"),
        ({"metrics": {"acc": 1.0}}, TypeError, "metrics"),
        ({"max_steps": 0}, ValueError, "max_steps"),
        ({"max_steps": 2.0}, TypeError, "max_steps"),
        ({"amp": True}, ValueError, "amp"),
        ({"channels_last": True}, ValueError, "channels_last"),
        ({"checkpoint": "/no/such/folder/model.pt"}, ValueError, "checkpoint"),
        ({"checkpoint_monitor": "val_loss"}, ValueError, "checkpoint_monitor"),
        ({"scheduler": 0.5}, TypeError, "scheduler"),
    ],
)
def test_fit_rejects_bad_arguments(change, error, word):
    kwargs = {**_good(), **change}
    with pytest.raises(error, match=word):
        quiet_fit(**kwargs)


def test_fit_explains_bad_batches_and_diverging_loss():
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    triples = [(torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, dtype=torch.long), "extra")]
    with pytest.raises(ValueError, match="step_fn"):
        quiet_fit(model, triples, F.cross_entropy, optimizer)
    with pytest.raises(ValueError, match="no batches"):
        quiet_fit(model, iter([]), F.cross_entropy, optimizer)
    pairs = [(torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, dtype=torch.long))]
    with pytest.raises(ValueError, match="reduction='mean'"):
        quiet_fit(model, pairs, lambda out, tgt: F.cross_entropy(out, tgt, reduction="none"), optimizer)
    with pytest.raises(FloatingPointError, match="nan"):
        quiet_fit(model, pairs, lambda out, tgt: out.sum() * float("nan"), optimizer)
    with pytest.raises(ValueError, match="checkpoint_monitor"):
        quiet_fit(
            model, pairs, F.cross_entropy, optimizer, checkpoint="model.pt", checkpoint_monitor="val_accuracy"
        )


def test_evaluate_rejects_bad_arguments():
    x, y = make_data()
    with pytest.raises(TypeError, match="model"):
        evaluate(None, loader(x, y))
    with pytest.raises(ValueError, match="loader"):
        evaluate(make_model(), [], device=CPU)


def test_options_after_the_optimizer_are_keyword_only():
    x, y = make_data()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="positional"):
        fit(model, loader(x, y), F.cross_entropy, optimizer, 2)
    with pytest.raises(TypeError, match="positional"):
        evaluate(model, loader(x, y), F.cross_entropy, {"accuracy": accuracy})
