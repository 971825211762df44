"""Bench section ``nas``: strategies compared on the shipped tabular benchmark, then real searches.

1. Tabular (``learnedsys/nas/data/tabular_mlp_digits.json``: all 1404 architectures of the
   ``tabular-mlp`` space trained on digits): regret of the incumbent against evaluations for
   ``random``, ``evolution`` and ``reinforce`` (plus ``tpe`` and ``evolution`` under ASHA in the full
   run), mean and 95% band over seeded runs, at 50 and 150 evaluations, as in NAS-Bench papers.
2. Real training on digits (MLP space, one thread per trial) at equal wall-clock budget per
   strategy: trials finished, best validation accuracy, held-out test accuracy of the retrained
   best. The full run adds throughput with 1 and 2 workers, local processes and Ray.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from learnedsys.bench._harness import BenchContext, SectionResult, save_figure

PACKAGES = ("torch", "optuna", "ray", "scikit-learn")


def _tabular(ctx: BenchContext, res: SectionResult) -> dict[str, Any]:
    from learnedsys.nas import TabularBenchmark, summarize

    bench = TabularBenchmark.load()
    n_evals = 150
    # 400 runs in the full run: the 95% bands of reinforce and random at 150 evaluations are
    # about 0.08 pp apart there, and 100 runs leave them overlapping
    runs = 100 if ctx.quick else 400
    plan: list[tuple[str, str, bool, int]] = [("random", "random", False, runs), ("evolution", "evolution", False, runs),
                                              ("reinforce", "reinforce", False, 20 if ctx.quick else runs)]
    if not ctx.quick:
        plan += [("tpe", "tpe", False, 30), ("evolution+asha", "evolution", True, runs)]
    curves: dict[str, Any] = {}
    base = 1000 + ctx.seed  # seeds apart from those the defaults were chosen on (0..59)
    for label, strat, asha, runs in plan:
        t0 = time.perf_counter()
        c = np.stack([bench.run(strat, n_evals, base + i, asha=asha) for i in range(runs)])
        secs = time.perf_counter() - t0
        s = summarize(c)
        curves[label] = s
        res.records.append({
            "benchmark": "tabular-mlp-digits", "strategy": label, "runs": runs, "evals": n_evals,
            "regret50": 100 * s["mean"][49], "regret150": 100 * s["mean"][-1],
            "ci150": f"[{100 * s['lo'][-1]:.3f}, {100 * s['hi'][-1]:.3f}]",
            "seconds": secs, "ms_per_run": 1e3 * secs / runs,
        })
        ctx.log(f"  tabular {label}: regret@150 {100 * s['mean'][-1]:.3f}% ({runs} runs, {secs:.1f} s)")
    res.notes.append(
        f"Tabular: {len(bench)} architectures x {bench.n_seeds} training seed(s); a query returns the validation "
        "accuracy of a random recorded seed; regret = best mean validation accuracy in the table minus that of the "
        "incumbent (chosen by observed validation accuracy), in percentage points; 95% band = 1.96 standard errors. "
        "Evaluation seeds 1000+ (the strategies' defaults were chosen on seeds 0-59 of a one-seed table). "
        "ASHA's x-axis counts cost in full 12-epoch trainings (3 -> 6 -> 12 epochs, eta 2).")
    return curves


def _real(ctx: BenchContext, rows: list[dict[str, Any]]) -> str:
    from learnedsys.nas import fit_final, get_space, load_dataset, search

    data = load_dataset("digits", seed=ctx.seed)
    space = get_space("mlp")
    strategies = ["evolution", "random"] if ctx.quick else ["evolution", "reinforce", "random", "tpe"]
    budget = 4.0 if ctx.quick else 60.0
    backend, workers = ("inline", 1) if ctx.quick else ("local", 2)
    epochs = 10 if ctx.quick else 20
    if backend == "inline":  # torch's first-call costs land on no strategy's budget
        search(data, space="mlp", strategy="random", max_trials=1, backend="inline", epochs=1, measure_latency=False)
    for strat in strategies:
        t0 = time.perf_counter()
        r = search(data, space="mlp", strategy=strat, budget=budget, workers=workers, backend=backend,
                   seed=ctx.seed, epochs=epochs, measure_latency=False)
        test = float("nan")
        if r.best is not None and not ctx.quick:
            _, test = fit_final(space, r.best["action"], data, epochs=epochs, seed=ctx.seed)
        rows.append({
            "strategy": strat, "budget": budget, "workers": workers, "backend": backend, "trials": r.trials,
            "failed": r.failed, "best_val": r.best["val_acc"] if r.best else None, "test": test,
            "seconds": time.perf_counter() - t0,
        })
        ctx.log(f"  digits {strat}: {r.trials} trials, best val {r.best['val_acc'] if r.best else float('nan'):.4f}")
    d = data.describe()
    desc = f"digits ({d['n_train']} train / {d['n_val']} validation / {d['n_test']} test)"
    if ctx.quick:
        return desc
    # throughput: trials finished in a fixed budget with 1 and 2 workers, local processes and Ray
    for backend in ("local", "ray"):
        for workers in (1, 2):
            try:
                r = search(data, space="mlp", strategy="random", budget=60.0, workers=workers, backend=backend,
                           seed=ctx.seed, epochs=epochs, measure_latency=False)
                n: Any = r.trials
            except Exception as exc:  # a missing Ray is reported, not fatal
                n = f"failed: {type(exc).__name__}"
            rows.append({"strategy": "random (throughput)", "budget": 60.0, "workers": workers,
                         "backend": backend, "trials": n})
    return desc


# --- synthetic image tasks (issue 20) ---------------------------------------------------------
# No image data set is installed and the machine is offline, so the tasks are drawn here, seeded:
# strokes28 (digit-like glyphs: ten stroke skeletons drawn with a wobbly pen, random rotation,
# shear, scale, position, stroke width, contrast and noise; 28x28 grey), shapes32 (eight shapes,
# rotated, scaled, low contrast, with random lines as clutter and noise; 32x32 grey), textures32
# (four orientations x two frequencies of gratings with random phase, amplitude drift and strong
# noise; 32x32 grey) and patches32 (six object shapes in a random colour, shaded, on a smooth
# random colour field, with noise; 32x32 RGB, channel-last as image files come).

def _digit_strokes() -> list[list[np.ndarray]]:
    """Stroke skeletons of ten digit-like glyphs in a [-1, 1]^2 box (y down)."""
    t = np.linspace(0, 1, 40)
    def arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float) -> np.ndarray:
        a = np.deg2rad(a0 + (a1 - a0) * t)
        return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], 1)
    def line(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        return np.stack([x0 + (x1 - x0) * t, y0 + (y1 - y0) * t], 1)
    return [
        [arc(0, 0, 0.55, 0.85, 0, 360)],                                     # 0
        [line(0.05, -0.85, 0.05, 0.85), line(-0.3, -0.55, 0.05, -0.85)],      # 1
        [arc(0, -0.4, 0.5, 0.45, 180, 360), line(0.5, -0.4, -0.5, 0.85), line(-0.5, 0.85, 0.55, 0.85)],  # 2
        [arc(0, -0.42, 0.45, 0.42, 200, 450), arc(0, 0.42, 0.5, 0.43, -90, 160)],  # 3
        [line(0.25, -0.85, -0.55, 0.3), line(-0.55, 0.3, 0.6, 0.3), line(0.3, -0.3, 0.3, 0.85)],  # 4
        [line(0.5, -0.85, -0.4, -0.85), line(-0.4, -0.85, -0.45, -0.05), arc(0, 0.38, 0.5, 0.47, -120, 150)],  # 5
        [arc(0.05, 0.4, 0.48, 0.45, 0, 360), arc(0.45, 0.4, 0.9, 1.25, 180, 250)],  # 6
        [line(-0.55, -0.85, 0.55, -0.85), line(0.55, -0.85, -0.15, 0.85)],    # 7
        [arc(0, -0.45, 0.4, 0.4, 0, 360), arc(0, 0.42, 0.5, 0.45, 0, 360)],   # 8
        [arc(0, -0.4, 0.48, 0.45, 0, 360), arc(-0.45, -0.4, 0.9, 1.25, 0, 70)],  # 9
    ]

def _render(points: np.ndarray, size: int, sigma: float) -> np.ndarray:
    g = np.arange(size, dtype=np.float32) + 0.5
    d2 = (g[None, :, None] - points[None, None, :, 1]) ** 2  # (1, H, m) rows
    dx2 = (g[None, :, None] - points[None, None, :, 0]) ** 2
    dist = d2[0][:, None, :] + dx2[0][None, :, :]             # (H, W, m)
    return np.exp(-dist.min(axis=2) / (2 * sigma * sigma)).astype(np.float32)

def strokes(n: int, seed: int, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    glyphs = _digit_strokes()
    X = np.empty((n, 1, size, size), np.float32)
    y = rng.integers(0, 10, n)
    for i in range(n):
        pts = np.concatenate(glyphs[y[i]])
        pts = pts + rng.normal(0, 0.04, pts.shape)  # wobbly pen
        a = np.deg2rad(rng.uniform(-18, 18))
        sh = rng.uniform(-0.35, 0.35)
        sx, sy = rng.uniform(0.6, 1.0) * size * 0.36, rng.uniform(0.7, 1.0) * size * 0.36
        A = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ np.array([[1, sh], [0, 1]]) @ np.diag([sx, sy])
        c = size / 2 + rng.uniform(-3, 3, 2)
        p = pts @ A.T + c
        img = _render(p, size, rng.uniform(0.7, 1.6))
        X[i, 0] = img * rng.uniform(0.5, 1.0) + rng.normal(0, 0.2, (size, size))
    return X, y

def shapes(n: int, seed: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    X = np.empty((n, 1, size, size), np.float32)
    y = rng.integers(0, 8, n)
    for i in range(n):
        r = rng.uniform(4.0, 9.0)
        cx, cy = rng.uniform(r + 1, size - r - 1, 2)
        a = rng.uniform(0, 2 * np.pi)
        dx0, dy0 = xx - cx, yy - cy
        dx, dy = np.cos(a) * dx0 + np.sin(a) * dy0, -np.sin(a) * dx0 + np.cos(a) * dy0
        rr = np.hypot(dx, dy)
        th = np.arctan2(dy, dx)
        k = y[i]
        if k == 0:
            m = rr <= r
        elif k == 1:
            m = (np.abs(dx) <= r * 0.75) & (np.abs(dy) <= r * 0.75)
        elif k == 2:
            m = (dy <= r * 0.6) & (dy >= -r + 1.7 * np.abs(dx))
        elif k == 3:
            m = ((np.abs(dx) <= r / 4) & (np.abs(dy) <= r)) | ((np.abs(dy) <= r / 4) & (np.abs(dx) <= r))
        elif k == 4:
            m = (rr <= r) & (rr >= r * 0.6)
        elif k == 5:
            m = rr <= r * (0.55 + 0.45 * np.cos(5 * th))           # star
        elif k == 6:
            m = ((np.abs(dx + r / 3) <= r / 4) & (np.abs(dy) <= r)) | ((np.abs(dy - r * 0.75) <= r / 4) & (np.abs(dx) <= r * 0.6))  # L
        else:
            m = (np.abs(dx) <= r) & (np.abs(dy) <= r * 0.45)               # bar
        img = rng.uniform(0.0, 0.4) + rng.uniform(0.35, 1.0) * m
        for _ in range(rng.integers(1, 4)):  # clutter: random thin lines
            x0, y0, ang = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(0, np.pi)
            d = np.abs((xx - x0) * np.sin(ang) - (yy - y0) * np.cos(ang))
            img = img + 0.5 * rng.uniform(0.3, 1.0) * (d < 0.7)
        X[i, 0] = img + rng.normal(0, 0.25, (size, size))
    return X, y

def textures(n: int, seed: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """8 classes: orientation (0, 45, 90, 135 degrees) x frequency (low, high); phase random."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    X = np.empty((n, 1, size, size), np.float32)
    y = rng.integers(0, 8, n)
    for i in range(n):
        ori = np.deg2rad(45 * (y[i] % 4) + rng.normal(0, 9))
        f = (0.09 if y[i] < 4 else 0.16) * rng.uniform(0.8, 1.2)
        u = xx * np.cos(ori) + yy * np.sin(ori)
        img = np.sin(2 * np.pi * f * u + rng.uniform(0, 2 * np.pi))
        img = img * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.01, 0.05) * (xx + yy) + rng.uniform(0, 6)))  # amplitude drift
        X[i, 0] = img * rng.uniform(0.3, 1.0) + rng.normal(0, 0.9, (size, size))
    return X, y

