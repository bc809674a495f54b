"""nbgrader's exchange: `release` publishes there, `collect` takes learners' submissions from it.

The exchange is nbgrader's own folder layout under `c.Exchange.root` (nbgrader_config.py):
`<root>/<course_id>/outbound/<assignment>/` (what learners fetch) and
`<root>/<course_id>/inbound/<student>+<assignment>+<timestamp>[+<random>]/` (what they submit).
Publishing uses nbgrader's own ExchangeReleaseAssignment, so the folders get the modes nbgrader
expects (root 0777; course and outbound 0755; inbound 2733, writable but not listable by
learners; released files 0644). Learners fetch and submit with nbgrader's Assignment List or
`nbgrader fetch_assignment` / `nbgrader submit`.

Collecting is ours, not ExchangeCollect: inbound is writable by every learner, so each entry is
treated as hostile. An entry is taken only if its student id is a plain name, it is a real
folder (not a symbolic link) owned by that student's account (or by the collecting account, on
a one-user machine), and then only its regular files (never a link, a pipe or a hidden file),
within size caps. The newest submission per student wins, as in nbgrader.

For the hub (`make hub`): `publish(course, assignment, root=...)`, `publish_all(course, ...)`,
`collect_inbound(course, assignment, root=...)` and `exchange_root(course)`.
"""
from __future__ import annotations

import os
import shutil
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .collect import MAX_ENTRY, MAX_TOTAL, STUDENT_RE, CollectReport
from .config import CONFIG_NAME, Course

NBGRADER_DEFAULT_ROOT = Path("/usr/local/share/nbgrader/exchange")


class ExchangeFailed(Exception):
    """nbgrader's exchange refused the operation (missing release, permissions): its reason."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    assignment: str
    path: Path


def exchange_root(course: Course) -> Path:
    """`c.Exchange.root` from the course root's nbgrader_config.py (nbgrader's default if that
    file does not set it); a course root without its own config keeps its exchange inside it."""
    if not (course.root / CONFIG_NAME).exists():
        return course.root / "exchange"
    cfg = course.nbgrader_config()
    if "root" in cfg.Exchange:
        return Path(str(cfg.Exchange.root))
    return NBGRADER_DEFAULT_ROOT


def _config(course: Course, assignment: str, root: Path | None):  # type: ignore[no-untyped-def]
    cfg = course.nbgrader_config()
    cfg.Exchange.root = str(root if root is not None else exchange_root(course))
    cfg.CourseDirectory.assignment_id = assignment
    return cfg


def publish(course: Course, assignment: str, *, root: Path | None = None) -> Published:
    """Copy release/<assignment> into the exchange's outbound folder with nbgrader's own
    ExchangeReleaseAssignment (replacing an older copy). Raises ExchangeFailed with nbgrader's
    reason (e.g. the assignment is not in release/, or the root cannot be created)."""
    import logging

    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeError
    from nbgrader.exchange.default.release_assignment import ExchangeReleaseAssignment

    cfg = _config(course, assignment, root)
    coursedir = CourseDirectory(config=cfg)
    coursedir.root = str(course.root)
    quiet = logging.getLogger("autograde.exchange")
    quiet.setLevel(logging.ERROR)
    ex = ExchangeReleaseAssignment(coursedir=coursedir, authenticator=Authenticator(config=cfg),
                                   config=cfg, log=quiet)
    ex.force = True
    try:
        ex.start()
    except ExchangeError as exc:
        raise ExchangeFailed(str(exc)) from None
    return Published(assignment=assignment, path=Path(ex.dest_path))


def publish_all(course: Course, assignments: Iterable[str] | None = None, *,
                root: Path | None = None) -> tuple[Published, ...]:
    """Publish every released assignment (or those named). Raises ExchangeFailed."""
    names = tuple(assignments) if assignments is not None else tuple(
        sorted(p.name for p in course.release_dir.iterdir() if p.is_dir())
    ) if course.release_dir.is_dir() else ()
    return tuple(publish(course, name, root=root) for name in names)


def _owner_ok(st: os.stat_result, student: str) -> bool:
    if st.st_uid == os.getuid():
        return True  # a one-user lab: the instructor's own account submitted
    if sys.platform == "win32":  # pragma: no cover
        return False
    import pwd

    try:
        return pwd.getpwuid(st.st_uid).pw_name == student
    except KeyError:
        return False


def _parse(name: str, assignment: str) -> tuple[str, datetime, str] | str:
    parts = name.rsplit("+", 3) if name.count("+") >= 3 else name.split("+")
    if len(parts) < 3:
        return "not a submission name"
    student, what, stamp = parts[0], parts[1], parts[2]
    if what != assignment:
        return "another assignment"
    if not STUDENT_RE.match(student):
        return f"student id {student[:40]!r} has characters we do not accept"
    from nbgrader.utils import parse_utc

    try:
        return student, parse_utc(stamp), stamp
    except (ValueError, OverflowError):
        return "unreadable timestamp"


def _read_regular(path: Path, limit: int) -> bytes | str:
    """The bytes of a regular file opened without following a link, or why not."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return "a symbolic link or unreadable"
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return "not a regular file"
        data = fh.read(limit + 1)
    return data if len(data) <= limit else "larger than the cap"


