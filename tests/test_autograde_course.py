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


_GRADED: dict[str, tuple[dict, float, dict]] = {}


def _graded(assignment: str, tmp_path: Path) -> tuple[dict, float, dict]:
    """Grade blank, honest and planted-mistake submissions once per assignment."""
    if assignment in _GRADED:
        return _GRADED[assignment]
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
    _GRADED[assignment] = (results, _autograded_points(source), mistake)
    return _GRADED[assignment]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", assignments())
def test_the_pipeline_grades_the_course_notebooks(assignment: str, tmp_path: Path) -> None:
    results, full, mistake = _graded(assignment, tmp_path)
    honest = results["honest"]
    undecided = sum(e.max_score for e in honest.exercises if e.outside == "undecidable")
    assert results["blank"].score == 0.0, results["blank"].reasons
    # Every exercise the judge can decide gives the honest learner its points; an undecided
    # one scores 0 and waits for a human (see the next test).
    assert honest.score == full - undecided, (honest.reasons, honest.exercises)
    assert all(e.score == e.max_score for e in honest.exercises if e.outside == "passed")
    assert [h for h in honest.needs_human if "could not decide" not in h] == [], honest.needs_human
    assert not [e for e in results["blank"].exercises if "not attempted" not in e.feedback], \
        results["blank"].exercises
    # The release's own code (its demo cells, a required `urllib.parse`) is no finding.
    assert results["blank"].needs_human == (), results["blank"].needs_human
    lost = {e.grade_id for e in results["mistaken"].exercises if e.score < e.max_score}
    assert set(mistake["loses"]) <= lost, (mistake["name"], results["mistaken"].exercises)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", assignments())
def test_every_course_exercise_is_decided_outside_the_learners_reach(assignment: str,
                                                                     tmp_path: Path) -> None:
    """Issue 9: an exercise the judge cannot decide (its checks hand the learner's function
    a live kit object) gets no automatic points; the course must have none."""
    results, _, _ = _graded(assignment, tmp_path)
    undecided = {e.grade_id: e.reason for e in results["honest"].exercises
                 if e.outside == "undecidable"}
    assert undecided == {}, f"undecidable outside the learner's reach: {undecided}"
