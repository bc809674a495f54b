"""Time every source notebook top to bottom in a fresh kernel: total, kernel start, slowest cell.

The course promises a notebook under 15 s and no cell over 2 s on the lab machine. This
measures it (it asserts nothing: load on the machine moves the numbers, so read them).
Usage: ``python authoring/nbtime.py [ASSIGNMENT ...]``.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def _seconds(cell: nbformat.NotebookNode) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def measure(path: Path) -> tuple[float, float, float, str]:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=60, kernel_name="python3", record_timing=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    total = time.perf_counter() - start
    cells = [(_seconds(c), c.get("id", "?")) for c in nb.cells if c.cell_type == "code"]
    slowest, cell_id = max(cells)
    return total, sum(s for s, _ in cells), slowest, cell_id


def main(argv: list[str]) -> int:
    names = argv or sorted(p.name for p in (ROOT / "notebooks").iterdir() if p.is_dir())
    print(f"{'notebook':<30} {'total s':>8} {'cells s':>8} {'slowest s':>10}  cell")
    for name in names:
        (path,) = sorted((ROOT / "notebooks" / name).glob("*.ipynb"))
        total, cells, slowest, cell_id = measure(path)
        print(f"{name:<30} {total:>8.2f} {cells:>8.2f} {slowest:>10.2f}  {cell_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
