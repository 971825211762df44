"""Device placement: learn where each operation of a PyTorch model runs.

A tour::

    >>> from learnedsys.placement import Cluster, OpGraph, simulate
    >>> import numpy as np
    >>> g = OpGraph(names=["a", "b"], op_types=["mm", "mm"], modules=["", ""],
    ...             flops=np.array([1e12, 1e12]), mem_bytes=np.zeros(2), out_bytes=np.array([1e9, 0.0]),
    ...             param_bytes=np.zeros(2), edge_src=np.array([0]), edge_dst=np.array([1]))
    >>> cluster = Cluster.homogeneous(2, flops=1e12, bandwidth=1e9)
    >>> simulate(g, np.array([0, 0]), cluster, training=False).step_time  # 1 s + 1 s
    2.0
    >>> simulate(g, np.array([0, 1]), cluster, training=False).step_time  # + 1 GB over 1 GB/s
    3.0

With a PyTorch model (``learnedsys.placement.models`` holds the benchmark models)::

    from learnedsys.placement import Cluster, apply, capture, place
    from learnedsys.placement.models import nmt4

    model, inputs = nmt4()                       # built on the meta device: no weights in memory
    graph = capture(model, inputs)               # torch.export -> OpGraph (numpy only)
    cluster = Cluster.preset("k80x4")            # 1 CPU + 4 K80 over PCIe 3
    best = place(graph, cluster)                 # method="default": the best we have
    expert = place(graph, cluster, method="expert")
    print(best.step_time / expert.step_time)     # simulated seconds per training step
    runnable = apply(real_model, best, inputs)   # same outputs, ops on their devices

Run a placement for real, one pinned worker process per core (tensors over shared memory)::

    from learnedsys.placement import Cluster, PlacedRuntime, Simulator, capture, place, profile_op_times
    cluster = Cluster.local()                    # this machine: its cores as devices, measured
    model, inputs = towers(device="cpu")
    graph = capture(model, inputs)
    times = profile_op_times(model, inputs, graph, ["cpu"] * cluster.n_devices, threads=1)
    sim = Simulator(graph, cluster, training=False, op_times=times)
    p = place(graph, cluster, simulator=sim)
    with PlacedRuntime(model, p, inputs) as rt:  # same outputs as model(*inputs)
        seconds = rt.time_steps(inputs)          # measured, next to sim(p).step_time

    best = place_measured(model, inputs)         # the same search; its shortlist run for real,
                                                 # the fastest measured kept (info["measured"])

``METHODS`` lists the placers: single, expert, metis, m-topo, m-etf, m-sct, rl, hierarchical,
default. The simulator (:func:`simulate`) is a numba discrete-event model of one training step;
its semantics are in :mod:`learnedsys.placement._simulator`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from learnedsys._lazy import lazy_exports

# Submodules are imported at first use (numba and scipy stay out of `learnedsys --help`).
_EXPORTS = {
    "apply": "_apply",
    "CaptureError": "_capture",
    "capture": "_capture",
    "PRESETS": "_cluster",
    "Cluster": "_cluster",
    "Device": "_cluster",
    "OpGraph": "_graph",
    "GroupPolicy": "_learned",
    "HierarchicalPolicy": "_learned",
    "HEURISTICS": "_place",
    "METHODS": "_place",
    "place": "_place",
    "place_measured": "_refine",
    "measure_placements": "_refine",
    "Placement": "_placement",
    "PlacedRuntime": "_runtime",
    "run_placed": "_runtime",
    "profile_op_times": "_profile",
    "SimResult": "_simulator",
    "Simulator": "_simulator",
    "simulate": "_simulator",
}

if TYPE_CHECKING:
    from learnedsys.placement._apply import apply
    from learnedsys.placement._capture import CaptureError, capture
    from learnedsys.placement._cluster import PRESETS, Cluster, Device
    from learnedsys.placement._graph import OpGraph
    from learnedsys.placement._learned import GroupPolicy, HierarchicalPolicy
    from learnedsys.placement._place import HEURISTICS, METHODS, place
    from learnedsys.placement._placement import Placement
    from learnedsys.placement._profile import profile_op_times
    from learnedsys.placement._refine import measure_placements, place_measured
    from learnedsys.placement._runtime import PlacedRuntime, run_placed
    from learnedsys.placement._simulator import SimResult, Simulator, simulate


__all__ = [
    "HEURISTICS",
    "METHODS",
    "PRESETS",
    "CaptureError",
    "Cluster",
    "Device",
    "GroupPolicy",
    "HierarchicalPolicy",
    "OpGraph",
    "PlacedRuntime",
    "Placement",
    "SimResult",
    "Simulator",
    "apply",
    "capture",
    "measure_placements",
    "place",
    "place_measured",
    "profile_op_times",
    "run_placed",
    "simulate",
]

__getattr__, __dir__ = lazy_exports(__name__, {k: f"learnedsys.placement.{v}" for k, v in _EXPORTS.items()})
