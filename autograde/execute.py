"""Run one sanitized notebook in a confined kernel, within a budget for the whole notebook.

nbclient drives the kernel from the grader's process; only the kernel runs in the sandbox,
talking over ipc sockets in a fresh run folder (no TCP: the sandbox has no network). The
kernel is killed, never asked to shut down (a busy kernel's graceful shutdown stalls), and a
notebook that outlives its budget keeps what ran and marks the rest as not run.
"""
from __future__ import annotations

import asyncio
import json
import shutil
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

KERNEL_NAME = "vault-lab-sandboxed"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunEvents:
    """What happened to a run besides its outputs: each is a reason shown to a human."""

    timed_out_cell: int | None = None
    dead_kernel_cell: int | None = None
    output_dropped_bytes: int = 0
    startup_error: str | None = None
    seconds: float = 0.0

    def reasons(self) -> tuple[str, ...]:
        out = []
        if self.startup_error:
            out.append(f"kernel could not start: {self.startup_error}")
        if self.timed_out_cell is not None:
            out.append(f"time budget exhausted in cell {self.timed_out_cell}: the rest was not run")
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


def run_notebook(nb: Any, *, sandbox: Sandbox, limits: Limits,
                 files: tuple[Path, ...] = (), files_root: Path | None = None) -> RunEvents:
    """Execute `nb` in place (outputs filled) in a confined kernel; never raises for bad code.

    `files` (the assignment's data files, never notebooks) are copied next to the kernel.
    """
    with tempfile.TemporaryDirectory(prefix="vl-kernel-") as tmp:
        rundir = Path(tmp)
        rundir.chmod(0o777)  # the kernel runs as nobody and creates its ipc sockets here
        for path in files:
            rel = path.relative_to(files_root) if files_root else Path(path.name)
            (rundir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, rundir / rel)
        return asyncio.run(_run(nb, sandbox, limits, rundir))
