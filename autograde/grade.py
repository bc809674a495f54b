"""Autograde every submission: confined, in parallel, into nbgrader's gradebook, resumable.

Per notebook the grader (this process, one thread, so the SQLite gradebook has one writer)
reads the submission, records what is structurally wrong with it, sanitizes it with
nbgrader's own preprocessors (ClearOutput, DeduplicateIds, OverwriteKernelspec,
OverwriteCells, CheckCellMetadata) and hands two jobs to a worker: the notebook in a confined
kernel for the learner's feedback (`autograde.execute`; test cells run their *visible* checks
only, so a hidden test is never in the learner's process) and the instructor's checks, hidden
ones included, in the judge (`autograde.judge`). Points come from the judge alone: before
nbgrader's SaveAutoGrades records a score, each test cell it reads holds nothing but the
judge's verdict (no output at all for a pass, one error for anything else), so nothing the
learner's kernel prints, displays or writes can change a score; scores are clamped to each
cell's maximum, and an exercise the judge could not decide gets 0 automatic points, is marked
for manual grading and goes to a human. Any failure while grading one notebook becomes its
recorded reason (never the class's crash). Each finished notebook leaves a ledger next to
the autograded notebook; a rerun skips what is done unless the submission or the source
changed.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import re
import stat
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

from . import hostile, regions
from .config import Course, default_workers, ensure_venv_tools_on_path
from .execute import RunEvents, run_notebook
from .judge import FAIL, PASS, UNDECIDABLE
from .regions import Delimiters
from .sandbox import Sandbox, detect, python_cmd, sandbox_env

LEDGER_SUFFIX = ".autograde.json"
NOTES = "\0notes"  # the judge's notes ride along with its verdicts
MAX_NOTEBOOK_BYTES = 32 * 1024 * 1024


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


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceModel:
    """One source notebook as the grader needs it (read once per run)."""

    assignment: str
    notebook: str
    nb: Any
    cells: tuple[hostile.SourceCell, ...]
    files: tuple[Path, ...]
    digest: str
    delimiters: Delimiters
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
                       digest=hashlib.sha256(raw).hexdigest(), delimiters=course.delimiters,
                       released=rel)


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


def _refuse_links(path: Path, root: Path | None) -> str | None:
    """Why `path` must not be opened: it, or a folder between `root` and it, is a symbolic
    link or not a regular file/folder. None when it is safe to read. Never follows a link."""
    parts = [path]
    if root is not None:
        try:
            rel = path.relative_to(root)
        except ValueError:
            rel = None
        if rel is not None:
            parts = [root / Path(*rel.parts[: i + 1]) for i in range(len(rel.parts))]
    for part in parts:
        try:
            st = os.lstat(part)
        except FileNotFoundError:
            return "no submitted file for this notebook"
        except OSError as exc:
            return f"unreadable file ({type(exc).__name__})"
        if stat.S_ISLNK(st.st_mode):
            return "refused: a symbolic link, not a submitted file (not followed)"
        last = part == parts[-1]
        if last and not stat.S_ISREG(st.st_mode):
            return "refused: not a regular file (a folder, pipe, socket or device)"
        if not last and not stat.S_ISDIR(st.st_mode):
            return "refused: not a regular folder"
    return None


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, opened without following a link or blocking on a pipe.

    Raises:
        OSError: the file is a link, not regular, or larger than MAX_NOTEBOOK_BYTES + 1.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(MAX_NOTEBOOK_BYTES + 1)
    finally:
        os.close(fd)


def _read_submission(path: Path, root: Path | None = None) -> tuple[Any | None, str | None]:
    """(notebook, None) or (None, why it cannot be graded). Symbolic links and non-regular
    files (anywhere below `root`) are refused, never followed; nbformat v3 is upgraded."""
    refused = _refuse_links(path, root)
    if refused is not None:
        return None, refused
    try:
        raw = _read_bytes(path)
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
    v3 = isinstance(data, dict) and data.get("nbformat") == 3 and isinstance(data.get("worksheets"), list)
    if not v3 and (not isinstance(data, dict) or "cells" not in data or not isinstance(data["cells"], list)):
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


def _learner_code(nb: Any, given: set[str] = frozenset()) -> list[tuple[str, str]]:  # type: ignore[assignment]
    """(cell id, source) of code the learner wrote: answer cells and cells they added or
    changed (an unmarked cell identical to one of the release's, `given`, is not theirs)."""
    out = []
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            out.append((meta.get("grade_id", f"cell-{i}"), cell.source))
        elif not meta.get("grade_id") and cell.source.strip() not in given:
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
    reference = source.released if source.released is not None else source.nb
    known = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in reference.cells}
    for cell in nb.cells:  # edited nbgrader metadata: restored from the source, not zeroed
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in known and gid is not None:
            cell.metadata["nbgrader"] = copy.deepcopy(known[gid].metadata["nbgrader"])
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


