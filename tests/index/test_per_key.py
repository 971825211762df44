"""The per-key path (one Python int or float per call) against np.searchsorted."""

from __future__ import annotations

import numpy as np
import pytest

from learnedsys._estimator import NotFittedError
from learnedsys.index import RMI, load

# the narrow dtypes' kernels are compiled and checked in test_rmi.py; each dtype here compiles the
# per-key and partition kernels once more (a minute of CPU per dtype on a cold numba cache)
DTYPES = ["uint64", "int64", "float64"]


def _keys(dtype: str, rng: np.random.Generator) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind == "f":
        k = rng.lognormal(0, 3, 3000).astype(dt)
        k[:5] = [-np.inf, -1e30, 0.0, 1e30, np.inf]
        return np.sort(k)
    info = np.iinfo(dt)
    k = rng.integers(info.min, info.max, 3000, dtype=dt, endpoint=True)
    k[:4] = [info.min, info.max, info.max, 0]
    if dt == np.uint64:  # around the int64 edge, where numba would type a Python int as uint64
        k[4:8] = [2**63 - 2, 2**63 - 1, 2**63, 2**63 + 1]
        k[8:12] = [2**53 + 1, 2**53 + 2, 2**64 - 3, 2**62]
    return np.sort(k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_python_scalars_match_searchsorted(dtype: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    keys = _keys(dtype, rng)
    for index in (RMI().fit(keys), RMI(root="linear", n_leaves=4, leaf_search="exponential").fit(keys)):
        index.save(tmp_path / "k.rmi")
        for idx in (index, load(tmp_path / "k.rmi")):
            if keys.dtype.kind == "f":
                qs = [float(v) for v in keys[::7]] + [float(v) + 0.5 for v in keys[1:-1:11]] + [-np.inf, np.inf, 0.0, -0.0]
            else:
                info = np.iinfo(keys.dtype)
                qs = [int(v) for v in keys[::7]] + [int(v) + 1 for v in keys[:-1:11]] + [int(v) - 1 for v in keys[1::13]]
                qs += [int(info.min), int(info.max), int(info.min) - 1, int(info.max) + 1, 0, -1, 2**63 - 1, 2**63, 2**64, -(2**63)]
            sorted_keys = keys.astype(np.float64) if keys.dtype.kind == "f" else keys
            keyset = set(keys.tolist())
            for q in qs:
                if keys.dtype.kind != "f":
                    below, above = q < int(np.iinfo(keys.dtype).min), q > int(np.iinfo(keys.dtype).max)
                    lo = 0 if below else len(keys) if above else int(np.searchsorted(keys, keys.dtype.type(q), "left"))
                    hi = 0 if below else len(keys) if above else int(np.searchsorted(keys, keys.dtype.type(q), "right"))
                else:
                    lo = int(np.searchsorted(sorted_keys, q, "left"))
                    hi = int(np.searchsorted(sorted_keys, q, "right"))
                got = idx.lower_bound(q)
                assert type(got) is int and got == lo, (q, got, lo)
                assert idx.upper_bound(q) == hi, q
                assert idx.contains(q) is (q in keyset), q
                assert (q in idx) is (q in keyset)
                if keys.dtype.kind != "f" and not (below or above):
                    nq = keys.dtype.type(q)  # a numpy scalar of the keys' dtype: the per-key path too
                    assert idx.lower_bound(nq) == lo and idx.upper_bound(nq) == hi
                    assert idx.contains(nq) is (q in keyset)
                elif keys.dtype.kind == "f":
                    assert idx.lower_bound(np.float64(q)) == lo and idx.lower_bound(np.float32(q)) == int(
                        np.searchsorted(sorted_keys, float(np.float32(q)), "left")
                    )


def test_per_key_path_on_empty_and_unfitted() -> None:
    empty = RMI().fit(np.zeros(0, dtype=np.uint64))
    assert empty.lower_bound(5) == 0 and empty.contains(5) is False
    with pytest.raises(NotFittedError, match="not fitted"):
        RMI().lower_bound(3)
    with pytest.raises(NotFittedError, match="not fitted"):
        RMI().contains(3.0)


@pytest.mark.parametrize("dtype", ["uint64"])
def test_partitioned_batches_match_searchsorted(dtype: str) -> None:
    rng = np.random.default_rng(11)
    keys = _keys(dtype, rng)
    keys = np.sort(np.concatenate([keys, keys[::5]]))  # duplicates
    for root in ("linear", "spline", "grid"):
        index = RMI(root=root, n_leaves=64, partition="always").fit(keys)
        assert index._partition_buckets(10) > 0
        q = np.concatenate([keys, rng.permutation(keys)[:500]])
        if keys.dtype.kind == "f":
            q = np.concatenate([q, [-np.inf, np.inf, 0.5]])
        q = rng.permutation(q)
        np.testing.assert_array_equal(index.lower_bound(q), np.searchsorted(keys, q, "left"))
        np.testing.assert_array_equal(index.upper_bound(q), np.searchsorted(keys, q, "right"))
        assert index.contains(q).tolist() == np.isin(q, keys).tolist()
    never = RMI(partition="never").fit(keys)
    assert never._partition_buckets(1 << 20) == 0


def test_partition_auto_only_for_big_keys_and_batches() -> None:
    small = RMI().fit(np.arange(1000, dtype=np.uint64))
    assert small._partition_buckets(1 << 20) == 0
    # 8 MiB of keys and a big batch: partitioned only for a model with spline leaves (the
    # pipeline alone was faster on the others); "always" partitions regardless
    keys = np.arange(1 << 20, dtype=np.uint64) * np.uint64(3)
    plain = RMI(leaf_search="binary").fit(keys)
    assert not plain._spline
    assert plain._partition_buckets(1 << 20) == 0
    plain._spline = True  # the rule's input, as a model with spline leaves sets it
    # a bucket per 64 kB of keys (128), at most one per leaf
    assert plain._partition_buckets(1 << 20) == min(128, plain.n_leaves_)
    assert plain._partition_buckets(1 << 10) == 0  # a small batch is never partitioned
    always = RMI(partition="always", leaf_search="binary").fit(keys)
    assert always._partition_buckets(10) == min(128, always.n_leaves_)
    with pytest.raises(ValueError, match="partition"):
        RMI(partition="sometimes").fit(np.arange(10))


def test_measured_configuration_draws_fresh_queries_for_every_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    # one query set reused measured cached lookups after its first pass (the fit picked a root
    # 1.5x slower at 100M keys): every timing must see keys no earlier timing touched, and the
    # forms are timed in interleaved rounds
    from learnedsys.index import _rmi

    calls: list[tuple[int, bytes]] = []
    real = {name: getattr(_rmi.K, name) for name in ("lookup_serial", "lookup_serial_spline")}

    def spy(name: str):  # type: ignore[no-untyped-def]
        def run(kind, params, leaves, keys, q, side, interleave, width):  # type: ignore[no-untyped-def]
            calls.append((id(leaves), q.tobytes()))
            return real[name](kind, params, leaves, keys, q, side, interleave, width)
        return run

    for name in real:
        monkeypatch.setattr(_rmi.K, name, spy(name))
    rng = np.random.default_rng(6)
    keys = np.sort(rng.lognormal(0, 2, 300_000) * 1e9).astype(np.uint64)
    index = RMI(config="measure").fit(keys)
    forms = len(index.measured_)
    assert len(calls) == _rmi._MEASURE_ROUNDS * forms
    assert len({qb for _, qb in calls}) == len(calls)  # no query set twice
    order = [lid for lid, _ in calls]
    first = order[:forms]
    assert len(set(first)) == forms  # every form once per round, the same order each round
    assert order == first * _rmi._MEASURE_ROUNDS


def test_measured_configuration_times_a_shortlist_and_stays_exact() -> None:
    rng = np.random.default_rng(5)
    keys = np.sort(rng.lognormal(0, 2, 300_000) * 1e9).astype(np.uint64)
    index = RMI(config="measure").fit(keys)
    # up to 5 shortlisted models (4 by the estimate, one with fewer leaves for spline leaves),
    # each timed with and without its error bounds, and with lines for its spline leaves if it
    # has any, and one leaf
    assert 3 <= len(index.measured_) <= 21
    roots = {r for r, *_ in index.measured_}
    assert index.root_ in roots and all(ns > 0 for *_, ns, _ in index.measured_)
    # the pick is the fastest measured configuration, in the leaf form that was timed
    fastest = min(index.measured_, key=lambda t: t[3])
    form, _, spline = fastest[4].partition("+")
    assert (index.root_, index.n_leaves_, index.leaf_search_) == (fastest[0], fastest[1], form)
    assert ("spline_leaves" in index.describe()) == (spline == "spline")
    assert index.leaves_.shape[1] == (4 if index.leaf_search_ == "binary" else 2)
    assert {ls.partition("+")[0] for *_, ls in index.measured_} == {"binary", "exponential"}
    assert index.size_in_bytes() <= max(4096, keys.nbytes // 100) + 64
    q = np.concatenate([keys[::97], rng.integers(0, int(keys[-1]) + 10, 3000, dtype=np.uint64)])
    np.testing.assert_array_equal(index.lower_bound(q), np.searchsorted(keys, q))
    a = RMI(config="estimate").fit(keys)
    b = RMI(config="estimate").fit(keys)
    assert (a.root_, a.n_leaves_) == (b.root_, b.n_leaves_) and not hasattr(a, "measured_")
    with pytest.raises(ValueError, match="config"):
        RMI(config="guess").fit(keys)


def test_lower_bound_serial_matches_searchsorted() -> None:
    rng = np.random.default_rng(8)
    keys = np.sort(rng.integers(-(10**12), 10**12, 20_000))
    index = RMI(interleave=False).fit(keys)
    q = np.concatenate([keys[::3], rng.integers(-(10**13), 10**13, 5000)])
    np.testing.assert_array_equal(index.lower_bound_serial(q), np.searchsorted(keys, q))
    assert index.lower_bound_serial([2**63, -(2**64)]).tolist() == [len(keys), 0]
