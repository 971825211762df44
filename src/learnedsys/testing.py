"""Conformance checks for policies: does a :class:`~learnedsys.policy.Policy` keep the contract
that :class:`~learnedsys.decide.Choice`, ``tune``, ``nas.search`` and ``placement.place`` rely on?

In the spirit of Optuna's sampler tests: one call runs every check against a fresh policy and
fails with an :class:`AssertionError` that names the check and what was seen::

    from learnedsys.policy import ActionSpace
    from learnedsys.testing import check_policy

    check_policy(lambda space, seed: MyPolicy(space, seed=seed), spaces=[ActionSpace((4,))])

The checks (each on every space given):

- **actions**: every proposal is a tuple of ints inside the space, ``propensity`` in (0, 1];
  ``greedy()`` is inside the space.
- **propensities**: for a policy with ``exact_propensity = True`` (the default), the reported
  propensities of a fresh policy's proposals are the probabilities it drew with (a
  Horvitz-Thompson test over many draws; off-policy evaluation divides by them).
  A policy that cannot know it (Optuna's TPE) sets ``exact_propensity = False``; its logs are
  then unfit for off-policy evaluation.
- **learning** (``learns=True``): with a reward that favours one action, ``greedy()`` finds it
  within ``rounds`` proposals.
- **seeds**: two policies made with the same seed, fed the same rewards, propose the same actions.
- **snapshots** (for policies whose ``state()`` is implemented): ``state()`` is JSON, and a fresh
  policy that loads it reports the same ``greedy()`` and the same ``state()``.

This module imports neither pytest nor torch; call it from any test runner.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from learnedsys.policy import ActionSpace, Policy

__all__ = ["check_policy", "target_action"]

PolicyFactory = Callable[[ActionSpace, int], Policy]


def target_action(space: ActionSpace) -> tuple[int, ...]:
    """The action the learning check rewards: ``size - 2`` (or 0) per position, away from the
    first and the last option so that neither an "always 0" nor an "always last" policy passes."""
    return tuple(max(0, s - 2) for s in space.sizes)


def _reward(action: Sequence[int], target: Sequence[int]) -> float:
    return sum(1.0 for a, t in zip(action, target, strict=True) if a == t) / len(target)


def _fail(check: str, policy: Policy, space: ActionSpace, what: str) -> None:
    raise AssertionError(f"{type(policy).__name__} on {space.sizes} fails '{check}': {what}")


def _check_actions(make: PolicyFactory, space: ActionSpace, seed: int, context: Any) -> None:
    policy = make(space, seed)
    if not isinstance(policy, Policy):
        raise AssertionError(f"the factory returned {type(policy).__name__}, not a learnedsys.policy.Policy")
    for i in range(40):
        p = policy.propose(context)
        a = p.action
        if not isinstance(a, tuple) or not all(isinstance(v, int) and not isinstance(v, bool) for v in a):
            _fail("actions", policy, space, f"proposal {i} is {a!r}, not a tuple of ints")
        if not space.contains(a):
            _fail("actions", policy, space, f"proposal {i} {a!r} is outside the space")
        if not (isinstance(p.propensity, float) and 0.0 < p.propensity <= 1.0):
            _fail("actions", policy, space, f"proposal {i} has propensity {p.propensity!r}, not a float in (0, 1]")
        policy.update(p, _reward(a, target_action(space)), context)
    g = policy.greedy(context)
    if not (isinstance(g, tuple) and space.contains(g)):
        _fail("actions", policy, space, f"greedy() gave {g!r}, not an action of the space")


def _check_propensities(make: PolicyFactory, space: ActionSpace, seed: int, context: Any, draws: int) -> None:
    policy = make(space, seed)
    if not getattr(policy, "exact_propensity", True):
        return
    # Horvitz-Thompson: whatever the policy's distribution at each draw (it may change from draw
    # to draw, e.g. a decaying exploration rate), sum over draws of 1{A_t = a} / p_t has
    # expectation `draws` for every action a the policy can draw. A policy that reports a
    # propensity other than the probability it drew with moves that sum away from `draws`.
    ht: dict[tuple[int, ...], float] = {}
    var: dict[tuple[int, ...], float] = {}
    for _ in range(draws):  # no update in between
        p = policy.propose(context)
        w = 1.0 / p.propensity
        ht[p.action] = ht.get(p.action, 0.0) + w
        var[p.action] = var.get(p.action, 0.0) + (w - 1.0) * w
    for action, total in ht.items():
        # five standard errors, plus 10% for policies whose propensity is itself estimated from a
        # finite sample (Thompson sampling)
        tol = 5.0 * math.sqrt(var[action]) + 0.1 * draws
        if abs(total - draws) > tol:
            _fail(
                "propensities", policy, space,
                f"action {action}: sum of 1/propensity over the draws that drew it is {total:.0f}, "
                f"expected about {draws} (+- {tol:.0f}) if the propensities were the probabilities drawn with",
            )


def _run(policy: Policy, space: ActionSpace, rounds: int, context: Any) -> list[tuple[int, ...]]:
    target = target_action(space)
    seen = []
    for _ in range(rounds):
        p = policy.propose(context)
        seen.append(p.action)
        policy.update(p, _reward(p.action, target), context)
    return seen


def _check_learning(make: PolicyFactory, space: ActionSpace, seed: int, context: Any, rounds: int) -> None:
    policy = make(space, seed)
    _run(policy, space, rounds, context)
    g = policy.greedy(context)
    if g != target_action(space):
        _fail("learning", policy, space, f"after {rounds} rewarded rounds greedy() is {g}, the rewarded action is {target_action(space)}")


def _check_seeds(make: PolicyFactory, space: ActionSpace, seed: int, context: Any) -> None:
    a = _run(make(space, seed), space, 25, context)
    b = _run(make(space, seed), space, 25, context)
    if a != b:
        first = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
        _fail("seeds", make(space, seed), space, f"two policies with seed {seed} diverge at proposal {first}: {a[first]} vs {b[first]}")


def _check_snapshots(make: PolicyFactory, space: ActionSpace, seed: int, context: Any) -> None:
    policy = make(space, seed)
    _run(policy, space, 30, context)
    try:
        state = policy.state()
    except NotImplementedError:
        return
    try:
        text = json.dumps(state, allow_nan=False)
    except (TypeError, ValueError) as exc:
        _fail("snapshots", policy, space, f"state() is not plain JSON: {exc}")
    fresh = make(space, seed + 1)
    fresh.load_state(json.loads(text))
    if fresh.greedy(context) != policy.greedy(context):
        _fail("snapshots", policy, space, f"after load_state, greedy() is {fresh.greedy(context)}, the original's {policy.greedy(context)}")
    again = json.dumps(fresh.state(), allow_nan=False, sort_keys=True)
    if again != json.dumps(json.loads(text), sort_keys=True):
        _fail("snapshots", policy, space, "state() of the loaded policy differs from the snapshot it loaded")


def check_policy(
    make: PolicyFactory,
    *,
    spaces: Iterable[ActionSpace] = (ActionSpace((4,)), ActionSpace((3, 2, 4))),
    context: Any = None,
    seed: int = 0,
    learns: bool = True,
    rounds: int = 400,
    draws: int = 3000,
) -> None:
    """Run every conformance check on policies built by ``make(space, seed)``.

    Args:
        make: builds a fresh, bound policy for an action space and a seed.
        spaces: the action spaces to check on (single-choice policies: one-position spaces).
        context: the context passed to every call (None for context-free policies).
        seed: the seed given to ``make`` (snapshots also use ``seed + 1``).
        learns: run the learning check (off for policies that do not learn, e.g. a fixed rule).
        rounds: rewarded rounds the learning check allows.
        draws: proposals the propensity check counts.

    Raises:
        AssertionError: a check failed; the message names it, the policy and the space.
    """
    for space in spaces:
        _check_actions(make, space, seed, context)
        _check_propensities(make, space, seed, context, draws)
        _check_seeds(make, space, seed, context)
        _check_snapshots(make, space, seed, context)
        if learns:
            _check_learning(make, space, seed, context, rounds)
