"""Compare search strategies on the shipped tabular benchmark (no training; seconds to minutes).

Usage::

    .venv/bin/python benchmarks/nas/compare_tabular.py --runs 100 --out benchmarks/nas/tabular_comparison.json \
        --plot benchmarks/nas/tabular_regret.png

Seeds 1000.. (the strategies' defaults were chosen on seeds 0-59). Regret in percentage points:
best mean validation (or test) accuracy in the table minus that of the incumbent, which is the
architecture with the best *observed* validation accuracy. 95% band = 1.96 standard errors.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from learnedsys.nas import TabularBenchmark, summarize


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--tpe-runs", type=int, default=50)
    p.add_argument("--evals", type=int, default=150)
    p.add_argument("--out", default="benchmarks/nas/tabular_comparison.json")
    p.add_argument("--plot", default="benchmarks/nas/tabular_regret.png")
    args = p.parse_args()
    bench = TabularBenchmark.load()
    plan = [("random", "random", False, args.runs), ("evolution", "evolution", False, args.runs),
            ("reinforce", "reinforce", False, args.runs), ("tpe", "tpe", False, args.tpe_runs),
            ("evolution+asha", "evolution", True, args.runs)]
    out: dict[str, dict] = {}
    curves = {}
    for label, strat, asha, runs in plan:
        t0 = time.perf_counter()
        row = {}
        both = [bench.run_both(strat, args.evals, 1000 + i, asha=asha) for i in range(runs)]
        for metric in ("val", "test"):
            s = summarize(np.stack([b[metric] for b in both]))
            if metric == "val":
                curves[label] = s
            for at in (50, 100, args.evals):
                row[f"{metric}_regret@{at}"] = [round(100 * float(s[k][at - 1]), 4) for k in ("mean", "lo", "hi")]
        row["runs"] = runs
        row["seconds"] = round(time.perf_counter() - t0, 1)
        out[label] = row
        print(label, json.dumps(row), flush=True)
    payload = {"table": {"architectures": len(bench), "seeds": bench.n_seeds, "best_val": bench.best_val,
                         "best_test": bench.best_test}, "evals": args.evals, "results": out}
    with open(args.out, "w") as fh:
        json.dump(payload, fh, indent=1)
    from learnedsys.bench.nas import regret_figure

    regret_figure(curves, f"tabular-mlp-digits ({len(bench)} archs x {bench.n_seeds} seeds): mean, 95% band", args.plot, dpi=100)

if __name__ == "__main__":
    main()
