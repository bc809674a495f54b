"""Autograde every submission: confined, in parallel, into nbgrader's gradebook, resumable.

Per notebook the grader (this process, one thread, so the SQLite gradebook has one writer)
reads the submission, records what is structurally wrong with it, sanitizes it with
nbgrader's own preprocessors (ClearOutput, DeduplicateIds, OverwriteKernelspec,
OverwriteCells, CheckCellMetadata) and hands two jobs to a worker: the notebook in a confined
kernel (`autograde.execute`) and the instructor's checks in the judge (`autograde.judge`).
Back in the grader, an exercise passes only if its test cell passed in the kernel *and* the
judge did not fail it; a judge failure is written into the test cell as an error output, so
nbgrader's own LimitOutput, SaveAutoGrades and AssignLatePenalties put exactly that into the
gradebook and formgrader shows why. A submission that cannot be read still gets its rows
(zero, with the reason). Each finished notebook leaves a ledger next to the autograded
notebook; a rerun skips what is done unless the submission or the source changed.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import multiprocessing
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry

from . import hostile
from .config import Course, default_workers, ensure_venv_tools_on_path
from .execute import RunEvents, run_notebook
from .judge import FAIL, PASS, UNDECIDABLE
from .sandbox import Sandbox, detect, python_cmd, sandbox_env

LEDGER_SUFFIX = ".autograde.json"
MAX_NOTEBOOK_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Exercise:
    """One autograded test cell: its points and the two verdicts that made them."""

    grade_id: str
    score: float
    max_score: float
    kernel: str
    outside: str
    reason: str = ""


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


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceModel:
    """One source notebook as the grader needs it (read once per run)."""

    assignment: str
    notebook: str
    nb: Any
    cells: tuple[hostile.SourceCell, ...]
    files: tuple[Path, ...]
    digest: str
    released: Any = None


@dataclass(kw_only=True)
class _Task:
    course: Course
    source: SourceModel
    student: str
    path: Path
    digest: str
    sanitized: Any = None
    findings: tuple[hostile.Finding, ...] = ()
    failure: str | None = None
    started: float = field(default_factory=time.monotonic)


# ---------------------------------------------------------------- reading the source


def _source_model(course: Course, assignment: str, nb_path: Path) -> SourceModel:
    name = nb_path.stem
    raw = nb_path.read_bytes()
    nb = nbformat.reads(raw.decode(), as_version=4)
    with Gradebook(course.db_url, course.course_id) as gb:
        nbrec = gb.find_notebook(name, assignment)
        points = {c.name: float(c.max_score) for c in nbrec.grade_cells}
        solutions = {c.name for c in nbrec.solution_cells}
        cells = tuple(hostile.SourceCell(name=c.name, cell_type=c.cell_type, locked=bool(c.locked),
                                         checksum=c.checksum, points=points.get(c.name),
                                         solution=c.name in solutions, grade=c.name in points)
                      for c in nbrec.source_cells)
    # Learners receive the release, whose test cells lost their hidden tests: compare with it.
    released = course.release_dir / assignment / nb_path.name
    rel = None
    if released.exists():
        rel = nbformat.read(released, 4)
        sums = {c.metadata.get("nbgrader", {}).get("grade_id"): c.metadata.get("nbgrader", {})
                .get("checksum") for c in rel.cells}
        cells = tuple(dataclasses.replace(c, checksum=sums.get(c.name) or c.checksum) for c in cells)
    order = {cell.metadata.get("nbgrader", {}).get("grade_id"): i for i, cell in enumerate(nb.cells)}
    cells = tuple(sorted(cells, key=lambda c: order.get(c.name, 10**6)))
    files = tuple(sorted(p for p in nb_path.parent.rglob("*")
                         if p.is_file() and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in p.parts))
    return SourceModel(assignment=assignment, notebook=name, nb=nb, cells=cells, files=files,
                       digest=hashlib.sha256(raw).hexdigest(), released=rel)


def ensure_released(course: Course, assignment: str) -> None:
    """The gradebook must know the assignment's source cells: generate it if it does not."""
    try:
        with Gradebook(course.db_url, course.course_id) as gb:
            known = {n.name for n in gb.find_assignment(assignment).notebooks}
    except MissingEntry:
        known = set()
    wanted = {p.stem for p in course.source_notebooks(assignment)}
    on_disk = {p.stem for p in (course.release_dir / assignment).glob("*.ipynb")}
    if not wanted <= known or not wanted <= on_disk:
        from .release import release

        release(course, [assignment])


