"""``place(graph, cluster, method=...)``: one entry point for every placer."""

from __future__ import annotations

import itertools
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
from learnedsys.policy import Policy

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


def _union_labels(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Connected components (labels 0..k-1) of the nodes ``0..n-1`` joined by the edges ``src -> dst``."""
    parent = np.arange(n)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = int(parent[x])
        return x

    for s, d in zip(src.tolist(), dst.tolist(), strict=True):
        parent[find(s)] = find(d)
    roots = np.array([find(i) for i in range(n)])
    return np.asarray(np.unique(roots, return_inverse=True)[1], dtype=np.int64).ravel()


def chain_partition(graph: OpGraph) -> np.ndarray:
    """Groups of operations joined by every edge whose producer has one consumer or whose
    consumer has one input (an operation and its private producers/consumers move together)."""
    n = graph.n_nodes
    outdeg = np.bincount(graph.edge_src, minlength=n)
    indeg = np.bincount(graph.edge_dst, minlength=n)
    keep = (outdeg[graph.edge_src] == 1) | (indeg[graph.edge_dst] == 1)
    return _union_labels(n, graph.edge_src[keep], graph.edge_dst[keep])


def _module_labels(graph: OpGraph) -> np.ndarray:
    """A label per (module path, layer tag); operations of the top level (module ``""``: glue such as
    residual additions, concatenations) take the label of their most recent input."""
    assert graph.layer is not None
    keys = [f"{m}@{lay}" for m, lay in zip(graph.modules, graph.layer.tolist(), strict=True)]
    labels = np.unique(np.asarray(keys), return_inverse=True)[1].ravel().astype(np.int64)
    preds = graph.predecessors()
    for i, m in enumerate(graph.modules):
        if m == "" and preds[i].size:
            labels[i] = labels[int(preds[i].max())]
    return labels


def parameter_partition(graph: OpGraph) -> np.ndarray:
    """Each parameter (an input-free operation that owns parameter bytes) with every operation that
    reads it - e.g. one LSTM layer's input projections over all time steps - as one group (so a
    weight and all its uses move together, without copying the weight or its gradients); every
    other operation grouped by module (:func:`_module_labels`)."""
    n = graph.n_nodes
    indeg = np.bincount(graph.edge_dst, minlength=n)
    is_param = (graph.param_bytes > 0) & (indeg == 0)
    keep = is_param[graph.edge_src]
    comp = _union_labels(n, graph.edge_src[keep], graph.edge_dst[keep])
    grouped = np.bincount(comp, minlength=n)[comp] > 1
    labels = np.where(grouped, comp, n + _module_labels(graph))
    return np.asarray(np.unique(labels, return_inverse=True)[1], dtype=np.int64).ravel()


def segment_partition(graph: OpGraph, segments: int) -> np.ndarray:
    """Each module's operations (:func:`_module_labels`) cut into ``segments`` contiguous runs in
    topological order: for an unrolled recurrent layer, ranges of time steps."""
    base = _module_labels(graph)
    out = np.zeros(graph.n_nodes, dtype=np.int64)
    nxt = 0
    for j in np.unique(base):
        idx = np.flatnonzero(base == j)
        k = min(segments, idx.size)
        out[idx] = nxt + (np.arange(idx.size) * k) // idx.size
        nxt += k
    return out


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


def _independent(succ: list[np.ndarray], ops: np.ndarray) -> bool:
    """Whether no operation of ``ops`` depends on another one (their uses are parallel, like a
    layer's input projections at every time step; unlike a recurrent weight's)."""
    targets = np.zeros(len(succ), dtype=bool)
    targets[ops] = True
    seen = np.zeros(len(succ), dtype=bool)
    stack = [int(v) for u in ops.tolist() for v in succ[u]]
    while stack:
        u = stack.pop()
        if seen[u]:
            continue
        if targets[u]:
            return False
        seen[u] = True
        stack.extend(int(v) for v in succ[u])
    return True


def shifted_candidates(sim: Simulator, base: np.ndarray, limit: int = 4096, keep: int = 3) -> list[tuple[float, np.ndarray]]:
    """Structured starting points: ``base`` (typically the expert's layer-wise placement) with the
    parameter groups of :func:`parameter_partition` (a weight and all its uses) whose uses are
    independent of each other moved ``o`` GPUs further along, one offset per top-level module
    (``encoder``, ``decoder``, ``attention``...): e.g. a decoder layer's input projections over
    all time steps on another GPU than the layer's recurrence. Every offset combination when there
    are at most ``limit`` (one simulation each), otherwise one common offset and each module's
    offsets alone. Returns the ``keep`` best as (cost, devices)."""
    g = sim.graph
    gpus = np.asarray(sim.cluster.gpus, dtype=np.int64)
    G = gpus.size
    if G < 2:
        return []
    labels = parameter_partition(g)
    indeg = np.bincount(g.edge_dst, minlength=g.n_nodes)
    is_param = (g.param_bytes > 0) & (indeg == 0)
    rank = np.full(sim.cluster.n_devices, -1, dtype=np.int64)
    rank[gpus] = np.arange(G)
    succ = g.successors()
    by_top: dict[str, list[tuple[np.ndarray, int]]] = {}
    for j in np.unique(labels[is_param]):
        members = np.flatnonzero(labels == j)
        uses = members[~is_param[members]]
        home = int(rank[base[members[is_param[members]][0]]])
        if uses.size == 0 or home < 0 or not _independent(succ, uses):
            continue
        top = g.modules[int(members[0])].split(".")[0]
        by_top.setdefault(top, []).append((members, home))
    tops = sorted(by_top)
    if not tops:
        return []
    if G ** len(tops) <= limit:
        combos = list(itertools.product(range(G), repeat=len(tops)))
    else:
        combos = [(o,) * len(tops) for o in range(G)]
        combos += [tuple(o if t == i else 0 for t in range(len(tops))) for i in range(len(tops)) for o in range(1, G)]
    scored: list[tuple[float, int, np.ndarray]] = []
    for combo in combos:
        if not any(combo):
            continue
        dev = base.copy()
        for top, o in zip(tops, combo, strict=True):
            for members, home in by_top[top]:
                dev[members] = gpus[(home + o) % G]
        scored.append((sim.cost(dev), len(scored), dev))
    scored.sort(key=lambda x: x[:2])
    out: list[tuple[float, np.ndarray]] = []
    for c, _, dv in scored:  # the best ones that differ from each other in >= 2 % of the operations
        if len(out) < keep and all(np.mean(dv != o) >= 0.02 for _, o in out):
            out.append((c, dv))
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
    method: str | Policy = "default",
    *,
    seed: int | None = 0,
    iterations: int = 150,
    batch: int = 8,
    n_groups: int | None = None,
    time_budget: float = 240.0,
    anneal_steps: int = 20000,
    kicks: int = 30,
    simulator: Simulator | None = None,
    warm_start: bool = True,
    shortlist: int = 1,
) -> Placement:
    """Search a placement of ``graph`` on ``cluster``.

    Args:
        graph: the operation graph.
        cluster: devices and links.
        method: one of :data:`METHODS`, or any :class:`~learnedsys.policy.Policy` (unbound; it
            takes rl's place: one position per co-located group, one option per device, the same
            warm start, rewards and budget). ``default`` runs every heuristic and both learned
            placers (with these same settings) and builds structured starting points (the
            expert with weight groups shifted, :func:`shifted_candidates`); descends (moves of
            weight groups, time-step ranges, module and METIS groups, boundary operations,
            against the simulator) from the five best distinct placements; anneals from the best,
            then iterated local search (``kicks``): by construction it is never slower than any
            named method on the same graph and seed.
        seed: random seed of the learned placers and METIS.
        iterations, batch: policy-gradient iterations and samples per iteration (rl,
            hierarchical); cost ``iterations * batch`` simulator calls each.
        n_groups: co-located groups of the RL policy (default ``min(256, 20 x devices)``, at most
            the number of operations).
        time_budget: seconds of wall clock for a learned placer, or for the whole default search
            (a safety cap: when it is reached, results depend on the machine's speed).
        anneal_steps: simulated-annealing moves of the default's local search (one simulator
            call each).
        kicks: iterated-local-search rounds of the default after annealing (a random
            perturbation of three groups, then a descent each); with ``anneal_steps`` and the
            number of operations, the main knob of the default's search time.
        simulator: a prepared :class:`Simulator` (to choose training/inference or op times).
        warm_start: rl and hierarchical start from the best structured placement under the
            simulator (every heuristic, and the expert with weight groups shifted across devices:
            :func:`shifted_candidates`) instead of the single-device placement; their result is
            then never slower than any heuristic. ``False``: the papers' cold start.
        shortlist: the default method keeps the ``shortlist`` simulated-fastest distinct
            placements it met (every candidate, every descent's end, the final one) in
            ``info["shortlist"]``: ``{"source", "step_time", "devices"}`` each, fastest first.
            :func:`~learnedsys.placement.place_measured` runs them for real and keeps the
            fastest measured. Ignored by the other methods.

    Returns:
        A :class:`Placement` with its simulated step time and search time.
    """
    user_policy = method if isinstance(method, Policy) else None
    if user_policy is None:
        check_choice(method, "method", "place", METHODS)
    seed = check_seed(seed, "seed", "place") or 0
    iterations = check_int(iterations, "iterations", "place", low=1)
    batch = check_int(batch, "batch", "place", low=1)
    check_int(n_groups, "n_groups", "place", low=1, none_ok=True)
    time_budget = check_float(time_budget, "time_budget", "place", low=0.0)
    anneal_steps = check_int(anneal_steps, "anneal_steps", "place", low=0)
    kicks = check_int(kicks, "kicks", "place", low=0)
    shortlist = check_int(shortlist, "shortlist", "place", low=1)
    sim = simulator if simulator is not None else Simulator(graph, cluster)
    k = n_groups or min(256, 20 * cluster.n_devices)
    t0 = time.perf_counter()
    info: dict[str, Any] = {}
    if method in HEURISTICS:
        dev = _heuristic(method, sim, seed)
    elif user_policy is not None or method in ("rl", "hierarchical"):
        start, init = _warm_start(sim, seed) if warm_start else ("single", H.single(sim))
        moves = _WARM_MOVES if warm_start else None
        if user_policy is not None or method == "rl":
            dev, _, info = reinforce(sim, _groups(sim, k, seed), iterations=iterations, batch=batch, seed=seed, init=init,
                                     time_budget=time_budget, moves=moves, policy=user_policy)
        else:
            dev, _, info = hierarchical(sim, n_groups=k, iterations=iterations, batch=batch, seed=seed, init=init, time_budget=time_budget, moves=moves)
        info["start"] = start
    else:
        dev, info = _default(sim, k, seed, iterations, batch, time_budget, anneal_steps, kicks, warm_start, shortlist=shortlist)
    elapsed = time.perf_counter() - t0
    res = sim(dev)
    return Placement(
        devices=dev, method=str(method) if user_policy is None else type(user_policy).__name__, step_time=res.step_time, feasible=res.feasible, search_seconds=elapsed,
        device_names=[d.name for d in cluster.devices], info=info,
    )


#: Groups a warm-started learned placer's sample moves away from its start, on average.
_WARM_MOVES = 4.0


def _warm_start(sim: Simulator, seed: int) -> tuple[str, np.ndarray]:
    """The fastest structured placement under ``sim``: every heuristic and the expert with weight
    groups shifted (:func:`shifted_candidates`); ties go to the first in that order."""
    cands = [(m, _heuristic(m, sim, seed)) for m in HEURISTICS]
    expert = dict(cands)["expert"]
    cands += [(f"shifted-expert-{i}", dv) for i, (_, dv) in enumerate(shifted_candidates(sim, expert))]
    best = min(((sim.cost(dv), i, name, dv) for i, (name, dv) in enumerate(cands)), key=lambda x: x[:2])
    return best[2], best[3]


def _default(sim: Simulator, k: int, seed: int, iterations: int, batch: int, time_budget: float, anneal_steps: int, kicks: int, warm_start: bool = True, starts: int = 5, shortlist: int = 1) -> tuple[np.ndarray, dict[str, Any]]:
    t0 = time.perf_counter()
    cands: dict[str, tuple[np.ndarray, float]] = {}
    for name in HEURISTICS:
        dv = _heuristic(name, sim, seed)
        cands[name] = (dv, sim.cost(dv))
    groups = _groups(sim, k, seed)
    # the learned placers start as place() starts them (the best structured placement, or one device)
    init = _warm_start(sim, seed)[1] if warm_start else H.single(sim)
    # the named learned placers, exactly as place() runs them: the default cannot lose to them
    moves = _WARM_MOVES if warm_start else None
    dv, c, _ = reinforce(sim, groups, iterations=iterations, batch=batch, seed=seed, init=init, time_budget=time_budget, moves=moves)
    cands["rl"] = (dv, c)
    dv, c, _ = hierarchical(sim, n_groups=k, iterations=iterations, batch=batch, seed=seed, init=init, time_budget=time_budget, moves=moves)
    cands["hierarchical"] = (dv, c)
    # structured starting points: the expert with weight groups shifted (best of them)
    for i, (c, dv) in enumerate(shifted_candidates(sim, cands["expert"][0])):
        cands[f"shifted-expert-{i}"] = (dv, c)
    order = [*METHODS, *(f"shifted-expert-{i}" for i in range(len(cands)))]
    ranked = sorted(cands, key=lambda m: (cands[m][1], order.index(m)))
    incumbent, inc_cost = cands[ranked[0]]
    n = sim.graph.n_nodes
    # weight groups and time-step ranges first, then the model's structure, then METIS parts
    parts = [parameter_partition(sim.graph), *(segment_partition(sim.graph, s) for s in (20, 5, 2))]
    parts += structural_partitions(sim.graph)
    for kk in (4, 16, 64):
        if kk < n:
            parts.append(_groups(sim, kk, seed))
    parts.append(groups)
    # multi-start descent from the best distinct candidates, then annealing and kicks from the best
    left = max(0.0, time_budget - (time.perf_counter() - t0))
    tried: list[np.ndarray] = []
    descents = {}
    ends: list[tuple[str, np.ndarray, float]] = []
    for name in ranked:
        if len(tried) >= starts:
            break
        dv = cands[name][0]
        if any(np.array_equal(dv, t) for t in tried) or not np.isfinite(cands[name][1]):
            continue
        tried.append(dv)
        dv, c, _ = local_search(sim, dv, parts, time_budget=left / (2 * starts), seed=seed, anneal_steps=0)
        descents[name] = c
        ends.append((f"descent-from-{name}", dv, c))
        if c < inc_cost:
            incumbent, inc_cost = dv, c
    left = max(0.0, time_budget - (time.perf_counter() - t0))
    dv, c, ls_info = local_search(sim, incumbent, parts, time_budget=left, seed=seed, anneal_steps=anneal_steps, kicks=kicks)
    if c < inc_cost:
        incumbent, inc_cost = dv, c
    info: dict[str, Any] = {
        "start": ranked[0],
        "candidates": {m: (v[1] if np.isfinite(v[1]) else None) for m, v in cands.items()},
        "descents": descents,
        "local_search": ls_info,
    }
    if shortlist > 1:
        pool = [("default", incumbent, inc_cost), *ends, *((m, cands[m][0], cands[m][1]) for m in ranked)]
        info["shortlist"] = _distinct_best(pool, shortlist)
    return incumbent, info


def _distinct_best(pool: list[tuple[str, np.ndarray, float]], n: int) -> list[dict[str, Any]]:
    """The ``n`` fastest distinct feasible placements of ``pool`` (first source kept on ties)."""
    out: list[dict[str, Any]] = []
    seen: set[bytes] = set()
    for i in sorted(range(len(pool)), key=lambda i: (pool[i][2], i)):
        src, dv, c = pool[i]
        key = np.asarray(dv, dtype=np.int64).tobytes()
        if key in seen or not np.isfinite(c):
            continue
        seen.add(key)
        out.append({"source": src, "step_time": float(c), "devices": np.asarray(dv, dtype=np.int64).tolist()})
        if len(out) == n:
            break
    return out
