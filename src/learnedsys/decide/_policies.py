"""Policies for :class:`~learnedsys.decide.Choice`, all subclasses of the shared
:class:`learnedsys.policy.Policy` (``propose`` / ``update`` / ``state`` / ``load_state``).

Single-choice policies (one position in the action space) also implement a fast path,
``_draw(context) -> (arm, propensity)`` and ``_learn(arm, reward, context)``, on preallocated
Python lists: no object is created per call beyond the returned tuple. :class:`Choice` uses it;
:meth:`propose` / :meth:`update` wrap it for everyone else (placement, nas, user code). Policies
hold their math only: the decisions awaiting feedback, their ids and the log are the Choice's
(:mod:`learnedsys.decide._hotpath`).

Every policy may be constructed without its action space (``EpsilonGreedy(epsilon=0.05)``) and is
bound to one by :meth:`DecidePolicy.bind` (a :class:`Choice` does that); constructors only store
parameters, state is allocated at bind time.

Costs per decision (k options, d context features, m positions):

- :class:`EpsilonGreedy`: O(1) amortised (the greedy arm is kept incrementally).
- :class:`UCB1`: O(k). :class:`ThompsonBeta` / :class:`ThompsonGaussian`: O(k * samples) in numpy.
- :class:`LinUCB`: O(k d^2) numpy; update O(d^2) (Sherman-Morrison). :class:`LinearThompson`: O(k d^3).
- :class:`Reinforce`: O(sum of sizes (+ d)) per proposal, numpy.
- :class:`OptunaTPE`: Optuna's TPE, milliseconds per proposal: for expensive evaluations only.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from learnedsys._validation import InvalidParameterError, check_float, check_int
from learnedsys.policy import ActionSpace, BasePolicy, OptunaTPE, Reinforce
from learnedsys.policy._base import as_vector as _as_vector

__all__ = [
    "POLICIES",
    "UCB1",
    "DecidePolicy",
    "EpsilonGreedy",
    "LinUCB",
    "LinearThompson",
    "OptunaTPE",
    "Reinforce",
    "ThompsonBeta",
    "ThompsonGaussian",
    "make_policy",
]


#: The decide policies' base (the shared :class:`~learnedsys.policy.BasePolicy`).
DecidePolicy = BasePolicy


class _Counting(DecidePolicy):
    """Shared state of the context-free bandits: pulls and mean reward per arm."""

    def _allocate(self) -> None:
        k = self.space.sizes[0]
        self._k = k
        self._counts = [0] * k
        self._means = [0.0] * k
        self._t = 0

    def _state(self) -> dict[str, Any]:
        return {"counts": list(self._counts), "means": list(self._means), "t": self._t}

    def _load(self, state: dict[str, Any]) -> None:
        self._counts = [int(c) for c in state["counts"]]
        self._means = [float(m) for m in state["means"]]
        self._t = int(state.get("t", sum(self._counts)))

    @property
    def counts(self) -> list[int]:
        return list(self._counts)

    @property
    def means(self) -> list[float]:
        return list(self._means)


class EpsilonGreedy(_Counting):
    """Explore a uniformly random option with probability epsilon, else the best mean so far.

    Exploration starts at 1 and decays as ``explore / t`` down to ``epsilon``, so each option is
    tried about ``explore / k`` times before the floor applies. Cost: O(1) amortised per
    choose + feedback (the greedy arm is kept incrementally with an upper bound on the other
    arms' means; a full O(k) scan only when the greedy arm's mean drops below that bound).

    Args:
        epsilon: the exploration floor, in [0, 1]. Knob: lower exploits more, adapts slower.
        explore: decisions of decaying exploration (default 10 per option).
        seed: seed of the policy's random stream.
    """

    def __init__(
        self,
        space: ActionSpace | None = None,
        *,
        epsilon: float = 0.05,
        explore: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.epsilon = check_float(epsilon, "epsilon", "EpsilonGreedy", low=0.0, high=1.0)
        self.explore = check_int(explore, "explore", "EpsilonGreedy", low=0, none_ok=True)
        super().__init__(space, seed=seed)

    def _params(self) -> str:
        return f"epsilon={self.epsilon}, explore={self.explore}, seed={self.seed}"

    def _allocate(self) -> None:
        super()._allocate()
        self._explore = float(self.explore if self.explore is not None else 10 * self._k)
        self._means[:] = [-math.inf] * self._k  # untried arms never win the greedy argmax
        self._kernels()

    def _kernels(self) -> None:
        """The draw and the update as closures over preallocated state.

        The scalar state (t, the best arm, the version, an upper bound on the other arms' means)
        lives in the closures' cells, the cheapest variables CPython has (``_get`` / ``_put`` /
        ``_rescan`` reach it from outside; :meth:`_shared_cells` names the cells, to which a
        Choice's fused hot path, :func:`learnedsys.decide._hotpath.fused_epsilon_greedy`, binds
        its closures). The bound spares the O(k) rescan when the best arm's mean drops, unless it drops
        below the bound.
        """
        counts, means = self._counts, self._means
        rand = self._rng.random
        k = self._k
        explore, floor = self._explore, self.epsilon
        arms = range(k)
        key = means.__getitem__
        t, best, version, hi = 0, 0, int(self.__dict__.get("_version", 0)), -math.inf
        # after t = switch epsilon stays at the floor (an int: int-int comparisons are the fast
        # ones); from then on a draw's propensities are p_greedy / p_other, its arm u * k_floor
        switch = int(explore / floor) if floor > 0 else sys.maxsize
        p_greedy, p_other = 1.0 - floor + floor / k, floor / k
        k_floor = k / floor if floor > 0 else 0.0

        def get() -> tuple[int, int, int]:
            return t, best, version

        def put(t_: int | None = None, version_: int | None = None) -> None:
            nonlocal t, version
            if t_ is not None:
                t = t_
            if version_ is not None:
                version = version_

        def rescan() -> None:
            nonlocal best, hi
            best = max(arms, key=key)
            hi = max((means[a] for a in arms if a != best), default=-math.inf)

        def draw(context: Any = None) -> tuple[int, float]:
            nonlocal t
            t += 1
            eps = explore / t
            if eps < floor:
                eps = floor
            elif eps > 1.0:
                eps = 1.0
            u = rand()
            if u < eps:
                arm = int(u / eps * k)  # u / eps is uniform on [0, 1) given u < eps
                if arm != best:
                    return arm, eps / k
            return best, 1.0 - eps + eps / k

        def learn(arm: int, reward: float, context: Any = None) -> None:
            nonlocal best, hi, version
            n = counts[arm] + 1
            counts[arm] = n
            old = means[arm]
            m = reward if n == 1 else old + (reward - old) / n
            means[arm] = m
            if arm == best:
                if m < hi:  # another arm may lead now
                    rescan()
            elif m > means[best]:
                if means[best] > hi:
                    hi = means[best]
                best = arm
            elif m > hi:
                hi = m
            version += 1

        def shared() -> tuple[Any, ...]:
            # never called: its free variables are the state _shared_cells hands out, by name
            return (t, best, version, hi, rescan, counts, means, rand, k, explore, floor, switch, p_greedy, p_other,
                    k_floor)

        self._draw, self._learn = draw, learn  # type: ignore[method-assign]
        self._get, self._put, self._rescan_cells, self._shared = get, put, rescan, shared

    def _shared_cells(self) -> dict[str, Any]:
        """This policy's state as closure cells, by name: the scalars ``t``, ``best``,
        ``version``, ``hi``; ``rescan``; the tables ``counts`` and ``means``; ``rand``; the draw's
        constants ``k``, ``explore``, ``floor``, ``switch``, ``p_greedy``, ``p_other``,
        ``k_floor``. Closures bound to these cells share the policy's state (a Choice's fused
        hot path does: :func:`learnedsys.decide._hotpath.fused_epsilon_greedy`)."""
        f = self._shared
        return dict(zip(f.__code__.co_freevars, f.__closure__ or (), strict=True))

    @property
    def _t(self) -> int:
        return self._get()[0] if "_get" in self.__dict__ else 0

    @_t.setter
    def _t(self, value: int) -> None:
        if "_get" in self.__dict__:
            self._put(t_=value)

    @property
    def version(self) -> int:
        if "_get" in self.__dict__:
            return self._get()[2]
        return self.__dict__.get("_version", 0)

    @version.setter
    def version(self, value: int) -> None:
        if "_get" in self.__dict__:
            self._put(version_=value)
        self.__dict__["_version"] = value

    @property
    def _best(self) -> int:
        return self._get()[1]

    def _eps(self) -> float:
        return min(1.0, max(self.epsilon, self._explore / max(1, self._t + 1)))

    def probability(self, arm: int, context: Any = None) -> float:
        eps = self._eps()
        return (1.0 - eps + eps / self._k) if arm == self._best else eps / self._k

    def _drawn_probability(self, arm: Any, context: Any = None) -> float:
        # the last draw's exploration rate (at t, not the next draw's at t + 1)
        eps = min(1.0, max(self.epsilon, self._explore / max(1, self._t)))
        return (1.0 - eps + eps / self._k) if arm == self._best else eps / self._k

    def _rescan(self) -> None:
        self._rescan_cells()

    @property
    def means(self) -> list[float]:
        return [m if c else 0.0 for c, m in zip(self._counts, self._means, strict=True)]

    def _state(self) -> dict[str, Any]:
        return {"counts": list(self._counts), "means": self.means, "t": self._t}

    def _greedy(self, context: Any = None) -> int:
        return self._best

    def _load(self, state: dict[str, Any]) -> None:
        # in place: the hot-path closures hold these lists
        self._counts[:] = [int(c) for c in state["counts"]]
        self._means[:] = [float(m) if c else -math.inf for c, m in zip(self._counts, state["means"], strict=True)]
        # a learner fed by workers updates without drawing: exploration follows the updates seen
        self._t = max(int(state.get("t", 0)), sum(self._counts))
        self._rescan()


class UCB1(_Counting):
    """Upper confidence bound (Auer et al. 2002): argmax mean + c * sqrt(ln t / n).

    Deterministic given the history (propensity 1). Scale ``c`` to the reward range (sqrt(2) for
    rewards in [0, 1]). Cost: O(k) per decision.
    """

    def __init__(self, space: ActionSpace | None = None, *, c: float = math.sqrt(2), seed: int | None = None) -> None:
        self.c = check_float(c, "c", "UCB1", low=0.0)
        super().__init__(space, seed=seed)

    def _params(self) -> str:
        return f"c={self.c}, seed={self.seed}"

    def _draw(self, context: Any = None) -> tuple[int, float]:
        self._t += 1
        counts = self._counts
        for i in range(self._k):
            if counts[i] == 0:
                return i, 1.0
        logt = math.log(self._t)
        c = self.c
        sqrt = math.sqrt
        best, bv = 0, -math.inf
        for i, (n, m) in enumerate(zip(counts, self._means, strict=True)):
            v = m + c * sqrt(logt / n)
            if v > bv:
                best, bv = i, v
        return best, 1.0

    def _learn(self, arm: int, reward: float, context: Any = None) -> None:
        n = self._counts[arm] + 1
        self._counts[arm] = n
        self._means[arm] += (reward - self._means[arm]) / n
        self.version += 1

    def _greedy(self, context: Any = None) -> int:
        return max(range(self._k), key=lambda i: (self._counts[i] > 0, self._means[i]))


class _Sampling(_Counting):
    """Thompson sampling with Monte-Carlo propensities: draw ``samples`` posterior rows at once,
    act on the first, and report the fraction of rows whose argmax agrees as the propensity."""

    def __init__(self, space: ActionSpace | None = None, *, samples: int = 64, seed: int | None = None) -> None:
        self.samples = check_int(samples, "samples", type(self).__name__, low=1)
        super().__init__(space, seed=seed)

    def _params(self) -> str:
        return f"samples={self.samples}, seed={self.seed}"

    def _posterior(self, n: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _draw(self, context: Any = None) -> tuple[int, float]:
        self._t += 1
        draws = self._posterior(self.samples)
        winners = draws.argmax(axis=1)
        arm = int(winners[0])
        return arm, float(np.count_nonzero(winners == arm)) / self.samples

    def probability(self, arm: int, context: Any = None) -> float:
        winners = self._posterior(max(self.samples, 256)).argmax(axis=1)
        return float(np.count_nonzero(winners == arm)) / len(winners)

    def _greedy(self, context: Any = None) -> int:
        return max(range(self._k), key=lambda i: (self._counts[i] > 0, self._means[i]))


class ThompsonBeta(_Sampling):
    """Thompson sampling with Beta(1 + successes, 1 + failures) posteriors, for rewards in [0, 1]
    (fractional rewards count fractionally). Cost: O(k * samples) numpy per decision."""

    def _allocate(self) -> None:
        super()._allocate()
        self._a = np.ones(self._k)
        self._b = np.ones(self._k)

    def _posterior(self, n: int) -> np.ndarray:
        return self._np_rng.beta(self._a, self._b, size=(n, self._k))

    def _learn(self, arm: int, reward: float, context: Any = None) -> None:
        if not 0.0 <= reward <= 1.0:
            raise InvalidParameterError(f"ThompsonBeta needs rewards in [0, 1]. Got {reward!r} instead.")
        n = self._counts[arm] + 1
        self._counts[arm] = n
        self._means[arm] += (reward - self._means[arm]) / n
        self._a[arm] += reward
        self._b[arm] += 1.0 - reward
        self.version += 1

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "a": self._a.tolist(), "b": self._b.tolist()}

    def _load(self, state: dict[str, Any]) -> None:
        super()._load(state)
        self._a = np.asarray(state["a"], dtype=np.float64)
        self._b = np.asarray(state["b"], dtype=np.float64)


class ThompsonGaussian(_Sampling):
    """Thompson sampling for real rewards: posterior N(mean, s^2 / (n + 1)) per arm with s^2 the
    pooled sample variance (prior ``prior_var`` until two rewards are seen). Cost as ThompsonBeta."""

    def __init__(
        self,
        space: ActionSpace | None = None,
        *,
        prior_var: float = 1.0,
        samples: int = 64,
        seed: int | None = None,
    ) -> None:
        self.prior_var = check_float(prior_var, "prior_var", "ThompsonGaussian", low=0.0, closed="neither")
        super().__init__(space, samples=samples, seed=seed)

    def _allocate(self) -> None:
        super()._allocate()
        self._m2 = [0.0] * self._k

    def _posterior(self, n: int) -> np.ndarray:
        counts = np.asarray(self._counts, dtype=np.float64)
        total = counts.sum()
        var = sum(self._m2) / (total - self._k) if total > self._k + 1 else self.prior_var
        scale = np.sqrt(max(var, 1e-12) / (counts + 1.0))
        means = np.where(counts > 0, np.asarray(self._means), 0.0)
        return self._np_rng.normal(means, scale, size=(n, self._k))

    def _learn(self, arm: int, reward: float, context: Any = None) -> None:
        n = self._counts[arm] + 1
        self._counts[arm] = n
        old = self._means[arm]
        new = old + (reward - old) / n
        self._means[arm] = new
        self._m2[arm] += (reward - old) * (reward - new)
        self.version += 1

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "m2": list(self._m2)}

    def _load(self, state: dict[str, Any]) -> None:
        super()._load(state)
        self._m2 = [float(v) for v in state["m2"]]


class _Linear(DecidePolicy):
    """Disjoint linear models per arm (ridge regression, Sherman-Morrison updates)."""

    contextual = True

    def __init__(
        self,
        space: ActionSpace | None = None,
        *,
        dim: int | None = None,
        alpha: float = 0.5,
        ridge: float = 1.0,
        seed: int | None = None,
    ) -> None:
        owner = type(self).__name__
        self.dim = check_int(dim, "dim", owner, low=1, none_ok=True)
        self.alpha = check_float(alpha, "alpha", owner, low=0.0)
        self.ridge = check_float(ridge, "ridge", owner, low=0.0, closed="neither")
        super().__init__(space, seed=seed)

    def _params(self) -> str:
        return f"dim={self.dim}, alpha={self.alpha}, ridge={self.ridge}, seed={self.seed}"

    def _allocate(self) -> None:
        self._k = self.space.sizes[0]
        self._d = 0
        if self.dim is not None:
            self._alloc_dim(self.dim)

    def _alloc_dim(self, d: int) -> None:
        self._d = d
        self._ainv = np.repeat(np.eye(d)[None] / self.ridge, self._k, axis=0)
        self._bvec = np.zeros((self._k, d))
        self._theta = np.zeros((self._k, d))
        self._counts = [0] * self._k
        self._t = 0

    def _x(self, context: Any) -> np.ndarray:
        if context is None:
            raise InvalidParameterError(
                f"{type(self).__name__} needs a context (a vector or a dict of named features) in every call: "
                "pass context= to choose, observe and greedy. Got None."
            )
        x = _as_vector(context, type(self).__name__)
        if self._d == 0:
            self._alloc_dim(len(x))
        elif len(x) != self._d:
            raise InvalidParameterError(
                f"{type(self).__name__} was fitted on contexts of {self._d} features; this context has {len(x)}."
            )
        return x

    def _learn(self, arm: int, reward: float, context: Any) -> None:
        x = self._x(context)
        ainv = self._ainv[arm]
        ax = ainv @ x
        ainv -= np.outer(ax, ax) / (1.0 + x @ ax)
        self._bvec[arm] += reward * x
        self._theta[arm] = ainv @ self._bvec[arm]
        self._counts[arm] += 1
        self.version += 1

    def _greedy(self, context: Any) -> int:
        x = self._x(context)
        return int(np.argmax(self._theta @ x))

    def _state(self) -> dict[str, Any]:
        return {"dim": self._d, "ainv": self._ainv.tolist() if self._d else [], "b": self._bvec.tolist() if self._d else [], "counts": list(self._counts) if self._d else [], "t": getattr(self, "_t", 0)}

    def _load(self, state: dict[str, Any]) -> None:
        d = int(state["dim"])
        if d:
            self._alloc_dim(d)
            self._ainv = np.asarray(state["ainv"], dtype=np.float64).reshape(self._k, d, d)
            self._bvec = np.asarray(state["b"], dtype=np.float64).reshape(self._k, d)
            self._theta = np.einsum("kij,kj->ki", self._ainv, self._bvec)
            self._counts = [int(c) for c in state["counts"]]
            self._t = int(state.get("t", sum(self._counts)))


class LinUCB(_Linear):
    """LinUCB with disjoint models (Li et al. 2010): per arm a ridge regression of reward on the
    context vector; play argmax theta_a.x + alpha * sqrt(log t) * sqrt(x' A_a^-1 x) (the
    sqrt(log t) factor, as in UCB1, keeps revisiting arms an unlucky start made look bad).
    Deterministic up to ties (propensity 1 / number of tied arms).
    Cost: O(k d^2) per decision, O(d^2) per update. ``dim`` is inferred from the first context."""

    def _draw(self, context: Any) -> tuple[int, float]:
        x = self._x(context)
        self._t += 1
        width = np.sqrt(np.maximum(np.einsum("i,kij,j->k", x, self._ainv, x), 0.0))
        # the bound grows like sqrt(log t) (as UCB1's): an unlucky start cannot freeze an arm out
        scores = self._theta @ x + self.alpha * math.sqrt(math.log(self._t + 1.0)) * width
        best = np.flatnonzero(scores >= scores.max() - 1e-12)
        arm = int(best[0] if len(best) == 1 else best[self._rng.randrange(len(best))])
        return arm, 1.0 / len(best)


class LinearThompson(_Linear):
    """Linear Thompson sampling (Agrawal & Goyal 2013): theta_a ~ N(theta_a, alpha^2 A_a^-1) per
    arm; play the argmax of the sampled theta_a.x. Propensity by ``samples`` Monte-Carlo draws.
    Cost: O(k d^3) per decision (a Cholesky factor per arm)."""

    def __init__(
        self,
        space: ActionSpace | None = None,
        *,
        dim: int | None = None,
        alpha: float = 0.5,
        ridge: float = 1.0,
        samples: int = 32,
        seed: int | None = None,
    ) -> None:
        self.samples = check_int(samples, "samples", "LinearThompson", low=1)
        super().__init__(space, dim=dim, alpha=alpha, ridge=ridge, seed=seed)

    def _draw(self, context: Any) -> tuple[int, float]:
        x = self._x(context)
        # x.theta_a ~ N(x.theta_a, alpha^2 x' A^-1 x): sample the scalar score directly (exact)
        mean = self._theta @ x
        sd = self.alpha * np.sqrt(np.maximum(np.einsum("i,kij,j->k", x, self._ainv, x), 0.0))
        scores = self._np_rng.normal(mean, sd, size=(self.samples, self._k))
        winners = scores.argmax(axis=1)
        arm = int(winners[0])
        return arm, float(np.count_nonzero(winners == arm)) / self.samples


#: Policy names accepted by ``Choice(policy="...")``.
POLICIES: dict[str, type[DecidePolicy]] = {
    "epsilon_greedy": EpsilonGreedy,
    "ucb1": UCB1,
    "thompson": ThompsonBeta,
    "thompson_beta": ThompsonBeta,
    "thompson_gaussian": ThompsonGaussian,
    "linucb": LinUCB,
    "linear_thompson": LinearThompson,
    "reinforce": Reinforce,
    "tpe": OptunaTPE,
}


def make_policy(name: str, seed: int | None = None) -> DecidePolicy:
    """A policy by name (see :data:`POLICIES`), with default parameters."""
    if name not in POLICIES:
        raise InvalidParameterError(
            f"The 'policy' parameter of Choice must be a Policy or one of {{{', '.join(repr(p) for p in POLICIES)}}}. Got {name!r} instead."
        )
    return POLICIES[name](seed=seed)
