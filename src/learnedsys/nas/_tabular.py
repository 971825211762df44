"""A tabular NAS benchmark of our own: every architecture of ``tabular-mlp`` trained on digits.

Like NAS-Bench-101/201 for CIFAR, a lookup table replaces training, so comparing strategies over
hundreds of seeded runs takes seconds. The table (built by ``benchmarks/nas/build_tabular.py``,
shipped as ``learnedsys/nas/data/tabular_mlp_digits.json``) holds, for each of the 1404
architectures and each training seed, validation accuracy after 3/6/9/12 epochs and test accuracy
after 12. A query returns the validation accuracy of a random recorded seed (training noise
included, as NAS-Bench-101 does); regret is measured on the mean accuracy of the incumbent (the architecture with the best
*observed* validation accuracy): validation regret by default, test regret on request.

>>> from learnedsys.nas import TabularBenchmark
>>> bench = TabularBenchmark.load()
>>> curve = bench.run("random", n_evals=50, seed=0)
>>> len(curve), bool(curve[-1] <= curve[0])
(50, True)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from learnedsys._validation import InvalidParameterError, check_int
from learnedsys.nas._asha import ASHA
from learnedsys.nas._space import get_space
from learnedsys.nas._strategies import make_strategy

__all__ = ["TabularBenchmark", "default_table_path", "summarize"]


def default_table_path() -> Path:
    return Path(__file__).with_name("data") / "tabular_mlp_digits.json"


class TabularBenchmark:
    """Lookup-table evaluation of the ``tabular-mlp`` space (see module docstring)."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.space = get_space(payload["space"])
        self.epochs: list[int] = list(payload["epochs"])
        self.archs = [tuple(a) for a in payload["archs"]]
        val = np.array(payload["val"], dtype=float)  # (n, seeds, fidelities)
        test = np.array(payload["test"], dtype=float)  # (n, seeds)
        self.val = np.nan_to_num(val, nan=0.0)
        self.test = np.nan_to_num(test, nan=0.0)
        self.seconds = np.array(payload.get("seconds", np.zeros(test.shape)), dtype=float)
        self.params = np.array(payload.get("params", np.zeros(len(self.archs))), dtype=np.int64)
        self.row = {a: i for i, a in enumerate(self.archs)}
        if len(self.row) != len(self.archs) or self.val.shape[:2] != self.test.shape:
            raise InvalidParameterError("tabular benchmark: inconsistent table")
        self.mean_test = self.test.mean(axis=1)
        self.mean_val = self.val[:, :, -1].mean(axis=1)
        self.best_test = float(self.mean_test.max())
        self.best_val = float(self.mean_val.max())
        self.n_seeds = self.val.shape[1]

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> TabularBenchmark:
        """Read the shipped table (or another one written by ``build_tabular.py``)."""
        p = Path(path) if path is not None else default_table_path()
        try:
            payload = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise InvalidParameterError(f"{str(p)!r} is not a tabular benchmark (bad JSON: {exc})") from None
        return cls(payload)

    def __len__(self) -> int:
        return len(self.archs)

    def query(self, action: tuple[int, ...], rng: np.random.Generator, epochs: int | None = None) -> float:
        """Validation accuracy of ``action`` after ``epochs`` (default: the most) for a random seed."""
        i = self.row[self.space.canonical(action)]
        f = len(self.epochs) - 1 if epochs is None else self.epochs.index(epochs)
        return float(self.val[i, int(rng.integers(self.n_seeds)), f])

    def regret(self, action: tuple[int, ...], metric: str = "val") -> float:
        """Best mean ``val`` (12 epochs) or ``test`` accuracy in the table minus that of ``action``."""
        i = self.row[self.space.canonical(action)]
        if metric == "test":
            return self.best_test - float(self.mean_test[i])
        return self.best_val - float(self.mean_val[i])

    def run(self, strategy: str, n_evals: int = 150, seed: int = 0, asha: bool = False,
            metric: str = "val", **kwargs: Any) -> np.ndarray:
        """Regret of the incumbent after each of ``n_evals`` evaluations of one seeded search.

        ``metric`` ``"val"`` measures search quality (mean validation accuracy, the quantity the
        strategies optimise); ``"test"`` adds the validation/test mismatch of the chosen
        architecture, which on 359 test digits is as large as the differences between strategies.

        With ``asha``, the strategy runs under successive halving (3 -> 6 -> 12 epochs) and the
        x-axis is cost in full (12-epoch) trainings, so the curves compare at equal compute.
        """
        return self.run_both(strategy, n_evals, seed, asha, **kwargs)[metric]

    def run_both(self, strategy: str, n_evals: int = 150, seed: int = 0, asha: bool = False,
                 **kwargs: Any) -> dict[str, np.ndarray]:
        """:meth:`run` for both metrics at once: ``{"val": regrets, "test": regrets}``."""
        n_evals = check_int(n_evals, "n_evals", "TabularBenchmark.run", low=1)
        rng = np.random.default_rng([seed, 7])
        strat = make_strategy(strategy, self.space, seed=seed, **kwargs)
        out = np.empty(n_evals)
        out_t = np.empty(n_evals)
        if not asha:
            best_val, inc = -1.0, None
            for t in range(n_evals):
                p = strat.propose()
                r = self.query(p.action, rng)
                strat.update(p, r)
                if r > best_val:
                    best_val, inc = r, p.action
                out[t] = self.regret(inc)  # type: ignore[arg-type]
                out_t[t] = self.regret(inc, "test")  # type: ignore[arg-type]
            return {"val": out, "test": out_t}
        sched = ASHA(strat, min_epochs=self.epochs[0], max_epochs=self.epochs[-1], eta=2)
        full = float(self.epochs[-1])
        cost, t = 0.0, 0
        while t < n_evals:
            job = sched.next_job()
            r = self.query(job.action, rng, job.epochs)
            sched.report(job, r)
            cost += job.epochs / full
            best = sched.best()
            reg = self.regret(best[0]) if best else self.best_val
            reg_t = self.regret(best[0], "test") if best else self.best_test
            while t < n_evals and t + 1 <= cost:
                out[t] = reg
                out_t[t] = reg_t
                t += 1
        return {"val": out, "test": out_t}

    def compare(self, strategies: list[str], n_runs: int = 100, n_evals: int = 150, seed: int = 0,
                asha: bool = False, metric: str = "val") -> dict[str, np.ndarray]:
        """``{strategy: (n_runs, n_evals) regrets}`` over seeds ``seed .. seed + n_runs - 1``."""
        return {s: np.stack([self.run(s, n_evals, seed + i, asha=asha, metric=metric) for i in range(n_runs)])
                for s in strategies}


def summarize(curves: np.ndarray) -> dict[str, np.ndarray]:
    """Mean and 95% confidence band (normal approximation, 1.96 standard errors) per evaluation."""
    mean = curves.mean(axis=0)
    se = curves.std(axis=0, ddof=1) / np.sqrt(len(curves)) if len(curves) > 1 else np.zeros_like(mean)
    return {"mean": mean, "lo": mean - 1.96 * se, "hi": mean + 1.96 * se}
