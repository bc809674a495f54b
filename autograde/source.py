"""The source notebook as the grader reads it (once per run), and what it declares.

`SourceModel` holds the source notebook, the cells nbgrader recorded in the gradebook (with
the release's checksums), the assignment's data files, the release and the configured region
delimiters. The helpers here answer questions about the source every stage asks: the names
an exercise declares, the names locked cells bind, the release's own code, a test cell's
visible part and the property it checks, and whether a learner attempted an exercise.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from . import hostile, regions
from .config import Course
from .gradebook import Gradebooks
from .regions import Delimiters


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceModel:
    """One source notebook as the grader needs it (read once per run)."""

    assignment: str
    notebook: str
    nb: Any
    cells: tuple[hostile.SourceCell, ...]
    files: tuple[Path, ...]
    digest: str
    delimiters: Delimiters
    released: Any = None


def _source_model(course: Course, assignment: str, nb_path: Path, books: Gradebooks) -> SourceModel:
    name = nb_path.stem
    raw = nb_path.read_bytes()
    nb = nbformat.reads(raw.decode(), as_version=4)
    with books.open() as gb:
        nbrec = gb.find_notebook(name, assignment)
        points = {c.name: float(c.max_score) for c in nbrec.grade_cells}
        solutions = {c.name for c in nbrec.solution_cells}
        cells = tuple(hostile.SourceCell(name=c.name, cell_type=c.cell_type, locked=bool(c.locked),
                                         checksum=c.checksum, points=points.get(c.name),
                                         solution=c.name in solutions, grade=c.name in points)
                      for c in nbrec.source_cells)
    # Learners receive the release, whose test cells lost their hidden tests: compare with it.
    released = course.release_dir / assignment / nb_path.name
    rel = None
    if released.exists():
        rel = nbformat.read(released, 4)
        sums = {c.metadata.get("nbgrader", {}).get("grade_id"): c.metadata.get("nbgrader", {})
                .get("checksum") for c in rel.cells}
        cells = tuple(dataclasses.replace(c, checksum=sums.get(c.name) or c.checksum) for c in cells)
    order = {cell.metadata.get("nbgrader", {}).get("grade_id"): i for i, cell in enumerate(nb.cells)}
    cells = tuple(sorted(cells, key=lambda c: order.get(c.name, 10**6)))
    files = tuple(sorted(p for p in nb_path.parent.rglob("*")
                         if p.is_file() and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in p.parts))
    return SourceModel(assignment=assignment, notebook=name, nb=nb, cells=cells, files=files,
                       digest=hashlib.sha256(raw).hexdigest(), delimiters=course.delimiters,
                       released=rel)


def ensure_released(course: Course, assignment: str) -> None:
    """The gradebook must know the assignment's source cells: generate it if it does not."""
    try:
        with Gradebook(course.db_url, course.course_id) as gb:
            known = {n.name for n in gb.find_assignment(assignment).notebooks}
    except MissingEntry:
        known = set()
    wanted = {p.stem for p in course.source_notebooks(assignment)}
    on_disk = {p.stem for p in (course.release_dir / assignment).glob("*.ipynb")}
    if not wanted <= known or not wanted <= on_disk:
        from .release import release

        release(course, [assignment])


def locked_names(source: SourceModel, *, every_setup_cell: bool = False) -> set[str]:
    """Names the source's locked code cells bind (nbgrader `locked`, neither answer nor
    test); with `every_setup_cell`, also names its unmarked cells bind (demos)."""
    from .learner import defined_names, reduce_cell

    out: set[str] = set()
    for cell in source.nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("solution") or meta.get("grade"):
            continue
        if every_setup_cell or meta.get("locked"):
            out.update(defined_names(reduce_cell(cell.source)))
    return out


def _release_code(source: SourceModel) -> set[str]:
    """The sources of the release's own unmarked code cells (its demos): a submission cell
    identical to one of them is the release's code, not the learner's."""
    ref = source.released if source.released is not None else source.nb
    return {c.source.strip() for c in ref.cells
            if c.cell_type == "code" and not c.metadata.get("nbgrader", {}).get("grade_id")}


def declared_names(source: SourceModel) -> dict[str, list[str]]:
    """Per answer cell, the names the exercise declares: what the release's stub defines at
    top level (the solution's, when the stub defines nothing), minus names a locked cell
    binds and builtins. Only these become proxies in the judge."""
    import builtins

    from .learner import _parse

    forbidden = locked_names(source, every_setup_cell=True) | set(dir(builtins))
    stubs = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
             for c in (source.released.cells if source.released is not None else [])}
    out: dict[str, list[str]] = {}
    for cell in source.nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("solution"):
            continue
        gid = meta.get("grade_id")
        names: list[str] = []
        for text in (stubs.get(gid, ""), cell.source):
            names = [n for n in _top_level_names(_parse(text)) if n not in forbidden]
            if names:
                break
        out[gid] = names
    return out


def _top_level_names(tree: Any) -> list[str]:
    import ast

    names: list[str] = []
    for node in (tree.body if tree is not None else []):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for tg in targets for t in ast.walk(tg) if isinstance(t, ast.Name)]
    return names


def visible_source(cell_source: str, delimiters: Delimiters) -> str:
    """A test cell without its hidden tests (what the learner's kernel may run)."""
    return regions.visible(cell_source, delimiters)


def _release_lines(source: SourceModel) -> set[str]:
    """Every line the release itself contains (its demo cells, its stubs): code the learner
    was given is not a finding."""
    ref = source.released if source.released is not None else source.nb
    return {line.strip() for c in ref.cells if c.cell_type == "code"
            for line in c.source.splitlines() if line.strip()}


def _test_cells(nb: Any) -> Iterator[tuple[str, Any]]:
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            yield meta.get("grade_id"), cell


def _property(source: SourceModel, gid: str) -> str:
    """What a test cell checks, in the instructor's words: its docstring's first line."""
    import ast

    cell = next((c for g, c in _test_cells(source.nb) if g == gid), None)
    try:
        visible = visible_source(cell.source, source.delimiters) if cell is not None else None
        doc = ast.get_docstring(ast.parse(visible)) if visible is not None else None
    except (SyntaxError, ValueError):
        doc = None
    return (doc or "").strip().splitlines()[0].rstrip(".") if doc and doc.strip() else gid


def _attempted(source: SourceModel, nb: Any | None) -> dict[str, bool]:
    """Per test cell: False when every answer cell whose declared names it uses is still the
    release's stub (the learner wrote nothing there)."""
    if nb is None or source.released is None:
        return {}
    stubs = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source.strip()
             for c in source.released.cells}
    mine = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source.strip() for c in nb.cells}
    declared = declared_names(source)
    out: dict[str, bool] = {}
    for gid, cell in _test_cells(source.nb):
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", cell.source))
        answers = [a for a, names in declared.items() if words & set(names)]
        if answers:
            out[gid] = any(mine.get(a, stubs.get(a)) != stubs.get(a) for a in answers)
    return out
