"""The default search's shortlist (checked against the simulator) and place_measured (its
candidates run for real; checked against its own measurements and the unplaced model)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from learnedsys._validation import InvalidParameterError
from learnedsys.placement import Cluster, OpGraph, Simulator, place


def _graph(n: int = 12, seed: int = 0) -> OpGraph:
    """Two parallel chains joined at the end: several placements tie or nearly tie."""
    rng = np.random.default_rng(seed)
    half = n // 2
    src = [*range(half - 1), *range(half, n - 2), half - 1]
    dst = [*range(1, half), *range(half + 1, n - 1), n - 1]
    return OpGraph(
        names=[f"op{i}" for i in range(n)], op_types=["mm"] * n, modules=[f"m{i // 3}" for i in range(n)],
        flops=rng.uniform(0.5e9, 2e9, n), mem_bytes=np.zeros(n), out_bytes=rng.uniform(1e5, 1e6, n),
        param_bytes=np.zeros(n), edge_src=np.array(src), edge_dst=np.array(dst),
    )


def test_shortlist_is_the_simulated_fastest_distinct_placements():
    g = _graph()
    cluster = Cluster.homogeneous(2, flops=1e12, bandwidth=1e9)
    sim = Simulator(g, cluster, training=False)
    kw = {"seed": 0, "iterations": 5, "anneal_steps": 200, "kicks": 2, "simulator": sim}
    p = place(g, cluster, **kw, shortlist=5)
    short = p.info["shortlist"]
    assert 2 <= len(short) <= 5
    devs = [np.asarray(c["devices"]) for c in short]
    assert len({d.tobytes() for d in devs}) == len(devs)  # distinct
    times = [c["step_time"] for c in short]
    assert times == sorted(times)
    for c, d in zip(short, devs, strict=True):  # each one's time is the simulator's
        assert c["step_time"] == pytest.approx(sim(d).step_time, rel=1e-12)
    # the first is the default's own answer, and the shortlist does not change the search
    assert np.array_equal(devs[0], p.devices) and times[0] == pytest.approx(p.step_time, rel=1e-12)
    plain = place(g, cluster, **kw)
    assert np.array_equal(plain.devices, p.devices) and "shortlist" not in plain.info
    with pytest.raises(InvalidParameterError, match="'shortlist'"):
        place(g, cluster, shortlist=0)


torch = pytest.importorskip("torch")
needs_two_cores = pytest.mark.skipif(
    not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2, reason="runs placements on two pinned cores (Linux)"
)


@pytest.fixture(scope="module")
def towers_small():
    from learnedsys.placement import models

    torch.manual_seed(0)
    model, inputs = models.towers(n=2, depth=2, d=32, batch=8, device="cpu")
    model.eval()
    return model, inputs


@needs_two_cores
def test_place_measured_keeps_the_fastest_measured_candidate(towers_small):
    from learnedsys.placement import place_measured, run_placed

    model, inputs = towers_small
    cluster = Cluster.homogeneous(2, flops=1e10, bandwidth=1e10)  # no calibration run needed
    kw = {"seed": 0, "iterations": 5, "anneal_steps": 100, "kicks": 1}
    p = place_measured(model, inputs, cluster, shortlist=4, tolerance=10.0, rounds=2, repeats=2, **kw)
    meas = p.info["measured"]
    assert p.method == "default+measured" and len(meas) >= 2
    real = [m["real_step_time"] for m in meas]
    assert all(r > 0 for r in real)
    # the fastest of its own measurements, unless within the margin of the search's own choice (0)
    best = int(np.argmin(real))
    assert p.info["chosen"] == (best if real[best] < real[0] * (1 - 0.03) else 0)
    # margin 1: the measurement never overrides the search's own choice (the simulated fastest)
    kept = place_measured(model, inputs, cluster, shortlist=4, tolerance=10.0, margin=1.0, rounds=1, repeats=1, **kw)
    assert kept.info["chosen"] == 0 and all(m["real_step_time"] > 0 for m in kept.info["measured"])
    assert kept.step_time == pytest.approx(min(m["sim_step_time"] for m in kept.info["measured"]), rel=1e-12)
    sims = [m["sim_step_time"] for m in meas]
    assert sims == sorted(sims) and sims[-1] <= sims[0] * 11.0  # within the tolerance
    # the chosen placement runs and answers as the model does
    torch.testing.assert_close(run_placed(model, p, inputs, timeout=30), model(*inputs), rtol=1e-5, atol=1e-5)
    # shortlist 1: nothing measured, the default search's own answer
    one = place_measured(model, inputs, cluster, shortlist=1, **kw)
    assert one.info["measured"][0]["real_step_time"] is None and one.info["chosen"] == 0
    from learnedsys.placement._refine import profiled_simulator
    from learnedsys.placement._runtime import export_program, graph_from_program

    graph = graph_from_program(export_program(model, inputs))
    sim, prof = profiled_simulator(model, inputs, graph, cluster, repeats=1)
    assert prof.shape == (graph.n_nodes, 2) and np.all(prof >= 0)
    ref = place(graph, cluster, "default", simulator=sim, **kw)
    again = place_measured(model, inputs, cluster, shortlist=1, simulator=sim, **kw)
    assert np.array_equal(again.devices, ref.devices)


@needs_two_cores
def test_place_measured_bad_input(towers_small):
    from learnedsys.placement import measure_placements, place_measured

    model, inputs = towers_small
    with pytest.raises(InvalidParameterError, match="'shortlist'"):
        place_measured(model, inputs, Cluster.homogeneous(2, flops=1e10, bandwidth=1e10), shortlist=0)
    with pytest.raises(InvalidParameterError, match="'cluster'"):
        place_measured(model, inputs, Cluster.homogeneous(len(os.sched_getaffinity(0)) + 1, flops=1e10, bandwidth=1e10))
    with pytest.raises(InvalidParameterError, match="'placements'"):
        measure_placements(model, [], inputs)


@needs_two_cores
def test_place_measured_exports_the_model_once(towers_small, monkeypatch):
    """One torch.export serves the graph, the profile and the measured runs (each export of a
    large model costs about a second per thousand operations)."""
    import torch

    from learnedsys.placement import place_measured
    from learnedsys.placement._runtime import export_program

    model, inputs = towers_small
    program = export_program(model, inputs)
    assert export_program(program, inputs) is program  # a program passes through
    calls = []
    real = torch.export.export

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.export, "export", counting)
    cluster = Cluster.homogeneous(2, flops=1e10, bandwidth=1e10)
    p = place_measured(model, inputs, cluster, shortlist=4, tolerance=10.0, rounds=1, repeats=1, seed=0, iterations=5, anneal_steps=100, kicks=1)
    assert len(p.info["measured"]) >= 2  # the shortlist ran for real
    assert len(calls) == 1
