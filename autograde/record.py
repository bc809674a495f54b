"""Stage 7, record: one notebook's result into the gradebook, formgrader and its ledger.

`record` combines (through the `save` step it is given, `autograde.combine._save`) and
writes the ledger `autograded/<student>/<assignment>/<nb>.autograde.json`: score,
per-exercise verdicts, the instructor's reason and the learner's words, needs-a-human
reasons. A notebook whose grading failed gets zero rows, a placeholder and a ledger saying
why (`breaker`): one notebook never stops the class. `load_results` reads the ledgers back.
"""
from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import nbformat

from .combine import PASS, _combine, _kernel_failed, _statuses, learner_words
from .config import Course
from .sandbox import Sandbox
from .source import _attempted, _property
from .task import _autograded_path, _Outcome, _Task
from .verdict import NOTES

LEDGER_SUFFIX = ".autograde.json"
Save = Callable[[Course, _Task, Any, dict[str, dict[str, Any]]], None]  # the combine step


@dataclass(frozen=True, slots=True, kw_only=True)
class Exercise:
    """One autograded test cell: its points (from the outside verdict alone), what the
    learner's kernel showed, the reason for an instructor and the words for the learner."""

    grade_id: str
    score: float
    max_score: float
    kernel: str
    outside: str
    reason: str = ""
    feedback: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GradedNotebook:
    """The outcome for one student's notebook, as the report and feedback read it."""

    student: str
    assignment: str
    notebook: str
    status: str
    score: float
    max_score: float
    exercises: tuple[Exercise, ...] = ()
    reasons: tuple[str, ...] = ()
    needs_human: tuple[str, ...] = ()
    confined: bool = True
    seconds: float = 0.0
    digest: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GradedNotebook:
        data = dict(data)
        data["exercises"] = tuple(Exercise(**e) for e in data.get("exercises", ()))
        data["reasons"] = tuple(data.get("reasons", ()))
        data["needs_human"] = tuple(data.get("needs_human", ()))
        return cls(**data)


def _open_submission(course: Course, task: _Task) -> None:
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=course.nbgrader_config())
    timestamp = coursedir.get_existing_timestamp(str(task.path.parent))
    assert task.books is not None
    with task.books.open() as gb:
        gb.update_or_create_student(task.student)
        if timestamp:
            gb.update_or_create_submission(task.source.assignment, task.student, timestamp=timestamp)
        else:
            gb.update_or_create_submission(task.source.assignment, task.student)


def _zero(course: Course, task: _Task) -> None:
    """Rows for a submission nothing could be read from: zero, not missing, not manual."""
    assert task.books is not None
    with task.books.open() as gb:
        sub = gb.find_submission_notebook(task.source.notebook, task.source.assignment, task.student)
        for grade in sub.grades:
            grade.auto_score = 0
            grade.needs_manual_grade = False
        gb.db.commit()


def _placeholder(course: Course, task: _Task, why: str) -> None:
    """Formgrader opens autograded/<student>/...: give an unreadable submission the student
    version with a banner saying why it scored 0, instead of a missing file."""
    if task.source.released is None:
        return
    nb = copy.deepcopy(task.source.released)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(
        f"**autograde: this submission could not be graded and scored 0: {why}.** "
        "Below is the student version, not the student's work."))
    out = _autograded_path(course, task)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def _exercises(course: Course, task: _Task, nb: Any | None,
               statuses: dict[str, dict[str, Any]]) -> tuple[tuple[Exercise, ...], float, float]:
    assert task.books is not None
    with task.books.open() as gb:
        sub = gb.find_submission_notebook(task.source.notebook, task.source.assignment, task.student)
        rows = {g.name: (float(g.score or 0.0), float(g.max_score)) for g in sub.grades}
        total, possible = float(sub.score), float(sub.max_score)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in (nb.cells if nb else [])}
    attempted = _attempted(task.source, nb)
    out = []
    for src in task.source.cells:
        if not src.grade or src.solution:
            continue
        score, max_score = rows.get(src.name, (0.0, src.points or 0.0))
        cell = cells.get(src.name)
        kernel = "not run" if cell is None else ("failed" if _kernel_failed(cell) else "passed")
        verdict = statuses.get(src.name, {})
        status = verdict.get("status", "not run")
        reason = verdict.get("reason", "") if status != PASS else ""
        words = learner_words(status, reason, attempted.get(src.name))
        out.append(Exercise(grade_id=src.name, score=score, max_score=max_score, kernel=kernel,
                            outside=status, reason=reason,
                            feedback=f"{_property(task.source, src.name)}: {words}"))
    return tuple(out), total, possible


