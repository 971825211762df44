"""Best-arm rate of the default policy on hidden Bernoulli arms, over seeds.

Usage: .venv/bin/python benchmarks/decide/bernoulli_rates.py [--seeds 10]

Context-free: arms [0.3, 0.5, 0.55, 0.65]; one-hot: 4 contexts x 3 arms whose best arm depends on
the context. Reported: fraction of decisions 15,000..16,000 that pick the best arm.
"""

from __future__ import annotations

import argparse
import random
import statistics

import numpy as np

from learnedsys.decide import Choice

ARMS = [0.3, 0.5, 0.55, 0.65]
MU = np.array([[0.2, 0.5, 0.4], [0.6, 0.3, 0.4], [0.3, 0.35, 0.7], [0.5, 0.45, 0.2]])


def free(seed: int) -> float:
    c = Choice("arms", options=list(range(4)), seed=seed)
    rng = random.Random(10_000 + seed)
    hits = 0
    for t in range(16_000):
        d = c.choose()
        hits += t >= 15_000 and d.value == 3
        c.feedback(d, 1.0 if rng.random() < ARMS[d.value] else 0.0)
    return hits / 1000


def onehot(seed: int) -> float:
    c = Choice("ctx", options=[0, 1, 2], seed=seed)
    rng = np.random.default_rng(seed)
    eye = np.eye(4)
    hits = 0
    for t in range(16_000):
        k = int(rng.integers(4))
        d = c.choose(eye[k])
        hits += t >= 15_000 and d.value == int(MU[k].argmax())
        c.feedback(d, float(rng.random() < MU[k, d.value]))
    return hits / 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args()
    for name, fn in (("context-free (EpsilonGreedy)", free), ("one-hot context (LinUCB)", onehot)):
        rates = [fn(s) for s in range(args.seeds)]
        print(f"{name}: best-arm rate after 15k decisions: min {min(rates):.3f}, median {statistics.median(rates):.3f}, "
              f"max {max(rates):.3f} over {args.seeds} seeds")


if __name__ == "__main__":
    main()
