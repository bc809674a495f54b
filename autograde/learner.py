"""The learner's definitions, alone in a confined process, answering calls with plain data.

The instructor's setup cells run reduced to imports, `def`s, `class`es and assignments; each
answer cell then runs whole (re-imports, computed constants, top-level statements), under a
per-cell alarm, confined, with its prints going to /dev/null. It never sees a test cell. After
each answer cell, a name a setup cell bound (a locked constant such as `MAX_TTL`) that the
cell rebound is restored, and a builtin it shadowed (`def list`) is removed, so the learner's
functions run against the instructor's values. Every answer crosses back through
`autograde.marshal`, so what the judge compares is rebuilt from plain data with the judge's
own types. A call that reaches the kit's own function of the exercise's name (the reference,
however it was captured: alias, default argument, getattr) is refused: the tripwire.

Protocol (JSON lines on the original stdin/stdout; the learner's prints go to /dev/null):
  <- {"program": [{"cell": id, "kind": "setup"|"answer", "source": str}], "declared": [name],
      "locked": [name] (restored after each answer cell; default: every setup name),
      "skip": [cell id], "cell_seconds": s, "memory": n, "files": n}
  -> {"loading": id} before each answer cell runs (the judge skips a cell that kills or hangs
     this process, and starts again)
  -> {"ready": {"cells": {id: {name: {"callable": true} | {"value": data} | {"refused": ...}}},
                "load_errors": [str], "restored": [str]}}
  <- {"call": name, "args": [...], "kwargs": {...}}
  -> {"ok": data} | {"raise": {...}} | {"refused": reason, "learner_made": bool, "tripwire": bool}
"""
from __future__ import annotations

import ast
import builtins
import importlib.util
import json
import os
import signal
import sys
import types
from typing import Any

DEF_NODES = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
SETUP_NODES = DEF_NODES + (ast.Assign, ast.AnnAssign)


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


def reduce_cell(source: str, kind: str = "setup") -> list[ast.stmt]:
    """The statements of a setup cell that run here: imports, definitions, assignments."""
    tree = _parse(source)
    if tree is None:
        return []
    return [n for n in tree.body if isinstance(n, SETUP_NODES)]


