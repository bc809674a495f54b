"""The learner's lab in a real browser (headless Debian Chromium): `make lab`'s server opens the
first student notebook, quietly (no news pop-up); Run All stops at the first unfinished
exercise with NotImplementedError; once the answers are filled in, Validate and
`python -m autograde check` report them as passing."""
from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from browser_lab import REPO, browser_page, env_for, lab_server, need_browser, tmp_course  # noqa: E402

FIRST = "00-checkout-desk"
NOTEBOOK = "checkout-desk.ipynb"
SHOTS = Path("/tmp")
DELIMITER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    need_browser()
    tmp = tmp_path_factory.mktemp("learner-lab")
    course = tmp_course(tmp / "course", [FIRST])
    ws = tmp / "workspace"
    with lab_server(["--root", str(course), "--workspace", str(ws), "lab"], tmp) as url:
        yield url, ws, tmp


@pytest.fixture
def page(lab: tuple[str, Path, Path]) -> Iterator[Any]:
    with browser_page() as p:
        yield p


def _answers() -> list[str]:
    """The source's solutions (read at run time from notebooks/, never copied into a test)."""
    nb = nbformat.read(REPO / "notebooks" / FIRST / NOTEBOOK, 4)
    return ["\n".join(line for line in c.source.splitlines() if not DELIMITER.match(line))
            for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def _open(page: Any, url: str, *, fresh: bool = False) -> None:
    """The lab as the server opens it, or (fresh) the first notebook with a reset layout."""
    if fresh:
        base, token = url.split("/?")
        url = f"{base}/lab/tree/{FIRST}/{NOTEBOOK}?reset&{token}"
    page.goto(url)
    page.wait_for_url(re.compile(rf"/lab/tree/{FIRST}/{NOTEBOOK}"))
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    page.get_by_text("Python 3 (ipykernel) | Idle").first.wait_for(timeout=60_000)


def _run_menu(page: Any, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{item}$")).click()


def test_the_lab_opens_the_first_student_notebook_quietly(lab: tuple[str, Path, Path], page: Any) -> None:
    url, ws, tmp = lab
    _open(page, url)
    assert page.locator(".lm-TabBar-tab.lm-mod-current", has_text=NOTEBOOK).count() >= 1
    page.wait_for_timeout(2000)  # the news question, when enabled, pops up within a second
    assert page.get_by_text("official Jupyter news").count() == 0
    body = page.locator(".jp-Notebook").text_content() or ""  # offscreen cells too
    assert "BEGIN SOLUTION" not in body and "YOUR CODE HERE" in body
    page.screenshot(path=str(SHOTS / "vaultlab-learner-opened.png"))
    log = (tmp / "server.log").read_text()
    assert "without encryption" not in log and "not trusted" not in log.lower()


def test_run_all_stops_at_the_first_unfinished_exercise(lab: tuple[str, Path, Path], page: Any) -> None:
    url, ws, _ = lab
    _open(page, url, fresh=True)
    _run_menu(page, "Run All Cells")
    error = page.locator(".jp-OutputArea-output", has_text="NotImplementedError").first
    error.wait_for(timeout=60_000)
    page.get_by_text("Python 3 (ipykernel) | Idle").first.wait_for(timeout=60_000)
    cells = page.locator(".jp-Notebook .jp-Cell.jp-CodeCell")
    failed = [i for i in range(cells.count())
              if "NotImplementedError" in (cells.nth(i).locator(".jp-OutputArea").text_content() or "")]
    assert len(failed) == 1  # the first unfinished exercise, and nothing ran after it
    after = cells.nth(failed[0] + 1).locator(".jp-InputPrompt").text_content() or ""
    assert after.strip() in ("[ ]:", "")
    error.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "vaultlab-learner-run-all.png"))


def test_filled_in_answers_pass_validate_and_the_self_check(lab: tuple[str, Path, Path], page: Any) -> None:
    url, ws, tmp = lab
    _open(page, url, fresh=True)
    answers = _answers()
    stubs = page.locator(".jp-Notebook .jp-CodeCell", has_text="raise NotImplementedError()")
    stubs.nth(len(answers) - 1).wait_for(state="attached")  # every cell's editor is drawn
    assert stubs.count() == len(answers) == 3
    for answer in answers:
        editor = stubs.first.locator(".cm-content")
        editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(answer)
        page.keyboard.press("Escape")
    assert stubs.count() == 0
    reflection = page.locator(".jp-Notebook .jp-MarkdownCell", has_text="YOUR ANSWER HERE")
    assert reflection.count() == 1
    reflection.first.dblclick()
    reflection.first.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text("At a help desk a caller said they were the manager; the desk trusted the "
                              "voice, not a badge. A pass for one reset, one user, ten minutes.")
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Control+S")
    page.get_by_text("Saving completed").or_(page.locator(".jp-DirtyIndicator")).first.wait_for(
        state="attached", timeout=10_000)
    page.wait_for_timeout(1500)
    page.locator(".jp-Toolbar button, .jp-Toolbar jp-button", has_text="Validate").first.click()
    dialog = page.locator(".jp-Dialog")
    outcome = re.compile("passes all the tests|The following cell failed|There was an error")
    dialog.get_by_text(outcome).first.wait_for(timeout=90_000)
    page.screenshot(path=str(SHOTS / "vaultlab-learner-validate.png"))
    assert "Success! Your notebook passes all the tests." in dialog.inner_text()
    dialog.get_by_role("button").last.click()

    saved = ws / FIRST / NOTEBOOK
    code = [c.source for c in nbformat.read(saved, 4).cells if c.cell_type == "code"]
    assert not [src for src in code if "raise NotImplementedError()" in src]  # the answers were saved
    check = subprocess.run([sys.executable, "-m", "autograde", "check", f"{FIRST}/{NOTEBOOK}"],
                           cwd=ws, env=env_for(tmp), capture_output=True, text=True, timeout=180)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "3/3 exercises pass the visible checks" in check.stdout
