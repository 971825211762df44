"""Bench section ``bloom``: learned Bloom filters next to the filters people use today.

For every data set (English vs Romance words and ad/tracker vs benign hosts from the shared data,
or the user's ``--keys``/``--negatives``, or a generated set when neither is there), the negatives
are split with the seed into train / validation / test thirds; FPR is always measured on the test
third, which no structure saw. Side by side in one process: our ``BloomFilter``, ``rbloom``,
``pyxorfilter`` Fuse8, our ``BinaryFuseFilter``, ``LearnedBloomFilter``,
``SandwichedLearnedBloomFilter`` and ``PartitionedLearnedBloomFilter`` (with Bloom and with binary
fuse backups). Memory is compared at equal *measured* FPR: the ratio of a structure's bytes to a
standard Bloom filter's optimal size for the FPR that structure actually showed.
"""

from __future__ import annotations

import gzip
import math
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from learnedsys.bench._harness import BenchContext, SectionResult, measure

PACKAGES = ("rbloom", "pyxorfilter", "xxhash")

_LEARNED = ("LBF", "sandwiched LBF", "PLBF", "PLBF (fuse backups)")


def _read(path: Path) -> list[str]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="surrogateescape") as fh:
        return [ln.rstrip("\r\n") for ln in fh if ln.strip()]