def _release_lines(source: SourceModel) -> set[str]:
    """Every line the release itself contains (its demo cells, its stubs): code the learner
    was given is not a finding."""
    ref = source.released if source.released is not None else source.nb
    return {line.strip() for c in ref.cells if c.cell_type == "code"
            for line in c.source.splitlines() if line.strip()}


def _prepare(course: Course, task: _Task) -> None:
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


# ---------------------------------------------------------------- the two runs (worker)


def locked_names(source: SourceModel, *, every_setup_cell: bool = False) -> set[str]:
    """Names the source's locked code cells bind (nbgrader `locked`, neither answer nor
    test); with `every_setup_cell`, also names its unmarked cells bind (demos)."""
    from .learner import defined_names, reduce_cell

    out: set[str] = set()
    for cell in source.nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("solution") or meta.get("grade"):
            continue
        if every_setup_cell or meta.get("locked"):
            out.update(defined_names(reduce_cell(cell.source)))
    return out


def _release_code(source: SourceModel) -> set[str]:
    """The sources of the release's own unmarked code cells (its demos): a submission cell
    identical to one of them is the release's code, not the learner's."""
    ref = source.released if source.released is not None else source.nb
    return {c.source.strip() for c in ref.cells
            if c.cell_type == "code" and not c.metadata.get("nbgrader", {}).get("grade_id")}


def declared_names(source: SourceModel) -> dict[str, list[str]]:
    """Per answer cell, the names the exercise declares: what the release's stub defines at
    top level (the solution's, when the stub defines nothing), minus names a locked cell
    binds and builtins. Only these become proxies in the judge."""
    import builtins

    from .learner import _parse

    forbidden = locked_names(source, every_setup_cell=True) | set(dir(builtins))
    stubs = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
             for c in (source.released.cells if source.released is not None else [])}
    out: dict[str, list[str]] = {}
    for cell in source.nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("solution"):
            continue
        gid = meta.get("grade_id")
        names: list[str] = []
        for text in (stubs.get(gid, ""), cell.source):
            names = [n for n in _top_level_names(_parse(text)) if n not in forbidden]
            if names:
                break
        out[gid] = names
    return out


def _top_level_names(tree: Any) -> list[str]:
    import ast

    names: list[str] = []
    for node in (tree.body if tree is not None else []):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for tg in targets for t in ast.walk(tg) if isinstance(t, ast.Name)]
    return names


def visible_source(cell_source: str, delimiters: Delimiters) -> str:
    """A test cell without its hidden tests (what the learner's kernel may run)."""
    return regions.visible(cell_source, delimiters)


