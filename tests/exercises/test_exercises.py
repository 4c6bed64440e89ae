"""The graded exercises, end to end through nbgrader, in a temporary copy of the course folder.

Three things are proved for every assignment (DESIGN.md, "Exercises"):

1. the source notebook, submitted as a student's work, scores full marks on every autograded cell
   under ``nbgrader autograde`` (hidden tests included);
2. the released student version holds no solution code and no hidden tests, and, run top to bottom,
   stops at the first exercise with ``cvcourse.grading.NotAnswered`` and its message;
3. every autograded check fails on plausible wrong answers: the solution cells are patched with the
   mistakes students make, autograded, and each test cell must score 0 because a check failed
   (``CheckFailed``), not because the patched code crashed.

nbgrader runs each notebook in its own kernel. To stay within about two minutes on a shared CPU, the
two assignments are generated and autograded in parallel, and all fake students of one assignment
are graded by one ``nbgrader autograde`` call (each assignment with its own gradebook).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

COURSE = Path(__file__).resolve().parents[2] / "notebooks" / "exercises"
ASSIGNMENTS = ("ex01_optimizers", "ex02_attention_residuals")

# Plausible wrong answers: for each fake student, (solution cell grade_id, text in the solution,
# wrong text). Every test cell of an assignment is hit by one mistake per fake student.
WRONG = {
    "ex01_optimizers": {
        "wrong_a": [
            # momentum with the wrong sign: v = mu v + lr g
            (
                "sgd_momentum_step",
                "momentum * velocity - lr * grad",
                "momentum * velocity + lr * grad",
            ),
            # Adam without bias correction
            ("adam_step", "g_hat = g / (1 - beta1**t)", "g_hat = g"),
            ("adam_step", "s_hat = s / (1 - beta2**t)", "s_hat = s"),
        ],
        "wrong_b": [
            # momentum forgotten: plain SGD
            ("sgd_momentum_step", "momentum * velocity - lr * grad", "-lr * grad"),
            # betas hard-coded to the defaults: only the hidden tests (other betas) catch it
            ("adam_step", "beta1, beta2 = betas", "beta1, beta2 = 0.9, 0.999"),
        ],
    },
    "ex02_attention_residuals": {
        "wrong_a": [
            # no 1/sqrt(d_K) temperature
            ("scaled_dot_product_attention", " / q.shape[-1] ** 0.5", ""),
            # the skip connection forgotten: x_{l+1} = f_l(x_l)
            ("residual_features", "block(features[-1]) + features[-1]", "block(features[-1])"),
            # the Jacobian of x_L itself (I + B) instead of the branch term B
            ("residual_branch_jacobian", "        return total\n", "        return x\n"),
            # no check of the input's dimension
            (
                "cls_vs_gap",
                "    if x.dim() != 4:\n        raise ValueError",
                "    if False:\n        raise ValueError",
            ),
        ],
        "wrong_b": [
            # mask applied to the weights after the softmax: rows no longer sum to 1
            (
                "scaled_dot_product_attention",
                "    if mask is not None:\n"
                '        scores = scores.masked_fill(~mask, float("-inf"))\n'
                "    return torch.softmax(scores, dim=-1) @ v",
                "    weights = torch.softmax(scores, dim=-1)\n"
                "    if mask is not None:\n        weights = weights * mask\n"
                "    return weights @ v",
            ),
            # only the last feature returned, not the list of all of them
            ("residual_features", "    return features\n", "    return features[-1]\n"),
            # only the first block's Jacobian, the deeper blocks forgotten
            (
                "residual_branch_jacobian",
                "for block in blocks[l:]:",
                "for block in blocks[l:l + 1]:",
            ),
            # [CLS] appended at the end instead of position 0
            (
                "cls_vs_gap",
                "[cls_token.expand(patches.shape[0], -1, -1), patches]",
                "[patches, cls_token.expand(patches.shape[0], -1, -1)]",
            ),
        ],
    },
}
FIRST_EXERCISE = {
    "ex01_optimizers": "Exercise 1 (`sgd_momentum_step`) is not answered yet",
    "ex02_attention_residuals": "Exercise 1 (`scaled_dot_product_attention`) is not answered yet",
}


def _db(root: Path, assignment: str) -> str:
    # One gradebook per assignment, so that the two assignments can be graded in parallel (SQLite).
    return f"sqlite:///{root / f'gradebook_{assignment}.db'}"


def _nbgrader(root: Path, command: str, assignment: str) -> subprocess.Popen:
    # nbgrader calls `alembic` through PATH: put this interpreter's bin folder first. Kernels: this
    # environment's python3 kernel, not one a user may have installed elsewhere.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = dict(os.environ, PATH=path, JUPYTER_PREFER_ENV_PATH="1")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nbgrader",
            command,
            assignment,
            "--force",
            f"--CourseDirectory.root={root}",
            f"--CourseDirectory.db_url={_db(root, assignment)}",
        ],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_all(procs: dict[str, subprocess.Popen]) -> None:
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"nbgrader failed for {name}:\n{out[-3000:]}"
        assert "ERROR" not in out, f"nbgrader reported an error for {name}:\n{out[-3000:]}"


def _source_nb(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(COURSE / "source" / assignment / f"{assignment}.ipynb", as_version=4)


def _patched(assignment: str, mistakes: list[tuple[str, str, str]]) -> nbformat.NotebookNode:
    nb = _source_nb(assignment)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    for grade_id, right, wrong in mistakes:
        cell = cells[grade_id]
        assert cell.metadata["nbgrader"]["solution"], f"{grade_id} is not a solution cell"
        assert cell.source.count(right) == 1, f"{right!r} not found once in the solution {grade_id}"
        cell.source = cell.source.replace(right, wrong)
    return nb


def _test_cells(nb: nbformat.NotebookNode) -> list[str]:
    return [
        c.metadata["nbgrader"]["grade_id"]
        for c in nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    ]


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A copy of the course, with both assignments released and all fake students autograded."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy(COURSE / "nbgrader_config.py", root)
    shutil.copytree(COURSE / "source", root / "source", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    _wait_all({a: _nbgrader(root, "generate_assignment", a) for a in ASSIGNMENTS})
    for assignment in ASSIGNMENTS:
        released = nbformat.read(root / "release" / assignment / f"{assignment}.ipynb", 4)
        students = {"solution": _source_nb(assignment), "blank": released}
        students.update({s: _patched(assignment, m) for s, m in WRONG[assignment].items()})
        for student, nb in students.items():
            folder = root / "submitted" / student / assignment
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / f"{assignment}.ipynb")
    _wait_all({a: _nbgrader(root, "autograde", a) for a in ASSIGNMENTS})
    return root


def _grades(root: Path, assignment: str, student: str) -> dict[str, tuple[float | None, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(_db(root, assignment)) as gb:
        nb = gb.find_submission_notebook(assignment, assignment, student)
        return {g.name: (g.auto_score, g.max_score) for g in nb.grades}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_scores_full_marks(course, assignment):
    grades = _grades(course, assignment, "solution")
    tests = _test_cells(_source_nb(assignment))
    assert set(tests) <= set(grades) and len(tests) >= 2
    for grade_id in tests:
        score, max_score = grades[grade_id]
        assert max_score > 0 and score == max_score, f"{grade_id}: {score} of {max_score}"
    manual = set(grades) - set(tests)
    assert manual, "each assignment has a written answer graded by hand"
    assert all(grades[g][0] is None for g in manual), "written answers are left to the instructor"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_check_fails_on_wrong_answers(course, assignment):
    for student in WRONG[assignment]:
        grades = _grades(course, assignment, student)
        graded = nbformat.read(course / "autograded" / student / assignment / f"{assignment}.ipynb", 4)
        errors = {
            c.metadata["nbgrader"]["grade_id"]: [o.ename for o in c.outputs if o.output_type == "error"]
            for c in graded.cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
        }
        for grade_id in _test_cells(_source_nb(assignment)):
            assert grades[grade_id][0] == 0, f"{student}: {grade_id} scored {grades[grade_id]}"
            # a check caught the mistake; the patched code itself ran
            assert errors[grade_id] == ["CheckFailed"], f"{student}: {grade_id} {errors}"


def _solution_lines(nb: nbformat.NotebookNode, begin: str, end: str) -> list[str]:
    """The non-blank lines between the markers in every cell of ``nb``."""
    lines = []
    for cell in nb.cells:
        for region in re.findall(rf"{begin}\n(.*?){end}", cell.source, flags=re.S):
            lines += [line.strip() for line in region.splitlines() if line.strip()]
    return lines


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_version_has_no_solutions(course, assignment):
    release = course / "release" / assignment
    assert sorted(p.name for p in release.iterdir()) == [f"{assignment}.ipynb"], (
        "only the notebook is released"
    )
    source, student = _source_nb(assignment), nbformat.read(release / f"{assignment}.ipynb", 4)
    text = "\n".join(c.source for c in student.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    solutions = _solution_lines(source, "### BEGIN SOLUTION", r"\s*### END SOLUTION")
    hidden = _solution_lines(source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
    assert solutions and hidden
    # Lines that only the solutions and hidden tests hold (a hidden test may repeat a visible line).
    visible = "\n".join(c.source for c in source.cells)
    for begin, end in (
        ("### BEGIN SOLUTION", "### END SOLUTION"),
        ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
    ):
        visible = re.sub(rf"{begin}\n.*?{end}", "", visible, flags=re.S)
    visible_lines = {line.strip() for line in visible.splitlines()}
    secret = [line for line in solutions + hidden if line not in visible_lines and len(line) > 12]
    assert len(secret) >= 5, "the check below must have lines to look for"
    student_lines = {line.strip() for line in text.splitlines()}
    leaked = [line for line in secret if line in student_lines]
    assert not leaked, f"solution or hidden-test lines in the student version: {leaked}"
    stubs = sum(c.source.count("### BEGIN SOLUTION") for c in source.cells if c.cell_type == "code")
    code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
    assert code.count("# YOUR CODE HERE\n    raise NotImplementedError()") == stubs, "one stub per solution"
    written = [
        c
        for c in student.cells
        if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")
    ]
    assert written and all(c.source.strip() == "YOUR ANSWER HERE" for c in written)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_version_stops_at_first_exercise(course, assignment):
    """The released notebook, handed in untouched: run top to bottom, the first error is the first
    check, saying which exercise to answer (Jupyter's run-all stops there); each check says the same
    for its own exercise, and the blank notebook scores 0."""
    graded = nbformat.read(course / "autograded" / "blank" / assignment / f"{assignment}.ipynb", 4)
    errors = [
        (i, o) for i, c in enumerate(graded.cells) for o in c.get("outputs", []) if o.output_type == "error"
    ]
    first_test = next(
        i
        for i, c in enumerate(graded.cells)
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    )
    index, error = errors[0]
    assert index == first_test, "nothing fails before the first check"
    assert error.ename == "NotAnswered" and FIRST_EXERCISE[assignment] in error.evalue
    assert error.traceback == [f"NotAnswered: {error.evalue}"], "the student sees the message, no traceback"
    tests = _test_cells(_source_nb(assignment))
    for grade_id in tests:
        cell = next(c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
        shown = [o.evalue for o in cell.outputs if o.output_type == "error"]
        assert len(shown) == 1 and re.match(r"Exercise \d \(`\w+`\) is not answered yet", shown[0]), shown
    grades = _grades(course, assignment, "blank")
    assert all(grades[g][0] == 0 for g in tests)
