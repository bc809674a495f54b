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


# ---- the judge cannot be steered (issue 9)

def _verdict_declared(answer: str, test: str, setup: str = "", declared: list[str] | None = None):
    job = _job(answer, test, setup)
    job["declared"] = {"f": declared if declared is not None else ["f"]}
    (only,) = judge(job)
    return only


def test_a_locked_constant_rebound_in_an_answer_cell_does_not_weaken_the_check() -> None:
    answer = "MAX_TTL = 86399\ndef f(ttl):\n    return ttl <= 86399\n"
    v = _verdict_declared(answer, "assert f(60)\nassert not f(MAX_TTL + 1)", setup="MAX_TTL = 3600")
    assert v.status == FAIL


def test_emptied_required_fields_are_restored_for_the_learners_own_function_too() -> None:
    setup = "REQUIRED_FIELDS = ('sub', 'exp')"
    cheat = "REQUIRED_FIELDS = ()\ndef f(claims):\n    return []\n"
    test = "assert f({}) == list(REQUIRED_FIELDS)"
    assert _verdict_declared(cheat, test, setup).status == FAIL
    honest = ("REQUIRED_FIELDS = ()\n"
              "def f(claims):\n    return [k for k in REQUIRED_FIELDS if k not in claims]\n")
    assert _verdict_declared(honest, test, setup).status == PASS  # it reads the locked value


def test_a_shadowed_builtin_is_never_proxied_to_the_learner() -> None:
    answer = "def list(*a):\n    return [0]\ndef f(x):\n    return [0]\n"
    v = _verdict_declared(answer, "assert f((1, 2)) == list((1, 2))")
    assert v.status == FAIL


def test_only_the_declared_names_reach_the_judge() -> None:
    answer = "def sorted(x):\n    return 'same'\ndef f(x):\n    return 'same'\n"
    assert _verdict_declared(answer, "assert f([2, 1]) == sorted([2, 1])").status == FAIL
    assert _verdict_declared("def g(x):\n    return x\n", "assert g(1) == 1", declared=["f"]).status == FAIL


def test_the_kits_reference_captured_as_a_default_argument_trips_the_wire() -> None:
    setup = "from course import grading\nfrom course.grading import exactly"
    answer = "from course import grading as g\ndef f(a, b, _ref=g.exactly):\n    return _ref(a, b)\n"
    test = "with grading.tripwire(grading, 'exactly'):\n    assert f(1, 1) is True"
    v = _verdict_declared(answer, test, setup)
    assert v.status == FAIL and v.tripwire and "reference" in v.reason


def test_calling_the_kits_function_of_the_same_name_is_refused() -> None:
    answer = "from course.grading import exactly as _e\ndef exactly(a, b):\n    return _e(a, b)\n"
    job = _job(answer, "assert exactly(1, 1) is True")
    job["declared"] = {"f": ["exactly"]}
    (v,) = judge(job)
    assert v.status == FAIL and v.tripwire


def test_a_reimport_and_a_computed_constant_in_an_answer_cell_work() -> None:
    answer = "import json\nLIMIT = 6 * 10\ndef f(x):\n    return json.dumps([x, LIMIT])\n"
    v = _verdict_declared(answer, "assert f(1) == json.dumps([1, 60])", setup="import json")
    assert v.status == PASS


def test_a_deeply_nested_line_from_the_learner_fails_its_cell_not_the_judge() -> None:
    answer = ("import os\n"
              "def _w(fd):\n"
              "    try:\n        os.write(fd, b'[' * 200000 + b'\\n')\n"
              "    except OSError:\n        pass\n"
              "def f(x, _=[_w(fd) for fd in range(3, 12)]):\n    return x\n")
    v = _verdict_declared(answer, "assert f(1) == 1")
    assert v.status == FAIL


def test_a_cell_that_kills_the_learner_while_loading_is_skipped_and_the_rest_loads() -> None:
    job = _job("", "assert g(2) == 2")
    job["program"] = [{"cell": "setup", "kind": "setup", "source": ""},
                      {"cell": "f", "kind": "answer",
                       "source": "import os\ndef f(x, _=os._exit(3)):\n    return x\n"},
                      {"cell": "g", "kind": "answer", "source": "def g(x):\n    return x\n"}]
    job["cells"].insert(2, {"cell": "g", "kind": "answer", "source": ""})
    job["declared"] = {"f": ["f"], "g": ["g"]}
    (v,) = judge(job)
    assert v.status == PASS


