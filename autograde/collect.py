"""`python -m autograde collect ZIP ASSIGNMENT`: an LMS download into nbgrader's layout.

Accepts `<student>.ipynb` entries (the assignment's one notebook) and
`<student>/<notebook>.ipynb` entries, writes submitted/<student>/<assignment>/<notebook>.ipynb
with a timestamp.txt from the zip entry, and never writes outside that folder: entry names
with `..`, absolute paths, odd characters, or sizes past the cap are refused with a reason.
Broken notebooks are collected as they are; `grade` gives them a score and a reason.
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from .config import Course

STUDENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MAX_ENTRY = 32 * 1024 * 1024
MAX_TOTAL = 512 * 1024 * 1024


class CollectError(Exception):
    """The zip cannot be collected at all (not a zip, unknown assignment)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectReport:
    collected: tuple[str, ...]
    skipped: tuple[str, ...]

    def lines(self) -> list[str]:
        out = [f"collected {len(self.collected)} notebook(s)"]
        out += [f"  + {c}" for c in self.collected]
        out += [f"  - skipped {s}" for s in self.skipped]
        return out


def _target(course: Course, assignment: str, name: str, notebooks: set[str]) -> tuple[str, str] | str:
    """(student, notebook) for a zip entry, or the reason it is refused."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name:
        return "unsafe path"
    if path.suffix != ".ipynb":
        return "not a .ipynb file"
    parts = [p for p in path.parts if p not in ("", ".")]
    if parts and parts[0] in ("__MACOSX",) or any(p.startswith(".") for p in parts):
        return "hidden or metadata file"
    if len(parts) == 1:
        if len(notebooks) != 1:
            return "a bare <student>.ipynb needs a one-notebook assignment"
        student, notebook = path.stem, next(iter(notebooks))
    elif len(parts) == 2:
        student, notebook = parts[0], PurePosixPath(parts[1]).stem
    else:
        student, notebook = parts[-2], PurePosixPath(parts[-1]).stem
    if not STUDENT_RE.match(student):
        return f"student id {student[:40]!r} has characters we do not accept"
    if notebook not in notebooks:
        return f"{notebook}.ipynb is not a notebook of {assignment}"
    return student, notebook


def collect_zip(course: Course, zip_path: Path, assignment: str) -> CollectReport:
    """Unpack `zip_path` into submitted/. Raises CollectError if it is not a usable zip."""
    notebooks = {p.stem for p in course.source_notebooks(assignment)}
    if not notebooks:
        raise CollectError(f"no source notebooks for assignment {assignment!r}")
    try:
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise CollectError(f"not a readable zip: {type(exc).__name__}") from None
    collected, skipped = [], []
    total = 0
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            where = _target(course, assignment, info.filename, notebooks)
            if isinstance(where, str):
                skipped.append(f"{info.filename[:80]}: {where}")
                continue
            if info.file_size > MAX_ENTRY or total + info.file_size > MAX_TOTAL:
                skipped.append(f"{info.filename[:80]}: larger than the cap")
                continue
            student, notebook = where
            with archive.open(info) as fh:
                data = fh.read(MAX_ENTRY + 1)
            if len(data) > MAX_ENTRY:
                skipped.append(f"{info.filename[:80]}: larger than the cap")
                continue
            total += len(data)
            folder = course.submitted_dir / student / assignment
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{notebook}.ipynb").write_bytes(data)
            stamp = datetime(*info.date_time).strftime("%Y-%m-%d %H:%M:%S.%f")
            (folder / "timestamp.txt").write_text(stamp)
            collected.append(f"{student}/{assignment}/{notebook}.ipynb")
    return CollectReport(collected=tuple(sorted(collected)), skipped=tuple(skipped))
