"""Mode B: the RMI's batch lookups as they run today (learned partition, or 16-lane lockstep)
against a software-pipelined form (each query's leaf row prefetched D queries ahead, its
window's lines 2D/3 ahead, searched when they have arrived) and the Eytzinger / RadixSpline
batch peers; same process, same queries, interleaved rounds.

    python benchmarks/index/experiments/pipeline_ab.py osm   # any family; optional key count
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
def lookup_pipe(kind, params, leaves, keys, queries, D, max_keys, spline):  # type: ignore[no-untyped-def]
    n = keys.shape[0]
    m = queries.shape[0]
    out = np.empty(m, dtype=np.int64)
    R = 64
    mask = R - 1
    js = np.empty(R, dtype=np.int64)
    los = np.empty(R, dtype=np.int64)
    his = np.empty(R, dtype=np.int64)
    flat = leaves.ravel()
    L = leaves.shape[0]
    w = leaves.shape[1]
    D2 = 2 * D
    D3 = 3 * D
    for t in range(m + D3):
        if t < m:
            j = K.leaf_of(kind, params, float(queries[t]), L)
            js[t & mask] = j
            _prefetch(flat, j * w)
        i = t - D
        if i >= 0 and i < m:
            j = js[i & mask]
            s = leaves[j, 0]
            if spline and s <= -0.5:
                off = int(-s) - 1
                _prefetch(params, off)
                _prefetch(params, off + 8)
        i = t - D2
        if i >= 0 and i < m:
            lo, hi = K._window_of(params, leaves, js[i & mask], float(queries[i]), n, spline)
            los[i & mask] = lo
            his[i & mask] = hi
            if hi - lo <= max_keys:
                u = lo
                while u < hi:
                    _prefetch(keys, u)
                    u += 8
                _prefetch(keys, hi - 1)
            else:
                _prefetch(keys, (lo + hi) >> 1)
        i = t - D3
        if i >= 0:
            q = queries[i]
            lo = los[i & mask]
            hi = his[i & mask]
            p = K._bsearch(keys, q, lo, hi, 0)
            out[i] = K._fix(keys, q, p, lo, hi, 0)[0]
    return out


def _ns(f, m):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    f()
    return (time.perf_counter() - t) / m * 1e9


fam = sys.argv[1]
n = int(float(sys.argv[2])) if len(sys.argv) > 2 else 20_000_000
keys = make_keys(fam, n, 0)
hit, _ = _queries(keys, 1_000_000, 0)
m = hit.shape[0]
ref = np.searchsorted(keys, hit)
t0 = time.perf_counter()
rb = RMI(interleave=True).fit(keys)
ra = RMI(interleave=False, leaf_search="binary").fit(keys)
print(f"fits {time.perf_counter() - t0:.1f} s", flush=True)
rs = RadixSpline(keys)
ey = Eytzinger(keys)
rn = RMI(interleave=True, partition="never").fit(keys)


def pipe(r, D, mk):  # type: ignore[no-untyped-def]
    kind = ROOTS[r.root_]
    return lambda: lookup_pipe(kind, r.root_params_, r.leaves_, r.keys_, hit, D, mk, r._spline)


S = {
    f"RMI B today ({'partition' if rb._partition_buckets(m) else 'lockstep'})": lambda: rb.lower_bound(hit),
    "RMI B lockstep, no partition": lambda: rn.lower_bound(hit),
    "pipe(B model) D=8 <=512": pipe(rb, 8, 512),
    "pipe(B model) D=16 <=512": pipe(rb, 16, 512),
    "pipe(B model) D=16 <=64": pipe(rb, 16, 64),
    "pipe(A model) D=8 <=512": pipe(ra, 8, 512),
    "pipe(A model) D=16 <=512": pipe(ra, 16, 512),
    "RadixSpline batch": lambda: rs.lower_bound(hit),
    "Eytzinger batch": lambda: ey.lower_bound(hit),
}
for k, f in S.items():
    assert np.array_equal(np.asarray(f()), ref), k
for r, nm in ((rb, "B"), (ra, "A")):
    w = r.leaves_[:, 3] - r.leaves_[:, 2] + 2
    print(f"{fam} {n}: model {nm}: {r.root_} {r.n_leaves_} leaves {r.leaf_search_} spline={r._spline}, windows median {np.median(w):.0f}")
res: dict[str, list[float]] = {k: [] for k in S}
for _ in range(7):
    for k, f in S.items():
        res[k].append(_ns(f, m))
for k, v in res.items():
    print(f"  {k:36s} {np.median(v):7.1f} ns  ({min(v):.1f}-{max(v):.1f})")
