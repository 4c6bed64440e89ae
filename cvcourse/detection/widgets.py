"""The chapter's three explorers: anchors (RPN labelling), greedy NMS step by step, and the
precision-recall curve with its AP.

Each is a thin ipywidgets view over a pure function of :mod:`cvcourse.detection.explorers` that
computes what it shows (``anchor_view``, ``nms_view``, ``pr_view``), on synthetic ``ShapesDetection``
scenes with synthetic scored candidates (``synthetic_detections``).
Drawing goes through ``LiveArtists``: a control change redraws the boxes, points and
titles (and the spines, which lie over them) over a background that holds the picture, one
background per scene, rendered while building. Live artists are drawn over everything else, so
they are listed in matplotlib's z-order and nothing static lies over them (the PR legend sits
below the panels).
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.patches import Polygon

from cvcourse.viz import LiveArtists, interactive_figure, style_axes

from .explorers import (
    CLOSE_OBJECTS,
    COLORS,
    RATIOS,
    SIZE,
    STYLE,
    anchor_view,
    detection_scenes,
    nms_view,
    pr_view,
    synthetic_detections,
)
from .viewer import detection_viewer  # noqa: F401  (chapter 4b's viewer, importable from here too)

__all__ = [
    "detection_scenes",
    "synthetic_detections",
    "anchor_view",
    "nms_view",
    "pr_view",
    "anchor_explorer",
    "nms_explorer",
    "pr_curve_explorer",
    "CLOSE_OBJECTS",
]


def _segments(boxes) -> list[np.ndarray]:
    """Closed outlines of boxes in imshow coordinates (pixel edges shifted by -0.5, as draw_boxes)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) - 0.5
    return [np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]) for x1, y1, x2, y2 in b]


def _scene_axes(ax, scene: dict, title: str) -> tuple:
    """The picture and its ground truth (dashed), the static part of every explorer."""
    image_artist = ax.imshow(scene["image"])
    gt = LineCollection(_segments(scene["boxes"]), colors=COLORS["gt"], linewidths=1.5, linestyles="--")
    ax.add_collection(gt)
    style_axes(ax, title, "x (pixels)", "y (pixels)")
    return image_artist, gt


def _show_scene(image_artist, gt, scene: dict) -> None:
    image_artist.set_data(scene["image"])
    gt.set_segments(_segments(scene["boxes"]))


def _box(children, controls, fig, canvas, **extra) -> widgets.VBox:
    box = widgets.VBox([*children, canvas])
    box.controls, box.fig = controls, fig
    for name, value in extra.items():
        setattr(box, name, value)
    return box


def _connect(
    live: LiveArtists, controls: dict, scenes: dict, scene_artists: tuple, update, keys, on_scene=None
) -> None:
    """What every explorer does last: render one background per scene (the current one last), make
    the scene menu show its scene, make ``keys`` call ``update``, and draw the first picture."""
    image_artist, gt_lines = scene_artists
    for name in sorted(scenes, key=lambda n: n == controls["scene"].value):
        _show_scene(image_artist, gt_lines, scenes[name])
        live.prerender(name)

    def show_scene(_change) -> None:
        _show_scene(image_artist, gt_lines, scenes[controls["scene"].value])
        update()

    controls["scene"].observe(on_scene or show_scene, names="value")
    for key in keys:
        controls[key].observe(update, names="value")
    update()


