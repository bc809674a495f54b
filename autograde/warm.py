"""A warm image for confined learner processes: one fork server per worker, a fresh sandbox
per submission.

Starting a confined Python for every submission costs more than most notebooks take to run:
the interpreter, IPython, matplotlib, the kit, `jwt` and `cryptography`, imported again each
time. Here one process per grading worker imports all of that once, inside bubblewrap (the
same binds and limits as any confined process, `/` and `/dev` read-only), and never runs a
line of learner code itself. Per launch it forks; the child, before anything of the
submission reaches it, enters a sandbox of its own nested inside the server's:

- new user, mount, pid, network, ipc and uts namespaces (`unshare`), so it cannot signal,
  trace or talk to the server, to another submission's processes or to anything on the host;
- a fresh, private `/tmp` (its working folder, holding only the files the launch sends) and
  `/dev/shm`: nothing one submission writes is seen by another;
- every capability dropped (bounding set included), `no_new_privs` (from bubblewrap), dies
  with its parent, its own session; then the entry module's usual start (`start_child`:
  the protocol pipes, the job's rlimits).

The learner's process is a child of a pid-1 reaper in its own pid namespace: when the
grader kills it (or it ends), the namespace goes, with anything it left running. The
server is not dumpable, so a child cannot read or write its memory through /proc.

One difference from a cold sandbox, said plainly: a launch cannot mount a /proc of its own
(the kernel refuses a new proc mount under bubblewrap's, whose /proc/sys is covered), so its
/proc lists the server's pid namespace: the server, and the launches of the same worker
(one submission at a time: its runner and its learner). It can read their command lines
(the server's) and CPU times, not their memory, environment or maps (not dumpable), and
cannot signal them (not in its pid namespace). `os.getpid()` is its pid in its own
namespace, `/proc/self` its pid in the server's.

Forking happens before any thread or socket of a submission exists: the server is
single-threaded and holds only its listening socket, which every child closes first.

Launch protocol (a unix socket in a 0700 folder of the grader's, never inside a sandbox):
a connection per launch; the client sends one byte with two descriptors (the child's
stdin and stdout) and then a length-prefixed JSON request {"entry": "runner"|"learner",
"workdir": path, "files": {relative path: base64}}; the connection then carries the child's
exit status ({"status": n}) and closing it (or the client dying) kills the child.
"""
from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .sandbox import Sandbox, _readonly_roots, python_cmd, sandbox_env

ENTRIES = {"runner": "autograde.runner", "learner": "autograde.learner"}
WORKDIRS = {"runner": "/tmp/run", "learner": "/tmp"}
MAX_REQUEST = 64 * 1024 * 1024
READY_SECONDS = 60.0

# Linux constants (sched.h, mount.h, prctl.h, capability.h)
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 2, 4, 16384, 1 << 18
MS_BIND, MS_MOVE = 4096, 8192
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522


class WarmUnavailable(Exception):
    """No warm server can launch this process (the caller starts a cold one instead)."""


# ------------------------------------------------------------------ inside the server


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _drop_capabilities(libc: Any) -> None:
    """Empty the bounding, ambient, effective, permitted and inheritable sets."""
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:
            break  # EINVAL: past the last capability this kernel knows
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(libc.capset(header, data), "capset")


def _nest(libc: Any) -> None:
    """Enter fresh namespaces nested in the server's sandbox, with a private /tmp and /dev/shm.
    The uid stays the sandbox's `nobody` (mapped onto itself)."""
    uid, gid = os.getuid(), os.getgid()
    _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC
                        | CLONE_NEWUTS), "unshare")
    with open("/proc/self/setgroups", "w") as fh:
        fh.write("deny")
    with open("/proc/self/uid_map", "w") as fh:
        fh.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as fh:
        fh.write(f"{gid} {gid} 1")
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount private")
    _check(libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=1777"),
           "mount tmpfs on /dev/shm")
    _fresh_tmp(libc)


