"""``Choice``: choose in context now, learn from feedback later.

A :class:`Choice` wraps an option space, a policy and (optionally) the heuristic it replaces::

    pivot = Choice("pivot", options=["first", "median3", "random"], default="median3", seed=0)
    d = pivot.choose()                # a Decision: d.value, d.id, d.propensity, d.version
    ...                               # use d.value
    pivot.feedback(d, reward=-elapsed)   # later, or never
    pivot.observe("first", reward=-t)    # an outcome known without drawing it (see observe)

Cost: for a context-free single choice with the default policy, ``choose`` + ``feedback`` run as
two closures with the policy's draw and update inlined on closure cells, and a ring of pending
decisions (under 1 µs together; see ``learnedsys bench decide``); logging adds one deque append
per call, the write happens on a background thread. The registry of pending decisions and those
closures live in :mod:`learnedsys.decide._hotpath`, the log's rows in :mod:`learnedsys.decide._log`.

``choice.choose`` / ``choice.feedback`` are looked up per Choice state: a reference kept in a
local variable (``ch = choice.choose``) is the fastest way to call them, but take it again after
switching mode, hand-over or guardrail (a reference taken before keeps the path it was taken on).
"""

from __future__ import annotations

import collections
import itertools
import math
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

import numpy as np

from learnedsys import _serialization
from learnedsys._validation import (
    InvalidParameterError,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_seed,
    describe,
)
from learnedsys.decide._hotpath import Pending, fused_epsilon_greedy, plain
from learnedsys.decide._log import DecisionLog, Writers, open_log, recorder
from learnedsys.decide._policies import DecidePolicy, EpsilonGreedy, LinUCB, Reinforce, make_policy
from learnedsys.decide._space import Categorical, OptionSpace, Structured, as_space
from learnedsys.policy import Policy, Proposal
from learnedsys.policy._base import as_vector

__all__ = ["Choice", "Decision", "Episode", "default_policy"]

_MODES = ("learn", "shadow")
_KIND = "learnedsys.decide.Choice"
_KIND_VERSION = 1


def _field(index: int, doc: str | None = None) -> Any:
    """A read-only attribute for item ``index`` of a tuple subclass: namedtuple's own C descriptor
    (one C call per access, ~10 ns less than a property over ``itemgetter``) where CPython has it."""
    getter = getattr(collections, "_tuplegetter", None)
    return getter(index, doc) if getter is not None else property(itemgetter(index), doc=doc)


class Decision(tuple):
    """One decision: the value to use, its id, the probability it was drawn with, and the version
    of the policy that drew it. Pass it back to :meth:`Choice.feedback`.

    ``served`` says whether the policy's choice (``"policy"``) or the default (``"default"``)
    was served. (A tuple underneath, because a tuple is the cheapest object CPython builds;
    equality and hashing are by identity.)

    The action is kept in one shape, the policy's arm (``_arm``): the option's index (an int) for
    a single choice, the tuple of indices for a structured one, as the policies' ``_learn``, the
    learner's feedback and :meth:`Choice.observe` take it; :attr:`action` is its tuple form. A
    policy without a fast path may ask for its own proposal back at the update (``_proposal``).
    """

    __slots__ = ()
    value = _field(0, "The chosen value.")
    id = _field(1, "The decision's id (unique within its Choice instance).")
    propensity = _field(2, "Probability with which this value was served.")
    version = _field(3, "Version of the policy (updates seen) that chose it.")
    _arm = _field(4)
    context = _field(5, "The context the decision was made in.")
    _choice = _field(6)
    served = "policy"
    _t = 0.0
    _proposal: Proposal | None = None
    __hash__ = object.__hash__
    __eq__ = object.__eq__
    __ne__ = object.__ne__

    # No __new__ of our own: ``Decision((value, id, propensity, version, arm, context, choice))``
    # goes straight to tuple's C constructor, the cheapest object CPython builds.

    @property
    def action(self) -> tuple[int, ...]:
        """The action as a tuple of ints (one per position)."""
        a = self[4]
        return a if isinstance(a, tuple) else (a,)

    @property
    def done(self) -> bool:
        """Whether the decision has received its reward (or expired)."""
        return self._choice._pending.find(self.id) is not self

    @property
    def _done(self) -> bool:
        return self.done

    def __repr__(self) -> str:
        return (
            f"Decision(value={self.value!r}, id={self.id}, propensity={self.propensity:.4g}, "
            f"version={self.version}, served={self.served!r})"
        )


