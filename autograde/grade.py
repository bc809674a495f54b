"""Autograde every submission: confined, in parallel, into nbgrader's gradebook, resumable.

The orchestrator: it names the stages in order and runs them, each in its own module, so a
reader sees where a verdict comes from (autograde/README.md lists them):

1. read       `autograde.read`       a submitted file becomes a notebook or a reason
2. structure  `autograde.structure`  (with `autograde.hostile`) what is wrong with its cells
3. sanitize   `autograde.sanitize`   nbgrader's own preprocessors
4. run        `autograde.execute`    the learner's kernel, for feedback only (`feedback_copy`:
                                     test cells hold their visible checks only)
5. judge      `autograde.verdict`    the judge's job and answer (`autograde.judge` the process)
6. combine    `autograde.combine`    the judge's verdicts become nbgrader's scores, clamped
7. record     `autograde.record`     gradebook rows, formgrader's notebook, the ledger

Per notebook the grader (this process, one thread, so the SQLite gradebook has one writer)
reads the source once (`autograde.source`), hands each submission to a worker process for
stages 1-5, and records stages 6-7 itself. Points come from the judge alone. Any failure
while grading one notebook becomes its recorded reason (never the class's crash). A rerun
skips what is done unless the submission or the source changed. One gradebook engine serves
the run (`autograde.gradebook`), passed down as a value.
"""
from __future__ import annotations

import copy
import hashlib
import json
import multiprocessing
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from . import hostile
from .combine import MANUAL, UNAVAILABLE, _save, learner_words
from .config import Course, default_workers, ensure_venv_tools_on_path
from .execute import run_notebook
from .gradebook import Gradebooks
from .judge import FAIL, PASS, UNDECIDABLE
from .read import MAX_NOTEBOOK_BYTES, _read_bytes, _read_submission
from .record import LEDGER_SUFFIX, Exercise, GradedNotebook, _finish, _ledger_path, load_results
from .sandbox import Sandbox, detect, python_cmd
from .sanitize import _sanitize
from .source import (
    SourceModel,
    _release_code,
    _release_lines,
    _source_model,
    declared_names,
    ensure_released,
    locked_names,
    visible_source,
)
from .structure import _learner_code, _repair
from .task import _Outcome, _Task
from .verdict import _ZYGOTES, NOTES, Zygote, judge_job, run_judge

__all__ = [  # the pipeline's public names, wherever their stage lives
    "FAIL", "LEDGER_SUFFIX", "MANUAL", "MAX_NOTEBOOK_BYTES", "NOTES", "PASS", "UNAVAILABLE",
    "UNDECIDABLE", "_ZYGOTES", "Exercise", "GradedNotebook", "Progress", "SourceModel", "Zygote",
    "_read_submission", "_save", "declared_names", "ensure_released", "feedback_copy", "grade",
    "judge_job", "learner_words", "load_results", "locked_names", "progress_bar", "run_judge",
    "submissions", "visible_source",
]


def _prepare(course: Course, task: _Task) -> None:
    """Stages 1-3 in a worker: read, structure (findings, repairs), sanitize; a submission
    that cannot go on leaves its reason in `task.failure`."""
    nb, failure = _read_submission(task.path, course.submitted_dir)
    if nb is None:
        task.failure = failure
        return
    task.findings = hostile.structure(nb.cells, task.source.cells) + \
        hostile.code_findings(_learner_code(nb, _release_code(task.source)),
                              given=_release_lines(task.source),
                              locked=locked_names(task.source))
    _repair(nb, task.source)
    try:
        task.sanitized = _sanitize(course, task, nb)
    except Exception as exc:  # noqa: BLE001 - corrupted metadata: a reason, not a crash
        task.failure = f"nbgrader could not sanitize it ({type(exc).__name__}: {str(exc)[:120]})"


def feedback_copy(nb: Any, source: SourceModel) -> Any:
    """The notebook the learner's kernel runs: test cells hold their release source (visible
    checks only), so no hidden test ever enters the learner's process."""
    run = copy.deepcopy(nb)
    released = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
                for c in (source.released.cells if source.released is not None else [])}
    for cell in run.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            gid = meta.get("grade_id")
            cell.source = visible_source(released.get(gid, cell.source), source.delimiters)
    return run


def _work(task: _Task, sandbox: Sandbox, engine: str = "ipython") -> _Outcome:
    """In a worker process: read, structure, sanitize, then run the kernel (feedback) and
    the judge (points) side by side. The task's gradebook engine is this worker's own."""
    try:
        return _stages(task, sandbox, engine)
    finally:
        if task.books is not None:
            task.books.close()


def _stages(task: _Task, sandbox: Sandbox, engine: str) -> _Outcome:
    if not os.path.lexists(task.path):
        return _Outcome(failure="no submitted file for this notebook")
    _prepare(task.course, task)
    if task.failure is not None:
        return _Outcome(findings=task.findings, failure=task.failure)
    limits = task.course.limits
    learner_argv = sandbox.wrap(python_cmd("autograde.learner"))
    job = judge_job(task.source, task.sanitized, learner_argv=learner_argv, limits=limits)
    zkey = f"{task.source.assignment}/{task.source.notebook}/{task.source.digest}"
    box: dict[str, Any] = {}
    judge_thread = threading.Thread(
        target=lambda: box.update(r=run_judge(job, seconds=limits.judge_seconds, zygote=zkey)),
        daemon=True)
    judge_thread.start()
    executed = task.sanitized
    run = feedback_copy(executed, task.source)
    events = run_notebook(run, sandbox=sandbox, limits=limits, files=task.source.files,
                          files_root=task.course.source_dir / task.source.assignment,
                          engine=engine)
    for mine, ran in zip(executed.cells, run.cells, strict=True):
        if mine.cell_type == "code":
            mine.outputs = ran.outputs
            mine.execution_count = ran.execution_count
    judge_thread.join()
    verdicts, error = box.get("r", ({}, "the judge did not finish"))
    return _Outcome(executed=executed, events=events, verdicts=verdicts, judge_error=error,
                    findings=task.findings)


