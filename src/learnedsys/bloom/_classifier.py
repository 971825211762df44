"""Classifiers for learned Bloom filters: a small interface and the default n-gram model.

A classifier learns to tell keys from non-keys and scores a batch: higher means more key-like.
The learned filters call :meth:`Classifier.fit` once, then :meth:`Classifier.score` on every key
(to find the keys the backup filters must hold) and on every query. Scores must be a
deterministic function of the item's bytes and the saved state: the no-false-negative guarantee
relies on a key scoring exactly the same at query time as at build time.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numba as nb
import numpy as np

from learnedsys._serialization import FormatError
from learnedsys._validation import check_choice, check_float, check_int, check_seed
from learnedsys.bloom import _checks
from learnedsys.bloom._encode import EncodedBatch, mix64

__all__ = ["CLASSIFIERS", "Classifier", "NGramLogistic", "register_classifier"]


class Classifier(ABC):
    """What a learned filter needs from a model.

    Subclasses set ``name`` (used to find the class when a saved filter is loaded) and implement
    four methods; see :class:`NGramLogistic` for an example.
    """

    name: ClassVar[str] = ""
    #: Largest change of an item's score between two calls of :meth:`score` (for example, float
    #: reordering in batched inference). Keys within it of a threshold go into the filters on
    #: both sides. 0 for classifiers whose scores are exactly reproducible.
    score_tolerance: ClassVar[float] = 0.0

    @abstractmethod
    def fit(self, keys: EncodedBatch, negatives: EncodedBatch, seed: int) -> Classifier:
        """Learn from ``keys`` (label 1) and ``negatives`` (label 0); return self."""

    @abstractmethod
    def score(self, batch: EncodedBatch) -> np.ndarray:
        """Scores (``float64``, higher = more key-like) for every item of ``batch``."""

    @abstractmethod
    def size_in_bytes(self) -> int:
        """Bytes the fitted model needs to answer queries (counted in the filter's size)."""

    @abstractmethod
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-serialisable metadata and numpy arrays that :meth:`from_state` restores."""

    @classmethod
    @abstractmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Classifier:
        """Rebuild a fitted classifier from what :meth:`get_state` saved.

        The values come from a file that may be crafted: check every field against what
        :meth:`fit` can produce (shapes, ranges, finite values) before using it, and raise
        ``learnedsys.bloom.FormatError`` (or ValueError/KeyError) otherwise. A model that loads
        must score every item without error and without allocating more than its weights.
        """


#: Classifier name -> class, consulted by ``learnedsys.bloom.load``.
CLASSIFIERS: dict[str, type[Classifier]] = {}


def register_classifier(cls: type[Classifier]) -> type[Classifier]:
    """Class decorator: make ``cls`` loadable by its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty 'name' class attribute")
    CLASSIFIERS[cls.name] = cls
    return cls


# ---------------------------------------------------------------------------------------------
# Hashed character n-grams: features computed on the fly inside the kernels.

_FNV = np.uint64(0x100000001B3)
_FNV0 = np.uint64(0xCBF29CE484222325)
_BOS = np.uint64(2)
_EOS = np.uint64(3)
_MUL = np.uint64(0x9E3779B97F4A7C15)


@nb.njit(cache=True, inline="always")
def _features(buf, start, end, min_n, max_n, shift, feats):  # type: ignore[no-untyped-def]
    """Write the feature indices of one item into ``feats``; return how many."""
    length = end - start
    total = length + 2
    nf = 0
    for p in range(total):
        h = _FNV0
        for j in range(max_n):
            q = p + j
            if q >= total:
                break
            if q == 0:
                c = _BOS
            elif q == total - 1:
                c = _EOS
            else:
                c = np.uint64(buf[start + q - 1]) + np.uint64(4)
            h = (h ^ c) * _FNV
            if j + 1 >= min_n:
                feats[nf] = np.int64(((h + np.uint64(j)) * _MUL) >> np.uint64(shift))
                nf += 1
    feats[nf] = np.int64(mix64(np.uint64(min(length, 63)) + np.uint64(0xABCDEF)) >> np.uint64(shift))
    nf += 1
    return nf


@nb.njit(cache=True, nogil=True)
def _train(buf_k, off_k, buf_n, off_n, order, min_n, max_n, shift, w, g2, lr, l2, wpos, wneg, epochs):  # type: ignore[no-untyped-def]
    nk = off_k.shape[0] - 1
    maxlen = 0
    for i in range(nk):
        maxlen = max(maxlen, off_k[i + 1] - off_k[i])
    for i in range(off_n.shape[0] - 1):
        maxlen = max(maxlen, off_n[i + 1] - off_n[i])
    feats = np.empty((maxlen + 2) * max_n + 1, dtype=np.int64)
    bias = 0.0
    gb = 1e-8
    for _ in range(epochs):
        for t in range(order.shape[0]):
            i = order[t]
            if i < nk:
                nf = _features(buf_k, off_k[i], off_k[i + 1], min_n, max_n, shift, feats)
                y = 1.0
                sw = wpos
            else:
                j = i - nk
                nf = _features(buf_n, off_n[j], off_n[j + 1], min_n, max_n, shift, feats)
                y = 0.0
                sw = wneg
            z = bias
            for f in range(nf):
                z += w[feats[f]]
            if z > 30.0:
                p = 1.0
            elif z < -30.0:
                p = 0.0
            else:
                p = 1.0 / (1.0 + math.exp(-z))
            g = (p - y) * sw
            if g == 0.0:
                continue
            for f in range(nf):
                k = feats[f]
                gk = g + l2 * w[k]
                g2[k] += gk * gk
                w[k] -= lr * gk / math.sqrt(g2[k] + 1e-8)
            gb += g * g
            bias -= lr * g / math.sqrt(gb)
    return bias


@nb.njit(cache=True, nogil=True)
def _score_int8(buf, offsets, min_n, max_n, shift, q, scale, bias, out):  # type: ignore[no-untyped-def]
    # The same features as ``_features``, summed on the fly (no index buffer): integer sums, so
    # the score of an item is exactly reproducible.
    sh = np.uint64(shift)
    for i in range(out.shape[0]):
        start = offsets[i]
        length = offsets[i + 1] - start
        total = length + 2
        acc = np.int64(0)
        for p in range(total):
            h = _FNV0
            lim = min(max_n, total - p)
            for j in range(lim):
                qq = p + j
                if qq == 0:
                    c = _BOS
                elif qq == total - 1:
                    c = _EOS
                else:
                    c = np.uint64(buf[start + qq - 1]) + np.uint64(4)
                h = (h ^ c) * _FNV
                if j + 1 >= min_n:
                    acc += np.int64(q[((h + np.uint64(j)) * _MUL) >> sh])
        acc += np.int64(q[mix64(np.uint64(min(length, 63)) + np.uint64(0xABCDEF)) >> sh])
        out[i] = acc * scale + bias


@nb.njit(cache=True, inline="always")
def _half(h):  # type: ignore[no-untyped-def]
    x = np.int64(h)
    sign = -1.0 if (x >> 15) & 1 else 1.0
    e = (x >> 10) & 0x1F
    mant = x & 0x3FF
    if e == 0:
        return sign * mant * 5.960464477539063e-08  # 2^-24
    if e == 31:
        return sign * 65504.0
    return sign * (1.0 + mant / 1024.0) * 2.0 ** (e - 15)


@nb.njit(cache=True, nogil=True)
def _score_fp16(buf, offsets, min_n, max_n, shift, q, bias, out):  # type: ignore[no-untyped-def]
    maxlen = 0
    for i in range(out.shape[0]):
        maxlen = max(maxlen, offsets[i + 1] - offsets[i])
    feats = np.empty((maxlen + 2) * max_n + 1, dtype=np.int64)
    for i in range(out.shape[0]):
        nf = _features(buf, offsets[i], offsets[i + 1], min_n, max_n, shift, feats)
        acc = bias
        for f in range(nf):
            acc += _half(q[feats[f]])
        out[i] = acc


@register_classifier
class NGramLogistic(Classifier):
    """Logistic regression over hashed character n-grams, weights quantized to int8 or fp16.

    Every item (its UTF-8 bytes, or the 8 bytes of an integer) is framed by begin/end markers;
    each n-gram with ``ngram_range[0] <= n <= ngram_range[1]`` and the item's length are hashed
    into ``2**n_features_log2`` buckets. Training is class-balanced logistic regression by AdaGrad
    SGD in numba, ``O(epochs (n_keys + n_negatives) L n)`` for items of ``L`` bytes; scoring reads
    one weight per n-gram, about 50-150 ns per short item. The model costs
    ``2**n_features_log2`` bytes (int8) or twice that (fp16), plus 16 bytes.

    Args:
        n_features_log2: log2 of the number of hashed buckets, in [6, 24]. ``None`` picks about
            3% of the bytes a standard 1%-FPR Bloom filter of the keys would need (clipped to
            [2**10, 2**18]).
        ngram_range: (min_n, max_n) n-gram lengths, 1 <= min_n <= max_n <= 8.
        quantization: "int8" (one byte per weight, default) or "fp16".
        epochs: passes over the training data.
        learning_rate: AdaGrad step size.
        l2: L2 penalty per update.
    """

    name = "ngram_logistic"

    def __init__(
        self,
        n_features_log2: int | None = None,
        ngram_range: tuple[int, int] = (1, 4),
        quantization: str = "int8",
        epochs: int = 3,
        learning_rate: float = 0.1,
        l2: float = 1e-6,
    ) -> None:
        self.n_features_log2 = n_features_log2
        self.ngram_range = ngram_range
        self.quantization = quantization
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.l2 = l2
        self._q: np.ndarray | None = None

    def _check(self) -> None:
        owner = type(self).__name__
        check_int(self.n_features_log2, "n_features_log2", owner, low=6, high=24, none_ok=True)
        rng = self.ngram_range
        ok = (
            isinstance(rng, (tuple, list)) and len(rng) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in rng)
            and 1 <= rng[0] <= rng[1] <= 8
        )
        if not ok:
            check_choice(rng, "ngram_range", owner, ["(min_n, max_n) with 1 <= min_n <= max_n <= 8"])
        check_choice(self.quantization, "quantization", owner, ("int8", "fp16"))
        check_int(self.epochs, "epochs", owner, low=1)
        check_float(self.learning_rate, "learning_rate", owner, low=0.0, closed="neither")
        check_float(self.l2, "l2", owner, low=0.0)

    def fit(self, keys: EncodedBatch, negatives: EncodedBatch, seed: int) -> NGramLogistic:
        """Train on ``keys`` vs ``negatives`` with a seeded shuffle."""
        self._check()
        check_seed(seed, "seed", type(self).__name__)
        nk, nn = len(keys), len(negatives)
        if self.n_features_log2 is None:
            target = 0.03 * nk * 9.6 / 8
            bits = round(math.log2(max(target, 1.0)))
            bits = min(18, max(10, bits))
        else:
            bits = int(self.n_features_log2)
        self._bits = bits
        self._min_n, self._max_n = int(self.ngram_range[0]), int(self.ngram_range[1])
        rng = np.random.default_rng(seed)
        order = rng.permutation(nk + nn).astype(np.int64)
        w = np.zeros(1 << bits, dtype=np.float64)
        g2 = np.zeros(1 << bits, dtype=np.float64)
        total = nk + nn
        wpos = total / (2.0 * nk) if nk else 0.0
        wneg = total / (2.0 * nn) if nn else 0.0
        bias = _train(
            keys.buf, keys.offsets, negatives.buf, negatives.offsets, order, self._min_n,
            self._max_n, 64 - bits, w, g2, float(self.learning_rate), float(self.l2), wpos, wneg,
            int(self.epochs),
        )
        self._bias = float(bias)
        if self.quantization == "int8":
            amax = float(np.abs(w).max()) if w.size else 0.0
            self._scale = amax / 127.0 if amax > 0 else 1.0
            self._q = np.clip(np.round(w / self._scale), -127, 127).astype(np.int8)
        else:
            self._scale = 1.0
            self._q = np.clip(w, -65504, 65504).astype(np.float16).view(np.uint16)
        return self

    def score(self, batch: EncodedBatch) -> np.ndarray:
        """Logit of the quantized model for every item (``float64``)."""
        if self._q is None:
            raise RuntimeError("NGramLogistic is not fitted")
        out = np.empty(len(batch), dtype=np.float64)
        if len(batch) == 0:
            return out
        shift = 64 - self._bits
        if self._q.dtype == np.int8:
            _score_int8(batch.buf, batch.offsets, self._min_n, self._max_n, shift, self._q,
                        self._scale, self._bias, out)
        else:
            _score_fp16(batch.buf, batch.offsets, self._min_n, self._max_n, shift, self._q,
                        self._bias, out)
        return out

    def size_in_bytes(self) -> int:
        """Weights (1 or 2 bytes each) plus bias and scale (16 bytes)."""
        if self._q is None:
            raise RuntimeError("NGramLogistic is not fitted")
        return int(self._q.nbytes) + 16

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        assert self._q is not None
        meta = {"bits": self._bits, "min_n": self._min_n, "max_n": self._max_n,
                "bias": self._bias, "scale": self._scale, "quantization": self.quantization,
                "epochs": self.epochs, "learning_rate": self.learning_rate, "l2": self.l2}
        return meta, {"weights": self._q}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> NGramLogistic:
        """Rebuild a saved model; every field is checked (``FormatError`` names the bad one).

        Invariants of a trained model: the int8 weights are ``round(w / scale)`` clipped to
        [-127, 127] with ``scale = max|w| / 127 > 0``, so some weight is +-127 (or all are 0 and
        the scale is 1); fp16 weights are finite; bias and scale are finite.
        """
        where = "n-gram model"
        bits = _checks.integer(meta, "bits", where, low=6, high=24)
        min_n = _checks.integer(meta, "min_n", where, low=1, high=8)
        max_n = _checks.integer(meta, "max_n", where, low=min_n, high=8)
        quant = _checks.choice(meta, "quantization", where, ("int8", "fp16"))
        bias = _checks.number(meta, "bias", where, low=-1e9, high=1e9)
        scale = _checks.number(meta, "scale", where, low=0.0, high=1e9, low_open=True)
        epochs = _checks.integer(meta, "epochs", where, low=1, high=10**6, default=3)
        lr = _checks.number(meta, "learning_rate", where, low=0.0, high=1e6, low_open=True, default=0.1)
        l2 = _checks.number(meta, "l2", where, low=0.0, high=1e6, default=1e-6)
        q = _checks.array(arrays, "weights", where, np.int8 if quant == "int8" else np.uint16, shape=(1 << bits,))
        if quant == "int8":
            amax = int(np.abs(q.astype(np.int16)).max())
            if amax > 127 or (amax not in (0, 127)) or (amax == 0 and scale != 1.0):
                raise FormatError(
                    f"{where}: int8 weights must span [-127, 127] with some weight at +-127 "
                    f"(largest magnitude {amax}, scale {scale})"
                )
        else:
            if scale != 1.0:
                raise FormatError(f"{where}: an fp16 model has scale 1; got {scale}")
            if ((q >> 10) & 0x1F == 0x1F).any():
                raise FormatError(f"{where}: fp16 weights hold infinities or NaNs")
        m = cls(n_features_log2=bits, ngram_range=(min_n, max_n), quantization=quant,
                epochs=epochs, learning_rate=lr, l2=l2)
        m._bits, m._min_n, m._max_n = bits, min_n, max_n
        m._bias, m._scale, m._q = bias, scale, q
        return m
