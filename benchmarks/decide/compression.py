"""Only the compression part of ``learnedsys bench decide`` (section 3 of RESULTS.md): measure the
codecs on this machine's Python installation, then every fixed choice, the bounds and the learned
policies at the three CPU prices; prints the tables and notes.

Usage: .venv/bin/python benchmarks/decide/compression.py [--quick] [--seed 0] [--json out.json]
       .venv/bin/python benchmarks/decide/compression.py --long [--blocks 20000] [--cache-dir /tmp]
       .venv/bin/python benchmarks/decide/compression.py --file-order [--policy-seed 0]

``--long`` runs protocol 3 instead: a long stream of blocks from real files on this machine (the Python
installation, the venv, /usr/lib, /usr/share, ...), measured once (about 2 minutes for 20,000 blocks on
a loaded 2-core machine) and cached as ``<cache-dir>/cmp3_long_s<seed>_n<blocks>.npz``; later runs only
replay the policies (about a minute). ``--file-order`` runs protocol 4 on the same measurements: the
stream in file order (files in random order, a file's blocks one after another), with the previous
block's outcome as a free context.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from learnedsys._atomic import atomic_write
from learnedsys.bench._harness import BenchContext, SectionResult
from learnedsys.bench.decide.compression import bin_bound, compressors, ext_onehot, measure, suffix
from learnedsys.bench.decide.compression import section as _compression

# -- protocols 3 and 4: the same choice over a long stream (not run by the main job: minutes to measure) --

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
    s = suffix(path)
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
    comps = compressors()
    blocks, paths, offsets = _machine_blocks(n, 64 * 1024, seed)
    load0, t0 = os.getloadavg()[0], time.time()
    size, secs, feats, feat_secs = np.zeros((0, len(comps))), np.zeros((0, len(comps))), np.zeros((0, 2)), np.zeros(0)
    step = 1000
    for s in range(0, len(blocks), step):
        a, b, c, d = measure(blocks[s : s + step], comps, 3)
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
    sfx = [suffix(p) for p in paths]
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
        pick = bin_bound(cost, keys)
        add(label, cost[np.arange(n), pick] + (lam * feat_secs if paid else 0.0), pick, feat_secs if paid else None)
    ext = np.array([ext_onehot(p) for p in paths])
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
        pick = bin_bound(cost, keys)
        add(label, cost[np.arange(n), pick], pick)
    hot = np.array([ext_onehot(p) for p in paths])

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




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--long", action="store_true", help="protocol 3: the long stream (measured once, cached)")
    ap.add_argument("--blocks", type=int, default=20_000, help="blocks in the long stream")
    ap.add_argument("--policy-seed", type=int, default=None, help="long stream: the policies' seed (default: --seed)")
    ap.add_argument("--file-order", action="store_true",
                    help="protocol 4: the long stream in file order, with the previous block's outcome as context")
    ap.add_argument("--cache-dir", default="/tmp", help="where the long stream's measurements are cached")
    args = ap.parse_args()
    ctx = BenchContext(quick=args.quick, seed=args.seed, progress=args.long)
    res = SectionResult(name="decide", title="compression only")
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    if args.file_order:
        args.long = True
    if args.long:
        _compression_long(ctx, res, n=args.blocks, cache_dir=args.cache_dir, policy_seed=args.policy_seed, file_order=args.file_order)
    else:
        _compression(ctx, res)
    print(f"{time.perf_counter() - t0:.1f} s; load average {load0:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    for title, rows, _ in res.tables:
        print(f"\n## {title}")
        for r in rows:
            half = (f" | last half {r['last_half_vs_oracle']:6.2%} {r['last_half_vs_best_fixed']:+6.2%}"
                    if "last_half_vs_oracle" in r else "")
            print(f"  {r['policy'][:100]:100s} {r['vs_oracle']:7.2%} above oracle {r['vs_best_fixed']:+7.2%} vs best fixed{half}  {r.get('picks', '')}")
    print()
    for note in res.notes:
        print("-", note)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seed": args.seed, "quick": args.quick, "long": args.long, "records": res.records, "notes": res.notes}, f, indent=1, default=float)


if __name__ == "__main__":
    main()
