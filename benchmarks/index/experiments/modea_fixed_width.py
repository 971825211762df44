"""Mode A variants of the one-at-a-time lookup: v0 today, v1 prefetch from lo - 1 and a cheap
verification, v2 also the fixed-width search; same process, binary-leaf model, against Eytzinger
and RadixSpline.

    python benchmarks/index/experiments/modea_fixed_width.py uniform   # any family; optional key count
"""

import sys
import time

import numba as nb
import numpy as np

from learnedsys.bench.index import _queries, make_keys
from learnedsys.index import RMI
from learnedsys.index import _kernels as K
from learnedsys.index._kernels import (
    PREFETCH_KEYS,
    _bsearch,
    _fix,
    _less,
    _window_of,
    leaf_of,
    prefetch,
)
from learnedsys.index._peers import Eytzinger, RadixSpline
from learnedsys.index._rmi import ROOTS

_inline = nb.njit(boundscheck=False, inline="always")


@_inline
def one(kind, params, leaves, keys, q, side, spline, width, variant):
    n = keys.shape[0]
    x = float(q)
    j = leaf_of(kind, params, x, leaves.shape[0])
    lo, hi = _window_of(params, leaves, j, x, n, spline)
    if variant >= 2 and hi - lo <= width:
        b = min(lo, n - width)
        u = b
        if variant >= 1 and u > 0:
            u -= 1
        while u < b + width:
            prefetch(keys, u)
            u += 8
        prefetch(keys, b + width - 1)
        p = _bsearch(keys, q, b, b + width, side)
    else:
        if hi - lo <= PREFETCH_KEYS:
            u = lo - 1 if variant >= 1 else lo
            while u < hi:
                prefetch(keys, u)
                u += 8
            prefetch(keys, hi - 1)
        p = _bsearch(keys, q, lo, hi, side)
    if variant >= 1:
        if (p == 0 or _less(keys[p - 1], q, side)) and (p == n or not _less(keys[p], q, side)):
            return p
        return _fix(keys, q, _bsearch(keys, q, lo, hi, side), lo, hi, side)[0]
    return _fix(keys, q, p, lo, hi, side)[0]


def make(variant, spline):
    @nb.njit(boundscheck=False)
    def run(kind, params, leaves, keys, qs, width):
        out = np.empty(qs.shape[0], np.int64)
        for i in range(qs.shape[0]):
            out[i] = one(kind, params, leaves, keys, qs[i], 0, spline, width, variant)
        return out

    return run


fam = sys.argv[1]
n = int(float(sys.argv[2])) if len(sys.argv) > 2 else 20_000_000
keys = make_keys(fam, n, 0)
hit, _ = _queries(keys, 1_000_000, 0)
m = hit.shape[0]
ref = np.searchsorted(keys, hit)
rb = RMI(interleave=False, leaf_search="binary").fit(keys)
ra = RMI(interleave=False).fit(keys)
ey = Eytzinger(keys)
rs = RadixSpline(keys)
kind = ROOTS[rb.root_]
W = K.fixed_width(rb.leaves_)
print(
    fam,
    "binary model:",
    rb.root_,
    rb.n_leaves_,
    rb._spline,
    "W",
    W,
    "| auto model:",
    ra.root_,
    ra.n_leaves_,
    ra.leaf_search_,
    flush=True,
)
S = {
    "auto today": lambda: ra.lower_bound_serial(hit),
    "binary today": lambda: rb.lower_bound_serial(hit),
}
for v in (0, 1, 2):
    f = make(v, rb._spline)
    S[f"binary v{v}"] = lambda f=f: f(kind, rb.root_params_, rb.leaves_, rb.keys_, hit, W)
S["eyt"] = lambda: ey.lower_bound_serial(hit)
S["rs"] = lambda: rs.lower_bound_serial(hit)
for k, f in S.items():
    assert np.array_equal(f(), ref), k
res = {k: [] for k in S}
for _ in range(7):
    for k, f in S.items():
        t = time.perf_counter()
        f()
        res[k].append((time.perf_counter() - t) / m * 1e9)
for k, v in res.items():
    print(f"  {k:14s} {np.median(v):7.1f} ns ({min(v):.1f}-{max(v):.1f})")
