"""Measure the placement goals of issue 5 and print a Markdown table (plus a JSON file).

    .venv/bin/python benchmarks/placement/goals.py --out benchmarks/placement/goals.json

For each benchmark model (built on the meta device, captured with torch.export) and cluster,
runs every method of ``learnedsys.placement.METHODS`` on the same graph and simulator, and reports
simulated training-step times, ratios, search times, and two bounds that no placement can beat:
the critical path of the training graph with free communication and unlimited devices, and the
total work divided by the number of GPUs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from learnedsys.bench._harness import machine_info
from learnedsys.placement import METHODS, Cluster, Simulator, models, place
from learnedsys.placement._capture import capture

CASES: list[tuple[str, str, dict[str, Any], str]] = [
    ("nmt-4", "nmt4", {}, "k80x4"),
    ("inception-v3", "inception_v3", {}, "k80x4"),
    ("rnnlm", "rnnlm", {}, "k80x4"),
    ("nmt-8", "nmt8", {}, "k80x4"),
    ("towers-4", "towers", {}, "k80x4"),
    ("chain", "chain", {}, "k80x4"),
    ("nmt-2", "nmt2", {}, "k80x4"),
    ("transformer", "transformer", {}, "k80x4"),
    ("gpt2-small", "gpt2_small", {}, "k80x4"),
    ("nmt-4", "nmt4", {}, "p100x4-nvlink"),
    ("inception-v3", "inception_v3", {}, "p100x4-nvlink"),
]


def bounds(sim: Simulator) -> tuple[float, float]:
    """Two step times no placement can beat under the simulator's cost model.

    * The critical path of the training graph with free communication, unlimited devices and
      every operation on its fastest device.
    * The work bound: the smallest ``T`` for which the total work fits in ``T`` on every device,
      work split fractionally (each GPU takes ``T`` of GPU time, every other device ``T`` of its
      own time on the operations it runs most efficiently relative to a GPU: a fractional
      knapsack, solved by bisection on ``T``).
    """
    tg = sim.tg
    fastest = sim.op_times.min(axis=1)
    dur = fastest[tg.owner] * tg.work_scale
    fin = np.zeros(dur.size)
    for v in range(dur.size):
        s = tg.in_src[tg.in_ptr[v] : tg.in_ptr[v + 1]]
        fin[v] = (fin[s].max() if s.size else 0.0) + dur[v]
    gpus = sim.cluster.gpus
    scale = float(tg.work_scale.sum() / tg.n_forward) if tg.n_forward else 1.0  # per-op fwd + bwd factor
    t_gpu = sim.op_times[:, gpus[0]] * scale
    others = [d for d in range(sim.cluster.n_devices) if d not in gpus]

    def gpu_work_left(T: float) -> float:
        left = t_gpu.copy()
        for d in others:  # each other device takes the work it does best, up to T of its time
            t_d = sim.op_times[:, d] * scale
            order = np.argsort(t_d / np.maximum(left, 1e-300))
            cap = T
            for i in order:
                if left[i] <= 0 or cap <= 0:
                    continue
                frac = min(1.0, cap / t_d[i])
                cap -= frac * t_d[i]
                left[i] -= frac * t_gpu[i]
        return float(left.sum())

    lo, hi = 0.0, float(t_gpu.sum()) / len(gpus)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if gpu_work_left(mid) <= len(gpus) * mid:
            hi = mid
        else:
            lo = mid
    return float(fin.max()), hi


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--only", nargs="*", default=None, help="labels to run (default: all)")
    ap.add_argument("--anneal-steps", type=int, default=20000)
    ap.add_argument("--kicks", type=int, default=30)
    ap.add_argument("--time-budget", type=float, default=240.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows = []
    graphs: dict[str, Any] = {}
    for label, fname, kw, cname in CASES:
        if args.only and label not in args.only:
            continue
        if label not in graphs:
            t0 = time.perf_counter()
            m, x = getattr(models, fname)(**kw)
            graphs[label] = (capture(m, x, name=label), time.perf_counter() - t0)
        g, cap_s = graphs[label]
        cluster = Cluster.preset(cname)
        sim = Simulator(g, cluster)
        cp, work = bounds(sim)
        res = {}
        for meth in METHODS:
            p = place(g, cluster, meth, seed=args.seed, simulator=sim, time_budget=args.time_budget, anneal_steps=args.anneal_steps, kicks=args.kicks)
            res[meth] = p
        row = {
            "model": label, "cluster": cname, "ops": g.n_nodes, "capture_s": round(cap_s, 1),
            "bound_ms": max(cp, work) * 1e3, "critical_path_ms": cp * 1e3, "work_per_gpu_ms": work * 1e3,
            "step_ms": {m: (p.step_time * 1e3 if p.feasible else None) for m, p in res.items()},
            "search_s": {m: p.search_seconds for m, p in res.items()},
            "default_info": res["default"].info,
        }
        rows.append(row)
        s = row["step_ms"]
        print(
            f"{label} {cname} ops={g.n_nodes} default={s['default']:.2f} expert={s['expert']:.2f} m-etf={s['m-etf']:.2f} "
            f"single={s['single']:.2f} bound={row['bound_ms']:.2f} default/expert={s['default'] / s['expert']:.3f} "
            f"default/single={s['default'] / s['single']:.3f} search={row['search_s']['default']:.1f}s",
            flush=True,
        )
    if args.out:
        args.out.write_text(json.dumps({"machine": machine_info(["torch", "pymetis", "scipy"]), "rows": rows}, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
