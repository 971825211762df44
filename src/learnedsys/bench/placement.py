"""Bench section ``placement``: simulated training-step time of every placer on the benchmark
models, search time, memory feasibility, a placement picture and a bar chart; then a measured
table: small models placed on this machine's cores and run for real (:class:`PlacedRuntime`), next
to the simulator's prediction and its error.

All methods run in the same process on the same captured graph and the same simulator. The
heuristics are timed with the harness (warm-up + repeats, median); the learned searches (rl,
hierarchical, default) run once each (a search is seconds to minutes), seed ``ctx.seed``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from learnedsys.bench._harness import BenchContext, SectionResult, measure, save_figure

PACKAGES = ("torch", "pymetis", "scipy")

# (label, factory, kwargs) - the quick run keeps models small so export takes seconds.
QUICK_MODELS: list[tuple[str, str, dict[str, Any]]] = [
    ("towers-4", "towers", {"d": 1024, "depth": 4, "batch": 128}),
    ("nmt-2 (small)", "nmt2", {"batch": 32, "seq": 6, "hidden": 512, "vocab": 4000}),
]
FULL_MODELS: list[tuple[str, str, dict[str, Any]]] = [
    ("rnnlm", "rnnlm", {}),
    ("nmt-2", "nmt2", {}),
    ("nmt-4", "nmt4", {}),
    ("nmt-8", "nmt8", {}),
    ("inception-v3", "inception_v3", {}),
    ("transformer", "transformer", {}),
    ("gpt2-small", "gpt2_small", {}),
    ("towers-4", "towers", {}),
    ("chain", "chain", {}),
]


def _picture(graph: Any, devices: np.ndarray, names: list[str], path: Any, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = graph.n_nodes
    level = np.zeros(n, dtype=np.int64)
    for s, d in zip(graph.edge_src.tolist(), graph.edge_dst.tolist(), strict=True):
        if level[s] + 1 > level[d]:
            level[d] = level[s] + 1
    order = np.lexsort((np.arange(n), level))
    ypos = np.zeros(n)
    counts: dict[int, int] = {}
    for i in order:
        lv = int(level[i])
        ypos[i] = counts.get(lv, 0)
        counts[lv] = counts.get(lv, 0) + 1
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for s, d in zip(graph.edge_src.tolist(), graph.edge_dst.tolist(), strict=True):
        ax.plot([level[s], level[d]], [ypos[s], ypos[d]], color="0.85", lw=0.4, zorder=1)
    cmap = plt.get_cmap("tab10")
    for k, name in enumerate(names):
        sel = devices == k
        if sel.any():
            size = 6 + 60 * np.sqrt(graph.flops[sel] / max(graph.flops.max(), 1.0))
            ax.scatter(level[sel], ypos[sel], s=size, color=cmap(k), label=name, zorder=2, edgecolors="none")
    ax.set_xlabel("topological depth")
    ax.set_ylabel("operations at that depth")
    ax.set_title(title)
    leg = ax.legend(loc="upper right", fontsize=8)
    for h in getattr(leg, "legend_handles", getattr(leg, "legendHandles", [])):
        h.set_sizes([30])
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def _bars(rows: list[dict[str, Any]], methods: list[str], path: Any, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(models) + 2), 4))
    w = 0.8 / len(methods)
    for j, m in enumerate(methods):
        vals = []
        for mod in models:
            r = next((r for r in rows if r["model"] == mod and r["method"] == m), None)
            vals.append(r["vs_single"] if r and r["vs_single"] is not None else np.nan)
        ax.bar(np.arange(len(models)) + j * w - 0.4 + w / 2, vals, w, label=m)
    ax.axhline(1.0, color="k", lw=0.6)
    ax.set_xticks(np.arange(len(models)))
    ax.set_xticklabels(models, fontsize=8)
    ax.set_ylabel("step time / single GPU (lower is better)")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def _measured(ctx: BenchContext, result: SectionResult) -> None:
    """The measured table: placements run for real on this machine's cores (PlacedRuntime) next to
    the simulator's prediction, small models (``benchmarks/placement/measured.py`` runs the full
    sizes)."""
    import os

    from learnedsys.placement import _measure

    if len(os.sched_getaffinity(0)) < 2:
        result.notes.append("Measured table skipped: this process may run on one core only.")
        return
    quick = ctx.quick
    s = _measure.settings(
        quick=True, seed=ctx.seed, rounds=3 if quick else 5, repeats=2 if quick else 3, random=1 if quick else 2,
        iterations=10 if quick else 40, time_budget=5.0 if quick else 20.0, anneal_steps=500 if quick else 3000,
        kicks=2 if quick else 5, only=["towers-4"] if quick else None, shortlist=2 if quick else 4,
    )
    results, meta = _measure.run(s, log=ctx.log)
    rows, errs = [], []
    for res in results:
        flag = max(res["load_before"][0], res["load_after"][0])
        on_core = float(np.median([r["cpu_share"] for r in res["rows"]]))
        for r in res["rows"]:
            rows.append({"model": res["model"], "method": r["method"], "real_ms": r["real_ms"], "q25": r["real_q25_ms"], "q75": r["real_q75_ms"], "on_core": r["cpu_share"],
                         "pipelined_ms": r["pipelined_ms"], "sim_profiled_ms": r["sim_profiled_ms"], "sim_calibrated_ms": r["sim_calibrated_ms"],
                         "sim_roofline_ms": r["sim_roofline_ms"]})
        for src, e in res["errors"].items():
            errs.append({"model": res["model"], "source": src, "mae": e["mae"], "spearman": e["spearman"], "load": flag, "on_core": on_core,
                         "default_vs_fastest": res["default_vs_fastest"], "default_vs_single": res["default_vs_single"],
                         "measured_vs_fastest": res["default_measured_vs_fastest"]})
    result.tables.append((
        f"Measured on this machine ({meta['cluster']}): forward step, one pinned worker process per core; simulated columns are the simulator's prediction",
        rows,
        [("model", "model", ""), ("method", "method", ""), ("real_ms", "real (ms)", ".2f"), ("q25", "q25", ".2f"), ("q75", "q75", ".2f"), ("on_core", "on core", ".2f"),
         ("pipelined_ms", "pipelined (ms)", ".2f"), ("sim_profiled_ms", "sim profiled", ".2f"), ("sim_calibrated_ms", "sim calibrated", ".2f"),
         ("sim_roofline_ms", "sim roofline", ".2f")],
    ))
    result.tables.append((
        "Simulator's error against the measured step times (load: 1-minute load average; on core: median share of a step its workers were on their cores, below ~0.9 the real times are inflated by other processes)",
        errs,
        [("model", "model", ""), ("source", "op times", ""), ("mae", "MAE", ".3f"), ("spearman", "Spearman", ".3f"), ("load", "load", ".2f"), ("on_core", "on core", ".2f"),
         ("default_vs_fastest", "default / fastest (real)", ".3f"), ("default_vs_single", "default / single (real)", ".3f"),
         ("measured_vs_fastest", "default+measured / fastest (real)", ".3f")],
    ))
    result.notes.append(
        "Measured table: `default+measured` is `place_measured`: the default search's simulated-fastest distinct "
        "placements run for real, the fastest measured kept (timed in its own rounds, before this table's). "
        "Small models; the full measurement (three models at tens of ms per step) is "
        "`python benchmarks/placement/measured.py --out measured.json`."
    )


def run(ctx: BenchContext) -> SectionResult:
    from learnedsys.placement import HEURISTICS, METHODS, Cluster, Simulator, models, place
    from learnedsys.placement._capture import capture

    result = SectionResult(
        name="placement",
        title="Device placement: simulated training step per placer",
        columns=[
            ("model", "model", ""),
            ("cluster", "cluster", ""),
            ("ops", "ops", "d"),
            ("method", "method", ""),
            ("step_ms", "step (ms)", ".2f"),
            ("vs_single", "vs single", ".3f"),
            ("vs_expert", "vs expert", ".3f"),
            ("feasible", "fits", ""),
            ("search_s", "search (s)", ".3f"),
        ],
    )
    model_list = QUICK_MODELS if ctx.quick else FULL_MODELS
    clusters = ["k80x4"]
    iterations = 10 if ctx.quick else 150
    budget = 6.0 if ctx.quick else 120.0
    rows: list[dict[str, Any]] = []
    picture_done = False
    for label, fname, kw in model_list:
        t0 = time.perf_counter()
        model, inputs = getattr(models, fname)(**kw)
        graph = capture(model, inputs, name=label)
        ctx.log(f"  {label}: {graph.summary()} captured in {time.perf_counter() - t0:.1f} s")
        for cname in clusters:
            cluster = Cluster.preset(cname)
            sim = Simulator(graph, cluster)
            res: dict[str, Any] = {}
            for m in METHODS:
                if m in HEURISTICS:
                    def heuristic(m: str = m, g: Any = graph, c: Any = cluster, s: Any = sim) -> Any:
                        return place(g, c, m, seed=ctx.seed, simulator=s)

                    timing, p = measure(heuristic, repeats=max(1, ctx.repeats if ctx.quick else 3))
                    search = timing.median
                else:
                    p = place(graph, cluster, m, seed=ctx.seed, iterations=iterations, time_budget=budget, simulator=sim)
                    search = p.search_seconds
                res[m] = (p, search)
            single = res["single"][0]
            expert = res["expert"][0]
            for m, (p, search) in res.items():
                rows.append({
                    "model": label,
                    "cluster": cname,
                    "ops": graph.n_nodes,
                    "method": m,
                    "step_ms": p.step_time * 1e3 if p.feasible else None,
                    "vs_single": p.step_time / single.step_time if p.feasible and single.feasible else None,
                    "vs_expert": p.step_time / expert.step_time if p.feasible and expert.feasible else None,
                    "feasible": p.feasible,
                    "search_s": search,
                })
            ctx.log(f"    {cname}: default {res['default'][0].step_time * 1e3:.2f} ms, expert {expert.step_time * 1e3:.2f} ms, single {single.step_time * 1e3:.2f} ms")
            if ctx.report_dir is not None and not picture_done and "nmt" in fname:
                fig = "placement_graph.png"
                _picture(graph, res["default"][0].devices, [d.name for d in cluster.devices], ctx.report_dir / fig,
                         f"{label} on {cname}: default placement ({res['default'][0].step_time * 1e3:.1f} ms/step)")
                result.figures.append((fig, f"{label} on {cname}: operations by topological depth, coloured by the device the default placer chose (dot size ~ FLOPs)"))
                picture_done = True
    result.records = rows
    _measured(ctx, result)
    if ctx.report_dir is not None:
        fig = "placement_bars.png"
        _bars([r for r in rows if r["cluster"] == "k80x4"], list(METHODS), ctx.report_dir / fig, "Simulated step time on k80x4 (1 CPU + 4 K80, PCIe 3)")
        result.figures.append((fig, "step time relative to the whole model on one GPU, per method (k80x4)"))
    result.notes += [
        "Step times are simulated (discrete-event simulator, roofline cost per op, PCIe/NVLink links); no GPU was used.",
        "Heuristics timed with warm-up + repeats (median); rl / hierarchical / default searched once each "
        f"({iterations} policy-gradient iterations x 8 samples, {budget:.0f} s cap on each search), seed {ctx.seed}.",
        "default = best of every named method, then local search against the simulator: never slower than any named method by construction.",
    ]
    if ctx.quick:
        result.notes.append("Quick run: two small models (4 towers, a 2-layer NMT with 6 steps); `learnedsys bench placement` without --quick runs all nine benchmark models.")
    return result
