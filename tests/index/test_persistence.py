"""save/load round trips; truncated, corrupted and foreign files give FormatError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from learnedsys import _serialization
from learnedsys.index import RMI, DynamicIndex, FormatError, load


@pytest.fixture
def keys() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.sort(rng.integers(0, 10**12, 20_000).astype(np.uint64))


@pytest.mark.parametrize("params", [{}, {"root": "nn", "n_leaves": 32}, {"leaf_search": "exponential"}, {"root": "cubic", "n_leaves": 100}, {"root": "loggrid", "n_leaves": 100}])
def test_round_trip(tmp_path: Path, keys: np.ndarray, params: dict) -> None:
    index = RMI(**params).fit(keys)
    path = tmp_path / "k.rmi"
    index.save(path)
    back = load(path)
    q = np.concatenate([keys[::7], np.arange(0, 10**12, 10**9, dtype=np.uint64)])
    np.testing.assert_array_equal(back.lower_bound(q), np.searchsorted(keys, q))
    assert back.size_in_bytes() == index.size_in_bytes()
    assert back.get_params() == index.get_params()


@pytest.mark.parametrize("form", ["binary", "exponential"])
def test_auto_leaf_search_keeps_the_measured_form(tmp_path: Path, keys: np.ndarray, form: str) -> None:
    # leaf_search="auto" may keep either leaf form; the file records the form it holds
    index = RMI(root="linear", n_leaves=64, leaf_search=form).fit(keys)
    index.leaf_search = "auto"
    index.save(tmp_path / "a.rmi")
    back = load(tmp_path / "a.rmi")
    assert back.leaf_search == "auto" and back.leaf_search_ == form
    assert back.leaves_.shape == index.leaves_.shape == (64, 4 if form == "binary" else 2)
    q = np.concatenate([keys[::7], np.arange(0, 10**12, 10**9, dtype=np.uint64)])
    np.testing.assert_array_equal(back.lower_bound(q), np.searchsorted(keys, q))
    assert back.lower_bound(int(keys[100])) == int(np.searchsorted(keys, keys[100]))


def test_dynamic_round_trip(tmp_path: Path) -> None:
    d = DynamicIndex(np.arange(100, dtype=np.int64))
    d.insert(1000)
    d.delete(5)
    d.save(tmp_path / "d.idx")
    back = load(tmp_path / "d.idx")
    assert isinstance(back, DynamicIndex)
    np.testing.assert_array_equal(back.to_array(), d.to_array())


def test_truncated_files(tmp_path: Path, keys: np.ndarray) -> None:
    path = tmp_path / "k.rmi"
    RMI().fit(keys).save(path)
    raw = path.read_bytes()
    for cut in (0, 5, 20, len(raw) // 2, len(raw) - 1):
        bad = tmp_path / f"cut{cut}.rmi"
        bad.write_bytes(raw[:cut])
        with pytest.raises(FormatError):
            load(bad)


def test_corrupted_bytes(tmp_path: Path, keys: np.ndarray) -> None:
    path = tmp_path / "k.rmi"
    RMI().fit(keys).save(path)
    raw = bytearray(path.read_bytes())
    rng = np.random.default_rng(1)
    for pos in rng.integers(0, len(raw), 25):
        bad = bytearray(raw)
        bad[pos] ^= 0xFF
        p = tmp_path / "bad.rmi"
        p.write_bytes(bytes(bad))
        with pytest.raises(FormatError):
            load(p)


def test_foreign_and_inconsistent_files(tmp_path: Path, keys: np.ndarray) -> None:
    foreign = tmp_path / "x.npy"
    np.save(foreign, keys)
    with pytest.raises(FormatError, match="not a learnedsys file"):
        load(foreign)
    other = tmp_path / "other.bin"
    _serialization.save(other, "learnedsys.bloom.Something", 1, {}, {"a": np.zeros(3)})
    with pytest.raises(FormatError, match="not a learned index"):
        load(other)
    # valid container, inconsistent content: unsorted keys, wrong leaf shape, non-finite params
    index = RMI(root="linear", n_leaves=4).fit(keys)
    meta = {"params": {**index.get_params(), "nn_hidden": [16]}, "root": "linear", "n": len(keys)}
    cases = {
        "unsorted": {"keys": keys[::-1].copy(), "root_params": index.root_params_, "leaves": index.leaves_},
        "leaf shape": {"keys": keys, "root_params": index.root_params_, "leaves": index.leaves_[:, :3].copy()},
        "nan params": {"keys": keys, "root_params": np.array([np.nan, 0.0]), "leaves": index.leaves_},
        "n mismatch": {"keys": keys[:10].copy(), "root_params": index.root_params_, "leaves": index.leaves_},
    }
    for name, arrays in cases.items():
        p = tmp_path / f"{name}.rmi"
        _serialization.save(p, "learnedsys.index.RMI", 1, meta, arrays)
        with pytest.raises(FormatError):
            load(p)
    newer = tmp_path / "newer.rmi"
    _serialization.save(newer, "learnedsys.index.RMI", 99, meta, cases["leaf shape"])
    with pytest.raises(FormatError, match="version 99"):
        load(newer)


def test_wild_leaf_values_never_give_wrong_answers(tmp_path: Path, keys: np.ndarray) -> None:
    """A file whose model is nonsense but well-formed answers correctly (slowly): every lookup is
    verified and repaired by exponential search."""
    index = RMI(root="linear", n_leaves=16).fit(keys)
    leaves = index.leaves_.copy()
    rng = np.random.default_rng(3)
    leaves[:, 0] = rng.normal(0, 1e-3, leaves.shape[0])
    leaves[:, 1] = rng.normal(0, 1e9, leaves.shape[0])
    leaves[:, 2] = -1.0
    leaves[:, 3] = 1.0
    meta = {"params": {**index.get_params(), "nn_hidden": [16]}, "root": "linear", "n": len(keys)}
    p = tmp_path / "wild.rmi"
    _serialization.save(p, "learnedsys.index.RMI", 1, meta, {"keys": keys, "root_params": np.array([1e300, -1e300]), "leaves": leaves})
    back = load(p)
    q = np.concatenate([keys[::13], rng.integers(0, 10**12, 2000).astype(np.uint64)])
    np.testing.assert_array_equal(back.lower_bound(q), np.searchsorted(keys, q))
