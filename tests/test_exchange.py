"""nbgrader's exchange end to end: `release` publishes (nbgrader's folder modes), learners
fetch and submit with nbgrader's own CLI, `collect` takes the newest submission per student
into submitted/ and `grade` scores it; hostile inbound entries are refused with a reason."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "autograde"))
from autograde_course import ASSIGNMENT, FIXTURE, make_course, solved  # noqa: E402

from autograde.__main__ import main  # noqa: E402
from autograde.config import Course  # noqa: E402
from autograde.exchange import (  # noqa: E402
    ExchangeFailed,
    collect_inbound,
    exchange_root,
    publish,
)

AUTOGRADED_POINTS = 7.0  # the fixture: three autograded exercises; a 1-point reflection is by hand


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _nbgrader_as(student: str, home: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """nbgrader's CLI as a learner: their own HOME and working folder, user name `student`."""
    work = home / "work"
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(home), "USER": student, "LOGNAME": student,
           "JUPYTER_DATA_DIR": str(home / ".jupyter-data"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--course=vault-lab",
                           f"--Exchange.root={root}", "--Exchange.path_includes_course=True"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _inbound(course: Course) -> Path:
    return exchange_root(course) / course.course_id / "inbound"


def test_a_course_root_without_its_own_config_keeps_its_exchange_inside(tmp_path: Path) -> None:
    course = make_course(tmp_path / "course", released=False)
    assert exchange_root(course) == course.root / "exchange"


def test_the_exchange_root_is_nbgraders_own_setting(tmp_path: Path) -> None:
    root = tmp_path / "course"
    root.mkdir()
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.Exchange.root = {str(tmp_path / 'shared')!r}\n")
    assert exchange_root(Course(root=root)) == tmp_path / "shared"


def test_release_publishes_with_the_modes_nbgrader_expects(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    course = make_course(tmp_path / "course", released=False)
    assert main(["--root", str(course.root), "release"]) == 0
    assert "published ps1" in capsys.readouterr().out
    root = exchange_root(course)
    base = root / course.course_id
    assert _mode(root) == 0o777
    assert _mode(base) == 0o755 and _mode(base / "outbound") == 0o755
    assert stat.S_IMODE((base / "inbound").stat().st_mode) == 0o2733  # learners write, never list
    released = base / "outbound" / ASSIGNMENT / FIXTURE.name
    assert _mode(released) == 0o644
    assert released.read_bytes() == (course.release_dir / ASSIGNMENT / FIXTURE.name).read_bytes()
    assert "BEGIN SOLUTION" not in released.read_text()


def test_publishing_an_assignment_that_was_never_released_is_refused(tmp_path: Path) -> None:
    course = make_course(tmp_path / "course", released=False)
    with pytest.raises(ExchangeFailed):
        publish(course, ASSIGNMENT)
    assert not (exchange_root(course) / course.course_id / "outbound" / ASSIGNMENT).exists()


@pytest.mark.slow
def test_fetch_submit_collect_grade_is_nbgraders_own_flow(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    course = make_course(tmp_path / "course", released=False)
    assert main(["--root", str(course.root), "release"]) == 0
    root = exchange_root(course)
    ada = tmp_path / "home-ada"
    _nbgrader_as("ada", ada, root, "fetch_assignment", ASSIGNMENT)
    fetched = ada / "work" / "vault-lab" / ASSIGNMENT / FIXTURE.name
    assert fetched.exists()
    nbformat.write(solved(course), fetched)
    _nbgrader_as("ada", ada, root, "submit", ASSIGNMENT, "--CourseDirectory.student_id=ada")
    listing = _nbgrader_as("ada", ada, root, "list", "--inbound")
    assert "ps1" in listing.stdout + listing.stderr

    assert main(["--root", str(course.root), "collect", ASSIGNMENT]) == 0
    assert f"ada/{ASSIGNMENT}/{FIXTURE.name}" in capsys.readouterr().out
    assert (course.submitted_dir / "ada" / ASSIGNMENT / "timestamp.txt").read_text().strip()

    assert main(["--root", str(course.root), "grade", "--quiet", "--workers", "1"]) == 0
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, course.course_id) as gb:
        sub = gb.find_submission(ASSIGNMENT, "ada")
        assert sub.score == AUTOGRADED_POINTS  # every autograded exercise, full marks


def _submission(course: Course, name: str, body: bytes = b"{}") -> Path:
    folder = _inbound(course) / name
    folder.mkdir(parents=True)
    (folder / FIXTURE.name).write_bytes(body)
    (folder / "timestamp.txt").write_text("2026-01-01 10:00:00.000000 UTC")
    return folder


def test_collect_takes_the_newest_submission_per_student(tmp_path: Path) -> None:
    course = make_course(tmp_path / "course")
    publish(course, ASSIGNMENT)
    _submission(course, "ada+ps1+2026-01-01 10:00:00.000000 UTC+aaa", b'{"old": 1}')
    _submission(course, "ada+ps1+2026-01-02 10:00:00.000000 UTC+bbb", b'{"new": 1}')
    _submission(course, "grace+other+2026-01-02 10:00:00.000000 UTC+ccc")
    report = collect_inbound(course, ASSIGNMENT)
    assert report.collected == (f"ada/{ASSIGNMENT}/{FIXTURE.name}",)
    got = course.submitted_dir / "ada" / ASSIGNMENT
    assert (got / FIXTURE.name).read_bytes() == b'{"new": 1}'
    assert (got / "timestamp.txt").read_text() == "2026-01-02 10:00:00.000000 UTC"
    assert not (course.submitted_dir / "grace").exists()
    assert collect_inbound(course, ASSIGNMENT).collected == ()  # nothing newer: unchanged


def test_collect_refuses_a_student_id_that_would_climb_out_of_submitted(tmp_path: Path) -> None:
    course = make_course(tmp_path / "course")
    publish(course, ASSIGNMENT)
    _submission(course, "..+ps1+2026-01-02 10:00:00.000000 UTC+aaa")
    report = collect_inbound(course, ASSIGNMENT)
    assert report.collected == ()
    assert "characters we do not accept" in " ".join(report.skipped)
    assert not (course.root / ASSIGNMENT).exists()
    assert not (course.submitted_dir / ASSIGNMENT).exists()


def test_collect_never_follows_a_link_a_learner_planted(tmp_path: Path) -> None:
    course = make_course(tmp_path / "course")
    publish(course, ASSIGNMENT)
    secret = tmp_path / "instructor-only.txt"
    secret.write_text("gradebook secrets")
    folder = _submission(course, "ada+ps1+2026-01-02 10:00:00.000000 UTC+aaa")
    (folder / "loot.txt").symlink_to(secret)
    (_inbound(course) / "eve+ps1+2026-01-03 10:00:00.000000 UTC+bbb").symlink_to(
        folder, target_is_directory=True)
    report = collect_inbound(course, ASSIGNMENT)
    assert report.collected == (f"ada/{ASSIGNMENT}/{FIXTURE.name}",)
    assert not (course.submitted_dir / "ada" / ASSIGNMENT / "loot.txt").exists()
    assert not (course.submitted_dir / "eve").exists()
    reasons = " ".join(report.skipped)
    assert "symbolic link" in reasons and "not a folder" in reasons


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to plant a folder owned by another account")
def test_collect_refuses_a_submission_owned_by_another_learner(tmp_path: Path) -> None:
    import pwd

    course = make_course(tmp_path / "course")
    publish(course, ASSIGNMENT)
    other = pwd.getpwnam("nobody")
    folder = _submission(course, "ada+ps1+2026-01-02 10:00:00.000000 UTC+aaa")
    os.chown(folder, other.pw_uid, other.pw_gid)
    report = collect_inbound(course, ASSIGNMENT)
    assert report.collected == ()
    assert "another account owns it" in " ".join(report.skipped)
