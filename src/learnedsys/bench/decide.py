"""Bench section ``decide``: the cost of a decision, side by side with a plain-Python loop,
Vowpal Wabbit's in-process client and Optuna's ask/tell; then two real workloads: SQLite PRAGMA
tuning on apsw's speedtest workload, and per-block compression choice on this machine's Python
installation.

Every alternative runs in this process, on the same rewards; the overhead variants are timed in
interleaved rounds (a warm-up round, then repeats; median and quartiles), so that load changes on a
shared machine hit all of them alike.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from learnedsys._atomic import atomic_write
from learnedsys.bench._harness import BenchContext, SectionResult, save_figure

PACKAGES = ("optuna", "vowpalwabbit", "apsw", "lz4", "zstandard")

ARMS = [0.3, 0.5, 0.55, 0.65]


# -- 1. overhead per decision -----------------------------------------------------------------

def _rewards(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.random() for _ in range(n)]


def _loop_inline(u: list[float]) -> int:
    """The trivial plain-Python epsilon-greedy loop, everything inline."""
    counts, means, best = [0] * 4, [0.0] * 4, 0
    rnd = random.Random(0).random
    hits = 0
    for x in u:
        a = int(rnd() * 4) if rnd() < 0.05 else best
        r = 1.0 if x < ARMS[a] else 0.0
        n = counts[a] + 1
        counts[a] = n
        means[a] += (r - means[a]) / n
        if means[a] > means[best]:
            best = a
        hits += a == 3
    return hits


class _Trivial:
    """The same epsilon-greedy as two plain-Python functions, choose() and feedback()."""

    def __init__(self) -> None:
        self.counts, self.means, self.best = [0] * 4, [0.0] * 4, 0
        self.rnd = random.Random(0).random

    def choose(self) -> int:
        if self.rnd() < 0.05:
            return int(self.rnd() * 4)
        return self.best

    def feedback(self, a: int, r: float) -> None:
        n = self.counts[a] + 1
        self.counts[a] = n
        m = self.means
        m[a] += (r - m[a]) / n
        if m[a] > m[self.best]:
            self.best = a


def _loop_trivial(u: list[float]) -> int:
    t = _Trivial()
    ch, fb = t.choose, t.feedback
    hits = 0
    for x in u:
        a = ch()
        fb(a, 1.0 if x < ARMS[a] else 0.0)
        hits += a == 3
    return hits


def _loop_choice(u: list[float], log: str | None = None, policy: Any = None, flush: bool = True) -> int:
    from learnedsys.decide import Choice

    c = Choice("bench", options=[0, 1, 2, 3], policy=policy, seed=0, log=log)
    c.feedback(c.choose(), 0.0)  # binds the policy and installs the hot path
    ch, fb = c.choose, c.feedback
    hits = 0
    for x in u:
        d = ch()
        a = d.value
        fb(d, 1.0 if x < ARMS[a] else 0.0)
        hits += a == 3
    if log is not None:
        if flush:
            c.close()
        else:
            _PENDING_LOGS.append(c)  # written after the timing
    return hits


_PENDING_LOGS: list[Any] = []


def _loop_vw(u: list[float], preparsed: bool) -> int:
    import vowpalwabbit

    vw = vowpalwabbit.Workspace("--cb_explore 4 --epsilon 0.05 --quiet")
    shared = vw.parse("| x")
    labeled = {}
    if preparsed:
        for a in range(4):
            for cost in (0.0, -1.0):
                for p in (0.9625, 0.0125, 0.25):
                    labeled[(a, cost, p)] = vw.parse(f"{a + 1}:{cost}:{p} | x")
    rnd = random.Random(7).random
    hits = 0
    for x in u:
        pmf = vw.predict(shared) if preparsed else vw.predict("| x")
        v, acc, a = rnd(), 0.0, 3
        for j, pj in enumerate(pmf):
            acc += pj
            if v < acc:
                a = j
                break
        cost = -1.0 if x < ARMS[a] else 0.0
        if preparsed:
            p = pmf[a]
            key = 0.9625 if p > 0.5 else (0.25 if abs(p - 0.25) < 1e-6 else 0.0125)
            vw.learn(labeled[(a, cost, key)])
        else:
            vw.learn(f"{a + 1}:{cost}:{pmf[a]} | x")
        hits += a == 3
    vw.finish()
    return hits


def _loop_optuna(u: list[float], sampler: str) -> int:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    smp = optuna.samplers.TPESampler(seed=0) if sampler == "tpe" else optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(direction="maximize", sampler=smp)
    dist: dict[str, Any] = {"arm": optuna.distributions.CategoricalDistribution([0, 1, 2, 3])}
    hits = 0
    for x in u:
        t = study.ask(dist)
        a = t.params["arm"]
        study.tell(t, 1.0 if x < ARMS[a] else 0.0)
        hits += a == 3
    return hits


def _overhead(ctx: BenchContext, res: SectionResult) -> None:
    n = 30_000 if ctx.quick else 100_000
    u = _rewards(n, ctx.seed + 1_000_003)  # not the policies' seed: rewards independent of their coins
    rows: list[dict[str, Any]] = []
    tmp = tempfile.mkdtemp(prefix="lsys-bench-decide-")
    counter = iter(range(10**6))

    def logged() -> int:
        return _loop_choice(u[: n // 3], log=os.path.join(tmp, f"log{next(counter)}.sqlite"), flush=False)

    def logged_flushed() -> int:
        return _loop_choice(u[: n // 3], log=os.path.join(tmp, f"log{next(counter)}.sqlite"), flush=True)

    variants: list[tuple[str, Any, int]] = [
        ("plain Python epsilon-greedy, inline loop", lambda: _loop_inline(u), n),
        ("plain Python epsilon-greedy, choose()/feedback() functions", lambda: _loop_trivial(u), n),
        ("learnedsys Choice (default policy)", lambda: _loop_choice(u), n),
        ("learnedsys Choice + SQLite log: the loop (writer thread running)", logged, n // 3),
        ("learnedsys Choice + SQLite log: until every row is written", logged_flushed, n // 3),
    ]
    from learnedsys.decide import UCB1

    variants.append(("learnedsys Choice, UCB1 policy", lambda: _loop_choice(u[: n // 5], policy=UCB1(seed=0)), n // 5))
    try:
        import vowpalwabbit  # noqa: F401

        m = n // 10
        variants.append(("Vowpal Wabbit cb_explore, pre-parsed examples", lambda: _loop_vw(u[:m], True), m))
        variants.append(("Vowpal Wabbit cb_explore, text examples", lambda: _loop_vw(u[:m], False), m))
    except ImportError:
        res.notes.append("vowpalwabbit is not installed: its rows are missing")
    try:
        import optuna  # noqa: F401

        variants.append(("Optuna ask/tell, RandomSampler", lambda: _loop_optuna(u[:1000], "random"), 1000))
        k = 60 if ctx.quick else 300
        variants.append((f"Optuna ask/tell, TPESampler (first {k} trials)", lambda: _loop_optuna(u[:k], "tpe"), k))
    except ImportError:
        res.notes.append("optuna is not installed: its rows are missing")
    # interleaved: each round times every variant once, so load changes on a shared machine hit
    # all of them alike; the first round is the warm-up
    times: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    hits_of: dict[str, int] = {}
    rounds = max(3, ctx.repeats)
    fast = {variants[i][0] for i in (0, 1, 2)} | {name for name, _, _ in variants if "UCB1" in name}
    for rnd in range(3 * rounds + 1):  # the sub-µs loops get 3x the rounds: load noise is their main error
        for name, fn, _ in variants:
            slow = "Optuna" in name or "Vowpal" in name
            if (slow and rnd > 3) or (name not in fast and rnd > rounds):
                continue  # three timed rounds are enough for the slow ones
            t0 = time.perf_counter()
            hits_of[name] = fn()
            if rnd > 0:
                times[name].append(time.perf_counter() - t0)
            # the rows a logged loop left to its writer thread are written now, untimed, so that
            # the thread does not run (and take the GIL) during the variants timed after it
            for c in _PENDING_LOGS:
                c.close()
            _PENDING_LOGS.clear()
    for name, _, count in variants:
        ts = np.asarray(times[name]) / count * 1e6
        rows.append({"what": name, "n": count, "us": float(np.median(ts)), "p25": float(np.percentile(ts, 25)),
                     "p75": float(np.percentile(ts, 75)), "rounds": len(ts), "best_rate": hits_of[name] / count})
    base_fn = rows[1]["us"]
    base_inline = rows[0]["us"]
    ours = rows[2]["us"]
    for r in rows:
        r["x_trivial"] = r["us"] / base_fn
        r["x_inline"] = r["us"] / base_inline
        r["x_ours"] = r["us"] / ours
    res.tables.append((
        "Overhead per choose + feedback (context-free, 4 options, Bernoulli rewards; median over interleaved rounds)",
        rows,
        [("what", "implementation", "s"), ("n", "decisions", "d"), ("us", "µs/decision", ".3f"),
         ("p25", "p25", ".3f"), ("p75", "p75", ".3f"), ("rounds", "rounds", "d"), ("x_trivial", "× trivial functions", ".2f"),
         ("x_inline", "× inline loop", ".2f"), ("x_ours", "× learnedsys", ".1f"), ("best_rate", "best-arm rate", ".3f")],
    ))
    for r in rows:
        res.records.append({"workload": "overhead", **r})
    vw = [r for r in rows if "pre-parsed" in r["what"]]

    def paired(a: str, b: str) -> np.ndarray:
        # per-round ratios of two variants timed back to back (the same load hits both)
        na = next(c for m, _, c in variants if m == a)
        nb = next(c for m, _, c in variants if m == b)
        k = min(len(times[a]), len(times[b]))
        return (np.asarray(times[a][:k]) / na) / (np.asarray(times[b][:k]) / nb)

    pr = paired(variants[2][0], variants[1][0])
    msg = (f"overhead: learnedsys choose+feedback {ours:.2f} µs = {ours / base_fn:.2f}× the plain-Python "
           f"choose()/feedback() loop ({base_fn:.2f} µs; per-round paired ratio median {np.median(pr):.2f}×, "
           f"IQR {np.percentile(pr, 25):.2f}–{np.percentile(pr, 75):.2f}, {len(pr)} rounds) and "
           f"{ours / base_inline:.2f}× the inline loop (goal: within 3×)")
    res.records.append({"workload": "overhead-paired", "what": "learnedsys / plain functions", "median": float(np.median(pr)),
                        "p25": float(np.percentile(pr, 25)), "p75": float(np.percentile(pr, 75)), "rounds": len(pr)})
    if vw:
        pv = paired(vw[0]["what"], variants[2][0])
        msg += (f"; Vowpal Wabbit pre-parsed {vw[0]['us']:.2f} µs = {vw[0]['us'] / ours:.1f}× ours "
                f"(paired {np.median(pv):.1f}×, {len(pv)} rounds; goal ≥ 5×)")
        res.records.append({"workload": "overhead-paired", "what": "VW pre-parsed / learnedsys", "median": float(np.median(pv)),
                            "p25": float(np.percentile(pv, 25)), "p75": float(np.percentile(pv, 75)), "rounds": len(pv)})
    res.notes.append(msg)


# -- 2. SQLite PRAGMA tuning ---------------------------------------------------------------------

PRAGMA_GRID_QUICK: dict[str, list[Any]] = {
    "journal_mode": ["delete", "wal", "off"],
    "synchronous": ["off", "normal", "full"],
    "cache_size": [-64, -2000, -64000],
}
PRAGMA_GRID_FULL: dict[str, list[Any]] = {  # 270 settings, each measured 3 times
    "journal_mode": ["delete", "truncate", "wal", "memory", "off"],
    "synchronous": ["off", "normal", "full"],
    "cache_size": [-64, -2000, -64000],
    "page_size": [1024, 4096, 16384],
    "mmap_size": [0, 268435456],
}
PRAGMA_DEFAULTS: dict[str, Any] = {"journal_mode": "delete", "synchronous": "full", "cache_size": -2000, "page_size": 4096,
                   "temp_store": "default", "mmap_size": 0}


def _speedtest_sql(tmp: str, fraction: float, seed: int) -> str | None:
    path = os.path.join(tmp, "speedtest.sql")
    try:
        subprocess.run([sys.executable, "-m", "apsw.speedtest", "--dump-sql", path, "--scale", "1"],
                       capture_output=True, timeout=300, check=True)
    except (subprocess.SubprocessError, OSError):
        return None
    text = Path(path).read_text()
    stmts = [s.strip() for s in text.split(";\n") if s.strip()]
    rng = random.Random(seed)
    keep = [s for s in stmts if not s.upper().startswith("PRAGMA")
            and (s.split(None, 1)[0].upper() not in ("INSERT", "SELECT", "UPDATE", "DELETE") or rng.random() < fraction)]
    return ";\n".join(keep) + ";"


def _run_sql(body: str, cfg: dict[str, Any], db: str) -> float:
    import apsw

    for suf in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(db + suf)
    conn = apsw.Connection(db)
    cur = conn.cursor()
    for k, v in cfg.items():
        if k == "temp_store" and v == "default":
            continue
        for _ in cur.execute(f"PRAGMA {k}={v}"):
            pass
    t0 = time.perf_counter()
    for _ in cur.execute(body):
        pass
    dt = time.perf_counter() - t0
    conn.close()
    return dt


def _search_replay(table: dict[tuple[Any, ...], float], grid: dict[str, list[Any]], method: str, budget: int,
                   seed: int) -> tuple[Any, ...]:
    """The setting a search method recommends (the fastest it measured) after ``budget``
    evaluations of the measured grid."""
    import optuna

    from learnedsys.tune._tune import Param, tune

    names = list(grid)
    seen: list[tuple[Any, ...]] = []
    if method == "random":
        rng = random.Random(seed)
        keys = list(table)
        seen = rng.sample(keys, min(budget, len(keys)))
    elif method == "optuna-tpe":
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        dists: dict[str, Any] = {k: optuna.distributions.CategoricalDistribution([str(v) for v in vals]) for k, vals in grid.items()}
        for _ in range(budget):
            t = study.ask(dists)
            key = tuple(type(grid[k][0])(t.params[k]) for k in names)
            study.tell(t, table[key])
            seen.append(key)
    else:  # learnedsys tune: TPE, multivariate, the defaults tried first, no setting measured twice
        params = [Param(k, "categorical", choices=tuple(str(v) for v in vals)) for k, vals in grid.items()]

        def obj(v: dict[str, Any]) -> tuple[float, list[float], None]:
            key = tuple(type(grid[k][0])(v[k]) for k in names)
            seen.append(key)
            return table[key], [table[key]], None

        tune(params, obj, trials=budget, seed=seed, first={k: str(PRAGMA_DEFAULTS[k]) for k in names})
    return min(seen, key=table.__getitem__)


def _speedtest_workload(ctx: BenchContext, res: SectionResult, what: str, fraction: float) -> tuple[str, str] | None:
    """(temporary directory, SQL) of apsw's speedtest workload, or None with a note saying why ``what`` is skipped."""
    try:
        import apsw  # noqa: F401
    except ImportError:
        res.notes.append(f"apsw is not installed: {what} skipped")
        return None
    tmp = tempfile.mkdtemp(prefix="lsys-bench-decide-")
    body = _speedtest_sql(tmp, fraction, ctx.seed)
    if body is None:
        res.notes.append(f"could not dump apsw's speedtest SQL: {what} skipped")
        return None
    return tmp, body


