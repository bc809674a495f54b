"""autograde reads nbgrader's settings from nbgrader_config.py the way nbgrader does: a course
whose config names other folders, other solution and hidden-test delimiters and another cell
timeout is released, graded and given feedback by those settings, with nothing copied by
hand in autograde."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "autograde"))
from autograde_course import ASSIGNMENT, FIXTURE, empty_gradebook, submit  # noqa: E402

from autograde.__main__ import _course, parser  # noqa: E402
from autograde.config import Course, Limits, Settings  # noqa: E402
from autograde.regions import Delimiters  # noqa: E402
from autograde.release import ReleaseRefused, release  # noqa: E402

OTHER_CONFIG = '''
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "other-course"
c.CourseDirectory.source_directory = "src"
c.CourseDirectory.release_directory = "student"
c.CourseDirectory.submitted_directory = "inbox"
c.CourseDirectory.autograded_directory = "marked"
c.CourseDirectory.feedback_directory = "fb"
c.ClearSolutions.begin_solution_delimeter = "BEGIN ANSWER"
c.ClearSolutions.end_solution_delimeter = "END ANSWER"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}
c.ClearHiddenTests.begin_test_delimeter = "BEGIN SECRET CHECKS"
c.ClearHiddenTests.end_test_delimeter = "END SECRET CHECKS"
c.Execute.timeout = 7
c.OverwriteCells.add_missing_cells = True
c.AutogradeLimits.notebook_seconds = 50.0
c.AutogradeLimits.memory_bytes = 1024 ** 3
c.AutogradeLimits.output_bytes = 4096
'''
RENAMES = {"BEGIN SOLUTION": "BEGIN ANSWER", "END SOLUTION": "END ANSWER",
           "BEGIN HIDDEN TESTS": "BEGIN SECRET CHECKS", "END HIDDEN TESTS": "END SECRET CHECKS"}
HIDDEN_INPUT = 'mask("abc")'  # only in test_mask's hidden tests


def _other_course(root: Path, limits: Limits | None = None) -> Course:
    """A course whose nbgrader_config.py differs from the repo's in every setting autograde
    reads; its source notebook uses the other delimiters."""
    (root / "nbgrader_config.py").write_text(OTHER_CONFIG)
    text = FIXTURE.read_text()
    for old, new in RENAMES.items():
        text = text.replace(old, new)
    (root / "src" / ASSIGNMENT).mkdir(parents=True)
    (root / "src" / ASSIGNMENT / FIXTURE.name).write_text(text)
    course = Course(root=root, limits=limits or Limits(notebook_seconds=25.0, judge_seconds=25.0))
    empty_gradebook(course)
    return course


def test_the_repos_settings_are_nbgraders_reading_of_its_config() -> None:
    course = Course()
    assert course.settings.cell_timeout == 30.0  # Execute.timeout in nbgrader_config.py
    assert course.limits.cell_seconds == 30.0  # not a second, hand-written default
    assert course.release_dir.name == "release" and course.source_dir.name == "notebooks"
    assert course.delimiters.begin_hidden == "BEGIN HIDDEN TESTS"


def test_folders_delimiters_and_timeout_follow_the_course_config(tmp_path: Path) -> None:
    course = _other_course(tmp_path)
    assert course.course_id == "other-course"
    assert (course.source_dir, course.release_dir, course.submitted_dir, course.autograded_dir,
            course.feedback_dir) == tuple(tmp_path / n for n in ("src", "student", "inbox", "marked", "fb"))
    assert course.db_url == f"sqlite:///{tmp_path / 'gradebook.db'}"
    assert course.delimiters == Delimiters(
        begin_solution="BEGIN ANSWER", end_solution="END ANSWER",
        begin_hidden="BEGIN SECRET CHECKS", end_hidden="END SECRET CHECKS",
        begin_mark_scheme="BEGIN MARK SCHEME", end_mark_scheme="END MARK SCHEME")
    assert course.limits.cell_seconds == 7.0
    assert course.nbgrader_config().CourseDirectory.release_directory == "student"


def test_the_cell_time_is_the_configured_timeout_bounded_by_the_budget(tmp_path: Path) -> None:
    (tmp_path / "nbgrader_config.py").write_text(OTHER_CONFIG)
    settings = Settings.load(tmp_path)
    assert Limits(notebook_seconds=120.0).resolved(settings).cell_seconds == 7.0
    assert Limits(notebook_seconds=5.0).resolved(settings).cell_seconds == 5.0
    assert Limits(cell_seconds=3.0).resolved(settings).cell_seconds == 3.0  # an explicit bound
    args = parser().parse_args(["--root", str(tmp_path), "--budget", "90", "report"])
    assert _course(args).limits.cell_seconds == 7.0  # the command line no longer says 60


def test_autogrades_own_bounds_are_traits_read_from_the_course_config(tmp_path: Path) -> None:
    from autograde.config import AutogradeLimits

    (tmp_path / "nbgrader_config.py").write_text(OTHER_CONFIG)
    limits = Course(root=tmp_path).limits
    assert (limits.notebook_seconds, limits.memory_bytes, limits.output_bytes) == (50.0, 1024**3, 4096)
    assert limits.judge_seconds == AutogradeLimits().judge_seconds  # not configured: the trait's
    args = parser().parse_args(["--root", str(tmp_path), "report"])
    assert _course(args).limits.notebook_seconds == 50.0  # no --budget: the configured one
    for name, trait in AutogradeLimits.class_traits(config=True).items():
        assert len(trait.help) > 20, name  # every option says what it bounds
    default = Course().limits  # the repo's config sets none of them: the traits' defaults
    assert (default.notebook_seconds, default.output_bytes) == (120.0, 256 * 1024)


def test_no_per_cell_timeout_in_nbgrader_means_the_notebook_budget(tmp_path: Path) -> None:
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()  # noqa: F821\nc.Execute.timeout = None\n")
    assert Course(root=tmp_path, limits=Limits(notebook_seconds=40.0)).limits.cell_seconds == 40.0


def test_a_course_without_its_own_config_reads_the_repos(tmp_path: Path) -> None:
    course = Course(root=tmp_path)
    assert course.release_dir == tmp_path / "release" and course.limits.cell_seconds == 30.0


def test_nbgrader_defaults_are_read_from_nbgrader_not_copied() -> None:
    from nbgrader.preprocessors import ClearHiddenTests

    assert Delimiters.nbgrader_defaults().begin_hidden == ClearHiddenTests().begin_test_delimeter


def test_release_strips_and_checks_the_configured_delimiters(tmp_path: Path) -> None:
    course = _other_course(tmp_path)
    (done,) = release(course)
    text = done.notebooks[0].read_text()
    assert done.notebooks[0].parent == tmp_path / "student" / ASSIGNMENT
    assert HIDDEN_INPUT.replace('"', '\\"') not in text and "SECRET CHECKS" not in text
    assert "BEGIN ANSWER" not in text and "raise NotImplementedError()" in text


def test_release_refuses_a_configured_delimiter_that_nbgrader_leaves(tmp_path: Path) -> None:
    course = _other_course(tmp_path)
    path = course.source_dir / ASSIGNMENT / FIXTURE.name
    nb = nbformat.read(path, 4)
    nb.metadata["authoring"] = {"note": "### BEGIN SECRET CHECKS"}
    nbformat.write(nb, path)
    with pytest.raises(ReleaseRefused) as info:
        release(course)
    assert info.value.findings == (
        f"{FIXTURE.name}: notebook metadata holds the delimiter 'BEGIN SECRET CHECKS'",)


def test_the_repos_delimiter_is_plain_text_in_a_course_that_configures_others(tmp_path: Path) -> None:
    course = _other_course(tmp_path)
    path = course.source_dir / ASSIGNMENT / FIXTURE.name
    nb = nbformat.read(path, 4)
    nb.metadata["authoring"] = {"note": "BEGIN HIDDEN TESTS is not a delimiter here"}
    nbformat.write(nb, path)
    assert len(release(course)) == 1


def _solved(course: Course, **answers: str) -> nbformat.NotebookNode:
    """The release with every answer cell holding the source's solution body (read with the
    course's own delimiters), except the cells named in `answers`."""
    nb = nbformat.read(course.release_dir / ASSIGNMENT / FIXTURE.name, 4)
    src = {c.metadata.get("nbgrader", {}).get("grade_id"): c
           for c in nbformat.read(course.source_dir / ASSIGNMENT / FIXTURE.name, 4).cells}
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if c.metadata.get("nbgrader", {}).get("solution"):
            d = course.delimiters
            honest = "\n".join(line for line in src[gid].source.splitlines()
                               if d.begin_solution not in line and d.end_solution not in line)
            c.source = answers.get(gid, honest)
    return nb


