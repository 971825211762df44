"""Check the goals of issue 19 on the shared data, one line per goal and data set.

Usage (from the repository root, with ../shared/data present):

    .venv/bin/python benchmarks/bloom/goals_drift.py [--seed 0] [--repeats 5]

Data as in ``learnedsys bench bloom``: negatives split with the seed into train / validation /
test thirds; the default ``PartitionedLearnedBloomFilter(target_fpr=0.01)`` is built from scratch
on keys + (train + validation). Shifted query sets (20,000 each, none a key; see
``learnedsys.bench.bloom.shifted_sets``): edits of keys, concatenations of two keys, random
strings, another source (benign host names for the words, English words for the hosts).

Goals:
1. worst shifted FPR <= 10% and in-distribution memory <= 0.65x a standard Bloom filter at the
   measured (test) FPR, default filter at target 1%;
2. on a drifted stream (100,000 queries over the shifted items), after adapt() on the false
   positives of the first half: FPR on the second half <= 3x the target, growth <= 25%, no false
   negative; contains() >= 1M items per CPU-second, model included.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from learnedsys.bench._harness import find_shared_data, machine_info
from learnedsys.bench.bloom import _read, drift_stream, shifted_sets, wilson
from learnedsys.bloom import PartitionedLearnedBloomFilter


def std_bytes(n: int, p: float) -> float:
    return n * math.log(1 / p) / math.log(2) ** 2 / 8


def cpu_rate(fn: Callable[[], object], n: int, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return n / float(np.median(times)) / 1e6


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
    words, romance = _read(d / "words_english.txt.gz"), _read(d / "words_romance.txt.gz")
    ads, benign = _read(d / "hosts_adtrack.txt.gz"), _read(d / "hosts_benign.txt.gz")
    info = machine_info()
    print(f"# {info['cpu']}, {info['cores']} cores, Python {info['python']}")
    for ds, keys, negs, other in (("words", words, romance, benign), ("hosts", ads, benign, words)):
        rng = np.random.default_rng(args.seed)
        keys = list(dict.fromkeys(keys))
        kset = set(keys)
        negs = [x for x in dict.fromkeys(negs) if x not in kset]
        perm = rng.permutation(len(negs))
        third = len(negs) // 3
        test = [negs[i] for i in np.sort(perm[:third])]
        rest = [negs[i] for i in np.sort(perm[third:])]
        shifted = shifted_sets(keys, other, 20000, rng)
        t0 = time.perf_counter()
        f = PartitionedLearnedBloomFilter(target_fpr=0.01, seed=args.seed).fit(keys, rest)
        build = time.perf_counter() - t0
        assert f.contains(keys).all(), "false negative!"
        fpr = float(f.contains(test).mean())
        ratio = f.size_in_bytes() / std_bytes(len(keys), max(fpr, 1 / len(test)))
        worst = max((float(f.contains(v).mean()), k) for k, v in shifted.items())
        lo, hi = wilson(round(worst[0] * len(shifted[worst[1]])), len(shifted[worst[1]]))
        cells = " ".join(f"{k} {100 * float(f.contains(v).mean()):.2f}%" for k, v in shifted.items())
        print(f"{ds}: default PLBF at 1%: {f.size_in_bytes()} bytes, test FPR {100 * fpr:.3f}%, "
              f"x Bloom {ratio:.3f} (goal <= 0.65), worst shifted {100 * worst[0]:.2f}% "
              f"[{100 * lo:.2f}, {100 * hi:.2f}] ({worst[1]}; goal <= 10%), bound {f.worst_case_bound_:.4g}; "
              f"{cells}; build {build:.1f} s", flush=True)
        pool = list(dict.fromkeys(x for v in shifted.values() for x in v))
        for stream_name, zipf_s in (("Zipf 1.0", 1.0), ("no repeats", None)):
            stream = drift_stream(pool, 100_000 if zipf_s else min(100_000, len(pool)), rng, zipf_s)
            half = len(stream) // 2
            first, second = stream[:half], stream[half:]
            for with_keys in (False, True):
                g = PartitionedLearnedBloomFilter(target_fpr=0.01, seed=args.seed).fit(keys, rest)
                size0 = g.size_in_bytes()
                a1 = g.contains(first)
                before = float(g.contains(second).mean())
                fps = [x for x, a in zip(first, a1.tolist(), strict=True) if a]
                t0 = time.perf_counter()
                g.adapt(fps, keys=keys if with_keys else None)
                t_adapt = time.perf_counter() - t0
                after = float(g.contains(second).mean())
                fn = int((~g.contains(keys)).sum())
                rate = cpu_rate(partial(g.contains, test[:50000] + keys[:50000]), len(test[:50000] + keys[:50000]), args.repeats)
                print(f"{ds}: stream {stream_name}, adapt {'with keys' if with_keys else 'without keys'}: "
                      f"2nd half FPR {100 * before:.2f}% -> {100 * after:.2f}% ({after / 0.01:.2f}x target; goal <= 3x), "
                      f"growth {100 * (g.size_in_bytes() / size0 - 1):.1f}% (goal <= 25%), false negatives {fn}, "
                      f"in-distribution FPR {100 * float(g.contains(test).mean()):.3f}%, adapt {t_adapt:.1f} s, "
                      f"contains {rate:.2f} M items/CPU-s (goal >= 1)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
