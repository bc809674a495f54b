"""A hostile class: every broken or cheating submission gets a score and a recorded reason,
the honest students keep their grades, and nothing outside a submission is read or changed.

Each submission is generated from the fixture's release (an honest learner's notebook plus
one trick), not hand-written JSON. The whole class is graded once, in one `grade` run."""
from __future__ import annotations

import copy
import fcntl
import html
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "autograde"))
from autograde_course import (  # noqa: E402
    ASSIGNMENT,
    FIXTURE,
    cell,
    make_course,
    release_nb,
    solved,
    submit,
)

from autograde.config import Course, Limits  # noqa: E402
from autograde.grade import GradedNotebook, grade, load_results  # noqa: E402

FULL = 7.0
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="bubblewrap (bwrap) is not installed: no confinement")

MASK = ('def mask(secret: str) -> str:\n'
        '    keep = secret[-4:] if len(secret) > 4 else ""\n'
        '    return "*" * (len(secret) - len(keep)) + keep\n')
WRONG_EXPIRED = ('def is_expired(exp: int, now: int, leeway: int = 0) -> bool:\n'
                 '    return False\n')


@dataclass(frozen=True)
class Case:
    student: str
    make: Callable[[Course], object]
    score: Callable[[float], bool]
    reason: str


def _edit(fn: Callable[[nbformat.NotebookNode], None]) -> Callable[[Course], object]:
    def make(course: Course) -> nbformat.NotebookNode:
        nb = solved(course)
        fn(nb)
        return nb
    return make


def _bytes(fn: Callable[[bytes], bytes]) -> Callable[[Course], object]:
    def make(course: Course) -> bytes:
        return fn(nbformat.writes(solved(course)).encode())
    return make


def _answer(grade_id: str, code: str) -> Callable[[Course], object]:
    return lambda course: solved(course, **{grade_id: code})


def _delete(nb):
    nb.cells.remove(cell(nb, "test_mask"))
    nb.cells.remove(cell(nb, "mask"))


def _duplicate(nb):
    dup = copy.deepcopy(cell(nb, "test_is_expired"))
    nb.cells.insert(nb.cells.index(cell(nb, "test_is_expired")), dup)


def _reorder(nb):
    answer = cell(nb, "granted_scopes")
    nb.cells.remove(answer)
    nb.cells.append(answer)


def _retype(nb):
    c = cell(nb, "is_expired")
    c.cell_type = "markdown"
    del c["outputs"], c["execution_count"]


def _edit_locked(nb):
    cell(nb, "test_granted_scopes").source = "pass  # nothing to see"
    cell(nb, "test_mask").metadata["nbgrader"]["points"] = 100


def _reader(course: Course) -> nbformat.NotebookNode:
    targets = [course.db_path, course.source_dir / ASSIGNMENT / FIXTURE.name,
               course.submitted_dir / "honest" / ASSIGNMENT / FIXTURE.name, course.root]
    code = MASK + (
        "import os, sqlite3\n"
        f"for p in {[str(t) for t in targets]!r}:\n"
        "    try:\n"
        "        os.listdir(p) if os.path.isdir(p) else open(p, 'rb').read(10)\n"
        "        print('READ', p)\n"
        "    except Exception as e:\n"
        "        print('blocked', type(e).__name__)\n"
        "try:\n"
        f"    sqlite3.connect({str(course.db_path)!r}).execute('update grade set manual_score=99')\n"
        "    print('WROTE gradebook')\n"
        "except Exception as e:\n"
        "    print('blocked', type(e).__name__)\n")
    return solved(course, mask=code)


STRIP_ASSERTS = WRONG_EXPIRED + (
    "import ast\n"
    "class _Strip(ast.NodeTransformer):\n"
    "    def visit_Assert(self, node):\n"
    "        return ast.copy_location(ast.Pass(), node)\n"
    "    visit_Raise = visit_Assert\n"
    "get_ipython().ast_transformers.append(_Strip())\n")

def _flip_metadata(nb):
    meta = cell(nb, "test_mask").metadata["nbgrader"]
    meta["grade"], meta["locked"] = False, False
    cell(nb, "test_granted_scopes").metadata["nbgrader"]["solution"] = True


