"""Where a course lives and how hard a submission may push: one place for both.

`Course` names the folders nbgrader uses under a course root (the repo by default, a tmp dir
in tests) and loads the top-level `nbgrader_config.py`, so `nbgrader ...` and
`python -m autograde ...` agree. `Limits` bounds one notebook's run.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_NAME = "nbgrader_config.py"


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Bounds on one submission's run: wall time for the whole notebook (not per cell),
    address space per process, bytes of output kept, and file bytes it may write."""

    notebook_seconds: float = 120.0
    cell_seconds: float = 60.0
    judge_seconds: float = 60.0
    memory_bytes: int = 2 * 1024**3
    output_bytes: int = 256 * 1024
    file_bytes: int = 64 * 1024**2


@dataclass(frozen=True, slots=True, kw_only=True)
class Course:
    """A course root and its nbgrader folders (names match nbgrader_config.py)."""

    root: Path = REPO_ROOT
    course_id: str = "vault-lab"
    source: str = "notebooks"
    limits: Limits = field(default_factory=Limits)

    @property
    def source_dir(self) -> Path:
        return self.root / self.source

    @property
    def release_dir(self) -> Path:
        return self.root / "release"

    @property
    def submitted_dir(self) -> Path:
        return self.root / "submitted"

    @property
    def autograded_dir(self) -> Path:
        return self.root / "autograded"

    @property
    def feedback_dir(self) -> Path:
        return self.root / "feedback"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def db_path(self) -> Path:
        return self.root / "gradebook.db"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.db_path}"

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
        """nbgrader's Config: the course root's nbgrader_config.py (else the repo's), rooted here."""
        path = self.root / CONFIG_NAME
        if not path.exists():
            path = REPO_ROOT / CONFIG_NAME
        cfg = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
        cfg.CourseDirectory.root = str(self.root)
        cfg.CourseDirectory.course_id = self.course_id
        cfg.CourseDirectory.source_directory = self.source
        cfg.CourseDirectory.db_url = self.db_url
        return cfg


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
