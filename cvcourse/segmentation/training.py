r"""Training and scoring semantic segmenters on ``ShapesSegmentation``: what notebook and script share.

The loss is the notes' pixel-wise cross-entropy (section 5.1.2): for image :math:`i` with true class
:math:`c_{(u,v)}` at pixel :math:`(u, v)` and scores :math:`s_{(u,v)} \in \mathbb{R}^{C}`,

.. math:: \mathcal{L}^{(i)} = \frac{1}{HW}\sum_{(u,v)} -\log \operatorname{softmax}(s_{(u,v)})_{c_{(u,v)}}

(``F.cross_entropy`` on logits [N, C, H, W] and labels [N, H, W]: the mean over every pixel).
A shape covers 1-4 % of a scene, so the cross-entropy is mostly about sky, ground and water;
``loss="ce+dice"`` adds the soft Dice loss over the 8 real classes
(:func:`cvcourse.segmentation.losses.soft_dice_loss`), in which every class weighs the same, as in mIoU.

* :func:`segmentation_tensors`: a ``ShapesSegmentation`` set rendered once into tensors;
* :class:`RandomHFlip`: mirror image and labels together (sky stays on top, so no vertical flip);
* :func:`pixel_cross_entropy`: the loss, with clear errors for labels out of range, mismatched
  shapes and wrong dtypes; :func:`ce_dice_loss`: it plus the soft Dice loss;
* :func:`train_segmenter`: ``cvcourse.train.fit`` with AdamW and a cosine learning-rate decay;
  the validation mIoU per epoch is computed on the whole validation set at once (one batch), so it
  is the data set's mIoU, not a mean of per-batch ones;
* :func:`evaluate_segmenter`: mIoU, pixel accuracy, IoU per class, time per image, parameters;
* :func:`pretrain_vs_scratch`: the report's experiment (``004_...``) on our data: the same U-Net
  fine-tuned from an encoder pre-trained on ``ShapesClassification``, and trained from scratch.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from cvcourse._checks import check_bool, check_choice, check_float, check_int, check_tensor, check_type
from cvcourse.data import ShapesClassification, ShapesSegmentation
from cvcourse.train import History, accuracy, fit

from .losses import soft_dice_loss
from .metrics import confusion_matrix, mean_iou, scores_from_confusion

__all__ = [
    "NUM_CLASSES",
    "VAL_SEED",
    "segmentation_tensors",
    "RandomHFlip",
    "check_logits_and_labels",
    "pixel_cross_entropy",
    "ce_dice_loss",
    "LOSSES",
    "batch_miou",
    "train_segmenter",
    "predict_labels",
    "evaluate_segmenter",
    "pretrain_vs_scratch",
]

NUM_CLASSES = 9  # ShapesSegmentation: 0 void (never produced), things 1-5, stuff 6-8
VAL_SEED = 777  # the scenes quality is measured on; never used for training (seeds 0 .. 9 are)


def segmentation_tensors(dataset: ShapesSegmentation) -> TensorDataset:
    """``(images [N, 3, H, W] float in [0, 1], labels [N, H, W] int64)`` of every scene, rendered once."""
    check_type("dataset", dataset, ShapesSegmentation, "a cvcourse.data.ShapesSegmentation")
    if dataset.kind != "semantic":
        raise ValueError(f"dataset must have kind='semantic', got kind={dataset.kind!r}")
    items = [dataset[i] for i in range(len(dataset))]
    images = (
        torch.stack([image for image, _ in items]) if items else torch.zeros(0, 3, dataset.size, dataset.size)
    )
    labels = (
        torch.stack([label for _, label in items])
        if items
        else torch.zeros(0, dataset.size, dataset.size, dtype=torch.long)
    )
    return TensorDataset(images, labels)


class RandomHFlip(Dataset):
    """Wrap a dataset of ``(image [3, H, W], labels [H, W])``: mirror both with probability ``p``."""

    def __init__(self, dataset: Dataset, p: float = 0.5, seed: int = 0) -> None:
        self.dataset, self.p = dataset, check_float("p", p, low=0.0, high=1.0)
        self.generator = torch.Generator().manual_seed(check_int("seed", seed, low=0))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image, labels = self.dataset[index]
        if torch.rand((), generator=self.generator) < self.p:
            return image.flip(-1), labels.flip(-1)
        return image, labels


def check_logits_and_labels(logits: Tensor, labels: Tensor, num_classes: int | None = None) -> None:
    """Logits [N, C, H, W] (float) and labels [N, H, W] (integer, each in ``0 .. C - 1``).

    Raises:
        TypeError: not tensors, float labels or integer logits.
        ValueError: shapes that do not match, or a label outside ``0 .. C - 1``.
    """
    sizes: dict[str, int] = {} if num_classes is None else {"C": num_classes}
    check_tensor("logits", logits, shape=("N", "C", "H", "W"), dtype="float", sizes=sizes)
    check_tensor("labels", labels, shape=("N", "H", "W"), dtype="int", sizes=sizes)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= logits.shape[1]):
        raise ValueError(
            f"labels must lie in 0 .. {logits.shape[1] - 1} (one per logit channel), got values "
            f"from {int(labels.min())} to {int(labels.max())}"
        )


def pixel_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """The mean cross-entropy over every pixel of logits [N, C, H, W] against labels [N, H, W]."""
    check_logits_and_labels(logits, labels)
    return F.cross_entropy(logits, labels)


REAL_CLASSES = torch.arange(1, NUM_CLASSES)  # void (0) never occurs: left out of Dice, as of mIoU


def ce_dice_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """:func:`pixel_cross_entropy` + the soft Dice loss over the classes 1 .. 8 (not void), batch-wide."""
    check_logits_and_labels(logits, labels)
    classes = REAL_CLASSES[REAL_CLASSES < logits.shape[1]]
    return F.cross_entropy(logits, labels) + soft_dice_loss(logits, labels, classes=classes)


LOSSES = {"ce": pixel_cross_entropy, "ce+dice": ce_dice_loss}  # train_segmenter's ``loss`` choices


def batch_miou(logits: Tensor, labels: Tensor) -> float:
    """mIoU of a batch's predictions (argmax of logits [N, C, H, W]) against labels [N, H, W].

    Classes absent from both prediction and truth are left out of the mean (as torchmetrics does).
    """
    check_logits_and_labels(logits, labels)
    return float(mean_iou(logits.argmax(1), labels, logits.shape[1]))


def _loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


def train_segmenter(
    model: nn.Module,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    train_scenes: int,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
    size: int = 64,
    val_scenes: int = 0,
    val_seed: int = 9,
    weight_decay: float = 1e-4,
    live_plot: bool = True,
    max_steps: int | None = None,
    train_data: Dataset | None = None,
    loss: str = "ce",
) -> History:
    """Train ``model`` (images -> logits [N, 9, H, W]) on ``ShapesSegmentation(train_scenes, size, seed)``.

    AdamW (``lr``, ``weight_decay``) with a cosine decay from ``lr`` to ``lr / 20`` over the epochs,
    horizontal flips, pixel-wise cross-entropy, through ``cvcourse.train.fit``. The model is left
    in eval mode.

    Args:
        model: the segmenter; trained in place.
        epochs, lr, batch_size: the optimisation.
        train_scenes: number of training scenes.
        seed: seed of the training scenes (0 .. 9 by the course's convention; 777 is for testing)
            and of the shuffling.
        device, progress, live_plot, max_steps: passed to ``fit``.
        size: image side in pixels.
        val_scenes: scenes of ``val_seed`` to measure ``history["val_miou"]`` on after every epoch
            (0: no validation).
        weight_decay: AdamW's decoupled weight decay.
        train_data: ready ``(image, labels)`` pairs instead of rendering ``train_scenes`` scenes.
        loss: ``"ce"`` (pixel-wise cross-entropy) or ``"ce+dice"`` (:func:`ce_dice_loss`).

    Returns:
        the History: ``train_loss``, ``train_miou`` (mean over batches), and with ``val_scenes``
        ``val_loss`` and ``val_miou`` (over the whole validation set), one per epoch.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    epochs, batch_size = check_int("epochs", epochs, low=1), check_int("batch_size", batch_size, low=1)
    lr = check_float("lr", lr, low=0.0, low_inclusive=False)
    weight_decay = check_float("weight_decay", weight_decay, low=0.0)
    train_scenes, seed = check_int("train_scenes", train_scenes, low=1), check_int("seed", seed, low=0)
    val_scenes, val_seed = check_int("val_scenes", val_scenes, low=0), check_int("val_seed", val_seed, low=0)
    check_bool("progress", progress)
    loss_fn = LOSSES[check_choice("loss", loss, LOSSES)]
    if val_scenes and val_seed == seed:
        raise ValueError(f"val_seed must differ from the training seed, got {val_seed} for both")
    if train_data is None:
        train_data = segmentation_tensors(ShapesSegmentation(train_scenes, size=size, seed=seed))
    val_loader = None
    if val_scenes:  # one batch: the metric of that batch is the validation set's mIoU
        val = segmentation_tensors(ShapesSegmentation(val_scenes, size=size, seed=val_seed))
        val_loader = [val.tensors]
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=lr / 20)
    history = fit(
        model,
        _loader(RandomHFlip(train_data, seed=seed), batch_size, True, seed),
        loss_fn,
        optimizer,
        epochs=epochs,
        val_loader=val_loader,
        metrics={"miou": batch_miou},
        device=device,
        scheduler=scheduler,
        progress=progress,
        live_plot=live_plot,
        max_steps=max_steps,
    )
    model.eval()
    return history


