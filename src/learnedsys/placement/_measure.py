"""Measured against simulated: real step times of placements on this machine next to the simulator.

What ``benchmarks/placement/measured.py`` and ``learnedsys bench placement`` run. For each model,
every method of :data:`METHODS` searches a placement on ``Cluster.local()`` (this machine's cores as
devices) against the simulator with profiled op times (forward steps: ``training=False``), plus
random placements (per operation, and per module) and pipeline splits (the first 25 / 50 / 75 % of
the operations in topological order on one core, the rest on the other). Every distinct placement then runs for real in a
:class:`PlacedRuntime` (one pinned single-thread worker process per core): warm-up steps, then
``rounds`` interleaved rounds (placements in a seeded random order per round, so that a change of
the machine's load falls on every placement alike) of ``repeats`` timed steps one at a time
(median and quartiles over all of them) and as many pipelined (two steps in flight; median over
rounds). Next to it, the simulator's step time with op times

* ``profiled``: :func:`profile_op_times` (single thread, pinned), plus the runtime's own cost per
  fx operation measured by ``Cluster.local()`` (``overhead``); nothing fitted;
  (every source also charges what ``Cluster.local()`` measured a transfer to cost its ends: the
  sender's copy into shared memory, and the receiver's bookkeeping and its reading of the bytes
  written by the other core, see :class:`Device`)
* ``calibrated``: the same, with the per-operation cost fitted on the model's single-device
  placement alone (its real step time minus the profiled operation times, over the number of fx
  operations), evaluated on the other placements;
* ``roofline``: FLOPs and bytes against ``Cluster.local()``'s measured FLOP/s and bandwidth.

Errors per model and op-time source: mean absolute relative error ``|sim - real| / real``, the
largest, the mean signed error (bias) and the Spearman rank correlation over the placements.
``os.getloadavg()`` is recorded before and after each model, and per placement the fraction of
the step that its workers were on their cores (``on core``: a waiting worker polls, so below 1.0
other processes took the cores and the real time is inflated by them, not by the placement).
Besides the step times, each worker's *busy* CPU time per step (its operations, sends and
receives: its CPU time less its polling while it had nothing to run) next to the simulator's
busy time of that device (:meth:`Simulator.busy`, profiled op times): the simulator's cost model
checked apart from its scheduling. Other processes take wall time from the workers rather than
CPU time, but on a loaded machine they also slow the workers' operations (shared caches and
memory, the host's other guests): the single placement's real / simulated busy ratio shows that
inflation, which falls on every placement alike.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import numpy as np

#: A step counts as undisturbed when every worker was on its core for this share of it.
_QUIET = 0.9

__all__ = ["MODELS", "QUICK", "markdown", "measure_model", "run", "settings"]

MODELS: list[tuple[str, str, dict[str, Any]]] = [
    ("towers-4", "towers", {"n": 4, "depth": 4, "d": 512, "batch": 256}),
    ("chain", "chain", {"depth": 8, "d": 512, "batch": 256}),
    ("nmt-2", "nmt", {"layers": 2, "batch": 32, "seq": 6, "hidden": 256, "vocab": 2000}),
]
QUICK: list[tuple[str, str, dict[str, Any]]] = [
    ("towers-4", "towers", {"n": 4, "depth": 2, "d": 256, "batch": 128}),
    ("nmt-2", "nmt", {"layers": 2, "batch": 8, "seq": 3, "hidden": 64, "vocab": 500}),
]


def _inputs(torch: Any, inputs: tuple[Any, ...], seed: int) -> tuple[Any, ...]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for t in inputs:
        if t.dtype == torch.long:
            out.append(torch.randint(0, 100, t.shape, generator=g))
        else:
            out.append(torch.randn(t.shape, generator=g))
    return tuple(out)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def measure_model(label: str, fname: str, kw: dict[str, Any], args: Any, log: Any = print) -> dict[str, Any]:
    import torch

    from learnedsys.placement import (
        METHODS,
        Cluster,
        PlacedRuntime,
        Simulator,
        models,
        place,
        place_measured,
    )
    from learnedsys.placement._refine import profiled_simulator
    from learnedsys.placement._runtime import export_program, graph_from_program

    load_before = os.getloadavg()
    torch.manual_seed(args.seed)
    model, example = getattr(models, fname)(device="cpu", **kw)
    model.eval()
    inputs = _inputs(torch, example, args.seed)
    t0 = time.perf_counter()
    program = export_program(model, inputs)
    graph = graph_from_program(program, name=label)
    cluster = Cluster.local()
    D = cluster.n_devices
    sim_p, prof = profiled_simulator(program, inputs, graph, cluster, repeats=args.profile_repeats)
    log(f"{label}: {graph.summary()}; exported + profiled in {time.perf_counter() - t0:.1f} s; profiled sum {prof[:, 0].sum() * 1e3:.1f} ms")
    # the runtime's own cost around each fx operation (Cluster.local's "overhead") is in sim_p on
    # top of the profiled calls: a graph node runs its operation and the views merged into it
    assert graph.fx_names is not None
    n_fx = np.array([len(f) for f in graph.fx_names], dtype=np.float64)
    over = cluster.devices[0].overhead
    sim_r = Simulator(graph, cluster, training=False)
    cands: list[tuple[str, np.ndarray, float]] = []
    for m in METHODS:
        t1 = time.perf_counter()
        p = place(graph, cluster, m, seed=args.seed, simulator=sim_p, iterations=args.iterations,
                  time_budget=args.time_budget, anneal_steps=args.anneal_steps, kicks=args.kicks)
        cands.append((m, p.devices, time.perf_counter() - t1))
    # the default search's shortlist measured for real (place_measured): what a user on this
    # machine runs; its own timing rounds are separate from the rounds below
    t1 = time.perf_counter()
    pm = place_measured(model, inputs, cluster, seed=args.seed, simulator=sim_p, shortlist=args.shortlist, iterations=args.iterations,
                        time_budget=args.time_budget, anneal_steps=args.anneal_steps, kicks=args.kicks)
    cands.append(("default+measured", pm.devices, time.perf_counter() - t1))
    log(f"  default+measured: {len(pm.info['measured'])} candidates, chose {pm.info['measured'][pm.info['chosen']]['source']} in {time.perf_counter() - t1:.1f} s")
    rng = np.random.default_rng(args.seed)
    for r in range(args.random):
        cands.append((f"random-{r}", rng.integers(0, D, graph.n_nodes), 0.0))
    # random by module: each module (layer / tower) on a random core: a coarser random placement
    mods = np.unique(np.asarray(graph.modules), return_inverse=True)[1].ravel()
    for r in range(args.random):
        cands.append((f"random-module-{r}", rng.integers(0, D, int(mods.max()) + 1)[mods], 0.0))
    # pipeline splits: the first q of the operations (topological order) on the first core, the
    # rest spread over the others in equal runs (what pipelining with steps in flight exploits)
    if D >= 2:
        for q in (0.25, 0.5, 0.75):
            cut = round(q * graph.n_nodes)
            rest = np.arange(graph.n_nodes - cut)
            dev = np.concatenate([np.zeros(cut, dtype=np.int64), 1 + (rest * (D - 1)) // max(rest.size, 1)])
            cands.append((f"split-{int(q * 100)}", dev, 0.0))
    # distinct placements, each in its own runtime (idle workers block on a pipe: no CPU); timed
    # in interleaved rounds (a seeded shuffle per round) so that a change of the machine's load
    # during the run falls on every placement alike
    distinct_devs: dict[bytes, int] = {}
    for _, dev, _ in cands:
        distinct_devs.setdefault(np.asarray(dev, dtype=np.int64).tobytes(), len(distinct_devs))
    devs = [np.frombuffer(k, dtype=np.int64) for k in distinct_devs]
    lat: list[list[float]] = [[] for _ in devs]
    pipe: list[list[float]] = [[] for _ in devs]
    share: list[list[float]] = [[] for _ in devs]
    busy: list[list[np.ndarray]] = [[] for _ in devs]
    runtimes = [PlacedRuntime(program, dev, inputs, n_devices=D, timeout=120) for dev in devs]
    try:
        for i, rt in enumerate(runtimes):
            rt.start()
            if i == 0:  # the runtime's answer against the model's
                torch.testing.assert_close(rt(*inputs), model(*inputs), rtol=1e-4, atol=1e-4)
            rt.time_steps(inputs, warmup=0, repeats=args.warmup)
        for _ in range(args.rounds):
            for i in rng.permutation(len(runtimes)).tolist():
                lat[i].extend(runtimes[i].time_steps(inputs, warmup=0, repeats=args.repeats).tolist())
                share[i].extend(runtimes[i].cpu_share.tolist())
                busy[i].append(runtimes[i].busy_cpu)
                pipe[i].append(float(runtimes[i].time_steps(inputs, warmup=0, repeats=args.repeats, in_flight=2)[0]))
    finally:
        for rt in runtimes:
            rt.close()
    rows: list[dict[str, Any]] = []
    first: dict[int, str] = {}
    for name, dev, search_s in cands:
        dev = np.asarray(dev, dtype=np.int64)
        k = distinct_devs[dev.tobytes()]
        lk = np.asarray(lat[k])
        row: dict[str, Any] = {
            "method": name, "search_s": round(search_s, 2), "ops_per_device": np.bincount(dev, minlength=D).tolist(),
            "real_ms": float(np.median(lk)) * 1e3, "real_q25_ms": float(np.percentile(lk, 25)) * 1e3,
            "real_q75_ms": float(np.percentile(lk, 75)) * 1e3, "real_min_ms": float(lk.min()) * 1e3,
            "pipelined_ms": float(np.median(pipe[k])) * 1e3, "steps_timed": int(lk.size),
            "cpu_share": float(np.median(share[k])),
        }
        # the steps during which no worker lost its core to another process (>= 90 % on core)
        quiet = lk[np.asarray(share[k]) >= _QUIET]
        row["undisturbed_steps"] = int(quiet.size)
        row["undisturbed_ms"] = float(np.median(quiet)) * 1e3 if quiet.size >= 3 else None
        if k in first:
            row["same_as"] = first[k]
        else:
            first[k] = name
            row["devices"] = dev.tolist()  # the placement itself: re-simulate it offline with another cost model
        row["sim_profiled_ms"] = sim_p(dev).step_time * 1e3
        # per device: CPU seconds spent working (operations, sends, receives) against the
        # simulator's busy time: the cost model without the scheduling, hardly moved by load
        row["busy_real_ms"] = (np.median(np.concatenate(busy[k]), axis=0) * 1e3).tolist()
        row["busy_sim_ms"] = (sim_p.busy(dev) * 1e3).tolist()
        row["sim_roofline_ms"] = sim_r(dev).step_time * 1e3
        row["n_transfers"] = int(np.sum(dev[graph.edge_src] != dev[graph.edge_dst]))
        rows.append(row)
        log(f"  {name:18s} real {row['real_ms']:8.2f} ms [{row['real_q25_ms']:.2f}-{row['real_q75_ms']:.2f}] on-core {row['cpu_share']:.2f} pipelined {row['pipelined_ms']:8.2f}  sim(profiled) {row['sim_profiled_ms']:8.2f}  sim(roofline) {row['sim_roofline_ms']:8.2f}")
    # calibration: the runtime's cost per fx operation fitted on the single-device placement alone
    # (its real step time minus the profiled calls, over the fx operations), evaluated on the others
    single = next(r for r in rows if r["method"] == "single")
    per_op = (single["real_ms"] / 1e3 - float(prof[:, 0].sum())) / float(n_fx.sum())
    sim_c = Simulator(graph, cluster, training=False, op_times=np.maximum(prof + per_op * n_fx[:, None], 0.0))
    for (_, dev, _), row in zip(cands, rows, strict=True):
        row["sim_calibrated_ms"] = sim_c(np.asarray(dev, dtype=np.int64)).step_time * 1e3
    distinct = [r for r in rows if "same_as" not in r]
    real = np.array([r["real_ms"] for r in distinct])
    errors: dict[str, Any] = {}
    for src in ("profiled", "roofline", "calibrated"):
        simv = np.array([r[f"sim_{src}_ms"] for r in distinct])
        held = np.array([r["method"] != "single" for r in distinct]) if src == "calibrated" else np.ones(len(distinct), bool)
        rel = np.abs(simv - real) / real
        errors[src] = {
            "mae": float(rel[held].mean()),
            "max_error": float(rel[held].max()),
            "spearman": _spearman(simv[held], real[held]),
            "bias": float(np.mean((simv[held] - real[held]) / real[held])),
            "placements": int(held.sum()),
        }
    # the same errors over the undisturbed steps alone, where every placement has enough of them
    und = [r for r in distinct if r["undisturbed_ms"] is not None]
    errors_undisturbed: dict[str, Any] = {}
    if len(und) == len(distinct) and len(und) >= 5:
        real_u = np.array([r["undisturbed_ms"] for r in und])
        for src in ("profiled", "roofline"):
            simv = np.array([r[f"sim_{src}_ms"] for r in und])
            rel = np.abs(simv - real_u) / real_u
            errors_undisturbed[src] = {"mae": float(rel.mean()), "max_error": float(rel.max()), "spearman": _spearman(simv, real_u),
                                       "bias": float(np.mean((simv - real_u) / real_u)), "placements": len(und)}
    # the busy-time error over every (placement, device with operations)
    b_real = np.concatenate([r["busy_real_ms"] for r in distinct])
    b_sim = np.concatenate([r["busy_sim_ms"] for r in distinct])
    used = np.concatenate([np.asarray(r["ops_per_device"]) > 0 for r in distinct])
    b_rel = (b_sim[used] - b_real[used]) / b_real[used]
    busy_errors = {"mae": float(np.abs(b_rel).mean()), "max_error": float(np.abs(b_rel).max()), "bias": float(b_rel.mean()),
                   "spearman": _spearman(b_sim[used], b_real[used]), "devices": int(used.sum()),
                   "single_ratio": float(np.sum(single["busy_real_ms"]) / max(np.sum(single["busy_sim_ms"]), 1e-12))}
    fastest = min(distinct, key=lambda r: r["real_ms"])
    default = next(r for r in rows if r["method"] == "default")
    measured_default = next(r for r in rows if r["method"] == "default+measured")
    load_after = os.getloadavg()
    return {
        "model": label, "factory": fname, "kwargs": kw, "ops": graph.n_nodes, "edges": graph.n_edges,
        "forward_gflop": graph.total_flops / 1e9, "profiled_sum_ms": float(prof[:, 0].sum() * 1e3),
        "overhead_s_per_op": over, "calibrated_s_per_op": per_op,
        # per graph node: the profiled seconds (first device's column) and its fx operations, with
        # the rows' placements enough to re-simulate every row offline (the graph is rebuilt from
        # factory and kwargs)
        "profiled_op_times_s": prof[:, 0].tolist(), "fx_ops_per_node": n_fx.astype(int).tolist(), "rows": rows, "errors": errors, "errors_undisturbed": errors_undisturbed, "busy_errors": busy_errors,
        "fastest": fastest["method"], "fastest_ms": fastest["real_ms"],
        "default_vs_fastest": default["real_ms"] / fastest["real_ms"],
        "default_vs_single": default["real_ms"] / single["real_ms"],
        "default_sim_vs_single": default["sim_profiled_ms"] / single["sim_profiled_ms"],
        "default_measured_vs_fastest": measured_default["real_ms"] / fastest["real_ms"],
        "default_measured_vs_single": measured_default["real_ms"] / single["real_ms"],
        "default_measured": pm.info,
        "load_before": list(load_before), "load_after": list(load_after),
    }


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"Command: `{meta['command']}`",
        f"Machine: {meta['machine']}; cluster {meta['cluster']}",
        f"Versions: {meta['versions']}",
        "",
        "| model | method | ops on core0/core1 | real (ms) median [q25-q75] | on core | real pipelined, 2 in flight (ms) | sim profiled (ms) | sim calibrated (ms) | sim roofline (ms) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        for r in res["rows"]:
            same = f" (= {r['same_as']})" if "same_as" in r else ""
            lines.append(
                f"| {res['model']} | {r['method']}{same} | {'/'.join(map(str, r['ops_per_device']))} | {r['real_ms']:.2f} [{r['real_q25_ms']:.2f}-{r['real_q75_ms']:.2f}] | {r['cpu_share']:.2f} | "
                f"{r['pipelined_ms']:.2f} | {r['sim_profiled_ms']:.2f} | {r['sim_calibrated_ms']:.2f} | {r['sim_roofline_ms']:.2f} |"
            )
    lines += ["", "| model | ops | load avg before -> after | on core (median) | op times | placements | MAE | max error | bias | Spearman |", "|---|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        lb, la = res["load_before"][0], res["load_after"][0]
        flag = " (**loaded**)" if max(lb, la) > 1.5 else ""
        on = float(np.median([r["cpu_share"] for r in res["rows"]]))
        for src, e in res["errors"].items():
            lines.append(
                f"| {res['model']} | {res['ops']} | {lb:.2f} -> {la:.2f}{flag} | {on:.2f} | {src} | {e['placements']} | {e['mae']:.1%} | {e['max_error']:.1%} | {e['bias']:+.1%} | {e['spearman']:.3f} |"
            )
    und = [(res["model"], src, e) for res in results for src, e in res.get("errors_undisturbed", {}).items()]
    if und:
        lines += ["", "Over the undisturbed steps only (every worker >= 90 % on its core):", "",
                  "| model | op times | placements | MAE | max error | bias | Spearman |", "|---|---|---|---|---|---|---|"]
        for model, src, e in und:
            lines.append(f"| {model} | {src} | {e['placements']} | {e['mae']:.1%} | {e['max_error']:.1%} | {e['bias']:+.1%} | {e['spearman']:.3f} |")
    busy_rows = [(res["model"], res["busy_errors"]) for res in results if "busy_errors" in res]
    if busy_rows:
        lines += ["", "Busy time per device (CPU seconds on operations, sends and receives; not the step time), simulated with profiled op times against measured; "
                  "the single placement's real / simulated ratio is the inflation that falls on every placement (op times, or load):", "",
                  "| model | devices (placement x core) | MAE | max error | bias | Spearman | single: real / sim |", "|---|---|---|---|---|---|---|"]
        for model, e in busy_rows:
            lines.append(f"| {model} | {e['devices']} | {e['mae']:.1%} | {e['max_error']:.1%} | {e['bias']:+.1%} | {e['spearman']:.3f} | {e.get('single_ratio', float('nan')):.3f} |")
    lines += ["", "`default+measured`: `place_measured`, the default search's simulated-fastest distinct placements (within 15 %) run for real, "
              "the fastest measured kept; its own timing rounds come before, and apart from, the rounds of this table.", "",
              "| model | fastest measured | default real / fastest | default real / single | default simulated / single | default+measured real / fastest | default+measured real / single |",
              "|---|---|---|---|---|---|---|"]
    for res in results:
        dm = res.get("default_measured_vs_fastest")
        dms = res.get("default_measured_vs_single")
        lines.append(
            f"| {res['model']} | {res['fastest']} ({res['fastest_ms']:.2f} ms) | {res['default_vs_fastest']:.3f} | {res['default_vs_single']:.3f} | {res['default_sim_vs_single']:.3f} | "
            + (f"{dm:.3f} | {dms:.3f} |" if dm is not None and dms is not None else "- | - |")
        )
    return "\n".join(lines)


def run(args: Any, log: Any = print) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import numba
    import torch

    from learnedsys import __version__
    from learnedsys.placement import Cluster

    cluster = Cluster.local()
    d0 = cluster.devices[0]
    meta = {
        "command": args.command,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), Linux {platform.release()}",
        "cluster": (f"{cluster.name}: {cluster.n_devices} cores, {d0.flops / 1e9:.1f} GFLOP/s and {d0.mem_bandwidth / 1e9:.1f} GB/s per core (1 thread), "
                    f"{d0.overhead * 1e6:.1f} us per op, a send {d0.send_overhead * 1e6:.1f} us + {d0.send_bandwidth / 1e9:.1f} GB/s on the sender, "
                    f"a receive {d0.recv_overhead * 1e6:.1f} us + {d0.recv_bandwidth / 1e9:.1f} GB/s on the receiver, "
                    f"links {cluster.bandwidth[0, -1] / 1e9:.1f} GB/s + {cluster.latency[0, -1] * 1e6:.1f} us"),
        "versions": f"Python {platform.python_version()}, learnedsys {__version__}, torch {torch.__version__}, numpy {np.__version__}, numba {numba.__version__}",
        "cluster_spec": cluster.to_dict(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "command")},
    }
    todo = QUICK if args.quick else MODELS
    results = []
    for label, fname, kw in todo:
        if args.only and label not in args.only:
            continue
        results.append(measure_model(label, fname, kw, args, log))
    return results, meta




def settings(**overrides: Any) -> Any:
    """The measurement's settings (what ``benchmarks/placement/measured.py`` takes as flags)."""
    from types import SimpleNamespace

    base: dict[str, Any] = {
        "quick": False, "only": None, "seed": 0, "warmup": 2, "rounds": 5, "repeats": 3, "profile_repeats": 5,
        "random": 3, "shortlist": 4, "iterations": 600, "time_budget": 20.0, "anneal_steps": 3000, "kicks": 5, "command": "",
    }
    unknown = set(overrides) - set(base)
    if unknown:
        raise TypeError(f"unknown measurement settings: {sorted(unknown)}")
    base.update(overrides)
    return SimpleNamespace(**base)
