"""Calibrate the simulator by timing each operation on the real devices.

``profile_op_times(model, example_inputs, graph, devices)`` runs the exported program operation
by operation on each torch device and returns the measured forward seconds per graph node and
cluster device, which :class:`Simulator` takes as ``op_times`` instead of the roofline estimate::

    times = profile_op_times(model, inputs, graph, ["cpu", "cuda:0", "cuda:1", "cuda:2", "cuda:3"])
    sim = Simulator(graph, cluster, op_times=times)
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from learnedsys._lazy import require
from learnedsys._validation import InvalidParameterError, check_choice, check_int
from learnedsys.placement._capture import export_program
from learnedsys.placement._graph import OpGraph

__all__ = ["profile_op_times"]


def profile_op_times(model: Any, example_inputs: Any, graph: OpGraph, devices: list[str], *, repeats: int = 3, threads: int | None = None, statistic: str = "median") -> np.ndarray:
    """Median measured seconds of each graph node on each device (``(n, len(devices))``): the
    time of the operation's calls (its fx operation and the views merged into it), without the
    bookkeeping of the interpreter that runs them.

    Args:
        model: the captured model, with real weights, or its program from ``export_program``
            (not exported again).
        example_inputs: the inputs used for capture.
        graph: ``capture(model, example_inputs)``.
        devices: torch device per cluster device (``"cpu"``, ``"cuda:1"``...); repeated names are
            measured once.
        repeats: timed runs per device after one warm-up run (median taken).
        statistic: ``"median"`` of the timed runs per operation, or ``"min"``: the timed run with
            the smallest total (on a machine shared with other jobs, the run least disturbed by
            them; each operation's own minimum over the runs would sum to less than any run took).
        threads: torch threads while timing (``1`` for what a :class:`PlacedRuntime` worker
            runs with; default: leave the setting as it is).

    Cost: ``repeats + 1`` node-by-node forward passes per distinct device.
    """
    torch = require("torch", extra="torch", purpose="profiling operations")
    repeats = check_int(repeats, "repeats", "profile_op_times", low=1)
    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    if graph.fx_names is None:
        raise InvalidParameterError("profile_op_times needs a graph from capture() (it has no fx node names).")
    ep = export_program(model, example_inputs)
    owner = {nm: i for i, names in enumerate(graph.fx_names) for nm in names}
    state = dict(ep.state_dict)
    state.update(getattr(ep, "constants", {}) or {})
    flat_inputs, _ = torch.utils._pytree.tree_flatten(example_inputs)
    check_choice(statistic, "statistic", "profile_op_times", ["median", "min"])
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(check_int(threads, "threads", "profile_op_times", low=1))
    try:
        return _profile(torch, ep, graph, devices, owner, state, flat_inputs, repeats, statistic)
    finally:
        torch.set_num_threads(old_threads)


def _profile(torch: Any, ep: Any, graph: OpGraph, devices: list[str], owner: dict[str, int], state: dict[str, Any], flat_inputs: list[Any], repeats: int, statistic: str) -> np.ndarray:
    gm = ep.graph_module
    out = np.zeros((graph.n_nodes, len(devices)))
    measured: dict[str, np.ndarray] = {}
    for col, name in enumerate(devices):
        if name in measured:
            out[:, col] = measured[name]
            continue
        dev = torch.device(name)
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        args = []
        it = iter(flat_inputs)
        for spec in ep.graph_signature.input_specs:
            t = next(it) if spec.kind.name == "USER_INPUT" else state[spec.target]
            args.append(t.detach().to(dev) if isinstance(t, torch.Tensor) else t)
        runs = []
        for rep in range(repeats + 1):
            acc = np.zeros(graph.n_nodes)

            class Timer(torch.fx.Interpreter):
                # times the operation's call alone (not the interpreter's bookkeeping around it):
                # what a device spends on it; a runtime adds its own per-operation cost
                def run_node(self, n: Any, dev: Any = dev) -> Any:
                    if n.op == "call_function" and "device" in n.kwargs:
                        n.kwargs = {**n.kwargs, "device": dev}
                    self.node_index = owner.get(n.name)
                    return super().run_node(n)

                def call_function(self, target: Any, args: Any, kwargs: Any, acc: np.ndarray = acc, sync: Any = sync) -> Any:
                    sync()
                    t0 = time.perf_counter()
                    r = target(*args, **kwargs)
                    sync()
                    if self.node_index is not None:
                        acc[self.node_index] += time.perf_counter() - t0
                    return r

            with torch.no_grad():
                Timer(gm).run(*args)
            if rep > 0:
                runs.append(acc)
        measured[name] = _summarize(np.stack(runs), statistic)
        out[:, col] = measured[name]
    return out


def _summarize(runs: np.ndarray, statistic: str) -> np.ndarray:
    """Seconds per operation from ``runs`` (timed runs x operations): the per-operation median,
    or for ``"min"`` the run with the smallest total (a real run, not a sum of separate minima)."""
    if statistic == "min":
        return runs[int(np.argmin(runs.sum(axis=1)))]
    return np.median(runs, axis=0)
