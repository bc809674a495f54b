"""``python -m course {walkthrough,redteam,bench}``: the kit from the command line.

Exit codes are part of the contract: ``walkthrough`` exits non-zero if any
invariant fails; ``redteam`` exits 0 only if every attack succeeds against
the naive wiring and fails against the hardened one; ``bench`` exits 0 once
it has measured (targets are reported, not enforced: speed is measured, not
asserted).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("walkthrough", help="build -> break -> harden -> observe -> revoke, for real")
    red = sub.add_parser("redteam", help="every attack against the naive and the hardened wiring")
    red.add_argument("--json", action="store_true", help="machine-readable outcomes")
    ben = sub.add_parser("bench", help="the kit's speed as ratios against plain alternatives")
    ben.add_argument("--json", action="store_true")
    ben.add_argument("--quick", action="store_true", help="fewer iterations (for tests)")
    args = parser.parse_args(argv)

    if args.command == "walkthrough":
        from .walkthrough import run
        return run(out=sys.stdout)
    if args.command == "redteam":
        from . import redteam
        outcomes = redteam.run_suite()
        print(redteam.as_json(outcomes) if args.json else redteam.table(outcomes))
        ok = redteam.as_expected(outcomes)
        if not args.json:
            print("\nall attacks succeed against naive and fail against hardened" if ok
                  else "\nUNEXPECTED: see the rows above")
        return 0 if ok else 1
    from . import bench
    figures = bench.run_all(quick=args.quick)
    print(bench.as_json(figures) if args.json else bench.render(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
