"""What a human should look at: tampered structure and suspicious code, each with a reason.

Two kinds of finding. Structural ones compare a submission with the source cells nbgrader
recorded in the gradebook (deleted, duplicated, reordered, retyped cells, edited locked cells
or metadata). Static ones read the learner's own code (answer cells and cells they added)
for the tricks that fool an in-kernel check: patched builtins or assertions, AST transformers,
tracers, suppressed tracebacks, frame and gc walking, ctypes, reading files, the gradebook,
the network, killing the process, always-equal classes, delegating to the kit's reference.
Findings never change a score by themselves: the outside verdict does that. They put the
submission on the needs-a-human list with the reason.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from nbgrader import utils


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One reason, tied to a cell when there is one; `human` puts it on the review list."""

    kind: str
    detail: str
    cell: str = ""
    human: bool = True

    def text(self) -> str:
        where = f" [{self.cell}]" if self.cell else ""
        return f"{self.kind}{where}: {self.detail}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceCell:
    """What nbgrader recorded about a source cell (gradebook SourceCell + GradeCell)."""

    name: str
    cell_type: str
    locked: bool
    checksum: str | None
    points: float | None
    solution: bool
    grade: bool


def structure(cells: Sequence[Any], source: Sequence[SourceCell]) -> tuple[Finding, ...]:
    """Compare a submission's cells with the source: every structural change, with a reason."""
    found: list[Finding] = []
    by_name = {c.name: c for c in source}
    seen: list[str] = []
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if not gid:
            continue
        src = by_name.get(gid)
        if src is None:
            found.append(Finding(kind="unknown cell", detail="grade_id not in the source", cell=gid))
            continue
        if gid in seen:
            found.append(Finding(kind="duplicated cell", detail="appears more than once", cell=gid))
            continue
        seen.append(gid)
        if cell.get("cell_type") != src.cell_type:
            found.append(Finding(kind="retyped cell", cell=gid,
                                 detail=f"was {src.cell_type}, submitted as {cell.get('cell_type')}"))
        changed = [k for k, want in (("locked", src.locked), ("solution", src.solution),
                                     ("grade", src.grade)) if bool(meta.get(k, False)) != want]
        if src.grade and src.points is not None and \
                _float(meta.get("points")) != float(src.points):
            changed.append("points")
        if changed:
            found.append(Finding(kind="edited metadata", cell=gid,
                                 detail=f"changed {', '.join(changed)} (restored from source)"))
        if src.locked and src.checksum and cell.get("cell_type") == src.cell_type:
            try:
                same = utils.compute_checksum(cell) == src.checksum
            except Exception:  # noqa: BLE001 - unreadable metadata counts as edited
                same = False
            if not same:
                found.append(Finding(kind="edited locked cell", cell=gid,
                                     detail="source differs from the release (restored from source)"))
    order = [c.name for c in source if c.name in seen]
    if seen != order:
        found.append(Finding(kind="reordered cells", detail="graded cells are not in source order"))
    for src in source:
        if src.name not in seen and (src.grade or src.solution or src.locked):
            what = "test cell (restored from source)" if src.grade and not src.solution \
                else "answer cell" if src.solution else "locked cell"
            found.append(Finding(kind="deleted cell", cell=src.name, detail=what,
                                 human=src.grade or src.locked))
    return tuple(found)


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# (kind, regex over the learner's code, reason). Regexes, so even unparseable code is read.
PATTERNS: tuple[tuple[str, str, str], ...] = (
    ("patched builtins", r"\bbuiltins\b|__builtins__", "touches builtins"),
    ("patched assertions", r"\bAssertionError\s*=|\bsetattr\s*\(\s*AssertionError",
     "rebinds AssertionError"),
    ("AST transformer", r"NodeTransformer|ast_transformers|input_transformers|"
     r"\bsys\.meta_path|\bsys\.path_hooks|\bcompile\s*\(", "rewrites code before it runs"),
    ("tracer", r"\bsettrace\b|\bsetprofile\b|\bsys\.monitoring\b", "installs a tracer"),
    ("suppressed tracebacks", r"showtraceback|set_custom_exc|excepthook|"
     r"InteractiveShell|get_ipython\s*\(", "changes how errors are reported"),
    ("frame or gc walking", r"\bgc\.|\bimport gc\b|_getframe|\binspect\.|f_back|f_globals|"
     r"f_locals|__subclasses__|__globals__", "reaches other code's objects"),
    ("ctypes", r"\bctypes\b|\bcffi\b", "uses ctypes"),
    ("reading files", r"\bopen\s*\(|\bpathlib\b|\bPath\s*\(|\bos\.(listdir|scandir|walk|open)|"
     r"\bglob\b|\bshutil\b", "reads or writes files"),
    ("gradebook", r"gradebook|sqlite3|sqlalchemy", "touches the gradebook"),
    ("network", r"\bsocket\b|\burllib(?!\.parse\b)(?!\s+import\s+parse\b)\b|\bhttp\.client\b|"
     r"\brequests\b|\bhttpx\b|\baiohttp\b",
     "opens network connections"),
    ("process control", r"\bos\._exit\b|\bos\.kill\b|\bsignal\b|\bsubprocess\b|\bos\.system\b|"
     r"\bos\.fork\b|\bsys\.exit\b|\bexec\s*\(|\beval\s*\(", "controls processes or runs code"),
    ("always-equal object", r"def\s+__(eq|ne|hash|bool)__", "defines its own comparison"),
)


