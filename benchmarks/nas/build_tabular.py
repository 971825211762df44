"""Train every architecture of the ``tabular-mlp`` space on ``digits`` and ship the results.

Usage (resumable: rows already in the JSONL are skipped, so a killed run continues)::

    .venv/bin/python benchmarks/nas/build_tabular.py --seeds 0 --epochs 12 \
        --raw benchmarks/nas/tabular_raw.jsonl
    .venv/bin/python benchmarks/nas/build_tabular.py --finalize \
        --raw benchmarks/nas/tabular_raw.jsonl --out src/learnedsys/nas/data/tabular_mlp_digits.json

One worker, one intra-op thread: the machine is shared. Each row records validation accuracy
after 3, 6, 9 and 12 epochs (the fidelities successive halving uses), test accuracy, parameters
and training seconds; the data split is always seed 0 (60/20/20), the training seed varies.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def build(args: argparse.Namespace) -> None:
    from learnedsys.nas._data import load_dataset
    from learnedsys.nas._space import tabular_mlp_space
    from learnedsys.nas._train import train_eval

    space = tabular_mlp_space()
    data = load_dataset("digits", seed=0)
    archs = list(space.enumerate())
    done = set()
    raw = Path(args.raw)
    if raw.exists():
        for line in raw.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done.add((tuple(r["action"]), r["seed"]))
    order = np.random.default_rng(0).permutation(len(archs))
    t0 = time.time()
    n = 0
    with open(raw, "a") as fh:
        for seed in args.seeds:
            for i in order:
                a = archs[i]
                if (a, seed) in done:
                    continue
                r = train_eval(space, a, data, epochs=args.epochs, seed=seed, eval_every=3,
                               measure_latency=False, with_test=True, schedule="constant")
                row = {"action": list(a), "seed": seed, "status": r["status"],
                       "val": [round(x, 5) for x in r["curve"]], "test": round(r.get("test_acc", float("nan")), 5),
                       "params": r["params"], "seconds": round(r["seconds"], 3)}
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                n += 1
                if n % 50 == 0:
                    print(f"{n} trained, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)


def finalize(args: argparse.Namespace) -> None:
    from learnedsys.nas._space import tabular_mlp_space

    space = tabular_mlp_space()
    archs = list(space.enumerate())
    rows: dict[tuple[int, ...], dict[int, dict]] = {}
    for line in Path(args.raw).read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            rows.setdefault(tuple(r["action"]), {})[r["seed"]] = r
    seeds = sorted({s for v in rows.values() for s in v})
    seeds = [s for s in seeds if all(s in rows.get(a, {}) for a in archs)]
    if not seeds:
        raise SystemExit("no seed covers every architecture yet")
    n_fid = 4
    val = np.full((len(archs), len(seeds), n_fid), np.nan)
    test = np.full((len(archs), len(seeds)), np.nan)
    secs = np.zeros((len(archs), len(seeds)))
    params = np.zeros(len(archs), dtype=np.int64)
    for i, a in enumerate(archs):
        for j, s in enumerate(seeds):
            r = rows[a][s]
            if r["status"] == "ok":
                val[i, j] = r["val"]
                test[i, j] = r["test"]
            secs[i, j] = r["seconds"]
            params[i] = r["params"]
    payload = {
        "name": "tabular-mlp-digits",
        "space": "tabular-mlp",
        "dataset": "digits (scikit-learn), stratified 60/20/20 split with seed 0",
        "epochs": [3, 6, 9, 12],
        "seeds": seeds,
        "note": "validation accuracy after 3/6/9/12 epochs, test accuracy after 12; Adam, batch 64, one thread",
        "archs": [list(a) for a in archs],
        "val": np.round(val, 4).tolist(),
        "test": np.round(test, 4).tolist(),
        "seconds": np.round(secs, 2).tolist(),
        "params": params.tolist(),
    }
    text = json.dumps(payload, separators=(",", ":")).replace("NaN", "null")
    Path(args.out).write_text(text)
    print(f"wrote {args.out}: {len(archs)} architectures x {len(seeds)} seeds, {len(text) / 1e3:.0f} kB")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--raw", default="benchmarks/nas/tabular_raw.jsonl")
    p.add_argument("--finalize", action="store_true")
    p.add_argument("--out", default="src/learnedsys/nas/data/tabular_mlp_digits.json")
    args = p.parse_args()
    finalize(args) if args.finalize else build(args)


if __name__ == "__main__":
    main()
