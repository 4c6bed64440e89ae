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

# Each notebook runs in a few seconds on a CPU; a student's endless loop must not hang grading.
c.Execute.timeout = 120
