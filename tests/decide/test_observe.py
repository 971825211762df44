"""``Choice.observe``: outcomes the policy did not draw, against oracles.

Per-arm means (and ThompsonGaussian's sums of squares) against the plain mean of every reward an
arm received; LinUCB's models against a ridge least-squares fit per arm (``np.linalg.lstsq`` on
the data stacked over sqrt(ridge) I); REINFORCE against the same policy updated by hand; errors
for values that are not options and rewards that are not finite numbers, before anything changes;
no pending decision, no decision id, no guardrail statistics; the log's observed rows; a learner.
"""

from __future__ import annotations

import math
import random
import sqlite3
from typing import Any

import numpy as np
import pytest

from learnedsys._validation import InvalidParameterError
from learnedsys.decide import (
    UCB1,
    Choice,
    DecisionLog,
    EpsilonGreedy,
    FloatRange,
    IntRange,
    Learner,
    LinUCB,
    Reinforce,
    ThompsonBeta,
    ThompsonGaussian,
)
from learnedsys.policy import ActionSpace, Policy, Proposal

BAD_REWARDS: list[Any] = [math.nan, math.inf, -math.inf, np.float64("nan"), np.float32("inf"), 1 + 0j, "1.5", b"1", None, [1.0], 10**400]


def _rewards_per_arm(k: int) -> list[list[float]]:
    return [[] for _ in range(k)]


@pytest.mark.parametrize("policy", ["epsilon_greedy", "ucb1", "thompson_gaussian", "thompson_beta", None])
def test_means_equal_the_mean_of_every_reward_seen(policy: str | None) -> None:
    # observations before the first choose, then mixed with decisions and their feedback
    opts = ["a", "b", "c", "d"]
    c = Choice("c", options=opts, policy=policy, seed=4)
    rng = random.Random(7)
    seen = _rewards_per_arm(len(opts))
    for step in range(3000):
        if step < 50 or rng.random() < 0.4:
            v = rng.choice(opts)
            r = rng.random() if v != "c" else rng.random() * 0.5 + 0.5
            c.observe(v, r)
            seen[opts.index(v)].append(r)
        else:
            d = c.choose()
            r = rng.random()
            c.feedback(d, r)
            seen[opts.index(d.value)].append(r)
    pol = c.policy
    assert isinstance(pol, (EpsilonGreedy, UCB1, ThompsonGaussian, ThompsonBeta))
    assert isinstance(pol, EpsilonGreedy) == (policy in ("epsilon_greedy", None))
    assert pol.counts == [len(s) for s in seen]
    assert pol.version == sum(len(s) for s in seen)
    for m, s in zip(pol.means, seen, strict=True):
        assert m == pytest.approx(math.fsum(s) / len(s), rel=1e-12, abs=1e-12)
    if isinstance(pol, ThompsonGaussian):
        for m2, s in zip(pol._m2, seen, strict=True):
            assert m2 == pytest.approx(float(np.var(s) * len(s)), rel=1e-9, abs=1e-9)
    if isinstance(pol, ThompsonBeta):
        assert list(pol._a) == pytest.approx([1.0 + math.fsum(s) for s in seen])
        assert list(pol._b) == pytest.approx([1.0 + len(s) - math.fsum(s) for s in seen])
    assert c.pending == 0
    assert c.greedy() == "c"


@pytest.mark.parametrize("kw", [{}, {"policy": "ucb1"}, {"log": "LOG"}, {"default": 20, "handover": 0.5}, {"reward_wait": 100.0}])
def test_observe_only_learns_and_exact_means(kw: dict[str, Any], tmp_path: Any) -> None:
    # every path of the Choice (fused, plain, plain with a log, guarded, reward wait): the same means
    if kw.get("log") == "LOG":
        kw = {"log": str(tmp_path / "l.sqlite")}
    c = Choice("c", options=[10, 20, 30], seed=0, **kw)
    data = [(10, 1.0), (20, 2.0), (10, 3.0), (30, -1.5), (20, 0.25), (10, 0.5)]
    for v, r in data:
        c.observe(v, r)
    pol = c.policy
    assert pol.counts == [3, 2, 1]  # type: ignore[union-attr]
    assert pol.means == pytest.approx([1.5, 1.125, -1.5])  # type: ignore[union-attr]
    d = c.choose()
    assert d.id == 0 and c.pending == 1  # observations take no id and no pending place
    c.feedback(d, 1.0)
    assert c.pending == 0 and sum(pol.counts) == 7  # type: ignore[union-attr]
    c.close()


