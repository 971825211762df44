"""Adversarial review of the decide hot path against plain oracles.

The ring of pending decisions and its spill against a dict of pending ids; the incremental argmax
against a full argmax; the fused EpsilonGreedy runner against a reference epsilon-greedy written
here; reward validation on every path (fused, plain, plain with logging, guarded); reward wait
expiry, episodes, mode switches, hand-over propensities, state round trips and seeds.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnedsys._validation import InvalidParameterError
from learnedsys.decide import Choice, EpsilonGreedy
from learnedsys.policy import ActionSpace, Proposal

BAD_REWARDS: list[Any] = [math.nan, math.inf, -math.inf, np.float64("nan"), np.float32("inf"), 1 + 0j, "1.5", b"1", None, [1.0], 10**400]

# (name, Choice kwargs) for each path feedback can take
PATHS: list[tuple[str, dict[str, Any]]] = [
    ("fused", {}),
    ("plain", {"policy": "ucb1"}),
    ("guarded", {"default": 0, "handover": 0.5}),
    ("wait", {"reward_wait": 1e6}),
]


def _mk(kw: dict[str, Any], tmp_path: Any = None, **extra: Any) -> Choice:
    return Choice("c", options=list(range(5)), seed=3, **{**kw, **extra})


def _snapshot(c: Choice) -> tuple[Any, ...]:
    pol = c.policy
    assert pol is not None
    return (list(pol.counts), list(pol._means), pol.version, c.pending)  # type: ignore[attr-defined]


def _ref_learn(counts: list[int], means: list[float], arm: int, r: float) -> None:
    n = counts[arm] + 1
    counts[arm] = n
    means[arm] = r if n == 1 else means[arm] + (r - means[arm]) / n


# -- the ring and its spill against a dict ------------------------------------------------------


@pytest.mark.parametrize("path", ["fused", "plain", "guarded", "log"])
@pytest.mark.parametrize("max_pending", [1, 3, 700, 1024, 1500, 100_000])
def test_ring_and_spill_against_a_dict(path: str, max_pending: int, tmp_path: Any) -> None:
    kw: dict[str, Any] = dict(PATHS)[path] if path != "log" else {"log": str(tmp_path / "log.sqlite")}
    c = Choice("c", options=list(range(5)), seed=3, max_pending=max_pending, default_reward=-0.5, **kw)
    rng = random.Random(max_pending)
    pending: dict[int, Any] = {}  # the oracle: id -> decision, oldest first
    done: set[int] = set()
    every: list[Any] = []
    counts, means = [0] * 5, [0.0] * 5

    def credit(d: Any, r: float) -> None:
        del pending[d.id]
        done.add(d.id)
        _ref_learn(counts, means, d._arm, r)

    def reward_of(d: Any) -> float:
        return (d.id % 101) / 7.0 - 3.0  # distinct per decision: a wrong credit shows in the means

    n_ops = 5000 if path != "log" else 2500
    for step in range(n_ops):
        choose_p = 0.75 if step < n_ops * 0.6 else 0.2
        u = rng.random()
        if u < choose_p or not pending:
            d = c.choose()
            assert d.id not in pending and d.id not in done
            pending[d.id] = d
            every.append(d)
            # the registry's rule: beyond max_pending pending, the oldest expires (default reward),
            # whether or not the ring has free slots
            if len(pending) > max_pending:
                credit(pending[next(iter(pending))], -0.5)
            assert len(pending) <= max_pending
        else:
            v = rng.random()
            keys = list(pending) if v < 0.9 else []
            if v < 0.6:
                d = pending[keys[rng.randrange(len(keys))]]
            elif v < 0.8:
                d = pending[keys[-1 - rng.randrange(min(len(keys), 3))]]  # the newest: ring slots reused at once
            elif v < 0.9:
                d = pending[keys[0]]  # the oldest: spilled ones
            else:
                d = None
            if d is not None and rng.random() < 0.05:  # a bad reward: rejected, nothing changes
                before = _snapshot(c)
                with pytest.raises(InvalidParameterError):
                    c.feedback(d if rng.random() < 0.5 else d.id, rng.choice(BAD_REWARDS))
                assert _snapshot(c) == before
            elif d is not None:
                c.feedback(d if rng.random() < 0.5 else d.id, reward_of(d))
                credit(d, reward_of(d))
            elif done:  # a decision already rewarded or expired (its slot possibly reused)
                old = every[rng.randrange(len(every))]
                if old.id in done:
                    before = _snapshot(c)
                    with pytest.raises(InvalidParameterError):
                        c.feedback(old if rng.random() < 0.5 else old.id, 1.0)
                    assert _snapshot(c) == before
        if step % 250 == 0 or step == n_ops - 1:
            assert c.pending == len(pending)
            assert [d.done for d in every] == [d.id not in pending for d in every]
            pol = c.policy
            assert pol is not None
            assert list(pol.counts) == counts  # type: ignore[attr-defined]
            tried = [m for n, m in zip(counts, means, strict=True) if n]
            assert [m for n, m in zip(pol.counts, pol.means, strict=True) if n] == tried  # type: ignore[attr-defined]
    c.close()


def test_feedback_of_an_expired_decision_whose_slot_was_reused() -> None:
    for kw in (dict(p) for _, p in PATHS):
        c = Choice("c", options=[0, 1, 2], seed=0, max_pending=4, default_reward=0.0, **kw)
        first = c.choose()
        later = [c.choose() for _ in range(4)]  # first expired; its ring slot (id & 3) holds later[3]
        assert first.done and later[3].id & 3 == first.id & 3
        before = _snapshot(c)
        for key in (first, first.id):
            with pytest.raises(InvalidParameterError, match=r"already has its reward|no decision"):
                c.feedback(key, 100.0)
        assert _snapshot(c) == before and not later[3].done
        c.feedback(later[3], 1.0)
        with pytest.raises(InvalidParameterError):
            c.feedback(later[3], 1.0)


# -- rewards: numbers of any type as Python floats, anything else rejected ----------------------


@pytest.mark.parametrize("path", [p for p, _ in PATHS] + ["log"])
def test_bad_rewards_are_rejected_and_change_nothing(path: str, tmp_path: Any) -> None:
    kw = dict(PATHS)[path] if path != "log" else {"log": str(tmp_path / "log.sqlite")}
    c = _mk(kw)
    d = c.choose()
    c.feedback(c.choose(), 0.25)
    for bad in BAD_REWARDS:
        before = _snapshot(c)
        for key in (d, d.id):
            with pytest.raises(InvalidParameterError, match="reward"):
                c.feedback(key, bad)
        assert _snapshot(c) == before and not d.done, bad
    c.feedback(d, 1.0)
    assert d.done
    c.close()


@pytest.mark.parametrize("path", [p for p, _ in PATHS] + ["log"])
def test_numeric_rewards_are_learned_as_python_floats(path: str, tmp_path: Any) -> None:
    # the means equal a float64 oracle fed float(r): no float32 / int8 arithmetic creeps in
    kw = dict(PATHS)[path] if path != "log" else {"log": str(tmp_path / "log.sqlite")}
    c = Choice("c", options=[0], seed=0, **kw)
    rewards: list[Any] = [np.int8(100), np.int8(-100), np.float32(0.1), 1e39, -1e39, np.uint8(200), True, 3, np.float16(0.5),
                          np.float64(0.2), np.int64(-7), 2.5]
    counts, means = [0], [0.0]
    c.choose()  # installs the hot path (never rewarded): the first reward below goes through it
    for r in rewards:
        c.feedback(c.choose(), r)
        _ref_learn(counts, means, 0, float(r))
        pol = c.policy
        assert pol is not None
        assert pol.counts == counts  # type: ignore[attr-defined]
        assert pol.means == means, r  # type: ignore[attr-defined]
        assert all(isinstance(m, float) for m in pol.means)  # type: ignore[attr-defined]
    c.close()


# -- the incremental argmax against a full argmax -----------------------------------------------

_reward = st.one_of(
    st.integers(-3, 3),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 5e-324, -5e-324]),
)


@settings(max_examples=150, deadline=None)
@given(k=st.integers(1, 6), seq=st.lists(st.tuples(st.integers(0, 5), _reward), max_size=60))
def test_incremental_argmax_is_a_full_argmax(k: int, seq: list[tuple[int, float]]) -> None:
    pol = EpsilonGreedy(ActionSpace((k,)), epsilon=0.1, seed=0)
    counts, means = [0] * k, [-math.inf] * k
    for a, r in seq:
        a %= k
        pol.update(Proposal((a,)), r)
        _ref_learn(counts, means, a, float(r))
        assert pol.counts == counts
        best = pol.greedy()[0]
        assert means[best] == max(means)
        # the draws exploit an argmax too
        assert pol._draw(None)[0] in range(k)
    # a state round trip keeps everything (and the greedy arm is still an argmax)
    twin = EpsilonGreedy(ActionSpace((k,)), epsilon=0.1, seed=0)
    twin.load_state(json.loads(json.dumps(pol.state())))
    assert twin.state() == pol.state()
    assert means[twin.greedy()[0]] == max(means)


@settings(max_examples=60, deadline=None)
@given(seq=st.lists(st.tuples(st.integers(0, 3), _reward), min_size=1, max_size=80), seed=st.integers(0, 2**16))
def test_fused_runner_against_a_reference_epsilon_greedy(seq: list[tuple[int, float]], seed: int) -> None:
    # the Choice's fused choose/feedback against a plain epsilon-greedy written here, on the same
    # random stream: same arms, propensities and versions (the greedy arm, whichever of tied arms
    # the policy keeps, must be an argmax of the reference means)
    k, floor, explore = 4, 0.1, 8.0
    c = Choice("c", options=list("abcd"), policy=EpsilonGreedy(epsilon=floor, explore=8, seed=seed), seed=0)
    rng = random.Random(seed)
    counts, means = [0] * k, [-math.inf] * k
    for t, (_, r) in enumerate(seq, 1):
        version = t - 1
        pol = c.policy
        assert isinstance(pol, EpsilonGreedy)
        best = pol._best if pol._bound else 0
        assert means[best] == max(means)
        eps = min(1.0, max(floor, explore / t))
        u = rng.random()
        arm, p = best, 1.0 - eps + eps / k
        if u < eps and int(u / eps * k) != best:
            arm, p = int(u / eps * k), eps / k
        d = c.choose()
        assert (d._arm, d.value, d.version) == (arm, "abcd"[arm], version)
        assert d.propensity == pytest.approx(p, rel=1e-12)
        c.feedback(d, r)
        _ref_learn(counts, means, arm, float(r))
    assert c.policy.state()["counts"] == counts  # type: ignore[union-attr]


# -- reward wait: the default reward exactly once -----------------------------------------------


def test_reward_wait_credits_the_default_exactly_once(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    c = Choice("c", options=[0, 1, 2], reward_wait=10.0, default_reward=-2.0, max_pending=1500, seed=1)
    ds: list[Any] = []
    for i in range(3000):
        clock[0] += 0.01
        ds.append(c.choose())  # automatic expiry every 256 decisions: the first ones go
        if i % 3 == 0:
            c.feedback(ds[-1], 1.0)
    pol = c.policy
    assert isinstance(pol, EpsilonGreedy)
    rewarded = len(range(0, 3000, 3))
    expired = [d for d in ds if d.done and d.id % 3]
    assert sum(pol.counts) == rewarded + len(expired)
    assert c.pending == 3000 - rewarded - len(expired)
    # expired decisions are older than the wait; pending ones are younger
    assert all(clock[0] - d._t >= 10.0 - 256 * 0.01 - 1e-9 for d in expired)
    with pytest.raises(InvalidParameterError):
        c.feedback(expired[0], 1.0)
    clock[0] += 100.0
    left = c.pending
    assert c.expire() == left and c.pending == 0
    assert sum(pol.counts) == 3000 and c.expire() == 0
    total = sum(n_ * (m if n_ else 0.0) for n_, m in zip(pol.counts, pol.means, strict=True))
    assert total == pytest.approx(rewarded * 1.0 + (3000 - rewarded) * -2.0)


# -- episodes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [p for p, _ in PATHS])
def test_episode_credits_all_its_decisions(path: str) -> None:
    c = Choice("c", options=[0, 1, 2], seed=0, default_reward=-1.0, **dict(PATHS)[path])
    with c.episode() as ep:
        for _ in range(2500):  # beyond the ring
            ep.choose()
        with pytest.raises(InvalidParameterError, match="reward"):
            ep.reward(math.nan)  # rejected before anything is credited: the episode may still be rewarded
        assert c.pending == 2500
        ep.reward(0.5)
    assert c.pending == 0 and sum(c.policy.counts) == 2500  # type: ignore[union-attr]
    with c.episode() as ep:
        ep.choose()
        ep.choose()
    assert c.pending == 0 and sum(c.policy.counts) == 2502  # abandoned: the default reward, once


# -- mode switches ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["fused", "plain", "log"])
def test_mode_switches_keep_counts_consistent(path: str, tmp_path: Any) -> None:
    # decisions made before a switch are rewarded after it (on the plain path too: no recursion)
    kw: dict[str, Any] = {"plain": {"policy": "ucb1"}, "log": {"log": str(tmp_path / "l.sqlite")}}.get(path, {})
    c = Choice("c", options=list(range(4)), default=2, mode="shadow", seed=5, **kw)
    rng = random.Random(0)
    outstanding: list[Any] = []
    credited = 0
    phases = [("shadow", None), ("learn", 0.3), ("learn", 0.7), ("learn", 1.0), ("shadow", None), ("learn", 1.0)]
    for mode, h in phases:
        if h is None:
            c.mode = mode
        else:
            c.set_handover(h)
        for _ in range(600):
            d = c.choose()
            if mode == "shadow":
                assert d.served == "default" and d.value == 2 and d.propensity == 1.0
            elif h == 1.0:
                assert d.served == "policy"
            outstanding.append(d)
            if rng.random() < 0.6:  # rewards for decisions of earlier phases too
                e = outstanding.pop(rng.randrange(len(outstanding)))
                c.feedback(e, rng.random())
                credited += 1
        assert c.pending == len(outstanding)
        assert sum(c.policy.counts) == credited  # type: ignore[union-attr]
    for e in outstanding:
        c.feedback(e, 0.0)
    assert c.pending == 0 and sum(c.policy.counts) == credited + len(outstanding)  # type: ignore[union-attr]
    c.close()


def test_no_expiry_while_max_pending_or_fewer_are_pending() -> None:
    # the ring (1024 slots) has free slots: 1200 old decisions in the spill are within max_pending
    c = Choice("c", options=[0, 1], max_pending=1500, default_reward=-1.0, seed=0)
    ds: list[Any] = []
    for i in range(3000):
        ds.append(c.choose())
        if i >= 1200:
            c.feedback(ds[-1], 1.0)
    assert c.pending == 1200
    for _ in range(2000):
        c.feedback(c.choose(), 1.0)
    assert not any(d.done for d in ds[:1200]) and c.pending == 1200
    for d in ds[:1200]:
        c.feedback(d, 0.5)
    assert sum(c.policy.counts) == 5000 and min(c.policy.means) >= 0.5  # type: ignore[union-attr]


# -- max_pending is exact: a dict of pending ids as the oracle -----------------------------------

EXPIRY_PATHS: dict[str, dict[str, Any]] = {
    "fused": {},
    "plain": {"policy": "ucb1"},
    "log": {},  # a log: the plain closures around EpsilonGreedy's update
    "guarded": {"default": 0, "handover": 0.5},
    "wait": {"reward_wait": 1e9},  # expire(now) by hand (the clock is the test's: no automatic expiry)
    "switch": {"default": 0},  # hand-over switched on and off; references taken at the start kept
}


class _Oracle:
    """Pending decisions in age order, and what the policy must have learned from them."""

    def __init__(self, c: Choice, max_pending: int) -> None:
        self.c, self.max_pending = c, max_pending
        self.pending: dict[int, Any] = {}
        self.every: list[Any] = []
        self.resolved = 0
        self.overflows = 0  # decisions expired for being one more than max_pending
        self.counts, self.means = [0] * 5, [0.0] * 5

    def credit(self, d: Any, r: float) -> None:
        del self.pending[d.id]
        self.resolved += 1
        _ref_learn(self.counts, self.means, d._arm if isinstance(d._arm, int) else d.action[0], r)

    def made(self, d: Any) -> None:
        assert d.id not in self.pending and not d.done
        self.pending[d.id] = d
        self.every.append(d)
        if len(self.pending) > self.max_pending:  # one more than max_pending: the oldest expires
            oldest = self.pending[next(iter(self.pending))]
            assert oldest.done, (d.id, oldest.id, len(self.pending))
            self.credit(oldest, -0.5)
            self.overflows += 1
        first = self.pending[next(iter(self.pending))]
        assert not first.done  # and not one more: nothing expires at max_pending or fewer

    def check(self, full: bool) -> None:
        c = self.c
        assert c.pending == len(self.pending) <= self.max_pending
        assert c._pending.bound() == self.max_pending + self.resolved  # the count itself, on every path
        if full:
            assert [d.done for d in self.every] == [d.id not in self.pending for d in self.every]
            pol = c.policy
            assert list(pol.counts) == self.counts  # type: ignore[union-attr]
            got = [m for n, m in zip(pol.counts, pol.means, strict=True) if n]  # type: ignore[union-attr]
            assert got == [m for n, m in zip(self.counts, self.means, strict=True) if n]


@pytest.mark.parametrize("path", list(EXPIRY_PATHS))
@pytest.mark.parametrize("max_pending", [1, 3, 1024, 1025, 1500, 3000])
def test_expiry_is_exact_against_a_dict(path: str, max_pending: int, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    log = {"log": str(tmp_path / "l.sqlite")} if path == "log" else {}
    c = Choice("c", options=list(range(5)), seed=11, max_pending=max_pending, default_reward=-0.5, **EXPIRY_PATHS[path], **log)
    o = _Oracle(c, max_pending)
    rng = random.Random(max_pending * 31 + len(path))
    c.feedback(c.choose(), 0.0)  # set up (the references below are the hot path's, where there is one)
    o.every.append(None)
    o.every.pop()
    o.resolved, o.counts, o.means = 1, list(c.policy.counts), list(c.policy.means)  # type: ignore[union-attr]
    ch, fb = c.choose, c.feedback
    step = 0

    def reward_of(d: Any) -> float:
        return (d.id % 53) / 5.0 - 2.0

    # bursts: pending grows past max_pending, shrinks, grows again, then mixes
    for choose_p, steps in ((0.93, max_pending * 13 // 10 + 400), (0.3, max_pending // 2 + 200), (0.9, max_pending + 300), (0.55, 600)):
        for _ in range(steps):
            step += 1
            u = rng.random()
            if path == "switch" and u < 0.004:
                c.set_handover(rng.choice([1.0, 0.5]))
            elif u < choose_p or not o.pending:
                clock[0] += 1.0
                o.made((ch if path == "switch" and rng.random() < 0.5 else c.choose)())
            elif u < choose_p + (1.0 - choose_p) * 0.92:
                keys = list(o.pending)
                d = o.pending[keys[rng.randrange(len(keys))] if rng.random() < 0.7 else keys[0]]
                (fb if path == "switch" and rng.random() < 0.5 else c.feedback)(d if rng.random() < 0.7 else d.id, reward_of(d))
                o.credit(d, reward_of(d))
            elif u < choose_p + (1.0 - choose_p) * 0.96:
                # an abandoned episode: its decisions are made as by choose, then expire
                with c.episode() as ep:
                    for _ in range(rng.randint(1, 3)):
                        clock[0] += 1.0
                        ep.choose()
                        o.made(ep.decisions[-1])
                for d in ep.decisions:
                    if d.id in o.pending:
                        o.credit(d, -0.5)
            else:
                keys = list(o.pending)
                cut = o.pending[keys[rng.randrange(len(keys) // 32 + 1)]]  # among the oldest
                n = c.expire(now=cut._t + 1e9)  # expires cut and every older decision (ids follow the clock)
                if path == "wait":
                    old = [o.pending[i] for i in keys if i <= cut.id]
                    for d in old:
                        o.credit(d, -0.5)
                    assert n == len(old)
                else:
                    assert n == 0
            o.check(full=step % 97 == 0)
    o.check(full=True)
    assert o.overflows > 0  # the bursts went beyond max_pending
    for d in list(o.pending.values()):  # everything still pending takes its reward
        c.feedback(d, reward_of(d))
        o.credit(d, reward_of(d))
    o.check(full=True)
    assert c.pending == 0
    c.close()


@settings(max_examples=150, deadline=None)
@given(
    max_pending=st.integers(1, 6),
    path=st.sampled_from(["fused", "plain", "guarded", "wait"]),
    ops=st.lists(st.tuples(st.sampled_from(["choose", "choose", "feedback", "expire"]), st.integers(0, 10**6)), max_size=80),
)
def test_expiry_is_exact_for_small_max_pending(max_pending: int, path: str, ops: list[tuple[str, int]]) -> None:
    # small max_pending: the ring is smaller than 1024 slots (a power of two up to max_pending)
    clock = [0.0]
    c = Choice("c", options=list(range(5)), seed=1, max_pending=max_pending, default_reward=-0.5, **EXPIRY_PATHS[path])
    o = _Oracle(c, max_pending)
    real = time.monotonic
    time.monotonic = lambda: clock[0]  # (hypothesis and monkeypatch do not mix: restored below)
    try:
        for op, k in ops:
            if op == "choose" or not o.pending:
                clock[0] += 1.0
                o.made(c.choose())
            elif op == "feedback":
                d = list(o.pending.values())[k % len(o.pending)]
                c.feedback(d, float(k % 7))
                o.credit(d, float(k % 7))
            else:
                cut = list(o.pending.values())[k % len(o.pending)]
                n = c.expire(now=cut._t + 1e9)
                old = [d for d in o.pending.values() if d.id <= cut.id] if path == "wait" else []
                for d in old:
                    o.credit(d, -0.5)
                assert n == len(old)
            o.check(full=True)
    finally:
        time.monotonic = real


def test_handover_propensities_are_exact() -> None:
    # served with probability h * P_policy(value at this draw) + (1 - h) * [value == default]
    h, k, default = 0.4, 4, 1
    pol = EpsilonGreedy(epsilon=0.1, explore=40, seed=2)
    c = Choice("c", options=list(range(k)), policy=pol, default=default, handover=h, seed=2)
    rng = random.Random(4)
    c.feedback(c.choose(), 0.0)
    for _ in range(400):
        t = pol._t + 1
        eps = min(1.0, max(0.1, 40 / t))
        best = pol._best
        d = c.choose()
        v = d.value
        p_pol = (1.0 - eps + eps / k) if v == best else eps / k
        assert d.propensity == pytest.approx(h * p_pol + (1.0 - h) * (v == default), rel=1e-12), (t, d)
        c.feedback(d, rng.random() + (0.3 if v == 3 else 0.0))


def test_guardrail_fallback_keeps_counts() -> None:
    c = Choice("c", options=list(range(3)), default=0, handover=0.5, guardrail=True, guardrail_min=30, seed=0)
    n = 0
    for _ in range(2000):
        d = c.choose()
        c.feedback(d, 1.0 if d.value == 0 else 0.0)  # the default is best: the guardrail trips
        n += 1
    assert c.guardrail_tripped
    st_ = c.served_stats
    assert st_["policy"].n + st_["default"].n == n == sum(c.policy.counts)  # type: ignore[union-attr]
    assert all(c.choose().served == "default" for _ in range(50))


# -- state round trips and seeds ----------------------------------------------------------------

_SEQ = """
import json, sys
from learnedsys.decide import Choice
kw = json.loads(sys.argv[1])
c = Choice("c", options=list(range(5)), seed=11, **kw)
out = []
for i in range(3000):
    d = c.choose()
    out.append([d.value, d.propensity, d.served])
    c.feedback(d, ((i * 7919) % 13) / 13.0 + 0.1 * d.value)
