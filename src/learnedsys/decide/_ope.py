"""Off-policy evaluation: estimate a new policy's mean reward from decisions logged by another.

Given logged (context, action, propensity, reward) and the probability the *target* policy gives
the logged action, with n logged decisions:

- :func:`ips`: inverse propensity scoring, mean of w * r with w = pi(a|x) / mu(a|x). Unbiased when
  the propensities are right and mu > 0 wherever pi > 0; high variance.
- :func:`snips`: self-normalised IPS, sum(w r) / sum(w): slightly biased, much lower variance.
- :func:`doubly_robust`: a reward model q(x, a) plus an IPS correction of its residual; unbiased if
  either the propensities or the model are right. The default model is a ridge regression per
  action on the context (or the per-action mean without context), cross-fitted on two folds.

Each returns an :class:`Estimate` (value, standard error, n). Cost: O(n k d^2) at most.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from learnedsys._validation import InvalidParameterError, check_float, check_int
from learnedsys.policy import Policy

__all__ = ["Estimate", "doubly_robust", "ips", "snips", "target_probabilities"]


@dataclass(frozen=True)
class Estimate:
    """An off-policy estimate of a policy's mean reward, with its standard error."""

    value: float
    stderr: float
    n: int

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        return self.value - z * self.stderr, self.value + z * self.stderr


def _arrays(logs: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    ctx = getattr(logs, "contexts", None)
    a = np.asarray(logs.actions)
    p = np.asarray(logs.propensities, dtype=np.float64)
    r = np.asarray(logs.rewards, dtype=np.float64)
    if a.ndim != 1:
        raise InvalidParameterError("off-policy evaluation handles single choices; the logged actions are sequences")
    if not (len(a) == len(p) == len(r)):
        raise InvalidParameterError(f"logs must have as many actions, propensities and rewards; got {len(a)}, {len(p)}, {len(r)}")
    bad = np.flatnonzero(~(p > 0) | ~(p <= 1))
    if len(bad):
        raise InvalidParameterError(f"propensities must lie in (0, 1]; propensities[{bad[0]}] is {p[bad[0]]!r}")
    return ctx, a.astype(np.int64), p, r


def _features(ctx: Any, n: int) -> np.ndarray:
    if ctx is None or (isinstance(ctx, list) and all(c is None for c in ctx)):
        return np.ones((n, 1))
    x = np.asarray(ctx, dtype=np.float64).reshape(n, -1)
    return np.hstack([np.ones((n, 1)), x])


def target_probabilities(target: Any, logs: Any, n_actions: int) -> np.ndarray:
    """The (n, k) matrix of the target policy's action probabilities at each logged context.

    ``target`` is an (n, k) array, a callable ``contexts -> (n, k) array``, or a
    :class:`~learnedsys.policy.Policy` (evaluated greedily: probability 1 on ``greedy(context)``).
    """
    ctx, a, _, _ = _arrays(logs)
    n = len(a)
    if isinstance(target, Policy):
        out = np.zeros((n, n_actions))
        for i in range(n):
            c = None if ctx is None else ctx[i]
            out[i, target.greedy(c)[0]] = 1.0
        return out
    probs = np.asarray(target(ctx) if callable(target) else target, dtype=np.float64)
    if probs.shape != (n, n_actions):
        raise InvalidParameterError(f"target probabilities must have shape ({n}, {n_actions}); got {probs.shape}")
    return probs


def _weights(logs: Any, target: Any, n_actions: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any, np.ndarray]:
    ctx, a, p, r = _arrays(logs)
    k = int(n_actions if n_actions is not None else (a.max() + 1 if len(a) else 1))
    probs = target_probabilities(target, logs, k)
    w = probs[np.arange(len(a)), a] / p
    return w, r, a, ctx, probs


def ips(logs: Any, target: Any, n_actions: int | None = None) -> Estimate:
    """Inverse propensity scoring estimate of ``target``'s mean reward on ``logs``
    (a :class:`LoggedDecisions` or anything with actions, propensities, rewards, contexts)."""
    w, r, *_ = _weights(logs, target, n_actions)
    v = w * r
    n = len(v)
    return Estimate(float(v.mean()), float(v.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf"), n)


def snips(logs: Any, target: Any, n_actions: int | None = None) -> Estimate:
    """Self-normalised IPS estimate (standard error by the delta method)."""
    w, r, *_ = _weights(logs, target, n_actions)
    n = len(w)
    sw = w.sum()
    if sw <= 0:
        return Estimate(float("nan"), float("inf"), n)
    v = float((w * r).sum() / sw)
    se = float(np.sqrt(np.sum((w * (r - v)) ** 2)) / sw)
    return Estimate(v, se, n)


def _subset(ctx: Any, mask: np.ndarray) -> Any:
    if ctx is None:
        return None
    if isinstance(ctx, list):
        return [ctx[i] for i in np.flatnonzero(mask)]
    return ctx[mask]


def _fit_ridge(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    d = x.shape[1]
    return np.linalg.solve(x.T @ x + lam * np.eye(d), x.T @ y)


def doubly_robust(
    logs: Any,
    target: Any,
    n_actions: int | None = None,
    *,
    reward_model: Callable[[Any, np.ndarray, np.ndarray, Any], np.ndarray] | None = None,
    ridge: float = 1.0,
    folds: int = 2,
    seed: int = 0,
) -> Estimate:
    """Doubly robust estimate: mean of sum_a pi(a|x) q(x, a) + w * (r - q(x, a_logged)).

    Args:
        reward_model: ``(train_contexts, train_actions, train_rewards, eval_contexts) -> (n_eval, k)``
            predicted rewards; default a ridge regression per action (cross-fitted on ``folds``).
        ridge: ridge penalty of the default model.
    """
    ridge = check_float(ridge, "ridge", "doubly_robust", low=0.0)
    folds = check_int(folds, "folds", "doubly_robust", low=1)
    w, r, a, ctx, probs = _weights(logs, target, n_actions)
    n, k = probs.shape
    x = _features(ctx, n)
    q = np.zeros((n, k))
    fold = np.random.default_rng(seed).integers(0, folds, n) if folds > 1 else np.zeros(n, dtype=np.int64)
    for f in range(folds):
        ev = fold == f
        tr = ~ev if folds > 1 else ev
        if reward_model is not None:
            q[ev] = reward_model(_subset(ctx, tr), a[tr], r[tr], _subset(ctx, ev))
            continue
        for act in range(k):
            m = tr & (a == act)
            if m.sum() == 0:
                q[ev, act] = r[tr].mean() if tr.any() else 0.0
                continue
            beta = _fit_ridge(x[m], r[m], ridge)
            q[ev, act] = x[ev] @ beta
    direct = (probs * q).sum(axis=1)
    v = direct + w * (r - q[np.arange(n), a])
    return Estimate(float(v.mean()), float(v.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf"), n)
