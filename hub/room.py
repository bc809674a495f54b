"""A workshop room on one machine: the Unix accounts, folders and modes `make hub` relies on.

`python hub/room.py setup --roster ROSTER` (as root) proves, before the hub starts, that:

- every roster name is a separate Unix account made by this room (a name that already belongs
  to another account is refused, never reused), with a 0700 home, a locked Unix password and
  no sudo, so a learner cannot read another learner's work or the instructor's files;
- the one instructor holds the course root in their home (`~/course`: nbgrader_config.py, the
  source notebooks, later the gradebook), a copy of the repository's course made at setup;
- nothing of the repository but what a learner's server must read (`.venv`, the kit
  `course/`, `autograde/` for the self-check, the shipped Jupyter settings `jupyter/`,
  `hub/`) can be read by other users: the source notebooks, `authoring/`, `tests/`, `.git`
  (the solutions' history) and any build output are closed to "others" (mode o-rwx on each
  top-level entry, an allow-list so a new folder is closed by default);
- every user can run the venv: the repository's own, or a hard-linked copy of it on the
  system Python when the venv's interpreter lives in a private home (`runtime_venv`);
- nbgrader's exchange exists at a shared root with the modes nbgrader 0.9.6 expects (root
  01777, the course folder, outbound and feedback owned by the instructor, inbound 2733), so
  no learner can create the course folder first or read another's submission;
- an nbgrader config for the learners' servers (the hub puts its folder on their
  JUPYTER_CONFIG_PATH) names the course and the exchange;
- the hub's own state (database, cookie secret, proxy token, password hashes) lives in a
  0700 root folder.

`remove-accounts` deletes the accounts this room made (and their homes), never another one;
`release-feedback ASSIGNMENT` (as the instructor, in ~/course) hands `autograde feedback`'s
HTML to nbgrader's release_feedback.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COURSE_ID = "vault-lab"
ACCOUNT_TAG = "vault-lab hub account"
NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
ROLES = ("learner", "instructor")
DEFAULT_STATE = Path("/srv/vaultlab-hub")
DEFAULT_SHARED = Path("/srv/vault-lab")
ROOM_FILE = "room.json"
# What other users (every learner) may read in the repository: what their kernels import.
READABLE = frozenset({".venv", "course", "autograde", "hub", "jupyter", "vault_lab_course.egg-info"})


class RoomError(Exception):
    """The room cannot be set up as asked (bad roster, a name taken, not root); says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    name: str
    role: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Roster:
    """Roster names and roles: unique, valid Unix names, exactly one instructor."""

    members: tuple[Member, ...]

    @property
    def instructor(self) -> str:
        return next(m.name for m in self.members if m.role == "instructor")

    @property
    def learners(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members if m.role == "learner")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members)


