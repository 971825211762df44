"""REINFORCE over a sequence of choices: one softmax per position (a factorised policy), logits
optionally linear in a vector context. The policy of decide's structured choices, nas's RL
controller baseline and placement's per-group device policy."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from learnedsys._validation import InvalidParameterError, check_float
from learnedsys.policy._base import ActionSpace, BasePolicy, Proposal, as_vector, propensity_of

__all__ = ["Reinforce"]


class Reinforce(BasePolicy):
    """Softmax policy gradient (REINFORCE, Williams 1992) with a moving-average reward baseline,
    for a sequence of choices (one softmax per position: a factorised policy) and optionally a
    vector context (logits linear in it). One reward per sequence is credited to every position.

    Args:
        lr: learning rate of the logits. Knob: larger learns faster, more noisily.
        baseline_decay: weight of the old baseline in the exponential moving average.
        temperature: divides the logits; higher explores more.
        normalize: divide the advantage by a running reward standard deviation.
        init: a starting action (one int per position), favoured by ``init_bias`` in the logits:
            a warm start (placement starts from the best structured placement).
        init_bias: the logit bonus of ``init``'s options.
    Cost: O(sum(sizes) * (1 + d)) numpy per proposal and update, vectorised over positions.
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
        init: Sequence[int] | np.ndarray | None = None,
        init_bias: float = 2.0,
        seed: int | None = None,
    ) -> None:
        self.lr = check_float(lr, "lr", "Reinforce", low=0.0, closed="neither")
        self.baseline_decay = check_float(baseline_decay, "baseline_decay", "Reinforce", low=0.0, high=1.0)
        self.temperature = check_float(temperature, "temperature", "Reinforce", low=0.0, closed="neither")
        self.normalize = bool(normalize)
        self.init = None if init is None else [int(a) for a in np.asarray(init).ravel()]
        self.init_bias = check_float(init_bias, "init_bias", "Reinforce")
        super().__init__(space, seed=seed)

    def _params(self) -> str:
        return f"lr={self.lr}, baseline_decay={self.baseline_decay}, temperature={self.temperature}, seed={self.seed}"

    def _allocate(self) -> None:
        sizes = np.asarray(self.space.sizes, dtype=np.int64)
        self._sizes = sizes
        k, d = len(sizes), int(sizes.max())
        # one row per position, padded with -inf past the position's size
        self._valid = np.arange(d)[None, :] < sizes[:, None]
        self._lg = np.where(self._valid, 0.0, -np.inf)
        if self.init is not None:
            init = np.asarray(self.init, dtype=np.int64)
            if init.shape != (k,) or (init < 0).any() or (init >= sizes).any():
                raise InvalidParameterError(
                    f"The 'init' parameter of Reinforce must be an action of the space {tuple(self.space.sizes)}. Got {self.init!r} instead."
                )
            self._lg[np.arange(k), init] += self.init_bias
        self._w: np.ndarray | None = None  # (k, d, features) when a context is used
        self._baseline: float | None = None
        self._var = 1.0
        self._n = 0

    def _probs(self, context: Any) -> np.ndarray:
        z = self._lg
        if context is not None:
            x = as_vector(context, "Reinforce")
            if self._w is None:
                self._w = np.zeros((*self._lg.shape, len(x)))
            z = z + self._w @ x
        z = z / self.temperature
        e = np.exp(z - z.max(axis=1, keepdims=True))
        out: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return out

    def propose(self, context: Any = None) -> Proposal:
        self._check_bound()
        probs = self._probs(context)
        k = int(probs.shape[0])
        cdf = np.cumsum(probs, axis=1)
        u = self._np_rng.random(k)[:, None] * cdf[:, -1:]
        a = np.minimum((cdf <= u).sum(axis=1), self._sizes - 1)
        logp = float(np.log(probs[np.arange(k), a]).sum())
        # the exact probability when representable; the log in info either way
        p = propensity_of(logp)
        return Proposal(tuple(int(v) for v in a), p, {"probs": probs, "log_propensity": logp})

    def probability(self, arm: int | tuple[int, ...], context: Any = None) -> float:
        action = np.asarray((arm,) if isinstance(arm, int) else arm, dtype=np.int64)
        probs = self._probs(context)
        return float(np.prod(probs[np.arange(probs.shape[0]), action]))

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
        probs = proposal.info.get("probs")
        if probs is None or getattr(probs, "shape", None) != self._lg.shape:
            probs = self._probs(context)
        a = np.asarray(proposal.action, dtype=np.int64)
        grad = -probs
        grad[np.arange(a.size), a] += 1.0
        grad[~self._valid] = 0.0
        step = self.lr * adv / self.temperature
        self._lg += step * grad
        if context is not None and self._w is not None:
            x = as_vector(context, "Reinforce")
            self._w += step * grad[:, :, None] * x[None, None, :]
        self.version += 1

    def greedy(self, context: Any = None) -> tuple[int, ...]:
        self._check_bound()
        return tuple(int(v) for v in np.argmax(self._probs(context), axis=1))

    def _state(self) -> dict[str, Any]:
        sizes = self.space.sizes
        return {
            "logits": [self._lg[i, :s].tolist() for i, s in enumerate(sizes)],
            "w": None if self._w is None else [self._w[i, :s].tolist() for i, s in enumerate(sizes)],
            "baseline": self._baseline,
            "var": self._var,
            "n": self._n,
        }

    def _load(self, state: dict[str, Any]) -> None:
        sizes = self.space.sizes
        lg = np.where(self._valid, 0.0, -np.inf)
        for i, row in enumerate(state["logits"]):
            lg[i, : sizes[i]] = np.asarray(row, dtype=np.float64)
        self._lg = lg
        w = state.get("w")
        if w is None:
            self._w = None
        else:
            f = len(w[0][0]) if w and len(w[0]) else 0
            arr = np.zeros((*lg.shape, f))
            for i, rows in enumerate(w):
                arr[i, : sizes[i]] = np.asarray(rows, dtype=np.float64).reshape(sizes[i], f)
            self._w = arr
        self._baseline = state.get("baseline")
        self._var = float(state.get("var", 1.0))
        self._n = int(state.get("n", 0))
