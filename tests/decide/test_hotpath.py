"""The hot path's parts on their own: the registry of pending decisions against a dict, the fused
path on the policy's own state, the one shape of a decision's action, and the log's one row
layout for every writer (plain, guarded, structured, observed)."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from typing import Any

import pytest

from learnedsys.decide import Choice, EpsilonGreedy
from learnedsys.decide._hotpath import RING, Pending, fused_epsilon_greedy
from learnedsys.policy import ActionSpace, Proposal, RandomPolicy

# -- the registry against a dict of pending ids ---------------------------------------------------


class _Model:
    """Pending decisions as a dict in age order, with the registry's rules written plainly."""

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        self.pending: dict[int, tuple[str, int]] = {}
        self.resolved = 0
        self.expired: list[int] = []

    def add(self, d: tuple[str, int]) -> None:
        self.pending[d[1]] = d
        while len(self.pending) > self.max_pending:  # one more than max_pending: the oldest expires
            oldest = next(iter(self.pending))
            del self.pending[oldest]
            self.resolved += 1
            self.expired.append(oldest)

    def remove(self, d: tuple[str, int]) -> bool:
        if self.pending.get(d[1]) is not d:
            return False
        del self.pending[d[1]]
        self.resolved += 1
        return True

    def expire_one(self, i: int) -> None:
        if i in self.pending:
            del self.pending[i]
            self.resolved += 1
            self.expired.append(i)


