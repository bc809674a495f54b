"""Mutation testing of the kit's enforcement modules, one module at a time (``make mutate``).

For each module this driver builds a scratch copy of the project under
``mutation/.work/<module>/`` (the package, the shared test fixtures, the test
files that cover the module, and ``pyproject.toml`` with a generated
``[tool.mutmut]`` section), runs ``mutmut run`` there (mutmut 3 copies it once
more into ``mutants/``), reads every mutant's verdict with ``mutmut results``
and writes ``mutation/REPORT.md`` (and ``mutation/results.json``, which keeps
the rows of modules not re-run this time).

What it proves: a mutant that survives is a change to the module that the
tests covering it do not notice. A mutant listed in
``tests/equivalent_mutants.md`` (one line, ``course.<module>.<mutant>: reason``)
changes nothing observable and is counted apart, never as killed.

Quick use (one module, its own tests; minutes, not hours)::

    .venv/bin/python mutation/run.py tokens            # one module, fresh run
    .venv/bin/python mutation/run.py tokens --keep     # re-use the last run's cache
    .venv/bin/python mutation/run.py tokens --keep --only-unlisted  # ... and skip the listed survivors
    cd mutation/.work/tokens && ../../../.venv/bin/mutmut show <mutant>   # read a survivor

Nothing here touches the working tree outside ``mutation/``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "mutation" / ".work"
REPORT = ROOT / "mutation" / "REPORT.md"
RESULTS = ROOT / "mutation" / "results.json"
EQUIVALENTS = ROOT / "tests" / "equivalent_mutants.md"
HISTORY = ROOT / "mutation" / "HISTORY.md"

# The enforcement modules (issue 14), each with the test files that cover it. A module's own
# tests/test_mutants_<module>.py, when it exists, is always added.
MODULES: dict[str, tuple[str, ...]] = {
    "tokens": ("tests/test_tokens.py",),
    "keys": ("tests/test_tokens.py", "tests/test_mutants_tokens.py", "tests/test_forge.py"),
    "policy": ("tests/test_policy.py",),
    "vault": ("tests/test_vault.py",),
    "approvals": ("tests/test_approvals.py",),
    "revocation": ("tests/test_vault.py", "tests/test_tokens.py", "tests/test_mutants_tokens.py"),
    "broker": ("tests/test_broker.py",),
    "connectors": ("tests/test_connectors.py",),
    "redact": ("tests/test_redact.py",),
    "audit": ("tests/test_audit.py",),
    "refresh": ("tests/test_refresh.py",),
    "secretstore": ("tests/test_secretstore.py",),
}
# Tests that cannot run under mutmut, left out and said so in the report: one reads a frame's
# function name, which mutmut's trampoline renames (``call`` runs as
# ``xǁBrokerǁcall__mutmut_orig``); one reads the module's source text, which mutmut rewrites
# (every mutant is a copy of the function). (audit's test that could not run twice in one process
# copies its parametrized dict since 9a80be0, and runs again.)
DESELECT: dict[str, tuple[str, ...]] = {
    "broker": ("tests/test_broker.py::test_a_corrupt_credential_error_carries_no_frame_from_the_store",),
    "redact": ("tests/test_redact.py::test_redactor_reads_secret_values_in_one_place_only",),
}
# What every test needs beside the test files themselves.
SHARED_TEST_FILES = ("tests/__init__.py", "tests/conftest.py", "tests/data", "tests/fixtures")
KILLED = {"killed", "timeout", "caught by type check"}
_RESULT_LINE = re.compile(r"^\s+(?P<name>\S+): (?P<status>.+)$")


@dataclass(frozen=True)
class ModuleResult:
    """One module's verdicts as mutmut gave them: counts, the mutants left alive, the wall time."""

    module: str
    tests: list[str]
    mutants: int
    killed: int
    alive: list[str]  # survived: classified at report time against tests/equivalent_mutants.md
    no_tests: list[str]
    other: int
    seconds: float
    when: str
    rerun_only: bool = False  # a --keep run: only the previous survivors were run, so seconds is short