def anchor_explorer() -> widgets.VBox:
    """Anchors over a scene, coloured by their RPN label (positive / negative / ignored), counts in
    the title; pick a ground-truth box to see its best anchors and their IoU."""
    scenes = detection_scenes(close_objects=False)
    controls = {
        "scene": widgets.Dropdown(options=list(scenes), description="scene", style=STYLE),
        "scale": widgets.SelectionSlider(
            options=[8, 12, 16, 24, 32, 48], value=16, description="anchor size", style=STYLE
        ),
        "ratios": widgets.Dropdown(
            options=list(RATIOS), value="0.5, 1, 2", description="aspect ratios h/w", style=STYLE
        ),
        "stride": widgets.SelectionSlider(options=[4, 8, 16, 32], value=8, description="stride", style=STYLE),
        "gt": widgets.Dropdown(options=[], description="ground truth", style=STYLE),
    }
    fig, ax, canvas = interactive_figure(figsize=(5.6, 5.2))
    image_artist, gt_lines = _scene_axes(ax, scenes[controls["scene"].value], "anchors")
    # one scatter per label, each of one colour and size: Agg then stamps a single marker (fast)
    dots = {
        label: ax.scatter(np.zeros(0), np.zeros(0), s=size, color=COLORS[name], linewidths=0)
        for label, name, size in ((0, "negative", 3.0), (-1, "ignored", 12.0), (1, "positive", 14.0))
    }
    positives = LineCollection([], colors=COLORS["positive"], linewidths=1.0, alpha=0.8)
    best = LineCollection([], colors=COLORS["current"], linewidths=2.2)
    for artist in (positives, best):
        ax.add_collection(artist)
    tags = [
        ax.text(
            0,
            0,
            "",
            color="white",
            fontsize="small",
            visible=False,
            bbox={"facecolor": COLORS["current"], "edgecolor": "none", "pad": 1},
        )
        for _ in range(3)
    ]
    ax.set_xlim(-0.5, SIZE - 0.5)
    ax.set_ylim(SIZE - 0.5, -0.5)
    # Live artists are drawn over everything else: list them in matplotlib's z-order (the dashed
    # ground truth over the anchor dots, the spines over boxes at the border, texts on top).
    live = LiveArtists(fig, [*dots.values(), gt_lines, positives, best, *ax.spines.values(), *tags, ax.title])
    state = {"hold": False, "shown": None}

    def gt_options(name: str) -> list[tuple[str, int]]:
        return [("none", -1)] + [(f"box {i}", i) for i in range(len(scenes[name]["boxes"]))]

    controls["gt"].options = gt_options(controls["scene"].value)
    controls["gt"].value = 0

    def update(_change=None) -> None:
        if state["hold"]:
            return
        name = controls["scene"].value
        scene = scenes[name]
        pick = controls["gt"].value
        view = anchor_view(
            scene["boxes"],
            controls["scale"].value,
            RATIOS[controls["ratios"].value],
            controls["stride"].value,
            gt_index=None if pick < 0 else pick,
        )
        anchors, labels = view["anchors"], view["labels"]
        centres = ((anchors[:, :2] + anchors[:, 2:]) / 2 - 0.5).numpy()
        for label, scatter in dots.items():
            scatter.set_offsets(centres[(labels == label).numpy()])
        positives.set_segments(_segments(anchors[labels == 1]))
        best.set_segments(_segments(anchors[view["best"]]))
        for i, tag in enumerate(tags):
            tag.set_visible(i < len(view["best"]))
            if i < len(view["best"]):
                x1, y1 = anchors[view["best"][i], :2].tolist()
                tag.set_position((max(x1, 0), max(y1, 0) + 6 * i))
                tag.set_text(f"IoU {view['best_iou'][i]:.2f}")
        c = view["counts"]
        ax.set_title(
            f"{len(anchors)} anchors: {c['positive']} positive, {c['negative']} negative, "
            f"{c['ignored']} ignored",
            fontsize="medium",
        )
        state["view"] = view
        live.redraw(full=name != state["shown"], key=name)
        state["shown"] = name

    def on_scene(_change) -> None:
        state["hold"] = True
        controls["gt"].options = gt_options(controls["scene"].value)
        controls["gt"].value = 0
        state["hold"] = False
        _show_scene(image_artist, gt_lines, scenes[controls["scene"].value])
        update()

    _connect(
        live,
        controls,
        scenes,
        (image_artist, gt_lines),
        update,
        ("scale", "ratios", "stride", "gt"),
        on_scene=on_scene,
    )
    rows = [
        widgets.HBox([controls["scene"], controls["gt"]]),
        widgets.HBox([controls["scale"], controls["stride"]]),
        controls["ratios"],
    ]
    return _box(rows, controls, fig, canvas, state=state)


