"""Measured against simulated: real step times of placements on this machine next to the simulator.

    .venv/bin/python benchmarks/placement/measured.py --out benchmarks/placement/measured.json

Three models (four towers, a chain, a small NMT-like recurrent model; sizes where one step takes
tens of ms on one core), every placement method plus random placements, each placement run for
real on ``Cluster.local()`` by a ``PlacedRuntime`` next to the simulator's prediction with profiled,
calibrated and roofline op times; what is measured and how is in ``learnedsys.placement._measure``.
Prints a Markdown table; ``--out`` writes everything as JSON. Load averages are recorded before
and after each model: on two cores, figures at load > 1.5 are flagged as loaded. About 4-8 minutes
on two cores. Run it at normal priority on a machine with nothing else running.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from learnedsys.placement._measure import markdown, run


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    ap.add_argument("--only", nargs="*", default=None, help="model labels to run (default: all)")
    ap.add_argument("--quick", action="store_true", help="small models (seconds; what `learnedsys bench placement` runs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps per placement")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds over the placements")
    ap.add_argument("--repeats", type=int, default=3, help="timed steps per placement and round (one at a time; as many again pipelined)")
    ap.add_argument("--profile-repeats", type=int, default=5)
    ap.add_argument("--random", type=int, default=3, help="random placements of each kind (per op, per module)")
    ap.add_argument("--shortlist", type=int, default=4, help="placements place_measured runs for real (the default+measured row)")
    ap.add_argument("--iterations", type=int, default=600, help="policy-gradient iterations of rl / hierarchical (x 8 samples)")
    ap.add_argument("--time-budget", type=float, default=20.0, help="seconds cap of each search")
    ap.add_argument("--anneal-steps", type=int, default=3000)
    ap.add_argument("--kicks", type=int, default=5)
    return ap


def main() -> None:
    args = parser().parse_args()
    args.command = "python " + " ".join(sys.argv)
    t0 = time.perf_counter()
    results, meta = run(args, log=lambda s: print(s, file=sys.stderr, flush=True))
    meta["seconds"] = round(time.perf_counter() - t0, 1)
    print(markdown(results, meta))
    if args.out is not None:
        args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=float) + "\n")
        print(f"wrote {args.out} ({meta['seconds']} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
