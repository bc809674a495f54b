"""What an instructor reads after grading: grades as CSV, two plots, and who needs a human.

Totals come from nbgrader's gradebook (so manual grades entered in formgrader count);
verdicts and reasons come from the grading ledgers. Points waiting for a human (hand-graded
cells, exercises the outside check could not decide) are *pending*, never shown as lost: a
`pending_hand_grading` column in grades.csv, a hatched segment in both plots. Plots count whole
students: the score distribution per assignment, and per exercise how many students have full
points, are awaiting hand grading, or lost points (which ones the class failed).
"""
from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nbgrader.api import Gradebook, MissingEntry

from .config import Course
from .grade import MANUAL, GradedNotebook, load_results

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell_text(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: a string starting with = + - @ tab or CR (a
    formula, CWE-1236) gets a leading apostrophe. Numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class _SafeWriter:
    """csv.writer whose every string cell is neutralised against formulas."""

    def __init__(self, fh: object) -> None:
        self._w = csv.writer(fh)  # type: ignore[arg-type]

    def writerow(self, row: list[object]) -> None:
        self._w.writerow([cell_text(v) for v in row])


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    files: tuple[Path, ...]
    human_lines: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Total:
    """One student's assignment: points so far, points possible, and points still waiting for a
    human (hand-graded cells, exercises the outside check could not decide): pending, not lost."""

    score: float
    max_score: float
    pending: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Mark:
    """One student's result on one graded cell, as the exercise plot counts it."""

    student: str
    exercise: str  # "assignment/grade_id"
    full: bool
    pending: bool = False


PENDING_LABEL = "hand grading pending"
FULL_LABEL = "full points"
LOST_LABEL = "points lost"
COLORS = {"final": "#4c72b0", "full": "#55a868", "lost": "#c44e52", "pending": "#e8e8e8"}
PENDING_HATCH = "///"
PENDING_EDGE = "#555555"


def _from_gradebook(course: Course, results: list[GradedNotebook]
                    ) -> tuple[dict[tuple[str, str], Total], list[Mark]]:
    """Totals and marks as nbgrader's gradebook holds them (manual grades entered in formgrader
    count; a cell still flagged for a human is pending)."""
    totals: dict[tuple[str, str], Total] = {}
    marks: list[Mark] = []
    if not course.db_path.exists():
        return totals, marks
    with Gradebook(course.db_url, course.course_id) as gb:
        for assignment in sorted({r.assignment for r in results}):
            try:
                subs = list(gb.assignment_submissions(assignment))
            except MissingEntry:
                continue
            for sub in subs:
                pending = 0.0
                for nb in sub.notebooks:
                    for g in nb.grades:
                        top, got = float(g.max_score or 0.0), float(g.score or 0.0)
                        if g.needs_manual_grade:
                            pending += max(0.0, top - got)
                        if top > 0:
                            marks.append(Mark(student=sub.student_id, exercise=f"{assignment}/{g.name}",
                                              full=got >= top and not g.needs_manual_grade,
                                              pending=bool(g.needs_manual_grade)))
                totals[(sub.student_id, assignment)] = Total(
                    score=float(sub.score), max_score=float(sub.max_score), pending=pending)
    return totals, marks


def from_results(results: list[GradedNotebook]) -> tuple[dict[tuple[str, str], Total], list[Mark]]:
    """Totals and marks from the grading ledgers alone (no gradebook): an exercise the outside
    check could not decide is pending a human, not lost."""
    totals: dict[tuple[str, str], Total] = {}
    marks: list[Mark] = []
    for r in results:
        key = (r.student, r.assignment)
        before = totals.get(key, Total(score=0.0, max_score=0.0))
        pending = sum(max(0.0, e.max_score - e.score) for e in r.exercises if e.outside in MANUAL)
        totals[key] = Total(score=before.score + r.score, max_score=before.max_score + r.max_score,
                            pending=before.pending + pending)
        marks += [Mark(student=r.student, exercise=f"{r.assignment}/{e.grade_id}",
                       full=e.score >= e.max_score and e.outside not in MANUAL,
                       pending=e.outside in MANUAL)
                  for e in r.exercises if e.max_score > 0]
    return totals, marks


def gather(course: Course, results: list[GradedNotebook]
            ) -> tuple[dict[tuple[str, str], Total], list[Mark]]:
    """The gradebook's totals and marks, the ledgers' for what the gradebook does not hold."""
    totals, marks = _from_gradebook(course, results)
    led_totals, led_marks = from_results(results)
    known = {(m.student, m.exercise) for m in marks}
    for key, total in led_totals.items():
        totals.setdefault(key, total)
    marks += [m for m in led_marks if (m.student, m.exercise) not in known]
    return totals, marks


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def plot_text(text: str) -> str:
    """A name as a plot shows it literally: control characters as spaces, `$` escaped (matplotlib
    would otherwise parse `$...$` as math, and a malformed one fails the whole report)."""
    return _CONTROL.sub(" ", text).replace("$", r"\$")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def score_figure(totals: Mapping[tuple[str, str], Total]) -> Figure:
    """Per assignment, how many students reached each score: whole students on the y axis,
    students still awaiting hand grading stacked as a hatched segment (their score may rise)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    assignments = sorted({a for _, a in totals})
    fig = Figure(figsize=(7.5, 2.9 * max(1, len(assignments)) + 0.4), layout="constrained")
    axes = fig.subplots(max(1, len(assignments)), 1, squeeze=False)[:, 0]
    for ax, assignment in zip(axes, assignments, strict=False):
        rows = [t for (_, a), t in sorted(totals.items()) if a == assignment]
        top = max((t.max_score for t in rows), default=1.0) or 1.0
        width = 1 if top <= 30 else math.ceil(top / 20)
        nbins = int(top // width) + 1
        final, waiting = [0] * nbins, [0] * nbins
        for t in rows:
            i = min(nbins - 1, max(0, int(t.score // width)))
            (waiting if t.pending > 0 else final)[i] += 1
        xs = [i * width for i in range(nbins)]
        ax.bar(xs, final, width=0.8 * width, color=COLORS["final"], label="final score")
        n_waiting = sum(waiting)
        if n_waiting:
            at = [i for i in range(nbins) if waiting[i]]  # no empty hatched outlines elsewhere
            ax.bar([xs[i] for i in at], [waiting[i] for i in at], width=0.8 * width,
                   bottom=[final[i] for i in at], color=COLORS["pending"], edgecolor=PENDING_EDGE,
                   hatch=PENDING_HATCH, label=f"{PENDING_LABEL}\n(score may rise)")
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, max(1, max(f + w for f, w in zip(final, waiting, strict=True))) * 1.15)
        ax.set_xlim(-0.6 * width, top + 0.6 * width)
        title = f"{plot_text(assignment)}: scores of {_plural(len(rows), 'student')}"
        if n_waiting:
            title += f", {n_waiting} awaiting hand grading"
        ax.set_title(title, fontsize=12, loc="left")
        band = "" if width == 1 else f", in bands of {width:g} points"
        ax.set_xlabel(f"score (of {top:g} points{band})")
        ax.set_ylabel("students")
    if not assignments:
        axes[0].set_title("no graded submissions yet", fontsize=12, loc="left")
    return fig


def exercise_figure(marks: list[Mark]) -> Figure:
    """Per exercise, how many students have full points, are awaiting hand grading (hatched, not
    counted as lost) or lost points: whole students on the x axis."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # full, pending, lost
    students: set[str] = set()
    for m in marks:
        counts[m.exercise][0 if m.full else 1 if m.pending else 2] += 1
        students.add(m.student)
    names = sorted(counts)
    labels = [plot_text(n) for n in names]
    full = [counts[n][0] for n in names]
    pending = [counts[n][1] for n in names]
    lost = [counts[n][2] for n in names]
    fig = Figure(figsize=(7.5, 0.42 * max(3, len(names)) + 1.6), layout="constrained")
    ax = fig.subplots()
    rows = list(range(len(names)))  # positions, not categories: two names may print alike
    ax.barh(rows, full, color=COLORS["full"], label=FULL_LABEL)
    if any(pending):
        ax.barh(rows, pending, left=full, color=COLORS["pending"], edgecolor=PENDING_EDGE,
                linewidth=[0.8 if p else 0.0 for p in pending], hatch=PENDING_HATCH, label=PENDING_LABEL)
    ax.barh(rows, lost, left=[f + p for f, p in zip(full, pending, strict=True)],
            color=COLORS["lost"], label=LOST_LABEL)
    most = max((sum(counts[n]) for n in names), default=1)
    ax.set_xlim(0, max(1, most))
    ax.set_yticks(rows, labels)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("students")
    fig.suptitle(f"Exercises: students with full points (of {_plural(len(students), 'student')})",
                 fontsize=12)
    ax.invert_yaxis()
    fig.legend(loc="outside lower center", ncols=3, frameon=False)
    return fig


def _plots(course: Course, totals: Mapping[tuple[str, str], Total], marks: list[Mark]) -> tuple[Path, ...]:
    course.reports_dir.mkdir(parents=True, exist_ok=True)
    dist = course.reports_dir / "score_distribution.png"
    score_figure(totals).savefig(dist, dpi=100)
    rate = course.reports_dir / "pass_rate_per_exercise.png"
    exercise_figure(marks).savefig(rate, dpi=100)
    return dist, rate


def write_report(course: Course) -> Report:
    """Write reports/grades.csv, exercises.csv, needs_human.csv and the two PNG plots."""
    results = load_results(course)
    totals, marks = gather(course, results)
    course.reports_dir.mkdir(parents=True, exist_ok=True)
    grades = course.reports_dir / "grades.csv"
    with grades.open("w", newline="") as fh:
        w = _SafeWriter(fh)
        w.writerow(["student", "assignment", "score", "max_score", "status", "needs_human",
                    "pending_hand_grading"])
        by_sub: dict[tuple[str, str], list[GradedNotebook]] = defaultdict(list)
        for r in results:
            by_sub[(r.student, r.assignment)].append(r)
        for key in sorted(set(by_sub) | set(totals)):
            rs = by_sub.get(key, [])
            total = totals.get(key, Total(score=sum(r.score for r in rs),
                                          max_score=sum(r.max_score for r in rs)))
            status = ",".join(sorted({r.status for r in rs})) or "not graded here"
            w.writerow([key[0], key[1], f"{total.score:g}", f"{total.max_score:g}", status,
                        sum(len(r.needs_human) for r in rs), f"{total.pending:g}"])
    exercises = course.reports_dir / "exercises.csv"
    with exercises.open("w", newline="") as fh:
        w = _SafeWriter(fh)
        w.writerow(["student", "assignment", "notebook", "exercise", "score", "max_score",
                    "kernel", "outside", "reason"])
        for r in results:
            for e in r.exercises:
                w.writerow([r.student, r.assignment, r.notebook, e.grade_id, f"{e.score:g}",
                            f"{e.max_score:g}", e.kernel, e.outside, e.reason])
    human_csv = course.reports_dir / "needs_human.csv"
    lines = []
    with human_csv.open("w", newline="") as fh:
        w = _SafeWriter(fh)
        w.writerow(["student", "assignment", "notebook", "reason"])
        for r in results:
            for reason in r.needs_human:
                w.writerow([r.student, r.assignment, r.notebook, reason])
                lines.append(f"{r.student}/{r.assignment}/{r.notebook}: {reason}")
    plots = _plots(course, totals, marks) if results else ()
    return Report(files=(grades, exercises, human_csv, *plots), human_lines=tuple(lines))
