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

``capture(model, example_inputs)`` builds the graph of a PyTorch model (torch.export),
``place(graph, cluster, method=...)`` searches a placement (:data:`METHODS`), and
``apply(model, placement, example_inputs)`` returns a runnable module with that placement.
"""

from learnedsys.placement._cluster import PRESETS, Cluster, Device
from learnedsys.placement._graph import OpGraph
from learnedsys.placement._learned import GroupPolicy, HierarchicalPolicy
from learnedsys.placement._place import HEURISTICS, METHODS, place
from learnedsys.placement._placement import Placement
from learnedsys.placement._simulator import SimResult, Simulator, simulate

__all__ = [
    "HEURISTICS",
    "METHODS",
    "PRESETS",
    "Cluster",
    "Device",
    "GroupPolicy",
    "HierarchicalPolicy",
    "OpGraph",
    "Placement",
    "SimResult",
    "Simulator",
    "place",
    "simulate",
]
