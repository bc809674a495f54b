"""Bounded JSON: plain JSON of a bounded depth and size is accepted; everything else is a typed refusal.

The walk is iterative, so a structure far deeper than the interpreter's recursion limit is refused
with InvalidRequestError, never RecursionError.
"""

from __future__ import annotations

import json
import math
import sys

import pytest

from course import boundedjson
from course.errors import AccessDenied, InvalidRequestError


def _nested(depth: int, leaf: object = 1) -> object:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


@pytest.mark.parametrize("value", [
    None, True, 0, -7, 1.5, "x", "", [], {}, {"a": [1, "b", None, {"c": 2.0}]}, ("t", 1),
    {"title": "Ticket", "body": "ünïcödé ✓"}, _nested(boundedjson.MAX_DEPTH),
])
def test_plain_json_within_the_limits_is_accepted(value: object) -> None:
    boundedjson.check(value)


@pytest.mark.parametrize("depth", [boundedjson.MAX_DEPTH + 1, 5_000, 100_000])
def test_too_deep_is_refused_without_recursion(depth: int) -> None:
    deep = _nested(depth)
    assert depth < 1_000 or depth > sys.getrecursionlimit()
    with pytest.raises(InvalidRequestError) as refused:
        boundedjson.check(deep)
    assert refused.value.code == "invalid_request" and isinstance(refused.value, AccessDenied)
    assert "deeper than 32" in str(refused.value)


@pytest.mark.parametrize("value", [
    b"bytes", {1, 2}, object(), {"k": b"x"}, {1: "int key"}, {("t",): 1}, [math.nan], {"x": math.inf},
    ["ok", "lone \ud800 surrogate"], {"lone \udc00": 1}, 2**2000, complex(1, 2),
])
def test_non_json_values_are_refused(value: object) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        boundedjson.check(value)
    assert refused.value.__context__ is None


def test_too_large_is_refused() -> None:
    boundedjson.check({"body": "x" * 1000}, max_bytes=1100)
    with pytest.raises(InvalidRequestError):
        boundedjson.check({"body": "x" * 1000}, max_bytes=900)
    with pytest.raises(InvalidRequestError):
        boundedjson.check(["é" * 600], max_bytes=1100)  # counted in UTF-8 bytes, not characters
    with pytest.raises(InvalidRequestError):
        boundedjson.check([0] * (boundedjson.MAX_BYTES // 2 + 1))


def test_the_computed_size_bounds_the_real_encoding() -> None:
    for value in ({"a": [1, 2.5, None, True, "é\"\\"]}, [[], {}], "x", {"k": {"k": ["v"] * 10}}):
        real = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
        boundedjson.check(value, max_bytes=real + 8)  # upper bound, never far below


@pytest.mark.parametrize(("data", "expected"), [
    (b'{"a": [1, 2, {"b": null}]}', {"a": [1, 2, {"b": None}]}),
    (b'"[[[[ not structure ]"', "[[[[ not structure ]"),
    (b'["\\"[[[[", 1]', ['"[[[[', 1]),
    (b"[" * 32 + b"]" * 32, _nested(0)),
])
def test_loads_parses_plain_json(data: bytes, expected: object) -> None:
    value = boundedjson.loads(data)
    if data.startswith(b"[" * 32):
        depth = 0
        while isinstance(value, list) and value:
            value, depth = value[0], depth + 1
        assert depth == 31
    else:
        assert value == expected


@pytest.mark.parametrize("data", [
    b"[" * 33 + b"]" * 33,
    b"[" * 100_000 + b"]" * 100_000,
    b"[" * 100_000,  # never closed: the parser must not see it either
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b"NaN", b"[Infinity]", b"-Infinity", b"", b"{", b"[1,]", b"\xff\xfe", b'{"a":1} {"b":2}',
    b'"' + b"x" * (boundedjson.MAX_BYTES + 1) + b'"',
])
def test_loads_refuses_deep_big_or_malformed_bodies(data: bytes) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        boundedjson.loads(data)
    assert refused.value.__context__ is None


def test_loads_limits_are_keyword_arguments() -> None:
    with pytest.raises(InvalidRequestError):
        boundedjson.loads(b"[[1]]", max_depth=1)
    with pytest.raises(InvalidRequestError):
        boundedjson.loads(b"[1, 2, 3]", max_bytes=4)
    with pytest.raises(InvalidRequestError):
        boundedjson.loads("[]")  # type: ignore[arg-type]
    assert boundedjson.loads(b"[[1]]", max_depth=2) == [[1]]
