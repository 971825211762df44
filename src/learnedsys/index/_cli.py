"""``learnedsys index build|lookup|info``: build a learned index over a .npy of sorted keys."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from learnedsys._output import add_json, check_json, write_json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("index", help="build and query a learned index (RMI) over sorted keys")
    sub = p.add_subparsers(dest="index_command", metavar="ACTION", required=True)

    b = sub.add_parser("build", help="fit an RMI to a .npy of sorted keys and save it")
    b.add_argument("keys", type=Path, help=".npy file of sorted keys (uint64, int64, float64, uint32, int32, float32)")
    b.add_argument("--out", "-o", type=Path, required=True, help="where to write the index")
    b.add_argument("--root", default="auto", help="root model: auto, linear, cubic, spline, nn (default auto)")
    b.add_argument("--leaves", default="auto", help="number of leaf models or 'auto' (default)")
    b.add_argument("--target", default="speed", choices=["speed", "space"], help="what auto-configuration optimises")
    b.add_argument("--max-bytes", type=int, default=None, help="size budget of the index (default 1%% of the keys)")
    add_json(b)
    b.set_defaults(func=_build)

    q = sub.add_parser("lookup", help="lower-bound positions of keys in a saved index")
    q.add_argument("index", type=Path, help="file written by 'learnedsys index build'")
    q.add_argument("queries", nargs="+", help="query values")
    add_json(q)
    q.set_defaults(func=_lookup)

    i = sub.add_parser("info", help="describe a saved index")
    i.add_argument("index", type=Path)
    add_json(i)
    i.set_defaults(func=_info)


def _fail(msg: str) -> int:
    print(f"learnedsys index: {msg}", file=sys.stderr)
    return 2


def _build(args: argparse.Namespace) -> int:
    import numpy as np

    from learnedsys.index import RMI

    if not args.keys.exists():
        return _fail(f"keys file {str(args.keys)!r} does not exist")
    try:
        keys = np.load(args.keys, allow_pickle=False)
    except (ValueError, OSError) as exc:
        return _fail(f"cannot read {str(args.keys)!r} as a .npy array: {exc}")
    leaves: int | str = args.leaves
    if leaves != "auto":
        try:
            leaves = int(leaves)
        except ValueError:
            return _fail(f"--leaves must be an int or 'auto'; got {args.leaves!r}")
    from learnedsys._atomic import PathError, check_output_path

    try:  # before the (long) fit: a bad --out is known now
        check_output_path(args.out, "--out")
    except PathError as exc:
        return _fail(str(exc))
    if (problem := check_json(args.json)) is not None:
        return _fail(problem)
    t0 = time.perf_counter()
    try:
        index = RMI(root=args.root, n_leaves=leaves, target=args.target, max_bytes=args.max_bytes).fit(keys)
    except (ValueError, TypeError) as exc:
        return _fail(str(exc))
    seconds = time.perf_counter() - t0
    try:
        index.save(args.out)
    except (PathError, OSError) as exc:
        return _fail(f"cannot write {str(args.out)!r}: {exc}")
    info = {**index.describe(), "build_seconds": round(seconds, 3), "path": str(args.out)}
    print(json.dumps(info, indent=1))
    problem = write_json(args.json, info)
    return _fail(problem) if problem else 0


def _load(path: Path):  # type: ignore[no-untyped-def]
    from learnedsys._atomic import PathError
    from learnedsys.index import FormatError, load

    if not path.exists():
        raise SystemExit(_fail(f"index file {str(path)!r} does not exist"))
    if path.is_dir():
        raise SystemExit(_fail(f"{str(path)!r} is a directory; give the file written by 'learnedsys index build --out'"))
    try:
        return load(path)
    except (FormatError, PathError) as exc:
        raise SystemExit(_fail(str(exc))) from None
    except OSError as exc:
        raise SystemExit(_fail(f"cannot read {str(path)!r}: {exc.strerror or exc}")) from None


def _lookup(args: argparse.Namespace) -> int:
    if (problem := check_json(args.json)) is not None:
        return _fail(problem)
    index = _load(args.index)
    dtype = index.keys_.dtype if hasattr(index, "keys_") else index._dtype
    try:  # Python ints, so 2**64 - 1 and beyond stay exact (numpy would read a mix as floats)
        q: list[float] | list[int] = (
            [float(v) for v in args.queries] if dtype.kind == "f" else [int(v) for v in args.queries]
        )
    except ValueError:
        return _fail(f"queries must be {'numbers' if dtype.kind == 'f' else 'integers'} for keys of dtype {dtype}; got {args.queries!r}")
    if dtype.kind == "f" and any(v != v for v in q):
        return _fail("queries must not be NaN")
    try:
        pos = index.lower_bound(q)
        hit = index.contains(q)
    except (ValueError, TypeError, OverflowError) as exc:
        return _fail(str(exc))
    rows = []
    for v, p, h in zip(args.queries, pos.tolist(), hit.tolist(), strict=True):
        print(f"{v}\t{p}\t{'found' if h else 'absent'}")
        rows.append({"query": v, "position": p, "found": bool(h)})
    problem = write_json(args.json, {"index": str(args.index), "lookups": rows})
    return _fail(problem) if problem else 0


def _info(args: argparse.Namespace) -> int:
    if (problem := check_json(args.json)) is not None:
        return _fail(problem)
    index = _load(args.index)
    if hasattr(index, "describe"):
        info = index.describe()
    else:
        info = {"kind": "DynamicIndex", "n": len(index), "size_bytes": index.size_in_bytes()}
    print(json.dumps(info, indent=1))
    problem = write_json(args.json, info)
    return _fail(problem) if problem else 0
