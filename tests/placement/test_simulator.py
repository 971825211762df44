"""The simulator against hand-computed answers and an independent pure-Python event simulator."""

from __future__ import annotations

import heapq
import itertools

import numpy as np
import pytest

from learnedsys._serialization import FormatError
from learnedsys._validation import InvalidParameterError
from learnedsys.placement import Cluster, OpGraph, Simulator, simulate


def make_graph(flops, edges, out_bytes=None, param_bytes=None, mem_bytes=None):
    n = len(flops)
    src = np.array([e[0] for e in edges], dtype=np.int64)
    dst = np.array([e[1] for e in edges], dtype=np.int64)
    return OpGraph(
        names=[f"op{i}" for i in range(n)],
        op_types=["mm"] * n,
        modules=[""] * n,
        flops=np.asarray(flops, dtype=float),
        mem_bytes=np.zeros(n) if mem_bytes is None else np.asarray(mem_bytes, float),
        out_bytes=np.zeros(n) if out_bytes is None else np.asarray(out_bytes, float),
        param_bytes=np.zeros(n) if param_bytes is None else np.asarray(param_bytes, float),
        edge_src=src,
        edge_dst=dst,
    )


# 1 TFLOP/s devices, 1 GB/s links, latency 0.25 s: times are exact binary fractions.
CL = Cluster.homogeneous(3, flops=1e12, bandwidth=1e9, latency=0.25, memory=1e15)


def test_chain_single_device_is_sum():
    g = make_graph([1e12, 2e12, 4e12], [(0, 1), (1, 2)], out_bytes=[1e9, 1e9, 0])
    assert simulate(g, np.zeros(3, np.int64), CL, training=False).step_time == 7.0
    # training: forward 7 s + backward 2 x 7 s on one device
    assert simulate(g, np.zeros(3, np.int64), CL).step_time == 21.0


def test_chain_across_devices_adds_transfers():
    g = make_graph([1e12, 2e12, 4e12], [(0, 1), (1, 2)], out_bytes=[1e9, 2e9, 0])
    # 1 + (1 + .25) + 2 + (2 + .25) + 4
    assert simulate(g, np.array([0, 1, 2]), CL, training=False).step_time == 10.5
    # same devices for 0 and 1: only one transfer
    assert simulate(g, np.array([0, 0, 1]), CL, training=False).step_time == 1 + 2 + 2.25 + 4


def test_fork_join():
    # 0 -> {1, 2} -> 3
    g = make_graph([1e12, 4e12, 4e12, 1e12], [(0, 1), (0, 2), (1, 3), (2, 3)], out_bytes=[1e9, 1e9, 1e9, 0])
    assert simulate(g, np.zeros(4, np.int64), CL, training=False).step_time == 10.0
    # the branch on device 0 finishes at 5, the other arrives at 1 + 1.25 + 4 + 1.25 = 7.5
    assert simulate(g, np.array([0, 0, 1, 0]), CL, training=False).step_time == 8.5


def test_transfer_bound_pair():
    g = make_graph([1e9, 1e9], [(0, 1)], out_bytes=[8e9, 0])
    assert simulate(g, np.array([0, 1]), CL, training=False).step_time == pytest.approx(0.001 + 8.25 + 0.001)
    assert simulate(g, np.array([0, 0]), CL, training=False).step_time == pytest.approx(0.002)


def test_one_transfer_per_destination_and_link_fifo():
    # 0 feeds 1 and 2 both on device 1: a single transfer; 3 (device 2) gets its own.
    g = make_graph([1e12, 1e12, 1e12, 1e12], [(0, 1), (0, 2), (0, 3)], out_bytes=[1e9, 0, 0, 0])
    r = simulate(g, np.array([0, 1, 1, 2]), CL, training=False)
    assert r.step_time == 1 + 1.25 + 2
    # two producers on device 0 sending to device 1 share the link: FIFO
    g2 = make_graph([1e12, 1e12, 1e12, 1e12], [(0, 2), (1, 3)], out_bytes=[1e9, 1e9, 0, 0])
    # 0 ends at 1, sends until 2.25; 1 ends at 2, waits for the link, arrives 3.5; 3 ends at 4.5
    assert simulate(g2, np.array([0, 0, 1, 1]), CL, training=False).step_time == 4.5


