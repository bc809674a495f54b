"""Plain data across the process boundary between the judge and the learner's code.

Only exact built-in types cross (a subclass of `str` or an object with its own `__eq__` does
not), plus dataclasses, enums and exceptions that belong to the lab kit (`course.*`), which
the receiving side rebuilds with the kit's own classes. Anything else is refused with a reason,
so an always-equal object can never reach the judge's `==`.
"""
from __future__ import annotations

import base64
import dataclasses
import enum
import importlib
import json
from typing import Any

KIT_PREFIX = "course."
TRUSTED_MODULES = ("builtins",)
MAX_DEPTH = 32


class NotPlainData(Exception):
    """A value could not be marshalled. `learner_made` says whether the learner's own code
    made the offending type (a cheat or a mistake) rather than the kit (undecidable)."""

    def __init__(self, reason: str, *, learner_made: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.learner_made = learner_made


def _qualname(tp: type) -> str:
    return f"{tp.__module__}:{tp.__qualname__}"


def _is_kit(tp: type) -> bool:
    module = getattr(tp, "__module__", "")
    return isinstance(module, str) and (module.startswith(KIT_PREFIX) or module == "course") \
        and _genuine(tp)


_SCALARS = (type(None), bool, int, float, str)


def originals_of(value: Any, encoded: Any, out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Map the encoded form of every kit object inside `value` to the object itself."""
    out = {} if out is None else out
    if isinstance(encoded, dict) and ("__dc__" in encoded or "__enum__" in encoded):
        out.setdefault(json.dumps(encoded, sort_keys=True), value)
        if "__dc__" in encoded:
            for name, sub in encoded["fields"].items():
                originals_of(getattr(value, name, None), sub, out)
    elif isinstance(encoded, list) and isinstance(value, list):
        for v, e in zip(value, encoded, strict=False):
            originals_of(v, e, out)
    elif isinstance(encoded, dict) and "__tuple__" in encoded and isinstance(value, tuple):
        for v, e in zip(value, encoded["__tuple__"], strict=False):
            originals_of(v, e, out)
    elif isinstance(encoded, dict) and "__dict__" in encoded and isinstance(value, dict):
        for v, (_, e) in zip(value.values(), encoded["__dict__"], strict=False):
            originals_of(v, e, out)
    return out


def encode(value: Any, depth: int = 0) -> Any:
    """JSON-ready form of `value`. Raises NotPlainData for anything not plain or kit-owned."""
    if depth > MAX_DEPTH:
        raise NotPlainData("value nested too deeply", learner_made=True)
    tp = type(value)
    if tp in _SCALARS:
        if tp is float and value != value:
            return {"__float__": "nan"}
        if tp is float and value in (float("inf"), float("-inf")):
            return {"__float__": "inf" if value > 0 else "-inf"}
        return value
    if tp is bytes:
        return {"__bytes__": base64.b64encode(value).decode()}
    if tp is list:
        return [encode(v, depth + 1) for v in value]
    if tp is tuple:
        return {"__tuple__": [encode(v, depth + 1) for v in value]}
    if tp in (set, frozenset):
        items = sorted((encode(v, depth + 1) for v in value), key=repr)
        return {"__set__": items, "frozen": tp is frozenset}
    if tp is dict:
        return {"__dict__": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if _is_kit(tp) and isinstance(value, enum.Enum):
        return {"__enum__": _qualname(tp), "name": value.name}
    if _is_kit(tp) and dataclasses.is_dataclass(value):
        fields = {f.name: encode(getattr(value, f.name), depth + 1)
                  for f in dataclasses.fields(value) if f.init}
        return {"__dc__": _qualname(tp), "fields": fields}
    genuine = _genuine(tp)
    for base in (bool, int, float, str, bytes, list, tuple, dict, set, frozenset):
        if isinstance(value, base):
            raise NotPlainData(f"a subclass of {base.__name__} ({tp.__qualname__}) is not plain data",
                               learner_made=not genuine)
    raise NotPlainData(f"an object of type {tp.__qualname__} is not plain data",
                       learner_made=not genuine)


def _genuine(tp: type) -> bool:
    """True when `tp` is what its module really exports (not defined in or faked by the notebook)."""
    module = getattr(tp, "__module__", "")
    if module in ("__main__", "builtins") or not isinstance(module, str):
        return False
    try:
        obj: Any = importlib.import_module(module)
        for part in tp.__qualname__.split("."):
            obj = getattr(obj, part)
    except Exception:  # noqa: BLE001 - anything unresolvable is not genuine
        return False
    return obj is tp


def _resolve(qualname: str) -> type:
    """The class named `module:qualname`, only if it really is defined there (no attribute
    walk to another module's class: `course.x:subprocess.Popen` must not resolve)."""
    module, _, name = qualname.partition(":")
    if not (module.startswith(KIT_PREFIX) or module == "course" or module in TRUSTED_MODULES):
        raise NotPlainData(f"type {qualname} is not the kit's", learner_made=True)
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, type) or obj.__module__ != module or obj.__qualname__ != name:
        raise NotPlainData(f"{qualname} is not a class defined there", learner_made=True)
    return obj


def decode(data: Any, originals: dict[str, Any] | None = None) -> Any:
    """Rebuild a value with this process's own types. Raises NotPlainData on a foreign tag.

    `originals` maps the encoded form of objects this process sent to the objects
    themselves: an argument handed back (a decision carrying its request) is the very same
    object again, so identity checks hold across the boundary.
    """
    if originals and isinstance(data, dict) and ("__dc__" in data or "__enum__" in data):
        key = json.dumps(data, sort_keys=True)
        if key in originals:
            return originals[key]
    if isinstance(data, list):
        return [decode(v, originals) for v in data]
    if not isinstance(data, dict):
        return data
    if "__float__" in data:
        return float(data["__float__"])
    if "__bytes__" in data:
        return base64.b64decode(data["__bytes__"])
    if "__tuple__" in data:
        return tuple(decode(v, originals) for v in data["__tuple__"])
    if "__set__" in data:
        items = [decode(v, originals) for v in data["__set__"]]
        return frozenset(items) if data.get("frozen") else set(items)
    if "__dict__" in data:
        return {decode(k, originals): decode(v, originals) for k, v in data["__dict__"]}
    if "__enum__" in data:
        cls = _resolve(str(data["__enum__"]))
        if not issubclass(cls, enum.Enum) or cls.__module__ in TRUSTED_MODULES:
            raise NotPlainData("not a kit enum", learner_made=True)
        return cls[str(data["name"])]
    if "__dc__" in data:
        cls = _resolve(str(data["__dc__"]))
        if not dataclasses.is_dataclass(cls) or cls.__module__ in TRUSTED_MODULES:
            raise NotPlainData("not a kit dataclass", learner_made=True)
        try:
            return cls(**{k: decode(v, originals) for k, v in data["fields"].items()})
        except Exception as exc:  # noqa: BLE001 - a kit value that refuses rebuilding
            raise NotPlainData(f"could not rebuild {cls.__qualname__}: {type(exc).__name__}",
                               learner_made=False) from None
    raise NotPlainData("unknown tag in marshalled data", learner_made=True)


def encode_exception(exc: BaseException) -> dict[str, Any]:
    """An exception as the nearest kit or built-in class in its MRO, with its message and
    whichever of its public attributes are plain data (a kit error's `code`, `claim`...)."""
    klass = next((k for k in type(exc).__mro__ if _is_kit(k) or k.__module__ == "builtins"),
                 Exception)
    attrs: dict[str, Any] = {}
    for name, value in list(getattr(exc, "__dict__", {}).items())[:32]:
        if isinstance(name, str) and not name.startswith("_"):
            try:
                attrs[name] = encode(value)
            except (NotPlainData, RecursionError):
                continue
    return {"type": _qualname(klass), "message": str(exc)[:500], "attrs": attrs,
            "raised": f"{type(exc).__module__}:{type(exc).__qualname__}"}


def decode_exception(data: dict[str, Any]) -> BaseException:
    """Rebuild an exception the judge's own `except` clauses and attribute checks recognise.
    Its __init__ is not re-run (kit errors take different arguments); message and
    attributes are restored as they were raised."""
    try:
        cls = _resolve(str(data.get("type", "")))
    except (NotPlainData, ImportError, AttributeError, ValueError):
        cls = Exception
    if not issubclass(cls, BaseException) or issubclass(cls, (SystemExit, KeyboardInterrupt,
                                                               GeneratorExit)):
        cls = Exception
    message = str(data.get("message", ""))
    try:
        exc = cls.__new__(cls)
        BaseException.__init__(exc, message)
    except Exception:  # noqa: BLE001 - an exotic built-in that refuses __new__
        return Exception(message)
    attrs = data.get("attrs") if isinstance(data.get("attrs"), dict) else {}
    for name, value in attrs.items():
        if isinstance(name, str) and not name.startswith("_"):
            try:
                setattr(exc, name, decode(value))
            except Exception:  # noqa: BLE001 - a read-only attribute stays as the class has it
                continue
    return exc
