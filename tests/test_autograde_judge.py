"""The outside verdict's parts, without kernels: the marshal refuses what could fool `==`,
the judge fails cheats and keeps honest answers, and the static detectors name each trick."""
from __future__ import annotations

import os
import shutil

import pytest

from autograde import hostile, marshal
from autograde.judge import FAIL, PASS, UNDECIDABLE, judge
from autograde.sandbox import UNCONFINED_WARNING, Sandbox, detect, python_cmd
from course.clock import ManualClock
from course.tokens import TokenClaims

CLAIMS = TokenClaims(iss="vault", sub="agent", aud="tickets", user="ada", tenant="t1",
                     task="t", session="s", scopes=("b", "a"), iat=1, nbf=1, exp=2, jti="j")


@pytest.mark.parametrize("value", [None, True, 3, 2.5, "s", b"\x00b", [1, (2, 3)],
                                   {"k": {1, 2}}, frozenset({"a"}), float("inf"), CLAIMS])
def test_plain_and_kit_values_cross_unchanged(value) -> None:
    back = marshal.decode(marshal.encode(value))
    assert back == value and type(back) is type(value)


def test_a_str_subclass_with_its_own_eq_is_refused_as_learner_made() -> None:
    class Eq(str):
        def __eq__(self, other):
            return True

    with pytest.raises(marshal.NotPlainData) as info:
        marshal.encode(Eq("x"))
    assert info.value.learner_made and "subclass of str" in info.value.reason


def test_a_class_pretending_to_be_the_kits_is_learner_made() -> None:
    class Fake:
        def __eq__(self, other):
            return True

    Fake.__module__, Fake.__qualname__ = "course.tokens", "TokenClaims"
    with pytest.raises(marshal.NotPlainData) as info:
        marshal.encode(Fake())
    assert info.value.learner_made


def test_a_genuine_kit_object_that_is_not_data_is_undecidable_not_a_cheat() -> None:
    with pytest.raises(marshal.NotPlainData) as info:
        marshal.encode(ManualClock())
    assert not info.value.learner_made


@pytest.mark.parametrize("tag", ["os:PathLike", "course.tokens:dataclasses.dataclass",
                                 "course.tokens:subprocess.Popen", "builtins:bytearray",
                                 "course.clock:ManualClock"])
def test_decode_builds_nothing_but_kit_dataclasses(tag: str) -> None:
    """The judge runs unconfined: data from the learner must never pick a class to call."""
    with pytest.raises((marshal.NotPlainData, AttributeError, ImportError)):
        marshal.decode({"__dc__": tag, "fields": {"args": ["sh", "-c", "touch /tmp/pwned"]}})


def test_exceptions_rebuild_without_running_their_init() -> None:
    data = {"type": "course.errors:AccessDenied", "message": "m", "attrs": {"code": "x"}}
    exc = marshal.decode_exception(data)
    assert type(exc).__name__ == "AccessDenied" and exc.code == "x" and str(exc) == "m"


def _job(answer: str, test: str, setup: str = "", call_seconds: float = 5) -> dict:
    sandbox = detect()
    return {"cells": [{"cell": "setup", "kind": "setup", "source": setup},
                      {"cell": "f", "kind": "answer", "source": ""},
                      {"cell": "test_f", "kind": "test", "source": test}],
            "program": [{"cell": "setup", "kind": "setup", "source": setup},
                        {"cell": "f", "kind": "answer", "source": answer}],
            "learner_argv": sandbox.wrap(python_cmd("autograde.learner")),
            "memory": 1024**3, "files": 1024**2, "seconds": 20, "call_seconds": call_seconds}


def _verdict(answer: str, test: str, setup: str = "", call_seconds: float = 5):
    (only,) = judge(_job(answer, test, setup, call_seconds))
    return only


def test_an_honest_answer_passes_outside() -> None:
    v = _verdict("def f(x):\n    return sorted(x)\n", "assert f([2, 1]) == [1, 2]")
    assert v.status == PASS


def test_an_always_equal_result_fails_outside() -> None:
    v = _verdict("class E:\n    def __eq__(s, o):\n        return True\ndef f(x):\n    return E()\n",
                 "assert f([2, 1]) == [1, 2]")
    assert v.status == FAIL and "not plain data" in v.reason and v.learner_made


def test_patching_builtins_inside_the_learner_cannot_touch_the_judges_assert() -> None:
    answer = ("import builtins\n"
              "def f(x):\n"
              "    builtins.AssertionError = type('Quiet', (Exception,), {})\n"
              "    builtins.sorted = lambda *a, **k: [1, 2]\n"
              "    return x\n")
    v = _verdict(answer, "assert f([2, 1]) == sorted([2, 1]) == [1, 2]")
    assert v.status == FAIL


