"""Stage 3, sanitize: nbgrader's own preprocessors on the submission.

ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells (locked cells and hidden
tests restored from the gradebook), CheckCellMetadata, configured by the course's
nbgrader_config.py; the two that read the gradebook do it through the task's shared engine.
"""
from __future__ import annotations

from typing import Any

from .config import Course
from .gradebook import SharedOverwriteCells, SharedOverwriteKernelspec, shared
from .task import _resources, _Task


def _sanitize(course: Course, task: _Task, nb: Any) -> Any:
    from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, DeduplicateIds

    cfg = course.nbgrader_config()
    resources = _resources(course, task)
    assert task.books is not None
    for pre in (ClearOutput(config=cfg), DeduplicateIds(config=cfg),
                shared(SharedOverwriteKernelspec, task.books, cfg),
                shared(SharedOverwriteCells, task.books, cfg), CheckCellMetadata(config=cfg)):
        nb, resources = pre.preprocess(nb, resources)
    return nb
