"""The report's plots count whole students, keep their titles and names readable, and show points
waiting for a human as pending (a hatched segment), never as lost. Asserted on the figure objects."""
from __future__ import annotations

import csv
import json
import sys
import warnings
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "autograde"))
from autograde_course import ASSIGNMENT, empty_gradebook  # noqa: E402

from autograde.config import Course  # noqa: E402
from autograde.grade import UNDECIDABLE, Exercise, GradedNotebook  # noqa: E402
from autograde.report import (  # noqa: E402
    FULL_LABEL,
    LOST_LABEL,
    PENDING_HATCH,
    PENDING_LABEL,
    Mark,
    Total,
    exercise_figure,
    from_results,
    gather,
    plot_text,
    score_figure,
    write_report,
)


def _visible_ticks(ticks, lo, hi):
    return [t for t in ticks if lo - 1e-9 <= t <= hi + 1e-9]


def _containers(ax):
    return {c.get_label(): c for c in ax.containers}


def _drawn(fig):
    FigureCanvasAgg(fig).draw()
    return fig


CLASS = {("ada", "ps1"): Total(score=7, max_score=8),
         ("bo", "ps1"): Total(score=7, max_score=8, pending=1),
         ("cy", "ps1"): Total(score=3, max_score=8),
         ("di", "ps1"): Total(score=6.5, max_score=8, pending=1)}


def test_score_distribution_counts_whole_students():
    ax = score_figure(CLASS).axes[0]
    ticks = _visible_ticks(ax.get_yticks(), *ax.get_ylim())
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks
    assert all(float(t).is_integer() for t in _visible_ticks(ax.get_xticks(), *ax.get_xlim()))
    assert ax.get_ylabel() == "students" and ax.get_xlabel() == "score (of 8 points)"


def test_students_awaiting_hand_grading_are_a_hatched_segment_not_a_lower_score():
    ax = score_figure(CLASS).axes[0]
    bars = _containers(ax)
    pending = next(c for label, c in bars.items() if label.startswith(PENDING_LABEL))
    assert {p.get_hatch() for p in pending} == {PENDING_HATCH}
    assert sum(p.get_height() for p in pending) == 2  # bo and di, each one student
    assert sum(p.get_height() for p in bars["final score"]) == 2  # ada and cy
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith(PENDING_LABEL) for t in legend)
    assert "2 awaiting hand grading" in ax.get_title(loc="left")


def test_no_pending_segment_when_nothing_waits_for_a_human():
    ax = score_figure({("ada", "ps1"): Total(score=8, max_score=8)}).axes[0]
    assert list(_containers(ax)) == ["final score"]
    assert "awaiting" not in ax.get_title(loc="left")


def test_a_long_assignment_gets_whole_point_bands_and_whole_student_ticks():
    totals = {(f"s{i}", "big"): Total(score=float(i * 7 % 97), max_score=96) for i in range(40)}
    ax = score_figure(totals).axes[0]
    assert "in bands of 5 points" in ax.get_xlabel()
    assert all(float(t).is_integer() for t in _visible_ticks(ax.get_yticks(), *ax.get_ylim()))
    assert sum(p.get_height() for p in _containers(ax)["final score"]) == 40


MARKS = ([Mark(student=s, exercise="ps1/test_ttl", full=s != "cy") for s in ("ada", "bo", "cy")]
         + [Mark(student=s, exercise="ps1/reflection", full=False, pending=True) for s in ("ada", "bo")]
         + [Mark(student="cy", exercise="ps1/reflection", full=False)])


def test_exercise_plot_counts_whole_students_with_pending_apart_from_lost():
    fig = exercise_figure(MARKS)
    ax = fig.axes[0]
    ticks = _visible_ticks(ax.get_xticks(), *ax.get_xlim())
    assert all(float(t).is_integer() for t in ticks) and ax.get_xlim() == (0, 3)
    assert ax.get_xlabel() == "students"
    bars = _containers(ax)
    assert list(bars) == [FULL_LABEL, PENDING_LABEL, LOST_LABEL]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == ["ps1/reflection", "ps1/test_ttl"]
    width = {label: [p.get_width() for p in c] for label, c in bars.items()}
    assert width == {FULL_LABEL: [0, 2], PENDING_LABEL: [2, 0], LOST_LABEL: [1, 1]}
    assert {p.get_hatch() for p in bars[PENDING_LABEL]} == {PENDING_HATCH}
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [FULL_LABEL, PENDING_LABEL, LOST_LABEL]


def test_titles_name_the_class_and_fit_in_the_figure():
    name = "02-short-lived-tokens/test_scope_is_narrow_and_explicit_" + "x" * 30
    long = [Mark(student="ada", exercise=name, full=True)]
    for fig in (_drawn(score_figure(CLASS)), _drawn(exercise_figure(long))):
        box = fig.bbox
        titles = [a.title if a.get_title() else a._left_title for a in fig.axes]  # noqa: SLF001
        titles += [fig._suptitle] if fig._suptitle is not None else []  # noqa: SLF001
        shown = [t for t in titles if t.get_text()]
        assert shown
        for title in shown:
            ext = title.get_window_extent()
            assert box.x0 - 1 <= ext.x0 and ext.x1 <= box.x1 + 1, title.get_text()
    assert score_figure(CLASS).axes[0].get_title(loc="left") == \
        "ps1: scores of 4 students, 2 awaiting hand grading"
    assert exercise_figure(long)._suptitle.get_text() == \
        "Exercises: students with full points (of 1 student)"  # noqa: SLF001