def defined_names(nodes: list[ast.stmt]) -> list[str]:
    names: list[str] = []
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names += [t.id for t in ast.walk(target) if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return names


def _is_submodule(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError, AttributeError):
        return False


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
    """Bind a setup cell's plain `import`, or a `from package import submodule`, lazily;
    False for anything else (a class or function imported by name is imported now)."""
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
            all(a.name != "*" and _is_submodule(f"{node.module}.{a.name}") for a in node.names):
        for alias in node.names:
            ns[alias.asname or alias.name] = _LazyModule(f"{node.module}.{alias.name}", top=False)
        return True
    if not isinstance(node, ast.Import):
        return False
    for alias in node.names:
        if alias.asname:
            ns[alias.asname] = _LazyModule(alias.name, top=False)
        else:
            ns[alias.name.split(".")[0]] = _LazyModule(alias.name, top=True)
    return True


class CellTimeout(BaseException):
    """An answer cell outlived its alarm while loading."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise CellTimeout("cell time budget exhausted")


def _kit_dir() -> str:
    spec = importlib.util.find_spec("course")
    locations = list(spec.submodule_search_locations or ()) if spec else []
    return os.path.realpath(locations[0]) + os.sep if locations else "\0"


def _same_module(old: Any, new: Any) -> bool:
    """A re-import of what a setup cell imported is not a rebinding."""
    if not isinstance(new, types.ModuleType):
        return False
    if isinstance(old, _LazyModule):
        return new.__name__ in (old._name, old._name.split(".")[0])
    return isinstance(old, types.ModuleType) and old.__name__ == new.__name__


def _compile_cell(source: str, cid: str) -> Any:
    tree = _parse(source)
    if tree is None:
        return None
    return compile(tree, f"<{cid}>", "exec")


def _report(ns: dict[str, Any], names: list[str]) -> dict[str, Any]:
    from .marshal import NotPlainData, encode

    report: dict[str, Any] = {}
    for name in names:
        value = ns[name]
        if callable(value):
            report[name] = {"callable": True}
            continue
        try:
            report[name] = {"value": encode(value)}
        except NotPlainData as exc:
            report[name] = {"refused": exc.reason, "learner_made": exc.learner_made}
        except RecursionError:
            report[name] = {"refused": "value nested too deeply", "learner_made": True}
    return report


def _load(job: dict[str, Any], ns: dict[str, Any],
          announce: Any = None) -> tuple[dict[str, Any], list[str], list[str]]:
    """Run the program: setup reduced, answer cells whole. Returns (reports per answer cell
    for the declared names it bound, load errors, names restored or removed)."""
    program = job["program"]
    declared = set(job.get("declared") or ())
    skip = set(job.get("skip") or ())
    protect = set(job["locked"]) if isinstance(job.get("locked"), list) else None
    seconds = float(job.get("cell_seconds") or 60.0)
    cells: dict[str, Any] = {}
    errors: list[str] = []
    restored: list[str] = []
    locked: dict[str, Any] = {}
    builtin_names = {n for n in dir(builtins) if not n.startswith("_")}
    pristine = dict(vars(builtins))
    signal.signal(signal.SIGALRM, _on_alarm)
    for cell in program:
        cid = cell["cell"]
        if cell["kind"] != "answer":
            for node in reduce_cell(cell["source"], cell["kind"]):
                if not _lazy_import(node, ns):
                    try:
                        exec(compile(ast.Module(body=[node], type_ignores=[]), f"<{cid}>", "exec"), ns)
                    except BaseException as exc:  # noqa: BLE001 - a broken definition defines nothing
                        errors.append(f"{cid}: {type(exc).__name__}")
                for name in defined_names([node]):
                    if name in ns and (protect is None or name in protect):
                        locked[name] = ns[name]
            continue
        if cid in skip:
            errors.append(f"{cid}: stopped the learner's process while loading (skipped)")
            cells[cid] = {}
            continue
        if announce is not None:
            announce(cid)
        before = {name: ns.get(name, _MISSING) for name in declared}
        user_before = set(ns)
        code = _compile_cell(cell["source"], cid)
        if code is None:
            errors.append(f"{cid}: SyntaxError")
        else:
            signal.setitimer(signal.ITIMER_REAL, seconds)
            try:
                exec(code, ns)
            except BaseException as exc:  # noqa: BLE001 - the cell stops; what it defined stays
                errors.append(f"{cid}: {type(exc).__name__}")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        for name, value in locked.items():
            now = ns.get(name, _MISSING)
            if now is value:
                continue
            if _same_module(value, now):
                locked[name] = now
                continue
            ns[name] = value
            restored.append(f"{cid}: rebinds the locked name {name} (restored)")
        table = vars(builtins)
        for name in [n for n in table if n not in pristine]:
            del table[name]
            restored.append(f"{cid}: adds the builtin {name} (removed)")
        for name, value in pristine.items():
            if table.get(name, _MISSING) is not value:
                table[name] = value
                restored.append(f"{cid}: patches the builtin {name} (restored)")
        for name in set(ns) - user_before:
            if name in builtin_names and name not in declared and name not in locked:
                del ns[name]
                restored.append(f"{cid}: shadows the builtin {name} (removed)")
        bound = [n for n in sorted(declared) if n in ns and ns[n] is not before[n]]
        cells[cid] = _report(ns, bound)
    return cells, errors, restored


_MISSING = object()


class _Tripwire:
    """Notices a call into the kit's own function of the exercise's name (the reference), or
    into anything a check wired with the kit's `grading.tripwire` (`codes`: code object ->
    the wired name)."""

    def __init__(self, kit_dir: str, names: set[str], codes: dict[Any, str] | None = None) -> None:
        self.kit_dir, self.names, self.codes = kit_dir, names, codes or {}
        self.hit: str | None = None
        self.wired: str | None = None

    def __call__(self, frame: Any, event: str, arg: Any) -> None:
        if event != "call" or self.hit is not None:
            return
        code = frame.f_code
        if code in self.codes:
            self.hit = self.wired = self.codes[code]
        elif code.co_name in self.names and \
                os.path.realpath(code.co_filename).startswith(self.kit_dir):
            self.hit = code.co_name


def _codes_of(obj: Any, depth: int = 0) -> list[Any]:
    """The code objects behind a kit function, method or class (its own methods)."""
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        return [c for f in (obj.fget, obj.fset, obj.fdel) if f is not None for c in _codes_of(f)]
    code = getattr(obj, "__code__", None)
    if isinstance(code, types.CodeType):
        return [code]
    if isinstance(obj, type) and depth == 0:
        return [c for value in vars(obj).values() for c in _codes_of(value, 1)]
    return []


def _wired_codes(wires: Any) -> dict[Any, str]:
    """Resolve the judge's wires ([owner, name], owner a kit module or `module:Class`)."""
    import importlib
    import inspect

    codes: dict[Any, str] = {}
    for wire in wires if isinstance(wires, list) else []:
        try:
            owner_path, name = str(wire[0]), str(wire[1])
            module, _, qual = owner_path.partition(":")
            if not (module == "course" or module.startswith("course.")):
                continue
            owner: Any = importlib.import_module(module)
            for part in qual.split(".") if qual else ():
                owner = getattr(owner, part)
            for code in _codes_of(inspect.getattr_static(owner, name)):
                codes[code] = name
        except Exception:  # noqa: BLE001 - an unresolvable wire wires nothing
            continue
    return codes


