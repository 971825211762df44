"""The per-key path (one Python int or float per call) against np.searchsorted."""

from __future__ import annotations

import numpy as np
import pytest

from learnedsys.index import RMI, load

DTYPES = ["uint64", "int64", "uint32", "int32", "float64", "float32"]


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


def test_per_key_path_on_empty_and_unfitted() -> None:
    empty = RMI().fit(np.zeros(0, dtype=np.uint64))
    assert empty.lower_bound(5) == 0 and empty.contains(5) is False
    with pytest.raises(RuntimeError, match="not fitted"):
        RMI().lower_bound(3)
    with pytest.raises(RuntimeError, match="not fitted"):
        RMI().contains(3.0)
