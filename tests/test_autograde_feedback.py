"""The feedback renderer on its own: each exercise in the learner's words ("passed", "not
attempted", "failed: <property>", graded by hand), never a hidden test's line, input or
expected value, learner text escaped, and no state kept between pages."""
from __future__ import annotations

import nbformat
import pytest

import autograde.feedback as feedback
from autograde.feedback import hidden_lines, render
from autograde.grade import Exercise, GradedNotebook
from autograde.judge import FAIL, PASS, UNDECIDABLE
from autograde.regions import Delimiters

D = Delimiters.nbgrader_defaults()
VISIBLE = ('"""Check that mask hides all but the last 4 characters."""\n'
           'assert mask("tok_abcd1234") == "********1234"')
HIDDEN = 'assert mask("abc") == "***"'
TEST_SOURCE = f"{VISIBLE}\n### BEGIN HIDDEN TESTS\n{HIDDEN}\n### END HIDDEN TESTS"


def _cell(kind: str, source: str, **nbgrader: object) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    if nbgrader:
        cell.metadata["nbgrader"] = dict(nbgrader)
    return cell


def _notebooks(outputs: list[nbformat.NotebookNode] | None = None):
    """(autograded notebook, release): the autograded test cell holds the hidden tests, as
    nbgrader's OverwriteCells restores them; the release's does not."""
    answer = _cell("code", "def mask(secret):\n    return secret", grade_id="mask", solution=True,
                   grade=False)
    answer.outputs = outputs or []
    graded = nbformat.v4.new_notebook(cells=[
        _cell("markdown", "# Masking <script>alert(1)</script>"), answer,
        _cell("code", TEST_SOURCE, grade_id="test_mask", grade=True, solution=False, points=2)])
    released = nbformat.v4.new_notebook(cells=[
        _cell("markdown", "# Masking"), _cell("code", "raise NotImplementedError()", grade_id="mask"),
        _cell("code", VISIBLE, grade_id="test_mask", grade=True, solution=False, points=2)])
    return graded, released


def _result(*exercises: Exercise, student: str = "ada") -> GradedNotebook:
    return GradedNotebook(student=student, assignment="ps1", notebook="ps1", status="graded",
                          score=sum(e.score for e in exercises),
                          max_score=sum(e.max_score for e in exercises), exercises=exercises)


def _exercise(outside: str, feedback_words: str, score: float = 0.0, reason: str = "") -> Exercise:
    return Exercise(grade_id="test_mask", score=score, max_score=2.0, kernel="passed", outside=outside,
                    reason=reason, feedback=feedback_words)


@pytest.mark.parametrize(("exercise", "words"), [
    (_exercise(PASS, "mask hides all but the last 4 characters: passed", 2.0), "passed"),
    (_exercise(FAIL, "mask hides all but the last 4 characters: not attempted"), "not attempted"),
    (_exercise(FAIL, "mask hides all but the last 4 characters: failed: a hidden check failed: "
                     "hides short secrets", reason="a hidden check failed: hides short secrets"),
     "failed: a hidden check failed: hides short secrets"),
    (_exercise(UNDECIDABLE, "mask hides all but the last 4 characters: not checked automatically: "
                            "your instructor will grade it by hand"),
     "not checked automatically: your instructor will grade it by hand"),
], ids=["passed", "not-attempted", "failed-property", "by-hand"])
def test_each_exercise_is_named_by_its_property_in_the_learners_words(exercise: Exercise,
                                                                       words: str) -> None:
    graded, released = _notebooks()
    page = render(graded, released, _result(exercise), hidden_lines(graded, D))
    assert f"mask hides all but the last 4 characters: {words}" in page
    for internal in ("undecidable", "kernel verdict", "OutsideCheckFailed", "cannot cross"):
        assert internal not in page


def test_an_old_ledger_without_words_gets_them_from_its_status() -> None:
    graded, released = _notebooks()
    page = render(graded, released, _result(_exercise(UNDECIDABLE, "")), hidden_lines(graded, D))
    assert "not checked automatically: your instructor will grade it by hand" in page
    assert "undecidable" not in page


def test_a_test_cell_shows_its_release_source_never_the_hidden_tests() -> None:
    graded, released = _notebooks()
    page = render(graded, released, _result(_exercise(FAIL, "failed: a hidden check failed")),
                  hidden_lines(graded, D))
    assert "tok_abcd1234" in page  # the visible check the learner already had
    assert "abc&quot;) == " not in page and 'mask("abc")' not in page and "HIDDEN TESTS" not in page


def test_a_hidden_test_line_quoted_by_the_learner_is_removed_from_every_output() -> None:
    quoted = [nbformat.v4.new_output("stream", name="stdout", text=f"ran:\n{HIDDEN}\n"),
              nbformat.v4.new_output("execute_result", data={"text/plain": f"'{HIDDEN}'\n{HIDDEN}"}),
              nbformat.v4.new_output("error", ename="E", evalue="", traceback=[HIDDEN])]
    graded, released = _notebooks(quoted)
    page = render(graded, released, _result(_exercise(PASS, "passed", 2.0)), hidden_lines(graded, D))
    assert "abc&quot;)" not in page and 'abc")' not in page
    assert page.count("[hidden test line removed]") == 4  # a repr of the line included


def test_a_reason_quoting_a_hidden_line_is_scrubbed() -> None:
    graded, released = _notebooks()
    page = render(graded, released, _result(_exercise(FAIL, f"failed: {HIDDEN}")), hidden_lines(graded, D))
    assert "abc&quot;) ==" not in page


def test_learner_text_is_escaped_never_live_html() -> None:
    script = "<script>alert(1)</script>"
    graded, released = _notebooks([nbformat.v4.new_output("stream", name="stdout", text=script),
                                   nbformat.v4.new_output("display_data", data={"text/html": script})])
    graded.cells[1].source += f"  # {script}"
    page = render(graded, released, _result(_exercise(FAIL, f"failed: {script}"), student=script),
                  frozenset())
    assert script not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_hidden_lines_are_read_with_the_given_delimiters() -> None:
    other = Delimiters(begin_solution="BEGIN ANSWER", end_solution="END ANSWER",
                       begin_hidden="BEGIN SECRET", end_hidden="END SECRET",
                       begin_mark_scheme="BEGIN MARK SCHEME", end_mark_scheme="END MARK SCHEME")
    nb = nbformat.v4.new_notebook(cells=[_cell("code", f"x = 1\n# BEGIN SECRET\n{HIDDEN}\n# END SECRET")])
    assert hidden_lines(nb, other) == {HIDDEN}
    assert hidden_lines(nb, D) == frozenset()


def test_a_page_keeps_nothing_for_the_next() -> None:
    """Hidden lines are a value passed to one page, not module state: no mutable global."""
    graded, released = _notebooks([nbformat.v4.new_output("stream", name="stdout", text=HIDDEN)])
    render(graded, released, _result(_exercise(PASS, "passed", 2.0)), hidden_lines(graded, D))
    mutable = [name for name, value in vars(feedback).items()
               if not name.startswith("__") and isinstance(value, (set, dict, list, bytearray))]
    assert mutable == []