class _GuardedDecision(Decision):
    """A decision made by the general path: a default, a hand-over, a reward wait, a learner or a
    policy without a fast path in play (or an outcome of :meth:`Choice.observe`, for the log)."""

    __slots__ = ()
    served = _field(7)
    _t = _field(8)
    _proposal = _field(9)

    # built as _GuardedDecision((value, id, propensity, version, arm, context, choice, served, t, proposal))


def default_policy(space: OptionSpace, context: Any = None, seed: int | None = None) -> DecidePolicy:
    """The policy a :class:`Choice` uses when none is given.

    - a structured space (a sequence of choices): :class:`Reinforce`;
    - a single choice with a context (a numeric vector, or a dict of named numbers, bools and
      strings, see :func:`learnedsys.policy._base.as_vector`): :class:`LinUCB`;
    - a single choice without context: :class:`EpsilonGreedy` (decaying exploration to 5%).
    """
    if isinstance(space, Structured):
        return Reinforce(seed=seed)
    if context is not None:
        try:
            x = as_vector(context, "Choice")
            if x.ndim == 1 and x.size:
                return LinUCB(seed=seed)
        except InvalidParameterError:
            pass
        raise InvalidParameterError(
            f"the default policy for a context needs a numeric vector or a dict of named numbers, bools and "
            f"strings; got {context!r}. Encode the context so, or pass a policy."
        )
    return EpsilonGreedy(seed=seed)


def _as_reward(reward: Any, owner: str = "Choice.feedback") -> float:
    """``reward`` as a finite Python float (a number of any type), or a clear error."""
    if not isinstance(reward, (str, bytes, bytearray)):
        try:
            r = float(reward)
        except (TypeError, ValueError, OverflowError):
            r = math.nan
        if r - r == 0.0:
            return r
    try:
        shown = repr(reward)
    except ValueError:  # an int too long to print
        shown = f"an {type(reward).__name__} beyond a float's range"
    raise InvalidParameterError(f"The 'reward' parameter of {owner} must be a finite float. Got {shown} instead.")


def _option_index(space: OptionSpace, value: Any, name: str) -> int:
    """The action index of ``value`` when it is one of the options of ``space`` (by equality; a
    grid point for ranges: no snapping to the nearest), else a clear error naming ``name``."""
    try:
        i = space.index(value)  # Categorical: exact (or an error); ranges: the nearest grid point
        ok = isinstance(space, Categorical) or bool(space.value(i) == value)
    except (TypeError, ValueError):  # not an option, not comparable (an array, a str for a range)
        ok = False
    if ok:
        return i
    if isinstance(space, Categorical):
        shown = [repr(o) for o in space.options[:12]] + (["..."] if len(space.options) > 12 else [])
        expected = "one of {" + ", ".join(shown) + "}"
    else:
        expected = f"one of the options, a point of {space!r}"
    raise InvalidParameterError(f"The {name!r} parameter of Choice.observe must be {expected}. Got {describe(value)} instead.")


class _Stats:
    __slots__ = ("n", "s", "ss")

    def __init__(self) -> None:
        self.n = 0
        self.s = 0.0
        self.ss = 0.0

    def add(self, r: float) -> None:
        self.n += 1
        self.s += r
        self.ss += r * r

    @property
    def mean(self) -> float:
        return self.s / self.n if self.n else math.nan

    @property
    def var(self) -> float:
        if self.n < 2:
            return math.inf
        return max(0.0, (self.ss - self.s * self.s / self.n) / (self.n - 1))


