"""Learned placers, trained against the simulator: REINFORCE over co-located groups (Mirhoseini
et al. 2017), the hierarchical Grouper + Placer (Mirhoseini et al. 2018), and the local search
that polishes any placement.

Both policies subclass :class:`learnedsys.policy.Policy`: ``propose()`` samples a placement,
``update(proposal, reward)`` takes one policy-gradient step with a moving-average baseline. The
reward is ``-sqrt(step_time / reference)`` (the grappler choice), and a placement that does not
fit in memory scores as a large runtime (``Simulator.cost``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from learnedsys.placement._simulator import Simulator
from learnedsys.policy import ActionSpace, Policy, Proposal, Reinforce
from learnedsys.policy._base import bind_to, propensity_of

__all__ = ["GroupPolicy", "HierarchicalPolicy", "group_policy", "hierarchical", "local_search", "reinforce"]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def _sample(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``p``."""
    u = np.asarray(rng.random(p.shape[0]))[:, None]
    idx = (np.cumsum(p, axis=1) < u).sum(axis=1)
    return np.asarray(np.minimum(idx, p.shape[1] - 1), dtype=np.int64)


def group_policy(
    space: ActionSpace, lr: float = 0.5, baseline_decay: float = 0.9, seed: int | None = 0,
    init: np.ndarray | None = None, init_bias: float = 2.0,
) -> Reinforce:
    """A device per co-located group, each drawn from its own softmax: the shared factorised
    :class:`~learnedsys.policy.Reinforce` with the placement papers' settings (no advantage
    normalisation, baseline decay 0.9), warm-started at ``init`` with ``init_bias``."""
    return Reinforce(space, lr=lr, baseline_decay=baseline_decay, normalize=False, init=init, init_bias=init_bias, seed=seed)


#: The factorised device policy is the shared REINFORCE (kept under the name the papers use).
GroupPolicy = group_policy


