"""End to end on a tmp course: release refuses leaks; grade scores a small class into
nbgrader's gradebook (blank 0, honest full marks, a planted mistake loses its exercise),
and a rerun resumes without regrading."""
from __future__ import annotations

import csv
import html
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "autograde"))
from autograde_course import (  # noqa: E402
    ASSIGNMENT,
    FIXTURE,
    empty_gradebook,
    make_course,
    release_nb,
    solved,
    submit,
)

from autograde.config import Course  # noqa: E402
from autograde.feedback import write_feedback  # noqa: E402
from autograde.grade import grade, load_results  # noqa: E402
from autograde.regions import Delimiters  # noqa: E402
from autograde.release import ReleaseError, ReleaseRefused, leaks, release  # noqa: E402
from autograde.report import write_report  # noqa: E402

AUTOGRADED_POINTS = 7.0  # three exercises; the 1-point reflection is graded by hand


def test_release_strips_solutions_and_hidden_tests(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    text = (course.release_dir / ASSIGNMENT / FIXTURE.name).read_text()
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert "sorted(set(requested) & set(allowed))" not in text
    assert 'mask("abc")' not in text  # a hidden test input
    assert "raise NotImplementedError()" in text
    assert not (tmp_path / ".release-staging").exists()


def _course_with(tmp_path: Path, edit) -> Course:
    nb = nbformat.read(FIXTURE, 4)
    edit(nb)
    (tmp_path / "notebooks" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(nb, tmp_path / "notebooks" / ASSIGNMENT / FIXTURE.name)
    course = Course(root=tmp_path)
    empty_gradebook(course)
    return course


def test_release_refuses_a_planted_secret(tmp_path: Path) -> None:
    def plant(nb):
        nb.cells[0].source += "\n\nThe key is sk_live_0123456789abcdef0123"

    course = _course_with(tmp_path, plant)
    with pytest.raises(ReleaseRefused) as info:
        release(course)
    assert any("planted secret" in f for f in info.value.findings)
    assert "sk_live_0123" not in str(info.value)  # the refusal does not repeat the secret
    assert not (course.release_dir / ASSIGNMENT).exists()


def _stash_test_cell(visible_only: bool):
    """An authoring tool's note in the notebook's metadata holding test_mask's source (with
    its hidden tests, or only its visible part): nbgrader releases notebook metadata as is."""
    def edit(nb):
        test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_mask")
        text = test.source.split("### BEGIN HIDDEN TESTS")[0] if visible_only else test.source
        nb.metadata["authoring"] = {"test_mask": text}
    return edit


def test_release_refuses_hidden_tests_that_nbgrader_releases(tmp_path: Path) -> None:
    """nbgrader's GenerateAssignment builds this student version without complaint; the
    project's own leak check is what refuses it, naming each delimiter it found."""
    course = _course_with(tmp_path, _stash_test_cell(visible_only=False))
    with pytest.raises(ReleaseRefused) as info:
        release(course)
    assert info.value.findings == (
        f"{FIXTURE.name}: notebook metadata holds the delimiter 'BEGIN HIDDEN TESTS'",
        f"{FIXTURE.name}: notebook metadata holds the delimiter 'END HIDDEN TESTS'")
    assert not (course.release_dir / ASSIGNMENT).exists()
    assert not (tmp_path / ".release-staging").exists()


def test_without_the_leak_check_nbgrader_would_release_the_hidden_tests(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal above is the leak check's, not nbgrader's: with the check off, nbgrader
    builds and writes the student version, hidden tests included."""
    import autograde.release as releasing

    course = _course_with(tmp_path, _stash_test_cell(visible_only=False))
    monkeypatch.setattr(releasing, "leaks", lambda *args, **kwargs: ())
    release(course)
    assert 'mask(\\"abc\\")' in (course.release_dir / ASSIGNMENT / FIXTURE.name).read_text()


def test_metadata_without_hidden_tests_is_released(tmp_path: Path) -> None:
    course = _course_with(tmp_path, _stash_test_cell(visible_only=True))
    (released,) = release(course)
    assert released.notebooks == (course.release_dir / ASSIGNMENT / FIXTURE.name,)


def test_nbgrader_itself_refuses_hidden_test_delimiters_outside_a_test_cell(tmp_path: Path) -> None:
    def demo_with_hidden_tests(nb):
        nb.cells.insert(2, nbformat.v4.new_code_cell(
            "print('demo')\n### BEGIN HIDDEN TESTS\nassert LEEWAY_CAP == 60\n### END HIDDEN TESTS"))

    course = _course_with(tmp_path, demo_with_hidden_tests)
    with pytest.raises(ReleaseError):
        release(course)
    assert not (course.release_dir / ASSIGNMENT).exists()


def test_a_line_the_source_shows_in_the_open_is_not_a_leak() -> None:
    src = nbformat.read(FIXTURE, 4)
    student = nbformat.read(FIXTURE, 4)
    for nb in (src, student):
        nb.cells[1].source += "\nif leeway < 0 or leeway > LEEWAY_CAP:\n    pass"
    student.cells = [c for c in student.cells if not c.metadata.get("nbgrader", {}).get("solution")
                     and "BEGIN" not in c.source]
    assert leaks(student, src, Delimiters.nbgrader_defaults()) == ()


def test_leaks_flags_a_delimiter_left_in_the_student_version() -> None:
    src = nbformat.read(FIXTURE, 4)
    student = nbformat.read(FIXTURE, 4)
    assert any("BEGIN SOLUTION" in f for f in leaks(student, src, Delimiters.nbgrader_defaults()))


@pytest.mark.slow
def test_a_small_class_is_graded_into_the_gradebook_and_resumes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbgrader.api

    course = make_course(tmp_path)
    submit(course, "blank", release_nb(course))
    submit(course, "honest", solved(course))
    submit(course, "mistake", solved(course, is_expired=(
        "def is_expired(exp: int, now: int, leeway: int = 0) -> bool:\n"
        "    return now > exp  # forgets the leeway: only a hidden check notices\n")))
    original = nbgrader.api.create_engine
    engines: list[str] = []  # fresh engines nbgrader opened in the grader's process

    def counted(url: str, **kwargs: object) -> object:
        engines.append(url)
        return original(url, **kwargs)

    monkeypatch.setattr(nbgrader.api, "create_engine", counted)
    results = {r.student: r for r in grade(course, workers=2)}
    # One shared engine for the run (the gradebook check before it may open one of nbgrader's),
    # not several per notebook; and nbgrader's module is left as it was.
    assert len(engines) <= 1, engines
    assert nbgrader.api.create_engine is counted

    assert results["blank"].score == 0.0
    assert results["honest"].score == AUTOGRADED_POINTS
    assert results["mistake"].score == AUTOGRADED_POINTS - 2.0
    lost = [e for e in results["mistake"].exercises if e.score < e.max_score]
    assert [e.grade_id for e in lost] == ["test_is_expired"]
    # The kernel ran the visible checks only (hidden tests never enter the learner's process).
    assert lost[0].outside == "failed" and lost[0].kernel == "passed"
    if shutil.which("bwrap"):  # without it every result carries the UNCONFINED warning
        assert results["honest"].needs_human == ()
        assert results["honest"].confined

    with Gradebook(course.db_url, course.course_id) as gb:
        scores = {s.student_id: s.score for s in gb.assignment_submissions(ASSIGNMENT)}
    assert scores == {"blank": 0.0, "honest": AUTOGRADED_POINTS, "mistake": AUTOGRADED_POINTS - 2}
    for student in ("blank", "honest", "mistake"):
        assert (course.autograded_dir / student / ASSIGNMENT / FIXTURE.name).exists()

    ledger = course.autograded_dir / "honest" / ASSIGNMENT / "ps1.autograde.json"
    before = ledger.stat().st_mtime_ns
    again = grade(course, workers=2)
    assert ledger.stat().st_mtime_ns == before  # resumed: nothing regraded
    assert {r.student: r.score for r in again} == {k: v.score for k, v in results.items()}
    assert len(load_results(course)) == 3

    report = write_report(course)
    names = {p.name for p in report.files}
    assert {"grades.csv", "exercises.csv", "needs_human.csv", "score_distribution.png",
            "pass_rate_per_exercise.png"} <= names
    for png in (course.reports_dir / "score_distribution.png",
                course.reports_dir / "pass_rate_per_exercise.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (course.reports_dir / "grades.csv").open() as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert rows["honest"]["score"] == "7" and rows["mistake"]["score"] == "5"
    with (course.reports_dir / "exercises.csv").open() as fh:
        failed = [r for r in csv.DictReader(fh) if r["student"] == "mistake" and r["score"] == "0"]
    assert [r["exercise"] for r in failed] == ["test_is_expired"]
    assert failed[0]["reason"] == "a hidden check failed"

    pages = write_feedback(course)
    assert len(pages) == 3
    hidden = _hidden_lines(course)
    for page in pages:
        text = page.read_text()
        assert "<svg" in text and "cdn" not in text.lower() and "<script" not in text
        assert not [line for line in hidden if html.escape(line) in text], page
    mistake = (course.feedback_dir / "mistake" / ASSIGNMENT / "ps1.html").read_text()
    assert "failed: a hidden check failed" in mistake


def _hidden_lines(course: Course) -> list[str]:
    src = nbformat.read(course.source_dir / ASSIGNMENT / FIXTURE.name, 4)
    lines = []
    for c in src.cells:
        inside = False
        for line in c.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) >= 12:  # not `pass`, `try:`
                lines.append(line.strip())
    assert lines
    return lines


@pytest.mark.slow
def test_the_jupyter_kernel_engine_grades_the_same(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    submit(course, "honest", solved(course))
    submit(course, "blank", release_nb(course))
    results = {r.student: r.score for r in grade(course, workers=2, engine="kernel")}
    assert results == {"honest": AUTOGRADED_POINTS, "blank": 0.0}


@pytest.mark.slow
def test_without_bubblewrap_grading_still_works_and_says_so_loudly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADE_UNCONFINED", "1")
    course = make_course(tmp_path)
    submit(course, "honest", solved(course))
    (result,) = grade(course, workers=1)
    assert result.score == AUTOGRADED_POINTS and not result.confined
    assert any(reason.startswith("UNCONFINED") for reason in result.needs_human)