def _fresh_tmp(libc: Any) -> None:
    """A private, empty /tmp that still shows the read-only roots living under /tmp.

    A course (or its venv) cloned under /tmp, as a fresh CI clone may be, is bound read-only
    at its own path in the server's sandbox; a plain tmpfs on /tmp would hide it, and every
    lazy import of the launch would fail. The new tmpfs is built aside (in the fresh
    /dev/shm), those roots are bound into it (a bind keeps the source's read-only flag), and
    it is moved onto /tmp."""
    under_tmp = [root for root in _readonly_roots() if root.is_relative_to("/tmp")]
    if not under_tmp:
        _check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=1777"),
               "mount tmpfs on /tmp")
        return
    stage = "/dev/shm/.tmp"
    os.mkdir(stage)
    _check(libc.mount(b"tmpfs", stage.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=1777"),
           "mount tmpfs on the staged /tmp")
    for root in under_tmp:
        target = stage + str(root)[len("/tmp"):]
        os.makedirs(target)
        _check(libc.mount(str(root).encode(), target.encode(), None, MS_BIND | MS_REC, None),
               "bind a read-only root into the staged /tmp")
    _check(libc.mount(stage.encode(), b"/tmp", None, MS_MOVE, None), "move the staged /tmp")
    os.rmdir(stage)


def _write_files(workdir: str, files: dict[str, str]) -> None:
    os.makedirs(workdir, exist_ok=True)
    for rel, data in files.items():
        path = os.path.normpath(os.path.join(workdir, rel))
        if not path.startswith(workdir.rstrip("/") + "/"):
            continue  # a path outside the working folder is not a data file
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(data))


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = conn.recv(min(size - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _launch(conn: socket.socket, listener: socket.socket) -> None:
    """In a forked child of the server: receive the launch, sandbox, run. Never returns."""
    code = 1
    try:
        listener.close()
        libc = _libc()
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _, fds, _, _ = socket.recv_fds(conn, 1, 2)
        if len(fds) != 2:
            os._exit(1)
        (size,) = struct.unpack("!I", _recv_exact(conn, 4))
        if size > MAX_REQUEST:
            os._exit(1)
        request = json.loads(_recv_exact(conn, size))
        entry = ENTRIES[str(request["entry"])]
        workdir = str(request.get("workdir") or WORKDIRS[str(request["entry"])])
        _nest(libc)
        reaper = os.fork()  # pid 1 of the new pid namespace
        if reaper == 0:
            conn.close()
            _reaper(libc, fds, entry, workdir, request.get("files") or {})
        for fd in fds:
            os.close(fd)
        code = _supervise(conn, reaper)
    except BaseException:  # noqa: BLE001 - a launch that fails is an exit status, not a crash
        code = 1
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps({"status": code}).encode() + b"\n")
    os._exit(0)


def _supervise(conn: socket.socket, reaper: int) -> int:
    """Wait for the reaper to end, or for the client to hang up (then kill the namespace)."""
    pidfd = os.pidfd_open(reaper)
    while True:
        ready, _, _ = select.select([conn, pidfd], [], [])
        if pidfd in ready:
            break
        try:
            data = conn.recv(64)
        except OSError:
            data = b""
        if not data:
            with contextlib.suppress(OSError):
                os.kill(reaper, signal.SIGKILL)
            break
    _, status = os.waitpid(reaper, 0)
    return os.waitstatus_to_exitcode(status)


def _reaper(libc: Any, fds: list[int], entry: str, workdir: str, files: dict[str, str]) -> None:
    """pid 1 of the child's namespace: drop every capability, fork the entry, reap, exit with
    the entry's status (which ends the namespace and whatever the learner left running)."""
    code = 1
    try:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.setsid()
        _write_files(workdir, files)
        os.chdir(workdir)
        _drop_capabilities(libc)
        pid = os.fork()
        if pid == 0:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            _become(fds, entry)
        for fd in fds:
            os.close(fd)
        while True:
            done, status = os.waitpid(-1, 0)
            if done == pid:
                code = os.waitstatus_to_exitcode(status)
                break
    except BaseException:  # noqa: BLE001
        pass
    os._exit(code if code >= 0 else 128 - code)


def _become(fds: list[int], entry: str) -> None:
    """Turn this forked process into the entry module's process, as `python -m entry` would."""
    try:
        os.dup2(fds[0], 0)
        os.dup2(fds[1], 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.closerange(3, 4096)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.argv = [entry]
        if entry == ENTRIES["learner"]:  # as in a cold learner: no IPython names in builtins
            import builtins

            for name in set(vars(builtins)) - _PLAIN_BUILTINS:
                del vars(builtins)[name]
        import importlib

        importlib.import_module(entry).main()
    except BaseException:  # noqa: BLE001
        os._exit(1)
    os._exit(0)


_PLAIN_BUILTINS: set[str] = set()  # the builtins before the warm-up (IPython adds some)

WARM_IMPORTS = (
    "json", "ast", "base64", "hashlib", "hmac", "dataclasses", "pprint", "re", "copy", "inspect",
    "urllib.parse", "tempfile", "random", "collections",
    "IPython.core.interactiveshell", "IPython.core.displayhook", "IPython.core.displaypub",
    "IPython.core.inputtransformer2", "traitlets.config",
    "matplotlib", "matplotlib.pyplot", "matplotlib_inline.backend_inline",
    "jwt", "cryptography.hazmat.primitives.asymmetric.ed25519",
    "cryptography.hazmat.primitives.serialization",
    "autograde.marshal", "autograde.runner", "autograde.learner",
)


def _warm_up(extra: Iterable[str] = (), *, judge: bool = False) -> None:
    """Import what every submission would import (trusted code only: the kit and libraries);
    the judge image also imports the judge, and makes no IPython shell."""
    import builtins
    import importlib
    import pkgutil

    global _PLAIN_BUILTINS
    _PLAIN_BUILTINS = set(vars(builtins))
    for name in [*WARM_IMPORTS, *extra, *(["autograde.judge"] if judge else [])]:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        import course

        for info in pkgutil.iter_modules(course.__path__, "course."):
            if info.name in ("course.__main__",):
                continue
            with contextlib.suppress(Exception):
                importlib.import_module(info.name)
    with contextlib.suppress(Exception):
        from . import runner

        if not judge:
            runner.prewarm()  # the IPython shell, made once (no cell has run in it)
    with contextlib.suppress(Exception):
        import matplotlib.font_manager  # the font list, built once here

        matplotlib.font_manager.findfont("DejaVu Sans")
    import gc

    gc.collect()
    gc.freeze()  # keep the warm image's pages shared (no refcount writes by the collector)


def _can_nest() -> bool:
    """Whether a launch can build its sandbox here (tried once, in a throwaway child)."""
    pid = os.fork()
    if pid == 0:
        try:
            libc = _libc()
            _nest(libc)
            inner = os.fork()
            if inner == 0:
                _drop_capabilities(libc)
                os._exit(0)
            os._exit(os.waitstatus_to_exitcode(os.waitpid(inner, 0)[1]))
        except BaseException:  # noqa: BLE001
            os._exit(1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def serve(listen_fd: int, kind: str = "sandbox") -> None:
    """The server: warm up, say ready on stdout, then fork per connection: a confined launch
    (`kind` "sandbox", inside bubblewrap) or an adopted judge zygote ("judge", trusted)."""
    if kind == "sandbox":
        _libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    else:  # unconfined, so not ended by bubblewrap's --die-with-parent: end with the worker
        parent = os.getppid()
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(0)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"  # numpy's BLAS would start a thread pool on import
    listener = socket.socket(fileno=listen_fd)
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    _warm_up(judge=kind == "judge")
    if len(os.listdir("/proc/self/task")) != 1:
        os._exit(3)  # an import started a thread: a fork would not copy it faithfully, go cold
    if kind == "sandbox" and not _can_nest():
        os._exit(4)  # this kernel refuses the nested sandbox: never serve, the grader goes cold
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # launches are reaped by the kernel
    out.write("ready\n")
    out.flush()
    out.close()
    while True:
        try:
            conn, _ = listener.accept()
        except InterruptedError:
            continue
        except OSError:
            os._exit(0)
        if os.fork() == 0:
            if kind == "judge":
                _adopt(conn, listener)
            _launch(conn, listener)
        conn.close()


def _adopt(conn: socket.socket, listener: socket.socket) -> None:
    """In a forked child of the judge image: become the judge zygote whose process connected
    (its stdin and stdout, working folder, environment and grading process). The zygote and
    everything it forks form one process group, killed when that process goes. Never returns."""
    try:
        listener.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _, fds, _, _ = socket.recv_fds(conn, 1, 2)
        (size,) = struct.unpack("!I", _recv_exact(conn, 4))
        request = json.loads(_recv_exact(conn, min(size, MAX_REQUEST)))
        os.setsid()
        os.dup2(fds[0], 0)
        os.dup2(fds[1], 1)
        for fd in fds:
            os.close(fd)
        os.chdir(str(request["cwd"]))
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})
        import tempfile

        tempfile.tempdir = None  # TMPDIR is the zygote's own folder
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        from . import judge

        judge.adopted(conn, int(request["owner"]))
    except BaseException:  # noqa: BLE001
        os._exit(1)
    os._exit(0)


def adopt(path: str, *, owner: int) -> socket.socket:
    """Hand this process's stdin and stdout, working folder and environment to a judge zygote
    forked from the judge image at `path`; returns the connection (closed when it ends).

    Raises:
        WarmUnavailable: no judge image answers there.
    """
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        request = json.dumps({"cwd": os.getcwd(), "env": dict(os.environ), "owner": owner}).encode()
        socket.send_fds(conn, [b"A"], [0, 1])
        conn.sendall(struct.pack("!I", len(request)) + request)
    except OSError:
        conn.close()
        raise WarmUnavailable(path) from None
    return conn


# ------------------------------------------------------------------ on the grader's side


class WarmProcess:
    """A launched process as `subprocess.Popen` shows one: `stdin`, `stdout`, `poll`, `kill`,
    `wait`, `returncode`. Killing closes the launch connection: the child's namespace ends."""

    def __init__(self, conn: socket.socket, stdin_fd: int, stdout_fd: int) -> None:
        self._conn = conn
        self.stdin = os.fdopen(stdin_fd, "wb")
        self.stdout = os.fdopen(stdout_fd, "rb")
        self.returncode: int | None = None
        self._buf = b""
        self.pid = -1

    def _read_status(self, timeout: float | None) -> int | None:
        if self.returncode is not None:
            return self.returncode
        end = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = None if end is None else max(0.0, end - time.monotonic())
            ready, _, _ = select.select([self._conn], [], [], left)
            if not ready:
                return None
            try:
                chunk = self._conn.recv(256)
            except OSError:
                chunk = b""
            if not chunk:
                self.returncode = -signal.SIGKILL
                return self.returncode
            self._buf += chunk
        try:
            self.returncode = int(json.loads(self._buf.split(b"\n", 1)[0])["status"])
        except (ValueError, KeyError, TypeError):
            self.returncode = 1
        return self.returncode

    def poll(self) -> int | None:
        return self._read_status(0)

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(OSError):
                self._conn.shutdown(socket.SHUT_WR)

    def wait(self, timeout: float | None = None) -> int:
        code = self._read_status(timeout)
        if code is None:
            raise subprocess.TimeoutExpired("warm launch", timeout or 0)
        self.close()
        return code

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.close()
        for stream in (self.stdin, self.stdout):
            with contextlib.suppress(OSError):
                stream.close()

    def __del__(self) -> None:
        self.close()


def launch(path: str, entry: str, *, files: dict[str, bytes] | None = None,
           workdir: str | None = None) -> WarmProcess:
    """Start `entry` ("runner" or "learner") from the warm server listening at `path`.

    Raises:
        WarmUnavailable: no server answers there (the caller starts a cold process).
    """
    if entry not in ENTRIES:
        raise ValueError(f"unknown entry {entry!r}")
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        raise WarmUnavailable(path) from None
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        request = json.dumps({"entry": entry, "workdir": workdir or WORKDIRS[entry],
                              "files": {k: base64.b64encode(v).decode() for k, v in (files or {}).items()}
                              }).encode()
        socket.send_fds(conn, [b"L"], [in_r, out_w])
        conn.sendall(struct.pack("!I", len(request)) + request)
    except OSError:
        for fd in (in_r, in_w, out_r, out_w):
            os.close(fd)
        conn.close()
        raise WarmUnavailable(path) from None
    os.close(in_r)
    os.close(out_w)
    return WarmProcess(conn, in_w, out_r)


def _base() -> Path:
    return Path("/tmp") / f"vl-warm-{os.getuid()}"


def socket_path(owner: int | None = None, kind: str = "sandbox") -> str:
    """Where the warm server (`kind` "sandbox") or judge image ("judge") of the grading
    process `owner` (default: this one) listens."""
    return str(_base() / f"{owner if owner is not None else os.getpid()}.{kind}.sock")


def _private_base() -> Path | None:
    base = _base()
    try:
        base.mkdir(mode=0o700, exist_ok=True)
        info = base.lstat()
    except OSError:
        return None
    if not base.is_dir() or base.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return base


def _forget_stale(base: Path) -> None:
    """Remove the sockets of grading processes that are gone (a killed worker's)."""
    for path in base.glob("*.sock*"):
        try:
            os.kill(int(path.name.split(".")[0]), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                path.unlink()
        except (ValueError, OSError):
            continue


class WarmServer:
    """The fork server of one grading process, confined as `sandbox` says."""

    def __init__(self, sandbox: Sandbox, kind: str = "sandbox") -> None:
        base = _private_base()
        if base is None or not sandbox.confined:
            raise WarmUnavailable("no private folder for the warm server's socket")
        _forget_stale(base)
        self.sandbox = sandbox
        self.path = socket_path(kind=kind)
        self.tmp: str | None = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        pending = f"{self.path}.{time.monotonic_ns()}"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(pending)
        listener.listen(64)
        env: dict[str, str] | None = None
        cwd: str | None = None
        if kind == "judge":  # trusted: unconfined, as the judge zygotes are
            import tempfile

            self.tmp = cwd = tempfile.mkdtemp(prefix="vl-judge-image-")
            env = sandbox_env()
            env.update(HOME=cwd, TMPDIR=cwd, MPLCONFIGDIR=cwd, IPYTHONDIR=cwd)
            argv = python_cmd("autograde.warm", "judge", str(listener.fileno()))
        else:
            argv = sandbox.wrap(python_cmd("autograde.warm", "serve", str(listener.fileno())),
                                readonly=("/", "/dev"))
        self.proc = subprocess.Popen(argv, pass_fds=(listener.fileno(),), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     start_new_session=True, env=env, cwd=cwd)
        listener.close()
        self.pending = pending
        self.ready = False

    def wait_ready(self, seconds: float = READY_SECONDS, *, wait: bool = True) -> bool:
        """True once the server imported its warm image (then its socket is published);
        with `wait` False, a server still warming up is left to finish (False)."""
        if self.ready:
            return True
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], seconds if wait else 0)
        if not ready and not wait and self.proc.poll() is None:
            return False
        if ready and self.proc.stdout.readline().strip() == b"ready":
            os.rename(self.pending, self.path)
            self.ready = True
            return True
        self.close()
        return False

    def launch(self, entry: str, *, files: dict[str, bytes] | None = None,
               workdir: str | None = None) -> WarmProcess:
        if not self.wait_ready():
            raise WarmUnavailable("the warm server did not start")
        return launch(self.path, entry, files=files, workdir=workdir)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)
        for path in (self.path, self.pending):
            with contextlib.suppress(OSError):
                if self.ready or path == self.pending:
                    os.unlink(path)
        if self.tmp is not None:
            import shutil

            shutil.rmtree(self.tmp, ignore_errors=True)
        self.ready = False


