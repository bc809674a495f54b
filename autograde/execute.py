"""Run one sanitized notebook in a confined kernel, within a budget for the whole notebook.

nbclient drives the kernel from the grader's process; only the kernel runs in the sandbox,
talking over ipc sockets in a fresh run folder (no TCP: the sandbox has no network). The
kernel is killed, never asked to shut down (a busy kernel's graceful shutdown stalls), and a
notebook that outlives its budget keeps what ran and marks the rest as not run.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from traitlets import Instance

from .config import Limits
from .sandbox import Sandbox, python_cmd, sandbox_env
from .warm import WarmProcess, WarmUnavailable, server_for

KERNEL_NAME = "vault-lab-sandboxed"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunEvents:
    """What happened to a run besides its outputs: each is a reason shown to a human."""

    timed_out_cell: int | None = None
    dead_kernel_cell: int | None = None
    output_dropped_bytes: int = 0
    interrupted_cells: tuple[int, ...] = ()
    startup_error: str | None = None
    seconds: float = 0.0

    def reasons(self) -> tuple[str, ...]:
        out = []
        if self.startup_error:
            out.append(f"kernel could not start: {self.startup_error}")
        if self.timed_out_cell is not None:
            out.append(f"time budget exhausted in cell {self.timed_out_cell}: the rest was not run")
        for index in self.interrupted_cells:
            out.append(f"cell {index} ran out of time and was interrupted (the rest still ran)")
        if self.dead_kernel_cell is not None:
            out.append(f"kernel died in cell {self.dead_kernel_cell}: the rest was not run")
        if self.output_dropped_bytes:
            out.append(f"output flood: {self.output_dropped_bytes} bytes of output dropped")
        return tuple(out)


class _OneSpec(KernelSpecManager):
    """Hands out exactly one kernel spec: the sandboxed one built for this run."""

    spec = Instance(KernelSpec)

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return self.spec


class _CappedClient(NotebookClient):
    """nbclient that keeps at most `output_cap` bytes of output per notebook (bytes, not lines)."""

    def __init__(self, *args: Any, output_cap: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.output_cap = output_cap
        self.output_kept = 0
        self.output_dropped = 0

    def output(self, outs, msg, display_id, cell_index):  # type: ignore[no-untyped-def]
        size = len(json.dumps(msg.get("content", {}), default=str))
        if self.output_kept + size > self.output_cap:
            if not self.output_dropped:
                outs.append(nbformat.v4.new_output(
                    "stream", name="stdout",
                    text="\n[autograde: output cap reached; further output dropped]\n"))
            self.output_dropped += size
            return None
        self.output_kept += size
        return super().output(outs, msg, display_id, cell_index)


def _kernel_spec(sandbox: Sandbox, limits: Limits, rundir: Path) -> KernelSpec:
    cmd = python_cmd("autograde.kernel_entry", str(limits.memory_bytes), str(limits.file_bytes),
                     "-f", "{connection_file}", "--HistoryManager.hist_file=:memory:")
    argv = sandbox.wrap(cmd, rw=(rundir,), workdir=str(rundir))
    return KernelSpec(argv=argv, display_name="Python 3 (sandboxed)", language="python")


def _record_silent_errors(cell: Any, execute_reply: dict[str, Any], **_: Any) -> None:
    """As nbgrader's Execute does: an error reply with suppressed traceback still fails."""
    content = execute_reply.get("content", {})
    if content.get("status") != "error":
        return
    if any(o.output_type == "error" and o.get("ename") == content.get("ename") for o in cell.outputs):
        return
    cell.outputs.append(nbformat.v4.new_output(
        "error", ename=str(content.get("ename", "Error")), evalue=str(content.get("evalue", "")),
        traceback=list(content.get("traceback") or ["ERROR: the traceback was suppressed"])))


def _not_run(cell: Any, why: str) -> None:
    cell.outputs = [nbformat.v4.new_output("error", ename="NotRun", evalue=why,
                                           traceback=[f"NotRun: {why}"])]


