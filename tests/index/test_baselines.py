"""The bench's peers of the learned index: exact answers in both lookup modes, every key dtype."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from learnedsys._estimator import NotFittedError
from learnedsys.index._baselines import BinarySearch, BTree, Eytzinger, PGMIndex, RadixSpline

U64_MAX = np.iinfo(np.uint64).max

PEERS: dict[str, Callable[[Any], Any]] = {
    "binary": lambda k: BinarySearch(k),
    "eytzinger": lambda k: Eytzinger(k),
    "btree": lambda k: BTree(k),
    "pgm": lambda k: PGMIndex(k),
    "pgm_eps2": lambda k: PGMIndex(k, eps=2, eps_recursive=1),
    "radixspline": lambda k: RadixSpline(k),
    "radixspline_coarse": lambda k: RadixSpline(k, eps=2, radix_bits=2),  # wide radix cells: binary search over spline points
}


def _keys(dist: str, n: int, dtype: Any, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        if dist == "uniform":
            x = rng.uniform(-1e6, 1e6, n)
        elif dist == "dups":
            x = rng.integers(-20, 20, n).astype(np.float64) / 4
        elif dist == "skewed":
            x = rng.lognormal(0, 3, n) * rng.choice([-1.0, 1.0], n)
        else:  # extremes
            big = float(np.finfo(dt).max)
            x = np.concatenate([rng.uniform(-1, 1, max(0, n - 6)), [-np.inf, np.inf, -0.0, 0.0, -big, big]])[:n]
        return np.sort(x.astype(dt))
    info = np.iinfo(dt)
    lo, hi = int(info.min), int(info.max)
    if dist == "uniform":
        x = rng.integers(lo, hi, n, dtype=dt, endpoint=True)
    elif dist == "dups":
        x = rng.integers(max(lo, 0), min(hi, 40), n, dtype=dt)
    elif dist == "skewed":
        x = np.minimum(rng.lognormal(0, 4, n), min(hi, 2**62)).astype(np.int64).astype(dt)
    else:  # extremes: the dtype's end values (0 and 2**64-1 for uint64), repeated, and a dense run
        ends = np.array([lo, lo, lo + 1, hi - 1, hi, hi], dtype=dt)
        mid = (np.arange(max(0, n - 6)) + (lo // 2 + hi // 2)).astype(dt)
        x = np.concatenate([ends, mid])[:n]
    return np.sort(x)


def _queries(keys: np.ndarray, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = keys.dtype
    parts = []
    if keys.size:
        parts.append(keys[rng.integers(0, keys.size, 300)])
    if dt.kind == "f":
        parts.append(rng.uniform(-2e6, 2e6, 200))
        parts.append(np.array([-np.inf, np.inf, -0.0, 0.0, 1e308, -1e308, 0.125]))
        if keys.size:
            parts.append(np.nextafter(keys[rng.integers(0, keys.size, 100)].astype(np.float64), np.inf))
        return np.concatenate([p.astype(np.float64) for p in parts])
    info = np.iinfo(dt)
    parts.append(rng.integers(info.min, info.max, 200, dtype=dt, endpoint=True))
    parts.append(np.array([info.min, info.min + 1, info.max - 1, info.max, 0, 1, 39, 40], dtype=dt))
    if keys.size:
        parts.append(keys[rng.integers(0, keys.size, 100)] + dt.type(1))  # just above keys (wraps at max)
        parts.append(keys[rng.integers(0, keys.size, 100)] - dt.type(1))
    return np.concatenate([p.astype(dt) for p in parts])


def _check(peer: Any, keys: np.ndarray, q: np.ndarray) -> None:
    expect = np.searchsorted(keys, q, "left")
    np.testing.assert_array_equal(peer.lower_bound_serial(q), expect)
    np.testing.assert_array_equal(peer.lower_bound(q), expect)


@pytest.mark.parametrize("name", PEERS)
@pytest.mark.parametrize("dtype", ["uint64", "int64", "float64"])
@pytest.mark.parametrize("dist", ["uniform", "dups", "skewed", "extremes"])
def test_peers_match_searchsorted(name: str, dtype: str, dist: str) -> None:
    keys = _keys(dist, 20_000, dtype)
    _check(PEERS[name](keys), keys, _queries(keys))


@pytest.mark.parametrize("name", PEERS)
@pytest.mark.parametrize("dtype", ["uint32", "int32", "float32"])
def test_peers_narrow_dtypes(name: str, dtype: str) -> None:
    for dist in ("uniform", "extremes"):
        keys = _keys(dist, 3000, dtype)
        _check(PEERS[name](keys), keys, _queries(keys))


@pytest.mark.parametrize("name", PEERS)
def test_peers_small_and_edge_sizes(name: str) -> None:
    for n in (0, 1, 2, 3, 15, 16, 17, 31, 255, 256, 257, 4097):
        keys = np.arange(n, dtype=np.uint64) * np.uint64(3) + np.uint64(5)
        q = np.concatenate([np.arange(3 * n + 10, dtype=np.uint64), np.array([0, U64_MAX], dtype=np.uint64)])
        _check(PEERS[name](keys), keys, q)
    for keys in (np.full(1000, 7, dtype=np.uint64), np.array([0, U64_MAX], dtype=np.uint64), np.full(33, U64_MAX, dtype=np.uint64)):
        _check(PEERS[name](keys), keys, np.array([0, 6, 7, 8, U64_MAX - 1, U64_MAX], dtype=np.uint64))


@pytest.mark.parametrize("name", PEERS)
def test_peers_hard_key_sets_and_other_query_types(name: str) -> None:
    from learnedsys.bench.index import make_keys

    for dist in ("osm", "fb", "bursty"):
        keys = make_keys(dist, 30_000, seed=3)
        q = np.concatenate([keys[::7], keys[::11] + np.uint64(1), np.random.default_rng(0).integers(0, U64_MAX, 3000, dtype=np.uint64, endpoint=True)])
        _check(PEERS[name](keys), keys, q)
    peer = PEERS[name](keys)
    # scalars, Python ints, negative and other-dtype queries (answers as np.searchsorted on the values)
    assert peer.lower_bound(int(keys[100])) == int(np.searchsorted(keys, keys[100]))
    assert peer.lower_bound_serial(-5) == 0 and peer.lower_bound(np.int64(-1)) == 0
    np.testing.assert_array_equal(peer.lower_bound(np.array([-3, 2**62], dtype=np.int64)), np.searchsorted(keys, np.array([0, 2**62], dtype=np.uint64)))
    assert peer.lower_bound(q[:12].reshape(3, 4)).shape == (3, 4)


LEARNED = ("pgm", "pgm_eps2", "radixspline", "radixspline_coarse")
DTYPES = ("uint64", "int64", "float64", "uint32", "int32", "float32")
# shorter than one stage gap (PIPE_D = 8), than the pipeline, than the ring (PIPE_RING = 64), equal, longer
BATCH_LENGTHS = (0, 1, 7, 63, 64, 65, 1000)


def _extremes(keys: np.ndarray) -> np.ndarray:
    """Queries at the dtype's ends and around the first and last keys, as the kernels get them."""
    dt = keys.dtype
    if dt.kind == "f":
        big = float(np.finfo(np.float64).max)
        v = [-np.inf, -big, -0.0, 0.0, big, np.inf]
        if keys.size:
            with np.errstate(over="ignore"):  # next to the largest float: infinity, a query like any other
                v += [float(keys[0]), float(keys[-1]), np.nextafter(float(keys[0]), -np.inf), np.nextafter(float(keys[-1]), np.inf)]
        return np.array(v, dtype=np.float64)
    info = np.iinfo(dt)
    v = [int(info.min), int(info.min) + 1, 0, int(info.max) - 1, int(info.max)]
    if keys.size:
        v += [int(keys[0]), int(keys[-1]), max(int(info.min), int(keys[0]) - 1), min(int(info.max), int(keys[-1]) + 1)]
    return np.array(v, dtype=dt)


