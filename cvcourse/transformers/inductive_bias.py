"""Inductive bias (Exercise 7-1 (d)): a small ResNet, a small ViT and a windowed-attention ViT on
little and on more data.

He et al., "Deep Residual Learning", 2015, https://arxiv.org/abs/1512.03385 (ResNet);
Dosovitskiy et al., 2020, https://arxiv.org/abs/2010.11929 (ViT);
Liu et al., "Swin Transformer", 2021, https://arxiv.org/abs/2103.14030 (windowed attention).

The three models differ in how much they assume about images:

* ``SmallResNet``: convolutions, i.e. locality and translation equivariance built in (most bias);
* ``LocalViT(window=None)``: global self-attention; only the learned positional embeddings can
  teach it locality (least bias);
* ``LocalViT(window=w)``: the same ViT whose attention is restricted to w x w windows of patches,
  shifted by w/2 every other layer so information crosses window borders (Swin's idea, in between).

Departures from Swin, to keep one readable model: no patch merging (hierarchy), no relative
position bias, and the shifted windows are cut at the border (smaller windows there) instead of
Swin's cyclic shift; the [CLS] token attends to and is attended by every patch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from cvcourse._checks import check_choice, check_float, check_int
from cvcourse.architectures.resnet import BasicBlock, conv1x1

from .layers import TransformerEncoderLayer

__all__ = ["SmallResNet", "LocalViT", "window_attention_mask", "make_model", "data_size_experiment"]


def _basic_block(cin: int, cout: int, stride: int) -> BasicBlock:
    """Chapter 2's ``BasicBlock`` (conv3x3-BN-ReLU-conv3x3-BN + skip, ReLU); where the shape changes,
    the skip is a strided 1x1 conv + BN (``downsample``), created after the block's own convolutions
    so that a seed gives the same initial weights as before the block was shared."""
    block = BasicBlock(cin, cout, stride)
    if stride != 1 or cin != cout:
        block.downsample = nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))
    return block


class SmallResNet(nn.Module):
    """A 3-stage ResNet for 32 x 32 images: stem, 3 basic blocks (stride 1, 2, 2), GAP, linear.

    The blocks are ``cvcourse.architectures.resnet.BasicBlock`` (chapter 2's, = torchvision's).
    """

    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.blocks = nn.Sequential(
            _basic_block(width, width, 1),
            _basic_block(width, 2 * width, 2),
            _basic_block(2 * width, 2 * width, 2),
        )
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.stem(x))  # [N, 2w, H/4, W/4]
        return self.fc(x.mean(dim=(2, 3)))  # global average pooling -> [N, num_classes]


def window_attention_mask(grid: int, window: int, shift: int = 0) -> Tensor:
    """Attention mask of windowed self-attention over [CLS] + a grid x grid patch sequence.

    Patch (r, c) may attend to patch (r', c') only if both fall in the same window, the windows being
    the squares of side ``window`` of the grid offset by ``shift``: window id = ((r + shift) // w,
    (c + shift) // w). [CLS] (token 0) is not windowed.

    Returns:
        BoolTensor[T, T], T = 1 + grid^2, True = blocked (``nn.MultiheadAttention``'s convention).
    """
    grid = check_int("grid", grid, low=1)
    window = check_int("window", window, low=1)
    shift = check_int("shift", shift, low=0)
    if not (1 <= window <= grid) or not 0 <= shift < window:
        raise ValueError(
            f"need 1 <= window <= grid and 0 <= shift < window, got grid={grid}, "
            f"window={window}, shift={shift}"
        )
    r, c = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    wid = (((r + shift) // window) * (grid + window) + (c + shift) // window).flatten()  # [G*G]
    same = wid[:, None] == wid[None, :]  # [G*G, G*G]: same window
    allowed = torch.ones(1 + grid * grid, 1 + grid * grid, dtype=torch.bool)
    allowed[1:, 1:] = same
    return ~allowed


class LocalViT(nn.Module):
    """A small pre-norm ViT; with ``window`` set, each layer attends within (shifted) windows.

    Args:
        num_classes: classifier outputs.
        image_size, patch_size: input side and patch side P (grid = image_size / P).
        dim, depth, heads: token size, number of layers, heads per layer.
        window: window side in patches, or None for global attention (a plain ViT).
    """

    def __init__(
        self,
        num_classes: int,
        image_size: int = 32,
        patch_size: int = 4,
        dim: int = 32,
        depth: int = 3,
        heads: int = 4,
        window: int | None = None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("num_classes", num_classes),
            ("image_size", image_size),
            ("patch_size", patch_size),
            ("dim", dim),
            ("depth", depth),
            ("heads", heads),
        ):
            check_int(name, value, low=1)
        if window is not None:
            check_int("window", window, low=1)
        if image_size % patch_size:
            raise ValueError(f"image_size ({image_size}) must be divisible by patch_size ({patch_size})")
        self.grid = image_size // patch_size
        self.patch_embed = nn.Conv2d(3, dim, patch_size, patch_size)  # W_E
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, 1 + self.grid**2, dim) * 0.02)
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(
                dim,
                heads,
                2 * dim,
                dropout=0.0,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(depth)
        )
        for i in range(depth):  # shift every other layer by half a window, as Swin does
            mask = (
                None if window is None else window_attention_mask(self.grid, window, (i % 2) * (window // 2))
            )
            self.register_buffer(f"mask_{i}", mask, persistent=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # [N, G*G, dim]
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding
        for i, layer in enumerate(self.layers):
            x = layer(x, src_mask=getattr(self, f"mask_{i}"))
        return self.head(self.norm(x[:, 0]))


def make_model(kind: str, num_classes: int, image_size: int = 32) -> nn.Module:
    """``"resnet"``, ``"vit"`` or ``"windowed vit"`` (4 x 4-patch windows), all ~20-30 k parameters."""
    check_choice("kind", kind, ("resnet", "vit", "windowed vit"))
    num_classes = check_int("num_classes", num_classes, low=1)
    if kind == "resnet":
        return SmallResNet(num_classes, width=12)
    if kind == "vit":
        return LocalViT(num_classes, image_size)
    return LocalViT(num_classes, image_size, window=4)  # "windowed vit"


def data_size_experiment(
    train_set,
    val_set,
    sizes: Sequence[int],
    kinds: Sequence[str] = ("resnet", "windowed vit", "vit"),
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 2e-3,
    device: torch.device | str | None = None,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Train each kind of model on the first n training images for every n in ``sizes``.

    Every run: same seed, AdamW (lr, weight decay 0.05), cosine schedule, ``epochs`` epochs, trained
    with ``cvcourse.train.fit``; the score is the accuracy on the whole ``val_set``.

    Returns:
        ``{kind: [val accuracy for each size]}``.
    """
    from cvcourse.runtime import seed_everything
    from cvcourse.train import accuracy, evaluate, fit

    sizes = [check_int(f"sizes[{i}]", n) for i, n in enumerate(sizes)]
    for i, kind in enumerate(kinds):
        check_choice(f"kinds[{i}]", kind, ("resnet", "vit", "windowed vit"))
    epochs, batch_size = check_int("epochs", epochs, low=0), check_int("batch_size", batch_size, low=1)
    lr = check_float("lr", lr, low=0.0, low_inclusive=False)
    if any(n < 1 or n > len(train_set) for n in sizes):
        raise ValueError(f"sizes must be in [1, {len(train_set)}] (the training set), got {list(sizes)}")
    num_classes = len(train_set.classes)
    results: dict[str, list[float]] = {kind: [] for kind in kinds}
    val_loader = DataLoader(val_set, batch_size=256)
    for kind in kinds:
        for n in sizes:
            generator = seed_everything(seed)
            model = make_model(kind, num_classes)
            subset = torch.utils.data.Subset(train_set, range(n))
            loader = DataLoader(subset, batch_size=batch_size, shuffle=True, generator=generator)
            optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
            fit(
                model,
                loader,
                F.cross_entropy,
                optimizer,
                epochs=epochs,
                device=device,
                scheduler=scheduler,
                live_plot=False,
                progress=False,
            )
            score = evaluate(model, val_loader, metrics={"accuracy": accuracy}, device=device)
            results[kind].append(score["accuracy"])
    return results
