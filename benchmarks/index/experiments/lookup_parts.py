"""Time the parts of a lookup on osm 20M, spline-leaf queries: root, root+leaf prediction, RS window.

    python benchmarks/index/experiments/lookup_parts.py osm   # or fb
"""
import sys
import time

import numba as nb
import numpy as np

from learnedsys.bench.index import _queries, make_keys
from learnedsys.index import RMI
from learnedsys.index import _kernels as K
from learnedsys.index import _peers as PE
from learnedsys.index._peers import RadixSpline
from learnedsys.index._rmi import ROOTS


@nb.njit(cache=False)
def root_only(kind, params, qs, L):
    s = 0
    for i in range(qs.shape[0]):
        s += K.leaf_of(kind, params, float(qs[i]), L)
    return s

@nb.njit(cache=False)
def predict(kind, params, leaves, qs, n):
    s = 0
    for i in range(qs.shape[0]):
        lo, _hi = K._window(kind, params, leaves, None, float(qs[i]), n, True)
        s += lo
    return s

@nb.njit(cache=False)
def rs_window(keys, sx, sy, table, shift, eps, qs):
    s = 0
    for i in range(qs.shape[0]):
        lo, _hi = PE._rs_window(keys, sx, sy, table, shift, eps, qs[i])
        s += lo
    return s

fam = sys.argv[1]
keys = make_keys(fam, 20_000_000, 0)
rb = RMI(interleave=False, leaf_search="binary").fit(keys)
rs = RadixSpline(keys)
hit, _ = _queries(keys, 1_000_000, 0)
kind = ROOTS[rb.root_]
P, Lb = rb.root_params_, rb.leaves_
print(f"{fam}: root {rb.root_}, root params {P.shape[0]} floats ({int(P[0]) if rb.root_=='spline' else '-'} root knots), {Lb.shape[0]} leaves, size {rb.size_in_bytes()/1e6:.2f} MB; RS knots {rs.sx_.shape[0]}, table {rs.table_.shape[0]}")
jb = np.clip(np.nan_to_num(K.root_eval_many(kind, P, hit.astype(np.float64)), nan=0.0), 0, Lb.shape[0] - 1).astype(np.int64)
q = np.ascontiguousarray(hit[Lb[jb, 0] <= -0.5])
if q.size == 0:
    q = np.ascontiguousarray(hit)
    print("no spline leaves: all queries")
n = keys.shape[0]
parts = {
    "RMI root only": lambda: root_only(kind, P, q, Lb.shape[0]),
    "RMI root+leaf window": lambda: predict(kind, P, Lb, q, n),
    "RMI full lookup": lambda: rb.lower_bound_serial(q),
    "RS window": lambda: rs_window(keys, rs.sx_, rs.sy_, rs.table_, int(rs.shift_), int(rs.eps), q),
    "RS full lookup": lambda: rs.lower_bound_serial(q),
}
for f in parts.values():
    f()
ts = {k: [] for k in parts}
for _ in range(7):
    for k, f in parts.items():
        t = time.perf_counter()
        f()
        ts[k].append((time.perf_counter() - t) / len(q) * 1e9)
for k, v in ts.items():
    print(f"  {k:22s} {np.median(v):6.0f} ns  [{min(v):.0f}-{max(v):.0f}]")
