"""Uniform random search over an action space: the baseline every learned policy must beat."""

from __future__ import annotations

import math
from typing import Any

from learnedsys.policy._base import ActionSpace, BasePolicy, Proposal

__all__ = ["RandomPolicy"]


class RandomPolicy(BasePolicy):
    """Draws every position uniformly and independently; learns nothing but the best action seen.

    ``propensity`` is the exact probability of the drawn action, ``1 / prod(sizes)``;
    :meth:`greedy` is the best-rewarded action so far (a proposal before any reward).
    Cost: O(positions) per proposal.
    """

    single = False

    def __init__(self, space: ActionSpace | None = None, *, seed: int | None = None) -> None:
        super().__init__(space, seed=seed)

    def _allocate(self) -> None:
        self._p = 1.0 / math.prod(self.space.sizes)
        self._best: tuple[tuple[int, ...], float] | None = None

    def propose(self, context: Any = None) -> Proposal:
        self._check_bound()
        r = self._rng.randrange
        return Proposal(tuple(r(s) for s in self.space.sizes), self._p)

    def probability(self, arm: int | tuple[int, ...], context: Any = None) -> float:
        action = (arm,) if isinstance(arm, int) else tuple(arm)
        return self._p if self.space.contains(action) else 0.0

    def update(self, proposal: Proposal, reward: float, context: Any = None) -> None:
        self._check_bound()
        r = float(reward)
        if self._best is None or r > self._best[1]:
            self._best = (tuple(int(a) for a in proposal.action), r)
        self.version += 1

    def greedy(self, context: Any = None) -> tuple[int, ...]:
        self._check_bound()
        return self._best[0] if self._best is not None else self.propose(context).action

    def _state(self) -> dict[str, Any]:
        return {"best": None if self._best is None else [list(self._best[0]), self._best[1]]}

    def _load(self, state: dict[str, Any]) -> None:
        best = state.get("best")
        self._best = None if best is None else (tuple(int(a) for a in best[0]), float(best[1]))