@dataclass(frozen=True)
class Row:
    """A module's line of the report: ``alive`` split into equivalent, message-only, surviving."""

    result: ModuleResult
    equivalent: list[str]
    message: list[str]
    survivors: list[str]

    @classmethod
    def of(cls, r: ModuleResult, listed: dict[str, tuple[str, str]]) -> Row:
        return cls(r, [n for n in r.alive if listed.get(n, ("",))[0] == "equivalent"],
                   [n for n in r.alive if listed.get(n, ("",))[0] == "message"],
                   [n for n in r.alive if n not in listed])

    @property
    def score(self) -> float:
        judged = self.result.mutants - len(self.equivalent)
        return 100.0 * self.result.killed / judged if judged else 100.0

    @property
    def behaviour_score(self) -> float:
        judged = self.result.mutants - len(self.equivalent) - len(self.message)
        return 100.0 * self.result.killed / judged if judged else 100.0


def test_files(module: str, *, own_tests: bool = True) -> list[str]:
    files = list(MODULES[module])
    own = f"tests/test_mutants_{module}.py"
    if own_tests and (ROOT / own).exists():
        files.append(own)
    return [f for f in files if (ROOT / f).exists()]


def equivalent_mutants() -> dict[str, tuple[str, str]]:
    """Mutant name -> (kind, reason), from ``tests/equivalent_mutants.md``.

    Lines read ``- `course.<module>.<mutant>`: reason``. Those under a heading that starts
    with "Message" are *message-only* (they change the prose of an error whose class and
    reason code or claim name the tests assert); all others are *equivalent* (no observable
    change at all).
    """
    found: dict[str, tuple[str, str]] = {}
    kind = "equivalent"
    if EQUIVALENTS.exists():
        for line in EQUIVALENTS.read_text("utf-8").splitlines():
            if line.startswith("## "):
                kind = "message" if line[3:].strip().lower().startswith("message") else "equivalent"
                continue
            m = re.match(r"^\s*[-*]\s*`(?P<name>course\.[^`]+)`\s*[:\u2014-]\s*(?P<why>.+)$", line)
            if m:
                found[m["name"]] = (kind, m["why"].strip())
    return found


def mutmut_section(module: str) -> str:
    lines = [
        "",
        "[tool.mutmut]",
        'source_paths = ["course/"]',
        f'only_mutate = ["course/{module}.py"]',
        # The scratch tests/ holds only this module's files: naming the folder (not the files)
        # keeps mutmut's cache valid when a test file is added, so --keep re-runs survivors only.
        'pytest_add_cli_args_test_selection = ["tests/"]',
        "pytest_add_cli_args = [" + ", ".join(
            json.dumps(a) for a in ("-p", "no:cacheprovider", "-q",
                                    *(x for t in DESELECT.get(module, ()) for x in ("--deselect", t)))) + "]",
        "use_git_change_detection = false",
        "",
    ]
    return "\n".join(lines)


def prepare(module: str, tests: list[str], *, keep: bool) -> Path:
    """Lay out the scratch project for ``module``; a fresh one unless ``keep``."""
    work = WORK / module
    if work.exists() and not keep:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    if (work / "course").exists():
        shutil.rmtree(work / "course")
    shutil.copytree(ROOT / "course", work / "course", ignore=ignore)
    if (work / "tests").exists():
        shutil.rmtree(work / "tests")
    for rel in (*SHARED_TEST_FILES, *tests):
        src, dst = ROOT / rel, work / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dst)
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    if "[tool.mutmut]" in pyproject:  # the driver's section is the one in force
        pyproject = pyproject.split("[tool.mutmut]")[0]
    (work / "pyproject.toml").write_text(pyproject + mutmut_section(module), "utf-8")
    return work


def mutmut_bin() -> str:
    here = Path(sys.executable).parent / "mutmut"
    return str(here) if here.exists() else "mutmut"


