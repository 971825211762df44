"""Mode A: the auto-configured RMI against fixed configurations (root x leaves x leaf search) and
the learned and tree peers, one process, 5 interleaved rounds over 1M existing keys at 20M keys.

    python benchmarks/index/experiments/config_sweep_a.py normal
"""

import sys
import time

import numpy as np

from learnedsys.bench.index import _queries, make_keys
from learnedsys.index import RMI
from learnedsys.index._peers import Eytzinger, PGMIndex, RadixSpline

fam = sys.argv[1]
keys = make_keys(fam, 20_000_000, 0)
hit, _ = _queries(keys, 1_000_000, 0)
ref = np.searchsorted(keys, hit)
S = {}
auto = RMI(interleave=False).fit(keys)
print(
    "auto picks",
    auto.describe()["root"],
    auto.n_leaves_,
    auto.leaf_search_,
    sorted(auto.measured_, key=lambda t: t[3])[:6],
    flush=True,
)
S["auto"] = lambda: auto.lower_bound_serial(hit)
for root in ("linear", "grid", "cubic"):
    for L in (6250, 50000):
        for ls in ("binary", "exponential"):
            try:
                r = RMI(interleave=False, root=root, n_leaves=L, leaf_search=ls).fit(keys)
            except Exception as e:
                print(root, L, ls, e)
                continue
            S[f"{root} {L} {ls}"] = lambda r=r: r.lower_bound_serial(hit)
rs = RadixSpline(keys, eps=32, radix_bits=18)
pg = PGMIndex(keys, eps=64)
ey = Eytzinger(keys)
S["RS"] = lambda: rs.lower_bound_serial(hit)
S["PGM"] = lambda: pg.lower_bound_serial(hit)
S["Eyt"] = lambda: ey.lower_bound_serial(hit)
for k, f in S.items():
    assert np.array_equal(f(), ref), k
res = {k: [] for k in S}
for _ in range(5):
    for k, f in S.items():
        t = time.perf_counter()
        f()
        res[k].append((time.perf_counter() - t) / 1e6 * 1e9)
for k, v in sorted(res.items(), key=lambda kv: np.median(kv[1])):
    print(f"  {k:28s} {np.median(v):6.0f} ({min(v):.0f}-{max(v):.0f})")
