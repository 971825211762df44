"""Cold compile time of the RMI's lookup kernels, one key type, in a fresh numba cache.

    python benchmarks/index/compile_time.py --dtype int64

Each kernel is called once on a tiny model; the time of that first call is numba compiling it
(and whatever it calls that is not compiled yet, so the order matters: it is the order below).
The numba cache goes to a fresh temporary folder, so nothing is reused from earlier runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

KERNELS = ("lookup_serial", "lookup_serial_spline", "search_many", "search_many_spline", "lookup_partitioned",
           "lookup_partitioned_spline", "lookup_parallel", "lookup_parallel_spline")

_CHILD = """
import sys, time
import numpy as np
from learnedsys.index import _kernels as K
keys = np.arange(1000).astype(sys.argv[1])
params, leaves = np.array([1.0, 0.0]), np.zeros((4, 4))
for name in sys.argv[2:]:
    f = getattr(K, name)
    extra = (4, 16) if name.startswith("lookup_partitioned") else () if name.startswith("search_many") else (True, 16)
    t = time.perf_counter()
    f(0, params, leaves, keys, keys, 0, *extra)
    print(f"{name:28s} {time.perf_counter() - t:6.1f} s", flush=True)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="int64", help="key type (int64, uint64, float64, int32, ...)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        subprocess.run([sys.executable, "-c", _CHILD, args.dtype, *KERNELS], env=env, check=True)


if __name__ == "__main__":
    main()
