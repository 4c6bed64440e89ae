"""nbgrader configuration of the cvcourse exercises (run nbgrader from this folder).

    cd notebooks/exercises
    nbgrader generate_assignment ex01_optimizers --force   # release/ex01_optimizers/: the student version
    nbgrader autograde ex01_optimizers                      # grades submitted/<student>/ex01_optimizers/
    nbgrader generate_feedback ex01_optimizers              # feedback/<student>/ex01_optimizers/ (HTML)

The sources (source/<assignment>/<assignment>.ipynb) hold the solutions between
``### BEGIN SOLUTION`` / ``### END SOLUTION`` and hidden tests between ``### BEGIN HIDDEN TESTS`` /
``### END HIDDEN TESTS``; the student version is generated from them, never edited by hand.
"""

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "cvcourse"
c.CourseDirectory.source_directory = "source"
# The paired py:percent files hold the solutions too: never copy them into the student version.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py", "jupytext.toml"]

# The stub left in place of a solution; cvcourse.grading.exercise() recognises it and tells the
# student which exercise is still open.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# The per-cell time limit, which nbgrader honours (ExecutePreprocessor.timeout it does not): a
# student's endless loop must not hang grading. A cell that runs longer is interrupted, scores 0
# ("CellTimeoutError") and the next cells still run. Every cell of the sources runs in a few seconds
# on a laptop CPU, the project's training cell in about a minute on 2 cores; inside a check cell
# cvcourse.grading.exercise() stops an endless loop first (after TIME_LIMIT_S = 30 s), naming the
# exercise.
c.Execute.timeout = 180
# Output that arrives late on a loaded machine (a kernel starting next to others) is waited for,
# not reported as an error of nbgrader's.
c.Execute.iopub_timeout = 30