def _sqlite(ctx: BenchContext, res: SectionResult) -> None:
    fraction = 0.1 if ctx.quick else 0.25
    workload = _speedtest_workload(ctx, res, "SQLite PRAGMA tuning", fraction)
    if workload is None:
        return
    tmp, body = workload
    grid = PRAGMA_GRID_QUICK if ctx.quick else PRAGMA_GRID_FULL
    names = list(grid)
    db = os.path.join(tmp, "bench.db")
    reps = 1 if ctx.quick else 3  # the median of 3 tames the winner's curse of a noisy grid minimum
    import itertools

    table: dict[tuple[Any, ...], float] = {}
    t0 = time.perf_counter()
    for combo in itertools.product(*grid.values()):
        cfg = dict(zip(names, combo, strict=True))
        table[combo] = float(np.median([_run_sql(body, cfg, db) for _ in range(reps)]))
    grid_secs = time.perf_counter() - t0
    default_key = tuple(PRAGMA_DEFAULTS[k] for k in names)
    default_t = table[default_key]
    best_key = min(table, key=table.__getitem__)
    best_t = table[best_key]
    budget = max(4, len(table) // 4)
    seeds = range(5) if ctx.quick else range(20)
    methods = (("learnedsys", "learnedsys tune (TPE, defaults first, no setting twice)"), ("optuna-tpe", "Optuna TPE (defaults)"),
               ("random", "random search"))
    recs = {m: [_search_replay(table, grid, m, budget, s) for s in seeds] for m, _ in methods}
    # The grid minimum of noisy timings is partly luck (the winner's curse), and so is each search's.
    # As a tuner would before adopting a setting, every recommended setting is measured again,
    # fresh, in interleaved rounds (the same load for all): the second, honest comparison.
    again_reps = 3 if ctx.quick else 5
    distinct = sorted({best_key, default_key, *(k for v in recs.values() for k in v)}, key=str)
    again_runs: dict[tuple[Any, ...], list[float]] = {k: [] for k in distinct}
    t1 = time.perf_counter()
    for _ in range(again_reps):
        for key in distinct:
            again_runs[key].append(_run_sql(body, dict(zip(names, key, strict=True)), db))
    again = {k: float(np.median(v)) for k, v in again_runs.items()}
    again_secs = time.perf_counter() - t1
    g_again = again[best_key]
    rows: list[dict[str, Any]] = [
        {"method": "SQLite defaults", "trials": 1, "best_s": default_t, "vs_grid": default_t / best_t - 1, "within5": float(default_t <= 1.05 * best_t),
         "again_s": again[default_key], "vs_grid_again": again[default_key] / g_again - 1, "within5_again": float(again[default_key] <= 1.05 * g_again)},
        {"method": f"exhaustive grid ({len(table)} configs)", "trials": len(table), "best_s": best_t, "vs_grid": 0.0, "within5": 1.0,
         "again_s": g_again, "vs_grid_again": 0.0, "within5_again": 1.0},
    ]
    for method, label in methods:
        found = [table[k] for k in recs[method]]
        fresh = [again[k] for k in recs[method]]
        rows.append({"method": label, "trials": budget, "best_s": float(np.mean(found)),
                     "vs_grid": float(np.mean([f / best_t - 1 for f in found])),
                     "within5": float(np.mean([f <= 1.05 * best_t for f in found])),
                     "again_s": float(np.mean(fresh)), "vs_grid_again": float(np.mean([f / g_again - 1 for f in fresh])),
                     "within5_again": float(np.mean([f <= 1.05 * g_again for f in fresh]))})
    for r in rows:
        r["speedup"] = default_t / r["best_s"]
        res.records.append({"workload": "sqlite-pragma", **r})
    res.tables.append((
        f"SQLite PRAGMA tuning on apsw speedtest ({fraction:.0%} sample of the scale-1 statements, file database; "
        f"search budget = a quarter of the grid; mean over {len(seeds)} seeds)",
        rows,
        [("method", "method", "s"), ("trials", "trials", "d"), ("best_s", "best time (s)", ".4f"),
         ("vs_grid", "above grid optimum", ".1%"), ("within5", "P(within 5% of grid)", ".2f"), ("speedup", "× faster than defaults", ".2f"),
         ("again_s", "re-measured (s)", ".4f"), ("vs_grid_again", "re-measured: above grid's pick", ".1%"),
         ("within5_again", "re-measured: P(within 5%)", ".2f")],
    ))
    res.notes.append(
        f"SQLite: grid of {len(table)} PRAGMA settings, each run {reps} time(s) (median; {grid_secs:.1f} s in all); "
        f"the searches replay those measurements (same numbers for every method). Best {best_t:.4f} s with "
        f"{dict(zip(names, best_key, strict=True))}; defaults {default_t:.4f} s. Recommended settings re-measured "
        f"{again_reps} times each, interleaved ({len(distinct)} settings, {again_secs:.1f} s): the grid's pick {g_again:.4f} s."
    )


# -- 3. per-block compression choice -------------------------------------------------------------

def _python_blocks(total: int, block: int, seed: int) -> tuple[list[bytes], dict[str, int], list[str]]:
    """Blocks from this machine's Python installation: text, binaries and compressed files, mixed;
    with the path of the file each block comes from (in the same order)."""
    roots = [Path(sys.base_prefix) / "lib", Path(sys.prefix) / "lib"]
    cats: dict[str, list[Path]] = {"text": [], "binary": [], "compressed": []}
    seen = 0
    for root in roots:
        for p in sorted(root.rglob("*")):
            seen += 1
            if seen > 200_000:
                break
            if not p.is_file() or p.is_symlink():
                continue
            s = p.suffix
            if s in (".py", ".txt", ".rst", ".h", ".c", ".json", ".cfg", ".toml", ".md", ".html", ".pyi"):
                cats["text"].append(p)
            elif s in (".so", ".a", ".o", ".pyc") or ".so." in p.name:
                cats["binary"].append(p)
            elif s in (".gz", ".zip", ".whl", ".png", ".jpg", ".jpeg", ".xz", ".bz2", ".npz", ".zst", ".ttf", ".gif"):
                cats["compressed"].append(p)
    rng = random.Random(seed)
    for v in cats.values():
        rng.shuffle(v)
    tagged: list[tuple[bytes, str]] = []
    counts = {k: 0 for k in cats}
    per = total // 3
    for cat, files in cats.items():
        got = 0
        for f in files:
            try:
                data = f.read_bytes()
            except OSError:
                continue
            for i in range(0, len(data) - block + 1, block):
                tagged.append((data[i : i + block], str(f)))
                got += block
                counts[cat] += 1
                if got >= per:
                    break
            if got >= per:
                break
    rng.shuffle(tagged)
    return [b for b, _ in tagged], counts, [f for _, f in tagged]


def _suffix(path: str) -> str:
    """The file type a storage system sees in a name: its suffix (``.so`` for ``libx.so.1``)."""
    name = Path(path).name
    return ".so" if ".so." in name else Path(name).suffix


def _ext_onehot(path: str, dim: int = 16) -> np.ndarray:
    """The file's suffix, hashed (CRC-32) into a one-hot vector of ``dim`` buckets: no list of
    suffixes is given to the policy, it learns what each bucket means."""
    v = np.zeros(dim)
    v[zlib.crc32(_suffix(path).encode()) % dim] = 1.0
    return v


def _bin_bound(cost: np.ndarray, keys: np.ndarray, fit: np.ndarray | None = None) -> np.ndarray:
    """The hindsight best codec per context key (rows of ``cost`` with equal keys): the codec each
    block gets. With ``fit`` (a mask), the choice per key is fitted on those rows only, keys unseen
    there get the codec best over all of them."""
    fit = np.ones(len(cost), dtype=bool) if fit is None else fit
    pick = np.full(len(cost), int(cost[fit].sum(axis=0).argmin()), dtype=np.int64)
    for key in np.unique(keys[fit]):
        pick[keys == key] = int(cost[fit & (keys == key)].sum(axis=0).argmin())
    return pick


def _compressors() -> list[tuple[str, Any]]:
    import lz4.block
    import zstandard

    z1, z3, z9 = (zstandard.ZstdCompressor(level=lv) for lv in (1, 3, 9))
    return [
        ("none", lambda b: b),
        ("lz4", lambda b: lz4.block.compress(b, store_size=False)),
        ("zstd-1", z1.compress),
        ("zstd-3", z3.compress),
        ("zstd-9", z9.compress),
    ]


def _features(b: bytes, comp: Any) -> tuple[float, float]:
    """Cheap context: lz4's ratio on a 1 KiB sample taken from four places in the block (a few µs;
    its cost is charged to the policy)."""
    q = len(b) // 4
    sample = b[:256] + b[q : q + 256] + b[2 * q : 2 * q + 256] + b[3 * q : 3 * q + 256]
    # without the store_size keyword (parsing it costs more than compressing 1 KiB): minus its 4 bytes
    return 1.0, (len(comp(sample)) - 4) / len(sample)


def _measure(blocks: list[bytes], comps: list[tuple[str, Any]], reps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per block: each codec's output size and CPU seconds (median of ``reps``, all codecs of a block
    timed back to back), the context features and their CPU seconds (median of ``reps``)."""
    import lz4.block

    n, k = len(blocks), len(comps)
    size = np.zeros((n, k))
    secs = np.zeros((n, k))
    feats = np.zeros((n, 2))
    feat_secs = np.zeros(n)
    lz = lz4.block.compress
    for i, b in enumerate(blocks):
        fts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            feats[i] = _features(b, lz)
            fts.append(time.perf_counter() - t0)
        feat_secs[i] = float(np.median(fts))
        for j, (_, fn) in enumerate(comps):
            ts = []
            for _ in range(reps):
                t0 = time.perf_counter()
                out = fn(b)
                ts.append(time.perf_counter() - t0)
            size[i, j] = len(out)
            secs[i, j] = float(np.median(ts))
    return size, secs, feats, feat_secs


def _compression(ctx: BenchContext, res: SectionResult) -> None:
    try:
        comps = _compressors()
    except ImportError:
        res.notes.append("lz4 or zstandard is not installed: compression choice skipped")
        return
    from learnedsys.decide import Choice, LinUCB

    block = 64 * 1024
    total = (16 if ctx.quick else 96) * 2**20
    blocks, counts, paths = _python_blocks(total, block, ctx.seed)
    if len(blocks) < 50:
        res.notes.append("too few files found in the Python installation: compression choice skipped")
        return
    reps = 3
    if ctx.quick:
        comps = comps[:4]  # zstd-9 is never worth it at this price of CPU: the full run shows it
    n, k = len(blocks), len(comps)
    size, secs, feats, feat_secs = _measure(blocks, comps, reps)
    # Free context for a file-level store (a file system, a backup tool: it knows the file's name):
    # the suffix, hashed into 16 buckets. Charged nothing: hashed once per file in such a system.
    # (This bench picks its files by suffix lists, which makes the suffix telling here by design.)
    ext = np.array([_ext_onehot(p) for p in paths])
    ext_key = ext.argmax(axis=1)
    feats_ext = np.column_stack([feats, ext])  # [1, sample ratio, suffix one-hot]: pays the sample
    feats_free = np.column_stack([feats[:, :1], ext])  # [1, suffix one-hot]: free
    # a second protocol: learn on the blocks of half of the files (by a hash of the path), then go on
    # learning online on the other half, which alone is measured (vs its own oracle and fixed codecs)
    held = np.array([zlib.crc32(p.encode()) % 2 == 1 for p in paths])
    # The objective, per block: compressed bytes + lam x CPU seconds, i.e. lam x the time to compress
    # the block and then send it over a link of lam bytes/s (one after the other). lam = 50 MB/s
    # (a slow link or disk), 125 MB/s (1 Gbit/s Ethernet), 400 MB/s (a SATA SSD): cheap to dear CPU.
    for lam in (50e6, 125e6, 400e6):
        cost = size + lam * secs  # per block, per choice
        oracle = cost.min(axis=1).sum()
        rows: list[dict[str, Any]] = []
        for j, (name, _) in enumerate(comps):
            rows.append({"policy": f"always {name}", "cost": cost[:, j].sum(), "ratio": size[:, j].sum() / (n * block),
                         "cpu_s": secs[:, j].sum()})
        rows.append({"policy": "per-block oracle", "cost": oracle, "ratio": size[np.arange(n), cost.argmin(axis=1)].sum() / (n * block),
                     "cpu_s": secs[np.arange(n), cost.argmin(axis=1)].sum()})
        # the best any policy that sees only the context can do: in hindsight, the best fixed codec
        # per 20 quantile bins of the sample ratio, plus the context's cost (no exploration at all)
        def quantile_bins(x: np.ndarray, nb: int) -> np.ndarray:
            edges = np.quantile(x, np.linspace(0, 1, nb + 1))
            return np.asarray(np.clip(np.searchsorted(edges, x, side="right") - 1, 0, nb - 1))

        ratio_bins = quantile_bins(feats[:, 1], 20)
        for label, keys, paid in (
            ("context oracle (hindsight best codec per sample-ratio bin, pays the context)", ratio_bins, True),
            ("context oracle on the file's suffix (free context)", ext_key, False),
            ("context oracle on suffix x 5 sample-ratio bins (pays the sample)", ext_key * 5 + quantile_bins(feats[:, 1], 5), True),
        ):
            pick = _bin_bound(cost, keys)
            rows.append({"policy": label, "cost": cost[np.arange(n), pick].sum() + (lam * feat_secs.sum() if paid else 0.0),
                         "ratio": size[np.arange(n), pick].sum() / (n * block),
                         "cpu_s": secs[np.arange(n), pick].sum() + (feat_secs.sum() if paid else 0.0)})
        # learned: one online pass; the features' own time is charged to the learned policy
        for label, policy, context, paid in (
            ("learned: LinUCB on the lz4 sample ratio (default policy), online", None, feats, True),
            ("learned: LinUCB alpha=0.1, online", "lin01", feats, True),
            ("learned: LinUCB alpha=0.1 on sample ratio + suffix, online", "lin01", feats_ext, True),
            ("learned: LinUCB alpha=0.1 on the suffix only (free context), online", "lin01", feats_free, False),
            ("learned: epsilon-greedy without context (default policy), online", None, None, False),
        ):
            c = Choice("codec", options=list(range(k)), policy=LinUCB(alpha=0.1, seed=ctx.seed) if policy else None, seed=ctx.seed)
            total_cost, total_size, total_secs = 0.0, 0.0, 0.0
            picks = np.zeros(k, dtype=np.int64)
            for i in range(n):
                d = c.choose(context[i] if context is not None else None)
                j = d.value
                ci = cost[i, j] + (lam * feat_secs[i] if paid else 0.0)
                total_cost += ci
                total_size += size[i, j]
                total_secs += secs[i, j] + (feat_secs[i] if paid else 0.0)
                picks[j] += 1
                c.feedback(d, -ci / block)
            rows.append({"policy": label, "cost": total_cost, "ratio": total_size / (n * block), "cpu_s": total_secs,
                         "picks": " ".join(f"{comps[j][0]}:{picks[j]}" for j in range(k))})
        best_fixed = min(r["cost"] for r in rows if r["policy"].startswith("always"))
        bound = next(r for r in rows if r["policy"].startswith("context oracle"))
        # the second protocol (held-out half of the files, after a learning pass on the other half)
        ch = cost[held]
        h_oracle, h_fixed = ch.min(axis=1).sum(), ch.sum(axis=0).min()
        held_out = []
        for label, context, paid in (("LinUCB default on the sample ratio", feats, True), ("LinUCB alpha=0.1 on sample ratio + suffix", feats_ext, True),
                                     ("LinUCB alpha=0.1 on the suffix only", feats_free, False)):
            c = Choice("codec", options=list(range(k)), policy=None if "default" in label else LinUCB(alpha=0.1, seed=ctx.seed), seed=ctx.seed)
            h_cost = 0.0
            for i in [*np.flatnonzero(~held), *np.flatnonzero(held)]:
                d = c.choose(context[i])
                ci = cost[i, d.value] + (lam * feat_secs[i] if paid else 0.0)
                h_cost += ci if held[i] else 0.0
                c.feedback(d, -ci / block)
            held_out.append(f"{label} {h_cost / h_oracle - 1:.1%} above the oracle, {h_cost / h_fixed - 1:+.1%} vs the best fixed")
        pick = _bin_bound(cost, ext_key * 5 + quantile_bins(feats[:, 1], 5), fit=~held)
        b_cost = cost[held, pick[held]].sum() + lam * feat_secs[held].sum()
        held_out.append(f"bound: suffix x sample-ratio bins fitted on the learning half {b_cost / h_oracle - 1:.1%}, {b_cost / h_fixed - 1:+.1%}")
        for r in rows:
            r["cpu_price_mb_s"] = lam / 1e6
            r["vs_oracle"] = r["cost"] / oracle - 1
            r["vs_best_fixed"] = r["cost"] / best_fixed - 1
            res.records.append({"workload": "compression", **r})
        res.tables.append((
            f"Per-block compression choice ({n} blocks of 64 KiB from this Python installation: {counts}); "
            f"cost = compressed bytes + {lam / 1e6:.0f} MB × CPU seconds",
            rows,
            [("policy", "policy", "s"), ("cost", "cost (MB-equiv.)", ",.2f"), ("vs_oracle", "above oracle", ".1%"),
             ("vs_best_fixed", "vs best fixed", "+.1%"), ("ratio", "size ratio", ".3f"), ("cpu_s", "CPU s", ".3f"), ("picks", "choices", "s")],
        ))
        for r in rows:
            r["cost"] = r["cost"] / 1e6
        res.notes.append(
            f"compression (CPU at {lam / 1e6:.0f} MB/s): the context (lz4 on a 1 KiB sample) costs {np.median(feat_secs) * 1e6:.1f} µs per block "
            f"(median) = {lam * feat_secs.sum() / oracle:.1%} of the oracle's cost, charged to the contextual policies"
        )
        learned = [r for r in rows if r["policy"].startswith("learned")]
        res.notes.append(
            f"compression (CPU at {lam / 1e6:.0f} MB/s): " + "; ".join(f"{r['policy']} is {r['vs_oracle']:.1%} above the per-block oracle and "
                                        f"{r['vs_best_fixed']:+.1%} vs the best fixed choice" for r in learned)
            + " (goal: within 5% of the oracle and better than the best fixed choice; the learned policy pays for its features)"
            + f"; bound: the context oracle is {bound['vs_oracle']:.1%} above the oracle and {bound['vs_best_fixed']:+.1%} vs the best fixed"
        )
        res.notes.append(
            f"compression (CPU at {lam / 1e6:.0f} MB/s), second protocol: after one learning pass on the blocks of half of the files, "
            f"measured on the other half ({int(held.sum())} blocks; its best fixed codec is {h_fixed / h_oracle - 1:.1%} above its oracle), "
            "still learning online: " + "; ".join(held_out)
        )


# -- 3b. the same choice over a long stream (protocol 3; not run by default: minutes to measure) --

LONG_TEXT = frozenset((".py", ".txt", ".rst", ".h", ".c", ".json", ".cfg", ".toml", ".md", ".html", ".pyi", ".xml", ".js",
                       ".pm", ".css", ".sh", ".csv", ".yaml", ".yml", ".ini", ".tex", ".svg", ".map", ".hpp", ".cpp"))
LONG_BINARY = frozenset((".so", ".a", ".o", ".pyc", ".mo", ".jsa", ".bc", ".debug", ".sym", ".db", ".dat", ".mgc", ".bin"))
LONG_COMPRESSED = frozenset((".gz", ".zip", ".whl", ".png", ".jpg", ".jpeg", ".xz", ".bz2", ".npz", ".zst", ".ttf", ".gif",
                             ".jar", ".jmod", ".woff", ".woff2", ".otf", ".deb", ".tgz", ".lz4", ".7z"))
# The replaced heuristic per CPU price: the best fixed codec of protocol 1 (the 1381-block stream,
# RESULTS.md section 3), as an operator would configure it from an earlier measurement.
LONG_HEURISTIC = {50e6: "zstd-1", 125e6: "lz4", 400e6: "lz4"}
# Pre-declared bins of the lz4 sample ratio for the per-(suffix x bin) learners (upper edges).
LONG_RATIO_EDGES = (0.3, 0.5, 0.7, 0.9)


def _long_category(path: str) -> str:
    s = _suffix(path)
    if s in LONG_TEXT:
        return "text"
    if s in LONG_BINARY:
        return "binary"
    if s in LONG_COMPRESSED:
        return "compressed"
    return "other"  # mostly suffix-less executables, data and version-numbered libraries


def _machine_blocks(n: int, block: int, seed: int, per_file: int = 16,
                    roots: tuple[str, ...] | None = None) -> tuple[list[bytes], list[str], list[int]]:
    """Up to ``n`` blocks of ``block`` bytes from real files on this machine (the Python installation,
    the venv, /usr/lib, /usr/share, /usr/libexec, /usr/bin; each file once by inode, at most
    ``per_file`` consecutive blocks from its start), in a random order; with the path of each and
    its index in the file (block ``i`` starts at byte ``i * block``)."""
    import stat

    if roots is None:
        roots = (str(Path(sys.base_prefix) / "lib"), str(Path(sys.prefix) / "lib"), "/usr/lib", "/usr/share", "/usr/libexec", "/usr/bin")
    seen: set[tuple[int, int]] = set()
    cands: list[tuple[str, int]] = []
    for root in roots:
        for dp, dn, fn in os.walk(root):
            dn.sort()
            for f in sorted(fn):
                p = os.path.join(dp, f)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                cands.extend((p, i) for i in range(min(st.st_size // block, per_file)))
    rng = random.Random(seed)
    rng.shuffle(cands)
    blocks: list[bytes] = []
    paths: list[str] = []
    offsets: list[int] = []
    for p, i in cands:
        if len(blocks) >= n:
            break
        try:
            with open(p, "rb") as fh:
                fh.seek(i * block)
                b = fh.read(block)
        except OSError:
            continue
        if len(b) == block:
            blocks.append(b)
            paths.append(p)
            offsets.append(i)
    return blocks, paths, offsets


def _long_measure(n: int, seed: int, cache_dir: str = "/tmp", progress: bool = False) -> dict[str, Any]:
    """Measure (or load from ``cache_dir``/cmp3_long_s{seed}_n{n}.npz) the long stream: every codec's
    size and CPU seconds per block (median of 3, back to back), the sample ratio and its cost, and
    where each block lies in its file."""
    path = Path(cache_dir) / f"cmp3_long_s{seed}_n{n}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        return {k: z[k] for k in z.files}
    comps = _compressors()
    blocks, paths, offsets = _machine_blocks(n, 64 * 1024, seed)
    load0, t0 = os.getloadavg()[0], time.time()
    size, secs, feats, feat_secs = np.zeros((0, len(comps))), np.zeros((0, len(comps))), np.zeros((0, 2)), np.zeros(0)
    step = 1000
    for s in range(0, len(blocks), step):
        a, b, c, d = _measure(blocks[s : s + step], comps, 3)
        size, secs, feats, feat_secs = np.vstack([size, a]), np.vstack([secs, b]), np.vstack([feats, c]), np.concatenate([feat_secs, d])
        if progress:
            print(f"  measured {s + len(a)}/{len(blocks)} blocks, {time.time() - t0:.0f} s, load {os.getloadavg()[0]:.2f}", flush=True)
    meta = np.array([t0, time.time() - t0, load0, os.getloadavg()[0]])
    codecs = np.array([c for c, _ in comps])
    buf = io.BytesIO()  # a cache file: written whole or not at all
    np.savez(buf, size=size, secs=secs, feats=feats, feat_secs=feat_secs, paths=np.array(paths), offs=np.array(offsets),
             codecs=codecs, meta=meta)
    atomic_write(path, buf.getbuffer(), what="measurement cache")
    return {"size": size, "secs": secs, "feats": feats, "feat_secs": feat_secs, "paths": np.array(paths), "offs": np.array(offsets),
            "codecs": codecs, "meta": meta}


def _ratio_bin(r: float) -> int:
    return sum(r >= e for e in LONG_RATIO_EDGES)


def _suffix_keys(paths: list[str]) -> tuple[list[str], np.ndarray]:
    """Each path's suffix, and a number per distinct suffix (the key of the per-suffix bounds)."""
    sfx = [_suffix(p) for p in paths]
    ids = {s: i for i, s in enumerate(sorted(set(sfx)))}
    return sfx, np.array([ids[s] for s in sfx])


class _LongTable:
    """The rows of a long-stream table at one CPU price: every fixed codec and the per-block oracle
    first, then whatever is added; :meth:`finish` scores each against the oracle and the best fixed
    codec, over the whole stream and over its last half."""

    def __init__(self, data: dict[str, Any], lam: float, order: np.ndarray | None = None) -> None:
        at = np.arange(len(data["size"])) if order is None else order
        self.size, self.secs = data["size"][at], data["secs"][at]
        self.feats, self.feat_secs = data["feats"][at], data["feat_secs"][at]
        self.paths = [str(data["paths"][i]) for i in at]
        self.codecs = codecs = [str(c) for c in data["codecs"]]
        self.sfx, self.sfx_key = _suffix_keys(self.paths)
        self.lam = lam
        self.cost = self.size + lam * self.secs
        self.n = len(self.size)
        self.oracle_pick = self.cost.argmin(axis=1)
        self.rows: list[dict[str, Any]] = []
        for j, name in enumerate(codecs):
            self.add(f"always {name}", self.cost[:, j], np.full(self.n, j))
        self.add("per-block oracle", self.cost[np.arange(self.n), self.oracle_pick], self.oracle_pick)

    def add(self, label: str, per_block: np.ndarray, pick: np.ndarray, extra_secs: np.ndarray | None = None) -> None:
        at = np.arange(self.n)
        self.rows.append({"policy": label, "per_block": per_block, "ratio": self.size[at, pick].sum() / (self.n * 64 * 1024),
                          "cpu_s": self.secs[at, pick].sum() + (0.0 if extra_secs is None else float(extra_secs.sum())),
                          "picks": " ".join(f"{c}:{int((pick == j).sum())}" for j, c in enumerate(self.codecs))})

    def finish(self) -> list[dict[str, Any]]:
        cost, pick, lam = self.cost, self.oracle_pick, self.lam
        half = np.arange(self.n) >= self.n // 2
        oracle, oracle_h = cost[np.arange(self.n), pick].sum(), cost[half, pick[half]].sum()
        fixed, fixed_h = cost.sum(axis=0).min(), cost[half].sum(axis=0).min()
        for r in self.rows:
            pb = r.pop("per_block")
            r.update({"cpu_price_mb_s": lam / 1e6, "cost": pb.sum() / 1e6, "vs_oracle": pb.sum() / oracle - 1,
                      "vs_best_fixed": pb.sum() / fixed - 1, "last_half_vs_oracle": pb[half].sum() / oracle_h - 1,
                      "last_half_vs_best_fixed": pb[half].sum() / fixed_h - 1})
        return self.rows


def _long_eval(data: dict[str, Any], lam: float, seed: int) -> list[dict[str, Any]]:
    """Every row of protocol 3 at one CPU price: fixed codecs, the oracle, hindsight bounds and the
    learned policies run online from scratch (context cost charged), over the whole stream and over
    its last half (a deployed layer's steady state, still learning)."""
    from learnedsys.decide import Choice, EpsilonGreedy, LinUCB, ThompsonGaussian

    table = _LongTable(data, lam)
    add, cost, feats, feat_secs, paths, codecs = table.add, table.cost, table.feats, table.feat_secs, table.paths, table.codecs
    sfx, sfx_key = table.sfx, table.sfx_key
    n, k = cost.shape
    block = 64 * 1024
    rbin = np.array([_ratio_bin(r) for r in feats[:, 1]])
    heur = codecs.index(LONG_HEURISTIC[lam])
    for label, keys, paid in (("bound: hindsight best codec per suffix (free)", sfx_key, False),
                              ("bound: hindsight best codec per suffix x 5 sample-ratio bins (pays the sample)", sfx_key * 5 + rbin, True)):
        pick = _bin_bound(cost, keys)
        add(label, cost[np.arange(n), pick] + (lam * feat_secs if paid else 0.0), pick, feat_secs if paid else None)
    ext = np.array([_ext_onehot(p) for p in paths])
    feats_free = np.column_stack([np.ones(n), ext])

    def online(label: str, make: Any, ctx_of: Any, key_of: Any, paid: bool, ramp: int = 0) -> None:
        choices: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        per_block, pick = np.zeros(n), np.zeros(n, dtype=np.int64)
        for i in range(n):
            key = key_of(i)
            c = choices.get(key)
            if c is None:
                c = choices[key] = make(len(choices))
                seen[key] = 0
            if ramp:  # hand over from the heuristic to the policy over the key's first `ramp` blocks
                c.set_handover(min(1.0, seen[key] / ramp))
            seen[key] += 1
            d = c.choose(ctx_of(i))
            j = d.value
            ci = cost[i, j] + (lam * feat_secs[i] if paid else 0.0)
            per_block[i], pick[i] = ci, j
            c.feedback(d, -ci / block)
        add(label, per_block, pick, feat_secs if paid else None)

    opts = list(range(k))
    online("learned: LinUCB on the lz4 sample ratio (default policy), one model", lambda s: Choice("codec", opts, seed=seed),
           lambda i: feats[i], lambda i: 0, True)
    online("learned: LinUCB alpha=0.1 on the hashed suffix (free), one model",
           lambda s: Choice("codec", opts, policy=LinUCB(alpha=0.1, seed=seed), seed=seed), lambda i: feats_free[i], lambda i: 0, False)
    online("learned: epsilon-greedy per suffix, exploration explore/t to a 1% floor (free)",
           lambda s: Choice("codec", opts, policy=EpsilonGreedy(epsilon=0.01, seed=seed + s), seed=seed + s), lambda i: None, lambda i: sfx[i], False)
    online("learned: epsilon-greedy per suffix, exploration explore/t to 0 (free)",
           lambda s: Choice("codec", opts, policy=EpsilonGreedy(epsilon=0.0, seed=seed + s), seed=seed + s), lambda i: None, lambda i: sfx[i], False)
    online("learned: Thompson (Gaussian) per suffix (free)",
           lambda s: Choice("codec", opts, policy=ThompsonGaussian(seed=seed + s), seed=seed + s), lambda i: None, lambda i: sfx[i], False)
    online("learned: Thompson (Gaussian) per suffix, from the heuristic (hand-over over 200 blocks) (free)",
           lambda s: Choice("codec", opts, policy=ThompsonGaussian(seed=seed + s), default=heur, handover=0.0, seed=seed + s),
           lambda i: None, lambda i: sfx[i], False, ramp=200)
    online("learned: Thompson (Gaussian) per hashed suffix bucket (16, as LinUCB's), from the heuristic (hand-over over 200 blocks) (free)",
           lambda s: Choice("codec", opts, policy=ThompsonGaussian(seed=seed + s), default=heur, handover=0.0, seed=seed + s),
           lambda i: None, lambda i: int(ext[i].argmax()), False, ramp=200)
    online("learned: Thompson (Gaussian) per suffix x 5 sample-ratio bins (pays the sample)",
           lambda s: Choice("codec", opts, policy=ThompsonGaussian(seed=seed + s), seed=seed + s), lambda i: None,
           lambda i: (sfx[i], int(rbin[i])), True)
    online("learned: Thompson (Gaussian) per suffix x 5 ratio bins, from the heuristic (hand-over over 200 blocks)",
           lambda s: Choice("codec", opts, policy=ThompsonGaussian(seed=seed + s), default=heur, handover=0.0, seed=seed + s),
           lambda i: None, lambda i: (sfx[i], int(rbin[i])), True, ramp=200)

    return table.finish()


def _file_order(paths: list[str], offsets: np.ndarray) -> np.ndarray:
    """The stream a file store writes: files in the order of their first block in ``paths`` (a random
    order), each file's blocks one after another, by offset."""
    first: dict[str, int] = {}
    for i, p in enumerate(paths):
        first.setdefault(p, i)
    return np.array(sorted(range(len(paths)), key=lambda i: (first[paths[i]], int(offsets[i]))), dtype=np.int64)


def _file_context(suffix_hot: np.ndarray, prev: tuple[int, float] | None, sample_ratio: float) -> tuple[np.ndarray, bool]:
    """Protocol 4's context of a block: [1, hashed suffix one-hot, first block of its file, previous
    block stored raw, the previous block's ratio (with the codec that wrote it), the sample ratio].
    The previous block's outcome is free (the store wrote it); the 1 KiB sample is taken only when
    that outcome says nothing of the data (first block, or stored raw). Returns (context, sampled)."""
    k = len(suffix_hot)
    x = np.zeros(k + 5)
    x[0] = 1.0
    x[1 : k + 1] = suffix_hot
    if prev is not None and prev[0] != 0:
        x[k + 3] = prev[1]
        return x, False
    x[k + 1 if prev is None else k + 2] = 1.0
    x[k + 4] = sample_ratio
    return x, True


def _long_eval_files(data: dict[str, Any], lam: float, seed: int) -> list[dict[str, Any]]:
    """Protocol 4 at one CPU price: the long stream in file order (a store writes a file's blocks one
    after another), so a block's context may include what the store saw on the previous block of the
    same file (its codec and ratio: free); "none"'s outcome is known without trying it (the raw size,
    no CPU) and is observed on every block (``Choice.observe``)."""
    from learnedsys.decide import Choice, LinearThompson, LinUCB

    table = _LongTable(data, lam, order=_file_order([str(p) for p in data["paths"]], data["offs"]))
    add, cost, size, feats, feat_secs, paths, codecs = table.add, table.cost, table.size, table.feats, table.feat_secs, table.paths, table.codecs
    n, k = cost.shape
    block = 64 * 1024
    sfx_key = table.sfx_key
    same = np.array([i > 0 and paths[i] == paths[i - 1] for i in range(n)])
    prev_lz4 = np.where(same, np.roll(size[:, codecs.index("lz4")], 1) / block, np.nan)
    prev_bin = np.array([5 if np.isnan(r) else _ratio_bin(r) for r in prev_lz4])
    for label, keys in (("bound: hindsight best codec per suffix (free)", sfx_key),
                        ("bound: hindsight best codec per suffix x the previous block's lz4 ratio bin (as if always known)", sfx_key * 6 + prev_bin)):
        pick = _bin_bound(cost, keys)
        add(label, cost[np.arange(n), pick], pick)
    hot = np.array([_ext_onehot(p) for p in paths])

    def online(label: str, make: Any, observe_none: bool, suffix_only: bool = False) -> None:
        c = make()
        per_block, pick, paid = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n)
        prev: tuple[int, float] | None = None
        for i in range(n):
            if suffix_only:
                x, sampled = np.concatenate([[1.0], hot[i]]), False
            else:
                x, sampled = _file_context(hot[i], prev if same[i] else None, float(feats[i, 1]))
            d = c.choose(x)
            j = d.value
            paid[i] = feat_secs[i] if sampled else 0.0
            per_block[i], pick[i] = cost[i, j] + lam * paid[i], j
            c.feedback(d, -cost[i, j] / block)
            if observe_none and j != 0:
                c.observe(0, -cost[i, 0] / block, x)
            prev = (j, size[i, j] / block)
        add(label, per_block, pick, paid)

    opts = list(range(k))
    ctx_label = "suffix + the previous block's outcome, sampling only first or raw-stored blocks"
    online(f"learned: LinUCB alpha=0.1 on {ctx_label}; observes 'none'",
           lambda: Choice("codec", opts, policy=LinUCB(alpha=0.1, seed=seed), seed=seed), True)
    online(f"learned: LinUCB alpha=0.1 on {ctx_label}; without observing 'none'",
           lambda: Choice("codec", opts, policy=LinUCB(alpha=0.1, seed=seed), seed=seed), False)
    online(f"learned: linear Thompson alpha=0.05 on {ctx_label}; observes 'none'",
           lambda: Choice("codec", opts, policy=LinearThompson(alpha=0.05, seed=seed), seed=seed), True)
    online(f"learned: default policy on {ctx_label}; observes 'none'", lambda: Choice("codec", opts, seed=seed), True)
    online("learned: LinUCB alpha=0.03 on the hashed suffix only (free); observes 'none'",
           lambda: Choice("codec", opts, policy=LinUCB(alpha=0.03, seed=seed), seed=seed), True, suffix_only=True)

    return table.finish()


