"""Bench section ``index``: the RMI against np.searchsorted, a numba binary search, a B+-tree,
PGM-index (pygm) and sortedcontainers, in one process on the same keys and queries."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from learnedsys.bench._harness import BenchContext, SectionResult, measure, measure_interleaved

PACKAGES = ("pygm", "sortedcontainers")

DATASETS = ("uniform", "normal", "lognormal", "weblog")


def make_keys(name: str, n: int, seed: int) -> np.ndarray:
    """Sorted uint64 keys of one of the generated distributions.

    - uniform: integers uniform in [0, 2**62)
    - normal: N(0, 1) scaled to integers in [0, 1e12]
    - lognormal: the paper's mu=0, sigma=2, scaled to integers up to 1e9 (many duplicates)
    - weblog: request timestamps in microseconds over a year, with a daily and weekly rhythm,
      a slow trend and bursts (traffic spikes of minutes to hours)
    """
    rng = np.random.default_rng([seed, DATASETS.index(name) if name in DATASETS else 99])
    if name == "uniform":
        keys = rng.integers(0, 1 << 62, n, dtype=np.uint64)
    elif name == "normal":
        x = rng.standard_normal(n)
        keys = ((x - x.min()) / (x.max() - x.min()) * 1e12).astype(np.uint64)
    elif name == "lognormal":
        x = rng.lognormal(0.0, 2.0, n)
        keys = (x / x.max() * 1e9).astype(np.uint64)
    elif name == "weblog":
        minutes = 365 * 24 * 60
        t = np.arange(minutes)
        day = 1.0 + 0.8 * np.sin(2 * np.pi * (t / 1440.0 - 0.3))
        week = np.where((t // 1440) % 7 >= 5, 0.6, 1.0)
        trend = 1.0 + t / minutes
        rate = day * week * trend
        for _ in range(300):  # bursts
            start = int(rng.integers(0, minutes))
            length = int(rng.integers(5, 600))
            rate[start : start + length] *= rng.uniform(2, 20)
        counts = rng.multinomial(n, rate / rate.sum())
        minute = np.repeat(np.arange(minutes, dtype=np.uint64), counts)
        offset = rng.integers(0, 60_000_000, n, dtype=np.uint64)
        keys = np.uint64(1_600_000_000_000_000) + minute * np.uint64(60_000_000) + offset
    else:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    keys.sort()
    return keys


def _queries(keys: np.ndarray, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(existing-key queries, mixed queries: half existing, half uniform in the key range)."""
    rng = np.random.default_rng([seed, 7])
    hit = keys[rng.integers(0, keys.shape[0], m)]
    lo, hi = int(keys[0]), int(keys[-1])
    miss = rng.integers(lo, hi + 1, m // 2, dtype=np.uint64) if hi > lo else np.full(m // 2, lo, np.uint64)
    mixed = np.concatenate([hit[: m - m // 2], miss.astype(keys.dtype)])
    rng.shuffle(mixed)
    return hit, mixed


class _Structure:
    """A named structure: build(keys) -> object with lookup(queries) and size_in_bytes()."""

    def __init__(self, name: str, build: Callable[[np.ndarray], Any], per_key: bool = False, max_n: int | None = None):
        self.name = name
        self.build = build
        self.per_key = per_key  # Python call per query: time a subset
        self.max_n = max_n


def _structures() -> list[_Structure]:
    from learnedsys.index import RMI, BinarySearch, BPlusTree

    class _Searchsorted:
        def __init__(self, keys: np.ndarray):
            self.keys = keys

        def lower_bound(self, q: np.ndarray) -> np.ndarray:
            return np.searchsorted(self.keys, q, "left")

        def size_in_bytes(self) -> int:
            return 0

    out = [
        _Structure("RMI (default)", lambda k: RMI().fit(k)),
        _Structure("RMI (<=200 kB)", lambda k: RMI(max_bytes=200_000).fit(k)),
        _Structure("np.searchsorted", _Searchsorted),
        _Structure("binary search (numba)", lambda k: BinarySearch().fit(k)),
        _Structure("B+-tree p128 (numba)", lambda k: BPlusTree(page=128).fit(k)),
    ]
    try:
        import pygm

        class _PGM:
            def __init__(self, keys: np.ndarray):
                self.sl = pygm.SortedList(keys, typecode="Q", epsilon=64)

            def lower_bound(self, q: np.ndarray) -> np.ndarray:
                f = self.sl.bisect_left
                return np.fromiter((f(int(x)) for x in q), dtype=np.int64, count=q.shape[0])

            def size_in_bytes(self) -> int:
                st = self.sl.stats()
                return int(st.get("index size") or 0) if isinstance(st, dict) else 0

        out.append(_Structure("PGM-index (pygm, eps 64)", _PGM, per_key=True))
    except ImportError:
        pass
    try:
        import sortedcontainers

        class _SC:
            def __init__(self, keys: np.ndarray):
                self.sl = sortedcontainers.SortedList(keys.tolist())

            def lower_bound(self, q: np.ndarray) -> np.ndarray:
                f = self.sl.bisect_left
                return np.fromiter((f(int(x)) for x in q), dtype=np.int64, count=q.shape[0])

            def size_in_bytes(self) -> int:
                return 0

        out.append(_Structure("sortedcontainers", _SC, per_key=True, max_n=2_000_000))
    except ImportError:
        pass
    return out


def run(ctx: BenchContext) -> SectionResult:

    quick = ctx.quick
    n = ctx.n if ctx.n is not None else (2_000_000 if quick else 100_000_000)
    m = 100_000 if quick else 1_000_000
    per_key_m = 20_000 if quick else 100_000
    result = SectionResult(
        name="index",
        title="Learned index: lookups over sorted uint64 keys",
        columns=[
            ("dataset", "dataset", ""),
            ("structure", "structure", ""),
            ("n", "keys", ",d"),
            ("ns_per_lookup", "ns/lookup (existing)", ".0f"),
            ("spread", "IQR/median", ".0%"),
            ("ns_per_lookup_mixed", "ns/lookup (50% absent)", ".0f"),
            ("size_bytes", "size (bytes)", ",d"),
            ("build_seconds", "build (s)", ".2f"),
            ("speedup_vs_searchsorted", "x searchsorted", ".1f"),
        ],
    )
    datasets: list[tuple[str, np.ndarray]] = []
    if ctx.keys_path is not None and ctx.keys_path.suffix == ".npy":
        from learnedsys.index._rmi import prepare_keys

        user = prepare_keys(np.load(ctx.keys_path, allow_pickle=False), owner="--keys")
        datasets.append((ctx.keys_path.stem, user))
    else:
        for name in DATASETS:
            t0 = time.perf_counter()
            datasets.append((name, make_keys(name, n, ctx.seed)))
            ctx.log(f"  generated {name}: {n:,} keys in {time.perf_counter() - t0:.1f} s")
    structures = _structures()
    curves: dict[str, list[tuple[int, float]]] = {}
    cdf_sample: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    with ctx.bar(len(datasets) * len(structures), "index") as bar:
        for dname, keys in datasets:
            _run_dataset(ctx, result, structures, dname, keys, m, per_key_m, bar, curves, cdf_sample)
    result.notes.append(
        f"{m:,} random lookups per dataset ({per_key_m:,} for per-key Python APIs: pygm, sortedcontainers); "
        f"median of {ctx.repeats} timed runs after a warm-up; answers checked against np.searchsorted"
    )
    result.notes.append(
        "size counts the structure beyond the sorted key array (RMI: root + leaves; B+-tree: inner "
        "nodes; binary search and searchsorted: none; pygm: its index)"
    )
    _ratios(result)
    if ctx.report_dir is not None:
        _plots(result, curves, cdf_sample, ctx.report_dir)
    return result


def _run_dataset(
    ctx: BenchContext,
    result: SectionResult,
    structures: list[_Structure],
    dname: str,
    keys: np.ndarray,
    m: int,
    per_key_m: int,
    bar: Any,
    curves: dict[str, list[tuple[int, float]]],
    cdf_sample: dict[str, Any],
) -> None:
    from learnedsys.index import RMI

    quick = ctx.quick
    hit, mixed = _queries(keys, m, ctx.seed)
    expect_hit = np.searchsorted(keys, hit)
    expect_mixed = np.searchsorted(keys, mixed)
    base_ns = None
    built: dict[str, tuple[_Structure, Any, float]] = {}
    for s in structures:
        bar.update()
        if s.max_n is not None and keys.shape[0] > s.max_n:
            continue
        t0 = time.perf_counter()
        obj = s.build(keys)
        built[s.name] = (s, obj, time.perf_counter() - t0)
    # all structures timed in interleaved rounds, so load that drifts hits them alike
    timings = {}
    for kind, (queries, expect) in {"hit": (hit, expect_hit), "mixed": (mixed, expect_mixed)}.items():
        fast = {k: partial(o.lower_bound, queries) for k, (s, o, _) in built.items() if not s.per_key}
        slow = {k: partial(o.lower_bound, queries[:per_key_m]) for k, (s, o, _) in built.items() if s.per_key}
        out = measure_interleaved(fast, repeats=ctx.repeats)
        out.update(measure_interleaved(slow, repeats=min(ctx.repeats, 3)))
        for k, (t, got) in out.items():
            if not np.array_equal(got, expect[: got.shape[0]]):
                raise AssertionError(f"{k} returned wrong positions on {dname} ({kind} queries)")
            timings[(k, kind)] = (t, got.shape[0])
    for name, (s, obj, build) in built.items():
        t_hit, m_hit = timings[(name, "hit")]
        t_mix, m_mix = timings[(name, "mixed")]
        ns = t_hit.median / m_hit * 1e9
        if s.name == "np.searchsorted":
            base_ns = ns
        rec: dict[str, Any] = {
            "dataset": dname,
            "structure": s.name,
            "n": int(keys.shape[0]),
            "ns_per_lookup": ns,
            "ns_p25": t_hit.p25 / m_hit * 1e9,
            "ns_p75": t_hit.p75 / m_hit * 1e9,
            "spread": t_hit.spread,
            "ns_per_lookup_mixed": t_mix.median / m_mix * 1e9,
            "size_bytes": int(obj.size_in_bytes()),
            "build_seconds": build,
            "queries": int(m_hit),
            "repeats": t_hit.repeats,
        }
        if isinstance(obj, RMI):
            d = obj.describe()
            rec["config"] = f"{d['root']} root, {d['n_leaves']} leaves, mean window {d.get('mean_window', 0):.0f}"
            if s.name == "RMI (default)":
                cdf_sample[dname] = _cdf_sample(obj, keys)
        result.records.append(rec)
        ctx.log(f"  {dname:10s} {s.name:26s} {ns:8.0f} ns  {rec['size_bytes']:>12,d} B  build {build:.2f} s")
    del built
    for rec in result.records:
        if rec["dataset"] == dname and base_ns:
            rec["speedup_vs_searchsorted"] = base_ns / rec["ns_per_lookup"]
    if not quick or len(curves) == 0:  # the quick run sweeps one dataset
        curves[dname] = _space_time_curve(keys, hit, expect_hit, ctx)


def _ratios(result: SectionResult) -> None:
    by = {(r["dataset"], r["structure"]): r for r in result.records}
    rows = []
    for d in sorted({r["dataset"] for r in result.records}):
        rmi = by.get((d, "RMI (default)"))
        if rmi is None:
            continue
        row: dict[str, Any] = {"dataset": d}
        for key, name in (
            ("vs_ss", "np.searchsorted"),
            ("vs_bs", "binary search (numba)"),
            ("vs_bt", "B+-tree p128 (numba)"),
            ("vs_pgm", "PGM-index (pygm, eps 64)"),
        ):
            other = by.get((d, name))
            row[key] = other["ns_per_lookup"] / rmi["ns_per_lookup"] if other else None
        row["size_pct"] = 100.0 * rmi["size_bytes"] / (rmi["n"] * 8) if rmi["n"] else None
        small = by.get((d, "RMI (<=200 kB)"))
        row["small_vs_best"] = small["ns_per_lookup"] / rmi["ns_per_lookup"] if small else None
        rows.append(row)
    result.tables.append(
        (
            "RMI (default) speed-up over each alternative (higher is better)",
            rows,
            [
                ("dataset", "dataset", ""),
                ("vs_ss", "x np.searchsorted", ".1f"),
                ("vs_bs", "x binary search", ".1f"),
                ("vs_bt", "x B+-tree", ".2f"),
                ("vs_pgm", "x pygm", ".1f"),
                ("size_pct", "size % of keys", ".3f"),
                ("small_vs_best", "<=200 kB RMI time / default", ".2f"),
            ],
        )
    )


def _space_time_curve(keys: np.ndarray, q: np.ndarray, expect: np.ndarray, ctx: BenchContext) -> list[tuple[int, float]]:
    """(size, ns) of RMIs over leaf counts: the space/time trade-off."""
    from learnedsys.index import RMI

    n = keys.shape[0]
    q = q[: min(q.shape[0], 200_000)]
    expect = expect[: q.shape[0]]
    pts = []
    top = int(math.log2(max(16, n // 4)))
    for k in range(6, min(top, 22) + 1, 2):
        idx = RMI(root="spline", n_leaves=1 << k).fit(keys)
        t, got = measure(partial(idx.lower_bound, q), repeats=3)
        if not np.array_equal(got, expect):
            raise AssertionError("RMI returned wrong positions in the space/time sweep")
        pts.append((idx.size_in_bytes(), t.median / q.shape[0] * 1e9))
    return pts


def _cdf_sample(index: Any, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from learnedsys.index import _kernels as K

    pick = np.linspace(0, keys.shape[0] - 1, 2000).astype(np.int64)
    x = keys[pick]
    root = K.root_eval_many(index._root_kind, index.root_params_, x.astype(np.float64))
    return x.astype(np.float64), pick.astype(np.float64), root * (keys.shape[0] / index.n_leaves_)


def _plots(result: SectionResult, curves: dict[str, list[tuple[int, float]]], cdf: dict[str, Any], outdir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for d, pts in curves.items():
        if pts:
            s, t = zip(*pts, strict=True)
            ax.plot(s, t, marker="o", label=f"RMI sweep, {d}")
    markers = {"B+-tree p128 (numba)": "s", "binary search (numba)": "x", "PGM-index (pygm, eps 64)": "^"}
    for r in result.records:
        if r["structure"] in markers and r["size_bytes"] > 0:
            ax.scatter([r["size_bytes"]], [r["ns_per_lookup"]], marker=markers[r["structure"]], color="k")
            ax.annotate(f"{r['structure'].split(' ')[0]} {r['dataset']}", (r["size_bytes"], r["ns_per_lookup"]), fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("index size (bytes)")
    ax.set_ylabel("ns per lookup (median)")
    ax.set_title("Space/time trade-off")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(outdir / "index_space_time.png", dpi=110)
    plt.close(fig)
    result.figures.append(("index_space_time.png", "Lookup time against index size: RMI over leaf counts, baselines as points"))

    if cdf:
        fig, axes = plt.subplots(1, len(cdf), figsize=(3.2 * len(cdf), 3.2))
        axes = np.atleast_1d(axes)
        for ax, (d, (x, y, pred)) in zip(axes, cdf.items(), strict=True):
            ax.plot(x, y, lw=2, label="keys (position)")
            ax.plot(x, pred, lw=1, ls="--", label="root model")
            ax.set_title(d, fontsize=9)
            if x.size and x.max() > 1e4 * max(1.0, float(np.median(x))) and x.min() >= 0:
                ax.set_xscale("symlog")  # heavily skewed keys (lognormal)
            ax.tick_params(labelsize=6)
        axes[0].legend(fontsize=7)
        fig.suptitle("Learned CDF: the root model against the keys' positions", fontsize=9)
        fig.tight_layout()
        fig.savefig(outdir / "index_cdf.png", dpi=110)
        plt.close(fig)
        result.figures.append(("index_cdf.png", "The root model's CDF against the keys"))
