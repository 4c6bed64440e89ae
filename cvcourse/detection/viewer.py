"""The chapter 4b detection viewer: the three trained detectors on unseen scenes.

``detection_viewer()`` shows one detector's predictions on one scene against the ground truth, each
detection green (true positive at IoU >= 0.5) or red (false positive), with the scene's AP@0.5 (COCO's,
``coco_map``) in the title. Controls: scene, detector, score threshold, NMS on / off (RetinaNet; the
other two need none), and an overlay of what the detector computed before its post-processing:
RetinaNet's **anchors** whose best class score passes the threshold, CenterNet's class-max
**heatmap** (and its peaks), DETR's **queries** (every query's box centre, bright where its best
object class passes the threshold, grey where "no object" wins).

Every detector's raw outputs are computed once, while the viewer is built (``precompute``: the
predictions at the lowest threshold with and without NMS, and the overlay's data), so a control
change only filters them (``viewer_view``, the pure function that computes what is shown) and redraws
the changed artists over a background kept per scene (``LiveArtists``). Filtering the predictions
made at a low threshold gives exactly the predictions made at a higher one: each detector thresholds
its scores before its NMS or peak selection, greedy NMS keeps a box only because of boxes scoring
higher, and the caps (top-k candidates, 100 detections) keep the highest scores.
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from torch import Tensor

from cvcourse._checks import check_bool, check_choice, check_float, check_type
from cvcourse.viz import LiveArtists, interactive_figure, style_axes

from .coco import coco_map
from .metrics import match_detections

__all__ = ["DETECTOR_NAMES", "OVERLAYS", "viewer_scenes", "precompute", "viewer_view", "detection_viewer"]

DETECTOR_NAMES = {"retinanet": "RetinaNet", "centernet": "CenterNet", "detr": "DETR"}
OVERLAYS = ("none", "anchors", "heatmap", "queries")
MIN_THRESHOLD = 0.05
IOU = 0.5
COLORS = {
    "tp": "#2ca02c",
    "fp": "#d62728",
    "gt": "#00e5ff",
    "anchor": "#ff9f1c",
    "on": "#ffd54f",
    "off": "#9e9e9e",
}
STYLE = {"description_width": "110px"}


def viewer_scenes(n: int = 4, seed: int = 777, size: int = 64) -> dict[str, dict]:
    """``n`` validation scenes (seed 777, never trained on): ``{name: {"image": Tensor[3, H, W],
    "boxes": Tensor[K, 4], "labels": Tensor[K]}}``."""
    from cvcourse.data import ShapesDetection

    data = ShapesDetection(n, size=size, seed=seed, max_objects=4)
    return {
        f"scene {i + 1}": {"image": image, "boxes": t["boxes"], "labels": t["labels"]}
        for i, (image, t) in enumerate(data[j] for j in range(n))
    }


def _overlay_data(inspected: dict) -> dict:
    """What an overlay needs from ``model.inspect``, by the keys each detector gives."""
    if "anchors" in inspected:  # RetinaNet: every anchor and its best class score
        return {
            "anchors": inspected["anchors"].cpu(),
            "anchor_scores": inspected["scores"].max(-1).values.cpu(),
        }
    if "heatmap" in inspected:  # CenterNet: the class-max heatmap at its stride
        return {
            "heatmap": inspected["heatmap"].max(0).values.cpu().numpy(),
            "stride": int(inspected["stride"]),
        }
    if "probs" in inspected:  # DETR: every query's box centre and its best object-class probability
        boxes = inspected["boxes"].cpu()
        return {
            "query_centres": (boxes[:, :2] + boxes[:, 2:]) / 2,
            "query_scores": inspected["probs"][:, :-1].max(-1).values.cpu(),
        }
    return {}


@torch.no_grad()
def precompute(models: dict, scenes: dict) -> dict:
    """Every detector's outputs on every scene: ``{(kind, scene): {"nms": prediction, "raw":
    prediction without NMS, **overlay data}}``, predictions at the lowest threshold (0.05)."""
    check_type("models", models, dict, "a dict kind -> detector")
    check_type("scenes", scenes, dict, "a dict name -> scene (viewer_scenes)")
    images = torch.stack([s["image"] for s in scenes.values()])
    out = {}
    for kind, model in models.items():
        model.eval()
        with_nms = model.predict(images, score_threshold=MIN_THRESHOLD, nms=True)
        without = model.predict(images, score_threshold=MIN_THRESHOLD, nms=False)
        for i, name in enumerate(scenes):
            entry = {"nms": with_nms[i], "raw": without[i]}
            entry.update(_overlay_data(model.inspect(images[i : i + 1])))
            out[(kind, name)] = entry
    return out


def viewer_view(
    outputs: dict, scene: dict, threshold: float, nms: bool = True, overlay: str = "none"
) -> dict:
    """What the viewer shows for one detector on one scene.

    Args:
        outputs: one entry of ``precompute``.
        scene: the scene (``boxes``, ``labels`` of the ground truth).
        threshold: the score threshold, >= 0.05.
        nms: use the predictions after NMS (a detector without NMS gives the same either way).
        overlay: one of ``OVERLAYS``.

    Returns:
        ``{"boxes", "scores", "labels", "tp"`` (bool per detection), ``"n_tp", "n_fp", "n_gt", "ap"``
        (the scene's COCO AP@0.5), ``"overlay_boxes"`` [M, 4], ``"heatmap"`` (ndarray or None),
        ``"stride"``, ``"points_on"``, ``"points_off"`` [M, 2], ``"note"`` (why an overlay is empty)}``.
    """
    threshold = check_float("threshold", threshold, low=MIN_THRESHOLD, high=1.0)
    check_bool("nms", nms)
    check_choice("overlay", overlay, OVERLAYS)
    pred = outputs["nms" if nms else "raw"]
    keep = pred["scores"] > threshold  # the detectors keep scores strictly above their threshold
    boxes, scores, labels = pred["boxes"][keep], pred["scores"][keep], pred["labels"][keep]
    tp = torch.zeros(len(boxes), dtype=torch.bool)
    for c in torch.unique(labels).tolist():
        mine = labels == c
        tp[mine] = match_detections(boxes[mine], scores[mine], scene["boxes"][scene["labels"] == c], IOU)[0]
    gt = {"boxes": scene["boxes"], "labels": scene["labels"]}
    ap = coco_map([{"boxes": boxes, "scores": scores, "labels": labels}], [gt])["map_50"]
    view = {
        "boxes": boxes, "scores": scores, "labels": labels, "tp": tp, "n_tp": int(tp.sum()),
        "n_fp": int((~tp).sum()), "n_gt": len(scene["boxes"]), "ap": max(float(ap), 0.0),
        "overlay_boxes": torch.zeros(0, 4), "heatmap": None, "stride": 1,
        "points_on": torch.zeros(0, 2), "points_off": torch.zeros(0, 2), "note": "",
    }  # fmt: skip
    key = {"anchors": "anchors", "heatmap": "heatmap", "queries": "query_centres"}.get(overlay)
    if key is not None and key not in outputs:
        view["note"] = f" ({overlay}: not this detector's)"
    elif overlay == "anchors":
        view["overlay_boxes"] = outputs["anchors"][outputs["anchor_scores"] >= threshold]
    elif overlay == "heatmap":
        view["heatmap"], view["stride"] = outputs["heatmap"], outputs["stride"]
    elif overlay == "queries":
        on = outputs["query_scores"] >= threshold
        view["points_on"], view["points_off"] = outputs["query_centres"][on], outputs["query_centres"][~on]
    return view


def _segments(boxes: Tensor) -> list[np.ndarray]:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) - 0.5  # imshow's pixel centres
    return [np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]) for x1, y1, x2, y2 in b]


def _points(points: Tensor) -> np.ndarray:
    return np.asarray(points, dtype=np.float64).reshape(-1, 2) - 0.5


def detection_viewer(models: dict | None = None, scenes: dict | None = None) -> widgets.VBox:
    """The three shipped detectors (``load_shapes_detector``) on four validation scenes.

    Args:
        models: ``{kind: detector}`` to show instead (any detectors with ``predict`` and ``inspect``).
        scenes: ``viewer_scenes()``-like scenes instead of the default four.

    Returns:
        the widget, with ``.controls`` (scene, detector, threshold, nms, overlay), ``.fig``,
        ``.state["view"]`` (the last ``viewer_view``) and ``.outputs`` (``precompute``'s).
    """
    if models is None:
        from .pretrained import load_shapes_detector

        models = {kind: load_shapes_detector(kind)[0] for kind in DETECTOR_NAMES}
    check_type("models", models, dict, "a dict kind -> detector")
    if not models:
        raise ValueError("models must hold at least one detector")
    scenes = viewer_scenes() if scenes is None else scenes
    outputs = precompute(models, scenes)
    names = {kind: DETECTOR_NAMES.get(kind, kind) for kind in models}
    controls = {
        "scene": widgets.Dropdown(options=list(scenes), description="scene", style=STYLE),
        "detector": widgets.Dropdown(
            options=[(v, k) for k, v in names.items()], description="detector", style=STYLE
        ),
        "threshold": widgets.FloatSlider(
            value=0.3, min=MIN_THRESHOLD, max=0.95, step=0.05, description="score threshold", style=STYLE
        ),
        "nms": widgets.Checkbox(value=True, description="NMS (RetinaNet)", style=STYLE),
        "overlay": widgets.Dropdown(options=list(OVERLAYS), description="overlay", style=STYLE),
    }
    fig, ax, canvas = interactive_figure(figsize=(5.6, 5.6))
    first = scenes[controls["scene"].value]
    size = first["image"].shape[-1]
    image_artist = ax.imshow(first["image"].permute(1, 2, 0).numpy())
    heat = ax.imshow(
        np.zeros((2, 2)), cmap="magma", vmin=0, vmax=1, alpha=0.6, extent=(-0.5, size - 0.5, size - 0.5, -0.5)
    )
    layers = {
        "anchor": LineCollection([], colors=COLORS["anchor"], linewidths=0.8, alpha=0.8),
        "gt": LineCollection([], colors=COLORS["gt"], linewidths=1.5, linestyles="--"),
        "fp": LineCollection([], colors=COLORS["fp"], linewidths=2.0),
        "tp": LineCollection([], colors=COLORS["tp"], linewidths=2.0),
    }
    for layer in layers.values():
        ax.add_collection(layer)
    dots = {
        k: ax.scatter(np.zeros(0), np.zeros(0), s=s, color=COLORS[k], linewidths=0)
        for k, s in (("off", 6), ("on", 22))
    }
    ax.set_xlim(-0.5, size - 0.5)
    ax.set_ylim(size - 0.5, -0.5)
    style_axes(ax, "detections", "x (pixels)", "y (pixels)")
    handles = [
        Line2D([], [], color=COLORS[k], linestyle="--" if k == "gt" else "-") for k in ("tp", "fp", "gt")
    ]
    fig.legend(
        handles,
        ["true positive", "false positive", "ground truth"],
        loc="outside lower center",
        ncols=3,
        fontsize="small",
    )
    # Live artists are drawn over everything else, in this order (matplotlib's z-order).
    live = LiveArtists(
        fig,
        [
            heat,
            layers["anchor"],
            layers["gt"],
            layers["fp"],
            layers["tp"],
            dots["off"],
            dots["on"],
            *ax.spines.values(),
            ax.title,
        ],
    )
    state = {"shown": None}

    def update(_change=None) -> None:
        name, kind = controls["scene"].value, controls["detector"].value
        controls["nms"].disabled = kind != "retinanet"
        view = viewer_view(
            outputs[(kind, name)],
            scenes[name],
            controls["threshold"].value,
            controls["nms"].value,
            controls["overlay"].value,
        )
        layers["gt"].set_segments(_segments(scenes[name]["boxes"]))
        layers["tp"].set_segments(_segments(view["boxes"][view["tp"]]))
        layers["fp"].set_segments(_segments(view["boxes"][~view["tp"]]))
        layers["anchor"].set_segments(_segments(view["overlay_boxes"]))
        heat.set_visible(view["heatmap"] is not None)
        if view["heatmap"] is not None:
            h, w = view["heatmap"].shape
            heat.set_data(view["heatmap"])
            heat.set_extent((-0.5, w * view["stride"] - 0.5, h * view["stride"] - 0.5, -0.5))
        dots["on"].set_offsets(_points(view["points_on"]))
        dots["off"].set_offsets(_points(view["points_off"]))
        ax.set_title(
            f"{names[kind]}: {view['n_tp']} TP, {view['n_fp']} FP of {view['n_gt']} objects, "
            f"AP@0.5 {view['ap']:.2f}{view['note']}",
            fontsize="medium",
        )
        state["view"] = view
        live.redraw(full=name != state["shown"], key=name)
        state["shown"] = name

    def show_scene(_change) -> None:
        image_artist.set_data(scenes[controls["scene"].value]["image"].permute(1, 2, 0).numpy())
        update()

    for name in sorted(scenes, key=lambda n: n == controls["scene"].value):  # the current one last
        image_artist.set_data(scenes[name]["image"].permute(1, 2, 0).numpy())
        live.prerender(name)
    controls["scene"].observe(show_scene, names="value")
    for key in ("detector", "threshold", "nms", "overlay"):
        controls[key].observe(update, names="value")
    update()
    rows = [
        widgets.HBox([controls["scene"], controls["detector"]]),
        widgets.HBox([controls["threshold"], controls["nms"]]),
        controls["overlay"],
    ]
    box = widgets.VBox([*rows, canvas])
    box.controls, box.fig, box.state, box.outputs = controls, fig, state, outputs
    return box