def _compression_long(ctx: BenchContext, res: SectionResult, n: int = 20_000, cache_dir: str = "/tmp", policy_seed: int | None = None,
                      file_order: bool = False) -> None:
    """Protocol 3 (``file_order=False``) or 4: the per-block compression choice over a long stream of
    real files (chosen with ``ctx.seed``; the policies' seed is ``policy_seed``, by default the same)."""
    data = _long_measure(n, ctx.seed, cache_dir, progress=ctx.progress)
    paths = [str(p) for p in data["paths"]]
    cats: dict[str, int] = {}
    for p in paths:
        cats[_long_category(p)] = cats.get(_long_category(p), 0) + 1
    t0, dur, load0, load1 = (float(v) for v in data["meta"])
    res.notes.append(
        f"protocol {4 if file_order else 3}: {len(paths)} blocks of 64 KiB from {len(set(paths))} files ({cats}); measured {time.strftime('%H:%M', time.gmtime(t0))} UTC "
        f"in {dur:.0f} s, load average {load0:.2f} -> {load1:.2f}; sample context median {np.median(data['feat_secs']) * 1e6:.1f} us per block"
    )
    for lam in (50e6, 125e6, 400e6):
        evaluate = _long_eval_files if file_order else _long_eval
        rows = evaluate(data, lam, ctx.seed if policy_seed is None else policy_seed)
        for r in rows:
            res.records.append({"workload": "compression-files" if file_order else "compression-long", **r})
        res.tables.append((
            f"{'Protocol 4: in file order' if file_order else 'Protocol 3'}: per-block compression choice over a long stream "
            f"({len(paths)} blocks of 64 KiB, {cats}); "
            f"cost = compressed bytes + {lam / 1e6:.0f} MB x CPU seconds",
            rows,
            [("policy", "policy", "s"), ("vs_oracle", "above oracle", ".1%"), ("vs_best_fixed", "vs best fixed", "+.1%"),
             ("last_half_vs_oracle", "last half: above oracle", ".1%"), ("last_half_vs_best_fixed", "last half: vs best fixed", "+.1%"),
             ("picks", "choices", "s")],
        ))