@pytest.mark.slow
def test_grade_and_feedback_follow_the_course_config(tmp_path: Path) -> None:
    from autograde.feedback import write_feedback
    from autograde.grade import grade

    course = _other_course(tmp_path)
    release(course)
    submit(course, "honest", _solved(course))
    submit(course, "mistake", _solved(course, mask=(
        "def mask(secret: str) -> str:\n"
        "    keep = secret[-4:]\n"
        "    return '*' * (len(secret) - len(keep)) + keep\n")))  # wrong only for short secrets
    assert (tmp_path / "inbox" / "honest" / ASSIGNMENT / FIXTURE.name).exists()
    results = {r.student: r for r in grade(course, workers=2)}
    assert results["honest"].score == 7.0, results["honest"].reasons  # + 1 point graded by hand
    lost = {e.grade_id: e for e in results["mistake"].exercises if e.score < e.max_score}
    assert set(lost) == {"test_mask"}
    # The judge knew where the configured hidden tests begin: the reason quotes nothing.
    assert lost["test_mask"].reason.startswith("a hidden check failed"), lost["test_mask"].reason
    marked = tmp_path / "marked" / "mistake" / ASSIGNMENT / FIXTURE.name
    outputs = json.dumps([c.get("outputs", []) for c in nbformat.read(marked, 4).cells])
    assert 'mask(\\"abc\\")' not in outputs  # the learner's kernel ran the visible checks only
    pages = write_feedback(course)
    assert {p.parent.parent.parent for p in pages} == {tmp_path / "fb"}
    page = next(p for p in pages if "mistake" in p.parts).read_text()
    assert "mask(&quot;abc" not in page and 'mask("abc' not in page and "SECRET CHECKS" not in page
    assert not (tmp_path / "autograded").exists() and not (tmp_path / "feedback").exists()
    shutil.rmtree(tmp_path / "marked")
