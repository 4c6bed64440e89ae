"""The model, data and training call shared by the torchrun worker and the single-process run."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cvcourse.train import accuracy, fit


def make_model() -> nn.Module:
    torch.manual_seed(0)  # every rank starts from the same weights (DDP also broadcasts rank 0's)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3)).double()


def make_loader(batch_size: int, shuffle: bool = False) -> DataLoader:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(48, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (48,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle)


def train(model, loader, val_loader):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    return fit(
        model,
        loader,
        nn.functional.cross_entropy,
        optimizer,
        epochs=3,
        val_loader=val_loader,
        metrics={"accuracy": accuracy},
        device="cpu",
        progress=False,
        live_plot=False,
    )
