"""The full-mode run report: every chapter notebook run for real, cell by cell, timed.

    python benchmarks/full_run.py                       # every chapter, on the default device
    python benchmarks/full_run.py --chapters 00 01 --out report.json
    python benchmarks/full_run.py --device cuda         # a GPU node

Each chapter's py:percent source (``notebooks/NN_name.py``) runs in a fresh Python process with
``CVCOURSE_FAST`` unset (full mode): its code cells are executed one after another in one namespace,
as a kernel would, without Jupyter (no server, no kernel: only torch, torchvision, matplotlib,
scikit-image, scipy, tqdm, ipywidgets and ipympl are needed). For every code cell the report keeps its
index, its first line and its ``seconds``; for every chapter its total, its peak memory (and peak
CUDA memory on a GPU), and the chapter's headline numbers: the notebook's ``RESULTS`` dict. It prints
a table and writes the JSON (``--out``, default ``full_run_report.json``). The notebooks' own output
(prints, progress bars) goes to ``<out>.logs/<chapter>.log``.

A cell that raises ends its chapter: the error is recorded and the next chapter runs.
``--fast`` runs fast mode instead (a quick check of the report itself).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CELL = re.compile(r"^# %%(?P<rest>.*)$")


def chapters_available() -> dict[str, Path]:
    """``{"00": notebooks/00_welcome.py, "04a": ..., ...}``: every chapter source, by its number."""
    found = {}
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]*_*.py")):
        found[path.name.split("_", 1)[0]] = path
    return found


def code_cells(source: str) -> list[str]:
    """The code cells of a py:percent file, in order (markdown cells and the header skipped)."""
    cells, current, is_code = [], None, False
    for line in source.splitlines():
        match = CELL.match(line)
        if match:
            if current is not None and is_code:
                cells.append("\n".join(current).strip("\n"))
            current, is_code = [], "[markdown]" not in match["rest"] and "[raw]" not in match["rest"]
        elif current is not None:
            current.append(line)
    if current is not None and is_code:
        cells.append("\n".join(current).strip("\n"))
    return [cell for cell in cells if cell.strip()]


def _jsonable(value):
    """``RESULTS`` values as JSON: numbers, strings, bools, lists and dicts of them."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if hasattr(value, "tolist"):  # tensors, numpy scalars and arrays
        return _jsonable(value.tolist())
    return repr(value)


def _peak_rss_mib() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20  # KiB on Linux, bytes on macOS


