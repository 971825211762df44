"""Every placer on hand-built graphs: valid output, oracle checks (exhaustive search), the default
never beaten by a named method, reproducibility."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

from learnedsys._serialization import FormatError
from learnedsys._validation import InvalidParameterError
from learnedsys.placement import (
    HEURISTICS,
    METHODS,
    Cluster,
    GroupPolicy,
    HierarchicalPolicy,
    OpGraph,
    Placement,
    Simulator,
    place,
    simulate,
)
from learnedsys.policy import ActionSpace, Policy

FAST = {"iterations": 15, "batch": 4, "time_budget": 5.0, "anneal_steps": 300, "kicks": 5}


def graph(flops, edges, out_bytes, param_bytes=None, modules=None):
    n = len(flops)
    return OpGraph(
        names=[f"op{i}" for i in range(n)], op_types=["mm"] * n,
        modules=modules or [""] * n, flops=np.asarray(flops, float), mem_bytes=np.zeros(n),
        out_bytes=np.asarray(out_bytes, float),
        param_bytes=np.zeros(n) if param_bytes is None else np.asarray(param_bytes, float),
        edge_src=np.array([e[0] for e in edges], dtype=np.int64), edge_dst=np.array([e[1] for e in edges], dtype=np.int64),
    )


def towers_graph(n_towers=4, depth=5, flops=1e12, nbytes=1e6):
    """input -> n independent chains (module towers.<j>.<k>) -> sum."""
    flo, edges, mods, ob = [0.0], [], [""], [nbytes]
    for j in range(n_towers):
        prev = 0
        for k in range(depth):
            flo.append(flops)
            mods.append(f"towers.{j}.{k}")
            ob.append(nbytes)
            edges.append((prev, len(flo) - 1))
            prev = len(flo) - 1
        edges.append((prev, n_towers * depth + 1))
    flo.append(1e9)
    mods.append("")
    ob.append(0.0)
    return graph(flo, edges, ob, modules=mods)


def chain_graph(n=12, flops=1e12, nbytes=4e8):
    return graph([flops] * n, [(i, i + 1) for i in range(n - 1)], [nbytes] * n, modules=[f"layers.{i}" for i in range(n)])


GPU4 = Cluster.from_dict({
    "name": "test4",
    "devices": [{"name": "cpu", "kind": "cpu", "flops": 1e11, "memory": 1e12}]
    + [{"name": f"gpu{i}", "flops": 1e12, "memory": 1e11, "overhead": 1e-5} for i in range(4)],
    "links": {"bandwidth": 8e9, "latency": 25e-6},
})


@pytest.fixture(scope="module")
def results():
    out = {}
    for gname, g in (("towers", towers_graph()), ("chain", chain_graph())):
        sim = Simulator(g, GPU4)
        out[gname] = (g, sim, {m: place(g, GPU4, m, simulator=sim, seed=0, **FAST) for m in METHODS})
    return out


@pytest.mark.parametrize("method", METHODS)
def test_every_method_returns_valid_placement(results, method):
    for g, sim, res in results.values():
        p = res[method]
        assert p.devices.shape == (g.n_nodes,)
        assert p.devices.min() >= 0 and p.devices.max() < GPU4.n_devices
        assert p.step_time == pytest.approx(sim(p.devices).step_time)
        assert p.method == method and p.search_seconds >= 0


def test_default_never_beaten_by_named_method(results):
    for _, _, res in results.values():
        best_named = min(res[m].step_time for m in METHODS if m != "default")
        assert res["default"].step_time <= best_named * (1 + 1e-12)


def test_towers_are_spread(results):
    _, _, res = results["towers"]
    single = res["single"].step_time
    assert res["default"].step_time <= 0.45 * single
    assert res["expert"].step_time <= 0.45 * single  # one tower per GPU
    assert len(set(res["expert"].devices[1:21].tolist())) == 4


def test_chain_not_made_worse(results):
    _, _, res = results["chain"]
    assert res["default"].step_time <= 1.02 * res["single"].step_time


def test_default_finds_exhaustive_optimum_on_tiny_graph():
    # fork-join of 5 ops, 3 devices: 3^5 = 243 placements, checked exhaustively
    g = graph([1e11, 4e11, 3e11, 5e11, 1e11], [(0, 1), (0, 2), (0, 3), (1, 4), (2, 4), (3, 4)], [2e8, 1e8, 1e8, 1e8, 0])
    cl = Cluster.homogeneous(3, flops=1e12, bandwidth=1e9, latency=1e-4)
    sim = Simulator(g, cl)
    best = min(sim(np.array(a)).step_time for a in itertools.product(range(3), repeat=5))
    p = place(g, cl, "default", seed=0, **FAST)
    assert p.step_time == pytest.approx(best, rel=1e-9)


def test_memory_limits_respected_by_heuristics():
    # each op holds 3 GB of parameters (x3 in training): one GPU cannot hold two of them
    g = chain_graph(4)
    g.param_bytes[:] = 3e9
    cl = Cluster.from_dict({"devices": [{"name": f"g{i}", "flops": 1e12, "memory": 12e9} for i in range(4)], "links": {"bandwidth": 1e10}})
    assert not simulate(g, np.zeros(4, np.int64), cl).feasible
    for m in ("m-topo", "m-etf", "m-sct", "default"):
        p = place(g, cl, m, **FAST)
        assert p.feasible, m


def test_expert_layerwise_for_stacks():
    g = chain_graph(8)
    p = place(g, GPU4, "expert")
    assert p.devices.tolist() == [1, 1, 2, 2, 3, 3, 4, 4]


def test_policies_follow_interface():
    pol = GroupPolicy(ActionSpace((3,) * 4), seed=1)
    assert isinstance(pol, Policy)
    prop = pol.propose()
    assert pol.space.contains(prop.action) and 0 < prop.propensity <= 1
    # rewarding action 2 everywhere pulls the policy to it
    for _ in range(200):
        pr = pol.propose()
        pol.update(pr, float(sum(a == 2 for a in pr.action)))
    assert pol.greedy() == (2, 2, 2, 2)
    st = json.loads(json.dumps(pol.state()))
    pol2 = GroupPolicy(ActionSpace((3,) * 4), seed=1)
    pol2.load_state(st)
    assert pol2.greedy() == pol.greedy()
    h = HierarchicalPolicy(np.eye(6), n_groups=2, n_devices=3, seed=0)
    a = h.propose().action
    assert h.space.contains(a) and h.devices_of(a).shape == (6,)


def test_same_seed_same_result_and_bad_method():
    g = towers_graph(3, 3)
    a = place(g, GPU4, "rl", seed=3, **FAST)
    b = place(g, GPU4, "rl", seed=3, **FAST)
    assert np.array_equal(a.devices, b.devices)
    with pytest.raises(InvalidParameterError, match="'method' parameter of place"):
        place(g, GPU4, "magic")


def test_reproducible_in_fresh_process():
    here_dir = str(__import__("pathlib").Path(__file__).resolve().parent)
    code = (
        f"import numpy as np, sys; sys.path.insert(0, {here_dir!r});"
        "from test_placers import towers_graph, GPU4, FAST;"
        "from learnedsys.placement import place;"
        "print(place(towers_graph(3, 3), GPU4, 'hierarchical', seed=5, **FAST).devices.tolist())"
    )
    here = place(towers_graph(3, 3), GPU4, "hierarchical", seed=5, **FAST).devices.tolist()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip()) == here


def test_placement_json_roundtrip(tmp_path):
    p = place(chain_graph(4), GPU4, "m-etf")
    path = tmp_path / "p.json"
    p.save(path, op_names=[f"op{i}" for i in range(4)])
    q = Placement.load(path)
    assert np.array_equal(p.devices, q.devices) and q.method == "m-etf"
    path.write_text("{not json")
    with pytest.raises(FormatError, match="not a placement JSON file"):
        Placement.load(path)


def test_heuristics_list():
    assert set(HEURISTICS) < set(METHODS) and "default" in METHODS


@pytest.mark.parametrize("n, edges", [(1, []), (3, []), (2, [(0, 1)])])
def test_degenerate_graphs_every_method(n, edges):
    g = graph([1e9] * n, edges, [1e6] * n)
    results = {m: place(g, GPU4, m, iterations=3, batch=2, anneal_steps=10) for m in METHODS}
    for m, p in results.items():
        assert p.devices.shape == (n,) and p.feasible, m
    assert results["default"].step_time <= min(p.step_time for p in results.values()) * (1 + 1e-12)


def test_chain_partition_joins_private_edges():
    from learnedsys.placement._place import chain_partition

    rng = np.random.default_rng(0)
    for _ in range(20):
        n = 30
        edges = sorted({(int(u), int(v)) for v in range(1, n) for u in rng.choice(v, size=min(v, 2), replace=False)})
        g = graph([1.0] * n, edges, [1.0] * n)
        lab = chain_partition(g)
        outdeg = np.bincount(g.edge_src, minlength=n)
        indeg = np.bincount(g.edge_dst, minlength=n)
        for s, d in zip(g.edge_src, g.edge_dst, strict=True):
            if outdeg[s] == 1 or indeg[d] == 1:
                assert lab[s] == lab[d]
        assert set(lab.tolist()) == set(range(lab.max() + 1))


def unrolled_rnn_graph(steps=4):
    """A one-layer unrolled RNN: parameters w_in (read at every step, uses independent of each
    other) and w_rec (read at every step along the recurrence); per step an input projection,
    a recurrent product and an addition (module ``rnn``), plus top-level glue."""
    flo, edges, mods, pb = [0.0, 0.0, 0.0], [], ["", "rnn", "rnn"], [0.0, 4e6, 4e6]  # x, w_in, w_rec
    prev = None
    for _ in range(steps):
        base = len(flo)
        flo += [1e9, 1e9, 1e8]
        mods += ["rnn", "rnn", "rnn"]
        pb += [0.0, 0.0, 0.0]
        edges += [(0, base), (1, base), (2, base + 1), (base, base + 2), (base + 1, base + 2)]
        if prev is not None:
            edges.append((prev, base + 1))
        prev = base + 2
    flo.append(1e8)
    mods.append("")
    pb.append(0.0)
    edges.append((prev, len(flo) - 1))
    return graph(flo, edges, [1e6] * len(flo), param_bytes=pb, modules=mods)


def test_parameter_and_segment_partitions():
    from learnedsys.placement._place import _independent, parameter_partition, segment_partition

    g = unrolled_rnn_graph(4)
    lab = parameter_partition(g)
    w_in = [1] + [3 + 3 * t for t in range(4)]
    w_rec = [2] + [4 + 3 * t for t in range(4)]
    assert len({lab[i] for i in w_in}) == 1 and len({lab[i] for i in w_rec}) == 1
    assert lab[1] != lab[2]
    adds = [5 + 3 * t for t in range(4)]
    assert len({lab[i] for i in adds}) == 1 and lab[adds[0]] not in (lab[1], lab[2])
    succ = g.successors()
    assert _independent(succ, np.array(w_in[1:]))
    assert not _independent(succ, np.array(w_rec[1:]))
    # the trailing glue op follows its input's module; segments are contiguous runs of it
    seg = segment_partition(g, 2)
    rnn = np.flatnonzero(np.array(g.modules) == "rnn")
    assert seg[-1] == seg[rnn[-1]]
    runs = seg[np.r_[rnn, g.n_nodes - 1]]
    assert len(set(runs.tolist())) == 2 and np.all(np.diff(runs) >= 0)


def test_shifted_candidates_move_only_independent_weight_groups():
    from learnedsys.placement import _heuristics as H
    from learnedsys.placement._place import shifted_candidates

    g = unrolled_rnn_graph(4)
    sim = Simulator(g, GPU4)
    base = H.expert(sim)
    out = shifted_candidates(sim, base, keep=10)
    assert out and [c for c, _ in out] == sorted(c for c, _ in out)
    w_in = [1] + [3 + 3 * t for t in range(4)]
    for c, dv in out:
        assert c == pytest.approx(sim.cost(dv))
        changed = set(np.flatnonzero(dv != base).tolist())
        assert changed == set(w_in)  # the recurrent weight group never moves
        assert len(set(dv[w_in].tolist())) == 1 and dv[1] in GPU4.gpus


def test_local_search_kicks_never_worse_and_report_true_cost():
    from learnedsys.placement._learned import local_search
    from learnedsys.placement._place import segment_partition

    g = unrolled_rnn_graph(6)
    sim = Simulator(g, GPU4)
    start = np.full(g.n_nodes, 1, dtype=np.int64)
    parts = [segment_partition(g, 3)]
    d0, c0, _ = local_search(sim, start, parts, anneal_steps=0, kicks=0, seed=1)
    d1, c1, info = local_search(sim, start, parts, anneal_steps=0, kicks=10, seed=1)
    assert info["kicks"] == 10 and 0 <= info["kicks_improved"] <= 10
    assert c1 <= c0 * (1 + 1e-12) and c0 <= sim.cost(start)
    assert c1 == pytest.approx(sim(d1).step_time) and c0 == pytest.approx(sim(d0).step_time)


def test_warm_started_learned_placers_never_slower_than_best_heuristic(results):
    # warm start (the default): rl / hierarchical start from the fastest structured placement and
    # keep it unless they find better; cold (the papers'): from one device, here slower
    for gname in ("towers", "chain"):
        g, sim, res = results[gname]
        best = min(res[m].step_time for m in HEURISTICS)
        for m in ("rl", "hierarchical"):
            assert res[m].step_time <= best * (1 + 1e-12), (gname, m)
            assert res[m].info["start"] in HEURISTICS or res[m].info["start"].startswith("shifted-expert-")
    g, sim, _ = results["towers"]
    cold = place(g, GPU4, "hierarchical", simulator=sim, seed=0, warm_start=False, **FAST)
    assert cold.info["start"] == "single"
    assert cold.step_time > results["towers"][2]["hierarchical"].step_time


def test_graph_embedding_is_the_mean_over_neighbours():
    from learnedsys.placement._learned import graph_embedding, initial_groups

    # 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3 (a diamond)
    g = graph([1.0] * 4, [(0, 1), (0, 2), (1, 3), (2, 3)], [1.0] * 4)
    sim = Simulator(g, Cluster.homogeneous(2))
    base = np.array([[1.0], [2.0], [4.0], [8.0]])
    emb = graph_embedding(sim, base, hops=1)
    # columns: base, mean over producers (0 when none), mean over consumers (0 when none)
    np.testing.assert_allclose(emb, [[1, 0, 3], [2, 1, 8], [4, 1, 8], [8, 3, 0]])
    assert graph_embedding(sim, base, hops=2).shape == (4, 5)
    # starting groups: contiguous chunks; with a placement, one device per chunk
    np.testing.assert_array_equal(initial_groups(4, 2), [0, 0, 1, 1])
    np.testing.assert_array_equal(initial_groups(4, 2, np.array([1, 0, 1, 0])), [1, 0, 1, 0])
