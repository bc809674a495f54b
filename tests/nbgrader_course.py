"""A throwaway nbgrader course in a temporary folder, driven with nbgrader's real CLI.

Used by the notebook tests: release an assignment, submit notebooks as
students, run ``nbgrader autograde`` for real, and read per-cell scores back
from the SQLite gradebook.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"

CONFIG = """\
c = get_config()
c.CourseDirectory.course_id = "vault-lab-test"
c.CourseDirectory.root = {root!r}
c.ExecutePreprocessor.timeout = 60
c.Execute.timeout = 60
c.ClearSolutions.code_stub = {{"python": "# your code here\\nraise NotImplementedError()"}}
"""


def assignments() -> list[str]:
    return sorted(p.name for p in NOTEBOOKS.iterdir() if p.is_dir() and list(p.glob("*.ipynb")))


def notebook_of(assignment: str) -> Path:
    (path,) = sorted((NOTEBOOKS / assignment).glob("*.ipynb"))
    return path


class Course:
    """One temporary nbgrader course holding a single assignment."""

    def __init__(self, root: Path, assignment: str) -> None:
        self.root, self.assignment = root, assignment
        self.nb_name = notebook_of(assignment).name
        shutil.copytree(NOTEBOOKS / assignment, root / "source" / assignment,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        (root / "nbgrader_config.py").write_text(CONFIG.format(root=str(root)))

    def nbgrader(self, *args: str) -> subprocess.CompletedProcess[str]:
        # nbgrader runs alembic (its gradebook migrations) by name: the venv's bin must be on PATH.
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=self.root, env=env,
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise AssertionError(f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def release(self) -> Path:
        self.nbgrader("generate_assignment", self.assignment, "--force")
        return self.root / "release" / self.assignment / self.nb_name

    def submit(self, student: str, nb: nbformat.NotebookNode) -> None:
        folder = self.root / "submitted" / student / self.assignment
        folder.mkdir(parents=True, exist_ok=True)
        for extra in (self.root / "release" / self.assignment).iterdir():
            if extra.name != self.nb_name:
                (shutil.copytree if extra.is_dir() else shutil.copy)(extra, folder / extra.name)
        nbformat.write(nb, folder / self.nb_name)
        (folder / "timestamp.txt").write_text("2026-11-30 00:00:00.000000 UTC")

    def autograde(self) -> None:
        try:
            self.nbgrader("autograde", self.assignment, "--force")
        except AssertionError as failed:
            # A kernel that dies before answering kernel_info never ran a line of the
            # submission: an infrastructure flake (two concurrent kernel launches can race
            # for a TCP port), not a grading outcome. nbgrader removed those submissions; one
            # more run without --force grades exactly them. Anything else still fails.
            if "Kernel died before replying to kernel_info" not in str(failed):
                raise
            self.nbgrader("autograde", self.assignment)

    def scores(self, student: str) -> dict[str, tuple[float, float]]:
        """grade_id -> (score, max_score) for every graded cell of ``student``'s notebook."""
        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}") as gb:
            sub = gb.find_submission_notebook(self.nb_name.removesuffix(".ipynb"), self.assignment,
                                              student)
            return {g.name: (float(g.score), float(g.max_score)) for g in sub.grades}


def source_notebook(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(notebook_of(assignment), as_version=4)


def mistakes(assignment: str) -> list[dict[str, object]]:
    path = REPO / "tests" / "data" / "mistakes" / f"{assignment}.json"
    return json.loads(path.read_text()) if path.exists() else []


def plant(nb: nbformat.NotebookNode, mistake: dict[str, object]) -> nbformat.NotebookNode:
    """A copy of ``nb`` with one solution cell edited as the mistake says (must apply exactly)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == mistake["cell"]:
            if mistake["find"] not in cell.source:
                raise AssertionError(f"mistake {mistake['name']!r}: text not found in {mistake['cell']}")
            cell.source = cell.source.replace(str(mistake["find"]), str(mistake["replace"]))
            return nb
    raise AssertionError(f"mistake {mistake['name']!r}: no cell {mistake['cell']!r}")
