"""RMI against the oracle np.searchsorted, over distributions, dtypes, models and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnedsys._estimator import NotFittedError
from learnedsys._validation import InvalidParameterError
from learnedsys.index import RMI, BinarySearch, BPlusTree

U64_MAX = np.iinfo(np.uint64).max


def _dist(name: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if name == "uniform":
        k = rng.integers(0, 1 << 63, n, dtype=np.uint64)
    elif name == "lognormal":
        x = rng.lognormal(0, 2, n)
        k = (x / x.max() * 1e9).astype(np.uint64)
    elif name == "dups":
        k = rng.integers(0, 50, n).astype(np.uint64)
    elif name == "extremes":
        k = np.concatenate([np.zeros(n // 4, np.uint64), rng.integers(0, U64_MAX, n // 2, dtype=np.uint64, endpoint=True), np.full(n - n // 4 - n // 2, U64_MAX, np.uint64)])
    elif name == "clustered":
        centers = rng.integers(0, 1 << 40, 20)
        k = (centers[rng.integers(0, 20, n)] + rng.integers(0, 1000, n)).astype(np.uint64)
    else:
        raise ValueError(name)
    k.sort()
    return k


def _queries(keys: np.ndarray, seed: int, m: int = 4000) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    parts = [np.array([0, 1, U64_MAX - 1, U64_MAX], dtype=np.uint64)]
    if keys.size:
        parts.append(keys[rng.integers(0, keys.size, m)])
        parts.append(keys[rng.integers(0, keys.size, m // 4)] + np.uint64(1))
        parts.append(keys[rng.integers(0, keys.size, m // 4)] - np.uint64(1))
    parts.append(rng.integers(0, U64_MAX, m, dtype=np.uint64, endpoint=True))
    return np.concatenate(parts)


@pytest.mark.parametrize("dist", ["uniform", "lognormal", "dups", "extremes", "clustered"])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"root": "linear", "n_leaves": 64},
        {"root": "cubic", "n_leaves": 300},
        {"root": "spline", "n_leaves": 1000},
        {"root": "grid", "n_leaves": 500},
        {"root": "loggrid", "n_leaves": 700},
        {"root": "nn", "n_leaves": 200, "nn_hidden": (8, 8)},
        {"root": "nn", "n_leaves": 50, "nn_hidden": ()},
        {"leaf_search": "exponential"},
        {"target": "space"},
        {"hybrid_threshold": 4},
        {"interleave": False},
        {"parallel": True},
    ],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default",
)
def test_lower_bound_matches_searchsorted(dist: str, params: dict) -> None:
    keys = _dist(dist, 30_000, seed=len(dist))
    q = _queries(keys, seed=3)
    if params.get("parallel"):
        q = np.tile(q, 8)  # large enough for the parallel kernel
    index = RMI(**params).fit(keys)
    np.testing.assert_array_equal(index.lower_bound(q), np.searchsorted(keys, q, "left"))
    np.testing.assert_array_equal(index.upper_bound(q), np.searchsorted(keys, q, "right"))
    pos, lo, hi = index.search(q)
    np.testing.assert_array_equal(pos, np.searchsorted(keys, q, "left"))
    assert (lo <= pos).all() and (pos <= hi).all()


@pytest.mark.parametrize("dtype", ["uint64", "int64", "float64", "uint32", "int32", "float32"])
def test_dtypes(dtype: str) -> None:
    rng = np.random.default_rng(5)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        keys = np.sort(np.concatenate([rng.standard_normal(5000) * 1e3, [-np.inf, np.inf, 0.0, 0.0]])).astype(dt)
        q = np.concatenate([keys, rng.standard_normal(3000) * 1e3, [-np.inf, np.inf, 1e300, -1e300]])
    else:
        info = np.iinfo(dt)
        keys = np.sort(rng.integers(info.min, info.max, 5000, dtype=dt, endpoint=True))
        keys[0], keys[-1] = info.min, info.max
        q = np.concatenate([keys, rng.integers(info.min, info.max, 3000, dtype=dt, endpoint=True)])
    index = RMI().fit(keys)
    np.testing.assert_array_equal(index.lower_bound(q), np.searchsorted(keys, q.astype(keys.dtype) if dt.kind != "f" else q))
    assert index.contains(keys).all()


def test_float32_keys_float64_queries_are_exact() -> None:
    keys = np.array([1.0, 1.0, 2.0, 3.0], dtype=np.float32)
    index = RMI().fit(keys)
    q = np.array([1.0 + 1e-12, 1.0, 0.9999999999, 2.5], dtype=np.float64)
    expect = [int(np.sum(keys.astype(np.float64) < x)) for x in q]
    assert index.lower_bound(q).tolist() == expect


def test_mixed_integer_query_dtypes() -> None:
    keys = np.array([0, 5, 2**63 + 7, U64_MAX], dtype=np.uint64)
    index = RMI().fit(keys)
    assert index.lower_bound(np.array([-5, 0, 6], dtype=np.int64)).tolist() == [0, 0, 2]
    signed = np.array([-(2**62), -3, 0, 2**62], dtype=np.int64)
    si = RMI().fit(signed)
    big = np.array([0, 2**62, 2**63, U64_MAX], dtype=np.uint64)
    assert si.lower_bound(big).tolist() == [2, 3, 4, 4]
    small = RMI().fit(np.array([-10, 0, 10], dtype=np.int32))
    assert small.lower_bound(np.array([-(2**40), -10, 11, 2**40], dtype=np.int64)).tolist() == [0, 0, 3, 3]
    assert small.lower_bound(-10) == 0 and isinstance(small.lower_bound(5), int)


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_tiny(n: int) -> None:
    keys = np.array([7, 7, 9][:n], dtype=np.uint64)
    index = RMI().fit(keys)
    q = np.array([0, 6, 7, 8, 9, 10, U64_MAX], dtype=np.uint64)
    np.testing.assert_array_equal(index.lower_bound(q), np.searchsorted(keys, q))
    assert len(index) == n
    assert index.range(7, 10) == (int(np.searchsorted(keys, 7)), int(np.searchsorted(keys, 10)))


def test_contains_range_search_scalars() -> None:
    keys = np.arange(0, 1000, 10, dtype=np.int64)
    index = RMI().fit(keys)
    assert 20 in index and 21 not in index
    assert index.contains(np.array([0, 5, 990, 1000])).tolist() == [True, False, True, False]
    assert index.range(15, 45) == (2, 5)
    assert index.range(20, 40, inclusive=True) == (2, 5)
    assert index.range(50, 10) == (5, 5)
    pos, lo, hi = index.search(35)
    assert pos == 4 and lo <= pos <= hi
    assert index.size_in_bytes() > 0


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.integers(0, 2**64 - 1), max_size=300).map(sorted),
    queries=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=50),
    n_leaves=st.integers(1, 40),
    root=st.sampled_from(["linear", "cubic", "spline", "grid", "loggrid", "nn"]),
)
def test_hypothesis_uint64(keys: list[int], queries: list[int], n_leaves: int, root: str) -> None:
    k = np.array(keys, dtype=np.uint64)
    q = np.array(queries + keys[:20], dtype=np.uint64)
    index = RMI(root=root, n_leaves=n_leaves, nn_hidden=(4,)).fit(k)
    np.testing.assert_array_equal(index.lower_bound(q), np.searchsorted(k, q))
    pos, lo, hi = index.search(q)
    assert ((lo <= pos) & (pos <= hi)).all()


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.floats(allow_nan=False, width=64), max_size=200).map(sorted),
    queries=st.lists(st.floats(allow_nan=False), min_size=1, max_size=30),
)
def test_hypothesis_float64(keys: list[float], queries: list[float]) -> None:
    k = np.array(keys, dtype=np.float64)
    q = np.array(queries, dtype=np.float64)
    index = RMI().fit(k)
    np.testing.assert_array_equal(index.lower_bound(q), np.searchsorted(k, q))


def test_baselines_match_oracle() -> None:
    for dist in ["uniform", "dups", "extremes"]:
        keys = _dist(dist, 50_000, seed=9)
        q = _queries(keys, seed=4)
        for s in (BinarySearch(), BPlusTree(page=128), BPlusTree(page=4)):
            np.testing.assert_array_equal(s.fit(keys).lower_bound(q), np.searchsorted(keys, q))
    for n in (0, 1, 127, 128, 129):
        keys = np.arange(n, dtype=np.uint64) * np.uint64(2)
        q = np.arange(2 * n + 2, dtype=np.uint64)
        np.testing.assert_array_equal(BPlusTree().fit(keys).lower_bound(q), np.searchsorted(keys, q))


# -- bad input ------------------------------------------------------------------------------------


def test_unsorted_keys_name_first_violation() -> None:
    keys = np.arange(2000, dtype=np.int64)
    keys[1042] = 5
    with pytest.raises(ValueError, match=r"keys\[1041\] > keys\[1042\]"):
        RMI().fit(keys)


def test_bad_keys() -> None:
    with pytest.raises(ValueError, match=r"NaN; keys\[1\]"):
        RMI().fit(np.array([1.0, np.nan, 3.0]))
    with pytest.raises(InvalidParameterError, match="1-D"):
        RMI().fit(np.zeros((3, 3), dtype=np.int64))
    with pytest.raises(InvalidParameterError, match="dtype"):
        RMI().fit(np.array(["a", "b"]))
    with pytest.raises(InvalidParameterError, match="dtype"):
        RMI().fit(np.array([1, 2], dtype=np.int8))
    assert RMI().fit([]).lower_bound(np.array([5], dtype=np.uint64)).tolist() == [0]


def test_bad_queries() -> None:
    index = RMI().fit(np.arange(10, dtype=np.uint64))
    with pytest.raises(TypeError, match="incompatible with keys of dtype uint64"):
        index.lower_bound(np.array([1.5]))
    with pytest.raises(TypeError):
        index.lower_bound(np.array(["x"]))
    with pytest.raises(ValueError, match="NaN"):
        RMI().fit(np.arange(4.0)).lower_bound(np.array([1.0, np.nan]))
    with pytest.raises(NotFittedError, match="not fitted"):
        RMI().lower_bound(np.array([1]))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"root": "quadratic"}, "The 'root' parameter of RMI must be one of"),
        ({"n_leaves": 0}, r"The 'n_leaves' parameter of RMI must be an int in the range \[1, "),
        ({"n_leaves": 2.5}, "Got 2.5 instead"),
        ({"target": "fast"}, "'target' parameter"),
        ({"max_bytes": 3}, "'max_bytes' parameter"),
        ({"nn_hidden": (64,)}, "'nn_hidden' parameter"),
        ({"leaf_search": "linear"}, "'leaf_search' parameter"),
        ({"seed": -1}, "'seed' parameter"),
    ],
)
def test_parameter_errors(params: dict, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        RMI(**params).fit(np.arange(10, dtype=np.uint64))


def test_auto_configuration_respects_budget() -> None:
    keys = _dist("lognormal", 200_000, seed=2)
    default = RMI().fit(keys)
    assert default.size_in_bytes() <= max(4096, keys.nbytes // 100)
    small = RMI(target="space", max_bytes=20_000).fit(keys)
    assert small.size_in_bytes() <= 20_000
    assert small.describe()["n_leaves"] <= default.describe()["n_leaves"]


def test_same_seed_same_model() -> None:
    keys = _dist("lognormal", 20_000, seed=1)
    a = RMI(root="nn", n_leaves=64, seed=3).fit(keys)
    b = RMI(root="nn", n_leaves=64, seed=3).fit(keys)
    np.testing.assert_array_equal(a.root_params_, b.root_params_)
    np.testing.assert_array_equal(a.leaves_, b.leaves_)


def test_fixed_width_holds_90_percent_of_the_windows() -> None:
    """The batch kernel's fixed search width: the smallest power of two over the 90th percentile
    of the leaves' spans (err_hi - err_lo) plus 3; 0 without error bounds or past 512 keys."""
    from learnedsys.index import _kernels as K

    leaves = np.zeros((200, 4))
    leaves[:, 2] = -5.0
    leaves[:, 3] = 5.0  # span 10: windows of at most 13 keys
    leaves[:10, 3] = 1000.0  # 5 % of the leaves past the 90th percentile: searched by their size
    assert K.fixed_width(leaves) == 16
    leaves[:30, 3] = 1000.0  # 15 %: their windows decide, and exceed 512
    assert K.fixed_width(leaves) == 0
    leaves[:30, 3] = 40.0  # span 45 + 3 -> 64
    assert K.fixed_width(leaves) == 64
    assert K.fixed_width(leaves[:, :2]) == 0
    assert K.fixed_width(np.zeros((0, 4))) == 0


@pytest.mark.parametrize("dist", ["uniform", "lognormal"])
def test_pipelined_batches_of_every_length_match_searchsorted(dist: str) -> None:
    """Batches shorter and longer than the batch kernel's pipeline, both sides, with the fixed
    search width in use and with every window searched by its own size."""
    from learnedsys.index import _kernels as K

    keys = _dist(dist, 30_000, seed=21)
    index = RMI(partition="never", leaf_search="binary").fit(keys)
    assert index.interleave and index._width > 0
    q = _queries(keys, seed=22)
    depth = 3 * K.PIPE_DISTANCE
    for width in (index._width, 0):
        index._width = width
        for m in (0, 1, depth - 1, depth, depth + 1, K.PIPE_RING + 1, 1000, q.size):
            np.testing.assert_array_equal(index.lower_bound(q[:m]), np.searchsorted(keys, q[:m], "left"))
            np.testing.assert_array_equal(index.upper_bound(q[:m]), np.searchsorted(keys, q[:m], "right"))
