"""Per-student HTML feedback that works offline and never shows a hidden test.

Written from the autograded notebook and its grading ledger to
feedback/<student>/<assignment>/<notebook>.html. Each exercise is named by the property its
test checks, in the learner's words ("not attempted", "... : failed: a hidden check failed"),
never with hidden inputs, expected values or the grader's internal terms. Test cells show
their *release* source (what the learner already had) and the verdict instead of outputs.
Grader notes are for the instructor (the needs-a-human list), not repeated here. Mermaid
diagrams become the inline SVG the real Mermaid library drew when the course was built
(`autograde.mermaid` looks it up by the block's hash: no CDN, nothing run here); a block with no
stored drawing (a learner's edit) is shown as its source with a note. Learner output is
escaped text or a PNG, never live HTML or script.
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import mistune
import nbformat

from . import regions
from .config import Course
from .mermaid import to_svg
from .record import GradedNotebook, load_results
from .regions import Delimiters

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MERMAID = re.compile(r"```mermaid\s*\n(.*?)```", re.S)
MAX_TEXT = 4000
STYLE = """body{font-family:sans-serif;max-width:60rem;margin:2rem auto;color:#121417}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;white-space:pre-wrap}
.out{background:#fff;border-left:3px solid #ccc}.pass{color:#1b7a3a}.fail{color:#b3261e}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.3rem .6rem}
.note{color:#555;font-size:.9em}.cell{margin:1rem 0}"""


_MD = mistune.create_markdown(escape=True)


def _markdown(text: str) -> str:
    """Markdown with raw HTML escaped (a learner's answer must not run in a browser)."""
    parts = []
    pos = 0
    for m in MERMAID.finditer(text):
        parts.append(_MD(text[pos:m.start()]))
        svg = to_svg(m.group(1))
        parts.append(svg if svg else (f"<p class='note'>Diagram (Mermaid source; no stored "
                                      f"drawing for this diagram):</p><pre>{html.escape(m.group(1))}</pre>"))
        pos = m.end()
    parts.append(_MD(text[pos:]))
    return "".join(parts)


def hidden_lines(source_nb: Any, delimiters: Delimiters) -> frozenset[str]:
    """Every hidden-test line of the source (stripped, long enough to be specific), read by
    `autograde.regions` with the configured delimiters."""
    return regions.hidden_test_lines([cell.source for cell in source_nb.cells], delimiters)


def _scrub(text: str, hidden: frozenset[str]) -> str:
    """A learner's output can quote a hidden test it saw run (frame or history walking), as
    is or inside a longer line (a repr, a message): every line holding a hidden line is
    replaced. Encoded copies are not caught (see the README)."""
    if not hidden:
        return text
    return "\n".join("[hidden test line removed]" if any(h in line for h in hidden) else line
                     for line in text.split("\n"))


def _text(value: Any, hidden: frozenset[str]) -> str:
    text = "".join(value) if isinstance(value, list) else str(value)
    text = _scrub(ANSI.sub("", text), hidden)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + f"\n[... {len(text) - MAX_TEXT} more characters]"
    return html.escape(text)


def _outputs(cell: Any, hidden: frozenset[str]) -> str:
    out = []
    for o in cell.get("outputs", []):
        kind = o.get("output_type")
        if kind == "stream":
            out.append(f"<pre class='out'>{_text(o.get('text', ''), hidden)}</pre>")
        elif kind in ("execute_result", "display_data"):
            data = o.get("data", {})
            png = data.get("image/png")
            if isinstance(png, str) and re.fullmatch(r"[A-Za-z0-9+/=\s]+", png):
                out.append(f"<img alt='output' src='data:image/png;base64,{png.strip()}'>")
            elif "text/plain" in data:
                out.append(f"<pre class='out'>{_text(data['text/plain'], hidden)}</pre>")
        elif kind == "error":
            text = _text(o.get('traceback') or o.get('ename', ''), hidden)
            out.append(f"<pre class='out fail'>{text}</pre>")
    return "".join(out)


def _words(e: Any) -> str:
    """The exercise's verdict for the learner (ledgers from before `feedback` existed get
    the same wording from their status)."""
    if e.feedback:
        return e.feedback
    from .combine import learner_words

    return learner_words(e.outside, e.reason, None)


def render(nb: Any, released: Any, result: GradedNotebook,
           hidden: frozenset[str] | set[str] = frozenset()) -> str:
    """The feedback page for one notebook (a string of HTML); a `hidden` line (a hidden
    test's source) never appears, wherever the learner's output quoted it."""
    hidden = frozenset(hidden)
    rel = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in released.cells}
    verdicts = {e.grade_id: e for e in result.exercises}
    body = [f"<h1>{html.escape(result.assignment)} / {html.escape(result.notebook)}: "
            f"{result.score:g} / {result.max_score:g}</h1>",
            f"<p>Student: {html.escape(result.student)}</p>",
            "<table><tr><th>exercise</th><th>points</th><th>verdict</th></tr>"]
    for e in result.exercises:
        ok = e.max_score > 0 and e.score >= e.max_score
        why = _scrub(_words(e), hidden)
        body.append(f"<tr><td>{html.escape(e.grade_id)}</td><td>{e.score:g} / {e.max_score:g}</td>"
                    f"<td class='{'pass' if ok else 'fail'}'>{html.escape(why)}</td></tr>")
    body.append("</table>")
    if result.status != "graded" and result.reasons:
        body.append(f"<p class='fail'>{html.escape(_scrub(result.reasons[0], hidden))}</p>")
    for cell in (nb.cells if nb is not None else []):
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if cell.cell_type == "markdown":
            body.append(f"<div class='cell'>{_markdown(cell.source)}</div>")
            continue
        if cell.cell_type != "code":
            continue
        if meta.get("grade") and not meta.get("solution"):
            source = rel[gid].source if gid in rel else "# (check cell)"
            e = verdicts.get(gid)
            ok = e is not None and e.max_score > 0 and e.score >= e.max_score
            verdict = _scrub(_words(e), hidden) if e is not None else "not graded"
            body.append(f"<div class='cell'><pre>{html.escape(source)}</pre>"
                        f"<p class='{'pass' if ok else 'fail'}'>{html.escape(gid or '')}: "
                        f"{html.escape(verdict)}</p></div>")
            continue
        body.append(f"<div class='cell'><pre>{html.escape(cell.source)}</pre>{_outputs(cell, hidden)}</div>")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(result.assignment)} feedback</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>")


def write_feedback(course: Course, assignments: Iterable[str] | None = None) -> list[Path]:
    """One HTML file per graded notebook; returns the paths written."""
    wanted = set(assignments) if assignments else None
    written = []
    for result in load_results(course):
        if wanted is not None and result.assignment not in wanted:
            continue
        released_path = course.release_dir / result.assignment / f"{result.notebook}.ipynb"
        if not released_path.exists():
            continue
        released = nbformat.read(released_path, 4)
        source_path = course.source_dir / result.assignment / f"{result.notebook}.ipynb"
        hidden = (hidden_lines(nbformat.read(source_path, 4), course.delimiters)
                  if source_path.exists() else frozenset())
        graded = course.autograded_dir / result.student / result.assignment / f"{result.notebook}.ipynb"
        nb = nbformat.read(graded, 4) if graded.exists() else None
        out = course.feedback_dir / result.student / result.assignment / f"{result.notebook}.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(nb, released, result, hidden))
        written.append(out)
    return written