def test_memory_infeasible_reported_not_timed():
    cl = Cluster.homogeneous(2, flops=1e12, bandwidth=1e9, memory=12e9)
    g = make_graph([1e12, 1e12], [(0, 1)], out_bytes=[1e9, 0], param_bytes=[3e9, 3e9])
    # params x3 (weights, gradients, momentum): 18 GB on one device > 12 GB
    r = simulate(g, np.array([0, 0]), cl)
    assert not r.feasible and r.step_time == float("inf") and r.makespan > 0
    assert r.peak_memory[0] >= 18e9
    r2 = simulate(g, np.array([0, 1]), cl)
    assert r2.feasible and np.isfinite(r2.step_time)


def test_peak_memory_frees_dead_activations():
    # chain of 4 ops each output 1 GB, forward only: at most input + output live (2 GB)
    g = make_graph([1e12] * 4, [(0, 1), (1, 2), (2, 3)], out_bytes=[1e9] * 4)
    r = simulate(g, np.zeros(4, np.int64), CL, training=False)
    assert r.peak_memory[0] == 2e9
    # training keeps every activation until its backward: all 4 GB live at the turn
    rt = simulate(g, np.zeros(4, np.int64), CL)
    assert rt.peak_memory[0] >= 4e9


def test_bad_placement_errors():
    g = make_graph([1.0, 1.0], [(0, 1)])
    with pytest.raises(InvalidParameterError, match=r"placement\[1\].*op1"):
        simulate(g, np.array([0, 7]), CL)
    with pytest.raises(InvalidParameterError, match="2 device indices"):
        simulate(g, np.array([0]), CL)


def test_graph_validation():
    with pytest.raises(InvalidParameterError, match="edge 0 is 1 -> 0"):
        make_graph([1.0, 1.0], [(1, 0)])
    with pytest.raises(InvalidParameterError, match=r"flops\[1\]"):
        make_graph([1.0, -1.0], [])


def test_graph_save_load_roundtrip(tmp_path):
    g = make_graph([1.0, 2.0, 3.0], [(0, 1), (1, 2)], out_bytes=[5, 6, 7])
    p = tmp_path / "g.lsys"
    g.save(p)
    h = OpGraph.load(p)
    assert h.names == g.names and np.array_equal(h.flops, g.flops) and np.array_equal(h.edge_dst, g.edge_dst)
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FormatError):
        OpGraph.load(p)
    assert OpGraph.from_dict(g.to_dict()).names == g.names


