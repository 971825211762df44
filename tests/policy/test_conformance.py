"""Every policy of every part passes the conformance kit (learnedsys.testing), propensities included."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from learnedsys.decide import (
    UCB1,
    EpsilonGreedy,
    LinearThompson,
    LinUCB,
    ThompsonBeta,
    ThompsonGaussian,
)
from learnedsys.policy import (
    ActionSpace,
    BasePolicy,
    OptunaTPE,
    Policy,
    Proposal,
    RandomPolicy,
    Reinforce,
)
from learnedsys.testing import check_policy, target_action

SINGLE = [ActionSpace((4,))]
SEQUENCE = [ActionSpace((4,)), ActionSpace((3, 2, 4))]

CASES: list[tuple[str, Any, list[ActionSpace], dict[str, Any]]] = [
    ("EpsilonGreedy", lambda s, seed: EpsilonGreedy(s, seed=seed), SINGLE, {}),
    ("UCB1", lambda s, seed: UCB1(s, seed=seed), SINGLE, {}),
    ("ThompsonBeta", lambda s, seed: ThompsonBeta(s, seed=seed), SINGLE, {}),
    ("ThompsonGaussian", lambda s, seed: ThompsonGaussian(s, seed=seed), SINGLE, {}),
    ("LinUCB", lambda s, seed: LinUCB(s, seed=seed), SINGLE, {"context": [1.0, 0.5]}),
    ("LinearThompson", lambda s, seed: LinearThompson(s, seed=seed), SINGLE, {"context": [1.0, 0.5]}),
    ("Reinforce", lambda s, seed: Reinforce(s, lr=0.5, seed=seed), SEQUENCE, {}),
    ("Reinforce+context", lambda s, seed: Reinforce(s, lr=0.5, seed=seed), SEQUENCE, {"context": [1.0, -1.0]}),
    ("RandomPolicy", lambda s, seed: RandomPolicy(s, seed=seed), SEQUENCE, {"learns": False}),
    ("OptunaTPE", lambda s, seed: OptunaTPE(s, n_startup_trials=5, seed=seed), SEQUENCE, {"rounds": 60, "draws": 50}),
    ("nas.RandomSearch", lambda s, seed: _nas("RandomSearch", seed), [ActionSpace((3, 2, 4))], {"learns": False}),
    ("nas.RegularizedEvolution", lambda s, seed: _nas("RegularizedEvolution", seed, population=8, sample=3),
     [ActionSpace((3, 2, 4))], {"rounds": 200}),
    ("nas.ReinforceController", lambda s, seed: _nas("ReinforceController", seed), [ActionSpace((3, 2, 4))], {"rounds": 400}),
    ("placement.group_policy", lambda s, seed: _placement().group_policy(s, seed=seed, init=[0] * len(s.sizes)), SEQUENCE, {}),
    ("placement.HierarchicalPolicy",
     lambda s, seed: _placement().HierarchicalPolicy(np.eye(3), n_groups=2, n_devices=3, seed=seed, group_bias=1.0),
     [ActionSpace((2, 2, 2, 3, 3))], {"rounds": 600}),
]


def _nas(cls: str, seed: int, **kw: Any) -> Any:
    """A nas strategy over a space whose action space is (3, 2, 4)."""
    from learnedsys import nas

    space = nas.Space("toy", [nas.OneOf("a", ["x", "y", "z"]), nas.OneOf("b", [0, 1]), nas.Int("c", 1, 4)])
    return getattr(nas, cls)(space, seed=seed, **kw)


def _placement() -> Any:
    from learnedsys.placement import _learned

    return _learned


@pytest.mark.parametrize(("name", "make", "spaces", "kw"), CASES, ids=[c[0] for c in CASES])
def test_policy_keeps_the_contract(name: str, make: Any, spaces: list[ActionSpace], kw: dict[str, Any]) -> None:
    check_policy(make, spaces=spaces, **kw)


def test_random_policy_finds_the_best_action_it_has_seen() -> None:
    space = ActionSpace((3, 2, 4))
    policy = RandomPolicy(space, seed=3)
    best = None
    for _ in range(200):
        p = policy.propose()
        r = float(sum(p.action))
        policy.update(p, r)
        best = r if best is None or r > best else best
    assert sum(policy.greedy()) == best == 2 + 1 + 3


class _LyingPolicy(BasePolicy):
    """Draws uniformly but reports propensity 1 (the bug the propensity check exists for)."""

    single = False

    def _allocate(self) -> None:
        pass

    def propose(self, context: Any = None) -> Proposal:
        return Proposal(tuple(self._rng.randrange(s) for s in self.space.sizes), 1.0)

    def update(self, proposal: Proposal, reward: float, context: Any = None) -> None:
        pass


class _Stubborn(Policy):
    """Always proposes action 0: keeps the form of the contract, never learns."""

    def propose(self, context: Any = None) -> Proposal:
        return Proposal(tuple(0 for _ in self.space.sizes), 1.0)

    def update(self, proposal: Proposal, reward: float, context: Any = None) -> None:
        pass


def test_the_kit_catches_a_false_propensity_and_a_policy_that_does_not_learn() -> None:
    with pytest.raises(AssertionError, match="propensities"):
        check_policy(lambda s, seed: _LyingPolicy(s, seed=seed), learns=False)
    # a deterministic policy's propensity 1 is honest; it fails only the learning check
    with pytest.raises(AssertionError, match="learning"):
        check_policy(lambda s, seed: _Stubborn(s))
    assert target_action(ActionSpace((4, 1, 2))) == (2, 0, 0)


class ExploreThenCommit(BasePolicy):
    """A user's policy in a dozen lines: uniform for the first `explore` proposals, then the best
    action seen, each position kept with probability 1 - eps and redrawn uniformly otherwise."""

    single = False

    def __init__(self, space: ActionSpace | None = None, *, explore: int = 30, eps: float = 0.1, seed: int | None = None) -> None:
        self.explore, self.eps = explore, eps
        super().__init__(space, seed=seed)

    def _allocate(self) -> None:
        self._best: tuple[tuple[int, ...], float] | None = None
        self._n = 0

    def propose(self, context: Any = None) -> Proposal:
        sizes = self.space.sizes
        if self._best is None or self._n < self.explore:
            return Proposal(tuple(self._rng.randrange(s) for s in sizes), 1.0 / float(np.prod(sizes)))
        action, p = [], 1.0
        for b, s in zip(self._best[0], sizes, strict=True):
            a = self._rng.randrange(s) if self._rng.random() < self.eps else b
            action.append(a)
            p *= (1 - self.eps) * (a == b) + self.eps / s
        return Proposal(tuple(action), p)

    def update(self, proposal: Proposal, reward: float, context: Any = None) -> None:
        self._n += 1
        if self._best is None or reward > self._best[1]:
            self._best = (tuple(proposal.action), float(reward))

    def greedy(self, context: Any = None) -> tuple[int, ...]:
        return self._best[0] if self._best is not None else self.propose(context).action


def test_one_user_policy_passes_the_kit_and_drives_decide_tune_placement_and_nas() -> None:
    from learnedsys.decide import Choice
    from learnedsys.tune import Param, tune

    check_policy(lambda s, seed: ExploreThenCommit(s, seed=seed), rounds=200)
    # decide: the policy serves a Choice
    choice = Choice("x", options=["a", "b", "c", "d"], policy=ExploreThenCommit(seed=0), seed=0)
    for _ in range(300):
        d = choice.choose()
        choice.feedback(d, 1.0 if d.value == "c" else 0.0)
    assert choice.greedy() == "c"
    # tune: the same class searches a program's flags
    params = [Param("n", "int", 1, 12), Param("m", "categorical", choices=("p", "q"))]
    res = tune(params, lambda v: (abs(v["n"] - 9) + (v["m"] == "p"), [0.0], None), trials=80,
               sampler=ExploreThenCommit(explore=20, seed=0))
    assert res.best == {"n": 9, "m": "q"}
    # placement: the same class in rl's place, fed the same rewards
    from learnedsys.placement import place
    from tests.placement.test_placers import GPU4, towers_graph

    g = towers_graph(3, 3)
    p = place(g, GPU4, ExploreThenCommit(explore=20, seed=0), iterations=10, batch=4, seed=0)
    assert p.method == "ExploreThenCommit" and p.feasible
    assert p.step_time <= place(g, GPU4, "single").step_time  # warm-started: never worse than its start
    # nas: the same class as the search strategy, on a real (tiny) training task
    from sklearn.datasets import load_digits

    from learnedsys.nas import search, split_dataset

    d = load_digits()
    data = split_dataset(d.data[:300].reshape(-1, 1, 8, 8) / 16.0, d.target[:300], seed=0, name="tiny-digits")
    res = search(data, space="mlp", strategy=ExploreThenCommit(explore=2, seed=0), max_trials=4, backend="inline",
                 epochs=1, measure_latency=False, try_defaults=False)
    assert res.strategy == "ExploreThenCommit" and res.trials == 4
    assert res.best is not None and 0.0 < res.best["val_acc"] <= 1.0
