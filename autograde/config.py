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
from dataclasses import dataclass, field, replace
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from .regions import Delimiters

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_NAME = "nbgrader_config.py"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """nbgrader's settings for one course root, read the way nbgrader reads them: the root's
    nbgrader_config.py (else the repo's) loaded by traitlets into nbgrader's own configurable
    classes (CourseDirectory, ClearSolutions, ClearHiddenTests, ClearMarkScheme, Execute), so nbgrader's
    defaults and config precedence apply and nothing is copied by hand. Folder names are
    relative to the root; `cell_timeout` is `Execute.timeout` (None: no per-cell timeout)."""

    course_id: str
    source_directory: str
    release_directory: str
    submitted_directory: str
    autograded_directory: str
    feedback_directory: str
    db_url: str
    delimiters: Delimiters
    cell_timeout: float | None

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
                   cell_timeout=float(timeout) if timeout is not None and timeout > 0 else None)


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
    """Bounds on one submission's run. One source of truth: the per-cell time is nbgrader's
    `Execute.timeout` from nbgrader_config.py (bounded by the notebook budget); `None` here
    means "take it from there", and `Course` fills it in (`resolved`). The rest are
    autograde's own extras nbgrader has no setting for: wall time for the whole notebook
    (not per cell), the judge's time, address space per process, bytes of output kept, and
    file bytes a learner may write. An explicit `cell_seconds` (a test's short bound)
    overrides the configured timeout."""

    notebook_seconds: float = 120.0
    cell_seconds: float | None = None
    judge_seconds: float = 60.0
    memory_bytes: int = 2 * 1024**3
    output_bytes: int = 256 * 1024
    file_bytes: int = 64 * 1024**2

    def resolved(self, settings: Settings) -> Limits:
        """These limits with `cell_seconds` taken from nbgrader's `Execute.timeout` when not
        given: min(timeout, notebook budget); the budget alone when nbgrader sets none."""
        if self.cell_seconds is not None:
            return self
        timeout = settings.cell_timeout
        cell = self.notebook_seconds if timeout is None else min(timeout, self.notebook_seconds)
        return replace(self, cell_seconds=cell)


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
