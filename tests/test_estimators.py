"""scikit-learn's estimator protocol on every estimator-like class: parameters, clone, repr,
and NotFittedError before fit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.base import clone

from learnedsys._validation import InvalidParameterError
from learnedsys.bloom import (
    LearnedBloomFilter,
    NotFittedError,
    PartitionedLearnedBloomFilter,
    SandwichedLearnedBloomFilter,
)
from learnedsys.index import RMI, DynamicIndex

KEYS = np.arange(0, 30_000, 3, dtype=np.int64)
WORDS = [f"key{i}" for i in range(300)]
OTHER = [f"other{i}" for i in range(600)]

CASES: list[tuple[Any, dict[str, Any]]] = [
    (RMI(root="grid", nn_hidden=(8,)), {"n_leaves": 64, "leaf_search": "exponential"}),
    (DynamicIndex(KEYS, merge_fraction=0.1), {"min_merge": 16, "rmi_params": {"root": "linear"}}),
    (LearnedBloomFilter(0.02), {"target_fpr": 0.05, "backup": "bloom"}),
    (SandwichedLearnedBloomFilter(seed=3), {"validation_fraction": 0.3}),
    (PartitionedLearnedBloomFilter(n_regions=4), {"n_segments": 200, "worst_case_fpr": None}),
]


@pytest.mark.parametrize(("est", "change"), CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_parameters_clone_and_repr(est: Any, change: dict[str, Any]) -> None:
    params = est.get_params(deep=False)
    assert params == est.get_params()  # no nested estimator among the defaults
    twin = clone(est)  # scikit-learn's own check: every parameter round-trips unchanged
    assert type(twin) is type(est) and twin.get_params() == params and twin is not est
    assert repr(twin) == repr(est) and repr(est).startswith(type(est).__name__ + "(")
    assert est.set_params(**change) is est
    for k, v in change.items():
        assert est.get_params()[k] == v and f"{k}=" in repr(est)
    with pytest.raises(InvalidParameterError, match="no parameter 'nope'"):
        est.set_params(nope=1)


def test_a_fitted_clone_fits_and_answers_the_same() -> None:
    a = RMI(root="linear", n_leaves=32).fit(KEYS)
    b = clone(a).fit(KEYS)
    q = np.array([-5, 0, 7, 29_997, 40_000])
    np.testing.assert_array_equal(a.lower_bound(q), b.lower_bound(q))
    np.testing.assert_array_equal(b.lower_bound(q), np.searchsorted(KEYS, q))
    f = PartitionedLearnedBloomFilter(0.05).fit(WORDS, OTHER)
    g = clone(f).fit(WORDS, OTHER)
    assert g.contains(WORDS).all() and (f.contains(OTHER) == g.contains(OTHER)).all()


@pytest.mark.parametrize("est", [RMI(), LearnedBloomFilter(), PartitionedLearnedBloomFilter()])
def test_use_before_fit_is_not_fitted_error(est: Any) -> None:
    call = (lambda: est.lower_bound(3)) if isinstance(est, RMI) else (lambda: est.contains(["a"]))
    with pytest.raises(NotFittedError, match="fit") as info:
        call()
    assert isinstance(info.value, ValueError) and isinstance(info.value, AttributeError)


def test_nested_parameters() -> None:
    from learnedsys._estimator import Estimator

    class Wrap(Estimator):
        def __init__(self, index: Any = None, k: int = 1) -> None:
            self.index = index
            self.k = k

    w = Wrap(RMI(root="grid"), k=2)
    deep = w.get_params(deep=True)
    assert deep["index__root"] == "grid" and deep["k"] == 2 and "index__root" not in w.get_params(deep=False)
    w.set_params(index__root="linear", k=3)
    assert w.index.root == "linear" and w.k == 3
    with pytest.raises(InvalidParameterError, match="no parameter 'nope'"):
        w.set_params(index__nope=1)
    with pytest.raises(InvalidParameterError, match="no parameters to set"):
        Wrap(index=5).set_params(index__x=1)
    assert clone(w).index is not w.index and clone(w).index.root == "linear"
