"""Discrete-event simulation of one training step of a placed graph.

Semantics (what the exact-answer tests check):

* Every device runs one operation at a time, in FIFO order of the moment the operation became
  ready (all its inputs present on its device); ties go to the event processed first, events at
  equal times in the order they were created.
* When an operation finishes, its output is sent once to every *other* device that holds one of
  its consumers (transfers only on device changes), over the directed link (src, dst): one
  transfer at a time per link, FIFO; a transfer of ``b`` bytes takes ``b / bandwidth + latency``.
* Devices that send and receive themselves (:class:`Device` ``send_overhead``, ``send_bandwidth``,
  ``recv_overhead``, ``recv_bandwidth``; free unless set, as in the presets): an operation whose
  output goes to other devices holds its device ``send_overhead + b / send_bandwidth`` longer per
  destination device (the copies run after the operation, and its transfers leave when they are
  all done); the first consumer (lowest index) of a received value of ``b`` bytes holds its
  (the receiving) device ``recv_overhead + b / recv_bandwidth`` longer.
* Memory: parameters take ``param_bytes * (2 + optimizer_slots)`` (weights, gradients, optimizer
  state) on their device for the whole step. An operation allocates its output when it starts;
  the output (and every copy received over a link) is freed when its last consumer on that device
  finishes (and, for the local copy, when its outgoing transfers are done). The peak per device is
  checked against the device memory: an infeasible placement is reported as such and gets no
  step time.

The event loop is a numba kernel (a binary heap of events, linked-list FIFO queues per device and
per link), O((n + e) log(n + e)) per step: a few hundred microseconds for thousands of operations,
so the searches can call it thousands of times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from learnedsys._validation import InvalidParameterError, check_bool, check_int
from learnedsys.placement._cluster import Cluster
from learnedsys.placement._graph import OpGraph, TrainingGraph

__all__ = ["SimResult", "Simulator", "simulate"]


@njit(cache=True)
def _heap_push(ht, hs, hc, size, t, seq, code):  # type: ignore[no-untyped-def]
    i = size
    ht[i] = t
    hs[i] = seq
    hc[i] = code
    while i > 0:
        p = (i - 1) >> 1
        if ht[p] < ht[i] or (ht[p] == ht[i] and hs[p] < hs[i]):
            break
        ht[p], ht[i] = ht[i], ht[p]
        hs[p], hs[i] = hs[i], hs[p]
        hc[p], hc[i] = hc[i], hc[p]
        i = p
    return size + 1


@njit(cache=True)
def _heap_pop(ht, hs, hc, size):  # type: ignore[no-untyped-def]
    t = ht[0]
    c = hc[0]
    size -= 1
    ht[0] = ht[size]
    hs[0] = hs[size]
    hc[0] = hc[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        m = left
        r = left + 1
        if r < size and (ht[r] < ht[left] or (ht[r] == ht[left] and hs[r] < hs[left])):
            m = r
        if ht[i] < ht[m] or (ht[i] == ht[m] and hs[i] < hs[m]):
            break
        ht[m], ht[i] = ht[i], ht[m]
        hs[m], hs[i] = hs[i], hs[m]
        hc[m], hc[i] = hc[i], hc[m]
        i = m
    return t, c, size


@njit(cache=True)
def _end_costs(dev, out_ptr, out_dst, out_bytes, send_over, send_bw, recv_over, recv_bw, n_dev):  # type: ignore[no-untyped-def]
    """Seconds each node holds its device beyond its own work: sending its output to the other
    devices of its consumers (one copy per destination device, of the largest edge's bytes, as the
    kernel's transfers) and, on the first consumer of a received value, receiving it (the same
    bytes, at the receiving device's rate)."""
    n = dev.shape[0]
    extra = np.zeros(n)
    dest_bytes = np.full(n_dev, -1.0)
    first = np.full(n_dev, -1, np.int64)
    for u in range(n):
        du = dev[u]
        for k in range(out_ptr[u], out_ptr[u + 1]):
            v = out_dst[k]
            dv = dev[v]
            if dv != du:
                if out_bytes[k] > dest_bytes[dv]:
                    dest_bytes[dv] = out_bytes[k]
                if first[dv] < 0 or v < first[dv]:
                    first[dv] = v
        for dv in range(n_dev):
            if first[dv] >= 0:
                extra[u] += send_over[du] + dest_bytes[dv] / send_bw[du]
                extra[first[dv]] += recv_over[dv] + dest_bytes[dv] / recv_bw[dv]
                first[dv] = -1
                dest_bytes[dv] = -1.0
    return extra


@njit(cache=True)
def _sim_kernel(dur, dev, out_ptr, out_dst, out_bytes, in_ptr, in_src, n_pred, alloc, bw, lat, static_mem, n_dev):  # type: ignore[no-untyped-def]
    n = dur.shape[0]
    ne = out_dst.shape[0]
    pending = n_pred.copy()
    q_next = np.full(n, -1, np.int64)
    q_head = np.full(n_dev, -1, np.int64)
    q_tail = np.full(n_dev, -1, np.int64)
    busy = np.zeros(n_dev, np.bool_)
    nl = n_dev * n_dev
    tr_src = np.empty(ne + 1, np.int64)
    tr_dst = np.empty(ne + 1, np.int64)
    tr_bytes = np.empty(ne + 1, np.float64)
    tr_next = np.full(ne + 1, -1, np.int64)
    tr_ref = np.zeros(ne + 1, np.int64)
    l_head = np.full(nl, -1, np.int64)
    l_tail = np.full(nl, -1, np.int64)
    l_busy = np.zeros(nl, np.bool_)
    copy_of = np.full(n * n_dev, -1, np.int64)  # transfer id of node u's copy on device d
    local_ref = np.zeros(n, np.int64)
    n_tr = 0
    cap = n + ne + 2
    ht = np.empty(cap, np.float64)
    hs = np.empty(cap, np.int64)
    hc = np.empty(cap, np.int64)
    hsize = 0
    seq = 0
    live = static_mem.copy()
    peak = static_mem.copy()
    makespan = 0.0
    dest_tr = np.full(n_dev, -1, np.int64)
    done = 0

    # initial ready nodes in index order
    for v in range(n):
        if pending[v] == 0:
            d = dev[v]
            if q_tail[d] < 0:
                q_head[d] = v
            else:
                q_next[q_tail[d]] = v
            q_tail[d] = v
    t = 0.0
    for d in range(n_dev):
        if q_head[d] >= 0:
            u = q_head[d]
            q_head[d] = q_next[u]
            if q_head[d] < 0:
                q_tail[d] = -1
            busy[d] = True
            live[d] += alloc[u]
            if live[d] > peak[d]:
                peak[d] = live[d]
            hsize = _heap_push(ht, hs, hc, hsize, t + dur[u], seq, 2 * u)
            seq += 1

    while hsize > 0:
        t, code, hsize = _heap_pop(ht, hs, hc, hsize)
        if t > makespan:
            makespan = t
        kind = code & 1
        idx = code >> 1
        touched_dev = -1
        if kind == 0:
            # operation idx finished
            u = idx
            du = dev[u]
            done += 1
            busy[du] = False
            touched_dev = du
            nloc = 0
            for k in range(out_ptr[u], out_ptr[u + 1]):
                v = out_dst[k]
                dv = dev[v]
                if dv == du:
                    nloc += 1
                    pending[v] -= 1
                    if pending[v] == 0:
                        if q_tail[dv] < 0:
                            q_head[dv] = v
                        else:
                            q_next[q_tail[dv]] = v
                        q_tail[dv] = v
                else:
                    j = dest_tr[dv]
                    if j < 0:
                        j = n_tr
                        n_tr += 1
                        dest_tr[dv] = j
                        tr_src[j] = u
                        tr_dst[j] = dv
                        tr_bytes[j] = out_bytes[k]
                        tr_ref[j] = 0
                        copy_of[u * n_dev + dv] = j
                    elif out_bytes[k] > tr_bytes[j]:
                        tr_bytes[j] = out_bytes[k]
                    tr_ref[j] += 1
            ntr_u = 0
            for k in range(out_ptr[u], out_ptr[u + 1]):
                dv = dev[out_dst[k]]
                j = dest_tr[dv]
                if j >= 0:
                    dest_tr[dv] = -1
                    ntr_u += 1
                    link = du * n_dev + dv
                    if l_tail[link] < 0:
                        l_head[link] = j
                    else:
                        tr_next[l_tail[link]] = j
                    l_tail[link] = j
                    if not l_busy[link]:
                        l_busy[link] = True
                        h = l_head[link]
                        l_head[link] = tr_next[h]
                        if l_head[link] < 0:
                            l_tail[link] = -1
                        live[dv] += tr_bytes[h]
                        if live[dv] > peak[dv]:
                            peak[dv] = live[dv]
                        hsize = _heap_push(ht, hs, hc, hsize, t + tr_bytes[h] / bw[du, dv] + lat[du, dv], seq, 2 * h + 1)
                        seq += 1
            local_ref[u] += nloc + ntr_u
            if local_ref[u] == 0:
                live[du] -= alloc[u]
            # free the inputs this operation read
            for k in range(in_ptr[u], in_ptr[u + 1]):
                s = in_src[k]
                if dev[s] == du:
                    local_ref[s] -= 1
                    if local_ref[s] == 0:
                        live[du] -= alloc[s]
                else:
                    j = copy_of[s * n_dev + du]
                    tr_ref[j] -= 1
                    if tr_ref[j] == 0:
                        live[du] -= tr_bytes[j]
        else:
            # transfer idx arrived
            j = idx
            s = tr_src[j]
            ds = dev[s]
            dv = tr_dst[j]
            touched_dev = dv
            for k in range(out_ptr[s], out_ptr[s + 1]):
                v = out_dst[k]
                if dev[v] == dv:
                    pending[v] -= 1
                    if pending[v] == 0:
                        if q_tail[dv] < 0:
                            q_head[dv] = v
                        else:
                            q_next[q_tail[dv]] = v
                        q_tail[dv] = v
            local_ref[s] -= 1
            if local_ref[s] == 0:
                live[ds] -= alloc[s]
            link = ds * n_dev + dv
            if l_head[link] >= 0:
                h = l_head[link]
                l_head[link] = tr_next[h]
                if l_head[link] < 0:
                    l_tail[link] = -1
                d2 = tr_dst[h]
                live[d2] += tr_bytes[h]
                if live[d2] > peak[d2]:
                    peak[d2] = live[d2]
                hsize = _heap_push(ht, hs, hc, hsize, t + tr_bytes[h] / bw[ds, d2] + lat[ds, d2], seq, 2 * h + 1)
                seq += 1
            else:
                l_busy[link] = False
        # start the next operation on every idle device that has work (the finished operation's
        # device, or the transfer's destination)
        d = touched_dev
        if not busy[d] and q_head[d] >= 0:
            u = q_head[d]
            q_head[d] = q_next[u]
            if q_head[d] < 0:
                q_tail[d] = -1
            busy[d] = True
            live[d] += alloc[u]
            if live[d] > peak[d]:
                peak[d] = live[d]
            hsize = _heap_push(ht, hs, hc, hsize, t + dur[u], seq, 2 * u)
            seq += 1
    return makespan, peak, done


@dataclass
class SimResult:
    """The outcome of one simulated step.

    ``step_time`` is the makespan in seconds when the placement fits in memory, ``inf`` otherwise
    (``makespan`` keeps the simulated time either way). ``peak_memory`` and ``memory_limit`` are
    per device, in bytes.
    """

    step_time: float
    feasible: bool
    makespan: float
    peak_memory: np.ndarray
    memory_limit: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def overflow(self) -> float:
        """Largest relative excess of peak memory over the limit (0 when feasible)."""
        return float(max(0.0, np.max(self.peak_memory / self.memory_limit) - 1.0))

    def __repr__(self) -> str:
        state = f"{self.step_time * 1e3:.3f} ms" if self.feasible else f"infeasible (memory overflow {self.overflow:.1%})"
        return f"SimResult({state})"


class Simulator:
    """A graph and a cluster prepared for repeated simulation (what the searches hold on to).

    Args:
        graph: the operation graph.
        cluster: the devices and links.
        training: simulate forward + backward (default) or forward only.
        optimizer_slots: optimizer state per parameter (1: momentum SGD, 2: Adam).
        backward_factor: backward cost relative to forward.
        op_times: optional ``(n, D)`` measured seconds per forward operation and device (from
            profiling); replaces the roofline estimate.
    """

    def __init__(
        self,
        graph: OpGraph,
        cluster: Cluster,
        *,
        training: bool = True,
        optimizer_slots: int = 1,
        backward_factor: float = 2.0,
        op_times: np.ndarray | None = None,
    ) -> None:
        self.graph = graph
        self.cluster = cluster
        self.training = check_bool(training, "training", "Simulator")
        self.optimizer_slots = check_int(optimizer_slots, "optimizer_slots", "Simulator", low=0)
        self.tg: TrainingGraph = graph.training(backward_factor) if training else graph.inference()
        n, d = graph.n_nodes, cluster.n_devices
        if op_times is None:
            op_times = cluster.op_times(graph.flops, graph.mem_bytes)
        op_times = np.asarray(op_times, dtype=np.float64)
        if op_times.shape != (n, d):
            raise InvalidParameterError(f"The 'op_times' parameter of Simulator must have shape ({n}, {d}). Got {op_times.shape} instead.")
        self.op_times = op_times
        self.mem_factor = (2.0 + self.optimizer_slots) if training else 1.0
        self.memory = cluster.memory
        # what a transfer costs the devices at its ends (None: free, the kernel's input unchanged)
        self._ends: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        if cluster.charges_transfers:
            self._ends = (
                np.array([dv.send_overhead for dv in cluster.devices]),
                np.array([dv.send_bandwidth for dv in cluster.devices]),
                np.array([dv.recv_overhead for dv in cluster.devices]),
                np.array([dv.recv_bandwidth for dv in cluster.devices]),
            )
        self.n_calls = 0

    def check_placement(self, placement: Any) -> np.ndarray:
        dev = np.asarray(getattr(placement, "devices", placement))
        n, d = self.graph.n_nodes, self.cluster.n_devices
        if dev.shape != (n,) or dev.dtype.kind not in "iu":
            raise InvalidParameterError(
                f"The 'placement' parameter of simulate must be {n} device indices (one per operation). Got {dev.dtype} array of shape {dev.shape} instead."
            )
        bad = np.flatnonzero((dev < 0) | (dev >= d))
        if bad.size:
            i = int(bad[0])
            raise InvalidParameterError(
                f"The 'placement' parameter of simulate must hold device indices in [0, {d - 1}]; placement[{i}] (operation {self.graph.names[i]!r}) is {int(dev[i])}."
            )
        return dev.astype(np.int64)

    def static_memory(self, dev: np.ndarray) -> np.ndarray:
        mem = np.zeros(self.cluster.n_devices)
        np.add.at(mem, dev, self.graph.param_bytes * self.mem_factor)
        return mem

    def _durations(self, dev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The device of every node of the step's graph and the seconds it holds that device."""
        tg = self.tg
        full = dev[tg.owner]
        dur = self.op_times[tg.owner, full] * tg.work_scale
        if self._ends is not None:
            dur = dur + _end_costs(full, tg.out_ptr, tg.out_dst, tg.out_bytes, *self._ends, self.cluster.n_devices)
        return full, dur

    def busy(self, placement: Any) -> np.ndarray:
        """Seconds each device is busy in one step (its operations, and what it spends sending
        and receiving where the cluster charges that), idle time excluded: the step time is at
        least the largest of them."""
        full, dur = self._durations(self.check_placement(placement))
        return np.bincount(full, weights=dur, minlength=self.cluster.n_devices)

    def run_raw(self, dev: np.ndarray) -> tuple[float, np.ndarray]:
        """(makespan, peak memory per device) for validated device indices ``dev``."""
        self.n_calls += 1
        tg = self.tg
        full, dur = self._durations(dev)
        makespan, peak, done = _sim_kernel(
            dur, full, tg.out_ptr, tg.out_dst, tg.out_bytes, tg.in_ptr, tg.in_src, tg.n_pred,
            tg.alloc, self.cluster.bandwidth, self.cluster.latency, self.static_memory(dev), self.cluster.n_devices,
        )
        if done != full.size:  # pragma: no cover - a DAG always completes
            raise RuntimeError("simulation deadlocked: the graph has a cycle")
        return float(makespan), peak

    def cost(self, dev: np.ndarray, penalty: float = 10.0) -> float:
        """Step time, or for an infeasible placement ``makespan * (penalty + overflow)``: the
        large-runtime score the hierarchical paper gives failed placements (a search objective)."""
        makespan, peak = self.run_raw(dev)
        over = float(np.max(peak / self.memory))
        if over <= 1.0:
            return makespan
        return makespan * (penalty + over)

    def __call__(self, placement: Any) -> SimResult:
        dev = self.check_placement(placement)
        makespan, peak = self.run_raw(dev)
        feasible = bool(np.all(peak <= self.memory))
        return SimResult(makespan if feasible else float("inf"), feasible, makespan, peak, self.memory.copy())


def simulate(
    graph: OpGraph,
    placement: Any,
    cluster: Cluster,
    *,
    training: bool = True,
    optimizer_slots: int = 1,
    op_times: np.ndarray | None = None,
) -> SimResult:
    """Simulate one step of ``graph`` placed by ``placement`` on ``cluster``.

    Args:
        graph: the operation graph (from :func:`capture` or built by hand).
        placement: a :class:`Placement` or one device index per operation.
        cluster: devices and links.
        training: forward + backward (default) or forward only.
        optimizer_slots: optimizer state per parameter, counted in memory.
        op_times: measured ``(n, D)`` seconds per operation, replacing the roofline model.

    Returns:
        A :class:`SimResult`: ``step_time`` (seconds, ``inf`` if the placement does not fit in
        memory), ``feasible``, ``peak_memory`` per device.
    """
    return Simulator(graph, cluster, training=training, optimizer_slots=optimizer_slots, op_times=op_times)(placement)
