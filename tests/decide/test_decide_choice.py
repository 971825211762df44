"""The Choice API: decisions, delayed and missing feedback, episodes, safety (shadow, hand-over,
guardrail), persistence and errors."""

from __future__ import annotations

import random

import numpy as np
import pytest

from learnedsys._serialization import FormatError
from learnedsys._validation import InvalidParameterError
from learnedsys.decide import UCB1, Choice, Decision, EpsilonGreedy, FloatRange, IntRange
from learnedsys.decide._policies import DecidePolicy
from learnedsys.policy import Proposal

ARMS = [0.3, 0.5, 0.55, 0.65]


def test_decision_fields() -> None:
    c = Choice("x", options=["a", "b", "c"], seed=0)
    d = c.choose()
    assert isinstance(d, Decision)
    assert d.value in ("a", "b", "c") and d.id == 0 and 0 < d.propensity <= 1 and d.version == 0
    assert d.action == (["a", "b", "c"].index(d.value),)
    assert not d.done and c.pending == 1
    c.feedback(d, 1.0)
    assert d.done and c.pending == 0
    d2 = c.choose()
    assert d2.id == 1 and d2.version == 1
    assert "Decision(value=" in repr(d2)


def test_feedback_may_come_later_in_any_order() -> None:
    c = Choice("x", options=list(range(4)), seed=1)
    rng = random.Random(0)
    held = []
    for _ in range(20_000):
        held.append(c.choose())
        if len(held) > 50:  # rewards arrive 50 decisions late, shuffled
            d = held.pop(rng.randrange(len(held)))
            c.feedback(d, 1.0 if rng.random() < ARMS[d.value] else 0.0)
    assert c.greedy() == 3
    assert sum(c.policy.counts) == 20_000 - 50  # type: ignore[union-attr]


def test_feedback_by_id_and_errors() -> None:
    c = Choice("x", options=[0, 1], seed=0)
    d = c.choose()
    c.feedback(d.id, 0.5)
    with pytest.raises(InvalidParameterError, match="already has its reward"):
        c.feedback(d, 0.5)
    with pytest.raises(InvalidParameterError, match="no decision 99"):
        c.feedback(99, 0.5)
    d = c.choose()
    with pytest.raises(InvalidParameterError, match="finite float"):
        c.feedback(d, float("nan"))
    with pytest.raises(InvalidParameterError, match="finite float"):
        c.feedback(d, "good")  # type: ignore[arg-type]
    other = Choice("y", options=[0, 1], seed=0)
    od = other.choose()
    with pytest.raises(InvalidParameterError, match="belongs to choice 'y'"):
        c.feedback(od, 1.0)
    c.feedback(d, 1.0)  # still pending after the failed attempts


def test_reward_wait_and_default_reward() -> None:
    c = Choice("x", options=[0, 1], reward_wait=10.0, default_reward=-1.0, seed=0)
    ds = [c.choose() for _ in range(5)]
    c.feedback(ds[0], 1.0)
    assert c.expire() == 0  # nothing is 10 s old
    import time

    assert c.expire(now=time.monotonic() + 11.0) == 4
    assert all(d.done for d in ds)
    pol = c.policy
    assert isinstance(pol, EpsilonGreedy)
    assert sum(pol.counts) == 5  # four default rewards of -1 were learned
    assert min(m for n, m in zip(pol.counts, pol.means, strict=True) if n) < 0
    # without a default reward, expired decisions are dropped
    c2 = Choice("x", options=[0, 1], reward_wait=10.0, seed=0)
    c2.choose()
    assert c2.expire(now=time.monotonic() + 11.0) == 1
    assert sum(c2.policy.counts) == 0  # type: ignore[union-attr]


def test_max_pending_expires_the_oldest() -> None:
    c = Choice("x", options=[0, 1], max_pending=100, default_reward=0.0, seed=0)
    ds = [c.choose() for _ in range(150)]
    assert c.pending <= 100
    assert ds[0].done and not ds[-1].done


@pytest.mark.parametrize("policy", [None, "ucb1"])
def test_many_pending_beyond_the_ring(policy: str | None) -> None:
    # more decisions in flight than the ring holds: the older ones spill to the dict and are still
    # found by id, rewarded exactly once, expired oldest first
    c = Choice("x", options=[0, 1, 2], policy=policy, max_pending=3000, default_reward=-1.0, seed=0)
    ds = [c.choose() for _ in range(3500)]
    assert c.pending == 3000
    assert all(d.done for d in ds[:500]) and not any(d.done for d in ds[500:])
    rng = random.Random(1)
    order = list(range(500, 3500))
    rng.shuffle(order)
    for k, i in enumerate(order):
        if k % 2:
            c.feedback(ds[i].id, 1.0)
        else:
            c.feedback(ds[i], 1.0)
    assert c.pending == 0 and all(d.done for d in ds)
    pol = c.policy
    assert sum(pol.counts) == 3500  # type: ignore[union-attr]
    assert pol.version == 3500  # type: ignore[union-attr]
    for i in (0, 600, 3400):
        with pytest.raises(InvalidParameterError):
            c.feedback(ds[i], 1.0)


