"""numba kernels of the learned index: model evaluation, bounded search and interleaved lookups.

Every lookup ends in a check that the answer really is the lower bound (``keys[p-1] < q <= keys[p]``)
and, when the model's window missed, an exponential search from the window's edge. A model that is
wrong (or a corrupted file that passed validation) can make a lookup slower, never wrong, and every
index is clamped to the array before it is read.

Root models map a key (as float64) to a fractional leaf number:

- ``ROOT_LINEAR``:  params = [a, b];                 leaf = a * x + b
- ``ROOT_CUBIC``:   params = [x0, scale, c0..c3];    t = (x - x0) * scale; leaf = c0 + t(c1 + t(c2 + t c3))
- ``ROOT_SPLINE``:  params = [K, knots_x..., knots_y...]; piecewise linear through K knots
- ``ROOT_GRID``:    params = [x0, inv_w, K, y_0..y_K]; piecewise linear through the CDF sampled on
                    K equal steps of x: O(1), no search (a radix-table root)
- ``ROOT_LOGGRID``: the same on log2(x - x0 + 1), for heavily skewed keys
- ``ROOT_NN``:      a ReLU MLP with 0-2 hidden layers on t = (x - x0) * scale, output times
                    out_scale (layout in :func:`root_eval`)

Leaves are rows of ``leaves``: [slope, intercept, err_lo, err_hi] (binary search within
``[pred + err_lo, pred + err_hi + 1]``) or [slope, intercept] (exponential search from ``pred``).
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

ROOT_LINEAR = 0
ROOT_CUBIC = 1
ROOT_SPLINE = 2
ROOT_NN = 3
ROOT_GRID = 4
ROOT_LOGGRID = 5

#: The interleaved (batch) kernel's pipeline: a query's next line is prefetched this many
#: queries before it is read (three stages: leaf row, spline knots, window), in ring buffers of
#: PIPE_RING entries (a power of two above 3 * PIPE_DISTANCE). D = 8 and 16 measured level on 20M
#: uniform keys.
PIPE_DISTANCE = 8
PIPE_RING = 32

#: A lookup one at a time prefetches every cache line of its window when the window holds at
#: most this many keys, so the binary search's misses overlap instead of following each other
#: (osm at 20M keys, windows of 66: 494 against 554 ns per lookup; fb, windows of about 240:
#: 466 against 577)
PREFETCH_KEYS = 512

def _prefetch_impl(typingctx, arr, idx):  # type: ignore[no-untyped-def]
    """Prefetch ``arr[idx]`` into all cache levels (never faults, so ``idx`` may be out of range)."""
    sig = types.void(arr, types.intp)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


prefetch: Any = intrinsic(_prefetch_impl)  # typed Any for mypy: its stub does not describe calls from jitted code


_jit = nb.njit(cache=True, nogil=True, fastmath=False, boundscheck=False)
# helpers on the lookup path are inlined into their callers at numba's IR level: as separate
# functions they cost several times the work they do (measured: 57 ns vs 5 ns per window)
_inline = nb.njit(cache=True, nogil=True, fastmath=False, boundscheck=False, inline="always")


@_inline
def root_eval(kind: int, params: np.ndarray, x: float) -> float:
    if kind == ROOT_LINEAR:
        return params[0] * x + params[1]
    if kind == ROOT_CUBIC:
        t = (x - params[0]) * params[1]
        return params[2] + t * (params[3] + t * (params[4] + t * params[5]))
    if kind == ROOT_GRID or kind == ROOT_LOGGRID:  # noqa: SIM109 (kept simple for numba)
        d = x - params[0]
        if kind == ROOT_LOGGRID:
            d = np.log2(d + 1.0) if d > 0.0 else 0.0
        t = d * params[1]
        k = int(params[2])
        if not t > 0.0:  # also NaN
            return params[3]
        if t >= k:
            return params[3 + k]
        s = int(t)
        y0 = params[3 + s]
        return y0 + (t - s) * (params[4 + s] - y0)
    if kind == ROOT_SPLINE:
        k = int(params[0])
        # knots_x at params[1 : 1 + k], knots_y at params[1 + k : 1 + 2k]
        if x <= params[1]:
            return params[1 + k]
        if x >= params[k]:
            return params[2 * k]
        lo = 1
        n = k
        while n > 1:
            half = n >> 1
            if params[lo + half] <= x:
                lo += half
            n -= half
        # params[lo] <= x < params[lo + 1]
        x0 = params[lo]
        x1 = params[lo + 1]
        y0 = params[lo + k]
        y1 = params[lo + k + 1]
        if x1 > x0:
            return y0 + (x - x0) * (y1 - y0) / (x1 - x0)
        return y0
    # ROOT_NN: params = [x0, scale, out_scale, n_hidden, h1, h2, w1(h1), b1(h1), W2(h1*h2),
    # b2(h2), w_out(h_last), b_out]; no buffers, so no allocation per lookup
    t = (x - params[0]) * params[1]
    n_hidden = int(params[3])
    h1 = int(params[4])
    h2 = int(params[5])
    p = 6
    if n_hidden == 0:
        return (params[p] * t + params[p + 1]) * params[2]
    w1 = p
    b1 = w1 + h1
    if n_hidden == 1:
        wo = b1 + h1
        s = params[wo + h1]
        for j in range(h1):
            a = params[w1 + j] * t + params[b1 + j]
            if a > 0.0:
                s += params[wo + j] * a
        return s * params[2]
    w2 = b1 + h1
    b2 = w2 + h1 * h2
    wo = b2 + h2
    s = params[wo + h2]
    for k in range(h2):
        z = params[b2 + k]
        for j in range(h1):
            a = params[w1 + j] * t + params[b1 + j]
            if a > 0.0:
                z += params[w2 + j * h2 + k] * a
        if z > 0.0:
            s += params[wo + k] * z
    return s * params[2]


@_jit
def root_eval_many(kind: int, params: np.ndarray, xs: np.ndarray) -> np.ndarray:
    out = np.empty(xs.shape[0])
    for i in range(xs.shape[0]):
        out[i] = root_eval(kind, params, float(xs[i]))
    return out


@_inline
def leaf_of(kind: int, params: np.ndarray, x: float, n_leaves: int) -> int:
    r = root_eval(kind, params, x)
    if not r >= 0.0:  # also NaN
        return 0
    if r >= n_leaves - 1:
        return n_leaves - 1
    return int(r)


@_inline
def _p(pos, i: int) -> int:  # type: ignore[no-untyped-def]
    # an empty ``pos`` stands for the identity (keys without duplicates): no 8n-byte array
    if pos.shape[0] == 0:
        return i
    return pos[i]


@_jit
def fit_leaves(keys, pos, leaf, n_leaves: int, n: int, hybrid: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Least-squares line per leaf over the points (keys[pos[i]], pos[i]), then signed min/max errors.

    Returns rows [slope, intercept, err_lo, err_hi]. A leaf whose error window is wider than its
    key range (or than ``hybrid`` when ``hybrid >= 0``) becomes a binary search over that range
    (slope 0, intercept = first position): the paper's hybrid index, worst case a B-tree's.
    """
    cnt = np.zeros(n_leaves)
    sx = np.zeros(n_leaves)
    sy = np.zeros(n_leaves)
    pmin = np.full(n_leaves, np.inf)
    pmax = np.full(n_leaves, -np.inf)
    m = leaf.shape[0]
    for i in range(m):
        j = leaf[i]
        y = float(_p(pos, i))
        cnt[j] += 1.0
        sx[j] += float(keys[_p(pos, i)])
        sy[j] += y
        if y < pmin[j]:
            pmin[j] = y
        if y > pmax[j]:
            pmax[j] = y
    mx = np.zeros(n_leaves)
    my = np.zeros(n_leaves)
    for j in range(n_leaves):
        if cnt[j] > 0:
            mx[j] = sx[j] / cnt[j]
            my[j] = sy[j] / cnt[j]
    sxy = np.zeros(n_leaves)
    sxx = np.zeros(n_leaves)
    for i in range(m):
        j = leaf[i]
        dx = float(keys[_p(pos, i)]) - mx[j]
        sxy[j] += dx * (float(_p(pos, i)) - my[j])
        sxx[j] += dx * dx
    out = np.zeros((n_leaves, 4))
    for j in range(n_leaves):
        if cnt[j] > 0:
            slope = sxy[j] / sxx[j] if sxx[j] > 0 else 0.0
            out[j, 0] = slope
            out[j, 1] = my[j] - slope * mx[j]
            out[j, 2] = np.inf
            out[j, 3] = -np.inf
    for i in range(m):
        j = leaf[i]
        e = float(_p(pos, i)) - (out[j, 0] * float(keys[_p(pos, i)]) + out[j, 1])
        if e < out[j, 2]:
            out[j, 2] = e
        if e > out[j, 3]:
            out[j, 3] = e
    # empty leaves point at the first position of the next non-empty leaf (or n)
    nxt = float(n)
    for j in range(n_leaves - 1, -1, -1):
        if cnt[j] == 0:
            out[j, 0] = 0.0
            out[j, 1] = nxt
            out[j, 2] = 0.0
            out[j, 3] = 0.0
        else:
            lo = np.floor(out[j, 2])
            hi = np.ceil(out[j, 3])
            window = hi - lo
            span = pmax[j] - pmin[j]
            if window > span or (hybrid >= 0.0 and window > hybrid):
                out[j, 0] = 0.0
                out[j, 1] = pmin[j]
                out[j, 2] = 0.0
                out[j, 3] = span
            else:
                out[j, 2] = lo
                out[j, 3] = hi
            nxt = pmin[j]
    return out


