"""The outside verdict: the instructor's checks run where the learner's code cannot reach.

A judge process runs the *source* notebook's setup and test cells (hidden tests included,
read from the grader's memory over a pipe, never from a file in any sandbox). Every name an
answer cell defines is a proxy: calling it sends plain data to the learner's definitions in
their own confined process (`autograde.learner`) and rebuilds the answer with the judge's own
types. So the `assert` that decides runs in a process whose builtins, import system, tracer and
`AssertionError` the learner never touched, on values that cannot be always-equal.

A check is *undecidable* here when it passes something the marshal cannot carry (a key ring,
a live server, a callable): then the kernel's verdict stands and the report says so.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import select
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

PASS, FAIL, UNDECIDABLE = "passed", "failed", "undecidable"
MAX_LINE = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """One exercise's outside verdict: passed, failed (with why) or undecidable (with why)."""

    grade_id: str
    status: str
    reason: str = ""
    learner_made: bool = False


class Undecidable(BaseException):
    """The judge cannot carry a value across; BaseException so a test's `except` can't eat it."""


class Refusal(BaseException):
    """The learner's side broke the rules (not plain data, crashed, hung): the check fails."""


class _Learner:
    """A learner process, restarted after it dies (a crash fails one call, not the rest)."""

    def __init__(self, argv: list[str], program: list[dict[str, Any]], memory: int, files: int,
                 call_seconds: float, deadline: float) -> None:
        self.argv, self.program = argv, program
        self.memory, self.files = memory, files
        self.call_seconds, self.deadline = call_seconds, deadline
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready: dict[str, Any] = {}
        self.restarts = 0

    def launch(self) -> None:
        """Start the process and send the program; `wait_ready` collects its answer (the
        judge runs the source's setup cells meanwhile)."""
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        job = {"program": self.program, "memory": self.memory, "files": self.files}
        self._send(job)

    def wait_ready(self) -> dict[str, Any]:
        reply = self._recv(self.call_seconds * 2, "loading the definitions")
        self.ready = reply.get("ready", {}) if isinstance(reply, dict) else {}
        return self.ready

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
        assert self.proc is not None and self.proc.stdout is not None
        limit = min(time.monotonic() + seconds, self.deadline)
        fd = self.proc.stdout.fileno()
        buf = bytearray()
        while not buf.endswith(b"\n"):
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
        try:
            return json.loads(bytes(buf))
        except ValueError:
            self.kill()
            raise Refusal(f"garbled answer while {doing}") from None

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        from .marshal import NotPlainData, decode, decode_exception, encode, originals_of

        try:
            payload = {"call": name, "args": encode(list(args)), "kwargs": encode(dict(kwargs))}
            sent = originals_of(list(args), payload["args"])
            originals_of(dict(kwargs), payload["kwargs"], sent)
        except NotPlainData as exc:
            raise Undecidable(f"argument to {name}() cannot cross to the learner's process: "
                              f"{exc.reason}") from None
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
        if "raise" in reply and isinstance(reply["raise"], dict):
            raise decode_exception(reply["raise"])
        reason = f"{name}() returned {reply.get('refused', 'something unreadable')}"
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


def _failure_reason(exc: BaseException, source: str) -> str:
    if isinstance(exc, AssertionError):
        if str(exc):
            return f"AssertionError: {str(exc)[:300]}"
        tb = traceback.extract_tb(exc.__traceback__)
        line = next((f.lineno for f in reversed(tb) if f.filename == "<check>"), None)
        if line is not None:
            text = source.splitlines()[line - 1].strip() if line <= len(source.splitlines()) else ""
            visible = "### BEGIN HIDDEN TESTS" not in "\n".join(source.splitlines()[:line])
            return f"assertion failed: {text[:200]}" if visible else "a hidden check failed"
        return "AssertionError"
    return f"{type(exc).__name__}: {str(exc)[:300]}".rstrip(": ")


def judge(job: dict[str, Any]) -> list[Verdict]:
    """Run the checks of `job` (see `autograde.grade`) and return one verdict per test cell."""
    from .marshal import NotPlainData, decode

    deadline = time.monotonic() + float(job["seconds"])
    learner = _Learner(job["learner_argv"], job["program"], int(job["memory"]), int(job["files"]),
                       float(job["call_seconds"]), deadline)
    verdicts: list[Verdict] = []
    ns: dict[str, Any] = {"__name__": "__main__"}
    try:
        ready: dict[str, Any] | None = None
        try:
            learner.launch()
        except Refusal as exc:
            ready = {"cells": {}, "load_errors": [str(exc)]}
        for cell in job["cells"]:
            kind, cid, source = cell["kind"], cell["cell"], cell["source"]
            if kind != "setup" and ready is None:
                try:
                    ready = learner.wait_ready()
                except Refusal as exc:
                    ready = {"cells": {}, "load_errors": [str(exc)]}
            if kind == "answer":
                assert ready is not None
                for name, info in ready.get("cells", {}).get(cid, {}).items():
                    if info.get("callable"):
                        ns[name] = _Proxy(learner, name)
                    elif "value" in info:
                        try:
                            ns[name] = decode(info["value"])
                        except NotPlainData:
                            ns.pop(name, None)
                    else:
                        ns.pop(name, None)
                continue
            out = io.StringIO()
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
                                            learner_made=True))
                continue
            except BaseException as exc:  # noqa: BLE001 - a failing check is a verdict
                if kind == "test":
                    verdicts.append(Verdict(grade_id=cid, status=FAIL,
                                            reason=_failure_reason(exc, source)))
                continue
            if kind == "test":
                verdicts.append(Verdict(grade_id=cid, status=PASS))
    finally:
        learner.kill()
    return verdicts


def main() -> None:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    job = json.loads(sys.stdin.read())
    verdicts = judge(job)
    out.write(json.dumps([{"grade_id": v.grade_id, "status": v.status, "reason": v.reason,
                           "learner_made": v.learner_made} for v in verdicts]))
    out.flush()


if __name__ == "__main__":
    main()
