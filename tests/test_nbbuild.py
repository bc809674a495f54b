"""The notebook builder refuses a spec it would misread, and generates the trust-path diagram."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "authoring"))
import nbbuild  # noqa: E402

from course.plots import trust_path_mermaid  # noqa: E402


def test_every_spec_of_the_course_parses():
    for spec in sorted(nbbuild.SPECS.glob("*.py")):
        assert nbbuild.parse_spec(spec.read_text()).cells, spec.name


@pytest.mark.parametrize("marker, why", [
    ("# %% solutoin id=x", "unknown marker word 'solutoin'"),
    ("# %% tests id=t", "needs points="),
    ("# %% tests id=t points=two", "needs points="),
    ("# %% solution", "needs id="),
    ("# %% solution tests id=t points=1", "one kind per cell"),
    ("# %% [markdown] solution id=s", "must be a code cell"),
    ("# %% tests id=t points", "unknown marker word 'points'"),
])
def test_a_misspelled_or_incomplete_marker_is_refused_with_its_line(marker, why):
    with pytest.raises(nbbuild.SpecError, match=why) as caught:
        nbbuild.parse_spec(f"# %%\nx = 1\n{marker}\ny = 2\n")
    assert "spec line 3" in str(caught.value)


def test_a_known_marker_still_builds_an_nbgrader_cell():
    nb = nbbuild.parse_spec("# %% tests id=t points=2\nassert True\n")
    assert nb.cells[0].metadata["nbgrader"]["points"] == 2


def test_the_trust_path_directive_becomes_the_generated_diagram():
    nb = nbbuild.parse_spec('# %% [markdown]\n# Intro\n#\n'
                            '# {{trust-path highlight="Tool call" enters="Agent request"}}\n')
    source = nb.cells[0].source
    assert trust_path_mermaid("Tool call", enters="Agent request") in source
    assert source.count("```") == 2 and '-.-> A' in source


def test_an_unknown_directive_or_node_is_refused():
    with pytest.raises(nbbuild.SpecError, match="unknown directive"):
        nbbuild.parse_spec("# %% [markdown]\n# {{trust-pth}}\n")
    with pytest.raises(nbbuild.SpecError, match="must be one of"):
        nbbuild.parse_spec('# %% [markdown]\n# {{trust-path highlight="Vault"}}\n')