# ---------------------------------------------------------------- independent reference simulator
def reference_simulate(g: OpGraph, dev: np.ndarray, cl: Cluster, training: bool) -> float:
    """A straightforward re-implementation of the documented semantics, with Python containers."""
    tg = g.training() if training else g.inference()
    n = tg.owner.size
    full = dev[tg.owner]
    times = cl.op_times(g.flops, g.mem_bytes)
    dur = [times[tg.owner[j], full[j]] * tg.work_scale[j] for j in range(n)]
    succ = {j: [] for j in range(n)}
    for j in range(n):
        for k in range(tg.out_ptr[j], tg.out_ptr[j + 1]):
            succ[j].append((int(tg.out_dst[k]), float(tg.out_bytes[k])))
    # a received value of b bytes (the largest edge to that device) costs its first consumer on
    # the receiving device recv_overhead + b / recv_bandwidth (of the receiving device)
    for j in range(n):
        firsts, sizes = {}, {}
        for v, b in succ[j]:
            if full[v] != full[j]:
                firsts[int(full[v])] = min(firsts.get(int(full[v]), v), v)
                sizes[int(full[v])] = max(sizes.get(int(full[v]), 0.0), b)
        for dv, v in firsts.items():
            dur[v] += cl.devices[dv].recv_overhead + sizes[dv] / cl.devices[dv].recv_bandwidth
    pending = {j: int(tg.n_pred[j]) for j in range(n)}
    queues = {d: [] for d in range(cl.n_devices)}
    busy = dict.fromkeys(range(cl.n_devices), False)
    links: dict[tuple[int, int], list] = {}
    link_busy: dict[tuple[int, int], bool] = {}
    events: list = []
    counter = itertools.count()
    end = 0.0

    def start_dev(d, t):
        if not busy[d] and queues[d]:
            j = queues[d].pop(0)
            busy[d] = True
            heapq.heappush(events, (t + dur[j], next(counter), "op", j))

    def start_link(key, t):
        if not link_busy.get(key) and links.get(key):
            src, dst, b = links[key].pop(0)
            link_busy[key] = True
            heapq.heappush(events, (t + b / cl.bandwidth[key] + cl.latency[key], next(counter), "tr", (src, dst)))

    for j in range(n):
        if pending[j] == 0:
            queues[int(full[j])].append(j)
    for d in range(cl.n_devices):
        start_dev(d, 0.0)
    while events:
        t, _, kind, x = heapq.heappop(events)
        end = max(end, t)
        if kind == "op":  # the operation's work is done: its sends hold the device
            j = x
            d = int(full[j])
            dests: dict[int, float] = {}
            for v, b in succ[j]:
                if full[v] != d:
                    dests[int(full[v])] = max(dests.get(int(full[v]), 0.0), b)
            dv_ = cl.devices[d]
            send = sum(dv_.send_overhead + b / dv_.send_bandwidth for b in dests.values())
            heapq.heappush(events, (t + send, next(counter), "sent", j))
        elif kind == "sent":
            j = x
            d = int(full[j])
            busy[d] = False
            remote: dict[int, float] = {}
            for v, b in succ[j]:
                if full[v] == d:
                    pending[v] -= 1
                    if pending[v] == 0:
                        queues[d].append(v)
                else:
                    remote[int(full[v])] = max(remote.get(int(full[v]), 0.0), b)
            order = []
            for v, _ in succ[j]:
                dv = int(full[v])
                if dv in remote and dv not in order:
                    order.append(dv)
            for dv in order:
                key = (d, dv)
                links.setdefault(key, []).append((j, dv, remote[dv]))
                start_link(key, t)
            start_dev(d, t)
        else:
            src, dv = x
            for v, _ in succ[src]:
                if full[v] == dv:
                    pending[v] -= 1
                    if pending[v] == 0:
                        queues[dv].append(v)
            key = (int(full[src]), dv)
            link_busy[key] = False
            start_link(key, t)
            start_dev(dv, t)
    return end


def random_graph(rng, n):
    edges = []
    for v in range(1, n):
        k = int(rng.integers(1, min(v, 3) + 1))
        for u in rng.choice(v, size=k, replace=False):
            edges.append((int(u), v))
    return make_graph(rng.random(n) * 1e12, edges, out_bytes=rng.random(n) * 2e9, mem_bytes=rng.random(n) * 1e9)


@pytest.mark.parametrize("training", [False, True])
def test_matches_reference_simulator_on_random_graphs(training):
    rng = np.random.default_rng(42)
    cl = Cluster.from_dict({
        "devices": [{"name": f"d{i}", "flops": f, "memory": 1e15, "mem_bandwidth": 5e9, "overhead": 1e-3} for i, f in enumerate([1e12, 2e12, 5e11])],
        "links": {"bandwidth": 1e9, "latency": 1e-2, "pairs": [{"src": 0, "dst": 1, "bandwidth": 3e9}]},
    })
    for _ in range(30):
        g = random_graph(rng, int(rng.integers(2, 25)))
        dev = rng.integers(0, 3, g.n_nodes)
        got = simulate(g, dev, cl, training=training).makespan
        assert got == pytest.approx(reference_simulate(g, dev, cl, training), rel=1e-12)


