"""``learnedsys bench [SECTION...]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from learnedsys._atomic import PathError
from learnedsys.bench import SECTIONS, BenchContext, available_sections, find_shared_data, run_bench
from learnedsys.bench._harness import prepare_output


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="run each part side by side with the alternatives and write a report",
        description="Run the benchmark sections (default: all) in one process, print tables, "
        "and write JSON records and a Markdown report with plots.",
    )
    p.add_argument("sections", nargs="*", metavar="SECTION", help=f"sections to run, of {', '.join(SECTIONS)} (default: all)")
    p.add_argument("--quick", action="store_true", help="small data and few repeats: the whole run in about 3 minutes on 2 cores (after numba's first compile)")
    p.add_argument("--json", type=Path, metavar="PATH", help="write one record per dataset x structure")
    p.add_argument("--report", type=Path, metavar="DIR", help="write report.md and plots into DIR")
    p.add_argument("--seed", type=int, default=0, help="seed for data and workloads (default 0)")
    p.add_argument("--repeats", type=int, default=None, help="timed repetitions after warm-up (default 5, quick 5)")
    p.add_argument("-n", type=int, default=None, help="number of keys for the index section (default 20M, quick 1M)")
    p.add_argument("--keys", type=Path, metavar="FILE", help="your own keys: a .npy of sorted keys (index) or a text file, one key per line (bloom, with --negatives)")
    p.add_argument("--negatives", type=Path, metavar="FILE", help="your own non-keys for the bloom section, one per line")
    p.add_argument("--data", type=Path, metavar="DIR", help="shared data folder (default: ../shared/data when present)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr (the tables still go to stdout)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    avail = available_sections()
    sections = args.sections or avail
    for s in sections:
        if s not in SECTIONS:
            raise SystemExit(f"learnedsys bench: unknown section {s!r}; choose from {', '.join(SECTIONS)}")
        if s not in avail:
            raise SystemExit(f"learnedsys bench: section {s!r} is not part of this installation")
    if args.repeats is not None and args.repeats < 1:
        raise SystemExit(f"learnedsys bench: --repeats must be an int >= 1. Got {args.repeats} instead.")
    if args.n is not None and args.n < 0:
        raise SystemExit(f"learnedsys bench: -n must be an int >= 0. Got {args.n} instead.")
    for opt in ("keys", "negatives", "data"):
        val = getattr(args, opt)
        if val is not None and not val.exists():
            raise SystemExit(f"learnedsys bench: --{opt} {val} does not exist")
    data_dir = args.data if args.data is not None else find_shared_data()
    ctx = BenchContext(
        quick=args.quick,
        seed=args.seed,
        repeats=args.repeats or 5,
        data_dir=data_dir,
        keys_path=args.keys,
        negatives_path=args.negatives,
        report_dir=args.report,
        n=args.n,
        progress=not args.quiet,
    )
    try:  # a bad --json / --report path: one line, before anything else is printed or run
        prepare_output(args.json, what="--json")
        prepare_output(args.report, directory=True, what="--report")
    except PathError as exc:
        print(f"learnedsys bench: {exc}", file=sys.stderr)
        return 2
    if data_dir is None:
        ctx.log("note: shared data folder (../shared/data) is absent; sections use their embedded or generated data")
    try:
        run_bench(sections, ctx, json_path=args.json)
    except PathError as exc:
        print(f"learnedsys bench: {exc}", file=sys.stderr)
        return 2
    return 0
