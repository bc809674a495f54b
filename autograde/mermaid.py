"""Mermaid diagrams in feedback, drawn ahead of time by the real Mermaid library.

`make diagrams` (authoring/render_diagrams.py) renders every ```mermaid block of the course's
notebooks with Mermaid itself (node_modules/mermaid, pinned by package.json) in headless Chromium
and commits the SVG as `autograde/diagrams/<diagram_key(source)>.svg`. Grading only looks them up:
no browser, no Node, no network, no re-implementation of Mermaid.

What this proves: the markup inlined in a feedback page is a file committed to the repository,
selected by the exact hash of the block's source. Text a learner controls (the markdown of their
submission) can only select among stored drawings, never become markup itself: an edited block has
no stored drawing, gets None, and the caller shows its source, escaped, with a note.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

DIAGRAMS = Path(__file__).resolve().parent / "diagrams"
FENCE = re.compile(r"```mermaid\s*\n(.*?)```", re.S)  # the block feedback.py hands to to_svg
KEY_HEX = 16
# A stored file that is not inert, self-contained SVG (script, handler, embedded HTML, external
# reference) is refused; the tests keep the stored ones clean, this guards a hand-edited one.
_UNSAFE = re.compile(r"<script|javascript:|\son\w+\s*=|@import|<foreignObject"
                     r"|(?:href|src)\s*=\s*[\"']?\s*(?!#)\w+:|url\(\s*[\"']?\s*(?!#)", re.I)


def normalized(source: str) -> str:
    """The diagram's text as hashed: line ends unified, trailing blanks and blank edges dropped
    (so an editor's whitespace does not lose the drawing; Mermaid ignores it too)."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def diagram_key(source: str) -> str:
    """The stored drawing's name: 16 hex digits of the SHA-256 of the normalized source."""
    return hashlib.sha256(normalized(source).encode("utf-8")).hexdigest()[:KEY_HEX]


def blocks(markdown: str) -> list[str]:
    """The source of every ```mermaid block of a markdown text, in order."""
    return [m.group(1) for m in FENCE.finditer(markdown)]


def stored_path(source: str) -> Path:
    """Where `make diagrams` stores this diagram's SVG (it may not exist)."""
    return DIAGRAMS / f"{diagram_key(source)}.svg"


def to_svg(source: str) -> str | None:
    """The inline <svg> Mermaid drew for this exact diagram source, else None.

    None when no drawing is stored for it (a block edited after `make diagrams`, or by a learner),
    or when the stored file is not inert SVG (script, event handler, embedded HTML, external link):
    the caller then shows the source as escaped text with a note.
    """
    path = stored_path(source)
    try:
        svg = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        return None
    if not svg.startswith("<svg") or _UNSAFE.search(svg):
        return None
    return svg
