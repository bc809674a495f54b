"""Student versions of every assignment, written only after a check that nothing leaks.

nbgrader's own GenerateAssignment builds each student version into a staging folder (and
records the source cells, checksums and points in the gradebook, as `nbgrader
generate_assignment` does); `release` then refuses the version if any cell or output holds a
solution, hidden-test or mark-scheme delimiter (as configured in nbgrader_config.py), a line
of the instructor's solution or hidden tests, or a planted secret (an `sk_live_`-style key);
only a clean version moves to `release/<assignment>/`.
"""
from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from . import regions
from .config import Course, ensure_venv_tools_on_path
from .regions import Delimiters

STAGING = ".release-staging"
SECRET_RE = re.compile(r"\b(?:sk|rk|pk|whsec)_(?:live|test)_[A-Za-z0-9]{8,}")
MIN_LINE = 12


class ReleaseError(Exception):
    """nbgrader could not build the student version (its log is in `detail`)."""

    def __init__(self, assignment: str, detail: str) -> None:
        super().__init__(f"nbgrader could not generate {assignment}")
        self.assignment, self.detail = assignment, detail


class ReleaseRefused(Exception):
    """The student version would leak: nothing was written to release/. `findings` say what."""

    def __init__(self, assignment: str, findings: tuple[str, ...]) -> None:
        super().__init__(f"refused to release {assignment}: " + "; ".join(findings[:5]))
        self.assignment, self.findings = assignment, findings


@dataclass(frozen=True, slots=True, kw_only=True)
class Released:
    assignment: str
    notebooks: tuple[Path, ...]


def secret_lines(source_nb: nbformat.NotebookNode, delimiters: Delimiters) -> set[str]:
    """Lines only the instructor may see: solution and hidden-test bodies and model answers,
    minus any line the source also shows in the open (a signature, a demo's loop header).
    Regions are read by `autograde.regions` with the configured delimiters."""
    private: set[str] = set()
    public: set[str] = set()
    for cell in source_nb.cells:
        src = cell.source
        meta = cell.metadata.get("nbgrader", {})
        hidden = [line.strip() for line in regions.solution_lines(src, delimiters)
                  + regions.hidden_lines(src, delimiters)]
        if cell.cell_type == "markdown" and meta.get("solution"):
            hidden += [line.strip() for line in src.splitlines()]
        private.update(line for line in hidden if len(line) >= MIN_LINE)
        if not (cell.cell_type == "markdown" and meta.get("solution")):
            public.update(line.strip() for line in regions.outside(src, delimiters))
    stubs = {"YOUR ANSWER HERE", "# YOUR CODE HERE", "raise NotImplementedError()"}
    return private - public - stubs


def _texts(nb: nbformat.NotebookNode) -> Iterable[tuple[str, str]]:
    for i, cell in enumerate(nb.cells):
        yield f"cell {i}", cell.source
        for out in cell.get("outputs", []):
            yield f"output of cell {i}", json.dumps(out, sort_keys=True)
    yield "notebook metadata", json.dumps(nb.metadata, sort_keys=True)


def leaks(student_nb: nbformat.NotebookNode, source_nb: nbformat.NotebookNode,
          delimiters: Delimiters) -> tuple[str, ...]:
    """Every reason the student version must not be released (empty when clean): a
    configured delimiter, a planted secret, or a line of a solution or hidden test."""
    found: list[str] = []
    private = secret_lines(source_nb, delimiters)
    for where, text in _texts(student_nb):
        for marker in delimiters.markers():
            if marker in text:
                found.append(f"{where} holds the delimiter '{marker}'")
        if SECRET_RE.search(text):
            found.append(f"{where} holds a planted secret (an sk_live_-style key)")
        lines = {line.strip() for line in text.replace("\\n", "\n").splitlines()}
        for line in sorted(private & lines):
            found.append(f"{where} holds a line of the solution or hidden tests: {line[:40]!r}...")
    return tuple(dict.fromkeys(found))


def _generate(course: Course, assignment: str) -> Path:
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    ensure_venv_tools_on_path()
    cfg = course.nbgrader_config()
    cfg.CourseDirectory.release_directory = STAGING
    coursedir = CourseDirectory(config=cfg)
    api = NbGraderAPI(coursedir=coursedir, config=cfg)
    staged = course.root / STAGING / assignment
    shutil.rmtree(staged, ignore_errors=True)
    result = api.generate_assignment(assignment, force=True, create=True)
    if not result.get("success"):
        raise ReleaseError(assignment, str(result.get("error") or result.get("log") or ""))
    return staged


def release(course: Course, assignments: Iterable[str] | None = None) -> tuple[Released, ...]:
    """Build, check and write student versions. Raises ReleaseRefused (nothing written for
    that assignment) or ReleaseError; assignments checked before a refusal stay released."""
    done = []
    for assignment in tuple(assignments) if assignments is not None else course.assignments():
        staged = _generate(course, assignment)
        try:
            findings: list[str] = []
            for student_path in sorted(staged.glob("*.ipynb")):
                source_nb = nbformat.read(course.source_dir / assignment / student_path.name, 4)
                student_nb = nbformat.read(student_path, 4)
                findings += [f"{student_path.name}: {f}"
                             for f in leaks(student_nb, source_nb, course.delimiters)]
            if findings:
                raise ReleaseRefused(assignment, tuple(findings))
            target = course.release_dir / assignment
            shutil.rmtree(target, ignore_errors=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staged), str(target))
            done.append(Released(assignment=assignment,
                                 notebooks=tuple(sorted(target.glob("*.ipynb")))))
        finally:
            shutil.rmtree(course.root / STAGING, ignore_errors=True)
    return tuple(done)
