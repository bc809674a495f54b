"""The instructor's pipeline on the course's own notebooks, not only on the fixture.

For every assignment in notebooks/: ``autograde.release`` writes a clean student version,
and ``autograde.grade`` (confined, with the outside judge) gives the blank release zero,
the source's solutions full marks, and a planted mistake fewer points on its exercise. This
is what "works for every notebook added later without changes" means in practice.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat
import pytest

from autograde.config import Course, ensure_venv_tools_on_path
from autograde.grade import grade
from autograde.release import release
from tests.nbgrader_course import NOTEBOOKS, assignments, mistakes, notebook_of, plant

SOLUTION_LINE = ("### BEGIN SOLUTION", "### END SOLUTION")


def _solved(released: nbformat.NotebookNode, source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The release filled in as an honest learner would: each answer cell gets the source's code."""
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    nb = copy.deepcopy(released)
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers and c.metadata["nbgrader"].get("solution"):
            c.source = "\n".join(line for line in answers[gid].splitlines()
                                 if line.strip() not in SOLUTION_LINE)
    return nb


def _autograded_points(source: nbformat.NotebookNode) -> float:
    return sum(float(c.metadata["nbgrader"]["points"]) for c in source.cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"))


@pytest.mark.slow
@pytest.mark.parametrize("assignment", assignments())
def test_the_pipeline_grades_the_course_notebooks(assignment: str, tmp_path: Path) -> None:
    ensure_venv_tools_on_path()
    name = notebook_of(assignment).name
    shutil.copytree(NOTEBOOKS / assignment, tmp_path / "notebooks" / assignment)
    course = Course(root=tmp_path)
    release(course, [assignment])
    released = nbformat.read(course.release_dir / assignment / name, 4)
    source = nbformat.read(notebook_of(assignment), 4)
    solved = _solved(released, source)
    mistake = mistakes(assignment)[0]
    planted = _solved(released, plant(source, mistake))
    for student, nb in (("blank", released), ("honest", solved), ("mistaken", planted)):
        path = course.submitted_dir / student / assignment / name
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)

    results = {r.student: r for r in grade(course, assignments=[assignment], workers=2)}

    full = _autograded_points(source)
    assert results["blank"].score == 0.0, results["blank"].reasons
    assert results["honest"].score == full, (results["honest"].reasons, results["honest"].exercises)
    lost = {e.grade_id for e in results["mistaken"].exercises if e.score < e.max_score}
    assert set(mistake["loses"]) <= lost, (mistake["name"], results["mistaken"].exercises)