def _batch_queries(keys: np.ndarray) -> np.ndarray:
    """1000+ queries below, inside and above the keys, with the extremes first and last in the
    batch (the pipeline's fill and drain) and scattered through it."""
    with np.errstate(over="ignore"):
        q = np.concatenate([_queries(keys), _queries(keys, seed=3)])
    q = np.random.default_rng(2).permutation(np.resize(q, max(q.size, 1100)))  # few without keys
    ex = _extremes(keys)
    return np.concatenate([ex, q, ex[::-1]]).astype(q.dtype)


@pytest.mark.parametrize("name", LEARNED)
@pytest.mark.parametrize("dtype", DTYPES)
def test_learned_peers_pipelined_batches(name: str, dtype: str) -> None:
    """Mode B of PGM and RadixSpline is software-pipelined: batches shorter and longer than the
    pipeline and its ring buffers, duplicates, queries outside the keys and at the dtype's ends."""
    for dist in ("uniform", "dups", "skewed", "extremes"):
        keys = _keys(dist, 3000, dtype)
        peer = PEERS[name](keys)
        q = _batch_queries(keys)
        assert q.size > 1000
        for m in BATCH_LENGTHS:
            for part in (q[:m], q[q.size - m :]):  # the extremes at the batch's start, then at its end
                np.testing.assert_array_equal(peer.lower_bound(part), np.searchsorted(keys, part, "left"), err_msg=f"{dist} m={m}")
        for v in _extremes(keys):  # each alone: a batch of one through the whole pipeline
            part = np.array([v], dtype=q.dtype)
            np.testing.assert_array_equal(peer.lower_bound(part), np.searchsorted(keys, part, "left"))
        np.testing.assert_array_equal(peer.lower_bound(q), peer.lower_bound_serial(q))


