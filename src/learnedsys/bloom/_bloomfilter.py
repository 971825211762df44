"""A standard Bloom filter over a numba bit array, plus the kernels the learned filters share."""

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
from learnedsys.bloom._encode import EncodedBatch, encode_items, hash_batch, mix64
from learnedsys.bloom._fuse import fuse_has

__all__ = ["BloomFilter", "bloom_bits", "bloom_fpr"]

LN2 = math.log(2.0)
_HEADER_BYTES = 16  # m (u64) and k (u32) plus the salt (u32) a loaded filter needs


def bloom_bits(n: int, fpr: float) -> int:
    """Bits of an optimally configured Bloom filter for ``n`` keys at false-positive rate ``fpr``."""
    if n <= 0 or fpr >= 1.0:
        return 0
    return max(64, math.ceil(n * math.log(1.0 / fpr) / (LN2 * LN2)))


def bloom_params(n: int, fpr: float) -> tuple[int, int]:
    """(m bits rounded up to whole 64-bit words, k hash functions) for ``n`` keys at ``fpr``."""
    m = bloom_bits(n, fpr)
    m = ((m + 63) // 64) * 64
    k = max(1, round(m / max(n, 1) * LN2))
    return m, min(k, 64)


def bloom_fpr(n: int, m: int, k: int) -> float:
    """Expected false-positive rate of a Bloom filter of ``m`` bits, ``k`` hashes, ``n`` keys."""
    if m <= 0:
        return 1.0
    return float((1.0 - math.exp(-k * n / m)) ** k)


@nb.njit(cache=True, inline="always")
def _next_probe(x, mm):  # type: ignore[no-untyped-def]
    """xorshift64* step: the next state and a bit position in [0, mm).

    Each of the k probes gets its own pseudo-random position; plain double hashing
    (h1 + j h2 mod m) correlates probes in small filters (a few hundred bits), where the
    learned filters' region backups often are, and then misses its FPR several times over.
    """
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    return x, (x * np.uint64(0x2545F4914F6CDD1D)) % mm


@nb.njit(cache=True, nogil=True)
def bloom_add_hashes(words, m, k, salt, hashes):  # type: ignore[no-untyped-def]
    mm = np.uint64(m)
    for i in range(hashes.shape[0]):
        x = mix64(hashes[i] ^ salt) | np.uint64(1)
        for _ in range(k):
            x, bit = _next_probe(x, mm)
            words[bit >> np.uint64(6)] |= np.uint64(1) << (bit & np.uint64(63))


@nb.njit(cache=True, nogil=True)
def bloom_query_hashes(words, m, k, salt, hashes, out):  # type: ignore[no-untyped-def]
    mm = np.uint64(m)
    for i in range(hashes.shape[0]):
        x = mix64(hashes[i] ^ salt) | np.uint64(1)
        found = True
        for _ in range(k):
            x, bit = _next_probe(x, mm)
            if (words[bit >> np.uint64(6)] >> (bit & np.uint64(63))) & np.uint64(1) == 0:
                found = False
                break
        out[i] = found


class BloomFilter:
    """A standard Bloom filter: no false negatives, ``1.44 log2(1/fpr)`` bits per key.

    Sized on :meth:`fit` (or on the first :meth:`add` when ``capacity`` is given) with the optimal
    number of bits ``m = n ln(1/fpr) / ln(2)^2`` and hash functions ``k = (m / n) ln 2``. Each item
    is hashed once to 64 bits; the ``k`` bit positions come from a xorshift64* sequence seeded by it. Queries cost
    ``O(k)`` random memory accesses, about 30-100 ns per item in batches.

    Args:
        target_fpr: false-positive rate to size for, in (0, 1).
        capacity: number of keys to size for; default: the number of keys given to :meth:`fit`.
        n_bits: size the filter to exactly this many bits (rounded up to 64) instead of
            ``target_fpr``; then ``k`` is chosen optimally for the key count.
        seed: hash seed.

    Example:
        >>> from learnedsys.bloom import BloomFilter
        >>> f = BloomFilter(target_fpr=0.01).fit(["apple", "pear"])
        >>> bool(f.contains(["apple", "plum"])[0]), "pear" in f
        (True, True)
    """

    _KIND = "learnedsys.bloom.BloomFilter"

    def __init__(
        self,
        target_fpr: float = 0.01,
        capacity: int | None = None,
        n_bits: int | None = None,
        seed: int | None = 0,
    ) -> None:
        self.target_fpr = target_fpr
        self.capacity = capacity
        self.n_bits = n_bits
        self.seed = seed
        self._words: np.ndarray | None = None

    # -- construction -------------------------------------------------------------------------
    def _allocate(self, n: int) -> None:
        owner = type(self).__name__
        fpr = check_float(self.target_fpr, "target_fpr", owner, low=0.0, high=1.0, closed="neither")
        cap = check_int(self.capacity, "capacity", owner, low=1, none_ok=True)
        nbits = check_int(self.n_bits, "n_bits", owner, low=1, none_ok=True)
        seed = check_seed(self.seed, "seed", owner) or 0
        n = max(n, cap or 0, 1)
        if nbits is not None:
            m = ((nbits + 63) // 64) * 64
            k = max(1, min(64, round(m / n * LN2)))
        else:
            m, k = bloom_params(n, fpr)
        self._m = m
        self._k = k
        self._salt = np.uint64(mix64(np.uint64(seed) + np.uint64(0x5BD1E995)))
        self._words = np.zeros(m // 64, dtype=np.uint64)
        self._count = 0

    def fit(self, keys: Any) -> BloomFilter:
        """Size the filter for ``keys`` (or ``capacity``) and insert them. O(n k)."""
        batch = encode_items(keys, type(self).__name__, "keys")
        self._allocate(len(batch))
        self._kind = batch.kind
        self._add_hashes(hash_batch(batch))
        return self

    def add(self, items: Any) -> BloomFilter:
        """Insert a batch of items (a list or array). Needs :meth:`fit` first or ``capacity``."""
        batch = encode_items(items, type(self).__name__, "items")
        if self._words is None:
            if self.capacity is None:
                raise InvalidParameterError(
                    "BloomFilter.add needs a sized filter: call fit(keys) first or give capacity=..."
                )
            self._allocate(0)
            self._kind = batch.kind
        self._check_kind(batch)
        self._add_hashes(hash_batch(batch))
        return self

    def _add_hashes(self, hashes: np.ndarray) -> None:
        assert self._words is not None
        bloom_add_hashes(self._words, self._m, self._k, self._salt, hashes)
        self._count += int(hashes.shape[0])

    # -- queries -------------------------------------------------------------------------------
    def _check_built(self) -> None:
        if self._words is None:
            raise NotFittedError(
                f"This {type(self).__name__} is not built yet; call fit(keys) first."
            )

    def _check_kind(self, batch: EncodedBatch) -> None:
        if len(batch) and batch.kind != self._kind:
            what = "integers" if self._kind == "int" else "str/bytes items"
            raise InvalidParameterError(
                f"This {type(self).__name__} holds {what}; got {'integers' if batch.kind == 'int' else 'str/bytes items'} to query."
            )

    def contains_hashes(self, hashes: np.ndarray) -> np.ndarray:
        """Membership for precomputed 64-bit item hashes (see ``hash_batch``)."""
        self._check_built()
        out = np.empty(hashes.shape[0], dtype=np.bool_)
        bloom_query_hashes(self._words, self._m, self._k, self._salt, hashes, out)
        return out

    def contains(self, items: Any) -> np.ndarray:
        """Boolean array: True where an item may be in the set, False where it surely is not."""
        if self._words is None and self.capacity is not None:
            # sized by capacity, nothing added yet: the empty set
            return np.zeros(len(encode_items(items, type(self).__name__, "items")), dtype=np.bool_)
        self._check_built()
        batch = encode_items(items, type(self).__name__, "items")
        self._check_kind(batch)
        return self.contains_hashes(hash_batch(batch))

    def __contains__(self, item: Any) -> bool:
        return bool(self.contains([item])[0])

    # -- size and statistics -------------------------------------------------------------------
    @property
    def n_bits_(self) -> int:
        """Bits in the bit array."""
        self._check_built()
        return int(self._m)

    @property
    def n_hashes_(self) -> int:
        """Number of hash functions k."""
        self._check_built()
        return int(self._k)

    def size_in_bytes(self) -> int:
        """Bytes of the bit array plus a 16-byte header (m, k, salt)."""
        self._check_built()
        assert self._words is not None
        return int(self._words.nbytes) + _HEADER_BYTES

    def expected_fpr(self) -> float:
        """False-positive rate expected from m, k and the number of inserted items."""
        self._check_built()
        return bloom_fpr(self._count, self._m, self._k)

    # -- persistence ---------------------------------------------------------------------------
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_built()
        assert self._words is not None
        meta = {"m": int(self._m), "k": int(self._k), "salt": int(self._salt), "count": self._count,
                "key_kind": self._kind, "target_fpr": self.target_fpr, "seed": self.seed}
        return meta, {"words": self._words}

    @classmethod
    def _from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> BloomFilter:
        """Rebuild from saved fields, each checked against the format (FormatError otherwise)."""
        if not isinstance(meta, dict):
            raise _serialization.FormatError(f"{where}: Bloom filter metadata is not an object")
        m = _checks.integer(meta, "m", where, low=64, high=2**62)
        if m % 64:
            raise _serialization.FormatError(f"{where}: Bloom filter size m={m} is not a whole number of 64-bit words")
        k = _checks.integer(meta, "k", where, low=1, high=64)
        salt = _checks.integer(meta, "salt", where, low=0, high=2**64 - 1)
        count = _checks.integer(meta, "count", where, low=0, high=2**62, default=0)
        kind = _checks.choice(meta, "key_kind", where, ("bytes", "int"))
        target = _checks.number(meta, "target_fpr", where, low=0.0, high=1.0, low_open=True, high_open=True, default=0.01)
        seed = _checks.seed_value(meta, "seed", where)
        words = _checks.array(arrays, "words", where, np.uint64, shape=(m // 64,))
        ones = int(np.bitwise_count(words).sum()) if words.size else 0
        if ones > k * count:
            # every insert sets at most k bits: more set bits than that is not a filter of `count` items
            raise _serialization.FormatError(
                f"{where}: Bloom filter has {ones} bits set, more than k * count = {k * count}"
            )
        f = cls(target_fpr=target, seed=seed)
        f._m, f._k = m, k
        f._salt = np.uint64(salt)
        f._words = words
        f._count = count
        f._kind = kind
        return f

    def fill_fpr(self) -> float:
        """False-positive rate implied by the bits actually set: ``(ones / m) ** k``.

        Unlike :meth:`expected_fpr` it needs no item count, so it holds for any bit array
        (the figure a crafted or merged filter really has).
        """
        self._check_built()
        assert self._words is not None
        ones = int(np.bitwise_count(self._words).sum())
        return float((ones / self._m) ** self._k)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the filter to ``path`` (learnedsys container format, CRC-checked)."""
        meta, arrays = self._state()
        _serialization.save(path, self._KIND, 1, meta, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BloomFilter:
        """Read a filter written by :meth:`save`; raises FormatError on a corrupted file."""
        _, meta, arrays = _serialization.load(path, cls._KIND, 1)
        return cls._from_state(meta, arrays, repr(str(path)))

    def __repr__(self) -> str:
        if self._words is None:
            return f"BloomFilter(target_fpr={self.target_fpr!r}, not built)"
        return f"BloomFilter(m={self._m}, k={self._k}, items={self._count})"


@nb.njit(cache=True, inline="always")
def _bloom_has(words, off, m, k, salt, h):  # type: ignore[no-untyped-def]
    mm = np.uint64(m)
    x = mix64(h ^ salt) | np.uint64(1)
    for _ in range(k):
        x, bit = _next_probe(x, mm)
        if (words[off + np.int64(bit >> np.uint64(6))] >> (bit & np.uint64(63))) & np.uint64(1) == 0:
            return False
    return True


@nb.njit(cache=True, nogil=True)
def routed_query(hashes, scores, thresholds, rtype, woff, ms, ks, salts, counts, words, itype, out):  # type: ignore[no-untyped-def]
    """One pass over a batch: initial filter, score region, region rule.

    Rules (``rtype[r]``, and ``itype`` for the initial filter, whose parameters sit at index
    ``len(rtype)``): 0 reject (for ``itype``: no initial filter), 1 accept, 2 Bloom filter, 3
    binary fuse filter, 4 reject (``itype`` only). A filter's words start at ``woff[r]`` in
    ``words``; a Bloom filter's ``ms, ks, salts`` are m, k and its salt, a fuse filter's are its
    segment length, fingerprint bits and seed, and ``counts`` its segment count.
    """
    nt = thresholds.shape[0]
    ir = rtype.shape[0]
    for i in range(hashes.shape[0]):
        h = hashes[i]
        if itype != 0:
            if itype == 2:
                ok = _bloom_has(words, woff[ir], ms[ir], ks[ir], salts[ir], h)
            elif itype == 3:
                ok = fuse_has(words, woff[ir], salts[ir], ms[ir], counts[ir], ks[ir], h)
            else:
                ok = False
            if not ok:
                out[i] = False
                continue
        s = scores[i]
        lo = 0
        hi = nt
        while lo < hi:
            mid = (lo + hi) >> 1
            if thresholds[mid] <= s:
                lo = mid + 1
            else:
                hi = mid
        t = rtype[lo]
        if t == 0:
            out[i] = False
        elif t == 1:
            out[i] = True
        elif t == 2:
            out[i] = _bloom_has(words, woff[lo], ms[lo], ks[lo], salts[lo], h)
        else:
            out[i] = fuse_has(words, woff[lo], salts[lo], ms[lo], counts[lo], ks[lo], h)
