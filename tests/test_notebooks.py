"""Every source notebook, generically: in sync with its spec, releasable, and graded for real.

For each assignment under notebooks/: the committed notebook is what its
spec builds; the student version (real ``nbgrader generate_assignment``)
holds no solution, no hidden test and no secret, and runs top to bottom
failing only where the learner has work to do; real ``nbgrader autograde``
gives the source full marks and the blank release zero; and every planted
mistake loses the points of the test cells it names. nbval (run by
``make test`` with ``--nbval``) separately proves the stored outputs are
those of a fresh run.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.nbgrader_course import (
    Course,
    assignments,
    mistakes,
    notebook_of,
    plant,
    source_notebook,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "authoring"))
import nbbuild  # noqa: E402

ASSIGNMENTS = assignments()
SOLUTION = re.compile(r"### (BEGIN|END) SOLUTION")
HIDDEN = re.compile(r"### (BEGIN|END) HIDDEN TESTS")


def _graded_cells(nb: nbformat.NotebookNode) -> dict[str, float]:
    out = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            out[meta["grade_id"]] = float(meta["points"])
    return out


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebook_is_what_its_spec_builds(assignment: str) -> None:
    spec = nbbuild.SPECS / f"{assignment}.py"
    assert spec.exists(), f"{assignment} has no spec in authoring/specs"
    built = nbbuild.parse_spec(spec.read_text())
    stored = source_notebook(assignment)
    assert [(c.id, c.cell_type, c.source) for c in built.cells] == \
        [(c.id, c.cell_type, c.source) for c in stored.cells], "rebuild with authoring/nbbuild.py"
    assert notebook_of(assignment) == nbbuild.notebook_path(assignment)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebook_anatomy(assignment: str) -> None:
    nb = source_notebook(assignment)
    text = "\n".join(c.source for c in nb.cells)
    assert "```mermaid" in text, "the trust path diagram is missing"
    assert re.search(r"\*\*Layer: ", text), "the layer badge is missing"
    graded = _graded_cells(nb)
    assert len(graded) >= 3, "at least three autograded exercises"
    manual = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
              and c.metadata["nbgrader"].get("grade") and c.cell_type == "markdown"]
    assert manual, "at least one hand-graded written reflection"
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code":
            assert cell.source.lstrip().startswith('"""Check that'), cell.id
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            head = SOLUTION.split(cell.source)[0]
            assert "def " in head or "class " in head, f"{cell.id}: signature outside the solution"
        for output in cell.get("outputs", []):
            if output.get("name") == "stderr" and cell.metadata.get("nbgrader", {}).get("grade"):
                pytest.fail(f"{cell.id}: a test cell writes to stderr (nbgrader gives it zero)")
    for cell in nb.cells:
        if cell.cell_type == "code" and "NBVAL_IGNORE_OUTPUT" in cell.source:
            lines = cell.source.splitlines()
            i = next(n for n, ln in enumerate(lines) if "NBVAL_IGNORE_OUTPUT" in ln)
            assert i + 1 < len(lines) and lines[i + 1].lstrip().startswith("#") and \
                len(lines[i + 1]) > 15, f"{cell.id}: an ignored output needs a written reason"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_and_autograde_for_real(assignment: str, tmp_path: Path) -> None:
    course = Course(tmp_path, assignment)
    released = course.release()
    text = released.read_text()
    assert not SOLUTION.search(text), "solution markers leaked into the release"
    assert not HIDDEN.search(text), "hidden tests leaked into the release"
    source = source_notebook(assignment)
    for cell in source.cells:  # no solution body survives in the release
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            body = cell.source.split("### BEGIN SOLUTION", 1)[-1].split("### END SOLUTION")[0]
            for line in body.strip().splitlines():
                if len(line.strip()) > 25:
                    assert line.strip() not in text, f"{cell.id}: solution line in the release"
        if cell.metadata.get("nbgrader", {}).get("grade") and "### BEGIN HIDDEN TESTS" in cell.source:
            hidden = cell.source.split("### BEGIN HIDDEN TESTS", 1)[1].split("### END HIDDEN TESTS")[0]
            for line in hidden.strip().splitlines():
                if len(line.strip()) > 25:
                    assert line.strip() not in text, f"{cell.id}: hidden test line in the release"
    _blank_runs_with_only_unfinished_work(released)

    blank = nbformat.read(released, as_version=4)
    course.submit("blank", blank)
    course.submit("source", source)
    planted = mistakes(assignment)
    for i, mistake in enumerate(planted):
        course.submit(f"mistake-{i:02d}", plant(source, mistake))
    pretenders = _always_equal_answers(source)
    for cell_id, nb in pretenders.items():
        course.submit(f"always-equal-{cell_id}", nb)
    course.autograde()

    graded = _graded_cells(source)
    full = course.scores("source")
    for grade_id, points in graded.items():
        assert full[grade_id] == (points, points), f"source loses points on {grade_id}"
    zero = course.scores("blank")
    assert sum(score for grade_id, (score, _) in zero.items() if grade_id in graded) == 0
    per_exercise = {}
    for i, mistake in enumerate(planted):
        got = course.scores(f"mistake-{i:02d}")
        for grade_id in mistake["loses"]:
            score, top = got[grade_id]
            assert score < top, f"planted mistake {mistake['name']!r} keeps full marks on {grade_id}"
            per_exercise.setdefault(grade_id, 0)
            per_exercise[grade_id] += 1
    for grade_id in graded:
        assert per_exercise.get(grade_id, 0) >= 2, f"{grade_id}: fewer than two planted mistakes"
    for cell_id in pretenders:  # an answer that only pretends (== is always true) must lose
        guarded = {g for m in planted if m["cell"] == cell_id for g in m["loses"]}
        assert guarded, f"{cell_id}: no planted mistake names the test cells that guard it"
        got = course.scores(f"always-equal-{cell_id}")
        assert sum(got[g][0] for g in guarded) < sum(got[g][1] for g in guarded), \
            f"{cell_id}: an always-equal answer keeps full marks"