# -- 4. a heuristic inside a program: cache admission on SQLite's page reads -----------------------

def _page_trace(body: str, tmp: str) -> list[int]:
    """Pages SQLite reads from its main database file (through an apsw VFS shim) while it runs
    ``body`` with a 10-page cache of its own: the access stream a buffer pool below it would see."""
    import apsw

    trace: list[int] = []

    class ShimFile(apsw.VFSFile):
        def __init__(self, name: Any, flags: Any) -> None:
            self.main = bool(flags[0] & apsw.mapping_open_flags["SQLITE_OPEN_MAIN_DB"])
            super().__init__("", name, flags)

        def xRead(self, amount: int, offset: int) -> bytes:
            if self.main:
                trace.append(offset // 4096)
            return super().xRead(amount, offset)

    class ShimVFS(apsw.VFS):
        def __init__(self) -> None:
            super().__init__("lsys-trace", "")

        def xOpen(self, name: Any, flags: Any) -> ShimFile:
            return ShimFile(name, flags)

    vfs = ShimVFS()
    db = os.path.join(tmp, "trace.db")
    conn = apsw.Connection(db, vfs="lsys-trace")
    cur = conn.cursor()
    for stmt in ("PRAGMA page_size=4096", "PRAGMA cache_size=10"):
        for _ in cur.execute(stmt):
            pass
    for _ in cur.execute(body):
        pass
    conn.close()
    vfs.unregister()
    return trace


def _simulate_cache(trace: list[int], capacity: int, mode: str, seed: int, aging: bool = True) -> tuple[float, int]:
    """Hit rate of an LRU buffer pool whose admission on a miss is decided by ``mode``:
    "lru" (always admit), "tinylfu" (admit when the new page was seen more often than the LRU
    victim), "learned" (a Choice with the context [1, f_new/(f_new+f_victim), ...]; the reward,
    known only ``capacity`` accesses later, is the future accesses of the page it kept minus those
    of the page it dropped). With ``aging`` the access counts are halved every 10 x capacity
    accesses (TinyLFU's reset, with its usual sample size), so that they follow the recent past."""
    from collections import OrderedDict, defaultdict, deque

    from learnedsys.decide import Choice

    cache: OrderedDict[int, None] = OrderedDict()
    freq: dict[int, float] = defaultdict(float)
    hits = 0
    decisions = 0
    choice = Choice("admit", options=[False, True], default=True, seed=seed) if mode == "learned" else None
    watch: dict[int, list[list[Any]]] = defaultdict(list)  # page -> pending records counting it
    pending: deque[list[Any]] = deque()
    horizon = capacity
    period = 10 * capacity if aging else 0
    for t, page in enumerate(trace):
        freq[page] += 1
        if period and t % period == period - 1:
            for k in freq:
                freq[k] *= 0.5
        for rec in watch.get(page, ()):
            rec[3 if rec[1] == page else 4] += 1
        while pending and t - pending[0][0] >= horizon:
            done = pending.popleft()
            _, new, victim, a_new, a_vic, d = done
            for p in (new, victim):
                lst = watch[p]
                for j, other in enumerate(lst):
                    if other is done:
                        del lst[j]
                        break
            gain = a_new - a_vic  # future accesses of the page admitted minus the page evicted
            assert choice is not None
            choice.feedback(d, float(gain if d.value else -gain))
        if page in cache:
            hits += 1
            cache.move_to_end(page)
            continue
        if len(cache) < capacity:
            cache[page] = None
            continue
        victim = next(iter(cache))
        if mode == "lru":
            admit = True
        elif mode == "tinylfu":
            admit = freq[page] > freq[victim]
        else:
            assert choice is not None
            fn, fv = freq[page], freq[victim]
            x = [1.0, fn / (fn + fv), math.log1p(fn) / 8.0, math.log1p(fv) / 8.0]
            d = choice.choose(x)
            admit = bool(d.value)
            rec = [t, page, victim, 0, 0, d]
            pending.append(rec)
            watch[page].append(rec)
            watch[victim].append(rec)
        decisions += 1
        if admit:
            del cache[victim]
            cache[page] = None
    return hits / len(trace), decisions


def _cache(ctx: BenchContext, res: SectionResult) -> None:
    workload = _speedtest_workload(ctx, res, "cache admission", 0.25 if ctx.quick else 1.0)
    if workload is None:
        return
    tmp, body = workload
    t0 = time.perf_counter()
    trace = _page_trace(body, tmp)
    secs = time.perf_counter() - t0
    distinct = len(set(trace))
    rows: list[dict[str, Any]] = []
    for frac in (0.05, 0.15):
        cap = max(4, int(distinct * frac))
        for mode, aging, label in (
            ("lru", True, "LRU, always admit (the heuristic)"),
            ("tinylfu", False, "TinyLFU-style: admit if seen more often than the victim, counts without aging"),
            ("tinylfu", True, "TinyLFU-style, counts aged (halved every 10 x capacity accesses)"),
            ("learned", False, "learned admission (Choice, LinUCB), counts without aging, online"),
            ("learned", True, "learned admission (Choice, LinUCB), aged counts, online"),
        ):
            rate, n_dec = _simulate_cache(trace, cap, mode, ctx.seed, aging)
            rows.append({"capacity": cap, "policy": label, "hit_rate": rate, "decisions": n_dec})
    for r in rows:
        base = next(b for b in rows if b["capacity"] == r["capacity"] and b["policy"].startswith("LRU"))
        r["vs_lru"] = r["hit_rate"] - base["hit_rate"]
        res.records.append({"workload": "cache-admission", **r})
    res.tables.append((
        f"Cache admission on SQLite's page reads ({len(trace)} reads of {distinct} pages, apsw speedtest "
        f"{'25% sample' if ctx.quick else 'scale 1'}, traced through an apsw VFS shim in {secs:.1f} s); LRU buffer pool",
        rows,
        [("capacity", "pages", "d"), ("policy", "admission", "s"), ("hit_rate", "hit rate", ".3f"),
         ("vs_lru", "vs LRU", "+.3f"), ("decisions", "admission decisions", "d")],
    ))


def _figures(ctx: BenchContext, res: SectionResult) -> None:
    """Bar charts of the overhead and of the compression costs (PNG, matplotlib Agg)."""
    if ctx.report_dir is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    over = [r for r in res.records if r.get("workload") == "overhead"]
    if over:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        names = [r["what"].replace("learnedsys ", "").replace("plain Python epsilon-greedy, ", "plain: ") for r in over]
        ax.barh(range(len(over)), [r["us"] for r in over], color=["tab:gray" if "plain" in n else ("tab:blue" if "Choice" in n else "tab:orange") for n in names])
        ax.set_yticks(range(len(over)), names, fontsize=7)
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_xlabel("µs per choose + feedback (log scale)")
        ax.set_title("decide: overhead per decision")
        fig.tight_layout()
        save_figure(fig, ctx.report_dir / "decide_overhead.png", dpi=110)
        plt.close(fig)
        res.figures.append(("decide_overhead.png", "decide: µs per choose + feedback, learnedsys vs plain Python, Vowpal Wabbit and Optuna"))
    comp = [r for r in res.records if r.get("workload") == "compression"]
    if comp:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        prices = sorted({r["cpu_price_mb_s"] for r in comp})
        parts = [[r for r in comp if r["cpu_price_mb_s"] == pr] for pr in prices]
        h = 0.8 / len(parts)
        for off, (part, pr) in enumerate(zip(parts, prices, strict=True)):
            ax.barh([i + h * off for i in range(len(part))], [r["vs_oracle"] * 100 for r in part], height=h, label=f"CPU at {pr:.0f} MB/s")
        ax.set_yticks(range(len(parts[0])), [r["policy"].replace(", online", "")[:60] for r in parts[0]], fontsize=7)
        ax.set_xscale("symlog", linthresh=10)
        ax.invert_yaxis()
        ax.set_xlabel("% above the per-block oracle's cost")
        ax.set_title("decide: per-block compression choice")
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        save_figure(fig, ctx.report_dir / "decide_compression.png", dpi=110)
        plt.close(fig)
        res.figures.append(("decide_compression.png", "decide: per-block compression, cost above the oracle (fixed, learned)"))


def run(ctx: BenchContext) -> SectionResult:
    res = SectionResult(
        name="decide",
        title="decide: learned decisions (overhead, SQLite PRAGMA tuning, compression choice, cache admission)",
    )
    t0 = time.perf_counter()
    _overhead(ctx, res)
    ctx.log(f"decide: overhead done ({time.perf_counter() - t0:.1f} s)")
    _sqlite(ctx, res)
    ctx.log(f"decide: sqlite done ({time.perf_counter() - t0:.1f} s)")
    _compression(ctx, res)
    ctx.log(f"decide: compression done ({time.perf_counter() - t0:.1f} s)")
    _cache(ctx, res)
    ctx.log(f"decide: cache admission done ({time.perf_counter() - t0:.1f} s)")
    for r in res.records:  # one headline figure per row for the section's summary table
        if r["workload"] == "overhead":
            r["name"], r["headline"], r["unit"] = r["what"], r["us"], "µs per decision"
        elif r["workload"] == "overhead-paired":
            r["name"], r["headline"], r["unit"] = r["what"], r["median"], "× (per-round paired ratio, median)"
        elif r["workload"] == "cache-admission":
            r["name"], r["headline"], r["unit"] = f"{r['policy']} @ {r['capacity']} pages", r["hit_rate"], "hit rate"
        elif r["workload"] == "sqlite-pragma":
            r["name"], r["headline"], r["unit"] = r["method"], r["best_s"], "s (best found)"
        else:
            r["name"], r["headline"], r["unit"] = f"{r['policy']} @ {r['cpu_price_mb_s']:.0f} MB/s", r["vs_oracle"] * 100, "% above oracle"
    res.columns = [("workload", "workload", "s"), ("name", "what", "s"), ("headline", "value", ".4g"), ("unit", "unit", "s")]
    _figures(ctx, res)
    if not res.tables:
        res.notes.append("no workload ran")
    return res

