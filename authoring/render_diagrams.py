"""Draw every Mermaid diagram the course shows with the real Mermaid library: `make diagrams`.

Collects the ```mermaid blocks of the markdown cells of the course notebooks (notebooks/*/*.ipynb)
and of the autograde test fixture, renders each with node_modules/mermaid/dist/mermaid.min.js
(pinned by package.json, installed by `make install`) in headless Chromium driven by Playwright,
and writes autograde/diagrams/<key>.svg, key = autograde.mermaid.diagram_key(source). Drawings no
block uses any more are removed. Feedback inlines these files (autograde/mermaid.py); run this
after any notebook change that touches a diagram (`make test` says so when one is missing).

Output is reproducible: Mermaid's deterministicIds, seeded with the key, and the SVG root id
`mermaid-<key>`, so two diagrams on one feedback page never share an id. Labels are SVG text
(htmlLabels off: no embedded HTML), securityLevel strict, no network.

Usage: .venv/bin/python authoring/render_diagrams.py [--check]
  --check  render, compare with the stored drawings, write nothing; exit 1 if any differ.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autograde.mermaid import DIAGRAMS, blocks, diagram_key, normalized  # noqa: E402
from course.errors import ConfigurationError  # noqa: E402

MERMAID_JS = ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK_GLOBS = ("notebooks/*/*.ipynb", "tests/fixtures/autograde/*/*.ipynb")
TIMEOUT_MS = 60_000

_RENDER = """async ([key, text]) => {
  mermaid.initialize({startOnLoad: false, securityLevel: 'strict', theme: 'default',
                      htmlLabels: false, flowchart: {htmlLabels: false},
                      deterministicIds: true, deterministicIDSeed: key});
  const {svg} = await mermaid.render('mermaid-' + key, text);
  return svg;
}"""


def notebook_diagrams(paths: Iterable[Path]) -> dict[str, str]:
    """{key: normalized source} of every ```mermaid block in the notebooks' markdown cells.

    Raises:
        ValueError: a file is not a JSON notebook.
    """
    out: dict[str, str] = {}
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            if cell.get("cell_type") != "markdown":
                continue
            text = cell.get("source", "")
            for source in blocks("".join(text) if isinstance(text, list) else text):
                out[diagram_key(source)] = normalized(source)
    return out


def course_diagrams(root: Path = ROOT) -> dict[str, str]:
    """{key: source} of every diagram the course and its autograde fixture show."""
    return notebook_diagrams(sorted(p for g in NOTEBOOK_GLOBS for p in root.glob(g)))


def missing_tools(mermaid_js: Path = MERMAID_JS, chromium: Path = CHROMIUM) -> str | None:
    """Why diagrams cannot be drawn here (a sentence naming the fix), or None when they can."""
    if not mermaid_js.is_file():
        return f"{mermaid_js.relative_to(ROOT) if mermaid_js.is_relative_to(ROOT) else mermaid_js} " \
               "is missing: run `make install` (npm ci installs mermaid from package.json)"
    if not chromium.is_file():
        return f"{chromium} is missing: run `make sysdeps` (Debian package chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed in this Python: run `make install`"
    return None


def render(diagrams: dict[str, str], *, mermaid_js: Path = MERMAID_JS,
           chromium: Path = CHROMIUM) -> dict[str, str]:
    """{key: SVG} drawn by Mermaid in headless Chromium, one browser for all diagrams.

    The page is blank and loads only mermaid.min.js from disk; every request the page makes
    otherwise is aborted, so drawing is offline.

    Raises:
        ConfigurationError: Chromium, Playwright or Mermaid is missing, or Mermaid refused a diagram
            (the message names the diagram key and Mermaid's reason).
    """
    why = missing_tools(mermaid_js, chromium)
    if why:
        raise ConfigurationError(why)
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    out: dict[str, str] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.route("**/*", lambda route: route.abort())
            page.set_default_timeout(TIMEOUT_MS)
            page.set_content("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body></body></html>")
            page.add_script_tag(content=mermaid_js.read_text(encoding="utf-8"))
            for key, source in sorted(diagrams.items()):
                try:
                    out[key] = page.evaluate(_RENDER, [key, source])
                except PlaywrightError as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise ConfigurationError(f"Mermaid refused diagram {key}: {first}") from exc
        finally:
            browser.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the stored drawings; write nothing")
    args = parser.parse_args(argv)
    diagrams = course_diagrams()
    try:
        svgs = render(diagrams)
    except ConfigurationError as exc:
        print(f"make diagrams: {exc}", file=sys.stderr)
        return 2
    stale = sorted(p for p in DIAGRAMS.glob("*.svg") if p.stem not in svgs)
    changed = sorted(k for k, svg in svgs.items()
                     if not (DIAGRAMS / f"{k}.svg").is_file()
                     or (DIAGRAMS / f"{k}.svg").read_text(encoding="utf-8") != svg)
    if args.check:
        for key in changed:
            print(f"differs or missing: {DIAGRAMS.relative_to(ROOT)}/{key}.svg")
        for path in stale:
            print(f"unused: {path.relative_to(ROOT)}")
        return 1 if changed or stale else 0
    DIAGRAMS.mkdir(parents=True, exist_ok=True)
    for key in changed:
        (DIAGRAMS / f"{key}.svg").write_text(svgs[key], encoding="utf-8")
    for path in stale:
        path.unlink()
    print(f"{len(svgs)} diagrams in {DIAGRAMS.relative_to(ROOT)}: {len(changed)} written, "
          f"{len(stale)} unused removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