def submissions(course: Course, assignment: str, students: Iterable[str] | None = None) -> list[str]:
    """Students with a submitted/<student>/<assignment>/ folder (sorted)."""
    root = course.submitted_dir
    if not root.is_dir():
        return []
    wanted = set(students) if students is not None else None
    return sorted(p.name for p in root.iterdir() if (p / assignment).is_dir()
                  and not p.name.startswith(".") and (wanted is None or p.name in wanted))


def _digest(path: Path, source: SourceModel, sandbox: Sandbox) -> str:
    h = hashlib.sha256(source.digest.encode())
    h.update(b"confined" if sandbox.confined else b"unconfined")
    try:
        h.update(_read_bytes(path))
    except OSError:
        h.update(b"<missing or refused>")
    return h.hexdigest()


Progress = Callable[[int, int, GradedNotebook], None]


def grade(course: Course, *, assignments: Iterable[str] | None = None,
          students: Iterable[str] | None = None, workers: int | None = None,
          force: bool = False, sandbox: Sandbox | None = None,
          progress: Progress | None = None, engine: str = "ipython") -> list[GradedNotebook]:
    """Grade every submission of every assignment; returns one result per notebook.

    `engine` "ipython" (default, fast) runs cells in IPython inside the sandbox; "kernel"
    starts a real Jupyter kernel in the sandbox per notebook (nbclient), as nbgrader does.
    Resumable: a notebook whose ledger matches the submission and source is not regraded
    (`force` regrades). A broken or hostile submission gets a result with reasons; it never
    stops the others.
    """
    ensure_venv_tools_on_path()
    with warnings.catch_warnings(), Gradebooks(course.db_url, course.course_id) as books:
        # nbgrader's update_or_create_submission trips SQLAlchemy autoflush warnings: its own.
        warnings.filterwarnings("ignore", module="nbgrader")
        return _grade(course, assignments=assignments, students=students, workers=workers,
                      force=force, sandbox=sandbox or detect(), progress=progress,
                      engine=engine, books=books)


def _grade(course: Course, *, assignments: Iterable[str] | None, students: Iterable[str] | None,
           workers: int | None, force: bool, sandbox: Sandbox,
           progress: Progress | None, engine: str, books: Gradebooks) -> list[GradedNotebook]:
    results: list[GradedNotebook] = []
    tasks: list[_Task] = []
    for assignment in tuple(assignments) if assignments is not None else course.assignments():
        ensure_released(course, assignment)
        models = [_source_model(course, assignment, p, books) for p in course.source_notebooks(assignment)]
        for student in submissions(course, assignment, students):
            for model in models:
                path = course.submitted_dir / student / assignment / f"{model.notebook}.ipynb"
                task = _Task(course=course, source=model, student=student, path=path,
                             digest=_digest(path, model, sandbox), books=books)
                ledger = _ledger_path(course, task)
                if not force and ledger.exists():
                    try:
                        done = GradedNotebook.from_json(json.loads(ledger.read_text()))
                    except (ValueError, TypeError):
                        done = None
                    if done is not None and done.digest == task.digest and done.status != "error":
                        results.append(done)
                        continue
                tasks.append(task)
    total = len(tasks)
    finished = 0  # notebooks graded in this run (reused ledgers are not counted)
    # Worker processes (not threads): sanitizing and driving kernels is Python work that
    # would otherwise queue on one GIL behind the gradebook writes done here.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers or default_workers(), mp_context=context,
                             initializer=books.after_fork) as pool:
        pending = {pool.submit(_work, task, sandbox, engine): task for task in tasks}
        for future in as_completed(pending):
            task = pending[future]
            try:
                outcome: _Outcome | None = future.result()
            except Exception as exc:  # noqa: BLE001 - the grader's own failure, recorded
                task.failure = f"grader error ({type(exc).__name__}: {str(exc)[:120]})"
                outcome = None
            if outcome is not None:
                task.findings, task.failure = outcome.findings, outcome.failure
            results.append(_finish(course, task, outcome if task.failure is None else None,
                                   sandbox, _save))
            finished += 1
            if progress:
                progress(finished, total, results[-1])
    return sorted(results, key=lambda r: (r.assignment, r.student, r.notebook))


def progress_bar(stream: Any = None) -> Progress:
    """A one-line progress bar on stderr (a line per notebook when not a terminal)."""
    stream = stream or sys.stderr

    def show(done: int, total: int, result: GradedNotebook) -> None:
        width = 30
        done = min(done, total)
        filled = int(width * done / max(total, 1))
        flag = " !" if result.needs_human else ""
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                f"{result.student}/{result.assignment}/{result.notebook} "
                f"{result.score:g}/{result.max_score:g}{flag}")
        if stream.isatty():
            stream.write("\r" + line.ljust(100) + ("\n" if done == total else ""))
        else:
            stream.write(line + "\n")
        stream.flush()

    return show