_SERVERS: dict[tuple[int, Sandbox, str], WarmServer | None] = {}
DISABLE_ENV = "AUTOGRADE_COLD"


def server_for(sandbox: Sandbox, kind: str = "sandbox") -> WarmServer | None:
    """This process's warm server for `sandbox` (started on first use), or None: unconfined,
    disabled (`AUTOGRADE_COLD=1`), not a grading pool's worker (a one-off run such as
    `check` would pay the warm-up for one notebook), or it could not start."""
    import multiprocessing

    if not sandbox.confined or os.environ.get(DISABLE_ENV) == "1" or \
            multiprocessing.parent_process() is None:
        return None
    key = (os.getpid(), sandbox, kind)
    if key not in _SERVERS:
        import multiprocessing.util

        try:
            server = WarmServer(sandbox, kind)
        except (OSError, WarmUnavailable):
            _SERVERS[key] = None
        else:
            _SERVERS[key] = server
            multiprocessing.util.Finalize(server, WarmServer.close, args=(server,), exitpriority=10)
    server = _SERVERS[key]
    if server is not None and server.proc.poll() is not None:
        server.close()
        _SERVERS[key] = None
        return None
    return server


def learner_path(argv: list[str], owner: int) -> str | None:
    """The warm server socket to launch the learner from, for a judge whose learner command
    is `argv` (the confined learner) and whose grading process is `owner`; None: go cold."""
    if os.environ.get(DISABLE_ENV) == "1" or argv[-len(python_cmd("autograde.learner")):] != \
            python_cmd("autograde.learner") or "--unshare-all" not in argv:
        return None
    path = socket_path(owner)
    return path if os.path.exists(path) else None


def judge_image_path(owner: int) -> str | None:
    """The judge image of the grading process `owner`, if it is up; None: start cold."""
    if os.environ.get(DISABLE_ENV) == "1":
        return None
    path = socket_path(owner, "judge")
    return path if os.path.exists(path) else None


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] in ("serve", "judge"):
        serve(int(argv[1]), "sandbox" if argv[0] == "serve" else "judge")
    else:
        sys.exit("usage: python -m autograde.warm serve|judge FD")


if __name__ == "__main__":
    main(sys.argv[1:])
