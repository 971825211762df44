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

from learnedsys._lazy import pyplot
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


def _datasets(ctx: BenchContext, notes: list[str]) -> list[tuple[str, list[str], list[str], list[str] | None, str]]:
    """(name, keys, negatives, another source of queries or None, that source's name)."""
    out: list[tuple[str, list[str], list[str], list[str] | None, str]] = []
    if ctx.keys_path is not None or ctx.negatives_path is not None:
        if ctx.keys_path is None or ctx.negatives_path is None:
            raise SystemExit("learnedsys bench bloom: give both --keys and --negatives")
        keys, negs = _read(ctx.keys_path), _read(ctx.negatives_path)
        notes.append("user set: no other source of queries is known; the 'another source' query set is left out")
        out.append((f"user set {ctx.keys_path.name}", keys, negs, None, ""))
        return out
    folder = ctx.data_dir / "bloom" if ctx.data_dir is not None else None
    files = ("words_english.txt.gz", "words_romance.txt.gz", "hosts_adtrack.txt.gz", "hosts_benign.txt.gz")
    if folder is not None and all((folder / f).exists() for f in files):
        words, romance = _read(folder / files[0]), _read(folder / files[1])
        ads, benign = _read(folder / files[2]), _read(folder / files[3])
        out.append(("English vs Romance words", words, romance, benign, "benign host names"))
        out.append(("ad/tracker vs benign hosts", ads, benign, words, "English words"))
    else:
        notes.append("shared data (../shared/data/bloom) is absent: a generated URL-like set is used instead, "
                     "and the 'another source' query set is left out")
        n = 60_000 if ctx.quick else 300_000
        keys, negs = generated_set(n, 2 * n, ctx.seed)
        out.append(("generated URL-like set", keys, negs, None, ""))
    return out


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (95% by default) of a rate seen ``k`` times in ``n`` trials."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    den = 1.0 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def _alphabet(keys: list[str]) -> str:
    """The characters keys use, most frequent first (edits draw from the 26 most frequent + digits)."""
    counts: dict[str, int] = {}
    for k in keys[:: max(1, len(keys) // 20000)]:
        for c in k:
            counts[c] = counts.get(c, 0) + 1
    return "".join(sorted(counts, key=lambda c: -counts[c])[:40])


def shifted_sets(keys: list[str], other: list[str] | None, n: int, rng: np.random.Generator) -> dict[str, list[str]]:
    """Query sets unlike the training negatives, made from the data; none holds a key.

    - ``edits``: a key with one character replaced by another character keys use;
    - ``concatenations``: two keys glued together;
    - ``random strings``: lowercase letters, lengths drawn from the keys';
    - ``another source`` (when ``other`` is given): items of another data set.
    """
    kset = set(keys)
    alpha = _alphabet(keys)
    out: dict[str, list[str]] = {}
    edits: list[str] = []
    for i in rng.integers(0, len(keys), 3 * n):
        k = keys[int(i)]
        if not k:
            continue
        p = int(rng.integers(len(k)))
        c = alpha[int(rng.integers(len(alpha)))]
        e = k[:p] + c + k[p + 1 :]
        if e not in kset:
            edits.append(e)
            if len(edits) >= n:
                break
    out["edits"] = edits
    a, b = rng.integers(0, len(keys), 2 * n), rng.integers(0, len(keys), 2 * n)
    out["concatenations"] = [x for x in (keys[int(i)] + keys[int(j)] for i, j in zip(a, b, strict=True)) if x not in kset][:n]
    lengths = np.array([len(keys[int(i)]) for i in rng.integers(0, len(keys), n)])
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    raw = letters[rng.integers(0, 26, int(lengths.sum()))].tobytes().decode("ascii")
    cuts = np.concatenate([[0], np.cumsum(lengths)])
    out["random strings"] = [x for x in (raw[cuts[i] : cuts[i + 1]] for i in range(n)) if x not in kset]
    if other is not None:
        pool = [x for x in dict.fromkeys(other) if x not in kset]
        pick = rng.permutation(len(pool))[:n]
        out["another source"] = [pool[int(i)] for i in np.sort(pick)]
    return out


def drift_stream(pool: list[str], length: int, rng: np.random.Generator, zipf_s: float | None) -> list[str]:
    """A stream of ``length`` queries from ``pool``: Zipf-popular items (exponent ``zipf_s``, the
    ranks shuffled), or, for ``None``, distinct items in random order (nothing repeats)."""
    order = rng.permutation(len(pool))
    if zipf_s is None:
        return [pool[int(i)] for i in order[:length]]
    w = 1.0 / np.arange(1, len(pool) + 1) ** zipf_s
    draws = rng.choice(len(pool), length, p=w / w.sum())
    return [pool[int(order[i])] for i in draws]


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


def _fuse_bytes(n: int, fpr: float) -> float:
    """Bytes of our smallest binary fuse filter of ``n`` keys with FPR at most ``fpr``."""
    from learnedsys.bloom._fuse import fuse_bits

    r = min(32, max(1, math.ceil(math.log2(1.0 / max(fpr, 2.0**-32)) - 1e-9)))
    return fuse_bits(n, r) / 8.0 + 32


def _ratio_fuse(nbytes: int, n: int, fpr: float, n_test: int) -> float | None:
    """``nbytes`` over the smallest binary fuse filter at ``fpr`` (at least 1/n_test)."""
    eff = max(fpr, 1.0 / max(n_test, 1))
    return nbytes / _fuse_bytes(n, eff) if eff < 1.0 else None


def _rates(f: Any, sets: dict[str, list[str]]) -> dict[str, tuple[int, int]]:
    """(false positives, queries) of ``f`` on every query set."""
    return {k: (int(np.count_nonzero(f.contains(v))), len(v)) for k, v in sets.items() if v}


def _drift_cells(rates: dict[str, tuple[int, int]], shifted: list[str]) -> dict[str, Any]:
    """Table cells: each set's FPR with its Wilson 95% interval, and the worst shifted FPR."""
    cells: dict[str, Any] = {}
    for k, (fp, n) in rates.items():
        lo, hi = wilson(fp, n)
        cells[f"fpr[{k}]"] = fp / n
        cells[f"ci[{k}]"] = f"{100 * fp / n:.2f} [{100 * lo:.2f}, {100 * hi:.2f}]"
    worst = max((rates[k][0] / rates[k][1], k) for k in shifted if k in rates)
    lo, hi = wilson(*rates[worst[1]])
    cells["worst_shifted"] = worst[0]
    cells["worst_set"] = worst[1]
    cells["worst_ci"] = f"{100 * worst[0]:.2f} [{100 * lo:.2f}, {100 * hi:.2f}] ({worst[1]})"
    return cells


def _run_dataset(
    ctx: BenchContext,
    name: str,
    keys_all: list[str],
    negs_all: list[str],
    other: list[str] | None,
    other_name: str,
    rng: np.random.Generator,
    targets: list[float],
    result: SectionResult,
    notes: list[str],
    tables: dict[str, list[dict[str, Any]]],
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

    # shifted query sets made from the data (drift): none of them looks like the training negatives
    n_shift = 5000 if ctx.quick else 20000
    shifted = shifted_sets(keys, other, n_shift, rng)
    query_sets = {"test negatives": test, **shifted}
    shifted_names = list(shifted)
    for label, g in (("BloomFilter (ours)", ours), ("BinaryFuseFilter r=7 (ours)", bf)):
        tables["drift"].append({"dataset": name, "structure": label, "target_fpr": 0.01 if g is ours else 2**-7,
                                "bytes": g.size_in_bytes(), "ratio_vs_bloom": None, "source": other_name or "-",
                                **_drift_cells(_rates(g, query_sets), shifted_names)})

    # -- learned filters at 1%, built from scratch (train + validation negatives) --------
    learned: dict[str, Callable[..., Any]] = {
        "LBF": lambda F, **kw: LearnedBloomFilter(target_fpr=F, seed=ctx.seed, **kw),
        "sandwiched LBF": lambda F, **kw: SandwichedLearnedBloomFilter(target_fpr=F, seed=ctx.seed, **kw),
        "PLBF": lambda F, **kw: PartitionedLearnedBloomFilter(target_fpr=F, seed=ctx.seed, **kw),
    }
    def unbounded(make: Callable[..., Any]) -> Callable[..., Any]:
        return lambda F, **kw: make(F, worst_case_fpr=None, **kw)

    kinds = {**learned, **{f"{k} (no worst-case bound)": unbounded(v) for k, v in learned.items()}}
    for label, make in kinds.items():
        if ctx.quick and not label.startswith("PLBF"):
            # quick runs build only PLBF from scratch; the sweep below covers the others
            continue
        t0 = time.perf_counter()
        f = make(0.01).fit(keys, train + val)
        tb = time.perf_counter() - t0
        timing, ans, cpu = _timed(partial(f.contains, queries), repeats)
        br = f.size_breakdown()
        rates = _rates(f, shifted)
        worst = max(fp / q for fp, q in rates.values())
        result.records.append(record(label, 0.01, f.size_in_bytes(), tb, ans, timing, cpu,
                                     model_bytes=br["model"], regions=len(f.regions_),
                                     worst_shifted=worst, bound=f.worst_case_bound_))

    # -- sweep over targets with one shared classifier (trained on the train third) ------
    t0 = time.perf_counter()
    kb = encode_items(keys)
    clf = NGramLogistic().fit(kb, encode_items(train), ctx.seed)
    t_clf = time.perf_counter() - t0
    ctx.log(f"  {name}: classifier ({clf.size_in_bytes()} bytes) trained in {t_clf:.1f} s")
    curve: dict[str, list[tuple[float, int]]] = {}
    at_one: dict[str, Any] = {}
    for target in targets:
        for label, make in kinds.items():
            t0 = time.perf_counter()
            f = make(target, classifier=clf, refit=False).fit(keys, val)
            tb = time.perf_counter() - t0 + t_clf
            ans = f.contains(queries)
            fpr = float(ans[~is_key].mean())
            fn = int((~ans[is_key]).sum())
            if fn:
                notes.append(f"{name}: {label} at {target} missed {fn} keys!")
            rates = _rates(f, shifted)
            worst_k = max(rates, key=lambda k: rates[k][0] / rates[k][1])
            row = {"dataset": name, "structure": label, "target_fpr": target, "bytes": f.size_in_bytes(),
                   "measured_fpr": fpr, "fpr_vs_target": fpr / target,
                   "ratio_vs_bloom": _ratio(f.size_in_bytes(), n, fpr, len(test)),
                   "ratio_vs_fuse": _ratio_fuse(f.size_in_bytes(), n, fpr, len(test)),
                   "worst_shifted": rates[worst_k][0] / rates[worst_k][1], "worst_set": worst_k,
                   "bound": f.worst_case_bound_, "build_s": tb, "false_negatives": fn}
            tables["sweep"].append(row)
            curve.setdefault(label, []).append((fpr, f.size_in_bytes()))
            if target == 0.01:
                at_one[label] = f
        plain: list[tuple[str, Any]] = [
            ("BloomFilter (ours)", BloomFilter(target_fpr=target)),
            ("BinaryFuseFilter (ours)", BinaryFuseFilter(target_fpr=target)),
        ]
        for label, g in plain:
            g.fit(keys)
            ans = g.contains(queries)
            curve.setdefault(label, []).append((float(ans[~is_key].mean()), g.size_in_bytes()))
    for label, f in at_one.items():
        fpr = f.contains(test).mean()
        tables["drift"].append({"dataset": name, "structure": label, "target_fpr": 0.01, "bytes": f.size_in_bytes(),
                                "ratio_vs_bloom": _ratio(f.size_in_bytes(), n, float(fpr), len(test)),
                                "source": other_name or "-", "bound": f.worst_case_bound_,
                                **_drift_cells(_rates(f, query_sets), shifted_names)})
    fuse8 = next(r for r in result.records if r["dataset"] == name and r["structure"] == "pyxorfilter Fuse8")
    curve["pyxorfilter Fuse8"] = [(fuse8["measured_fpr"], fuse8["bytes"])]
    rbr = next(r for r in result.records if r["dataset"] == name and r["structure"] == "rbloom")
    curve["rbloom"] = [(rbr["measured_fpr"], rbr["bytes"])]

    # -- learning from false positives on drifted streams ---------------------------------
    _adapt_runs(ctx, name, keys, val, test, shifted, clf, rng, tables["adapt"], notes)

    if ctx.report_dir is not None:
        ctx.report_dir.mkdir(parents=True, exist_ok=True)
        fname = f"bloom_{len(figures)}_memory_vs_fpr.png"
        _plot(ctx.report_dir / fname, name, n, curve)
        figures.append((fname, f"{name}: total bytes against FPR measured on held-out negatives ({n} keys); "
                               "learned filters' FPRs hold for queries like those negatives only"))
        fname = f"bloom_{len(figures)}_fpr_by_query_set.png"
        _plot_drift(ctx.report_dir / fname, name, [r for r in tables["drift"] if r["dataset"] == name],
                    list(query_sets))
        figures.append((fname, f"{name}: FPR of each structure (1% target) on each query set, 95% Wilson intervals"))


def _adapt_runs(ctx: BenchContext, name: str, keys: list[str], val: list[str], test: list[str],
                shifted: dict[str, list[str]], clf: Any, rng: np.random.Generator,
                rows: list[dict[str, Any]], notes: list[str]) -> None:
    """Default PLBF at 1% on drifted streams: FPR of the second half before and after
    ``adapt`` on the false positives of the first half (veto only; veto and re-allocation)."""
    from learnedsys.bloom import PartitionedLearnedBloomFilter, encode_items

    pool = list(dict.fromkeys(x for v in shifted.values() for x in v))
    length = 20_000 if ctx.quick else 100_000
    probe = encode_items(test[: len(test) // 2] + keys[: len(test) // 2])
    for stream_name, zipf_s in (("Zipf 1.0 over the shifted items", 1.0), ("no repeats (each shifted item once)", None)):
        stream = drift_stream(pool, min(length, len(pool)) if zipf_s is None else length, rng, zipf_s)
        half = len(stream) // 2
        first, second = stream[:half], stream[half:]
        seen = set(first)
        repeat = float(np.mean([x in seen for x in second]))
        for mode in ("none", "veto (adapt without keys)", "veto + re-allocation (adapt with keys)"):
            f = PartitionedLearnedBloomFilter(target_fpr=0.01, classifier=clf, refit=False, seed=ctx.seed).fit(keys, val)
            size0 = f.size_in_bytes()
            a1 = f.contains(first)
            fps = [x for x, a in zip(first, a1.tolist(), strict=True) if a]
            t0 = time.perf_counter()
            if mode.startswith("veto + "):
                f.adapt(fps, keys=keys)
            elif mode.startswith("veto"):
                f.adapt(fps)
            t_adapt = time.perf_counter() - t0
            a2 = f.contains(second)
            fp2 = int(np.count_nonzero(a2))
            lo, hi = wilson(fp2, len(second))
            fn = int(np.count_nonzero(~f.contains(keys)))
            if fn:
                notes.append(f"{name}: adapted PLBF ({mode}) missed {fn} keys!")
            _, _, cpu = _timed(partial(f.contains, probe), max(1, ctx.repeats))
            rows.append({
                "dataset": name, "stream": stream_name, "queries": len(stream), "repeat_share": repeat,
                "mode": mode, "fpr_first": float(a1.mean()), "fpr_second": fp2 / len(second),
                "ci_second": f"{100 * fp2 / len(second):.2f} [{100 * lo:.2f}, {100 * hi:.2f}]",
                "x_target": fp2 / len(second) / 0.01, "reported": len(fps), "bytes": f.size_in_bytes(),
                "growth": f.size_in_bytes() / size0 - 1.0, "test_fpr_after": float(f.contains(test).mean()),
                "false_negatives": fn, "adapt_s": t_adapt, "mitems_s_cpu": len(probe) / max(cpu, 1e-9) / 1e6,
            })


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
    for plain in (BloomFilter(), BinaryFuseFilter()):
        plain.fit(keys).contains(negs)
    for cls in (LearnedBloomFilter, SandwichedLearnedBloomFilter, PartitionedLearnedBloomFilter):
        for backup in ("bloom", "fuse", "auto"):
            f = cls(target_fpr=0.05, backup=backup).fit(keys, negs)
            f.contains(negs)
    f.adapt(negs[:50], keys=keys).contains(negs)  # the veto's kernel


def run(ctx: BenchContext) -> SectionResult:
    notes: list[str] = []
    result = SectionResult(name="bloom", title="Learned Bloom filters (bloom)")
    rng = np.random.default_rng(ctx.seed)
    datasets = _datasets(ctx, notes)
    _warm_up()
    targets = [0.001, 0.01, 0.05] if ctx.quick else [0.001, 0.002, 0.0039, 0.01, 0.02, 0.05]
    tables: dict[str, list[dict[str, Any]]] = {"sweep": [], "drift": [], "adapt": []}
    figures: list[tuple[str, str]] = []

    for name, keys_all, negs_all, other, other_name in datasets:
        _run_dataset(ctx, name, keys_all, negs_all, other, other_name, rng, targets, result, notes, tables, figures)

    result.columns = [
        ("dataset", "data", "s"), ("structure", "structure", "s"), ("target_fpr", "target FPR", ".4g"),
        ("bytes", "bytes", ",d"), ("bits_per_key", "bits/key", ".2f"), ("measured_fpr", "test FPR", ".4g"),
        ("ratio_vs_bloom", "x Bloom @ same FPR", ".3f"), ("worst_shifted", "worst shifted FPR", ".4g"),
        ("build_s", "build s", ".2f"),
        ("query_ns", "ns/query", ".0f"), ("mitems_s", "M items/s", ".2f"),
        ("mitems_s_cpu", "M items/CPU-s", ".2f"), ("false_negatives", "FN", "d"),
    ]
    drift_sets = sorted({k[3:-1] for r in tables["drift"] for k in r if k.startswith("ci[")},
                        key=lambda k: (k != "test negatives", k))
    drift_cols = [("dataset", "data", "s"), ("structure", "structure (1% target)", "s"), ("bytes", "bytes", ",d"),
                  ("ratio_vs_bloom", "x Bloom @ test FPR", ".3f")]
    drift_cols += [(f"ci[{k}]", f"{k}: FPR % [95% CI]", "s") for k in drift_sets]
    drift_cols += [("worst_ci", "worst shifted FPR %", "s"), ("bound", "bound (any queries)", ".4g"),
                   ("source", "another source =", "s")]
    result.tables.append(("FPR by query set: in-distribution (test negatives) and shifted queries made from the data "
                          "(Wilson 95% intervals); learned filters from the sweep's shared classifier", tables["drift"], drift_cols))
    sweep_cols = [
        ("dataset", "data", "s"), ("structure", "structure", "s"), ("target_fpr", "target FPR", ".4g"),
        ("bytes", "bytes", ",d"), ("measured_fpr", "test FPR", ".4g"), ("fpr_vs_target", "FPR/target", ".2f"),
        ("ratio_vs_bloom", "x Bloom @ test FPR", ".3f"), ("ratio_vs_fuse", "x fuse @ test FPR", ".3f"),
        ("worst_shifted", "worst shifted FPR", ".4g"), ("worst_set", "worst set", "s"),
        ("bound", "bound (any queries)", ".4g"), ("false_negatives", "FN", "d"),
    ]
    result.tables.append(("Sweep over target FPRs (one classifier per data set, shared by the learned filters); "
                          "test FPR and memory ratios hold for queries like the test negatives, "
                          "'worst shifted' for the shifted sets, 'bound' for any query set", tables["sweep"], sweep_cols))
    adapt_cols = [
        ("dataset", "data", "s"), ("stream", "stream", "s"), ("repeat_share", "2nd half seen in 1st", ".2f"),
        ("mode", "adapt", "s"), ("fpr_first", "FPR 1st half", ".4f"), ("ci_second", "FPR 2nd half % [95% CI]", "s"),
        ("x_target", "x target", ".2f"), ("reported", "reported FPs", "d"), ("bytes", "bytes", ",d"),
        ("growth", "growth", ".3f"), ("test_fpr_after", "test FPR after", ".4f"), ("adapt_s", "adapt s", ".2f"),
        ("mitems_s_cpu", "M items/CPU-s after", ".2f"), ("false_negatives", "FN", "d"),
    ]
    result.tables.append(("adapt(): default PLBF at 1% on a drifted stream (mixed shifted sets), adapted on the "
                          "false positives of the first half; FPR on the second half", tables["adapt"], adapt_cols))
    result.figures = figures
    notes.append(
        "x Bloom @ same FPR: bytes divided by an optimal standard Bloom filter's size "
        "(n ln(1/p) / ln(2)^2 bits) for the FPR p measured on the test negatives (at least 1/|test|); "
        "x fuse: divided by our smallest binary fuse filter with FPR <= p. Both hold for queries like "
        "the test negatives: a learned filter's FPR on other queries is in the shifted columns."
    )
    notes.append(
        "Learned filters by default bound the FPR on any query set at 10x the target "
        "(worst_case_fpr='auto'); the '(no worst-case bound)' rows are the in-distribution-only "
        "filters of the papers (worst_case_fpr=None). 'bound (any queries)': the largest FPR any "
        "query set can see, from the filters' real bit fill."
    )
    notes.append(
        "Shifted query sets (none holds a key): a key with one character replaced (edits), two keys "
        "glued together (concatenations), random lowercase strings of key lengths, and items of "
        "another data set (another source)."
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
        notes.append("quick run: at most 60k keys and 120k negatives per data set; only PLBF built from scratch; "
                     "5,000 queries per shifted set, streams of 20,000")
    result.notes = notes
    for r in tables["sweep"]:
        r.setdefault("sweep", True)
    return result


def _plot_drift(path: Path, title: str, rows: list[dict[str, Any]], sets: list[str]) -> None:
    plt = pyplot(extra="bench", purpose="the bench report")

    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(len(rows), 1)
    x = np.arange(len(sets))
    for i, r in enumerate(rows):
        vals = [max(r.get(f"fpr[{k}]", np.nan), 1e-5) for k in sets]
        ax.bar(x + i * width, vals, width, label=r["structure"])
    ax.axhline(0.01, color="k", linestyle=":", label="target 1%")
    ax.axhline(0.1, color="r", linestyle=":", label="10% (default bound)")
    ax.set_yscale("log")
    ax.set_xticks(x + 0.4 - width / 2)
    ax.set_xticklabels(sets, fontsize=8)
    ax.set_ylabel("false-positive rate")
    ax.set_title(title)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)


def _plot(path: Path, title: str, n: int, curve: dict[str, list[tuple[float, int]]]) -> None:
    plt = pyplot(extra="bench", purpose="the bench report")

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
    _save_figure(fig, path)
    plt.close(fig)


def _save_figure(fig: Any, path: Path) -> None:
    """Write a figure with the one save routine of learnedsys (atomic, never through a link)."""
    import io

    from learnedsys._atomic import atomic_write

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write(path, buf.getvalue(), what="figure")