def test_linucb_greedy_equals_the_ridge_least_squares_oracle() -> None:
    # the default policy for a vector context, set up by the first observe (no choose before)
    k, dim = 3, 4
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(k, dim))
    c = Choice("c", options=["x", "y", "z"], seed=0)
    xs: list[list[np.ndarray]] = [[] for _ in range(k)]
    ys: list[list[float]] = [[] for _ in range(k)]
    for _ in range(400):
        x = rng.normal(size=dim)
        a = int(rng.integers(k))
        r = float(theta[a] @ x + rng.normal(scale=0.3))
        c.observe(["x", "y", "z"][a], r, x)
        xs[a].append(x)
        ys[a].append(r)
    pol = c.policy
    assert isinstance(pol, LinUCB)
    ridge = pol.ridge
    oracle = np.zeros((k, dim))
    for a in range(k):
        X = np.vstack([np.asarray(xs[a]), math.sqrt(ridge) * np.eye(dim)])
        y = np.concatenate([np.asarray(ys[a]), np.zeros(dim)])
        oracle[a] = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(pol._theta, oracle, rtol=1e-8, atol=1e-10)
    assert pol._counts == [len(v) for v in xs]
    agree = 0
    for _ in range(200):
        x = rng.normal(size=dim)
        scores = oracle @ x
        top = np.sort(scores)
        if top[-1] - top[-2] < 1e-6:
            continue  # a near tie: either arm is right
        assert c.greedy(x) == ["x", "y", "z"][int(np.argmax(scores))]
        agree += 1
    assert agree > 150


def test_bad_values_are_rejected_before_anything_changes() -> None:
    c = Choice("c", options=["a", "b", "c"], seed=0)
    for bad in ["z", 0, None, ["a"], np.array(["a", "b"])]:
        with pytest.raises(InvalidParameterError, match=r"The 'value' parameter of Choice.observe must be one of \{'a', 'b', 'c'\}. Got"):
            c.observe(bad, 1.0)
    assert not c._ready and c.policy is None  # not even set up
    c.observe("b", 1.0)
    assert c.policy.counts == [0, 1, 0]  # type: ignore[union-attr]
    # ranges: a grid point, not the nearest one
    r = Choice("r", options=IntRange(0, 100, step=10), seed=0)
    for bad in [5, 101, -10, "10", 10.5, math.nan]:
        with pytest.raises(InvalidParameterError, match=r"The 'value' parameter of Choice.observe must be one of the options, a point of IntRange"):
            r.observe(bad, 1.0)
    r.observe(30, 2.0)
    r.observe(30.0, 4.0)  # equal to the grid point
    assert r.policy.counts[3] == 2 and r.policy.means[3] == 3.0  # type: ignore[union-attr]
    f = Choice("f", options=FloatRange(0.0, 1.0, steps=5), seed=0)
    with pytest.raises(InvalidParameterError, match="FloatRange"):
        f.observe(0.3, 1.0)
    f.observe(0.25, 1.0)
    assert f.policy.counts == [0, 1, 0, 0, 0]  # type: ignore[union-attr]
    # a long list of options is shown shortened
    long = Choice("l", options=list(range(40)), seed=0)
    with pytest.raises(InvalidParameterError, match=r"must be one of \{0, 1, .*, 11, \.\.\.\}. Got 40 instead"):
        long.observe(40, 1.0)


@pytest.mark.parametrize("kw", [{}, {"policy": "ucb1"}, {"default": "a", "handover": 0.5}])
def test_bad_rewards_are_rejected_before_anything_changes(kw: dict[str, Any]) -> None:
    c = Choice("c", options=["a", "b"], seed=0, **kw)
    c.observe("a", 1.0)
    before = (list(c.policy.counts), list(c.policy.means), c.policy.version)  # type: ignore[union-attr]
    for bad in BAD_REWARDS:
        with pytest.raises(InvalidParameterError, match=r"The 'reward' parameter of Choice.observe must be a finite float"):
            c.observe("b", bad)
    assert (list(c.policy.counts), list(c.policy.means), c.policy.version) == before  # type: ignore[union-attr]
    for good in [1, np.float32(0.5), np.int8(2), True]:  # numbers of any type, as Python floats
        c.observe("b", good)
    assert c.policy.means[1] == pytest.approx((1.0 + 0.5 + 2.0 + 1.0) / 4)  # type: ignore[union-attr]
    assert all(type(m) is float for m in c.policy._means)  # type: ignore[union-attr]


def test_a_policys_own_reward_check_still_applies() -> None:
    c = Choice("c", options=[0, 1], policy="thompson_beta", seed=0)
    with pytest.raises(InvalidParameterError, match=r"ThompsonBeta needs rewards in \[0, 1\]"):
        c.observe(1, 2.0)
    assert c.policy.counts == [0, 0]  # type: ignore[union-attr]


