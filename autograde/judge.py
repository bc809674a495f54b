"""The outside verdict: the instructor's checks run where the learner's code cannot reach.

A judge process runs the *source* notebook's setup and test cells (hidden tests included,
read from the grader's memory over a pipe, never from a file in any sandbox). Every name an
answer cell defines is a proxy: calling it sends plain data to the learner's definitions in
their own confined process (`autograde.learner`) and rebuilds the answer with the judge's own
types. So the `assert` that decides runs in a process whose builtins, import system, tracer and
`AssertionError` the learner never touched, on values that cannot be always-equal.

Only the exercise's declared names (what the release's stub defines) become proxies; a name
a locked cell binds and a builtin stay the judge's own, whatever an answer cell rebinds.

A check is *undecidable* here when it passes something the marshal cannot carry (a key ring,
a live server, a callable): it gets no automatic points and goes to a human with the reason.
Nothing the learner's in-kernel run prints or displays reaches this process.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import select
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

from .warm import WarmUnavailable, adopt, judge_image_path, launch, learner_path

PASS, FAIL, UNDECIDABLE = "passed", "failed", "undecidable"
MAX_LINE = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """One exercise's outside verdict: passed, failed (with why) or undecidable (with why)."""

    grade_id: str
    status: str
    reason: str = ""
    learner_made: bool = False
    tripwire: bool = False


class Undecidable(BaseException):
    """The judge cannot carry a value across; BaseException so a test's `except` can't eat it."""


class Refusal(BaseException):
    """The learner's side broke the rules (not plain data, crashed, hung): the check fails."""

    def __init__(self, reason: str, *, tripwire: bool = False) -> None:
        super().__init__(reason)
        self.tripwire = tripwire


_OWNER: int | None = None  # the grading process whose warm server launches learners (its pid)
_WIRES: list[list[str]] = []  # [owner, name] of every kit tripwire the running check armed


def _owner_path(owner: Any) -> str | None:
    """`module` or `module:Qual.Name` of a kit module or class a check put a tripwire on."""
    import types as _types

    if isinstance(owner, _types.ModuleType):
        return owner.__name__
    if isinstance(owner, type):
        return f"{owner.__module__}:{owner.__qualname__}"
    return None


def _arm_tripwires() -> None:
    """Make the kit's `grading.tripwire` reach across the boundary: while a check holds one,
    every call to the learner carries the wired names, and the learner's process raises the
    kit's DelegatedToReference when its answer reaches one of them (however captured)."""
    try:
        from course import grading
    except Exception:  # noqa: BLE001 - a course without the grading helpers
        return
    original = grading.tripwire
    if getattr(original, "_crosses", False):
        return

    @contextlib.contextmanager
    def tripwire(owner: Any, *names: str) -> Any:
        path = _owner_path(owner)
        added = [[path, str(n)] for n in names] if path else []
        _WIRES.extend(added)
        try:
            with original(owner, *names) as touched:
                yield touched
        finally:
            for wire in added:
                _WIRES.remove(wire)

    tripwire._crosses = True  # type: ignore[attr-defined]
    grading.tripwire = tripwire


