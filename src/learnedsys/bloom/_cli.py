"""``learnedsys bloom build|query|info``: build a (learned) filter from files, query it, describe it.

Imports nothing heavy at module level; the filters (numba) load when a command runs.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
from pathlib import Path
from typing import Any

from learnedsys._output import add_json, check_json, write_json

KINDS = ("plbf", "sandwiched", "lbf", "bloom", "fuse")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bloom",
        help="build and query learned Bloom filters",
        description="Build a learned Bloom filter from a key file and a file of non-keys, query "
        "it, or describe a saved filter. Files hold one item per line (UTF-8; .gz is read as gzip).",
    )
    sub = p.add_subparsers(dest="bloom_command", metavar="ACTION")

    b = sub.add_parser(
        "build",
        help="build a filter and save it",
        description="Build a filter for --keys (never a false negative), tuned on --negatives, "
        "for a target false-positive rate (--fpr) or a memory budget (--memory), and save it.",
    )
    b.add_argument("--keys", type=Path, required=True, metavar="FILE", help="the set to store, one item per line")
    b.add_argument("--negatives", type=Path, metavar="FILE", help="non-keys like the ones queries will ask about (needed for learned kinds)")
    b.add_argument("--kind", choices=KINDS, default="plbf", help="structure to build (default plbf)")
    g = b.add_mutually_exclusive_group()
    g.add_argument("--fpr", type=float, default=None, help="target false-positive rate in (0, 1) (default 0.01)")
    g.add_argument("--memory", type=int, default=None, metavar="BYTES", help="memory budget in bytes instead of --fpr (learned kinds)")
    b.add_argument("--backup", choices=("auto", "bloom", "fuse"), default="auto",
                   help="backup filters of learned kinds: per region the smaller of Bloom and binary fuse (auto, default), or only one kind")
    b.add_argument("--worst-case", default="auto", metavar="FPR|auto|none",
                   help="FPR that must hold on any query set, not only on queries like --negatives (learned kinds; "
                   "default auto: 10x --fpr; none: the in-distribution-only filter)")
    b.add_argument("--ints", action="store_true", help="items are integers, not text")
    b.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    b.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to save the filter")
    add_json(b)
    b.set_defaults(func=_quiet_pipe(_build))

    q = sub.add_parser(
        "query",
        help="ask a saved filter about items",
        description="Print one line per item: 'yes' (maybe in the set) or 'no' (surely not), a tab, the item.",
    )
    q.add_argument("filter", type=Path, metavar="FILTER", help="a file written by 'learnedsys bloom build'")
    q.add_argument("items", nargs="*", metavar="ITEM", help="items to look up")
    q.add_argument("--file", type=Path, metavar="FILE", help="read items from FILE, one per line")
    q.add_argument("--ints", action="store_true", help="items are integers")
    q.add_argument("--count", action="store_true", help="print only how many items answered yes")
    add_json(q)
    q.set_defaults(func=_quiet_pipe(_query))

    a = sub.add_parser(
        "adapt",
        help="teach a saved learned filter its false positives",
        description="Make a saved learned filter answer 'no' for items it wrongly accepted (false "
        "positives found by the lookup behind it) and, with --keys, re-allocate its bits for "
        "queries like them; the file is replaced. No key ever becomes a false negative.",
    )
    a.add_argument("filter", type=Path, metavar="FILTER")
    a.add_argument("--false-positives", type=Path, required=True, metavar="FILE", help="reported false positives, one per line")
    a.add_argument("--keys", type=Path, metavar="FILE", help="the key set (enables the re-allocation and checks the reports)")
    a.add_argument("--max-growth", type=float, default=0.25, help="allowed growth over the size at build (default 0.25)")
    a.add_argument("--ints", action="store_true", help="items are integers")
    add_json(a)
    a.set_defaults(func=_quiet_pipe(_adapt))

    i = sub.add_parser("info", help="describe a saved filter", description="Print the structure, its size and its regions.")
    i.add_argument("filter", type=Path, metavar="FILTER")
    add_json(i)
    i.set_defaults(func=_quiet_pipe(_info))

    p.set_defaults(func=lambda args: _usage(p))


def _quiet_pipe(func: Any) -> Any:
    """Let ``learnedsys bloom query ... | head`` end quietly when the reader goes away."""

    def run(args: argparse.Namespace) -> int:
        from learnedsys._atomic import PathError

        try:
            return int(func(args))
        except PathError as exc:  # a missing folder, a directory given as a file: one line
            return _fail(str(exc))
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0

    return run


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 2


def _fail(msg: str) -> int:
    print(f"learnedsys bloom: error: {msg}", file=sys.stderr)
    return 2


def read_items(path: Path, ints: bool = False) -> list[Any]:
    """Items of a text file, one per line (``.gz`` read as gzip); empty lines are skipped.

    Raises:
        ValueError: a line is not an integer although ``ints`` (names the line number).
    """
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="surrogateescape", newline="\n") as fh:
        lines = [ln.rstrip("\r\n") for ln in fh]
    items = [ln for ln in lines if ln]
    if not ints:
        return items
    out = []
    for no, ln in enumerate(lines, 1):
        if not ln:
            continue
        try:
            out.append(int(ln))
        except ValueError:
            raise ValueError(f"{path}: line {no} is not an integer: {ln[:40]!r}") from None
    return out


def _load_file(path: Path | None, what: str, ints: bool) -> list[Any] | str:
    if path is None:
        return f"--{what} is required"
    if not path.exists():
        return f"--{what} {path} does not exist"
    if path.is_dir():
        return f"--{what} {path} is a directory, not a file"
    try:
        return read_items(path, ints)
    except (OSError, EOFError, ValueError) as exc:
        return f"cannot read --{what} {path}: {exc}"


def _build(args: argparse.Namespace) -> int:
    keys = _load_file(args.keys, "keys", args.ints)
    if isinstance(keys, str):
        return _fail(keys)
    learned = args.kind in ("plbf", "sandwiched", "lbf")
    negatives: list[Any] | str = []
    if learned:
        negatives = _load_file(args.negatives, "negatives", args.ints)
        if isinstance(negatives, str):
            return _fail(negatives + f" (kind {args.kind!r} learns from non-keys; use --kind bloom or fuse without them)")
    if args.memory is not None and not learned:
        return _fail(f"--memory works with the learned kinds (plbf, sandwiched, lbf), not {args.kind!r}; use --fpr")
    if args.out.is_dir():
        return _fail(f"--out {args.out} is a directory")
    from learnedsys._atomic import check_output_path

    check_output_path(args.out, "--out")  # a missing folder: one line now, before the fit
    if (problem := check_json(args.json)) is not None:
        return _fail(problem)

    from learnedsys._serialization import FormatError
    from learnedsys._validation import InvalidParameterError
    from learnedsys.bloom import (
        BinaryFuseFilter,
        BloomFilter,
        LearnedBloomFilter,
        PartitionedLearnedBloomFilter,
        SandwichedLearnedBloomFilter,
    )

    fpr = 0.01 if args.fpr is None else args.fpr
    t0 = time.perf_counter()
    try:
        f: Any
        if args.kind == "bloom":
            f = BloomFilter(target_fpr=fpr, seed=args.seed).fit(keys)
        elif args.kind == "fuse":
            f = BinaryFuseFilter(target_fpr=fpr, seed=args.seed).fit(keys)
        else:
            cls = {"plbf": PartitionedLearnedBloomFilter, "sandwiched": SandwichedLearnedBloomFilter,
                   "lbf": LearnedBloomFilter}[args.kind]
            wc = args.worst_case.strip().lower()
            worst: float | str | None
            if wc in ("auto", "none"):
                worst = None if wc == "none" else "auto"
            else:
                try:
                    worst = float(wc)
                except ValueError:
                    return _fail(f"--worst-case must be a rate in (0, 1), 'auto' or 'none'; got {args.worst_case!r}")
            f = cls(target_fpr=fpr, memory_budget=args.memory, backup=args.backup, worst_case_fpr=worst, seed=args.seed)
            f.fit(keys, negatives)
        f.save(args.out)
    except (InvalidParameterError, FormatError) as exc:
        return _fail(str(exc).replace("parameter of", "option of").replace("'target_fpr'", "--fpr")
                     .replace("'memory_budget'", "--memory").replace("'worst_case_fpr'", "--worst-case"))
    except OSError as exc:
        return _fail(f"cannot write --out {args.out}: {exc}")
    took = time.perf_counter() - t0
    print(f"built {type(f).__name__} of {len(keys)} keys in {took:.1f} s: {f.size_in_bytes()} bytes "
          f"({8 * f.size_in_bytes() / max(len(keys), 1):.2f} bits/key) -> {args.out}")
    problem = write_json(args.json, {"kind": type(f).__name__, "keys": len(keys), "seconds": round(took, 3),
                                     "bytes": f.size_in_bytes(), "bits_per_key": 8 * f.size_in_bytes() / max(len(keys), 1),
                                     "path": str(args.out)})
    return _fail(problem) if problem else 0


def _open_filter(path: Path) -> Any:
    from learnedsys.bloom import load

    return load(path)


def _query(args: argparse.Namespace) -> int:
    from learnedsys._serialization import FormatError
    from learnedsys._validation import InvalidParameterError

    items: list[Any] = []
    if args.ints:
        for it in args.items:
            try:
                items.append(int(it))
            except ValueError:
                return _fail(f"--ints: {it!r} is not an integer")
    else:
        items = list(args.items)
    if args.file is not None:
        more = _load_file(args.file, "file", args.ints)
        if isinstance(more, str):
            return _fail(more)
        items += more
    if not items:
        return _fail("no items to query: give ITEM arguments or --file FILE")
    if (problem := check_json(args.json)) is not None:
        return _fail(problem)
    if not args.filter.exists():
        return _fail(f"filter file {args.filter} does not exist")
    try:
        f = _open_filter(args.filter)
        answers = f.contains(items)
    except FormatError as exc:
        return _fail(f"{exc}")
    except InvalidParameterError as exc:
        hint = " (add --ints for integer filters)" if not args.ints else " (drop --ints for text filters)"
        return _fail(f"{exc}{hint}")
    yes_list = answers.tolist()
    if args.count:
        print(int(answers.sum()))
    else:
        out = sys.stdout
        for item, yes in zip(items, yes_list, strict=True):
            out.write(f"{'yes' if yes else 'no'}\t{item}\n")
    problem = write_json(args.json, {"filter": str(args.filter), "count": int(answers.sum()),
                                     "answers": [{"item": it, "maybe": bool(y)} for it, y in zip(items, yes_list, strict=True)]})
    return _fail(problem) if problem else 0


def _info(args: argparse.Namespace) -> int:
    from learnedsys._serialization import FormatError

    if not args.filter.exists():
        return _fail(f"filter file {args.filter} does not exist")
    if (problem := check_json(args.json)) is not None:
        return _fail(problem)
    try:
        f = _open_filter(args.filter)
    except FormatError as exc:
        return _fail(str(exc))
    info: dict[str, Any] = {"kind": type(f).__name__, "bytes": f.size_in_bytes()}
    print(f"{type(f).__name__}: {f.size_in_bytes()} bytes")
    if hasattr(f, "size_breakdown"):
        info["breakdown"] = f.size_breakdown()
        info["worst_case_fpr"] = f.worst_case_bound_
        info["regions"] = list(f.regions_)
        for k, v in info["breakdown"].items():
            print(f"  {k}: {v} bytes")
        print(f"  worst-case FPR (any query set): {f.worst_case_bound_:.4g}")
        for r in f.regions_:
            print(f"  region score >= {r['low']:.4g}: {r['rule']}, fpr {r['fpr']:.3g}, {r['bytes']} bytes")
    else:
        info["expected_fpr"] = f.expected_fpr()
        print(f"  expected fpr {f.expected_fpr():.4g}")
    problem = write_json(args.json, info)
    return _fail(problem) if problem else 0


def _adapt(args: argparse.Namespace) -> int:
    from learnedsys._serialization import FormatError
    from learnedsys._validation import InvalidParameterError

    fps = _load_file(args.false_positives, "false-positives", args.ints)
    if isinstance(fps, str):
        return _fail(fps)
    keys = None
    if args.keys is not None:
        keys = _load_file(args.keys, "keys", args.ints)
        if isinstance(keys, str):
            return _fail(keys)
    if not args.filter.exists():
        return _fail(f"filter file {args.filter} does not exist")
    if (problem := check_json(args.json)) is not None:
        return _fail(problem)
    try:
        f = _open_filter(args.filter)
        if not hasattr(f, "adapt"):
            return _fail(f"{args.filter} holds a {type(f).__name__}, which cannot adapt; build a learned kind (plbf, sandwiched, lbf)")
        before = f.size_in_bytes()
        f.adapt(fps, keys=keys, max_growth=args.max_growth)
        f.save(args.filter)
    except (FormatError, InvalidParameterError) as exc:
        return _fail(str(exc).replace("'max_growth' parameter", "--max-growth option"))
    except OSError as exc:
        return _fail(f"cannot write {args.filter}: {exc}")
    print(f"adapted {args.filter}: {len(fps)} reported, {before} -> {f.size_in_bytes()} bytes")
    problem = write_json(args.json, {"filter": str(args.filter), "reported": len(fps), "bytes_before": before,
                                     "bytes_after": f.size_in_bytes()})
    return _fail(problem) if problem else 0
