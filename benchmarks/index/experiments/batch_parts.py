"""Where a batch lookup spends its time with the keys in cache: the root, the window, the
window search, the verification, each as its own loop (uniform keys, one core).

    python benchmarks/index/experiments/batch_parts.py uniform 100000
"""

import sys
import time

import numba as nb
import numpy as np

from learnedsys.bench.index import _queries, make_keys
from learnedsys.index import RMI
from learnedsys.index import _kernels as K
from learnedsys.index._rmi import ROOTS


@nb.njit(boundscheck=False)
def k_leaf(kind, params, leaves, keys, qs):
    s = 0
    for i in range(qs.shape[0]):
        s += K.leaf_of(kind, params, float(qs[i]), leaves.shape[0])
    return s


@nb.njit(boundscheck=False)
def k_win(kind, params, leaves, keys, qs):
    s = 0
    n = keys.shape[0]
    for i in range(qs.shape[0]):
        x = float(qs[i])
        lo, hi = K._window_of(
            params, leaves, K.leaf_of(kind, params, x, leaves.shape[0]), x, n, False
        )
        s += lo + hi
    return s


@nb.njit(boundscheck=False)
def k_bs(kind, params, leaves, keys, qs):
    s = 0
    n = keys.shape[0]
    for i in range(qs.shape[0]):
        x = float(qs[i])
        lo, hi = K._window_of(
            params, leaves, K.leaf_of(kind, params, x, leaves.shape[0]), x, n, False
        )
        s += K._bsearch(keys, qs[i], lo, hi, 0)
    return s


@nb.njit(boundscheck=False)
def k_fix(kind, params, leaves, keys, qs):
    s = 0
    n = keys.shape[0]
    for i in range(qs.shape[0]):
        x = float(qs[i])
        lo, hi = K._window_of(
            params, leaves, K.leaf_of(kind, params, x, leaves.shape[0]), x, n, False
        )
        p = K._bsearch(keys, qs[i], lo, hi, 0)
        s += K._fix(keys, qs[i], p, lo, hi, 0)[0]
    return s


@nb.njit(boundscheck=False)
def k_bs_only(keys, qs, los, his):
    s = 0
    for i in range(qs.shape[0]):
        s += K._bsearch(keys, qs[i], los[i], his[i], 0)
    return s


fam = sys.argv[1]
n = int(float(sys.argv[2]))
keys = make_keys(fam, n, 0)
hit, _ = _queries(keys, 1_000_000, 0)
r = RMI(interleave=True, partition="never").fit(keys)
print(
    keys.dtype,
    hit.dtype,
    r.root_,
    r.n_leaves_,
    r.leaves_.shape,
    r.leaves_.dtype,
    r.leaves_.flags["C_CONTIGUOUS"],
    hit.flags["C_CONTIGUOUS"],
)
kind = ROOTS[r.root_]
args = (kind, r.root_params_, r.leaves_, r.keys_, hit)
los = np.searchsorted(keys, hit) - 12
los = np.clip(los, 0, n)
his = np.clip(los + 25, 0, n)
fs = {
    "leaf": lambda: k_leaf(*args),
    "win": lambda: k_win(*args),
    "bs": lambda: k_bs(*args),
    "fix": lambda: k_fix(*args),
    "bs_only": lambda: k_bs_only(r.keys_, hit, los, his),
    "serial": lambda: r.lower_bound_serial(hit),
    "B": lambda: r.lower_bound(hit),
}
for f in fs.values():
    f()
res = {k: [] for k in fs}
for _ in range(5):
    for k, f in fs.items():
        t = time.perf_counter()
        f()
        res[k].append((time.perf_counter() - t) / hit.shape[0] * 1e9)
for k, v in res.items():
    print(f"{k:10s} {np.median(v):6.1f} ns")


@nb.njit(boundscheck=False)
def k_bs_lit(kind, params, leaves, keys, qs):
    s = 0
    n = keys.shape[0]
    for i in range(qs.shape[0]):
        x = float(qs[i])
        lo, hi = K._window_of(params, leaves, K.leaf_of(0, params, x, leaves.shape[0]), x, n, False)
        s += K._bsearch(keys, qs[i], lo, hi, 0)
    return s


@nb.njit(boundscheck=False)
def k_fix_lit(kind, params, leaves, keys, qs):
    s = 0
    n = keys.shape[0]
    for i in range(qs.shape[0]):
        x = float(qs[i])
        lo, hi = K._window_of(params, leaves, K.leaf_of(0, params, x, leaves.shape[0]), x, n, False)
        p = K._bsearch(keys, qs[i], lo, hi, 0)
        s += K._fix(keys, qs[i], p, lo, hi, 0)[0]
    return s


fs2 = {
    "bs": fs["bs"],
    "bs_lit": lambda: k_bs_lit(*args),
    "fix": fs["fix"],
    "fix_lit": lambda: k_fix_lit(*args),
}
assert k_fix_lit(*args) == k_fix(*args)
for f in fs2.values():
    f()
res = {k: [] for k in fs2}
for _ in range(5):
    for k, f in fs2.items():
        t = time.perf_counter()
        f()
        res[k].append((time.perf_counter() - t) / hit.shape[0] * 1e9)
for k, v in res.items():
    print(f"{k:10s} {np.median(v):6.1f} ns")