class _Learner:
    """A learner process, restarted after it dies (a crash fails one call, not the rest)."""

    def __init__(self, argv: list[str], program: list[dict[str, Any]], memory: int, files: int,
                 call_seconds: float, deadline: float, declared: list[str] | None = None) -> None:
        self.argv, self.program = argv, program
        self.declared = sorted(set(declared or ()))
        self.skip: list[str] = []
        self.locked: list[str] | None = None
        self.loading: str | None = None
        self.memory, self.files = memory, files
        self.call_seconds, self.deadline = call_seconds, deadline
        self.proc: Any = None  # a subprocess.Popen, or a warm.WarmProcess
        self.ready: dict[str, Any] = {}
        self.restarts = 0
        self.tripped = False
        self._buf = bytearray()

    def launch(self) -> None:
        """Start the process and send the program; `wait_ready` collects its answer (the
        judge runs the source's setup cells meanwhile)."""
        self._buf = bytearray()
        self.proc = None
        warm_path = learner_path(self.argv, _OWNER if _OWNER is not None else os.getpid())
        if warm_path is not None:
            try:  # forked from the grading worker's warm image into a fresh sandbox
                self.proc = launch(warm_path, "learner")
            except WarmUnavailable:
                self.proc = None
        if self.proc is None:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
        job = {"program": self.program, "memory": self.memory, "files": self.files,
               "locked": self.locked,
               "declared": self.declared, "skip": self.skip, "cell_seconds": self.call_seconds}
        self._send(job)

    def wait_ready(self) -> dict[str, Any]:
        """The learner's report once its answer cells ran. A cell that kills or hangs the
        process is skipped and the process started again (at most three times)."""
        skipped: list[str] = []
        while True:
            try:
                self.ready = self._load_reply()
                break
            except Refusal:
                if self.loading is None or self.restarts >= 3:
                    raise
                self.restarts += 1
                self.skip.append(self.loading)
                skipped.append(self.loading)
                self.loading = None
                self.launch()
        return self.ready

    def _load_reply(self) -> dict[str, Any]:
        while True:
            reply = self._recv(self.call_seconds + 2, "loading the answer cells")
            if isinstance(reply, dict) and isinstance(reply.get("loading"), str):
                self.loading = reply["loading"]
                continue
            ready = reply.get("ready") if isinstance(reply, dict) else None
            if not isinstance(ready, dict) or not isinstance(ready.get("cells", {}), dict):
                self.kill()
                raise Refusal("garbled answer while loading the answer cells")
            self.loading = None
            return ready

    def start(self) -> dict[str, Any]:
        self.launch()
        return self.wait_ready()

    def _send(self, obj: Any) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(obj).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise Refusal("the learner's process had ended (exit or crash)") from None

    def _recv(self, seconds: float, doing: str) -> Any:
        """The next JSON line from the learner (lines that arrived together are kept)."""
        assert self.proc is not None and self.proc.stdout is not None
        limit = min(time.monotonic() + seconds, self.deadline)
        fd = self.proc.stdout.fileno()
        buf = self._buf
        while b"\n" not in buf:
            left = limit - time.monotonic()
            if left <= 0:
                self.kill()
                raise Refusal(f"no answer within {seconds:.0f} s while {doing} (infinite loop?)")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                self.kill()
                raise Refusal(f"the learner's process ended (exit or crash) while {doing}")
            buf += chunk
            if len(buf) > MAX_LINE:
                self.kill()
                raise Refusal(f"answer larger than {MAX_LINE} bytes while {doing}")
        line, _, rest = bytes(buf).partition(b"\n")
        self._buf = bytearray(rest)
        try:
            return json.loads(line)
        except (ValueError, RecursionError):
            self.kill()
            raise Refusal(f"garbled answer while {doing}") from None

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        from .marshal import NotPlainData, decode, decode_exception, encode, originals_of

        try:
            payload = {"call": name, "args": encode(list(args)), "kwargs": encode(dict(kwargs)),
                       "wires": list(_WIRES)}
            sent = originals_of(list(args), payload["args"])
            originals_of(dict(kwargs), payload["kwargs"], sent)
        except (NotPlainData, RecursionError) as exc:
            why = exc.reason if isinstance(exc, NotPlainData) else "nested too deeply"
            raise Undecidable(f"argument to {name}() cannot cross to the learner's process: "
                              f"{why}") from None
        if self.proc is None or self.proc.poll() is not None:
            if self.restarts >= 3:
                raise Refusal("the learner's process keeps dying")
            self.restarts += 1
            self.start()
        self._send(payload)
        reply = self._recv(self.call_seconds, f"calling {name}()")
        if not isinstance(reply, dict):
            raise Refusal(f"garbled answer from {name}()")
        if "ok" in reply:
            try:
                return decode(reply["ok"], sent)
            except NotPlainData as exc:
                raise Refusal(f"{name}() returned {exc.reason}") from None
            except RecursionError:
                raise Refusal(f"{name}() returned a value nested too deeply") from None
        if "raise" in reply and isinstance(reply["raise"], dict):
            try:
                raise_ = decode_exception(reply["raise"])
            except RecursionError:
                raise Refusal(f"{name}() raised something unreadable") from None
            if reply.get("tripwire"):
                self.tripped = True
            raise raise_
        if reply.get("tripwire"):
            raise Refusal(f"{name}(): {str(reply.get('refused', ''))[:200]}", tripwire=True)
        reason = f"{name}() returned {str(reply.get('refused', 'something unreadable'))[:200]}"
        if reply.get("learner_made", True):
            raise Refusal(reason)
        raise Undecidable(reason)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class _Proxy:
    """Stands for a learner's function inside the judge; its repr names the function only."""

    def __init__(self, learner: _Learner, name: str) -> None:
        self._learner, self._name = learner, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._learner.call(self._name, args, kwargs)

    def __repr__(self) -> str:
        return f"<learner function {self._name}>"


