"""benchmarks/full_run.py: the cell parser, and a real run of chapter 00 writing per-cell seconds."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import full_run  # noqa: E402


def test_code_cells_skip_markdown_and_the_header():
    source = "\n".join(
        [
            "# ---",
            "# jupyter: {}",
            "# ---",
            "",
            "# %% [markdown]",
            "# # Title",
            "",
            "# %%",
            "x = 1",
            "",
            '# %% tags=["parameters"]',
            "n = 2",
            "# %% [markdown]",
            "# text",
            "# %%",
            "",
            "# %%",
            "y = x + n",
            "print(y)",
        ]
    )
    assert full_run.code_cells(source) == ["x = 1", "n = 2", "y = x + n\nprint(y)"]


def test_every_chapter_is_found():
    found = full_run.chapters_available()
    assert {"00", "01", "02", "03"} <= set(found)
    assert all(path.suffix == ".py" and path.parent.name == "notebooks" for path in found.values())


def test_chapter_00_report_has_seconds_for_every_cell(tmp_path):
    out = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "full_run.py"),
            "--chapters",
            "00",
            "--fast",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(out.read_text())
    (chapter,) = report["chapters"]
    cells = full_run.code_cells((ROOT / "notebooks" / "00_welcome.py").read_text())
    assert chapter["error"] is None and len(chapter["cells"]) == len(cells)
    assert [c["index"] for c in chapter["cells"]] == list(range(len(cells)))
    assert all(c["seconds"] > 0 for c in chapter["cells"])
    assert chapter["seconds"] >= sum(c["seconds"] for c in chapter["cells"])
    assert chapter["peak_memory_mib"] > 50
    assert chapter["results"]["torchvision_ops"] == "ok"
    assert "00_welcome" in done.stdout  # the table


def test_a_failing_cell_is_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # run_chapter moves to the notebook's folder, as a kernel would
    notebook = tmp_path / "99_broken.py"
    notebook.write_text("# %%\nRESULTS = {'a': 1}\n# %%\nraise RuntimeError('boom')\n# %%\nb = 2\n")
    report = full_run.run_chapter(notebook)
    assert report["error"].startswith("cell 1") and "boom" in report["error"]
    assert len(report["cells"]) == 2 and report["cells"][1]["failed"]
    assert report["results"] == {"a": 1}
