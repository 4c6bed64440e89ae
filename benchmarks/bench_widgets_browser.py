"""Widget responsiveness in a real browser: control change -> updated picture, per widget.

Starts JupyterLab (CVCOURSE_FAST=1, loopback, token) and headless Debian Chromium, runs each chapter
notebook, then moves one control of every widget area ``--repeats`` times (sliders step back and
forth with the arrow keys, dropdowns cycle) and times, in the page with ``performance.now()``, the
input event to the first frame whose pixels differ (ipympl canvas draw, new image or new text).

Side by side with a floor: the same measurement on a minimal ipympl explorer (one slider moving
one sine line, built with ``cvcourse.viz.interactive_figure``), i.e. what the browser <-> kernel
round trip costs on this machine with no work in the callback; once with ``redraw(fig)`` (render
and send at once, what the course's widgets do) and once with ipympl's usual ``draw_idle()``.
Prints the median and p90 per widget, the ratio to the 150 ms target and to the floor.

Usage::

    python benchmarks/bench_widgets_browser.py                 # every notebooks/*.ipynb
    python benchmarks/bench_widgets_browser.py 01_optimizers   # some of them
    python benchmarks/bench_widgets_browser.py --repeats 15
    python benchmarks/bench_widgets_browser.py --device-scale-factor 2   # a HiDPI screen

Timings depend on the machine's load (the load average is printed); compare rows from one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from e2e_harness import (  # noqa: E402
    LATENCY_TARGET_MS,
    NOTEBOOKS,
    JupyterLab,
    controls,
    launch_browser,
    move_control,
    playwright_missing_reason,
    run_notebook,
    widget_areas,
)


def _floor_cell(redraw_call: str, title: str) -> dict:
    # Built inside a function: two such cells in one notebook must not share global names.
    return {
        "cell_type": "code",
        "metadata": {},
        "execution_count": None,
        "outputs": [],
        "source": [
            "import numpy as np, ipywidgets as widgets\n",
            "from cvcourse.viz import interactive_figure, redraw\n",
            "def floor():\n",
            "    x = np.linspace(0, 6, 200)\n",
            "    fig, ax, canvas = interactive_figure(figsize=(6, 3))\n",
            f"    (line,) = ax.plot(x, np.sin(x)); ax.set_title({title!r})\n",
            "    slider = widgets.FloatSlider(value=1.0, min=0.5, max=3.0, step=0.1,\n",
            "                                 description='f')\n",
            "    slider.observe(lambda c: (line.set_ydata(np.sin(c.new * x)),\n",
            f"                              {redraw_call}), names='value')\n",
            "    return widgets.VBox([slider, canvas])\n",
            "floor()\n",
        ],
    }


# Two floors: the course's way (redraw: render and send at once) and ipympl's usual draw_idle()
# (the browser asks the kernel for the frame: one round trip more).
FLOOR_NOTEBOOK = {
    "cells": [
        _floor_cell("redraw(fig)", "floor: one line, redraw(fig)"),
        _floor_cell("fig.canvas.draw_idle()", "floor: one line, draw_idle()"),
    ],
    "metadata": {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def measure(
    playwright,
    lab: JupyterLab,
    path: Path,
    repeats: int,
    profile: str,
    all_controls: bool = False,
    scale: float = 1,
) -> list[dict]:
    """Latencies (ms) per widget area (per control with ``all_controls``) of one notebook."""
    context = launch_browser(playwright, profile, device_scale_factor=scale)
    page = context.pages[0] if context.pages else context.new_page()
    rows = []
    try:
        run = run_notebook(page, lab, path)
        if run.stderr or run.timed_out:
            print(f"  {path.name}: did not run clean (errors or time-out); later widgets untimed")
        for index, area in enumerate(widget_areas(page)):
            # Buttons are actions (count FLOPs, load weights), not controls to drag: not timed.
            chosen = [c for c in controls(area) if c[0] != "button"] if all_controls else controls(area)[:1]
            for control in chosen:
                try:
                    # A warm-up move first: first-call caches, fonts, allocations.
                    move_control(page, area, index, repeat=1, control=control)
                    moves = [
                        move_control(page, area, index, repeat=r, control=control) for r in range(repeats)
                    ]
                except Exception as error:  # noqa: BLE001  (a control the widget re-rendered)
                    print(f"  {path.stem} #{index} {control[2]!r}: not timed ({error})")
                    continue
                rows.append(
                    {
                        "notebook": path.stem,
                        "widget": index,
                        "control": control[0],
                        "label": control[2],
                        "times": [m.latency_ms for m in moves if m.latency_ms is not None],
                        "missed": sum(not m.changed for m in moves),
                    }
                )
    finally:
        context.close()
        lab.shutdown_kernels()
    return rows


def summarise(rows: list[dict], floor_ms: float | None) -> None:
    print(
        f"\nload average (1, 5, 15 min): {', '.join(f'{v:.1f}' for v in os.getloadavg())}"
        f" on {os.cpu_count()} CPUs"
    )
    header = (
        f"{'notebook':<22} {'#':>2} {'control':<24} {'median ms':>9} {'p90 ms':>7} "
        f"{'vs target':>9} {'vs floor':>8} {'n':>3}  verdict"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        times = sorted(row["times"])
        what = f"{row['control']} {row['label'][:14]!r}"
        if not times:
            print(
                f"{row['notebook']:<22} {row['widget']:>2} {what:<24} "
                f"{'-':>9} {'-':>7} {'-':>9} {'-':>8} {0:>3}  NO CHANGE"
            )
            continue
        median = statistics.median(times)
        p90 = times[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
        vs_floor = f"{median / floor_ms:8.1f}" if floor_ms else f"{'-':>8}"
        verdict = "ok" if median <= LATENCY_TARGET_MS else "SLOW"
        if row["missed"]:
            verdict += f" ({row['missed']} moves without change)"
        print(
            f"{row['notebook']:<22} {row['widget']:>2} {what:<24} {median:9.0f} "
            f"{p90:7.0f} {median / LATENCY_TARGET_MS:9.2f} {vs_floor} {len(times):>3}  {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook stems (default: all chapters)")
    parser.add_argument("--repeats", type=int, default=9, help="timed moves per widget")
    parser.add_argument(
        "--device-scale-factor",
        type=float,
        default=1.0,
        help="the screen's device pixel ratio (2: a HiDPI screen, 4x the pixels)",
    )
    parser.add_argument(
        "--all-controls", action="store_true", help="time every control of every widget, not only the first"
    )
    args = parser.parse_args()
    reason = playwright_missing_reason()
    if reason:
        sys.exit(f"cannot run the browser benchmark: {reason}")
    # The chapters: exercise notebooks have no widgets, and a student version stops, by design, at
    # its first unanswered exercise.
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.notebooks:
        paths = [p for p in paths if p.stem in args.notebooks]
        if not paths:
            sys.exit(f"no notebook named {args.notebooks} in {NOTEBOOKS}")
    import json

    from playwright.sync_api import sync_playwright

    rows: list[dict] = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as tmp:
        floor_dir = Path(tmp) / "floor"
        floor_dir.mkdir()
        (floor_dir / "floor.ipynb").write_text(json.dumps(FLOOR_NOTEBOOK))
        with JupyterLab(root=floor_dir) as lab:
            floor_rows = measure(
                playwright,
                lab,
                floor_dir / "floor.ipynb",
                args.repeats,
                str(Path(tmp) / "profile-floor"),
                scale=args.device_scale_factor,
            )
        floor_times = floor_rows[0]["times"] if floor_rows else []
        floor_ms = statistics.median(floor_times) if floor_times else None
        with JupyterLab() as lab:
            for path in paths:
                print(f"running {path.name} ...", flush=True)
                profile = str(Path(tmp) / f"profile-{path.stem}")
                rows += measure(
                    playwright, lab, path, args.repeats, profile, args.all_controls, args.device_scale_factor
                )
    summarise(floor_rows + rows, floor_ms)


if __name__ == "__main__":
    main()
