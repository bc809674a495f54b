"""The instructor's lab in a real browser (headless Debian Chromium): `make instructor`'s server
is rooted at the course, so Formgrader lists every assignment as released (the exchange exists),
Preview opens the student version, and the Assignment List shows the released assignments."""
from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from browser_lab import REPO, browser_page, env_for, lab_server, need_browser, tmp_course  # noqa: E402

SHOTS = Path("/tmp")
ASSIGNMENTS = sorted(p.name for p in (REPO / "notebooks").iterdir() if p.is_dir())

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    need_browser()
    tmp = tmp_path_factory.mktemp("instructor-lab")
    course = tmp_course(tmp / "course")
    done = subprocess.run([sys.executable, "-m", "autograde", "--root", str(course), "release"],
                          cwd=REPO, env=env_for(tmp), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    with lab_server(["--root", str(course), "instructor"], tmp) as url:
        yield url, tmp


@pytest.fixture
def page(lab: tuple[str, Path]) -> Iterator[Any]:
    with browser_page() as p:
        yield p


def _lab(page: Any, url: str) -> None:
    base, token = url.split("/?")
    page.goto(f"{base}/lab?reset&{token}")
    page.locator(".jp-DirListing-content").wait_for()


def _nbgrader_menu(page: Any, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Nbgrader$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{item}$")).click()


def _formgrader(page: Any) -> Any:
    _nbgrader_menu(page, "Formgrader")
    frame = page.frame_locator("iframe").first
    frame.locator("td", has_text=ASSIGNMENTS[-1]).first.wait_for(timeout=60_000)
    return frame


def test_formgrader_lists_every_assignment_as_released(lab: tuple[str, Path], page: Any) -> None:
    url, tmp = lab
    _lab(page, url)
    frame = _formgrader(page)
    table = frame.locator("body").inner_text()
    for name in ASSIGNMENTS:
        assert name in table
    rows = frame.locator("tr", has_text=re.compile("released"))
    assert rows.count() == len(ASSIGNMENTS)
    assert "draft" not in table and "does not exist" not in table
    page.screenshot(path=str(SHOTS / "vaultlab-instructor-formgrader.png"))
    log = (tmp / "server.log").read_text()
    assert "No nbgrader_config.py file found" not in log
    assert "not serializable" not in log and "without encryption" not in log


def test_preview_opens_the_student_version(lab: tuple[str, Path], page: Any) -> None:
    url, _ = lab
    _lab(page, url)
    frame = _formgrader(page)
    frame.locator("tr", has_text=ASSIGNMENTS[0]).locator("td.preview a").click()
    listing = page.locator(".jp-DirListing-content")
    listing.get_by_text("checkout-desk.ipynb").wait_for()
    crumbs = page.locator(".jp-BreadCrumbs").inner_text()
    assert "release" in crumbs and ASSIGNMENTS[0] in crumbs
    listing.get_by_text("checkout-desk.ipynb").dblclick()
    notebook = page.locator(".jp-NotebookPanel:visible .jp-Notebook")
    notebook.locator(".jp-Cell").first.wait_for()
    page.locator(".jp-NotebookPanel:visible .jp-CodeCell", has_text="YOUR CODE HERE").first.wait_for(
        state="attached")
    assert "BEGIN SOLUTION" not in (notebook.text_content() or "")
    page.screenshot(path=str(SHOTS / "vaultlab-instructor-preview.png"))


def test_the_assignment_list_shows_the_released_assignments(lab: tuple[str, Path], page: Any) -> None:
    url, _ = lab
    _lab(page, url)
    _nbgrader_menu(page, "Assignment List")
    released = page.locator("#released_assignments_list")
    released.get_by_text(ASSIGNMENTS[-1]).wait_for(timeout=60_000)
    text = released.inner_text()
    for name in ASSIGNMENTS:
        assert name in text
    page.screenshot(path=str(SHOTS / "vaultlab-instructor-assignment-list.png"))
