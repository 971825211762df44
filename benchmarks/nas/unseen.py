"""Search on data nobody tuned for, then ``predict`` on held-back samples, against a hand-built CNN.

Two image tasks made here, never seen while the search spaces and defaults were written:

- ``shapes``: 16x16 grey images of six shapes (disc, square, triangle, cross, ring, bar) at random
  position, size and contrast, with Gaussian noise; channels-first ``(n, 1, 16, 16)``.
- ``rotation``: 64x64 RGB patches cut at random from the two photographs that ship with
  scikit-learn (``china.jpg``, ``flower.jpg``), averaged down to 16x16, each rotated by 0, 90,
  180 or 270 degrees: the class is the rotation. Channel-last ``(n, 16, 16, 3)``, as image files give them.

For each task and seed: 20% of the samples are held back (seeded, stratified); the rest go to
``learnedsys nas search --data rest.npz --budget 4m --workers 2`` (defaults otherwise), then
``learnedsys nas predict`` labels the held-back samples. The hand-built small CNN (conv 32 -
pool - conv 64 - pool - dense 128, Adam 1e-3, batch 64, 15 epochs) trains on all of ``rest`` and
labels the same held-back samples.

Usage::

    .venv/bin/python benchmarks/nas/unseen.py --tasks shapes rotation --seeds 0 --out /tmp/unseen
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def shapes(n: int, seed: int, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    X = np.empty((n, 1, size, size), np.float32)
    y = rng.integers(0, 6, n)
    for i in range(n):
        r = rng.uniform(3.0, 6.0)
        cx, cy = rng.uniform(r, size - r, 2)
        dx, dy = xx - cx, yy - cy
        k = y[i]
        if k == 0:
            m = dx * dx + dy * dy <= r * r
        elif k == 1:
            m = (np.abs(dx) <= r * 0.8) & (np.abs(dy) <= r * 0.8)
        elif k == 2:
            m = (dy <= r * 0.8) & (dy >= -r * 0.8 + 2 * np.abs(dx))
        elif k == 3:
            m = ((np.abs(dx) <= r / 4) & (np.abs(dy) <= r)) | ((np.abs(dy) <= r / 4) & (np.abs(dx) <= r))
        elif k == 4:
            d2 = dx * dx + dy * dy
            m = (d2 <= r * r) & (d2 >= (r * 0.55) ** 2)
        else:
            m = (np.abs(dy) <= r / 3) & (np.abs(dx) <= r)
        img = rng.uniform(0.0, 0.3) + rng.uniform(0.4, 1.0) * m
        X[i, 0] = img + rng.normal(0, 0.15, (size, size))
    return X, y


def rotation(n: int, seed: int, size: int = 16, zoom: int = 4) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_sample_images

    imgs = [im.astype(np.float32) / 255.0 for im in load_sample_images().images]
    rng = np.random.default_rng(seed)
    X = np.empty((n, size, size, 3), np.float32)
    y = rng.integers(0, 4, n)
    crop = size * zoom
    for i in range(n):
        im = imgs[int(rng.integers(len(imgs)))]
        r0 = int(rng.integers(0, im.shape[0] - crop))
        c0 = int(rng.integers(0, im.shape[1] - crop))
        patch = im[r0:r0 + crop, c0:c0 + crop].reshape(size, zoom, size, zoom, 3).mean(axis=(1, 3))
        X[i] = np.rot90(patch, k=int(y[i]))
    return X, y


def shapes28(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``shapes`` at MNIST's size, as (n, 28, 28) grey images without a channel axis."""
    X, y = shapes(n, seed, size=28)
    return X[:, 0], y


TASKS = {"shapes": (shapes, 3000), "rotation": (rotation, 4000), "shapes28": (shapes28, 6000)}


def hold_back(X: np.ndarray, y: np.ndarray, seed: int, frac: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    held = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        held[idx[: round(frac * len(idx))]] = True
    return ~held, held


def hand_built_cnn(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, seed: int, epochs: int = 15) -> np.ndarray:
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    if Xtr.ndim == 3:  # (n, H, W) grey images
        Xtr, Xte = Xtr[:, None], Xte[:, None]
    elif Xtr.shape[-1] in (1, 3) and Xtr.shape[1] not in (1, 3):  # channel-last -> channels-first
        Xtr, Xte = np.moveaxis(Xtr, -1, 1), np.moveaxis(Xte, -1, 1)
    mean = Xtr.mean(axis=(0, 2, 3), keepdims=True)
    std = Xtr.std(axis=(0, 2, 3), keepdims=True) + 1e-6
    Xtr_t = torch.from_numpy(((Xtr - mean) / std).astype(np.float32))
    Xte_t = torch.from_numpy(((Xte - mean) / std).astype(np.float32))
    ytr_t = torch.from_numpy(ytr.astype(np.int64))
    c, h, w = Xtr.shape[1:]
    k = int(ytr.max()) + 1
    model = nn.Sequential(nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(64 * (h // 4) * (w // 4), 128), nn.ReLU(), nn.Linear(128, k))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(Xtr_t), generator=gen)
        for i in range(0, len(perm), 64):
            b = perm[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(Xtr_t[b]), ytr_t[b]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        return model(Xte_t).argmax(1).numpy()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--budget", default="4m")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("/tmp/learnedsys-unseen"))
    p.add_argument("--json", type=Path, help="results (default OUT/unseen.json)")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    exe = Path(sys.executable).parent / "learnedsys"
    rows = []
    for task in args.tasks:
        make, n = TASKS[task]
        for seed in args.seeds:
            X, y = make(n, seed)
            keep, held = hold_back(X, y, seed)
            d = args.out / f"{task}-{seed}"
            d.mkdir(exist_ok=True)
            np.savez(d / "rest.npz", X=X[keep], y=y[keep])
            np.savez(d / "held.npz", X=X[held], y=y[held])
            t0 = time.perf_counter()
            subprocess.run([str(exe), "nas", "search", "--data", str(d / "rest.npz"), "--budget", args.budget,
                            "--workers", str(args.workers), "--seed", str(seed), "--no-progress",
                            "--out", str(d / "model"), "--json", str(d / "search.json")], check=True)
            t_search = time.perf_counter() - t0
            subprocess.run([str(exe), "nas", "predict", str(d / "model"), "--data", str(d / "held.npz"),
                            "--out", str(d / "pred.npy")], check=True)
            acc = float(np.mean(np.load(d / "pred.npy") == y[held]))
            t0 = time.perf_counter()
            base = float(np.mean(hand_built_cnn(X[keep], y[keep], X[held], seed) == y[held]))
            t_base = time.perf_counter() - t0
            res = json.loads((d / "search.json").read_text())
            row = {"task": task, "seed": seed, "n": int(n), "held_back": int(held.sum()), "shape": list(X.shape[1:]),
                   "search_acc": acc, "hand_built_cnn_acc": base, "trials": res["trials"],
                   "search_test_acc": res.get("test_acc"), "best": res["best"]["architecture"] if res["best"] else None,
                   "search_and_final_seconds": round(t_search, 1), "hand_built_seconds": round(t_base, 1),
                   "load_average": os.getloadavg()[0]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    (args.json or args.out / "unseen.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