def test_matches_reference_simulator_with_send_and_receive_costs():
    rng = np.random.default_rng(7)
    cl = Cluster.from_dict({
        "devices": [{"name": f"d{i}", "flops": f, "memory": 1e15, "overhead": 1e-3, "send_overhead": so, "send_bandwidth": sb, "recv_overhead": ro,
                     "recv_bandwidth": rb}
                    for i, (f, so, sb, ro, rb) in enumerate([(1e12, 1e-2, 2e9, 3e-3, 3e9), (2e12, 0.0, 5e9, 1e-2, float("inf")), (5e11, 2e-2, float("inf"), 0.0, 7e8)])],
        "links": {"bandwidth": 1e9, "latency": 1e-2},
    })
    assert cl.charges_transfers
    for training in (False, True):
        for _ in range(20):
            g = random_graph(rng, int(rng.integers(2, 25)))
            dev = rng.integers(0, 3, g.n_nodes)
            got = simulate(g, dev, cl, training=training).makespan
            assert got == pytest.approx(reference_simulate(g, dev, cl, training), rel=1e-12)


def test_send_and_receive_costs_by_hand():
    # 1 TFLOP/s, links 1 GB/s + 0.25 s; a send costs its device 0.125 s + bytes / 4 GB/s, a
    # receive costs the consumer's device 0.0625 s: binary fractions, exact
    dev = {"flops": 1e12, "memory": 1e15, "send_overhead": 0.125, "send_bandwidth": 4e9, "recv_overhead": 0.0625}
    cl = Cluster.from_dict({"devices": [{"name": f"d{i}", **dev} for i in range(3)], "links": {"bandwidth": 1e9, "latency": 0.25}})
    g = make_graph([1e12, 2e12], [(0, 1)], out_bytes=[1e9, 0])
    # op 0 (1 s), its copy (0.125 + 0.25), the link (1 + 0.25), the receive (0.0625), op 1 (2 s)
    assert simulate(g, np.array([0, 1]), cl, training=False).step_time == 1 + 0.375 + 1.25 + 0.0625 + 2
    assert simulate(g, np.array([0, 0]), cl, training=False).step_time == 3.0  # no transfer, no charge
    # one value to two consumers on device 1 and one on device 2: two sends of 1e9 bytes (one per
    # destination device), one receive per device, charged to the first consumer there (op 1)
    g3 = make_graph([1e12, 2e12, 1e12, 1e12], [(0, 1), (0, 2), (0, 3)], out_bytes=[1e9, 0, 0, 0])
    # sends end at 1 + 2 x 0.375 = 1.75; both links deliver at 3.0; device 1 runs op 1 (2.0625 s)
    # then op 2 (1 s): 6.0625; device 2 runs op 3 (1.0625 s): 4.0625
    assert simulate(g3, np.array([0, 1, 1, 2]), cl, training=False).step_time == 6.0625
    # busy time per device: work plus what sending and receiving cost it, no idle time
    sim = Simulator(g3, cl, training=False)
    assert sim.busy(np.array([0, 1, 1, 2])).tolist() == [1.75, 3.0625, 1.0625]
    assert sim.busy(np.zeros(4, np.int64)).tolist() == [5.0, 0.0, 0.0]
    # the K80 preset charges nothing (its DMA engines move data): unchanged semantics
    assert not Cluster.preset("k80x4").charges_transfers
    # the same graph without the device charges: the link alone
    free = Cluster.homogeneous(3, flops=1e12, memory=1e15, bandwidth=1e9, latency=0.25)
    assert simulate(g, np.array([0, 1]), free, training=False).step_time == 1 + 1.25 + 2


