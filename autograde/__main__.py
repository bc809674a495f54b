"""`python -m autograde {release,collect,grade,feedback,report,check,bench}`: the instructor's
command line (and the learner's `check`). Exit codes: 0 done, 1 refused or failed, 2 usage."""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from .config import REPO_ROOT, Course, Limits


def _course(args: argparse.Namespace) -> Course:
    # Bounds not given here come from nbgrader_config.py (Execute.timeout per cell, the
    # AutogradeLimits traits for the rest): Course resolves them.
    limits = Limits(notebook_seconds=args.budget, judge_seconds=args.budget)
    return Course(root=Path(args.root).resolve(), limits=limits)


def cmd_release(args: argparse.Namespace) -> int:
    from .release import ReleaseError, ReleaseRefused, release

    course = _course(args)
    try:
        done = release(course, args.assignment or None)
    except ReleaseRefused as exc:
        print(f"refused: {exc.assignment}: nothing written", file=sys.stderr)
        for finding in exc.findings:
            print(f"  - {finding}", file=sys.stderr)
        return 1
    except ReleaseError as exc:
        print(f"error: {exc}\n{exc.detail[-2000:]}", file=sys.stderr)
        return 1
    for item in done:
        print(f"released {item.assignment}: {len(item.notebooks)} notebook(s) -> "
              f"{course.release_dir / item.assignment}")
    if not done:
        print(f"no assignments under {course.source_dir}")
    from .exchange import ExchangeFailed, publish  # nbgrader's exchange: the Assignment List, fetch

    try:
        for item in done:
            print(f"published {item.assignment} -> {publish(course, item.assignment).path}")
    except ExchangeFailed as exc:
        print(f"error: released, but not published to nbgrader's exchange: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from .collect import CollectError, collect_zip

    course = _course(args)
    if args.assignment_id is None:  # one argument: the assignment, from nbgrader's exchange inbound/
        from .exchange import collect_inbound

        report = collect_inbound(course, args.zip)
        for line in report.lines():
            print(line)
        return 0
    try:
        report = collect_zip(course, Path(args.zip), args.assignment_id)
    except CollectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from .grade import grade, progress_bar
    from .release import ReleaseError, ReleaseRefused
    from .sandbox import detect

    course = _course(args)
    sandbox = detect()
    if sandbox.warning:
        print(f"WARNING: {sandbox.warning}", file=sys.stderr)
    try:
        results = grade(course, assignments=args.assignment or None,
                        students=args.student or None, workers=args.workers, force=args.force,
                        sandbox=sandbox, progress=None if args.quiet else progress_bar(),
                        engine=args.engine)
    except (ReleaseRefused, ReleaseError) as exc:
        print(f"error: cannot grade before a clean release: {exc}", file=sys.stderr)
        return 1
    human = [r for r in results if r.needs_human]
    print(f"graded {len(results)} notebook(s); {len(human)} need a human "
          f"(python -m autograde report)")
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    from .feedback import write_feedback

    course = _course(args)
    paths = write_feedback(course, assignments=args.assignment or None)
    print(f"wrote {len(paths)} feedback file(s) under {course.feedback_dir}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    course = _course(args)
    out = write_report(course)
    for path in out.files:
        print(f"wrote {path}")
    for line in out.human_lines:
        print(f"needs a human: {line}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .check import check_notebook

    result = check_notebook(Path(args.notebook), budget=args.budget, root=Path(args.root).resolve())
    for line in result.lines():
        print(line)
    return result.exit_code


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench, run_course_bench

    if args.course:
        result = run_course_bench(students=args.students or 3, workers=args.workers, keep=args.keep)
    else:
        result = run_bench(students=args.students or 16, workers=args.workers, source=args.source,
                           keep=args.keep)
    print(json.dumps(result.to_json(), indent=2) if args.json else result.text())
    return 0 if result.agree else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograde", description=__doc__)
    p.add_argument("--root", default=str(REPO_ROOT), help="course root (default: the repo)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds per notebook, whole notebook, and for its judge (default: "
                        "AutogradeLimits.notebook_seconds in nbgrader_config.py, 120)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("release", help="write checked student versions into release/")
    s.add_argument("assignment", nargs="*", help="assignment folders (default: all)")
    s.set_defaults(func=cmd_release)

    s = sub.add_parser("collect", help="submissions into submitted/: `collect ASSIGNMENT` takes "
                       "nbgrader's exchange inbound/, `collect ZIP ASSIGNMENT` an LMS zip")
    s.add_argument("zip", help="zip of <student>.ipynb or <student>/<notebook>.ipynb files "
                   "(or, alone, the assignment to collect from the exchange)")
    s.add_argument("assignment_id", nargs="?", default=None, help="the assignment the zip belongs to")
    s.set_defaults(func=cmd_collect)

    s = sub.add_parser("grade", help="autograde submitted/ in parallel, confined, resumable")
    s.add_argument("assignment", nargs="*", help="assignment folders (default: all)")
    s.add_argument("--student", action="append", help="only this student (repeatable)")
    s.add_argument("--workers", type=int, default=None, help="parallel workers (default: cores)")
    s.add_argument("--force", action="store_true", help="regrade what is already graded")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--engine", choices=("ipython", "kernel"), default="ipython",
                   help="ipython: cells in IPython inside the sandbox (fast, default); "
                        "kernel: a Jupyter kernel inside the sandbox per notebook")
    s.set_defaults(func=cmd_grade)

    s = sub.add_parser("feedback", help="per-student HTML feedback (offline, no hidden tests)")
    s.add_argument("assignment", nargs="*", help="assignment folders (default: all)")
    s.set_defaults(func=cmd_feedback)

    s = sub.add_parser("report", help="grades CSV, plots, and the needs-a-human list")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("check", help="self-check a notebook: one line per exercise")
    s.add_argument("notebook", help="the .ipynb to check")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("bench", help="plain serial nbgrader vs our grade, same class, one run")
    s.add_argument("--students", type=int, default=None,
                   help="submissions in the class (16; with --course, per assignment: 3, honest, blank and "
                        "planted mistakes in turn)")
    s.add_argument("--course", action="store_true",
                   help="every assignment of the real course in one class")
    s.add_argument("--workers", type=int, default=None, help="our workers (default: cores)")
    s.add_argument("--source", default=None,
                   help="assignment notebook to use (default: the test fixture)")
    s.add_argument("--keep", default=None, help="keep the bench course in this folder")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_bench)
    return p


def _skip_slow_optional_imports() -> None:
    """jsonschema (under nbformat) imports the optional rfc3987_syntax package when present,
    which builds a Lark grammar: over a second of every command's start-up, for IRI formats no
    notebook schema uses. Marking it absent makes jsonschema skip that one format checker."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    _skip_slow_optional_imports()
    args = parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbgrader's SQLAlchemy warnings are not ours to show
        return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