class Choice:
    """A value decided by a policy when evaluated, learned from feedback that may come later.

    Args:
        name: the choice's name (the key in logs).
        options: a list of values, a :class:`range`, an :class:`IntRange`/:class:`FloatRange`, or
            a dict of those (a structured value: a dict, chosen as a sequence of choices).
        policy: a :class:`~learnedsys.policy.Policy` (possibly unbound), a policy name (see
            :data:`POLICIES`) or None for :func:`default_policy` (chosen on the first call from
            the option type and the context).
        default: the heuristic being replaced: a value, or a callable ``context -> value``.
            Served in shadow mode, during hand-over and when the guardrail trips.
        mode: ``"learn"`` (serve the policy) or ``"shadow"`` (serve the default, learn from its
            rewards, record what the policy would have chosen).
        handover: in learn mode with a default, the probability of serving the policy's choice
            rather than the default; raise it gradually (``set_handover``).
        guardrail: fall back to the default when the policy's served reward is worse than the
            default's by ``guardrail_z`` standard errors, after ``guardrail_min`` rewards of each.
        reward_wait: seconds after which a decision without feedback expires; it then learns
            ``default_reward`` (or nothing when that is None).
        default_reward: reward credited to expired or abandoned decisions; None drops them.
        log: None, a :class:`DecisionLog`, a file path (SQLite) or a ``postgresql://`` URL.
        learner: a learner handle (:meth:`Learner.handle`): the policy becomes a local snapshot,
            feedback goes to the learner asynchronously, snapshots refresh in the background.
        local_updates: with a learner, also apply feedback to the local snapshot at once (False:
            the local policy changes only when a new snapshot arrives).
        max_pending: decisions awaiting feedback that are remembered (by id): the decision that
            makes one more than that pending expires the oldest (with ``default_reward``).
        seed: seed of the policy (when created here) and of the hand-over coin.
    """

    def __init__(
        self,
        name: str,
        options: Any,
        policy: Policy | str | None = None,
        default: Any = None,
        *,
        mode: str = "learn",
        handover: float = 1.0,
        guardrail: bool = False,
        guardrail_min: int = 100,
        guardrail_z: float = 2.0,
        reward_wait: float | None = None,
        default_reward: float | None = None,
        log: Any = None,
        learner: Any = None,
        local_updates: bool = True,
        max_pending: int = 100_000,
        seed: int | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidParameterError(f"The 'name' parameter of Choice must be a non-empty str. Got {name!r} instead.")
        self.name = name
        self.space = as_space(options)
        if policy is not None and not isinstance(policy, (Policy, str)):
            raise InvalidParameterError(
                f"The 'policy' parameter of Choice must be a Policy, a policy name or None. Got {policy!r} instead."
            )
        self.seed = check_seed(seed, "seed", "Choice")
        self.policy: Policy | None = make_policy(policy, self.seed) if isinstance(policy, str) else policy
        self.default = default
        self.mode = check_choice(mode, "mode", "Choice", _MODES)
        self.handover = check_float(handover, "handover", "Choice", low=0.0, high=1.0)
        self.guardrail = check_bool(guardrail, "guardrail", "Choice")
        self.guardrail_min = check_int(guardrail_min, "guardrail_min", "Choice", low=1)
        self.guardrail_z = check_float(guardrail_z, "guardrail_z", "Choice", low=0.0)
        self.reward_wait = check_float(reward_wait, "reward_wait", "Choice", low=0.0, closed="neither", none_ok=True)
        self.default_reward = check_float(default_reward, "default_reward", "Choice", none_ok=True)
        self.max_pending = check_int(max_pending, "max_pending", "Choice", low=1)
        self.log: DecisionLog | None = open_log(log)
        self.learner = learner
        self.local_updates = check_bool(local_updates, "local_updates", "Choice")
        if (mode == "shadow" or handover < 1.0 or guardrail) and default is None:
            raise InvalidParameterError(
                "Choice needs a 'default' (the heuristic being replaced) for shadow mode, hand-over or a guardrail."
            )
        self.run = uuid.uuid4().hex[:16]
        self._ready = False
        self.guardrail_tripped = False
        self.served_stats = {"policy": _Stats(), "default": _Stats()}
        self.agreement = _Stats()  # shadow mode: 1 when the policy would have chosen the default

    # -- set-up on the first call -----------------------------------------------------------
    def _setup(self, context: Any) -> None:
        space = self.space
        if self.policy is None:
            self.policy = default_policy(space, context, self.seed)
        pol = self.policy
        if isinstance(pol, DecidePolicy) and not pol._bound:
            pol.bind(space.action_space, space)
        if pol.space is None or tuple(pol.space.sizes) != tuple(space.action_space.sizes):
            raise InvalidParameterError(
                f"the policy's action space {getattr(pol.space, 'sizes', None)} does not match the options' {space.action_space.sizes}"
            )
        self._structured = isinstance(space, Structured)
        self._fast = isinstance(pol, DecidePolicy) and pol.single and not self._structured
        if self._fast:
            assert isinstance(pol, DecidePolicy)
            self._draw = pol._draw
            self._learn = pol._learn
            self._values = space.values()
        self._ids = itertools.count()
        self._pending = Pending(self.max_pending, self._expired)
        self._plain: tuple[Any, Any] | None = None
        self._observed = itertools.count(1)  # ids of observed outcomes in the log: -1, -2, ...
        self._calls = 0
        self._coin = np.random.default_rng(None if self.seed is None else self.seed + 1).random
        self._record: Writers | None = None  # the log's writers
        if self.log is not None:
            self.log.start()
            self._record = recorder(self.log, self.name, self.run)
        self._sync = None
        if self.learner is not None:
            from learnedsys.decide._distributed import _WorkerSync

            self._sync = _WorkerSync(self, self.learner)
        self._ready = True
        self._specialise()

    def _specialise(self) -> None:
        """Install the plain hot path when nothing but the policy is involved."""
        plain = (
            self._fast
            and self.mode == "learn"
            and self.handover == 1.0
            and not self.guardrail
            and self.reward_wait is None
            and self._sync is None
        )
        d = self.__dict__
        if plain:
            # built once per Choice (a reference taken before a switch and the one installed
            # after share the same cells: the count of pending decisions stays one count)
            if self._plain is None:
                self._plain = self._make_plain()
            d["choose"], d["feedback"] = self._plain
        else:
            d.pop("choose", None)
            d.pop("feedback", None)

    def _make_plain(self) -> tuple[Any, Any]:
        """choose/feedback closures over local state (no attribute lookups per call), from
        :mod:`learnedsys.decide._hotpath`: for the default policy (:class:`EpsilonGreedy`) without
        a log, its draw and update inlined on its own state; else around the policy's fast path.
        Either way the bound on pending decisions (see :class:`Pending`) moves into the closures'
        cell: one comparison per ``choose``, one add per ``feedback``."""
        pol, record = self.policy, self._record
        if isinstance(pol, EpsilonGreedy) and record is None:
            return fused_epsilon_greedy(pol, self._pending, self._values, self._ids, self, Choice.feedback, Decision)
        return plain(self._pending, pol, self._values, self._ids, self, Choice.feedback, Decision, record)

    def _default_action(self, context: Any) -> Any:
        value = self.default(context) if callable(self.default) else self.default
        if self._structured:
            assert isinstance(self.space, Structured)
            return self.space.encode(value)
        return self.space.index(value)

    def _value(self, arm: Any) -> Any:
        if self._fast:
            return self._values[arm]
        if self._structured:
            assert isinstance(self.space, Structured)
            return self.space.decode(arm)
        return self.space.value(arm if isinstance(arm, int) else arm[0])

    def _propose(self, context: Any) -> tuple[Any, float, Any]:
        """(arm, propensity, proposal or None) from the policy: the arm in the Decision's one
        shape (see :class:`Decision`), converted here from a proposal's action."""
        if self._fast:
            arm, p = self._draw(context)
            return arm, p, None
        assert self.policy is not None
        prop = self.policy.propose(context)
        act: Any = prop.action if self._structured else prop.action[0]
        return act, prop.propensity, prop

    # -- the API -------------------------------------------------------------------------------
    def choose(self, context: Any = None) -> Decision:
        """Decide now. Returns a :class:`Decision`; use ``.value``; pass it to :meth:`feedback`.

        Cost: O(1) for the default context-free policy (plus one deque append when logging);
        the policy's cost otherwise.
        """
        if not self._ready:
            self._setup(context)
        fast = self.__dict__.get("choose")
        if fast is not None:  # a reference to this method taken before the hot path was installed
            return fast(context)
        sync = self._sync
        if sync is not None and sync.incoming is not None:
            sync.apply()
        self._calls += 1
        if self.reward_wait is not None and not self._calls & 255:
            self.expire()
        if self.mode == "learn" and self.handover == 1.0 and not self.guardrail_tripped:
            if self._fast:
                arm, p = self._draw(context)
                value = self._values[arm]
                prop = None
            else:
                arm, p, prop = self._propose(context)
                value = self._value(arm)
            served = "policy"
        else:
            arm, p, prop, value, served = self._choose_guarded(context)
        d = _GuardedDecision((value, next(self._ids), p, getattr(self.policy, "version", 0), arm, context, self, served,
                              time.monotonic() if self.reward_wait is not None else 0.0, prop))
        self._pending.add(d)
        if self._record is not None:
            self._record.decided(d)
        return d

    def _choose_guarded(self, context: Any) -> tuple[Any, float, Any, Any, str]:
        arm, p, prop = self._propose(context)
        darm = self._default_action(context)
        h = 0.0 if (self.mode == "shadow" or self.guardrail_tripped) else self.handover
        if self.mode == "shadow":
            self.agreement.add(1.0 if arm == darm else 0.0)
        if h > 0.0 and self._coin() < h:
            served, sarm, sp = "policy", arm, h * p
            if arm == darm:
                sp += 1.0 - h
        else:
            served, sarm = "default", darm
            if arm == darm:
                sp = (1.0 - h) + h * p
            else:
                q = self._prob(darm, context)
                sp = (1.0 - h) + h * (q or 0.0)
            prop = None if sarm != arm else prop
        return sarm, sp, prop, self._value(sarm), served

    def _prob(self, arm: Any, context: Any) -> float | None:
        pol = self.policy
        if isinstance(pol, DecidePolicy):
            try:
                return pol._drawn_probability(arm, context)
            except Exception:
                return None
        return None

    def feedback(self, decision: Decision | int, reward: float) -> None:
        """Learn from the reward a decision earned (higher is better). May come much later; a
        decision takes one reward (a second raises). ``decision`` may also be a decision id.

        Cost: O(1) for the default context-free policy (plus one deque append when logging).
        """
        fast = self.__dict__.get("feedback") if self._ready else None
        if (
            fast is not None
            and type(decision) is Decision  # one of the plain path's (a guarded one made before a mode switch: below)
            and self._pending.holds(decision)  # the closure takes it (not a spilled one)
        ):
            return fast(decision, _as_reward(reward))  # a Python float: the closure takes it
        if not isinstance(decision, Decision):
            decision = self._lookup(decision)
        if decision._choice is not self:
            raise InvalidParameterError(f"decision {decision.id} belongs to choice {decision._choice.name!r}, not {self.name!r}")
        if self._pending.find(decision.id) is not decision:
            raise InvalidParameterError(f"decision {decision.id} of choice {self.name!r} already has its reward (or expired)")
        self._credit(decision, _as_reward(reward), False)

    def _expired(self, d: Decision) -> None:
        # a decision out of the registry unrewarded (reward wait, max_pending, abandoned episode)
        if self.default_reward is not None:
            self._credit(d, self.default_reward, True)

    def _credit(self, d: Decision, r: float, is_default: bool) -> None:
        self._pending.remove(d)
        arm = d._arm
        if self._sync is not None and not self.local_updates:
            pass
        elif self._fast:
            self._learn(arm, r, d.context)
        else:
            prop = d._proposal
            if prop is None:  # the default was served: not the policy's proposal
                prop = Proposal(d.action, d.propensity)
            assert self.policy is not None
            self.policy.update(prop, r, d.context)
        if d.served != "policy" or self.handover < 1.0 or self.guardrail:
            self.served_stats[d.served].add(r)
            if self.guardrail and not self.guardrail_tripped:
                self._check_guardrail()
        sync = self._sync
        if sync is not None:
            sync.outbox.append((arm, r, d.context, d.propensity))
        if self._record is not None:
            self._record.rewarded(d, r, is_default)

    def observe(self, value: Any, reward: float, context: Any = None) -> None:
        """Learn from an outcome the policy did not draw: ``value`` (one of the options) earned
        ``reward`` (higher is better) in ``context``.

        For outcomes known without trying them (a compressor knows what storing a block raw
        would have cost: its size, no CPU) or logged elsewhere. The policy learns it as it learns
        the reward of a decision that served ``value`` (set up on the first call, as by
        :meth:`choose`: the default policy follows the context); with a ``learner`` it is queued
        to the learner like feedback (and applied locally unless ``local_updates=False``).

        It is not a decision: it has no id, takes no place among the pending decisions, and the
        guardrail's served-reward statistics leave it out. With a log it is written as a decision
        row with ``served="observed"``, a negative id (-1, -2, ... per run) and no propensity
        (NULL), plus its reward row; ``DecisionLog.read(name)`` leaves it out (off-policy
        estimators need propensities) unless asked with ``observed=True``.

        Policies learn it as if drawn: counting bandits' exploration schedules count draws, not
        observations; :class:`Reinforce` takes a policy-gradient step for an action it did not
        sample (not importance-weighted). Cost: one policy update, as :meth:`feedback`.

        Raises :class:`InvalidParameterError` for a value that is not one of the options or a
        reward that is not a finite number, before anything changes.
        """
        space = self.space
        if isinstance(space, Structured):
            names = space.names
            if not isinstance(value, dict) or len(value) != len(names) or any(n not in value for n in names):
                raise InvalidParameterError(
                    f"The 'value' parameter of Choice.observe must be a dict with the keys {names!r}, one option "
                    f"of each. Got {describe(value)} instead."
                )
            action: tuple[int, ...] = tuple(
                _option_index(s, value[n], f"value[{n!r}]") for n, s in zip(names, space.spaces, strict=True)
            )
        else:
            action = (_option_index(space, value, "value"),)
        r = _as_reward(reward, "Choice.observe")
        if not self._ready:
            self._setup(context)
        pol = self.policy
        assert pol is not None
        arm: Any = action if self._structured else action[0]
        version = getattr(pol, "version", 0)
        sync = self._sync
        if sync is None or self.local_updates:
            if self._fast:
                self._learn(arm, r, context)
            else:
                pol.update(Proposal(action, 1.0, {"observed": True}), r, context)
        if sync is not None:
            sync.outbox.append((arm, r, context, 1.0))
        if self._record is not None:  # a decision row served "observed", no propensity (NULL)
            seen = _GuardedDecision((self._value(arm), -next(self._observed), None, version, arm, context, self, "observed", 0.0, None))
            self._record.observed(seen, r)

    @property
    def mode(self) -> str:
        """``"learn"`` or ``"shadow"``; assigning switches (the hot path follows)."""
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        self._mode = check_choice(value, "mode", "Choice", _MODES)
        if getattr(self, "_ready", False):
            self._specialise()

    def _check_guardrail(self) -> None:
        p, dft = self.served_stats["policy"], self.served_stats["default"]
        if p.n < self.guardrail_min or dft.n < self.guardrail_min:
            return
        se = math.sqrt(p.var / p.n + dft.var / dft.n)
        if p.mean < dft.mean - self.guardrail_z * se:
            self.guardrail_tripped = True

    def reset_guardrail(self) -> None:
        """Serve the policy again after the guardrail tripped, with fresh statistics."""
        self.guardrail_tripped = False
        self.served_stats = {"policy": _Stats(), "default": _Stats()}

    def set_handover(self, fraction: float) -> None:
        """Serve the policy's choice with probability ``fraction`` (gradual hand-over); switches
        shadow mode to learn mode."""
        self.handover = check_float(fraction, "fraction", "Choice.set_handover", low=0.0, high=1.0)
        self.mode = "learn"
        if self._ready:
            self._specialise()

    def _lookup(self, key: Any) -> Decision:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            d = self._pending.find(int(key)) if self._ready else None
            if d is None:
                raise InvalidParameterError(
                    f"no decision {key} of choice {self.name!r} is awaiting feedback (unknown, already rewarded or expired)"
                )
            return d
        raise InvalidParameterError(
            f"The 'decision' parameter of Choice.feedback must be a Decision or a decision id. Got {key!r} instead."
        )

    def expire(self, now: float | None = None) -> int:
        """Expire decisions older than ``reward_wait`` (done every 256 decisions automatically).
        Returns how many expired."""
        if self.reward_wait is None or not self._ready:
            return 0
        now = time.monotonic() if now is None else now
        limit = now - self.reward_wait
        old = []
        pending = self._pending
        for d in pending.in_age_order():
            if d._t > limit:
                break
            old.append(d.id)
        for i in old:
            pending.expire_one(i)
        return len(old)

    @property
    def pending(self) -> int:
        """Decisions awaiting feedback."""
        if not self._ready:
            return 0
        return len(self._pending)

    @contextmanager
    def episode(self) -> Iterator[Episode]:
        """A sequence of choices with one reward at the end, credited to each of them::

            with choice.episode() as ep:
                a = ep.choose(ctx1)
                b = ep.choose(ctx2)
                ep.reward(total)

        Leaving the block without a reward credits ``default_reward`` (or nothing when None).
        """
        ep = Episode(self)
        try:
            yield ep
        finally:
            if not ep.rewarded:
                ep._abandon()

    def greedy(self, context: Any = None) -> Any:
        """The value the policy believes best now (no exploration, nothing logged)."""
        if not self._ready:
            self._setup(context)
        assert self.policy is not None
        return self._value(self.policy.greedy(context) if self._structured else self.policy.greedy(context)[0])

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the policy's learned state (versioned, checksummed, no pickle)."""
        if not self._ready:
            raise RuntimeError("nothing learned yet: call choose() first")
        assert self.policy is not None
        _serialization.save(path, _KIND, _KIND_VERSION, {"name": self.name, "policy": self.policy.state()}, {})

    def load(self, path: str | os.PathLike[str], context: Any = None) -> Choice:
        """Load a policy state saved by :meth:`save` (the policy type and space must match).

        The state is validated before anything changes (types, shapes, finite values, counts
        >= 0, actions inside the options).

        Raises:
            FormatError: the file is damaged, crafted or not a Choice state file.
            InvalidParameterError: a valid state of another policy type or option count.
        """
        from learnedsys.decide._statecheck import check_policy_state

        _, meta, _ = _serialization.load(path, _KIND, _KIND_VERSION)
        where = repr(str(path))
        if "policy" not in meta:
            raise _serialization.FormatError(f"{where}: a Choice state file needs a 'policy' state")
        if not self._ready:
            self._setup(context)
        assert self.policy is not None
        state = meta["policy"]
        check_policy_state(self.policy, state, where)
        try:
            self.policy.load_state(state)
        except InvalidParameterError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
            raise _serialization.FormatError(f"{where}: the policy state cannot be loaded: {type(exc).__name__}: {exc}") from None
        return self

    def close(self) -> None:
        """Flush the log and the learner connection."""
        if getattr(self, "_sync", None) is not None:
            self._sync.close()  # type: ignore[union-attr]
        if self.log is not None:
            self.log.flush()

    def __repr__(self) -> str:
        return f"Choice({self.name!r}, options={self.space!r}, policy={self.policy!r}, mode={self.mode!r})"


class Episode:
    """Choices made together and rewarded together (see :meth:`Choice.episode`)."""

    def __init__(self, choice: Choice) -> None:
        self.choice = choice
        self.decisions: list[Decision] = []
        self.rewarded = False

    def choose(self, context: Any = None) -> Any:
        """Decide and remember the decision; returns the value."""
        d = self.choice.choose(context)
        self.decisions.append(d)
        return d.value

    def reward(self, reward: float) -> None:
        """Credit ``reward`` to every decision of the episode."""
        if self.rewarded:
            raise InvalidParameterError("this episode already has its reward")
        reward = _as_reward(reward)  # a bad one changes nothing (the episode may still be rewarded)
        self.rewarded = True
        for d in self.decisions:
            if not d._done:
                self.choice.feedback(d, reward)

    def _abandon(self) -> None:
        self.rewarded = True
        pending = self.choice._pending
        for d in self.decisions:
            if pending.find(d.id) is d:
                pending.expire_one(d.id)