def initial_groups(n: int, k: int, init: np.ndarray | None = None) -> np.ndarray:
    """The Grouper's starting groups: ``k`` contiguous topological chunks, or, with a starting
    placement ``init``, chunks of the operations ordered by (device in ``init``, position), so that
    (except where one device's run ends) a group holds one device's operations and the Placer can
    reproduce ``init``."""
    order = np.arange(n) if init is None else np.lexsort((np.arange(n), np.asarray(init)))
    g = np.empty(n, dtype=np.int64)
    g[order] = np.minimum((np.arange(n) * k) // n, k - 1)
    return g


def graph_embedding(sim: Simulator, base: np.ndarray, hops: int = 2) -> np.ndarray:
    """``base`` features followed by, for each of ``hops`` rounds, the mean of the previous
    round's features over each operation's producers and over its consumers (a fixed, weight-free
    message passing, the aggregation step of Placeto's and GDP's graph networks). O(hops (n + e) F)."""
    g = sim.graph
    n = g.n_nodes
    src, dst = g.edge_src, g.edge_dst
    n_in = np.maximum(np.bincount(dst, minlength=n), 1)[:, None]
    n_out = np.maximum(np.bincount(src, minlength=n), 1)[:, None]
    cols = [base]
    h = base
    for _ in range(hops):
        up = np.zeros_like(h)
        np.add.at(up, dst, h[src])
        down = np.zeros_like(h)
        np.add.at(down, src, h[dst])
        cols += [up / n_in, down / n_out]
        h = 0.5 * (up / n_in + down / n_out)
    return np.concatenate(cols, axis=1)


def op_features(sim: Simulator, n_buckets: int, init: np.ndarray | None = None, hops: int = 0) -> np.ndarray:
    """Per-operation features for the Grouper: log-scaled cost and sizes, a hashed operator type,
    ``hops`` rounds of neighbour means of those (:func:`graph_embedding`), and a one-hot of the
    starting group (:func:`initial_groups`, ``n_buckets`` of them: topological position, or
    device then position when ``init`` is given)."""
    g = sim.graph
    n = g.n_nodes

    def scaled(x: np.ndarray) -> np.ndarray:
        y = np.log1p(x)
        return y / max(float(y.max()), 1e-12)

    pos = initial_groups(n, n_buckets, init)
    onehot = np.zeros((n, n_buckets))
    onehot[np.arange(n), pos] = 1.0
    types = np.zeros((n, 8))
    for i, t in enumerate(g.op_types):
        types[i, sum(t.encode()) % 8] = 1.0
    cols = [scaled(g.flops), scaled(g.out_bytes), scaled(g.param_bytes), np.arange(n) / max(n - 1, 1)]
    base = np.concatenate([np.stack(cols, axis=1), types], axis=1)
    if hops:
        base = graph_embedding(sim, base, hops)
    return np.concatenate([base, onehot], axis=1)


class HierarchicalPolicy(Policy):
    """Grouper (a softmax over K groups from each operation's features) + Placer (a device per
    group), trained jointly by REINFORCE. Action: the group of each of the n operations, then the
    device of each of the K groups.

    The Grouper starts as contiguous topological chunks (its position one-hot features get weight
    ``group_bias``), the Placer from ``init`` when given (bonus ``init_bias``). The Grouper's gradient is accumulated over
    ``update_every`` samples and applied at once (one O(n F K) product per batch, not per sample).
    """

    def __init__(
        self, features: np.ndarray, n_groups: int, n_devices: int, lr: float = 0.5,
        baseline_decay: float = 0.9, seed: int | None = 0, init: np.ndarray | None = None,
        init_bias: float = 2.0, update_every: int = 1, group_bias: float = 4.0,
    ) -> None:
        n = features.shape[0]
        super().__init__(ActionSpace((n_groups,) * n + (n_devices,) * n_groups))
        self.features = features
        self.n_groups = n_groups
        self.lr = lr
        self.baseline_decay = baseline_decay
        self._rng = np.random.default_rng(seed)
        f = features.shape[1]
        self.W = np.zeros((f, n_groups))
        self.W[f - n_groups :, :] = np.eye(n_groups) * group_bias
        self.placer = group_policy(ActionSpace((n_devices,) * n_groups), lr=lr, baseline_decay=baseline_decay, seed=seed, init=init, init_bias=init_bias)
        self.baseline: float | None = None
        self._probs: np.ndarray | None = None
        self.update_every = max(1, int(update_every))
        self._acc: np.ndarray | None = None
        self._pending = 0

    def group_probs(self) -> np.ndarray:
        if self._probs is None:
            self._probs = _softmax(self.features @ self.W)
        return self._probs

    def propose(self, context: Any = None) -> Proposal:
        gp = self.group_probs()
        groups = _sample(self._rng, gp)
        place = self.placer.propose()
        logp = float(np.log(gp[np.arange(groups.size), groups]).sum()) + float(place.info["log_propensity"])
        return Proposal(tuple(int(x) for x in groups) + place.action, propensity_of(logp), {"log_propensity": logp})

    def greedy(self, context: Any = None) -> tuple[int, ...]:
        groups = np.argmax(self.features @ self.W, axis=1)
        return tuple(int(x) for x in groups) + self.placer.greedy()

    def devices_of(self, action: tuple[int, ...]) -> np.ndarray:
        n = self.features.shape[0]
        a = np.asarray(action, dtype=np.int64)
        return np.asarray(a[n:][a[:n]], dtype=np.int64)

    def update(self, proposal: Proposal, reward: float, context: Any = None) -> None:
        if self.baseline is None:
            self.baseline = reward
        adv = reward - self.baseline
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward
        n = self.features.shape[0]
        a = np.asarray(proposal.action)
        grad = -self.group_probs()
        grad[np.arange(n), a[:n]] += 1.0
        if self._acc is None:
            self._acc = np.zeros_like(grad)
        self._acc += adv * grad
        self._pending += 1
        if self._pending >= self.update_every:
            self.W += self.lr * (self.features.T @ self._acc) / n
            self._probs = None
            self._acc = None
            self._pending = 0
        self.placer.update(Proposal(tuple(int(x) for x in a[n:])), reward)

    def state(self) -> dict[str, Any]:
        return {"W": self.W.tolist(), "placer": self.placer.state(), "baseline": self.baseline}

    def load_state(self, state: dict[str, Any]) -> None:
        self.W = np.asarray(state["W"], dtype=np.float64)
        self._probs = None
        self.placer.load_state(state["placer"])
        self.baseline = state.get("baseline")


def _majority(groups: np.ndarray, k: int, dev: np.ndarray, n_dev: int) -> np.ndarray:
    counts = np.zeros((k, n_dev))
    np.add.at(counts, (groups, dev), 1.0)
    return np.asarray(np.argmax(counts, axis=1), dtype=np.int64)


def _bias(k: int, d: int, moves: float | None) -> float:
    """The logit bonus of the starting devices under which a sample moves about ``moves`` of the
    ``k`` groups away from the start (2.0, the cold start's, when ``moves`` is None)."""
    if moves is None or d < 2:
        return 2.0
    return float(np.log((d - 1) * max(k / max(moves, 1e-9) - 1.0, 1.0)))


def reinforce(
    sim: Simulator, groups: np.ndarray, *, iterations: int = 150, batch: int = 8, lr: float = 0.5,
    seed: int | None = 0, init: np.ndarray | None = None, time_budget: float | None = None,
    moves: float | None = None, policy: Policy | None = None,
) -> tuple[np.ndarray, float, dict[str, Any]]:
    """REINFORCE over co-located groups (``groups[i]``: group of operation i); with ``policy``,
    any :class:`~learnedsys.policy.Policy` (unbound: bound here to one position per group, one
    option per device) in its place, fed the same rewards.

    With ``init`` (a warm start), each group is split by the devices ``init`` gives its operations
    and the policy starts biased towards ``init``, which counts as the first placement seen (the
    result is never worse than ``init``). ``moves``: the starting bias makes a sample move about
    that many groups away from ``init`` (a local search the policy learns to steer; default: a
    fixed bias of 2, the cold start's).

    Cost: ``iterations * batch`` simulator calls. Returns (best devices seen, its cost, info).
    """
    d = sim.cluster.n_devices
    best_dev, best_cost = None, np.inf
    if init is not None:
        # warm start: split every group by the device init gives its operations, so that the
        # policy's most likely placement at the start is init itself, and count init as seen
        init = np.asarray(init, dtype=np.int64)
        groups = np.unique(np.asarray(groups, dtype=np.int64) * d + init, return_inverse=True)[1].ravel()
        best_dev, best_cost = init, sim.cost(init)
    k = int(groups.max()) + 1
    init_g = None if init is None else _majority(groups, k, init, d)
    if policy is None:
        policy = group_policy(ActionSpace((d,) * k), lr=lr, seed=seed, init=init_g, init_bias=_bias(k, d, moves))
    else:
        bind_to(policy, ActionSpace((d,) * k), f"the {k} groups on {d} devices", "place")
    ref = None if init is None else best_cost
    start = time.perf_counter()
    history = []
    it = 0
    for it in range(iterations):  # noqa: B007
        for _ in range(batch):
            prop = policy.propose()
            dev = np.asarray(prop.action, dtype=np.int64)[groups]
            c = sim.cost(dev)
            if ref is None:
                ref = c
            if c < best_cost:
                best_cost, best_dev = c, dev
            policy.update(prop, -float(np.sqrt(c / ref)))
        history.append(best_cost)
        if time_budget is not None and time.perf_counter() - start > time_budget:
            break
    dev = np.asarray(policy.greedy(), dtype=np.int64)[groups]
    c = sim.cost(dev)
    if c < best_cost:
        best_cost, best_dev = c, dev
    assert best_dev is not None
    return best_dev, float(best_cost), {"iterations": it + 1, "groups": k, "policy": type(policy).__name__}


def hierarchical(
    sim: Simulator, *, n_groups: int | None = None, iterations: int = 150, batch: int = 8, lr: float = 0.5,
    seed: int | None = 0, init: np.ndarray | None = None, time_budget: float | None = None, hops: int = 2,
    moves: float | None = None,
) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Grouper + Placer trained jointly (the 2018 paper); groups = min(256, 20 x devices) by
    default, capped by the number of operations. The Grouper sees each operation's features and
    ``hops`` rounds of neighbour means of them (:func:`graph_embedding`). With ``init`` (a warm
    start) the Grouper starts from groups of one device each in ``init`` (:func:`initial_groups`),
    the Placer from ``init``'s devices (bias as in :func:`reinforce`'s ``moves``), and ``init``
    counts as the first placement seen.

    Cost: ``iterations * batch`` simulator calls plus an O(n K) Grouper step per sample."""
    n, d = sim.graph.n_nodes, sim.cluster.n_devices
    k = n_groups or min(256, 20 * d)
    k = max(1, min(k, n))
    feats = op_features(sim, k, init=init, hops=hops)
    pos = initial_groups(n, k, init)
    init_g = None if init is None else _majority(pos, k, np.asarray(init, dtype=np.int64), d)
    # warm: a sample also moves about ``moves`` operations out of their starting group
    gb = 4.0 if moves is None else float(np.log(max(k - 1, 1) * max(n / max(moves, 1e-9) - 1.0, 1.0)))
    policy = HierarchicalPolicy(feats, k, d, lr=lr, seed=seed, init=init_g, update_every=batch, init_bias=_bias(k, d, moves), group_bias=gb)
    best_dev, best_cost = None, np.inf
    if init is not None:
        best_dev, best_cost = np.asarray(init, dtype=np.int64), sim.cost(np.asarray(init, dtype=np.int64))
    ref = None if init is None else best_cost
    start = time.perf_counter()
    it = 0
    for it in range(iterations):  # noqa: B007
        for _ in range(batch):
            prop = policy.propose()
            dev = policy.devices_of(prop.action)
            c = sim.cost(dev)
            if ref is None:
                ref = c
            if c < best_cost:
                best_cost, best_dev = c, dev
            policy.update(prop, -float(np.sqrt(c / ref)))
        if time_budget is not None and time.perf_counter() - start > time_budget:
            break
    dev = policy.devices_of(policy.greedy())
    c = sim.cost(dev)
    if c < best_cost:
        best_cost, best_dev = c, dev
    assert best_dev is not None
    return best_dev, float(best_cost), {"iterations": it + 1, "groups": k, "policy": "HierarchicalPolicy"}


def _descend(
    sim: Simulator, dev: np.ndarray, cost: float, members: list[list[np.ndarray]], deadline: float,
    node_moves: bool, max_rounds: int,
) -> tuple[np.ndarray, float, int, int]:
    """Best-device group moves over every partition, then boundary-operation moves, until no move
    helps (a local optimum), ``max_rounds`` or the deadline."""
    g = sim.graph
    d_all = sim.cluster.n_devices
    src, dst = g.edge_src, g.edge_dst
    moves = evals = 0
    for _ in range(max_rounds):
        improved = False
        for groups in members:
            for idx in groups:
                best_d, best_c = -1, cost
                for d in range(d_all):
                    if np.all(dev[idx] == d):
                        continue
                    trial = dev.copy()
                    trial[idx] = d
                    c = sim.cost(trial)
                    evals += 1
                    if c < best_c * (1 - 1e-9):
                        best_d, best_c = d, c
                if best_d >= 0:
                    dev = dev.copy()
                    dev[idx] = best_d
                    cost, improved = best_c, True
                    moves += 1
                if time.perf_counter() > deadline:
                    return dev, cost, moves, evals
        if node_moves:
            cross = dev[src] != dev[dst]
            boundary = np.unique(np.concatenate([src[cross], dst[cross]]))
            for i in boundary:
                if time.perf_counter() > deadline:
                    return dev, cost, moves, evals
                nb = np.unique(np.concatenate([dev[dst[src == i]], dev[src[dst == i]]]))
                for d in nb:
                    if d == dev[i]:
                        continue
                    old = dev[i]
                    dev[i] = d
                    c = sim.cost(dev)
                    evals += 1
                    if c < cost * (1 - 1e-9):
                        cost, improved = c, True
                        moves += 1
                    else:
                        dev[i] = old
        if not improved:
            break
    return dev, cost, moves, evals


def local_search(
    sim: Simulator, dev: np.ndarray, partitions: list[np.ndarray], *, time_budget: float = 30.0,
    max_rounds: int = 20, seed: int | None = 0, anneal_steps: int = 5000, kicks: int = 0, kick_size: int = 3,
) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Descent, simulated annealing, descent, then iterated local search, against the simulator.

    Descent: move each group (of each partition in ``partitions``, coarse to fine) to the device
    that helps most, then single operations on a device boundary to a neighbour's device; repeat
    until no move helps (or ``max_rounds``). Annealing: ``anneal_steps`` random group moves,
    accepted when better or with probability ``exp(-increase / T)``, T cooling geometrically from
    2 % to 0.01 % of the step time; the best placement seen is then polished by a final descent.
    Iterated local search: ``kicks`` times, move ``kick_size`` random groups of the best placement
    to random devices and descend from there; keep the result when it is better (escapes the
    local optima that single group moves cannot leave).
    Cost: one simulator call per move evaluated; ``time_budget`` seconds cap the whole search.
    Never returns a worse placement than ``dev``.
    """
    start = time.perf_counter()
    deadline = start + time_budget
    members = [[np.flatnonzero(part == j) for j in range(int(part.max()) + 1)] for part in partitions]
    members = [[m for m in groups if m.size] for groups in members]
    cost0 = sim.cost(dev)
    best, best_cost, moves, evals = _descend(sim, dev.copy(), cost0, members, deadline, True, max_rounds)
    rng = np.random.default_rng(seed)
    d_all = sim.cluster.n_devices
    flat = [m for groups in members for m in groups]
    accepted = 0
    steps = 0
    if flat and anneal_steps > 0:
        cur, cur_cost = best.copy(), best_cost
        t_hi, t_lo = 0.02 * best_cost, 1e-4 * best_cost
        for step in range(anneal_steps):
            if time.perf_counter() > deadline:
                break
            steps += 1
            temp = t_hi * (t_lo / t_hi) ** (step / max(anneal_steps - 1, 1))
            idx = flat[int(rng.integers(len(flat)))]
            d = int(rng.integers(d_all))
            if np.all(cur[idx] == d):
                continue
            old = cur[idx].copy()
            cur[idx] = d
            c = sim.cost(cur)
            evals += 1
            if c <= cur_cost or rng.random() < np.exp(-(c - cur_cost) / temp):
                cur_cost = c
                accepted += 1
                if c < best_cost * (1 - 1e-9):
                    best, best_cost = cur.copy(), c
            else:
                cur[idx] = old
        best, best_cost, mv, ev = _descend(sim, best, best_cost, members, deadline, True, max_rounds)
        moves += mv
        evals += ev
    done = improved = 0
    for _ in range(kicks if flat else 0):
        if time.perf_counter() > deadline:
            break
        done += 1
        cur = best.copy()
        for _ in range(kick_size):
            cur[flat[int(rng.integers(len(flat)))]] = int(rng.integers(d_all))
        cur, c, mv, ev = _descend(sim, cur, sim.cost(cur), members, deadline, True, max_rounds)
        evals += ev + 1
        if c < best_cost * (1 - 1e-9):
            best, best_cost = cur, c
            moves += mv
            improved += 1
    return best, float(best_cost), {
        "moves": moves, "evaluations": evals, "anneal_steps": steps, "anneal_accepted": accepted, "kicks": done, "kicks_improved": improved,
    }
