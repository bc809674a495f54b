"""Feedback's diagrams are the real Mermaid library's drawings, stored for every diagram the course
shows, inert and offline, and chosen only by the exact source (a learner's edit is shown as text)."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from autograde import feedback, mermaid

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "authoring"))
import render_diagrams  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*/*.ipynb"))
RUN = "run `make diagrams` (authoring/render_diagrams.py) and commit autograde/diagrams/"
SVG_NS = "{http://www.w3.org/2000/svg}"


def _course_blocks() -> list[tuple[str, str]]:
    out = []
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, 4).cells:
            if cell.cell_type == "markdown":
                out += [(path.parent.name, source) for source in mermaid.blocks(cell.source)]
    return out


BLOCKS = _course_blocks()
STORED = sorted(mermaid.DIAGRAMS.glob("*.svg"))
STORED_IDS = [p.stem for p in STORED]


def _kind(source: str) -> str:
    return "sequence" if mermaid.normalized(source).startswith("sequenceDiagram") else "flowchart-v2"


def test_the_course_shows_flowcharts_and_sequence_diagrams():
    assert len(NOTEBOOKS) >= 10
    kinds = {_kind(s) for _, s in BLOCKS}
    assert kinds == {"flowchart-v2", "sequence"}
    assert {name for name, _ in BLOCKS} == {p.parent.name for p in NOTEBOOKS}, "a notebook lost its diagram"


@pytest.mark.parametrize(("notebook", "source"), BLOCKS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BLOCKS)])
def test_every_course_diagram_has_a_stored_drawing(notebook, source):
    path = mermaid.stored_path(source)
    assert path.is_file(), f"{notebook}: no drawing stored for this diagram ({path.name}): {RUN}"
    assert mermaid.to_svg(source) == path.read_text(encoding="utf-8")


def test_no_stored_drawing_is_left_over():
    wanted = set(render_diagrams.course_diagrams())
    assert wanted >= {mermaid.diagram_key(s) for _, s in BLOCKS}
    unused = sorted(set(STORED_IDS) - wanted)
    assert not unused, f"drawings no notebook uses: {unused}: {RUN}"


@pytest.mark.parametrize("path", STORED, ids=STORED_IDS)
def test_stored_drawing_is_mermaids_output_for_its_source(path):
    sources = render_diagrams.course_diagrams()
    source = sources[path.stem]
    svg = path.read_text(encoding="utf-8")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("id") == f"mermaid-{path.stem}"  # the root id every inner id hangs off
    assert root.get("aria-roledescription") == _kind(source)  # Mermaid's own accessibility marker
    assert "graphics-document" in (root.get("role") or "")
    assert svg.count(f"#mermaid-{path.stem}") > 10  # Mermaid's scoped stylesheet
    texts = " ".join("".join(e.itertext()) for e in root.iter(f"{SVG_NS}text"))
    for label in re.findall(r'\["([^"]+)"\]|participant \w+ as (.+)', source):
        want = (label[0] or label[1]).strip()
        assert all(word in texts for word in want.split()), want
    if _kind(source) == "flowchart-v2":
        dotted = [e for e in root.iter() if "edge-pattern-dotted" in (e.get("class") or "").split()]
        assert len(dotted) == source.count("-.->")  # the attacker's dotted edge
        for name in ("focus", "attacker"):  # highlighted nodes carry their classDef's class
            drawn = [e for e in root.iter() if name in (e.get("class") or "").split()]
            declared = re.search(rf"^\s*class (\S+) {name}\s*$", source, re.M)
            assert len(drawn) == (len(declared.group(1).split(",")) if declared else 0), name


@pytest.mark.parametrize("path", STORED, ids=STORED_IDS)
def test_stored_drawing_is_inert_and_offline(path):
    """Safe to inline in a feedback page opened without network: no script, no handler, no HTML
    island, no reference outside the drawing itself."""
    svg = path.read_text(encoding="utf-8")
    root = ET.fromstring(svg)
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1].lower()
        assert tag not in {"script", "foreignobject", "iframe", "image", "use", "a"}, tag
        for name, value in element.attrib.items():
            local = name.rsplit("}", 1)[-1].lower()
            assert not local.startswith("on"), (tag, name)
            if local in {"href", "src"}:
                assert value.startswith("#"), (tag, name, value)
            for ref in re.findall(r"url\(\s*['\"]?([^)'\"]*)", value):
                assert ref.startswith(f"#mermaid-{path.stem}"), (tag, name, ref)
    for style in root.iter(f"{SVG_NS}style"):
        css = style.text or ""
        assert "@import" not in css and "@font-face" not in css
        assert all(ref.startswith("#") for ref in re.findall(r"url\(\s*['\"]?([^)'\"]*)", css))
    assert "http://" not in svg.replace("http://www.w3.org/", "") and "https://" not in svg
    ids = {e.get("id") for e in root.iter()}
    for ref in re.findall(r"url\(#([^)]+)\)|href=\"#([^\"]+)\"", svg):
        assert (ref[0] or ref[1]) in ids, f"reference to #{ref[0] or ref[1]} outside the drawing"
    assert mermaid.to_svg(render_diagrams.course_diagrams()[path.stem]) == svg


# --- the lookup refuses what it did not store -------------------------------------------------

FLOW = next(s for _, s in BLOCKS if _kind(s) == "flowchart-v2")


def test_whitespace_an_editor_adds_keeps_the_drawing():
    assert mermaid.to_svg(FLOW.replace("\n", "  \r\n") + "\n\n") == mermaid.to_svg(FLOW) is not None


@pytest.mark.parametrize("edit", [
    lambda s: s.replace("Vault policy", "Vault p0licy"),
    lambda s: s + '  click A "javascript:alert(1)"\n',
    lambda s: s + "  A --> Z[\"<script>alert(1)</script>\"]\n",
    lambda s: "../../" + s,
])
def test_an_edited_diagram_has_no_drawing(edit):
    assert mermaid.to_svg(edit(FLOW)) is None


def test_key_is_hex_so_a_source_cannot_name_another_file():
    for source in ("../../etc/passwd", "/etc/passwd\x00", FLOW):
        key = mermaid.diagram_key(source)
        assert re.fullmatch(r"[0-9a-f]{16}", key)
        assert mermaid.stored_path(source).parent == mermaid.DIAGRAMS


@pytest.mark.parametrize("planted", [
    '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><rect onload="alert(1)"/></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><div>x</div></foreignObject></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><image href="https://example.org/x.png"/></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><style>@import url(https://x.org/a.css)</style></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:url(https://x.org/p)"/></svg>',
    '<p>not an svg</p>',
])
def test_a_stored_file_that_is_not_inert_svg_is_refused(tmp_path, monkeypatch, planted):
    monkeypatch.setattr(mermaid, "DIAGRAMS", tmp_path)
    (tmp_path / f"{mermaid.diagram_key(FLOW)}.svg").write_text(planted)
    assert mermaid.to_svg(FLOW) is None


def test_a_clean_stored_file_is_returned(tmp_path, monkeypatch):
    monkeypatch.setattr(mermaid, "DIAGRAMS", tmp_path)
    clean = '<svg xmlns="http://www.w3.org/2000/svg"><rect filter="url(#f)"/></svg>'
    (tmp_path / f"{mermaid.diagram_key(FLOW)}.svg").write_text(clean)
    assert mermaid.to_svg(FLOW) == clean


# --- the feedback page inlines it -------------------------------------------------------------

def _page(markdown: str) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown)])
    result = SimpleNamespace(assignment="a", notebook="n", student="s", score=0.0, max_score=0.0,
                             exercises=(), status="graded", reasons=())
    return feedback.render(nb, nbformat.v4.new_notebook(), result)  # type: ignore[arg-type]


def test_feedback_inlines_mermaids_drawing_of_every_course_diagram():
    for notebook, source in BLOCKS:
        page = _page(f"Intro\n\n```mermaid\n{source}```\n\nAfter.")
        assert mermaid.to_svg(source) in page, notebook
        assert "<script" not in page.lower()


def test_feedback_shows_an_edited_diagram_as_escaped_source():
    hostile = FLOW + '  A --> Z["<img src=x onerror=alert(1)>"]\n'
    page = _page(f"```mermaid\n{hostile}```")
    assert "<svg" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


# --- the stored drawing is what Mermaid draws today -------------------------------------------

def test_rerendering_a_diagram_reproduces_the_stored_drawing():
    why = render_diagrams.missing_tools()
    if why:
        pytest.skip(f"cannot draw diagrams here: {why}")
    sources = render_diagrams.course_diagrams()
    picked = {k: s for k, s in sources.items() if s.startswith("sequenceDiagram")}
    picked[mermaid.diagram_key(FLOW)] = mermaid.normalized(FLOW)
    drawn = render_diagrams.render(picked)
    for key, svg in drawn.items():
        stored = (mermaid.DIAGRAMS / f"{key}.svg").read_text(encoding="utf-8")
        assert svg == stored, (f"{key}.svg differs from what Mermaid draws now: {RUN} (if only numbers "
                               "differ, this machine's fonts differ from the ones that drew it)")


def test_render_refuses_when_the_tools_are_missing(tmp_path):
    with pytest.raises(render_diagrams.ConfigurationError, match="make install"):
        render_diagrams.render({"k": FLOW}, mermaid_js=tmp_path / "mermaid.min.js")
