"""Policies against oracles: hidden Bernoulli arms (the best arm is known), one-hot contexts whose
best arm depends on the context, a sequence problem whose optimum is found by exhaustive search;
plus a conformance kit run over every policy."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys

import numpy as np
import pytest

from learnedsys._validation import InvalidParameterError
from learnedsys.decide import (
    UCB1,
    Choice,
    EpsilonGreedy,
    LinearThompson,
    LinUCB,
    OptunaTPE,
    Reinforce,
    ThompsonBeta,
    ThompsonGaussian,
)
from learnedsys.policy import ActionSpace, Policy, Proposal

ARMS = [0.3, 0.5, 0.55, 0.65]  # hidden success rates; arm 3 is best by 0.10
MU = np.array([[0.2, 0.5, 0.4], [0.6, 0.3, 0.4], [0.3, 0.35, 0.7], [0.5, 0.45, 0.2]])  # context x arm


def _bernoulli_rate(choice: Choice, seed: int, n: int = 15_000, window: int = 1_000) -> float:
    """Fraction of the `window` decisions after `n` that pick the best arm."""
    rng = random.Random(10_000 + seed)
    best = int(np.argmax(ARMS))
    hits = 0
    for t in range(n + window):
        d = choice.choose()
        if t >= n:
            hits += d.value == best
        choice.feedback(d, 1.0 if rng.random() < ARMS[d.value] else 0.0)
    return hits / window


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_policy_finds_best_bernoulli_arm(seed: int) -> None:
    choice = Choice("arms", options=list(range(4)), seed=seed)
    assert _bernoulli_rate(choice, seed) >= 0.90
    assert isinstance(choice.policy, EpsilonGreedy)
    assert choice.greedy() == 3


@pytest.mark.parametrize("seed", [0, 1])
def test_default_policy_with_one_hot_context(seed: int) -> None:
    choice = Choice("ctx", options=[0, 1, 2], seed=seed)
    rng = np.random.default_rng(seed)
    eye = np.eye(4)
    hits = 0
    for t in range(16_000):
        c = int(rng.integers(4))
        d = choice.choose(eye[c])
        if t >= 15_000:
            hits += d.value == int(MU[c].argmax())
        choice.feedback(d, float(rng.random() < MU[c, d.value]))
    assert isinstance(choice.policy, LinUCB)
    assert hits / 1000 >= 0.85
    assert [choice.greedy(eye[c]) for c in range(4)] == [int(m) for m in MU.argmax(axis=1)]


@pytest.mark.parametrize("policy", [UCB1(seed=0), ThompsonBeta(seed=0), ThompsonGaussian(seed=0), EpsilonGreedy(epsilon=0.02, seed=0)])
def test_context_free_policies_find_best_arm(policy: Policy) -> None:
    choice = Choice("arms", options=list(range(4)), policy=policy)
    assert _bernoulli_rate(choice, 5, n=5000) >= 0.85
    assert choice.greedy() == 3


def test_linear_thompson_with_one_hot_context() -> None:
    choice = Choice("ctx", options=[0, 1, 2], policy=LinearThompson(seed=0))
    rng = np.random.default_rng(3)
    hits = 0
    for t in range(5000):
        c = int(rng.integers(4))
        d = choice.choose(np.eye(4)[c])
        hits += t >= 4000 and d.value == int(MU[c].argmax())
        choice.feedback(d, float(rng.random() < MU[c, d.value]))
    assert hits / 1000 >= 0.85


def _seq_reward(v: dict[str, int]) -> float:
    return -((v["x"] - 2) ** 2) - 0.5 * (v["y"] - 4) ** 2 - abs(v["z"] - 1)


def _seq_optimum() -> dict[str, int]:
    grid = [dict(zip("xyz", t, strict=True)) for t in itertools.product(range(4), range(5), range(3))]
    return max(grid, key=_seq_reward)  # exhaustive search


def test_reinforce_learns_a_sequence() -> None:
    choice = Choice("seq", options={"x": range(4), "y": range(5), "z": [0, 1, 2]}, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(3000):
        d = choice.choose()
        choice.feedback(d, _seq_reward(d.value) + rng.normal(0, 0.3))
    assert isinstance(choice.policy, Reinforce)
    assert choice.greedy() == _seq_optimum()


def test_optuna_tpe_finds_the_grid_optimum() -> None:
    choice = Choice("seq", options={"x": range(4), "y": range(5), "z": [0, 1, 2]}, policy="tpe", seed=0)
    for _ in range(40):  # 40 of 60 grid points
        d = choice.choose()
        choice.feedback(d, _seq_reward(d.value))
    assert isinstance(choice.policy, OptunaTPE)
    assert _seq_reward(choice.greedy()) == _seq_reward(_seq_optimum())


# -- conformance kit: every policy through the shared interface ---------------------------------

def _make(name: str) -> tuple[Policy, ActionSpace, object]:
    space = ActionSpace((3,)) if name not in ("reinforce", "tpe") else ActionSpace((3, 2))
    ctx = [1.0, 0.0, 0.5] if name in ("linucb", "linear_thompson") else None
    cls = {
        "epsilon_greedy": EpsilonGreedy, "ucb1": UCB1, "thompson_beta": ThompsonBeta,
        "thompson_gaussian": ThompsonGaussian, "linucb": LinUCB, "linear_thompson": LinearThompson,
        "reinforce": Reinforce, "tpe": OptunaTPE,
    }[name]
    return cls(space, seed=7), space, ctx


NAMES = ["epsilon_greedy", "ucb1", "thompson_beta", "thompson_gaussian", "linucb", "linear_thompson", "reinforce", "tpe"]


@pytest.mark.parametrize("name", NAMES)
def test_conformance(name: str) -> None:
    pol, space, ctx = _make(name)
    rng = random.Random(0)
    for _ in range(30):
        prop = pol.propose(ctx)
        assert isinstance(prop, Proposal)
        assert space.contains(prop.action)
        assert 0.0 < prop.propensity <= 1.0
        pol.update(prop, float(rng.random() < 0.5), ctx)
    state = pol.state()
    json.dumps(state)  # snapshots are JSON
    twin, _, _ = _make(name)
    twin.load_state(json.loads(json.dumps(state)))
    assert twin.state() == json.loads(json.dumps(state))
    assert twin.greedy(ctx) == pol.greedy(ctx)
    assert space.contains(pol.greedy(ctx))


@pytest.mark.parametrize("name", ["epsilon_greedy", "thompson_beta", "linucb", "reinforce"])
def test_same_seed_same_actions(name: str) -> None:
    def run() -> list[tuple[int, ...]]:
        pol, _, ctx = _make(name)
        out = []
        for i in range(50):
            prop = pol.propose(ctx)
            out.append(prop.action)
            pol.update(prop, float(i % 3 == 0), ctx)
        return out

    assert run() == run()


def test_same_seed_same_result_in_a_fresh_process() -> None:
    code = (
        "import random\nfrom learnedsys.decide import Choice\n"
        "c = Choice('x', options=list(range(5)), seed=11); r = random.Random(1)\n"
        "vals = []\n"
        "for _ in range(500):\n"
        "    d = c.choose(); vals.append(d.value); c.feedback(d, r.random() * d.value)\n"
        "print(vals)\n"
    )
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout for _ in range(2)]
    assert outs[0] == outs[1] and len(outs[0]) > 100


def test_epsilon_greedy_propensities_match_frequencies() -> None:
    pol = EpsilonGreedy(ActionSpace((4,)), epsilon=0.2, explore=0, seed=3)
    for a, r in [(0, 0.1), (1, 0.9), (2, 0.2), (3, 0.3)]:
        pol.update(Proposal((a,)), r)
    n = 20_000
    counts = np.zeros(4)
    props = {}
    for _ in range(n):
        p = pol.propose()
        counts[p.action[0]] += 1
        props[p.action[0]] = p.propensity
    assert props[1] == pytest.approx(0.85) and props[0] == pytest.approx(0.05)
    np.testing.assert_allclose(counts / n, [props[i] for i in range(4)], atol=0.01)
    assert pol.probability(1) == pytest.approx(0.85)


def test_thompson_propensity_matches_frequency() -> None:
    pol = ThompsonBeta(ActionSpace((2,)), samples=400, seed=0)
    for _ in range(5):
        pol.update(Proposal((0,)), 1.0)
        pol.update(Proposal((1,)), 0.0)
    pol.update(Proposal((1,)), 1.0)
    picks = [pol.propose().action[0] for _ in range(3000)]
    freq0 = picks.count(0) / 3000
    assert abs(pol.probability(0) - freq0) < 0.03


def test_bad_parameters_name_themselves() -> None:
    with pytest.raises(InvalidParameterError, match="'epsilon' parameter of EpsilonGreedy"):
        EpsilonGreedy(epsilon=1.5)
    with pytest.raises(InvalidParameterError, match="one option at a time"):
        EpsilonGreedy(ActionSpace((2, 3)))
    with pytest.raises(RuntimeError, match="not bound"):
        UCB1().propose()
    with pytest.raises(InvalidParameterError, match="rewards in \\[0, 1\\]"):
        ThompsonBeta(ActionSpace((2,))).update(Proposal((0,)), 3.0)
    lin = LinUCB(ActionSpace((2,)))
    lin.propose([1.0, 2.0])
    with pytest.raises(InvalidParameterError, match="2 features"):
        lin.propose([1.0, 2.0, 3.0])
    with pytest.raises(InvalidParameterError, match="snapshot"):
        EpsilonGreedy(ActionSpace((3,))).load_state(UCB1(ActionSpace((3,))).state())
