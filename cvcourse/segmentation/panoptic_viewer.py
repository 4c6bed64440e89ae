"""The panoptic viewer: MaskFormer's queries, its merge step by step, PQ's matching, Mask R-CNN's instances.

Controls: ``scene`` (unseen scenes of seed 777), ``view`` (``VIEWS``), ``query`` (the MaskFormer query
shown, or the step of the merge). Both models run on every scene once while the widget is built;
a control only swaps the picture, the bar lengths and the texts (blitted by ``LiveArtists``).

What each view shows is computed by the pure functions of :mod:`~cvcourse.segmentation.panoptic_views`
(:func:`view_state` puts them together and is what the tests compare the canvas against).
"""

from __future__ import annotations

import inspect

import ipywidgets as widgets
import numpy as np
import torch
from torch import Tensor

from cvcourse._checks import check_choice, check_int, check_type
from cvcourse.data import STUFF_IDS, THING_IDS, ShapesSegmentation
from cvcourse.viz import LiveArtists, interactive_figure, style_axes

from .panoptic_views import (
    instances_picture,
    merge_picture,
    merge_trace,
    panoptic_picture,
    pq_picture,
    query_picture,
)
from .small_maskformer import panoptic_predict
from .viewer import CLASS_COLOURS

__all__ = ["VIEWS", "BAR_NAMES", "THRESHOLDS", "view_state", "panoptic_viewer"]

VIEWS = ("MaskFormer queries", "merge step by step", "PQ: matched / unmatched", "Mask R-CNN instances")
VAL_SEED = 777
# the merge's thresholds are those of the chapter's evaluation (panoptic_predict's defaults), so the
# merge drawn step by step is the map that is scored
THRESHOLDS = {
    name: p.default
    for name, p in inspect.signature(panoptic_predict).parameters.items()
    if name in ("object_mask_threshold", "overlap_threshold")
}


def _bar_names(classes) -> list[str]:
    return ["(0 void)", *classes[1:], "no object"]  # class index = category id, the last "no object"


BAR_NAMES = _bar_names(ShapesSegmentation(1, size=16, seed=0).classes)


def view_state(scene: dict, view: str, query: int) -> dict:
    """What the right two panels show for one scene, view and query.

    Args:
        scene: the precomputed scene (``image``, ``target`` panoptic map, MaskFormer ``logits``
            [Q, 10] and ``masks`` [Q, H, W], ``trace`` from ``merge_trace``, ``panoptic`` map,
            Mask R-CNN ``instances`` dict).
        view: one of ``VIEWS``.
        query: the query (0 .. Q - 1).

    Returns:
        ``{"picture": ndarray[H, W, 3], "bars": ndarray[10] (values in [0, 1] per class index),
        "title", "bars_title", "text"}``.
    """
    check_type("scene", scene, dict, "a precomputed scene dict")
    check_choice("view", view, VIEWS)
    query = check_int("query", query, low=0, high=len(scene["logits"]) - 1)
    bars = np.zeros(len(BAR_NAMES))
    image = scene["image"]
    if view in VIEWS[:2]:
        bars[:] = scene["logits"][query].softmax(-1).numpy()
        step = scene["trace"]["steps"][query]
        name = BAR_NAMES[step["label"]]
        status = f"{name} p={step['score']:.2f}: {step['status']}"
        bars_title = f"query {query}: class probabilities p_i(c)"
        if view == VIEWS[0]:
            picture, title = query_picture(image, scene["masks"][query]), f"query {query}: mask m_i"
        else:
            picture = merge_picture(image, scene["trace"], query)
            title = f"merge after queries 0..{query}"
        placed = sum(s["status"] == "placed" for s in scene["trace"]["steps"][: query + 1])
        text = f"query {query} ({status}); segments placed so far: {placed}"
    elif view == VIEWS[2]:
        picture, pq = scene["pq"]  # pq_picture(image, panoptic, target, THING_IDS, STUFF_IDS), precomputed
        match = pq["match"]
        for _, g, iou in match.matches:
            bars[g[0]] = max(bars[g[0]], iou)
        title = "green matched, red FP, blue FN"
        bars_title = "IoU of the matched segment per class"
        text = (
            f"TP {len(match.matches)}, FP {len(match.false_positives)}, FN {len(match.false_negatives)}: "
            f"PQ {pq['pq']:.2f} = SQ {pq['sq']:.2f} x RQ {pq['rq']:.2f} (this scene)"
        )
    else:
        found = scene["instances"]
        picture = instances_picture(image, found, 0.5)
        for label, score in zip(found["labels"].tolist(), found["scores"].tolist(), strict=True):
            bars[label] = max(bars[label], score)
        kept = int((found["scores"] >= 0.5).sum())
        title, bars_title = "Mask R-CNN: instances (score >= 0.5)", "best instance score per class"
        text = f"{kept} of {len(found['scores'])} detections with score >= 0.5"
    return {"picture": picture, "bars": bars, "title": title, "bars_title": bars_title, "text": text}


def _shipped_models() -> dict:
    from .small_mask_rcnn import load_shapes_mask_rcnn
    from .small_maskformer import load_shapes_maskformer

    return {"maskformer": load_shapes_maskformer()[0], "mask_rcnn": load_shapes_mask_rcnn()[0]}


