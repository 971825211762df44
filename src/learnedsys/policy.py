"""The policy interface shared by :mod:`learnedsys.decide`, :mod:`learnedsys.placement` and
:mod:`learnedsys.nas`.

A policy proposes an action, possibly given a context, and later learns from the reward that
action earned. The control loop stays with the caller (ask/tell, as in Optuna's ``Study.ask`` /
``Study.tell``)::

    policy = SomePolicy(space, seed=0)
    for _ in range(budget):
        proposal = policy.propose(context)
        reward = evaluate(proposal.action)
        policy.update(proposal, reward)

An *action* is a tuple of ints: one int for a single choice among ``space.sizes[0]`` options, or one
int per position for a sequence of choices (device per operation group, token per architecture
slot). ``Proposal.propensity`` is the probability with which the policy drew the action, which
off-policy evaluation needs; ``Proposal.info`` carries whatever the policy must remember to learn
from it (log-probabilities, features).

A new policy is one short class: implement :meth:`Policy.propose` and :meth:`Policy.update`;
:meth:`Policy.state` / :meth:`Policy.load_state` make snapshots (JSON-compatible dicts of lists and
numbers) that other processes load.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from learnedsys._validation import InvalidParameterError

__all__ = ["ActionSpace", "Policy", "Proposal"]


@dataclass(frozen=True)
class ActionSpace:
    """Sizes of each position of an action: ``(k,)`` for one choice among k options,
    ``(k1, k2, ...)`` for a sequence of choices."""

    sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.sizes, tuple) or not self.sizes:
            raise InvalidParameterError(
                f"The 'sizes' parameter of ActionSpace must be a non-empty tuple of ints >= 1. Got {self.sizes!r} instead."
            )
        for i, s in enumerate(self.sizes):
            if isinstance(s, bool) or not isinstance(s, int) or s < 1:
                raise InvalidParameterError(
                    f"The 'sizes' parameter of ActionSpace must hold ints >= 1; sizes[{i}] is {s!r}."
                )

    @classmethod
    def single(cls, n_options: int) -> ActionSpace:
        return cls((n_options,))

    def contains(self, action: tuple[int, ...]) -> bool:
        return len(action) == len(self.sizes) and all(
            0 <= a < s for a, s in zip(action, self.sizes, strict=True)
        )


@dataclass(frozen=True)
class Proposal:
    """An action drawn by a policy, with the probability it was drawn with."""

    action: tuple[int, ...]
    propensity: float = 1.0
    info: dict[str, Any] = field(default_factory=dict, compare=False)


class Policy(ABC):
    """Proposes actions in an :class:`ActionSpace` and learns from rewards (higher is better)."""

    def __init__(self, space: ActionSpace) -> None:
        self.space = space

    @abstractmethod
    def propose(self, context: Any = None) -> Proposal:
        """Draw an action for ``context`` (None when the choice has no context)."""

    @abstractmethod
    def update(self, proposal: Proposal, reward: float, context: Any = None) -> None:
        """Learn from the reward that ``proposal`` earned in ``context``."""

    def greedy(self, context: Any = None) -> tuple[int, ...]:
        """The action the policy believes best now, without exploration (default: a proposal)."""
        return self.propose(context).action

    def state(self) -> dict[str, Any]:
        """A JSON-compatible snapshot of what the policy has learned."""
        raise NotImplementedError(f"{type(self).__name__} does not support snapshots")

    def load_state(self, state: dict[str, Any]) -> None:
        """Replace what the policy has learned by a snapshot from :meth:`state`."""
        raise NotImplementedError(f"{type(self).__name__} does not support snapshots")
