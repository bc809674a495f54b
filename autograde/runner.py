"""A notebook's code cells in one IPython shell, inside the sandbox, with no Jupyter kernel.

Starting ipykernel costs most of a notebook's grading (its imports, ZMQ sockets and the
client handshake); this runner executes the same cells in IPython's own InteractiveShell
and streams one JSON line per finished cell (nbformat outputs) to the grader. Whatever
happens next (a hang, os._exit, a segfault, the budget running out), the cells already
reported are kept and the rest are marked as not run by the grader.

Protocol: <- one JSON line {"cell_seconds": s, "output_bytes": n, "memory": n, "files": n,
"matplotlib": bool}; then, one at a time, <- {"i": index, "source": code} and
-> {"i": index, "n": count, "outputs": [...], "dropped": bytes}. The grader sends a cell only
after the previous one answered, so no cell (a hidden test) is in this process before it runs,
as with a Jupyter kernel.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any


class CellTimeout(BaseException):
    """Raised by the alarm when one cell outlives its share of the budget."""


class _Sink:
    """Collects one cell's outputs, at most `cap` bytes for the whole notebook."""

    def __init__(self, cap: int) -> None:
        self.cap, self.used, self.dropped = cap, 0, 0
        self.outputs: list[dict[str, Any]] = []

    def _room(self, size: int) -> bool:
        if self.used + size > self.cap:
            if not self.dropped:
                self.outputs.append({"output_type": "stream", "name": "stdout",
                                     "text": "\n[autograde: output cap reached; further output dropped]\n"})
            self.dropped += size
            return False
        self.used += size
        return True

    def stream(self, name: str, text: str) -> None:
        if not text or not self._room(len(text)):
            return
        last = self.outputs[-1] if self.outputs else None
        if last and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": text})

    def data(self, kind: str, data: dict[str, Any], metadata: dict[str, Any], count: int) -> None:
        if not self._room(len(json.dumps(data, default=str))):
            return
        out: dict[str, Any] = {"output_type": kind, "data": data, "metadata": metadata or {}}
        if kind == "execute_result":
            out["execution_count"] = count
        self.outputs.append(out)

    def error(self, ename: str, evalue: str, traceback: list[str]) -> None:
        self._room(len(evalue) + sum(map(len, traceback)))
        self.outputs.append({"output_type": "error", "ename": ename, "evalue": evalue,
                             "traceback": traceback[-200:]})


class _Writer:
    def __init__(self, sink: _Sink, name: str) -> None:
        self.sink, self.name = sink, name

    def write(self, text: str) -> int:
        self.sink.stream(self.name, str(text))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return "utf-8"


class _Current:
    """The sink of the notebook being run (the warm image's shell is made before there is one)."""

    sink: _Sink = _Sink(0)


_SHELL: Any = None


def prewarm() -> None:
    """Make the shell in the warm image (`autograde.warm`), before any learner code exists:
    every launch forked from it starts with a fresh copy and points it at its own sink."""
    global _SHELL
    if _SHELL is None:
        _SHELL = _shell()


def _shell(sink: _Sink | None = None) -> Any:
    if sink is not None:
        _Current.sink = sink
    if _SHELL is not None:
        return _SHELL
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class Hook(DisplayHook):
        def write_output_prompt(self) -> None:
            pass

        def write_format_data(self, format_dict, md_dict=None) -> None:  # type: ignore[override]
            _Current.sink.data("execute_result", format_dict, md_dict or {}, self.prompt_count)

        def finish_displayhook(self) -> None:
            pass

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False,
                    **kwargs) -> None:  # type: ignore[override]
            _Current.sink.data("display_data", data, metadata or {}, 0)

        def clear_output(self, wait: bool = False) -> None:
            _Current.sink.outputs.clear()

    class Shell(InteractiveShell):
        """InteractiveShell whose tracebacks become error outputs, as ipykernel's do."""

        def _showtraceback(self, etype, evalue, stb):  # noqa: ANN001 - IPython's hook
            _Current.sink.error(etype.__name__, str(evalue), list(stb))

    cfg = Config()
    cfg.HistoryManager.hist_file = ":memory:"
    cfg.HistoryManager.enabled = False
    cfg.InteractiveShell.colors = "NoColor"
    cfg.InteractiveShell.autocall = 0
    shell = Shell.instance(config=cfg, displayhook_class=Hook, display_pub_class=Publisher)
    return shell


def _on_alarm(signum: int, frame: Any) -> None:
    raise CellTimeout("cell time budget exhausted")


def main() -> None:
    from .sandbox import start_child

    proto_in, proto_out, job = start_child()
    sink = _Sink(int(job["output_bytes"]))
    sys.stdout, sys.stderr = _Writer(sink, "stdout"), _Writer(sink, "stderr")
    shell = _shell(sink)
    if job.get("matplotlib"):
        try:
            shell.enable_matplotlib("inline")
        except Exception:  # noqa: BLE001 - no matplotlib: plots just fail in their cells
            pass
    signal.signal(signal.SIGALRM, _on_alarm)
    seconds = float(job["cell_seconds"])
    for request in proto_in:
        cell = json.loads(request)
        index, source = cell["i"], cell["source"]
        del cell, request
        sink.outputs = []
        count = shell.execution_count
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            shell.run_cell(source, store_history=True)
        except CellTimeout:
            sink.error("CellTimeoutError", "time budget exhausted", ["CellTimeoutError"])
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        line = json.dumps({"i": index, "n": count, "outputs": sink.outputs,
                           "dropped": sink.dropped}, default=str)
        proto_out.write(line + "\n")
        proto_out.flush()
    proto_out.close()
    os._exit(0)  # no atexit hooks of the learner's code get to run


if __name__ == "__main__":
    main()