def judge_job(source: SourceModel, submission: Any, *, learner_argv: list[str],
              limits: Any) -> dict[str, Any]:
    """The judge's input: the source's setup and test cells, the learner's program, and the
    names each answer cell declares."""
    program: list[dict[str, str]] = []
    extras: list[dict[str, str]] = []
    locked = {c.name: c for c in source.cells}
    demos = _release_code(source)
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
        elif not gid and cell.source.strip() in demos:  # the release's own code
            program.append({"cell": f"extra-{i}", "kind": "setup", "source": cell.source})
        elif not gid:
            program.append({"cell": f"extra-{i}", "kind": "answer", "source": cell.source})
            extras.append({"cell": f"extra-{i}", "kind": "answer", "source": ""})
    cells: list[dict[str, Any]] = list(extras)
    for i, cell in enumerate(source.nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id") or f"source-{i}"
        if meta.get("solution"):
            cells.append({"cell": gid, "kind": "answer", "source": ""})
        elif meta.get("grade"):
            cells.append({"cell": gid, "kind": "test", "source": cell.source,
                          "hidden_from": regions.first_hidden_line(cell.source, source.delimiters)})
        else:
            cells.append({"cell": gid, "kind": "setup", "source": cell.source})
    return {"cells": cells, "program": program, "learner_argv": learner_argv,
            "declared": declared_names(source), "locked": sorted(locked_names(source)),
            "memory": limits.memory_bytes, "files": limits.file_bytes,
            "seconds": limits.judge_seconds, "call_seconds": limits.cell_seconds}


class Zygote:
    """A judge process for one source notebook that ran the source's leading setup cells
    once and forks a child per submission (`autograde.judge.serve`). The judge is trusted
    code, so sharing its warm state is safe; the learner's process stays fresh per
    submission. One per worker process and source notebook; it ends with the worker."""

    def __init__(self, prefix: list[dict[str, Any]]) -> None:
        import multiprocessing.util

        self.tmp = tempfile.mkdtemp(prefix="vl-judge-")
        work = os.path.join(self.tmp, "work")  # the judge's cwd, HOME and TMPDIR
        os.mkdir(work)
        env = sandbox_env()
        env.update(HOME=work, TMPDIR=work, MPLCONFIGDIR=work, IPYTHONDIR=work)
        self.proc = subprocess.Popen([*python_cmd("autograde.judge"), "--serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=work,
                                     env=env, start_new_session=True)
        self._buf = bytearray()
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"prefix": prefix}).encode() + b"\n")
        self.proc.stdin.flush()
        self.ready: int | None = None
        multiprocessing.util.Finalize(self, Zygote._close, args=(self.proc, self.tmp), exitpriority=10)

    @staticmethod
    def _close(proc: subprocess.Popen[bytes], tmp: str) -> None:
        import shutil

        with contextlib.suppress(OSError):  # the zygote, its keeper and children: one group
            os.killpg(proc.pid, 9)
        with contextlib.suppress(Exception):
            proc.wait(timeout=5)
        shutil.rmtree(tmp, ignore_errors=True)

    def _line(self, deadline: float) -> dict[str, Any]:
        import select

        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise EOFError
                self._buf += chunk
        line, _, rest = bytes(self._buf).partition(b"\n")
        self._buf = bytearray(rest)
        return json.loads(line)

    def judge(self, job: dict[str, Any], seconds: float) -> bytes:
        """The judge's answer (bytes, as `main` writes it). Raises OSError, TimeoutError,
        EOFError or ValueError when the zygote cannot answer (the caller falls back)."""
        deadline = time.monotonic() + seconds
        if self.ready is None:
            self.ready = int(self._line(deadline + 60)["ready"])

        reply = Path(self.tmp) / f"reply-{os.getpid()}-{time.monotonic_ns()}.json"
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({**job, "reply_path": str(reply)}).encode() + b"\n")
        self.proc.stdin.flush()
        pid = int(self._line(deadline)["pid"])
        try:
            self._line(deadline)
        except TimeoutError:
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
            self._line(time.monotonic() + 10)
            raise
        try:
            return reply.read_bytes()
        finally:
            reply.unlink(missing_ok=True)


_ZYGOTES: dict[str, Zygote | None] = {}


def _zygote(key: str, job: dict[str, Any]) -> Zygote | None:
    from .judge import split_prefix

    if key not in _ZYGOTES:
        try:
            _ZYGOTES[key] = Zygote(split_prefix(job["cells"])[0])
        except OSError:
            _ZYGOTES[key] = None
    return _ZYGOTES[key]


def run_judge(job: dict[str, Any], *, seconds: float,
              zygote: str | None = None) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Run the judge; (verdicts by grade_id, error or None). With `zygote` (a key naming the
    source notebook), a warm judge for that source forks per call; a zygote that fails is
    dropped and the job runs in a fresh judge process instead."""
    stdout: bytes | None = None
    warm = _zygote(zygote, job) if zygote else None
    if warm is not None:
        try:
            stdout = warm.judge(job, seconds + 15)
        except TimeoutError:
            return {}, "the judge ran out of time"
        except (OSError, EOFError, ValueError, KeyError, TypeError):
            Zygote._close(warm.proc, warm.tmp)
            _ZYGOTES[zygote] = None  # type: ignore[index]
            stdout = None
    if stdout is None:
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
        stdout = proc.stdout
    try:
        data = json.loads(stdout)
        if not isinstance(data, dict) or "error" in data:
            return {}, str(data.get("error", "the judge's answer was unreadable"))[:200]
        out = {str(v["grade_id"]): {"status": str(v["status"]), "reason": str(v.get("reason", ""))[:400],
                                    "tripwire": bool(v.get("tripwire"))} for v in data["verdicts"]}
        out[NOTES] = {"status": "notes", "notes": [str(n)[:200] for n in data.get("notes", [])][:20]}
        return out, None
    except (ValueError, KeyError, TypeError, RecursionError):
        return {}, "the judge's answer was unreadable"


@dataclass(kw_only=True)
class _Outcome:
    executed: Any = None
    events: RunEvents | None = None
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    judge_error: str | None = None
    findings: tuple[hostile.Finding, ...] = ()
    failure: str | None = None


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
    """In a worker process: read, sanitize, then run the kernel (feedback) and the judge
    (points) side by side."""
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


# ---------------------------------------------------------------- writing results (grader)


UNAVAILABLE = "unavailable"
MANUAL = (UNDECIDABLE, UNAVAILABLE)


def _test_cells(nb: Any) -> Iterator[tuple[str, Any]]:
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            yield meta.get("grade_id"), cell


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


def _save(course: Course, task: _Task, nb: Any, statuses: dict[str, dict[str, Any]]) -> None:
    """Record the scores with nbgrader's own SaveAutoGrades, reading a view of the notebook
    whose test cells hold the outside verdict only; then clamp every score to its cell's
    range and mark undecided exercises for manual grading. The written notebook keeps the
    learner's outputs (formgrader shows them) with the verdicts appended."""
    from nbgrader.preprocessors import AssignLatePenalties, LimitOutput, SaveAutoGrades

    cfg = course.nbgrader_config()
    resources = _resources(course, task)
    nb, resources = LimitOutput(config=cfg).preprocess(nb, resources)
    kept = []
    for gid, cell in _test_cells(nb):
        kept.append((cell, cell.outputs))
        passed = statuses.get(gid, {}).get("status") == PASS
        cell.outputs = [] if passed else [_verdict_output(statuses.get(gid, {"status": FAIL}))]
    try:
        nb, resources = SaveAutoGrades(config=cfg).preprocess(nb, resources)
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
    with Gradebook(course.db_url, course.course_id) as gb:
        sub = gb.find_submission_notebook(task.source.notebook, task.source.assignment, task.student)
        for grade in sub.grades:
            grade.auto_score = _clamp(grade.auto_score, float(grade.max_score))
            if grade.name in manual:
                grade.auto_score = 0.0
                grade.needs_manual_grade = True
        gb.db.commit()


