"""The learner's definitions, alone in a confined process, answering calls with plain data.

Loaded from the submission's answer cells reduced to imports, `def`s, `class`es and literal
assignments (no top-level statements run: nothing a learner writes at top level can patch
anything before a check), after the instructor's setup cells (imports, defs, assignments).
It never sees a test cell. Every answer crosses back through `autograde.marshal`, so what the
judge compares is rebuilt from plain data with the judge's own types.

Protocol (JSON lines on the original stdin/stdout; the learner's prints go to /dev/null):
  <- {"program": [{"cell": id, "kind": "setup"|"answer", "source": str}], "memory": n, "files": n}
  -> {"ready": {"cells": {id: {name: {"callable": true} | {"value": data} | {"refused": ...}}},
                "load_errors": [str]}}
  <- {"call": name, "args": [...], "kwargs": {...}}
  -> {"ok": data} | {"raise": {...}} | {"refused": reason, "learner_made": bool}
"""
from __future__ import annotations

import ast
import json
import sys
from typing import Any

ANSWER_NODES = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
SETUP_NODES = ANSWER_NODES + (ast.Assign, ast.AnnAssign)


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        pass
    try:  # IPython syntax (magics, !shell): translate, then parse
        from IPython.core.inputtransformer2 import TransformerManager

        return ast.parse(TransformerManager().transform_cell(source))
    except Exception:  # noqa: BLE001 - unparseable code defines nothing
        return None


def _is_literal_assign(node: ast.stmt) -> bool:
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
        return False
    try:
        ast.literal_eval(node.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def reduce_cell(source: str, kind: str) -> list[ast.stmt]:
    """The statements of a cell that may run here: definitions only for answer cells."""
    tree = _parse(source)
    if tree is None:
        return []
    keep = SETUP_NODES if kind == "setup" else ANSWER_NODES
    return [n for n in tree.body if isinstance(n, keep) or (kind == "answer" and _is_literal_assign(n))]


def defined_names(nodes: list[ast.stmt]) -> list[str]:
    names: list[str] = []
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return names


class _LazyModule:
    """`import a.b as c` from a setup cell, imported on first use: most setup imports (a
    plotting library) are for demos the learner's functions never touch."""

    def __init__(self, name: str, top: bool) -> None:
        self._name, self._top = name, top

    def _load(self) -> Any:
        import importlib

        module = importlib.import_module(self._name)
        return importlib.import_module(self._name.split(".")[0]) if self._top else module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)


def _lazy_import(node: ast.stmt, ns: dict[str, Any]) -> bool:
    """Bind a setup cell's plain `import` lazily; False for anything else."""
    if not isinstance(node, ast.Import):
        return False
    for alias in node.names:
        if alias.asname:
            ns[alias.asname] = _LazyModule(alias.name, top=False)
        else:
            ns[alias.name.split(".")[0]] = _LazyModule(alias.name, top=True)
    return True


def _load(program: list[dict[str, Any]], ns: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    from .marshal import NotPlainData, encode

    cells: dict[str, Any] = {}
    errors: list[str] = []
    for cell in program:
        nodes = reduce_cell(cell["source"], cell["kind"])
        for node in nodes:
            if cell["kind"] == "setup" and _lazy_import(node, ns):
                continue
            try:
                exec(compile(ast.Module(body=[node], type_ignores=[]), f"<{cell['cell']}>", "exec"), ns)
            except BaseException as exc:  # noqa: BLE001 - a broken definition defines nothing
                errors.append(f"{cell['cell']}: {type(exc).__name__}: {str(exc)[:200]}")
        if cell["kind"] != "answer":
            continue
        report: dict[str, Any] = {}
        for name in defined_names(nodes):
            if name not in ns:
                continue
            value = ns[name]
            if callable(value):
                report[name] = {"callable": True}
                continue
            try:
                report[name] = {"value": encode(value)}
            except NotPlainData as exc:
                report[name] = {"refused": exc.reason, "learner_made": exc.learner_made}
        cells[cell["cell"]] = report
    return cells, errors


def _answer(ns: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    from .marshal import NotPlainData, decode, encode, encode_exception

    try:
        args = decode(request.get("args", []))
        kwargs = decode(request.get("kwargs", {"__dict__": []}))
        fn = ns[request["call"]]
    except NotPlainData as exc:
        return {"refused": exc.reason, "learner_made": False}
    except Exception as exc:  # noqa: BLE001
        return {"raise": encode_exception(exc)}
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - the learner's exception is the answer
        return {"raise": encode_exception(exc)}
    try:
        return {"ok": encode(result)}
    except NotPlainData as exc:
        return {"refused": exc.reason, "learner_made": exc.learner_made}
    except BaseException as exc:  # noqa: BLE001 - e.g. a __getattr__ that raises
        return {"refused": f"result could not be read: {type(exc).__name__}", "learner_made": True}


def main() -> None:
    from .sandbox import start_child

    proto_in, proto_out, job = start_child()
    sys.setrecursionlimit(5000)
    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    cells, errors = _load(job["program"], ns)
    proto_out.write(json.dumps({"ready": {"cells": cells, "load_errors": errors}}) + "\n")
    proto_out.flush()
    for line in proto_in:
        reply = _answer(ns, json.loads(line))
        try:
            text = json.dumps(reply)
        except (TypeError, ValueError, RecursionError):
            text = json.dumps({"refused": "answer is not JSON", "learner_made": True})
        proto_out.write(text + "\n")
        proto_out.flush()


if __name__ == "__main__":
    main()
