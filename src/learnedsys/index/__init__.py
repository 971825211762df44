"""Learned index structures over sorted keys.

- :class:`RMI`: a two-stage recursive model index (Kraska et al., SIGMOD 2018) with linear,
  cubic, spline or neural root, linear leaves with stored error bounds, a hybrid fallback to
  binary search for bad leaves, and interleaved numba lookups.
- :class:`DynamicIndex`: inserts and deletes on top of an RMI (a delta buffer merged and
  retrained periodically); ``lower_bound`` stays exact after any sequence of updates.
- :class:`BinarySearch`, :class:`BPlusTree`, :class:`Eytzinger`, :class:`BTree`, :class:`PGMIndex`,
  :class:`RadixSpline`: the peers the RMI is measured against (binary search, the Eytzinger layout,
  a 16-key-node B-tree, PGM-index, RadixSpline), as numba kernels in the RMI's style, each with a
  one-at-a-time ``lower_bound_serial`` and a batch ``lower_bound`` (16 lanes in lockstep for the
  comparison-based ones, a software pipeline for the learned ones, as for the RMI).
- :func:`load`: read an index written by ``save``.

>>> import numpy as np
>>> from learnedsys.index import RMI
>>> keys = np.array([1, 3, 3, 7, 10], dtype=np.int64)
>>> RMI().fit(keys).lower_bound(np.array([0, 3, 4, 11])).tolist()
[0, 1, 3, 5]
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from learnedsys._lazy import lazy_exports

if TYPE_CHECKING:
    from learnedsys._estimator import NotFittedError
    from learnedsys._serialization import FormatError
    from learnedsys.index._baselines import (
        BinarySearch,
        BPlusTree,
        BTree,
        Eytzinger,
        PGMIndex,
        RadixSpline,
    )
    from learnedsys.index._dynamic import DynamicIndex, load_dynamic
    from learnedsys.index._rmi import RMI, load_rmi

__all__ = [
    "RMI",
    "BPlusTree",
    "BTree",
    "BinarySearch",
    "DynamicIndex",
    "Eytzinger",
    "FormatError",
    "NotFittedError",
    "PGMIndex",
    "RadixSpline",
    "load",
    "load_dynamic",
    "load_rmi",
]

# names resolve on first use, so ``learnedsys index --help`` does not import numba
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "FormatError": "learnedsys._serialization",
        "NotFittedError": "learnedsys._estimator",
        "BinarySearch": "learnedsys.index._baselines",
        "BPlusTree": "learnedsys.index._baselines",
        "BTree": "learnedsys.index._baselines",
        "Eytzinger": "learnedsys.index._baselines",
        "PGMIndex": "learnedsys.index._baselines",
        "RadixSpline": "learnedsys.index._baselines",
        "DynamicIndex": "learnedsys.index._dynamic",
        "load_dynamic": "learnedsys.index._dynamic",
        "RMI": "learnedsys.index._rmi",
        "load_rmi": "learnedsys.index._rmi",
    },
)


def load(path: str | os.PathLike[str]) -> Any:
    """Load an :class:`RMI` or :class:`DynamicIndex` written by its ``save``.

    Raises:
        FormatError: the file is truncated, corrupted, of another kind or of a newer version.
    """
    from learnedsys._serialization import FormatError, read_kind
    from learnedsys.index._dynamic import _KIND as DYNAMIC_KIND
    from learnedsys.index._dynamic import load_dynamic
    from learnedsys.index._rmi import _KIND as RMI_KIND
    from learnedsys.index._rmi import load_rmi

    kind = read_kind(path)
    if kind == RMI_KIND:
        return load_rmi(path)
    if kind == DYNAMIC_KIND:
        return load_dynamic(path)
    raise FormatError(f"{str(path)!r} holds a {kind!r}, not a learned index")
