"""Bench section ``index``: the RMI against its strongest peers, in three modes reported apart.

- **A, one lookup at a time** (latency): a plain loop, each query finished before the next, for
  everyone: the RMI without interleaving, a branch-free binary search, the Eytzinger layout, a
  read-only B-tree with 16-key nodes, PGM-index (eps 64), RadixSpline (eps 32, 18 radix bits),
  all numba kernels in the RMI's style (:mod:`learnedsys.index._peers`), and np.searchsorted on
  the batch as given (numpy's loop is one lookup at a time).
- **B, a batch of random queries** (throughput): the same structures with their cache misses
  overlapped: the comparison-based ones (binary search, Eytzinger, B-tree) 16 lookups in lockstep
  with look-ahead prefetch, the learned ones (RMI, PGM, RadixSpline) software-pipelined (each
  query's model lines and window prefetched a few queries ahead of its search), plus np.searchsorted on the sorted batch (argsort, search, scatter
  back, all timed).
- **C, one Python call per key**: ``RMI.lower_bound(x)`` against ``pygm.SortedList.bisect_left``,
  ``bisect.bisect_left`` on a list, ``np.searchsorted`` on a numpy scalar and
  ``sortedcontainers.SortedList.bisect_left``.

Seven key families (the four smooth ones and three hard ones: clustered Morton codes, fb-like ids,
bursty timestamps) or the user's ``--keys FILE.npy``; every structure's answers are checked
against ``np.searchsorted`` in every mode; all in one process on the same keys and queries,
timed in interleaved rounds with a warm-up, the median of the repeats reported with its spread.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import math
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from learnedsys._lazy import pyplot
from learnedsys.bench._harness import BenchContext, SectionResult, measure_interleaved

PACKAGES = ("pygm", "sortedcontainers")

SMOOTH = ("uniform", "normal", "lognormal", "weblog")
HARD = ("osm", "fb", "bursty")
DATASETS = SMOOTH + HARD

RMI_NAME = "RMI"
RMI_A = "RMI@A"  # the RMI fitted for mode A (interleave=False), reported as "RMI"
BS = "binary search"
EYT = "Eytzinger"
BTREE = "B-tree (16-key nodes)"
PGM = "PGM-index (eps 64)"
RS = "RadixSpline (eps 32, r 18)"
SS = "np.searchsorted"
SS_SORTED = "np.searchsorted (sorted batch)"
C_RMI = "RMI.lower_bound(int)"
C_RMI_NP = "RMI.lower_bound(numpy scalar)"
C_PYGM = "pygm.SortedList.bisect_left"
C_BISECT = "bisect.bisect_left (list)"
C_SS = "np.searchsorted (numpy scalar)"
C_SC = "sortedcontainers.SortedList.bisect_left"
TREES = (EYT, BTREE)
LEARNED = (PGM, RS)
MODES = {
    "A": "A: one lookup at a time (no interleaving for anyone)",
    "B": "B: batch of random queries (misses overlapped for every structure; sorting allowed)",
    "C": "C: one Python call per key",
}
_PYGM_TYPECODES = {"uint64": "Q", "int64": "q", "float64": "d", "uint32": "I", "int32": "i", "float32": "f"}


# -- key families ----------------------------------------------------------------------------------------


def _spread_bits(v: np.ndarray) -> np.ndarray:
    """The low 32 bits of each value spread to the even bit positions of a uint64."""
    x = v.astype(np.uint64) & np.uint64(0xFFFFFFFF)
    for shift, mask in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF), (4, 0x0F0F0F0F0F0F0F0F), (2, 0x3333333333333333), (1, 0x5555555555555555)):
        x = (x | (x << np.uint64(shift))) & np.uint64(mask)
    return x


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy 2.4's hash-based np.unique is many times slower on 20M keys)."""
    a = np.sort(a)
    if a.shape[0] < 2:
        return a
    return a[np.r_[True, a[1:] != a[:-1]]]


