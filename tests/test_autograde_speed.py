"""The warm image (`autograde.warm`) keeps every confinement property of a cold sandbox, and
the bench builds the class the issue asks for. No timed assertions: benchmarks are not tests.

Each launch from the fork server is a process forked from one warm image into a sandbox of
its own: these tests prove what one launch cannot do to the server, to the host or to the
next launch (another student's submission)."""
from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autograde import bench, warm
from autograde.judge import _Learner, judge
from autograde.sandbox import Sandbox, detect, python_cmd

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
JOB = {"cell_seconds": 20, "output_bytes": 200_000, "memory": 2 << 30, "files": 1 << 26}


@pytest.fixture(scope="module")
def server() -> Iterator[warm.WarmServer]:
    srv = warm.WarmServer(detect())
    assert srv.wait_ready()
    yield srv
    srv.close()


def _run(srv: warm.WarmServer, *cells: str, files: dict[str, bytes] | None = None) -> list[str]:
    """Each cell's stdout (or its error) from one runner launched warm."""
    proc = srv.launch("runner", files=files)
    proc.stdin.write(json.dumps(JOB).encode() + b"\n")
    out = []
    for i, source in enumerate(cells):
        proc.stdin.write(json.dumps({"i": i, "source": source}).encode() + b"\n")
        proc.stdin.flush()
        reply = json.loads(proc.stdout.readline())
        out.append("".join(o.get("text", "") or f"{o.get('ename')}: {o.get('evalue')}"
                           for o in reply["outputs"]))
    proc.stdin.close()
    proc.wait(10)
    return out


PROBE_WRITE = """
import os
for d in ("/", "/dev", "/usr", "{kit}", "{venv}"):
    try:
        open(os.path.join(d, "probe"), "w").write("x")
        print(d, "WRITABLE")
    except OSError as exc:
        print(d, "refused")
"""


@needs_bwrap
def test_a_warm_launch_cannot_write_outside_its_own_tmp(server: warm.WarmServer) -> None:
    kit = Path(__import__("course").__file__).parent
    text = _run(server, PROBE_WRITE.format(kit=kit, venv=sys.prefix))[0]
    assert "WRITABLE" not in text and text.count("refused") == 5


@needs_bwrap
def test_a_warm_launch_has_no_network_no_capabilities_and_runs_as_nobody(server: warm.WarmServer) -> None:
    text = _run(server, """
import os, socket
status = open("/proc/self/status").read()
print("uid", os.getuid())
print("caps", [l.split()[1] for l in status.splitlines() if l.startswith(("CapEff", "CapPrm", "CapBnd"))])
try:
    socket.create_connection(("1.1.1.1", 80), timeout=2)
    print("NETWORK")
except OSError:
    print("no network")
""")[0]
    assert "uid 65534" in text
    assert "caps ['0000000000000000', '0000000000000000', '0000000000000000']" in text
    assert "no network" in text and "NETWORK" not in text


@needs_bwrap
def test_a_warm_launch_sees_only_its_own_files_and_nothing_of_the_previous_launch(
        server: warm.WarmServer) -> None:
    first = _run(server, """
import os, subprocess
open("/tmp/left-behind", "w").write("secret answer")
open("/dev/shm/left-behind", "w").write("secret answer")
open("data/answer.txt", "a").write("tampered")
subprocess.Popen(["sleep", "1000"], start_new_session=True)
print(sorted(os.listdir(".")), open("data/answer.txt").read())
""", files={"data/answer.txt": b"mine"})[0]
    assert "['data']" in first and "minetampered" in first
    time.sleep(0.3)
    second = _run(server, """
import os
print("tmp", os.path.exists("/tmp/left-behind"), "shm", os.path.exists("/dev/shm/left-behind"))
print("cwd", sorted(os.listdir(".")))
alive = [p for p in os.listdir("/proc") if p.isdigit() and
         b"sleep" in open(f"/proc/{p}/cmdline", "rb").read()]
print("sleepers", alive)
""", files={"other.txt": b"theirs"})[0]
    assert "tmp False shm False" in second
    assert "cwd ['other.txt']" in second
    assert "sleepers []" in second  # the first launch's namespace died with it


@needs_bwrap
def test_a_warm_launch_can_neither_signal_nor_read_the_server_or_its_siblings(
        server: warm.WarmServer) -> None:
    text = _run(server, """
import os
me = os.getpid()
others = []
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        cmd = open(f"/proc/{p}/cmdline", "rb").read()
    except OSError:
        continue
    if b"autograde.warm" in cmd and p != os.readlink("/proc/self"):
        others.append(int(p))
print("found", len(others))
for pid in others:
    for what in ("environ", "mem", "maps"):
        try:
            open(f"/proc/{pid}/{what}", "rb").read(16)
            print("READ", what, pid)
        except OSError:
            pass
addressable = []
for pid in range(1, 200):  # what kill() can reach: its own pid namespace only
    try:
        os.kill(pid, 0)
        addressable.append(pid)
    except OSError:
        pass
print("addressable", addressable, "me", me)
print("done")
""")[0]
    assert "found" in text and "found 0" not in text  # the server (and the launch's keeper) show
    assert "READ" not in text and "done" in text
    assert "addressable [1, 2] me 2" in text  # its reaper and itself: never the server
    assert server.proc.poll() is None
    assert _run(server, "print('still serving')")[0] == "still serving\n"


