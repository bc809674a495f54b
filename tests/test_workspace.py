"""The learner's workspace: the first run builds it from the student versions (trusted, no
solutions), a rebuild never overwrites the learner's edits (a new course version is offered
beside them), an untouched notebook follows the course, and the workspace is never the source."""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.sign import NotebookNotary

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "autograde"))
from autograde_course import ASSIGNMENT, FIXTURE, make_course, release_nb  # noqa: E402

from autograde.config import Course  # noqa: E402
from autograde.exchange import exchange_root  # noqa: E402
from autograde.workspace import (  # noqa: E402
    NEW_SUFFIX,
    WorkspaceRefused,
    build,
    check_location,
    lab_argv,
    lab_env,
    main,
    sync,
)


@pytest.fixture(autouse=True)
def _own_signature_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))


@pytest.fixture
def course(tmp_path: Path) -> Course:
    return make_course(tmp_path / "course")


def _new_course_version(course: Course) -> bytes:
    """Change the released notebook as a new course version would (a fixed typo)."""
    nb = release_nb(course)
    nb.cells[0].source += "\n\n(Updated: a typo fixed.)"
    nbformat.write(nb, course.release_dir / ASSIGNMENT / FIXTURE.name)
    return (course.release_dir / ASSIGNMENT / FIXTURE.name).read_bytes()


def _learner_edits(path: Path) -> bytes:
    nb = nbformat.read(path, 4)
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
    answer.source = "def mask(s):\n    return '*' * len(s)\n"
    nbformat.write(nb, path)
    return path.read_bytes()


def test_the_first_run_builds_trusted_student_versions_without_solutions(course: Course,
                                                                          tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    report = sync(course, ws)
    copy = ws / ASSIGNMENT / FIXTURE.name
    assert copy.read_bytes() == (course.release_dir / ASSIGNMENT / FIXTURE.name).read_bytes()
    assert report.first_notebook == copy
    assert [c.action for c in report.changes] == ["new"]
    assert NotebookNotary().check_signature(nbformat.read(copy, 4))  # opens trusted
    text = "".join(p.read_text() for p in ws.rglob("*") if p.is_file())
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    config = (ws / "nbgrader_config.py").read_text()
    assert "vault-lab" in config and str(exchange_root(course)) in config
    assert "source_directory" not in config and "gradebook" not in config


def test_a_rebuild_never_overwrites_an_edited_notebook_and_offers_the_new_version(
        course: Course, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    sync(course, ws)
    mine = _learner_edits(ws / ASSIGNMENT / FIXTURE.name)
    new = _new_course_version(course)
    report = sync(course, ws)
    assert (ws / ASSIGNMENT / FIXTURE.name).read_bytes() == mine
    offered = ws / ASSIGNMENT / (FIXTURE.stem + NEW_SUFFIX)
    assert offered.read_bytes() == new
    assert [c.action for c in report.changes] == ["offered"]
    assert any("your work" in line and offered.name in line for line in report.lines())
    again = sync(course, ws)  # same course version: nothing more to offer, the work stays
    assert [c.action for c in again.changes] == ["kept"]
    assert (ws / ASSIGNMENT / FIXTURE.name).read_bytes() == mine


def test_an_edited_notebook_is_kept_when_the_course_did_not_change(course: Course,
                                                                   tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    sync(course, ws)
    mine = _learner_edits(ws / ASSIGNMENT / FIXTURE.name)
    report = sync(course, ws)
    assert [c.action for c in report.changes] == ["kept"]
    assert (ws / ASSIGNMENT / FIXTURE.name).read_bytes() == mine
    assert not (ws / ASSIGNMENT / (FIXTURE.stem + NEW_SUFFIX)).exists()


def test_an_untouched_notebook_follows_the_new_course_version(course: Course, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    sync(course, ws)
    new = _new_course_version(course)
    report = sync(course, ws)
    assert [c.action for c in report.changes] == ["updated"]
    assert (ws / ASSIGNMENT / FIXTURE.name).read_bytes() == new
    assert not (ws / ASSIGNMENT / (FIXTURE.stem + NEW_SUFFIX)).exists()


def test_a_deleted_notebook_comes_back(course: Course, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    sync(course, ws)
    (ws / ASSIGNMENT / FIXTURE.name).unlink()
    assert [c.action for c in sync(course, ws).changes] == ["new"]


@pytest.mark.parametrize("where", ["notebooks", "notebooks/ps1", "release", "release/x", "submitted",
                                   "autograded", "feedback", ".", ".."])
def test_the_workspace_is_never_the_source_or_the_course(course: Course, where: str) -> None:
    with pytest.raises(WorkspaceRefused):
        check_location(course, course.root / where)


def test_a_refused_workspace_writes_nothing_into_the_source(course: Course) -> None:
    before = {p: p.read_bytes() for p in course.source_dir.rglob("*") if p.is_file()}
    with pytest.raises(WorkspaceRefused):
        sync(course, course.source_dir)
    with pytest.raises(WorkspaceRefused):
        build(course, course.source_dir / ASSIGNMENT, progress=lambda _: None)
    after = {p: p.read_bytes() for p in course.source_dir.rglob("*") if p.is_file()}
    assert after == before


def test_a_learners_own_nbgrader_config_is_left_alone(course: Course, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "nbgrader_config.py").write_text("c = get_config()\n# mine\n")
    sync(course, ws)
    assert (ws / "nbgrader_config.py").read_text() == "c = get_config()\n# mine\n"


def test_build_releases_publishes_and_reports_progress(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    course = make_course(tmp_path / "course", released=False)
    ws = tmp_path / "ws"
    assert main(["--root", str(course.root), "--workspace", str(ws), "build"]) == 0
    out = capsys.readouterr().out
    assert f"[1/1] building the student version of {ASSIGNMENT}" in out
    assert (ws / ASSIGNMENT / FIXTURE.name).exists()
    assert (exchange_root(course) / course.course_id / "outbound" / ASSIGNMENT / FIXTURE.name).exists()


def test_the_labs_are_rooted_where_each_role_works(tmp_path: Path) -> None:
    learner = lab_argv("learner", tmp_path / "ws", open_path="ps1/ps1.ipynb")
    assert f"--ServerApp.root_dir={tmp_path / 'ws'}" in learner
    assert "--LabApp.default_url=/lab/tree/ps1/ps1.ipynb" in learner
    assert any(a.startswith("--LabApp.app_settings_dir=") and a.endswith("learner/settings")
               for a in learner)
    assert not any(a.endswith("notebooks/") or a.endswith("notebooks") for a in learner)
    env = lab_env("instructor")
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert env["JUPYTER_CONFIG_PATH"].split(":")[0].endswith("jupyter/instructor")


def test_the_instructor_trusts_the_course_but_never_a_submission(course: Course) -> None:
    from autograde.workspace import trust_course

    submitted = course.submitted_dir / "eve" / ASSIGNMENT / FIXTURE.name
    submitted.parent.mkdir(parents=True)
    nbformat.write(release_nb(course), submitted)
    assert trust_course(course) == 2  # the source and the release of ps1
    notary = NotebookNotary()
    assert notary.check_signature(nbformat.read(course.release_dir / ASSIGNMENT / FIXTURE.name, 4))
    assert notary.check_signature(nbformat.read(course.source_dir / ASSIGNMENT / FIXTURE.name, 4))
    evil = nbformat.read(submitted, 4)
    evil.cells[0].source += "\n<script>steal()</script>"  # a learner's own content
    nbformat.write(evil, submitted)
    assert not notary.check_signature(nbformat.read(submitted, 4))