def test_a_hidden_failure_names_neither_inputs_nor_expected_values() -> None:
    test = ("assert f(1) == 1\n### BEGIN HIDDEN TESTS\n"
            "assert f('hidden-input-42') == 'expected-99', f'expected-99, got {f(2)}'\n"
            "### END HIDDEN TESTS")
    v = _verdict("def f(x):\n    return x\n", test)
    assert v.status == FAIL and "hidden-input" not in v.reason and "expected-99" not in v.reason
    v = _verdict("def f(x):\n    return {}[x]\n", "### BEGIN HIDDEN TESTS\nf('hidden-key')\n"
                 "### END HIDDEN TESTS")
    assert v.reason == "a hidden check failed (KeyError)"


def test_rebinding_a_locked_name_or_shadowing_a_builtin_is_named_for_a_human() -> None:
    found = hostile.code_findings([("answer", "MAX_TTL = 86399\ndef list(x):\n    return x\n")],
                                  locked={"MAX_TTL"})
    kinds = {f.kind for f in found}
    assert {"rebinds a locked name", "shadows a builtin"} <= kinds


def test_a_default_argument_capturing_the_kits_reference_is_named() -> None:
    code = "from course import redact\ndef mask(s, _m=redact.mask):\n    return _m(s)\n"
    assert "delegates to the kit" in {f.kind for f in hostile.code_findings([("a", code)])}


def test_code_the_release_contains_and_urllib_parse_are_not_findings() -> None:
    demo = "import socket  # the release's own demo"
    assert hostile.code_findings([("extra", demo)], given={demo}) == ()
    assert hostile.code_findings([("a", "import urllib.parse\nfrom urllib.parse import quote")]) == ()
    assert hostile.code_findings([("a", "import urllib.request")]) != ()


# ---- the judge zygote: setup once per source, a fresh fork per submission

def test_a_warm_judge_forks_a_fresh_state_per_submission() -> None:
    from autograde.grade import _ZYGOTES, run_judge

    job = _job("def f(x):\n    return x\n", "SEEN.append(1)\nassert len(SEEN) == 1 and f(2) == 2",
               setup="SEEN = []")
    try:
        for _ in range(3):  # a check that mutates the setup's state never sees another's
            verdicts, error = run_judge(job, seconds=20, zygote="test-fresh")
            assert error is None and verdicts["test_f"]["status"] == PASS
        assert _ZYGOTES["test-fresh"] is not None and _ZYGOTES["test-fresh"].ready == 1
    finally:
        zygote = _ZYGOTES.pop("test-fresh", None)
        if zygote is not None:
            zygote._close(zygote.proc, zygote.tmp)


def test_a_setup_that_starts_a_thread_is_not_forked_warm() -> None:
    from autograde.grade import _ZYGOTES, run_judge

    setup = "import threading, time\nthreading.Thread(target=time.sleep, args=(30,), daemon=True).start()"
    job = _job("def f(x):\n    return x\n", "assert f(2) == 2", setup=setup)
    try:
        for _ in range(2):
            verdicts, error = run_judge(job, seconds=20, zygote="test-thread")
            assert error is None and verdicts["test_f"]["status"] == PASS
        assert _ZYGOTES["test-thread"].ready == 0  # each child runs that setup itself
    finally:
        zygote = _ZYGOTES.pop("test-thread", None)
        if zygote is not None:
            zygote._close(zygote.proc, zygote.tmp)


def test_files_a_warm_setup_wrote_are_as_it_left_them_for_every_submission() -> None:
    from autograde.grade import _ZYGOTES, run_judge

    setup = "from pathlib import Path\nLOG = Path('day.log').resolve()\nLOG.write_text('setup\\n')"
    test = ("with LOG.open('a') as fh:\n    fh.write('child\\n')\n"
            "assert LOG.read_text() == 'setup\\nchild\\n' and f(1) == 1")
    job = _job("def f(x):\n    return x\n", test, setup=setup)
    try:
        for _ in range(3):
            verdicts, error = run_judge(job, seconds=20, zygote="test-files")
            assert error is None and verdicts["test_f"]["status"] == PASS
        assert _ZYGOTES["test-files"].ready == 1
    finally:
        zygote = _ZYGOTES.pop("test-files", None)
        if zygote is not None:
            zygote._close(zygote.proc, zygote.tmp)