def _placed(place: Callable[[Path, Course], None]) -> Callable[[Course], object]:
    """A submission that is not a plain file: `place(path, course)` creates it."""
    return lambda course: ("place", place)


def _link_folder(path: Path, course: Course) -> None:
    student = path.parent.parent
    path.parent.rmdir()
    student.rmdir()
    student.symlink_to(course.submitted_dir / "honest")


def _honest_plus(course: Course, code: str) -> nbformat.NotebookNode:
    nb = solved(course)
    cell(nb, "granted_scopes").source += "\n" + code
    return nb


def _blank_plus(code: str, **answers: str) -> Callable[[Course], object]:
    """The blank release, with `code` appended to its first answer cell (and `answers`)."""
    def make(course: Course) -> nbformat.NotebookNode:
        nb = release_nb(course)
        for gid, text in answers.items():
            cell(nb, gid).source = text
        cell(nb, "mask").source += "\n" + code
        return nb
    return make


FORGE_PIPE = ("import json as _j, os as _os\n"
              "for _fd in range(3, 40):\n"
              "    try:\n"
              "        for _i in range(40):\n"
              "            _os.write(_fd, (_j.dumps({'i': _i, 'n': 1, 'outputs': []}) + '\\n').encode())\n"
              "    except OSError:\n"
              "        pass\n")
STDLIB_ANSWERS = {  # a real stdlib type the judge cannot rebuild: the check is undecidable
    "mask": "import datetime\ndef mask(secret):\n    return datetime.date(2020, 1, 1)\n",
    "is_expired": ("import datetime\ndef is_expired(exp, now, leeway=0):\n"
                   "    return datetime.date(2020, 1, 1)\n"),
    "granted_scopes": "import datetime\ndef granted_scopes(r, a):\n    return datetime.date(2020, 1, 1)\n",
}
NESTED_LINE = ("import os as _o\n"
               "def _w(fd):\n"
               "    try:\n        _o.write(fd, b'[' * 200000 + b'\\n')\n"
               "    except OSError:\n        pass\n"
               "def _boom(x=[_w(fd) for fd in range(3, 40)]):\n    return x\n")
FORGED_CREDIT = ("get_ipython().ast_node_interactivity = 'all'\n"
                 "get_ipython().input_transformers_post.append(lambda lines: ['1000\\n'] + lines)\n")
CREDIT_FORMATTER = ("get_ipython().ast_node_interactivity = 'all'\n"
                    "get_ipython().display_formatter.formatters['text/plain']"
                    ".for_type(str, lambda o, p, c: p.text('1000'))\n")

