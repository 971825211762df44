"""Two versions of the RMI's lookup kernels, timed in one process on the same models and queries.

    git show aa98db2~1:src/learnedsys/index/_kernels.py > /tmp/k_old.py
    cp src/learnedsys/index/_kernels.py /tmp/k_new.py
    python benchmarks/index/kernel_ab.py -n 20000000 old=/tmp/k_old.py new=/tmp/k_new.py

Each version is loaded as its own module; the model is fitted once by the installed package, and
every version's lookups run on its arrays, rounds interleaved (7 rounds, median and range in ns
per lookup). Checked against np.searchsorted. Modes: one at a time (A) and interleaved (B: the
serial kernel and the partitioned one); search_many is the per-key path that returns windows.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
import time
from types import ModuleType

import numpy as np

from learnedsys.bench.index import _queries, make_keys
from learnedsys.index import RMI
from learnedsys.index import _kernels as K


def _load(name: str, path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # numba's cache looks the module up by name
    spec.loader.exec_module(mod)
    return mod


def _fit_args(f: object, args: tuple) -> tuple:
    """``args`` cut to the parameters of the kernel ``f`` (older kernels take fewer)."""
    return args[: len(inspect.signature(f.py_func).parameters)]  # type: ignore[attr-defined]


def _ns(f: object, args: tuple, m: int) -> float:
    args = _fit_args(f, args)
    t = time.perf_counter()
    f(*args)  # type: ignore[operator]
    return (time.perf_counter() - t) / m * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20_000_000, help="keys per family")
    ap.add_argument("--queries", type=int, default=1_000_000)
    ap.add_argument("--families", default="lognormal,osm,fb", help="comma-separated key families")
    ap.add_argument("--leaf-search", default="auto", choices=["auto", "binary", "exponential"], help="the RMI's leaf_search")
    ap.add_argument("versions", nargs="+", help="name=path/to/_kernels.py")
    args = ap.parse_args()
    mods = {name: _load(f"kernels_{name}", path) for name, path in (v.split("=", 1) for v in args.versions)}
    for fam in args.families.split(","):
        keys = make_keys(fam, args.n, 0)
        q, _ = _queries(keys, args.queries, 1)
        ref = np.searchsorted(keys, q)
        for inter in (False, True):
            idx = RMI(interleave=inter, leaf_search=args.leaf_search).fit(keys)
            sfx = "_spline" if idx._spline else ""
            base = (idx._root_kind, idx.root_params_, idx.leaves_, idx.keys_, q, 0)
            # the batch kernels' fixed search width: passed to the versions whose kernels take it
            width = (K.fixed_width(idx.leaves_),)
            paths = {"serial": (f"lookup_serial{sfx}", (*base, inter, *width))}
            if inter:
                paths["partitioned"] = (f"lookup_partitioned{sfx}", (*base, max(1, keys.size // 4096), *width))
            else:
                paths["search_many"] = (f"search_many{sfx}", base)
            res: dict[str, list[float]] = {}
            for name, mod in mods.items():
                for path, (kernel, kargs) in paths.items():
                    out = getattr(mod, kernel)(*_fit_args(getattr(mod, kernel), kargs))
                    got = out[0] if isinstance(out, tuple) else out
                    if not np.array_equal(got, ref):
                        raise SystemExit(f"{name} {path}: wrong answers on {fam}")
            for _ in range(7):
                for name, mod in mods.items():
                    for path, (kernel, kargs) in paths.items():
                        res.setdefault(f"{name}/{path}", []).append(_ns(getattr(mod, kernel), kargs, q.size))
            mode = "B (interleaved)" if inter else "A (one at a time)"
            cells = " ".join(f"{k}={np.median(v):.1f} [{min(v):.1f}-{max(v):.1f}]" for k, v in res.items())
            print(f"{fam} mode {mode}, {'spline' if sfx else 'line'} leaves: {cells} ns", flush=True)


if __name__ == "__main__":
    main()
