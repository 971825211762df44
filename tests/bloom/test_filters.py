"""BloomFilter and BinaryFuseFilter against a Python set."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from learnedsys._estimator import NotFittedError
from learnedsys._validation import InvalidParameterError
from learnedsys.bloom import BinaryFuseFilter, BloomFilter, FormatError, load

FILTERS = [
    lambda fpr: BloomFilter(target_fpr=fpr),
    lambda fpr: BinaryFuseFilter(target_fpr=fpr),
]


@pytest.mark.parametrize("make", FILTERS)
@settings(max_examples=40, deadline=None)
@given(keys=st.lists(st.one_of(st.text(max_size=12), st.binary(max_size=12)), min_size=1, max_size=200))
def test_no_false_negatives(make, keys) -> None:  # type: ignore[no-untyped-def]
    f = make(0.05).fit(keys)
    assert f.contains(keys).all()
    assert all(k in f for k in keys[:5])


@pytest.mark.parametrize("make", FILTERS)
@settings(max_examples=25, deadline=None)
@given(keys=st.lists(st.integers(-(2**63), 2**64 - 1), min_size=1, max_size=300))
def test_no_false_negatives_ints(make, keys) -> None:  # type: ignore[no-untyped-def]
    f = make(0.01).fit(keys)
    assert f.contains(keys).all()
    assert f.contains(np.array(keys, dtype=object).tolist()).all()


@pytest.mark.parametrize("fpr", [0.1, 0.01, 0.001])
def test_bloom_fpr_and_size(fpr: float) -> None:
    keys = np.arange(50_000, dtype=np.int64)
    f = BloomFilter(target_fpr=fpr).fit(keys)
    neg = np.arange(10**9, 10**9 + 400_000, dtype=np.int64)
    measured = f.contains(neg).mean()
    assert measured <= 1.3 * fpr + 3 * math.sqrt(fpr / neg.shape[0])
    assert measured >= 0.6 * fpr
    m_opt = 50_000 * math.log(1 / fpr) / math.log(2) ** 2
    assert f.n_bits_ == ((math.ceil(m_opt) + 63) // 64) * 64
    assert f.size_in_bytes() == f.n_bits_ // 8 + 16
    assert f.n_hashes_ == max(1, round(f.n_bits_ / 50_000 * math.log(2)))
    assert abs(f.expected_fpr() - fpr) < 0.15 * fpr


@pytest.mark.parametrize("r", [1, 4, 8, 13, 32])
def test_fuse_fpr_and_size(r: int) -> None:
    keys = np.arange(30_000, dtype=np.int64) * 7
    f = BinaryFuseFilter(fingerprint_bits=r).fit(keys)
    assert f.contains(keys).all()
    neg = np.arange(30_000, dtype=np.int64) * 7 + 3
    measured = f.contains(neg).mean()
    expect = 2.0**-r
    assert abs(measured - expect) <= 4 * math.sqrt(expect / neg.shape[0]) + 1e-4
    assert f.size_in_bytes() * 8 < 1.25 * r * 30_000 + 1000


def test_bloom_add_with_capacity() -> None:
    f = BloomFilter(target_fpr=0.01, capacity=1000)
    f.add([f"a{i}" for i in range(500)]).add([f"b{i}" for i in range(500)])
    assert f.contains([f"a{i}" for i in range(500)] + [f"b{i}" for i in range(500)]).all()
    with pytest.raises(InvalidParameterError, match="call fit"):
        BloomFilter().add(["x"])


def test_kind_mismatch_and_unbuilt() -> None:
    f = BloomFilter().fit(["a"])
    with pytest.raises(InvalidParameterError, match="holds str/bytes"):
        f.contains([1])
    with pytest.raises(NotFittedError, match="not built"):
        BloomFilter().contains(["a"])
    with pytest.raises(InvalidParameterError, match="'target_fpr' parameter of BloomFilter"):
        BloomFilter(target_fpr=1.0).fit(["a"])
    with pytest.raises(InvalidParameterError, match="'fingerprint_bits' parameter"):
        BinaryFuseFilter(fingerprint_bits=33).fit(["a"])


@pytest.mark.parametrize("cls", [BloomFilter, BinaryFuseFilter])
def test_save_load_and_corruption(cls, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    keys = [f"k{i}" for i in range(3000)]
    probe = keys + [f"n{i}" for i in range(3000)]
    f = cls().fit(keys)
    p = tmp_path / "f.lsys"
    f.save(p)
    for g in (cls.load(p), load(p)):
        assert type(g) is cls
        assert np.array_equal(g.contains(probe), f.contains(probe))
        assert g.size_in_bytes() == f.size_in_bytes()
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    p.write_bytes(bytes(raw))
    with pytest.raises(FormatError):
        load(p)
    p.write_bytes(bytes(raw[:100]))
    with pytest.raises(FormatError):
        load(p)


class BloomAddMachine(RuleBasedStateMachine):
    """Batches of adds to a capacity-sized Bloom filter: everything added is always found."""

    def __init__(self) -> None:
        super().__init__()
        self.f = BloomFilter(target_fpr=0.01, capacity=500)
        self.added: set[str] = set()

    @rule(batch=st.lists(st.text(max_size=8), min_size=1, max_size=40))
    def add(self, batch: list[str]) -> None:
        self.f.add(batch)
        self.added.update(batch)

    @rule(probe=st.lists(st.text(max_size=8), min_size=1, max_size=40))
    def query(self, probe: list[str]) -> None:
        got = self.f.contains(probe)
        for item, yes in zip(probe, got, strict=True):
            if item in self.added:
                assert yes

    @invariant()
    def all_added_found(self) -> None:
        if self.added:
            assert self.f.contains(sorted(self.added)).all()


TestBloomAddMachine = BloomAddMachine.TestCase
TestBloomAddMachine.settings = settings(max_examples=25, stateful_step_count=15, deadline=None)
