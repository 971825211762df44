"""An updatable learned index: an RMI over a base array plus sorted delta buffers.

Inserts go to a sorted insert buffer; deletes of base keys go to a sorted delete buffer (a key
inserted and then deleted simply leaves the insert buffer). The lower bound over the current
multiset is::

    lower_bound(q) = base.lower_bound(q) + #inserted < q - #deleted < q

When the buffers grow past ``merge_fraction`` of the base, they are merged into a new base array
and the RMI is retrained, so lookups stay close to a static RMI's cost and updates are amortised
O(buffer) each (numpy inserts into a small sorted array).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from learnedsys import _serialization
from learnedsys._estimator import Estimator
from learnedsys._validation import check_float, check_int
from learnedsys.index._rmi import RMI, prepare_keys, prepare_queries

__all__ = ["DynamicIndex", "load_dynamic"]

_KIND = "learnedsys.index.DynamicIndex"


class DynamicIndex(Estimator):
    """A learned index that accepts inserts and deletes (a multiset of keys).

    Args:
        keys: initial sorted keys (may be empty); their dtype is the index's dtype.
        merge_fraction: merge the buffers into the base and retrain once they hold more than
            this fraction of the base's keys.
        min_merge: never merge for fewer buffered updates than this.
        rmi_params: parameters of the RMI built over the base (see :class:`RMI`).

    Example:
        >>> import numpy as np
        >>> d = DynamicIndex(np.array([10, 20, 30], dtype=np.int64))
        >>> d.insert(25); d.delete(10)
        True
        >>> d.lower_bound(26), len(d), d.to_array().tolist()
        (2, 3, [20, 25, 30])
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        # the keys are data, not a parameter: a clone is an empty index with the same settings
        return ["dtype", "merge_fraction", "min_merge", "rmi_params"]

    def __init__(
        self,
        keys: Any = (),
        *,
        dtype: Any = None,
        merge_fraction: float = 0.05,
        min_merge: int = 1024,
        rmi_params: dict[str, Any] | None = None,
    ) -> None:
        check_float(merge_fraction, "merge_fraction", "DynamicIndex", low=0.0, closed="neither")
        check_int(min_merge, "min_merge", "DynamicIndex", low=1)
        self.merge_fraction = merge_fraction
        self.min_merge = min_merge
        self.dtype = dtype
        self.rmi_params = rmi_params  # as given (scikit-learn's convention); used as a dict copy
        arr = np.asarray(keys, dtype=dtype)
        if arr.size == 0 and dtype is None and not isinstance(keys, np.ndarray):
            arr = arr.astype(np.int64)
        base = prepare_keys(arr, "DynamicIndex")
        self._dtype = base.dtype
        self._ins = np.zeros(0, dtype=self._dtype)
        self._del = np.zeros(0, dtype=self._dtype)
        self._rebuild(base.copy())
        self.merges = 0

    def _rebuild(self, base: np.ndarray) -> None:
        self._base = base
        self._rmi = RMI(**dict(self.rmi_params or {})).fit(base)
        self._ins = np.zeros(0, dtype=self._dtype)
        self._del = np.zeros(0, dtype=self._dtype)

    def _scalar(self, key: Any) -> Any:
        q, below, above, scalar = prepare_queries(key, self._dtype)
        if not scalar:
            raise TypeError("insert/delete take one key; use insert_many for arrays")
        if (below is not None and below[0]) or (above is not None and above[0]):
            raise ValueError(f"key {key!r} does not fit the index dtype {self._dtype}")
        return q[0]

    def insert(self, key: Any) -> None:
        """Add one key (duplicates allowed). Amortised cost: O(buffer size)."""
        k = self._scalar(key)
        self._ins = np.insert(self._ins, np.searchsorted(self._ins, k, "left"), k)
        self._maybe_merge()

    def insert_many(self, keys: Any) -> None:
        """Add many keys at once (any order)."""
        q, below, above, _ = prepare_queries(keys, self._dtype)
        if (below is not None and below.any()) or (above is not None and above.any()):
            raise ValueError(f"some keys do not fit the index dtype {self._dtype}")
        self._ins = np.sort(np.concatenate([self._ins, q]), kind="stable")
        self._maybe_merge()

    def delete(self, key: Any) -> bool:
        """Remove one occurrence of ``key``; return False (and change nothing) if it is absent."""
        k = self._scalar(key)
        i = int(np.searchsorted(self._ins, k, "left"))
        if i < self._ins.shape[0] and self._ins[i] == k:
            self._ins = np.delete(self._ins, i)
            return True
        in_base = self._rmi.upper_bound(k) - self._rmi.lower_bound(k)
        j0 = int(np.searchsorted(self._del, k, "left"))
        j1 = int(np.searchsorted(self._del, k, "right"))
        if in_base - (j1 - j0) <= 0:
            return False
        self._del = np.insert(self._del, j0, k)
        self._maybe_merge()
        return True

    def _maybe_merge(self) -> None:
        pending = self._ins.shape[0] + self._del.shape[0]
        if pending >= max(self.min_merge, self.merge_fraction * self._base.shape[0]):
            self.merge()

    def merge(self) -> None:
        """Fold the buffers into a new base array and retrain the RMI."""
        self._rebuild(self.to_array())
        self.merges += 1

    def to_array(self) -> np.ndarray:
        """The current keys, sorted."""
        base = self._base
        if self._del.shape[0]:
            # remove one base occurrence per deleted key: the deleted copies of a value are its
            # first occurrences in the base
            starts = self._rmi.lower_bound(self._del)
            dups = np.arange(self._del.shape[0]) - np.searchsorted(self._del, self._del, "left")
            keep = np.ones(base.shape[0], dtype=bool)
            keep[starts + dups] = False
            base = base[keep]
        if self._ins.shape[0]:
            out = np.concatenate([base, self._ins])
            out.sort(kind="stable")
            return out
        return base.copy()

    def lower_bound(self, queries: Any) -> Any:
        """Number of current keys < each query (the position in :meth:`to_array`)."""
        return self._bound(queries, "left")

    def upper_bound(self, queries: Any) -> Any:
        """Number of current keys <= each query."""
        return self._bound(queries, "right")

    def _bound(self, queries: Any, side: str) -> Any:
        q, below, above, scalar = prepare_queries(queries, self._dtype)
        base = self._rmi.lower_bound(q) if side == "left" else self._rmi.upper_bound(q)
        s: Any = side
        out = base + np.searchsorted(self._ins, q, s) - np.searchsorted(self._del, q, s)
        if below is not None:
            out[below] = 0
        if above is not None:
            out[above] = len(self)
        return int(out[0]) if scalar else out.reshape(np.shape(queries))

    def contains(self, queries: Any) -> Any:
        """Whether each query is currently a key."""
        lo = np.atleast_1d(self.lower_bound(queries))
        hi = np.atleast_1d(self.upper_bound(queries))
        hit = hi > lo
        return bool(hit[0]) if np.ndim(queries) == 0 else hit.reshape(np.shape(queries))

    def __contains__(self, key: Any) -> bool:
        return bool(self.contains(key))

    def __len__(self) -> int:
        return int(self._base.shape[0] + self._ins.shape[0] - self._del.shape[0])

    def __iter__(self) -> Iterator[Any]:
        return iter(self.to_array().tolist())

    def size_in_bytes(self) -> int:
        """Model plus buffers (not the base keys)."""
        return int(self._rmi.size_in_bytes() + self._ins.nbytes + self._del.nbytes)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the current keys (merged) and parameters; versioned, checksummed, no pickle."""
        meta = {
            "merge_fraction": self.merge_fraction,
            "min_merge": self.min_merge,
            "rmi_params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(self.rmi_params or {}).items()},
        }
        _serialization.save(path, _KIND, 1, meta, {"keys": self.to_array()})


def load_dynamic(path: str | os.PathLike[str]) -> DynamicIndex:
    """Load a :class:`DynamicIndex` written by :meth:`DynamicIndex.save`."""
    _, meta, arrays = _serialization.load(path, _KIND, 1)
    try:
        rp = dict(meta["rmi_params"])
        if "nn_hidden" in rp:
            rp["nn_hidden"] = tuple(rp["nn_hidden"])
        return DynamicIndex(
            arrays["keys"],
            merge_fraction=meta["merge_fraction"],
            min_merge=meta["min_merge"],
            rmi_params=rp,
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise _serialization.FormatError(f"{str(path)!r} is not a valid DynamicIndex: {exc}") from None
