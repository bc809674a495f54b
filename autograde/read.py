"""Stage 1, read: a submitted file becomes a notebook, or a reason it cannot be graded.

Invalid JSON, truncated, empty, binary or non-notebook files get that reason; nbformat v3 is
upgraded; a symbolic link (the file or a folder between the course's submitted/ and it) and
any non-regular file are refused, never opened or followed.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import nbformat

MAX_NOTEBOOK_BYTES = 32 * 1024 * 1024


def _refuse_links(path: Path, root: Path | None) -> str | None:
    """Why `path` must not be opened: it, or a folder between `root` and it, is a symbolic
    link or not a regular file/folder. None when it is safe to read. Never follows a link."""
    parts = [path]
    if root is not None:
        try:
            rel = path.relative_to(root)
        except ValueError:
            rel = None
        if rel is not None:
            parts = [root / Path(*rel.parts[: i + 1]) for i in range(len(rel.parts))]
    for part in parts:
        try:
            st = os.lstat(part)
        except FileNotFoundError:
            return "no submitted file for this notebook"
        except OSError as exc:
            return f"unreadable file ({type(exc).__name__})"
        if stat.S_ISLNK(st.st_mode):
            return "refused: a symbolic link, not a submitted file (not followed)"
        last = part == parts[-1]
        if last and not stat.S_ISREG(st.st_mode):
            return "refused: not a regular file (a folder, pipe, socket or device)"
        if not last and not stat.S_ISDIR(st.st_mode):
            return "refused: not a regular folder"
    return None


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, opened without following a link or blocking on a pipe.

    Raises:
        OSError: the file is a link, not regular, or larger than MAX_NOTEBOOK_BYTES + 1.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(MAX_NOTEBOOK_BYTES + 1)
    finally:
        os.close(fd)


def _read_submission(path: Path, root: Path | None = None) -> tuple[Any | None, str | None]:
    """(notebook, None) or (None, why it cannot be graded). Symbolic links and non-regular
    files (anywhere below `root`) are refused, never followed; nbformat v3 is upgraded."""
    refused = _refuse_links(path, root)
    if refused is not None:
        return None, refused
    try:
        raw = _read_bytes(path)
    except OSError as exc:
        return None, f"unreadable file ({type(exc).__name__})"
    if not raw.strip():
        return None, "empty file"
    if len(raw) > MAX_NOTEBOOK_BYTES:
        return None, f"file larger than {MAX_NOTEBOOK_BYTES} bytes"
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not a notebook (binary, not UTF-8 text)"
    except json.JSONDecodeError as exc:
        if _unclosed(raw.decode("utf-8", "replace")):
            return None, "truncated notebook (JSON ends before it closes)"
        return None, f"invalid JSON at line {exc.lineno} column {exc.colno}"
    v3 = isinstance(data, dict) and data.get("nbformat") == 3 and isinstance(data.get("worksheets"), list)
    if not v3 and (not isinstance(data, dict) or "cells" not in data or not isinstance(data["cells"], list)):
        return None, "not a notebook (JSON without a list of cells)"
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.setdefault("outputs", [])
                cell.setdefault("execution_count", None)
            if not isinstance(cell.get("source", ""), str):
                raise ValueError("cell source is not text")
            cell.setdefault("metadata", {})
    except Exception as exc:  # noqa: BLE001 - anything nbformat rejects is not gradeable
        return None, f"not a valid notebook ({type(exc).__name__})"
    return nb, None


def _unclosed(text: str) -> bool:
    """True when JSON text ends inside a string or with brackets still open (cut short)."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return in_string or depth > 0