# ---------------------------------------------------------------- preparing a submission


def _read_submission(path: Path) -> tuple[Any | None, str | None]:
    """(notebook, None) or (None, why it cannot be graded)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"unreadable file ({type(exc).__name__})"
    if not raw.strip():
        return None, "empty file"
    if len(raw) > MAX_NOTEBOOK_BYTES:
        return None, f"file larger than {MAX_NOTEBOOK_BYTES} bytes"
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not a notebook (binary, not UTF-8 text)"
    except json.JSONDecodeError as exc:
        if _unclosed(raw.decode("utf-8", "replace")):
            return None, "truncated notebook (JSON ends before it closes)"
        return None, f"invalid JSON at line {exc.lineno} column {exc.colno}"
    if not isinstance(data, dict) or "cells" not in data or not isinstance(data["cells"], list):
        return None, "not a notebook (JSON without a list of cells)"
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.setdefault("outputs", [])
                cell.setdefault("execution_count", None)
            if not isinstance(cell.get("source", ""), str):
                raise ValueError("cell source is not text")
            cell.setdefault("metadata", {})
    except Exception as exc:  # noqa: BLE001 - anything nbformat rejects is not gradeable
        return None, f"not a valid notebook ({type(exc).__name__})"
    return nb, None


def _unclosed(text: str) -> bool:
    """True when JSON text ends inside a string or with brackets still open (cut short)."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return in_string or depth > 0


def _resources(course: Course, task: _Task) -> dict[str, Any]:
    return {"nbgrader": {"notebook": task.source.notebook, "assignment": task.source.assignment,
                         "student": task.student, "db_url": course.db_url}}


def _sanitize(course: Course, task: _Task, nb: Any) -> Any:
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        OverwriteCells,
        OverwriteKernelspec,
    )

    cfg = course.nbgrader_config()
    resources = _resources(course, task)
    for klass in (ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata):
        nb, resources = klass(config=cfg).preprocess(nb, resources)
    return nb


def _learner_code(nb: Any) -> list[tuple[str, str]]:
    """(cell id, source) of code the learner wrote: answer cells and cells they added."""
    out = []
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            out.append((meta.get("grade_id", f"cell-{i}"), cell.source))
        elif not meta.get("grade_id"):
            out.append((f"extra-{i}", cell.source))
    return out


def _repair(nb: Any, source: SourceModel) -> None:
    """Undo what nbgrader's own preprocessors trip over (findings already recorded):
    earlier duplicates of a graded cell become plain cells (nbgrader keeps the last), and a
    deleted graded or locked cell comes back as the *release* version (a stub, never the
    solution) after the nearest surviving cell that precedes it in the source."""
    seen: set[str] = set()
    for cell in reversed(nb.cells):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid is None:
            if "nbgrader" in cell.metadata and not cell.metadata["nbgrader"].get("grade_id"):
                del cell.metadata["nbgrader"]
            continue
        if gid in seen:
            del cell.metadata["nbgrader"]
        seen.add(gid)
    if source.released is None:
        return
    released = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in source.released.cells}
    position = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(nb.cells)}
    for src in source.cells:
        if src.name in position or src.name not in released:
            continue
        previous = [c.name for c in source.cells[: source.cells.index(src)] if c.name in position]
        at = position[previous[-1]] + 1 if previous else 0
        nb.cells.insert(at, copy.deepcopy(released[src.name]))
        position = {c.metadata.get("nbgrader", {}).get("grade_id"): i
                    for i, c in enumerate(nb.cells)}


def _prepare(course: Course, task: _Task) -> None:
    nb, failure = _read_submission(task.path)
    if nb is None:
        task.failure = failure
        return
    task.findings = hostile.structure(nb.cells, task.source.cells) + \
        hostile.code_findings(_learner_code(nb))
    _repair(nb, task.source)
    try:
        task.sanitized = _sanitize(course, task, nb)
    except Exception as exc:  # noqa: BLE001 - corrupted metadata: a reason, not a crash
        task.failure = f"nbgrader could not sanitize it ({type(exc).__name__}: {str(exc)[:120]})"


# ---------------------------------------------------------------- the two runs (worker)