def read_roster(path: Path) -> Roster:
    """The roster CSV (header `username,role`; `#` lines are comments).

    Raises:
        RoomError: unreadable file, a bad header, name or role, a duplicate, or not exactly
            one instructor.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoomError(f"cannot read the roster {path}: {exc.strerror}") from None
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    rows = list(csv.reader(lines))
    if not rows or [c.strip().lower() for c in rows[0]] != ["username", "role"]:
        raise RoomError(f"{path}: the first line must be the header `username,role`")
    members: list[Member] = []
    seen: set[str] = set()
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != 2:
            raise RoomError(f"{path}: row {number} must have two fields: username,role")
        name, role = row[0].strip(), row[1].strip().lower()
        if not NAME_RE.match(name):
            raise RoomError(f"{path}: row {number}: {name[:40]!r} is not a valid Unix user name "
                            "(lower case letters, digits, _ and -, at most 32)")
        if role not in ROLES:
            raise RoomError(f"{path}: row {number}: role must be learner or instructor")
        if name in seen:
            raise RoomError(f"{path}: {name} is listed twice")
        seen.add(name)
        members.append(Member(name=name, role=role))
    if sum(m.role == "instructor" for m in members) != 1:
        raise RoomError(f"{path}: the roster needs exactly one instructor (one course root, one gradebook)")
    return Roster(members=tuple(members))


@dataclass(frozen=True, slots=True, kw_only=True)
class Room:
    """Where this room's pieces live; written to <state>/room.json for the hub's config."""

    repo: str
    roster: str
    state_dir: str
    exchange_root: str
    config_dir: str
    instructor: str
    learners: tuple[str, ...]
    course_root: str
    venv: str
    course_id: str = COURSE_ID

    def save(self) -> None:
        path = Path(self.state_dir) / ROOM_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        path.chmod(0o600)

    @classmethod
    def load(cls, state_dir: Path) -> Room:
        """Raises: RoomError when the room was never set up in `state_dir`."""
        try:
            data = json.loads((state_dir / ROOM_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise RoomError(f"no room set up in {state_dir}: run `python hub/room.py setup` first") from None
        data["learners"] = tuple(data["learners"])
        return cls(**data)


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RoomError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()[-300:]}")


def _ours(name: str) -> bool | None:
    """True: an account this room made; False: someone else's; None: no such account."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return entry.pw_gecos == ACCOUNT_TAG


def ensure_account(name: str) -> pwd.struct_passwd:
    """The room's account `name` with a 0700 home, created if missing.

    Raises:
        RoomError: the name belongs to an account this room did not make, or useradd failed.
    """
    mine = _ours(name)
    if mine is False:
        raise RoomError(f"{name} is an existing account this room did not create; pick another name")
    if mine is None:
        # -U: a private group; the password stays locked (the hub authenticates, not PAM).
        _run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash",
              "--comment", ACCOUNT_TAG, name])
    entry = pwd.getpwnam(name)
    home = Path(entry.pw_dir)
    home.mkdir(mode=0o700, exist_ok=True)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    home.chmod(0o700)
    return entry


def remove_accounts(names: tuple[str, ...]) -> list[str]:
    """Delete the accounts among `names` this room made, with their homes; others untouched."""
    removed = []
    for name in names:
        if _ours(name):
            _end_processes_of(pwd.getpwnam(name).pw_uid)
            _run(["userdel", "--remove", name])
            removed.append(name)
    return removed