@pytest.mark.parametrize("max_pending", [1, 2, 3, 5, 8, 100, 1023, 1024, 1025, 2500])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_registry_against_a_dict(max_pending: int, seed: int) -> None:
    rng = random.Random(seed * 7919 + max_pending)
    expired: list[int] = []
    reg = Pending(max_pending, lambda d: expired.append(d[1]))
    model = _Model(max_pending)
    size = len(reg.ring)
    assert size & (size - 1) == 0 and size <= min(max_pending, RING) < 2 * size
    made: list[tuple[str, int]] = []
    n_ops = 6000
    for step in range(n_ops):
        u = rng.random()
        grow = 0.75 if (step // 1500) % 2 == 0 else 0.35  # bursts: past max_pending, then back
        if u < grow or not model.pending:
            d = ("d", len(made))
            made.append(d)
            reg.add(d)
            model.add(d)
        elif u < grow + (1 - grow) * 0.7:
            keys = list(model.pending)
            pick = rng.random()
            if pick < 0.5:
                i = keys[rng.randrange(len(keys))]
            elif pick < 0.75:
                i = keys[-1 - rng.randrange(min(3, len(keys)))]  # the newest: ring slots freed at once
            else:
                i = keys[0]  # the oldest: spilled ones
            assert reg.remove(model.pending[i]) == model.remove(model.pending[i]) is True
        elif u < grow + (1 - grow) * 0.85:
            # a decision not pending (resolved, its slot possibly reused) or an impostor with a pending id
            d = made[rng.randrange(len(made))]
            if d[1] in model.pending and rng.random() < 0.5:
                d = ("impostor", d[1])
            assert reg.remove(d) == model.remove(d)
        else:
            i = rng.randrange(len(made) + 5) if rng.random() < 0.3 else next(iter(model.pending))
            reg.expire_one(i)
            model.expire_one(i)
        assert len(reg) == len(model.pending)
        assert reg.bound() == max_pending + model.resolved
        if step % 50 == 0 or step == n_ops - 1:
            assert [d[1] for d in reg.in_age_order()] == list(model.pending)
            assert expired == model.expired
            for i in rng.sample(range(len(made) + 3), min(40, len(made) + 3)):
                assert reg.find(i) is model.pending.get(i)
            for d in rng.sample(made, min(20, len(made))):
                assert reg.holds(d) == (reg.ring[d[1] & reg.mask] is d)
    assert len(model.expired) > 0 or max_pending > 2500


def test_registry_expired_is_told_after_the_decision_left() -> None:
    seen: list[tuple[int, int | None]] = []
    reg: Pending = Pending(2, lambda d: seen.append((d[1], None if reg.find(d[1]) is None else d[1])))
    for i in range(4):
        reg.add(("d", i))  # type: ignore[arg-type]
    assert seen == [(0, None), (1, None)] and len(reg) == 2


# -- the fused path runs on the policy's own state ----------------------------------------------


def test_fused_path_and_policy_share_one_state() -> None:
    pol = EpsilonGreedy(epsilon=0.1, explore=20, seed=4)
    c = Choice("c", options=list("abc"), policy=pol, seed=0)
    c.feedback(c.choose(), 1.0)
    ch, fb = c.choose, c.feedback
    assert "choose" in c.__dict__  # the fused closures are installed
    for i in range(300):
        d = ch()
        assert d.version == pol.version == i + 1
        fb(d, float(d.value == "c"))
        assert pol._t == i + 2 and pol.version == i + 2
    # the policy's own draw advances the same t; its loaded state is what the closures see
    pol._draw()
    assert pol._t == 302
    state = pol.state()
    state["counts"], state["means"] = [5, 5, 5], [0.0, 0.0, 9.0]
    pol.load_state(state)
    assert pol._best == 2
    ds = [ch() for _ in range(60)]  # past the exploration: the floor's propensities, "c" the greedy arm
    assert {(d.value, d.propensity) for d in ds} <= {("c", 1 - 0.1 + 0.1 / 3), ("a", 0.1 / 3), ("b", 0.1 / 3)}
    assert sum(d.value == "c" for d in ds) > 40 and all(d.version == pol.version for d in ds)
    for d in ds:
        fb(d, 9.0)
    assert pol.counts == [5 + sum(d.value == v for d in ds) for v in "abc"] and pol.version == 301 + 60


def test_fused_path_needs_the_policys_cells() -> None:
    class Partial(EpsilonGreedy):
        def _shared_cells(self) -> dict[str, Any]:
            cells = super()._shared_cells()
            del cells["hi"]
            return cells

    pol = Partial(ActionSpace((3,)), seed=0)
    c = Choice("c", options=[0, 1, 2], policy=pol, seed=0, log=None)
    with pytest.raises(TypeError, match=r"Partial does not share \['hi'\]"):
        c.choose()  # the hot path is built on the first call
    full = EpsilonGreedy(ActionSpace((3,)), seed=0)
    choose, _ = fused_epsilon_greedy(full, Pending(4, lambda d: None), [0, 1, 2], iter(range(9)), c, Choice.feedback, tuple)
    assert choose()[1] == 0 and full._t == 1  # the same construction on the complete set of cells


# -- one action shape -----------------------------------------------------------------------------

SHAPES: list[tuple[str, dict[str, Any], bool]] = [
    ("fused", {}, False),
    ("plain", {"policy": "ucb1"}, False),
    ("guarded", {"default": 1, "handover": 0.5}, False),
    ("shadow", {"default": 1, "mode": "shadow"}, False),
    ("no fast path", {"policy": "random"}, False),
    ("no fast path, guarded", {"policy": "random", "default": 1, "handover": 0.5}, False),
    ("structured", {}, True),
    ("structured, guarded", {"default": {"a": 1, "b": "y"}, "handover": 0.5}, True),
]


@pytest.mark.parametrize(("name", "kw", "structured"), SHAPES, ids=[s[0] for s in SHAPES])
def test_a_decision_keeps_its_action_in_one_shape(name: str, kw: dict[str, Any], structured: bool) -> None:
    options: Any = {"a": [0, 1, 2], "b": ["x", "y"]} if structured else [0, 1, 2]
    c = Choice("c", options=options, seed=0, **_kw(kw))
    for _ in range(200):
        d = c.choose()
        arm = d._arm
        if structured:
            assert type(arm) is tuple and d.action == arm and len(arm) == 2
            assert all(type(a) is int for a in arm)
        else:
            assert type(arm) is int and d.action == (arm,)
        assert not any(isinstance(x, Proposal) for x in (arm, *d.action))
        if d._proposal is not None:  # a policy without a fast path gets its proposal back
            assert d._proposal.action == d.action
        c.feedback(d, 0.5)
    assert c.pending == 0


# -- the log: one row layout for every writer -----------------------------------------------------

LOGGED: list[tuple[str, dict[str, Any], bool]] = [
    ("plain", {}, False),
    ("plain ucb1", {"policy": "ucb1"}, False),
    ("guarded", {"default": 1, "handover": 0.5}, False),
    ("no fast path", {"policy": "random"}, False),
    ("structured", {}, True),
]


def _kw(kw: dict[str, Any]) -> dict[str, Any]:
    return {**kw, "policy": RandomPolicy(seed=0)} if kw.get("policy") == "random" else kw


@pytest.mark.parametrize(("name", "kw", "structured"), LOGGED, ids=[s[0] for s in LOGGED])
def test_log_rows_are_laid_out_alike_by_every_writer(name: str, kw: dict[str, Any], structured: bool, tmp_path: Any) -> None:
    options: Any = {"a": [0, 1, 2], "b": ["x", "y"]} if structured else [0, 1, 2]
    path = tmp_path / "log.sqlite"
    c = Choice("c", options=options, seed=0, log=str(path), max_pending=20, default_reward=-1.0, **_kw(kw))
    t0 = time.time()
    made = []
    for i in range(120):
        d = c.choose(None)
        made.append(d)
        if i % 3:
            c.feedback(d, i / 10)
    observed = {"a": 2, "b": "x"} if structured else 2
    c.observe(observed, 0.25)
    c.close()
    t1 = time.time()
    con = sqlite3.connect(path)
    rows = {r[2]: r for r in con.execute("SELECT * FROM decisions")}
    rewards = {r[2]: r for r in con.execute("SELECT * FROM rewards")}
    con.close()
    assert len(rows) == 121
    for d in made:  # the layout every writer wrote before there was one place for it
        row = rows[d.id]
        assert row[:3] == ("c", c.run, d.id) and t0 <= row[3] <= t1
        assert row[4:] == (None, str(list(d.action)), json.dumps(d.value), d.propensity, d.version, d.served)
    expired = {d.id for i, d in enumerate(made) if not i % 3 and d.done}
    assert expired  # max_pending 20: the oldest unrewarded ones expired with the default reward
    for i, d in enumerate(made):
        if i % 3:
            assert rewards[d.id][:4] == ("c", c.run, d.id, i / 10) and rewards[d.id][5] == 0
        elif d.id in expired:
            assert rewards[d.id][3] == -1.0 and rewards[d.id][5] == 1
    seen = rows[-1]
    action = [2, 0] if structured else [2]
    assert seen[4:] == (None, str(action), json.dumps(observed), None, seen[8], "observed")
    assert rewards[-1][3] == 0.25 and rewards[-1][5] == 0 and rewards[-1][4] == seen[3]
