"""The structures the learned index is measured against, as numba kernels over the same array.

- :class:`BinarySearch`: branch-free binary search over the whole array: the no-model control,
  one query at a time (``lower_bound_serial``) or 16 in lockstep (``lower_bound``).
- :class:`BPlusTree`: a static, bulk-loaded B+-tree with pages of 128 keys (the paper's baseline):
  inner levels store the largest key of each child; the leaf pages are the sorted key array itself.
- :class:`Eytzinger`, :class:`BTree` (16-key nodes), :class:`PGMIndex`, :class:`RadixSpline`: the
  strongest peers, in :mod:`learnedsys.index._peers` (re-exported here).
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from learnedsys._validation import check_int
from learnedsys.index._kernels import _bsearch
from learnedsys.index._peers import BTree, Eytzinger, PGMIndex, RadixSpline, bs_batch, bs_serial
from learnedsys.index._rmi import prepare_keys, prepare_queries

__all__ = ["BPlusTree", "BTree", "BinarySearch", "Eytzinger", "PGMIndex", "RadixSpline"]

_jit = nb.njit(cache=True, nogil=True, boundscheck=False)


@_jit
def _build_levels(keys, page: int):  # type: ignore[no-untyped-def]
    """Largest key of each leaf page, then of each group of ``page`` entries, up to one node."""
    n = keys.shape[0]
    sizes = []
    m = (n + page - 1) // page
    while True:
        sizes.append(m)
        if m <= page:
            break
        m = (m + page - 1) // page
    total = 0
    for s in sizes:
        total += s
    flat = np.empty(total, dtype=keys.dtype)
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    for li in range(len(sizes)):
        offsets[li + 1] = offsets[li] + sizes[li]
    # level 0: max of each leaf page
    for p in range(sizes[0]):
        flat[p] = keys[min(n, (p + 1) * page) - 1]
    for li in range(1, len(sizes)):
        prev0 = offsets[li - 1]
        prevn = sizes[li - 1]
        for p in range(sizes[li]):
            flat[offsets[li] + p] = flat[prev0 + min(prevn, (p + 1) * page) - 1]
    return flat, offsets


@_jit
def _btree_lookup(keys, flat, offsets, page: int, queries):  # type: ignore[no-untyped-def]
    n = keys.shape[0]
    n_levels = offsets.shape[0] - 1
    out = np.empty(queries.shape[0], dtype=np.int64)
    for i in range(queries.shape[0]):
        q = queries[i]
        if n == 0:
            out[i] = 0
            continue
        # top level: one node
        top0 = offsets[n_levels - 1]
        top_n = offsets[n_levels] - top0
        c = _bsearch(flat, q, top0, top0 + top_n, 0) - top0
        if c >= top_n:
            out[i] = n
            continue
        for li in range(n_levels - 2, -1, -1):
            lo = offsets[li] + c * page
            hi = min(offsets[li + 1], lo + page)
            c = _bsearch(flat, q, lo, hi, 0) - offsets[li]
        lo = c * page
        hi = min(n, lo + page)
        out[i] = _bsearch(keys, q, lo, hi, 0)
    return out


class BinarySearch:
    """Branch-free binary search over the sorted array (numba): ``log2(n)`` steps, no extra space.

    ``lower_bound`` runs 16 queries in lockstep (their cache misses overlap: mode B of the bench);
    ``lower_bound_serial`` finishes each query before the next (mode A). Same answers as
    ``np.searchsorted(keys, queries, "left")``.
    """

    def __init__(self, keys: Any = None) -> None:
        if keys is not None:
            self.fit(keys)

    def fit(self, keys: Any) -> BinarySearch:
        self.keys_ = prepare_keys(keys, "BinarySearch")
        return self

    def _answer(self, queries: Any, batch: bool) -> Any:
        if not hasattr(self, "keys_"):
            raise RuntimeError("this BinarySearch is not fitted yet; call fit(keys) first")
        q, below, above, scalar = prepare_queries(queries, self.keys_.dtype)
        if self.keys_.shape[0] == 0:
            out = np.zeros(q.shape[0], dtype=np.int64)
        else:
            out = (bs_batch if batch else bs_serial)(self.keys_, q)
        if below is not None:
            out[below] = 0
        if above is not None:
            out[above] = self.keys_.shape[0]
        return int(out[0]) if scalar else out.reshape(np.shape(queries))

    def lower_bound(self, queries: Any) -> Any:
        """Positions of the first key >= each query, 16 queries in lockstep."""
        return self._answer(queries, True)

    def lower_bound_serial(self, queries: Any) -> Any:
        """The same answers, one query at a time."""
        return self._answer(queries, False)

    def size_in_bytes(self) -> int:
        return 0


class BPlusTree:
    """Static B+-tree with ``page``-key pages over the sorted array.

    Inner nodes hold the largest key of each child, so a lookup reads one node per level
    (``log_page(n)`` levels) and one leaf page of the key array. Size: about ``n / page`` keys.

    Args:
        page: keys per page (the paper uses 128).
    """

    def __init__(self, page: int = 128) -> None:
        self.page = page

    def fit(self, keys: Any) -> BPlusTree:
        check_int(self.page, "page", "BPlusTree", low=2)
        self.keys_ = prepare_keys(keys, "BPlusTree")
        if self.keys_.shape[0]:
            self.inner_, self.offsets_ = _build_levels(self.keys_, self.page)
        else:
            self.inner_, self.offsets_ = np.zeros(0, dtype=self.keys_.dtype), np.zeros(1, dtype=np.int64)
        return self

    def lower_bound(self, queries: Any) -> Any:
        q, below, above, scalar = prepare_queries(queries, self.keys_.dtype)
        if self.keys_.shape[0] == 0:
            out = np.zeros(q.shape[0], dtype=np.int64)
        else:
            out = _btree_lookup(self.keys_, self.inner_, self.offsets_, self.page, q)
        if below is not None:
            out[below] = 0
        if above is not None:
            out[above] = self.keys_.shape[0]
        return int(out[0]) if scalar else out.reshape(np.shape(queries))

    def size_in_bytes(self) -> int:
        return int(self.inner_.nbytes + self.offsets_.nbytes)
