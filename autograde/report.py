"""What an instructor reads after grading: grades as CSV, two plots, and who needs a human.

Totals come from nbgrader's gradebook (so manual grades entered in formgrader count);
verdicts and reasons come from the grading ledgers. Plots: the score distribution per
assignment, and the pass rate per exercise (which ones the class failed).
"""
from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from .config import Course
from .grade import GradedNotebook, load_results

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


def _totals(course: Course, results: list[GradedNotebook]) -> dict[tuple[str, str], tuple[float, float]]:
    out: dict[tuple[str, str], tuple[float, float]] = {}
    if not course.db_path.exists():
        return out
    with Gradebook(course.db_url, course.course_id) as gb:
        for assignment in sorted({r.assignment for r in results}):
            try:
                for sub in gb.assignment_submissions(assignment):
                    out[(sub.student_id, assignment)] = (float(sub.score), float(sub.max_score))
            except MissingEntry:
                continue
    return out


def _plots(course: Course, results: list[GradedNotebook],
           totals: dict[tuple[str, str], tuple[float, float]]) -> tuple[Path, ...]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    course.reports_dir.mkdir(parents=True, exist_ok=True)
    assignments = sorted({a for _, a in totals}) or sorted({r.assignment for r in results})
    dist = course.reports_dir / "score_distribution.png"
    fig, axes = plt.subplots(len(assignments) or 1, 1, figsize=(7, 2.6 * max(1, len(assignments))),
                             squeeze=False)
    for ax, assignment in zip(axes[:, 0], assignments, strict=False):
        scores = [s for (_, a), (s, _) in sorted(totals.items()) if a == assignment]
        top = max((m for (_, a), (_, m) in totals.items() if a == assignment), default=1.0)
        ax.hist(scores, bins=min(20, max(5, int(top) + 1)), range=(0, top), color="#4c72b0")
        ax.set_title(f"{assignment}: score distribution ({len(scores)} students)")
        ax.set_xlabel(f"score (of {top:g})")
        ax.set_ylabel("students")
    fig.tight_layout()
    fig.savefig(dist, dpi=100)
    plt.close(fig)

    passed: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in results:
        for e in r.exercises:
            key = f"{r.assignment}/{e.grade_id}"
            passed[key][0] += int(e.max_score > 0 and e.score >= e.max_score)
            passed[key][1] += 1
    rate = course.reports_dir / "pass_rate_per_exercise.png"
    names = sorted(passed)
    fig, ax = plt.subplots(figsize=(7, 0.45 * max(3, len(names)) + 1))
    values = [100.0 * passed[n][0] / max(1, passed[n][1]) for n in names]
    ax.barh(names, values, color=["#c44e52" if v < 50 else "#55a868" for v in values])
    ax.set_xlim(0, 100)
    ax.set_xlabel("students with full points (%)")
    ax.set_title("pass rate per exercise (red: most of the class failed)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(rate, dpi=100)
    plt.close(fig)
    return dist, rate


def write_report(course: Course) -> Report:
    """Write reports/grades.csv, exercises.csv, needs_human.csv and the two PNG plots."""
    results = load_results(course)
    totals = _totals(course, results)
    course.reports_dir.mkdir(parents=True, exist_ok=True)
    grades = course.reports_dir / "grades.csv"
    with grades.open("w", newline="") as fh:
        w = _SafeWriter(fh)
        w.writerow(["student", "assignment", "score", "max_score", "status", "needs_human"])
        by_sub: dict[tuple[str, str], list[GradedNotebook]] = defaultdict(list)
        for r in results:
            by_sub[(r.student, r.assignment)].append(r)
        for key in sorted(set(by_sub) | set(totals)):
            rs = by_sub.get(key, [])
            score, max_score = totals.get(key, (sum(r.score for r in rs), sum(r.max_score for r in rs)))
            status = ",".join(sorted({r.status for r in rs})) or "not graded here"
            w.writerow([key[0], key[1], f"{score:g}", f"{max_score:g}", status,
                        sum(len(r.needs_human) for r in rs)])
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
    plots = _plots(course, results, totals) if results else ()
    return Report(files=(grades, exercises, human_csv, *plots), human_lines=tuple(lines))