async def _run(nb: Any, sandbox: Sandbox, limits: Limits, rundir: Path) -> RunEvents:
    spec = _kernel_spec(sandbox, limits, rundir)
    km = AsyncKernelManager(kernel_spec_manager=_OneSpec(spec=spec), kernel_name=KERNEL_NAME,
                            transport="ipc", ip=str(rundir / "k"),
                            connection_file=str(rundir / "kernel.json"))
    client = _CappedClient(nb, km=km, output_cap=limits.output_bytes, allow_errors=True,
                           interrupt_on_timeout=False, shutdown_kernel="immediate",
                           startup_timeout=60, timeout=limits.cell_seconds,
                           record_timing=False, iopub_timeout=5)
    client.on_cell_executed = _record_silent_errors
    start = time.monotonic()
    deadline = start + limits.notebook_seconds
    timed_out = dead = None
    env = sandbox_env() if sandbox.confined else _unconfined_env(rundir)
    try:
        async with client.async_setup_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                             cwd=str(rundir), env=env):
            count = 0
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                remaining = deadline - time.monotonic()
                if timed_out is not None or dead is not None or remaining <= 0:
                    if timed_out is None and dead is None:
                        timed_out = index
                    _not_run(cell, "the notebook's time budget ran out or its kernel died")
                    continue
                client.timeout = max(1, int(min(limits.cell_seconds, remaining)))
                count += 1
                try:
                    await client.async_execute_cell(cell, index, execution_count=count)
                except CellTimeoutError:
                    timed_out = index
                    _not_run(cell, "time budget exhausted")
                except DeadKernelError:
                    dead = index
                    _not_run(cell, "the kernel died")
    except Exception as exc:  # noqa: BLE001 - a submission must never take the grader down
        return RunEvents(startup_error=type(exc).__name__, seconds=time.monotonic() - start)
    return RunEvents(timed_out_cell=timed_out, dead_kernel_cell=dead,
                     output_dropped_bytes=client.output_dropped,
                     seconds=time.monotonic() - start)


def _unconfined_env(rundir: Path) -> dict[str, str]:
    env = sandbox_env()
    env.update(HOME=str(rundir), TMPDIR=str(rundir), MPLCONFIGDIR=str(rundir / "mpl"),
               IPYTHONDIR=str(rundir / "ipython"))
    return env


ENGINES = ("ipython", "kernel")
MAX_LINE_SLACK = 1024 * 1024


def _clean_output(raw: Any) -> Any:
    """An nbformat output rebuilt from untrusted runner data (types coerced, fields fixed)."""
    kind = raw.get("output_type") if isinstance(raw, dict) else None
    if kind == "stream":
        return nbformat.v4.new_output("stream", name="stderr" if raw.get("name") == "stderr"
                                      else "stdout", text=str(raw.get("text", "")))
    if kind == "error":
        tb = raw.get("traceback") if isinstance(raw.get("traceback"), list) else []
        return nbformat.v4.new_output("error", ename=str(raw.get("ename", "Error")),
                                      evalue=str(raw.get("evalue", "")),
                                      traceback=[str(t) for t in tb])
    if kind in ("display_data", "execute_result"):
        data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
        data = {str(k): v if isinstance(v, (str, dict, list)) else str(v) for k, v in data.items()}
        meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        if kind == "execute_result":
            count = raw.get("execution_count")
            return nbformat.v4.new_output(kind, data=data, metadata=meta,
                                          execution_count=count if isinstance(count, int) else None)
        return nbformat.v4.new_output(kind, data=data, metadata=meta)
    return None


def _start_runner(sandbox: Sandbox, rundir: Path) -> Any:
    """The runner process: forked from this worker's warm image (`autograde.warm`: the kit,
    IPython and matplotlib already imported) into a fresh sandbox of its own, holding a copy
    of the run folder's files; or, without a warm server, a cold confined Python."""
    judges = server_for(sandbox, "judge")  # the judge image: the next zygotes fork from it
    if judges is not None:
        judges.wait_ready(wait=False)
    server = server_for(sandbox)
    if server is not None:
        files = {str(p.relative_to(rundir)): p.read_bytes() for p in sorted(rundir.rglob("*"))
                 if p.is_file() and not p.is_symlink()}
        try:
            return server.launch("runner", files=files)
        except WarmUnavailable:
            pass
    argv = sandbox.wrap(python_cmd("autograde.runner"), rw=(rundir,), workdir=str(rundir))
    env = sandbox_env() if sandbox.confined else _unconfined_env(rundir)
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, cwd=str(rundir), env=env,
                            start_new_session=True)


