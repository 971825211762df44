"""Placement heuristics: single device, the human expert, METIS min-cut, Baechi's m-TOPO, m-ETF
and m-SCT. Each takes a :class:`Simulator` (graph + cluster + cost model) and returns one device
index per operation; none runs the simulator in a loop, so all take seconds at most.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from learnedsys._lazy import require
from learnedsys.placement._simulator import Simulator

__all__ = ["etf", "expert", "metis", "sct", "single", "topo"]


def _train_times(sim: Simulator) -> np.ndarray:
    """(n, D) forward + backward seconds per operation and device."""
    scale = 3.0 if sim.training else 1.0
    return sim.op_times * scale


def _mem_need(sim: Simulator) -> np.ndarray:
    """Bytes an operation pins on its device for a step (parameters + saved activation)."""
    return sim.graph.param_bytes * sim.mem_factor + sim.graph.out_bytes * (2.0 if sim.training else 1.0)


def single(sim: Simulator) -> np.ndarray:
    """Everything on the fastest device."""
    return np.full(sim.graph.n_nodes, sim.cluster.fastest(), dtype=np.int64)


# ------------------------------------------------------------------------------------ expert
_NUM = re.compile(r"^\d+$")


def _units(modules: list[str], layer: np.ndarray) -> list[list[tuple[str, int]]]:
    """For each node, the (container, index) pairs of its module path, outermost first."""
    out = []
    for i, path in enumerate(modules):
        parts = path.split(".") if path else []
        units = []
        for k, p in enumerate(parts):
            if _NUM.match(p) and k > 0:
                units.append((".".join(parts[:k]), int(p)))
        if layer[i] >= 0:
            units.append((path + "@layer", int(layer[i])))
        out.append(units)
    return out


def _reaches(succ: list[np.ndarray], start: np.ndarray, targets: set[int]) -> bool:
    seen = np.zeros(len(succ), dtype=bool)
    stack = list(start.tolist())
    seen[start] = True
    while stack:
        u = stack.pop()
        for v in succ[u]:
            if not seen[v]:
                if int(v) in targets:
                    return True
                seen[v] = True
                stack.append(int(v))
    return False


def expert(sim: Simulator) -> np.ndarray:
    """The human heuristics of the papers, read from the module structure.

    * Multi-branch networks (a module list whose entries do not depend on each other: towers,
      Inception branches): branch ``j`` on GPU ``j mod G``.
    * Stacked networks (a module list whose entries form a chain: LSTM layers, Transformer
      blocks; also the layers of a multi-layer ``nn.LSTM``): layer ``k`` of ``L`` on GPU
      ``k * G // L`` (layer-wise, as in the GNMT and 2017 papers).
    * Every other operation follows its most recently produced input (embedding before the first
      layer on the first GPU, the softmax after the last layer on the last GPU, a residual
      addition with its layer).
    * No such structure: everything on the fastest device.
    """
    g = sim.graph
    gpus = sim.cluster.gpus
    G = len(gpus)
    n = g.n_nodes
    assert g.layer is not None
    units = _units(g.modules, g.layer)
    members: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, us in enumerate(units):
        for c, j in us:
            members[c][j].append(i)
    succ = g.successors()
    parallel: dict[str, bool] = {}
    for c, byidx in members.items():
        keys = sorted(byidx)
        if len(keys) < 2:
            continue
        a, b = np.array(byidx[keys[0]]), set(byidx[keys[1]])
        parallel[c] = not _reaches(succ, a, b)
    dev = np.full(n, -1, dtype=np.int64)
    has_parallel = any(parallel.values())
    for i, us in enumerate(units):
        cands = [(c, j) for c, j in us if c in parallel]
        if not cands:
            continue
        if has_parallel:
            par = [(c, j) for c, j in cands if parallel[c]]
            if par:
                c, j = par[0]
                rank = sorted(members[c]).index(j)
                dev[i] = gpus[rank % G]
        else:
            c, j = cands[0]
            keys = sorted(members[c])
            dev[i] = gpus[keys.index(j) * G // len(keys)]
    if np.all(dev < 0):
        return single(sim)
    preds = g.predecessors()
    first = gpus[0]
    for i in range(n):
        if dev[i] < 0:
            placed = [int(p) for p in preds[i] if dev[p] >= 0]
            dev[i] = dev[max(placed)] if placed else first
    return dev


# ------------------------------------------------------------------------------------ metis
def metis(sim: Simulator, seed: int = 0) -> np.ndarray:
    """Balanced min-cut over the GPUs (pymetis): vertex weight = compute time, edge weight =
    bytes moved."""
    pymetis = require("pymetis", extra="placement", purpose="the 'metis' placer")
    g = sim.graph
    gpus = sim.cluster.gpus
    if len(gpus) == 1 or g.n_nodes < 2:
        return np.full(g.n_nodes, gpus[0], dtype=np.int64)
    parts = metis_parts(sim, len(gpus), seed=seed, pymetis=pymetis)
    return np.asarray(gpus, dtype=np.int64)[parts]


def metis_parts(sim: Simulator, k: int, seed: int = 0, pymetis: object = None, weighted: bool = True) -> np.ndarray:
    """``k`` balanced min-cut parts of the operation graph (labels 0..k-1), balanced by compute
    time (``weighted``) or by operation count."""
    if pymetis is None:
        pymetis = require("pymetis", extra="placement", purpose="graph partitioning")
    g = sim.graph
    n = g.n_nodes
    if k <= 1 or n <= k:
        return np.minimum(np.arange(n), max(k - 1, 0)).astype(np.int64) if k > 1 else np.zeros(n, np.int64)
    t = sim.op_times[:, sim.cluster.gpus[0]]
    vw = np.maximum(1, np.round(t / max(t.max(), 1e-30) * 1000)).astype(np.int64)
    eb = g.out_bytes[g.edge_src]
    ew = np.maximum(1, np.round(eb / max(eb.max(), 1.0) * 1000)).astype(np.int64) if eb.size else eb
    # symmetric CSR
    s = np.concatenate([g.edge_src, g.edge_dst])
    d = np.concatenate([g.edge_dst, g.edge_src])
    w = np.concatenate([ew, ew])
    order = np.lexsort((d, s))
    s, d, w = s[order], d[order], w[order]
    xadj = np.zeros(n + 1, dtype=np.int64)
    np.add.at(xadj, s + 1, 1)
    np.cumsum(xadj, out=xadj)
    opts = pymetis.Options(seed=seed)  # type: ignore[attr-defined]
    csr = getattr(pymetis, "CSRAdjacency", None)
    adj = {"adjacency": csr(xadj, d)} if csr is not None else {"xadj": xadj.tolist(), "adjncy": d.tolist()}
    _, parts = pymetis.part_graph(  # type: ignore[attr-defined]
        k, **adj, vweights=vw.tolist() if weighted else None,
        eweights=w.tolist(), options=opts,
    )
    labels = np.unique(np.asarray(parts, dtype=np.int64), return_inverse=True)[1]
    return np.asarray(labels, dtype=np.int64).ravel()


# ------------------------------------------------------------------------------------ Baechi
def topo(sim: Simulator) -> np.ndarray:
    """m-TOPO: walk the operations in topological order and fill each GPU up to an equal share
    of the total compute (and within its memory) before moving to the next."""
    g = sim.graph
    gpus = sim.cluster.gpus
    t = _train_times(sim)
    need = _mem_need(sim)
    share = t[:, gpus[0]].sum() / len(gpus)
    dev = np.empty(g.n_nodes, dtype=np.int64)
    k, acc, mem = 0, 0.0, 0.0
    cap = sim.memory
    for i in range(g.n_nodes):
        d = gpus[k]
        if k < len(gpus) - 1 and (acc >= share or mem + need[i] > cap[d]):
            k += 1
            d = gpus[k]
            acc, mem = 0.0, 0.0
        dev[i] = d
        acc += t[i, d]
        mem += need[i]
    return dev


def _comm(sim: Simulator) -> tuple[np.ndarray, np.ndarray]:
    bw, lat = sim.cluster.bandwidth, sim.cluster.latency
    return bw, lat


def etf(sim: Simulator, favorite: np.ndarray | None = None) -> np.ndarray:
    """m-ETF: list scheduling of the forward + backward cost, each step placing the ready
    operation that can start earliest on the device where it starts earliest, within memory.

    ``favorite[i] = p`` (m-SCT) forces operation ``i`` onto the device of its favourite parent
    ``p`` when that device can hold it.
    """
    g = sim.graph
    gpus = np.asarray(sim.cluster.gpus, dtype=np.int64)
    G = gpus.size
    n = g.n_nodes
    t = _train_times(sim)[:, gpus]
    need = _mem_need(sim)
    cap = sim.memory[gpus].astype(np.float64)
    bw = sim.cluster.bandwidth[np.ix_(gpus, gpus)]
    lat = sim.cluster.latency[np.ix_(gpus, gpus)]
    factor = 2.0 if sim.training else 1.0  # activation forward, gradient back
    preds = g.predecessors()
    succ = g.successors()
    indeg = np.array([p.size for p in preds], dtype=np.int64)
    finish = np.zeros(n)
    where = np.full(n, -1, dtype=np.int64)
    free = np.zeros(G)
    used = np.zeros(G)
    ready: list[int] = [i for i in range(n) if indeg[i] == 0]
    data_ready: dict[int, np.ndarray] = {}

    def arrival(i: int) -> np.ndarray:
        dr = np.zeros(G)
        for p in preds[i]:
            dp = where[p]
            c = np.where(np.arange(G) == dp, 0.0, factor * (g.out_bytes[p] / np.where(bw[dp] > 0, bw[dp], 1.0) + lat[dp]))
            np.maximum(dr, finish[p] + c, out=dr)
        return dr

    for i in ready:
        data_ready[i] = arrival(i)
    while ready:
        R = np.stack([data_ready[i] for i in ready])
        est = np.maximum(R, free[None, :])
        fits = used[None, :] + need[np.array(ready)][:, None] <= cap[None, :]
        est = np.where(fits, est, est + 1e6)  # over memory: only when nothing else fits
        if favorite is not None:
            for r, i in enumerate(ready):
                p = favorite[i]
                if p >= 0 and where[p] >= 0 and fits[r, where[p]]:
                    keep = est[r, where[p]]
                    est[r, :] = np.inf
                    est[r, where[p]] = keep
        flat = int(np.argmin(est + t[np.array(ready)] * 1e-9))
        r, d = divmod(flat, G)
        i = ready.pop(r)
        del data_ready[i]
        start = est[r, d] if est[r, d] < 1e5 else max(R[r, d], free[d])
        where[i] = d
        finish[i] = start + t[i, d]
        free[d] = finish[i]
        used[d] += need[i]
        for v in succ[i]:
            indeg[v] -= 1
            if indeg[v] == 0:
                ready.append(int(v))
                data_ready[int(v)] = arrival(int(v))
    return gpus[where]


def sct(sim: Simulator) -> np.ndarray:
    """m-SCT: solve the LP relaxation of the small-communication-time schedule (SciPy HiGHS) to
    pick each operation's favourite child, then run m-ETF keeping favourite children with their
    parents."""
    sp = require("scipy.optimize", extra="placement", purpose="the 'm-sct' placer")
    from scipy import sparse

    g = sim.graph
    n, m = g.n_nodes, g.n_edges
    if m == 0:
        return etf(sim)
    gpus = sim.cluster.gpus
    p = _train_times(sim)[:, gpus[0]]
    bw = float(sim.cluster.bandwidth[gpus[0], gpus[-1]]) if len(gpus) > 1 else 1e30
    lat = float(sim.cluster.latency[gpus[0], gpus[-1]]) if len(gpus) > 1 else 0.0
    c = 2.0 * (g.out_bytes[g.edge_src] / bw + lat)
    scale = max(float(p.max()), float(c.max()), 1e-30)
    p, c = p / scale, c / scale
    # variables: x_e (m), s_i (n), w (1)
    nv = m + n + 1
    rows, cols, vals, ub = [], [], [], []
    r = 0
    for k in range(m):  # s_i - s_j + c_e x_e <= -p_i
        i, j = int(g.edge_src[k]), int(g.edge_dst[k])
        rows += [r, r, r]
        cols += [m + i, m + j, k]
        vals += [1.0, -1.0, float(c[k])]
        ub.append(-float(p[i]))
        r += 1
    out_e: dict[int, list[int]] = defaultdict(list)
    in_e: dict[int, list[int]] = defaultdict(list)
    for k in range(m):
        out_e[int(g.edge_src[k])].append(k)
        in_e[int(g.edge_dst[k])].append(k)
    for groups in (out_e, in_e):  # at most one favourite child / parent: sum x >= deg - 1
        for es in groups.values():
            if len(es) < 2:
                continue
            for k in es:
                rows.append(r)
                cols.append(k)
                vals.append(-1.0)
            ub.append(-(len(es) - 1.0))
            r += 1
    for i in range(n):  # s_i + p_i <= w
        rows += [r, r]
        cols += [m + i, nv - 1]
        vals += [1.0, -1.0]
        ub.append(-float(p[i]))
        r += 1
    A = sparse.csr_matrix((vals, (rows, cols)), shape=(r, nv))
    obj = np.zeros(nv)
    obj[-1] = 1.0
    bounds = [(0.0, 1.0)] * m + [(0.0, None)] * (n + 1)
    res = sp.linprog(obj, A_ub=A, b_ub=np.asarray(ub), bounds=bounds, method="highs")
    favorite = np.full(n, -1, dtype=np.int64)
    if res.status == 0:
        x = res.x[:m]
        for i, es in out_e.items():
            k = min(es, key=lambda e: x[e])
            if x[k] < 0.5:
                favorite[int(g.edge_dst[k])] = i
    return etf(sim, favorite=favorite)
