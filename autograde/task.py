"""One submission on its way through the stages, and what the worker hands back.

`Task` is the grader's record of one student's notebook (its source, path, digest, what the
structure stage found, why it cannot be graded, the run's gradebook); `Outcome` is what a
worker returns after the run and judge stages. Both are plain carriers: the stages decide.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import hostile
from .config import Course
from .execute import RunEvents
from .gradebook import Gradebooks
from .source import SourceModel


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
    books: Gradebooks | None = None  # the run's gradebook engine (a worker gets its own)


@dataclass(kw_only=True)
class _Outcome:
    executed: Any = None
    events: RunEvents | None = None
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    judge_error: str | None = None
    findings: tuple[hostile.Finding, ...] = ()
    failure: str | None = None


def _resources(course: Course, task: _Task) -> dict[str, Any]:
    return {"nbgrader": {"notebook": task.source.notebook, "assignment": task.source.assignment,
                         "student": task.student, "db_url": course.db_url}}


def _autograded_path(course: Course, task: _Task) -> Path:
    return course.autograded_dir / task.student / task.source.assignment / f"{task.source.notebook}.ipynb"
