"""Check the learned Bloom filter goals of issue 3 on the shared data, one number per goal.

Issue 3's goals are about queries drawn like the negatives, so the filters here are the
in-distribution-only ones (``worst_case_fpr=None``, the default before issue 19) with the backup
kinds named; ``goals_drift.py`` checks issue 19's goals for the defaults.

Usage (from the repository root, with ../shared/data present):

    .venv/bin/python benchmarks/bloom/goals.py [--seed 0] [--repeats 5]

For each data set the negatives are split with the seed into train / validation / test thirds; the
filters are built from scratch on keys + (train + validation) (the filter splits those itself) and
FPR is measured on the test third. "x Bloom" = total bytes / optimal standard Bloom filter bytes
(n ln(1/p) / ln(2)^2 bits) at the FPR p measured on the test third.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from learnedsys.bench._harness import find_shared_data, machine_info, measure
from learnedsys.bench.bloom import _read
from learnedsys.bloom import (
    BinaryFuseFilter,
    LearnedBloomFilter,
    PartitionedLearnedBloomFilter,
    SandwichedLearnedBloomFilter,
)

KINDS = {
    "PLBF": (PartitionedLearnedBloomFilter, "bloom"),
    "PLBF-fuse": (PartitionedLearnedBloomFilter, "fuse"),
    "sandwiched": (SandwichedLearnedBloomFilter, "bloom"),
    "LBF": (LearnedBloomFilter, "bloom"),
}


def cpu_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median process CPU time of ``fn`` (the machine is shared: wall time includes waiting)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return float(np.median(times))


def std_bytes(n: int, p: float) -> float:
    return n * math.log(1 / p) / math.log(2) ** 2 / 8


def split(negs: list[str], seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(negs))
    third = len(negs) // 3
    test = [negs[i] for i in np.sort(perm[:third])]
    rest = [negs[i] for i in np.sort(perm[third:])]
    return rest, test


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    data = find_shared_data()
    if data is None or not (data / "bloom").is_dir():
        print("shared data ../shared/data/bloom is absent; nothing to check", file=sys.stderr)
        return 1
    d = data / "bloom"
    sets = {
        "words": (_read(d / "words_english.txt.gz"), _read(d / "words_romance.txt.gz")),
        "hosts": (_read(d / "hosts_adtrack.txt.gz"), _read(d / "hosts_benign.txt.gz")),
    }
    info = machine_info(["rbloom", "pyxorfilter"])
    print(f"# {info['cpu']}, {info['cores']} cores, Python {info['python']}, {info['versions']}")
    for ds, target, kinds in [
        ("words", 0.01, ["PLBF", "PLBF-fuse", "sandwiched", "LBF"]),
        ("words", 0.001, ["PLBF", "PLBF-fuse", "sandwiched", "LBF"]),
        ("words", 2**-8, ["PLBF", "PLBF-fuse"]),
        ("hosts", 0.01, ["PLBF", "PLBF-fuse", "sandwiched", "LBF"]),
        ("hosts", 0.001, ["PLBF", "PLBF-fuse"]),
    ]:
        keys, negs = sets[ds]
        keys = list(dict.fromkeys(keys))
        kset = set(keys)
        negs = [x for x in dict.fromkeys(negs) if x not in kset]
        rest, test = split(negs, args.seed)
        for kind in kinds:
            cls, backup = KINDS[kind]
            t0 = time.perf_counter()
            f = cls(target_fpr=target, backup=backup, worst_case_fpr=None, seed=args.seed).fit(keys, rest)
            build = time.perf_counter() - t0
            assert f.contains(keys).all(), "false negative!"
            timing, ans = measure(partial(f.contains, test), repeats=args.repeats)
            cpu = cpu_seconds(partial(f.contains, test), args.repeats)
            fpr = float(ans.mean())
            p = max(fpr, 1 / len(test))
            ratio = f.size_in_bytes() / std_bytes(len(keys), p)
            print(
                f"{ds:5s} target {target:.4f} {kind:10s} keys {len(keys)} bytes {f.size_in_bytes():9d} "
                f"test FPR {fpr:.5f} ({fpr / target:.2f}x target) x Bloom {ratio:.3f} build {build:.1f} s "
                f"query {len(test) / timing.median / 1e6:.2f} M items/s wall (IQR {100 * timing.spread:.0f}%), "
                f"{len(test) / cpu / 1e6:.2f} M items/s of CPU time",
                flush=True,
            )
        if ds == "words" and target == 2**-8:
            fu = BinaryFuseFilter(fingerprint_bits=8).fit(keys)
            fpr = float(fu.contains(test).mean())
            print(f"words BinaryFuseFilter r=8 (same layout as Fuse8): bytes {fu.size_in_bytes()} test FPR {fpr:.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
