"""Issue 20: a 4-minute search + predict against fair baselines on synthetic images it never saw.

For each task (``learnedsys.bench.nas.TASKS``: strokes28, shapes32, textures32, patches32) and
seed: 5000 samples are drawn with the seed, 1000 held back (seeded, stratified); on the other
4000 run

- ``learnedsys nas search --data rest.npz --budget B --workers 2`` (the search; B covers the
  final ensemble too), then ``learnedsys nas predict`` on the held-back samples;
- ``learnedsys nas search --hand-built`` with the same B: the hand-built CNN with the very recipe
  of the search's final model (AdamW one-cycle, batch norm, random 2-pixel shifts, a 2-member
  ensemble trained in parallel on train+validation), the whole budget spent on it;
- k-nearest neighbours (k from 1/3/5/7 by 5-fold accuracy), logistic regression and an RBF SVM
  (C from 1/10 by 3-fold accuracy), on standardised pixels, timed the same way (fit + predict).

Each run's row records the search's budget split (``allocation``: whether exploring stopped early
because the hand-built CNN still led, when, and the seconds and epochs the final phase got).
``--search-args`` passes options to the search's command only (an A/B of the allocation:
``--search-args=--full-search`` is the split before the early stop); rows are kept per task,
seed, budget and search arguments.

Usage::

    nice -n 19 .venv/bin/python benchmarks/nas/fair.py --tasks strokes28 shapes32 textures32 patches32 \\
        --seeds 0 --budget 240 --out benchmarks/nas/fair.json
    .venv/bin/python benchmarks/nas/fair.py --plot benchmarks/nas/fair.json --figure benchmarks/nas/fair.png
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any


def _commit() -> str | None:
    """The code measured: this checkout's commit, with '+' when it has uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+" if dirty else "")


def _record_allocation(search_args: list[str]) -> None:
    """Make ``image_comparison`` pass ``search_args`` to the search's command (not to the
    ``--hand-built`` baseline) and keep the search's budget split from its --json."""
    import learnedsys.bench.nas as bench_nas

    plain = bench_nas._cli_cnn

    def cli_cnn(tag: str, rest: Path, held: Path, y_held: Any, budget: float, seed: int, work: Path,
                extra: list[str]) -> dict[str, Any]:
        if tag == "search":
            extra = [*extra, *search_args]
        out = plain(tag, rest, held, y_held, budget, seed, work, extra)
        js = work / f"{tag}.json"
        if js.exists():  # the temporary folder lives until image_comparison returns
            rec = json.loads(js.read_text())
            out["allocation"], out["stopped"] = rec.get("allocation"), rec.get("stopped")
            out["less_trained_rival"] = rec.get("less_trained_rival")
            # every trial: rung, accuracy, hand-built or searched, when (why the search stopped or not)
            out["history"] = [{k: h.get(k) for k in ("number", "rung", "epochs", "epochs_run", "fraction", "status", "val_acc", "partial_val_acc", "hand_built", "t")}
                              for h in rec.get("history") or []]
        return out

    bench_nas._cli_cnn = cli_cnn


def measure(tasks: list[str], seeds: list[int], budget: float, n: int, out: Path, search_args: list[str] | None = None) -> None:
    from learnedsys.bench.nas import image_comparison

    search_args = list(search_args or [])
    _record_allocation(search_args)
    results: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    results.setdefault("runs", [])
    results["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    for t in tasks:
        for seed in seeds:
            print(f"{t} seed {seed} (load {os.getloadavg()[0]:.1f})", flush=True)
            row = image_comparison(t, seed, budget, n, log=lambda m: print("    " + m, flush=True))
            row["commit"], row["date"] = _commit(), time.strftime("%Y-%m-%d", time.gmtime())
            row["search_args"] = search_args
            alloc = row["search"].get("allocation") or {}
            print(f"    search's split: {alloc.get('summary', '(not recorded)')}", flush=True)
            key = (t, seed, budget, search_args)
            results["runs"] = [r for r in results["runs"]
                               if (r["task"], r["seed"], r["budget"], r.get("search_args", [])) != key] + [row]
            out.write_text(json.dumps(results, indent=1) + "\n")


def plot(path: Path, figure: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = json.loads(path.read_text())["runs"]
    order = ["strokes28", "shapes32", "textures32", "patches32"]
    tasks = sorted({r["task"] for r in runs}, key=lambda t: order.index(t) if t in order else len(order))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.6), squeeze=False)
    marks = {"knn": "v", "logreg": "s", "svm_rbf": "D"}
    for ax, t in zip(axes[0], tasks, strict=True):
        for r in (r for r in runs if r["task"] == t):
            s, f = r["search"], r["fair_cnn"]
            if "curve" in s:
                ts, vs = zip(*[(a, b) for a, b in s["curve"] if b is not None], strict=True)
                ax.step(ts, vs, where="post", color="C0", alpha=0.4, lw=1,
                        label="search: best validation accuracy so far (top rung first)")
            if "acc" in s:
                ax.plot(s["seconds"], s["acc"], "o", color="C0", label="search (held-back)")
            if "acc" in f:
                ax.plot(f["seconds"], f["acc"], "*", ms=11, color="C3", label="hand-built CNN, same recipe + budget")
            for k, m in marks.items():
                ax.plot(r[k]["seconds"], r[k]["acc"], m, color="grey", label=k)
        ax.set_title(t)
        ax.set_xscale("log")
        ax.set_xlabel("wall-clock seconds (fit + predict; 2 shared cores)")
        ax.set_ylabel("accuracy on held-back samples")
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles, strict=True))
    fig.legend(uniq.values(), uniq.keys(), loc="lower center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(figure, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", default=["strokes28", "shapes32", "textures32", "patches32"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--budget", type=float, default=240.0)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/nas/fair.json"))
    ap.add_argument("--search-args", default="",
                    help="options for the search's command only, e.g. --search-args=--full-search (the split before "
                    "the early stop, for an A/B); one string, split on spaces")
    ap.add_argument("--plot", type=Path)
    ap.add_argument("--figure", type=Path, default=Path("benchmarks/nas/fair.png"))
    a = ap.parse_args()
    if a.plot:
        plot(a.plot, a.figure)
    else:
        measure(a.tasks, a.seeds, a.budget, a.n, a.out, a.search_args.split())


if __name__ == "__main__":
    main()
