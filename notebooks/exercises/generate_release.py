"""Regenerate the committed student versions, ``release/<assignment>/<assignment>.ipynb``.

Run it from anywhere, with the course's environment (nbgrader and jupytext installed)::

    .venv/bin/python notebooks/exercises/generate_release.py            # every assignment
    .venv/bin/python notebooks/exercises/generate_release.py ex04_detection   # only these

For each assignment it (1) syncs the source pair (``jupytext --sync source/<a>/<a>.py``: the .py is
the truth), (2) runs ``nbgrader generate_assignment`` in a temporary copy of the course (no
``gradebook.db`` left here), (3) drops the jupytext pairing from the student version (a student's
JupyterLab must not write a .py next to it) and (4) writes it to ``release/<a>/``. The tests
(``tests/exercises``) regenerate the same way and fail when the committed ``release/`` differs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

COURSE = Path(__file__).resolve().parent


def assignments(course: Path = COURSE) -> list[str]:
    """The assignments: every folder of ``source/`` that holds ``<name>/<name>.ipynb``."""
    return sorted(p.name for p in (course / "source").iterdir() if (p / f"{p.name}.ipynb").is_file())


def nbgrader_env() -> dict[str, str]:
    """nbgrader calls ``alembic`` through PATH and starts kernels: use this interpreter's."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return dict(os.environ, PATH=path, JUPYTER_PREFER_ENV_PATH="1")


def nbgrader_command(command: str, assignment: str, root: Path, db: Path, *extra: str) -> list[str]:
    """``nbgrader <command> <assignment> --force`` on the course copy ``root`` with gradebook ``db``."""
    return [
        sys.executable,
        "-m",
        "nbgrader",
        command,
        assignment,
        "--force",
        f"--CourseDirectory.root={root}",
        f"--CourseDirectory.db_url=sqlite:///{db}",
        *extra,
    ]


def copy_course(root: Path, course: Path = COURSE) -> None:
    """The config and the sources of ``course`` into ``root`` (what nbgrader needs, nothing else)."""
    shutil.copy(course / "nbgrader_config.py", root)
    shutil.copytree(course / "source", root / "source", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version as committed: nbgrader's output without the jupytext pairing."""
    nb.metadata.pop("jupytext", None)
    for cell in nb.cells:
        cell.metadata.pop("lines_to_next_cell", None)
    return nb


def released(root: Path, assignment: str) -> nbformat.NotebookNode:
    """The cleaned student version that nbgrader generated under ``root/release``."""
    return clean(nbformat.read(root / "release" / assignment / f"{assignment}.ipynb", as_version=4))


def generate(root: Path, names: list[str]) -> None:
    """``nbgrader generate_assignment`` for every name, in parallel, in the course copy ``root``."""
    procs = {
        a: subprocess.Popen(
            nbgrader_command("generate_assignment", a, root, root / f"gradebook_{a}.db"),
            cwd=root,
            env=nbgrader_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for a in names
    }
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=600)
        if proc.returncode != 0 or "ERROR" in out:
            raise RuntimeError(f"nbgrader generate_assignment {name} failed:\n{out[-3000:]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="assignments (default: all of source/)")
    names = parser.parse_args(argv).names or assignments()
    unknown = sorted(set(names) - set(assignments()))
    if unknown:
        parser.error(f"no such assignment in source/: {', '.join(unknown)}")
    jupytext = [sys.executable, "-m", "jupytext", "--sync", "--quiet"]
    for name in names:
        subprocess.run([*jupytext, str(COURSE / "source" / name / f"{name}.py")], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        copy_course(root)
        generate(root, names)
        for name in names:
            out = COURSE / "release" / name
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            nbformat.write(released(root, name), out / f"{name}.ipynb")
            print(f"release/{name}/{name}.ipynb")


if __name__ == "__main__":
    main()