def _smooth_field(rng: np.random.Generator, size: int, n_blobs: int = 6) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = np.zeros((3, size, size), np.float32)
    for _ in range(n_blobs):
        cx, cy, s = rng.uniform(-4, size + 4), rng.uniform(-4, size + 4), rng.uniform(5, 14)
        out += rng.uniform(-1, 1, 3)[:, None, None] * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    return out

def patches(n: int, seed: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Colour photo-like patches: a smooth random colour field, one object (6 classes by shape) in
    a random colour, shading, noise; channel-last (n, H, W, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    X = np.empty((n, size, size, 3), np.float32)
    y = rng.integers(0, 6, n)
    for i in range(n):
        bg = 0.5 + 0.35 * _smooth_field(rng, size)
        r = rng.uniform(5.0, 10.0)
        cx, cy = rng.uniform(r, size - r, 2)
        a = rng.uniform(0, 2 * np.pi)
        dx0, dy0 = xx - cx, yy - cy
        dx, dy = np.cos(a) * dx0 + np.sin(a) * dy0, -np.sin(a) * dx0 + np.cos(a) * dy0
        rr = np.hypot(dx, dy)
        k = y[i]
        if k == 0:
            m = rr <= r
        elif k == 1:
            m = (np.abs(dx) <= r * 0.75) & (np.abs(dy) <= r * 0.75)
        elif k == 2:
            m = (dy <= r * 0.6) & (dy >= -r + 1.7 * np.abs(dx))
        elif k == 3:
            m = (rr <= r) & (rr >= r * 0.55)
        elif k == 4:
            m = ((np.abs(dx) <= r / 4) & (np.abs(dy) <= r)) | ((np.abs(dy) <= r / 4) & (np.abs(dx) <= r))
        else:
            m = (np.abs(dx) <= r) & (np.abs(dy) <= r * 0.8) & (np.sin(dx * 1.2) > 0)   # striped patch
        col = rng.uniform(0, 1, 3)
        shade = 0.75 + 0.25 * (dx / r)
        obj = col[:, None, None] * shade[None]
        img = np.where(m[None], 0.6 * obj + 0.4 * bg, bg)
        X[i] = (img + rng.normal(0, 0.12, img.shape)).transpose(1, 2, 0)
    return X, y

#: name -> generator(n, seed) of the synthetic tasks (documented in benchmarks/nas/RESULTS.md)
TASKS = {"strokes28": strokes, "shapes32": shapes, "textures32": textures, "patches32": patches}


def held_back(y: np.ndarray, seed: int, frac: float = 0.2) -> np.ndarray:
    """Sorted indices of a seeded, stratified ``frac`` of the samples (never shown to a search)."""
    rng = np.random.default_rng(seed + 99)
    idx = [rng.permutation(np.flatnonzero(y == c))[: round(frac * np.sum(y == c))] for c in np.unique(y)]
    return np.sort(np.concatenate(idx))


def _cli_cnn(tag: str, rest: Path, held: Path, y_held: np.ndarray, budget: float, seed: int, work: Path,
             extra: list[str]) -> dict[str, Any]:
    """``learnedsys nas search`` then ``nas predict``, as a user runs them (fresh processes)."""
    import json
    import subprocess
    import sys

    ls = [sys.executable, "-m", "learnedsys.cli"]
    model, js, pred, log = work / f"{tag}-model", work / f"{tag}.json", work / f"{tag}-pred.npy", work / f"{tag}.log"
    t0 = time.monotonic()
    with open(log, "w") as fh:
        rc = subprocess.run([*ls, "nas", "search", "--data", str(rest), "--budget", f"{budget:g}", "--workers", "2",
                             "--seed", str(seed), "--no-progress", "--out", str(model), "--json", str(js), *extra],
                            stdout=fh, stderr=subprocess.STDOUT).returncode
    secs = time.monotonic() - t0
    t1 = time.monotonic()
    rc2 = subprocess.run([*ls, "nas", "predict", str(model), "--data", str(held), "--out", str(pred)],
                         capture_output=True).returncode if rc == 0 else 1
    psecs = time.monotonic() - t1
    if rc or rc2:
        return {"error": log.read_text()[-400:]}
    res = json.loads(js.read_text())
    out: dict[str, Any] = {
        "acc": float(np.mean(np.load(pred, allow_pickle=False) == y_held)), "seconds": secs + psecs,
        "search_seconds": secs, "predict_seconds": psecs, "trials": res.get("trials"),
        "final_epochs": res.get("final_epochs"), "winner": res.get("winner"),
        "best_val": (res.get("best") or {}).get("val_acc"), "best": (res.get("best") or {}).get("architecture"),
        "hand_built_val": (res.get("hand_built") or {}).get("val_acc"), "plan": res.get("plan"),
        "test_acc_inner": res.get("test_acc")}
    if res.get("history"):
        out["curve"] = [(h["t"], h["best_val_acc"]) for h in res["history"] if h.get("t") is not None]
    return out


def pixel_baselines(X: np.ndarray, y: np.ndarray, Xh: np.ndarray, yh: np.ndarray, seed: int,
                    log: Any = None) -> dict[str, Any]:
    """k-NN (k from 1/3/5/7 by 5-fold accuracy), logistic regression and an RBF SVM (C from 1/10
    by 3-fold accuracy) on standardised pixels: accuracy on ``Xh`` and seconds (fit + predict)."""
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
        if log is not None:
            log(f"{name}: {acc:.4f} in {out[name]['seconds']:.0f} s")
    return out


def image_comparison(task: str, seed: int, budget: float, n: int, log: Any = None) -> dict[str, Any]:
    """One task and seed of issue 20's comparison: ``n`` samples drawn with ``seed``, 20% held
    back; on the rest a ``budget``-second search (+ predict), the hand-built CNN with the same
    recipe and budget (``--hand-built``), and :func:`pixel_baselines`; accuracies on the held-back
    samples."""
    import os
    import tempfile

    X, y = TASKS[task](n, seed)
    h = held_back(y, seed)
    keep = np.setdiff1d(np.arange(len(y)), h)
    row: dict[str, Any] = {"task": task, "seed": seed, "shape": list(X.shape[1:]), "n_rest": len(keep),
                           "n_held": len(h), "budget": budget, "load_before": round(os.getloadavg()[0], 2),
                           "utc": time.strftime("%H:%M", time.gmtime())}
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        rest, held = work / "rest.npz", work / "held.npz"
        np.savez(rest, X=X[keep], y=y[keep])
        np.savez(held, X=X[h], y=y[h])
        row["search"] = _cli_cnn("search", rest, held, y[h], budget, seed, work, [])
        if log is not None:
            log(f"search: {row['search'].get('acc')} ({row['search'].get('winner') or row['search'].get('error')})")
        row["fair_cnn"] = _cli_cnn("hand", rest, held, y[h], budget, seed, work, ["--hand-built"])
        if log is not None:
            log(f"hand-built CNN, same recipe and budget: {row['fair_cnn'].get('acc')}")
        row.update(pixel_baselines(X[keep], y[keep], X[h], y[h], seed, log))
    row["load_after"] = round(os.getloadavg()[0], 2)
    return row


def regret_figure(curves: dict[str, Any], title: str, path: Any, dpi: int = 110) -> None:
    """Plot mean validation regret against evaluations with 95% bands (one curve per strategy)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, s in curves.items():
        x = np.arange(1, len(s["mean"]) + 1)
        ax.plot(x, 100 * s["mean"], label=label)
        ax.fill_between(x, 100 * s["lo"], 100 * s["hi"], alpha=0.2)
    ax.set_xlabel("evaluations (full trainings)")
    ax.set_ylabel("validation regret (percentage points)")
    ax.set_yscale("symlog", linthresh=0.01)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=dpi)
    plt.close(fig)


def _figure(ctx: BenchContext, res: SectionResult, curves: dict[str, Any]) -> None:
    if ctx.report_dir is None:
        return
    regret_figure(curves, "tabular-mlp-digits: mean regret, 95% band", ctx.report_dir / "nas_tabular_regret.png")
    res.figures.append(("nas_tabular_regret.png", "nas: regret against evaluations on the tabular benchmark, mean and 95% band"))


def _images(ctx: BenchContext, res: SectionResult) -> None:
    """Issue 20: search + predict against fair baselines on the four synthetic image tasks."""
    quick = ctx.quick
    n, budget = (600, 12.0) if quick else (5000, 240.0)
    seeds = [ctx.seed] if quick else [0, 1, 2]
    rows: list[dict[str, Any]] = []
    for task in TASKS:
        for seed in seeds:
            r = image_comparison(task, seed, budget, n, log=lambda m, t=task: ctx.log(f"  {t}: {m}"))
            base = {"task": task, "seed": seed, "load": r["load_before"]}
            for who, key in (("search", "search"), ("hand-built CNN (same recipe, budget)", "fair_cnn"),
                             ("k-NN", "knn"), ("logistic regression", "logreg"), ("RBF SVM", "svm_rbf")):
                rows.append({**base, "method": who, "acc": r[key].get("acc"), "seconds": r[key].get("seconds")})
    res.tables.append((
        f"Images nobody tuned for (synthetic, seeded; {n} samples, 20% held back): accuracy on the held-back samples",
        rows,
        [("task", "task", ""), ("seed", "seed", "d"), ("method", "method", ""), ("acc", "accuracy", ".4f"),
         ("seconds", "seconds (fit + predict)", ".1f"), ("load", "load average", ".1f")],
    ))
    res.notes.append(
        f"Images: 'learnedsys nas search --budget {budget:.0f} --workers 2' (search and final ensemble in the budget) "
        "then 'nas predict'; the hand-built CNN is 'nas search --hand-built' with the same budget (the search's recipe: "
        "AdamW one-cycle, batch norm, 2-pixel shifts, a 2-member ensemble); k-NN, logistic regression and an RBF SVM "
        "on standardised pixels. " + ("Quick run: small data and a 12 s budget, far from the goal's size." if quick else
                                     "Seeds 0-2; see benchmarks/nas/RESULTS.md section 8."))


def run(ctx: BenchContext) -> SectionResult:
    res = SectionResult(
        name="nas", title="Architecture search (nas)",
        columns=[("benchmark", "benchmark", ""), ("strategy", "strategy", ""), ("runs", "runs", "d"),
                 ("regret50", "regret@50 (pp)", ".3f"), ("regret150", "regret@150 (pp)", ".3f"),
                 ("ci150", "95% band @150", ""), ("ms_per_run", "ms / run", ".1f")],
    )
    rows: list[dict[str, Any]] = []
    _images(ctx, res)
    curves = _tabular(ctx, res)
    _figure(ctx, res, curves)
    desc = _real(ctx, rows)
    res.tables.append((
        "Real search on digits (MLP space, one thread per trial): equal wall-clock budget per strategy",
        rows,
        [("strategy", "strategy", ""), ("backend", "backend", ""), ("workers", "workers", "d"), ("budget", "budget (s)", ".0f"),
         ("trials", "trials", ""), ("failed", "failed", ""), ("best_val", "best val acc", ".4f"), ("test", "test acc (retrained)", ".4f")],
    ))
    res.notes.append(f"Real searches: {desc}, Adam, batch 64; "
                     + ("quick run: 4 s per strategy in this process, 10 epochs per trial, no retraining."
                        if ctx.quick else "60 s per strategy with 2 local worker processes, 20 epochs per trial; "
                        "the best is retrained on train+validation and scored once on the test part. "
                        "Throughput rows: trials finished in 60 s by random search."))
    return res
