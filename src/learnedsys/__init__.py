"""learnedsys: machine learning in the core of computer systems.

Five parts, one subpackage each:

- :mod:`learnedsys.index`: a recursive model index (RMI) over sorted keys.
- :mod:`learnedsys.bloom`: learned Bloom filters (learned, sandwiched, partitioned).
- :mod:`learnedsys.decide`: choose in context now, learn from feedback later.
- :mod:`learnedsys.placement`: place a PyTorch model's operations on devices.
- :mod:`learnedsys.nas`: neural architecture search.

A tour of the learned index:

>>> import numpy as np
>>> from learnedsys.index import RMI
>>> keys = np.sort(np.random.default_rng(0).integers(0, 10**9, 10_000).astype(np.uint64))
>>> index = RMI().fit(keys)
>>> queries = keys[[0, 17, 9_999]]
>>> bool((index.lower_bound(queries) == np.searchsorted(keys, queries)).all())
True

Importing this package imports neither torch nor ray; the parts that need them import them at
first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
