"""Worst-case bounds and adapt() (issue 19): oracle checks against Python sets."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from learnedsys._estimator import NotFittedError
from learnedsys._validation import InvalidParameterError
from learnedsys.bloom import (
    LearnedBloomFilter,
    PartitionedLearnedBloomFilter,
    SandwichedLearnedBloomFilter,
    load,
)

from .conftest import make_words

CLASSES = [LearnedBloomFilter, SandwichedLearnedBloomFilter, PartitionedLearnedBloomFilter]


@pytest.fixture(scope="module")
def data() -> tuple[list[str], list[str], list[str], list[str]]:
    """(keys, training negatives, fresh negatives like them, key-like queries that are not keys)."""
    keys, negs = make_words(6000, 12000, seed=7)
    kset = set(keys)
    rng = np.random.default_rng(7)
    letters = "abcdefghijklmn"
    edits = []
    for i in rng.integers(0, len(keys), 30000):
        k = keys[int(i)]
        p = int(rng.integers(len(k)))
        e = k[:p] + letters[int(rng.integers(len(letters)))] + k[p + 1 :]
        if e not in kset:
            edits.append(e)
    edits = list(dict.fromkeys(edits))
    half = len(negs) // 2
    return keys, negs[:half], negs[half:], edits


def _tolerance(p: float, n: int) -> float:
    return 4 * math.sqrt(p * (1 - p) / n) + 1.0 / n


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("backup", ["auto", "bloom", "fuse"])
def test_worst_case_bound_holds_on_shifted_queries(cls, backup, data) -> None:  # type: ignore[no-untyped-def]
    keys, train, test, edits = data
    f = cls(target_fpr=0.01, backup=backup).fit(keys, train)
    assert f.contains(keys).all()
    assert f.worst_case_bound_ <= 0.1 + 1e-12
    for queries in (edits, [k + k[::-1] for k in keys], test):
        measured = float(f.contains(queries).mean())
        assert measured <= f.worst_case_bound_ + _tolerance(f.worst_case_bound_, len(queries))


def test_adversarial_queries_of_the_unbounded_filter(data) -> None:  # type: ignore[no-untyped-def]
    # the queries an in-distribution-only PLBF wrongly accepts are the worst case for it;
    # the bounded filter lets at most its bound of them through
    # (built with another hash seed: a bound, like any Bloom filter's FPR, holds for queries
    # chosen without knowing the seed; the unbounded filter's false positives of its own backup
    # filters are false positives of any filter with the same seed and region keys)
    keys, train, _, edits = data
    free = PartitionedLearnedBloomFilter(target_fpr=0.01, worst_case_fpr=None, seed=1).fit(keys, train)
    adversarial = [e for e, a in zip(edits, free.contains(edits).tolist(), strict=True) if a]
    assert len(adversarial) > 500 and float(free.contains(adversarial).mean()) == 1.0
    for w in ("auto", 0.05, 0.2):
        f = PartitionedLearnedBloomFilter(target_fpr=0.01, worst_case_fpr=w, seed=2).fit(keys, train)
        bound = 0.1 if w == "auto" else float(w)
        assert f.worst_case_bound_ <= bound
        measured = float(f.contains(adversarial).mean())
        assert measured <= f.worst_case_bound_ + _tolerance(f.worst_case_bound_, len(adversarial))
        assert f.contains(keys).all()


def test_none_gives_the_in_distribution_filter(data) -> None:  # type: ignore[no-untyped-def]
    keys, train, test, _ = data
    # negatives the model can tell from keys (other letters): the papers' filter accepts the
    # key-like region outright
    train = [w for w in train if any(c > "n" for c in w)]
    test = [w for w in test if any(c > "n" for c in w)]
    f = PartitionedLearnedBloomFilter(target_fpr=0.01, worst_case_fpr=None).fit(keys, train)
    assert any(r["rule"] == "accept" for r in f.regions_)
    bounded = PartitionedLearnedBloomFilter(target_fpr=0.01).fit(keys, train)
    assert f.size_in_bytes() < bounded.size_in_bytes()  # the bound costs memory
    assert f.worst_case_bound_ == 1.0
    assert bounded.worst_case_bound_ <= 0.1
    assert float(f.contains(test).mean()) <= 0.015 + _tolerance(0.01, len(test))
    # a bound at or above 1 (auto at targets >= 10%) is no bound; a bound below the target
    # is the target
    g = PartitionedLearnedBloomFilter(target_fpr=0.2).fit(keys, train)
    assert g._worst_case is None
    h = PartitionedLearnedBloomFilter(target_fpr=0.2, worst_case_fpr=0.02).fit(keys, train)
    assert h.worst_case_bound_ <= 0.02
    assert float(h.contains(test).mean()) <= 0.02 + _tolerance(0.02, len(test))


@pytest.mark.parametrize("with_keys", [False, True])
def test_adapt_never_creates_a_false_negative(with_keys: bool, data) -> None:  # type: ignore[no-untyped-def]
    keys, train, _, edits = data
    kset = set(keys)
    rng = np.random.default_rng(3)
    f = PartitionedLearnedBloomFilter(target_fpr=0.05).fit(keys, train)
    size0 = f.size_in_bytes()
    vetoed: set[str] = set()
    for round_ in range(4):
        batch = [edits[int(i)] for i in rng.integers(0, len(edits), 3000)]
        fps = [x for x, a in zip(batch, f.contains(batch).tolist(), strict=True) if a]
        assert not kset & set(fps)
        if with_keys:
            # a careless caller also reports keys: they are recognised and ignored
            with pytest.warns(UserWarning, match="reported items that are keys"):
                f.adapt([*fps, keys[round_], keys[-round_ - 1]], keys=keys, max_growth=10.0)
        else:
            f.adapt(fps, max_growth=10.0)
        vetoed |= set(fps)
        assert f.contains(keys).all(), f"round {round_}: false negative after adapt"
        assert f.size_in_bytes() <= 11 * size0
        # what it was told is not a key, it answers no for (with room for every report)
        assert not f.contains(sorted(vetoed)).any()
    assert f.contains(keys).all()


def test_adapt_reduces_fpr_on_queries_like_the_reports(data) -> None:  # type: ignore[no-untyped-def]
    keys, train, test, edits = data
    first, second = edits[: len(edits) // 2], edits[len(edits) // 2 :]  # no repeats: like, not same
    f = PartitionedLearnedBloomFilter(target_fpr=0.01).fit(keys, train)
    size0, test0 = f.size_in_bytes(), float(f.contains(test).mean())
    before = float(f.contains(second).mean())
    fps = [x for x, a in zip(first, f.contains(first).tolist(), strict=True) if a]
    f.adapt(fps)  # a veto only: it cannot help items it was not told about
    assert float(f.contains(second).mean()) == pytest.approx(before, abs=0.002)
    f.adapt(fps, keys=keys)
    after = float(f.contains(second).mean())
    assert after < 0.8 * before
    assert f.size_in_bytes() <= 1.25 * size0
    assert float(f.contains(test).mean()) <= test0 + _tolerance(test0, len(test))
    assert f.worst_case_bound_ <= 0.1
    assert f.contains(keys).all()


def test_veto_respects_the_memory_allowance(data) -> None:  # type: ignore[no-untyped-def]
    keys, train, _, edits = data
    f = PartitionedLearnedBloomFilter(target_fpr=0.05).fit(keys, train)
    size0 = f.size_in_bytes()
    fps = [x for x, a in zip(edits, f.contains(edits).tolist(), strict=True) if a]
    assert 8 * len(fps) > 0.25 * size0  # more reports than the default allowance holds
    f.adapt(fps)
    assert f.size_in_bytes() <= 1.25 * size0
    f.adapt(fps, max_growth=0.0)
    assert f.size_in_bytes() == size0
    f.adapt(fps, max_growth=0.1)
    assert size0 < f.size_in_bytes() <= 1.1 * size0
    # the newest reports are kept
    assert not f.contains(fps[-10:]).any()
    assert f.contains(keys).all()


@pytest.mark.parametrize("cls", CLASSES)
def test_adapted_filter_survives_save_and_load(cls, data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    keys, train, test, edits = data
    f = cls(target_fpr=0.02).fit(keys, train)
    fps = [x for x, a in zip(edits[:5000], f.contains(edits[:5000]).tolist(), strict=True) if a]
    f.adapt(fps[: len(fps) // 2], max_growth=5.0)
    f.adapt(fps[len(fps) // 2 :], keys=keys, max_growth=5.0)
    p = tmp_path / "adapted.lsys"
    f.save(p)
    g = load(p)
    probe = keys + test[:2000] + edits[:8000]
    assert np.array_equal(g.contains(probe), f.contains(probe))
    assert not g.contains(fps).any()
    assert g.size_in_bytes() == f.size_in_bytes()
    assert g.worst_case_bound_ == f.worst_case_bound_
    # the loaded filter keeps adapting within the allowance of the original fit
    g.adapt(edits[8000:9000])
    assert g.size_in_bytes() <= max(1.25 * g._base_bytes, f.size_in_bytes())
    assert g.contains(keys).all()


def test_integer_keys_adapt(data) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    keys = np.unique(rng.integers(0, 2**40, 4000) * 3)
    negs = rng.integers(0, 2**40, 8000) * 3 + 1
    f = PartitionedLearnedBloomFilter(target_fpr=0.05).fit(keys, negs)
    probe = rng.integers(0, 2**40, 20000) * 3 + 2
    fps = probe[f.contains(probe)]
    f.adapt(fps, keys=keys, max_growth=3.0)
    assert f.contains(keys).all()
    assert not f.contains(fps).any()
    with pytest.raises(InvalidParameterError, match="must hold integers"):
        f.adapt(["a", "b"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"worst_case_fpr": 0.0}, "'worst_case_fpr' parameter"),
        ({"worst_case_fpr": 1.5}, "'worst_case_fpr' parameter"),
        ({"worst_case_fpr": "always"}, "'worst_case_fpr' parameter"),
        ({"worst_case_fpr": float("nan")}, "'worst_case_fpr' parameter"),
    ],
)
def test_bad_worst_case_parameter(kwargs, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidParameterError, match=match):
        PartitionedLearnedBloomFilter(**kwargs).fit([f"k{i}" for i in range(300)], [f"n{i}" for i in range(300)])


def test_bad_adapt_arguments(data) -> None:  # type: ignore[no-untyped-def]
    keys, train, _, _ = data
    f = LearnedBloomFilter(target_fpr=0.05).fit(keys[:500], train[:1000])
    with pytest.raises(InvalidParameterError, match="'max_growth' parameter"):
        f.adapt(["x"], max_growth=-0.1)
    with pytest.raises(InvalidParameterError, match="'keys' parameter"):
        f.adapt(["x"], keys=[])
    with pytest.raises(InvalidParameterError, match="'false_positives' parameter"):
        f.adapt("not a list")
    with pytest.raises(NotFittedError, match="not built"):
        LearnedBloomFilter().adapt(["x"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f.adapt([])  # nothing to learn: fine
    assert f.contains(keys[:500]).all()
