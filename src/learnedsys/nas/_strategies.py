"""Search strategies: policies over a space's :class:`~learnedsys.policy.ActionSpace`.

Every strategy is a :class:`learnedsys.policy.Policy`: ``propose()`` returns an architecture
(a canonical tuple of ints), ``update(proposal, reward)`` feeds back its validation accuracy
(higher is better). Updates may arrive in any order and interleave with proposals, so parallel
workers need nothing more. ``update`` needs only ``proposal.action``: a search resumed from
storage replays finished trials through it.

- :class:`RandomSearch`: uniform per slot, without repeats.
- :class:`RegularizedEvolution`: aging evolution (Real et al., AAAI 2019): tournament of
  ``sample`` among the ``population`` most recent, mutate the winner, the oldest dies.
- :class:`ReinforceController`: an LSTM controller samples the architecture token by token; REINFORCE with
  an exponential-moving-average baseline (Zoph and Le, ICLR 2017). numpy, backprop through time
  by hand: ~0.3 ms per proposal, so hundreds of tabular runs take seconds.
- :class:`TPE`: Optuna's tree-structured Parzen estimator (define-by-run, so conditional slots
  are native), as the baseline implementation users know.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import numpy as np

from learnedsys._lazy import require
from learnedsys._validation import InvalidParameterError, check_float, check_int, check_seed
from learnedsys.nas._space import Space
from learnedsys.policy import Policy, Proposal

__all__ = ["STRATEGIES", "TPE", "PolicyStrategy", "RandomSearch", "RegularizedEvolution", "ReinforceController", "SearchStrategy", "make_strategy"]


class SearchStrategy(Policy):
    """A :class:`Policy` over the architectures of a :class:`Space`.

    Subclasses implement :meth:`_propose` and may override :meth:`_learn`; the base class keeps
    the set of architectures already proposed so strategies can avoid repeats.
    """

    name = "base"
    #: proposals avoid architectures already proposed (redrawn up to 20 times), so the reported
    #: propensity is not the probability of the draw; logs of a search are unfit for off-policy
    #: evaluation (learnedsys.testing skips the propensity check for them)
    exact_propensity = False

    def __init__(self, space: Space, seed: int | None = 0) -> None:
        super().__init__(space.action_space)
        self.search_space = space
        self.seed = check_seed(seed, "seed", type(self).__name__)
        self.rng = np.random.default_rng(self.seed)
        self.seen: set[tuple[int, ...]] = set()
        self.n_updates = 0
        self._queue: deque[tuple[int, ...]] = deque()
        self._best: tuple[tuple[int, ...], float] | None = None

    def enqueue(self, action: Any) -> None:
        """Propose ``action`` next, before anything the strategy draws (like Optuna's
        ``enqueue_trial``); its reward reaches the strategy through :meth:`update` as usual."""
        self._queue.append(self.search_space.canonical(action))

    def _fresh(self, draw: Any, tries: int = 20) -> tuple[int, ...]:
        """Call ``draw()`` until it gives an architecture not proposed before (at most ``tries``)."""
        a = draw()
        for _ in range(tries - 1):
            if a not in self.seen:
                break
            a = draw()
        return tuple(a)

    def propose(self, context: Any = None) -> Proposal:
        p = Proposal(self._queue.popleft(), info={"enqueued": True}) if self._queue else self._propose()
        self.seen.add(p.action)
        return p

    def update(self, proposal: Proposal, reward: float, context: Any = None) -> None:
        a = self.search_space.canonical(proposal.action)
        self.seen.add(a)
        self.n_updates += 1
        r = float(reward)
        if np.isfinite(r) and (self._best is None or r > self._best[1]):
            self._best = (a, r)
        self._learn(Proposal(a, proposal.propensity, proposal.info), r if np.isfinite(r) else 0.0)

    def greedy(self, context: Any = None) -> tuple[int, ...]:
        """The best-rewarded architecture seen so far (a proposal before any reward)."""
        return self._best[0] if self._best is not None else self.propose(context).action

    def _propose(self) -> Proposal:
        raise NotImplementedError

    def _learn(self, proposal: Proposal, reward: float) -> None:
        """Learn from a reward (failed trials arrive with reward 0)."""


class RandomSearch(SearchStrategy):
    """Uniform random architectures (per slot), avoiding repeats. Cost O(slots) per proposal."""

    name = "random"

    def _propose(self) -> Proposal:
        return Proposal(self._fresh(lambda: self.search_space.sample(self.rng)))


class RegularizedEvolution(SearchStrategy):
    """Aging evolution (Real et al. 2019).

    Args:
        population: how many of the most recent results stay alive (P). The first P proposals are
            random.
        sample: tournament size (S): the best of S random members is mutated.

    Cost: O(S + slots) per proposal.
    """

    name = "evolution"

    def __init__(self, space: Space, seed: int | None = 0, population: int = 20, sample: int = 5) -> None:
        super().__init__(space, seed)
        self.population = check_int(population, "population", "RegularizedEvolution", low=2)
        self.sample = check_int(sample, "sample", "RegularizedEvolution", low=1, high=self.population)
        self.members: deque[tuple[tuple[int, ...], float]] = deque(maxlen=self.population)
        self.n_proposed = 0

    def _propose(self) -> Proposal:
        self.n_proposed += 1
        if len(self.members) < self.population and self.n_proposed <= self.population:
            return Proposal(self._fresh(lambda: self.search_space.sample(self.rng)))
        if not self.members:  # workers outnumber the population and nothing came back yet
            return Proposal(self._fresh(lambda: self.search_space.sample(self.rng)))
        idx = self.rng.choice(len(self.members), size=min(self.sample, len(self.members)), replace=False)
        parent = max((self.members[int(i)] for i in idx), key=lambda m: m[1])[0]
        return Proposal(self._fresh(lambda: self.search_space.mutate(parent, self.rng)), info={"parent": list(parent)})

    def _learn(self, proposal: Proposal, reward: float) -> None:
        self.members.append((proposal.action, reward))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class ReinforceController(SearchStrategy):
    """A recurrent controller trained with REINFORCE (Zoph and Le 2017).

    An LSTM reads the previous token's embedding and emits a softmax over the current slot's
    options; inactive slots are skipped (token 0, no log-probability). After each reward the
    parameters take one Adam step on ``-(reward - baseline) * sum(log p)`` minus an entropy bonus;
    the baseline is an exponential moving average of rewards.

    Args:
        hidden: LSTM units.
        lr: Adam learning rate.
        baseline_decay: weight of the old baseline in the moving average.
        entropy: entropy bonus weight (keeps early exploration).
        temperature: softmax temperature for sampling.

    Cost: O(slots x hidden^2) per proposal and per update.
    """

    name = "reinforce"

    def __init__(self, space: Space, seed: int | None = 0, hidden: int = 32, lr: float = 0.005,
                 baseline_decay: float = 0.9, entropy: float = 0.02, temperature: float = 1.0) -> None:
        super().__init__(space, seed)
        self.hidden = check_int(hidden, "hidden", "ReinforceController", low=1)
        self.lr = check_float(lr, "lr", "ReinforceController", low=0.0, closed="neither")
        self.baseline_decay = check_float(baseline_decay, "baseline_decay", "ReinforceController", low=0.0, high=1.0, closed="left")
        self.entropy = check_float(entropy, "entropy", "ReinforceController", low=0.0)
        self.temperature = check_float(temperature, "temperature", "ReinforceController", low=0.0, closed="neither")
        H = self.hidden
        r = np.random.default_rng(self.seed)
        sizes = self.space.sizes
        shapes: dict[str, tuple[int, ...]] = {"Wx": (4 * H, H), "Wh": (4 * H, H), "b": (4 * H,), "start": (H,)}
        for t, n in enumerate(sizes):
            shapes[f"E{t}"] = (n, H)  # embedding of slot t's token (the input of step t+1)
            shapes[f"U{t}"] = (n, H)
            shapes[f"u{t}"] = (n,)
        # one flat vector with named views: Adam is a handful of vector operations per update
        total = sum(int(np.prod(sh)) for sh in shapes.values())
        self._flat = r.normal(0, 0.1, total)
        self._layout: dict[str, tuple[int, tuple[int, ...]]] = {}
        off = 0
        for k, sh in shapes.items():
            n = int(np.prod(sh))
            self._layout[k] = (off, sh)
            off += n
        self.params = self._views(self._flat)
        self.params["b"][:] = 0.0
        for t in range(len(sizes)):
            self.params[f"u{t}"][:] = 0.0
        self.m = np.zeros(total)
        self.v = np.zeros(total)
        self.t_adam = 0
        self.baseline: float | None = None

    def _views(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        return {k: flat[o:o + int(np.prod(sh))].reshape(sh) for k, (o, sh) in self._layout.items()}

    # -- the controller -------------------------------------------------------------------
    def _run(self, forced: tuple[int, ...] | None) -> tuple[tuple[int, ...], list[dict[str, Any]]]:
        """Sample (or replay ``forced``) an architecture; return it and the per-step cache."""
        P, H = self.params, self.hidden
        h, c = np.zeros(H), np.zeros(H)
        x = P["start"]
        values: dict[str, Any] = {}
        action: list[int] = []
        cache: list[dict[str, Any]] = []
        for t, slot in enumerate(self.search_space.slots):
            z = P["Wx"] @ x + P["Wh"] @ h + P["b"]
            ifo = _sigmoid(z[:3 * H])
            i, f, o, g = ifo[:H], ifo[H:2 * H], ifo[2 * H:], np.tanh(z[3 * H:])
            c_new = f * c + i * g
            tc = np.tanh(c_new)
            h_new = o * tc
            step: dict[str, Any] = {"x": x, "h": h, "c": c, "i": i, "f": f, "o": o, "g": g, "tc": tc, "h_new": h_new}
            if slot.active(values):
                logits = (P[f"U{t}"] @ h_new + P[f"u{t}"]) / self.temperature
                p = np.exp(logits - logits.max())
                p /= p.sum()
                if forced is not None:
                    a = int(forced[t])
                else:  # inverse-CDF draw: several times faster than Generator.choice
                    a = min(int(np.searchsorted(np.cumsum(p), self.rng.random() * p.sum(), side="right")), len(p) - 1)
                values[slot.name] = slot.options[a]
                step.update(p=p, a=a)
            else:
                a = 0
            action.append(a)
            cache.append(step)
            x, h, c = P[f"E{t}"][a], h_new, c_new
        return tuple(action), cache

    def log_prob(self, action: tuple[int, ...]) -> float:
        """Log-probability of ``action`` under the controller (sum over active slots)."""
        _, cache = self._run(tuple(action))
        return float(sum(np.log(s["p"][s["a"]]) for s in cache if "p" in s))

    def _grads(self, action: tuple[int, ...], advantage: float) -> dict[str, np.ndarray]:
        return self._views(self._grad_flat(action, advantage))

    def _grad_flat(self, action: tuple[int, ...], advantage: float,
                   cache: list[dict[str, Any]] | None = None) -> np.ndarray:
        """Gradient of ``-advantage * log p(action) - entropy * H(policy)`` by backprop through time."""
        if cache is None:
            _, cache = self._run(action)
        P, H = self.params, self.hidden
        G_flat = np.zeros_like(self._flat)
        G = self._views(G_flat)
        dh_next, dc_next = np.zeros(H), np.zeros(H)
        for t in range(len(cache) - 1, -1, -1):
            s = cache[t]
            dh = dh_next.copy()
            if "p" in s:
                p, a = s["p"], s["a"]
                onehot = np.zeros_like(p)
                onehot[a] = 1.0
                dlogits = advantage * (p - onehot)
                if self.entropy > 0:  # d(-H)/dlogits = p * (log p + H)
                    logp = np.log(p + 1e-12)
                    dlogits += self.entropy * p * (logp - (p * logp).sum())
                dlogits /= self.temperature
                G[f"U{t}"] += np.outer(dlogits, s["h_new"])
                G[f"u{t}"] += dlogits
                dh += P[f"U{t}"].T @ dlogits
            do = dh * s["tc"] * s["o"] * (1 - s["o"])
            dc = dh * s["o"] * (1 - s["tc"] ** 2) + dc_next
            di = dc * s["g"] * s["i"] * (1 - s["i"])
            dg = dc * s["i"] * (1 - s["g"] ** 2)
            df = dc * s["c"] * s["f"] * (1 - s["f"])
            dz = np.concatenate([di, df, do, dg])
            G["Wx"] += np.outer(dz, s["x"])
            G["Wh"] += np.outer(dz, s["h"])
            G["b"] += dz
            dx = P["Wx"].T @ dz
            if t == 0:
                G["start"] += dx
            else:
                G[f"E{t - 1}"][action[t - 1]] += dx
            dh_next = P["Wh"].T @ dz
            dc_next = dc * s["f"]
        return G_flat

    def _propose(self) -> Proposal:
        a, cache = self._run(None)
        if a in self.seen:  # resample a few times: a repeat costs a full evaluation
            for _ in range(5):
                a, cache = self._run(None)
                if a not in self.seen:
                    break
        logp = float(sum(np.log(s["p"][s["a"]]) for s in cache if "p" in s))
        # the forward pass is reused by update() while the parameters have not changed since
        return Proposal(a, propensity=float(np.exp(logp)), info={"cache": cache, "t": self.t_adam})

    def _learn(self, proposal: Proposal, reward: float) -> None:
        if self.baseline is None:
            self.baseline = reward
        adv = reward - self.baseline
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward
        cache = proposal.info.get("cache") if proposal.info.get("t") == self.t_adam else None
        g = self._grad_flat(proposal.action, adv, cache)
        self.t_adam += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        self.m *= b1
        self.m += (1 - b1) * g
        self.v *= b2
        self.v += (1 - b2) * g * g
        step = self.lr * (self.m / (1 - b1 ** self.t_adam)) / (np.sqrt(self.v / (1 - b2 ** self.t_adam)) + eps)
        self._flat -= step

    def greedy(self, context: Any = None) -> tuple[int, ...]:
        saved = self.temperature
        self.temperature = 1e-3
        try:
            a, _ = self._run(None)
        finally:
            self.temperature = saved
        return a

    def state(self) -> dict[str, Any]:
        return {"params": {k: v.tolist() for k, v in self.params.items()}, "baseline": self.baseline}

    def load_state(self, state: dict[str, Any]) -> None:
        for k, v in state["params"].items():
            if k not in self.params or np.shape(v) != self.params[k].shape:
                raise InvalidParameterError(f"ReinforceController.load_state: parameter {k!r} does not fit this space")
            self.params[k][...] = np.asarray(v, dtype=float)
        self.baseline = state["baseline"]


class TPE(SearchStrategy):
    """Optuna's TPE sampler (define-by-run over the active slots), via ask/tell.

    Args:
        n_startup_trials: random trials before the Parzen estimators take over.

    Cost: grows with the number of trials (Optuna's TPE is O(n) per slot per proposal).
    """

    name = "tpe"

    def __init__(self, space: Space, seed: int | None = 0, n_startup_trials: int = 10) -> None:
        super().__init__(space, seed)
        self.n_startup_trials = check_int(n_startup_trials, "n_startup_trials", "TPE", low=0)
        self._study: Any = None
        self._pending: dict[tuple[int, ...], list[Any]] = {}

    def _optuna(self) -> Any:
        optuna = require("optuna", extra="nas", purpose="the 'tpe' strategy")
        if self._study is None:
            optuna.logging.set_verbosity(logging.WARNING)
            sampler = optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=self.n_startup_trials,
                                                 constant_liar=True)
            self._study = optuna.create_study(direction="maximize", sampler=sampler)
        return optuna

    def _propose(self) -> Proposal:
        self._optuna()
        trial = self._study.ask()
        values: dict[str, Any] = {}
        action = []
        for s in self.search_space.slots:
            if s.active(values):
                a = int(trial.suggest_categorical(s.name, list(range(len(s.options)))))
                values[s.name] = s.options[a]
            else:
                a = 0
            action.append(a)
        act = tuple(action)
        self._pending.setdefault(act, []).append(trial)
        return Proposal(act)

    def _learn(self, proposal: Proposal, reward: float) -> None:
        optuna = self._optuna()
        pending = self._pending.get(proposal.action)
        if pending:
            self._study.tell(pending.pop(0), reward)
            return
        # a replayed trial (resume from storage): add it as a finished trial
        values: dict[str, Any] = {}
        params, dists = {}, {}
        for s, a in zip(self.search_space.slots, proposal.action, strict=True):
            if s.active(values):
                values[s.name] = s.options[a]
                params[s.name] = int(a)
                dists[s.name] = optuna.distributions.CategoricalDistribution(list(range(len(s.options))))
        self._study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=reward))


class PolicyStrategy(SearchStrategy):
    """Any :class:`~learnedsys.policy.Policy` as a search strategy: proposals come from the
    policy (bound to the space's action space if it is not yet), rewards go back to it; the
    hand-built first trials and the bookkeeping of :class:`SearchStrategy` stay here."""

    name = "policy"

    def __init__(self, space: Space, policy: Policy, seed: int | None = 0) -> None:
        super().__init__(space, seed)
        from learnedsys.policy._base import bind_to

        self.policy = bind_to(policy, space.action_space, "the space's", "search")
        self.exact_propensity = getattr(policy, "exact_propensity", True)

    def _propose(self) -> Proposal:
        p = self.policy.propose()
        return Proposal(self.search_space.canonical(p.action), p.propensity, {"inner": p})

    def _learn(self, proposal: Proposal, reward: float) -> None:
        inner = proposal.info.get("inner") if proposal.info else None
        self.policy.update(inner if inner is not None else Proposal(proposal.action, proposal.propensity), reward)


STRATEGIES: dict[str, type[SearchStrategy]] = {
    "random": RandomSearch, "evolution": RegularizedEvolution, "reinforce": ReinforceController, "tpe": TPE,
}


def make_strategy(name: str, space: Space, seed: int | None = 0, **kwargs: Any) -> SearchStrategy:
    """A strategy by name: ``random``, ``evolution``, ``reinforce`` or ``tpe``."""
    if name not in STRATEGIES:
        raise InvalidParameterError(
            f"The 'strategy' parameter must be one of {{{', '.join(repr(k) for k in STRATEGIES)}}}. Got {name!r} instead.")
    return STRATEGIES[name](space, seed=seed, **kwargs)
