"""Only the compression part of ``learnedsys bench decide`` (section 3 of RESULTS.md): measure the
codecs on this machine's Python installation, then every fixed choice, the bounds and the learned
policies at the three CPU prices; prints the tables and notes.

Usage: .venv/bin/python benchmarks/decide/compression.py [--quick] [--seed 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from learnedsys.bench._harness import BenchContext, SectionResult
from learnedsys.bench.decide import _compression


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    ctx = BenchContext(quick=args.quick, seed=args.seed, progress=False)
    res = SectionResult(name="decide", title="compression only")
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    _compression(ctx, res)
    print(f"{time.perf_counter() - t0:.1f} s; load average {load0:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    for title, rows, _ in res.tables:
        print(f"\n## {title}")
        for r in rows:
            print(f"  {r['policy'][:80]:80s} {r['vs_oracle']:7.1%} above oracle {r['vs_best_fixed']:+7.1%} vs best fixed  {r.get('picks', '')}")
    print()
    for note in res.notes:
        print("-", note)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seed": args.seed, "quick": args.quick, "records": res.records, "notes": res.notes}, f, indent=1, default=float)


if __name__ == "__main__":
    main()
