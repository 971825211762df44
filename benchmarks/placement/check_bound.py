"""Check the critical-path bound of ``goals.py`` independently (issue 5: is 20 % better than the
expert reachable on Inception-V3 / k80x4?).

    .venv/bin/python benchmarks/placement/check_bound.py [inception_v3 nmt4 ...]

Three computations of the longest path of the training step with free communication:

1. ``goals.bounds`` (dynamic programming over the simulator's training graph, each operation on
   its fastest device);
2. a longest path over a DAG rebuilt here from the documented semantics of
   ``OpGraph.training`` (forward edges, reversed gradient edges, saved inputs of each consumer's
   backward, each operation's own output for its backward; backward = 2 x forward), with plain
   Python dictionaries, each operation on its fastest device and, separately, on a GPU;
3. the simulator itself on a cluster with one GPU per operation and free links (each operation,
   forward and backward, alone on its own device).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from learnedsys.placement import Cluster, Device, OpGraph, Simulator, models
from learnedsys.placement._capture import capture

sys.path.insert(0, str(Path(__file__).parent))
from goals import bounds


def longest_path(g: OpGraph, fwd: np.ndarray, bwd: np.ndarray) -> float:
    n = g.n_nodes
    preds: dict[tuple[str, int], list[tuple[str, int]]] = defaultdict(list)
    for i in range(n):
        preds[("b", i)].append(("f", i))
    for s, d in zip(g.edge_src.tolist(), g.edge_dst.tolist(), strict=True):
        preds[("f", d)].append(("f", s))  # forward data
        preds[("b", s)].append(("b", d))  # gradient flows back
        preds[("b", d)].append(("f", s))  # saved input of the consumer's backward
    order = [("f", i) for i in range(n)] + [("b", i) for i in reversed(range(n))]
    fin: dict[tuple[str, int], float] = {}
    for v in order:
        w = fwd[v[1]] if v[0] == "f" else bwd[v[1]]
        fin[v] = max((fin[u] for u in preds[v]), default=0.0) + w
    return max(fin.values())


def main() -> None:
    names = sys.argv[1:] or ["inception_v3"]
    cluster = Cluster.preset("k80x4")
    gpu = cluster.devices[cluster.gpus[0]]
    for name in names:
        m, x = getattr(models, name)()
        g = capture(m, x, name=name)
        sim = Simulator(g, cluster)
        cp, work = bounds(sim)
        t = cluster.op_times(g.flops, g.mem_bytes)
        lp_fast = longest_path(g, t.min(axis=1), 2.0 * t.min(axis=1))
        lp_gpu = longest_path(g, t[:, cluster.gpus[0]], 2.0 * t[:, cluster.gpus[0]])
        n = g.n_nodes
        many = Cluster([Device(f"g{i}", gpu.flops, 1e18, gpu.mem_bandwidth, gpu.overhead) for i in range(n)], np.full((n, n), 1e30), np.zeros((n, n)))
        sim_cp = Simulator(g, many)(np.arange(n)).step_time
        print(
            f"{name}: goals.bounds critical path {cp * 1e3:.3f} ms (work bound {work * 1e3:.3f} ms); "
            f"rebuilt DAG {lp_fast * 1e3:.3f} ms (fastest device), {lp_gpu * 1e3:.3f} ms (GPU); "
            f"simulator, one GPU per operation, free links {sim_cp * 1e3:.3f} ms"
        )


if __name__ == "__main__":
    main()
