"""Confinement for code under grading: Debian's bubblewrap, or a loud unconfined fallback.

A confined process sees a read-only Python, the read-only lab kit and this package, a private
/tmp, its own pid/net/ipc/uts namespaces (no network at all, not even the host's loopback),
runs as `nobody`, and dies with its parent. It never sees the course folder, the gradebook,
the source notebooks or any other student's files: the only writable bind is the run folder
the caller passes (a fresh tmp dir holding just a kernel connection file).

Without `bwrap` the same command runs unconfined, and `Sandbox.warning` says so; every
result graded that way carries the warning into the report.
"""
from __future__ import annotations

import importlib.util
import json
import os
import resource
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

NOBODY = 65534
UNCONFINED_WARNING = (
    "UNCONFINED: bubblewrap (bwrap) is not available, so student code ran with the grader's "
    "rights (it could read the course folder and write the gradebook); install bubblewrap "
    "(`make sysdeps` or `apt-get install bubblewrap`) and regrade"
)
FORCE_UNCONFINED_ENV = "AUTOGRADE_UNCONFINED"


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _readonly_roots() -> tuple[Path, ...]:
    """What a sandboxed Python needs to read: its install, the venv, the kit, this package."""
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    for pkg in ("course", "autograde"):
        found = _package_dir(pkg)
        if found is not None:
            roots.add(found)
    # Nested roots would be bound twice; keep only the outermost.
    ordered = sorted(roots, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in ordered:
        if not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    return tuple(kept)


def sandbox_env() -> dict[str, str]:
    """The whole environment a confined process gets (nothing inherited, no tokens)."""
    return {
        "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "MPLCONFIGDIR": "/tmp/mpl",
        "MPLBACKEND": "agg",
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "JUPYTER_PLATFORM_DIRS": "1",
        "IPYTHONDIR": "/tmp/ipython",
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class Sandbox:
    """How to start a process under grading. `confined` False means the fallback ran."""

    confined: bool
    bwrap: str | None = None
    warning: str | None = None

    def wrap(self, cmd: Sequence[str], *, rw: Sequence[Path] = (), workdir: str = "/tmp",
             readonly: Sequence[str] = ()) -> list[str]:
        """The argv that runs `cmd` confined (or as-is, unconfined, for the fallback).
        `readonly` names sandbox paths remounted read-only last (the warm server makes `/`
        and `/dev` read-only so that its children share nothing writable)."""
        if not self.confined:
            return list(cmd)
        argv = [self.bwrap or "bwrap", "--unshare-all", "--unshare-user",
                "--uid", str(NOBODY), "--gid", str(NOBODY),
                "--die-with-parent", "--new-session", "--clearenv"]
        for key, value in sandbox_env().items():
            argv += ["--setenv", key, value]
        # The private /tmp comes first: a course (or its venv) that itself lives under /tmp,
        # as a fresh CI clone may, is then bound on top of it instead of hidden by it.
        argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for top in ("usr", "lib", "lib64", "lib32", "bin", "sbin"):
            host = Path("/") / top
            if host.is_symlink():
                argv += ["--symlink", os.readlink(host), str(host)]
            elif host.is_dir():
                argv += ["--ro-bind", str(host), str(host)]
        for root in _readonly_roots():
            argv += ["--ro-bind", str(root), str(root)]
        for path in rw:
            argv += ["--bind", str(path), str(path)]
        for path in readonly:
            argv += ["--remount-ro", path]
        argv += ["--chdir", workdir, "--"]
        return argv + list(cmd)


def detect() -> Sandbox:
    """The best sandbox this machine offers; never raises (the fallback is recorded instead)."""
    found = shutil.which("bwrap")
    if found is None or os.environ.get(FORCE_UNCONFINED_ENV) == "1":
        return Sandbox(confined=False, warning=UNCONFINED_WARNING)
    return Sandbox(confined=True, bwrap=found)


def apply_limits(*, memory_bytes: int, file_bytes: int) -> None:
    """Cap this process (and what it forks): address space, file size, no core dumps."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def start_child() -> tuple[TextIO, TextIO, dict[str, Any]]:
    """In a confined child: keep stdin/stdout for the JSON protocol, point fds 0-2 at
    /dev/null (nothing learner code prints can corrupt the protocol), read the job, and
    apply its memory and file-size limits. Returns (protocol in, protocol out, job)."""
    proto_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
    proto_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    job = json.loads(proto_in.readline())
    apply_limits(memory_bytes=int(job["memory"]), file_bytes=int(job["files"]))
    return proto_in, proto_out, job


def python_cmd(module: str, *args: str) -> list[str]:
    """Run one of this package's entry modules with the venv's Python, isolated from cwd."""
    return [sys.executable, "-I", "-m", module, *args]