def nms_explorer() -> widgets.VBox:
    """Scored candidates over a scene; IoU and score thresholds; a step slider through greedy NMS
    (green: kept, blue: kept at this step, red: what it suppresses, grey: suppressed before,
    yellow: not checked yet). The "close objects" scene shows two objects merged into one."""
    scenes = detection_scenes()
    candidates = {
        name: synthetic_detections(
            s["boxes"], s["labels"], seed=i, per_object=5, false_positives=3 if name != CLOSE_OBJECTS else 0
        )
        for i, (name, s) in enumerate(scenes.items())
    }
    controls = {
        "scene": widgets.Dropdown(
            options=list(scenes), value=CLOSE_OBJECTS, description="scene", style=STYLE
        ),
        "iou": widgets.FloatSlider(
            value=0.5, min=0.05, max=0.95, step=0.05, description="IoU threshold", style=STYLE
        ),
        "score": widgets.FloatSlider(
            value=0.3, min=0.0, max=0.95, step=0.05, description="score threshold", style=STYLE
        ),
        "step": widgets.IntSlider(value=0, min=0, max=1, description="NMS step", style=STYLE),
    }
    fig, ax, canvas = interactive_figure(figsize=(5.6, 5.2))
    image_artist, gt_lines = _scene_axes(ax, scenes[controls["scene"].value], "NMS")
    layers = {
        kind: LineCollection([], colors=COLORS[kind], linewidths=width, linestyles=style)
        for kind, width, style in (
            ("gone", 0.8, ":"),
            ("unchecked", 1.0, "-"),
            ("suppressed", 1.6, "--"),
            ("kept", 2.2, "-"),
            ("current", 2.8, "-"),
        )
    }
    for layer in layers.values():
        ax.add_collection(layer)
    ax.set_xlim(-0.5, SIZE - 0.5)
    ax.set_ylim(SIZE - 0.5, -0.5)
    live = LiveArtists(fig, [*layers.values(), *ax.spines.values(), ax.title])  # spines over boxes
    state = {"hold": False, "shown": None}

    def update(_change=None) -> None:
        if state["hold"]:
            return
        name = controls["scene"].value
        boxes, scores, _ = candidates[name]
        thresholds = controls["iou"].value, controls["score"].value
        view = nms_view(boxes, scores, *thresholds, controls["step"].value)
        if controls["step"].max != max(view["n_steps"], 1):  # thresholds changed the number of steps
            state["hold"] = True
            controls["step"].max = max(view["n_steps"], 1)
            state["hold"] = False
            view = nms_view(boxes, scores, *thresholds, controls["step"].value)
        current = [] if view["current"] is None else [view["current"]]
        for kind, idx in (
            ("gone", view["suppressed"]),
            ("unchecked", view["unchecked"]),
            ("suppressed", view["current_suppressed"]),
            ("kept", view["kept"][:-1]),
            ("current", current),
        ):
            layers[kind].set_segments(_segments(boxes[idx]))
        ax.set_title(
            f"step {view['step']} / {view['n_steps']}: {len(view['kept'])} kept, "
            f"{len(view['current_suppressed'])} suppressed now, "
            f"{len(view['unchecked'])} unchecked",
            fontsize="medium",
        )
        state["view"] = view
        live.redraw(full=name != state["shown"], key=name)
        state["shown"] = name

    _connect(live, controls, scenes, (image_artist, gt_lines), update, ("iou", "score", "step"))
    controls["step"].value = controls["step"].max  # open on the result; step back to see how
    rows = [
        widgets.HBox([controls["scene"], controls["step"]]),
        widgets.HBox([controls["iou"], controls["score"]]),
    ]
    return _box(rows, controls, fig, canvas, state=state, candidates=candidates)


