"""Stage 6, combine: the judge's verdicts become nbgrader's scores; nothing else can.

nbgrader's SaveAutoGrades reads a view of the notebook whose test cells hold nothing but the
judge's verdict (no output for a pass, one error for anything else), so nothing the
learner's kernel printed, displayed or wrote can change a score; every score is then clamped
to its cell's maximum, and an exercise the judge could not decide scores 0 and is marked for
manual grading. The written notebook keeps the learner's outputs with the verdicts appended.
"""
from __future__ import annotations

import json
import math
from typing import Any

import nbformat
from nbgrader import utils

from .config import Course
from .gradebook import SharedSaveAutoGrades, shared
from .judge import FAIL, PASS, UNDECIDABLE
from .source import _test_cells
from .task import _autograded_path, _Outcome, _resources, _Task

UNAVAILABLE = "unavailable"
MANUAL = (UNDECIDABLE, UNAVAILABLE)


def _statuses(nb: Any, outcome: _Outcome) -> dict[str, dict[str, Any]]:
    """Every test cell's outside verdict; none at all (the judge stopped) is `unavailable`,
    a cell the judge never reported is a failure."""
    out: dict[str, dict[str, Any]] = {}
    for gid, _cell in _test_cells(nb):
        if outcome.judge_error:
            out[gid] = {"status": UNAVAILABLE, "reason": f"the outside check was unavailable "
                                                          f"({outcome.judge_error})"}
        else:
            out[gid] = outcome.verdicts.get(gid) or {"status": FAIL, "reason": "the check did not run"}
    return out


def _verdict_output(verdict: dict[str, Any]) -> Any:
    manual = verdict["status"] in MANUAL
    ename = "NeedsManualGrade" if manual else "OutsideCheckFailed"
    return nbformat.v4.new_output("error", ename=ename, evalue=verdict.get("reason", ""),
                                  traceback=[f"{ename}: {verdict.get('reason', '')}",
                                             "(decided by the grader outside your kernel)"])


def _combine(nb: Any, statuses: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Write each non-passing verdict into its test cell (what formgrader shows); return
    (notes, notes for a human)."""
    notes, human = [], []
    for gid, cell in _test_cells(nb):
        verdict = statuses[gid]
        if verdict["status"] == PASS:
            continue
        kernel_ok = not utils.has_failed(cell)
        cell.outputs.append(_verdict_output(verdict))
        reason = verdict.get("reason", "")
        if verdict["status"] == UNDECIDABLE:
            note = (f"{gid}: the outside check could not decide ({reason}): 0 automatic points, "
                    "grade it by hand")
            notes.append(note)
            human.append(note)
        elif verdict.get("tripwire"):
            note = f"{gid}: {reason}"
            notes.append(note)
            human.append(note)
        elif verdict["status"] == FAIL and kernel_ok and not reason.startswith("a hidden check failed"):
            note = f"{gid}: passed in the kernel but failed the outside check ({reason})"
            notes.append(note)
            human.append(note)
    return notes, human


def _save(course: Course, task: _Task, nb: Any, statuses: dict[str, dict[str, Any]]) -> None:
    """Record the scores with nbgrader's own SaveAutoGrades, reading a view of the notebook
    whose test cells hold the outside verdict only; then clamp every score to its cell's
    range and mark undecided exercises for manual grading. The written notebook keeps the
    learner's outputs (formgrader shows them) with the verdicts appended."""
    from nbgrader.preprocessors import AssignLatePenalties, LimitOutput

    cfg = course.nbgrader_config()
    resources = _resources(course, task)
    nb, resources = LimitOutput(config=cfg).preprocess(nb, resources)
    kept = []
    for gid, cell in _test_cells(nb):
        kept.append((cell, cell.outputs))
        passed = statuses.get(gid, {}).get("status") == PASS
        cell.outputs = [] if passed else [_verdict_output(statuses.get(gid, {"status": FAIL}))]
    try:
        assert task.books is not None
        nb, resources = shared(SharedSaveAutoGrades, task.books, cfg).preprocess(nb, resources)
    finally:
        for cell, outputs in kept:
            cell.outputs = outputs
    _settle(course, task, {gid for gid, v in statuses.items() if v["status"] in MANUAL})
    if (task.path.parent / "timestamp.txt").exists():  # only a timestamped submission is late
        nb, resources = AssignLatePenalties(config=cfg).preprocess(nb, resources)
    out = _autograded_path(course, task)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written as JSON directly: nbformat.write re-validates the whole notebook (slow), and
    # what we write is nbgrader's own sanitized notebook plus kernel outputs.
    out.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def _clamp(score: Any, maximum: float) -> float | None:
    if score is None:
        return None
    try:
        value = float(score)
    except (TypeError, ValueError):
        return 0.0
    if math.isnan(value) or value < 0:
        return 0.0
    return min(value, maximum)


def _settle(course: Course, task: _Task, manual: set[str]) -> None:
    """Every automatic score within [0, the cell's maximum]; undecided exercises flagged for
    manual grading (0 automatic points until a human grades them)."""
    assert task.books is not None
    with task.books.open() as gb:
        sub = gb.find_submission_notebook(task.source.notebook, task.source.assignment, task.student)
        for grade in sub.grades:
            grade.auto_score = _clamp(grade.auto_score, float(grade.max_score))
            if grade.name in manual:
                grade.auto_score = 0.0
                grade.needs_manual_grade = True
        gb.db.commit()


def learner_words(status: str, reason: str, attempted: bool | None) -> str:
    """An exercise's verdict for the learner: never internal terms, never hidden inputs."""
    if status == PASS:
        return "passed"
    if attempted is False:
        return "not attempted"
    if status in MANUAL:
        return "not checked automatically: your instructor will grade it by hand"
    return f"failed: {reason or 'see the cell below'}"


def _kernel_failed(cell: Any) -> bool:
    """The learner's visible checks failed in the kernel (the verdict we appended aside)."""
    return any(o.output_type == "error" and o.get("ename") not in ("OutsideCheckFailed", "NeedsManualGrade")
               or o.output_type == "stream" and o.get("name") == "stderr" for o in cell.outputs)
