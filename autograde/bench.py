"""`python -m autograde bench`: the same synthetic class graded by plain serial
`nbgrader autograde` and by our `grade` (sandbox and outside judge on), in one run.

Both run as fresh commands (start-up counted on both sides) on identical copies of one
course: half the class submits the solved notebook, half the blank release (with `--course`:
every assignment of the real course, each class holding honest, blank and planted-mistake
submissions, `tests/data/mistakes/<assignment>.json`). The result says whether both gave every
student the same total, so a fast wrong grader cannot win; with `--course` it also gives the
floor (each notebook's own cells run by `exec` in an already-warm Python, no grading at all)
and how our side scales from one worker to several.

`python -m autograde.bench NOTEBOOK` (in a folder holding the assignment's files) prints that
floor for one notebook as JSON: {"seconds": s, "errors": n}.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
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
    kinds: tuple[str, ...] = ()
    floor_seconds: float | None = None
    one_worker_seconds: float | None = None

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
            *self._course_lines(),
        ])

    def _course_lines(self) -> list[str]:
        n = self.students
        lines = [f"submissions: {', '.join(self.kinds)}"] if self.kinds else []
        if self.floor_seconds is not None:
            floor = self.floor_seconds / n
            lines.append(
                f"per notebook: floor (its cells by exec in a warm Python) {floor:.2f} s; plain "
                f"nbgrader {self.plain_seconds / n:.2f} s ({self.plain_seconds / n / floor:.1f}x the "
                f"floor); ours {self.ours_seconds / n:.2f} s wall, {self.ours_seconds * self.workers / n:.2f}"
                f" core-seconds ({self.ours_seconds * self.workers / n / floor:.1f}x the floor)")
        if self.one_worker_seconds is not None:
            lines.append(
                f"scaling: 1 worker {self.one_worker_seconds:.1f} s, {self.workers} workers "
                f"{self.ours_seconds:.1f} s: {self.one_worker_seconds / self.ours_seconds:.2f}x "
                f"from {self.workers}x the cores ({self.plain_seconds / self.one_worker_seconds:.2f}x "
                f"plain serial nbgrader on one worker)")
        return lines


def _solved(source: nbformat.NotebookNode, released: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(released)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in source.cells}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in by_id:
            cell.source = "\n".join(line for line in by_id[gid].source.splitlines()
                                    if not SOLUTION_LINE.match(line))
    return nb


def mistakes(assignment: str) -> list[dict[str, object]]:
    """The planted mistakes of an assignment (`tests/data/mistakes/<assignment>.json`)."""
    path = REPO_ROOT / "tests" / "data" / "mistakes" / f"{assignment}.json"
    return json.loads(path.read_text()) if path.exists() else []


def plant(nb: nbformat.NotebookNode, mistake: dict[str, object]) -> nbformat.NotebookNode | None:
    """A copy of `nb` with the mistake's solution cell edited (None if it does not apply)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == mistake["cell"]:
            if str(mistake["find"]) not in cell.source:
                return None
            cell.source = cell.source.replace(str(mistake["find"]), str(mistake["replace"]))
            return nb
    return None


def class_kinds(students: int, planted: int) -> list[str]:
    """What each student of a class submits: honest, blank, then planted mistakes in turn
    (honest and blank again when there are no mistakes)."""
    cycle = ["honest", "blank"] + [f"mistake-{i}" for i in range(planted)]
    return [cycle[i % len(cycle)] for i in range(students)]


def _build(root: Path, source: Path, students: int, *, with_mistakes: bool = False) -> Course:
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
    src_nb = nbformat.read(source, 4)
    solved = _solved(src_nb, released)
    planted = [nb for nb in (plant(src_nb, m) for m in mistakes(assignment)) if nb is not None] \
        if with_mistakes else []
    for i, kind in enumerate(class_kinds(students, len(planted))):
        folder = course.submitted_dir / f"student{i:03d}" / assignment
        folder.mkdir(parents=True, exist_ok=True)
        if kind == "honest":
            nb = solved
        elif kind == "blank":
            nb = released
        else:
            nb = _solved(planted[int(kind.split("-")[1])], released)
        nbformat.write(nb, folder / source.name)
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