def test_structured_options_update_reinforce_as_by_hand() -> None:
    opts = {"algo": ["lz4", "zstd", "none"], "level": IntRange(1, 4)}
    c = Choice("s", options=opts, seed=3)
    ref = Reinforce(seed=3)
    ref.bind(ActionSpace((3, 4)))
    rng = random.Random(0)
    for _ in range(300):
        a, lv = rng.randrange(3), rng.randint(1, 4)
        r = rng.random() + (a == 1) + (lv == 3)
        c.observe({"level": lv, "algo": opts["algo"][a]}, r)  # any key order
        ref.update(Proposal((a, lv - 1), 1.0), r)
    pol = c.policy
    assert isinstance(pol, Reinforce) and pol.version == 300
    np.testing.assert_allclose(pol._lg, ref._lg, rtol=1e-12, atol=1e-14)
    assert c.greedy() == {"algo": "zstd", "level": 3}
    for bad, what in [
        ("zstd", "a dict with the keys"),
        ({"algo": "zstd"}, "a dict with the keys"),
        ({"algo": "zstd", "level": 3, "extra": 1}, "a dict with the keys"),
        ({"algo": "brotli", "level": 3}, r"""The "value\['algo'\]" parameter of Choice.observe must be one of \{'lz4', 'zstd', 'none'\}"""),
        ({"algo": "zstd", "level": 9}, r"""The "value\['level'\]" parameter of Choice.observe must be one of the options"""),
    ]:
        with pytest.raises(InvalidParameterError, match=what):
            c.observe(bad, 1.0)
    assert pol.version == 300


class _Recorder(Policy):
    """A user policy (not a DecidePolicy): records what update receives."""

    def __init__(self) -> None:
        super().__init__(ActionSpace((3,)))
        self.updates: list[tuple[Proposal, float, Any]] = []

    def propose(self, context: Any = None) -> Proposal:
        return Proposal((0,), 1.0)

    def update(self, proposal: Proposal, reward: float, context: Any = None) -> None:
        self.updates.append((proposal, reward, context))


def test_a_user_policy_gets_a_proposal_marked_observed() -> None:
    pol = _Recorder()
    c = Choice("u", options=["p", "q", "r"], policy=pol, seed=0)
    c.observe("r", 2.5, {"load": 3})
    (prop, r, ctx), = pol.updates
    assert prop.action == (2,) and prop.propensity == 1.0 and prop.info == {"observed": True}
    assert r == 2.5 and type(r) is float and ctx == {"load": 3}


def test_not_served_not_pending_not_in_the_guardrail() -> None:
    c = Choice("g", options=[0, 1, 2], default=0, handover=0.5, guardrail=True, guardrail_min=5, seed=0)
    for _ in range(20):
        c.feedback(c.choose(), 1.0)
    stats = {k: (s.n, s.s) for k, s in c.served_stats.items()}
    pending, counts = c.pending, list(c.policy.counts)  # type: ignore[union-attr]
    for _ in range(50):
        c.observe(2, -100.0)  # terrible outcomes the policy did not serve: the guardrail stays quiet
    assert {k: (s.n, s.s) for k, s in c.served_stats.items()} == stats and not c.guardrail_tripped
    assert c.pending == pending and c.policy.counts[2] == counts[2] + 50  # type: ignore[union-attr]
    d = c.choose()
    assert d.id == 20


def test_the_log_holds_observed_rows_without_propensity(tmp_path: Any) -> None:
    path = str(tmp_path / "obs.sqlite")
    c = Choice("c", options=["a", "b"], log=path, seed=0)
    c.observe("b", 0.5, None)
    d = c.choose()
    c.feedback(d, 1.0)
    c.observe("a", -0.25)
    c.close()
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT id, action, value, propensity, served, version FROM decisions ORDER BY ts, id").fetchall()
    rewards = dict(conn.execute("SELECT id, reward FROM rewards").fetchall())
    conn.close()
    observed = [row for row in rows if row[4] == "observed"]
    assert [(i, a, v, p) for i, a, v, p, _, _ in observed] == [(-1, "[1]", '"b"', None), (-2, "[0]", '"a"', None)]
    assert [row[5] for row in observed] == [0, 2]  # the policy's version before learning it
    assert rewards == {-1: 0.5, 0: 1.0, -2: -0.25}
    log = DecisionLog(path)
    assert log.count("c") == (3, 3)
    served = log.read("c", served="policy")
    assert served.ids.tolist() == [0] and np.all(served.propensities > 0)
    assert log.read("c").ids.tolist() == [0]  # by default what off-policy estimators can use
    everything = log.read("c", observed=True)
    assert sorted(everything.ids.tolist()) == [-2, -1, 0]
    assert int(np.isnan(everything.propensities).sum()) == 2


@pytest.mark.parametrize("local_updates", [True, False])
def test_observations_reach_the_learner(local_updates: bool) -> None:
    learner = Learner(EpsilonGreedy(seed=0), options=list(range(3)), interval=0.05).start()
    try:
        c = Choice("w", options=list(range(3)), learner=learner.handle(), local_updates=local_updates, seed=0)
        for v, r in [(2, 1.0), (2, 3.0), (0, -1.0)]:
            c.observe(v, r)
        local = list(c.policy.counts)  # type: ignore[union-attr]
        c.close()
        assert learner.wait(3, timeout=60)
    finally:
        learner.stop()
    assert learner.policy.counts == [1, 0, 2] and learner.policy.means[2] == 2.0  # type: ignore[attr-defined]
    assert local == ([1, 0, 2] if local_updates else [0, 0, 0])
