"""The strongest peers of the learned index, as numba kernels in the RMI's own style.

Every structure answers ``lower_bound`` exactly like ``np.searchsorted(keys, q, "left")`` for any
queries (below, inside or above the key range, duplicates, the dtype's extreme values), over
sorted uint64, int64, float64, uint32, int32 or float32 keys, in two ways:

- ``lower_bound_serial`` (mode A, latency): a plain loop, each query finished before the next.
- ``lower_bound`` (mode B, throughput): many lookups in flight, so their cache misses overlap.
  Eytzinger, B-tree and binary search run 16 queries in lockstep (each descent is a chain of
  dependent loads: lockstep with look-ahead prefetch is their form); the learned peers (like the
  RMI's kernels in :mod:`learnedsys.index._kernels`) walk the batch once, software-pipelined: each
  query's lookup is cut into stages ``PIPE_D`` queries apart, every stage prefetching the line its
  next stage reads (the next model level, the search window), so by the time that stage runs the
  line has arrived.

Structures:

- :class:`Eytzinger`: the keys in BFS order of a complete binary tree (Khuong & Morin 2017),
  a branch-free descent that prefetches the node four levels down (eight keys per 64-byte line:
  the layout puts a node's depth-3 descendants in one cache line), and an O(1) map from the
  tree slot back to the sorted position.
- :class:`BTree`: a read-only implicit B+-tree with 16-key nodes (an S+-tree): inner levels hold
  the largest key of each child, the leaves are the sorted key array itself, and every node is
  searched by a branch-free count of the keys below the query (a loop the compiler vectorizes).
- :class:`PGMIndex`: the PGM-index (Ferragina & Vinciguerra, VLDB 2020): optimal error-bounded
  piecewise linear segments (the streaming convex-hull algorithm of the reference implementation)
  with ``eps`` on the keys, built recursively on the segments' first keys with ``eps_recursive``
  until one segment remains; a lookup walks the levels top-down with a short linear scan each.
- :class:`RadixSpline`: RadixSpline (Kipf et al., aiDM 2020): a greedy spline corridor with maximum
  error ``eps`` through points of the CDF, and a radix table on the top ``radix_bits`` bits of
  ``key - min`` that narrows the search for the spline segment.

The learned peers model keys through an order-preserving map to uint64 (identity for unsigned
keys, sign bit flipped for signed, the IEEE order trick for floats), so one kernel serves every
dtype with exact integer key differences; each lookup ends in the same verification the RMI
uses (an exponential search from the window's edge if the window missed), so a rounding error in
a model can cost time, never correctness.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.cpython.unsafe.numbers import leading_zeros as _lz
from numba.cpython.unsafe.numbers import trailing_zeros as _tz
from numba.extending import intrinsic, overload

from learnedsys._estimator import NotFittedError
from learnedsys._validation import check_int
from learnedsys.index._kernels import PREFETCH_KEYS  # shared with the RMI's kernels
from learnedsys.index._kernels import prefetch as _prefetch
from learnedsys.index._rmi import prepare_keys, prepare_queries

__all__ = ["GROUP", "BTree", "Eytzinger", "PGMIndex", "RadixSpline", "bs_batch", "bs_serial"]

#: Lookups in flight per group in the lockstep (mode B) kernels of Eytzinger, B-tree and binary search.
GROUP = 16
#: Keys per node of :class:`BTree`.
NODE = 16
#: Queries between two stages of the software-pipelined (mode B) kernels of the learned peers, as
#: in the RMI's: a stage prefetches what the query's next stage reads, and D queries' work later
#: that stage finds it in cache.
PIPE_D = 8
#: Slots of the pipelined kernels' per-query ring buffers (slot ``t & (PIPE_RING - 1)``): a power
#: of two above the pipeline's length in queries (``PIPE_D`` times the stages after the first).
PIPE_RING = 64
#: RadixSpline finds its segment by a linear scan over fewer spline points than this, else by a
#: binary search (whose middle the pipelined kernel prefetches).
RS_SCAN = 32
#: Bytes per cache line.
LINE = 64
assert PIPE_D * 3 < PIPE_RING and PIPE_RING & (PIPE_RING - 1) == 0  # RadixSpline's pipeline has 4 stages

_jit = nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
_inline = nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy", inline="always")
_SIGN = np.uint64(1 << 63)
# numba intrinsics, typed Any for mypy (their stubs do not describe calls from jitted code)
leading_zeros: Any = _lz
trailing_zeros: Any = _tz


# -- intrinsics ------------------------------------------------------------------------------------


def _f64_bits_impl(typingctx, x):  # type: ignore[no-untyped-def]
    sig = types.uint64(types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


_f64_bits: Any = intrinsic(_f64_bits_impl)


def _bits_f64_impl(typingctx, x):  # type: ignore[no-untyped-def]
    sig = types.float64(types.uint64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


_bits_f64: Any = intrinsic(_bits_f64_impl)


def _ord(x: Any) -> Any:
    """Order-preserving map of a key to uint64 (numba only)."""
    raise NotImplementedError


@overload(_ord)
def _ord_impl(x):  # type: ignore[no-untyped-def]
    if isinstance(x, types.Float):

        def impl_f(x):  # type: ignore[no-untyped-def]
            b = _f64_bits(np.float64(x) + 0.0)  # -0.0 + 0.0 == 0.0: one order value for both zeros
            s = b >> np.uint64(63)
            return b ^ ((np.uint64(0) - s) | _SIGN)  # negative: all bits flipped; else the sign bit

        return impl_f
    if isinstance(x, types.Integer) and getattr(x, "signed", False):

        def impl_i(x):  # type: ignore[no-untyped-def]
            return np.uint64(np.int64(x)) ^ _SIGN

        return impl_i
    if isinstance(x, types.Integer):

        def impl_u(x):  # type: ignore[no-untyped-def]
            return np.uint64(x)

        return impl_u
    return None


# -- shared search helpers ---------------------------------------------------------------------------


@_inline
def _lb(keys, q, lo: int, hi: int) -> int:  # type: ignore[no-untyped-def]
    """Branch-free lower bound of ``q`` in ``keys[lo:hi]``."""
    base = lo
    n = hi - lo
    while n > 1:
        half = n >> 1
        if keys[base + half] < q:
            base += half
        n -= half
    if n == 1 and keys[base] < q:
        base += 1
    return base


@_jit
def _gallop_left(keys, q, lo: int) -> int:  # type: ignore[no-untyped-def]
    step = 1
    right = lo - 1
    left = right - step
    while left > 0 and not keys[left] < q:
        right = left
        step *= 2
        left = right - step
    if left < 0:
        left = 0
    return _lb(keys, q, left, right)


@_jit
def _gallop_right(keys, q, hi: int) -> int:  # type: ignore[no-untyped-def]
    n = keys.shape[0]
    step = 1
    left = hi + 1
    right = left + step
    while right < n and keys[right] < q:
        left = right + 1
        step *= 2
        right = left + step
    if right > n:
        right = n
    return _lb(keys, q, left, right)


@_inline
def _repair(keys, q, p: int, lo: int, hi: int) -> int:  # type: ignore[no-untyped-def]
    """``p`` is the lower bound within [lo, hi]; when the answer lies outside, find it by an
    exponential search from the window's edge (a model that missed costs time, not answers)."""
    if lo > 0 and not keys[lo - 1] < q:
        return _gallop_left(keys, q, lo)
    if p == hi and hi < keys.shape[0] and keys[hi] < q:
        return _gallop_right(keys, q, hi)
    return p


