"""REINFORCE over a sequence of choices: one softmax per position (a factorised policy), logits
optionally linear in a vector context. The policy of decide's structured choices, nas's RL
controller baseline and placement's per-group device policy."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from learnedsys._validation import check_float
from learnedsys.policy._base import ActionSpace, BasePolicy, Proposal, as_vector

__all__ = ["Reinforce"]


class Reinforce(BasePolicy):
    """Softmax policy gradient (REINFORCE, Williams 1992) with a moving-average reward baseline,
    for a sequence of choices (one softmax per position) and optionally a vector context (logits
    linear in it). One reward per sequence is credited to every position.

    Args:
        lr: learning rate of the logits. Knob: larger learns faster, more noisily.
        baseline_decay: weight of the old baseline in the exponential moving average.
        temperature: divides the logits; higher explores more.
        normalize: divide the advantage by a running reward standard deviation.
    Cost: O(sum(sizes) * (1 + d)) numpy per proposal and update.
    """

    single = False

    def __init__(
        self,
        space: ActionSpace | None = None,
        *,
        lr: float = 0.1,
        baseline_decay: float = 0.95,
        temperature: float = 1.0,
        normalize: bool = True,
        seed: int | None = None,
    ) -> None:
        self.lr = check_float(lr, "lr", "Reinforce", low=0.0, closed="neither")
        self.baseline_decay = check_float(baseline_decay, "baseline_decay", "Reinforce", low=0.0, high=1.0)
        self.temperature = check_float(temperature, "temperature", "Reinforce", low=0.0, closed="neither")
        self.normalize = bool(normalize)
        super().__init__(space, seed=seed)

    def _params(self) -> str:
        return f"lr={self.lr}, baseline_decay={self.baseline_decay}, temperature={self.temperature}, seed={self.seed}"

    def _allocate(self) -> None:
        self._logits = [np.zeros(s) for s in self.space.sizes]
        self._w: list[np.ndarray] | None = None
        self._baseline: float | None = None
        self._var = 1.0
        self._n = 0

    def _probs(self, context: Any) -> list[np.ndarray]:
        x = None if context is None else as_vector(context, "Reinforce")
        if x is not None and self._w is None:
            self._w = [np.zeros((s, len(x))) for s in self.space.sizes]
        out = []
        for i, lg in enumerate(self._logits):
            z = lg if x is None or self._w is None else lg + self._w[i] @ x
            z = z / self.temperature
            e = np.exp(z - z.max())
            out.append(e / e.sum())
        return out

    def propose(self, context: Any = None) -> Proposal:
        self._check_bound()
        probs = self._probs(context)
        action = []
        p = 1.0
        for pr in probs:
            a = int(self._np_rng.choice(len(pr), p=pr))
            action.append(a)
            p *= float(pr[a])
        return Proposal(tuple(action), p, {"probs": probs})

    def probability(self, arm: int | tuple[int, ...], context: Any = None) -> float:
        action = (arm,) if isinstance(arm, int) else arm
        return float(np.prod([pr[a] for pr, a in zip(self._probs(context), action, strict=True)]))

    def update(self, proposal: Proposal, reward: float, context: Any = None) -> None:
        self._check_bound()
        r = float(reward)
        self._n += 1
        if self._baseline is None:
            self._baseline = r
        adv = r - self._baseline
        d = self.baseline_decay
        self._var = d * self._var + (1 - d) * adv * adv if self._n > 1 else max(adv * adv, 1e-12)
        self._baseline = d * self._baseline + (1 - d) * r
        if self.normalize:
            adv /= math.sqrt(self._var) + 1e-8
        probs = proposal.info.get("probs") or self._probs(context)
        x = None if context is None else as_vector(context, "Reinforce")
        for i, (pr, a) in enumerate(zip(probs, proposal.action, strict=True)):
            grad = -pr
            grad = grad.copy()
            grad[a] += 1.0
            step = self.lr * adv / self.temperature
            self._logits[i] += step * grad
            if x is not None and self._w is not None:
                self._w[i] += step * np.outer(grad, x)
        self.version += 1

    def greedy(self, context: Any = None) -> tuple[int, ...]:
        self._check_bound()
        return tuple(int(np.argmax(p)) for p in self._probs(context))

    def _state(self) -> dict[str, Any]:
        return {
            "logits": [lg.tolist() for lg in self._logits],
            "w": None if self._w is None else [w.tolist() for w in self._w],
            "baseline": self._baseline,
            "var": self._var,
            "n": self._n,
        }

    def _load(self, state: dict[str, Any]) -> None:
        self._logits = [np.asarray(lg, dtype=np.float64) for lg in state["logits"]]
        self._w = None if state.get("w") is None else [np.asarray(w, dtype=np.float64) for w in state["w"]]
        self._baseline = state.get("baseline")
        self._var = float(state.get("var", 1.0))
        self._n = int(state.get("n", 0))