@torch.no_grad()
def predict_labels(model: nn.Module, images: Tensor, batch_size: int = 64) -> Tensor:
    """The predicted class of every pixel: argmax of ``model(images)`` -> LongTensor [N, H, W].

    A torchvision-style model returning ``{"out": ...}`` is read through its ``"out"``.
    """
    check_tensor("images", images, shape=("N", 3, "H", "W"), dtype="float")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    chunks = []
    for start in range(0, len(images), batch_size):
        logits = model(images[start : start + batch_size].to(device))
        logits = logits["out"] if isinstance(logits, dict) else logits
        chunks.append(logits.argmax(1).cpu())
    model.train(was_training)
    return torch.cat(chunks) if chunks else torch.zeros(0, *images.shape[2:], dtype=torch.long)


def evaluate_segmenter(model: nn.Module, dataset: Dataset, batch_size: int = 64) -> dict:
    """Score ``model`` on every ``(image, labels)`` pair of ``dataset`` (all pixels pooled).

    The mIoU is torchmetrics' ``MulticlassJaccardIndex(9, average="macro")`` of all pixels pooled:
    the mean IoU over the classes that occur in the truth *or* the prediction. Void (0) never occurs
    in the truth, so it is left out unless the model predicts it somewhere; then it enters with
    IoU 0, as it should (those pixels are wrong). ``"classes_in_miou"`` lists the ids averaged.

    Returns:
        ``{"miou", "pixel_accuracy", "mean_accuracy", "iou_per_class"`` (list of NUM_CLASSES
        floats; 0 for a class neither predicted nor present, e.g. void, which the mIoU leaves out),
        ``"classes_in_miou"`` (the class ids in the mean), ``"confusion"`` (rows truth, columns
        prediction), ``"ms_per_image"`` (inference on this machine), ``"params", "scenes"}``, from
        the confusion matrix of all pixels pooled.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    check_int("batch_size", batch_size, low=1)
    if isinstance(dataset, ShapesSegmentation):
        dataset = segmentation_tensors(dataset)
    if len(dataset) == 0:
        raise ValueError("dataset must hold at least one scene, got an empty one")
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    labels = torch.stack([dataset[i][1] for i in range(len(dataset))])
    start = time.perf_counter()
    predicted = predict_labels(model, images, batch_size)
    seconds = time.perf_counter() - start
    confusion = confusion_matrix(predicted, labels, NUM_CLASSES)  # all pixels of all scenes pooled
    scores = scores_from_confusion(confusion)
    return {
        "miou": float(scores["mean_iou"]),
        "pixel_accuracy": float(scores["pixel_accuracy"]),
        "mean_accuracy": float(scores["mean_accuracy"]),
        "iou_per_class": scores["iou_per_class"].tolist(),
        # in the truth or in the prediction: the classes mean_iou averages over
        "classes_in_miou": [c for c in range(NUM_CLASSES) if confusion[c].sum() + confusion[:, c].sum() > 0],
        "confusion": confusion.tolist(),
        "ms_per_image": 1000 * seconds / len(images),
        "params": sum(p.numel() for p in model.parameters()),
        "scenes": len(images),
    }


class EncoderClassifier(nn.Module):
    """A U-Net's encoder + global average pooling + a linear layer: images -> class logits [N, K].

    It *shares* the U-Net's encoder modules, so training it pre-trains that U-Net's encoder in place.
    """

    def __init__(self, unet: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.unet = unet
        self.fc = nn.Linear(
            unet.config.width * 2**unet.config.depth, check_int("num_classes", num_classes, low=2)
        )

    def forward(self, x: Tensor) -> Tensor:
        bottleneck = self.unet.encode(x)[-1]  # [N, w 2^d, H / 2^d, W / 2^d]
        return self.fc(bottleneck.mean(dim=(2, 3)))  # [N, K]


PRETRAIN_SIZES = {  # fast: seconds (a picture of the procedure); full: the experiment
    "fast": {
        "cls_images": 64,
        "pretrain_epochs": 1,
        "seg_scenes": 16,
        "epochs": 2,
        "val_scenes": 20,
        "width": 8,
    },
    "full": {
        "cls_images": 3000,
        "pretrain_epochs": 4,
        "seg_scenes": 100,
        "epochs": 12,
        "val_scenes": 100,
        "width": 16,
    },
}


def pretrain_vs_scratch(
    *, fast: bool = True, seed: int = 0, progress: bool = True, device: torch.device | str | None = None
) -> dict:
    """The report's experiment on our data: pre-trained encoder + fine-tuning vs training from scratch.

    1. Pre-train: a U-Net's encoder with a linear classifier (:class:`EncoderClassifier`) learns to
       name the single shape of ``ShapesClassification`` images (seed 1, 64 x 64; a different task
       and different data, as ImageNet is for pets).
    2. Fine-tune: that U-Net (its decoder still random) on few segmentation scenes (seed 0).
    3. From scratch: the same U-Net, the same initialisation of the decoder, the same scenes, the same
       steps, but a random encoder.

    Both are scored on the validation scenes (seed 9) after every epoch. Sizes are
    ``PRETRAIN_SIZES["fast" or "full"]``.

    Returns:
        ``{"epochs": [1, 2, ...], "pretrained": [mIoU per epoch], "scratch": [mIoU per epoch],
        "pretrain_accuracy": training accuracy of the classifier in its last epoch, "sizes": ...}``.
    """
    check_bool("fast", fast)
    sizes = PRETRAIN_SIZES["fast" if fast else "full"]
    from .unet import UNet

    torch.manual_seed(check_int("seed", seed, low=0))
    scratch = UNet(width=sizes["width"])
    pretrained = UNet(width=sizes["width"])
    pretrained.load_state_dict(scratch.state_dict())  # the same starting point everywhere
    images = ShapesClassification(sizes["cls_images"], size=64, seed=1)
    classifier = EncoderClassifier(pretrained, len(images.classes))
    cls_history = fit(
        classifier,
        _loader(images, 32, True, seed),
        F.cross_entropy,
        torch.optim.AdamW(classifier.parameters(), lr=3e-3, weight_decay=1e-4),
        epochs=sizes["pretrain_epochs"],
        metrics={"accuracy": accuracy},
        device=device,
        progress=progress,
        live_plot=False,
    )
    curves = {}
    for name, model in (("pretrained", pretrained), ("scratch", scratch)):
        history = train_segmenter(
            model,
            epochs=sizes["epochs"],
            lr=2e-3,
            batch_size=8,
            train_scenes=sizes["seg_scenes"],
            seed=seed,
            val_scenes=sizes["val_scenes"],
            val_seed=9 if seed != 9 else 8,
            device=device,
            progress=progress,
            live_plot=False,
        )
        curves[name] = history["val_miou"]
    return {
        "epochs": list(range(1, sizes["epochs"] + 1)),
        **curves,
        "pretrain_accuracy": cls_history["train_accuracy"][-1],
        "sizes": dict(sizes),
    }
