"""Where each role works: the learner's workspace (student versions only) and the two labs.

`make lab` runs `python -m autograde.workspace lab`: release (nbgrader's student versions,
refused if anything leaks), copy them into the learner's workspace, trust the copies, then
start JupyterLab rooted at the workspace and opened at the first notebook. The workspace is
never the source: it refuses to sit in or above the course's source, release or grading
folders. A rebuild never overwrites a notebook the learner changed: a changed course version
is written beside it as `<name>.new.ipynb`, with a message, and the learner decides.

`make instructor` runs `python -m autograde.workspace instructor`: JupyterLab rooted at the
course root, where Formgrader, its Preview and Edit links, and the Assignment List resolve.

Both labs read the shipped settings under `jupyter/` (news pop-up off, CurveZMQ-encrypted
kernel transport, Formgrader's debug dump off) without touching the user's Jupyter config.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .config import REPO_ROOT, Course

WORKSPACE_NAME = "workspace"
MANIFEST = ".vault-lab-workspace.json"
NEW_SUFFIX = ".new.ipynb"
JUPYTER_DIR = REPO_ROOT / "jupyter"
LEARNER_CONFIG_MARK = "# written by autograde.workspace"

Progress = Callable[[str], None]


class WorkspaceRefused(Exception):
    """The workspace would be, hold or sit inside the course's own folders (source, release,
    grading): nothing was written."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """What a rebuild did to one workspace file: `new` (first copy), `updated` (the learner had
    not changed it), `offered` (a changed course version written beside the learner's copy),
    `kept` (the learner's copy, same course version) or `unchanged`."""

    path: Path
    action: str
    offer: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspaceReport:
    workspace: Path
    changes: tuple[Change, ...]

    @property
    def first_notebook(self) -> Path | None:
        """The first notebook of the first assignment (what the lab opens)."""
        books = sorted(c.path for c in self.changes if c.path.suffix == ".ipynb")
        return books[0] if books else None

    def lines(self) -> list[str]:
        out = []
        for c in self.changes:
            rel = c.path.relative_to(self.workspace)
            if c.action == "new":
                out.append(f"  + {rel}")
            elif c.action == "updated":
                out.append(f"  ~ {rel} (new course version; you had not changed it)")
            elif c.action == "offered" and c.offer is not None:
                out.append(f"  ! {rel}: a new course version is in {c.offer.name}; your work in "
                           f"{rel.name} is untouched (compare them and copy what you want)")
        counts = {a: sum(c.action == a for c in self.changes)
                  for a in ("new", "updated", "offered", "kept", "unchanged")}
        out.append(f"workspace {self.workspace}: {counts['new']} new, {counts['updated']} updated, "
                   f"{counts['offered']} offered beside your work, {counts['kept']} of your "
                   f"notebooks kept as they are, {counts['unchanged']} unchanged")
        return out


def default_workspace(course: Course) -> Path:
    return course.root / WORKSPACE_NAME


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_location(course: Course, workspace: Path) -> Path:
    """The resolved workspace. Raises WorkspaceRefused if it is the course root or one of its
    ancestors, or lies in the source, release, submitted, autograded or feedback folders."""
    ws = workspace.expanduser().resolve()
    root = course.root.resolve()
    if _inside(root, ws):
        raise WorkspaceRefused(f"the workspace {ws} would hold the whole course (and its solutions)")
    guarded = (course.source_dir, course.release_dir, course.submitted_dir, course.autograded_dir,
               course.feedback_dir)
    for folder in guarded:
        if _inside(ws, folder.resolve()):
            raise WorkspaceRefused(f"the workspace {ws} lies in the course's {folder.name}/ folder")
    return ws


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_manifest(ws: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads((ws / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def trust(notebook: Path) -> None:
    """Sign the notebook for this user (what `jupyter trust` does), so it opens trusted."""
    import nbformat
    from nbformat.sign import NotebookNotary

    nb = nbformat.read(notebook, 4)
    NotebookNotary().sign(nb)


def trust_course(course: Course) -> int:
    """Sign the instructor's own notebooks (source and release) for this user, so the
    instructor's lab opens them trusted. Never a submitted, autograded or feedback notebook:
    those hold learners' outputs. Returns how many were signed."""
    books = [p for folder in (course.source_dir, course.release_dir) if folder.is_dir()
             for p in sorted(folder.glob("*/*.ipynb")) if not p.is_symlink()]
    for book in books:
        trust(book)
    return len(books)


def learner_config(course: Course) -> str:
    """The workspace's nbgrader_config.py: the course id and the exchange, nothing more (no
    source folder, no gradebook), so Validate and the Assignment List find their course."""
    from .exchange import exchange_root

    return (f"{LEARNER_CONFIG_MARK}; it is rewritten on each build.\n"
            "c = get_config()  # noqa: F821\n"
            f"c.CourseDirectory.course_id = {course.course_id!r}\n"
            f"c.Exchange.root = {str(exchange_root(course))!r}\n"
            "c.Exchange.path_includes_course = True\n")


def _write_learner_config(course: Course, ws: Path) -> None:
    path = ws / "nbgrader_config.py"
    if path.exists() and LEARNER_CONFIG_MARK not in path.read_text(errors="replace"):
        return  # the learner's own file
    path.write_text(learner_config(course))


def sync(course: Course, workspace: Path, *, assignments: Iterable[str] | None = None,
         sign: bool = True) -> WorkspaceReport:
    """Copy released student versions into the workspace, keeping the learner's work.

    A file the learner never had is copied; one they have not changed since it was written is
    replaced by a changed release; one they changed is kept, and a changed release is written
    beside it as `<name>.new.ipynb`. Reads only release/. Raises WorkspaceRefused (see
    check_location) before writing anything."""
    ws = check_location(course, workspace)
    names = tuple(assignments) if assignments is not None else tuple(
        sorted(p.name for p in course.release_dir.iterdir() if p.is_dir())
    ) if course.release_dir.is_dir() else ()
    ws.mkdir(parents=True, exist_ok=True)
    manifest = _load_manifest(ws)
    changes: list[Change] = []
    for assignment in names:
        src_dir = course.release_dir / assignment
        for src in sorted(p for p in src_dir.rglob("*") if p.is_file()):
            rel = src.relative_to(course.release_dir).as_posix()
            dest = ws / rel
            released = _digest(src)
            entry = manifest.get(rel, {})
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not dest.exists():
                action = "new"
            elif _digest(dest) == released:
                action = "unchanged"
            elif entry.get("written") == _digest(dest):
                action = "updated"
            elif entry.get("release") == released:
                action = "kept"
            else:
                action = "offered"
            offer = None
            if action in ("new", "updated"):
                shutil.copyfile(src, dest)
                if sign and dest.suffix == ".ipynb":
                    trust(dest)
                manifest[rel] = {"written": released, "release": released}
            elif action == "offered":
                offer = dest.with_name(dest.stem + NEW_SUFFIX) if dest.suffix == ".ipynb" \
                    else dest.with_name(dest.name + ".new")
                shutil.copyfile(src, offer)
                if sign and dest.suffix == ".ipynb":
                    trust(offer)
                manifest[rel] = {**entry, "release": released}
            elif action == "unchanged":
                manifest[rel] = {"written": released, "release": released}
            changes.append(Change(path=dest, action=action, offer=offer))
    (ws / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    _write_learner_config(course, ws)
    return WorkspaceReport(workspace=ws, changes=tuple(changes))


def build(course: Course, workspace: Path, *, assignments: Iterable[str] | None = None,
          progress: Progress = print) -> WorkspaceReport:
    """Release (with the leak check) and publish to the exchange, then sync the workspace.
    Raises WorkspaceRefused before releasing anything, ReleaseRefused / ReleaseError as
    `release` does; an exchange that cannot be written is reported, not fatal (the workspace
    needs only release/)."""
    from .exchange import ExchangeFailed, publish
    from .release import release

    check_location(course, workspace)
    names = tuple(assignments) if assignments is not None else course.assignments()
    for i, name in enumerate(names, 1):
        progress(f"[{i}/{len(names)}] building the student version of {name}")
        release(course, [name])
        try:
            publish(course, name)
        except ExchangeFailed as exc:
            progress(f"note: {name} not published to the exchange: {exc}")
    progress("copying the student versions into your workspace")
    return sync(course, workspace, assignments=names)


def _settings(role: str) -> Path:
    return JUPYTER_DIR / role / "settings"


def lab_env(role: str) -> dict[str, str]:
    """The server's environment: the venv's bin first on PATH (so `python -m autograde check`
    in a terminal or a `!` cell is the course's Python) and the shipped config dir appended to
    JUPYTER_CONFIG_PATH (the user's own Jupyter config still applies)."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, *[p for p in env.get("PATH", "").split(os.pathsep) if p]])
    extra = [str(JUPYTER_DIR / role), str(JUPYTER_DIR)]
    if env.get("JUPYTER_CONFIG_PATH"):
        extra.append(env["JUPYTER_CONFIG_PATH"])
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(extra)
    return env


def lab_argv(role: str, root: Path, *, open_path: str | None = None,
             extra: Iterable[str] = ()) -> list[str]:
    """`jupyter lab` for a role ("learner" or "instructor"), rooted at `root`."""
    argv = [str(Path(sys.executable).parent / "jupyter"), "lab", "--ip=127.0.0.1",
            f"--ServerApp.root_dir={root}", f"--LabApp.app_settings_dir={_settings(role)}"]
    if open_path:
        argv.append(f"--LabApp.default_url=/lab/tree/{open_path}")
    if hasattr(os, "getuid") and os.getuid() == 0:
        argv.append("--allow-root")
    return [*argv, *extra]


def _exec(argv: list[str], env: dict[str, str], cwd: Path) -> int:
    os.chdir(cwd)
    sys.stdout.flush()
    os.execve(argv[0], argv, env)
    return 0  # pragma: no cover - execve does not return


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograde.workspace", description=__doc__.split("\n")[0])
    p.add_argument("--root", default=str(REPO_ROOT), help="course root (default: the repo)")
    p.add_argument("--workspace", default=None, help="learner workspace (default: ROOT/workspace)")
    p.add_argument("command", nargs="?", default="build", choices=("build", "lab", "instructor"),
                   help="build: the workspace only; lab: build, then JupyterLab on it; "
                        "instructor: JupyterLab at the course root")
    args, rest = p.parse_known_args(argv)
    from .release import ReleaseError, ReleaseRefused

    course = Course(root=Path(args.root).resolve())
    if args.command == "instructor":
        print(f"trusted {trust_course(course)} course notebook(s) (source and release)", flush=True)
        return _exec(lab_argv("instructor", course.root, extra=rest), lab_env("instructor"),
                     course.root)
    workspace = Path(args.workspace) if args.workspace else default_workspace(course)
    try:
        report = build(course, workspace, progress=lambda line: print(line, flush=True))
    except WorkspaceRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    except ReleaseRefused as exc:
        print(f"refused: {exc.assignment} would leak; nothing released", file=sys.stderr)
        return 1
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    if args.command == "build":
        return 0
    first = report.first_notebook
    open_path = first.relative_to(report.workspace).as_posix() if first else None
    print(f"opening JupyterLab on {report.workspace}" + (f" at {open_path}" if open_path else ""))
    return _exec(lab_argv("learner", report.workspace, open_path=open_path, extra=rest),
                 lab_env("learner"), report.workspace)


if __name__ == "__main__":
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sys.exit(main())