def _finish(course: Course, task: _Task, outcome: _Outcome | None, sandbox: Sandbox,
            save: Save) -> GradedNotebook:
    """Record one notebook. Never raises: a failure here becomes the notebook's reason."""
    try:
        return _record(course, task, outcome, sandbox, save)
    except Exception as exc:  # noqa: BLE001 - one notebook never stops the class
        return _breaker(course, task, sandbox, f"grading failed ({type(exc).__name__}: "
                                               f"{str(exc)[:160]})")


def _breaker(course: Course, task: _Task, sandbox: Sandbox, why: str) -> GradedNotebook:
    """Zero rows, a placeholder and a ledger for a notebook whose grading failed."""
    for step in (lambda: _open_submission(course, task), lambda: _zero(course, task),
                 lambda: _placeholder(course, task, why)):
        try:
            step()
        except Exception:  # noqa: BLE001 - record as much as the gradebook allows
            continue
    exercises = tuple(Exercise(grade_id=c.name, score=0.0, max_score=float(c.points or 0.0),
                               kernel="not run", outside="not run", reason=why,
                               feedback=f"{_property(task.source, c.name)}: not graded")
                      for c in task.source.cells if c.grade and not c.solution)
    result = GradedNotebook(student=task.student, assignment=task.source.assignment,
                            notebook=task.source.notebook, status="error", score=0.0,
                            max_score=sum(e.max_score for e in exercises), exercises=exercises,
                            reasons=(f"scored 0: {why}",), needs_human=(f"scored 0: {why}",),
                            confined=sandbox.confined,
                            seconds=round(time.monotonic() - task.started, 3), digest=task.digest)
    try:
        _write_ledger(course, task, result)
    except OSError:
        pass
    return result


def _write_ledger(course: Course, task: _Task, result: GradedNotebook) -> None:
    ledger = _ledger_path(course, task)
    ledger.parent.mkdir(parents=True, exist_ok=True)
    ledger.write_text(json.dumps(result.to_json(), indent=1, sort_keys=True))


def _record(course: Course, task: _Task, outcome: _Outcome | None, sandbox: Sandbox,
            save: Save) -> GradedNotebook:
    reasons: list[str] = []
    human = [f.text() for f in task.findings if f.human]
    reasons += [f.text() for f in task.findings]
    if sandbox.warning:
        reasons.append(sandbox.warning)
        human.append(sandbox.warning)
    _open_submission(course, task)
    nb = None
    statuses: dict[str, dict[str, Any]] = {}
    if task.failure is not None or outcome is None:
        why = task.failure or "not graded"
        reasons.insert(0, f"scored 0: {why}")
        human.insert(0, f"scored 0: {why}")
        _zero(course, task)
        _placeholder(course, task, why)
        status = "unreadable"
    else:
        nb = outcome.executed
        statuses = _statuses(nb, outcome)
        run_reasons = list(outcome.events.reasons())
        reasons += run_reasons
        human += run_reasons
        notes, flagged = _combine(nb, statuses)
        reasons += notes
        human += flagged
        judge_notes = [f"answer cell {n}" for n in outcome.verdicts.get(NOTES, {}).get("notes", [])]
        reasons += judge_notes
        human += judge_notes
        if outcome.judge_error:
            reasons.append(f"outside check unavailable: {outcome.judge_error}")
            human.append(f"outside check unavailable: {outcome.judge_error}")
        save(course, task, nb, statuses)
        status = "graded"
    exercises, total, possible = _exercises(course, task, nb, statuses)
    for ex in exercises:
        if "MemoryError" in ex.reason:
            note = f"memory limit hit in {ex.grade_id} ({course.limits.memory_bytes} bytes)"
            reasons.append(note)
            human.append(note)
    result = GradedNotebook(student=task.student, assignment=task.source.assignment,
                            notebook=task.source.notebook, status=status, score=total,
                            max_score=possible, exercises=exercises,
                            reasons=tuple(dict.fromkeys(reasons)),
                            needs_human=tuple(dict.fromkeys(human)), confined=sandbox.confined,
                            seconds=round(time.monotonic() - task.started, 3), digest=task.digest)
    _write_ledger(course, task, result)
    return result


def _ledger_path(course: Course, task: _Task) -> Path:
    return _autograded_path(course, task).with_suffix(LEDGER_SUFFIX)


def load_results(course: Course) -> list[GradedNotebook]:
    """Every ledger under autograded/ (what the report and feedback read)."""
    out = []
    for path in sorted(course.autograded_dir.glob(f"*/*/*{LEDGER_SUFFIX}")):
        try:
            out.append(GradedNotebook.from_json(json.loads(path.read_text())))
        except (ValueError, TypeError):
            continue
    return out