def _autograded_path(course: Course, task: _Task) -> Path:
    return course.autograded_dir / task.student / task.source.assignment / f"{task.source.notebook}.ipynb"


def _attempted(source: SourceModel, nb: Any | None) -> dict[str, bool]:
    """Per test cell: False when every answer cell whose declared names it uses is still the
    release's stub (the learner wrote nothing there)."""
    if nb is None or source.released is None:
        return {}
    stubs = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source.strip()
             for c in source.released.cells}
    mine = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source.strip() for c in nb.cells}
    declared = declared_names(source)
    out: dict[str, bool] = {}
    for gid, cell in _test_cells(source.nb):
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", cell.source))
        answers = [a for a, names in declared.items() if words & set(names)]
        if answers:
            out[gid] = any(mine.get(a, stubs.get(a)) != stubs.get(a) for a in answers)
    return out


def _property(source: SourceModel, gid: str) -> str:
    """What a test cell checks, in the instructor's words: its docstring's first line."""
    import ast

    cell = next((c for g, c in _test_cells(source.nb) if g == gid), None)
    try:
        visible = visible_source(cell.source, source.delimiters) if cell is not None else None
        doc = ast.get_docstring(ast.parse(visible)) if visible is not None else None
    except (SyntaxError, ValueError):
        doc = None
    return (doc or "").strip().splitlines()[0].rstrip(".") if doc and doc.strip() else gid


def learner_words(status: str, reason: str, attempted: bool | None) -> str:
    """An exercise's verdict for the learner: never internal terms, never hidden inputs."""
    if status == PASS:
        return "passed"
    if attempted is False:
        return "not attempted"
    if status in MANUAL:
        return "not checked automatically: your instructor will grade it by hand"
    return f"failed: {reason or 'see the cell below'}"


def _exercises(course: Course, task: _Task, nb: Any | None,
               statuses: dict[str, dict[str, Any]]) -> tuple[tuple[Exercise, ...], float, float]:
    with Gradebook(course.db_url, course.course_id) as gb:
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


def _kernel_failed(cell: Any) -> bool:
    """The learner's visible checks failed in the kernel (the verdict we appended aside)."""
    return any(o.output_type == "error" and o.get("ename") not in ("OutsideCheckFailed", "NeedsManualGrade")
               or o.output_type == "stream" and o.get("name") == "stderr" for o in cell.outputs)


def _finish(course: Course, task: _Task, outcome: _Outcome | None, sandbox: Sandbox) -> GradedNotebook:
    """Record one notebook. Never raises: a failure here becomes the notebook's reason."""
    try:
        return _record(course, task, outcome, sandbox)
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


def _record(course: Course, task: _Task, outcome: _Outcome | None, sandbox: Sandbox) -> GradedNotebook:
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
        _save(course, task, nb, statuses)
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
        h.update(_read_bytes(path))
    except OSError:
        h.update(b"<missing or refused>")
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
