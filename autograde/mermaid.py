"""Mermaid flowcharts as inline SVG, generated here: feedback renders offline, vendors nothing.

Supports what the course's trust-path diagrams use: `graph`/`flowchart` with a direction,
nodes `A`, `A[text]`, `A(text)`, `A{text}`, `A((text))`, `A([text])`, edges `-->`, `---`,
`-.->`, `==>` with optional `|label|`, chains, and `style A fill:#hex` or
`classDef`/`class` fills to highlight nodes.
Anything else returns None, and the caller shows the diagram source with a note instead.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

NODE = r"([A-Za-z_][\w-]*)\s*(\(\(.*?\)\)|\(\[.*?\]\)|\[.*?\]|\(.*?\)|\{.*?\})?"
EDGE = r"\s*(-->|---|-\.->|==>|-\.-|===)\s*(?:\|([^|]*)\|)?\s*"
HEADER = re.compile(r"^(graph|flowchart)\s+(LR|RL|TD|TB|BT)\s*;?$")
STYLE = re.compile(r"^style\s+([\w-]+)\s+(.*)$")
BOX_W, BOX_H, GAP_X, GAP_Y = 150, 44, 60, 26


@dataclass
class _Graph:
    direction: str = "LR"
    labels: dict[str, str] = field(default_factory=dict)
    fills: dict[str, str] = field(default_factory=dict)
    classes: dict[str, str] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)


def _strip_shape(shape: str | None, node: str) -> str:
    if not shape:
        return node
    text = shape.strip("[](){}")
    return text.strip('"') or node


def parse(source: str) -> _Graph | None:
    lines = [ln.strip() for ln in source.strip().splitlines() if ln.strip() and
             not ln.strip().startswith("%%")]
    if not lines:
        return None
    head = HEADER.match(lines[0])
    if not head:
        return None
    g = _Graph(direction=head.group(2))
    for line in lines[1:]:
        line = line.rstrip(";")
        style = STYLE.match(line)
        if style:
            fill = re.search(r"fill:\s*(#[0-9A-Fa-f]{3,8}|[a-z]+)", style.group(2))
            if fill:
                g.fills[style.group(1)] = fill.group(1)
            continue
        if line.startswith("classDef "):
            name, _, spec = line[len("classDef "):].partition(" ")
            fill = re.search(r"fill:\s*(#[0-9A-Fa-f]{3,8}|[a-z]+)", spec)
            if fill:
                g.classes[name.strip()] = fill.group(1)
            continue
        if line.startswith("class "):
            ids, _, name = line[len("class "):].rpartition(" ")
            for node in ids.split(","):
                if name.strip() in g.classes:
                    g.fills[node.strip()] = g.classes[name.strip()]
            continue
        if line.startswith(("linkStyle", "subgraph", "end", "click", "direction")):
            continue
        parts = re.split(EDGE, line)
        # parts: node, op, label, node, op, label, node ...
        nodes = parts[0::3]
        if not all(re.fullmatch(NODE, n.strip()) for n in nodes):
            return None
        ids = []
        for text in nodes:
            m = re.fullmatch(NODE, text.strip())
            assert m is not None
            node, shape = m.group(1), m.group(2)
            if shape or node not in g.labels:
                g.labels[node] = _strip_shape(shape, node)
            ids.append(node)
        for i in range(len(ids) - 1):
            label = parts[3 * i + 2] or ""
            g.edges.append((ids[i], ids[i + 1], label.strip()))
    return g if g.labels else None


def _ranks(g: _Graph) -> dict[str, int]:
    rank = {n: 0 for n in g.labels}
    for _ in range(len(rank)):  # longest path, bounded so a cycle cannot loop forever
        changed = False
        for a, b, _label in g.edges:
            if rank[b] < rank[a] + 1 and rank[a] + 1 < len(rank):
                rank[b] = rank[a] + 1
                changed = True
        if not changed:
            break
    return rank


def to_svg(source: str) -> str | None:
    """An inline <svg> for a supported flowchart, else None."""
    g = parse(source)
    if g is None:
        return None
    rank = _ranks(g)
    columns: dict[int, list[str]] = {}
    for node in g.labels:
        columns.setdefault(rank[node], []).append(node)
    horizontal = g.direction in ("LR", "RL")
    pos: dict[str, tuple[float, float]] = {}
    for r, nodes in columns.items():
        for i, node in enumerate(nodes):
            main = r * ((BOX_W if horizontal else BOX_H) + (GAP_X if horizontal else GAP_Y))
            cross = i * ((BOX_H if horizontal else BOX_W) + (GAP_Y if horizontal else GAP_X))
            pos[node] = (main, cross) if horizontal else (cross, main)
    if g.direction in ("RL", "BT"):
        far = max(pos[n][0 if horizontal else 1] for n in pos)
        pos = {n: ((far - x, y) if horizontal else (x, far - y)) for n, (x, y) in pos.items()}
    width = max(x for x, _ in pos.values()) + BOX_W + 20
    height = max(y for _, y in pos.values()) + BOX_H + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width:.0f}" '
           f'height="{height:.0f}" viewBox="-10 -10 {width:.0f} {height:.0f}" '
           'font-family="sans-serif" font-size="13">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>']
    for a, b, label in g.edges:
        (ax, ay), (bx, by) = pos[a], pos[b]
        if horizontal:
            x1, y1, x2, y2 = ax + BOX_W, ay + BOX_H / 2, bx, by + BOX_H / 2
            if bx < ax:
                x1, x2 = ax, bx + BOX_W
        else:
            x1, y1, x2, y2 = ax + BOX_W / 2, ay + BOX_H, bx + BOX_W / 2, by
            if by < ay:
                y1, y2 = ay, by + BOX_H
        out.append(f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" '
                   'stroke="#555" stroke-width="1.5" marker-end="url(#arrow)"/>')
        if label:
            out.append(f'<text x="{(x1 + x2) / 2:.0f}" y="{(y1 + y2) / 2 - 4:.0f}" '
                       f'text-anchor="middle" fill="#333">{html.escape(label)}</text>')
    for node, (x, y) in pos.items():
        fill = g.fills.get(node, "#eef3fb")
        if not re.fullmatch(r"#[0-9A-Fa-f]{3,8}|[a-z]+", fill):
            fill = "#eef3fb"
        out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="6" '
                   f'fill="{fill}" stroke="#4c72b0"/>')
        out.append(f'<text x="{x + BOX_W / 2:.0f}" y="{y + BOX_H / 2 + 4:.0f}" '
                   f'text-anchor="middle">{html.escape(g.labels[node][:22])}</text>')
    out.append("</svg>")
    return "".join(out)
