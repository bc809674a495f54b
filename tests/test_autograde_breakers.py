"""One notebook never stops the class: a grading failure becomes that notebook's reason,
`grade` exits 0, a rerun converges, the progress bar counts right, and the reports a
spreadsheet opens hold no formula a learner wrote."""
from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "autograde"))
from autograde_course import ASSIGNMENT, cell, make_course, release_nb, solved, submit  # noqa: E402

import autograde.grade as grading  # noqa: E402
from autograde.__main__ import main  # noqa: E402
from autograde.config import Course  # noqa: E402
from autograde.grade import Exercise, GradedNotebook, grade, progress_bar  # noqa: E402
from autograde.report import write_report  # noqa: E402

FULL = 7.0
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
FORGED_CREDIT = ("get_ipython().ast_node_interactivity = 'all'\n"
                 "get_ipython().input_transformers_post.append(lambda lines: ['1000\\n'] + lines)\n")


@needs_bwrap
@pytest.mark.slow
def test_grade_exits_zero_with_a_breaker_in_the_class(tmp_path: Path, capsys) -> None:
    course = make_course(tmp_path)
    submit(course, "honest", solved(course))
    breaker = release_nb(course)
    cell(breaker, "mask").source += "\n" + FORGED_CREDIT
    submit(course, "breaker", breaker)
    code = main(["--root", str(tmp_path), "grade", "--workers", "2", "--quiet"])
    assert code == 0
    results = {r.student: r for r in grading.load_results(course)}
    assert results["honest"].score == FULL and results["breaker"].score == 0.0


@needs_bwrap
@pytest.mark.slow
def test_a_failure_while_recording_one_notebook_is_its_reason_and_a_rerun_converges(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    course = make_course(tmp_path)
    for student in ("ada", "breaker", "grace"):
        submit(course, student, solved(course))
    original = grading._save

    def flaky(course_, task, nb, statuses):
        if task.student == "breaker":
            raise RuntimeError("disk on fire")
        return original(course_, task, nb, statuses)

    monkeypatch.setattr(grading, "_save", flaky)
    first = {r.student: r for r in grade(course, workers=2)}
    assert first["ada"].score == first["grace"].score == FULL
    assert first["breaker"].status == "error" and first["breaker"].score == 0.0
    assert any("disk on fire" in r for r in first["breaker"].needs_human)

    monkeypatch.setattr(grading, "_save", original)
    second = {r.student: r for r in grade(course, workers=2)}
    assert second["breaker"].score == FULL and second["breaker"].status == "graded"
    third = {r.student: (r.score, r.status) for r in grade(course, workers=2)}
    assert third == {s: (FULL, "graded") for s in ("ada", "breaker", "grace")}


@needs_bwrap
@pytest.mark.slow
def test_the_progress_bar_counts_only_this_runs_notebooks(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    submit(course, "ada", solved(course))
    grade(course, workers=1)
    submit(course, "grace", solved(course))
    seen: list[tuple[int, int]] = []
    grade(course, workers=1, progress=lambda done, total, result: seen.append((done, total)))
    assert seen == [(1, 1)]


def test_the_progress_bar_never_shows_more_than_its_total() -> None:
    out = io.StringIO()
    result = GradedNotebook(student="s", assignment="a", notebook="n", status="graded",
                            score=1, max_score=1)
    progress_bar(out)(85, 79, result)
    assert "79/79" in out.getvalue() and "85/79" not in out.getvalue()


def test_report_cells_cannot_become_spreadsheet_formulas(tmp_path: Path) -> None:
    course = Course(root=tmp_path)
    hostile = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]
    result = GradedNotebook(
        student="=cmd|' /C calc'!A0", assignment="ps1", notebook="ps1", status="graded", score=0,
        max_score=1, exercises=tuple(Exercise(grade_id=g, score=0, max_score=1, kernel="failed",
                                               outside="failed", reason=g) for g in hostile),
        needs_human=tuple(hostile))
    ledger = course.autograded_dir / "x" / ASSIGNMENT / "ps1.autograde.json"
    ledger.parent.mkdir(parents=True)
    ledger.write_text(json.dumps(result.to_json()))
    write_report(course)
    for name in ("grades.csv", "exercises.csv", "needs_human.csv"):
        with (course.reports_dir / name).open(newline="") as fh:
            for row in list(csv.reader(fh))[1:]:
                for value in row:
                    assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (name, value)
