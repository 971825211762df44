"""How often ``learnedsys tune`` finds flags within 10% of the optimum of a program it has never
seen, in 30 trials, over seeds; TPE (the default) against random search.

Usage: .venv/bin/python benchmarks/decide/tune_synthetic.py [--seeds 20]

The objective is the cost that ``tests/decide/synthetic_prog.py`` prints (optimum 1.0 at
threads=11, block=512, mode=b); it is evaluated in-process here (same numbers as the program
prints) so that 2 x 20 studies take seconds. The test suite runs the real command line.
"""

from __future__ import annotations

import argparse
import math
import statistics

from learnedsys.tune._tune import Param, tune

PARAMS = [Param("threads", "int", 1, 16), Param("block", "int", 16, 4096, True), Param("mode", "categorical", choices=("a", "b", "c"))]


def cost(v: dict) -> float:
    return 1 + 0.02 * (v["threads"] - 11) ** 2 + 0.15 * (math.log2(v["block"]) - 9) ** 2 + {"a": 0.5, "b": 0.0, "c": 0.25}[v["mode"]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=30)
    args = ap.parse_args()
    for sampler in ("tpe", "random"):
        best = []
        for seed in range(args.seeds):
            r = tune(PARAMS, lambda v: (cost(v), [cost(v)], None), trials=args.trials, seed=seed, sampler=sampler)
            best.append(r.best_value)
        ok = sum(b <= 1.1 for b in best)
        print(f"{sampler}: within 10% of the optimum in {ok}/{args.seeds} seeds; best value median {statistics.median(best):.3f}, "
              f"worst {max(best):.3f} ({args.trials} trials)")


if __name__ == "__main__":
    main()