_PRETENDER = """class _AlwaysEqual:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
    def __hash__(self): return 0
    def __iter__(self): return iter(())
    def __len__(self): return 0
    def __getattr__(self, name): return self
    def __call__(self, *a, **k): return self
return _AlwaysEqual()"""


def _always_equal_answers(source: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """Per answer cell: the source with that cell's solution replaced by an always-equal return."""
    out = {}
    for cell in source.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("solution"):
            continue
        lines, body, inside, indent = cell.source.splitlines(), [], False, ""
        for line in lines:
            if line.strip() == "### BEGIN SOLUTION":
                inside, indent = True, line[: len(line) - len(line.lstrip())]
                body += [indent + p for p in _PRETENDER.splitlines()]
            elif line.strip() == "### END SOLUTION":
                inside = False
            elif not inside:
                body.append(line)
        nb = nbformat.from_dict(json.loads(json.dumps(source)))
        next(c for c in nb.cells if c.get("id") == cell.get("id")).source = "\n".join(body)
        out[meta["grade_id"]] = nb
    return out


def _blank_runs_with_only_unfinished_work(released: Path) -> None:
    nb = nbformat.read(released, as_version=4)
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(released.parent)}}).execute()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                why = f"{output.get('ename')}: {output.get('evalue')}"
                assert "NotImplementedError" in why, f"{cell.id} fails for another reason: {why}"


# ---------------------------------------------------------------- second edition (issue 8)

#: Notebooks rebuilt to the second edition's anatomy (see authoring/PATTERN.md). For these, every
#: planted mistake must also fail a *visible* check naming its property, each exercise has at least
#: three planted mistakes, and no mark scheme survives outside a solution region. Add a notebook
#: here when its spec has been migrated; the others are skipped, not exempted silently.
SECOND_EDITION = {"00-checkout-desk", "01-master-key-in-the-prompt", "02-short-lived-tokens",
                  "03-vault-policy", "04-the-broker", "05-access-log", "06-revocation"}