def _kill(proc: Any) -> None:
    if isinstance(proc, WarmProcess):
        proc.kill()
    else:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)


def _run_ipython(nb: Any, sandbox: Sandbox, limits: Limits, rundir: Path) -> RunEvents:
    """The cells in `autograde.runner` (IPython, no kernel) inside the sandbox."""
    code = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    job = {"cell_seconds": limits.cell_seconds, "output_bytes": limits.output_bytes,
           "memory": limits.memory_bytes, "files": limits.file_bytes,
           "matplotlib": any(k in c.source for c in nb.cells
                             for k in ("matplotlib", "plt.", "plots"))}
    start = time.monotonic()
    deadline = start + limits.notebook_seconds
    proc = _start_runner(sandbox, rundir)
    reported: dict[int, dict[str, Any]] = {}
    budget_hit = False
    dropped = 0
    pending = list(code)

    def send(obj: Any) -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(obj).encode() + b"\n")
            proc.stdin.flush()
        except OSError:
            pass

    try:
        assert proc.stdin is not None and proc.stdout is not None
        send(job)
        if pending:
            index, source = pending.pop(0)
            send({"i": index, "source": source})
        else:
            proc.stdin.close()
        fd, buf = proc.stdout.fileno(), bytearray()
        cap = limits.output_bytes * 2 + MAX_LINE_SLACK
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                budget_hit = True
                break
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, _, rest = bytes(buf).partition(b"\n")
                buf = bytearray(rest)
                try:
                    item = json.loads(line)
                    reported[int(item["i"])] = item
                    dropped = max(dropped, int(item.get("dropped", 0)))
                except (ValueError, KeyError, TypeError, RecursionError):
                    continue
                # The next cell goes out only now: it was never in the sandbox before.
                if pending:
                    index, source = pending.pop(0)
                    send({"i": index, "source": source})
                elif not proc.stdin.closed:
                    proc.stdin.close()
            if len(buf) > cap:
                dropped += len(buf)
                break
    finally:
        if proc.poll() is None:
            _kill(proc)
        proc.wait()
        if proc.stdin is not None and not proc.stdin.closed:
            try:
                proc.stdin.close()
            except OSError:
                pass
    timed_out = dead = None
    interrupted: list[int] = []
    for index, _source in code:
        cell = nb.cells[index]
        item = reported.get(index)
        if item is None:
            if timed_out is None and dead is None:
                if budget_hit:
                    timed_out = index
                else:
                    dead = index
            _not_run(cell, "the notebook's time budget ran out or its kernel died")
            continue
        outs = [o for o in (_clean_output(x) for x in item.get("outputs", [])
                            if isinstance(item.get("outputs"), list)) if o is not None]
        cell.outputs = outs
        cell.execution_count = item.get("n") if isinstance(item.get("n"), int) else None
        if any(o.output_type == "error" and o.ename in ("CellTimeoutError", "CellTimeout")
               for o in outs):
            interrupted.append(index)
    return RunEvents(timed_out_cell=timed_out, dead_kernel_cell=dead,
                     output_dropped_bytes=dropped, interrupted_cells=tuple(interrupted),
                     seconds=time.monotonic() - start)


def run_notebook(nb: Any, *, sandbox: Sandbox, limits: Limits,
                 files: tuple[Path, ...] = (), files_root: Path | None = None,
                 engine: str = "ipython") -> RunEvents:
    """Execute `nb` in place (outputs filled), confined; never raises for bad code.

    engine "ipython" runs the cells in IPython inside the sandbox (`autograde.runner`, fast);
    "kernel" starts a real Jupyter kernel in the sandbox and drives it with nbclient.
    `files` (the assignment's data files, never notebooks) are copied next to the code.
    """
    with tempfile.TemporaryDirectory(prefix="vl-kernel-") as tmp:
        rundir = Path(tmp)
        rundir.chmod(0o777)  # the kernel runs as nobody and creates its ipc sockets here
        for path in files:
            rel = path.relative_to(files_root) if files_root else Path(path.name)
            (rundir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, rundir / rel)
        if engine == "ipython":
            return _run_ipython(nb, sandbox, limits, rundir)
        return asyncio.run(_run(nb, sandbox, limits, rundir))
