"""The hot path of :class:`~learnedsys.decide.Choice`: the one registry of pending decisions
(:class:`Pending`) and the builders of the ``choose`` / ``feedback`` closures a Choice installs
when nothing but its policy is involved (:func:`plain`, :func:`fused_epsilon_greedy`).

Who owns what: a policy holds its math (its draw, its update, its tables); :class:`Pending` holds
the decisions awaiting feedback and the ``max_pending`` rule; :class:`Choice` holds the API, the
general path (defaults, hand-over, reward waits, learners) and the log. The closures built here
are the one place where the three meet, with every name they use bound in a closure cell: no
attribute lookup and, on the fused path, no call per decision. They inline :meth:`Pending.add`
and :meth:`Pending.remove` (written next to them, in this module only).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from learnedsys.decide._choice import Decision
    from learnedsys.decide._log import Writers
    from learnedsys.decide._policies import EpsilonGreedy

__all__ = ["RING", "Pending", "fused_epsilon_greedy", "plain"]

RING = 1024  # slots of the ring of pending decisions (the newest ids; older ones spill to a dict)

_BIG = 1e308  # ints beyond a float's range take the general path (a clear error)


def _counter(n: int) -> Callable[..., int]:
    """``add(k=0)``: adds ``k`` to a count kept in a closure cell and returns it."""

    def add(k: int = 0) -> int:
        nonlocal n
        n += k
        return n

    return add


class Pending:
    """The decisions awaiting feedback, by id, with at most ``max_pending`` of them.

    Ids count the decisions made (one each, from 0). The newest ``size`` ids live in a ring, slot
    ``id & mask`` (``size``: the largest power of two up to min(max_pending, 1024)); a decision
    still pending when the decision made ``size`` ids later takes its slot spills to a dict, which
    therefore stays in age order and holds only decisions older than the ring's.

    The count is exact without being counted: ``bound()`` is max_pending plus the decisions
    resolved (rewarded, expired or abandoned), so decision ``i`` leaves ``i + 1 - (bound -
    max_pending)`` pending, one more than max_pending exactly when ``i >= bound``; then the oldest
    expires (:meth:`overflow`). ``bound(k)`` adds ``k`` resolved and returns it. A hot path, once
    built, keeps the bound in its own closure cell and installs its adder as ``bound``: one count.

    Cost: O(1) :meth:`add`, :meth:`find`, :meth:`remove`; :meth:`overflow` O(expired);
    :meth:`in_age_order` O(n + ring log ring).

    Args:
        max_pending: decisions remembered; the one more than that expires the oldest.
        expired: called with each decision that expires, once it has left the registry (a
            :class:`Choice` credits its default reward there).
    """

    __slots__ = ("_expired", "bound", "mask", "max_pending", "ring", "spilled")

    def __init__(self, max_pending: int, expired: Callable[[Decision], None]) -> None:
        size = 1
        while size * 2 <= min(max_pending, RING):
            size *= 2
        self.ring: list[Decision | None] = [None] * size
        self.mask = size - 1
        self.spilled: dict[int, Decision] = {}
        self.max_pending = max_pending
        self.bound: Callable[..., int] = _counter(max_pending)
        self._expired = expired

    def add(self, d: Decision) -> None:
        """Register the decision just made (its id the next one)."""
        i = d[1]
        ring, j = self.ring, i & self.mask
        old = ring[j]
        ring[j] = d
        if old is not None:  # still pending: out of the ring, into the spill (in age order)
            self.spilled[old[1]] = old
        if i >= self.bound():  # more than max_pending pending: the oldest expires
            self.overflow(i)

    def find(self, i: int) -> Decision | None:
        """The pending decision with id ``i``, or None."""
        d = self.ring[i & self.mask]
        if d is not None and d[1] == i:
            return d
        return self.spilled.get(i)

    def holds(self, d: Decision) -> bool:
        """Whether ``d`` is pending in its ring slot (where the hot paths take it)."""
        return self.ring[d[1] & self.mask] is d

    def remove(self, d: Decision) -> bool:
        """Take ``d`` out; False when it was not pending (rewarded, expired, another's)."""
        ring, j = self.ring, d[1] & self.mask
        if ring[j] is d:
            ring[j] = None
            self.bound(1)
            return True
        if self.spilled.get(d[1]) is d:
            del self.spilled[d[1]]
            self.bound(1)
            return True
        return False

    def overflow(self, i: int) -> None:
        """Decision ``i`` (just made) leaves more than max_pending pending: the oldest expire.
        They are spilled ones (the ring holds at most max_pending, and the newest ids)."""
        sp = self.spilled
        while sp and i >= self.bound():
            self.expire_one(next(iter(sp)))

    def expire_one(self, i: int) -> None:
        """Expire decision ``i`` if it is pending (``expired`` is told)."""
        d = self.find(i)
        if d is not None and self.remove(d):
            self._expired(d)

    def in_age_order(self) -> list[Decision]:
        """The pending decisions, oldest first."""
        ring = sorted((d for d in self.ring if d is not None), key=itemgetter(1))
        return [*self.spilled.values(), *ring]

    def __len__(self) -> int:
        return len(self.spilled) + len(self.ring) - self.ring.count(None)


def plain(
    pending: Pending,
    policy: Any,
    values: Any,
    ids: Any,
    owner: Any,
    slow_feedback: Callable[..., None],
    cls: type[Decision],
    record: Writers | None = None,
) -> tuple[Callable[..., Decision], Callable[..., None]]:
    """``choose`` / ``feedback`` of the Choice ``owner`` over a single-choice policy's fast path
    (``policy._draw`` / ``policy._learn``), its option ``values``, its id counter and ``pending``.

    Anything but a pending Decision of this path in its ring slot with a finite number for a
    reward goes to ``slow_feedback(owner, decision, reward)`` (ids, spilled decisions, errors).
    ``record``: the log's writers (see :func:`learnedsys.decide._log.recorder`).
    Takes over ``pending.bound`` (one comparison per choose, one add per feedback).
    """
    draw, learn = policy._draw, policy._learn
    ring, mask, spilled, overflow = pending.ring, pending.mask, pending.spilled, pending.overflow
    decided, rewarded = (record.decided, record.rewarded) if record is not None else (None, None)
    big = _BIG
    bound = pending.bound()

    def add(k: int = 0) -> int:
        nonlocal bound
        bound += k
        return bound

    def choose(context: Any = None) -> Decision:
        arm, p = draw(context)
        i = next(ids)
        d = cls((values[arm], i, p, policy.version, arm, context, owner))
        j = i & mask  # Pending.add, inlined
        old = ring[j]
        ring[j] = d
        if old is not None:
            spilled[old[1]] = old
        if i >= bound:
            overflow(i)
        if decided is not None:
            decided(d)
        return d

    def feedback(decision: Decision | int, reward: float) -> None:
        nonlocal bound
        if type(decision) is not cls:
            return slow_feedback(owner, decision, reward)
        tr = type(reward)
        if (tr is not float and (tr is not int or not -big < reward < big)) or reward - reward != 0.0:
            return slow_feedback(owner, decision, reward)
        j = decision[1] & mask
        if ring[j] is not decision:
            return slow_feedback(owner, decision, reward)
        ring[j] = None  # Pending.remove, inlined
        bound += 1
        learn(decision[4], reward, decision[5])
        if rewarded is not None:
            rewarded(decision, reward, False)
        return None

    pending.bound = add
    return choose, feedback


# the names of the policy's state in the fused closures below: placeholders in _fused, bound to
# the policy's own cells (EpsilonGreedy._shared_cells) by fused_epsilon_greedy
_POLICY_STATE = frozenset(
    {"t", "best", "version", "hi", "rescan", "counts", "means", "rand", "k", "explore", "floor", "switch",
     "p_greedy", "p_other", "k_floor"}
)


def fused_epsilon_greedy(
    policy: EpsilonGreedy,
    pending: Pending,
    values: Any,
    ids: Any,
    owner: Any,
    slow_feedback: Callable[..., None],
    cls: type[Decision],
) -> tuple[Callable[..., Decision], Callable[..., None]]:
    """``choose`` / ``feedback`` as :func:`plain`, with :class:`EpsilonGreedy`'s draw and update
    inlined (no call per decision) on the policy's own state: the closures' cells for the
    policy's names are the policy's (:meth:`EpsilonGreedy._shared_cells`), so the policy's draw,
    update, ``version`` and ``load_state`` and this path see one state, whichever runs.
    Takes over ``pending.bound``."""
    cells = policy._shared_cells()
    missing = _POLICY_STATE - cells.keys()
    if missing:
        raise TypeError(f"{type(policy).__name__} does not share {sorted(missing)} with the fused hot path")
    choose, feedback, add = _fused(values, pending.ring, pending.mask, pending.spilled, pending.overflow, ids, owner,
                                   slow_feedback, cls, pending.bound())
    pending.bound = add
    return _rebind(choose, cells), _rebind(feedback, cells)


def _rebind(fn: Any, cells: dict[str, Any]) -> Any:
    """``fn`` (same code, same speed) with its free variables that name the policy's state
    (``_POLICY_STATE``) bound to the policy's ``cells``; the others keep their own cells."""
    code = fn.__code__
    own = dict(zip(code.co_freevars, fn.__closure__, strict=True))
    out = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__,
                             tuple(cells[n] if n in _POLICY_STATE else own[n] for n in code.co_freevars))
    out.__qualname__ = fn.__qualname__
    return out


