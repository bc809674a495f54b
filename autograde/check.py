"""`python -m autograde check NOTEBOOK`: the learner's self-check, one line per exercise.

Runs the notebook the learner has (visible checks only: there is no gradebook and no hidden
test here) the way the grader does: in a confined kernel, and again through the judge
against the learner's definitions alone. Each exercise is `passed`, `failed: why`, or
`not attempted`. Exit code: 0 all passed, 1 something failed or is not attempted,
2 the notebook could not be read.
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbgrader import utils

from .config import REPO_ROOT, Limits, Settings
from .execute import run_notebook
from .hostile import SourceCell
from .judge import FAIL
from .read import _read_submission
from .sandbox import detect, python_cmd
from .source import SourceModel
from .verdict import judge_job, run_judge


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    exercise: str
    status: str  # passed | failed | not attempted
    why: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    notebook: str
    lines_: tuple[Line, ...] = ()
    error: str | None = None
    warning: str | None = None

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return 2
        return 0 if self.lines_ and all(x.status == "passed" for x in self.lines_) else 1

    def lines(self) -> list[str]:
        if self.error is not None:
            return [f"{self.notebook}: cannot check: {self.error}"]
        out = [f"{x.exercise}: {x.status}" + (f" - {x.why}" if x.why else "") for x in self.lines_]
        if not self.lines_:
            out.append(f"{self.notebook}: no checked exercises found (no nbgrader test cells)")
        passed = sum(x.status == "passed" for x in self.lines_)
        out.append(f"{passed}/{len(self.lines_)} exercises pass the visible checks "
                   "(hidden checks decide the grade)")
        if self.warning:
            out.append(f"note: {self.warning}")
        return out


def _exercises(nb: Any) -> list[tuple[Any, list[Any]]]:
    """(test cell, the answer cells since the previous test cell)."""
    out, answers = [], []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            answers.append(cell)
        elif meta.get("grade") and cell.cell_type == "code":
            out.append((cell, answers))
            answers = []
    return out


def _untouched(cell: Any) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    if "raise NotImplementedError" in cell.source:
        return True
    try:
        return bool(meta.get("checksum")) and meta["checksum"] == utils.compute_checksum(cell)
    except Exception:  # noqa: BLE001 - odd metadata is not "untouched"
        return False


def check_notebook(path: Path, *, budget: float | None = None, root: Path = REPO_ROOT) -> CheckResult:
    """Check one notebook; never raises for a broken notebook (the result says why). The
    per-cell time, the hidden-test delimiters and, without a `budget`, the notebook's time are
    the settings of the course at `root` (its nbgrader_config.py)."""
    nb, failure = _read_submission(path)
    if nb is None:
        return CheckResult(notebook=str(path), error=failure)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    sandbox = detect()
    settings = Settings.load(root)
    limits = Limits(notebook_seconds=budget, judge_seconds=budget).resolved(settings)
    cells = tuple(SourceCell(name=m["grade_id"], cell_type=c.cell_type,
                             locked=bool(m.get("locked")), checksum=m.get("checksum"),
                             points=m.get("points"), solution=bool(m.get("solution")),
                             grade=bool(m.get("grade")))
                  for c in nb.cells for m in [c.metadata.get("nbgrader", {})] if m.get("grade_id"))
    model = SourceModel(assignment=path.parent.name, notebook=path.stem, nb=nb, cells=cells,
                        files=(), digest=hashlib.sha256(path.read_bytes()).hexdigest(),
                        delimiters=settings.delimiters)
    job = judge_job(model, nb, learner_argv=sandbox.wrap(python_cmd("autograde.learner")),
                    limits=limits)
    verdicts, judge_error = run_judge(job, seconds=limits.judge_seconds)
    executed = copy.deepcopy(nb)
    events = run_notebook(executed, sandbox=sandbox, limits=limits)
    ran = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in executed.cells}
    lines = []
    for test, answers in _exercises(nb):
        gid = test.metadata["nbgrader"]["grade_id"]
        if answers and all(_untouched(a) for a in answers):
            lines.append(Line(exercise=gid, status="not attempted",
                              why="the answer cell still holds the stub"))
            continue
        verdict = verdicts.get(gid, {})
        cell = ran.get(gid)
        if verdict.get("status") == FAIL:
            lines.append(Line(exercise=gid, status="failed", why=verdict.get("reason", "")))
        elif cell is not None and utils.has_failed(cell):
            err = next((o for o in cell.outputs if o.output_type == "error"), None)
            why = f"{err.ename}: {err.evalue}".rstrip(": ") if err else "wrote to stderr"
            lines.append(Line(exercise=gid, status="failed", why=why[:300]))
        else:
            lines.append(Line(exercise=gid, status="passed"))
    warnings = [w for w in (sandbox.warning and "ran unconfined (no bubblewrap)",
                            judge_error, *events.reasons()) if w]
    return CheckResult(notebook=str(path), lines_=tuple(lines),
                       warning="; ".join(warnings) or None)