def _end_processes_of(uid: int) -> None:
    """SIGKILL, by process id, each process left running as `uid` (a server the hub did not
    stop, a kernel it left): userdel refuses an account that still runs something."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid == uid:
                os.kill(int(entry.name), 9)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue


def _copy_course(instructor: pwd.struct_passwd, repo: Path, exchange_root: Path) -> Path:
    """~instructor/course: the repository's config and source notebooks, owned by the instructor.
    An existing copy keeps its gradebook and notebooks (a restart must not lose grades)."""
    root = Path(instructor.pw_dir) / "course"
    if not root.exists():
        root.mkdir(mode=0o700)
        shutil.copytree(repo / "notebooks", root / "notebooks",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    config = (repo / "nbgrader_config.py").read_text(encoding="utf-8")
    config += ("\n# The workshop room's shared exchange (hub/room.py), instead of the course folder's own.\n"
               f"c.Exchange.root = {str(exchange_root)!r}\n")
    (root / "nbgrader_config.py").write_text(config, encoding="utf-8")
    for dirpath, _dirs, files in os.walk(root):
        os.chown(dirpath, instructor.pw_uid, instructor.pw_gid)
        for name in files:
            os.chown(os.path.join(dirpath, name), instructor.pw_uid, instructor.pw_gid)
    root.chmod(0o700)
    # The instructor's server starts in their home: Formgrader and the Assignment List read this,
    # which points them at the course root below it.
    home_config = Path(instructor.pw_dir) / "nbgrader_config.py"
    home_config.write_text(
        '"""The course root for Formgrader in the hub (written by hub/room.py)."""\n'
        "c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(root / 'nbgrader_config.py')!r})  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(root)!r}\n", encoding="utf-8")
    os.chown(home_config, instructor.pw_uid, instructor.pw_gid)
    return root


def _exchange(root: Path, instructor: pwd.struct_passwd, course_id: str) -> None:
    """nbgrader 0.9.6's exchange modes (exchange/default/release_assignment.py): the root is
    world-writable (its ensure_root insists on 0777; sticky so nobody removes another's entry),
    the course folder and outbound 0755, inbound 2733 (write-only drop box), feedback 0711
    (files are found by a hash of the submission's secret, never listed)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    root.mkdir(exist_ok=True)
    os.chown(root, 0, 0)
    root.chmod(0o1777)
    course = root / course_id
    for folder, mode in ((course, 0o755), (course / "outbound", 0o755),
                         (course / "inbound", 0o2733), (course / "feedback", 0o711)):
        folder.mkdir(exist_ok=True)
        os.chown(folder, instructor.pw_uid, instructor.pw_gid)
        folder.chmod(mode)


def _learner_config(config_dir: Path, exchange_root: Path, course_id: str) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    config_dir.chmod(0o755)
    path = config_dir / "nbgrader_config.py"
    path.write_text(
        '"""nbgrader for the learners\' servers in the Vault Lab hub (written by hub/room.py)."""\n'
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {course_id!r}\n"
        f"c.Exchange.root = {str(exchange_root)!r}\n"
        "c.Exchange.path_includes_course = True\n"
        "# inbound/ is not listable and each submission's name ends in 12 random characters, so\n"
        "# no learner can name (and read) another's submission (nbgrader's default, pinned).\n"
        "c.ExchangeSubmit.add_random_string = True\n", encoding="utf-8")
    path.chmod(0o644)
    # Learners' servers only (the hub puts this folder first on their JUPYTER_CONFIG_PATH): the
    # instructor's server extensions off. Their JupyterLab settings (no news, no Formgrader,
    # Create Assignment or Course List) are the repository's shipped jupyter/learner/settings.
    shutil.rmtree(config_dir / "lab", ignore_errors=True)  # this room's own copy, before jupyter/
    learner = config_dir / "learner"
    shutil.rmtree(learner / "labconfig", ignore_errors=True)
    learner.mkdir(exist_ok=True)
    learner.chmod(0o755)
    server = {"ServerApp": {"jpserver_extensions": {
        "nbgrader.server_extensions.formgrader": False, "nbgrader.server_extensions.course_list": False}}}
    path = learner / "jupyter_server_config.json"
    path.write_text(json.dumps(server, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o644)


def close_repository(repo: Path) -> list[str]:
    """Remove other users' access to every top-level entry of the repository but READABLE, and
    let them read (and enter) the READABLE ones. Returns the entries closed. The repository's
    own folder stays traversable so learners' servers reach the venv, the kit and settings."""
    closed = []
    for entry in sorted(repo.iterdir()):
        if entry.is_symlink():
            continue
        mode = entry.stat().st_mode & 0o7777
        if entry.name in READABLE:  # open at the top (an older allow-list may have closed it)
            wanted = mode | (0o005 if entry.is_dir() else 0o004)
            if wanted != mode:
                entry.chmod(wanted)
            continue
        if mode & 0o007:
            entry.chmod(mode & ~0o007)
        closed.append(entry.name)
    return closed


def _check_path_open(path: Path) -> None:
    """Every folder above the venv must be traversable by others, else no learner's server starts.

    Raises:
        RoomError: naming the first closed folder and what to do.
    """
    for parent in [path, *path.parents]:
        if not parent.stat().st_mode & 0o001:
            raise RoomError(f"{parent} is closed to other users, so learners cannot run the venv "
                            f"under {path}; place the repository under a world-traversable path "
                            "(e.g. /opt/vault-lab), not in a private home")


def reachable_by_others(path: Path) -> bool:
    """True if a user with no group in common can reach `path` (every folder above it o+x)
    and run it (o+x), following symbolic links."""
    path = path.resolve()
    return all(p.stat().st_mode & 0o001 for p in [path, *path.parents])


def runtime_venv(repo_venv: Path, target: Path) -> Path:
    """A venv every user can run: the repository's own when its interpreter is reachable,
    else `target`, a hard-linked copy of it (same packages, no extra disk) whose interpreter is
    the system's Python of the same minor version: a venv made with a Python that lives in a
    private home (pyenv under /root) cannot start for a learner. Refreshed when `make install`
    changed the repository's venv.

    Raises:
        RoomError: no system Python of the venv's version to build the copy with.
    """
    if reachable_by_others(repo_venv / "bin" / "python"):
        return repo_venv
    cfg = dict(line.split(" = ", 1) for line in (repo_venv / "pyvenv.cfg").read_text().splitlines()
               if " = " in line)
    minor = ".".join(cfg.get("version", "").split(".")[:2])
    base = Path(f"/usr/bin/python{minor}")
    if not minor or not base.exists() or not reachable_by_others(base):
        raise RoomError(f"the venv's Python ({cfg.get('home', '?')}) is in a folder other users cannot "
                        f"reach and there is no /usr/bin/python{minor or '3.x'} to run its packages with; "
                        "rebuild the venv with a system-wide Python (PYTHON=/usr/bin/python3.11)")
    source_stamp = repo_venv / ".installed"
    stamp = target / ".room-venv"
    if stamp.exists() and (not source_stamp.exists()
                           or stamp.stat().st_mtime >= source_stamp.stat().st_mtime):
        return target
    fresh = target.with_name(target.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    done = subprocess.run(["cp", "-al", str(repo_venv), str(fresh)], capture_output=True, check=False)
    if done.returncode != 0:  # another file system: a real copy
        shutil.rmtree(fresh, ignore_errors=True)
        _run(["cp", "-a", str(repo_venv), str(fresh)])
    # Hard links share their file with the repository's venv: replace, never edit in place.
    for name in ("python", "python3", f"python{minor}"):
        link = fresh / "bin" / name
        link.unlink(missing_ok=True)
        link.symlink_to(base)
    (fresh / "pyvenv.cfg").unlink()
    (fresh / "pyvenv.cfg").write_text(f"home = {base.parent}\ninclude-system-site-packages = false\n"
                                      f"version = {minor}\n", encoding="utf-8")
    old = f"#!{repo_venv}/bin/"
    for script in (fresh / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        with script.open("rb") as fh:
            head = fh.read(len(old) + 16)
        if not head.startswith(old.encode()):
            continue
        text = script.read_bytes()
        script.unlink()
        script.write_bytes(text.replace(old.encode(), f"#!{target}/bin/".encode(), 1))
        script.chmod(0o755)
    shutil.rmtree(target, ignore_errors=True)
    fresh.rename(target)
    stamp.write_text("a hard-linked copy of the repository's venv run by the system Python (hub/room.py)\n")
    target.chmod(0o755)
    return target


def _state(state_dir: Path) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    os.chown(state_dir, 0, 0)
    state_dir.chmod(0o700)
    for name in ("cookie_secret", "proxy_token"):
        path = state_dir / name
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))


def setup(*, roster_path: Path, state_dir: Path = DEFAULT_STATE, shared: Path = DEFAULT_SHARED,
          repo: Path = REPO) -> Room:
    """Make the room (idempotent): accounts, course root, exchange, configs, closed repository.

    Raises:
        RoomError: not root, no useradd, a bad roster, a taken name, or a closed path to the venv.
    """
    if os.geteuid() != 0:
        raise RoomError("the room is set up as root (it creates the learners' Unix accounts)")
    if shutil.which("useradd") is None:
        raise RoomError("useradd is not installed (Debian: the passwd package)")
    roster = read_roster(roster_path)
    _check_path_open(repo / ".venv")
    accounts = {name: ensure_account(name) for name in roster.names}
    instructor = accounts[roster.instructor]
    exchange_root = shared / "exchange"
    config_dir = shared / "config"
    shared.mkdir(parents=True, exist_ok=True)
    shared.chmod(0o755)
    _exchange(exchange_root, instructor, COURSE_ID)
    _learner_config(config_dir, exchange_root, COURSE_ID)
    course_root = _copy_course(instructor, repo, exchange_root)
    venv = runtime_venv(repo / ".venv", shared / "venv")
    close_repository(repo)
    if roster_path.resolve().is_relative_to(repo):
        roster_path.chmod(roster_path.stat().st_mode & ~0o077)
    _state(state_dir)
    room = Room(repo=str(repo), roster=str(roster_path.resolve()), state_dir=str(state_dir),
                exchange_root=str(exchange_root), config_dir=str(config_dir),
                instructor=roster.instructor, learners=roster.learners, course_root=str(course_root),
                venv=str(venv))
    room.save()
    return room


def release_feedback(course_root: Path, assignment: str) -> list[str]:
    """Give nbgrader's release_feedback what it needs beside `autograde feedback`'s HTML: each
    submission's timestamp.txt and submission_secret.txt (copied from submitted/), then run it.
    Returns the students whose feedback was released.

    Raises:
        RoomError: no feedback for the assignment, or nbgrader failed.
    """
    released = []
    for folder in sorted((course_root / "feedback").glob(f"*/{assignment}")):
        student = folder.parent.name
        submitted = course_root / "submitted" / student / assignment
        if not any(folder.glob("*.html")):
            continue
        for name in ("timestamp.txt", "submission_secret.txt"):
            if (submitted / name).is_file():
                shutil.copyfile(submitted / name, folder / name)
        if (folder / "submission_secret.txt").is_file():
            released.append(student)
    if not released:
        raise RoomError(f"no feedback to release for {assignment}: run `python -m autograde feedback` first")
    done = subprocess.run([sys.executable, "-m", "nbgrader", "release_feedback", assignment],
                          cwd=course_root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RoomError(f"nbgrader release_feedback failed: {done.stderr.strip()[-500:]}")
    return released


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python hub/room.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup", help="accounts, course root, exchange, configs (as root)")
    s.add_argument("--roster", default=str(REPO / "hub" / "roster.csv"))
    s.add_argument("--state", default=os.environ.get("VAULTLAB_HUB_STATE", str(DEFAULT_STATE)),
                   help="the hub's private state folder (VAULTLAB_HUB_STATE)")
    s.add_argument("--shared", default=str(DEFAULT_SHARED), help="exchange and learners' config")
    s = sub.add_parser("remove-accounts", help="delete the roster's accounts this room made")
    s.add_argument("--roster", default=str(REPO / "hub" / "roster.csv"))
    s = sub.add_parser("release-feedback", help="(instructor, in the course root) feedback to learners")
    s.add_argument("assignment")
    s.add_argument("--root", default=".", help="course root (default: the current folder)")
    args = p.parse_args(argv)
    try:
        if args.command == "setup":
            roster = Path(args.roster)
            if not roster.exists():
                print(f"no roster at {roster}: copy hub/roster.example.csv there and list your room "
                      "(or `make hub ROSTER=hub/roster.example.csv` to try it)", file=sys.stderr)
                return 1
            room = setup(roster_path=roster, state_dir=Path(args.state), shared=Path(args.shared))
            print(f"room ready: {len(room.learners)} learner(s), instructor {room.instructor} "
                  f"(course root {room.course_root}), exchange {room.exchange_root}")
        elif args.command == "remove-accounts":
            removed = remove_accounts(read_roster(Path(args.roster)).names)
            print(f"removed {len(removed)} account(s): {' '.join(removed) or '-'}")
        else:
            students = release_feedback(Path(args.root).resolve(), args.assignment)
            print(f"released feedback on {args.assignment} to {len(students)} learner(s)")
    except RoomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