@_inline
def _clamp(v: float, hi: int) -> int:
    if not v >= 0.0:  # also NaN
        return 0
    if v >= hi:
        return hi
    return int(v)


@_inline
def _prefetch_span(arr, lo: int, hi: int) -> None:  # type: ignore[no-untyped-def]
    """Prefetch every cache line of ``arr``'s elements [lo, hi) (flat indices from the data
    pointer) when they are at most ``PREFETCH_KEYS``, else only the middle one (a wide window's
    binary search touches few of its lines)."""
    if hi <= lo:
        return
    if hi - lo <= PREFETCH_KEYS:
        step = LINE // arr.itemsize
        t = lo
        while t < hi:
            _prefetch(arr, t)
            t += step
        _prefetch(arr, hi - 1)
    else:
        _prefetch(arr, (lo + hi) >> 1)


# -- binary search -----------------------------------------------------------------------------------


@_jit
def bs_serial(keys, queries):  # type: ignore[no-untyped-def]
    """Mode A: one branch-free binary search over the whole array per query."""
    n = keys.shape[0]
    out = np.empty(queries.shape[0], dtype=np.int64)
    for i in range(queries.shape[0]):
        out[i] = _lb(keys, queries[i], 0, n)
    return out


@_jit
def bs_batch(keys, queries):  # type: ignore[no-untyped-def]
    """Mode B: branch-free binary searches of 16 queries in lockstep (all windows are the array)."""
    n = keys.shape[0]
    m = queries.shape[0]
    out = np.empty(m, dtype=np.int64)
    G = GROUP
    base = np.zeros(G, dtype=np.int64)
    i = 0
    while i + G <= m:
        for g in range(G):
            base[g] = 0
        c = n
        while c > 1:
            half = c >> 1
            for g in range(G):
                b = base[g]
                if keys[b + half] < queries[i + g]:
                    b += half
                base[g] = b
            c -= half
        for g in range(G):
            b = base[g]
            if c == 1 and keys[b] < queries[i + g]:
                b += 1
            out[i + g] = b
        i += G
    while i < m:
        out[i] = _lb(keys, queries[i], 0, n)
        i += 1
    return out


# -- Eytzinger ---------------------------------------------------------------------------------------


@_inline
def _eyt_rank(k: int, H: int, L: int) -> int:
    """Sorted position of slot ``k`` (1-based BFS order) of a complete tree of ``H`` levels whose
    last level holds ``L`` nodes."""
    d = 63 - int(leading_zeros(np.int64(k)))
    j = k - (1 << d)
    h = H - d
    r = (j << h) + (1 << (h - 1)) - 1
    if h >= 2:
        c = (j << (h - 1)) + (1 << (h - 2))  # last-level slots before k in a perfect tree
        if c > L:
            r -= c - L
    return r


@_jit
def _eyt_build(keys, b, H: int, L: int) -> None:  # type: ignore[no-untyped-def]
    n = keys.shape[0]
    for k in range(1, n + 1):
        b[k] = keys[_eyt_rank(k, H, L)]


@_inline
def _eyt_finish(k: int, n: int, H: int, L: int) -> int:
    k >>= trailing_zeros(~k) + 1
    if k == 0:
        return n
    return _eyt_rank(k, H, L)


@_jit
def _eyt_serial(b, n: int, H: int, L: int, line: int, queries):  # type: ignore[no-untyped-def]
    out = np.empty(queries.shape[0], dtype=np.int64)
    for i in range(queries.shape[0]):
        q = queries[i]
        k = 1
        while k <= n:
            _prefetch(b, k * line)
            k = 2 * k + (b[k] < q)
        out[i] = _eyt_finish(k, n, H, L)
    return out


