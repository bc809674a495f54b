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

# The enforcement modules (issue 14), each with the test files that cover it. A module's own
# tests/test_mutants_<module>.py, when it exists, is always added.
MODULES: dict[str, tuple[str, ...]] = {
    "tokens": ("tests/test_tokens.py",),
    "keys": ("tests/test_tokens.py", "tests/test_interop.py"),
    "policy": ("tests/test_policy.py",),
    "vault": ("tests/test_vault.py",),
    "approvals": ("tests/test_approvals.py",),
    "revocation": ("tests/test_vault.py", "tests/test_tokens.py"),
    "broker": ("tests/test_broker.py",),
    "connectors": ("tests/test_connectors.py",),
    "redact": ("tests/test_redact.py",),
    "audit": ("tests/test_audit.py",),
    "refresh": ("tests/test_refresh.py",),
    "secretstore": ("tests/test_secretstore.py",),
}
# What every test needs beside the test files themselves.
SHARED_TEST_FILES = ("tests/__init__.py", "tests/conftest.py", "tests/data", "tests/fixtures")
KILLED = {"killed", "timeout", "caught by type check"}
_RESULT_LINE = re.compile(r"^\s+(?P<name>\S+): (?P<status>.+)$")


@dataclass(frozen=True)
class ModuleResult:
    """One module's verdicts: counts, the surviving mutants' names and the wall time."""

    module: str
    tests: list[str]
    mutants: int
    killed: int
    survived: int
    equivalent: int
    no_tests: int
    other: int
    seconds: float
    survivors: list[str]
    when: str

    @property
    def score(self) -> float:
        judged = self.mutants - self.equivalent
        return 100.0 * self.killed / judged if judged else 100.0


def test_files(module: str) -> list[str]:
    files = list(MODULES[module])
    own = f"tests/test_mutants_{module}.py"
    if (ROOT / own).exists():
        files.append(own)
    return [f for f in files if (ROOT / f).exists()]


def equivalent_mutants() -> dict[str, str]:
    """Mutant name -> reason, from ``tests/equivalent_mutants.md`` (lines ``- `name`: reason``)."""
    found: dict[str, str] = {}
    if EQUIVALENTS.exists():
        for line in EQUIVALENTS.read_text("utf-8").splitlines():
            m = re.match(r"^\s*[-*]\s*`(?P<name>course\.[^`]+)`\s*[:\u2014-]\s*(?P<why>.+)$", line)
            if m:
                found[m["name"]] = m["why"].strip()
    return found


def mutmut_section(module: str, tests: list[str]) -> str:
    lines = [
        "",
        "[tool.mutmut]",
        'source_paths = ["course/"]',
        f'only_mutate = ["course/{module}.py"]',
        "pytest_add_cli_args_test_selection = [" + ", ".join(json.dumps(t) for t in tests) + "]",
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]',
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
    (work / "pyproject.toml").write_text(pyproject + mutmut_section(module, tests), "utf-8")
    return work


def mutmut_bin() -> str:
    here = Path(sys.executable).parent / "mutmut"
    return str(here) if here.exists() else "mutmut"


def run_module(module: str, *, keep: bool, max_children: int, equivalents: dict[str, str]) -> ModuleResult:
    tests = test_files(module)
    work = prepare(module, tests, keep=keep)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    log = work / "mutmut-run.log"
    print(f"[mutate] {module}: mutmut run against {', '.join(tests)}", flush=True)
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.run(
            [mutmut_bin(), "run", "--max-children", str(max_children)],
            cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
        )
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        tail = log.read_text("utf-8", errors="replace")[-2000:]
        raise SystemExit(f"[mutate] {module}: mutmut run failed ({proc.returncode}); see {log}\n{tail}")
    listing = subprocess.run(
        [mutmut_bin(), "results", "--all", "true"], cwd=work, env=env,
        capture_output=True, text=True, check=True,
    ).stdout
    statuses: dict[str, str] = {}
    for line in listing.splitlines():
        m = _RESULT_LINE.match(line)
        if m and m["name"].startswith(f"course.{module}."):
            statuses[m["name"]] = m["status"].strip()
    killed = sum(1 for s in statuses.values() if s in KILLED)
    alive = sorted(n for n, s in statuses.items() if s == "survived")
    equivalent = [n for n in alive if n in equivalents]
    survivors = [n for n in alive if n not in equivalents]
    no_tests = sum(1 for s in statuses.values() if s == "no tests")
    other = len(statuses) - killed - len(alive) - no_tests
    result = ModuleResult(
        module=module, tests=tests, mutants=len(statuses), killed=killed, survived=len(survivors),
        equivalent=len(equivalent), no_tests=no_tests, other=other, seconds=round(seconds, 1),
        survivors=survivors, when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )
    print(f"[mutate] {module}: {result.mutants} mutants, {result.killed} killed, "
          f"{result.survived} survived, {result.equivalent} equivalent, {result.score:.1f}% "
          f"in {seconds:.0f} s", flush=True)
    return result


def load_results() -> dict[str, ModuleResult]:
    if not RESULTS.exists():
        return {}
    return {k: ModuleResult(**v) for k, v in json.loads(RESULTS.read_text("utf-8")).items()}


def write_report(results: dict[str, ModuleResult], equivalents: dict[str, str]) -> None:
    ordered = [results[m] for m in MODULES if m in results]
    RESULTS.write_text(json.dumps({r.module: asdict(r) for r in ordered}, indent=1) + "\n", "utf-8")
    out = [
        "# Mutation testing report",
        "",
        "Written by `mutation/run.py` (`make mutate`); mutmut 3 over each enforcement module, run",
        "against the test files listed for it (only those). Score = killed / (mutants - equivalent);",
        "a timeout counts as killed; *no tests* are mutants no listed test reaches (counted as not",
        "killed). Equivalent mutants are listed, each with its reason, in `tests/equivalent_mutants.md`.",
        "",
        "| module | mutants | killed | survived | equivalent | no tests | score | time | run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in ordered:
        out.append(f"| `course/{r.module}.py` | {r.mutants} | {r.killed} | {r.survived} | {r.equivalent} | "
                   f"{r.no_tests} | {r.score:.1f}% | {r.seconds:.0f} s | {r.when} |")
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
        "    .venv/bin/python mutation/run.py tokens --keep  # re-use mutmut's cache (re-tests changed code)",
        "    cd mutation/.work/tokens && ../../../.venv/bin/mutmut show <mutant>   # read one mutant",
        "",
        "`--max-children N` sets mutmut's parallel workers (default 2). The tests each module runs are",
        "in `MODULES` in `mutation/run.py`; a new `tests/test_mutants_<module>.py` is picked up itself.",
        "",
        "## Tests each module was run against",
        "",
    ]
    for r in ordered:
        out.append(f"- `{r.module}`: " + ", ".join(f"`{t}`" for t in r.tests))
    out += ["", "## Surviving mutants (not listed as equivalent)", ""]
    for r in ordered:
        if r.survivors:
            out.append(f"- `{r.module}` ({len(r.survivors)}): " + ", ".join(f"`{n}`" for n in r.survivors))
    if not any(r.survivors for r in ordered):
        out.append("None.")
    REPORT.write_text("\n".join(out) + "\n", "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"default: all ({' '.join(MODULES)})")
    parser.add_argument("--keep", action="store_true", help="re-use the previous run's mutmut cache")
    parser.add_argument("--max-children", type=int, default=2)
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
                                         equivalents=equivalents)
            write_report(results, equivalents)
    write_report(results, equivalents)
    print(f"[mutate] report: {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