def statuses_of(module: str, work: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """Every mutant of ``module`` in ``work`` -> its mutmut status (``mutmut results --all``)."""
    listing = subprocess.run(
        [mutmut_bin(), "results", "--all", "true"], cwd=work, env=env,
        capture_output=True, text=True, check=True,
    ).stdout
    statuses: dict[str, str] = {}
    for line in listing.splitlines():
        m = _RESULT_LINE.match(line)
        if m and m["name"].startswith(f"course.{module}."):
            statuses[m["name"]] = m["status"].strip()
    return statuses


def previous_open(module: str, work: Path) -> list[str]:
    """The mutants a previous run in ``work`` left alive or untested ([] when there was none)."""
    if not (work / "mutants").exists():
        return []
    try:
        statuses = statuses_of(module, work)
    except subprocess.CalledProcessError:
        return []
    return sorted(n for n, s in statuses.items() if s not in KILLED)


def run_module(module: str, *, keep: bool, max_children: int,
               equivalents: dict[str, tuple[str, str]], own_tests: bool = True,
               only_unlisted: bool = False) -> ModuleResult:
    tests = test_files(module, own_tests=own_tests)
    work = prepare(module, tests, keep=keep)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    log = work / "mutmut-run.log"
    print(f"[mutate] {module}: mutmut run against {', '.join(tests)}", flush=True)
    # With --keep, mutants already killed stay killed (a test added cannot un-kill them): only
    # the previous survivors and the mutants no test reached are run again.
    again = rerun if keep and (rerun := previous_open(module, work)) else []
    if again and only_unlisted:  # the listed ones were judged already: re-run the others only
        again = [n for n in again if n not in equivalents] or again[:1]
    if again:
        print(f"[mutate] {module}: re-running the {len(again)} mutants the last run left alive", flush=True)
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.run(
            [mutmut_bin(), "run", "--max-children", str(max_children), *again],
            cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
        )
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        tail = log.read_text("utf-8", errors="replace")[-2000:]
        raise SystemExit(f"[mutate] {module}: mutmut run failed ({proc.returncode}); see {log}\n{tail}")
    statuses = statuses_of(module, work, env)
    killed = sum(1 for s in statuses.values() if s in KILLED)
    alive = sorted(n for n, s in statuses.items() if s == "survived")
    no_tests = sorted(n for n, s in statuses.items() if s == "no tests")
    other = len(statuses) - killed - len(alive) - len(no_tests)
    result = ModuleResult(
        module=module, tests=tests, mutants=len(statuses), killed=killed, alive=alive,
        no_tests=no_tests, other=other, seconds=round(seconds, 1),
        when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), rerun_only=bool(again),
    )
    row = Row.of(result, equivalents)
    print(f"[mutate] {module}: {result.mutants} mutants, {killed} killed, {len(row.survivors)} survived, "
          f"{len(row.equivalent)} equivalent, {len(row.message)} message-only, {len(no_tests)} no tests, "
          f"{other} other; {row.score:.1f}% in {seconds:.0f} s", flush=True)
    if other:
        print(f"[mutate] {module}: {other} mutants neither killed, alive nor untested "
              "(not checked, suspicious, segfault): see `mutmut results`", flush=True)
    return result


def load_results() -> dict[str, ModuleResult]:
    if not RESULTS.exists():
        return {}
    return {k: ModuleResult(**v) for k, v in json.loads(RESULTS.read_text("utf-8")).items()}


