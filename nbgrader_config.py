"""nbgrader configuration for Vault Lab, loaded by `nbgrader ...` and JupyterLab's nbgrader
extension when they run from the course root (the folder holding this file).

Build folders (release/, submitted/, autograded/, feedback/, gradebook.db) are gitignored.
`python -m autograde ...` reads these values through nbgrader's own classes (autograde/config.py:
folders, course id, gradebook, solution and hidden-test delimiters, Execute.timeout as its per-cell
time), never a copy of them, and adds confinement, parallelism and the outside verdict; plain
`nbgrader autograde` still works with them. autograde's own bounds are the `AutogradeLimits`
section (notebook_seconds, judge_seconds, memory_bytes, output_bytes, file_bytes; see their help
in autograde/config.py), which nbgrader ignores.
"""
import os

c = get_config()  # noqa: F821 - injected by traitlets' config loader
HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "vault-lab"
c.CourseDirectory.source_directory = "notebooks"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

# Solutions and hidden tests are stripped from the student version.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"  # nbgrader's spelling
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"

# Execution: bounded per cell (autograde's per-cell time too), and a kernel that is killed, not
# politely asked (a graceful shutdown of a busy kernel can stall for seconds per notebook).
c.Execute.timeout = 30
c.Execute.interrupt_on_timeout = True
c.Execute.shutdown_kernel = "immediate"
c.ExecutePreprocessor.timeout = 30

# Keep an output flood from bloating the autograded notebook and the feedback.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# A deleted test cell comes back (and scores 0 unless it passes) instead of vanishing.
c.OverwriteCells.add_missing_cells = True

# A single-machine lab gets a working Assignment List / exchange inside the course folder
# (gitignored); a JupyterHub workshop overrides this in its system-wide nbgrader_config.py.
c.Exchange.root = os.path.join(HERE, "exchange")
c.Exchange.path_includes_course = True