# ---- the judge image: a zygote forked from a warm judge instead of a cold Python

@pytest.fixture()
def judge_image():
    from autograde import warm

    if not detect().confined:
        pytest.skip("the warm images start only with bubblewrap")
    image = warm.WarmServer(detect(), "judge")
    assert image.wait_ready()
    yield image
    image.close()


def _children(pid: int) -> set[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return {int(p) for p in fh.read().split()}
    except OSError:
        return set()


def _cwd(pid: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def _session(pid: str) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[3])


def test_an_adopted_zygote_forks_a_fresh_state_per_submission_and_dies_with_its_process(judge_image) -> None:
    import time

    from autograde.grade import _ZYGOTES, run_judge

    job = _job("def f(x):\n    return x\n", "SEEN.append(1)\nassert len(SEEN) == 1 and f(2) == 2",
               setup="SEEN = []")
    try:
        for _ in range(3):
            verdicts, error = run_judge(job, seconds=20, zygote="test-adopted")
            assert error is None and verdicts["test_f"]["status"] == PASS
        zygote = _ZYGOTES["test-adopted"]
        assert zygote is not None and zygote.ready == 1
        adopted = _children(judge_image.proc.pid)
        assert adopted, "the zygote was not forked from the judge image"
        (pid,) = adopted
        assert os.readlink(f"/proc/{pid}/cwd") == os.path.join(zygote.tmp, "work")
    finally:
        zygote = _ZYGOTES.pop("test-adopted", None)
        if zygote is not None:
            zygote._close(zygote.proc, zygote.tmp)
    for _ in range(50):  # the process the grader started is gone: so is its adopted zygote
        if not _children(judge_image.proc.pid):
            break
        time.sleep(0.1)
    assert not _children(judge_image.proc.pid)


def test_an_adopted_zygote_still_refuses_to_fork_a_setup_that_starts_a_thread(judge_image) -> None:
    from autograde.grade import _ZYGOTES, run_judge

    setup = "import threading, time\nthreading.Thread(target=time.sleep, args=(30,), daemon=True).start()"
    job = _job("def f(x):\n    return x\n", "assert f(2) == 2", setup=setup)
    try:
        for _ in range(2):
            verdicts, error = run_judge(job, seconds=20, zygote="test-adopted-thread")
            assert error is None and verdicts["test_f"]["status"] == PASS
        zygote = _ZYGOTES["test-adopted-thread"]
        assert zygote.ready == 0
        work = os.path.join(zygote.tmp, "work")
        serving = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != zygote.proc.pid
                   and _cwd(p) == work]
        assert serving  # the keeper that took over serves in the adopted zygote's own session
        assert all(_session(p) != zygote.proc.pid for p in serving)
    finally:
        zygote = _ZYGOTES.pop("test-adopted-thread", None)
        if zygote is not None:
            zygote._close(zygote.proc, zygote.tmp)


def test_an_adopted_zygote_restores_the_files_its_setup_wrote(judge_image) -> None:
    from autograde.grade import _ZYGOTES, run_judge

    setup = "from pathlib import Path\nLOG = Path('day.log').resolve()\nLOG.write_text('setup\\n')"
    test = ("import os\nwith LOG.open('a') as fh:\n    fh.write('child\\n')\n"
            "assert LOG.read_text() == 'setup\\nchild\\n' and f(1) == 1\n"
            "assert os.environ['HOME'] == os.getcwd()")
    job = _job("def f(x):\n    return x\n", test, setup=setup)
    try:
        for _ in range(3):
            verdicts, error = run_judge(job, seconds=20, zygote="test-adopted-files")
            assert error is None and verdicts["test_f"]["status"] == PASS, verdicts
        assert _ZYGOTES["test-adopted-files"].ready == 1
    finally:
        zygote = _ZYGOTES.pop("test-adopted-files", None)
        if zygote is not None:
            zygote._close(zygote.proc, zygote.tmp)
