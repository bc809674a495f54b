"""Bounded JSON: request arguments of a shape the kit can handle, checked without recursion.

Anything that walks a JSON value recursively (``json.dumps``, ``intent_digest``,
``copy.deepcopy``) dies with ``RecursionError`` on a value nested a few thousand
levels deep, and an attacker chooses the depth. So call arguments are checked
here first, by an explicit-stack walk whose own depth is constant: a structure
nested 100,000 levels is refused as cheaply as one nested 33.

Accepted: ``dict`` with ``str`` keys, ``list``/``tuple``, ``str``, ``int``,
finite ``float``, ``bool`` and ``None``. Anything else (bytes, sets, objects,
NaN, a lone surrogate that UTF-8 cannot carry) is refused, as is a value
deeper than :data:`MAX_DEPTH` or larger than :data:`MAX_BYTES` once encoded.
Refusals are :class:`~course.errors.InvalidRequestError` (code
``invalid_request``); their reasons name a limit or a type, never a value.
"""

from __future__ import annotations

import json as _json
import math
import re
from itertools import accumulate

from .errors import InvalidRequestError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "check", "loads"]

MAX_DEPTH = 32  # containers inside containers; real tool arguments use 3 or 4
MAX_BYTES = 1 << 20  # the world's services refuse bodies over 1 MiB too

_MAX_INT_BITS = 1024
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_DELTA = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def check(obj: object, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES) -> None:
    """Refuse ``obj`` unless it is plain JSON, at most ``max_depth`` deep and ``max_bytes`` big.

    The size is the length of the compact UTF-8 encoding, computed while
    walking (an upper bound for strings that need escapes is not needed: the
    walk stops as soon as the count passes the limit). The walk is iterative,
    so no input can exhaust the interpreter's stack.

    Raises:
        InvalidRequestError: a non-JSON type, a non-finite float, a non-str key,
            a string UTF-8 cannot encode, nesting deeper than ``max_depth``, or
            more than ``max_bytes``.
    """
    size = 0
    stack: list[tuple[object, int]] = [(obj, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            size += _str_size(value)
        elif value is None or isinstance(value, bool):
            size += 5
        elif isinstance(value, int):
            if value.bit_length() > _MAX_INT_BITS:  # str() of a huge int is slow, and capped
                raise InvalidRequestError(f"an integer is longer than {_MAX_INT_BITS} bits")
            size += len(str(value))
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidRequestError("a number is not finite (NaN and infinity are not JSON)")
            size += len(repr(value))
        elif isinstance(value, dict):
            if depth >= max_depth:
                raise InvalidRequestError(f"the arguments are nested deeper than {max_depth} levels")
            size += 2 + max(len(value) - 1, 0)
            for key, item in value.items():
                if not isinstance(key, str):
                    raise InvalidRequestError("an object key is not a string")
                size += _str_size(key) + 1
                stack.append((item, depth + 1))
        elif isinstance(value, (list, tuple)):
            if depth >= max_depth:
                raise InvalidRequestError(f"the arguments are nested deeper than {max_depth} levels")
            size += 2 + max(len(value) - 1, 0)
            stack.extend((item, depth + 1) for item in value)
        else:
            raise InvalidRequestError(f"a value of type {type(value).__name__} is not JSON")
        if size > max_bytes:
            raise InvalidRequestError(f"the arguments are larger than {max_bytes} bytes")


def loads(data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> object:
    """Parse ``data`` as JSON, refusing anything too big, too deep or not strictly JSON.

    The size is checked before parsing and the nesting depth by a linear scan
    of the raw bytes (outside strings), so the parser never sees input deep
    enough to recurse out of the stack. ``NaN``/``Infinity`` are refused.

    Raises:
        InvalidRequestError: not bytes, more than ``max_bytes``, deeper than
            ``max_depth``, not UTF-8, or not JSON.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise InvalidRequestError(f"a body of type {type(data).__name__} is not bytes")
    if len(data) > max_bytes:
        raise InvalidRequestError(f"the body is larger than {max_bytes} bytes")
    if _raw_depth(bytes(data)) > max_depth:
        raise InvalidRequestError(f"the body is nested deeper than {max_depth} levels")
    problem: str | None = None
    try:
        value = _json.loads(data, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        problem = "the body is not UTF-8"
    except (ValueError, RecursionError):  # RecursionError: belt and braces, the scan bounds depth
        problem = "the body is not JSON"
    if problem is not None:  # raised outside the handler: no parser context rides along
        raise InvalidRequestError(problem)
    check(value, max_depth=max_depth, max_bytes=max_bytes)
    return value


def _refuse_constant(name: str) -> object:
    raise ValueError("non-finite number")


def _str_size(text: str) -> int:
    try:
        return len(text.encode("utf-8")) + 2
    except UnicodeEncodeError:
        problem = "a string holds a lone surrogate (not encodable as UTF-8)"
    raise InvalidRequestError(problem)


def _raw_depth(data: bytes) -> int:
    """The deepest bracket nesting of raw JSON text, ignoring brackets inside strings.

    Strings are cut out first (the same grammar the parser uses: any byte but a
    quote or a backslash, or a backslash and the byte after it), then only the
    brackets are kept, mapped to +1/-1 and summed up in C.
    """
    brackets = _STRING.sub(b"", data).translate(_DELTA, _NOT_BRACKET)
    if not brackets:
        return 0
    return max(accumulate(memoryview(brackets).cast("b")))