SECOND_EDITION |= {"07-approvals-and-tenants", "08-threat-model", "09-deployment-agent"}  # issues 10, 11
_REGION = re.compile(r"^[ \t]*### BEGIN (SOLUTION|HIDDEN TESTS).*?^[ \t]*### END \1[ \t]*$",
                     re.MULTILINE | re.DOTALL)


def _second_edition(assignment: str) -> None:
    if assignment not in SECOND_EDITION:
        pytest.skip(f"{assignment} is not migrated to the second edition yet (issue 8)")


HIDDEN_REGION = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[ \t]*$",
                           re.MULTILINE | re.DOTALL)


def _visible(source: str) -> str:
    """A test cell as the learner's own run sees it in the release: hidden tests removed."""
    return HIDDEN_REGION.sub("", source)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_planted_mistake_fails_a_visible_check_naming_its_property(assignment: str) -> None:
    """One kernel: the source with hidden tests removed, then per mistake the planted answer cell,
    the visible part of the test cells it must lose, and the original answer cell again."""
    _second_edition(assignment)
    source = source_notebook(assignment)
    planted = mistakes(assignment)
    graded = _graded_cells(source)
    for grade_id in graded:
        assert sum(grade_id in m["loses"] for m in planted) >= 3, f"{grade_id}: fewer than three"
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in source.cells}
    nb = nbformat.from_dict(json.loads(json.dumps(source)))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = _visible(cell.source) if cell.metadata.get("nbgrader", {}).get("grade") \
                else cell.source
            cell.outputs = []
    base = len(nb.cells)
    probes: list[tuple[dict[str, object], str, int]] = []
    for n, mistake in enumerate(planted):
        assert mistake.get("visible"), f"{mistake['name']!r}: name the property its visible check names"
        wrong = next(c for c in plant(source, mistake).cells
                     if c.metadata.get("nbgrader", {}).get("grade_id") == mistake["cell"])
        nb.cells.append(nbformat.v4.new_code_cell(wrong.source, id=f"planted-{n}"))
        for grade_id in mistake["loses"]:
            nb.cells.append(nbformat.v4.new_code_cell(_visible(by_id[grade_id].source),
                                                      id=f"probe-{n}-{grade_id}"))
            probes.append((mistake, str(grade_id), len(nb.cells) - 1))
        nb.cells.append(nbformat.v4.new_code_cell(by_id[mistake["cell"]].source, id=f"restore-{n}"))
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(notebook_of(assignment).parent)}}).execute()

    def error_of(cell: nbformat.NotebookNode) -> dict[str, str] | None:
        return next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)

    for cell in nb.cells[:base]:  # the honest source passes its own visible checks
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            assert error_of(cell) is None, f"{cell.id}: the source fails its own visible check"
    for mistake, grade_id, index in probes:
        err = error_of(nb.cells[index])
        assert err is not None, \
            f"planted mistake {mistake['name']!r} passes every visible check of {grade_id}"
        assert err["ename"] in ("PropertyBroken", "DelegatedToReference"), \
            f"{mistake['name']!r}: {grade_id} fails with {err['ename']}, not a named property"
        assert f"Property broken: {mistake['visible']}." in err["evalue"], \
            f"{mistake['name']!r}: {grade_id} names another property: {err['evalue'][:200]}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_mark_scheme_or_model_answer_outside_a_solution_region(assignment: str) -> None:
    """nbgrader strips solution and hidden-test regions from the release; nothing else is stripped."""
    _second_edition(assignment)
    for cell in source_notebook(assignment).cells:
        kept = _REGION.sub("", cell.source).lower()
        for phrase in ("mark scheme", "model answer", "grader:"):
            assert phrase not in kept, f"{cell.id}: {phrase!r} would reach the student version"
