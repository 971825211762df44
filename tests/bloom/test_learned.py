"""Conformance checks run over every learned filter and backup kind."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learnedsys._estimator import NotFittedError
from learnedsys._validation import InvalidParameterError
from learnedsys.bloom import (
    BloomFilter,
    FormatError,
    LearnedBloomFilter,
    NGramLogistic,
    PartitionedLearnedBloomFilter,
    SandwichedLearnedBloomFilter,
    bloom_bits,
    load,
)

CLASSES = [LearnedBloomFilter, SandwichedLearnedBloomFilter, PartitionedLearnedBloomFilter]
KINDS = [(cls, backup) for cls in CLASSES for backup in ("bloom", "fuse")]
IDS = [f"{c.__name__}-{b}" for c, b in KINDS]


@pytest.fixture(scope="module")
def built(words):  # type: ignore[no-untyped-def]
    keys, train, _ = words
    out = {}
    for cls, backup in KINDS:
        out[(cls, backup)] = cls(target_fpr=0.01, backup=backup, seed=3).fit(keys, train)
    return out


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_no_false_negatives_and_fpr(kind, built, words) -> None:  # type: ignore[no-untyped-def]
    keys, _, test = words
    f = built[kind]
    assert f.contains(keys).all()
    assert all(k in f for k in keys[:50])
    measured = float(f.contains(test).mean())
    # held-out negatives nobody trained on: within 1.5x of the target plus sampling noise
    assert measured <= 1.5 * 0.01 + 3 * math.sqrt(0.01 / len(test))
    # and the size adds up
    br = f.size_breakdown()
    assert f.size_in_bytes() == sum(br.values())
    assert br["model"] == f.classifier_.size_in_bytes()


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_beats_standard_bloom_where_model_helps(kind, built, words) -> None:  # type: ignore[no-untyped-def]
    cls, _ = kind
    keys, _, test = words
    f = built[kind]
    measured = max(float(f.contains(test).mean()), 1.0 / len(test))
    standard = bloom_bits(len(keys), measured) / 8
    # one threshold cannot use a model that confuses 1 negative in 20 with keys; it must still
    # not lose more than the model's bytes
    limit = 1.1 if cls is LearnedBloomFilter else 0.9
    assert f.size_in_bytes() < limit * standard


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_save_load_identical_answers(kind, built, words, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    keys, _, test = words
    f = built[kind]
    p = tmp_path / "f.lsys"
    f.save(p)
    g = load(p)
    assert type(g) is type(f)
    probe = keys[:3000] + test[:3000]
    assert np.array_equal(g.contains(probe), f.contains(probe))
    assert g.size_in_bytes() == f.size_in_bytes()
    raw = bytearray(p.read_bytes())
    for pos in (20, len(raw) // 3, len(raw) - 10):
        bad = bytearray(raw)
        bad[pos] ^= 0x5A
        p.write_bytes(bytes(bad))
        with pytest.raises(FormatError):
            load(p)
    p.write_bytes(bytes(raw[: len(raw) // 2]))
    with pytest.raises(FormatError):
        load(p)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("budget", [3000, 12000])
def test_memory_budget(cls, budget: int, words) -> None:  # type: ignore[no-untyped-def]
    keys, train, _ = words
    f = cls(memory_budget=budget).fit(keys, train)
    assert f.size_in_bytes() <= budget
    assert f.contains(keys).all()


def test_bigger_budget_lower_fpr(words) -> None:  # type: ignore[no-untyped-def]
    keys, train, test = words
    small = PartitionedLearnedBloomFilter(memory_budget=6000).fit(keys, train)
    large = PartitionedLearnedBloomFilter(memory_budget=30000).fit(keys, train)
    assert large.contains(test).mean() < small.contains(test).mean()


key_lists = st.lists(st.one_of(st.text(max_size=10), st.binary(max_size=10)), min_size=1, max_size=120, unique=True)


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=key_lists, negatives=key_lists, fpr=st.sampled_from([0.3, 0.05, 0.001]))
def test_property_no_false_negatives(kind, keys, negatives, fpr) -> None:  # type: ignore[no-untyped-def]
    cls, backup = kind
    negatives = [n for n in negatives if n not in set(keys)] + ["__neg1", "__neg2"]
    negatives = [n for n in negatives if n not in set(keys)]
    if len(negatives) < 2:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = cls(target_fpr=fpr, backup=backup, classifier=NGramLogistic(n_features_log2=8)).fit(keys, negatives)
    assert f.contains(keys).all()


@pytest.mark.parametrize("cls", CLASSES)
def test_integer_keys(cls) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    keys = rng.choice(10**6, 5000, replace=False) * 2  # even numbers
    neg = rng.choice(10**6, 8000, replace=False) * 2 + 1
    f = cls(target_fpr=0.02).fit(keys, neg[:4000])
    assert f.contains(keys).all()
    assert f.contains(keys.tolist()).all()
    assert f.contains(neg[4000:]).mean() <= 0.03 + 3 * math.sqrt(0.02 / 4000)
    with pytest.raises(InvalidParameterError, match="same kind"):
        f.contains(["a"])


def test_negatives_that_are_keys_are_dropped_with_warning() -> None:
    keys = [f"k{i}" for i in range(500)]
    negs = [f"n{i}" for i in range(500)] + keys[:7]
    with pytest.warns(UserWarning, match="dropped 7 negatives that are also keys"):
        f = LearnedBloomFilter(target_fpr=0.05).fit(keys, negs)
    assert f.contains(keys).all()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: PartitionedLearnedBloomFilter(target_fpr=0.0), "'target_fpr' parameter of PartitionedLearnedBloomFilter must be a float in the range \\(0.0, 1.0\\)"),
        (lambda: LearnedBloomFilter(target_fpr=1.5), "'target_fpr' parameter"),
        (lambda: LearnedBloomFilter(target_fpr=float("nan")), "'target_fpr' parameter"),
        (lambda: SandwichedLearnedBloomFilter(backup="cuckoo"), "'backup' parameter"),
        (lambda: PartitionedLearnedBloomFilter(n_regions=0), "'n_regions' parameter"),
        (lambda: LearnedBloomFilter(memory_budget=-5), "'memory_budget' parameter"),
        (lambda: LearnedBloomFilter(memory_budget=100), "'memory_budget' parameter"),
        (lambda: LearnedBloomFilter(classifier="gru"), "'classifier' parameter"),  # type: ignore[arg-type]
        (lambda: LearnedBloomFilter(classifier=NGramLogistic(quantization="int4")), "'quantization' parameter"),
    ],
)
def test_bad_parameters(make, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidParameterError, match=match):
        make().fit([f"k{i}" for i in range(300)], [f"n{i}" for i in range(300)])


def test_bad_data() -> None:
    f = LearnedBloomFilter()
    with pytest.raises(InvalidParameterError, match=r"'keys' parameter .* at least one key"):
        f.fit([], ["a", "b"])
    with pytest.raises(InvalidParameterError, match=r"keys\[2\]"):
        f.fit(["a", "b", 3.5], ["c", "d"])
    with pytest.raises(InvalidParameterError, match="at least 2 non-keys"):
        f.fit(["a", "b"], ["a", "b", "c"])
    with pytest.raises(InvalidParameterError, match="same kind of items"):
        f.fit(["a", "b"], [1, 2, 3])
    with pytest.raises(NotFittedError, match="not built"):
        f.contains(["a"])
    g = LearnedBloomFilter().fit([f"k{i}" for i in range(200)], [f"n{i}" for i in range(200)])
    with pytest.raises(InvalidParameterError, match=r"items\[1\]"):
        g.contains(["a", None])


def test_load_foreign_and_missing(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("hello, not a filter at all" * 3)
    with pytest.raises(FormatError):
        load(p)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.lsys")


_REPRO = """
import sys
sys.path.insert(0, {tests!r})
from conftest import make_words
from learnedsys.bloom import PartitionedLearnedBloomFilter
keys, negs = make_words(3000, 6000, seed=5)
PartitionedLearnedBloomFilter(target_fpr=0.01, seed=11).fit(keys, negs).save(sys.argv[1])
"""


def test_same_seed_same_file_in_fresh_processes(tmp_path: Path) -> None:
    code = _REPRO.format(tests=str(Path(__file__).parent))
    paths = [tmp_path / "a.lsys", tmp_path / "b.lsys"]
    for p in paths:
        subprocess.run([sys.executable, "-c", code, str(p)], check=True, timeout=120)
    assert paths[0].read_bytes() == paths[1].read_bytes()


@pytest.mark.slow
def test_two_million_keys_no_false_negatives() -> None:
    # Integer keys with structure (multiples of 3) vs non-multiples; every key must be found.
    rng = np.random.default_rng(1)
    keys = np.unique(rng.integers(0, 2**40, 2_000_000) * 3)
    neg = rng.integers(0, 2**40, 200_000) * 3 + 1
    f = PartitionedLearnedBloomFilter(target_fpr=0.01, classifier=NGramLogistic(epochs=1)).fit(keys, neg)
    assert f.contains(keys).all()
    b = BloomFilter(target_fpr=0.01).fit(keys)
    assert b.contains(keys).all()


def test_prefitted_classifier_shared_across_filters(words) -> None:  # type: ignore[no-untyped-def]
    from learnedsys.bloom import encode_items

    keys, train, test = words
    half = len(train) // 2
    clf = NGramLogistic().fit(encode_items(keys), encode_items(train[:half]), 0)
    before = clf.score(encode_items(test[:100])).copy()
    for cls in CLASSES:
        f = cls(target_fpr=0.01, classifier=clf, refit=False).fit(keys, train[half:])
        assert f.contains(keys).all()
        assert f.classifier_ is clf
    assert np.array_equal(clf.score(encode_items(test[:100])), before)
    with pytest.raises(InvalidParameterError, match="'refit' parameter"):
        LearnedBloomFilter(refit=False).fit(keys, train)


@pytest.mark.parametrize("cls", CLASSES)
def test_target_below_what_few_negatives_can_show(cls) -> None:  # type: ignore[no-untyped-def]
    # 150 validation negatives cannot vouch for a 1e-4 rate: the filter must fall back on its
    # backup filters, never accept everything the model likes
    keys = [f"user{i}@mail.com" for i in range(1500)]
    pool = [f"user{i}@mail.org" for i in np.random.default_rng(0).permutation(6300)]
    negs, test = pool[:300], pool[300:]  # a sample and fresh negatives from the same population
    f = cls(target_fpr=1e-4).fit(keys, negs)
    assert f.contains(keys).all()
    assert f.contains(test).mean() <= 0.002


def _mutations(meta: dict, arrays: dict) -> list[tuple[dict, dict]]:  # type: ignore[type-arg]
    import copy as _copy

    out = []

    def variant(fn):  # type: ignore[no-untyped-def]
        m, a = _copy.deepcopy(meta), {k: v.copy() for k, v in arrays.items()}
        fn(m, a)
        out.append((m, a))

    variant(lambda m, a: m.pop("rules"))
    variant(lambda m, a: m.update(rules=m["rules"][:-1]))
    variant(lambda m, a: m.update(rules=["maybe"] * len(m["rules"])))
    variant(lambda m, a: m.update(key_kind="float"))
    variant(lambda m, a: m.update({"class": "Nope"}))
    variant(lambda m, a: m["classifier"].update(name="unknown"))
    variant(lambda m, a: m["classifier"]["meta"].update(bits=30))
    variant(lambda m, a: m["classifier"]["meta"].update(bias=float("nan")))
    variant(lambda m, a: a.update(thresholds=a["thresholds"][::-1].copy() if a["thresholds"].size > 1 else np.array([1.0, 0.0])))
    variant(lambda m, a: a.update({"clf.weights": a["clf.weights"][:10].copy()}))
    for r, rule in enumerate(meta["rules"]):
        if isinstance(rule, dict) and arrays[f"rule{r}.words"].size > 1:
            variant(lambda m, a, r=r: m["rules"][r]["meta"].update(salt=2**70))
            variant(lambda m, a, r=r: m["rules"][r]["meta"].update(m=-64))
            variant(lambda m, a, r=r: a.update({f"rule{r}.words": a[f"rule{r}.words"][:1].copy()}))
            break
    return out


def test_crafted_files_raise_format_error(words, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # files with a valid checksum but inconsistent contents: a clear error, never a crash
    from learnedsys import _serialization

    keys, train, _ = words
    f = PartitionedLearnedBloomFilter(target_fpr=0.01).fit(keys[:5000], train[:8000])
    p = tmp_path / "f.lsys"
    f.save(p)
    _, meta, arrays = _serialization.load(p, "learnedsys.bloom", 2)
    assert any(isinstance(r, dict) for r in meta["rules"])
    for i, (m, a) in enumerate(_mutations(meta, arrays)):
        q = tmp_path / f"bad{i}.lsys"
        _serialization.save(q, "learnedsys.bloom", 2, m, a)
        with pytest.raises(FormatError):
            load(q)


class _RecordingNGram(NGramLogistic):
    """The default model, remembering which negatives it was trained on."""

    seen: ClassVar[list[list[str]]] = []

    def fit(self, keys, negatives, seed):  # type: ignore[no-untyped-def]
        type(self).seen.append([negatives.item(i) for i in range(len(negatives))])
        return super().fit(keys, negatives, seed)


@pytest.mark.parametrize("fraction", [None, 0.5])
def test_validation_fraction_splits_negatives(fraction) -> None:  # type: ignore[no-untyped-def]
    # default 0.25: the model trains on 3/4 of the (scarce) negatives, the rest sets the regions
    keys = [f"key{i}.example" for i in range(2000)]
    negatives = [f"other{i}.test" for i in range(1000)]
    _RecordingNGram.seen = []
    kw = {} if fraction is None else {"validation_fraction": fraction}
    f = PartitionedLearnedBloomFilter(target_fpr=0.05, classifier=_RecordingNGram(), **kw).fit(keys, negatives)
    (trained,) = _RecordingNGram.seen
    held_out = round(len(negatives) * (0.25 if fraction is None else fraction))
    assert len(trained) == len(set(trained)) == len(negatives) - held_out
    assert {x.decode() if isinstance(x, bytes) else x for x in trained} <= set(negatives)
    assert f.contains(keys).all()
    oracle = set(keys)
    probe = keys[:300] + negatives[:300] + [f"new{i}" for i in range(300)]
    got = f.contains(probe)
    assert all(got[i] for i, x in enumerate(probe) if x in oracle)