def test_receive_bandwidth_by_hand():
    # the receiver's time for the bytes, on the receiving device only: d1 reads at 8 GB/s, d2 at
    # 2 GB/s (1e9 bytes: 0.125 s and 0.5 s), d0 (the sender) reads free; sends and links as in
    # the test above (binary fractions, exact)
    base = {"flops": 1e12, "memory": 1e15, "send_overhead": 0.125, "send_bandwidth": 4e9, "recv_overhead": 0.0625}
    cl = Cluster.from_dict({"devices": [{"name": "d0", **base}, {"name": "d1", **base, "recv_bandwidth": 8e9},
                                        {"name": "d2", **base, "recv_bandwidth": 2e9}], "links": {"bandwidth": 1e9, "latency": 0.25}})
    assert [d.recv_bandwidth for d in cl.devices] == [float("inf"), 8e9, 2e9]
    g = make_graph([1e12, 2e12], [(0, 1)], out_bytes=[1e9, 0])
    # op 0 (1 s), its copy (0.125 + 0.25), the link (1 + 0.25), the receive (0.0625 + 0.125), op 1 (2 s)
    assert simulate(g, np.array([0, 1]), cl, training=False).step_time == 1 + 0.375 + 1.25 + 0.1875 + 2
    assert simulate(g, np.array([0, 2]), cl, training=False).step_time == 1 + 0.375 + 1.25 + 0.5625 + 2
    # back to d0, whose reads are free: the fixed receive cost alone
    assert simulate(g, np.array([1, 0]), cl, training=False).step_time == 1 + 0.375 + 1.25 + 0.0625 + 2
    assert simulate(g, np.array([1, 1]), cl, training=False).step_time == 3.0  # no transfer, no charge
    # one value of 1e9 bytes to op 1 (2 s) and op 2 (1 s) on d1 and op 3 (1 s) on d2: one receive per
    # device, charged once, to the first consumer there (op 1 on d1), at that device's rate
    g3 = make_graph([1e12, 2e12, 1e12, 1e12], [(0, 1), (0, 2), (0, 3)], out_bytes=[1e9, 0, 0, 0])
    dev = np.array([0, 1, 1, 2])
    sim = Simulator(g3, cl, training=False)
    # d0: op 0 + two sends (1 + 2 x 0.375); d1: 2 + 1 + 0.0625 + 1e9 / 8e9; d2: 1 + 0.0625 + 1e9 / 2e9
    assert sim.busy(dev).tolist() == [1.75, 3.1875, 1.5625]
    # the sends end at 1.75 and the links deliver at 3.0 on both: d1 ends at 3 + 3.1875, d2 at 3 + 1.5625
    assert sim(dev).step_time == 6.1875
    # brute force: the same step by hand, event by event, against the reference simulator
    assert sim(dev).step_time == reference_simulate(g3, dev, cl, False)
    # the bytes are the value's (the largest edge to that device), not a sum over its consumers
    g4 = make_graph([1e12, 1e12, 1e12], [(0, 1), (0, 2)], out_bytes=[1e9, 0, 0])
    assert Simulator(g4, cl, training=False).busy(np.array([0, 1, 1])).tolist() == [1.375, 2.1875, 0.0]


def test_presets_step_times_unchanged():
    # makespans of random placements of a small NMT graph before the send / receive charges existed
    # (learnedsys commit eeeba41): the presets' figures must not move
    from learnedsys.placement import capture, models

    g = capture(*models.nmt(layers=2, batch=16, seq=4, hidden=128, vocab=500))
    rng = np.random.default_rng(3)
    before = {
        ("k80x4", True): [0.006007050153808039, 0.0059073370253869915, 0.0060306004190712],
        ("k80x4", False): [0.0027144663578947356, 0.0026633581860061916, 0.00267893181126935],
        ("p100x4-nvlink", True): [0.0034230421407925454, 0.0034132073189743653, 0.0034832313868531518],
        ("p100x4-nvlink", False): [0.0015073877422843833, 0.0014547700453146856, 0.0015570793204662016],
    }
    for (name, training), want in before.items():
        cl = Cluster.preset(name)
        assert not cl.charges_transfers
        assert all(d.recv_bandwidth == float("inf") and d.recv_overhead == 0.0 for d in cl.devices)
        assert "send_overhead" not in cl.to_dict()["devices"][0] and "recv_bandwidth" not in cl.to_dict()["devices"][0]
        sim = Simulator(g, cl, training=training)
        got = [sim(rng.integers(0, cl.n_devices, g.n_nodes)).makespan for _ in range(3)]
        assert got == want