def _exactly(keys: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` of the sorted distinct ``keys`` (len >= n), dropping random ones."""
    extra = keys.shape[0] - n
    if extra > 0:
        keep = np.ones(keys.shape[0], dtype=bool)
        keep[rng.choice(keys.shape[0], extra, replace=False)] = False
        keys = keys[keep]
    return keys


def _osm(n: int, rng: np.random.Generator) -> np.ndarray:
    """Cell-id-like keys: 2-D points from a mixture of clusters (cities of Zipf-distributed size and
    spreads from ~100 m to ~300 km, some stretched along a road-like direction, plus 3% scattered
    points), quantized to 32 bits per coordinate and interleaved into a Morton (Z-order) code."""
    clusters = 3000
    w = 1.0 / np.arange(1, clusters + 1) ** 1.1
    w /= w.sum()
    lon_c = rng.uniform(-180, 180, clusters)
    lat_c = np.clip(rng.normal(30, 22, clusters), -80, 80)
    sigma = 10.0 ** rng.uniform(-3, 0.5, clusters)
    stretch = np.where(rng.random(clusters) < 0.3, 10.0 ** rng.uniform(0.5, 1.5, clusters), 1.0)
    angle = rng.uniform(0, np.pi, clusters)
    cos_a, sin_a = np.cos(angle), np.sin(angle)
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        m = int((n - have) * 1.05) + 64
        counts = rng.multinomial(m, w)
        u = rng.standard_normal(m) * np.repeat(sigma * stretch, counts)
        v = rng.standard_normal(m) * np.repeat(sigma, counts)
        ca, sa = np.repeat(cos_a, counts), np.repeat(sin_a, counts)
        lon = np.repeat(lon_c, counts) + u * ca - v * sa
        lat = np.repeat(lat_c, counts) + u * sa + v * ca
        bg = rng.random(m) < 0.03
        lon[bg] = rng.uniform(-180, 180, int(bg.sum()))
        lat[bg] = rng.uniform(-60, 75, int(bg.sum()))
        lon += 180.0
        lon *= 2**32 / 360.0
        lat += 90.0
        lat *= 2**32 / 180.0
        x = np.minimum(np.maximum(lon, 0.0, out=lon), 2**32 - 1, out=lon).astype(np.uint64)
        y = np.minimum(np.maximum(lat, 0.0, out=lat), 2**32 - 1, out=lat).astype(np.uint64)
        out.append(_spread_bits(x) | (_spread_bits(y) << np.uint64(1)))
        keys = _sorted_unique(np.concatenate(out))
        out = [keys]
        have = keys.shape[0]
    return _exactly(out[0], n, rng)


def _fb(n: int, rng: np.random.Generator) -> np.ndarray:
    """Id-like keys: dense runs (consecutive ids with small gaps) of heavy-tailed length separated
    by heavy-tailed gaps, and 0.01% outliers in the top quarter of the uint64 range."""
    runs = max(1, n // 20)
    cap = max(1, n // 10)
    length = np.minimum((rng.pareto(1.1, runs) * 4 + 1).astype(np.int64), cap)
    while length.sum() < n:
        length = np.concatenate([length, np.minimum((rng.pareto(1.1, runs) * 4 + 1).astype(np.int64), cap)])
    run_of = np.repeat(np.arange(length.shape[0]), length)[:n]
    first = np.r_[True, run_of[1:] != run_of[:-1]]
    gaps = rng.geometric(0.6, n).astype(np.uint64)  # inside a run: 1 (60%), 2, 3, ...
    big = np.minimum(rng.lognormal(np.log(3e5), 3.0, int(first.sum())), 1e12).astype(np.uint64)
    gaps[first] = big + np.uint64(1)
    keys = np.cumsum(gaps, dtype=np.uint64) + np.uint64(1_000_000)
    k = max(1, n // 10_000)
    if n > k + 1:
        tail = np.sort(rng.integers(np.uint64(3 << 62), np.iinfo(np.uint64).max, k, dtype=np.uint64, endpoint=True))
        keys[-k:] = tail
        keys = _sorted_unique(keys)
        while keys.shape[0] < n:  # collisions among the outliers: top up below them
            keys = _sorted_unique(np.r_[keys, keys[0] - np.uint64(1) - np.arange(n - keys.shape[0], dtype=np.uint64)])
    return keys


def _bursty(n: int, rng: np.random.Generator) -> np.ndarray:
    """Event timestamps in microseconds over 30 days: a daily rhythm, 500 bursts (rate x3 to x300
    for seconds to two hours; together about half the events) and 60 outages (no events for
    minutes to a day)."""
    seconds = 30 * 24 * 3600
    t = np.arange(seconds)
    rate = 1.0 + 0.7 * np.sin(2 * np.pi * (t / 86400.0 - 0.25))
    for _ in range(500):
        start = int(rng.integers(0, seconds))
        length = int(min(7200, rng.lognormal(np.log(60), 1.2)))
        rate[start : start + length] *= 10.0 ** rng.uniform(0.5, 2.5)
    for _ in range(60):
        start = int(rng.integers(0, seconds))
        length = int(min(86400, rng.lognormal(np.log(1800), 1.5)))
        rate[start : start + length] = 0.0
    counts = rng.multinomial(n, rate / rate.sum())
    sec = np.repeat(np.arange(seconds, dtype=np.uint64), counts)
    keys = np.uint64(1_700_000_000_000_000) + sec * np.uint64(1_000_000) + rng.integers(0, 1_000_000, n, dtype=np.uint64)
    keys.sort()
    return keys


def make_keys(name: str, n: int, seed: int) -> np.ndarray:
    """``n`` sorted uint64 keys of one of the generated families (seeded).

    - uniform: integers uniform in [0, 2**62)
    - normal: N(0, 1) scaled to integers in [0, 1e12]
    - lognormal: the paper's mu=0, sigma=2, scaled to integers up to 1e9 (many duplicates)
    - weblog: request timestamps in microseconds over a year, with a daily and weekly rhythm,
      a slow trend and bursts (traffic spikes of minutes to hours)
    - osm: clustered 2-D points as Morton codes (cell-id-like; distinct)
    - fb: ids in dense runs of heavy-tailed length with heavy-tailed gaps and a few huge outliers
    - bursty: timestamps with bursts and outages (duplicates inside bursts)
    """
    rng = np.random.default_rng([seed, DATASETS.index(name) if name in DATASETS else 99])
    if name == "uniform":
        keys = rng.integers(0, 1 << 62, n, dtype=np.uint64)
    elif name == "normal":
        x = rng.standard_normal(n)
        keys = ((x - x.min()) / (x.max() - x.min()) * 1e12).astype(np.uint64) if n else np.zeros(0, np.uint64)
    elif name == "lognormal":
        x = rng.lognormal(0.0, 2.0, n)
        keys = (x / x.max() * 1e9).astype(np.uint64) if n else np.zeros(0, np.uint64)
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
    elif name == "osm":
        keys = _osm(n, rng) if n else np.zeros(0, np.uint64)
    elif name == "fb":
        keys = _fb(n, rng) if n else np.zeros(0, np.uint64)
    elif name == "bursty":
        keys = _bursty(n, rng)
    else:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    keys.sort()
    return keys


def _queries(keys: np.ndarray, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(existing-key queries, mixed queries: half existing, half uniform in the key range)."""
    rng = np.random.default_rng([seed, 7])
    n = keys.shape[0]
    hit = keys[rng.integers(0, n, m)]
    if keys.dtype.kind == "f":
        fin = keys[np.isfinite(keys)]
        lo, hi = (float(fin[0]), float(fin[-1])) if fin.size else (0.0, 0.0)
        miss = rng.uniform(lo, hi, m // 2).astype(keys.dtype)
    else:
        miss = rng.integers(keys[0], keys[-1], m // 2, dtype=keys.dtype, endpoint=True)
    mixed = np.concatenate([hit[: m - m // 2], miss])
    rng.shuffle(mixed)
    return hit, mixed


# -- the structures of each mode ----------------------------------------------------------------------


def _rmi_serial(index: Any) -> tuple[Callable[[np.ndarray], Any] | None, str]:
    """Mode A for the RMI: ``lower_bound_serial`` when the RMI has one, else a shallow copy of the
    fitted index with interleaving off (the same kernel one query at a time)."""
    f = getattr(index, "lower_bound_serial", None)
    if callable(f):
        return f, "RMI.lower_bound_serial"
    if hasattr(index, "interleave"):
        c = copy.copy(index)
        c.interleave = False
        c.parallel = False
        return c.lower_bound, "RMI.lower_bound on a copy of the fitted index with interleave=False"
    return None, "the RMI offers no one-at-a-time lookup: skipped in mode A"


def _searchsorted_sorted(keys: np.ndarray, q: np.ndarray) -> np.ndarray:
    order = np.argsort(q)
    out = np.empty(q.shape[0], dtype=np.int64)
    out[order] = np.searchsorted(keys, q[order], "left")
    return out


class _Built:
    """Every structure of one key set, with its build time and size."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.build_s: dict[str, float] = {}
        self.size: dict[str, int] = {}
        self.config: dict[str, str] = {}
        self.notes: list[str] = []


def _build_all(keys: np.ndarray, with_c: bool, max_list_n: int) -> _Built:
    from learnedsys.index import RMI
    from learnedsys.index._baselines import BinarySearch, BTree, Eytzinger, PGMIndex, RadixSpline

    b = _Built()
    def rmi_serial_fit(k: np.ndarray) -> Any:
        try:  # configured for one-at-a-time lookups (its auto-configuration times that mode)
            return RMI(interleave=False).fit(k)
        except TypeError:
            return RMI().fit(k)

    makers: dict[str, Callable[[np.ndarray], Any]] = {
        RMI_NAME: lambda k: RMI().fit(k),
        RMI_A: rmi_serial_fit,
        BS: BinarySearch,
        EYT: Eytzinger,
        BTREE: BTree,
        PGM: lambda k: PGMIndex(k, eps=64),
        RS: lambda k: RadixSpline(k, eps=32, radix_bits=18),
    }
    small = keys[:: max(1, keys.shape[0] // 4096)]
    from learnedsys.index import _kernels

    _kernels.warm_lookups(keys.dtype)  # the spline-leaf kernels a fit on ``small`` never reaches
    for name, make in makers.items():
        w = make(small)  # numba compiles on first use: keep it out of the build time
        for f in (getattr(w, "lower_bound", None), getattr(w, "lower_bound_serial", None)):
            if f is not None:
                f(small[:32])
        t0 = time.perf_counter()
        obj = make(keys)
        b.build_s[name] = time.perf_counter() - t0
        b.objects[name] = obj
        b.size[name] = int(obj.size_in_bytes())
    for name in (RMI_NAME, RMI_A):
        rmi = b.objects[name]
        try:
            d = rmi.describe()
            win = f", mean window {d['mean_window']:.0f}" if "mean_window" in d else ""
            b.config[name] = f"{d['root']} root, {d['n_leaves']} leaves, {d.get('leaf_search', 'binary')} leaf search{win}"
        except Exception:  # the RMI's describe() is the lead's to change
            b.config[name] = repr(rmi)
    pgm = b.objects[PGM]
    b.config[PGM] = f"{pgm.n_segments_} segments, {pgm.height_} levels"
    rs = b.objects[RS]
    b.config[RS] = f"{rs.sx_.shape[0]} spline points, radix table {rs.table_.shape[0]}"
    b.config[BTREE] = f"{len(b.objects[BTREE].real_)} inner levels"
    b.size[SS] = b.size[SS_SORTED] = 0
    b.build_s[SS] = b.build_s[SS_SORTED] = 0.0
    if not with_c:
        return b
    n = keys.shape[0]
    try:
        import pygm

        t0 = time.perf_counter()
        sl = pygm.SortedList(keys, typecode=_PYGM_TYPECODES[str(keys.dtype)], epsilon=64)
        b.build_s[C_PYGM] = time.perf_counter() - t0
        b.objects[C_PYGM] = sl
        st = sl.stats()
        b.size[C_PYGM] = int(st.get("index size") or 0) if isinstance(st, dict) else 0
        b.config[C_PYGM] = "epsilon 64"
    except ImportError:
        b.notes.append("pygm is not installed: its mode C row is missing (pip install 'learnedsys[bench]')")
    if n <= max_list_n:
        t0 = time.perf_counter()
        lst = keys.tolist()
        b.build_s[C_BISECT] = time.perf_counter() - t0
        b.objects[C_BISECT] = lst
        b.size[C_BISECT] = 0
        try:
            import sortedcontainers

            t0 = time.perf_counter()
            b.objects[C_SC] = sortedcontainers.SortedList(lst)
            b.build_s[C_SC] = time.perf_counter() - t0 + b.build_s[C_BISECT]
            b.size[C_SC] = 0
        except ImportError:
            b.notes.append("sortedcontainers is not installed: its mode C row is missing")
    else:
        b.notes.append(f"bisect and sortedcontainers skipped above {max_list_n:,} keys (a Python list of the keys)")
    for name in (C_RMI, C_RMI_NP):  # mode C calls the index configured for one-at-a-time lookups
        b.build_s[name] = b.build_s[RMI_A]
        b.size[name] = b.size[RMI_A]
    b.build_s[C_SS] = 0.0
    b.size[C_SS] = 0
    return b


def _mode_fns(mode: str, b: _Built, keys: np.ndarray, q: np.ndarray) -> dict[str, Callable[[], Any]]:
    o = b.objects
    if mode == "A":
        fns: dict[str, Callable[[], Any]] = {}
        serial, _ = _rmi_serial(o[RMI_A])
        if serial is not None:
            fns[RMI_NAME] = partial(serial, q)
        for name in (BS, EYT, BTREE, PGM, RS):
            fns[name] = partial(o[name].lower_bound_serial, q)
        fns[SS] = partial(np.searchsorted, keys, q, "left")
        return fns
    if mode == "B":
        fns = {name: partial(o[name].lower_bound, q) for name in (RMI_NAME, BS, EYT, BTREE, PGM, RS)}
        fns[SS_SORTED] = partial(_searchsorted_sorted, keys, q)
        return fns
    # mode C: one Python call per key, the values as a user holds them
    ints = q.tolist()
    scalars = list(q)

    def loop(f: Callable[[Any], Any], xs: list[Any]) -> np.ndarray:
        return np.array([f(x) for x in xs], dtype=np.int64)

    # the RMI configured for one-at-a-time lookups (interleave=False: its configuration was timed
    # in that mode), as a user who calls it one key at a time would fit it
    rmi = o[RMI_A]
    fns = {C_RMI: partial(loop, rmi.lower_bound, ints), C_RMI_NP: partial(loop, rmi.lower_bound, scalars)}
    if C_PYGM in o:
        fns[C_PYGM] = partial(loop, o[C_PYGM].bisect_left, ints)
    if C_BISECT in o:
        fns[C_BISECT] = partial(loop, partial(bisect.bisect_left, o[C_BISECT]), ints)
    fns[C_SS] = partial(loop, partial(np.searchsorted, keys), scalars)
    if C_SC in o:
        fns[C_SC] = partial(loop, o[C_SC].bisect_left, ints)
    return fns


# -- the section ------------------------------------------------------------------------------------------


def run(ctx: BenchContext) -> SectionResult:
    quick = ctx.quick
    n = ctx.n if ctx.n is not None else (1_000_000 if quick else 20_000_000)
    m = int(ctx.options.get("index_queries", 50_000 if quick else 1_000_000))  # modes A and B (existing keys)
    m_mixed = max(1, m // 4)  # mixed queries (50% absent)
    m_c = min(m, 5_000 if quick else 50_000)  # mode C: one Python call each
    m_sweep = min(m, 20_000 if quick else 100_000)
    result = SectionResult(
        name="index",
        title="Learned index: the RMI against its strongest peers, three modes",
        columns=[
            ("dataset", "dataset", ""),
            ("mode", "mode", ""),
            ("structure", "structure", ""),
            ("ns_per_lookup", "ns/lookup (existing)", ".0f"),
            ("spread", "IQR/median", ".0%"),
            ("ns_per_lookup_mixed", "ns/lookup (50% absent)", ".0f"),
            ("size_bytes", "size (bytes)", ",d"),
            ("build_seconds", "build (s)", ".2f"),
            ("rmi_speedup", "RMI speed-up (same mode)", ".2f"),
        ],
    )
    names: list[str]
    user: np.ndarray | None = None
    if ctx.keys_path is not None and ctx.keys_path.suffix == ".npy":
        from learnedsys.index._rmi import prepare_keys

        user = prepare_keys(np.load(ctx.keys_path, allow_pickle=False), owner="--keys")
        names = [ctx.keys_path.stem]
    else:
        names = list(DATASETS)
    curves: dict[str, dict[str, list[tuple[int, float]]]] = {}
    cdf_sample: dict[str, Any] = {}
    rmi_note = ""
    extra_notes: set[str] = set()
    with ctx.bar(len(names), "index") as bar:
        for dname in names:
            if user is not None:
                keys = user
            else:
                t0 = time.perf_counter()
                keys = make_keys(dname, n, ctx.seed)
                ctx.log(f"  generated {dname}: {n:,} keys in {time.perf_counter() - t0:.1f} s")
            if keys.shape[0] == 0:
                result.notes.append(f"{dname}: no keys, nothing to measure")
                bar.update()
                continue
            b = _build_all(keys, with_c=True, max_list_n=50_000_000)
            extra_notes.update(b.notes)
            rmi_note = _rmi_serial(b.objects[RMI_A])[1] + (" (fitted with interleave=False)" if not getattr(b.objects[RMI_A], "interleave", True) else "")
            _run_dataset(ctx, result, b, dname, keys, m, m_mixed, m_c)
            if not quick or not curves:  # the quick run sweeps one dataset
                curves[dname] = _space_time(keys, b, m_sweep, ctx)
            with contextlib.suppress(Exception):  # the RMI's internals are the lead's to change
                cdf_sample[dname] = _cdf_sample(b.objects.get(RMI_A, b.objects[RMI_NAME]), keys)  # mode A's RMI
            del b
            bar.update()
    reps_c = min(ctx.repeats, 3)
    result.notes += [
        f"mode A: {m:,} random existing-key queries and {m_mixed:,} mixed ones (half absent, uniform in the key range) per data set; "
        f"RMI in mode A: {rmi_note}; np.searchsorted in mode A is numpy's loop over the batch as given (one lookup at a time)",
        "mode B: the same queries; binary search, Eytzinger and the B-tree run 16 lookups in lockstep (each descent is a chain of "
        "dependent loads); the RMI, PGM and RadixSpline run the same software pipeline (model lines, then the window's lines, "
        "prefetched a few queries ahead of the search); "
        "np.searchsorted (sorted batch) = argsort, search the sorted batch, scatter back, all timed",
        f"mode C: {m_c:,} existing keys, one Python call each ({reps_c} timed runs): Python ints for the RMI, pygm, bisect and "
        "sortedcontainers, numpy scalars of the keys' dtype where named; the RMI is mode A's (fitted with interleave=False, "
        "configured by timing one-at-a-time lookups), as a caller with one key at a time would fit it",
        f"median of {ctx.repeats} timed runs after a warm-up, all structures of a mode in interleaved rounds; every answer "
        "checked against np.searchsorted; build times after numba's first compile (on a small sample)",
        "size counts the structure beyond the sorted key array (RMI: root + leaves; B-tree: inner nodes; PGM: 24-byte segments; "
        "RadixSpline: spline points + radix table; Eytzinger: its re-laid copy of the keys; binary search and searchsorted: none; pygm: its index)",
        "prefetching: Eytzinger prefetches the node 4 levels down (its layout's design); the RMI, PGM and RadixSpline prefetch "
        "every line of their search window (up to 512 keys) in both modes; binary search and the B-tree do not prefetch",
        "sorting in mode B: the RMI's lower_bound may partition a large batch by its own model before the lookups; for the peers, "
        "sorting is represented by np.searchsorted (sorted batch): an argsort of 1M uint64 queries alone costs about 60-100 ns per "
        "query here, more than the batch Eytzinger lookup, so sorted variants of the other peers are not run",
        *sorted(extra_notes),
    ]
    _summaries(result)
    sweep_rows = [
        {"dataset": d, "structure": name, "size_bytes": size, "ns": ns}
        for d, lines in curves.items()
        for name, pts in lines.items()
        for size, ns in sorted(pts)
    ]
    if sweep_rows:
        result.tables.append(
            (
                f"Space/time sweep in mode A ({m_sweep:,} existing keys): the RMI (spline root) over leaf counts, PGM over eps 16-128, RadixSpline over eps 8-128",
                sweep_rows,
                [("dataset", "dataset", ""), ("structure", "structure", ""), ("size_bytes", "size (bytes)", ",d"), ("ns", "ns/lookup", ".0f")],
            )
        )
    if ctx.report_dir is not None:
        _plots(result, curves, cdf_sample, ctx.report_dir)
    return result


def _run_dataset(
    ctx: BenchContext, result: SectionResult, b: _Built, dname: str, keys: np.ndarray, m: int, m_mixed: int, m_c: int
) -> None:
    hit, mixed = _queries(keys, m, ctx.seed)
    mixed = mixed[:m_mixed]
    n = int(keys.shape[0])
    for mode in ("A", "B", "C"):
        timings: dict[tuple[str, str], tuple[Any, int]] = {}
        sets = {"hit": hit[:m_c]} if mode == "C" else {"hit": hit, "mixed": mixed}
        reps = min(ctx.repeats, 3) if mode == "C" else ctx.repeats
        for kind, q in sets.items():
            expect = np.searchsorted(keys, q, "left")
            out = measure_interleaved(_mode_fns(mode, b, keys, q), repeats=reps)
            for name, (t, got) in out.items():
                if not np.array_equal(np.asarray(got).reshape(-1), expect):
                    raise AssertionError(f"{name} returned wrong positions on {dname} ({kind} queries, mode {mode})")
                timings[(name, kind)] = (t, q.shape[0])
        for name in dict.fromkeys(k for k, _ in timings):
            t_hit, m_hit = timings[(name, "hit")]
            own = RMI_A if (mode == "A" and name == RMI_NAME) else name
            rec: dict[str, Any] = {
                "dataset": dname,
                "mode": mode,
                "structure": name,
                "n": n,
                "ns_per_lookup": t_hit.median / m_hit * 1e9,
                "ns_p25": t_hit.p25 / m_hit * 1e9,
                "ns_p75": t_hit.p75 / m_hit * 1e9,
                "spread": t_hit.spread,
                "size_bytes": int(b.size.get(own, 0)),
                "build_seconds": float(b.build_s.get(own, 0.0)),
                "queries": int(m_hit),
                "repeats": t_hit.repeats,
            }
            if (name, "mixed") in timings:
                t_mix, m_mix = timings[(name, "mixed")]
                rec["ns_per_lookup_mixed"] = t_mix.median / m_mix * 1e9
                rec["queries_mixed"] = int(m_mix)
            cfg = b.config.get(RMI_A if name in (C_RMI, C_RMI_NP) else own)
            if cfg:
                rec["config"] = cfg
            result.records.append(rec)
            ctx.log(f"  {dname:10s} {mode} {name:40s} {rec['ns_per_lookup']:9.0f} ns  {rec['size_bytes']:>12,d} B  build {rec['build_seconds']:.2f} s")
        rmi_name = C_RMI if mode == "C" else RMI_NAME
        rmi = next((r for r in result.records if r["dataset"] == dname and r["mode"] == mode and r["structure"] == rmi_name), None)
        for r in result.records:
            if rmi is not None and r["dataset"] == dname and r["mode"] == mode:
                r["rmi_speedup"] = r["ns_per_lookup"] / rmi["ns_per_lookup"]


# -- summaries: who wins, ratios, the goals ----------------------------------------------------------


def _summaries(result: SectionResult) -> None:
    recs = result.records
    datasets = list(dict.fromkeys(r["dataset"] for r in recs))
    by = {(r["dataset"], r["mode"], r["structure"]): r for r in recs}

    def ns(d: str, mode: str, s: str) -> float | None:
        r = by.get((d, mode, s))
        return None if r is None else float(r["ns_per_lookup"])

    def ratio(d: str, mode: str, peer: str, rmi: str = RMI_NAME) -> float | None:
        a, b = ns(d, mode, peer), ns(d, mode, rmi)
        return None if a is None or b is None else a / b

    for mode, rmi_name, unit, scale in (("A", RMI_NAME, "ns", 1.0), ("B", RMI_NAME, "ns", 1.0), ("C", C_RMI, "µs", 1e-3)):
        structs = list(dict.fromkeys(r["structure"] for r in recs if r["mode"] == mode))
        if not structs:
            continue
        rows = []
        for d in datasets:
            row: dict[str, Any] = {"dataset": d}
            cand = {}
            for s in structs:
                v = ns(d, mode, s)
                row[s] = None if v is None else v * scale
                if v is not None:
                    cand[s] = v
            if cand:
                win = min(cand, key=lambda s: cand[s])
                row["winner"] = win
                peers = {s: v for s, v in cand.items() if s not in (RMI_NAME, C_RMI, C_RMI_NP)}
                if peers and rmi_name in cand:
                    best = min(peers, key=lambda s: peers[s])
                    row["vs_best"] = f"{peers[best] / cand[rmi_name]:.2f}x ({best})"
            rows.append(row)
        cols = [("dataset", "dataset", "")] + [(s, s, ".2f" if unit == "µs" else ".0f") for s in structs]
        cols += [("winner", "fastest", ""), ("vs_best", "RMI speed-up over the best peer", "")]
        result.tables.append((f"Mode {MODES[mode]}: {unit} per lookup of an existing key (median)", rows, cols))

    # RMI speed-up over each peer, named by peer and mode
    rows = []
    for d in datasets:
        row = {"dataset": d}
        for peer in (BS, EYT, BTREE, PGM, RS, SS):
            row[f"A {peer}"] = ratio(d, "A", peer)
        for peer in (BS, EYT, BTREE, PGM, RS, SS_SORTED):
            row[f"B {peer}"] = ratio(d, "B", peer)
        for peer in (C_PYGM, C_BISECT, C_SS, C_SC):
            row[f"C {peer}"] = ratio(d, "C", peer, C_RMI)
        rows.append(row)
    cols = [("dataset", "dataset", "")]
    cols += [(f"A {p}", f"A: x {p}", ".2f") for p in (BS, EYT, BTREE, PGM, RS, SS)]
    cols += [(f"B {p}", f"B: x {p}", ".2f") for p in (BS, EYT, BTREE, PGM, RS, SS_SORTED)]
    cols += [(f"C {p}", f"C: x {p}", ".2f") for p in (C_PYGM, C_BISECT, C_SS, C_SC)]
    result.tables.append(("RMI speed-up over each peer (peer time / RMI time in the same mode; > 1: the RMI is faster)", rows, cols))

    # the goals of issue 18
    rows = []
    missed: list[str] = []
    for d in datasets:
        row = {"dataset": d}
        checks: list[tuple[str, float | None, float, bool]] = []
        row["a_bs"] = ratio(d, "A", BS)
        checks.append(("A x binary search >= 2.5", row["a_bs"], 2.5, True))
        trees = [ns(d, "A", s) for s in TREES]
        learned = [ns(d, "A", s) for s in LEARNED]
        rmi_a = ns(d, "A", RMI_NAME)
        row["a_tree"] = min(t for t in trees if t is not None) / rmi_a if rmi_a and any(t is not None for t in trees) else None
        checks.append(("A x best of Eytzinger/B-tree >= 1.5", row["a_tree"], 1.5, True))
        row["a_learned"] = min(t for t in learned if t is not None) / rmi_a if rmi_a and any(t is not None for t in learned) else None
        checks.append(("A x better of PGM/RadixSpline >= 1.2", row["a_learned"], 1.2, True))
        rmi_b = ns(d, "B", RMI_NAME)
        batch_peers = [ns(d, "B", s) for s in (BS, EYT, BTREE, PGM, RS, SS_SORTED)]
        row["b_best"] = min(t for t in batch_peers if t is not None) / rmi_b if rmi_b and any(t is not None for t in batch_peers) else None
        checks.append(("B x best batch peer >= 1.5", row["b_best"], 1.5, True))
        c = ns(d, "C", C_RMI)
        row["c_us"] = None if c is None else c / 1000.0
        checks.append(("C <= 1.5 µs per call", row["c_us"], 1.5, False))
        row["c_pygm"] = ratio(d, "C", C_PYGM, C_RMI)
        checks.append(("C x pygm >= 1", row["c_pygm"], 1.0, True))
        r = by.get((d, "B", RMI_NAME)) or by.get((d, "A", RMI_NAME))  # the default RMI
        row["size_pct"] = 100.0 * r["size_bytes"] / (r["n"] * 8) if r and r["n"] else None
        checks.append(("size <= 1% of the keys", row["size_pct"], 1.0, False))
        row["build"] = r["build_seconds"] if r else None
        if r and r["n"] >= 20_000_000:
            checks.append(("build <= 3 s at 20M", row["build"], 3.0, False))
        met = 0
        miss_here: list[str] = []
        for label, v, goal, higher in checks:
            ok = v is not None and (v >= goal if higher else v <= goal)
            met += ok
            if not ok and v is not None:
                miss_here.append(f"{label.split(' >=')[0].split(' <=')[0]} {v:.2f}")
        row["met"] = f"{met}/{len(checks)}"
        if miss_here:
            missed.append(f"{d} ({', '.join(miss_here)})")
        rows.append(row)
    result.tables.append(
        (
            "Issue 18 goals (RMI vs peers; met when A x BS >= 2.5, A x tree >= 1.5, A x learned >= 1.2, B >= 1.5, C <= 1.5 µs and >= pygm, size <= 1%, build <= 3 s at 20M)",
            rows,
            [
                ("dataset", "dataset", ""),
                ("a_bs", "A: x binary search", ".2f"),
                ("a_tree", "A: x best tree", ".2f"),
                ("a_learned", "A: x best PGM/RS", ".2f"),
                ("b_best", "B: x best batch peer", ".2f"),
                ("c_us", "C: µs/call", ".2f"),
                ("c_pygm", "C: x pygm", ".2f"),
                ("size_pct", "size % of keys", ".3f"),
                ("build", "build (s)", ".2f"),
                ("met", "goals met", ""),
            ],
        )
    )
    if missed:
        result.notes.append("issue 18 goals missed (measured value): " + "; ".join(missed))


# -- space/time sweep, CDF sample, plots ------------------------------------------------------------------


def _space_time(keys: np.ndarray, b: _Built, m: int, ctx: BenchContext) -> dict[str, list[tuple[int, float]]]:
    """(size, ns) in mode A: the RMI over leaf counts, PGM over eps, RadixSpline over eps."""
    from learnedsys.index import RMI
    from learnedsys.index._baselines import PGMIndex, RadixSpline

    n = keys.shape[0]
    q = keys[np.random.default_rng([ctx.seed, 11]).integers(0, n, m)]
    expect = np.searchsorted(keys, q)
    reps = min(ctx.repeats, 3)
    fns: dict[tuple[str, int], tuple[Callable[[], Any], int]] = {}
    top = int(math.log2(max(16, n // 4)))
    for k in range(8, min(top, 22) + 1, 3):
        try:
            idx = RMI(root="spline", n_leaves=1 << k).fit(keys)
        except Exception:  # the RMI's parameters are the lead's to change
            break
        fn, _ = _rmi_serial(idx)
        if fn is not None:
            fns[("RMI", k)] = (partial(fn, q), idx.size_in_bytes())
    for eps in (16, 32, 64, 128):
        p = b.objects[PGM] if eps == 64 else PGMIndex(keys, eps=eps)
        fns[("PGM-index", eps)] = (partial(p.lower_bound_serial, q), p.size_in_bytes())
    for eps in (8, 32, 128):
        r = b.objects[RS] if eps == 32 else RadixSpline(keys, eps=eps)
        fns[("RadixSpline", eps)] = (partial(r.lower_bound_serial, q), r.size_in_bytes())
    # timed in interleaved rounds, so that load drifting during the sweep bends no curve
    timed = measure_interleaved({f"{a} {b_}": f for (a, b_), (f, _) in fns.items()}, repeats=reps)
    out: dict[str, list[tuple[int, float]]] = {"RMI": [], "PGM-index": [], "RadixSpline": []}
    for (name, param), (_, size) in fns.items():
        t, got = timed[f"{name} {param}"]
        if not np.array_equal(got, expect):
            raise AssertionError(f"{name} ({param}) returned wrong positions in the space/time sweep")
        out[name].append((size, t.median / m * 1e9))
    return out


def _cdf_sample(index: Any, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """2000 keys against their positions, the root's prediction scaled to positions (None when
    the index has one leaf: then no root model routes anything) and a label of the configuration."""
    from learnedsys.index import _kernels as K

    pick = np.linspace(0, keys.shape[0] - 1, 2000).astype(np.int64)
    x = keys[pick]
    if index.n_leaves_ <= 1:
        return x.astype(np.float64), pick.astype(np.float64), None, "one leaf: no root model, a search over all keys"
    root = K.root_eval_many(index._root_kind, index.root_params_, x.astype(np.float64))
    label = f"{index.root_} root, {index.n_leaves_:,} leaves"
    return x.astype(np.float64), pick.astype(np.float64), root * (keys.shape[0] / index.n_leaves_), label


def _grid(k: int) -> tuple[int, int]:
    cols = min(4, max(1, k))
    return (k + cols - 1) // cols, cols


def _plots(result: SectionResult, curves: dict[str, dict[str, list[tuple[int, float]]]], cdf: dict[str, Any], outdir: Path) -> None:
    plt = pyplot(extra="bench", purpose="the bench report")

    recs = result.records
    datasets = list(dict.fromkeys(r["dataset"] for r in recs))
    by = {(r["dataset"], r["mode"], r["structure"]): r for r in recs}

    # modes A and B: one panel per data set, one bar pair per structure
    structs = [RMI_NAME, BS, EYT, BTREE, PGM, RS, SS, SS_SORTED]
    rows, cols = _grid(len(datasets))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, d in zip(axes.flat, datasets, strict=False):
        y = np.arange(len(structs))
        for off, mode, color in ((-0.2, "A", "tab:blue"), (0.2, "B", "tab:orange")):
            vals = [by[(d, mode, s)]["ns_per_lookup"] if (d, mode, s) in by else np.nan for s in structs]
            ax.barh(y + off, vals, height=0.4, color=color, label=f"mode {mode}")
        ax.set_yticks(y)
        ax.set_yticklabels(structs, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("ns per lookup (median)", fontsize=8)
        ax.set_title(d, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(datasets) :]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Modes A (one at a time) and B (batch, misses overlapped): existing keys", fontsize=10)
    fig.tight_layout()
    fig.savefig(outdir / "index_modes.png", dpi=110)
    plt.close(fig)
    result.figures.append(("index_modes.png", "ns per lookup in modes A and B, one panel per data set (lower is better)"))

    # mode C
    c_structs = [C_RMI, C_RMI_NP, C_PYGM, C_BISECT, C_SS, C_SC]
    if any(r["mode"] == "C" for r in recs):
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
        for ax, d in zip(axes.flat, datasets, strict=False):
            vals = [by[(d, "C", s)]["ns_per_lookup"] / 1000 if (d, "C", s) in by else np.nan for s in c_structs]
            ax.barh(np.arange(len(c_structs)), vals, color="tab:green")
            ax.set_yticks(np.arange(len(c_structs)))
            ax.set_yticklabels(c_structs, fontsize=7)
            ax.invert_yaxis()
            ax.set_xlabel("µs per Python call (median)", fontsize=8)
            ax.set_title(d, fontsize=9)
            ax.tick_params(axis="x", labelsize=7)
        for ax in list(axes.flat)[len(datasets) :]:
            ax.axis("off")
        fig.suptitle("Mode C: one Python call per key (lower is better)", fontsize=10)
        fig.tight_layout()
        fig.savefig(outdir / "index_mode_c.png", dpi=110)
        plt.close(fig)
        result.figures.append(("index_mode_c.png", "µs per Python call in mode C, one panel per data set"))

    # space/time in mode A: one panel per swept data set
    if curves:
        rows, cols = _grid(len(curves))
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
        styles = {"RMI": ("tab:red", "o"), "PGM-index": ("tab:purple", "^"), "RadixSpline": ("tab:brown", "v")}
        for ax, (d, lines) in zip(axes.flat, curves.items(), strict=False):
            for name, pts in lines.items():
                if pts:
                    s, t = zip(*sorted(pts), strict=True)
                    color, marker = styles[name]
                    ax.plot(s, t, marker=marker, color=color, label=name, lw=1.2, ms=4)
            for name, marker in ((BTREE, "s"), (EYT, "D")):
                r = by.get((d, "A", name))
                if r and r["size_bytes"] > 0:
                    ax.scatter([r["size_bytes"]], [r["ns_per_lookup"]], marker=marker, color="k", label=name, zorder=3)
            r = by.get((d, "A", BS))
            if r:
                ax.axhline(r["ns_per_lookup"], color="grey", ls="--", lw=1, label=f"{BS} (no index)")
            ax.set_xscale("log")
            ax.set_xlabel("index size (bytes, log)", fontsize=8)
            ax.set_ylabel("ns per lookup, mode A", fontsize=8)
            ax.set_title(d, fontsize=9)
            ax.tick_params(labelsize=7)
        for ax in list(axes.flat)[len(curves) :]:
            ax.axis("off")
        axes[0, 0].legend(fontsize=6)
        fig.suptitle("Space/time in mode A: RMI over leaf counts, PGM and RadixSpline over eps", fontsize=10)
        fig.tight_layout()
        fig.savefig(outdir / "index_space_time.png", dpi=110)
        plt.close(fig)
        result.figures.append(("index_space_time.png", "Lookup time (mode A) against index size, one panel per data set"))

    if cdf:
        rows, cols = _grid(len(cdf))
        fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.0 * rows), squeeze=False)
        for ax, (d, (x, y, pred, label)) in zip(axes.flat, cdf.items(), strict=False):
            ax.plot(x, y, lw=2, label="keys (position)")
            if pred is not None:
                ax.plot(x, pred, lw=1, ls="--", label="RMI root model")
            ax.set_title(f"{d}\n{label}", fontsize=8)
            ax.set_xlabel("key", fontsize=7)
            ax.set_ylabel("position", fontsize=7)
            if x.size and x.max() > 1e4 * max(1.0, float(np.median(x))) and x.min() >= 0:
                ax.set_xscale("symlog")  # heavily skewed keys (lognormal)
            ax.tick_params(labelsize=6)
        for ax in list(axes.flat)[len(cdf) :]:
            ax.axis("off")
        axes[0, 0].legend(fontsize=7)
        fig.suptitle("Learned CDF: the root model of mode A's RMI against the keys' positions", fontsize=9)
        fig.tight_layout()
        fig.savefig(outdir / "index_cdf.png", dpi=110)
        plt.close(fig)
        result.figures.append(("index_cdf.png", "The RMI root model's CDF against the keys, one panel per data set"))
