"""Where a course lives and how hard a submission may push: one place for both.

`Settings` is nbgrader's own configuration of a course root (the repo by default, a tmp dir in
tests), read from its `nbgrader_config.py` through nbgrader's traitlets classes, so `nbgrader
...` and `python -m autograde ...` agree by construction: folder names, course id, gradebook,
solution and hidden-test delimiters, per-cell timeout. `Course` is a root with its settings;
`Limits` bounds one notebook's run (its per-cell time from nbgrader's `Execute.timeout`).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traitlets import Float, Integer
from traitlets.config import Config, Configurable
from traitlets.config.loader import PyFileConfigLoader

from .regions import Delimiters

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_NAME = "nbgrader_config.py"


class AutogradeLimits(Configurable):
    """autograde's own bounds, which nbgrader has no setting for. Set them in
    nbgrader_config.py as `c.AutogradeLimits.<name>` (plain nbgrader ignores the section); the
    per-cell time is not here: it is nbgrader's `Execute.timeout`."""

    notebook_seconds = Float(120.0, help="Wall time for one notebook's run, all cells together "
                             "(seconds); the notebook's process group is killed past it.").tag(config=True)
    judge_seconds = Float(120.0, help="Wall time for the outside judge of one notebook "
                          "(seconds).").tag(config=True)
    memory_bytes = Integer(2 * 1024**3, help="Address space of each process running learner code "
                           "(bytes); exhausting it is a MemoryError.").tag(config=True)
    output_bytes = Integer(256 * 1024, help="Bytes of output kept per notebook (not lines); the "
                           "rest is cut, in the sandbox and again when read.").tag(config=True)
    file_bytes = Integer(64 * 1024**2, help="Largest file a learner's process may write "
                         "(bytes).").tag(config=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """nbgrader's settings for one course root, read the way nbgrader reads them: the root's
    nbgrader_config.py (else the repo's) loaded by traitlets into nbgrader's own configurable
    classes (CourseDirectory, ClearSolutions, ClearHiddenTests, ClearMarkScheme, Execute), so nbgrader's
    defaults and config precedence apply and nothing is copied by hand. Folder names are
    relative to the root; `cell_timeout` is `Execute.timeout` (None: no per-cell timeout);
    the other bounds are autograde's own (`AutogradeLimits`), read from the same file."""

    course_id: str
    source_directory: str
    release_directory: str
    submitted_directory: str
    autograded_directory: str
    feedback_directory: str
    db_url: str
    delimiters: Delimiters
    cell_timeout: float | None
    notebook_seconds: float
    judge_seconds: float
    memory_bytes: int
    output_bytes: int
    file_bytes: int

    @classmethod
    def load(cls, root: Path) -> Settings:
        """The settings of the course at `root` (its nbgrader_config.py, else the repo's)."""
        from nbgrader.coursedir import CourseDirectory
        from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearSolutions, Execute

        cfg = load_nbgrader_config(root)
        cd = CourseDirectory(config=cfg)
        sol = ClearSolutions(config=cfg)
        hid = ClearHiddenTests(config=cfg)
        scheme = ClearMarkScheme(config=cfg)
        timeout = Execute(config=cfg).timeout
        own = AutogradeLimits(config=cfg)
        return cls(course_id=cd.course_id, source_directory=cd.source_directory,
                   release_directory=cd.release_directory,
                   submitted_directory=cd.submitted_directory,
                   autograded_directory=cd.autograded_directory,
                   feedback_directory=cd.feedback_directory, db_url=cd.db_url,
                   delimiters=Delimiters(begin_solution=sol.begin_solution_delimeter,
                                         end_solution=sol.end_solution_delimeter,
                                         begin_hidden=hid.begin_test_delimeter,
                                         end_hidden=hid.end_test_delimeter,
                                         begin_mark_scheme=scheme.begin_mark_scheme_delimeter,
                                         end_mark_scheme=scheme.end_mark_scheme_delimeter),
                   cell_timeout=float(timeout) if timeout is not None and timeout > 0 else None,
                   notebook_seconds=own.notebook_seconds, judge_seconds=own.judge_seconds,
                   memory_bytes=own.memory_bytes, output_bytes=own.output_bytes,
                   file_bytes=own.file_bytes)


def load_nbgrader_config(root: Path) -> Config:
    """nbgrader's Config for the course at `root`: its nbgrader_config.py (else the repo's),
    with `CourseDirectory.root` set to `root` (as nbgrader run from that folder would)."""
    path = root / CONFIG_NAME
    if not path.exists():
        path = REPO_ROOT / CONFIG_NAME
    cfg = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    cfg.CourseDirectory.root = str(root)
    return cfg


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Bounds on one submission's run, with one source of truth: the course's
    nbgrader_config.py. The per-cell time is nbgrader's `Execute.timeout` (bounded by the
    notebook budget); the rest are autograde's own `AutogradeLimits` traits (wall time for the
    whole notebook, the judge's time, address space per process, bytes of output kept, file
    bytes a learner may write). A field left `None` is taken from there (`resolved`, which
    `Course` applies); a value given here (the command line's --budget, a test's short
    bound) overrides it."""

    notebook_seconds: float | None = None
    cell_seconds: float | None = None
    judge_seconds: float | None = None
    memory_bytes: int | None = None
    output_bytes: int | None = None
    file_bytes: int | None = None

    def resolved(self, settings: Settings) -> Limits:
        """Every field set: a `None` from `settings`; `cell_seconds` from nbgrader's
        `Execute.timeout` as min(timeout, notebook budget), the budget alone when nbgrader
        sets no timeout."""
        budget = self.notebook_seconds if self.notebook_seconds is not None else settings.notebook_seconds
        cell = self.cell_seconds
        if cell is None:
            timeout = settings.cell_timeout
            cell = budget if timeout is None else min(timeout, budget)

        def pick(mine: Any, configured: Any) -> Any:
            return configured if mine is None else mine

        return Limits(notebook_seconds=budget, cell_seconds=cell,
                      judge_seconds=pick(self.judge_seconds, settings.judge_seconds),
                      memory_bytes=pick(self.memory_bytes, settings.memory_bytes),
                      output_bytes=pick(self.output_bytes, settings.output_bytes),
                      file_bytes=pick(self.file_bytes, settings.file_bytes))


@dataclass(frozen=True, slots=True, kw_only=True)
class Course:
    """A course root; its folders, course id, gradebook URL, region delimiters and per-cell
    timeout come from nbgrader's settings there (`Settings.load`), its run bounds from
    `limits` (resolved against those settings)."""

    root: Path = REPO_ROOT
    limits: Limits = field(default_factory=Limits)
    settings: Settings = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        settings = Settings.load(self.root)
        object.__setattr__(self, "settings", settings)
        object.__setattr__(self, "limits", self.limits.resolved(settings))

    @property
    def course_id(self) -> str:
        return self.settings.course_id

    @property
    def delimiters(self) -> Delimiters:
        return self.settings.delimiters

    @property
    def source_dir(self) -> Path:
        return self.root / self.settings.source_directory

    @property
    def release_dir(self) -> Path:
        return self.root / self.settings.release_directory

    @property
    def submitted_dir(self) -> Path:
        return self.root / self.settings.submitted_directory

    @property
    def autograded_dir(self) -> Path:
        return self.root / self.settings.autograded_directory

    @property
    def feedback_dir(self) -> Path:
        return self.root / self.settings.feedback_directory

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"  # autograde's own (nbgrader has no reports folder)

    @property
    def db_url(self) -> str:
        return self.settings.db_url

    @property
    def db_path(self) -> Path:
        """The gradebook file of a SQLite `db_url`.

        Raises:
            ValueError: the configured gradebook is not a SQLite file.
        """
        prefix = "sqlite:///"
        if not self.db_url.startswith(prefix):
            raise ValueError("the configured gradebook is not a SQLite file")
        return Path(self.db_url[len(prefix):])

    def assignments(self) -> tuple[str, ...]:
        """Every assignment folder under the source folder that holds a notebook (sorted)."""
        if not self.source_dir.is_dir():
            return ()
        return tuple(sorted(
            p.name for p in self.source_dir.iterdir()
            if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.ipynb"))
        ))

    def source_notebooks(self, assignment: str) -> tuple[Path, ...]:
        return tuple(sorted((self.source_dir / assignment).glob("*.ipynb")))

    def nbgrader_config(self) -> Config:
        """A fresh copy of nbgrader's Config for this course (callers may change it)."""
        return load_nbgrader_config(self.root)


def default_workers() -> int:
    """One worker per core: grading is CPU-bound once kernels start without stalls."""
    return max(1, len(os.sched_getaffinity(0)))


def ensure_venv_tools_on_path() -> None:
    """nbgrader shells out to `alembic` when it creates a gradebook; make the venv's bin
    visible even when the venv is not activated (a missing PATH entry fails the first run)."""
    bindir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in parts:
        os.environ["PATH"] = os.pathsep.join([bindir, *parts])
