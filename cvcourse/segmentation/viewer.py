"""The segmentation viewer: a scene, the shipped U-Net's or SegFormer's labels, and the IoU of every class.

Controls: ``scene`` (unseen scenes of seed 777), ``model`` (U-Net / SegFormer), ``show`` (ground
truth / prediction / errors). Every model's prediction on every scene is computed once while the
widget is built, so a control only swaps pictures and bar lengths (blitted by ``LiveArtists``).

The pure part is :func:`label_picture` (what the middle panel shows) and :func:`scene_ious` (the bars:
IoU per class of one scene, from the chapter's :mod:`~cvcourse.segmentation.metrics`).
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from torch import Tensor

from cvcourse._checks import check_choice, check_int, check_tensor
from cvcourse.data import ShapesSegmentation
from cvcourse.viz import LiveArtists, interactive_figure, palette, style_axes

from .metrics import confusion_matrix, scores_from_confusion
from .training import NUM_CLASSES, VAL_SEED, predict_labels

__all__ = ["SHOW", "CLASS_COLOURS", "label_picture", "scene_ious", "segmentation_viewer"]

SHOW = ("ground truth", "prediction", "errors")
CLASS_COLOURS = np.array([(0.0, 0.0, 0.0), *palette(NUM_CLASSES - 1)])  # void black, then tab10
MODEL_NAMES = {"U-Net": "unet", "SegFormer": "segformer"}


def label_picture(image: Tensor, labels: Tensor, predicted: Tensor, show: str) -> np.ndarray:
    """The middle panel: ndarray[H, W, 3] in [0, 1].

    ``"ground truth"`` / ``"prediction"``: each pixel in its class colour (``CLASS_COLOURS``);
    ``"errors"``: the image dimmed to grey, the wrongly labelled pixels in red.
    """
    check_tensor("image", image, shape=(3, "H", "W"), dtype="float")
    sizes: dict[str, int] = {"H": image.shape[1], "W": image.shape[2]}
    check_tensor("labels", labels, shape=("H", "W"), dtype="int", sizes=sizes)
    check_tensor("predicted", predicted, shape=("H", "W"), dtype="int", sizes=sizes)
    check_choice("show", show, SHOW)
    if show != "errors":
        chosen = labels if show == "ground truth" else predicted
        return CLASS_COLOURS[chosen.clamp(0, NUM_CLASSES - 1).numpy()]
    grey = 0.25 + 0.5 * image.mean(0, keepdim=True).permute(1, 2, 0).numpy().repeat(3, axis=2)
    grey[(predicted != labels).numpy()] = (0.9, 0.1, 0.1)
    return grey


def scene_ious(labels: Tensor, predicted: Tensor) -> np.ndarray:
    """IoU of classes 1 .. 8 on one scene, ndarray[8]; NaN for a class neither present nor predicted."""
    confusion = confusion_matrix(predicted, labels, NUM_CLASSES)
    iou = scores_from_confusion(confusion)["iou_per_class"].numpy()[1:]
    present = (confusion.sum(0) + confusion.sum(1)).numpy()[1:] > 0
    return np.where(present, iou, np.nan)


def _shipped_models() -> dict:
    from .pretrained import load_shapes_segmenter

    models = {}
    for name, kind in MODEL_NAMES.items():
        try:
            models[name] = load_shapes_segmenter(kind)[0]
        except FileNotFoundError:  # a model not shipped (yet): the menu offers the others
            continue
    if not models:
        raise FileNotFoundError(
            "no shipped segmenter: run data/scripts/train_shapes_segmenter.py --kind unet"
        )
    return models


def segmentation_viewer(models: dict | None = None, scenes: int = 8) -> widgets.VBox:
    """Build the viewer (callable with no arguments: the shipped models on 8 scenes of seed 777).

    Args:
        models: ``{name: model (images -> logits [N, 9, H, W])}``; default the shipped U-Net and SegFormer.
        scenes: how many unseen scenes the ``scene`` slider runs over.

    Returns:
        the ``VBox`` with ``.controls`` (``scene``, ``model``, ``show``), ``.fig`` and ``.state``
        (what is drawn: ``picture``, ``ious``).
    """
    scenes = check_int("scenes", scenes, low=1, high=64)
    models = _shipped_models() if models is None else models
    data = ShapesSegmentation(scenes, size=64, seed=VAL_SEED)
    images = torch.stack([data[i][0] for i in range(scenes)])
    labels = torch.stack([data[i][1] for i in range(scenes)])
    predictions = {name: predict_labels(model, images) for name, model in models.items()}  # [S, H, W]
    ious = {
        name: [scene_ious(labels[i], predicted[i]) for i in range(scenes)]
        for name, predicted in predictions.items()
    }

    fig, (ax_image, ax_labels, ax_iou), canvas = interactive_figure(figsize=(10.0, 3.6), ncols=3)
    image_artist = ax_image.imshow(images[0].permute(1, 2, 0).numpy())
    style_axes(ax_image, "scene (seed 777, unseen)", "x (pixels)", "y (pixels)")
    labels_artist = ax_labels.imshow(np.zeros((64, 64, 3)))
    style_axes(ax_labels, "ground truth", "x (pixels)", "y (pixels)")
    classes = data.classes[1:]
    bars = ax_iou.barh(np.arange(len(classes)), np.zeros(len(classes)), color=CLASS_COLOURS[1:])
    ax_iou.set_yticks(np.arange(len(classes)), classes)
    ax_iou.invert_yaxis()
    ax_iou.set_xlim(0, 1)
    style_axes(ax_iou, "IoU per class", "IoU (this scene)")
    bar_texts = [ax_iou.text(0.02, i, "", va="center", fontsize=8) for i in range(len(classes))]

    names = list(models)
    controls = {
        "scene": widgets.IntSlider(value=0, min=0, max=scenes - 1, description="scene"),
        "model": widgets.Dropdown(options=names, value=names[0], description="model"),
        "show": widgets.ToggleButtons(options=list(SHOW), value=SHOW[0], description="show"),
    }
    live = LiveArtists(fig, [image_artist, labels_artist, ax_labels.title, ax_iou.title, *bars, *bar_texts])
    state: dict = {}

    def redraw(_change=None) -> None:
        i, name, show = controls["scene"].value, controls["model"].value, controls["show"].value
        picture = label_picture(images[i], labels[i], predictions[name][i], show)
        image_artist.set_data(images[i].permute(1, 2, 0).numpy())
        labels_artist.set_data(picture)
        ax_labels.set_title(f"{name}: {show}" if show != "ground truth" else "ground truth")
        scores = ious[name][i]
        for bar, text, value in zip(bars, bar_texts, scores, strict=True):
            bar.set_width(0.0 if np.isnan(value) else value)
            text.set_text("absent" if np.isnan(value) else f"{value:.2f}")
        ax_iou.set_title(f"{name} IoU per class (mIoU {np.nanmean(scores):.2f})")
        state.update(picture=picture, ious=scores)
        live.redraw()

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox([controls["scene"], controls["model"]]), controls["show"], canvas])
    box.controls, box.fig, box.state = controls, fig, state
    return box
