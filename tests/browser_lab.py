"""Shared by the browser tests: a tmp course, the labs `make lab` / `make instructor` start
(the same `python -m autograde.workspace` command, on a free port with a token), and headless
Debian Chromium driven by Playwright (no browser download)."""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")


def need_browser() -> None:
    """Skip (with the reason) when Chromium or Playwright is not installed."""
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's chromium at /usr/bin/chromium (make sysdeps)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("browser tests need playwright (pip install -r requirements.txt)")


def tmp_course(root: Path, assignments: list[str] | None = None) -> Path:
    """A copy of the course's source notebooks (all, or those named) and its nbgrader_config.py."""
    names = assignments or sorted(p.name for p in (REPO / "notebooks").iterdir() if p.is_dir())
    for name in names:
        shutil.copytree(REPO / "notebooks" / name, root / "notebooks" / name,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(tmp: Path) -> dict[str, str]:
    """The test's own Jupyter dirs (trust database, kernels, saved layouts), the venv on PATH."""
    return {**os.environ, "JUPYTER_DATA_DIR": str(tmp / "jupyter-data"),
            "JUPYTER_CONFIG_DIR": str(tmp / "jupyter-config"),  # lab workspaces, user settings
            "JUPYTER_RUNTIME_DIR": str(tmp / "jupyter-runtime"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


@contextmanager
def lab_server(args: list[str], tmp: Path, *, ready_seconds: float = 240.0) -> Iterator[str]:
    """Start `python -m autograde.workspace ARGS` on a free port; yield the base URL with token.
    The server log is tmp/server.log (shown when the server does not come up)."""
    port, token = free_port(), secrets.token_hex(16)
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "autograde.workspace", *args, f"--port={port}",
                             "--no-browser", f"--IdentityProvider.token={token}",
                             "--ServerApp.open_browser=False"],
                            cwd=REPO, env=env_for(tmp), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_seconds
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"the lab exited:\n{(tmp / 'server.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no lab after {ready_seconds}s:\n"
                                         f"{(tmp / 'server.log').read_text()[-3000:]}") from None
                time.sleep(0.5)
        yield f"{base}/?token={token}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextmanager
def browser_page() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()
