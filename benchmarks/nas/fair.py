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
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

LS = str(Path(sys.executable).parent / "learnedsys")


def held_back(y: np.ndarray, seed: int, frac: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed + 99)
    idx = [rng.permutation(np.flatnonzero(y == c))[: round(frac * np.sum(y == c))] for c in np.unique(y)]
    return np.sort(np.concatenate(idx))


def _cli(cmd: list[str], log: Path) -> tuple[float, int]:
    t0 = time.monotonic()
    with open(log, "w") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT).returncode
    return time.monotonic() - t0, rc


def run_cnn(tag: str, rest: Path, held: Path, y_held: np.ndarray, budget: float, seed: int, work: Path,
            extra: list[str]) -> dict[str, Any]:
    model, js, pred = work / f"{tag}-model", work / f"{tag}.json", work / f"{tag}-pred.npy"
    secs, rc = _cli([LS, "nas", "search", "--data", str(rest), "--budget", str(budget), "--workers", "2", "--seed", str(seed),
                     "--no-progress", "--out", str(model), "--json", str(js), *extra], work / f"{tag}-search.log")
    t1 = time.monotonic()
    rc2 = subprocess.run([LS, "nas", "predict", str(model), "--data", str(held), "--out", str(pred)],
                         capture_output=True).returncode
    psecs = time.monotonic() - t1
    if rc or rc2:
        return {"error": (work / f"{tag}-search.log").read_text()[-500:]}
    res = json.loads(js.read_text())
    acc = float(np.mean(np.load(pred, allow_pickle=False) == y_held))
    out = {"acc": acc, "seconds": secs, "predict_seconds": psecs, "trials": res.get("trials"),
           "final_epochs": res.get("final_epochs"), "winner": res.get("winner"),
           "best_val": (res.get("best") or {}).get("val_acc"),
           "hand_built_val": (res.get("hand_built") or {}).get("val_acc"), "plan": res.get("plan")}
    if res.get("history"):
        out["curve"] = [(h["t"], h["best_val_acc"]) for h in res["history"] if h.get("t") is not None]
    return out


def run_sklearn(X: np.ndarray, y: np.ndarray, Xh: np.ndarray, yh: np.ndarray, seed: int) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    Xf, Xhf = X.reshape(len(X), -1), Xh.reshape(len(Xh), -1)
    models = {
        "knn": GridSearchCV(make_pipeline(StandardScaler(), KNeighborsClassifier()),
                            {"kneighborsclassifier__n_neighbors": [1, 3, 5, 7]}, cv=5, n_jobs=1),
        "logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, C=0.1)),
        "svm_rbf": GridSearchCV(make_pipeline(StandardScaler(), SVC(kernel="rbf", random_state=seed)),
                                {"svc__C": [1.0, 10.0]}, cv=3, n_jobs=1),
    }
    out = {}
    for name, m in models.items():
        t0 = time.monotonic()
        m.fit(Xf, y)
        acc = float(np.mean(m.predict(Xhf) == yh))
        out[name] = {"acc": acc, "seconds": time.monotonic() - t0}
        print(f"    {name}: {acc:.4f} in {out[name]['seconds']:.0f} s", flush=True)
    return out


def measure(tasks: list[str], seeds: list[int], budget: float, n: int, out: Path) -> None:
    from learnedsys.bench.nas import TASKS

    results: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    results.setdefault("runs", [])
    results["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    for t in tasks:
        for seed in seeds:
            X, y = TASKS[t](n, seed)
            h = held_back(y, seed)
            keep = np.setdiff1d(np.arange(len(y)), h)
            with tempfile.TemporaryDirectory() as d:
                work = Path(d)
                rest, held = work / "rest.npz", work / "held.npz"
                np.savez(rest, X=X[keep], y=y[keep])
                np.savez(held, X=X[h], y=y[h])
                row: dict[str, Any] = {"task": t, "seed": seed, "shape": list(X.shape[1:]), "n_rest": len(keep),
                                       "n_held": len(h), "budget": budget, "load_before": os.getloadavg()[0],
                                       "utc": time.strftime("%H:%M", time.gmtime())}
                print(f"{t} seed {seed} (load {row['load_before']:.1f})", flush=True)
                row["search"] = run_cnn("search", rest, held, y[h], budget, seed, work, [])
                print(f"    search: {row['search'].get('acc')} ({row['search'].get('winner')})", flush=True)
                row["fair_cnn"] = run_cnn("hand", rest, held, y[h], budget, seed, work, ["--hand-built"])
                print(f"    fair CNN: {row['fair_cnn'].get('acc')}", flush=True)
                row.update(run_sklearn(X[keep], y[keep], X[h], y[h], seed))
                row["load_after"] = os.getloadavg()[0]
            results["runs"] = [r for r in results["runs"] if (r["task"], r["seed"], r["budget"]) != (t, seed, budget)] + [row]
            out.write_text(json.dumps(results, indent=1) + "\n")


def plot(path: Path, figure: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = json.loads(path.read_text())["runs"]
    tasks = sorted({r["task"] for r in runs})
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.6), squeeze=False)
    marks = {"knn": "v", "logreg": "s", "svm_rbf": "D"}
    for ax, t in zip(axes[0], tasks, strict=True):
        for r in (r for r in runs if r["task"] == t):
            s, f = r["search"], r["fair_cnn"]
            if "curve" in s:
                ts, vs = zip(*[(a, b) for a, b in s["curve"] if b is not None], strict=True)
                ax.step(ts, vs, where="post", color="C0", alpha=0.4, lw=1)
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
    ap.add_argument("--plot", type=Path)
    ap.add_argument("--figure", type=Path, default=Path("benchmarks/nas/fair.png"))
    a = ap.parse_args()
    if a.plot:
        plot(a.plot, a.figure)
    else:
        measure(a.tasks, a.seeds, a.budget, a.n, a.out)


if __name__ == "__main__":
    main()