def run_chapter(path: Path) -> dict:
    """Run one chapter's code cells here, in this process; returns its part of the report."""
    import matplotlib

    matplotlib.use("Agg")
    os.chdir(path.parent)  # where a kernel started by JupyterLab would run it
    namespace = {"__name__": "__main__", "__file__": str(path)}
    report = {"chapter": path.stem, "cells": [], "error": None}
    start = time.perf_counter()
    for index, cell in enumerate(code_cells(path.read_text())):
        first = next(line for line in cell.splitlines() if line.strip())
        began = time.perf_counter()
        try:
            exec(compile(cell, f"{path.name}[cell {index}]", "exec"), namespace)
        except BaseException as err:  # noqa: BLE001 - a failing cell ends the chapter, reported
            report["error"] = f"cell {index} ({first!r}): {type(err).__name__}: {err}"
            report["cells"].append(
                {"index": index, "first_line": first, "seconds": time.perf_counter() - began, "failed": True}
            )
            break
        report["cells"].append({"index": index, "first_line": first, "seconds": time.perf_counter() - began})
        import matplotlib.pyplot as plt

        plt.close("all")  # inline figures would be shown and closed by the kernel
    report["seconds"] = time.perf_counter() - start
    report["peak_memory_mib"] = _peak_rss_mib()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        report["peak_cuda_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
        report["cuda_device"] = torch.cuda.get_device_name()
    report["results"] = _jsonable(namespace.get("RESULTS"))
    return report


def _child_env(device: str | None, fast: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CVCOURSE_FAST", None)
    if fast:
        env["CVCOURSE_FAST"] = "1"
    if device:
        env["CVCOURSE_DEVICE"] = device
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _format_results(results) -> str:
    if not isinstance(results, dict):
        return "(no RESULTS)"
    parts = []
    for key, value in results.items():
        if isinstance(value, float):
            parts.append(f"{key}={value:.4g}")
        elif isinstance(value, (int, str, bool)):
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def print_table(reports: list[dict]) -> None:
    print(
        f"\n{'chapter':<28} {'cells':>5} {'total s':>9} {'slowest cell':>34} {'peak MiB':>9} {'CUDA MiB':>9}"
    )
    for rep in reports:
        slowest = max(rep["cells"], key=lambda c: c["seconds"], default=None)
        slow = (
            f"{slowest['seconds']:.1f} s #{slowest['index']} {slowest['first_line'][:18]}" if slowest else "-"
        )
        cuda = rep.get("peak_cuda_memory_mib")
        print(
            f"{rep['chapter']:<28} {len(rep['cells']):>5} {rep['seconds']:>9.1f} {slow:>34} "
            f"{rep['peak_memory_mib']:>9.0f} {'-' if cuda is None else f'{cuda:.0f}':>9}"
        )
        print(f"    results: {_format_results(rep.get('results'))}")
        if rep.get("error"):
            print(f"    FAILED: {rep['error']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    available = chapters_available()
    parser.add_argument(
        "--chapters",
        nargs="+",
        default=sorted(available),
        help=f"chapter numbers (default: all of {' '.join(sorted(available))})",
    )
    parser.add_argument("--out", default="full_run_report.json", help="the JSON report to write")
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default=None,
        help="sets CVCOURSE_DEVICE (default: the course's choice, CUDA if present)",
    )
    parser.add_argument("--fast", action="store_true", help="fast mode (a check of the report)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per chapter")
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._child:  # one chapter, in this process: write its report where the parent says
        report = run_chapter(Path(args._child))
        Path(args.out).write_text(json.dumps(report, indent=1))
        return 0

    unknown = [c for c in args.chapters if c not in available]
    if unknown:
        parser.error(f"--chapters: no notebook for {unknown}; available: {sorted(available)}")
    out = Path(args.out).resolve()
    logs = out.with_name(out.name + ".logs")
    logs.mkdir(parents=True, exist_ok=True)
    reports = []
    for chapter in args.chapters:
        part = logs / f"{chapter}.json"
        part.unlink(missing_ok=True)
        print(f"== {available[chapter].name} ({'fast' if args.fast else 'full'} mode) ...", flush=True)
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--_child",
            str(available[chapter]),
            "--out",
            str(part),
        ]
        began = time.perf_counter()
        with open(logs / f"{chapter}.log", "w") as log:
            try:
                subprocess.run(
                    command,
                    env=_child_env(args.device, args.fast),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=args.timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                pass
        if part.exists():
            report = json.loads(part.read_text())
        else:  # the process died (or timed out) before writing its report
            report = {
                "chapter": available[chapter].stem,
                "cells": [],
                "peak_memory_mib": 0.0,
                "seconds": time.perf_counter() - began,
                "results": None,
                "error": f"the chapter's process ended without a report: see {log.name}",
            }
        reports.append(report)
        print(
            f"   {report['seconds']:.1f} s" + (f"  FAILED: {report['error']}" if report.get("error") else ""),
            flush=True,
        )
    summary = {
        "mode": "fast" if args.fast else "full",
        "device": args.device or "default",
        "python": sys.version.split()[0],
        "chapters": reports,
        "total_seconds": sum(r["seconds"] for r in reports),
    }
    try:
        import torch

        summary["torch"] = torch.__version__
        summary["cuda"] = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    except ImportError:
        pass
    out.write_text(json.dumps(summary, indent=1))
    print_table(reports)
    print(f"\ntotal {summary['total_seconds']:.1f} s; report written to {out}")
    return 1 if any(r.get("error") for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