def judge_job(source: SourceModel, submission: Any, *, learner_argv: list[str],
              limits: Any) -> dict[str, Any]:
    """The judge's input: the source's setup and test cells, the learner's program."""
    program: list[dict[str, str]] = []
    extras: list[dict[str, str]] = []
    locked = {c.name: c for c in source.cells}
    src_by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in source.nb.cells}
    for i, cell in enumerate(submission.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if meta.get("solution") and gid:
            program.append({"cell": gid, "kind": "answer", "source": cell.source})
        elif gid and gid in locked and not meta.get("grade"):
            program.append({"cell": gid, "kind": "setup", "source": src_by_id[gid].source})
        elif not gid:
            program.append({"cell": f"extra-{i}", "kind": "answer", "source": cell.source})
            extras.append({"cell": f"extra-{i}", "kind": "answer", "source": ""})
    cells: list[dict[str, str]] = list(extras)
    for i, cell in enumerate(source.nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id") or f"source-{i}"
        if meta.get("solution"):
            cells.append({"cell": gid, "kind": "answer", "source": ""})
        elif meta.get("grade"):
            cells.append({"cell": gid, "kind": "test", "source": cell.source})
        else:
            cells.append({"cell": gid, "kind": "setup", "source": cell.source})
    return {"cells": cells, "program": program, "learner_argv": learner_argv,
            "memory": limits.memory_bytes, "files": limits.file_bytes,
            "seconds": limits.judge_seconds, "call_seconds": limits.cell_seconds}


def run_judge(job: dict[str, Any], *, seconds: float) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Run the judge process; (verdicts by grade_id, error or None)."""
    with tempfile.TemporaryDirectory(prefix="vl-judge-") as tmp:
        env = sandbox_env()
        env.update(HOME=tmp, TMPDIR=tmp, MPLCONFIGDIR=tmp, IPYTHONDIR=tmp)
        try:
            proc = subprocess.run(python_cmd("autograde.judge"), input=json.dumps(job).encode(),
                                  capture_output=True, timeout=seconds + 15, cwd=tmp, env=env)
        except subprocess.TimeoutExpired:
            return {}, "the judge ran out of time"
    if proc.returncode != 0:
        return {}, f"the judge failed (exit {proc.returncode})"
    try:
        return {v["grade_id"]: v for v in json.loads(proc.stdout)}, None
    except (ValueError, KeyError, TypeError):
        return {}, "the judge's answer was unreadable"


@dataclass(kw_only=True)
class _Outcome:
    executed: Any = None
    events: RunEvents | None = None
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    judge_error: str | None = None
    findings: tuple[hostile.Finding, ...] = ()
    failure: str | None = None


def _work(task: _Task, sandbox: Sandbox, engine: str = "ipython") -> _Outcome:
    """In a worker process: read, sanitize, then run the kernel and the judge side by side."""
    if not task.path.exists():
        return _Outcome(failure="no submitted file for this notebook")
    _prepare(task.course, task)
    if task.failure is not None:
        return _Outcome(findings=task.findings, failure=task.failure)
    limits = task.course.limits
    learner_argv = sandbox.wrap(python_cmd("autograde.learner"))
    job = judge_job(task.source, task.sanitized, learner_argv=learner_argv, limits=limits)
    box: dict[str, Any] = {}
    judge_thread = threading.Thread(
        target=lambda: box.update(r=run_judge(job, seconds=limits.judge_seconds)), daemon=True)
    judge_thread.start()
    executed = task.sanitized
    events = run_notebook(executed, sandbox=sandbox, limits=limits, files=task.source.files,
                          files_root=task.course.source_dir / task.source.assignment,
                          engine=engine)
    judge_thread.join()
    verdicts, error = box.get("r", ({}, "the judge did not finish"))
    return _Outcome(executed=executed, events=events, verdicts=verdicts, judge_error=error,
                    findings=task.findings)


# ---------------------------------------------------------------- writing results (grader)


def _combine(nb: Any, outcome: _Outcome) -> list[str]:
    """Fail every test cell the judge failed, in the notebook itself; return notes."""
    notes = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        gid = meta.get("grade_id")
        verdict = outcome.verdicts.get(gid)
        kernel_ok = not utils.has_failed(cell)
        if verdict and verdict["status"] == FAIL and kernel_ok:
            cell.outputs.append(nbformat.v4.new_output(
                "error", ename="OutsideCheckFailed", evalue=verdict["reason"],
                traceback=[f"OutsideCheckFailed: {verdict['reason']}",
                           "(the grader re-ran this check outside your kernel)"]))
            notes.append(f"{gid}: passed in the kernel but failed the outside check "
                         f"({verdict['reason']})")
        elif verdict and verdict["status"] == UNDECIDABLE:
            notes.append(f"{gid}: outside check undecidable ({verdict['reason']}); kernel verdict kept")
    return notes


def _open_submission(course: Course, task: _Task) -> None:
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=course.nbgrader_config())
    timestamp = coursedir.get_existing_timestamp(str(task.path.parent))
    with Gradebook(course.db_url, course.course_id) as gb:
        gb.update_or_create_student(task.student)
        if timestamp:
            gb.update_or_create_submission(task.source.assignment, task.student, timestamp=timestamp)
        else:
            gb.update_or_create_submission(task.source.assignment, task.student)


def _zero(course: Course, task: _Task) -> None:
    """Rows for a submission nothing could be read from: zero, not missing, not manual."""
    with Gradebook(course.db_url, course.course_id) as gb:
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


def _save(course: Course, task: _Task, nb: Any) -> None:
    from nbgrader.preprocessors import AssignLatePenalties, LimitOutput, SaveAutoGrades

    cfg = course.nbgrader_config()
    resources = _resources(course, task)
    steps = [LimitOutput, SaveAutoGrades]
    if (task.path.parent / "timestamp.txt").exists():  # only a timestamped submission is late
        steps.append(AssignLatePenalties)
    for klass in steps:
        nb, resources = klass(config=cfg).preprocess(nb, resources)
    out = _autograded_path(course, task)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written as JSON directly: nbformat.write re-validates the whole notebook (slow), and
    # what we write is nbgrader's own sanitized notebook plus kernel outputs.
    out.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def _autograded_path(course: Course, task: _Task) -> Path:
    return course.autograded_dir / task.student / task.source.assignment / f"{task.source.notebook}.ipynb"


def _exercises(course: Course, task: _Task, nb: Any | None,
               verdicts: dict[str, dict[str, Any]]) -> tuple[tuple[Exercise, ...], float, float]:
    with Gradebook(course.db_url, course.course_id) as gb:
        sub = gb.find_submission_notebook(task.source.notebook, task.source.assignment, task.student)
        rows = {g.name: (float(g.score or 0.0), float(g.max_score)) for g in sub.grades}
        total, possible = float(sub.score), float(sub.max_score)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in (nb.cells if nb else [])}
    out = []
    for src in task.source.cells:
        if not src.grade or src.solution:
            continue
        score, max_score = rows.get(src.name, (0.0, src.points or 0.0))
        cell = cells.get(src.name)
        kernel = "not run" if cell is None else ("failed" if utils.has_failed(cell) else "passed")
        verdict = verdicts.get(src.name, {})
        reason = verdict.get("reason", "") if verdict.get("status") != PASS else ""
        if not reason and cell is not None and kernel == "failed":
            reason = _kernel_reason(cell)
        out.append(Exercise(grade_id=src.name, score=score, max_score=max_score, kernel=kernel,
                            outside=verdict.get("status", "not run"), reason=reason))
    return tuple(out), total, possible


def _kernel_reason(cell: Any) -> str:
    """Why a test cell failed in the kernel: the error's name and message, never its
    traceback (which quotes the failing line, possibly a hidden test)."""
    for out in cell.outputs:
        if out.output_type == "error":
            return f"{out.ename}: {str(out.evalue)[:200]}".rstrip(": ")
        if out.output_type == "stream" and out.name == "stderr":
            return "wrote to stderr"
    return ""


def _finish(course: Course, task: _Task, outcome: _Outcome | None, sandbox: Sandbox) -> GradedNotebook:
    reasons: list[str] = []
    human = [f.text() for f in task.findings if f.human]
    reasons += [f.text() for f in task.findings]
    if sandbox.warning:
        reasons.append(sandbox.warning)
        human.append(sandbox.warning)
    _open_submission(course, task)
    nb = None
    verdicts: dict[str, dict[str, Any]] = {}
    if task.failure is not None or outcome is None:
        why = task.failure or "not graded"
        reasons.insert(0, f"scored 0: {why}")
        human.insert(0, f"scored 0: {why}")
        _zero(course, task)
        _placeholder(course, task, why)
        status = "unreadable"
    else:
        nb, verdicts = outcome.executed, outcome.verdicts
        run_reasons = list(outcome.events.reasons())
        reasons += run_reasons
        human += run_reasons
        notes = _combine(nb, outcome)
        reasons += notes
        human += [n for n in notes if "outside check" in n and "undecidable" not in n]
        if outcome.judge_error:
            reasons.append(f"outside check unavailable: {outcome.judge_error}")
            human.append(f"outside check unavailable: {outcome.judge_error}")
        _save(course, task, nb)
        status = "graded"
    exercises, total, possible = _exercises(course, task, nb, verdicts)
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
    ledger = _ledger_path(course, task)
    ledger.parent.mkdir(parents=True, exist_ok=True)
    ledger.write_text(json.dumps(result.to_json(), indent=1, sort_keys=True))
    return result


def _ledger_path(course: Course, task: _Task) -> Path:
    return _autograded_path(course, task).with_suffix(LEDGER_SUFFIX)


# ---------------------------------------------------------------- the run


_ENGINES: dict[str, Any] = {}


@contextlib.contextmanager
def _one_engine_per_database() -> Iterator[None]:
    """nbgrader builds a fresh SQLAlchemy engine for every Gradebook() it opens (several per
    notebook), which throws away SQLAlchemy's per-engine compiled-statement cache: most of
    the grader's own time went into recompiling the same queries. For the length of a run,
    nbgrader's module gets a create_engine that hands back one engine per database URL
    (per process: a forked worker starts with none, see `_after_fork`)."""
    import nbgrader.api as api

    original = api.create_engine

    def shared(url: str, **kwargs: Any) -> Any:
        if url not in _ENGINES:
            _ENGINES[url] = original(url, **kwargs)
        return _ENGINES[url]

    api.create_engine = shared
    try:
        yield
    finally:
        api.create_engine = original
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


def _after_fork() -> None:
    """A forked worker must not reuse the parent's SQLite connections (SQLAlchemy's rule)."""
    for engine in _ENGINES.values():
        engine.dispose(close=False)
    _ENGINES.clear()


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
        h.update(path.read_bytes())
    except OSError:
        h.update(b"<missing>")
    return h.hexdigest()


def load_results(course: Course) -> list[GradedNotebook]:
    """Every ledger under autograded/ (what the report and feedback read)."""
    out = []
    for path in sorted(course.autograded_dir.glob(f"*/*/*{LEDGER_SUFFIX}")):
        try:
            out.append(GradedNotebook.from_json(json.loads(path.read_text())))
        except (ValueError, TypeError):
            continue
    return out


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
    with warnings.catch_warnings(), _one_engine_per_database():
        # nbgrader's update_or_create_submission trips SQLAlchemy autoflush warnings: its own.
        warnings.filterwarnings("ignore", module="nbgrader")
        return _grade(course, assignments=assignments, students=students, workers=workers,
                      force=force, sandbox=sandbox or detect(), progress=progress,
                      engine=engine)


def _grade(course: Course, *, assignments: Iterable[str] | None, students: Iterable[str] | None,
           workers: int | None, force: bool, sandbox: Sandbox,
           progress: Progress | None, engine: str) -> list[GradedNotebook]:
    results: list[GradedNotebook] = []
    tasks: list[_Task] = []
    for assignment in tuple(assignments) if assignments is not None else course.assignments():
        ensure_released(course, assignment)
        models = [_source_model(course, assignment, p) for p in course.source_notebooks(assignment)]
        for student in submissions(course, assignment, students):
            for model in models:
                path = course.submitted_dir / student / assignment / f"{model.notebook}.ipynb"
                task = _Task(course=course, source=model, student=student, path=path,
                             digest=_digest(path, model, sandbox))
                ledger = _ledger_path(course, task)
                if not force and ledger.exists():
                    try:
                        done = GradedNotebook.from_json(json.loads(ledger.read_text()))
                    except (ValueError, TypeError):
                        done = None
                    if done is not None and done.digest == task.digest:
                        results.append(done)
                        continue
                tasks.append(task)
    total = len(tasks)
    # Worker processes (not threads): sanitizing and driving kernels is Python work that
    # would otherwise queue on one GIL behind the gradebook writes done here.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers or default_workers(), mp_context=context,
                             initializer=_after_fork) as pool:
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
                                   sandbox))
            if progress:
                progress(len(results), total, results[-1])
    return sorted(results, key=lambda r: (r.assignment, r.student, r.notebook))


def progress_bar(stream: Any = None) -> Progress:
    """A one-line progress bar on stderr (a line per notebook when not a terminal)."""
    stream = stream or sys.stderr

    def show(done: int, total: int, result: GradedNotebook) -> None:
        width = 30
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
