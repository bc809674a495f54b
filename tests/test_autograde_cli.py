"""The command line: every subcommand has --help, `collect` unpacks an LMS zip safely,
and `check` prints one honest line per exercise with an honest exit code."""
from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "autograde"))
from autograde_course import ASSIGNMENT, make_course, release_nb, solved  # noqa: E402

from autograde.__main__ import main  # noqa: E402
from autograde.collect import CollectError, collect_zip  # noqa: E402

COMMANDS = ["release", "collect", "grade", "feedback", "report", "check", "bench"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_collect_unpacks_an_lms_zip_and_refuses_unsafe_entries(tmp_path: Path) -> None:
    course = make_course(tmp_path / "course", released=False)
    honest = nbformat.writes(nbformat.read(course.source_notebooks(ASSIGNMENT)[0], 4))
    archive = tmp_path / "lms.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("ada.ipynb", honest)
        z.writestr("grace/ps1.ipynb", honest)
        z.writestr("broken.ipynb", '{"cells": [')
        z.writestr("../escape.ipynb", honest)
        z.writestr("/abs.ipynb", honest)
        z.writestr("bad name!.ipynb", honest)
        z.writestr("notes.txt", "hello")
        z.writestr("linus/other.ipynb", honest)
    report = collect_zip(course, archive, ASSIGNMENT)
    assert report.collected == ("ada/ps1/ps1.ipynb", "broken/ps1/ps1.ipynb",
                                "grace/ps1/ps1.ipynb")
    reasons = " | ".join(report.skipped)
    assert "unsafe path" in reasons and "characters we do not accept" in reasons
    assert "not a .ipynb file" in reasons and "not a notebook of ps1" in reasons
    assert not (tmp_path / "escape.ipynb").exists() and not (course.root / "escape.ipynb").exists()
    assert (course.submitted_dir / "ada" / ASSIGNMENT / "timestamp.txt").exists()


def test_collect_refuses_a_file_that_is_not_a_zip(tmp_path: Path) -> None:
    course = make_course(tmp_path / "course", released=False)
    bogus = tmp_path / "x.zip"
    bogus.write_text("not a zip")
    with pytest.raises(CollectError):
        collect_zip(course, bogus, ASSIGNMENT)


@pytest.mark.slow
def test_check_prints_a_line_per_exercise_with_an_honest_exit_code(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    course = make_course(tmp_path / "course")
    good, blank, wrong = tmp_path / "good.ipynb", tmp_path / "blank.ipynb", tmp_path / "wrong.ipynb"
    nbformat.write(solved(course), good)
    nbformat.write(release_nb(course), blank)
    nbformat.write(solved(course, granted_scopes="def granted_scopes(r, a):\n    return r\n"), wrong)

    assert main(["check", str(good)]) == 0
    out = capsys.readouterr().out
    assert "test_mask: passed" in out and "3/3 exercises pass" in out

    assert main(["check", str(blank)]) == 1
    assert capsys.readouterr().out.count("not attempted") == 3

    assert main(["check", str(wrong)]) == 1
    out = capsys.readouterr().out
    assert "test_granted_scopes: failed - assertion failed: assert granted_scopes(" in out
    assert "test_mask: passed" in out

    broken = tmp_path / "broken.ipynb"
    broken.write_text("")
    assert main(["check", str(broken)]) == 2
    assert "cannot check: empty file" in capsys.readouterr().out


@pytest.mark.slow
def test_bench_grades_one_class_both_ways_and_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--students", "2", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["agree"] is True and data["students"] == 2
    assert data["plain_seconds"] > 0 and data["ours_seconds"] > 0
