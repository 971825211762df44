"""``learnedsys tune [options] -- CMD ...``: learn a program's flags (imports nothing heavy)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from learnedsys._output import note


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "tune",
        help="learn the best flags of a command (placeholders such as --threads='{1..16}')",
        description=(
            "Run CMD with chosen values for its placeholders and learn which are best. "
            "Placeholders: {a,b,c} categorical, {1..16} integers, {16..4096:log} log-scale integers, "
            "{0.1..0.9} floats. The study is an Optuna study (SQLite file or RDB URL; optuna-dashboard opens it) and resumes after a kill."
        ),
        epilog="example: learnedsys tune --trials 30 --json out.json -- ./prog --threads='{1..16}' --block='{16..4096:log}' --mode='{a,b,c}'",
    )
    p.add_argument("--trials", type=int, default=30, help="finished trials the study should hold (default 30)")
    p.add_argument("--metric", metavar="REGEX", help="objective: the last number REGEX matches in the output (its first group if any); default: wall time")
    p.add_argument("--maximize", action="store_true", help="maximise the objective (default: minimise)")
    p.add_argument("--repeats", type=int, default=1, help="runs per trial; the median counts (default 1)")
    p.add_argument("--parallel", type=int, default=1, metavar="N", help="trials at once (default 1)")
    p.add_argument("--address", default=None, metavar="HOST:PORT", help="run the trials as Ray tasks on this cluster ('auto': the one `ray start` runs here; 'local': start one); needs learnedsys on every node")
    p.add_argument("--storage", default="learnedsys-tune.sqlite", metavar="PATH|URL", help="where the Optuna study lives: a SQLite file or an RDB URL (sqlite:///..., postgresql://...); an existing study resumes (default learnedsys-tune.sqlite)")
    p.add_argument("--study", default="learnedsys-tune", metavar="NAME", help="the study's name in that storage (default learnedsys-tune)")
    p.add_argument("--fresh", action="store_true", help="discard the study's trials and start over")
    p.add_argument("--sampler", choices=("tpe", "random"), default="tpe", help="search strategy (default tpe)")
    p.add_argument("--seed", type=int, default=0, help="seed of the search (default 0)")
    p.add_argument("--timeout", type=float, default=None, help="seconds before a run counts as failed")
    p.add_argument("--default", action="append", default=[], metavar="NAME=VALUE", help="the command's default for a placeholder (tried first; needed for positional placeholders)")
    p.add_argument("--no-baseline", action="store_true", help="do not run the command's defaults")
    p.add_argument("--json", type=Path, metavar="PATH", help="write best values and every trial as JSON")
    p.add_argument("--plot", type=Path, metavar="PATH", help="PNG plot of the search (default: beside --json)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr (the results still go to stdout)")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ...", help="the command with placeholders")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from learnedsys._atomic import PathError, check_output_path
    from learnedsys._validation import InfrastructureError, InvalidParameterError
    from learnedsys.tune._tune import format_result, save_json, tune_command, write_plot

    cmd = list(args.command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        print("learnedsys tune: give the command after --, e.g. learnedsys tune -- ./prog --threads='{1..16}'", file=sys.stderr)
        return 2
    for name, low in (("trials", 1), ("repeats", 1), ("parallel", 1)):
        v = getattr(args, name)
        if v < low:
            print(f"learnedsys tune: --{name} must be an int >= {low}. Got {v} instead.", file=sys.stderr)
            return 2
    defaults = {}
    for item in args.default:
        if "=" not in item:
            print(f"learnedsys tune: --default must look like NAME=VALUE. Got {item!r} instead.", file=sys.stderr)
            return 2
        k, v = item.split("=", 1)
        defaults[k.lstrip("-")] = v
    if args.study.endswith((".sqlite", ".db")) or "://" in args.study:
        print(f"learnedsys tune: --study is the study's name, not where it lives. Got {args.study!r}: pass the file or URL as --storage", file=sys.stderr)
        return 2
    plot = args.plot if args.plot is not None else (args.json.with_suffix(".png") if args.json is not None else None)
    study_path = None if "://" in args.storage else Path(args.storage)
    for path, what in ((study_path, "--storage"), (args.json, "--json"), (plot, "--plot")):
        if path is None:
            continue
        try:  # before the trials: a bad path fails now, not after the search
            check_output_path(path, what)
        except PathError as exc:
            print(f"learnedsys tune: {exc}", file=sys.stderr)
            return 2
    try:
        result = tune_command(
            cmd, trials=args.trials, metric=args.metric, maximize=args.maximize, repeats=args.repeats,
            parallel=args.parallel, storage=args.storage, study=args.study, fresh=args.fresh, sampler=args.sampler, seed=args.seed,
            timeout=args.timeout, defaults=defaults, baseline=not args.no_baseline, progress=not args.quiet,
            address=args.address,
        )
    except InvalidParameterError as exc:  # also a study file or URL that cannot be used
        print(f"learnedsys tune: {exc}", file=sys.stderr)
        return 2
    except InfrastructureError as exc:  # a Ray cluster or a database server that cannot be used
        print(f"learnedsys tune: {exc}", file=sys.stderr)
        return 1
    print(format_result(result))
    try:
        if args.json is not None:
            save_json(result, args.json)
            note(f"wrote {args.json}", quiet=args.quiet)  # a notice, not the result
        if plot is not None and result.completed:
            write_plot(result, plot)
            note(f"plot: {plot}", quiet=args.quiet)
    except (PathError, OSError) as exc:
        print(f"learnedsys tune: cannot write the results: {exc}", file=sys.stderr)
        return 2
    return 0 if result.completed else 1
