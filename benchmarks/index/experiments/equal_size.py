"""Equal-size comparison on osm / fb 20M, mode A (one lookup at a time), existing keys.

    python benchmarks/index/experiments/equal_size.py osm
"""
import sys
import time

import numpy as np

from learnedsys.bench.index import _queries, make_keys
from learnedsys.index import RMI
from learnedsys.index._peers import RadixSpline

fam = sys.argv[1]
keys = make_keys(fam, 20_000_000, 0)
hit, _ = _queries(keys, 1_000_000, 0)
ref = np.searchsorted(keys, hit)
S = {}
for eps in (16, 32, 64):
    S[f"RS eps {eps}"] = RadixSpline(keys, eps=eps)
for mb in (1.6, 2.2, 4.0):
    r = RMI(interleave=False, max_bytes=int(mb * 1e6)).fit(keys)
    S[f"RMI max {mb} MB"] = r
for k, s in S.items():
    assert np.array_equal(np.asarray(s.lower_bound_serial(hit)), ref), k
ts = {k: [] for k in S}
for _ in range(7):
    for k, s in S.items():
        t = time.perf_counter()
        s.lower_bound_serial(hit)
        ts[k].append((time.perf_counter() - t) / len(hit) * 1e9)
for k, s in S.items():
    extra = f" ({s.root_}, {s.n_leaves_} leaves, {s.leaf_search_})" if hasattr(s, "root_") else ""
    print(f"  {fam} {k:16s} {s.size_in_bytes()/1e6:5.2f} MB ({s.size_in_bytes()/keys.nbytes*100:.2f} %): {np.median(ts[k]):5.0f} ns [{min(ts[k]):.0f}-{max(ts[k]):.0f}]{extra}")
