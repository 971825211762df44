"""Choose a placement by measuring it: the simulator's shortlist run for real on this machine.

The simulator ranks placements well but not exactly: on this machine's cores its step times are
within 5-30 % of the real ones (``benchmarks/placement/RESULTS.md``), while the best placements
it finds are often within 1-2 % of each other under it. Which of those is really fastest is then
a measurement, not a prediction. :func:`place_measured` runs the default search against a
simulator with profiled op times, keeps its simulated-fastest distinct placements, runs each in a
:class:`PlacedRuntime` in interleaved rounds and returns the fastest measured (the measured
search of the placement papers, limited to a shortlist).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from learnedsys._validation import InvalidParameterError, check_float, check_int, check_seed
from learnedsys.placement._cluster import Cluster
from learnedsys.placement._graph import OpGraph
from learnedsys.placement._placement import Placement
from learnedsys.placement._simulator import Simulator

__all__ = ["measure_placements", "place_measured", "profiled_simulator"]


def profiled_simulator(model: Any, example_inputs: tuple[Any, ...], graph: OpGraph, cluster: Cluster, *, repeats: int = 5) -> tuple[Simulator, np.ndarray]:
    """A forward-step simulator of ``graph`` on ``cluster`` (``Cluster.local()``) with op times
    profiled on one pinned core (single thread, the fastest of ``repeats`` runs: the one least
    disturbed by other jobs), plus the runtime's own cost per fx operation that
    ``Cluster.local()`` measured (``overhead``). Returns the simulator and the profiled times."""
    from learnedsys.placement._profile import profile_op_times

    if graph.fx_names is None:
        raise InvalidParameterError("profiled_simulator needs a graph from capture() (it has no fx node names).")
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(old)})  # the first worker's core
    try:
        prof = profile_op_times(model, example_inputs, graph, ["cpu"] * cluster.n_devices, repeats=repeats, threads=1, statistic="min")
    finally:
        os.sched_setaffinity(0, old)
    n_fx = np.array([len(f) for f in graph.fx_names], dtype=np.float64)
    sim = Simulator(graph, cluster, training=False, op_times=prof + cluster.devices[0].overhead * n_fx[:, None])
    return sim, prof


def measure_placements(model: Any, placements: list[np.ndarray], example_inputs: tuple[Any, ...], *, n_devices: int | None = None,
                       rounds: int = 3, repeats: int = 3, warmup: int = 2, seed: int = 0, timeout: float = 120.0) -> np.ndarray:
    """Real seconds per forward step of each placement: ``(len(placements), rounds * repeats)``.

    Each placement runs in its own :class:`PlacedRuntime` (all started first; an idle one's
    workers block on a pipe), ``warmup`` steps each, then ``rounds`` rounds of ``repeats`` steps
    one at a time, the placements in a seeded random order per round, so that a change of the
    machine's load falls on all of them alike. ``model`` is the module or its exported program.
    """
    from learnedsys.placement._runtime import PlacedRuntime

    rounds = check_int(rounds, "rounds", "measure_placements", low=1)
    repeats = check_int(repeats, "repeats", "measure_placements", low=1)
    warmup = check_int(warmup, "warmup", "measure_placements", low=0)
    if not placements:
        raise InvalidParameterError("The 'placements' parameter of measure_placements must hold at least one placement. Got none instead.")
    devs = [np.asarray(getattr(p, "devices", p), dtype=np.int64) for p in placements]
    n = n_devices if n_devices is not None else max(int(d.max()) + 1 for d in devs)
    rng = np.random.default_rng(seed)
    out = np.zeros((len(devs), rounds * repeats))
    runtimes = [PlacedRuntime(model, d, example_inputs, n_devices=n, timeout=timeout) for d in devs]
    try:
        for rt in runtimes:
            rt.start()
            if warmup:
                rt.time_steps(example_inputs, warmup=0, repeats=warmup)
        for r in range(rounds):
            for i in rng.permutation(len(runtimes)).tolist():
                out[i, r * repeats:(r + 1) * repeats] = runtimes[i].time_steps(example_inputs, warmup=0, repeats=repeats)
    finally:
        for rt in runtimes:
            rt.close()
    return out


def place_measured(
    model: Any,
    example_inputs: Any,
    cluster: Cluster | None = None,
    *,
    shortlist: int = 4,
    tolerance: float = 0.15,
    margin: float = 0.03,
    rounds: int = 5,
    repeats: int = 3,
    seed: int | None = 0,
    simulator: Simulator | None = None,
    **place_kwargs: Any,
) -> Placement:
    """The default placement search, then its shortlist measured for real: the fastest wins.

    Args:
        model: a ``torch.nn.Module`` with real weights (CPU), in the mode it will run in.
        example_inputs: its inputs (a tensor or a tuple).
        cluster: ``Cluster.local()`` by default (measured once per process). Its devices are
            this machine's cores; the candidates run there, one worker per core.
        shortlist: how many of the default search's simulated-fastest distinct placements are
            candidates (1: no measurement, the default's own choice).
        tolerance: only candidates whose simulated step is within this fraction of the
            fastest's are run (the simulator's error on this machine is about this size).
        margin: another candidate replaces the default search's own choice only when its median
            measured step is shorter by more than this fraction (the search's choice stands on
            a near-tie, where the ranking is noise: in a quiet run the four towers candidates'
            medians were within 3 % of each other, and the one picked by 2 % measured 11 %
            slower in the next rounds).
        rounds, repeats: interleaved rounds, and timed steps per candidate and round, after two
            warm-up steps (cost: ``(rounds * repeats + 2)`` steps per candidate).
        seed: the search's seed and the rounds' order.
        simulator: the simulator to search against (default: :func:`profiled_simulator`).
        place_kwargs: further settings of :func:`place` (``time_budget``, ``kicks``...).

    Returns:
        A :class:`Placement` with method ``"default+measured"``, its simulated ``step_time``, and
        in ``info["measured"]`` every candidate's source, simulated and median measured seconds
        (``info["chosen"]`` is the index of the one returned; 0 is the default search's own
        choice); the default search's own report
        is in ``info["search"]``.
    """
    from learnedsys.placement._place import place
    from learnedsys.placement._runtime import export_program, graph_from_program

    shortlist = check_int(shortlist, "shortlist", "place_measured", low=1)
    tolerance = check_float(tolerance, "tolerance", "place_measured", low=0.0)
    margin = check_float(margin, "margin", "place_measured", low=0.0, high=1.0)
    seed = check_seed(seed, "seed", "place_measured") or 0
    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    t0 = time.perf_counter()
    program = export_program(model, example_inputs)
    graph = graph_from_program(program, name=type(model).__name__)
    if cluster is None:
        cluster = Cluster.local()
    if cluster.n_devices > len(os.sched_getaffinity(0)):
        raise InvalidParameterError(
            f"The 'cluster' parameter of place_measured must describe this machine (at most {len(os.sched_getaffinity(0))} usable cores). Got {cluster.n_devices} devices instead."
        )
    sim = simulator if simulator is not None else profiled_simulator(program, example_inputs, graph, cluster)[0]
    found = place(graph, cluster, "default", seed=seed, simulator=sim, shortlist=shortlist, **place_kwargs)
    short = found.info.get("shortlist") or [{"source": "default", "step_time": found.step_time, "devices": found.devices.tolist()}]
    best_sim = short[0]["step_time"]
    cands = [c for c in short if c["step_time"] <= best_sim * (1.0 + tolerance)]
    search_info = {k: v for k, v in found.info.items() if k != "shortlist"}
    if len(cands) == 1:
        chosen, medians = 0, None
    else:
        real = measure_placements(program, [np.asarray(c["devices"]) for c in cands], example_inputs,
                                  n_devices=cluster.n_devices, rounds=rounds, repeats=repeats, seed=seed)
        medians = np.median(real, axis=1)
        chosen = int(np.argmin(medians))
        if medians[chosen] >= medians[0] * (1.0 - margin):
            chosen = 0  # the first is the default search's own choice
    dev = np.asarray(cands[chosen]["devices"], dtype=np.int64)
    res = sim(dev)
    measured = [{"source": c["source"], "sim_step_time": c["step_time"], "real_step_time": None if medians is None else float(medians[i])}
                for i, c in enumerate(cands)]
    return Placement(
        devices=dev, method="default+measured", step_time=res.step_time, feasible=res.feasible,
        search_seconds=time.perf_counter() - t0, device_names=[d.name for d in cluster.devices],
        info={"search": search_info, "measured": measured, "chosen": chosen},
    )
