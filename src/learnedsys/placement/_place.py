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


def structural_partitions(graph: OpGraph) -> list[np.ndarray]:
    """Groups that follow the model's structure: module path prefixes of growing depth (the
    whole ``decoder``, then ``decoder.3``...), each split further by layer tag."""
    out = []
    assert graph.layer is not None
    depth = max((m.count(".") + 1 for m in graph.modules if m), default=0)
    seen = set()
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
    time_budget: float = 120.0,
    anneal_steps: int = 20000,
    simulator: Simulator | None = None,
) -> Placement:
    """Search a placement of ``graph`` on ``cluster``.

    Args:
        graph: the operation graph.
        cluster: devices and links.
        method: one of :data:`METHODS`. ``default`` runs every heuristic and both learned
            placers (with these same settings), keeps the fastest feasible placement, and polishes
            it with local search against the simulator: by construction it is never slower than
            any named method on the same graph with the same seed.
        seed: random seed of the learned placers and METIS.
        iterations, batch: policy-gradient iterations and samples per iteration (rl,
            hierarchical); cost ``iterations * batch`` simulator calls each.
        n_groups: co-located groups of the RL policy (default ``min(256, 20 x devices)``, at most
            the number of operations).
        time_budget: seconds of wall clock for each learned placer and for the local search (a
            safety cap: with a cap that is reached, results depend on the machine's speed).
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


def _default(sim: Simulator, k: int, seed: int, iterations: int, batch: int, time_budget: float, anneal_steps: int) -> tuple[np.ndarray, dict[str, Any]]:
    cands: dict[str, tuple[np.ndarray, float]] = {}
    for name in HEURISTICS:
        dv = _heuristic(name, sim, seed)
        cands[name] = (dv, sim.cost(dv))
    groups = _groups(sim, k, seed)
    init = H.single(sim)
    dv, c, _ = reinforce(sim, groups, iterations=iterations, batch=batch, seed=seed, init=init, time_budget=time_budget)
    cands["rl"] = (dv, c)
    dv, c, _ = hierarchical(sim, n_groups=k, iterations=iterations, batch=batch, seed=seed, init=init, time_budget=time_budget)
    cands["hierarchical"] = (dv, c)
    start_name = min(cands, key=lambda m: cands[m][1])
    incumbent, inc_cost = cands[start_name]
    # RL started from the incumbent, then local search over groups of several granularities
    dv, c, _ = reinforce(sim, groups, iterations=iterations, batch=batch, seed=seed + 1, init=incumbent, time_budget=time_budget)
    if c < inc_cost:
        incumbent, inc_cost = dv, c
    n = sim.graph.n_nodes
    parts = structural_partitions(sim.graph)
    for kk in (4, 16, 64):
        if kk < n:
            parts.append(_groups(sim, kk, seed))
    parts.append(groups)
    dv, c, ls_info = local_search(sim, incumbent, parts, time_budget=time_budget, seed=seed, anneal_steps=anneal_steps)
    if c < inc_cost:
        incumbent, inc_cost = dv, c
    return incumbent, {
        "start": start_name,
        "candidates": {m: (v[1] if np.isfinite(v[1]) else None) for m, v in cands.items()},
        "local_search": ls_info,
    }
