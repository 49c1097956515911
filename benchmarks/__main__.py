"""``python -m benchmarks [--smoke] [--json FILE] [--only TOPICS]``: run and print the table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.suite import MODULES, run


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Side-by-side benchmarks of provenance against its baselines (issue 4).",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes: every row runs, in well under a minute (CI)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write results as JSON")
    parser.add_argument(
        "--only",
        metavar="TOPICS",
        help="comma-separated topics or row numbers: "
        + ", ".join(f"{t} ({'/'.join(map(str, n))})" for t, (_, n) in MODULES.items()),
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="where built ledgers and images are cached "
        "(default $PROVENANCE_BENCH_CACHE or /tmp/provenance-bench)",
    )
    parser.add_argument("--keep-tmp", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    return run(
        argv,
        smoke=args.smoke,
        only=args.only,
        json_path=args.json,
        cache=args.cache_dir,
        keep_tmp=args.keep_tmp,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
