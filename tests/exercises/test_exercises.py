"""The graded exercises, end to end through nbgrader, in a temporary copy of the course folder.

For every assignment of ``notebooks/exercises/source`` (DESIGN.md, "Exercises"):

1. the source notebook, submitted as a student's work, scores full marks on every autograded cell
   under ``nbgrader autograde`` (hidden tests included), and its written answers are left to the
   instructor;
2. the committed student version ``release/<a>/<a>.ipynb`` is what ``generate_release.py`` makes
   from the source today (not stale), holds no solution code and no hidden tests (cells, outputs,
   metadata), and, run top to bottom, stops at the first exercise with ``NotAnswered`` (its
   message, no traceback), every check saying the same for its own exercise, scoring 0;
3. every autograded check fails on plausible wrong answers (``exercise_mistakes.WRONG``): the
   solution cells are patched with the mistakes students make, autograded, and each test cell must
   score 0 because a check failed (``CheckFailed``), not because the patched code crashed;
4. robustness: an answer that raises, returns the wrong type or never returns scores 0 for its task
   with a clear message while the other tasks still score (``exercise``'s time limit), and a cell
   that never ends is stopped by nbgrader's per-cell limit ``c.Execute.timeout`` (set short here).

nbgrader runs each notebook in its own kernel. To stay within a few minutes on a shared 2-core CPU,
the assignments are generated and autograded in parallel, and all fake students of one assignment
are graded by one ``nbgrader autograde`` call (each assignment with its own gradebook).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import jupytext
import nbformat
import pytest
from exercise_mistakes import FIRST_EXERCISE, ROBUST, WRONG

COURSE = Path(__file__).resolve().parents[2] / "notebooks" / "exercises"
_spec = importlib.util.spec_from_file_location("generate_release", COURSE / "generate_release.py")
release_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(release_tool)

ASSIGNMENTS = release_tool.assignments()
CODED = [a for a in ASSIGNMENTS if WRONG.get(a)]  # assignments with autograded code tasks
HANG_ASSIGNMENT = "ex01_optimizers"
HANG_TIMEOUT_S = 25  # nbgrader's per-cell limit for the student whose cell never ends


def _source_nb(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(COURSE / "source" / assignment / f"{assignment}.ipynb", as_version=4)


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _patched(assignment: str, mistakes: list[tuple[str, str, str]]) -> nbformat.NotebookNode:
    nb = _source_nb(assignment)
    cells = {_grade_id(c): c for c in nb.cells}
    for grade_id, right, wrong in mistakes:
        cell = cells[grade_id]
        assert cell.metadata["nbgrader"]["solution"], f"{grade_id} is not a solution cell"
        assert cell.source.count(right) == 1, f"{right!r} not found once in the solution {grade_id}"
        cell.source = cell.source.replace(right, wrong)
    return nb


def _test_cells(nb: nbformat.NotebookNode) -> list[str]:
    return [
        _grade_id(c)
        for c in nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    ]


def _students(root: Path, assignment: str) -> dict[str, nbformat.NotebookNode]:
    students = {"solution": _source_nb(assignment), "blank": release_tool.released(root, assignment)}
    students.update({s: _patched(assignment, m) for s, m in WRONG.get(assignment, {}).items()})
    if assignment in ROBUST:
        students["robust"] = _patched(assignment, ROBUST[assignment]["mistakes"])
    return students


def _submit(root: Path, assignment: str, students: dict[str, nbformat.NotebookNode]) -> None:
    for student, nb in students.items():
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{assignment}.ipynb")


def _autograde(root: Path, assignment: str, *extra: str) -> subprocess.Popen:
    db = root / f"gradebook_{assignment}.db"
    return subprocess.Popen(
        release_tool.nbgrader_command("autograde", assignment, root, db, *extra),
        cwd=root,
        env=release_tool.nbgrader_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict[str, Path]:
    """Copies of the course: ``main`` with every assignment released and all its fake students
    autograded, ``hang`` with one student whose cell never ends, graded with a short cell limit."""
    main, hang = tmp_path_factory.mktemp("course"), tmp_path_factory.mktemp("hang")
    for root in (main, hang):
        release_tool.copy_course(root)
    release_tool.generate(main, ASSIGNMENTS)
    for assignment in ASSIGNMENTS:
        _submit(main, assignment, _students(main, assignment))
    looping = _patched(
        HANG_ASSIGNMENT,
        [
            (
                "sgd_momentum_step",
                "def sgd_momentum_step(",
                "while True:\n    pass\n\n\ndef sgd_momentum_step(",
            )
        ],
    )
    release_tool.generate(hang, [HANG_ASSIGNMENT])
    _submit(hang, HANG_ASSIGNMENT, {"looping": looping})
    procs = {a: _autograde(main, a) for a in ASSIGNMENTS}
    procs["hang"] = _autograde(hang, HANG_ASSIGNMENT, f"--Execute.timeout={HANG_TIMEOUT_S}")
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"nbgrader autograde failed for {name}:\n{out[-3000:]}"
        # nbgrader logs an ERROR line for a cell timeout: expected for the looping student only. The
        # kernel's own log lines ([IPKernelApp] ERROR | KeyboardInterrupt caught in kernel / Invalid Control
        # Message) come from its shutdown, after the notebook is written, and with timing: not grading errors.
        errors = [ln for ln in out.splitlines() if "ERROR" in ln and not ln.startswith("[IPKernelApp]")]
        assert name == "hang" or not errors, f"nbgrader reported an error for {name}:\n{out[-3000:]}"
    return {"main": main, "hang": hang}


def _grades(root: Path, assignment: str, student: str) -> dict[str, tuple[float | None, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / f'gradebook_{assignment}.db'}") as gb:
        nb = gb.find_submission_notebook(assignment, assignment, student)
        return {g.name: (g.auto_score, g.max_score) for g in nb.grades}


def _errors(root: Path, assignment: str, student: str) -> dict[str, list]:
    graded = nbformat.read(root / "autograded" / student / assignment / f"{assignment}.ipynb", 4)
    return {
        _grade_id(c): [o for o in c.outputs if o.output_type == "error"]
        for c in graded.cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
    }


def test_every_assignment_is_covered():
    chapters = {f"ex0{n}" for n in range(1, 8)}
    assert chapters <= {a[:4] for a in ASSIGNMENTS}, f"one assignment per chapter 1-7: {ASSIGNMENTS}"
    assert "written" in ASSIGNMENTS
    assert set(WRONG) == set(ASSIGNMENTS), "every assignment has its wrong answers (or {} if none is coded)"
    for assignment in CODED:
        tasks = _test_cells(_source_nb(assignment))
        assert 4 <= len(tasks) <= 8 or assignment.startswith("project"), f"{assignment}: {len(tasks)} tasks"


def test_config_sets_a_per_cell_time_limit():
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(COURSE)).load_config()
    timeout = config.Execute.timeout
    assert isinstance(timeout, int) and 60 <= timeout <= 600, timeout
    from cvcourse.grading import TIME_LIMIT_S

    assert TIME_LIMIT_S < timeout, "exercise()'s limit names the exercise before nbgrader interrupts the cell"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_pair_is_in_sync(assignment):
    folder = COURSE / "source" / assignment
    from_py = jupytext.read(str(folder / f"{assignment}.py"))
    ipynb = _source_nb(assignment)
    assert [(c.cell_type, c.source) for c in from_py.cells] == [
        (c.cell_type, c.source) for c in ipynb.cells
    ], f"run: jupytext --sync {folder / assignment}.py"
    assert [c.metadata.get("nbgrader") for c in from_py.cells] == [
        c.metadata.get("nbgrader") for c in ipynb.cells
    ]
    assert all(not c.get("outputs") for c in ipynb.cells), "sources are committed without outputs"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_scores_full_marks(course, assignment):
    grades = _grades(course["main"], assignment, "solution")
    tests = _test_cells(_source_nb(assignment))
    assert set(tests) <= set(grades)
    for grade_id in tests:
        score, max_score = grades[grade_id]
        assert max_score > 0 and score == max_score, f"{grade_id}: {score} of {max_score}"
    manual = set(grades) - set(tests)
    assert manual, "each assignment has a written answer graded by hand"
    assert all(grades[g][0] is None and grades[g][1] > 0 for g in manual), (
        "written answers are the instructor's"
    )
    errors = _errors(course["main"], assignment, "solution")
    assert not any(errors.values()), errors


@pytest.mark.parametrize("assignment", CODED)
def test_every_check_fails_on_wrong_answers(course, assignment):
    for student in WRONG[assignment]:
        grades = _grades(course["main"], assignment, student)
        errors = _errors(course["main"], assignment, student)
        for grade_id in _test_cells(_source_nb(assignment)):
            assert grades[grade_id][0] == 0, f"{student}: {grade_id} scored {grades[grade_id]}"
            # a check caught the mistake; the patched code itself ran
            names = [e.ename for e in errors[grade_id]]
            assert names in (["CheckFailed"], ["TimeLimitExceeded"]), f"{student}: {grade_id} {names}"


@pytest.mark.parametrize("assignment", sorted(ROBUST))
def test_broken_answers_score_zero_and_the_rest_is_graded(course, assignment):
    grades = _grades(course["main"], assignment, "robust")
    errors = _errors(course["main"], assignment, "robust")
    broken = ROBUST[assignment]["broken"]  # test cell -> (error name, text of its message)
    for grade_id in _test_cells(_source_nb(assignment)):
        score, max_score = grades[grade_id]
        if grade_id not in broken:
            assert score == max_score and not errors[grade_id], f"{grade_id}: {score} {errors[grade_id]}"
            continue
        ename, text = broken[grade_id]
        assert score == 0, f"{grade_id} scored {score}"
        assert [e.ename for e in errors[grade_id]] == [ename], errors[grade_id]
        shown = "\n".join(errors[grade_id][0].traceback)
        assert text in shown, f"{grade_id}: {text!r} not in the message:\n{shown}"


def test_a_cell_that_never_ends_is_stopped_and_grading_goes_on(course):
    grades = _grades(course["hang"], HANG_ASSIGNMENT, "looping")
    graded = nbformat.read(
        course["hang"] / "autograded" / "looping" / HANG_ASSIGNMENT / f"{HANG_ASSIGNMENT}.ipynb", 4
    )
    looping = next(c for c in graded.cells if _grade_id(c) == "sgd_momentum_step")
    # nbclient interrupts the kernel (KeyboardInterrupt) and records nbgrader's CellTimeoutError
    assert "CellTimeoutError" in [o.ename for o in looping.outputs if o.output_type == "error"]
    tests = _test_cells(_source_nb(HANG_ASSIGNMENT))
    assert grades[tests[0]][0] == 0, "the task whose cell never ended scores 0"
    assert all(grades[g][0] == grades[g][1] > 0 for g in tests[1:]), grades


def _regions(nb: nbformat.NotebookNode, begin: str, end: str) -> list[str]:
    """The non-blank lines between the markers in every cell of ``nb``."""
    lines = []
    for cell in nb.cells:
        for region in re.findall(rf"{begin}\n(.*?){end}", cell.source, flags=re.S):
            lines += [line.strip() for line in region.splitlines() if line.strip()]
    return lines


def _committed(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(COURSE / "release" / assignment / f"{assignment}.ipynb", as_version=4)


def _comparable(nb: nbformat.NotebookNode) -> list:
    return [nb.metadata, [(c.cell_type, c.source, c.metadata) for c in nb.cells]]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_is_not_stale(course, assignment):
    fresh = release_tool.released(course["main"], assignment)
    assert _comparable(_committed(assignment)) == _comparable(fresh), (
        f"release/{assignment} is stale: run "
        f".venv/bin/python notebooks/exercises/generate_release.py {assignment}"
    )
    files = sorted(
        p.name for p in (COURSE / "release" / assignment).iterdir() if p.name != ".ipynb_checkpoints"
    )
    assert files == [f"{assignment}.ipynb"], "only the notebook is released"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_version_has_no_solutions(assignment):
    source, student = _source_nb(assignment), _committed(assignment)
    raw = (COURSE / "release" / assignment / f"{assignment}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in raw, f"{marker} in release/{assignment}"
    assert all(not c.get("outputs") and not c.get("execution_count") for c in student.cells), "no outputs"
    solutions = _regions(source, "### BEGIN SOLUTION", r"\s*### END SOLUTION")
    hidden = _regions(source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")

    # Lines that only the solutions and hidden tests hold (a hidden test may repeat a visible line).
    def is_answer(cell) -> bool:
        return cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution", False)

    visible = "\n".join(c.source for c in source.cells if not is_answer(c))
    for begin, end in (
        ("### BEGIN SOLUTION", "### END SOLUTION"),
        ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
    ):
        visible = re.sub(rf"{begin}\n.*?{end}", "", visible, flags=re.S)
    visible_lines = {line.strip() for line in visible.splitlines()}
    # A written answer (a markdown solution cell) is replaced as a whole: all of it is secret.
    answers = [
        line.strip() for c in source.cells if is_answer(c) for line in c.source.splitlines() if line.strip()
    ]
    secret = [line for line in solutions + hidden + answers if line not in visible_lines and len(line) > 12]
    assert len(secret) >= 5, "the check below must have lines to look for"
    student_lines = {line.strip() for c in student.cells for line in c.source.splitlines()}
    leaked = [line for line in secret if line in student_lines]
    assert not leaked, f"solution or hidden-test lines in the student version: {leaked}"
    metadata = json.dumps([student.metadata] + [c.metadata for c in student.cells])
    leaked = [line for line in secret if len(line) > 20 and json.dumps(line)[1:-1] in metadata]
    assert not leaked, f"solution or hidden-test text in the student version's metadata: {leaked}"
    code_stubs = sum(c.source.count("### BEGIN SOLUTION") for c in source.cells if c.cell_type == "code")
    code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
    assert code.count("# YOUR CODE HERE\n") == code.count("raise NotImplementedError()") == code_stubs
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
    root = course["main"]
    graded = nbformat.read(root / "autograded" / "blank" / assignment / f"{assignment}.ipynb", 4)
    errors = [
        (i, o) for i, c in enumerate(graded.cells) for o in c.get("outputs", []) if o.output_type == "error"
    ]
    tests = _test_cells(_source_nb(assignment))
    if not tests:  # written answers only: the notebook runs clean
        assert not errors, errors
        return
    first_test = next(i for i, c in enumerate(graded.cells) if _grade_id(c) == tests[0])
    index, error = errors[0]
    assert index == first_test, "nothing fails before the first check"
    assert error.ename == "NotAnswered" and FIRST_EXERCISE[assignment] in error.evalue
    assert error.traceback == [f"NotAnswered: {error.evalue}"], "the student sees the message, no traceback"
    for grade_id in tests:
        cell = next(c for c in graded.cells if _grade_id(c) == grade_id)
        shown = [o.evalue for o in cell.outputs if o.output_type == "error"]
        assert len(shown) == 1 and re.match(r"Exercise \d+ \(`[\w.]+`\) is not answered yet", shown[0]), shown
    grades = _grades(root, assignment, "blank")
    assert all(grades[g][0] == 0 for g in tests)