@needs_bwrap
def test_killing_a_warm_launch_ends_it_and_what_it_started(server: warm.WarmServer) -> None:
    proc = server.launch("runner")
    proc.stdin.write(json.dumps(JOB).encode() + b"\n")
    proc.stdin.write(json.dumps({"i": 0, "source": "import time\nwhile True: time.sleep(1)"}).encode()
                     + b"\n")
    proc.stdin.flush()
    time.sleep(0.3)
    assert proc.poll() is None
    proc.kill()
    assert proc.wait(10) == -9


@needs_bwrap
def test_a_launch_names_only_the_runner_or_the_learner(server: warm.WarmServer) -> None:
    with pytest.raises(ValueError):
        server.launch("autograde.judge")


def test_no_warm_server_without_confinement() -> None:
    assert warm.server_for(Sandbox(confined=False, warning="x")) is None


def test_the_judge_goes_warm_only_for_the_confined_learner_command(tmp_path: Path) -> None:
    assert warm.learner_path(python_cmd("autograde.learner"), 1) is None  # unconfined
    assert warm.learner_path(["bwrap", "--unshare-all", "--", "python", "-c", "1"], 1) is None


@needs_bwrap
def test_the_judge_launches_its_learner_warm_and_reaches_the_same_verdicts(
        server: warm.WarmServer, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = detect().wrap(python_cmd("autograde.learner"))
    program = [{"cell": "a", "kind": "answer", "source": "def double(x):\n    return 2 * x\n"}]
    learner = _Learner(argv, program, 2 << 30, 1 << 26, 20, time.monotonic() + 30, declared=["double"])
    learner.start()
    assert isinstance(learner.proc, warm.WarmProcess)
    assert learner.call("double", (21,), {}) == 42
    learner.kill()
    job = {"cells": [{"cell": "a", "kind": "answer", "source": ""},
                     {"cell": "t", "kind": "test", "source": "assert double(2) == 4\nassert double(0) == 0"},
                     {"cell": "u", "kind": "test", "source": "assert double(3) == 7"}],
           "program": program, "learner_argv": argv, "memory": 2 << 30, "files": 1 << 26,
           "seconds": 60, "call_seconds": 20}
    hot = [(v.grade_id, v.status) for v in judge(job)]
    monkeypatch.setenv(warm.DISABLE_ENV, "1")
    cold = [(v.grade_id, v.status) for v in judge(job)]
    assert hot == cold == [("t", "passed"), ("u", "failed")]


def test_a_bench_class_holds_honest_blank_and_planted_mistake_submissions() -> None:
    assert bench.class_kinds(3, 2) == ["honest", "blank", "mistake-0"]
    assert bench.class_kinds(6, 2) == ["honest", "blank", "mistake-0", "mistake-1", "honest", "blank"]
    assert bench.class_kinds(3, 0) == ["honest", "blank", "honest"]
    source = bench.course_sources()[0]
    import nbformat

    nb = nbformat.read(source, 4)
    planted = [bench.plant(nb, m) for m in bench.mistakes(source.parent.name)]
    assert planted and all(p is not None for p in planted)
    assert bench.plant(nb, {"cell": "no-such-cell", "find": "x", "replace": "y"}) is None


def test_the_floor_runs_a_notebooks_own_cells_without_grading() -> None:
    assert bench.floor_seconds(bench.FIXTURE) > 0


@needs_bwrap
def test_a_warm_learner_has_the_builtins_of_a_cold_one(server: warm.WarmServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    argv = detect().wrap(python_cmd("autograde.learner"))
    program = [{"cell": "a", "kind": "answer",
                "source": "import builtins\ndef names():\n    return sorted(vars(builtins))\n"}]
    seen = []
    for cold in (False, True):
        if cold:
            monkeypatch.setenv(warm.DISABLE_ENV, "1")
        learner = _Learner(argv, program, 2 << 30, 1 << 26, 20, time.monotonic() + 30, declared=["names"])
        learner.start()
        assert isinstance(learner.proc, warm.WarmProcess) != cold
        seen.append(learner.call("names", (), {}))
        learner.kill()
    assert seen[0] == seen[1] and "get_ipython" not in seen[0]