def _hidden_from(cell: dict[str, Any]) -> int | None:
    """The line number (1-based) where a test cell's hidden tests begin, or None: the job's
    `hidden_from` (the grader read it with the configured delimiters, `autograde.regions`);
    a job built without it (a test's) is read with nbgrader's default delimiters."""
    if "hidden_from" in cell:
        value = cell["hidden_from"]
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    from .regions import Delimiters, first_hidden_line

    return first_hidden_line(str(cell.get("source", "")), Delimiters.nbgrader_defaults())


def _failure_reason(exc: BaseException, source: str, hidden: int | None) -> str:
    """Why a check failed, in words that never quote a hidden test, its inputs or the values
    it expected: a failure on a hidden line (at or after `hidden`) says only that a hidden
    check failed."""
    tb = traceback.extract_tb(exc.__traceback__)
    line = next((f.lineno for f in reversed(tb) if f.filename == "<check>"), None)
    lines = source.splitlines()
    if hidden is not None and (line is None or line >= hidden):
        prop = getattr(exc, "prop", None)
        if isinstance(prop, str) and 0 < len(prop) <= 80:
            return f"a hidden check failed: {prop}"
        if isinstance(exc, AssertionError):
            return "a hidden check failed"
        return f"a hidden check failed ({type(exc).__name__})"
    if isinstance(exc, AssertionError):
        if str(exc):
            return f"AssertionError: {str(exc)[:300]}"
        if line is not None and line <= len(lines):
            return f"assertion failed: {lines[line - 1].strip()[:200]}"
        return "AssertionError"
    return f"{type(exc).__name__}: {str(exc)[:300]}".rstrip(": ")


def _declared(job: dict[str, Any]) -> dict[str, list[str]]:
    """The names each answer cell may hand to the judge: the job's own list (the release
    stub's names), or, for a job without one, the cell's top-level definitions; never a
    name a setup cell binds or a builtin."""
    import builtins

    from .learner import _parse, defined_names, reduce_cell

    locked: set[str] = set()
    for cell in job["cells"]:
        if cell["kind"] == "setup":
            locked.update(defined_names(reduce_cell(cell["source"])))
    forbidden = locked | set(dir(builtins))
    given = job.get("declared")
    out: dict[str, list[str]] = {}
    for cell in job["program"]:
        if cell["kind"] != "answer":
            continue
        if isinstance(given, dict):
            names = [str(n) for n in given.get(cell["cell"], ())]
        else:
            tree = _parse(cell["source"])
            names = defined_names([n for n in (tree.body if tree else [])
                                   if not isinstance(n, (ast.Import, ast.ImportFrom))])
        out[cell["cell"]] = [n for n in names if n not in forbidden and n.isidentifier()]
    return out