def _grade_ours(course: Course, workers: int, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autograde", "--root", str(course.root), "grade",
                    "--quiet", "--force", "--workers", str(workers)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def run_course_bench(*, students: int = 3, workers: int | None = None,
                     keep: str | None = None, scaling: bool = True) -> BenchResult:
    """Every assignment of the real course in one class: per assignment at least three
    submissions (honest, blank and planted mistakes in turn, `class_kinds`); plain serial
    `nbgrader autograde`, one command per assignment, against one `grade` command for the
    whole class; both timed as fresh commands, totals compared per student and assignment.
    Then the floor of every notebook (`floor_seconds`) and, with `scaling`, our side again
    with one worker. Raises CalledProcessError on a grader crash."""
    ensure_venv_tools_on_path()
    sources = course_sources()
    students = max(students, 3)
    base = Path(keep).resolve() if keep else Path(tempfile.mkdtemp(prefix="vl-bench-"))
    if keep:
        shutil.rmtree(base, ignore_errors=True)
    workers = workers or default_workers()
    kinds: dict[str, int] = {}
    try:
        plain = ours = Course(root=base / "plain")
        for src in sources:
            plain = _build(base / "plain", src, students, with_mistakes=True)
            ours = _build(base / "ours", src, students, with_mistakes=True)
            planted = sum(plant(nbformat.read(src, 4), m) is not None for m in mistakes(src.parent.name))
            for kind in class_kinds(students, planted):
                key = "planted mistake" if kind.startswith("mistake") else kind
                kinds[key] = kinds.get(key, 0) + 1
        assignments = [src.parent.name for src in sources]
        env = dict(os.environ)
        start = time.perf_counter()
        for assignment in assignments:
            subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "autograde", assignment,
                            "--force"], cwd=plain.root, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        plain_seconds = time.perf_counter() - start
        ours_seconds = _grade_ours(ours, workers, env)
        diff: list[str] = []
        for assignment in assignments:
            a, b = _totals(plain, assignment), _totals(ours, assignment)
            diff += [f"{assignment}/{s}: nbgrader {a.get(s)} vs ours {b.get(s)}"
                     for s in sorted(set(a) | set(b)) if a.get(s) != b.get(s)]
        one = None
        if scaling and workers != 1:
            one = round(_grade_ours(ours, 1, env), 2)
            for assignment in assignments:
                if _totals(ours, assignment) != _totals(plain, assignment):
                    diff.append(f"{assignment}: one worker gave other totals")
        floor = sum(floor_seconds(src) for src in sources) * students
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    return BenchResult(assignment=f"the course ({len(sources)} assignments)",
                       students=students * len(sources), cores=default_workers(), workers=workers,
                       confined=detect().confined, plain_seconds=round(plain_seconds, 2),
                       ours_seconds=round(ours_seconds, 2),
                       speedup=round(plain_seconds / ours_seconds, 2), agree=not diff,
                       disagreements=tuple(diff),
                       kinds=tuple(f"{n} {k}" for k, n in kinds.items()),
                       floor_seconds=round(floor, 2), one_worker_seconds=one)


def floor_seconds(source: Path) -> float:
    """The notebook's own execution time: its code cells (solutions and hidden tests in)
    run by `exec` in a Python that already imported what the notebook imports, next to the
    assignment's files. No sandbox, no kernel, no grading: what no grader can beat.
    Raises CalledProcessError if that Python fails."""
    with tempfile.TemporaryDirectory(prefix="vl-floor-") as tmp:
        for path in source.parent.rglob("*"):
            if path.is_file() and path.suffix != ".ipynb" and ".ipynb_checkpoints" not in path.parts:
                target = Path(tmp) / path.relative_to(source.parent)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        env = dict(os.environ, MPLBACKEND="agg", HOME=tmp, MPLCONFIGDIR=str(Path(tmp) / "mpl"))
        proc = subprocess.run([sys.executable, "-m", "autograde.bench", str(source.resolve())],
                              cwd=tmp, env=env, check=True, capture_output=True, timeout=600)
    return float(json.loads(proc.stdout.decode().strip().splitlines()[-1])["seconds"])


def _floor_main(path: str) -> None:
    from .learner import _parse

    nb = nbformat.read(path, 4)
    codes = []
    imports = []
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        tree = _parse(cell.source)
        if tree is None:
            continue
        codes.append(compile(tree, f"<cell {i}>", "exec"))
        imports += [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
                    and not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        for line in imports:  # warm: what the notebook imports, imported before the clock starts
            with contextlib.suppress(Exception):
                exec(line, {"__name__": "__warm__"})
        ns: dict[str, object] = {"__name__": "__main__"}
        errors = 0
        start = time.perf_counter()
        for code in codes:
            try:
                exec(code, ns)
            except Exception:  # noqa: BLE001 - a failing cell still counts its time
                errors += 1
        seconds = time.perf_counter() - start
    print(json.dumps({"seconds": round(seconds, 6), "errors": errors}))


if __name__ == "__main__":
    _floor_main(sys.argv[1])
