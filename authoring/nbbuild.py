"""Build nbgrader source notebooks from percent-format specs, then execute them.

A notebook's source of truth is ``authoring/specs/<assignment>.py``; the
committed ``notebooks/<assignment>/<name>.ipynb`` is generated from it and
executed, so its stored outputs are the outputs of a fresh run (nbval then
checks that they stay so). Specs live outside ``notebooks/`` because nbgrader
releases every file in an assignment folder, and a spec holds the solutions.

Cell markers (one per line, starting a cell)::

    # %% [markdown]                       narrative (each line starts with "# " or is "#")
    # %%                                  plain code
    # %% locked id=setup                  read-only code (nbgrader locked)
    # %% solution id=issue-token          autograded answer (### BEGIN/END SOLUTION inside)
    # %% tests id=test-issue-token points=3   graded test cell (hidden tests inside)
    # %% [markdown] manual id=reflect-1 points=2   hand-graded written answer
    # %% [markdown] task id=task-1 points=2        hand-graded task description

Usage: ``python authoring/nbbuild.py [--no-execute] [ASSIGNMENT ...]`` (all when none).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "authoring" / "specs"
NOTEBOOKS = ROOT / "notebooks"
MARKER = re.compile(r"^# %%(?P<md> \[markdown\])?(?P<rest>.*)$")
CELL_TIMEOUT = 20


def notebook_path(assignment: str) -> Path:
    """notebooks/02-short-lived-tokens/short-lived-tokens.ipynb for 02-short-lived-tokens."""
    name = assignment.split("-", 1)[1] if assignment[:2].isdigit() else assignment
    return NOTEBOOKS / assignment / f"{name}.ipynb"


def _options(rest: str) -> dict[str, str]:
    opts: dict[str, str] = {}
    for word in rest.split():
        key, _, value = word.partition("=")
        opts[key] = value or "true"
    return opts


def _nbgrader_meta(kind: str, opts: dict[str, str], is_md: bool) -> dict[str, object] | None:
    grade_id = opts.get("id")
    if kind == "plain":
        return None
    if not grade_id:
        raise ValueError(f"a {kind} cell needs id=")
    meta: dict[str, object] = {"grade_id": grade_id, "schema_version": 3}
    if kind == "locked":
        meta.update(grade=False, solution=False, locked=True)
    elif kind == "solution":
        meta.update(grade=False, solution=True, locked=False)
    elif kind == "tests":
        meta.update(grade=True, solution=False, locked=True, points=int(opts["points"]))
    elif kind == "manual":
        meta.update(grade=True, solution=True, locked=False, points=int(opts["points"]))
    elif kind == "task":
        meta.update(grade=False, solution=False, locked=True, task=True, points=int(opts["points"]))
    return meta


def parse_spec(text: str) -> nbformat.NotebookNode:
    """Turn a percent-format spec into an (unexecuted) nbgrader source notebook."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    blocks: list[tuple[bool, dict[str, str], list[str]]] = []
    for line in text.splitlines():
        m = MARKER.match(line)
        if m:
            blocks.append((bool(m.group("md")), _options(m.group("rest")), []))
        elif blocks:
            blocks[-1][2].append(line)
    for n, (is_md, opts, lines) in enumerate(blocks, start=1):
        kind = next((k for k in ("locked", "solution", "tests", "manual", "task") if k in opts), "plain")
        if is_md:
            source = "\n".join(ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in lines)
            cell = nbformat.v4.new_markdown_cell(source.strip("\n"))
        else:
            cell = nbformat.v4.new_code_cell("\n".join(lines).strip("\n"))
        cell.id = opts.get("id", f"cell-{n:03d}")
        meta = _nbgrader_meta(kind, opts, is_md)
        cell.metadata = {"nbgrader": meta} if meta else {}
        if "tags" in opts:
            cell.metadata["tags"] = opts["tags"].split(",")
        nb.cells.append(cell)
    ids = [c.id for c in nb.cells]
    if len(ids) != len(set(ids)):
        raise ValueError("duplicate cell ids in spec")
    return nb


def build(assignment: str, *, execute: bool = True) -> Path:
    """Parse, execute in the assignment folder, and write the notebook. Raises on any cell error."""
    nb = parse_spec((SPECS / f"{assignment}.py").read_text())
    out = notebook_path(assignment)
    out.parent.mkdir(parents=True, exist_ok=True)
    if execute:
        client = NotebookClient(
            nb, timeout=CELL_TIMEOUT, kernel_name="python3", record_timing=False,
            resources={"metadata": {"path": str(out.parent)}}, allow_errors=False,
        )
        client.execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.validate(nb)
    out.write_text(nbformat.writes(nb) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--no-execute", action="store_true")
    args = parser.parse_args(argv)
    names = args.assignments or sorted(p.stem for p in SPECS.glob("*.py"))
    for name in names:
        print(f"built {build(name, execute=not args.no_execute).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