def test_send_costs_round_trip_and_validation():
    spec = {"devices": [{"name": "a", "flops": 1e9, "memory": 1e9, "send_overhead": 2e-6, "send_bandwidth": 6e9, "recv_overhead": 3e-6, "recv_bandwidth": 5e9},
                        {"name": "b", "flops": 1e9, "memory": 1e9}, {"name": "c", "flops": 1e9, "memory": 1e9, "recv_bandwidth": 4e9}]}
    c = Cluster.from_dict(spec)
    a, b, rb = c.devices
    assert (a.send_overhead, a.send_bandwidth, a.recv_overhead, a.recv_bandwidth) == (2e-6, 6e9, 3e-6, 5e9) and a.charges_transfers
    assert (b.send_overhead, b.send_bandwidth, b.recv_overhead, b.recv_bandwidth) == (0.0, float("inf"), 0.0, float("inf")) and not b.charges_transfers
    assert rb.recv_bandwidth == 4e9 and rb.charges_transfers  # a per-byte receive cost alone charges transfers
    assert Cluster.from_dict(c.to_dict()).devices == c.devices
    with pytest.raises(InvalidParameterError, match=r"'devices\[0\]\.recv_bandwidth' field of a cluster must be a number > 0"):
        Cluster.from_dict({"devices": [{"flops": 1e9, "memory": 1e9, "recv_bandwidth": 0}]})
    with pytest.raises(InvalidParameterError, match=r"'devices\[0\]\.recv_bandwidth' field of a cluster must be a number > 0"):
        Cluster.from_dict({"devices": [{"flops": 1e9, "memory": 1e9, "recv_bandwidth": "fast"}]})
    with pytest.raises(InvalidParameterError, match=r"'devices\[0\]\.send_overhead' field of a cluster must be a finite number >= 0"):
        Cluster.from_dict({"devices": [{"flops": 1e9, "memory": 1e9, "send_overhead": -1}]})
    with pytest.raises(InvalidParameterError, match=r"'devices\[0\]\.send_bandwidth' field of a cluster must be a number > 0"):
        Cluster.from_dict({"devices": [{"flops": 1e9, "memory": 1e9, "send_bandwidth": 0}]})


def test_single_device_equals_total_work():
    rng = np.random.default_rng(1)
    for _ in range(10):
        g = random_graph(rng, 30)
        sim = Simulator(g, CL)
        t = sim(np.ones(g.n_nodes, np.int64)).step_time
        assert t == pytest.approx(3 * g.flops.sum() / 1e12, rel=1e-12)


def test_presets():
    for name in ("k80x4", "p100x4-nvlink", "h100x8"):
        c = Cluster.preset(name)
        assert c.n_devices >= 5 and c.devices[0].kind == "cpu"
        off = ~np.eye(c.n_devices, dtype=bool)
        assert np.array_equal(Cluster.from_dict(c.to_dict()).bandwidth[off], c.bandwidth[off])
    assert Cluster.preset("k80x4").bandwidth[1, 2] == 7.6e9
    with pytest.raises(InvalidParameterError, match=r"'name' parameter of Cluster\.preset"):
        Cluster.preset("tpu")
    with pytest.raises(InvalidParameterError, match="flops"):
        Cluster.from_dict({"devices": [{"name": "x", "flops": -1, "memory": 1}]})


def test_cluster_from_json_file(tmp_path):
    spec = {
        "name": "two",
        "devices": [{"name": "a", "flops": 1e12, "memory": 8e9}, {"name": "b", "flops": 2e12, "memory": 8e9, "kind": "gpu"}],
        "links": {"bandwidth": 5e9, "latency": 1e-5, "pairs": [{"src": "a", "dst": "b", "bandwidth": 1e9}]},
    }
    path = tmp_path / "c.json"
    path.write_text(__import__("json").dumps(spec))
    c = Cluster.from_json(path)
    assert c.name == "two" and c.fastest() == 1
    assert c.bandwidth[0, 1] == 1e9 and c.bandwidth[1, 0] == 5e9 and c.latency[0, 1] == 1e-5
    with pytest.raises(InvalidParameterError, match="'devices' list"):
        Cluster.from_dict({"gpus": []})