def write_report(results: dict[str, ModuleResult], equivalents: dict[str, tuple[str, str]]) -> None:
    done = [results[m] for m in MODULES if m in results]
    RESULTS.write_text(json.dumps({r.module: asdict(r) for r in done}, indent=1) + "\n", "utf-8")
    ordered = [Row.of(r, equivalents) for r in done]
    out = [
        "# Mutation testing report",
        "",
        "Written by `mutation/run.py` (`make mutate`): mutmut 3 over each enforcement module, run",
        "against the test files listed for it (only those). *score* = killed / (mutants - equivalent);",
        "*behaviour score* also sets aside the message-only mutants (an error's prose changed, its class",
        "and reason code or claim name asserted). A timeout counts as killed; *no tests* are mutants no",
        "listed test reaches (not killed). Equivalent and message-only mutants are listed, each with",
        "its reason, in `tests/equivalent_mutants.md`.",
        "",
        "| module | mutants | killed | survived | equivalent | message-only | no tests | score "
        "| behaviour score | time | run |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in ordered:
        r = row.result
        took = f"{r.seconds:.0f} s" + (" (survivors re-run)" if r.rerun_only else "")
        out.append(f"| `course/{r.module}.py` | {r.mutants} | {r.killed} | {len(row.survivors)} | "
                   f"{len(row.equivalent)} | {len(row.message)} | {len(r.no_tests)} | {row.score:.1f}% | "
                   f"{row.behaviour_score:.1f}% | {took} | {r.when} |")
    missing = [m for m in MODULES if m not in results]
    if missing:
        out += ["", "Not run yet: " + ", ".join(f"`{m}`" for m in missing) + "."]
    out += [
        "",
        "## How to run",
        "",
        "    make mutate                                   # every enforcement module (long: see times)",
        "    make mutate MODULES=\"tokens policy\"           # some modules",
        "    .venv/bin/python mutation/run.py tokens       # one module, fresh",
        "    .venv/bin/python mutation/run.py tokens --keep  # after adding tests: re-run the survivors only",
        "    .venv/bin/python mutation/run.py tokens --keep --only-unlisted  # ... those not yet listed",
        "    cd mutation/.work/tokens && ../../../.venv/bin/mutmut show <mutant>   # read one mutant",
        "",
        "`--max-children N` sets mutmut's parallel workers (default 2). The tests each module runs are",
        "in `MODULES` in `mutation/run.py`; a new `tests/test_mutants_<module>.py` is picked up itself.",
        "",
        "## Tests each module was run against",
        "",
    ]
    for row in ordered:
        out.append(f"- `{row.result.module}`: " + ", ".join(f"`{t}`" for t in row.result.tests))
        for test in DESELECT.get(row.result.module, ()):
            out.append(f"  (less `{test}`: it cannot run under mutmut; see DESELECT in run.py)")
    out += ["", "## Surviving mutants (not listed as equivalent)", ""]
    for row in ordered:
        if row.survivors:
            out.append(f"- `{row.result.module}` ({len(row.survivors)}): "
                       + ", ".join(f"`{n}`" for n in row.survivors))
        if row.result.no_tests:
            out.append(f"- `{row.result.module}`, reached by no listed test ({len(row.result.no_tests)}): "
                       + ", ".join(f"`{n}`" for n in row.result.no_tests))
    if not any(row.survivors or row.result.no_tests for row in ordered):
        out.append("None.")
    stale = [name for row in ordered for name in equivalents
             if name.startswith(f"course.{row.result.module}.") and name not in row.result.alive]
    if stale:
        out += ["", "## Stale lines in tests/equivalent_mutants.md (now killed, or gone: delete them)", ""]
        out += [f"- `{name}`" for name in stale]
    if HISTORY.exists():  # hand-written: scores before and after a piece of work, with its times
        out += ["", HISTORY.read_text("utf-8").rstrip("\n")]
    REPORT.write_text("\n".join(out) + "\n", "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"default: all ({' '.join(MODULES)})")
    parser.add_argument("--keep", action="store_true", help="re-use the previous run's mutmut cache")
    parser.add_argument("--only-unlisted", action="store_true",
                        help="with --keep: re-run only the open mutants not in tests/equivalent_mutants.md "
                             "(a listed one stays as the last run left it)")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--without-mutant-tests", action="store_true",
                        help="leave out tests/test_mutants_<module>.py (to measure the module's own tests)")
    parser.add_argument("--report-only", action="store_true", help="rewrite REPORT.md from results.json")
    args = parser.parse_args(argv)
    modules = args.modules or list(MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        parser.error(f"not an enforcement module: {', '.join(unknown)}")
    equivalents = equivalent_mutants()
    results = load_results()
    if not args.report_only:
        for module in modules:
            results[module] = run_module(module, keep=args.keep, max_children=args.max_children,
                                         equivalents=equivalents, own_tests=not args.without_mutant_tests,
                                         only_unlisted=args.only_unlisted)
            write_report(results, equivalents)
    write_report(results, equivalents)
    print(f"[mutate] report: {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
