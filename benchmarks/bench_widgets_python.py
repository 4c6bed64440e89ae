"""Kernel-side cost of a control change, per widget: what the browser waits for before a new frame.

For every explorer of the course and one or more of its controls, times (median of ``--repeats``):

- **update**: setting the control's value, which runs the widget's callback, redraws what changed
  (``cvcourse.livefig.LiveArtists``: blitting, or a full render when limits change) and encodes the
  frame as the PNG sent to the browser;
- **full render**: the authority, a full Agg render of the same figure plus matplotlib's own frame
  encoder (``FigureCanvasWebAggCore.get_diff_image``, zlib level 6): what every update cost before
  the widgets redrew only what changed (the widget's own computing not included).

Prints both and their ratio. No browser needed: ``bench_widgets_browser.py`` measures the whole
round trip in Chromium. Run on an idle machine; ``taskset -c 0`` pins it to one core.

Usage::

    python benchmarks/bench_widgets_python.py [--repeats 9]
    python benchmarks/bench_widgets_python.py --only 05a 05b   # widgets whose name starts so
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import matplotlib

matplotlib.use("agg")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.backends.backend_webagg_core import FigureCanvasWebAggCore  # noqa: E402


def _widgets() -> list[tuple[str, Callable]]:
    from cvcourse.architectures.widgets import architecture_explorer, compound_scaling_explorer
    from cvcourse.depth.widgets import correspondence_explorer, warp_explorer
    from cvcourse.detection.widgets import anchor_explorer, detection_viewer, nms_explorer, pr_curve_explorer
    from cvcourse.generative.widgets import latent_explorer
    from cvcourse.optim.widgets import trajectory_explorer
    from cvcourse.segmentation.widgets import (
        panoptic_viewer,
        receptive_field_explorer,
        segmentation_viewer,
        upsampling_explorer,
    )
    from cvcourse.transformers.pretrained import load_shapes_vit
    from cvcourse.transformers.widgets import attention_viewer
    from cvcourse.welcome import filter_explorer

    return [
        ("00 filter explorer", filter_explorer),
        (
            "01 trajectory explorer",
            lambda: trajectory_explorer("canyon", names=("SGD", "Momentum", "Nesterov", "Adam")),
        ),
        ("02 compound scaling", compound_scaling_explorer),
        ("02 architecture explorer", architecture_explorer),
        ("03 attention viewer", lambda: attention_viewer(load_shapes_vit()[0])),
        ("04a anchor explorer", anchor_explorer),
        ("04a NMS explorer", nms_explorer),
        ("04a PR-curve explorer", pr_curve_explorer),
        ("04b detection viewer", detection_viewer),
        ("05a receptive field", receptive_field_explorer),
        ("05a upsampling explorer", upsampling_explorer),
        ("05a segmentation viewer", segmentation_viewer),
        ("05b panoptic viewer", panoptic_viewer),
        ("06 correspondence", correspondence_explorer),
        ("06 warp explorer", warp_explorer),
        ("07 latent explorer", latent_explorer),
    ]


def _moves(control) -> tuple[str, Callable[[int], object]]:
    """The trait to set and its i-th value: sliders step back and forth, selections cycle
    (by index), checkboxes flip."""
    if hasattr(control, "index") and control.index is not None:
        start, n = control.index, len(control.options)
        return "index", lambda i: (start + 1 + i) % n
    if hasattr(control, "index"):  # a selection with nothing selected
        return "index", lambda i: i % len(control.options)
    value = control.value
    if isinstance(value, bool):
        return "value", lambda i: not value if i % 2 == 0 else value
    if hasattr(control, "base"):  # FloatLogSlider: min, max and step are exponents
        moved = value * control.base**control.step
        moved = moved if moved <= control.base**control.max else value / control.base**control.step
    else:
        moved = value + control.step if value + control.step <= control.max else value - control.step
    return "value", lambda i: moved if i % 2 == 0 else value


def measure(build: Callable, repeats: int) -> list[tuple[str, float, float]]:
    box = build()
    fig = box.fig
    canvas = fig.canvas
    canvas.syncing_data_url = False  # as once a browser is attached (else a second PNG per frame)
    canvas.draw()
    rows = []
    for key, control in box.controls.items():
        if not hasattr(control, "value") or control.disabled or key == "names":
            continue  # a button, a disabled control, or the multi-select of optimizers
        trait, next_value = _moves(control)
        updates, fulls = [], []
        for i in range(repeats + 1):  # the first move warms caches and is dropped
            start = time.perf_counter()
            setattr(control, trait, next_value(i))
            updates.append(time.perf_counter() - start)
            start = time.perf_counter()
            FigureCanvasAgg.draw(canvas)
            canvas._png_is_old = True
            FigureCanvasWebAggCore.get_diff_image(canvas)
            fulls.append(time.perf_counter() - start)
        rows.append((key, 1e3 * statistics.median(updates[1:]), 1e3 * statistics.median(fulls[1:])))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--only", nargs="*", default=(), help="chapter prefixes, e.g. 05a 05b")
    args = parser.parse_args()
    print(
        f"load average (1, 5, 15 min): {', '.join(f'{v:.1f}' for v in os.getloadavg())}, "
        f"{len(os.sched_getaffinity(0))} CPU(s) for this process"
    )
    header = f"{'widget':<26} {'control':<12} {'update ms':>9} {'full render ms':>14} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for name, build in _widgets():
        if args.only and not name.startswith(tuple(args.only)):
            continue
        for key, update, full in measure(build, args.repeats):
            print(f"{name:<26} {key:<12} {update:9.1f} {full:14.1f} {update / full:6.2f}")


if __name__ == "__main__":
    main()
