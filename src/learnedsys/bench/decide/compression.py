"""Section 3 of ``bench decide``: per-block compression choice on this machine's Python installation.

The helpers without a leading underscore are shared with ``benchmarks/decide/compression.py``
(protocols 3 and 4, a long stream of real files: not run by the main job)."""

from __future__ import annotations

import random
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from learnedsys.bench._harness import BenchContext, SectionResult

# -- 3. per-block compression choice -------------------------------------------------------------

def python_blocks(total: int, block: int, seed: int) -> tuple[list[bytes], dict[str, int], list[str]]:
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


def suffix(path: str) -> str:
    """The file type a storage system sees in a name: its suffix (``.so`` for ``libx.so.1``)."""
    name = Path(path).name
    return ".so" if ".so." in name else Path(name).suffix


def ext_onehot(path: str, dim: int = 16) -> np.ndarray:
    """The file's suffix, hashed (CRC-32) into a one-hot vector of ``dim`` buckets: no list of
    suffixes is given to the policy, it learns what each bucket means."""
    v = np.zeros(dim)
    v[zlib.crc32(suffix(path).encode()) % dim] = 1.0
    return v


def bin_bound(cost: np.ndarray, keys: np.ndarray, fit: np.ndarray | None = None) -> np.ndarray:
    """The hindsight best codec per context key (rows of ``cost`` with equal keys): the codec each
    block gets. With ``fit`` (a mask), the choice per key is fitted on those rows only, keys unseen
    there get the codec best over all of them."""
    fit = np.ones(len(cost), dtype=bool) if fit is None else fit
    pick = np.full(len(cost), int(cost[fit].sum(axis=0).argmin()), dtype=np.int64)
    for key in np.unique(keys[fit]):
        pick[keys == key] = int(cost[fit & (keys == key)].sum(axis=0).argmin())
    return pick


def compressors() -> list[tuple[str, Any]]:
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


def measure(blocks: list[bytes], comps: list[tuple[str, Any]], reps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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


def section(ctx: BenchContext, res: SectionResult) -> None:
    try:
        comps = compressors()
    except ImportError:
        res.notes.append("lz4 or zstandard is not installed: compression choice skipped")
        return
    from learnedsys.decide import Choice, LinUCB

    block = 64 * 1024
    total = (16 if ctx.quick else 96) * 2**20
    blocks, counts, paths = python_blocks(total, block, ctx.seed)
    if len(blocks) < 50:
        res.notes.append("too few files found in the Python installation: compression choice skipped")
        return
    reps = 3
    if ctx.quick:
        comps = comps[:4]  # zstd-9 is never worth it at this price of CPU: the full run shows it
    n, k = len(blocks), len(comps)
    size, secs, feats, feat_secs = measure(blocks, comps, reps)
    # Free context for a file-level store (a file system, a backup tool: it knows the file's name):
    # the suffix, hashed into 16 buckets. Charged nothing: hashed once per file in such a system.
    # (This bench picks its files by suffix lists, which makes the suffix telling here by design.)
    ext = np.array([ext_onehot(p) for p in paths])
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
            pick = bin_bound(cost, keys)
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
        pick = bin_bound(cost, ext_key * 5 + quantile_bins(feats[:, 1], 5), fit=~held)
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
