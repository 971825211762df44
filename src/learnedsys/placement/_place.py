"""``place(graph, cluster, method=...)``: one entry point for every placer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from learnedsys._validation import check_choice, check_float, check_int, check_seed
from learnedsys.placement import _heuristics as H
from learnedsys.placement._cluster import Cluster
from learnedsys.placement._graph import OpGraph
from learnedsys.placement._learned import hierarchical, local_search, reinforce
from learnedsys.placement._placement import Placement
from learnedsys.placement._simulator import Simulator

__all__ = ["HEURISTICS", "METHODS", "place"]

#: Placers that do not search with the simulator (seconds at most).
HEURISTICS: tuple[str, ...] = ("single", "expert", "metis", "m-topo", "m-etf", "m-sct")
#: Every method :func:`place` accepts; ``default`` is the best we have.
METHODS: tuple[str, ...] = (*HEURISTICS, "rl", "hierarchical", "default")


def _groups(sim: Simulator, k: int, seed: int) -> np.ndarray:
    n = sim.graph.n_nodes
    k = max(1, min(k, n // 4))
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    return H.metis_parts(sim, k, seed=seed, weighted=False)


def chain_partition(graph: OpGraph) -> np.ndarray:
    """Groups of operations joined by every edge whose producer has one consumer or whose
    consumer has one input (an operation and its private producers/consumers move together)."""
    n = graph.n_nodes
    parent = np.arange(n)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = int(parent[x])
        return x

    outdeg = np.bincount(graph.edge_src, minlength=n)
    indeg = np.bincount(graph.edge_dst, minlength=n)
    for s, d in zip(graph.edge_src.tolist(), graph.edge_dst.tolist(), strict=True):
        if outdeg[s] == 1 or indeg[d] == 1:
            parent[find(s)] = find(d)
    roots = np.array([find(i) for i in range(n)])
    return np.asarray(np.unique(roots, return_inverse=True)[1], dtype=np.int64).ravel()


def structural_partitions(graph: OpGraph) -> list[np.ndarray]:
    """Groups that follow the model's structure: chains of private producers and consumers
    (:func:`chain_partition`), then module path prefixes of growing depth (the whole
    ``decoder``, then ``decoder.3``...), each split further by layer tag."""
    out = []
    chains = chain_partition(graph)
    if 1 <= chains.max() < graph.n_nodes - 1:
        out.append(chains)
    assert graph.layer is not None
    depth = max((m.count(".") + 1 for m in graph.modules if m), default=0)
    seen = {tuple(o.tolist()) for o in out}
    for k in range(1, min(depth, 4) + 1):
        keys = [".".join(m.split(".")[:k]) + f"@{lay}" for m, lay in zip(graph.modules, graph.layer.tolist(), strict=True)]
        labels = np.unique(np.asarray(keys), return_inverse=True)[1].ravel().astype(np.int64)
        sig = tuple(labels.tolist())
        if labels.max() >= 1 and sig not in seen:
            seen.add(sig)
            out.append(labels)
    return out


def _heuristic(name: str, sim: Simulator, seed: int) -> np.ndarray:
    fn: dict[str, Callable[[], np.ndarray]] = {
        "single": lambda: H.single(sim),
        "expert": lambda: H.expert(sim),
        "metis": lambda: H.metis(sim, seed=seed),
        "m-topo": lambda: H.topo(sim),
        "m-etf": lambda: H.etf(sim),
        "m-sct": lambda: H.sct(sim),
    }
    return fn[name]()


def place(
    graph: OpGraph,
    cluster: Cluster,
    method: str = "default",
    *,
    seed: int | None = 0,
    iterations: int = 150,
    batch: int = 8,
    n_groups: int | None = None,
    time_budget: float = 240.0,
    anneal_steps: int = 20000,
    simulator: Simulator | None = None,
) -> Placement:
    """Search a placement of ``graph`` on ``cluster``.

    Args:
        graph: the operation graph.
        cluster: devices and links.
        method: one of :data:`METHODS`. ``default`` runs every heuristic and both learned
            placers (with these same settings), descends (group and operation moves against the
            simulator) from the three best distinct placements, and anneals from the best: by
            construction it is never slower than any named method on the same graph and seed.
        seed: random seed of the learned placers and METIS.
        iterations, batch: policy-gradient iterations and samples per iteration (rl,
            hierarchical); cost ``iterations * batch`` simulator calls each.
        n_groups: co-located groups of the RL policy (default ``min(256, 20 x devices)``, at most
            the number of operations).
        time_budget: seconds of wall clock for a learned placer, or for the whole default search
            (a safety cap: when it is reached, results depend on the machine's speed).
        anneal_steps: simulated-annealing moves of the default's local search (one simulator
            call each); the main knob of the default's search time.
        simulator: a prepared :class:`Simulator` (to choose training/inference or op times).

    Returns:
        A :class:`Placement` with its simulated step time and search time.
    """
    check_choice(method, "method", "place", METHODS)
    seed = check_seed(seed, "seed", "place") or 0
    iterations = check_int(iterations, "iterations", "place", low=1)
    batch = check_int(batch, "batch", "place", low=1)
    check_int(n_groups, "n_groups", "place", low=1, none_ok=True)
    time_budget = check_float(time_budget, "time_budget", "place", low=0.0)
    anneal_steps = check_int(anneal_steps, "anneal_steps", "place", low=0)
    sim = simulator if simulator is not None else Simulator(graph, cluster)
    k = n_groups or min(256, 20 * cluster.n_devices)
    t0 = time.perf_counter()
    info: dict[str, Any] = {}
    if method in HEURISTICS:
        dev = _heuristic(method, sim, seed)
    elif method == "rl":
        init = H.single(sim)
        dev, _, info = reinforce(sim, _groups(sim, k, seed), iterations=iterations, batch=batch, seed=seed, init=init, time_budget=time_budget)
    elif method == "hierarchical":
        init = H.single(sim)
        dev, _, info = hierarchical(sim, n_groups=k, iterations=iterations, batch=batch, seed=seed, init=init, time_budget=time_budget)
    else:
        dev, info = _default(sim, k, seed, iterations, batch, time_budget, anneal_steps)
    elapsed = time.perf_counter() - t0
    res = sim(dev)
    return Placement(
        devices=dev, method=method, step_time=res.step_time, feasible=res.feasible, search_seconds=elapsed,
        device_names=[d.name for d in cluster.devices], info=info,
    )


def _default(sim: Simulator, k: int, seed: int, iterations: int, batch: int, time_budget: float, anneal_steps: int, starts: int = 3) -> tuple[np.ndarray, dict[str, Any]]:
    t0 = time.perf_counter()
    cands: dict[str, tuple[np.ndarray, float]] = {}
    for name in HEURISTICS:
        dv = _heuristic(name, sim, seed)
        cands[name] = (dv, sim.cost(dv))
    groups = _groups(sim, k, seed)
    init = H.single(sim)
    # the named learned placers, exactly as place() runs them: the default cannot lose to them
    dv, c, _ = reinforce(sim, groups, iterations=iterations, batch=batch, seed=seed, init=init, time_budget=time_budget)
    cands["rl"] = (dv, c)
    dv, c, _ = hierarchical(sim, n_groups=k, iterations=iterations, batch=batch, seed=seed, init=init, time_budget=time_budget)
    cands["hierarchical"] = (dv, c)
    ranked = sorted(cands, key=lambda m: (cands[m][1], METHODS.index(m)))
    incumbent, inc_cost = cands[ranked[0]]
    n = sim.graph.n_nodes
    parts = structural_partitions(sim.graph)
    for kk in (4, 16, 64):
        if kk < n:
            parts.append(_groups(sim, kk, seed))
    parts.append(groups)
    # multi-start descent from the best distinct candidates, then annealing from the best result
    left = max(0.0, time_budget - (time.perf_counter() - t0))
    tried: list[np.ndarray] = []
    descents = {}
    for name in ranked:
        if len(tried) >= starts:
            break
        dv = cands[name][0]
        if any(np.array_equal(dv, t) for t in tried) or not np.isfinite(cands[name][1]):
            continue
        tried.append(dv)
        dv, c, _ = local_search(sim, dv, parts, time_budget=left / (2 * starts), seed=seed, anneal_steps=0)
        descents[name] = c
        if c < inc_cost:
            incumbent, inc_cost = dv, c
    left = max(0.0, time_budget - (time.perf_counter() - t0))
    dv, c, ls_info = local_search(sim, incumbent, parts, time_budget=left, seed=seed, anneal_steps=anneal_steps)
    if c < inc_cost:
        incumbent, inc_cost = dv, c
    return incumbent, {
        "start": ranked[0],
        "candidates": {m: (v[1] if np.isfinite(v[1]) else None) for m, v in cands.items()},
        "descents": descents,
        "local_search": ls_info,
    }
