"""Stage 5, judge (the grader's side): the judge's job, a warm judge per source, its answer.

`judge_job` builds what the judge process (`autograde.judge`) reads: the source's setup and
test cells (each test cell with the line where its hidden tests begin, read by
`autograde.regions`), the learner's program, the declared names. `run_judge` runs it, in a
warm `Zygote` for the source when one is up, else in a fresh judge process.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from . import regions
from .sandbox import python_cmd, sandbox_env
from .source import SourceModel, _release_code, declared_names, locked_names

NOTES = "\0notes"  # the judge's notes ride along with its verdicts


def judge_job(source: SourceModel, submission: Any, *, learner_argv: list[str],
              limits: Any) -> dict[str, Any]:
    """The judge's input: the source's setup and test cells, the learner's program, and the
    names each answer cell declares."""
    program: list[dict[str, str]] = []
    extras: list[dict[str, str]] = []
    locked = {c.name: c for c in source.cells}
    demos = _release_code(source)
    src_by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in source.nb.cells}
    for i, cell in enumerate(submission.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if meta.get("solution") and gid:
            program.append({"cell": gid, "kind": "answer", "source": cell.source})
        elif gid and gid in locked and not meta.get("grade"):
            program.append({"cell": gid, "kind": "setup", "source": src_by_id[gid].source})
        elif not gid and cell.source.strip() in demos:  # the release's own code
            program.append({"cell": f"extra-{i}", "kind": "setup", "source": cell.source})
        elif not gid:
            program.append({"cell": f"extra-{i}", "kind": "answer", "source": cell.source})
            extras.append({"cell": f"extra-{i}", "kind": "answer", "source": ""})
    cells: list[dict[str, Any]] = list(extras)
    for i, cell in enumerate(source.nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id") or f"source-{i}"
        if meta.get("solution"):
            cells.append({"cell": gid, "kind": "answer", "source": ""})
        elif meta.get("grade"):
            cells.append({"cell": gid, "kind": "test", "source": cell.source,
                          "hidden_from": regions.first_hidden_line(cell.source, source.delimiters)})
        else:
            cells.append({"cell": gid, "kind": "setup", "source": cell.source})
    return {"cells": cells, "program": program, "learner_argv": learner_argv,
            "declared": declared_names(source), "locked": sorted(locked_names(source)),
            "memory": limits.memory_bytes, "files": limits.file_bytes,
            "seconds": limits.judge_seconds, "call_seconds": limits.cell_seconds}


class Zygote:
    """A judge process for one source notebook that ran the source's leading setup cells
    once and forks a child per submission (`autograde.judge.serve`). The judge is trusted
    code, so sharing its warm state is safe; the learner's process stays fresh per
    submission. One per worker process and source notebook; it ends with the worker."""

    def __init__(self, prefix: list[dict[str, Any]]) -> None:
        import multiprocessing.util

        self.tmp = tempfile.mkdtemp(prefix="vl-judge-")
        work = os.path.join(self.tmp, "work")  # the judge's cwd, HOME and TMPDIR
        os.mkdir(work)
        env = sandbox_env()
        env.update(HOME=work, TMPDIR=work, MPLCONFIGDIR=work, IPYTHONDIR=work,
                   OPENBLAS_NUM_THREADS="1")  # numpy's pool would make the zygote unforkable
        self.proc = subprocess.Popen([*python_cmd("autograde.judge"), "--serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=work,
                                     env=env, start_new_session=True)
        self._buf = bytearray()
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"prefix": prefix}).encode() + b"\n")
        self.proc.stdin.flush()
        self.ready: int | None = None
        multiprocessing.util.Finalize(self, Zygote._close, args=(self.proc, self.tmp), exitpriority=10)

    @staticmethod
    def _close(proc: subprocess.Popen[bytes], tmp: str) -> None:
        import shutil

        with contextlib.suppress(OSError):  # the zygote, its keeper and children: one group
            os.killpg(proc.pid, 9)
        with contextlib.suppress(Exception):
            proc.wait(timeout=5)
        shutil.rmtree(tmp, ignore_errors=True)

    def _line(self, deadline: float) -> dict[str, Any]:
        import select

        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise EOFError
                self._buf += chunk
        line, _, rest = bytes(self._buf).partition(b"\n")
        self._buf = bytearray(rest)
        return json.loads(line)

    def judge(self, job: dict[str, Any], seconds: float) -> bytes:
        """The judge's answer (bytes, as `main` writes it). Raises OSError, TimeoutError,
        EOFError or ValueError when the zygote cannot answer (the caller falls back)."""
        deadline = time.monotonic() + seconds
        if self.ready is None:
            self.ready = int(self._line(deadline + 60)["ready"])

        reply = Path(self.tmp) / f"reply-{os.getpid()}-{time.monotonic_ns()}.json"
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({**job, "reply_path": str(reply)}).encode() + b"\n")
        self.proc.stdin.flush()
        pid = int(self._line(deadline)["pid"])
        try:
            self._line(deadline)
        except TimeoutError:
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
            self._line(time.monotonic() + 10)
            raise
        try:
            return reply.read_bytes()
        finally:
            reply.unlink(missing_ok=True)


_ZYGOTES: dict[str, Zygote | None] = {}


def _zygote(key: str, job: dict[str, Any]) -> Zygote | None:
    from .judge import split_prefix

    if key not in _ZYGOTES:
        try:
            _ZYGOTES[key] = Zygote(split_prefix(job["cells"])[0])
        except OSError:
            _ZYGOTES[key] = None
    return _ZYGOTES[key]


def run_judge(job: dict[str, Any], *, seconds: float,
              zygote: str | None = None) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Run the judge; (verdicts by grade_id, error or None). With `zygote` (a key naming the
    source notebook), a warm judge for that source forks per call; a zygote that fails is
    dropped and the job runs in a fresh judge process instead."""
    stdout: bytes | None = None
    warm = _zygote(zygote, job) if zygote else None
    if warm is not None:
        try:
            stdout = warm.judge(job, seconds + 15)
        except TimeoutError:
            return {}, "the judge ran out of time"
        except (OSError, EOFError, ValueError, KeyError, TypeError):
            Zygote._close(warm.proc, warm.tmp)
            _ZYGOTES[zygote] = None  # type: ignore[index]
            stdout = None
    if stdout is None:
        with tempfile.TemporaryDirectory(prefix="vl-judge-") as tmp:
            env = sandbox_env()
            env.update(HOME=tmp, TMPDIR=tmp, MPLCONFIGDIR=tmp, IPYTHONDIR=tmp)
            try:
                proc = subprocess.run(python_cmd("autograde.judge"), input=json.dumps(job).encode(),
                                      capture_output=True, timeout=seconds + 15, cwd=tmp, env=env)
            except subprocess.TimeoutExpired:
                return {}, "the judge ran out of time"
        if proc.returncode != 0:
            return {}, f"the judge failed (exit {proc.returncode})"
        stdout = proc.stdout
    try:
        data = json.loads(stdout)
        if not isinstance(data, dict) or "error" in data:
            return {}, str(data.get("error", "the judge's answer was unreadable"))[:200]
        out = {str(v["grade_id"]): {"status": str(v["status"]), "reason": str(v.get("reason", ""))[:400],
                                    "tripwire": bool(v.get("tripwire"))} for v in data["verdicts"]}
        out[NOTES] = {"status": "notes", "notes": [str(n)[:200] for n in data.get("notes", [])][:20]}
        return out, None
    except (ValueError, KeyError, TypeError, RecursionError):
        return {}, "the judge's answer was unreadable"
