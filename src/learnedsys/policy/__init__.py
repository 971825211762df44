"""The policy layer shared by :mod:`learnedsys.decide`, ``learnedsys tune``,
:mod:`learnedsys.nas` and :mod:`learnedsys.placement`.

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
slot, value per flag). ``Proposal.propensity`` is the probability with which the policy drew the
action (off-policy evaluation needs it; a policy whose proposal is a deterministic function of
its seed and history reports 1); ``Proposal.info`` carries whatever the policy must remember to
learn from it.

Generic policies, one implementation each, used by every part: :class:`RandomPolicy`,
:class:`Reinforce` (factorised softmax policy gradient) and :class:`OptunaTPE` (Optuna's TPE
through ask/tell). A new policy is one short class: subclass :class:`BasePolicy` (late binding,
seed, version, snapshots) and implement ``_allocate``, ``propose`` and ``update``; the
conformance checks in :mod:`learnedsys.testing` say whether it keeps the contract.

>>> from learnedsys.policy import ActionSpace, RandomPolicy
>>> policy = RandomPolicy(ActionSpace((3, 2)), seed=0)
>>> p = policy.propose()
>>> policy.space.contains(p.action), round(p.propensity, 4)
(True, 0.1667)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from learnedsys._lazy import lazy_exports

if TYPE_CHECKING:
    from learnedsys.policy._base import ActionSpace, BasePolicy, Policy, Proposal
    from learnedsys.policy._random import RandomPolicy
    from learnedsys.policy._reinforce import Reinforce
    from learnedsys.policy._tpe import OptunaTPE

__all__ = ["ActionSpace", "BasePolicy", "OptunaTPE", "Policy", "Proposal", "RandomPolicy", "Reinforce"]

_WHERE = {
    "ActionSpace": "learnedsys.policy._base",
    "BasePolicy": "learnedsys.policy._base",
    "Policy": "learnedsys.policy._base",
    "Proposal": "learnedsys.policy._base",
    "RandomPolicy": "learnedsys.policy._random",
    "Reinforce": "learnedsys.policy._reinforce",
    "OptunaTPE": "learnedsys.policy._tpe",
}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