def generated_set(n_keys: int, n_neg: int, seed: int) -> tuple[list[str], list[str]]:
    """URL-like keys vs host-like negatives with overlap: a set a model can partly learn.

    Names join one to three parts (a common word or a random string) with a top-level domain;
    keys and negatives draw words and domains from overlapping but shifted lists.
    """
    rng = np.random.default_rng(seed)
    words = ["login", "secure", "account", "verify", "update", "bank", "pay", "mail", "news",
             "shop", "blog", "docs", "wiki", "cdn", "img", "static", "media", "home", "forum"]
    tlds = ["com", "net", "org", "io", "info", "xyz", "ru", "de", "fr", "co"]
    alphabet = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)

    def names(m: int, bias: int) -> list[str]:
        n_parts = rng.integers(1, 4, m)
        is_word = rng.random((m, 3)) < 0.5
        widx = rng.integers(bias, bias + 12, (m, 3)) % len(words)
        rlen = rng.integers(3, 9, (m, 3))
        raw = alphabet[rng.integers(0, alphabet.shape[0], (m, 3, 8))].tobytes().decode("ascii")
        tld = rng.integers(bias // 3, bias // 3 + 6, m) % len(tlds)
        out = []
        for i in range(m):
            parts = []
            for p in range(int(n_parts[i])):
                if is_word[i, p]:
                    parts.append(words[int(widx[i, p])])
                else:
                    off = (i * 3 + p) * 8
                    parts.append(raw[off : off + int(rlen[i, p])])
            out.append("-".join(parts) + "." + tlds[int(tld[i])])
        return out

    keys = sorted(list(dict.fromkeys(names(int(n_keys * 1.3) + 10, 0)))[:n_keys])
    kset = set(keys)
    negs = [x for x in dict.fromkeys(names(int(n_neg * 1.3) + 10, 7)) if x not in kset]
    return keys, sorted(negs[:n_neg])


def _datasets(ctx: BenchContext, notes: list[str]) -> list[tuple[str, list[str], list[str]]]:
    out = []
    if ctx.keys_path is not None or ctx.negatives_path is not None:
        if ctx.keys_path is None or ctx.negatives_path is None:
            raise SystemExit("learnedsys bench bloom: give both --keys and --negatives")
        keys, negs = _read(ctx.keys_path), _read(ctx.negatives_path)
        out.append((f"user set {ctx.keys_path.name}", keys, negs))
        return out
    folder = ctx.data_dir / "bloom" if ctx.data_dir is not None else None
    files = ("words_english.txt.gz", "words_romance.txt.gz", "hosts_adtrack.txt.gz", "hosts_benign.txt.gz")
    if folder is not None and all((folder / f).exists() for f in files):
        out.append(("English vs Romance words", _read(folder / files[0]), _read(folder / files[1])))
        out.append(("ad/tracker vs benign hosts", _read(folder / files[2]), _read(folder / files[3])))
    else:
        notes.append("shared data (../shared/data/bloom) is absent: a generated URL-like set is used instead")
        n = 60_000 if ctx.quick else 300_000
        keys, negs = generated_set(n, 2 * n, ctx.seed)
        out.append(("generated URL-like set", keys, negs))
    return out


def _subsample(items: list[str], n: int, rng: np.random.Generator) -> list[str]:
    if len(items) <= n:
        return items
    idx = np.sort(rng.choice(len(items), n, replace=False))
    return [items[i] for i in idx]


def _standard_bytes(n: int, fpr: float) -> float:
    """Bytes of an optimal standard Bloom filter for ``n`` keys at ``fpr``."""
    return n * math.log(1.0 / fpr) / (math.log(2.0) ** 2) / 8.0


class _CpuTimed:
    """Wraps a call to also record its process CPU time (the machine may be shared: wall time
    then includes waiting for a core, CPU time does not)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.cpu: list[float] = []

    def __call__(self) -> Any:
        t0 = time.process_time()
        out = self.fn()
        self.cpu.append(time.process_time() - t0)
        return out

    def median(self, repeats: int) -> float:
        return float(np.median(self.cpu[-repeats:]))


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[Any, Any, float]:
    """(timing, last result, median CPU seconds) of ``fn`` through the harness's ``measure``."""
    wrapped = _CpuTimed(fn)
    timing, ans = measure(wrapped, repeats=repeats)
    return timing, ans, wrapped.median(repeats)


def _ratio(nbytes: int, n: int, fpr: float, n_test: int) -> float | None:
    """``nbytes`` over a standard Bloom filter's bytes at ``fpr`` (at least 1/n_test); None at 1."""
    eff = max(fpr, 1.0 / max(n_test, 1))
    return nbytes / _standard_bytes(n, eff) if eff < 1.0 else None


def _run_dataset(
    ctx: BenchContext,
    name: str,
    keys_all: list[str],
    negs_all: list[str],
    rng: np.random.Generator,
    targets: list[float],
    result: SectionResult,
    notes: list[str],
    sweep_rows: list[dict[str, Any]],
    figures: list[tuple[str, str]],
) -> None:
    import pyxorfilter
    import rbloom

    from learnedsys.bloom import (
        BinaryFuseFilter,
        BloomFilter,
        LearnedBloomFilter,
        NGramLogistic,
        PartitionedLearnedBloomFilter,
        SandwichedLearnedBloomFilter,
        encode_items,
    )

    repeats = max(1, ctx.repeats)
    keys = list(dict.fromkeys(keys_all))
    kset = set(keys)
    negs = [x for x in dict.fromkeys(negs_all) if x not in kset]
    if ctx.quick:
        keys = _subsample(keys, 60_000, rng)
        negs = _subsample(negs, 120_000, rng)
    perm = rng.permutation(len(negs))
    third = len(negs) // 3
    test = [negs[i] for i in np.sort(perm[:third])]
    train = [negs[i] for i in np.sort(perm[third : 2 * third])]
    val = [negs[i] for i in np.sort(perm[2 * third :])]
    n = len(keys)
    ctx.log(f"  {name}: {n} keys, negatives {len(train)} train / {len(val)} validation / {len(test)} test")
    # one query batch: the test negatives and as many keys, shuffled; answers checked below
    q_keys = _subsample(keys, len(test), rng)
    queries = test + q_keys
    order = rng.permutation(len(queries))
    queries = [queries[i] for i in order]
    is_key = np.zeros(len(queries), dtype=bool)
    is_key[np.flatnonzero(order >= len(test))] = True

    def record(structure: str, target: float | None, nbytes: int, build_s: float,
               answers: np.ndarray, timing: Any, cpu: float, **extra: Any) -> dict[str, Any]:
        fn = int((~answers[is_key]).sum())
        fpr = float(answers[~is_key].mean())
        rec = {
            "dataset": name, "structure": structure, "target_fpr": target, "keys": n,
            "bytes": int(nbytes), "bits_per_key": 8.0 * nbytes / n, "measured_fpr": fpr,
            "fpr_vs_target": fpr / target if target else None,
            "ratio_vs_bloom": _ratio(nbytes, n, fpr, len(test)),
            "build_s": build_s, "query_ns": timing.median / len(queries) * 1e9,
            "query_spread": timing.spread, "mitems_s": len(queries) / timing.median / 1e6,
            "mitems_s_cpu": len(queries) / max(cpu, 1e-9) / 1e6,
            "false_negatives": fn, **extra,
        }
        if fn:
            notes.append(f"{name}: {structure} missed {fn} keys (false negatives)!")
        return rec

    # -- baselines at 1% (Fuse8 has a fixed 8-bit fingerprint) --------------------------
    t0 = time.perf_counter()
    ours = BloomFilter(target_fpr=0.01).fit(keys)
    tb = time.perf_counter() - t0
    timing, ans, cpu = _timed(partial(ours.contains, queries), repeats)
    result.records.append(record("BloomFilter (ours)", 0.01, ours.size_in_bytes(), tb, ans, timing, cpu))

    t0 = time.perf_counter()
    rb = rbloom.Bloom(n, 0.01)
    rb.update(keys)
    tb = time.perf_counter() - t0
    timing, ans, cpu = _timed(lambda: np.fromiter((q in rb for q in queries), bool, len(queries)), repeats)
    result.records.append(record("rbloom", 0.01, rb.size_in_bits // 8, tb, ans, timing, cpu))

    t0 = time.perf_counter()
    xf = pyxorfilter.Fuse8(n)
    if not xf.populate(keys):
        notes.append(f"{name}: pyxorfilter Fuse8 construction failed")
    tb = time.perf_counter() - t0
    timing, ans, cpu = _timed(lambda: np.fromiter((xf.contains(q) for q in queries), bool, len(queries)), repeats)
    result.records.append(record("pyxorfilter Fuse8", 2**-8, xf.size_in_bytes(), tb, ans, timing, cpu))

    t0 = time.perf_counter()
    bf = BinaryFuseFilter(fingerprint_bits=7).fit(keys)
    tb = time.perf_counter() - t0
    timing, ans, cpu = _timed(partial(bf.contains, queries), repeats)
    result.records.append(record("BinaryFuseFilter r=7 (ours)", 2**-7, bf.size_in_bytes(), tb, ans, timing, cpu))

    # -- learned filters at 1%, built from scratch (train + validation negatives) --------
    learned: dict[str, Callable[..., Any]] = {
        "LBF": lambda F, **kw: LearnedBloomFilter(target_fpr=F, seed=ctx.seed, **kw),
        "sandwiched LBF": lambda F, **kw: SandwichedLearnedBloomFilter(target_fpr=F, seed=ctx.seed, **kw),
        "PLBF": lambda F, **kw: PartitionedLearnedBloomFilter(target_fpr=F, seed=ctx.seed, **kw),
        "PLBF (fuse backups)": lambda F, **kw: PartitionedLearnedBloomFilter(target_fpr=F, backup="fuse", seed=ctx.seed, **kw),
    }
    for label, make in learned.items():
        if ctx.quick and label != "PLBF":
            # quick runs build only PLBF from scratch; the sweep below covers the others
            continue
        t0 = time.perf_counter()
        f = make(0.01).fit(keys, train + val)
        tb = time.perf_counter() - t0
        timing, ans, cpu = _timed(partial(f.contains, queries), repeats)
        br = f.size_breakdown()
        result.records.append(record(label, 0.01, f.size_in_bytes(), tb, ans, timing, cpu,
                                     model_bytes=br["model"], regions=len(f.regions_)))

    # -- sweep over targets with one shared classifier (trained on the train third) ------
    t0 = time.perf_counter()
    kb = encode_items(keys)
    clf = NGramLogistic().fit(kb, encode_items(train), ctx.seed)
    t_clf = time.perf_counter() - t0
    ctx.log(f"  {name}: classifier ({clf.size_in_bytes()} bytes) trained in {t_clf:.1f} s")
    curve: dict[str, list[tuple[float, int]]] = {}
    for target in targets:
        for label, make in learned.items():
            t0 = time.perf_counter()
            f = make(target, classifier=clf, refit=False).fit(keys, val)
            tb = time.perf_counter() - t0 + t_clf
            ans = f.contains(queries)
            fpr = float(ans[~is_key].mean())
            fn = int((~ans[is_key]).sum())
            if fn:
                notes.append(f"{name}: {label} at {target} missed {fn} keys!")
            row = {"dataset": name, "structure": label, "target_fpr": target, "bytes": f.size_in_bytes(),
                   "measured_fpr": fpr, "fpr_vs_target": fpr / target,
                   "ratio_vs_bloom": _ratio(f.size_in_bytes(), n, fpr, len(test)), "build_s": tb,
                   "false_negatives": fn}
            sweep_rows.append(row)
            curve.setdefault(label, []).append((fpr, f.size_in_bytes()))
        plain: list[tuple[str, Any]] = [
            ("BloomFilter (ours)", BloomFilter(target_fpr=target)),
            ("BinaryFuseFilter (ours)", BinaryFuseFilter(target_fpr=target)),
        ]
        for label, g in plain:
            g.fit(keys)
            ans = g.contains(queries)
            curve.setdefault(label, []).append((float(ans[~is_key].mean()), g.size_in_bytes()))
    fuse8 = next(r for r in result.records if r["dataset"] == name and r["structure"] == "pyxorfilter Fuse8")
    curve["pyxorfilter Fuse8"] = [(fuse8["measured_fpr"], fuse8["bytes"])]
    rbr = next(r for r in result.records if r["dataset"] == name and r["structure"] == "rbloom")
    curve["rbloom"] = [(rbr["measured_fpr"], rbr["bytes"])]
    if ctx.report_dir is not None:
        ctx.report_dir.mkdir(parents=True, exist_ok=True)
        fname = f"bloom_{len(figures)}_memory_vs_fpr.png"
        _plot(ctx.report_dir / fname, name, n, curve)
        figures.append((fname, f"{name}: total bytes against FPR measured on held-out negatives ({n} keys)"))


def _warm_up() -> None:
    """Build and query each structure once on tiny data, so that numba compiles (or loads its
    cache) before any build is timed."""
    from learnedsys.bloom import (
        BinaryFuseFilter,
        BloomFilter,
        LearnedBloomFilter,
        PartitionedLearnedBloomFilter,
        SandwichedLearnedBloomFilter,
    )

    keys, negs = generated_set(300, 600, seed=0)
    for f in (BloomFilter(), BinaryFuseFilter()):
        f.fit(keys).contains(negs)
    for cls in (LearnedBloomFilter, SandwichedLearnedBloomFilter, PartitionedLearnedBloomFilter):
        for backup in ("bloom", "fuse"):
            cls(target_fpr=0.05, backup=backup).fit(keys, negs).contains(negs)


def run(ctx: BenchContext) -> SectionResult:
    notes: list[str] = []
    result = SectionResult(name="bloom", title="Learned Bloom filters (bloom)")
    rng = np.random.default_rng(ctx.seed)
    datasets = _datasets(ctx, notes)
    _warm_up()
    targets = [0.001, 0.01, 0.05] if ctx.quick else [0.001, 0.002, 0.0039, 0.01, 0.02, 0.05]
    sweep_rows: list[dict[str, Any]] = []
    figures: list[tuple[str, str]] = []

    for name, keys_all, negs_all in datasets:
        _run_dataset(ctx, name, keys_all, negs_all, rng, targets, result, notes, sweep_rows, figures)

    result.columns = [
        ("dataset", "data", "s"), ("structure", "structure", "s"), ("target_fpr", "target FPR", ".4g"),
        ("bytes", "bytes", ",d"), ("bits_per_key", "bits/key", ".2f"), ("measured_fpr", "test FPR", ".4g"),
        ("ratio_vs_bloom", "x Bloom @ same FPR", ".3f"), ("build_s", "build s", ".2f"),
        ("query_ns", "ns/query", ".0f"), ("mitems_s", "M items/s", ".2f"),
        ("mitems_s_cpu", "M items/CPU-s", ".2f"), ("false_negatives", "FN", "d"),
    ]
    sweep_cols = [
        ("dataset", "data", "s"), ("structure", "structure", "s"), ("target_fpr", "target FPR", ".4g"),
        ("bytes", "bytes", ",d"), ("measured_fpr", "test FPR", ".4g"), ("fpr_vs_target", "FPR/target", ".2f"),
        ("ratio_vs_bloom", "x Bloom @ same FPR", ".3f"), ("false_negatives", "FN", "d"),
    ]
    result.tables.append(("Sweep over target FPRs (one classifier per data set, shared by the learned filters)", sweep_rows, sweep_cols))
    result.figures = figures
    notes.append(
        "x Bloom @ same FPR: bytes divided by an optimal standard Bloom filter's size "
        "(n ln(1/p) / ln(2)^2 bits) for the FPR p measured on the test negatives (at least 1/|test|)."
    )
    notes.append(
        "FPR is measured on a test third of the negatives nobody trained or tuned on; "
        "queries are batches of test negatives and as many keys, answers checked (FN column)."
    )
    notes.append(
        "M items/s: batched queries per wall-clock second (median of the repeats); M items/CPU-s: "
        "per second of this process's CPU time in the same calls, which a busy shared machine "
        "does not inflate."
    )
    notes.append(
        "rbloom and pyxorfilter answer one item per Python call (their API); ours answer a batch per call. "
        "Build time of learned filters at 1% includes training the classifier; sweep rows share one classifier."
    )
    if ctx.quick:
        notes.append("quick run: at most 60k keys and 120k negatives per data set; only PLBF built from scratch")
    result.notes = notes
    for r in sweep_rows:
        r.setdefault("sweep", True)
    return result


def _plot(path: Path, title: str, n: int, curve: dict[str, list[tuple[float, int]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    allf = [p[0] for pts in curve.values() for p in pts if p[0] > 0]
    if allf:
        xs = np.logspace(np.log10(min(allf) * 0.7), np.log10(max(allf) * 1.3), 50)
        ax.plot(xs, [_standard_bytes(n, x) for x in xs], "k:", label="optimal standard Bloom")
    markers = "osD^v<>ph*"
    for i, (label, pts) in enumerate(curve.items()):
        pts = sorted((p for p in pts if p[0] > 0), key=lambda p: p[0])
        if not pts:
            continue
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=markers[i % len(markers)],
                linestyle="-" if len(pts) > 1 else "none", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("FPR measured on held-out negatives")
    ax.set_ylabel("total bytes")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
