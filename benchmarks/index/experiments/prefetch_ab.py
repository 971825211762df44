"""Mode A: the RMI's window search with every cache line of the window prefetched first, against
the same model without, and RadixSpline / Eytzinger; same process, interleaved rounds.

    python benchmarks/index/experiments/prefetch_ab.py osm   # any family; optional key count
"""
import sys
import time

import numba as nb
import numpy as np

from learnedsys.bench.index import _queries, make_keys
from learnedsys.index import RMI
from learnedsys.index import _kernels as K
from learnedsys.index._peers import Eytzinger, RadixSpline, _prefetch
from learnedsys.index._rmi import ROOTS


@nb.njit(cache=False, boundscheck=False)
def lookup_pf(kind, params, leaves, keys, queries, max_lines):
    n = keys.shape[0]
    out = np.empty(queries.shape[0], dtype=np.int64)
    for i in range(queries.shape[0]):
        q = queries[i]
        x = float(q)
        j = K.leaf_of(kind, params, x, leaves.shape[0])
        lo, hi = K._window_of(params, leaves, j, x, n, True)
        if hi - lo <= 8 * max_lines:
            t = lo
            while t < hi:
                _prefetch(keys, t)
                t += 8
            _prefetch(keys, hi - 1)
        p = K._bsearch(keys, q, lo, hi, 0)
        p, _lo2, _hi2 = K._fix(keys, q, p, lo, hi, 0)
        out[i] = p
    return out

fam = sys.argv[1]
n = int(float(sys.argv[2])) if len(sys.argv) > 2 else 20_000_000
keys = make_keys(fam, n, 0)
rb = RMI(interleave=False, leaf_search="binary").fit(keys)
ra = RMI(interleave=False).fit(keys)
rs = RadixSpline(keys)
ey = Eytzinger(keys)
hit, _ = _queries(keys, 1_000_000, 0)
ref = np.searchsorted(keys, hit)
kind = ROOTS[rb.root_]
S = {
    "RMI binary": lambda: rb.lower_bound_serial(hit),
    "RMI binary+prefetch<=16": lambda: lookup_pf(kind, rb.root_params_, rb.leaves_, keys, hit, 16),
    "RMI binary+prefetch<=64": lambda: lookup_pf(kind, rb.root_params_, rb.leaves_, keys, hit, 64),
    f"RMI auto ({ra.leaf_search_})": lambda: ra.lower_bound_serial(hit),
    "RadixSpline": lambda: rs.lower_bound_serial(hit),
    "Eytzinger": lambda: ey.lower_bound_serial(hit),
}
for k, f in S.items():
    assert np.array_equal(np.asarray(f()), ref), k
w = rb.leaves_[:, 3] - rb.leaves_[:, 2] + 2
print(f"{fam} {n}: binary RMI {rb.root_} {rb.n_leaves_} leaves, windows median {np.median(w):.0f}; auto {ra.root_} {ra.n_leaves_} {ra.leaf_search_}")
ts = {k: [] for k in S}
for _ in range(7):
    for k, f in S.items():
        t = time.perf_counter()
        f()
        ts[k].append((time.perf_counter() - t) / len(hit) * 1e9)
for k, v in ts.items():
    print(f"  {k:26s} {np.median(v):5.0f} ns [{min(v):.0f}-{max(v):.0f}]")