def pr_curve_explorer() -> widgets.VBox:
    """A confidence threshold and an IoU threshold: detections drawn as TP (green) / FP (red), the
    point they make on the precision-recall curve, and the AP (the shaded area under its envelope)."""
    scenes = detection_scenes(close_objects=False)
    detections = {
        name: synthetic_detections(s["boxes"], s["labels"], seed=10 + i, per_object=2, false_positives=5)
        for i, (name, s) in enumerate(scenes.items())
    }
    controls = {
        "scene": widgets.Dropdown(options=list(scenes), description="scene", style=STYLE),
        "confidence": widgets.FloatSlider(
            value=0.5, min=0.0, max=1.0, step=0.05, description="confidence ≥", style=STYLE
        ),
        "iou": widgets.FloatSlider(
            value=0.5, min=0.05, max=0.95, step=0.05, description="IoU threshold", style=STYLE
        ),
    }
    fig, (ax, ax_pr), canvas = interactive_figure(figsize=(9.6, 5.2), ncols=2)
    image_artist, gt_lines = _scene_axes(ax, scenes[controls["scene"].value], "detections: TP / FP")
    layers = {kind: LineCollection([], colors=COLORS[kind], linewidths=2.0) for kind in ("fp", "tp")}
    for layer in layers.values():
        ax.add_collection(layer)
    ax.set_xlim(-0.5, SIZE - 0.5)
    ax.set_ylim(SIZE - 0.5, -0.5)
    area = Polygon(np.zeros((0, 2)), closed=True, facecolor="#1f77b4", alpha=0.25, edgecolor="none")
    ax_pr.add_patch(area)
    (curve,) = ax_pr.plot([], [], "o-", color="#1f77b4", markersize=3, linewidth=1.2, label="precision")
    (envelope,) = ax_pr.plot(
        [], [], "-", color="#0b3d91", linewidth=1.5, drawstyle="steps-pre", label="envelope (area = AP)"
    )
    (point,) = ax_pr.plot([], [], "o", color="#d62728", markersize=9, label="at the confidence threshold")
    ax_pr.set_xlim(0, 1.02)
    ax_pr.set_ylim(0, 1.05)
    # Below the panels, where no live artist is drawn over it (they are drawn over everything else)
    fig.legend(handles=[curve, envelope, point], loc="outside lower right", ncols=3, fontsize="small")
    style_axes(ax_pr, "precision-recall", "recall", "precision")
    # In matplotlib's z-order: the spines over the boxes and the shaded area.
    live = LiveArtists(
        fig,
        [
            *layers.values(),
            *ax.spines.values(),
            area,
            curve,
            envelope,
            point,
            *ax_pr.spines.values(),
            ax_pr.title,
        ],
    )
    state = {"shown": None}

    def update(_change=None) -> None:
        name = controls["scene"].value
        scene = scenes[name]
        boxes, scores, labels = detections[name]
        view = pr_view(
            boxes,
            scores,
            labels,
            scene["boxes"],
            scene["labels"],
            controls["iou"].value,
            controls["confidence"].value,
        )
        shown = torch.tensor(view["shown"], dtype=torch.long)
        tp = view["tp"][shown]
        layers["tp"].set_segments(_segments(boxes[shown[tp]]))
        layers["fp"].set_segments(_segments(boxes[shown[~tp]]))
        r, p, env = view["recall"].numpy(), view["precision"].numpy(), view["envelope"].numpy()
        curve.set_data(r, p)
        envelope.set_data(np.r_[0.0, r], np.r_[env[:1], env])
        steps_x = np.repeat(np.r_[0.0, r], 2)[1:-1]  # the area under the envelope, step by step
        area.set_xy(
            np.c_[np.r_[0.0, steps_x, r[-1:]], np.r_[0.0, np.repeat(env, 2), 0.0]]
            if len(r)
            else np.zeros((0, 2))
        )
        point.set_data(*(([view["point"][0]], [view["point"][1]]) if view["point"] else ([], [])))
        ax_pr.set_title(
            f"AP all points {view['ap_all_points']:.3f}, COCO 101-point {view['ap_coco101']:.3f}",
            fontsize="medium",
        )
        state["view"] = view
        live.redraw(full=name != state["shown"], key=name)
        state["shown"] = name

    _connect(live, controls, scenes, (image_artist, gt_lines), update, ("confidence", "iou"))
    rows = [widgets.HBox([controls["scene"], controls["confidence"], controls["iou"]])]
    return _box(rows, controls, fig, canvas, state=state, detections=detections)
