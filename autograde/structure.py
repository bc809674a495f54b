"""Stage 2, structure: what is wrong with a submission's cells, and the repairs nbgrader needs.

The findings themselves are `autograde.hostile`'s (deleted, duplicated, reordered, retyped,
edited cells; static tricks); here are the learner's code as those checks read it and the
repair of what nbgrader's own preprocessors would trip over.
"""
from __future__ import annotations

import copy
from typing import Any

from .source import SourceModel


def _learner_code(nb: Any, given: set[str] = frozenset()) -> list[tuple[str, str]]:  # type: ignore[assignment]
    """(cell id, source) of code the learner wrote: answer cells and cells they added or
    changed (an unmarked cell identical to one of the release's, `given`, is not theirs)."""
    out = []
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            out.append((meta.get("grade_id", f"cell-{i}"), cell.source))
        elif not meta.get("grade_id") and cell.source.strip() not in given:
            out.append((f"extra-{i}", cell.source))
    return out


def _repair(nb: Any, source: SourceModel) -> None:
    """Undo what nbgrader's own preprocessors trip over (findings already recorded):
    earlier duplicates of a graded cell become plain cells (nbgrader keeps the last), and a
    deleted graded or locked cell comes back as the *release* version (a stub, never the
    solution) after the nearest surviving cell that precedes it in the source."""
    seen: set[str] = set()
    for cell in reversed(nb.cells):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid is None:
            if "nbgrader" in cell.metadata and not cell.metadata["nbgrader"].get("grade_id"):
                del cell.metadata["nbgrader"]
            continue
        if gid in seen:
            del cell.metadata["nbgrader"]
        seen.add(gid)
    reference = source.released if source.released is not None else source.nb
    known = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in reference.cells}
    for cell in nb.cells:  # edited nbgrader metadata: restored from the source, not zeroed
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in known and gid is not None:
            cell.metadata["nbgrader"] = copy.deepcopy(known[gid].metadata["nbgrader"])
    if source.released is None:
        return
    released = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in source.released.cells}
    position = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(nb.cells)}
    for src in source.cells:
        if src.name in position or src.name not in released:
            continue
        previous = [c.name for c in source.cells[: source.cells.index(src)] if c.name in position]
        at = position[previous[-1]] + 1 if previous else 0
        nb.cells.insert(at, copy.deepcopy(released[src.name]))
        position = {c.metadata.get("nbgrader", {}).get("grade_id"): i
                    for i, c in enumerate(nb.cells)}