@_jit
def assign_leaves_at(kind: int, params: np.ndarray, keys, pos, m: int, n_leaves: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = np.empty(m, dtype=np.int32)
    for i in range(m):
        out[i] = leaf_of(kind, params, float(keys[_p(pos, i)]), n_leaves)
    return out


@_jit
def is_monotone(kind: int, params: np.ndarray, keys, sample, n_leaves: int) -> bool:  # type: ignore[no-untyped-def]
    prev = -1
    for i in range(sample.shape[0]):
        j = leaf_of(kind, params, float(keys[sample[i]]), n_leaves)
        if j < prev:
            return False
        prev = j
    return True


@_jit
def _first_leaf_at_least(kind, params, keys, pos, m: int, n_leaves: int, j: int) -> int:  # type: ignore[no-untyped-def]
    lo = 0
    hi = m
    while lo < hi:
        mid = (lo + hi) >> 1
        if leaf_of(kind, params, float(keys[_p(pos, mid)]), n_leaves) < j:
            lo = mid + 1
        else:
            hi = mid
    return lo


@_jit
def _fit_range(keys, pos, a: int, b: int, hybrid: float, step: int = 1):  # type: ignore[no-untyped-def]
    """Least-squares line over the points (keys[p], p) for p = pos[a:b:step]; returns
    (slope, intercept, err_lo, err_hi) with the hybrid fallback applied (see fit_leaves).
    ``step > 1`` (estimates only) looks at every step-th key."""
    c = (b - a + step - 1) // step
    mx = 0.0
    my = 0.0
    for i in range(a, b, step):
        mx += float(keys[_p(pos, i)])
        my += float(_p(pos, i))
    mx /= c
    my /= c
    sxy = 0.0
    sxx = 0.0
    for i in range(a, b, step):
        dx = float(keys[_p(pos, i)]) - mx
        sxy += dx * (float(_p(pos, i)) - my)
        sxx += dx * dx
    slope = sxy / sxx if sxx > 0 else 0.0
    icpt = my - slope * mx
    emin = np.inf
    emax = -np.inf
    for i in range(a, b, step):
        e = float(_p(pos, i)) - (slope * float(keys[_p(pos, i)]) + icpt)
        emin = min(emin, e)
        emax = max(emax, e)
    lo = np.floor(emin)
    hi = np.ceil(emax)
    first = float(_p(pos, a))
    span = float(_p(pos, b - 1)) - first
    if not hi - lo <= span or (hybrid >= 0.0 and hi - lo > hybrid):
        return 0.0, first, 0.0, span
    return slope, icpt, lo, hi


@_jit
def sampled_log_window(kind, params, keys, pos, m: int, n_leaves: int, probes, hybrid: float) -> float:  # type: ignore[no-untyped-def]
    """Mean log2(window + 2) a lookup of an existing key sees, estimated from the leaves of
    random keys (``probes``: indices into the distinct keys), each leaf fitted exactly on all its
    keys. A leaf is drawn in proportion to its keys, so the plain mean over probes is unbiased.
    Needs a monotone root (each leaf is then a contiguous run of keys)."""
    total = 0.0
    last_leaf = -1
    last_value = 0.0
    for t in range(probes.shape[0]):
        j = leaf_of(kind, params, float(keys[_p(pos, probes[t])]), n_leaves)
        if j != last_leaf:  # probes are sorted, so equal leaves are adjacent
            a = _first_leaf_at_least(kind, params, keys, pos, m, n_leaves, j)
            b = _first_leaf_at_least(kind, params, keys, pos, m, n_leaves, j + 1)
            if b <= a:
                last_value = 1.0
            else:
                _, _, lo, hi = _fit_range(keys, pos, a, b, hybrid, max(1, (b - a) // 2048))
                last_value = np.log2(hi - lo + 2.0)
            last_leaf = j
        total += last_value
    return total / max(1, probes.shape[0])


@nb.njit(cache=True, nogil=True, parallel=True)
def fit_leaves_monotone(kind, params, keys, pos, m: int, n_leaves: int, n: int, hybrid: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    """fit_leaves for a monotone root: leaf j holds the contiguous run of keys between two
    boundaries found by binary search, so no per-key leaf array is built and each leaf is fitted
    while its keys are in cache; leaves are fitted in parallel."""
    bounds = np.empty(n_leaves + 1, dtype=np.int64)
    for j in nb.prange(n_leaves + 1):
        bounds[j] = _first_leaf_at_least(kind, params, keys, pos, m, n_leaves, j) if j < n_leaves else m
    bounds[0] = 0
    out = np.zeros((n_leaves, 4))
    for j in nb.prange(n_leaves):
        a = bounds[j]
        b = bounds[j + 1]
        if b > a:
            s, c, lo, hi = _fit_range(keys, pos, a, b, hybrid)
            out[j, 0] = s
            out[j, 1] = c
            out[j, 2] = lo
            out[j, 3] = hi
    # empty leaves point at the first position of the next non-empty leaf (or n)
    nxt = float(n)
    for j in range(n_leaves - 1, -1, -1):
        if bounds[j + 1] <= bounds[j]:
            out[j, 0] = 0.0
            out[j, 1] = nxt
            out[j, 2] = 0.0
            out[j, 3] = 0.0
        else:
            nxt = float(_p(pos, bounds[j]))
    return out


@_inline
def _turn(dx1: float, dy1: float, dx2: float, dy2: float) -> int:
    """Sign of the cross product: 1 when (dx2, dy2) turns clockwise from (dx1, dy1)."""
    e = dy1 * dx2 - dy2 * dx1
    if e > 0.0:
        return 1
    if e < 0.0:
        return -1
    return 0


@_jit
def _spline_run(keys, pos, a: int, b: int, eps: float, buf, nk: int, cap: int) -> int:  # type: ignore[no-untyped-def]
    """Greedy spline corridor (RadixSpline's builder) over the points (float(key), position) of
    the distinct keys a..b-1, appended to ``buf`` as (x, y) pairs from knot ``nk``: every point
    whose float differs from the previous one is within ``eps`` of the spline. Returns the new
    knot count, or -1 when it would pass ``cap`` knots."""
    k0 = nk
    x_prev = float(keys[_p(pos, a)])
    y_prev = float(_p(pos, a))
    if nk >= cap:
        return -1
    buf[2 * nk] = x_prev
    buf[2 * nk + 1] = y_prev
    nk += 1
    have = False  # a corridor (upper and lower limit) beyond the last knot
    ux = 0.0
    uy = 0.0
    lx = 0.0
    ly = 0.0
    for i in range(a + 1, b):
        x = float(keys[_p(pos, i)])
        y = float(_p(pos, i))
        if x == x_prev:
            continue
        bx = buf[2 * (nk - 1)]
        by = buf[2 * (nk - 1) + 1]
        if not have:
            ux = x
            uy = y + eps
            lx = x
            ly = y - eps
            have = True
        else:
            dx = x - bx
            dy = y - by
            if _turn(ux - bx, uy - by, dx, dy) != 1 or _turn(lx - bx, ly - by, dx, dy) != -1:
                # the point leaves the corridor: the previous point becomes a knot
                if nk >= cap:
                    return -1
                buf[2 * nk] = x_prev
                buf[2 * nk + 1] = y_prev
                nk += 1
                ux = x
                uy = y + eps
                lx = x
                ly = y - eps
            else:
                if _turn(ux - bx, uy - by, dx, dy + eps) == 1:
                    ux = x
                    uy = y + eps
                if _turn(lx - bx, ly - by, dx, dy - eps) == -1:
                    lx = x
                    ly = y - eps
        x_prev = x
        y_prev = y
    if nk - k0 < 2 or buf[2 * (nk - 1)] != x_prev:  # the last point ends the spline
        if nk >= cap:
            return -1
        buf[2 * nk] = x_prev
        buf[2 * nk + 1] = y_prev
        nk += 1
    return nk


@_jit
def spline_poor_leaves(kind, params, leaves, keys, pos, m: int, threshold: float, eps: float, cap: int):  # type: ignore[no-untyped-def]
    """Replace every leaf whose error window exceeds ``threshold`` by an error-bounded spline over
    its keys (a monotone root: each leaf is one contiguous run of keys), where the spline's window
    is at most half the line's. Returns (params with the knots appended, the new leaf rows,
    knots used); knots used is -1 when more than ``cap`` knots were needed (nothing replaced).

    A spline leaf's row is [-(first knot's index in params) - 1, knot count, err_lo, err_hi]: the
    errors, measured on every key with the same arithmetic the lookup uses, bound the search."""
    L = leaves.shape[0]
    base = params.shape[0]
    out = leaves.copy()
    buf = np.empty(2 * cap + 4)
    nk = 0
    first = np.full(L, -1, dtype=np.int64)
    count = np.zeros(L, dtype=np.int64)
    lo_b = np.zeros(L, dtype=np.int64)
    hi_b = np.zeros(L, dtype=np.int64)
    prev_end = _first_leaf_at_least(kind, params, keys, pos, m, L, 0)
    for j in range(L):
        a = prev_end
        b = _first_leaf_at_least(kind, params, keys, pos, m, L, j + 1) if j + 1 < L else m
        prev_end = b
        if b - a < 3 or not leaves[j, 3] - leaves[j, 2] > threshold:
            continue
        k = _spline_run(keys, pos, a, b, eps, buf, nk, cap)
        if k < 0:
            return params.copy(), leaves.copy(), -1
        first[j] = nk
        count[j] = k - nk
        lo_b[j] = a
        hi_b[j] = b
        nk = k
    full = np.empty(base + 2 * nk)
    full[:base] = params
    full[base:] = buf[: 2 * nk]
    # the errors of each spline, then keep the splines that at least halve the window
    keep = 0
    for j in range(L):
        if first[j] < 0:
            continue
        off = base + 2 * first[j]
        emin = np.inf
        emax = -np.inf
        for i in range(lo_b[j], hi_b[j]):
            e = float(_p(pos, i)) - _knot_eval(full, off, count[j], float(keys[_p(pos, i)]))
            emin = min(emin, e)
            emax = max(emax, e)
        lo = np.floor(emin)
        hi = np.ceil(emax)
        if 2.0 * (hi - lo) <= leaves[j, 3] - leaves[j, 2]:
            out[j, 0] = -float(off) - 1.0
            out[j, 1] = float(count[j])
            out[j, 2] = lo
            out[j, 3] = hi
            keep += 1
        else:
            first[j] = -1
    if keep == 0:
        return params.copy(), leaves.copy(), 0
    # drop the knots of splines not kept and renumber
    used = 0
    for j in range(L):
        if first[j] >= 0:
            used += count[j]
    packed = np.empty(base + 2 * used)
    packed[:base] = params
    w = base
    for j in range(L):
        if first[j] < 0:
            continue
        off = base + 2 * first[j]
        for t in range(2 * count[j]):
            packed[w + t] = full[off + t]
        out[j, 0] = -float(w) - 1.0
        w += 2 * count[j]
    return packed, out, used


@_jit
def mean_log_window(kind: int, params: np.ndarray, leaves: np.ndarray, keys, sample) -> float:  # type: ignore[no-untyped-def]
    """Mean log2(window + 2) over the keys at positions ``sample`` under a fitted leaf table."""
    total = 0.0
    for i in range(sample.shape[0]):
        j = leaf_of(kind, params, float(keys[sample[i]]), leaves.shape[0])
        total += np.log2(leaves[j, 3] - leaves[j, 2] + 2.0)
    return total / max(1, sample.shape[0])


@_inline
def _clamp(v: float, n: int) -> int:
    if not v >= 0.0:  # also NaN
        return 0
    if v >= n:
        return n
    return int(v)


@_inline
def _less(a, q, side: int) -> bool:  # type: ignore[no-untyped-def]
    # side 0: lower bound (first a >= q); side 1: upper bound (first a > q)
    if side == 0:
        return a < q
    return a <= q


@_inline
def _bsearch(keys, q, lo: int, hi: int, side: int) -> int:  # type: ignore[no-untyped-def]
    # one loop per side: with the side tested inside the loop the compiler kept a branch there
    # instead of a conditional move (measured: 617 vs 468 ns per lookup over 20M keys)
    base = lo
    n = hi - lo
    if side == 0:
        while n > 1:
            half = n >> 1
            if keys[base + half] < q:
                base += half
            n -= half
        if n == 1 and keys[base] < q:
            base += 1
        return base
    while n > 1:
        half = n >> 1
        if keys[base + half] <= q:
            base += half
        n -= half
    if n == 1 and keys[base] <= q:
        base += 1
    return base


@_jit
def _gallop(keys, q, lo: int, hi: int, side: int):  # type: ignore[no-untyped-def]
    """The repair when the window [lo, hi] missed the answer: an exponential search from the
    window's edge on the side the answer lies. Returns (pos, lo, hi) with [lo, hi] the range
    searched last. A call, not inlined: the rare path's code is compiled once per key type
    instead of into every lookup kernel (cold compile time of the test suite)."""
    n = keys.shape[0]
    if lo > 0 and not _less(keys[lo - 1], q, side):
        # answer < lo: gallop left
        step = 1
        right = lo - 1
        left = right - step
        while left > 0 and not _less(keys[left], q, side):
            right = left
            step *= 2
            left = right - step
        if left < 0:
            left = 0
        p = _bsearch(keys, q, left, right, side)
        return p, left, right
    # answer > hi: gallop right
    step = 1
    left = hi + 1
    right = left + step
    while right < n and _less(keys[right], q, side):
        left = right + 1
        step *= 2
        right = left + step
    if right > n:
        right = n
    p = _bsearch(keys, q, left, right, side)
    return p, left, right


@_inline
def _fix(keys, q, pos: int, lo: int, hi: int, side: int):  # type: ignore[no-untyped-def]
    """Verify ``pos`` (the bound within [lo, hi]); repair by exponential search when the window
    missed. Returns (pos, lo, hi) where [lo, hi] is the window that holds the answer."""
    n = keys.shape[0]
    if (lo > 0 and not _less(keys[lo - 1], q, side)) or (pos == hi and hi < n and _less(keys[hi], q, side)):
        return _gallop(keys, q, lo, hi, side)
    return pos, lo, hi


@_jit
def _knot_eval(buf, off: int, cnt: int, x: float) -> float:  # type: ignore[no-untyped-def]
    """Position predicted by the spline whose ``cnt`` knots lie at ``buf[off:off + 2 * cnt]`` as
    (x, y) pairs; 0.0 for a range outside ``buf`` (a crafted file: slow, never wrong)."""
    if off < 0 or cnt < 2 or off + 2 * cnt > buf.shape[0]:
        return 0.0
    if not x > buf[off]:  # also NaN
        return buf[off + 1]
    last = off + 2 * (cnt - 1)
    if x >= buf[last]:
        return buf[last + 1]
    b = 0
    k = cnt
    while k > 1:
        half = k >> 1
        if buf[off + 2 * (b + half)] <= x:
            b += half
        k -= half
    # knot b: x_b <= x < x_{b+1}
    i = off + 2 * b
    x0 = buf[i]
    y0 = buf[i + 1]
    x1 = buf[i + 2]
    if x1 > x0:
        return y0 + (x - x0) * ((buf[i + 3] - y0) / (x1 - x0))
    return y0


@_inline
def _leaf_pred(params, leaves, j: int, x: float, spline: bool) -> float:  # type: ignore[no-untyped-def]
    """Leaf j's predicted position: its line, or for a spline leaf (slope <= -1, which no
    least-squares line over sorted keys has) the spline whose knots start at params[-slope - 1],
    their count in the intercept's column. The spline is a call, not inlined: the lines' path
    stays as small as it was. ``spline`` is a compile-time constant (a literal passed by the
    ``*_spline`` kernels and their plain twins): False for a model without spline leaves, whose
    lookups then run the code they ran before spline leaves existed (the check alone cost 4-11 %
    in mode A)."""
    s = leaves[j, 0]
    if spline and s <= -0.5:
        return _knot_eval(params, int(-s) - 1, int(leaves[j, 1]), x)
    return s * x + leaves[j, 1]


@_inline
def _window(kind, params, leaves, keys, x: float, n: int, spline: bool):  # type: ignore[no-untyped-def]
    return _window_of(params, leaves, leaf_of(kind, params, x, leaves.shape[0]), x, n, spline)


@_inline
def _window_of(params, leaves, j: int, x: float, n: int, spline: bool):  # type: ignore[no-untyped-def]
    """Leaf j's search window [lo, hi) for x."""
    pred = _leaf_pred(params, leaves, j, x, spline)
    lo = _clamp(np.floor(pred + leaves[j, 2]), n)
    hi = _clamp(np.ceil(pred + leaves[j, 3]) + 1.0, n)
    if hi < lo:
        hi = lo
    return lo, hi


@_inline
def lookup_one(kind, params, leaves, keys, q, side: int, spline: bool):  # type: ignore[no-untyped-def]
    """(pos, lo, hi) for one query: the bound and the window that was searched."""
    n = keys.shape[0]
    if n == 0:
        return 0, 0, 0
    x = float(q)
    # one root evaluation site (each inlined copy of the root costs compile time: issue 18's
    # test-suite time)
    j = leaf_of(kind, params, x, leaves.shape[0])
    if leaves.shape[1] == 4:
        lo, hi = _window_of(params, leaves, j, x, n, spline)
        if hi - lo <= PREFETCH_KEYS:
            t = lo
            while t < hi:
                prefetch(keys, t)
                t += 8
            prefetch(keys, hi - 1)
        p = _bsearch(keys, q, lo, hi, side)
        return _fix(keys, q, p, lo, hi, side)
    # exponential search from the prediction
    p0 = _clamp(_leaf_pred(params, leaves, j, x, spline), n)
    if p0 >= n:
        p0 = n - 1
    if _less(keys[p0], q, side):
        lo = p0 + 1
        step = 1
        hi = lo + step
        while hi < n and _less(keys[hi], q, side):
            lo = hi + 1
            step *= 2
            hi = lo + step
        if hi > n:
            hi = n
    else:
        hi = p0
        step = 1
        lo = hi - step
        while lo > 0 and not _less(keys[lo], q, side):
            hi = lo
            step *= 2
            lo = hi - step
        if lo < 0:
            lo = 0
    p = _bsearch(keys, q, lo, hi, side)
    return p, lo, hi


@_inline
def _pipeline(kind, params, leaves, keys, queries, out, start: int, stop: int, side: int, spline: bool, width: int):  # type: ignore[no-untyped-def]
    """Lookups of a batch, software-pipelined: query t has its leaf found and the leaf's row
    prefetched; query t - D (the row now in cache) its spline knots prefetched when the leaf is a
    spline; query t - 2D its window computed and every line of it prefetched; query t - 3D is
    searched in the cached window and verified. Independent queries keep D-deep streams of
    misses in flight with no query waiting on another (the lockstep groups of 16 it replaces
    waited for their slowest lane at every step). A window of at most ``width`` keys (a power
    of two, see :func:`fixed_width`) is searched in exactly log2(width) steps over
    [b, b + width), b = lo moved left where that would pass the end, and all of it prefetched.
    Figures against the 16-lane lockstep kernel it replaced: BENCHMARKS.md (issue 18, mode B)."""
    n = keys.shape[0]
    L = leaves.shape[0]
    w = leaves.shape[1]
    D = PIPE_DISTANCE
    mask = PIPE_RING - 1
    js = np.empty(PIPE_RING, dtype=np.int64)
    los = np.empty(PIPE_RING, dtype=np.int64)
    his = np.empty(PIPE_RING, dtype=np.int64)
    if width < 2 or width > n:
        width = -1  # no window is that small: each is searched by its own size
    for t in range(start, stop + 3 * D):
        if t < stop:
            j = leaf_of(kind, params, float(queries[t]), L)
            js[t & mask] = j
            prefetch(leaves, j * w)  # C-contiguous rows (the index stores them so)
        if spline:
            i = t - D
            if i >= start and i < stop:
                s = leaves[js[i & mask], 0]
                if s <= -0.5:
                    prefetch(params, int(-s) - 1)
                    prefetch(params, int(-s) + 7)
        i = t - 2 * D
        if i >= start and i < stop:
            lo, hi = _window_of(params, leaves, js[i & mask], float(queries[i]), n, spline)
            los[i & mask] = lo
            his[i & mask] = hi
            if hi - lo <= PREFETCH_KEYS:
                e = hi
                if hi - lo <= width:
                    e = min(lo, n - width) + width
                # from lo - 1: the verification reads the key before the answer
                u = lo - 1
                while u < e:
                    prefetch(keys, u)
                    u += 8
                prefetch(keys, e - 1)
            else:
                prefetch(keys, (lo + hi) >> 1)
        i = t - 3 * D
        if i >= start:
            q = queries[i]
            lo = los[i & mask]
            hi = his[i & mask]
            b = lo
            e = hi
            if hi - lo <= width:  # log2(width) steps for every query
                b = min(lo, n - width)
                e = b + width
            p = _bsearch(keys, q, b, e, side)
            if (p == 0 or _less(keys[p - 1], q, side)) and (p == n or not _less(keys[p], q, side)):
                out[i] = p
            else:  # the answer lies outside [lo, hi] (inside, either search finds it)
                out[i] = _gallop(keys, q, lo, hi, side)[0]


def fixed_width(leaves: np.ndarray) -> int:
    """Width of the batch kernel's fixed-step window search (:func:`_pipeline`): the smallest
    power of two that holds the windows of 90 % of the leaves (a window spans at most
    err_hi - err_lo + 3 keys); 0 (every window searched by its own size) for leaves without
    error bounds or windows over PREFETCH_KEYS. The rest take the search by their own size.
    Measured on 20M keys, ns per lookup by width (0: none), one process: uniform (90 % of
    windows within 34 keys) 62 at 0, 50 at 32, 56 at 64, 71 at 128; weblog (44) 72, 66, 57, 64;
    bursty (42) 106, 96, 99, 115; lognormal (24) 36, 36, 39, 49. The fixed search costs an extra
    step or two in cached lines and no mispredicted loop exit; a width past most windows costs
    more lines than it saves."""
    if leaves.ndim != 2 or leaves.shape[1] != 4 or leaves.shape[0] == 0:
        return 0
    span = leaves[:, 3] - leaves[:, 2]
    span = span[np.isfinite(span)]
    if span.size == 0:
        return 0
    v = float(np.quantile(span, 0.9)) + 3.0
    width = 2
    while width < v:
        width *= 2
    return width if width <= PREFETCH_KEYS else 0


@_inline
def _lookup_range(kind, params, leaves, keys, queries, out, start: int, stop: int, side: int, interleave: bool, spline: bool, width: int):  # type: ignore[no-untyped-def]
    n = keys.shape[0]
    if n == 0:
        for i in range(start, stop):
            out[i] = 0
        return
    if interleave and leaves.shape[1] == 4:
        _pipeline(kind, params, leaves, keys, queries, out, start, stop, side, spline, width)
        return
    # one at a time (mode A, and models with exponential leaf search): one inlined site of lookup_one
    for k in range(start, stop):
        out[k] = lookup_one(kind, params, leaves, keys, queries[k], side, spline)[0]


@_jit
def lookup_serial(kind, params, leaves, keys, queries, side: int, interleave: bool, width: int):  # type: ignore[no-untyped-def]
    out = np.empty(queries.shape[0], dtype=np.int64)
    _lookup_range(kind, params, leaves, keys, queries, out, 0, queries.shape[0], side, interleave, False, width)
    return out


@_jit
def lookup_serial_spline(kind, params, leaves, keys, queries, side: int, interleave: bool, width: int):  # type: ignore[no-untyped-def]
    """lookup_serial for a model with spline leaves (the plain kernels never look for them)."""
    out = np.empty(queries.shape[0], dtype=np.int64)
    _lookup_range(kind, params, leaves, keys, queries, out, 0, queries.shape[0], side, interleave, True, width)
    return out


# Inside prange the lookup loop must be a call (inlined there, numba's parfor lowering crashed).
# As a call it measured 10-40 % slower than inlined in lookup_serial (the output array no longer
# known fresh), so the serial kernels keep their own inlined copy; the partitioned kernels call
# lookup_serial. Calls between kernels pass no literal constants (a computed bool, not True):
# numba compiles a separate copy for each literal value it sees (a cold first lookup took a
# minute per key type; issue 18's test-suite time).
@_jit
def _range_plain(kind, params, leaves, keys, queries, out, start: int, stop: int, side: int, interleave: bool, width: int):  # type: ignore[no-untyped-def]
    _lookup_range(kind, params, leaves, keys, queries, out, start, stop, side, interleave, False, width)


@_jit
def _range_spline(kind, params, leaves, keys, queries, out, start: int, stop: int, side: int, interleave: bool, width: int):  # type: ignore[no-untyped-def]
    _lookup_range(kind, params, leaves, keys, queries, out, start, stop, side, interleave, True, width)


@nb.njit(cache=True, nogil=True, parallel=True)
def lookup_parallel(kind, params, leaves, keys, queries, side: int, interleave: bool, width: int):  # type: ignore[no-untyped-def]
    m = queries.shape[0]
    out = np.empty(m, dtype=np.int64)
    chunk = 1 << 14
    n_chunks = (m + chunk - 1) // chunk
    for c in nb.prange(n_chunks):
        s = c * chunk
        e = min(m, s + chunk)
        _range_plain(kind, params, leaves, keys, queries, out, s, e, side, interleave, width)
    return out


@nb.njit(cache=True, nogil=True, parallel=True)
def lookup_parallel_spline(kind, params, leaves, keys, queries, side: int, interleave: bool, width: int):  # type: ignore[no-untyped-def]
    m = queries.shape[0]
    out = np.empty(m, dtype=np.int64)
    chunk = 1 << 14
    n_chunks = (m + chunk - 1) // chunk
    for c in nb.prange(n_chunks):
        s = c * chunk
        e = min(m, s + chunk)
        _range_spline(kind, params, leaves, keys, queries, out, s, e, side, interleave, width)
    return out


@_jit
def search_many(kind, params, leaves, keys, queries, side: int):  # type: ignore[no-untyped-def]
    m = queries.shape[0]
    pos = np.empty(m, dtype=np.int64)
    lo = np.empty(m, dtype=np.int64)
    hi = np.empty(m, dtype=np.int64)
    for i in range(m):
        p, a, b = lookup_one(kind, params, leaves, keys, queries[i], side, False)
        pos[i] = p
        lo[i] = a
        hi[i] = b
    return pos, lo, hi


@_jit
def search_many_spline(kind, params, leaves, keys, queries, side: int):  # type: ignore[no-untyped-def]
    m = queries.shape[0]
    pos = np.empty(m, dtype=np.int64)
    lo = np.empty(m, dtype=np.int64)
    hi = np.empty(m, dtype=np.int64)
    for i in range(m):
        p, a, b = lookup_one(kind, params, leaves, keys, queries[i], side, True)
        pos[i] = p
        lo[i] = a
        hi[i] = b
    return pos, lo, hi


@_jit
def is_sorted_first_violation(keys) -> int:  # type: ignore[no-untyped-def]
    """Index i of the first keys[i] > keys[i+1], or -1 when sorted ascending."""
    for i in range(keys.shape[0] - 1):
        if keys[i] > keys[i + 1]:
            return i
    return -1


@_jit
def first_nan(keys) -> int:  # type: ignore[no-untyped-def]
    for i in range(keys.shape[0]):
        if keys[i] != keys[i]:
            return i
    return -1


@_jit
def unique_first_positions(keys) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Positions of the first occurrence of each distinct key (keys sorted); an empty array when
    all keys are distinct (the identity, which the fitting kernels read as such)."""
    n = keys.shape[0]
    dups = 0
    for i in range(1, n):
        if keys[i] == keys[i - 1]:
            dups += 1
    if dups == 0:
        return np.zeros(0, dtype=np.int64)
    out = np.empty(n - dups, dtype=np.int64)
    m = 0
    for i in range(n):
        if i == 0 or keys[i] != keys[i - 1]:
            out[m] = i
            m += 1
    return out


@_jit
def pack_model(params: np.ndarray, leaves: np.ndarray) -> np.ndarray:
    """Root parameters and leaf rows in one array, so a per-key call from Python passes one
    model argument: [n_leaves, cols, leaves row-major..., root params...]."""
    L = leaves.shape[0]
    c = leaves.shape[1]
    out = np.empty(2 + L * c + params.shape[0])
    out[0] = L
    out[1] = c
    for j in range(L):
        for k in range(c):
            out[2 + j * c + k] = leaves[j, k]
    for i in range(params.shape[0]):
        out[2 + L * c + i] = params[i]
    return out


@_jit
def scalar_op(kind: int, model: np.ndarray, keys, q, op: int) -> int:  # type: ignore[no-untyped-def]
    """One query from Python at the lowest per-call cost: op 0 lower bound, 1 upper bound,
    2 membership (1 or 0)."""
    L = int(model[0])
    c = int(model[1])
    leaves = model[2 : 2 + L * c].reshape((L, c))
    params = model[2 + L * c :]
    side = 1 if op == 1 else 0
    p = lookup_one(kind, params, leaves, keys, q, side, True)[0]
    if op == 2:
        return 1 if p < keys.shape[0] and keys[p] == q else 0
    return p


@_jit
def _partition(kind, params, queries, n_leaves: int, n_buckets: int):  # type: ignore[no-untyped-def]
    """The queries in bucket order (a counting sort by the root's leaf), and where each came from."""
    m = queries.shape[0]
    B = n_buckets
    bucket = np.empty(m, dtype=np.int32)
    counts = np.zeros(B + 1, dtype=np.int64)
    scale = B / n_leaves
    for i in range(m):
        j = leaf_of(kind, params, float(queries[i]), n_leaves)
        b = int(j * scale)
        if b >= B:
            b = B - 1
        bucket[i] = b
        counts[b + 1] += 1
    for b in range(B):
        counts[b + 1] += counts[b]
    order = np.empty(m, dtype=np.int64)
    qs = np.empty(m, dtype=queries.dtype)
    for i in range(m):
        b = bucket[i]
        k = counts[b]
        order[k] = i
        qs[k] = queries[i]
        counts[b] = k + 1
    return order, qs


@_jit
def lookup_partitioned(kind, params, leaves, keys, queries, side: int, n_buckets: int, width: int):  # type: ignore[no-untyped-def]
    """A large batch in one pass of a learned counting sort: the root model sends every query to
    one of ``n_buckets`` ranges of equal key counts (the model is the keys' CDF), and the
    lookups then run bucket by bucket, pipelined, within a region of the keys small enough
    to stay in cache. O(m) extra work, no comparison sort; pays when the keys do not fit in the
    cache and the batch is dense enough that several queries share a bucket."""
    m = queries.shape[0]
    out = np.zeros(m, dtype=np.int64)
    if keys.shape[0] == 0:
        return out
    order, qs = _partition(kind, params, queries, leaves.shape[0], n_buckets)
    out[order] = lookup_serial(kind, params, leaves, keys, qs, side, m >= 0, width)
    return out


@_jit
def lookup_partitioned_spline(kind, params, leaves, keys, queries, side: int, n_buckets: int, width: int):  # type: ignore[no-untyped-def]
    """lookup_partitioned for a model with spline leaves."""
    m = queries.shape[0]
    out = np.zeros(m, dtype=np.int64)
    if keys.shape[0] == 0:
        return out
    order, qs = _partition(kind, params, queries, leaves.shape[0], n_buckets)
    out[order] = lookup_serial_spline(kind, params, leaves, keys, qs, side, m >= 0, width)
    return out


def warm_lookups(dtype: Any) -> None:
    """Compile (or load from numba's cache) the batch lookup kernels an RMI over keys of
    ``dtype`` may run, with and without spline leaves, on a tiny model: a fit on a small sample
    never forms spline leaves (16,384 distinct keys at least), so without this the first fit on
    big keys compiles them inside its own time (23.8 s of a 20M-key build in one bench run)."""
    keys = np.arange(64).astype(dtype)
    params = np.array([1.0, 0.0])
    leaves = np.zeros((4, 4))
    for inter in (False, True):
        lookup_serial(0, params, leaves, keys, keys, 0, inter, 16)
        lookup_serial_spline(0, params, leaves, keys, keys, 0, inter, 16)
    lookup_partitioned(0, params, leaves, keys, keys, 0, 4, 16)
    lookup_partitioned_spline(0, params, leaves, keys, keys, 0, 4, 16)