def _fused(values: Any, ring: list[Any], mask: int, spilled: dict[int, Any], overflow: Callable[[int], None], ids: Any,
           owner: Any, slow_feedback: Callable[..., None], cls: Any, bound: int) -> tuple[Any, Any, Any]:
    """The fused closures over the registry's cells; the policy's names are placeholders here."""
    # the policy's state (see EpsilonGreedy._kernels): rebound to its cells by _rebind
    t = best = version = k = switch = 0
    hi = explore = floor = p_greedy = p_other = k_floor = 0.0
    counts: Any = None
    means: Any = None
    rand: Any = None
    rescan: Any = None
    f64 = np.float64

    def add(k_: int = 0) -> int:
        nonlocal bound
        bound += k_
        return bound

    def choose(context: Any = None) -> Any:
        nonlocal t
        t += 1  # EpsilonGreedy's draw, inlined
        u = rand()
        arm = best
        if t > switch:
            p = p_greedy
            if u < floor:
                a = int(u * k_floor)
                if a != arm:
                    arm, p = a, p_other
        else:
            eps = explore / t
            if eps < floor:
                eps = floor
            elif eps > 1.0:
                eps = 1.0
            p = 1.0 - eps + eps / k
            if u < eps:
                a = int(u / eps * k)
                if a != arm:
                    arm, p = a, eps / k
        i = next(ids)
        d = cls((values[arm], i, p, version, arm, context, owner))
        j = i & mask  # Pending.add, inlined
        old = ring[j]
        ring[j] = d
        if old is not None:
            spilled[old[1]] = old
        if i >= bound:
            overflow(i)
        return d

    def feedback(decision: Any, reward: float) -> None:
        nonlocal best, hi, version, bound
        try:
            j = decision[1] & mask
        except (TypeError, IndexError):  # an id, not a Decision
            return slow_feedback(owner, decision, reward)
        if ring[j] is not decision:  # rewarded, expired, spilled, or another choice's
            return slow_feedback(owner, decision, reward)
        r = reward
        tr = type(r)
        if tr is not float and tr is not f64:
            # an int within a float's range, as a float; numpy scalars of other types (float32,
            # int8: their own arithmetic), bools, huge ints and the rest: the general path,
            # which makes them Python floats or rejects them
            if tr is not int:
                return slow_feedback(owner, decision, reward)
            try:
                r += 0.0
            except OverflowError:
                return slow_feedback(owner, decision, reward)
        elif r - r != 0.0:  # inf or nan
            return slow_feedback(owner, decision, reward)
        ring[j] = None  # Pending.remove, inlined
        bound += 1
        arm = decision[4]  # EpsilonGreedy's update, inlined
        n = counts[arm] + 1
        counts[arm] = n
        old = means[arm]
        m = r if n == 1 else old + (r - old) / n
        means[arm] = m
        if arm == best:
            if m < hi:
                rescan()
        elif m > means[best]:
            if means[best] > hi:
                hi = means[best]
            best = arm
        elif m > hi:
            hi = m
        version += 1
        return None

    return choose, feedback, add
