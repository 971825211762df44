"""Randomized stress of Choice's bookkeeping (a Hypothesis state machine): whatever the order of
choose / feedback / feedback by id / expiry / hand-over switches, every decision is rewarded at
most once, the policy learns exactly the rewards that were accepted, and pending is exact."""

from __future__ import annotations

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule  # noqa: E402

from learnedsys._validation import InvalidParameterError  # noqa: E402
from learnedsys.decide import Choice, EpsilonGreedy  # noqa: E402


class ChoiceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.choice = Choice("m", options=["a", "b", "c"], default="a", default_reward=-1.0, max_pending=20, seed=0)
        self.open: list = []  # decisions the model believes pending
        self.closed: list = []
        self.learned = 0  # rewards the policy must have seen

    def _sync_evicted(self) -> None:
        # max_pending evicts the oldest tenth (with the default reward): mirror it
        still = [d for d in self.open if not d.done]
        gone = [d for d in self.open if d.done]
        self.learned += len(gone)
        self.closed += gone
        self.open = still

    @rule()
    def choose(self) -> None:
        d = self.choice.choose()
        assert d.value in ("a", "b", "c") and 0 < d.propensity <= 1
        self.open.append(d)
        self._sync_evicted()

    @precondition(lambda self: self.open)
    @rule(i=st.integers(0, 10**6), r=st.floats(-5, 5), by_id=st.booleans())
    def feedback(self, i: int, r: float, by_id: bool) -> None:
        d = self.open.pop(i % len(self.open))
        self.choice.feedback(d.id if by_id else d, r)
        self.closed.append(d)
        self.learned += 1

    @precondition(lambda self: self.closed)
    @rule(i=st.integers(0, 10**6))
    def feedback_twice(self, i: int) -> None:
        d = self.closed[i % len(self.closed)]
        with pytest.raises(InvalidParameterError):
            self.choice.feedback(d, 1.0)

    @rule(h=st.sampled_from([0.0, 0.5, 1.0]))
    def handover(self, h: float) -> None:
        self.choice.set_handover(h)

    @precondition(lambda self: self.open)
    @rule()
    def episode_abandoned(self) -> None:
        with self.choice.episode() as ep:
            ep.choose()  # may evict the oldest pending decisions, like choose()
        self.learned += 1  # credited with the default reward
        self._sync_evicted()

    @invariant()
    def bookkeeping(self) -> None:
        assert self.choice.pending == len(self.open)
        pol = self.choice.policy
        if isinstance(pol, EpsilonGreedy):
            assert sum(pol.counts) == self.learned
            assert pol.version == self.learned


TestChoiceMachine = ChoiceMachine.TestCase
TestChoiceMachine.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