print(json.dumps([out, c.policy.state()]))
"""


def _run(kw: dict[str, Any]) -> Any:
    if "log" in kw:
        kw = {**kw}
    out = subprocess.run([sys.executable, "-c", _SEQ, json.dumps(kw)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_same_seed_same_decisions_in_a_fresh_process(tmp_path: Any) -> None:
    runs = {name: _run(kw) for name, kw in PATHS}
    for name, kw in PATHS:
        c = Choice("c", options=list(range(5)), seed=11, **kw)
        out = []
        for i in range(3000):
            d = c.choose()
            out.append([d.value, d.propensity, d.served])
            c.feedback(d, ((i * 7919) % 13) / 13.0 + 0.1 * d.value)
        assert [out, c.policy.state()] == runs[name], name  # type: ignore[union-attr]
    # the fused path, the plain one (logging) and the reward-wait one draw the same
    c = Choice("c", options=list(range(5)), seed=11, log=str(tmp_path / "l.sqlite"))
    out = []
    for i in range(3000):
        d = c.choose()
        out.append([d.value, d.propensity, d.served])
        c.feedback(d, ((i * 7919) % 13) / 13.0 + 0.1 * d.value)
    c.close()
    assert out == runs["fused"][0] == runs["wait"][0]


def test_state_round_trip_mid_stream(tmp_path: Any) -> None:
    c = Choice("c", options=list(range(5)), seed=1)
    pending = [c.choose() for _ in range(2000)]
    for d in pending[::2]:
        c.feedback(d, d.id % 5 / 5.0)
    path = tmp_path / "s.lsys"
    c.save(path)
    twin = Choice("c", options=list(range(5)), seed=1).load(path)
    assert twin.policy.state() == c.policy.state()  # type: ignore[union-attr]
    pol, tp = c.policy, twin.policy
    assert isinstance(pol, EpsilonGreedy) and isinstance(tp, EpsilonGreedy)
    assert (tp._t, tp.version, tp._best) == (pol._t, pol.version, pol._best)
    # loading into a live Choice keeps its hot path and its pending decisions
    c.load(path)
    for d in pending[1::2]:
        c.feedback(d, 1.0)
    assert c.pending == 0 and sum(pol.counts) == 2000 and pol.version == 2000