CASES = (
    Case("honest", solved, lambda s: s == FULL, ""),
    # Full marks for a blank notebook, five ways (issue 9): none of it reaches a score.
    Case("display-all", _blank_plus("get_ipython().ast_node_interactivity = 'all'\n"),
         lambda s: s == 0, "not attempted"),
    Case("forged-pipe", _blank_plus(FORGE_PIPE, **STDLIB_ANSWERS), lambda s: s == 0,
         "could not decide"),
    Case("judge-exit", _blank_plus(FORGE_PIPE + NESTED_LINE, **STDLIB_ANSWERS), lambda s: s == 0,
         "stopped the learner's process while loading"),
    Case("forged-credit", _blank_plus(FORGED_CREDIT), lambda s: s == 0, "not attempted"),
    Case("credit-formatter", _blank_plus(CREDIT_FORMATTER), lambda s: s == 0, "not attempted"),
    Case("forged-credit-honest", lambda c: _honest_plus(c, FORGED_CREDIT), lambda s: s == FULL,
         "suppressed tracebacks"),
    # Honest edge cases keep their marks.
    Case("nbformat-v3", lambda c: nbformat.writes(nbformat.convert(solved(c), 3), version=3),
         lambda s: s == FULL, ""),
    Case("flipped-metadata", _edit(_flip_metadata), lambda s: s == FULL,
         "edited metadata [test_mask]"),
    Case("reimport-and-constant", _answer("mask", "import re\nKEEP = 2 * 2\n"
                                          "def mask(secret):\n"
                                          "    n = len(secret) - KEEP\n"
                                          "    n = n if n > 0 else len(secret)\n"
                                          "    return re.sub('.', '*', secret[:n]) + secret[n:]\n"),
         lambda s: s == FULL, ""),
    # Links and other non-regular files are refused, never followed.
    Case("symlink", _placed(lambda path, course: path.symlink_to(
        course.submitted_dir / "honest" / ASSIGNMENT / FIXTURE.name)), lambda s: s == 0,
         "symbolic link"),
    Case("fifo", _placed(lambda path, course: os.mkfifo(path)), lambda s: s == 0,
         "not a regular file"),
    Case("linked-folder", _placed(_link_folder), lambda s: s == 0, "symbolic link"),
    Case("invalid-json", _bytes(lambda b: b.replace(b'"cells"', b'"cells" ::', 1)),
         lambda s: s == 0, "invalid JSON"),
    Case("truncated", _bytes(lambda b: b[: len(b) // 2]), lambda s: s == 0, "truncated"),
    Case("empty", lambda c: b"", lambda s: s == 0, "empty file"),
    Case("not-a-notebook", lambda c: b"\x89PNG\r\n\x1a\n\x00\x00binary", lambda s: s == 0,
         "not a notebook"),
    Case("json-not-notebook", lambda c: json.dumps({"hello": 1}), lambda s: s == 0,
         "not a notebook"),
    Case("deleted-cells", _edit(_delete), lambda s: s == FULL - 2, "deleted cell [test_mask]"),
    Case("duplicated-cell", _edit(_duplicate), lambda s: s == FULL,
         "duplicated cell [test_is_expired]"),
    # Points come from the outside verdict: the answers are right, the order goes to a human.
    Case("reordered", _edit(_reorder), lambda s: s == FULL, "reordered cells"),
    Case("retyped", _edit(_retype), lambda s: s == FULL, "retyped cell [is_expired]"),
    Case("edited-locked", _edit(_edit_locked), lambda s: s == FULL,
         "edited locked cell [test_granted_scopes]"),
    Case("edited-metadata", _edit(_edit_locked), lambda s: s == FULL,
         "edited metadata [test_mask]: changed points"),
    Case("infinite-loop", _answer("mask", MASK + "while True:\n    pass\n"),
         lambda s: s == FULL, "ran out of time and was interrupted"),
    Case("unstoppable-loop", _answer("mask", MASK + (
        "while True:\n    try:\n        while True:\n            pass\n"
        "    except BaseException:\n        pass\n")), lambda s: s == FULL - 2, "time budget exhausted"),
    # A cell that kills the learner's process loses its own exercise, not the others'.
    Case("kernel-exit", _answer("is_expired", "import os\nos._exit(3)\n"),
         lambda s: s == FULL - 2, "kernel died"),
    Case("segfault", _answer("is_expired", "import ctypes\nctypes.string_at(0)\n"),
         lambda s: s == FULL - 2, "kernel died"),
    Case("memory", _answer("mask", "def mask(secret):\n    b = bytearray(8 * 1024**3)\n"
                                   "    return secret\n"), lambda s: s == FULL - 2, "MemoryError"),
    Case("output-flood", _answer("mask", MASK + "print('x' * 20_000_000)\n"),
         lambda s: s == FULL, "output flood"),
    Case("reads-files", _reader, lambda s: s == FULL, "reading files"),
    Case("always-equal", _answer("mask", "class Eq(str):\n    def __eq__(self, other):\n"
                                         "        return True\n"
                                         "def mask(secret):\n    return Eq('nope')\n"),
         lambda s: s == FULL - 2, "not plain data"),
    Case("patched-builtins", _answer("is_expired", WRONG_EXPIRED + "import builtins\n"
                                     "builtins.ValueError = BaseException\n"),
         lambda s: s == FULL - 2, "patched builtins"),
    Case("stripped-asserts", _answer("is_expired", STRIP_ASSERTS), lambda s: s == FULL - 2,
         "passed in the kernel but failed the outside check"),
    Case("suppressed-tracebacks", _answer("is_expired", WRONG_EXPIRED + (
        "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)\n")),
         lambda s: s == FULL - 2, "suppressed tracebacks"),
    Case("delegates-to-kit", _answer("mask", "from course import redact\n"
                                             "def mask(secret):\n    return redact.mask(secret)\n"),
         lambda s: s == FULL - 2, "delegates to the kit"),
    Case("network", _answer("mask", MASK + (
        "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\n"
        "    print('CONNECTED')\nexcept OSError as e:\n    print('blocked', type(e).__name__)\n")),
         lambda s: s == FULL, "network"),
)


HONEST = ("honest", "nbformat-v3", "reimport-and-constant")


def _shared_dir(factory: pytest.TempPathFactory) -> Path:
    """A folder every xdist worker of this session shares (the class is graded once)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Course, dict[str, GradedNotebook]]:
    shared = _shared_dir(tmp_path_factory)
    root = shared / "autograde-hostile-class"
    limits = Limits(notebook_seconds=25.0, cell_seconds=8.0, judge_seconds=25.0,
                    memory_bytes=1024**3, output_bytes=64 * 1024)
    with open(shared / "autograde-hostile.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other worker waits, then reads the ledgers
        if not (root / "graded.ok").exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            course = make_course(root, limits)
            for case in CASES:  # honest first: the links point at it
                made = case.make(course)
                if isinstance(made, tuple) and made[0] == "place":
                    path = course.submitted_dir / case.student / ASSIGNMENT / FIXTURE.name
                    path.parent.mkdir(parents=True)
                    made[1](path, course)
                else:
                    submit(course, case.student, made)
            grade(course, workers=2)
            (root / "graded.ok").write_text("done")
    course = Course(root=root, limits=limits)
    return course, {r.student: r for r in load_results(course)}


@needs_bwrap
@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.student for c in CASES])
def test_each_submission_gets_a_score_and_its_reason(graded, case: Case) -> None:
    _, results = graded
    result = results[case.student]
    assert case.score(result.score), (result.score, result.reasons, result.exercises)
    text = " | ".join(result.reasons + tuple(e.reason for e in result.exercises)
                      + tuple(e.feedback for e in result.exercises))
    assert case.reason in text, text
    if case.student in HONEST:
        assert result.needs_human == () and result.reasons == (), result.needs_human
    else:
        assert result.needs_human, "a hostile submission must reach a human"


@needs_bwrap
@pytest.mark.slow
def test_no_file_outside_the_submission_was_read_or_written(graded) -> None:
    course, results = graded
    out = nbformat.read(course.autograded_dir / "reads-files" / ASSIGNMENT / FIXTURE.name, 4)
    text = json.dumps([c.get("outputs", []) for c in out.cells])
    assert "READ" not in text and "WROTE" not in text
    assert text.count("blocked") == 5
    net = nbformat.read(course.autograded_dir / "network" / ASSIGNMENT / FIXTURE.name, 4)
    assert "CONNECTED" not in json.dumps([c.get("outputs", []) for c in net.cells])
    with Gradebook(course.db_url, course.course_id) as gb:
        subs = {s.student_id: s for s in gb.assignment_submissions(ASSIGNMENT)}
        assert set(subs) == {c.student for c in CASES}
        assert all(g.manual_score is None for s in subs.values() for n in s.notebooks
                   for g in n.grades)
        assert subs["honest"].score == FULL
    banner = nbformat.read(course.autograded_dir / "empty" / ASSIGNMENT / FIXTURE.name, 4)
    assert "could not be graded and scored 0: empty file" in banner.cells[0].source


@needs_bwrap
@pytest.mark.slow
def test_feedback_and_autograded_notebooks_hold_no_hidden_test_source(graded) -> None:
    """No hidden test line (read from the source with the course's delimiters) reaches what
    a learner can see: any feedback page, any output of an autograded notebook (whatever the
    learner's process printed), any ledger. The autograded notebooks' test cell *sources*
    hold them by nbgrader's design (formgrader is the instructor's); their outputs may not."""
    from autograde.feedback import write_feedback
    from autograde.regions import hidden_test_lines

    course, results = graded
    source = nbformat.read(course.source_dir / ASSIGNMENT / FIXTURE.name, 4)
    hidden = hidden_test_lines([c.source for c in source.cells], course.delimiters)
    assert 'assert mask("abc") == "***"' in hidden and len(hidden) >= 10

    def leaked(text: str) -> list[str]:
        return [line for line in hidden if line in text or html.escape(line) in text]

    pages = write_feedback(course, [ASSIGNMENT])
    assert {p.parts[-3] for p in pages} == set(results)
    for page in pages:
        assert leaked(page.read_text()) == [], page
    notebooks = sorted(course.autograded_dir.glob(f"*/{ASSIGNMENT}/*.ipynb"))
    assert len(notebooks) >= len(results) - 3  # a refused link or pipe may leave no notebook
    for path in notebooks:
        texts = [t for c in nbformat.read(path, 4).cells for o in c.get("outputs", []) for t in _texts_of(o)]
        assert leaked("\n".join(texts)) == [], path
    for path in course.autograded_dir.glob("*/*/*.autograde.json"):
        assert leaked(path.read_text()) == [], path


def _texts_of(output: dict) -> list[str]:
    """Every text a notebook output carries (stream text, data, traceback, error value)."""
    out = [output.get("text", ""), output.get("evalue", ""), "\n".join(output.get("traceback", []))]
    out += ["".join(v) if isinstance(v, list) else str(v) for v in output.get("data", {}).values()]
    return [t if isinstance(t, str) else "".join(t) for t in out]


@needs_bwrap
@pytest.mark.slow
def test_a_learner_printing_the_hidden_tests_does_not_leak_them_into_feedback(tmp_path: Path) -> None:
    from autograde.feedback import write_feedback

    course = make_course(tmp_path)
    nb = solved(course)
    nb.cells.append(nbformat.v4.new_code_cell("print('\\n'.join(_ih))  # every cell that ran"))
    submit(course, "snoop", nb)
    grade(course, workers=2)
    graded_nb = nbformat.read(course.autograded_dir / "snoop" / ASSIGNMENT / FIXTURE.name, 4)
    # Hidden tests never enter the learner's process: there was nothing to see.
    assert "leeway=3600" not in json.dumps([c.get("outputs") for c in graded_nb.cells])
    page = next(p for p in write_feedback(course) if "snoop" in p.parts).read_text()
    assert "leeway=3600" not in page


@needs_bwrap
@pytest.mark.slow
def test_an_undecided_exercise_scores_zero_and_waits_for_a_human_in_the_gradebook(graded) -> None:
    course, results = graded
    result = results["forged-pipe"]
    assert any("could not decide" in h for h in result.needs_human)
    with Gradebook(course.db_url, course.course_id) as gb:
        nb = gb.find_submission_notebook(FIXTURE.stem, ASSIGNMENT, "forged-pipe")
        rows = {g.name: g for g in nb.grades}
    assert rows["test_is_expired"].auto_score == 0 and rows["test_is_expired"].needs_manual_grade


@needs_bwrap
@pytest.mark.slow
def test_no_score_exceeds_its_cells_maximum(graded) -> None:
    course, _ = graded
    with Gradebook(course.db_url, course.course_id) as gb:
        for sub in gb.assignment_submissions(ASSIGNMENT):
            for nb in sub.notebooks:
                for g in nb.grades:
                    assert g.auto_score is None or 0 <= g.auto_score <= g.max_score, (sub.student_id, g.name)


@needs_bwrap
@pytest.mark.slow
def test_feedback_speaks_the_learners_words(graded) -> None:
    from autograde.feedback import write_feedback

    course, _ = graded
    pages = {p.parts[-3]: p.read_text() for p in write_feedback(course, [ASSIGNMENT])}
    assert "not attempted" in pages["display-all"]
    assert "grade it by hand" in pages["forged-pipe"]
    for student, page in pages.items():
        for word in ("undecidable", "kernel verdict", "cannot cross", "leeway=3600"):
            assert word not in page, (student, word)
