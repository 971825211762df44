"""The policy interface (see :mod:`learnedsys.policy`), the bookkeeping base class and shared helpers."""

from __future__ import annotations

import math
import random
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from learnedsys._validation import InvalidParameterError, check_seed

__all__ = ["ActionSpace", "BasePolicy", "Policy", "Proposal", "as_vector", "bind_to", "propensity_of"]


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

    #: whether ``Proposal.propensity`` is the probability the action was drawn with. A policy
    #: that cannot know it (Optuna's TPE) sets False and reports 1.0; its logs are then unfit for
    #: off-policy evaluation. :func:`learnedsys.testing.check_policy` tests the claim.
    exact_propensity: bool = True

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


#: slots of the hashed one-hot of a string-valued context feature
STRING_SLOTS = 8


def as_vector(context: Any, owner: str) -> np.ndarray:
    """A context as a float vector: a vector (list, tuple, numpy array) as given, or a dict of
    named features: the features in sorted name order, numbers and bools as floats, a string as
    a one-hot over :data:`STRING_SLOTS` slots by a stable hash (so ``{"load": 0.3, "os":
    "linux"}`` is 1 + 8 floats, the same vector in every process)."""
    if isinstance(context, dict):
        out: list[float] = []
        for name in sorted(context, key=str):
            v = context[name]
            if isinstance(v, str):
                hot = [0.0] * STRING_SLOTS
                hot[zlib.crc32(v.encode("utf-8")) % STRING_SLOTS] = 1.0
                out += hot
            elif isinstance(v, (bool, int, float, np.integer, np.floating)) and not isinstance(v, complex):
                out.append(float(v))
            else:
                raise InvalidParameterError(
                    f"{owner}: the context feature {name!r} is {v!r}; a dict context holds numbers, bools or strings"
                )
        return np.asarray(out, dtype=np.float64)
    try:
        x = np.asarray(context, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"{owner} needs a context that is a numeric vector (list or numpy array of floats) or a dict of "
            f"named numbers, bools and strings. Got {context!r} instead."
        ) from None
    return x


class BasePolicy(Policy):
    """A policy with the bookkeeping every part needs: late binding to an action space, a seed,
    a version counter (updates seen) and checked JSON snapshots.

    Subclasses implement :meth:`_allocate` (state for the bound space) and either the fast single-
    choice pair ``_draw`` / ``_learn`` or :meth:`propose` / :meth:`update` directly, plus
    ``_state`` / ``_load`` for snapshots. Constructors only store parameters; state is allocated
    at bind time, so a policy can be made before its space is known (``Reinforce(lr=0.2)``) and
    handed to a :class:`~learnedsys.decide.Choice`, ``tune``, ``nas.search`` or ``placement.place``.
    """

    #: whether the policy handles one position only (and offers ``_draw`` / ``_learn``)
    single = True
    #: whether the policy needs a vector context
    contextual = False

    def __init__(self, space: ActionSpace | None = None, *, seed: int | None = None) -> None:
        self.seed = check_seed(seed, "seed", type(self).__name__)
        self.space = space  # type: ignore[assignment]
        self.version = 0
        self._bound = False
        if space is not None:
            self.bind(space)

    # -- binding ---------------------------------------------------------------------------
    def bind(self, space: ActionSpace, option_space: Any = None) -> BasePolicy:
        """Allocate state for ``space`` (called once; a Choice does it for you)."""
        if not isinstance(space, ActionSpace):
            raise InvalidParameterError(
                f"The 'space' parameter of {type(self).__name__} must be an ActionSpace. Got {space!r} instead."
            )
        if self.single and len(space.sizes) != 1:
            raise InvalidParameterError(
                f"{type(self).__name__} chooses one option at a time; the space has "
                f"{len(space.sizes)} positions (use Reinforce or OptunaTPE for sequences)."
            )
        self.space = space
        self._option_space = option_space
        self._rng = random.Random(self.seed)
        self._np_rng = np.random.default_rng(self.seed)
        self._allocate()
        self._bound = True
        return self

    def _allocate(self) -> None:  # pragma: no cover - every subclass has state
        pass

    def _check_bound(self) -> None:
        if not self._bound:
            raise RuntimeError(
                f"{type(self).__name__} is not bound to an action space: pass one to the "
                "constructor, call bind(space), or give the policy to a Choice"
            )

    # -- the shared interface on top of the fast path -------------------------------------
    def propose(self, context: Any = None) -> Proposal:
        self._check_bound()
        arm, p = self._draw(context)
        return Proposal((arm,), p)

    def update(self, proposal: Proposal, reward: float, context: Any = None) -> None:
        self._check_bound()
        self._learn(proposal.action[0], float(reward), context)

    def greedy(self, context: Any = None) -> tuple[int, ...]:
        self._check_bound()
        if not self.single:  # a sequence policy without a greedy rule of its own: a proposal
            return self.propose(context).action
        return (self._greedy(context),)

    def probability(self, arm: int, context: Any = None) -> float | None:
        """Probability that the policy draws ``arm`` now, or None when it cannot say cheaply."""
        return None

    def _drawn_probability(self, arm: Any, context: Any = None) -> float | None:
        """Probability that the draw just made drew ``arm`` (a Choice asks after drawing)."""
        return self.probability(arm, context)

    def _draw(self, context: Any) -> tuple[int, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _learn(self, arm: int, reward: float, context: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    def _greedy(self, context: Any) -> int:  # pragma: no cover
        return self._draw(context)[0]

    # -- snapshots ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        self._check_bound()
        return {"policy": type(self).__name__, "sizes": list(self.space.sizes), "version": self.version, **self._state()}

    def load_state(self, state: dict[str, Any]) -> None:
        self._check_bound()
        if state.get("policy") != type(self).__name__ or list(state.get("sizes", ())) != list(self.space.sizes):
            raise InvalidParameterError(
                f"this snapshot is of a {state.get('policy')!r} over sizes {state.get('sizes')!r}; "
                f"the policy is a {type(self).__name__!r} over sizes {list(self.space.sizes)!r}"
            )
        self._load(state)
        self.version = int(state.get("version", 0))

    def _state(self) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def _load(self, state: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._params()})"

    def _params(self) -> str:
        return f"seed={self.seed}"


def propensity_of(log_propensity: float) -> float:
    """``exp(log_propensity)``, the exact probability when a float can hold it, else the smallest
    positive float (a product over thousands of positions underflows; keep the log beside it)."""
    return max(math.exp(log_propensity), 5e-324)


def bind_to(policy: Policy, space: ActionSpace, what: str, who: str) -> Policy:
    """Bind an unbound :class:`BasePolicy` to ``space``; a bound policy (or another Policy) must
    already be over ``space``. ``what`` names the space in the error, ``who`` the caller that binds."""
    if isinstance(policy, BasePolicy) and not policy._bound:
        policy.bind(space)
    elif getattr(policy.space, "sizes", None) != space.sizes:
        raise InvalidParameterError(
            f"the policy's action space {getattr(policy.space, 'sizes', None)} does not match {what} {space.sizes}; "
            f"pass an unbound policy ({who} binds it)"
        )
    return policy