@torch.no_grad()
def _scenes(models: dict, count: int) -> list[dict]:
    panoptic = ShapesSegmentation(count, size=64, seed=VAL_SEED, kind="panoptic")
    images = torch.stack([panoptic[i][0] for i in range(count)])
    out = models["maskformer"](images)
    detections = models["mask_rcnn"](list(images))
    scenes = []
    for i in range(count):
        logits, masks = out["pred_logits"][i].float(), out["pred_masks"][i].float()
        trace = merge_trace(logits, masks, THING_IDS, **THRESHOLDS)
        found = {k: detections[i][k].cpu() for k in ("masks", "scores", "labels")}
        scenes.append(
            {
                "image": images[i],
                "target": panoptic[i][1],
                "logits": logits,
                "masks": masks,
                "trace": trace,
                "panoptic": trace["panoptic"],
                "instances": found,
                "pq": pq_picture(images[i], trace["panoptic"], panoptic[i][1], THING_IDS, STUFF_IDS),
            }
        )
    return scenes


def panoptic_viewer(models: dict | None = None, scenes: int = 6) -> widgets.VBox:
    """Build the viewer (callable with no arguments: the shipped MaskFormer and Mask R-CNN, 6 scenes).

    Args:
        models: ``{"maskformer": images [N, 3, 64, 64] -> {"pred_logits": [N, Q, 10], "pred_masks":
            [N, Q, 64, 64]}, "mask_rcnn": list of [3, 64, 64] -> torchvision's list of dicts}`` (in eval
            mode); default ``load_shapes_maskformer()`` and ``load_shapes_mask_rcnn()``.
        scenes: how many unseen scenes (seed 777) the ``scene`` slider runs over.

    Returns:
        the ``VBox`` with ``.controls`` (``scene``, ``view``, ``query``), ``.fig``, ``.scenes`` (the
        precomputed scenes) and ``.state`` (what is drawn: ``view_state``'s dict).
    """
    scenes = check_int("scenes", scenes, low=1, high=32)
    models = _shipped_models() if models is None else models
    check_type("models", models, dict, "a dict with 'maskformer' and 'mask_rcnn'")
    missing = {"maskformer", "mask_rcnn"} - set(models)
    if missing:
        raise ValueError(f"models must hold 'maskformer' and 'mask_rcnn', missing {sorted(missing)}")
    data = _scenes(models, scenes)
    Q = len(data[0]["logits"])

    fig, (ax_image, ax_truth, ax_view, ax_bars), canvas = interactive_figure(figsize=(13.0, 3.8), ncols=4)
    image_artist = ax_image.imshow(_rgb(data[0]["image"]))
    style_axes(ax_image, "scene (seed 777, unseen)", "x (pixels)", "y (pixels)")
    truth_artist = ax_truth.imshow(np.zeros((64, 64, 3)))
    style_axes(ax_truth, "ground truth (panoptic)", "x (pixels)", "y (pixels)")
    view_artist = ax_view.imshow(np.zeros((64, 64, 3)))
    style_axes(ax_view, " ", "x (pixels)", "y (pixels)")
    colours = [*CLASS_COLOURS[: len(BAR_NAMES) - 1], (0.5, 0.5, 0.5)]
    bars = ax_bars.barh(np.arange(len(BAR_NAMES)), np.zeros(len(BAR_NAMES)), color=colours)
    ax_bars.set_yticks(np.arange(len(BAR_NAMES)), BAR_NAMES, fontsize=8)
    ax_bars.invert_yaxis()
    ax_bars.set_xlim(0, 1)
    style_axes(ax_bars, " ", "value")
    info = fig.text(0.5, 0.01, "", ha="center", fontsize=9)

    controls = {
        "scene": widgets.IntSlider(value=0, min=0, max=scenes - 1, description="scene"),
        "view": widgets.Dropdown(options=list(VIEWS), value=VIEWS[0], description="view"),
        "query": widgets.IntSlider(value=0, min=0, max=Q - 1, description="query / step"),
    }
    live = LiveArtists(
        fig, [image_artist, truth_artist, view_artist, ax_view.title, ax_bars.title, *bars, info]
    )
    state: dict = {}

    def redraw(_change=None) -> None:
        scene = data[controls["scene"].value]
        shown = view_state(scene, controls["view"].value, controls["query"].value)
        image_artist.set_data(_rgb(scene["image"]))
        truth_artist.set_data(_truth(scene["target"]))
        view_artist.set_data(shown["picture"])
        ax_view.set_title(shown["title"])
        ax_bars.set_title(shown["bars_title"])
        for bar, value in zip(bars, shown["bars"], strict=True):
            bar.set_width(float(value))
        info.set_text(shown["text"])
        state.clear()
        state.update(shown)
        live.redraw()

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox([controls["scene"], controls["view"]]), controls["query"], canvas])
    box.controls, box.fig, box.state, box.scenes = controls, fig, state, data
    return box


def _rgb(image: Tensor) -> np.ndarray:
    return image.permute(1, 2, 0).numpy()


def _truth(target: Tensor) -> np.ndarray:
    return panoptic_picture(target)
