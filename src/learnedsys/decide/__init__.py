"""Learned decisions: choose in context now, learn from feedback later, at microsecond cost.

A tour (a value decided by a policy; the replaced heuristic stays as the default):

>>> import random
>>> from learnedsys.decide import Choice
>>> arms = {"a": 0.2, "b": 0.5, "c": 0.8}            # hidden success rates
>>> choice = Choice("strategy", options=list(arms), default="a", seed=0)
>>> rng = random.Random(0)
>>> for _ in range(3000):
...     d = choice.choose()                          # d.value, d.id, d.propensity, d.version
...     choice.feedback(d, 1.0 if rng.random() < arms[d.value] else 0.0)
>>> choice.greedy()
'c'

Policies (all :class:`learnedsys.policy.Policy`): :class:`EpsilonGreedy` (the default without
context), :class:`UCB1`, :class:`ThompsonBeta`, :class:`ThompsonGaussian`, :class:`LinUCB` (the
default with a vector context), :class:`LinearThompson`, :class:`Reinforce` (the default for
structured options: a sequence of choices) and :class:`OptunaTPE` (expensive evaluations).

Safety: ``Choice(..., default=heuristic, mode="shadow")`` serves the heuristic and learns;
``set_handover(f)`` serves the policy with probability f; ``guardrail=True`` falls back to the
default when the policy's served reward is worse. Logging: ``log="decisions.sqlite"`` (or a
``postgresql://`` URL) records every decision with its propensity, off the hot path; evaluate a
new policy on the logs with :func:`ips`, :func:`snips` or :func:`doubly_robust`. Distributed:
:class:`Learner` (in-process thread or Ray actor) and ``Choice(..., learner=learner.handle())``.
Tuning a program's flags (an offline study, not online decisions) is :mod:`learnedsys.tune`. A :class:`Choice` is meant for one thread (use one per thread, or a lock).
"""

from typing import TYPE_CHECKING

from learnedsys._lazy import lazy_exports

if TYPE_CHECKING:
    from learnedsys.decide._choice import Choice, Decision, Episode, default_policy
    from learnedsys.decide._distributed import Learner, LearnerHandle
    from learnedsys.decide._log import DecisionLog, LoggedDecisions
    from learnedsys.decide._ope import Estimate, doubly_robust, ips, snips, target_probabilities
    from learnedsys.decide._policies import (
        POLICIES,
        UCB1,
        DecidePolicy,
        EpsilonGreedy,
        LinearThompson,
        LinUCB,
        OptunaTPE,
        Reinforce,
        ThompsonBeta,
        ThompsonGaussian,
    )
    from learnedsys.decide._space import Categorical, FloatRange, IntRange, OptionSpace, Structured

__all__ = [
    "POLICIES",
    "UCB1",
    "Categorical",
    "Choice",
    "DecidePolicy",
    "Decision",
    "DecisionLog",
    "Episode",
    "EpsilonGreedy",
    "Estimate",
    "FloatRange",
    "IntRange",
    "Learner",
    "LearnerHandle",
    "LinUCB",
    "LinearThompson",
    "LoggedDecisions",
    "OptionSpace",
    "OptunaTPE",
    "Reinforce",
    "Structured",
    "ThompsonBeta",
    "ThompsonGaussian",
    "default_policy",
    "doubly_robust",
    "ips",
    "snips",
    "target_probabilities",
]

_WHERE = {
    "Choice": "learnedsys.decide._choice",
    "Decision": "learnedsys.decide._choice",
    "Episode": "learnedsys.decide._choice",
    "default_policy": "learnedsys.decide._choice",
    "Learner": "learnedsys.decide._distributed",
    "LearnerHandle": "learnedsys.decide._distributed",
    "DecisionLog": "learnedsys.decide._log",
    "LoggedDecisions": "learnedsys.decide._log",
    "Estimate": "learnedsys.decide._ope",
    "doubly_robust": "learnedsys.decide._ope",
    "ips": "learnedsys.decide._ope",
    "snips": "learnedsys.decide._ope",
    "target_probabilities": "learnedsys.decide._ope",
    "POLICIES": "learnedsys.decide._policies",
    "UCB1": "learnedsys.decide._policies",
    "DecidePolicy": "learnedsys.decide._policies",
    "EpsilonGreedy": "learnedsys.decide._policies",
    "LinearThompson": "learnedsys.decide._policies",
    "LinUCB": "learnedsys.decide._policies",
    "OptunaTPE": "learnedsys.decide._policies",
    "Reinforce": "learnedsys.decide._policies",
    "ThompsonBeta": "learnedsys.decide._policies",
    "ThompsonGaussian": "learnedsys.decide._policies",
    "Categorical": "learnedsys.decide._space",
    "FloatRange": "learnedsys.decide._space",
    "IntRange": "learnedsys.decide._space",
    "OptionSpace": "learnedsys.decide._space",
    "Structured": "learnedsys.decide._space",
}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