def test_top_level_statements_of_the_learner_never_run_in_the_judge() -> None:
    answer = "def f(x):\n    return 0\nimport sys\nsys.settrace(lambda *a: None)\nraise SystemExit\n"
    v = _verdict(answer, "assert f(1) == 1")
    assert v.status == FAIL and v.reason == "assertion failed: assert f(1) == 1"


def test_a_learner_that_kills_its_process_fails_the_call_not_the_judge() -> None:
    v = _verdict("import os\ndef f(x):\n    os._exit(1)\n", "assert f(1) == 1")
    assert v.status == FAIL and "ended" in v.reason


def test_a_learner_that_loops_forever_fails_within_the_call_budget() -> None:
    v = _verdict("def f(x):\n    while True:\n        pass\n", "assert f(1) == 1", call_seconds=2)
    assert v.status == FAIL and "no answer within" in v.reason


def test_exceptions_cross_as_the_kits_or_builtins_class() -> None:
    test = "try:\n    f(-1)\nexcept ValueError:\n    pass\nelse:\n    raise AssertionError('must refuse')"
    assert _verdict("def f(x):\n    raise ValueError('no')\n", test).status == PASS
    assert _verdict("def f(x):\n    return 1\n", test).status == FAIL


def test_a_hidden_failure_does_not_show_the_hidden_source() -> None:
    test = "assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 2\n### END HIDDEN TESTS"
    v = _verdict("def f(x):\n    return 1\n", test)
    assert v.status == FAIL and v.reason == "a hidden check failed"


def test_a_kit_object_argument_makes_the_check_undecidable() -> None:
    v = _verdict("def f(c):\n    return 1\n", "assert f(ManualClock()) == 1",
                 setup="from course.clock import ManualClock")
    assert v.status == UNDECIDABLE


TRICKS = [
    ("patched builtins", "import builtins\nbuiltins.len = lambda x: 0"),
    ("patched assertions", "AssertionError = Exception"),
    ("AST transformer", "class T(ast.NodeTransformer): pass"),
    ("tracer", "import sys\nsys.settrace(None)"),
    ("suppressed tracebacks", "get_ipython().showtraceback = None"),
    ("frame or gc walking", "import gc\ngc.get_objects()"),
    ("ctypes", "import ctypes"),
    ("reading files", "open('/etc/passwd').read()"),
    ("gradebook", "import sqlite3"),
    ("network", "import socket"),
    ("process control", "import os\nos._exit(0)"),
    ("always-equal object", "class A:\n    def __eq__(self, o):\n        return True"),
    ("delegates to the kit", "from course import tokens\ndef verify(t):\n    return tokens.verify(t)"),
]


@pytest.mark.parametrize(("kind", "code"), TRICKS, ids=[t[0] for t in TRICKS])
def test_each_trick_is_named_for_a_human(kind: str, code: str) -> None:
    found = hostile.code_findings([("answer", code)])
    assert kind in {f.kind for f in found}
    assert all(f.human for f in found)


def test_honest_code_raises_no_finding() -> None:
    code = ('def granted_scopes(requested, allowed):\n'
            '    if "*" in requested:\n'
            '        raise ValueError("wildcards are refused")\n'
            '    return sorted(set(requested) & set(allowed))\n')
    assert hostile.code_findings([("answer", code)]) == ()


def test_missing_bwrap_falls_back_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADE_UNCONFINED", "1")
    sandbox = detect()
    assert not sandbox.confined and sandbox.warning == UNCONFINED_WARNING
    assert sandbox.wrap(["python", "-c", "1"]) == ["python", "-c", "1"]
    assert "UNCONFINED" in sandbox.warning


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
def test_the_sandbox_hides_the_course_and_the_network() -> None:
    import subprocess

    code = ("import os, socket\n"
            f"print(os.path.exists({os.getcwd()!r} + '/notebooks'), os.getuid())\n"
            "try:\n    socket.create_connection(('127.0.0.1', 22), timeout=1)\n"
            "except OSError as e:\n    print('net', type(e).__name__)\n")
    argv = Sandbox(confined=True, bwrap=shutil.which("bwrap")).wrap(python_cmd("this", "x")[:2] +
                                                                      ["-c", code])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    assert out.splitlines()[0] == "False 65534" and out.splitlines()[1].startswith("net ")


def test_setup_imports_reach_the_learner_lazily_but_work() -> None:
    v = _verdict("def f(x):\n    return j.dumps(x, sort_keys=True)\n",
                 "assert f({'b': 1, 'a': 2}) == '{\"a\": 2, \"b\": 1}'", setup="import json as j")
    assert v.status == PASS
