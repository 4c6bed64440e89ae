"""The chapter's three explorers: anchors (RPN labelling), greedy NMS step by step, and the
precision-recall curve with its AP.

Each is a thin ipywidgets view over a pure function that computes what it shows (``anchor_view``,
``nms_view``, ``pr_view``), on synthetic ``ShapesDetection`` scenes with synthetic scored candidates
(``synthetic_detections``: jittered copies of the ground truth plus false positives, deterministic
from a seed). Drawing goes through ``LiveArtists``: a control change redraws the boxes, points and
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
from torch import Tensor

from cvcourse.viz import LiveArtists, interactive_figure, style_axes

from .anchors import anchor_grid, label_anchors
from .boxes import box_iou
from .metrics import average_precision, match_detections, precision_recall
from .nms import nms_steps

__all__ = ["detection_scenes", "synthetic_detections", "anchor_view", "nms_view", "pr_view",
           "anchor_explorer", "nms_explorer", "pr_curve_explorer", "CLOSE_OBJECTS"]

SIZE = 128
CLOSE_OBJECTS = "close objects (NMS merges them)"
COLORS = {"positive": "#2ca02c", "negative": "#9e9e9e", "ignored": "#ff9f1c", "kept": "#2ca02c",
          "current": "#1f77b4", "suppressed": "#d62728", "gone": "#bdbdbd", "unchecked": "#ffd54f",
          "gt": "#00e5ff", "tp": "#2ca02c", "fp": "#d62728"}
RATIOS = {"1": (1.0,), "0.5, 1, 2": (0.5, 1.0, 2.0), "0.25, 0.5, 1, 2, 4": (0.25, 0.5, 1.0, 2.0, 4.0)}
STYLE = {"description_width": "110px"}


# ------------------------------------------------------------------------------------- data
def detection_scenes(n: int = 4, seed: int = 3, close_objects: bool = True) -> dict[str, dict]:
    """The explorers' scenes: ``{name: {"image": ndarray[H, W, 3], "boxes": Tensor[K, 4] float64,
    "labels": Tensor[K]}}`` from ``ShapesDetection`` (128 x 128, up to 6 shapes), and a scene of
    two objects of one class overlapping with IoU 0.55 (``CLOSE_OBJECTS``)."""
    from cvcourse.data import ShapesDetection

    data = ShapesDetection(n, size=SIZE, seed=seed, max_objects=6)
    scenes = {}
    for i in range(n):
        image, target = data[i]
        scenes[f"scene {i + 1}"] = {"image": image.permute(1, 2, 0).numpy(),
                                    "boxes": target["boxes"].double(), "labels": target["labels"]}
    if close_objects:
        boxes = torch.tensor([[30.0, 40, 80, 100], [42, 44, 92, 104]], dtype=torch.float64)
        image = np.full((SIZE, SIZE, 3), 0.85)
        for (x1, y1, x2, y2), shade in zip(boxes.int().tolist(), (0.35, 0.55), strict=True):
            image[y1:y2, x1:x2] = (shade, shade * 0.8, 0.9 - shade)
        scenes[CLOSE_OBJECTS] = {"image": image, "boxes": boxes, "labels": torch.tensor([1, 1])}
    return scenes


def synthetic_detections(gt_boxes: Tensor, gt_labels: Tensor, seed: int = 0, per_object: int = 5,
                         false_positives: int = 4, size: int = SIZE) -> tuple[Tensor, Tensor, Tensor]:
    """Scored candidates as a detector gives them before NMS: ``per_object`` jittered copies of each
    ground-truth box (jitter 4-20 % of its size; the closer the copy, the higher its score, plus
    noise) and ``false_positives`` random boxes with lower scores. Deterministic from ``seed``.

    Returns:
        ``(boxes Tensor[N, 4] float64, scores Tensor[N] float64, labels Tensor[N] int64)``.
    """
    rng = np.random.default_rng(seed)
    gt = gt_boxes.double().numpy()
    wh = np.repeat(gt[:, 2:] - gt[:, :2], per_object, 0)  # [K * per_object, 2]
    spread = rng.uniform(0.04, 0.2, (len(wh), 1))
    boxes = np.repeat(gt, per_object, 0) + rng.normal(0, 1, (len(wh), 4)) * np.tile(wh, 2) * spread
    scores = np.clip(1.0 - 2.5 * spread[:, 0] + rng.normal(0, 0.08, len(wh)), 0.05, 0.99)
    labels = np.repeat(gt_labels.numpy(), per_object)
    xy = rng.uniform(0, size * 0.8, (false_positives, 2))
    fp = np.concatenate([xy, xy + rng.uniform(10, size * 0.4, (false_positives, 2))], 1)
    boxes = np.concatenate([boxes, fp]).clip(0, size)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    scores = np.concatenate([scores, rng.uniform(0.05, 0.7, false_positives)])
    labels = np.concatenate([labels, rng.integers(1, 6, false_positives)])
    return torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(labels).long()


# ------------------------------------------------------------------------------ pure functions
def anchor_view(gt_boxes: Tensor, scale: int, ratios: tuple[float, ...], stride: int,
                image_size: int = SIZE, gt_index: int | None = None, top: int = 3) -> dict:
    """What the anchor explorer shows: the anchors of a ``stride`` grid over the image with sizes
    (scale, 2 scale) and ``ratios``, labelled as the RPN labels them (``label_anchors``), their
    counts, and for ground truth ``gt_index`` its ``top`` best anchors and their IoU."""
    grid = image_size // stride
    anchors = anchor_grid((grid, grid), stride, (scale, 2 * scale), ratios, dtype=torch.float64)
    anchors = anchors + stride / 2  # centred on the cells (torchvision puts them on the corners)
    labels, _ = label_anchors(anchors, gt_boxes)
    counts = {name: int((labels == value).sum()) for name, value in
              (("positive", 1), ("negative", 0), ("ignored", -1))}
    view = {"anchors": anchors, "labels": labels, "counts": counts, "best": [], "best_iou": []}
    if gt_index is not None and len(gt_boxes):
        iou = box_iou(gt_boxes[gt_index : gt_index + 1], anchors)[0]
        best = torch.sort(iou, descending=True, stable=True).indices[:top]
        view["best"], view["best_iou"] = best.tolist(), iou[best].tolist()
    return view


def nms_view(boxes: Tensor, scores: Tensor, iou_threshold: float, score_threshold: float,
             step: int | None = None) -> dict:
    """Greedy NMS after ``step`` steps (None: all) on the candidates scoring >= ``score_threshold``.

    Returns:
        a dict of input indices: ``candidates``, ``kept`` (kept so far), ``current`` (the box kept by
        the last step, or None) and ``current_suppressed`` (what it eliminated), ``suppressed``
        (eliminated by earlier steps), ``unchecked``; and ``n_steps``, ``step``, ``steps``.
    """
    candidates = torch.nonzero(scores >= score_threshold).flatten()
    steps = [(int(candidates[k]), [int(candidates[j]) for j in gone])
             for k, gone in nms_steps(boxes[candidates], scores[candidates], iou_threshold)]
    step = len(steps) if step is None else max(0, min(step, len(steps)))
    done = steps[:step]
    current, current_suppressed = (done[-1][0], done[-1][1]) if done else (None, [])
    seen = {k for k, _ in done} | {j for _, gone in done for j in gone}
    return {"candidates": candidates.tolist(), "kept": [k for k, _ in done], "current": current,
            "current_suppressed": current_suppressed,
            "suppressed": [j for _, gone in done[:-1] for j in gone],
            "unchecked": [i for i in candidates.tolist() if i not in seen],
            "n_steps": len(steps), "step": step, "steps": steps}


def pr_view(boxes: Tensor, scores: Tensor, labels: Tensor, gt_boxes: Tensor, gt_labels: Tensor,
            iou_threshold: float, confidence: float) -> dict:
    """The precision-recall curve of one scene's detections (each matched within its class,
    ``match_detections``) and the point at confidence threshold ``confidence``.

    Returns:
        ``tp`` (Tensor[N] bool, input order), ``precision``, ``recall``, ``thresholds`` (ranked),
        ``envelope`` (the monotone precision), ``ap_all_points``, ``ap_coco101``, ``shown`` (the
        detections scoring >= confidence), ``point`` ((recall, precision) there, or None).
    """
    tp = torch.zeros(len(boxes), dtype=torch.bool)
    for c in torch.unique(torch.cat([labels, gt_labels])).tolist():
        d, g = labels == c, gt_labels == c
        tp[d] = match_detections(boxes[d], scores[d], gt_boxes[g], iou_threshold)[0]
    precision, recall, thresholds = precision_recall(scores, tp, len(gt_boxes))
    envelope = torch.flip(torch.cummax(torch.flip(precision, [0]), 0).values, [0])
    k = int((thresholds >= confidence).sum())
    return {"tp": tp, "precision": precision, "recall": recall, "thresholds": thresholds,
            "envelope": envelope, "ap_all_points": average_precision(recall, precision, "all_points"),
            "ap_coco101": average_precision(recall, precision, "coco101"),
            "shown": torch.nonzero(scores >= confidence).flatten().tolist(),
            "point": (float(recall[k - 1]), float(precision[k - 1])) if k else None}


# ----------------------------------------------------------------------------------- drawing
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


def _prerender(live: LiveArtists, scenes: dict, current: str, show) -> None:
    for name in sorted(scenes, key=lambda n: n == current):  # the current scene last
        show(name)
        live.prerender(name)


def anchor_explorer() -> widgets.VBox:
    """Anchors over a scene, coloured by their RPN label (positive / negative / ignored), counts in
    the title; pick a ground-truth box to see its best anchors and their IoU."""
    scenes = detection_scenes(close_objects=False)
    controls = {
        "scene": widgets.Dropdown(options=list(scenes), description="scene", style=STYLE),
        "scale": widgets.SelectionSlider(options=[8, 12, 16, 24, 32, 48], value=16,
                                         description="anchor size", style=STYLE),
        "ratios": widgets.Dropdown(options=list(RATIOS), value="0.5, 1, 2",
                                   description="aspect ratios h/w", style=STYLE),
        "stride": widgets.SelectionSlider(options=[4, 8, 16, 32], value=8, description="stride", style=STYLE),
        "gt": widgets.Dropdown(options=[], description="ground truth", style=STYLE),
    }
    fig, ax, canvas = interactive_figure(figsize=(5.6, 5.2))
    image_artist, gt_lines = _scene_axes(ax, scenes[controls["scene"].value], "anchors")
    # one scatter per label, each of one colour and size: Agg then stamps a single marker (fast)
    dots = {label: ax.scatter(np.zeros(0), np.zeros(0), s=size, color=COLORS[name], linewidths=0)
            for label, name, size in ((0, "negative", 3.0), (-1, "ignored", 12.0), (1, "positive", 14.0))}
    positives = LineCollection([], colors=COLORS["positive"], linewidths=1.0, alpha=0.8)
    best = LineCollection([], colors=COLORS["current"], linewidths=2.2)
    for artist in (positives, best):
        ax.add_collection(artist)
    tags = [ax.text(0, 0, "", color="white", fontsize="small", visible=False,
                    bbox={"facecolor": COLORS["current"], "edgecolor": "none", "pad": 1})
            for _ in range(3)]
    ax.set_xlim(-0.5, SIZE - 0.5)
    ax.set_ylim(SIZE - 0.5, -0.5)
    # Live artists are drawn over everything else: list them in matplotlib's z-order (the dashed
    # ground truth over the anchor dots, the spines over boxes at the border, texts on top).
    live = LiveArtists(fig, [*dots.values(), gt_lines, positives, best, *ax.spines.values(), *tags,
                             ax.title])
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
        view = anchor_view(scene["boxes"], controls["scale"].value, RATIOS[controls["ratios"].value],
                           controls["stride"].value, gt_index=None if pick < 0 else pick)
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
        ax.set_title(f"{len(anchors)} anchors: {c['positive']} positive, {c['negative']} negative, "
                     f"{c['ignored']} ignored", fontsize="medium")
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

    _prerender(live, scenes, controls["scene"].value,
               lambda n: _show_scene(image_artist, gt_lines, scenes[n]))
    controls["scene"].observe(on_scene, names="value")
    for key in ("scale", "ratios", "stride", "gt"):
        controls[key].observe(update, names="value")
    update()
    rows = [widgets.HBox([controls["scene"], controls["gt"]]),
            widgets.HBox([controls["scale"], controls["stride"]]), controls["ratios"]]
    return _box(rows, controls, fig, canvas, state=state)


def nms_explorer() -> widgets.VBox:
    """Scored candidates over a scene; IoU and score thresholds; a step slider through greedy NMS
    (green: kept, blue: kept at this step, red: what it suppresses, grey: suppressed before,
    yellow: not checked yet). The "close objects" scene shows two objects merged into one."""
    scenes = detection_scenes()
    candidates = {name: synthetic_detections(s["boxes"], s["labels"], seed=i, per_object=5,
                                             false_positives=3 if name != CLOSE_OBJECTS else 0)
                  for i, (name, s) in enumerate(scenes.items())}
    controls = {
        "scene": widgets.Dropdown(options=list(scenes), value=CLOSE_OBJECTS, description="scene",
                                  style=STYLE),
        "iou": widgets.FloatSlider(value=0.5, min=0.05, max=0.95, step=0.05, description="IoU threshold",
                                   style=STYLE),
        "score": widgets.FloatSlider(value=0.3, min=0.0, max=0.95, step=0.05, description="score threshold",
                                     style=STYLE),
        "step": widgets.IntSlider(value=0, min=0, max=1, description="NMS step", style=STYLE),
    }
    fig, ax, canvas = interactive_figure(figsize=(5.6, 5.2))
    image_artist, gt_lines = _scene_axes(ax, scenes[controls["scene"].value], "NMS")
    layers = {kind: LineCollection([], colors=COLORS[kind], linewidths=width, linestyles=style)
              for kind, width, style in (("gone", 0.8, ":"), ("unchecked", 1.0, "-"),
                                         ("suppressed", 1.6, "--"), ("kept", 2.2, "-"),
                                         ("current", 2.8, "-"))}
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
        for kind, idx in (("gone", view["suppressed"]), ("unchecked", view["unchecked"]),
                          ("suppressed", view["current_suppressed"]), ("kept", view["kept"][:-1]),
                          ("current", current)):
            layers[kind].set_segments(_segments(boxes[idx]))
        ax.set_title(f"step {view['step']} / {view['n_steps']}: {len(view['kept'])} kept, "
                     f"{len(view['current_suppressed'])} suppressed now, "
                     f"{len(view['unchecked'])} unchecked", fontsize="medium")
        state["view"] = view
        live.redraw(full=name != state["shown"], key=name)
        state["shown"] = name

    def on_scene(_change) -> None:
        _show_scene(image_artist, gt_lines, scenes[controls["scene"].value])
        update()

    _prerender(live, scenes, controls["scene"].value,
               lambda n: _show_scene(image_artist, gt_lines, scenes[n]))
    controls["scene"].observe(on_scene, names="value")
    for key in ("iou", "score", "step"):
        controls[key].observe(update, names="value")
    update()
    controls["step"].value = controls["step"].max  # open on the result; step back to see how
    rows = [widgets.HBox([controls["scene"], controls["step"]]),
            widgets.HBox([controls["iou"], controls["score"]])]
    return _box(rows, controls, fig, canvas, state=state, candidates=candidates)


def pr_curve_explorer() -> widgets.VBox:
    """A confidence threshold and an IoU threshold: detections drawn as TP (green) / FP (red), the
    point they make on the precision-recall curve, and the AP (the shaded area under its envelope)."""
    scenes = detection_scenes(close_objects=False)
    detections = {name: synthetic_detections(s["boxes"], s["labels"], seed=10 + i, per_object=2,
                                             false_positives=5)
                  for i, (name, s) in enumerate(scenes.items())}
    controls = {
        "scene": widgets.Dropdown(options=list(scenes), description="scene", style=STYLE),
        "confidence": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05,
                                          description="confidence ≥", style=STYLE),
        "iou": widgets.FloatSlider(value=0.5, min=0.05, max=0.95, step=0.05, description="IoU threshold",
                                   style=STYLE),
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
    (envelope,) = ax_pr.plot([], [], "-", color="#0b3d91", linewidth=1.5, drawstyle="steps-pre",
                             label="envelope (area = AP)")
    (point,) = ax_pr.plot([], [], "o", color="#d62728", markersize=9, label="at the confidence threshold")
    ax_pr.set_xlim(0, 1.02)
    ax_pr.set_ylim(0, 1.05)
    # Below the panels, where no live artist is drawn over it (they are drawn over everything else)
    fig.legend(handles=[curve, envelope, point], loc="outside lower right", ncols=3, fontsize="small")
    style_axes(ax_pr, "precision-recall", "recall", "precision")
    # In matplotlib's z-order: the spines over the boxes and the shaded area.
    live = LiveArtists(fig, [*layers.values(), *ax.spines.values(), area, curve, envelope, point,
                             *ax_pr.spines.values(), ax_pr.title])
    state = {"shown": None}

    def update(_change=None) -> None:
        name = controls["scene"].value
        scene = scenes[name]
        boxes, scores, labels = detections[name]
        view = pr_view(boxes, scores, labels, scene["boxes"], scene["labels"], controls["iou"].value,
                       controls["confidence"].value)
        shown = torch.tensor(view["shown"], dtype=torch.long)
        tp = view["tp"][shown]
        layers["tp"].set_segments(_segments(boxes[shown[tp]]))
        layers["fp"].set_segments(_segments(boxes[shown[~tp]]))
        r, p, env = view["recall"].numpy(), view["precision"].numpy(), view["envelope"].numpy()
        curve.set_data(r, p)
        envelope.set_data(np.r_[0.0, r], np.r_[env[:1], env])
        steps_x = np.repeat(np.r_[0.0, r], 2)[1:-1]  # the area under the envelope, step by step
        area.set_xy(np.c_[np.r_[0.0, steps_x, r[-1:]], np.r_[0.0, np.repeat(env, 2), 0.0]]
                    if len(r) else np.zeros((0, 2)))
        point.set_data(*(([view["point"][0]], [view["point"][1]]) if view["point"] else ([], [])))
        ax_pr.set_title(f"AP all points {view['ap_all_points']:.3f}, "
                        f"COCO 101-point {view['ap_coco101']:.3f}", fontsize="medium")
        state["view"] = view
        live.redraw(full=name != state["shown"], key=name)
        state["shown"] = name

    def on_scene(_change) -> None:
        _show_scene(image_artist, gt_lines, scenes[controls["scene"].value])
        update()

    _prerender(live, scenes, controls["scene"].value,
               lambda n: _show_scene(image_artist, gt_lines, scenes[n]))
    controls["scene"].observe(on_scene, names="value")
    for key in ("confidence", "iou"):
        controls[key].observe(update, names="value")
    update()
    rows = [widgets.HBox([controls["scene"], controls["confidence"], controls["iou"]])]
    return _box(rows, controls, fig, canvas, state=state, detections=detections)