def _delegations(tree: ast.Module) -> list[str]:
    """Functions whose body calls a kit attribute of the same name (the reference itself)."""
    kit_aliases = {a.asname or a.name.split(".")[0] for n in ast.walk(tree)
                   if isinstance(n, ast.Import) for a in n.names if a.name.startswith("course")}
    kit_names = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                 and (n.module or "").startswith("course") for a in n.names}
    kit_aliases |= {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                    and (n.module or "") == "course" for a in n.names}
    hits = []
    for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        for default in [*fn.args.defaults, *(d for d in fn.args.kw_defaults if d is not None)]:
            # the reference captured as a default argument (`def mask(s, _m=redact.mask)`)
            root = default
            while isinstance(root, ast.Attribute):
                root = root.value
            leaf = default.attr if isinstance(default, ast.Attribute) else \
                default.id if isinstance(default, ast.Name) else ""
            if leaf.lower() == fn.name.lower() and isinstance(root, ast.Name) and \
                    (root.id in kit_aliases or root.id in kit_names):
                hits.append(fn.name)
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr == fn.name:
                root = f.value
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id in kit_aliases:
                    hits.append(fn.name)
            elif isinstance(f, ast.Name) and f.id in kit_names and f.id.lower() == fn.name.lower():
                hits.append(fn.name)
    return hits


def _rebindings(tree: ast.Module, locked: set[str]) -> list[tuple[str, str]]:
    """(kind, name) for top-level statements that rebind a locked cell's name or shadow a
    builtin (the learner's process restores them; a human should know)."""
    import builtins

    builtin_names = {n for n in dir(builtins) if not n.startswith("_")}
    hits: list[tuple[str, str]] = []
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for tg in targets for t in ast.walk(tg) if isinstance(t, ast.Name)]
        for name in names:
            if name in locked:
                hits.append(("rebinds a locked name", name))
            elif name in builtin_names:
                hits.append(("shadows a builtin", name))
    return hits


def code_findings(cells: Iterable[tuple[str, str]], *, given: set[str] | None = None,
                  locked: set[str] | None = None) -> tuple[Finding, ...]:
    """Static findings over (cell id, learner source) pairs. A match on a line the release
    itself contains (`given`: its demo cells, its stubs) is not a finding; `locked` names
    (bound by locked cells) rebound at the top level of an answer cell are."""
    found: list[Finding] = []
    given = given or set()
    for cell_id, source in cells:
        lines = "\n".join(line for line in source.splitlines() if line.strip() not in given)
        for kind, pattern, reason in PATTERNS:
            match = re.search(pattern, lines)
            if match:
                found.append(Finding(kind=kind, cell=cell_id,
                                     detail=f"{reason} ({match.group(0).strip()[:40]!r})"))
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for name in _delegations(tree):
            found.append(Finding(kind="delegates to the kit", cell=cell_id,
                                 detail=f"{name}() calls the kit's reference of the same name"))
        for kind, name in _rebindings(tree, locked or set()):
            what = "restored to the locked value" if kind.startswith("rebinds") else "removed"
            found.append(Finding(kind=kind, cell=cell_id, detail=f"{name} ({what} when graded)"))
    return tuple(found)