@_jit
def _eyt_batch(b, n: int, H: int, L: int, line: int, queries):  # type: ignore[no-untyped-def]
    m = queries.shape[0]
    out = np.empty(m, dtype=np.int64)
    G = GROUP
    ks = np.empty(G, dtype=np.int64)
    i = 0
    while i + G <= m:
        for g in range(G):
            ks[g] = 1
        for _ in range(H - 1):  # the first H - 1 levels are full: every lane descends
            for g in range(G):
                k = ks[g]
                _prefetch(b, k * line)
                ks[g] = 2 * k + (b[k] < queries[i + g])
        for g in range(G):
            k = ks[g]
            if k <= n:
                k = 2 * k + (b[k] < queries[i + g])
            out[i + g] = _eyt_finish(k, n, H, L)
        i += G
    while i < m:
        q = queries[i]
        k = 1
        while k <= n:
            k = 2 * k + (b[k] < q)
        out[i] = _eyt_finish(k, n, H, L)
        i += 1
    return out


# -- B-tree with 16-key nodes ------------------------------------------------------------------------


@_inline
def _count16(arr, start: int, q) -> int:  # type: ignore[no-untyped-def]
    c = 0
    for t in range(NODE):
        c += arr[start + t] < q
    return c


@_jit
def _btree_build(keys, flat, offsets, real, pad) -> None:  # type: ignore[no-untyped-def]
    n = keys.shape[0]
    B = NODE
    for li in range(real.shape[0]):
        o = offsets[li]
        m = real[li]
        for p in range(m):
            if li == 0:
                flat[o + p] = keys[min(n, (p + 1) * B) - 1]
            else:
                prev = offsets[li - 1]
                flat[o + p] = flat[prev + min(real[li - 1], (p + 1) * B) - 1]
        for p in range(m, offsets[li + 1] - o):
            flat[o + p] = pad


@_inline
def _btree_leaf(keys, node: int, q) -> int:  # type: ignore[no-untyped-def]
    n = keys.shape[0]
    b = node * NODE
    if b + NODE <= n:
        return b + _count16(keys, b, q)
    c = 0
    for t in range(b, n):
        c += keys[t] < q
    return b + c


@_jit
def _btree_serial(keys, flat, offsets, real, queries):  # type: ignore[no-untyped-def]
    n = keys.shape[0]
    top = real.shape[0] - 1
    out = np.empty(queries.shape[0], dtype=np.int64)
    for i in range(queries.shape[0]):
        q = queries[i]
        node = _count16(flat, offsets[top], q)
        if node >= real[top]:
            out[i] = n
            continue
        for li in range(top - 1, -1, -1):
            node = node * NODE + _count16(flat, offsets[li] + node * NODE, q)
        out[i] = _btree_leaf(keys, node, q)
    return out


@_jit
def _btree_batch(keys, flat, offsets, real, queries):  # type: ignore[no-untyped-def]
    n = keys.shape[0]
    top = real.shape[0] - 1
    m = queries.shape[0]
    out = np.empty(m, dtype=np.int64)
    G = GROUP
    nodes = np.empty(G, dtype=np.int64)
    past = np.empty(G, dtype=np.bool_)
    i = 0
    while i + G <= m:
        for g in range(G):
            c = _count16(flat, offsets[top], queries[i + g])
            past[g] = c >= real[top]
            nodes[g] = 0 if past[g] else c
        for li in range(top - 1, -1, -1):
            o = offsets[li]
            for g in range(G):
                nd = nodes[g]
                nodes[g] = nd * NODE + _count16(flat, o + nd * NODE, queries[i + g])
        for g in range(G):
            out[i + g] = n if past[g] else _btree_leaf(keys, nodes[g], queries[i + g])
        i += G
    while i < m:
        q = queries[i]
        node = _count16(flat, offsets[top], q)
        if node >= real[top]:
            out[i] = n
        else:
            for li in range(top - 1, -1, -1):
                node = node * NODE + _count16(flat, offsets[li] + node * NODE, q)
            out[i] = _btree_leaf(keys, node, q)
        i += 1
    return out


# -- PGM-index -----------------------------------------------------------------------------------------


@_jit
def _cross(ox: float, oy: float, ax: float, ay: float, bx: float, by: float) -> float:
    return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox)