def split_prefix(cells: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the source's leading setup cells, every other cell in order). Placeholders of cells
    the learner added (which declare nothing) do not end the prefix."""
    prefix: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    for cell in cells:
        if cell["kind"] == "setup" and all(c["kind"] == "answer" and not c["source"] for c in rest):
            prefix.append(cell)
        else:
            rest.append(cell)
    return prefix, rest


def run_setup(cells: list[dict[str, Any]], ns: dict[str, Any]) -> None:
    """Run trusted setup cells in `ns` (their prints go nowhere, their failures are theirs)."""
    out = io.StringIO()
    for cell in cells:
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                exec(compile(cell["source"], "<check>", "exec"), ns)
        except BaseException:  # noqa: BLE001 - as in a cold judge: a failing setup cell moves on
            pass
        out.seek(0)
        out.truncate()


def judge(job: dict[str, Any], notes: list[str] | None = None,
          warm: tuple[dict[str, Any], int] | None = None) -> list[Verdict]:
    """Run the checks of `job` (see `autograde.grade`) and return one verdict per test cell;
    `notes` receives what a human should know about loading the learner's cells (a cell
    that stopped the learner's process, a locked name or builtin restored). `warm` is a
    namespace in which the job's first n setup cells (`split_prefix`) already ran (a forked
    judge zygote): they are not run again."""
    from .marshal import NotPlainData, decode

    deadline = time.monotonic() + float(job["seconds"])
    declared = _declared(job)
    learner = _Learner(job["learner_argv"], job["program"], int(job["memory"]), int(job["files"]),
                       float(job["call_seconds"]), deadline,
                       declared=[n for names in declared.values() for n in names])
    if isinstance(job.get("locked"), list):
        learner.locked = [str(n) for n in job["locked"]]
    verdicts: list[Verdict] = []
    ns: dict[str, Any] = {"__name__": "__main__"}
    cells = list(job["cells"])
    if warm is not None:
        ns = warm[0]
        prefix, rest = split_prefix(cells)
        cells = prefix[warm[1]:] + rest if warm[1] <= len(prefix) else rest
    _arm_tripwires()
    try:
        ready: dict[str, Any] | None = None
        try:
            learner.launch()
        except Refusal as exc:
            ready = {"cells": {}, "load_errors": [str(exc)]}
        for cell in cells:
            kind, cid, source = cell["kind"], cell["cell"], cell["source"]
            if kind != "setup" and ready is None:
                try:
                    ready = learner.wait_ready()
                except Refusal as exc:
                    ready = {"cells": {}, "load_errors": [str(exc)]}
                if notes is not None:
                    for item in [*ready.get("load_errors", ()), *ready.get("restored", ())]:
                        text = str(item)[:200]
                        if "stopped the learner's process" in text or "restored" in text \
                                or "removed" in text or "ended" in text or "no answer" in text:
                            notes.append(text)
            if kind == "answer":
                assert ready is not None
                report = ready.get("cells", {}).get(cid, {})
                allowed = set(declared.get(cid, ()))
                for name, info in (report.items() if isinstance(report, dict) else ()):
                    if name not in allowed or not isinstance(info, dict):
                        continue
                    if info.get("callable"):
                        ns[name] = _Proxy(learner, name)
                    elif "value" in info:
                        try:
                            ns[name] = decode(info["value"])
                        except (NotPlainData, RecursionError):
                            ns.pop(name, None)
                    else:
                        ns.pop(name, None)
                continue
            out = io.StringIO()
            learner.tripped = False
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                    exec(compile(source, "<check>", "exec"), ns)
            except Undecidable as exc:
                if kind == "test":
                    verdicts.append(Verdict(grade_id=cid, status=UNDECIDABLE, reason=str(exc)))
                continue
            except Refusal as exc:
                if kind == "test":
                    verdicts.append(Verdict(grade_id=cid, status=FAIL, reason=str(exc),
                                            learner_made=True, tripwire=exc.tripwire))
                continue
            except BaseException as exc:  # noqa: BLE001 - a failing check is a verdict
                if kind == "test":
                    verdicts.append(Verdict(grade_id=cid, status=FAIL, tripwire=learner.tripped,
                                            reason=_failure_reason(exc, source, _hidden_from(cell))))
                continue
            if kind == "test":
                verdicts.append(Verdict(grade_id=cid, status=PASS))
    finally:
        learner.kill()
    return verdicts


def main() -> None:
    """Read a job on stdin, write the verdicts (or {"error": why}) on the original stdout.
    Whatever a check prints goes nowhere; a judge failure is reported, never a traceback."""
    global _OWNER
    _OWNER = os.getppid()
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    try:
        job = json.loads(sys.stdin.read())
        notes: list[str] = []
        verdicts = judge(job, notes)
        text = json.dumps({"verdicts": [{"grade_id": v.grade_id, "status": v.status,
                                         "reason": v.reason, "learner_made": v.learner_made,
                                         "tripwire": v.tripwire} for v in verdicts],
                           "notes": notes})
    except BaseException as exc:  # noqa: BLE001 - the grader records it as the notebook's reason
        text = json.dumps({"error": f"the judge stopped ({type(exc).__name__})"})
    out.write(text)
    out.flush()


def _children() -> set[int]:
    with open(f"/proc/self/task/{os.getpid()}/children") as fh:
        return {int(p) for p in fh.read().split()}


_WATCH_FD: int | None = None  # an adopted zygote's connection to the process it stands for


def _safe_to_fork(keeper: int | None = None) -> bool:
    """One OS thread, no child process (but the `keeper`), no open file or socket: a fork
    copies this state faithfully (a setup that started a server thread would leave its
    children talking to nobody; an open file would be one file shared by every child)."""
    try:
        if len(os.listdir("/proc/self/task")) != 1:
            return False
        if _children() - {keeper}:
            return False
        for fd in os.listdir("/proc/self/fd"):
            if fd == str(_WATCH_FD):
                continue  # one connection, inherited by every child, written by none
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:") or (target.startswith("/") and not target.startswith(
                    ("/dev/null", "/dev/urandom", "/proc/"))):
                return False
        return True
    except OSError:
        return False


def _import_lines(cells: list[dict[str, Any]]) -> str:
    """The top-level imports of `cells`, as one cell (warming them is safe to share)."""
    from .learner import _parse

    lines = []
    for cell in cells:
        tree = _parse(cell["source"])
        for node in (tree.body if tree is not None else []):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not (
                    isinstance(node, ast.ImportFrom) and node.module == "__future__"):
                lines.append(ast.unparse(node))
    return "\n".join(lines)


def _checkpointed_setup(prefix: list[dict[str, Any]], ns: dict[str, Any]) -> int:
    """Run the prefix cell by cell; returns how many ran in the process that comes back.

    The setup's imports are warmed first (a scratch namespace). Before each step a keeper
    child is forked holding the state so far. If the cell leaves
    the process unforkable (it started a service: threads, sockets, child processes), the
    keeper becomes the zygote with the state before that cell, and this process ends
    (killing what the cell started); otherwise the keeper is dismissed."""
    imports = _import_lines(prefix)
    steps = ([None] if imports else []) + list(prefix)
    ran = 0
    for cell in steps:
        read_end, write_end = os.pipe()
        keeper = os.fork()
        if keeper == 0:
            os.close(write_end)
            word = os.read(read_end, 1)
            os.close(read_end)
            if word == b"k":
                return ran
            os._exit(0)
        os.close(read_end)
        if cell is None:  # warm the setup's imports only (a scratch namespace)
            run_setup([{"source": imports}], {"__name__": "__main__"})
        else:
            run_setup([cell], ns)
        if _safe_to_fork(keeper):
            os.write(write_end, b"x")
            os.close(write_end)
            os.waitpid(keeper, 0)
            ran += cell is not None
            continue
        os.write(write_end, b"k")
        os.close(write_end)
        for pid in _children() - {keeper}:
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        os._exit(0)
    return ran


def serve() -> None:
    """A judge zygote for one source notebook. Reads {"prefix": [setup cells]}, runs as many
    of them as leave a state a fork copies faithfully (`_checkpointed_setup`) and answers
    {"ready": n}; then for each job line forks a child that judges it as `main` would (the
    rest of the setup included), writing the answer to the job's "reply_path", and answers
    {"pid": p} then {"done": status}. Ends at end of input. Learners are launched from the
    warm server of the grading process that started this zygote (`autograde.warm`)."""
    global _OWNER
    if _WATCH_FD is None:
        _OWNER = os.getppid()
        path = judge_image_path(_OWNER)
        if path is not None:
            try:  # the zygote is forked from the grading process's judge image instead
                conn = adopt(path, owner=_OWNER)
            except WarmUnavailable:
                pass
            else:
                with contextlib.suppress(OSError):
                    while conn.recv(4096):  # until the adopted zygote (or its group) ends
                        pass
                os._exit(0)
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    lines = _lines(0)
    first = json.loads(next(lines))
    prefix = list(first.get("prefix", []))
    _arm_tripwires()
    ns: dict[str, Any] = {"__name__": "__main__"}
    ran = _checkpointed_setup(prefix, ns)
    # Files the setup wrote (in this working folder, which is also HOME and TMPDIR) are put
    # back as the setup left them before every child: no child sees another's writes.
    work = os.getcwd()
    snapshot = work.rstrip("/") + ".setup"
    shutil.copytree(work, snapshot, symlinks=True)
    out.write(json.dumps({"ready": ran}) + "\n")
    out.flush()
    for line in lines:
        job = json.loads(line)
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(snapshot, work, symlinks=True)
        os.chdir(work)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(0)
                notes: list[str] = []
                verdicts = judge(job, notes, warm=(ns, ran) if ran else None)
                text = json.dumps({"verdicts": [{"grade_id": v.grade_id, "status": v.status,
                                                 "reason": v.reason, "learner_made": v.learner_made,
                                                 "tripwire": v.tripwire} for v in verdicts],
                                   "notes": notes})
            except BaseException as exc:  # noqa: BLE001 - recorded as the notebook's reason
                text = json.dumps({"error": f"the judge stopped ({type(exc).__name__})"})
                code = 1
            try:
                with open(job["reply_path"], "w", encoding="utf-8") as fh:
                    fh.write(text)
            except OSError:
                code = 2
            os._exit(code)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()
        _, status = os.waitpid(pid, 0)
        out.write(json.dumps({"done": status}) + "\n")
        out.flush()


def _lines(fd: int) -> Any:
    """The lines arriving on `fd`; with an adopted zygote, the process it stands for going
    away ends this zygote's whole process group (its keeper and judge children too)."""
    buf = b""
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line
        watched = [_WATCH_FD] if _WATCH_FD is not None else []
        ready, _, _ = select.select([fd, *watched], [], [])
        if _WATCH_FD is not None and _WATCH_FD in ready:
            try:
                gone = not os.read(_WATCH_FD, 4096)
            except OSError:
                gone = True
            if gone:
                os.killpg(0, 9)
        if fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return
            buf += chunk


def adopted(conn: Any, owner: int) -> None:
    """Serve as the zygote of the process that handed itself over (`autograde.warm.adopt`):
    the judge image already imported what the setup imports."""
    global _OWNER, _WATCH_FD
    _OWNER, _WATCH_FD = owner, conn.fileno()
    serve()


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        main()
