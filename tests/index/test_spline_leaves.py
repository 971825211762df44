"""Spline leaves: error-bounded splines for the leaves a line fits poorly (clustered keys).

Oracles: np.searchsorted for answers, np.interp over the stored knots for the spline's prediction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from learnedsys import _serialization
from learnedsys.index import RMI, FormatError, load
from learnedsys.index import _kernels as K
from learnedsys.index._rmi import ROOTS

U64_MAX = np.iinfo(np.uint64).max


def _clustered(n: int, seed: int, dups: bool = False, top: int = 1 << 60) -> np.ndarray:
    """Keys in clusters of very different sizes and spreads (osm-like at small scale); below
    2**53 (``top``) every key is exact in float64."""
    rng = np.random.default_rng(seed)
    c = 200
    centers = rng.integers(0, top, c)
    spread = (10.0 ** rng.uniform(2, 9, c)).astype(np.int64)
    which = rng.zipf(1.3, n) % c
    k = (centers[which] + rng.integers(0, spread[which])).astype(np.uint64)
    if dups:
        k = np.repeat(k[: n // 3], 3)
    k.sort()
    return k if dups else np.unique(k)


def _queries(keys: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [
            np.array([0, 1, U64_MAX - 1, U64_MAX], dtype=np.uint64),
            keys[rng.integers(0, keys.size, 5000)],
            keys[rng.integers(0, keys.size, 2000)] + np.uint64(1),
            keys[rng.integers(0, keys.size, 2000)] - np.uint64(1),
            rng.integers(0, 1 << 61, 2000, dtype=np.uint64),
        ]
    )


def _spline_rows(index: RMI) -> np.ndarray:
    return np.flatnonzero(index.leaves_[:, 0] <= -0.5)


@pytest.mark.parametrize("dups", [False, True])
@pytest.mark.parametrize("params", [{"root": "spline", "n_leaves": 64}, {"root": "grid", "n_leaves": 128}, {"root": "linear", "n_leaves": 16}, {}])
def test_answers_match_searchsorted(params: dict, dups: bool) -> None:
    keys = _clustered(60_000, seed=1, dups=dups)
    index = RMI(max_bytes=200_000, **params).fit(keys)
    if params:
        assert _spline_rows(index).size > 0  # the case this test is about
    q = _queries(keys, seed=2)
    for side, oracle in ((index.lower_bound, "left"), (index.upper_bound, "right")):
        np.testing.assert_array_equal(side(q), np.searchsorted(keys, q, oracle))
    np.testing.assert_array_equal(index.lower_bound_serial(q), np.searchsorted(keys, q))
    assert [index.lower_bound(int(x)) for x in q[:300]] == np.searchsorted(keys, q[:300]).tolist()
    exp = RMI(max_bytes=200_000, leaf_search="exponential", **params).fit(keys)
    np.testing.assert_array_equal(exp.lower_bound(q), np.searchsorted(keys, q))
    if not dups:  # the parallel and partitioned batch kernels (batches of 64k+ queries)
        big = np.tile(q, 1 + (1 << 16) // q.size)
        for kw in ({"parallel": True, "partition": "never"}, {"partition": "always"}):
            other = RMI(max_bytes=200_000, **kw, **params).fit(keys)
            np.testing.assert_array_equal(other.lower_bound(big), np.searchsorted(keys, big))


def test_error_bounds_hold_for_every_key() -> None:
    keys = _clustered(80_000, seed=3)
    index = RMI(root="spline", n_leaves=32, max_bytes=400_000).fit(keys)
    rows = _spline_rows(index)
    assert rows.size > 0
    leaf = K.assign_leaves_at(ROOTS["spline"], index.root_params_, keys, np.zeros(0, np.int64), keys.size, index.n_leaves_)
    x = keys.astype(np.float64)
    pos = np.arange(keys.size, dtype=np.float64)
    for j in rows:
        off, cnt = int(-index.leaves_[j, 0]) - 1, int(index.leaves_[j, 1])
        knots = index.root_params_[off : off + 2 * cnt]
        kx, ky = knots[0::2], knots[1::2]
        assert (np.diff(kx) >= 0).all()
        mine = leaf == j
        pred = np.interp(x[mine], kx, ky)
        err = pos[mine] - pred
        lo, hi = index.leaves_[j, 2], index.leaves_[j, 3]
        assert (err >= lo - 1e-6).all() and (err <= hi + 1e-6).all()


@pytest.mark.parametrize("eps", [8, 32])
def test_spline_window_is_bounded_by_eps_and_halves_the_line(eps: int) -> None:
    keys = _clustered(50_000, seed=4, top=1 << 50)
    base = RMI(root="spline", n_leaves=16, spline_leaves=False).fit(keys)
    kind = ROOTS["spline"]
    params, leaves, used = K.spline_poor_leaves(kind, base.root_params_, base.leaves_, keys, np.zeros(0, np.int64), keys.size, 4.0 * eps + 8, float(eps), 1 << 20)
    rows = np.flatnonzero(leaves[:, 0] <= -0.5)
    assert used > 0 and rows.size > 0
    assert int(leaves[rows, 1].sum()) == used and params.shape[0] == base.root_params_.shape[0] + 2 * used
    window = leaves[rows, 3] - leaves[rows, 2]
    assert (window <= 2 * eps).all()  # the corridor's bound (keys exact in float64 here)
    assert (2 * window <= base.leaves_[rows, 3] - base.leaves_[rows, 2]).all()
    # leaves a line fits well are kept as they were
    np.testing.assert_array_equal(np.delete(leaves, rows, 0), np.delete(base.leaves_, rows, 0))
    # a cap too small for the knots replaces nothing
    _, same, over = K.spline_poor_leaves(kind, base.root_params_, base.leaves_, keys, np.zeros(0, np.int64), keys.size, 4.0 * eps + 8, float(eps), 3)
    assert over == -1
    np.testing.assert_array_equal(same, base.leaves_)


def test_budget_and_switch() -> None:
    keys = _clustered(100_000, seed=5)
    for budget in (20_000, 100_000):
        index = RMI(root="spline", n_leaves=256, max_bytes=budget).fit(keys)
        assert index.size_in_bytes() <= budget + 8 * 4 * 256  # the leaves alone may pass a tiny budget
    off = RMI(root="spline", n_leaves=256, max_bytes=100_000, spline_leaves=False).fit(keys)
    assert _spline_rows(off).size == 0
    on = RMI(root="spline", n_leaves=256, max_bytes=100_000).fit(keys)
    assert _spline_rows(on).size > 0
    assert on.describe()["spline_leaves"] == _spline_rows(on).size
    # tighter windows on the keys that matter: mean log window over all keys falls
    kind = ROOTS["spline"]
    mlw_on = K.mean_log_window(kind, on.root_params_, on.leaves_, keys, np.arange(0, keys.size, 7))
    mlw_off = K.mean_log_window(kind, off.root_params_, off.leaves_, keys, np.arange(0, keys.size, 7))
    assert mlw_on < mlw_off


def test_round_trip_and_versions(tmp_path: Path) -> None:
    keys = _clustered(40_000, seed=6)
    index = RMI(root="spline", n_leaves=64, max_bytes=200_000).fit(keys)
    assert _spline_rows(index).size > 0
    index.save(tmp_path / "s.rmi")
    assert _serialization.load(tmp_path / "s.rmi", "learnedsys.index.RMI", 2)[0] == 2
    back = load(tmp_path / "s.rmi")
    q = _queries(keys, seed=7)
    np.testing.assert_array_equal(back.lower_bound(q), np.searchsorted(keys, q))
    np.testing.assert_array_equal(back.leaves_, index.leaves_)
    plain = RMI(root="spline", n_leaves=64, spline_leaves=False).fit(keys)
    plain.save(tmp_path / "p.rmi")  # without spline leaves: still version 1, for older readers
    assert _serialization.load(tmp_path / "p.rmi", "learnedsys.index.RMI", 2)[0] == 1


def test_crafted_spline_references_are_format_errors(tmp_path: Path) -> None:
    keys = _clustered(40_000, seed=8)
    index = RMI(root="spline", n_leaves=64, max_bytes=200_000).fit(keys)
    rows = _spline_rows(index)
    meta = {"params": {**index.get_params(), "nn_hidden": [16]}, "root": "spline", "n": len(keys)}
    rp = index.root_params_
    cases = {}
    for name, (col, value) in {
        "past the end": (0, -float(rp.shape[0])),
        "into the root": (0, -2.0),
        "fractional offset": (0, index.leaves_[rows[0], 0] - 0.5),
        "one knot": (1, 1.0),
        "too many knots": (1, float(rp.shape[0])),
        "empty window": (2, index.leaves_[rows[0], 3] + 5),
    }.items():
        leaves = index.leaves_.copy()
        leaves[rows[0], col] = value
        cases[name] = leaves
    for name, leaves in cases.items():
        p = tmp_path / f"{name}.rmi"
        _serialization.save(p, "learnedsys.index.RMI", 2, meta, {"keys": keys, "root_params": rp, "leaves": leaves})
        with pytest.raises(FormatError):
            load(p)


def test_wild_knots_never_give_wrong_answers(tmp_path: Path) -> None:
    """Knots that are nonsense but well-formed (unsorted, huge): slow lookups, never wrong ones."""
    keys = _clustered(40_000, seed=9)
    index = RMI(root="spline", n_leaves=64, max_bytes=200_000).fit(keys)
    rows = _spline_rows(index)
    rp = index.root_params_.copy()
    first = int(index.root_params_.shape[0] - 2 * index.leaves_[rows, 1].sum())
    rng = np.random.default_rng(10)
    rp[first:] = rng.normal(0, 1e18, rp.shape[0] - first)
    meta = {"params": {**index.get_params(), "nn_hidden": [16]}, "root": "spline", "n": len(keys)}
    p = tmp_path / "wild.rmi"
    _serialization.save(p, "learnedsys.index.RMI", 2, meta, {"keys": keys, "root_params": rp, "leaves": index.leaves_})
    back = load(p)
    q = _queries(keys, seed=11)
    np.testing.assert_array_equal(back.lower_bound(q), np.searchsorted(keys, q))
    np.testing.assert_array_equal(back.lower_bound_serial(q), np.searchsorted(keys, q))


@pytest.mark.parametrize("dups", [False, True])
def test_pipelined_batches_with_spline_leaves_match_searchsorted(dups: bool) -> None:
    """The batch kernel's pipeline (leaf row, knots, window, search a few queries apart) on a
    model with spline leaves: batches shorter and longer than the pipeline, both sides."""
    keys = _clustered(60_000 if dups else 40_000, seed=12, dups=dups)  # 16,384+ distinct keys
    index = RMI(root="spline", n_leaves=64, max_bytes=200_000, partition="never").fit(keys)
    assert index._spline
    assert index.interleave
    q = _queries(keys, seed=13)
    rng = np.random.default_rng(14)
    q = q[rng.permutation(q.size)]
    depth = 3 * K.PIPE_DISTANCE
    for m in (0, 1, depth - 1, depth, depth + 1, K.PIPE_RING + 1, 1000, q.size):
        np.testing.assert_array_equal(index.lower_bound(q[:m]), np.searchsorted(keys, q[:m], "left"))
        np.testing.assert_array_equal(index.upper_bound(q[:m]), np.searchsorted(keys, q[:m], "right"))
