"""Mode C A/B of commit 5ecee4f: RMI.lower_bound's per-key path before (six attribute reads,
the body copied here) and after (one tuple read), on the same fitted index in one process,
alternating rounds, CPU time per call (process_time, so another job's load is not counted).

Usage: python benchmarks/index/mode_c_ab.py [N_KEYS]     # default 2,000,000 uniform keys, ~20 s
"""

from __future__ import annotations

import statistics as st
import sys
import time
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from learnedsys.index import RMI


def old_lower_bound(self: Any, queries: Any) -> Any:
    """RMI.lower_bound as it was before commit 5ecee4f."""
    t = type(queries)
    if (t is int and self._int_lo <= queries <= self._int_hi) or (t in self._fast_types and queries == queries):
        return self._entry(self._root_kind, self._model, self.keys_, queries, 0)
    return self._bound(queries, 0)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 2**50, size=n, dtype=np.uint64))
    index = RMI(interleave=False).fit(keys)
    new = index.lower_bound
    old = types.MethodType(old_lower_bound, index)
    qs = [int(x) for x in keys[rng.integers(0, len(keys), 50_000)]]
    expected = np.searchsorted(keys, np.array(qs, dtype=np.uint64)).tolist()
    assert [new(q) for q in qs] == expected and [old(q) for q in qs] == expected

    def cpu_ns(f: Callable[[int], Any]) -> float:
        t = time.process_time()
        for q in qs:
            f(q)
        return (time.process_time() - t) / len(qs) * 1e9

    for f in (old, new, old, new):  # warm-up
        cpu_ns(f)
    olds, news, ratios = [], [], []
    for _ in range(41):
        a, b = cpu_ns(old), cpu_ns(new)
        olds.append(a)
        news.append(b)
        ratios.append(b / a)
    q25, q75 = np.percentile(ratios, [25, 75])
    print(f"{len(keys):,} keys: old {st.median(olds):.0f} ns, new {st.median(news):.0f} ns CPU per call; "
          f"new/old paired median {st.median(ratios):.3f} (IQR {q25:.3f}-{q75:.3f}, 41 rounds)")


if __name__ == "__main__":
    main()
