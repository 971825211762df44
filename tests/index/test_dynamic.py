"""DynamicIndex against a sorted-list oracle under random update sequences."""

from __future__ import annotations

import bisect

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from learnedsys.index import DynamicIndex


class DynamicIndexMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.oracle: list[int] = []
        self.index = DynamicIndex(np.zeros(0, dtype=np.int64), min_merge=8, merge_fraction=0.25)

    @rule(k=st.integers(-50, 50))
    def insert(self, k: int) -> None:
        self.index.insert(k)
        bisect.insort(self.oracle, k)

    @rule(ks=st.lists(st.integers(-50, 50), max_size=20))
    def insert_many(self, ks: list[int]) -> None:
        self.index.insert_many(np.array(ks, dtype=np.int64))
        for k in ks:
            bisect.insort(self.oracle, k)

    @rule(k=st.integers(-50, 50))
    def delete(self, k: int) -> None:
        expected = k in self.oracle
        assert self.index.delete(k) == expected
        if expected:
            self.oracle.remove(k)

    @rule(q=st.integers(-60, 60))
    def query(self, q: int) -> None:
        assert self.index.lower_bound(q) == bisect.bisect_left(self.oracle, q)
        assert self.index.upper_bound(q) == bisect.bisect_right(self.oracle, q)
        assert (q in self.index) == (q in self.oracle)

    @invariant()
    def same_keys(self) -> None:
        assert len(self.index) == len(self.oracle)
        assert self.index.to_array().tolist() == self.oracle


TestDynamicIndex = DynamicIndexMachine.TestCase
TestDynamicIndex.settings = settings(max_examples=40, stateful_step_count=60, deadline=None)


def test_many_updates_with_merges() -> None:
    rng = np.random.default_rng(0)
    base = np.sort(rng.integers(0, 10**9, 50_000)).astype(np.uint64)
    d = DynamicIndex(base, min_merge=500, merge_fraction=0.01)
    oracle = base.tolist()
    for _ in range(3000):
        if rng.random() < 0.6:
            k = int(rng.integers(0, 10**9))
            d.insert(k)
            bisect.insort(oracle, k)
        else:
            k = oracle[int(rng.integers(0, len(oracle)))]
            assert d.delete(k)
            oracle.remove(k)
    assert d.merges > 0
    q = rng.integers(0, 10**9, 5000).astype(np.uint64)
    arr = np.array(oracle, dtype=np.uint64)
    np.testing.assert_array_equal(d.lower_bound(q), np.searchsorted(arr, q))
    np.testing.assert_array_equal(d.to_array(), arr)


def test_dynamic_bad_input() -> None:
    d = DynamicIndex(np.arange(10, dtype=np.uint64))
    with pytest.raises(ValueError, match="does not fit"):
        d.insert(-1)
    with pytest.raises(TypeError):
        d.insert(1.5)
    with pytest.raises(ValueError, match="merge_fraction"):
        DynamicIndex(merge_fraction=0)
    assert not d.delete(100)
