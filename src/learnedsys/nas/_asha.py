"""Asynchronous successive halving (ASHA; Li et al., MLSys 2020) around any strategy.

New architectures start at the lowest fidelity (fewest epochs, and with ``min_fraction`` < 1 a
fraction of the training data); whenever the top ``1/eta`` of a rung holds an architecture not
yet promoted, it is trained again at the next rung (``eta`` times the epochs, or data, or both)
instead of starting a new one. The wrapped strategy learns from the
lowest-rung accuracy of every architecture it proposed, so all its rewards share one fidelity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from learnedsys._validation import InvalidParameterError, check_int
from learnedsys.nas._strategies import SearchStrategy
from learnedsys.policy import Proposal

__all__ = ["ASHA", "Job"]


@dataclass
class Job:
    """One unit of work: train ``action`` for ``epochs`` epochs on ``fraction`` of the training
    data (rung ``rung``)."""

    action: tuple[int, ...]
    epochs: int
    rung: int
    proposal: Proposal = field(compare=False)
    fraction: float = 1.0


class ASHA:
    """Successive-halving scheduler. Cost O(results at a rung x log) per :meth:`next_job`.

    Args:
        strategy: proposes new architectures and learns from rung-0 results.
        min_epochs: epochs of rung 0.
        max_epochs: epochs of the top rung.
        eta: promotion ratio (top 1/eta advance, with eta times the epochs).
        min_fraction: fraction of the training data at rung 0; rung k trains on
            ``min(1, min_fraction * eta**k)`` of it (Hyperband's second resource). Default 1.
    """

    def __init__(self, strategy: SearchStrategy, min_epochs: int, max_epochs: int, eta: int = 3,
                 min_fraction: float = 1.0) -> None:
        self.strategy = strategy
        self.min_epochs = check_int(min_epochs, "min_epochs", "ASHA", low=1)
        self.max_epochs = check_int(max_epochs, "max_epochs", "ASHA", low=self.min_epochs)
        self.eta = check_int(eta, "eta", "ASHA", low=2)
        # top-down, as Hyperband: max, max/eta, max/eta^2 ... (rounded) while >= min_epochs, so the
        # rung below the top is a third of it, not a near-copy (min 1 max 11 gives 1, 4, 11)
        rungs = [self.max_epochs]
        r = float(self.max_epochs)
        while r / self.eta >= self.min_epochs and round(r / self.eta) < rungs[0]:
            r /= self.eta
            rungs.insert(0, max(self.min_epochs, round(r)))
        self.rungs = rungs
        if not 0.0 < float(min_fraction) <= 1.0:
            raise InvalidParameterError(f"The 'min_fraction' parameter of ASHA must be a float in the range (0, 1]. Got {min_fraction!r} instead.")
        self.fractions = [min(1.0, float(min_fraction) * self.eta ** k) for k in range(len(rungs))]
        self.fractions[-1] = 1.0  # the top rung is the real thing
        self.results: list[dict[tuple[int, ...], float]] = [{} for _ in rungs]
        self.promoted: list[set[tuple[int, ...]]] = [set() for _ in rungs]

    def next_job(self) -> Job:
        """Promote the best unpromoted architecture of the highest possible rung, else start one."""
        for k in range(len(self.rungs) - 2, -1, -1):
            res = self.results[k]
            n_top = len(res) // self.eta
            if n_top == 0:
                continue
            top = sorted(res.items(), key=lambda kv: -kv[1])[:n_top]
            for a, _ in top:
                if a not in self.promoted[k]:
                    self.promoted[k].add(a)
                    return Job(a, self.rungs[k + 1], k + 1, Proposal(a), self.fractions[k + 1])
        p = self.strategy.propose()
        return Job(p.action, self.rungs[0], 0, p, self.fractions[0])

    def top_job(self, action: tuple[int, ...]) -> Job:
        """A job that trains ``action`` at the top rung directly (the hand-built baseline)."""
        return Job(action, self.rungs[-1], len(self.rungs) - 1, Proposal(action), 1.0)

    def report(self, job: Job, reward: float) -> None:
        """Record the validation accuracy ``job`` earned (NaN/failed: pass 0)."""
        self.results[job.rung][job.action] = float(reward)
        if job.rung > 0:
            self.promoted[job.rung - 1].add(job.action)
        else:
            self.strategy.update(job.proposal, reward)

    def best(self) -> tuple[tuple[int, ...], float, int] | None:
        """(architecture, accuracy, rung) of the best result at the highest rung reached."""
        for k in range(len(self.rungs) - 1, -1, -1):
            if self.results[k]:
                a, r = max(self.results[k].items(), key=lambda kv: kv[1])
                return a, r, k
        return None
