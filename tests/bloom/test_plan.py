"""The planners against exhaustive search."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from learnedsys.bloom._plan import (
    PLBFPlanner,
    _cost_bits,
    _plbf_best,
    _plbf_dp,
    _region_fprs,
    plan_lbf,
)


def _brute_force(G: np.ndarray, H: np.ndarray, kmax: int, F: float, n: float) -> float:
    """Min bits over every accept-region start j and every partition of [0, j) into <= kmax regions."""
    N = G.shape[0] - 1
    best = math.inf
    for j in range(1, N + 1):
        Fp = F - (H[N] - H[j])
        if Fp <= 0:
            continue
        for i in range(1, kmax + 1):
            for inner in itertools.combinations(range(1, j), i - 1):
                cuts = [0, *inner, j]
                g = np.array([G[cuts[r + 1]] - G[cuts[r]] for r in range(i)])
                h = np.array([H[cuts[r + 1]] - H[cuts[r]] for r in range(i)])
                f, ok = _region_fprs(g, h, Fp)
                if not ok:
                    continue
                bits = sum(_cost_bits(n * g[r], f[r], False) for r in range(i))
                best = min(best, bits)
    return best


@pytest.mark.parametrize("seed", range(12))
def test_plbf_dp_matches_exhaustive_search(seed: int) -> None:
    rng = np.random.default_rng(seed)
    N, kmax = 8, 3
    # keys score high, negatives low, with noise; no zero masses
    g = rng.dirichlet(np.linspace(0.3, 3.0, N))
    h = rng.dirichlet(np.linspace(3.0, 0.3, N)) + 1e-3
    h /= h.sum()
    G = np.concatenate([[0.0], np.cumsum(g)])
    H = np.concatenate([[0.0], np.cumsum(h)])
    G[-1] = H[-1] = 1.0
    # F small enough that no region's optimal FPR reaches 1 (then KL-optimal = cost-optimal)
    F = 1e-4 * float(h.min())
    dp, arg = _plbf_dp(G, H, kmax)
    best, i, _ = _plbf_best(G, H, dp, arg, kmax, F, 1000.0, False, 0.0, 1e30, 1.0)
    assert i >= 1
    assert best == pytest.approx(_brute_force(G, H, kmax, F, 1000.0), rel=1e-9)


def test_region_fprs_meet_the_target_and_clip() -> None:
    g = np.array([0.1, 0.3, 0.6])
    h = np.array([0.7, 0.25, 0.05])
    for F in (0.001, 0.05, 0.2):
        f, ok = _region_fprs(g, h, F)
        assert ok
        assert np.all((f >= 0) & (f <= 1))
        assert float((f * h).sum()) == pytest.approx(F)
    f, ok = _region_fprs(g, h, 0.2)
    assert f[2] == 1.0  # the top region needs no filter


def test_plan_lbf_matches_scan() -> None:
    rng = np.random.default_rng(0)
    sk = rng.normal(2.0, 1.0, 5000)
    sv = rng.normal(0.0, 1.0, 20000)
    F = 0.01
    plan = plan_lbf(sk, sv, F, 0.0, "bloom")
    tau = plan.thresholds[0]
    c0 = np.sum(sv >= tau)
    fp = (c0 + 2 * math.sqrt(c0) + 1) / sv.shape[0]
    assert fp < F
    # no threshold on a fine grid gives a noticeably smaller structure
    best = math.inf
    for t in np.quantile(sv, np.linspace(0.9, 1.0, 2001)):
        c = np.sum(sv >= t)
        p = (c + 2 * math.sqrt(c) + 1) / sv.shape[0]
        if p >= F:
            continue
        fb = (F - p) / (1 - p)
        nb = np.sum(sk < t)
        best = min(best, nb * math.log(1 / fb) / math.log(2) ** 2 / 8)
    assert plan.bytes <= best + 8 + 16 + 1e-6 + 0.01 * best


def test_plbf_planner_expected_fpr_is_target() -> None:
    rng = np.random.default_rng(1)
    sk = rng.normal(2.0, 1.0, 20000)
    sv = rng.normal(0.0, 1.0, 50000)
    planner = PLBFPlanner(sk, sv, n_segments=200, n_regions=5)
    for F in (0.05, 0.01, 0.001):
        plan = planner.plan(F, 0.0, "bloom")
        assert plan.expected_fpr <= F * (1 + 1e-6)
        assert len(plan.region_fpr) == plan.thresholds.shape[0] + 1
        assert np.all(np.diff(plan.thresholds) > 0)