def _answer(ns: dict[str, Any], request: dict[str, Any], kit_dir: str = "\0") -> dict[str, Any]:
    from .marshal import NotPlainData, decode, encode, encode_exception

    try:
        args = decode(request.get("args", []))
        kwargs = decode(request.get("kwargs", {"__dict__": []}))
        fn = ns[request["call"]]
    except NotPlainData as exc:
        return {"refused": exc.reason, "learner_made": False}
    except Exception as exc:  # noqa: BLE001
        return {"raise": encode_exception(exc)}
    wire = _Tripwire(kit_dir, {str(request["call"])}, _wired_codes(request.get("wires")))
    sys.setprofile(wire)
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - the learner's exception is the answer
        sys.setprofile(None)
        if wire.hit:
            return _tripped(wire)
        return {"raise": encode_exception(exc)}
    sys.setprofile(None)
    if wire.hit:
        return _tripped(wire)
    try:
        return {"ok": encode(result)}
    except NotPlainData as exc:
        return {"refused": exc.reason, "learner_made": exc.learner_made}
    except BaseException as exc:  # noqa: BLE001 - e.g. a __getattr__ that raises
        return {"refused": f"result could not be read: {type(exc).__name__}", "learner_made": True}


def _tripped(wire: _Tripwire) -> dict[str, Any]:
    """A wired reference raises the kit's own DelegatedToReference (as it would in the kernel);
    the same-name reference is a refusal."""
    from .marshal import encode_exception

    if wire.wired is not None:
        try:
            from course.grading import DelegatedToReference

            exc: BaseException = DelegatedToReference(
                "does its own work", f"it calls the kit's reference {wire.wired!r}; write the logic yourself")
            return {"raise": encode_exception(exc), "tripwire": True}
        except Exception:  # noqa: BLE001 - a kit without the helper: refuse instead
            pass
    return {"refused": f"it called the kit's own {wire.hit}() (the reference), not an answer",
            "learner_made": True, "tripwire": True}


def main() -> None:
    from .sandbox import start_child

    proto_in, proto_out, job = start_child()
    sys.setrecursionlimit(5000)
    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}

    def send(obj: Any) -> None:
        proto_out.write(json.dumps(obj) + "\n")
        proto_out.flush()

    cells, errors, restored = _load(job, ns, announce=lambda cid: send({"loading": cid}))
    send({"ready": {"cells": cells, "load_errors": errors, "restored": restored}})
    kit_dir = _kit_dir()
    for line in proto_in:
        reply = _answer(ns, json.loads(line), kit_dir)
        try:
            text = json.dumps(reply)
        except (TypeError, ValueError, RecursionError):
            text = json.dumps({"refused": "answer is not JSON", "learner_made": True})
        proto_out.write(text + "\n")
        proto_out.flush()


if __name__ == "__main__":
    main()