@_jit
def _grow(a, size: int):  # type: ignore[no-untyped-def]
    if size < a.shape[0]:
        return a
    b = np.empty(2 * a.shape[0], dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@_jit
def _pla(arr, eps: float):  # type: ignore[no-untyped-def]
    """Optimal piecewise linear approximation with maximum error ``eps`` of the points
    (ord(arr[i]), i) for the first i of each distinct key (PGM's OptimalPiecewiseLinearModel:
    the feasible lines of a segment are kept as the convex hulls of the upper and lower error
    points and the rectangle of extreme slopes; a point outside it starts a new segment).

    Coordinates are relative to the segment's first key, so key differences are exact integers
    before they become floats. Returns (first keys as uint64 order values, slopes, intercepts):
    position ~= slope * (ord(q) - first key) + intercept.
    """
    n = arr.shape[0]
    skey = np.empty(64, dtype=np.uint64)
    sslope = np.empty(64)
    sicpt = np.empty(64)
    ns = 0
    ux = np.empty(64)
    uy = np.empty(64)
    lx = np.empty(64)
    ly = np.empty(64)
    nu = 0
    nl = 0
    us = 0
    ls = 0
    r0x = r0y = r1x = r1y = r2x = r2y = r3x = r3y = 0.0
    pts = 0
    o0 = np.uint64(0)
    y0 = 0.0
    prev = np.uint64(0)
    o = np.uint64(0)
    y = 0.0
    for i in range(n + 1):
        last = i == n
        if not last:
            o = _ord(arr[i])
            if i > 0 and o == prev:
                continue  # a duplicate: its lower bound is the first occurrence
            prev = o
            y = float(i)
        accepted = False
        if not last and pts == 1:
            x = float(o - o0)
            r2x = x
            r2y = y - eps
            r3x = x
            r3y = y + eps
            ux[nu] = x
            uy[nu] = y + eps
            lx[nl] = x
            ly[nl] = y - eps
            nu += 1
            nl += 1
            pts = 2
            accepted = True
        elif not last and pts >= 2:
            x = float(o - o0)
            p1x = x
            p1y = y + eps
            p2x = x
            p2y = y - eps
            s1x = r2x - r0x
            s1y = r2y - r0y
            s2x = r3x - r1x
            s2y = r3y - r1y
            # slope a < slope b  <=>  a.dy * b.dx < a.dx * b.dy (dx > 0)
            out1 = (p1y - r2y) * s1x < (p1x - r2x) * s1y
            out2 = (p2y - r3y) * s2x > (p2x - r3x) * s2y
            if not (out1 or out2):
                accepted = True
                if (p1y - r1y) * s2x < (p1x - r1x) * s2y:
                    mnx = lx[ls] - p1x
                    mny = ly[ls] - p1y
                    mi = ls
                    for t in range(ls + 1, nl):
                        vx = lx[t] - p1x
                        vy = ly[t] - p1y
                        if vy * mnx > vx * mny:
                            break
                        mnx = vx
                        mny = vy
                        mi = t
                    r1x = lx[mi]
                    r1y = ly[mi]
                    r3x = p1x
                    r3y = p1y
                    ls = mi
                    end = nu
                    while end >= us + 2 and _cross(ux[end - 2], uy[end - 2], ux[end - 1], uy[end - 1], p1x, p1y) <= 0:
                        end -= 1
                    nu = end
                    ux = _grow(ux, nu)
                    uy = _grow(uy, nu)
                    ux[nu] = p1x
                    uy[nu] = p1y
                    nu += 1
                if (p2y - r0y) * s1x > (p2x - r0x) * s1y:
                    mxx = ux[us] - p2x
                    mxy = uy[us] - p2y
                    mi = us
                    for t in range(us + 1, nu):
                        vx = ux[t] - p2x
                        vy = uy[t] - p2y
                        if vy * mxx < vx * mxy:
                            break
                        mxx = vx
                        mxy = vy
                        mi = t
                    r0x = ux[mi]
                    r0y = uy[mi]
                    r2x = p2x
                    r2y = p2y
                    us = mi
                    end = nl
                    while end >= ls + 2 and _cross(lx[end - 2], ly[end - 2], lx[end - 1], ly[end - 1], p2x, p2y) >= 0:
                        end -= 1
                    nl = end
                    lx = _grow(lx, nl)
                    ly = _grow(ly, nl)
                    lx[nl] = p2x
                    ly[nl] = p2y
                    nl += 1
                pts += 1
        if accepted:
            continue
        if pts > 0:  # close the current segment
            if pts == 1:
                slope = 0.0
                icpt = y0
            else:
                d1x = r2x - r0x
                d1y = r2y - r0y
                d2x = r3x - r1x
                d2y = r3y - r1y
                slope = 0.5 * (d1y / d1x + d2y / d2x)
                a = d1x * d2y - d1y * d2x
                if a != 0.0:
                    bb = ((r1x - r0x) * d2y - (r1y - r0y) * d2x) / a
                    ix = r0x + bb * d1x
                    iy = r0y + bb * d1y
                    icpt = iy - ix * slope
                else:
                    icpt = 0.5 * ((r0y - r0x * slope) + (r1y - r1x * slope))
                if not (np.isfinite(slope) and np.isfinite(icpt)):
                    slope = 0.0
                    icpt = y0
            skey = _grow(skey, ns)
            sslope = _grow(sslope, ns)
            sicpt = _grow(sicpt, ns)
            skey[ns] = o0
            sslope[ns] = slope
            sicpt[ns] = icpt
            ns += 1
            pts = 0
        if last:
            break
        # start a segment at this point
        o0 = o
        y0 = y
        r0x = 0.0
        r0y = y + eps
        r1x = 0.0
        r1y = y - eps
        ux[0] = 0.0
        uy[0] = y + eps
        lx[0] = 0.0
        ly[0] = y - eps
        nu = 1
        nl = 1
        us = 0
        ls = 0
        pts = 1
    return skey[:ns].copy(), sslope[:ns].copy(), sicpt[:ns].copy()


@_inline
def _pgm_predict(segs, s: int, o, size: int) -> int:  # type: ignore[no-untyped-def]
    k = segs[s, 0]
    dx = float(o - k) if o > k else 0.0
    v = _bits_f64(segs[s, 1]) * dx + _bits_f64(segs[s, 2])
    cap = _bits_f64(segs[s + 1, 2])  # the next segment's start (or the level's size)
    if v > cap:
        v = cap
    return _clamp(v, size)


@_inline
def _pgm_guess(segs, offs, li: int, s: int, eps_r: int, o):  # type: ignore[no-untyped-def]
    """Segment ``s`` of level ``li`` predicts where ``o`` lies in level ``li - 1``: returns the row
    where that level's scan starts and the last row it may read (the prediction plus the error,
    capped by the level's sentinel)."""
    base = offs[li - 1]
    size = offs[li] - base - 1
    p = _pgm_predict(segs, s, o, size - 1)
    return base + max(0, p - eps_r - 1), base + min(size, p + eps_r + 2)


@_inline
def _pgm_scan(segs, offs, li: int, j: int, o) -> int:  # type: ignore[no-untyped-def]
    """The segment of level ``li - 1`` that covers ``o``: a short scan from row ``j``."""
    base = offs[li - 1]
    end = offs[li] - 1
    while j > base and segs[j, 0] > o:
        j -= 1
    while j + 1 < end and segs[j + 1, 0] <= o:
        j += 1
    return j


@_inline
def _pgm_upper(segs, offs, eps_r: int, o):  # type: ignore[no-untyped-def]
    """The walk through every level above the bottom one (small, so cached): returns the rows of
    the bottom level its scan starts at and may read up to (the only segment when the index has one
    level)."""
    top = offs.shape[0] - 2
    s = offs[top]
    if top == 0:
        return s, s + 1
    for li in range(top, 1, -1):
        s = _pgm_scan(segs, offs, li, _pgm_guess(segs, offs, li, s, eps_r, o)[0], o)
    return _pgm_guess(segs, offs, 1, s, eps_r, o)


@_inline
def _pgm_bottom(segs, offs, j: int, o) -> int:  # type: ignore[no-untyped-def]
    """The bottom-level segment for ``o``, scanning from row ``j`` (from :func:`_pgm_upper`)."""
    if offs.shape[0] > 2:
        return _pgm_scan(segs, offs, 1, j, o)
    return j


@_inline
def _pgm_segment(segs, offs, eps_r: int, o) -> int:  # type: ignore[no-untyped-def]
    """Row of the bottom-level segment for order value ``o``: top-down through the levels, each
    one predicting the position in the level below and a short scan fixing it."""
    return _pgm_bottom(segs, offs, _pgm_upper(segs, offs, eps_r, o)[0], o)


@_inline
def _pgm_window_of(segs, s: int, o, n: int, eps: int):  # type: ignore[no-untyped-def]
    """Search window [lo, hi) in the keys from bottom segment ``s``'s prediction for ``o``."""
    p = _pgm_predict(segs, s, o, n)
    return max(0, p - eps), min(n, p + eps + 2)


@_inline
def _pgm_window(keys, segs, offs, eps: int, eps_r: int, q):  # type: ignore[no-untyped-def]
    o = _ord(q)
    return _pgm_window_of(segs, _pgm_segment(segs, offs, eps_r, o), o, keys.shape[0], eps)


@_jit
def _pgm_serial(keys, segs, offs, eps: int, eps_r: int, queries):  # type: ignore[no-untyped-def]
    out = np.empty(queries.shape[0], dtype=np.int64)
    for i in range(queries.shape[0]):
        q = queries[i]
        lo, hi = _pgm_window(keys, segs, offs, eps, eps_r, q)
        _prefetch_span(keys, lo, hi)  # as the RMI's lookup one at a time does
        out[i] = _repair(keys, q, _lb(keys, q, lo, hi), lo, hi)
    return out


@_jit
def _pgm_pipe(keys, segs, offs, eps: int, eps_r: int, queries):  # type: ignore[no-untyped-def]
    """Mode B, software-pipelined over the batch in three stages, ``PIPE_D`` queries apart:

    (a) query t: the upper levels' walk, and a prefetch of the bottom-level rows its scan reads;
    (b) query t - D: the bottom-level scan (rows now cached), the window, a prefetch of its lines;
    (c) query t - 2D: the binary search in the cached window and the verification.
    """
    n = keys.shape[0]
    m = queries.shape[0]
    out = np.zeros(m, dtype=np.int64)
    if n == 0:
        return out
    D = PIPE_D
    mask = PIPE_RING - 1
    w = segs.shape[1]
    os_ = np.empty(PIPE_RING, dtype=np.uint64)
    rows = np.empty(PIPE_RING, dtype=np.int64)
    los = np.empty(PIPE_RING, dtype=np.int64)
    his = np.empty(PIPE_RING, dtype=np.int64)
    for t in range(m + 2 * D):
        if t < m:  # (a)
            r = t & mask
            o = _ord(queries[t])
            j, last = _pgm_upper(segs, offs, eps_r, o)
            os_[r] = o
            rows[r] = j
            _prefetch_span(segs, j * w, (last + 1) * w)
        i = t - D
        if i >= 0 and i < m:  # (b)
            r = i & mask
            o = os_[r]
            lo, hi = _pgm_window_of(segs, _pgm_bottom(segs, offs, rows[r], o), o, n, eps)
            los[r] = lo
            his[r] = hi
            _prefetch_span(keys, lo, hi)
        i = t - 2 * D
        if i >= 0:  # (c)
            r = i & mask
            q = queries[i]
            lo = los[r]
            hi = his[r]
            out[i] = _repair(keys, q, _lb(keys, q, lo, hi), lo, hi)
    return out


# -- RadixSpline --------------------------------------------------------------------------------------


@_inline
def _orient(dx1: float, dy1: float, dx2: float, dy2: float) -> int:
    """1 clockwise, -1 counter-clockwise, 0 collinear (RadixSpline's ComputeOrientation)."""
    e = dy1 * dx2 - dy2 * dx1
    if e > 2.220446049250313e-16:
        return 1
    if e < -2.220446049250313e-16:
        return -1
    return 0


@_jit
def _rs_build(keys, eps: float, radix_bits: int):  # type: ignore[no-untyped-def]
    """Greedy spline corridor (GreedySplineCorridor, as in RadixSpline's builder) over the points
    (ord(key), first position), and the radix table: table[p] is the first spline point whose
    prefix ``(ord(x) - min) >> shift`` is >= p."""
    n = keys.shape[0]
    mn = _ord(keys[0])
    mx = _ord(keys[n - 1])
    diff = mx - mn
    bits = 0 if diff == 0 else 64 - np.int64(leading_zeros(diff))
    shift = bits - radix_bits if bits > radix_bits else 0
    tsize = int(diff >> np.uint64(shift)) + 2
    table = np.zeros(tsize, dtype=np.uint32)
    sx = np.empty(64, dtype=np.uint64)
    sy = np.empty(64)
    npts = 0
    prev_prefix = 0
    ux = 0.0
    uy = 0.0
    lxv = 0.0
    lyv = 0.0
    ulx = np.uint64(0)  # upper limit's key
    llx = np.uint64(0)
    prev_o = np.uint64(0)
    prev_y = 0.0
    distinct = 0
    for i in range(n):
        o = _ord(keys[i])
        y = float(i)
        if distinct > 0 and o == prev_o:
            continue
        distinct += 1
        add_o = np.uint64(0)
        add_y = 0.0
        add = False
        if distinct == 1:
            add = True
            add_o = o
            add_y = y
        elif distinct == 2:
            ulx = o
            uy = y + eps
            llx = o
            lyv = max(0.0, y - eps)
        else:
            lo_x = sx[npts - 1]
            lo_y = sy[npts - 1]
            upper_y = y + eps
            lower_y = max(0.0, y - eps)
            ux = float(ulx - lo_x)
            lxv = float(llx - lo_x)
            xd = float(o - lo_x)
            uyd = uy - lo_y
            lyd = lyv - lo_y
            yd = y - lo_y
            if _orient(ux, uyd, xd, yd) != 1 or _orient(lxv, lyd, xd, yd) != -1:
                add = True
                add_o = prev_o
                add_y = prev_y
                ulx = o
                uy = upper_y
                llx = o
                lyv = lower_y
            else:
                if _orient(ux, uyd, xd, upper_y - lo_y) == 1:
                    ulx = o
                    uy = upper_y
                if _orient(lxv, lyd, xd, lower_y - lo_y) == -1:
                    llx = o
                    lyv = lower_y
        if add:
            sx = _grow(sx, npts)
            sy = _grow(sy, npts)
            sx[npts] = add_o
            sy[npts] = add_y
            npts += 1
            prefix = int((add_o - mn) >> np.uint64(shift))
            if prefix != prev_prefix:
                for p in range(prev_prefix + 1, prefix + 1):
                    table[p] = npts - 1
                prev_prefix = prefix
        prev_o = o
        prev_y = y
    if sx[npts - 1] != prev_o:  # the last key ends the spline
        sx = _grow(sx, npts)
        sy = _grow(sy, npts)
        sx[npts] = prev_o
        sy[npts] = prev_y
        npts += 1
        prefix = int((prev_o - mn) >> np.uint64(shift))
        for p in range(prev_prefix + 1, prefix + 1):
            table[p] = npts - 1
        prev_prefix = prefix
    for p in range(prev_prefix + 1, tsize):
        table[p] = npts
    return sx[:npts].copy(), sy[:npts].copy(), table, shift


@_inline
def _rs_edge(sx, o, n: int) -> int:  # type: ignore[no-untyped-def]
    """The window's both ends when ``o`` lies outside the spline's keys: 0 when ``o`` <= the
    smallest key, ``n`` when above the largest; -1 when inside (the spline answers)."""
    if o <= sx[0]:
        return 0
    if o > sx[sx.shape[0] - 1]:
        return n
    return -1


@_inline
def _rs_prefix(sx, shift: int, o) -> int:  # type: ignore[no-untyped-def]
    """The radix table's row for ``o`` (inside the key range)."""
    return int((o - sx[0]) >> np.uint64(shift))


@_inline
def _rs_cell(table, prefix: int):  # type: ignore[no-untyped-def]
    """Spline points [b, e] among which the segment of a key with radix ``prefix`` ends."""
    return int(np.int64(table[prefix])), int(np.int64(table[prefix + 1]))


@_inline
def _rs_spline_window(n: int, sx, sy, eps: int, o, b: int, e: int):  # type: ignore[no-untyped-def]
    """Search window [lo, hi) in the keys from the spline segment ending in points [b, e]."""
    if e - b < RS_SCAN:
        cur = b
        while sx[cur] < o:
            cur += 1
    else:
        cur = _lb(sx, o, b, e)
    # sx[cur - 1] < o <= sx[cur]
    dx0 = sx[cur - 1]
    y0 = sy[cur - 1]
    slope = (sy[cur] - y0) / float(sx[cur] - dx0)
    p = _clamp(float(o - dx0) * slope + y0, n)
    return max(0, p - eps), min(n, p + eps + 2)


@_inline
def _rs_window(keys, sx, sy, table, shift: int, eps: int, q):  # type: ignore[no-untyped-def]
    n = keys.shape[0]
    o = _ord(q)
    edge = _rs_edge(sx, o, n)
    if edge >= 0:
        return edge, edge
    b, e = _rs_cell(table, _rs_prefix(sx, shift, o))
    return _rs_spline_window(n, sx, sy, eps, o, b, e)


@_jit
def _rs_serial(keys, sx, sy, table, shift: int, eps: int, queries):  # type: ignore[no-untyped-def]
    out = np.empty(queries.shape[0], dtype=np.int64)
    for i in range(queries.shape[0]):
        q = queries[i]
        lo, hi = _rs_window(keys, sx, sy, table, shift, eps, q)
        _prefetch_span(keys, lo, hi)  # as the RMI's lookup one at a time does
        out[i] = _repair(keys, q, _lb(keys, q, lo, hi), lo, hi)
    return out


@_jit
def _rs_pipe(keys, sx, sy, table, shift: int, eps: int, queries):  # type: ignore[no-untyped-def]
    """Mode B, software-pipelined over the batch in four stages, ``PIPE_D`` queries apart:

    (a) query t: the radix prefix, and a prefetch of its table entry (queries outside the key
        range are answered here: their window is empty);
    (b) query t - D: the table's range of spline points [b, e], a prefetch of the first point
        (and of the range's middle when the segment is found by binary search);
    (c) query t - 2D: the spline segment (points now cached), the window, a prefetch of its lines;
    (d) query t - 3D: the binary search in the cached window and the verification.
    """
    n = keys.shape[0]
    m = queries.shape[0]
    out = np.zeros(m, dtype=np.int64)
    if n == 0:
        return out
    D = PIPE_D
    mask = PIPE_RING - 1
    os_ = np.empty(PIPE_RING, dtype=np.uint64)
    pre = np.empty(PIPE_RING, dtype=np.int64)  # the radix prefix, -1 outside the key range
    bs = np.empty(PIPE_RING, dtype=np.int64)
    es = np.empty(PIPE_RING, dtype=np.int64)
    los = np.empty(PIPE_RING, dtype=np.int64)
    his = np.empty(PIPE_RING, dtype=np.int64)
    for t in range(m + 3 * D):
        if t < m:  # (a)
            r = t & mask
            o = _ord(queries[t])
            os_[r] = o
            edge = _rs_edge(sx, o, n)
            if edge >= 0:
                pre[r] = -1
                los[r] = edge
                his[r] = edge
            else:
                prefix = _rs_prefix(sx, shift, o)
                pre[r] = prefix
                _prefetch(table, prefix)
        i = t - D
        if i >= 0 and i < m:  # (b)
            r = i & mask
            if pre[r] >= 0:
                b, e = _rs_cell(table, pre[r])
                bs[r] = b
                es[r] = e
                _prefetch(sx, b)
                _prefetch(sy, b)
                if e - b >= RS_SCAN:
                    _prefetch(sx, (b + e) >> 1)
        i = t - 2 * D
        if i >= 0 and i < m:  # (c)
            r = i & mask
            if pre[r] >= 0:
                lo, hi = _rs_spline_window(n, sx, sy, eps, os_[r], bs[r], es[r])
                los[r] = lo
                his[r] = hi
                _prefetch_span(keys, lo, hi)
        i = t - 3 * D
        if i >= 0:  # (d)
            r = i & mask
            q = queries[i]
            lo = los[r]
            hi = his[r]
            out[i] = _repair(keys, q, _lb(keys, q, lo, hi), lo, hi)
    return out


# -- classes -------------------------------------------------------------------------------------------


def _aligned_empty(count: int, dtype: np.dtype, align: int = 128) -> np.ndarray:
    """An uninitialised array whose first element starts on an ``align``-byte boundary."""
    nbytes = count * dtype.itemsize
    raw = np.empty(nbytes + align, dtype=np.uint8)
    off = (-raw.ctypes.data) % align
    return raw[off : off + nbytes].view(dtype)


class _Peer:
    """Shared plumbing: validation, query preparation, out-of-range integer queries."""

    owner = "peer"
    keys_: np.ndarray

    def fit(self, keys: Any) -> Any:
        self.keys_ = prepare_keys(keys, self.owner)
        self.n_ = int(self.keys_.shape[0])
        self._build()
        return self

    def _build(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "keys_"):
            raise NotFittedError(f"this {self.owner} is not fitted yet; call fit(keys) first")

    def _answer(self, queries: Any, batch: bool) -> Any:
        self._check_fitted()
        q, below, above, scalar = prepare_queries(queries, self.keys_.dtype)
        out = np.zeros(q.shape[0], dtype=np.int64) if self.n_ == 0 else self._lookup(q, batch)
        if below is not None:
            out[below] = 0
        if above is not None:
            out[above] = self.n_
        return int(out[0]) if scalar else out.reshape(np.shape(queries))

    def _lookup(self, q: np.ndarray, batch: bool) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def lower_bound(self, queries: Any) -> Any:
        """Mode B: ``np.searchsorted(keys, queries, "left")``, many lookups in flight (16 in lockstep,
        or software-pipelined for the learned peers)."""
        return self._answer(queries, True)

    def lower_bound_serial(self, queries: Any) -> Any:
        """Mode A: the same answers, one query finished before the next starts."""
        return self._answer(queries, False)

    def size_in_bytes(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError


class Eytzinger(_Peer):
    """The keys in Eytzinger (BFS) order: a branch-free descent with look-ahead prefetch.

    Size: a copy of the keys in the new order (``(n + 1) * itemsize`` bytes; it replaces the
    sorted array for searching, and the answer is mapped back to the sorted position in O(1)).
    """

    owner = "Eytzinger"

    def __init__(self, keys: Any = None) -> None:
        if keys is not None:
            self.fit(keys)

    def _build(self) -> None:
        n = self.n_
        dt = self.keys_.dtype
        self.height_ = H = max(1, n.bit_length())
        self.last_ = n - ((1 << (H - 1)) - 1)
        self.line_ = max(1, 64 // dt.itemsize)
        self.b_ = _aligned_empty(n + 1, dt, 64)
        self.b_[0] = 0
        if n:
            _eyt_build(self.keys_, self.b_, H, self.last_)

    def _lookup(self, q: np.ndarray, batch: bool) -> np.ndarray:
        fn = _eyt_batch if batch else _eyt_serial
        return fn(self.b_, self.n_, self.height_, self.last_, self.line_, q)

    def size_in_bytes(self) -> int:
        self._check_fitted()
        return int(self.b_.nbytes)


class BTree(_Peer):
    """Read-only implicit B+-tree with 16-key nodes (an S+-tree) over the sorted array.

    Inner level 0 holds the largest key of each 16-key block of the array, level 1 the largest of
    each 16 entries of level 0, and so on up to one root node; levels are padded to whole nodes
    and start on 128-byte boundaries. Each node is searched by counting its keys below the query
    (branch-free, vectorized). Size: about ``n / 15`` keys.
    """

    owner = "BTree"

    def __init__(self, keys: Any = None) -> None:
        if keys is not None:
            self.fit(keys)

    def _build(self) -> None:
        n = self.n_
        dt = self.keys_.dtype
        sizes = []
        m = max(1, -(-n // NODE))
        while True:
            sizes.append(m)
            if m <= NODE:
                break
            m = -(-m // NODE)
        padded = [-(-s // NODE) * NODE for s in sizes]
        self.offsets_ = np.zeros(len(sizes) + 1, dtype=np.int64)
        self.offsets_[1:] = np.cumsum(padded)
        self.real_ = np.array(sizes, dtype=np.int64)
        self.inner_ = _aligned_empty(int(self.offsets_[-1]), dt, 128)
        pad = np.array(np.inf if dt.kind == "f" else np.iinfo(dt).max, dtype=dt)[()]
        if n:
            _btree_build(self.keys_, self.inner_, self.offsets_, self.real_, pad)

    def _lookup(self, q: np.ndarray, batch: bool) -> np.ndarray:
        fn = _btree_batch if batch else _btree_serial
        return fn(self.keys_, self.inner_, self.offsets_, self.real_, q)

    def size_in_bytes(self) -> int:
        self._check_fitted()
        return int(self.inner_.nbytes + self.offsets_.nbytes + self.real_.nbytes)


class PGMIndex(_Peer):
    """PGM-index: recursive levels of optimal error-bounded linear segments.

    Args:
        eps: maximum error of a bottom segment's prediction of a key's position (the search
            window is ``2 * eps + 2`` keys).
        eps_recursive: the same for the upper levels (their windows are scanned linearly).

    Each segment is 24 bytes (first key, slope, intercept), plus one sentinel per level.
    """

    owner = "PGMIndex"

    def __init__(self, keys: Any = None, *, eps: int = 64, eps_recursive: int = 4) -> None:
        self.eps = eps
        self.eps_recursive = eps_recursive
        if keys is not None:
            self.fit(keys)

    def _build(self) -> None:
        check_int(self.eps, "eps", self.owner, low=1, high=1 << 30)
        check_int(self.eps_recursive, "eps_recursive", self.owner, low=1, high=1 << 30)
        levels = []
        if self.n_:
            k, s, c = _pla(self.keys_, float(self.eps))
            levels.append((k, s, c, self.n_))
            while k.shape[0] > 1:
                below = k.shape[0]
                k, s, c = _pla(k, float(self.eps_recursive))
                levels.append((k, s, c, below))
        total = sum(lv[0].shape[0] + 1 for lv in levels)
        segs = np.zeros((total, 3), dtype=np.uint64)
        offs = np.zeros(len(levels) + 1, dtype=np.int64)
        r = 0
        for li, (k, s, c, below) in enumerate(levels):
            m = k.shape[0]
            segs[r : r + m, 0] = k
            segs[r : r + m, 1] = s.view(np.uint64)
            segs[r : r + m, 2] = c.view(np.uint64)
            segs[r + m, 0] = np.iinfo(np.uint64).max  # sentinel: caps the last prediction
            segs[r + m, 2] = np.array([float(below)]).view(np.uint64)[0]
            r += m + 1
            offs[li + 1] = r
        self.segments_ = segs
        self.offsets_ = offs
        self.n_segments_ = int(levels[0][0].shape[0]) if levels else 0
        self.height_ = len(levels)

    def _lookup(self, q: np.ndarray, batch: bool) -> np.ndarray:
        fn = _pgm_pipe if batch else _pgm_serial
        return fn(self.keys_, self.segments_, self.offsets_, int(self.eps), int(self.eps_recursive), q)

    def size_in_bytes(self) -> int:
        self._check_fitted()
        return int(self.segments_.nbytes + self.offsets_.nbytes)


class RadixSpline(_Peer):
    """RadixSpline: an error-bounded spline with a radix table over its points.

    Args:
        eps: maximum error of the spline's position estimate (window ``2 * eps + 2`` keys).
        radix_bits: bits of ``key - min`` the radix table resolves (``2**radix_bits + 2`` uint32
            entries at most; fewer when the key range is narrower).

    Size: 16 bytes per spline point plus the table.
    """

    owner = "RadixSpline"

    def __init__(self, keys: Any = None, *, eps: int = 32, radix_bits: int = 18) -> None:
        self.eps = eps
        self.radix_bits = radix_bits
        if keys is not None:
            self.fit(keys)

    def _build(self) -> None:
        check_int(self.eps, "eps", self.owner, low=1, high=1 << 30)
        check_int(self.radix_bits, "radix_bits", self.owner, low=1, high=30)
        if self.n_:
            self.sx_, self.sy_, self.table_, self.shift_ = _rs_build(self.keys_, float(self.eps), int(self.radix_bits))
        else:
            self.sx_ = np.zeros(0, dtype=np.uint64)
            self.sy_ = np.zeros(0)
            self.table_ = np.zeros(0, dtype=np.uint32)
            self.shift_ = 0

    def _lookup(self, q: np.ndarray, batch: bool) -> np.ndarray:
        fn = _rs_pipe if batch else _rs_serial
        return fn(self.keys_, self.sx_, self.sy_, self.table_, int(self.shift_), int(self.eps), q)

    def size_in_bytes(self) -> int:
        self._check_fitted()
        return int(self.sx_.nbytes + self.sy_.nbytes + self.table_.nbytes)
