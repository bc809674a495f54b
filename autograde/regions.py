"""The one place that reads solution and hidden-test regions out of a cell's source.

nbgrader marks what a learner must not see with delimiter lines (`### BEGIN SOLUTION` ...
`### END SOLUTION`, `### BEGIN HIDDEN TESTS` ... `### END HIDDEN TESTS` by default), and the
delimiters themselves are nbgrader settings (`ClearSolutions.begin_solution_delimeter`,
`ClearHiddenTests.begin_test_delimeter`, `ClearMarkScheme.begin_mark_scheme_delimeter`, ...).
`Delimiters` carries the configured ones (`autograde.config.Settings.delimiters` reads them
from nbgrader_config.py); every stage that needs a region (release's leak check, the judge's
job, the learner's feedback copy, the feedback renderer) asks this module, so changing a
delimiter in nbgrader_config.py changes all of them. A line matches a delimiter when it
contains it, as nbgrader's own ClearSolutions and ClearHiddenTests decide.
"""
from __future__ import annotations

from dataclasses import dataclass

MIN_HIDDEN_LINE = 8  # shorter hidden-test lines (`)`, `else:`) are not specific enough to scrub


@dataclass(frozen=True, slots=True, kw_only=True)
class Delimiters:
    """The configured region delimiters (nbgrader's spelling: "delimeter" in its traits)."""

    begin_solution: str
    end_solution: str
    begin_hidden: str
    end_hidden: str
    begin_mark_scheme: str
    end_mark_scheme: str

    @classmethod
    def nbgrader_defaults(cls) -> Delimiters:
        """nbgrader's own default delimiters (its traits' defaults, not a copy): for a judge
        job built without a course (a test's hand-made job)."""
        from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearSolutions

        def default(trait: object) -> str:
            return str(trait.default_value)  # type: ignore[attr-defined]

        return cls(begin_solution=default(ClearSolutions.begin_solution_delimeter),
                   end_solution=default(ClearSolutions.end_solution_delimeter),
                   begin_hidden=default(ClearHiddenTests.begin_test_delimeter),
                   end_hidden=default(ClearHiddenTests.end_test_delimeter),
                   begin_mark_scheme=default(ClearMarkScheme.begin_mark_scheme_delimeter),
                   end_mark_scheme=default(ClearMarkScheme.end_mark_scheme_delimeter))

    def markers(self) -> tuple[str, ...]:
        """Every delimiter; none of them may appear in a student version."""
        return (self.begin_solution, self.end_solution, self.begin_hidden, self.end_hidden,
                self.begin_mark_scheme, self.end_mark_scheme)


def inside(source: str, begin: str, end: str) -> list[str]:
    """Lines strictly between a `begin` line and the next `end` line (delimiters excluded)."""
    out: list[str] = []
    within = False
    for line in source.splitlines():
        if begin in line:
            within = True
        elif end in line:
            within = False
        elif within:
            out.append(line)
    return out


def solution_lines(source: str, d: Delimiters) -> list[str]:
    """The lines of every solution region of a cell."""
    return inside(source, d.begin_solution, d.end_solution)


def hidden_lines(source: str, d: Delimiters) -> list[str]:
    """The lines of every hidden-test region of a cell."""
    return inside(source, d.begin_hidden, d.end_hidden)


def outside(source: str, d: Delimiters) -> list[str]:
    """Lines of a cell outside every solution and hidden-test region (delimiters excluded)."""
    out: list[str] = []
    within = False
    for line in source.splitlines():
        if d.begin_solution in line or d.begin_hidden in line:
            within = True
        elif d.end_solution in line or d.end_hidden in line:
            within = False
        elif not within:
            out.append(line)
    return out


def visible(source: str, d: Delimiters) -> str:
    """A test cell without its hidden tests: what the learner's kernel may run."""
    out: list[str] = []
    within = False
    for line in source.splitlines():
        if d.begin_hidden in line:
            within = True
        elif d.end_hidden in line:
            within = False
        elif not within:
            out.append(line)
    return "\n".join(out)


def first_hidden_line(source: str, d: Delimiters) -> int | None:
    """The 1-based number of a cell's first hidden-test delimiter line, or None: a check that
    fails on this line or after it failed on a hidden check."""
    for number, line in enumerate(source.splitlines(), 1):
        if d.begin_hidden in line:
            return number
    return None


def hidden_test_lines(cells_sources: list[str], d: Delimiters) -> frozenset[str]:
    """Every hidden-test line of a notebook (stripped, at least MIN_HIDDEN_LINE characters):
    what the feedback must never show."""
    return frozenset(line.strip() for source in cells_sources for line in hidden_lines(source, d)
                     if len(line.strip()) >= MIN_HIDDEN_LINE)
