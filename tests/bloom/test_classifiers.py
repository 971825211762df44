"""Classifiers: learning, exact reproducibility, the tolerance guard, the optional GRU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from learnedsys.bloom import (
    Classifier,
    EncodedBatch,
    NGramLogistic,
    PartitionedLearnedBloomFilter,
    SandwichedLearnedBloomFilter,
    encode_items,
    load,
)


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    allv = np.concatenate([pos, neg])
    ranks = np.argsort(np.argsort(allv)) + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


@pytest.mark.parametrize("quantization", ["int8", "fp16"])
def test_ngram_learns_and_roundtrips(quantization: str, words) -> None:  # type: ignore[no-untyped-def]
    keys, train, test = words
    m = NGramLogistic(n_features_log2=12, quantization=quantization).fit(encode_items(keys), encode_items(train), 0)
    # keys use a-n, most negatives h-z: the model must rank them apart on unseen negatives
    auc = _auc(m.score(encode_items(keys)), m.score(encode_items(test)))
    assert auc > 0.85
    assert m.size_in_bytes() == (1 if quantization == "int8" else 2) * 4096 + 16
    meta, arrays = m.get_state()
    m2 = NGramLogistic.from_state(meta, arrays)
    b = encode_items(test[:500])
    assert np.array_equal(m.score(b), m2.score(b))
    # a batch's score does not depend on the batch it is in
    assert np.array_equal(m.score(b)[7:9], m.score(b.take(np.array([7, 8]))))


class _Jittery(Classifier):
    """Scores move by up to ``score_tolerance`` at every call, like batched float inference."""

    name = "test_jittery"
    score_tolerance = 0.5

    def __init__(self) -> None:
        self.inner = NGramLogistic(n_features_log2=10)
        self.rng = np.random.default_rng(0)

    def fit(self, keys: EncodedBatch, negatives: EncodedBatch, seed: int) -> _Jittery:
        self.inner.fit(keys, negatives, seed)
        return self

    def score(self, batch: EncodedBatch) -> np.ndarray:
        s = self.inner.score(batch)
        return s + self.rng.uniform(-0.25, 0.25, s.shape[0])  # two calls differ by <= 0.5

    def size_in_bytes(self) -> int:
        return self.inner.size_in_bytes()

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return self.inner.get_state()

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> _Jittery:
        raise NotImplementedError


@pytest.mark.parametrize("cls", [PartitionedLearnedBloomFilter, SandwichedLearnedBloomFilter])
def test_score_tolerance_keeps_every_key(cls, words) -> None:  # type: ignore[no-untyped-def]
    keys, train, _ = words
    f = cls(target_fpr=0.01, classifier=_Jittery()).fit(keys, train)
    for _ in range(3):
        assert f.contains(keys).all()


class _JitteryUndeclared(_Jittery):
    name = "test_jittery_undeclared"
    score_tolerance = 0.0


def test_undeclared_jitter_would_lose_keys(words) -> None:  # type: ignore[no-untyped-def]
    # the control for the test above: without the guard, jitter does cause false negatives
    keys, train, _ = words
    f = PartitionedLearnedBloomFilter(target_fpr=0.01, classifier=_JitteryUndeclared()).fit(keys, train)
    assert not f.contains(keys).all()


def test_char_gru(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from learnedsys.bloom import CharGRU

    keys = [f"user{i}@mail.com" for i in range(300)]
    negs = [f"{i}.ads.example.net" for i in range(300)]
    f = PartitionedLearnedBloomFilter(target_fpr=0.02, classifier=CharGRU(hidden=8, embed_dim=8, epochs=1)).fit(keys, negs)
    assert f.contains(keys).all()
    assert f.classifier_.size_in_bytes() < 2 * (257 * 8 + 3 * (8 * 8 + 8 * 8 + 16) + 9) + 64
    p = tmp_path / "gru.lsys"
    f.save(p)
    g = load(p)
    probe = keys + [f"{i}.other.org" for i in range(300)]
    assert np.array_equal(g.contains(probe), f.contains(probe))
