"""Only the compression part of ``learnedsys bench decide`` (section 3 of RESULTS.md): measure the
codecs on this machine's Python installation, then every fixed choice, the bounds and the learned
policies at the three CPU prices; prints the tables and notes.

Usage: .venv/bin/python benchmarks/decide/compression.py [--quick] [--seed 0] [--json out.json]
       .venv/bin/python benchmarks/decide/compression.py --long [--blocks 20000] [--cache-dir /tmp]
       .venv/bin/python benchmarks/decide/compression.py --file-order [--policy-seed 0]

``--long`` runs protocol 3 instead: a long stream of blocks from real files on this machine (the Python
installation, the venv, /usr/lib, /usr/share, ...), measured once (about 2 minutes for 20,000 blocks on
a loaded 2-core machine) and cached as ``<cache-dir>/cmp3_long_s<seed>_n<blocks>.npz``; later runs only
replay the policies (about a minute). ``--file-order`` runs protocol 4 on the same measurements: the
stream in file order (files in random order, a file's blocks one after another), with the previous
block's outcome as a free context.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from learnedsys.bench._harness import BenchContext, SectionResult
from learnedsys.bench.decide import _compression, _compression_long


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--long", action="store_true", help="protocol 3: the long stream (measured once, cached)")
    ap.add_argument("--blocks", type=int, default=20_000, help="blocks in the long stream")
    ap.add_argument("--policy-seed", type=int, default=None, help="long stream: the policies' seed (default: --seed)")
    ap.add_argument("--file-order", action="store_true",
                    help="protocol 4: the long stream in file order, with the previous block's outcome as context")
    ap.add_argument("--cache-dir", default="/tmp", help="where the long stream's measurements are cached")
    args = ap.parse_args()
    ctx = BenchContext(quick=args.quick, seed=args.seed, progress=args.long)
    res = SectionResult(name="decide", title="compression only")
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    if args.file_order:
        args.long = True
    if args.long:
        _compression_long(ctx, res, n=args.blocks, cache_dir=args.cache_dir, policy_seed=args.policy_seed, file_order=args.file_order)
    else:
        _compression(ctx, res)
    print(f"{time.perf_counter() - t0:.1f} s; load average {load0:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    for title, rows, _ in res.tables:
        print(f"\n## {title}")
        for r in rows:
            half = (f" | last half {r['last_half_vs_oracle']:6.2%} {r['last_half_vs_best_fixed']:+6.2%}"
                    if "last_half_vs_oracle" in r else "")
            print(f"  {r['policy'][:100]:100s} {r['vs_oracle']:7.2%} above oracle {r['vs_best_fixed']:+7.2%} vs best fixed{half}  {r.get('picks', '')}")
    print()
    for note in res.notes:
        print("-", note)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seed": args.seed, "quick": args.quick, "long": args.long, "records": res.records, "notes": res.notes}, f, indent=1, default=float)


if __name__ == "__main__":
    main()