def collect_inbound(course: Course, assignment: str, *, root: Path | None = None) -> CollectReport:
    """Copy each student's newest exchange submission of `assignment` into
    submitted/<student>/<assignment>/ (with its timestamp.txt), replacing an older collected
    one. Refused entries are listed in `skipped` with the reason; nothing outside
    submitted/<student>/<assignment>/ is written. Raises nothing for hostile entries."""
    inbound = (root if root is not None else exchange_root(course)) / course.course_id / "inbound"
    newest: dict[str, tuple[datetime, str, Path]] = {}
    skipped: list[str] = []
    try:
        entries = sorted(os.scandir(inbound), key=lambda e: e.name)
    except OSError:
        return CollectReport(collected=(), skipped=(f"{inbound}: no inbound folder",))
    for entry in entries:
        parsed = _parse(entry.name, assignment)
        if parsed == "another assignment" or parsed == "not a submission name":
            continue
        if isinstance(parsed, str):
            skipped.append(f"{entry.name[:80]}: {parsed}")
            continue
        student, when, stamp = parsed
        st = entry.stat(follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            skipped.append(f"{entry.name[:80]}: not a folder (a link or a file)")
            continue
        if not _owner_ok(st, student):
            skipped.append(f"{entry.name[:80]}: claims to be {student} but another account owns it")
            continue
        if student not in newest or when > newest[student][0]:
            newest[student] = (when, stamp, Path(entry.path))
    collected: list[str] = []
    total = 0
    for student, (when, stamp, folder) in sorted(newest.items()):
        dest = course.submitted_dir / student / assignment
        old = dest / "timestamp.txt"
        if old.is_file() and not old.is_symlink():
            from nbgrader.utils import parse_utc

            try:
                if parse_utc(old.read_text().strip()) >= when:
                    continue  # already collected
            except (ValueError, OverflowError):
                pass
        files: dict[Path, bytes] = {}
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                rel = (Path(dirpath) / name).relative_to(folder)
                if name.startswith(".") or name == "timestamp.txt":
                    continue
                data = _read_regular(Path(dirpath) / name, MAX_ENTRY)
                if isinstance(data, str) or total + len(data) > MAX_TOTAL:
                    why = data if isinstance(data, str) else "larger than the cap"
                    skipped.append(f"{student}/{rel.as_posix()[:80]}: {why}")
                    continue
                total += len(data)
                files[rel] = data
        if dest.is_symlink():
            dest.unlink()
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for rel, data in files.items():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(data)
            if rel.suffix == ".ipynb":
                collected.append(f"{student}/{assignment}/{rel.as_posix()}")
        (dest / "timestamp.txt").write_text(stamp)
    return CollectReport(collected=tuple(sorted(collected)), skipped=tuple(skipped))