@pytest.mark.parametrize("name", ["ps1/$\\notacommand{$", "ps1/tab\there", "ps1/cr\rhere", "ps1/$x$"])
def test_a_name_is_shown_literally_and_cannot_break_the_report(name):
    fig = exercise_figure([Mark(student="a", exercise=name, full=True)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing-glyph warning for a control character fails
        _drawn(fig)
    shown = fig.axes[0].get_yticklabels()[0].get_text()
    assert shown == plot_text(name) and "\t" not in shown and "\r" not in shown
    assert score_figure({("a", name): Total(score=1, max_score=1)}).axes[0].get_title(loc="left")


def test_an_exercise_the_outside_check_could_not_decide_is_pending_not_lost():
    exercises = (Exercise(grade_id="t1", score=2, max_score=2, kernel="passed", outside="pass"),
                 Exercise(grade_id="t2", score=0, max_score=2, kernel="passed", outside=UNDECIDABLE),
                 Exercise(grade_id="t3", score=0, max_score=1, kernel="failed", outside="fail"))
    result = GradedNotebook(student="ada", assignment="ps1", notebook="ps1", status="graded", score=2,
                            max_score=5, exercises=exercises)
    totals, marks = from_results([result])
    assert totals[("ada", "ps1")] == Total(score=2, max_score=5, pending=2)
    by = {m.exercise: (m.full, m.pending) for m in marks}
    assert by == {"ps1/t1": (True, False), "ps1/t2": (False, True), "ps1/t3": (False, False)}


def _course_with_hand_graded_cell(tmp_path: Path) -> Course:
    from nbgrader.api import Gradebook

    course = Course(root=tmp_path)
    empty_gradebook(course)
    with Gradebook(course.db_url, course.course_id) as gb:
        gb.add_assignment(ASSIGNMENT)
        gb.add_notebook("ps1", ASSIGNMENT)
        gb.add_grade_cell("test_ttl", "ps1", ASSIGNMENT, max_score=2, cell_type="code")
        gb.add_grade_cell("reflection", "ps1", ASSIGNMENT, max_score=1, cell_type="markdown")
        for student in ("ada", "bo"):
            gb.add_student(student)
            gb.add_submission(ASSIGNMENT, student)
            test = gb.find_grade("test_ttl", "ps1", ASSIGNMENT, student)
            test.auto_score, test.needs_manual_grade = 2.0, False
            gb.find_grade("reflection", "ps1", ASSIGNMENT, student).needs_manual_grade = True
        gb.db.commit()
    for student in ("ada", "bo"):
        ledger = course.autograded_dir / student / ASSIGNMENT / "ps1.autograde.json"
        ledger.parent.mkdir(parents=True)
        ledger.write_text(json.dumps(GradedNotebook(
            student=student, assignment=ASSIGNMENT, notebook="ps1", status="graded", score=2,
            max_score=3, exercises=(Exercise(grade_id="test_ttl", score=2, max_score=2, kernel="passed",
                                             outside="pass"),)).to_json()))
    return course


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's add_submission
def test_a_hand_graded_cell_is_pending_until_the_instructor_grades_it(tmp_path):
    from nbgrader.api import Gradebook

    from autograde.grade import load_results

    course = _course_with_hand_graded_cell(tmp_path)
    totals, marks = gather(course, load_results(course))
    assert totals[("ada", ASSIGNMENT)] == Total(score=2, max_score=3, pending=1)
    assert {(m.student, m.exercise): m.pending for m in marks if m.exercise.endswith("reflection")} == \
        {("ada", "ps1/reflection"): True, ("bo", "ps1/reflection"): True}
    write_report(course)
    with (course.reports_dir / "grades.csv").open(newline="") as fh:
        pending = {r["student"]: r["pending_hand_grading"] for r in csv.DictReader(fh)}
    assert pending == {"ada": "1", "bo": "1"}

    with Gradebook(course.db_url, course.course_id) as gb:  # the instructor grades ada in formgrader
        grade = gb.find_grade("reflection", "ps1", ASSIGNMENT, "ada")
        grade.manual_score, grade.needs_manual_grade = 1.0, False
        gb.db.commit()
    totals, marks = gather(course, load_results(course))
    assert totals[("ada", ASSIGNMENT)] == Total(score=3, max_score=3, pending=0)
    ax = exercise_figure(marks).axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    width = {label: c[rows.index("ps1/reflection")].get_width() for label, c in _containers(ax).items()}
    assert width == {FULL_LABEL: 1, PENDING_LABEL: 1, LOST_LABEL: 0}