@pytest.mark.parametrize("name", LEARNED)
def test_learned_peers_pipeline_empty_and_tiny_keys(name: str) -> None:
    """Empty keys (the kernels themselves too, though the class answers 0 without them), one key,
    one repeated key and a straight line of keys (a one-segment PGM), at every batch length."""
    for dtype in DTYPES:
        dt = np.dtype(dtype)
        lo = float(np.finfo(dt).min) if dt.kind == "f" else int(np.iinfo(dt).min)
        hi = float(np.finfo(dt).max) if dt.kind == "f" else int(np.iinfo(dt).max)
        sets = [np.zeros(0, dtype=dt), np.array([7], dtype=dt), np.array([lo], dtype=dt), np.array([hi], dtype=dt), np.full(100, 7, dtype=dt), np.arange(2000, dtype=dt)]
        for keys in sets:
            peer = PEERS[name](keys)
            q = _batch_queries(keys)
            for m in BATCH_LENGTHS:
                np.testing.assert_array_equal(peer.lower_bound(q[:m]), np.searchsorted(keys, q[:m], "left"), err_msg=f"{dtype} n={keys.size} m={m}")
            if keys.size == 0:
                for m in BATCH_LENGTHS:
                    np.testing.assert_array_equal(peer._lookup(q[:m], True), np.zeros(m, dtype=np.int64))


def test_pgm_segments_respect_eps() -> None:
    from learnedsys.bench.index import make_keys

    for dist in ("lognormal", "osm", "fb"):
        keys = make_keys(dist, 50_000, seed=1)
        for eps in (4, 64):
            pgm = PGMIndex(keys, eps=eps)
            segs, offs = pgm.segments_, pgm.offsets_
            bottom = segs[: offs[1] - 1]
            uniq, first = np.unique(keys, return_index=True)
            s = np.searchsorted(bottom[:, 0], uniq, "right") - 1
            pred = bottom[s, 1].view(np.float64) * (uniq - bottom[s, 0]).astype(np.float64) + bottom[s, 2].view(np.float64)
            assert np.abs(pred - first).max() <= eps + 1, (dist, eps)
            assert pgm.n_segments_ < uniq.size / 4
        assert PGMIndex(keys, eps=16).size_in_bytes() > PGMIndex(keys, eps=128).size_in_bytes()
    assert PGMIndex(make_keys("osm", 200_000, seed=1), eps=4).height_ >= 3  # recursive levels


def test_radixspline_error_bound_and_size() -> None:
    from learnedsys.bench.index import make_keys

    for dist in ("normal", "bursty"):
        keys = make_keys(dist, 50_000, seed=2)
        rs = RadixSpline(keys, eps=16, radix_bits=10)
        uniq, first = np.unique(keys, return_index=True)
        up = np.searchsorted(rs.sx_, uniq, "left")
        up = np.maximum(up, 1)
        x0, x1 = rs.sx_[up - 1], rs.sx_[up]
        y0, y1 = rs.sy_[up - 1], rs.sy_[up]
        pred = y0 + (uniq - x0).astype(np.float64) * (y1 - y0) / (x1 - x0).astype(np.float64)
        pred[uniq == rs.sx_[0]] = 0.0
        assert np.abs(pred - first).max() <= 16 + 1
        assert rs.sx_.size < uniq.size / 4 and rs.table_.size <= (1 << 10) + 2
    assert RadixSpline(keys, eps=8).size_in_bytes() > RadixSpline(keys, eps=128, radix_bits=8).size_in_bytes()


def test_sizes_and_errors() -> None:
    keys = np.arange(100_000, dtype=np.uint64) * np.uint64(7)
    assert BinarySearch(keys).size_in_bytes() == 0
    assert Eytzinger(keys).size_in_bytes() == (keys.size + 1) * 8
    assert 0 < BTree(keys).size_in_bytes() < keys.nbytes // 10
    with pytest.raises(ValueError, match="sorted"):
        PGMIndex(keys[::-1])
    with pytest.raises(NotFittedError, match="not fitted"):
        RadixSpline().lower_bound(np.array([1], dtype=np.uint64))
    with pytest.raises(ValueError, match="eps"):
        PGMIndex(keys, eps=0)
