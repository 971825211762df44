"""A static binary fuse filter (Graf and Lemire, 2022) with fingerprints of any width 1..32 bits.

Three-wise binary fuse: each key maps to three slots in consecutive segments; construction peels a
random hypergraph and assigns fingerprints so that the XOR of a key's three slots equals its
fingerprint. Space is about ``1.13 r`` bits per key for ``r``-bit fingerprints (packed in a bit
array), false-positive rate ``2^-r``. Keys cannot be added after construction.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numba as nb
import numpy as np

from learnedsys import _serialization
from learnedsys._estimator import NotFittedError
from learnedsys._validation import InvalidParameterError, check_float, check_int, check_seed
from learnedsys.bloom import _checks
from learnedsys.bloom._encode import encode_items, hash_batch, mix64

__all__ = ["BinaryFuseFilter", "fuse_bits", "fuse_layout"]

_HEADER_BYTES = 32  # seed, segment length, segment count, fingerprint bits
_MAX_SEGMENT = 1 << 18  # fuse_layout never uses longer segments


def fuse_layout(n: int) -> tuple[int, int, int]:
    """(segment_length, segment_count, array_length) of a 3-wise binary fuse filter for ``n`` keys."""
    size = max(int(n), 2)
    seg_len = 1 << math.floor(math.log(size) / math.log(3.33) + 2.25)
    seg_len = min(seg_len, _MAX_SEGMENT)
    size_factor = max(1.125, 0.875 + 0.25 * math.log(1_000_000) / math.log(size))
    capacity = round(size * size_factor)
    init_segment_count = (capacity + seg_len - 1) // seg_len - 2
    array_length = (init_segment_count + 2) * seg_len
    seg_count = (array_length + seg_len - 1) // seg_len
    seg_count = 1 if seg_count <= 2 else seg_count - 2
    array_length = (seg_count + 2) * seg_len
    return seg_len, seg_count, array_length


@nb.njit(cache=True)
def fuse_length(n: int) -> int:
    """Slots of a binary fuse filter for ``n`` keys (numba twin of :func:`fuse_layout`)."""
    size = max(int(n), 2)
    seg_len = 1 << math.floor(math.log(size) / math.log(3.33) + 2.25)
    seg_len = min(seg_len, 1 << 18)
    size_factor = max(1.125, 0.875 + 0.25 * math.log(1_000_000) / math.log(size))
    capacity = round(size * size_factor)
    init_segment_count = (capacity + seg_len - 1) // seg_len - 2
    array_length = (init_segment_count + 2) * seg_len
    seg_count = (array_length + seg_len - 1) // seg_len
    seg_count = seg_count - 2 if seg_count > 2 else 1
    return (seg_count + 2) * seg_len


def fuse_bits(n: int, r: int) -> int:
    """Bits of a binary fuse filter with ``r``-bit fingerprints for ``n`` keys (0 when ``n == 0``)."""
    if n <= 0:
        return 0
    return fuse_layout(n)[2] * r


@nb.njit(cache=True, inline="always")
def _positions(hh, seg_len, scl):  # type: ignore[no-untyped-def]
    mask = np.uint64(seg_len - 1)
    h0 = ((hh >> np.uint64(32)) * np.uint64(scl)) >> np.uint64(32)
    h1 = h0 + np.uint64(seg_len)
    h2 = h1 + np.uint64(seg_len)
    h1 ^= (hh >> np.uint64(18)) & mask
    h2 ^= hh & mask
    return np.int64(h0), np.int64(h1), np.int64(h2)


@nb.njit(cache=True, inline="always")
def _get(words, i, r):  # type: ignore[no-untyped-def]
    bitpos = np.uint64(i) * np.uint64(r)
    w = bitpos >> np.uint64(6)
    off = bitpos & np.uint64(63)
    val = words[w] >> off
    if off + np.uint64(r) > np.uint64(64):
        val |= words[w + np.uint64(1)] << (np.uint64(64) - off)
    return val & ((np.uint64(1) << np.uint64(r)) - np.uint64(1))


@nb.njit(cache=True, inline="always")
def _xor_in(words, i, r, v):  # type: ignore[no-untyped-def]
    bitpos = np.uint64(i) * np.uint64(r)
    w = bitpos >> np.uint64(6)
    off = bitpos & np.uint64(63)
    words[w] ^= v << off
    if off + np.uint64(r) > np.uint64(64):
        words[w + np.uint64(1)] ^= v >> (np.uint64(64) - off)


@nb.njit(cache=True, inline="always")
def _fingerprint(hh, r):  # type: ignore[no-untyped-def]
    return (hh ^ (hh >> np.uint64(32))) & ((np.uint64(1) << np.uint64(r)) - np.uint64(1))


@nb.njit(cache=True, nogil=True)
def _fuse_build(hashes, seed, seg_len, seg_count, array_length, r, words):  # type: ignore[no-untyped-def]
    """Peel and assign; returns True on success (fills ``words``)."""
    n = hashes.shape[0]
    scl = seg_count * seg_len
    count = np.zeros(array_length, dtype=np.int32)
    xorh = np.zeros(array_length, dtype=np.uint64)
    for i in range(n):
        hh = mix64(hashes[i] ^ seed)
        a, b, c = _positions(hh, seg_len, scl)
        count[a] += 1
        count[b] += 1
        count[c] += 1
        xorh[a] ^= hh
        xorh[b] ^= hh
        xorh[c] ^= hh
    queue = np.empty(array_length, dtype=np.int64)
    qn = 0
    for p in range(array_length):
        if count[p] == 1:
            queue[qn] = p
            qn += 1
    stack_h = np.empty(n, dtype=np.uint64)
    stack_p = np.empty(n, dtype=np.int64)
    sn = 0
    while qn > 0:
        qn -= 1
        p = queue[qn]
        if count[p] != 1:
            continue
        hh = xorh[p]
        stack_h[sn] = hh
        stack_p[sn] = p
        sn += 1
        a, b, c = _positions(hh, seg_len, scl)
        for q in (a, b, c):
            count[q] -= 1
            xorh[q] ^= hh
            if count[q] == 1:
                queue[qn] = q
                qn += 1
    if sn != n:
        return False
    for j in range(sn - 1, -1, -1):
        hh = stack_h[j]
        a, b, c = _positions(hh, seg_len, scl)
        v = _fingerprint(hh, r) ^ _get(words, a, r) ^ _get(words, b, r) ^ _get(words, c, r)
        _xor_in(words, stack_p[j], r, v)
    return True


@nb.njit(cache=True, inline="always")
def fuse_has(words, off, seed, seg_len, seg_count, r, h):  # type: ignore[no-untyped-def]
    """Membership of item hash ``h`` in a fuse filter whose words start at ``off`` in ``words``."""
    hh = mix64(h ^ seed)
    a, b, c = _positions(hh, seg_len, seg_count * seg_len)
    ru = np.uint64(r)
    mask = (np.uint64(1) << ru) - np.uint64(1)
    acc = np.uint64(0)
    for i in (a, b, c):
        bitpos = np.uint64(i) * ru
        w = np.int64(bitpos >> np.uint64(6)) + off
        sh = bitpos & np.uint64(63)
        val = words[w] >> sh
        if sh + ru > np.uint64(64):
            val |= words[w + 1] << (np.uint64(64) - sh)
        acc ^= val & mask
    return _fingerprint(hh, r) == acc


@nb.njit(cache=True, nogil=True)
def fuse_query_hashes(words, seed, seg_len, seg_count, r, hashes, out):  # type: ignore[no-untyped-def]
    scl = seg_count * seg_len
    for i in range(hashes.shape[0]):
        hh = mix64(hashes[i] ^ seed)
        a, b, c = _positions(hh, seg_len, scl)
        out[i] = _fingerprint(hh, r) == (_get(words, a, r) ^ _get(words, b, r) ^ _get(words, c, r))


class BinaryFuseFilter:
    """A static binary fuse filter: about ``1.13 log2(1/fpr)`` bits per key, keys fixed at build.

    Args:
        target_fpr: false-positive rate; the fingerprint width is ``r = ceil(log2(1/target_fpr))``
            bits (so the real rate ``2^-r`` is at most the target). Ignored when
            ``fingerprint_bits`` is given.
        fingerprint_bits: fingerprint width r in [1, 32].
        seed: hash seed; construction retries with derived seeds when peeling fails (rare).

    Build is O(n) (expected), queries touch three slots.

    Example:
        >>> from learnedsys.bloom import BinaryFuseFilter
        >>> f = BinaryFuseFilter(fingerprint_bits=8).fit([b"a", b"b", b"c"])
        >>> bool(f.contains([b"a", b"b", b"c"]).all())
        True
    """

    _KIND = "learnedsys.bloom.BinaryFuseFilter"

    def __init__(
        self,
        target_fpr: float = 0.01,
        fingerprint_bits: int | None = None,
        seed: int | None = 0,
    ) -> None:
        self.target_fpr = target_fpr
        self.fingerprint_bits = fingerprint_bits
        self.seed = seed
        self._words: np.ndarray | None = None

    def fit(self, keys: Any) -> BinaryFuseFilter:
        """Build the filter from ``keys`` (duplicates allowed)."""
        batch = encode_items(keys, type(self).__name__, "keys")
        self._kind = batch.kind
        return self._fit_hashes(hash_batch(batch))

    def _fit_hashes(self, hashes: np.ndarray) -> BinaryFuseFilter:
        owner = type(self).__name__
        fpr = check_float(self.target_fpr, "target_fpr", owner, low=0.0, high=1.0, closed="neither")
        r = check_int(self.fingerprint_bits, "fingerprint_bits", owner, low=1, high=32, none_ok=True)
        seed = check_seed(self.seed, "seed", owner) or 0
        if r is None:
            r = min(32, max(1, math.ceil(math.log2(1.0 / fpr) - 1e-9)))
        if not hasattr(self, "_kind"):
            self._kind = "bytes"
        hashes = np.unique(hashes)
        n = hashes.shape[0]
        self._r = r
        self._n = n
        grow = 0
        attempt = 0
        while True:
            seg_len, seg_count, length = fuse_layout(n + grow)
            words = np.zeros((length * r + 63) // 64 + 1, dtype=np.uint64)
            s = np.uint64(mix64(np.uint64((seed * 0x9E3779B97F4A7C15 + attempt + 1) & 0xFFFFFFFFFFFFFFFF)))
            if n == 0 or _fuse_build(hashes, s, seg_len, seg_count, length, r, words):
                break
            attempt += 1
            if attempt % 10 == 0:  # tiny sets may not peel at the standard size: grow it
                grow += max(8, n // 8)
        self._seed_u = np.uint64(s)
        self._seg_len, self._seg_count, self._length = seg_len, seg_count, length
        self._words = words
        return self

    def _check_built(self) -> None:
        if self._words is None:
            raise NotFittedError(f"This {type(self).__name__} is not built yet; call fit(keys) first.")

    def contains_hashes(self, hashes: np.ndarray) -> np.ndarray:
        """Membership for precomputed 64-bit item hashes."""
        self._check_built()
        out = np.empty(hashes.shape[0], dtype=np.bool_)
        if self._n == 0:
            out[:] = False
            return out
        fuse_query_hashes(self._words, self._seed_u, self._seg_len, self._seg_count, self._r, hashes, out)
        return out

    def contains(self, items: Any) -> np.ndarray:
        """Boolean array: True where an item may be in the set, False where it surely is not."""
        self._check_built()
        batch = encode_items(items, type(self).__name__, "items")
        if len(batch) and batch.kind != self._kind:
            raise InvalidParameterError(
                f"This {type(self).__name__} holds {'integers' if self._kind == 'int' else 'str/bytes items'}; got other items to query."
            )
        return self.contains_hashes(hash_batch(batch))

    def __contains__(self, item: Any) -> bool:
        return bool(self.contains([item])[0])

    def size_in_bytes(self) -> int:
        """Bytes of the packed fingerprint array (``length * r`` bits in whole words) plus 32."""
        self._check_built()
        if self._n == 0:
            return _HEADER_BYTES
        return (self._length * self._r + 63) // 64 * 8 + _HEADER_BYTES

    def expected_fpr(self) -> float:
        """``2^-r``."""
        self._check_built()
        return 0.0 if self._n == 0 else 2.0 ** (-self._r)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_built()
        assert self._words is not None
        meta = {"r": self._r, "n": self._n, "seed_u": int(self._seed_u), "seg_len": self._seg_len,
                "seg_count": self._seg_count, "length": self._length, "key_kind": self._kind,
                "target_fpr": self.target_fpr, "seed": self.seed}
        return meta, {"words": self._words}

    @classmethod
    def _from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> BinaryFuseFilter:
        """Rebuild from saved fields, each checked against the format (FormatError otherwise)."""
        if not isinstance(meta, dict):
            raise _serialization.FormatError(f"{where}: binary fuse filter metadata is not an object")
        r = _checks.integer(meta, "r", where, low=1, high=32)
        n = _checks.integer(meta, "n", where, low=0, high=2**40)
        seg_len = _checks.integer(meta, "seg_len", where, low=1, high=_MAX_SEGMENT)
        seg_count = _checks.integer(meta, "seg_count", where, low=1, high=2**40)
        length = _checks.integer(meta, "length", where, low=1, high=2**42)
        seed_u = _checks.integer(meta, "seed_u", where, low=0, high=2**64 - 1)
        kind = _checks.choice(meta, "key_kind", where, ("bytes", "int"))
        target = _checks.number(meta, "target_fpr", where, low=0.0, high=1.0, low_open=True, high_open=True, default=0.01)
        seed = _checks.seed_value(meta, "seed", where)
        if seg_len & (seg_len - 1) or length != (seg_count + 2) * seg_len:
            raise _serialization.FormatError(
                f"{where}: binary fuse layout is inconsistent (segment length {seg_len}, "
                f"{seg_count} segments, {length} slots)"
            )
        if seg_count * seg_len >= 2**32:
            # slot positions are computed as (32-bit hash * seg_count * seg_len) >> 32
            raise _serialization.FormatError(f"{where}: binary fuse filter of {length} slots is too large")
        if n and length < fuse_layout(n)[2]:
            raise _serialization.FormatError(
                f"{where}: binary fuse filter of {length} slots cannot hold {n} keys"
            )
        words = _checks.array(arrays, "words", where, np.uint64, shape=((length * r + 63) // 64 + 1,))
        if n == 0 and words.any():
            raise _serialization.FormatError(f"{where}: empty binary fuse filter with non-zero fingerprints")
        f = cls(fingerprint_bits=r, seed=seed)
        f.target_fpr = target
        f._r, f._n, f._seg_len, f._seg_count, f._length = r, n, seg_len, seg_count, length
        f._seed_u = np.uint64(seed_u)
        f._words = words
        f._kind = kind
        return f

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the filter to ``path`` (CRC-checked container)."""
        meta, arrays = self._state()
        _serialization.save(path, self._KIND, 1, meta, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BinaryFuseFilter:
        """Read a filter written by :meth:`save`."""
        _, meta, arrays = _serialization.load(path, cls._KIND, 1)
        return cls._from_state(meta, arrays, repr(str(path)))

