"""`python -m autograde bench`: the same synthetic class graded by plain serial
`nbgrader autograde` and by our `grade` (sandbox and outside judge on), in one run.

Both run as fresh commands (start-up counted on both sides) on identical copies of one
course: half the class submits the solved notebook, half the blank release. The result says
whether both gave every student the same total, so a fast wrong grader cannot win.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from .config import REPO_ROOT, Course, default_workers, ensure_venv_tools_on_path
from .sandbox import detect

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "autograde" / "ps1" / "ps1.ipynb"
SOLUTION_LINE = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchResult:
    assignment: str
    students: int
    cores: int
    workers: int
    confined: bool
    plain_seconds: float
    ours_seconds: float
    speedup: float
    agree: bool
    disagreements: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    def text(self) -> str:
        mode = "bubblewrap sandbox" if self.confined else "UNCONFINED fallback"
        return "\n".join([
            f"class: {self.students} submissions of {self.assignment} on {self.cores} core(s)",
            f"plain serial `nbgrader autograde`: {self.plain_seconds:.1f} s "
            f"({self.plain_seconds / self.students:.2f} s per submission)",
            f"python -m autograde grade ({self.workers} workers, {mode} + outside judge): "
            f"{self.ours_seconds:.1f} s ({self.ours_seconds / self.students:.2f} s per submission)",
            f"speed-up: {self.speedup:.2f}x; same totals for every student: "
            f"{'yes' if self.agree else 'NO: ' + '; '.join(self.disagreements)}",
        ])


def _solved(source: nbformat.NotebookNode, released: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(released)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in source.cells}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in by_id:
            cell.source = "\n".join(line for line in by_id[gid].source.splitlines()
                                    if not SOLUTION_LINE.match(line))
    return nb


def _build(root: Path, source: Path, students: int) -> Course:
    from .release import release

    assignment = source.parent.name if source != FIXTURE else "ps1"
    (root / "notebooks" / assignment).mkdir(parents=True, exist_ok=True)
    for path in source.parent.iterdir():
        if path.is_file() and (path.suffix != ".ipynb" or path == source):
            shutil.copy(path, root / "notebooks" / assignment / path.name)
    if not (root / "nbgrader_config.py").exists():
        shutil.copy(REPO_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    course = Course(root=root)
    release(course, [assignment])
    released = nbformat.read(course.release_dir / assignment / source.name, 4)
    solved = _solved(nbformat.read(source, 4), released)
    for i in range(students):
        folder = course.submitted_dir / f"student{i:03d}" / assignment
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(solved if i % 2 == 0 else released, folder / source.name)
    return course


def _totals(course: Course, assignment: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, course.course_id) as gb:
        return {s.student_id: float(s.score) for s in gb.assignment_submissions(assignment)}


def run_bench(*, students: int = 16, workers: int | None = None, source: str | None = None,
              keep: str | None = None) -> BenchResult:
    """Build the class twice, grade one copy each way, time both. Raises on a grader crash."""
    ensure_venv_tools_on_path()
    src = Path(source).resolve() if source else FIXTURE
    base = Path(keep).resolve() if keep else Path(tempfile.mkdtemp(prefix="vl-bench-"))
    if keep:
        shutil.rmtree(base, ignore_errors=True)
    workers = workers or default_workers()
    try:
        plain = _build(base / "plain", src, students)
        ours = _build(base / "ours", src, students)
        assignment = plain.assignments()[0]
        env = dict(os.environ)
        start = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "autograde", assignment,
                        "--force"], cwd=plain.root, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        plain_seconds = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "autograde", "--root", str(ours.root), "grade",
                        "--quiet", "--force", "--workers", str(workers)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ours_seconds = time.perf_counter() - start
        a, b = _totals(plain, assignment), _totals(ours, assignment)
        diff = tuple(f"{s}: nbgrader {a.get(s)} vs ours {b.get(s)}" for s in sorted(set(a) | set(b))
                     if a.get(s) != b.get(s))
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    return BenchResult(assignment=assignment, students=students, cores=default_workers(),
                       workers=workers, confined=detect().confined,
                       plain_seconds=round(plain_seconds, 2), ours_seconds=round(ours_seconds, 2),
                       speedup=round(plain_seconds / ours_seconds, 2), agree=not diff,
                       disagreements=diff)


def course_sources() -> list[Path]:
    """The one notebook of every assignment under the repo's notebooks/ folder."""
    out = []
    for folder in sorted((REPO_ROOT / "notebooks").iterdir()):
        found = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
        if len(found) == 1:
            out.append(found[0])
    return out


def run_course_bench(*, students: int = 2, workers: int | None = None,
                     keep: str | None = None) -> BenchResult:
    """Every assignment of the real course in one class (half solved, half blank release):
    plain serial `nbgrader autograde`, one command per assignment, against one `grade`
    command for the whole class; both timed as fresh commands, totals compared per student
    and assignment."""
    ensure_venv_tools_on_path()
    sources = course_sources()
    base = Path(keep).resolve() if keep else Path(tempfile.mkdtemp(prefix="vl-bench-"))
    if keep:
        shutil.rmtree(base, ignore_errors=True)
    workers = workers or default_workers()
    try:
        plain = ours = Course(root=base / "plain")
        for src in sources:
            plain = _build(base / "plain", src, students)
            ours = _build(base / "ours", src, students)
        assignments = [src.parent.name for src in sources]
        env = dict(os.environ)
        start = time.perf_counter()
        for assignment in assignments:
            subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "autograde", assignment,
                            "--force"], cwd=plain.root, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        plain_seconds = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "autograde", "--root", str(ours.root), "grade",
                        "--quiet", "--force", "--workers", str(workers)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ours_seconds = time.perf_counter() - start
        diff: list[str] = []
        for assignment in assignments:
            a, b = _totals(plain, assignment), _totals(ours, assignment)
            diff += [f"{assignment}/{s}: nbgrader {a.get(s)} vs ours {b.get(s)}"
                     for s in sorted(set(a) | set(b)) if a.get(s) != b.get(s)]
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    return BenchResult(assignment=f"the course ({len(sources)} assignments)",
                       students=students * len(sources), cores=default_workers(), workers=workers,
                       confined=detect().confined, plain_seconds=round(plain_seconds, 2),
                       ours_seconds=round(ours_seconds, 2),
                       speedup=round(plain_seconds / ours_seconds, 2), agree=not diff,
                       disagreements=tuple(diff))