@pytest.mark.parametrize("policy", [None, "ucb1"])
def test_rewards_of_any_numeric_type(policy: str | None, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # numpy scalars, ints and bools are rewards like floats, on the hot path and with logging
    for log in (None, str(tmp_path / f"log-{policy}.sqlite")):
        c = Choice("x", options=[0, 1, 2], policy=policy, log=log, seed=0)
        for r in (np.float64(0.5), np.float32(0.25), 1, True, np.int64(2), 0.75):
            c.feedback(c.choose(), r)
        assert c.pending == 0 and sum(c.policy.counts) == 6  # type: ignore[union-attr]
        c.close()


def test_reward_wait_expires_spilled_decisions_oldest_first() -> None:
    import time

    c = Choice("x", options=[0, 1], reward_wait=10.0, default_reward=0.0, max_pending=10_000, seed=0)
    ds = [c.choose() for _ in range(2000)]
    for d in ds[::3]:
        c.feedback(d, 1.0)
    assert c.expire(now=time.monotonic() + 11.0) == 2000 - len(ds[::3])
    assert c.pending == 0 and all(d.done for d in ds)


def test_epsilon_greedy_incremental_argmax_matches_a_rescan() -> None:
    # the greedy arm kept with a bound on the other arms' means equals a full argmax at every step
    pol = EpsilonGreedy(epsilon=0.2, seed=0)
    c = Choice("x", options=list(range(6)), policy=pol, seed=0)
    rng = random.Random(2)
    for _ in range(3000):
        d = c.choose()
        c.feedback(d, rng.gauss([0.1, 0.5, 0.52, 0.3, 0.49, 0.0][d.value], 0.5))
        means = [m if n else -np.inf for n, m in zip(pol.counts, pol.means, strict=True)]
        assert means[pol._best] == max(means)


def test_episode_credits_every_choice() -> None:
    c = Choice("x", options=[0, 1, 2], seed=0)
    with c.episode() as ep:
        vals = [ep.choose() for _ in range(3)]
        ep.reward(2.0)
    pol = c.policy
    assert isinstance(pol, EpsilonGreedy)
    assert sum(pol.counts) == 3
    for v in set(vals):
        assert pol.means[v] == 2.0
    with pytest.raises(InvalidParameterError, match="already has its reward"):
        ep.reward(1.0)
    # an episode left without a reward credits the default reward
    c2 = Choice("x", options=[0, 1], default_reward=-5.0, seed=0)
    with c2.episode() as ep2:
        ep2.choose()
    assert c2.pending == 0 and min(c2.policy.means) == -5.0  # type: ignore[union-attr]


def test_sequence_episode_learns_best_sequence() -> None:
    # a sequence of 3 choices, one reward at the end; best is [2, 2, 2]
    c = Choice("seq", options=[0, 1, 2], policy=UCB1(c=0.5, seed=0))
    for _ in range(1500):
        with c.episode() as ep:
            seq = [ep.choose() for _ in range(3)]
            ep.reward(sum(seq) / 6.0)
    assert c.greedy() == 2


def test_option_spaces() -> None:
    c = Choice("n", options=IntRange(16, 4096, log=True), seed=0)
    assert c.space.values() == [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    c = Choice("f", options=FloatRange(0.0, 1.0, steps=5), seed=0)
    assert c.space.values() == [0.0, 0.25, 0.5, 0.75, 1.0]
    c = Choice("r", options=range(2, 10, 2), seed=0)
    assert c.space.values() == [2, 4, 6, 8]
    d = c.choose()
    assert d.value in (2, 4, 6, 8)
    c = Choice("s", options={"a": ["x", "y"], "b": range(3)}, seed=0)
    d = c.choose()
    assert set(d.value) == {"a", "b"} and len(d.action) == 2
    c.feedback(d, 1.0)
    with pytest.raises(InvalidParameterError, match="'options' parameter of Choice"):
        Choice("bad", options=[])
    with pytest.raises(InvalidParameterError, match="'options' parameter of Choice"):
        Choice("bad", options=3.5)
    with pytest.raises(InvalidParameterError, match="'low' parameter of IntRange"):
        IntRange(0, 10, log=True)


def test_bad_choice_parameters() -> None:
    with pytest.raises(InvalidParameterError, match="'name' parameter of Choice"):
        Choice("", options=[1])
    with pytest.raises(InvalidParameterError, match="'mode' parameter of Choice"):
        Choice("x", options=[1], mode="yolo")
    with pytest.raises(InvalidParameterError, match="needs a 'default'"):
        Choice("x", options=[1, 2], mode="shadow")
    with pytest.raises(InvalidParameterError, match="'policy' parameter of Choice"):
        Choice("x", options=[1, 2], policy="magic")
    with pytest.raises(InvalidParameterError, match="'handover' parameter of Choice"):
        Choice("x", options=[1, 2], default=1, handover=2.0)
    with pytest.raises(InvalidParameterError, match="not one of the options"):
        Choice("x", options=[1, 2], default=3, mode="shadow").choose()
    with pytest.raises(InvalidParameterError, match="numeric vector"):
        Choice("x", options=[1, 2]).choose(context="text")


def _env(c: Choice, n: int, rng: random.Random, arms: list[float] = ARMS) -> list[Decision]:
    out = []
    for _ in range(n):
        d = c.choose()
        out.append(d)
        c.feedback(d, 1.0 if rng.random() < arms[c.space.index(d.value)] else 0.0)
    return out


def test_shadow_mode_serves_the_default_and_learns() -> None:
    c = Choice("x", options=list(range(4)), default=1, mode="shadow", seed=0)
    ds = _env(c, 2000, random.Random(100))
    assert all(d.value == 1 and d.served == "default" and d.propensity == 1.0 for d in ds)
    pol = c.policy
    assert isinstance(pol, EpsilonGreedy)
    assert pol.counts[1] == 2000 and abs(pol.means[1] - 0.5) < 0.05  # learned the default's value
    assert 0.0 <= c.agreement.mean <= 1.0


def test_gradual_handover_propensities() -> None:
    c = Choice("x", options=list(range(4)), default=0, handover=0.25, seed=0)
    ds = _env(c, 20_000, random.Random(1))
    served_policy = [d for d in ds if d.served == "policy"]
    frac = len(served_policy) / len(ds)
    assert abs(frac - 0.25) < 0.02
    # the propensity of each served value is its true serving probability: importance weights
    # of the served values average to the number of options reached (a consistency check)
    late = ds[10_000:]
    freq = np.bincount([d.value for d in late], minlength=4) / len(late)
    mean_p = [np.mean([d.propensity for d in late if d.value == a]) for a in range(4)]
    np.testing.assert_allclose(freq, mean_p, atol=0.02)
    c.set_handover(1.0)
    assert all(d.served == "policy" for d in _env(c, 100, random.Random(2)))


class _Worst(DecidePolicy):
    """Always the worst arm: the guardrail must catch it."""

    def _allocate(self) -> None:
        pass

    def _draw(self, context: object) -> tuple[int, float]:
        return 0, 1.0

    def _learn(self, arm: int, reward: float, context: object) -> None:
        self.version += 1


def test_guardrail_falls_back_to_the_default() -> None:
    c = Choice("x", options=list(range(4)), policy=_Worst(), default=3, handover=0.5, guardrail=True, guardrail_min=50, seed=0)
    ds = _env(c, 3000, random.Random(3))
    assert c.guardrail_tripped
    tail = ds[-500:]
    assert all(d.value == 3 and d.served == "default" for d in tail)
    # a good policy does not trip it
    good = Choice("x", options=list(range(4)), default=0, handover=0.5, guardrail=True, guardrail_min=50, seed=0)
    _env(good, 3000, random.Random(3))
    assert not good.guardrail_tripped
    c.reset_guardrail()
    assert not c.guardrail_tripped


def test_save_and_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = Choice("x", options=list(range(4)), seed=0)
    _env(c, 3000, random.Random(100))
    path = tmp_path / "choice.lsys"
    c.save(path)
    twin = Choice("x", options=list(range(4)), seed=5).load(path)
    assert twin.greedy() == c.greedy() == 3
    assert twin.policy.state() == c.policy.state()  # type: ignore[union-attr]
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FormatError):
        Choice("x", options=list(range(4))).load(path)
    c.save(path)
    with pytest.raises(InvalidParameterError, match="snapshot"):
        Choice("x", options=list(range(3))).load(path)
    with pytest.raises(InvalidParameterError, match="snapshot"):
        Choice("x", options=list(range(4)), policy="ucb1").load(path)


def test_generic_policy_through_the_shared_interface() -> None:
    """Any learnedsys.policy.Policy works, not only the decide ones."""
    from learnedsys.policy import ActionSpace, Policy

    class Fixed(Policy):
        def __init__(self) -> None:
            super().__init__(ActionSpace((3,)))
            self.seen: list[float] = []

        def propose(self, context: object = None) -> Proposal:
            return Proposal((2,), 1.0)

        def update(self, proposal: Proposal, reward: float, context: object = None) -> None:
            self.seen.append(reward)

    pol = Fixed()
    c = Choice("x", options=["a", "b", "c"], policy=pol)
    d = c.choose()
    assert d.value == "c"
    c.feedback(d, 0.25)
    assert pol.seen == [0.25]
