"""nbgrader's gradebook through one SQLAlchemy engine per run, without patching nbgrader.

nbgrader opens a fresh engine for every `Gradebook(db_url)` (its preprocessors each open
one per notebook), which throws away SQLAlchemy's per-engine compiled-statement cache and
re-inspects the schema each time: most of the grader's own time went into recompiling the
same queries. `Gradebooks` is a value the run creates once and passes down: it holds one
engine for the run's gradebook and opens `SharedGradebook`s (nbgrader's own `Gradebook`
class, bound to that engine) for autograde's reads and writes and for nbgrader's
preprocessors that touch the gradebook, subclassed here to take the shared gradebook
instead of opening their own (their per-cell logic is nbgrader's, unchanged).

A `Gradebooks` crosses to a worker process as its URL only (pickling drops the engine, as
SQLAlchemy requires for a forked process): the worker opens its own engine, once per task.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from nbgrader.api import Gradebook
from nbgrader.preprocessors import OverwriteCells, OverwriteKernelspec, SaveAutoGrades


class SharedGradebook(Gradebook):
    """nbgrader's Gradebook on an engine someone else owns: closing it ends its session,
    never the engine (the schema exists: `Gradebooks` made sure of it)."""

    def __init__(self, engine: Any, course_id: str) -> None:  # noqa: D107 - no super(): no new engine
        from sqlalchemy.orm import scoped_session, sessionmaker

        self.engine = engine
        self.db = scoped_session(sessionmaker(autoflush=True, bind=engine, future=True))
        self.check_course(course_id=course_id)
        self.course_id = course_id
        self.authenticator = None

    def close(self) -> None:
        self.db.remove()


class Gradebooks:
    """One engine for one gradebook, for the length of a run (or a worker's task).

    `open()` yields a `SharedGradebook`; `close()` disposes of the engine. Created by the
    caller and passed down as a value; not shared through module state."""

    def __init__(self, db_url: str, course_id: str) -> None:
        self.db_url, self.course_id = db_url, course_id
        self._engine: Any = None

    def __getstate__(self) -> dict[str, str]:
        return {"db_url": self.db_url, "course_id": self.course_id}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.db_url, self.course_id, self._engine = state["db_url"], state["course_id"], None

    def _shared_engine(self) -> Any:
        if self._engine is None:
            from sqlalchemy import create_engine, inspect

            engine = create_engine(self.db_url, echo=False, future=True)  # nbgrader's arguments
            if not inspect(engine).get_table_names():
                Gradebook(self.db_url, self.course_id).close()  # nbgrader creates the schema
            self._engine = engine
        return self._engine

    @contextlib.contextmanager
    def open(self) -> Iterator[SharedGradebook]:
        """A gradebook session on the shared engine, ended on exit."""
        gb = SharedGradebook(self._shared_engine(), self.course_id)
        try:
            yield gb
        finally:
            gb.close()

    def close(self) -> None:
        """Dispose of the engine (a later `open` makes a new one)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def after_fork(self) -> None:
        """In a forked child: drop the parent's engine without closing its connections
        (SQLAlchemy's rule for a fork); the child opens its own when it needs one."""
        if self._engine is not None:
            self._engine.dispose(close=False)
            self._engine = None

    def __enter__(self) -> Gradebooks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SharedSaveAutoGrades(SaveAutoGrades):
    """nbgrader's SaveAutoGrades writing through `books` instead of a gradebook of its own."""

    books: Gradebooks

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.student_id = resources["nbgrader"]["student"]
        self.db_url = resources["nbgrader"]["db_url"]
        with self.books.open() as self.gradebook:
            return super(SaveAutoGrades, self).preprocess(nb, resources)  # nbgrader's per-cell pass


class SharedOverwriteCells(OverwriteCells):
    """nbgrader's OverwriteCells reading the source cells through `books`."""

    books: Gradebooks

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.db_url = resources["nbgrader"]["db_url"]
        with self.books.open() as self.gradebook:
            nb, resources = super(OverwriteCells, self).preprocess(nb, resources)
            if self.add_missing_cells:
                nb, resources = self.add_missing_grade_cells(nb, resources)
                nb, resources = self.add_missing_task_cells(nb, resources)
        return nb, resources


class SharedOverwriteKernelspec(OverwriteKernelspec):
    """nbgrader's OverwriteKernelspec reading the source's kernelspec through `books`."""

    books: Gradebooks

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        with self.books.open() as gb:
            kernelspec = gb.find_notebook(resources["nbgrader"]["notebook"],
                                          resources["nbgrader"]["assignment"]).kernelspec
        if kernelspec is not None:
            kernelspec = json.loads(kernelspec)
        if kernelspec:
            nb.metadata["kernelspec"] = kernelspec
        return nb, resources


def shared(klass: type[Any], books: Gradebooks, config: Any) -> Any:
    """An instance of one of the Shared* preprocessors above, configured and bound to `books`."""
    pre = klass(config=config)
    pre.books = books
    return pre
