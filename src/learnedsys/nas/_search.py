"""The search loop: ask the strategy, run trials on a pool, journal them, tell the strategy.

>>> from learnedsys.nas import load_dataset, search
>>> data = load_dataset("digits", seed=0)
>>> res = search(data, space="mlp", strategy="random", max_trials=2, backend="inline", epochs=2)
>>> res.trials, res.resumed_trials, 0.0 <= res.best["val_acc"] <= 1.0
(2, 0, True)
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from learnedsys._validation import (
    InvalidParameterError,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_seed,
)
from learnedsys.nas._asha import ASHA, Job
from learnedsys.nas._data import Dataset
from learnedsys.nas._executor import SpaceSpec, make_pool, resolve_space
from learnedsys.nas._space import Space
from learnedsys.nas._storage import Journal
from learnedsys.nas._strategies import PolicyStrategy, make_strategy
from learnedsys.policy import Policy, Proposal

__all__ = ["SearchResult", "pareto_front", "search"]

OBJECTIVES = ("accuracy", "latency", "params")


@dataclass
class SearchResult:
    """What a search found. ``trials`` counts finished trials in the study (resumed included)."""

    best: dict[str, Any] | None
    trials: int
    resumed_trials: int
    history: list[dict[str, Any]]
    pareto: list[dict[str, Any]]
    space: str
    strategy: str
    seconds: float
    failed: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    top: list[dict[str, Any]] = field(default_factory=list)
    hand_built: dict[str, Any] | None = None
    timed_out: int = 0
    #: when the search stopped exploring before its budget (``hand_built_stop``): ``t`` (seconds
    #: into the search), ``reason``, the validation accuracy of the hand-built network and of its
    #: best rival, the rivals at the top rung, the passes over the data each side had made and the
    #: trials interrupted; None when it explored to the end
    stopped: dict[str, Any] | None = None
    #: trained weights by architecture (``keep_weights``): ``{action: {"state", "number",
    #: "epochs", "epochs_run", "val_acc"}}``; not in :meth:`to_json`
    weights: dict[tuple[int, ...], dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"best": self.best, "hand_built": self.hand_built, "trials": self.trials, "resumed_trials": self.resumed_trials,
                "timed_out_trials": self.timed_out, "stopped": self.stopped,
                "failed_trials": self.failed, "space": self.space, "strategy": self.strategy,
                "seconds": round(self.seconds, 3), "config": self.config, "top": self.top, "pareto": self.pareto,
                "history": self.history}


def pareto_front(points: list[dict[str, Any]], cost: str) -> list[dict[str, Any]]:
    """Points not dominated in (higher ``val_acc``, lower ``cost``), sorted by cost. O(n log n)."""
    pts = [p for p in points if p.get("status") == "ok" and _finite(p.get(cost)) and _finite(p.get("val_acc"))]
    pts.sort(key=lambda p: (p[cost], -p["val_acc"]))
    front: list[dict[str, Any]] = []
    best = -math.inf
    for p in pts:
        if p["val_acc"] > best:
            front.append(p)
            best = p["val_acc"]
    return front


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(float(x))


def _reward(result: dict[str, Any], objective: str, weight: float, target: float) -> float:
    acc = result.get("val_acc", float("nan"))
    if result.get("status") != "ok" or not _finite(acc):
        return 0.0
    if objective == "accuracy":
        return float(acc)
    cost = result.get("latency_ms" if objective == "latency" else "params")
    if cost is None or not _finite(cost) or cost <= 0:
        return float(acc)
    # MnasNet's soft constraint: acc * (cost / target) ** w with w < 0
    return float(acc) * (float(cost) / target) ** weight


def parse_budget(text: str | float | int) -> float:
    """Seconds from ``240``, ``"240"``, ``"90s"``, ``"10m"`` or ``"1h"``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        s = str(text).strip().lower()
        mult = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(s[-1:])
        try:
            value = float(s[:-1]) * mult if mult is not None else float(s)
        except ValueError:
            value = float("nan")
    if not math.isfinite(value) or value <= 0:
        raise InvalidParameterError(f"The 'budget' parameter must be a positive number of seconds, or like '10m' or '1h'. Got {text!r} instead.")
    return value


def search(data: Dataset, *, space: SpaceSpec | Space = "mlp", strategy: str | Policy = "evolution",
           budget: float | str = 60.0, max_trials: int | None = None, workers: int = 1,
           backend: str = "local", address: str | None = None, storage: str | os.PathLike[str] | None = None,
           study: str = "nas", fresh: bool = False, resume: bool | None = None, seed: int | None = 0, epochs: int = 20,
           asha: bool = False, min_epochs: int | None = None, eta: int = 3,
           objective: str = "accuracy", cost_weight: float = -0.07, cost_target: float | None = None,
           measure_latency: bool = True, progress: bool = False,
           strategy_options: dict[str, Any] | None = None, try_defaults: bool = True,
           min_fraction: float = 1.0, patience: int = 0, pool: Any = None, hand_built_stop: int = 0,
           keep_weights: int = 0) -> SearchResult:
    """Search ``space`` for the architecture with the best validation accuracy on ``data``.

    Args:
        space: a built-in space name (``mlp``, ``cnn``, ``cell``), a :class:`Space` (inline
            backend only) or an importable function returning one.
        strategy: ``evolution``, ``reinforce``, ``random`` or ``tpe``, or any
            :class:`~learnedsys.policy.Policy` (unbound: bound here to the space's action space;
            it gets the same hand-built first trials, rewards and budget).
        budget: wall-clock seconds for this call (also ``"10m"``, ``"1h"``); trials still
            running when it ends are abandoned, unless no trial has succeeded yet: then the
            search waits for the running ones (and starts one if none started), so a budget
            shorter than a trial still gives a model.
        max_trials: stop after this many new trials (and wait for them all); for reproducible
            runs.
        workers: trials in parallel (one process / Ray actor each, one thread each).
        backend: ``local`` (worker processes, started with ``spawn``: a script that calls
            :func:`search` needs the usual ``if __name__ == "__main__":`` guard), ``ray``, or
            ``inline`` (this process).
        address: Ray cluster address (``ray`` backend; default: start a local Ray).
        storage: where the trials are kept, an Optuna study in RDB storage: a SQLite file path,
            ``sqlite:///PATH`` or ``postgresql://...`` (``optuna.load_study`` and
            ``optuna-dashboard`` open it); None keeps them in memory.
        study: the study's name in ``storage``. An existing study resumes: its finished trials
            are kept, counted in ``resumed_trials`` and replayed into the strategy (its space,
            strategy, data, objective and asha must be the same).
        fresh: delete an existing study of that name and start over.
        resume: deprecated and ignored (an existing study resumes unless ``fresh``).
        seed: seeds the strategy and every trial's training.
        epochs: training epochs per trial (the top rung with ``asha``).
        asha: successive halving from ``min_epochs`` (default ``epochs // 9``, at least 1) up to
            ``epochs``, promoting the top 1/``eta``.
        min_fraction: with ``asha``, the fraction of the training data at the lowest rung
            (multi-fidelity over epochs and data; the top rung uses all of it).
        patience: early stopping of each trial: stop once its validation loss has not improved
            for this many epochs (0: off).
        pool: a worker pool from :func:`~learnedsys.nas._executor.make_pool` to run the trials
            on (the caller closes it; the final retraining can then reuse its workers); by
            default one is made from ``backend`` / ``workers`` and closed at the end.
        objective: ``accuracy``, or ``latency`` / ``params`` for hardware-aware search: the reward
            is ``acc * (cost / cost_target) ** cost_weight`` (MnasNet), and the result's Pareto
            front trades accuracy against that cost.
        progress: keep a live line on stderr: trials, best validation accuracy, time left.
        try_defaults: propose the space's hand-built ``defaults`` first (those not already in
            a resumed study): the search then never ends below the usual hand-built network when
            the budget allows it to be trained. With ``asha`` they are trained at the top rung
            (the fidelity the winner is chosen at) and always waited for, so the winner's
            validation accuracy is at least theirs.
        hand_built_stop: when > 0, stop exploring once the hand-built network's top-rung trial and
            ``hand_built_stop`` searched architectures' top-rung trials have finished and the
            hand-built network still leads: the search has run its first bracket(s) (with
            ``asha``, the best of the first ``eta`` architectures promoted to the top) and found
            nothing better, and the rest of the budget is worth more as training of the
            hand-built network (issue 20: a final phase that kept it with 45 % of the budget lost
            to the same network given the whole budget). Running trials are interrupted within
            one batch (by the budget; the pool must be ``interruptible``, else the search explores
            to the end) or waited for (``max_trials``). Counted in trials, not seconds, so the
            decision is the same for the same results whatever the machine's speed.
            :attr:`SearchResult.stopped` records it, with the passes over the data (epochs run x
            data fraction) the searched trials and the hand-built network had made.
        keep_weights: keep the trained weights of the hand-built network's top-rung trial and of
            the ``keep_weights`` best architectures at the top rung in
            :attr:`SearchResult.weights` (to warm-start the final training: the search's epochs
            then count). Trials of a resumed study have none.

    Returns:
        a :class:`SearchResult`. Cost: the trials; the loop itself is O(trials) bookkeeping.
    """
    owner = "search"
    if resume is not None:
        warnings.warn("search(resume=...) is deprecated and ignored: an existing study resumes unless fresh=True",
                      DeprecationWarning, stacklevel=2)
    check_bool(fresh, "fresh", owner)
    budget_s = parse_budget(budget)
    max_trials = check_int(max_trials, "max_trials", owner, low=1, none_ok=True)
    workers = check_int(workers, "workers", owner, low=1)
    check_choice(backend, "backend", owner, ("local", "ray", "inline"))
    seed = check_seed(seed, "seed", owner) or 0
    epochs = check_int(epochs, "epochs", owner, low=1)
    eta = check_int(eta, "eta", owner, low=2)
    check_choice(objective, "objective", owner, OBJECTIVES)
    cost_weight = check_float(cost_weight, "cost_weight", owner, high=0.0)
    hand_built_stop = check_int(hand_built_stop, "hand_built_stop", owner, low=0)
    keep_weights = check_int(keep_weights, "keep_weights", owner, low=0)
    user_policy = strategy if isinstance(strategy, Policy) else None
    if user_policy is None:
        check_choice(strategy, "strategy", owner, ("evolution", "reinforce", "random", "tpe"))
    strategy_name = str(strategy) if user_policy is None else type(user_policy).__name__
    if isinstance(space, Space) and backend != "inline":
        raise InvalidParameterError("A Space object cannot be sent to worker processes; pass a built-in space name or an importable function returning the Space (or use backend='inline').")
    sp = resolve_space(space)
    if sp.family in ("cnn", "cell") and not data.is_image:
        raise InvalidParameterError(f"The {sp.family!r} space needs image data (n, C, H, W); these samples have shape {data.shape}. Use space='mlp'.")
    if cost_target is None:
        cost_target = 1.0 if objective == "latency" else 1e4
    space_name = space if isinstance(space, str) else sp.name
    config = {"space": space_name, "strategy": strategy_name, "data": data.fingerprint, "objective": objective,
              "asha": [min_epochs, epochs, eta] if asha else None, "seed": seed, "epochs": epochs}

    started = time.monotonic()
    journal = Journal(storage or None, study)
    finished = journal.open(config, fresh=fresh)
    n_resumed = len(finished)
    # a resumed study reseeds the strategy so it does not replay the proposals it already made
    strat_seed = seed + 1_000_003 * n_resumed
    if user_policy is not None:
        strat: Any = PolicyStrategy(sp, user_policy, seed=strat_seed)
    else:
        strat = make_strategy(str(strategy), sp, seed=strat_seed, **(strategy_options or {}))
    sched = ASHA(strat, min_epochs or max(1, epochs // 9), epochs, eta, min_fraction) if asha else None
    defaults = set(sp.default_actions())
    first_jobs: list[Job] = []
    if try_defaults:
        tried = {sp.canonical(tr["action"]) for tr in finished if sched is None or tr["epochs"] == epochs}
        for a in sp.default_actions():
            if a in tried:
                continue
            if sched is not None:
                first_jobs.append(sched.top_job(a))
            else:
                strat.enqueue(a)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    n_failed = 0
    n_timeout = 0
    stopped: dict[str, Any] | None = None
    weights: dict[tuple[int, ...], dict[str, Any]] = {}

    def better(tr: dict[str, Any], cur: dict[str, Any] | None) -> bool:
        if tr["status"] != "ok" or not _finite(tr.get("val_acc")):
            return False
        if cur is None:
            return True
        return _rank_key(tr) < _rank_key(cur)

    def record(tr: dict[str, Any], elapsed: float | None) -> None:
        nonlocal best, n_failed
        if tr["status"] not in ("ok", "timeout"):
            n_failed += 1
        if better(tr, best):
            best = tr
        history.append({"number": tr["number"], "action": list(tr["action"]), "status": tr["status"], "epochs": tr["epochs"],
                        "rung": tr.get("rung", 0), "fraction": tr.get("fraction", 1.0),
                        "epochs_run": tr.get("epochs_run", tr["epochs"]),
                        "hand_built": tuple(tr["action"]) in defaults,
                        "val_acc": _clean(tr.get("val_acc")), "val_loss": _clean(tr.get("val_loss")),
                        "partial_val_acc": _clean(tr.get("partial_val_acc")),
                        "reward": _clean(tr["reward"]),
                        "seconds": _clean(tr.get("seconds")), "t": None if elapsed is None else round(elapsed, 3),
                        "resumed": elapsed is None,
                        "best_val_acc": None if best is None else _clean(best["val_acc"]),
                        "error": (tr.get("error") or None) if tr["status"] != "ok" else None})

    for tr in finished:
        tr["reward"] = _reward(tr, objective, cost_weight, cost_target)
        prop = Proposal(tr["action"])
        if sched is not None:
            sched.report(Job(tr["action"], tr["epochs"], tr["rung"], prop), tr["reward"])
        else:
            strat.update(prop, tr["reward"])
        record(tr, None)
    all_trials = list(finished)

    options = {"batch_size": 64, "measure_latency": measure_latency or objective == "latency", "patience": patience}
    own_pool = pool is None
    if pool is None:
        pool = make_pool(backend, sp if isinstance(space, Space) else space, data, options, workers, address)
    bar = _Progress(budget_s) if progress else None
    # stopping early needs the running trials to end now (by the budget) or to be waited for
    can_stop = hand_built_stop > 0 and (max_trials is not None or bool(getattr(pool, "interruptible", False)))

    def check_stop() -> None:
        nonlocal stopped
        if stopped is not None or not can_stop:
            return
        why = _hand_built_leads(best, all_trials, defaults, epochs, hand_built_stop)
        if why is None:
            return
        stopped = {"t": round(time.monotonic() - started, 3), **why, "interrupted": len(running)}
        if max_trials is None and running:
            pool.interrupt()  # they end within one batch; journaled 'lost' as at the budget's end
        if bar is not None:
            bar.say(f"nas: exploration stopped {stopped['t']:.0f} s into the search's {budget_s:.0f} s: the hand-built network "
                    f"leads at the top rung ({why['hand_built_val_acc']:.4f}; {why['rivals']} searched architecture(s) "
                    f"trained as long, best {_fmt(why['rivals_best_val_acc'])}) after {why['explored_passes']:.1f} passes "
                    f"over the data of exploration; the rest of the budget goes to its final training")
    must_finish: set[int] = set()
    n_new = 0
    waited = False
    running: dict[int, tuple[Job, float]] = {}
    check_stop()  # a resumed study may have decided already
    try:
        while True:
            elapsed = time.monotonic() - started
            stop_new = elapsed >= budget_s or (max_trials is not None and n_new >= max_trials) or stopped is not None
            if n_new == 0 and best is None:
                stop_new = False  # a budget shorter than one trial still trains one
            while not stop_new and pool.pending < pool.capacity:
                first = bool(first_jobs)
                if first:
                    job = first_jobs.pop(0)
                elif sched is not None:
                    job = sched.next_job()
                else:
                    p = strat.propose()
                    job = Job(p.action, epochs, 0, p)
                number = journal.start(job.action, job.epochs, job.rung, job.fraction)
                if first:
                    must_finish.add(number)
                extra: dict[str, Any] = {}
                if job.fraction < 1.0:
                    extra["fraction"] = job.fraction
                if max_trials is None and number not in must_finish and best is not None:
                    # stops at the budget's end (until a trial succeeds, trials run to the end)
                    extra["deadline"] = time.time() + budget_s - (time.monotonic() - started)
                if keep_weights and job.epochs == epochs:
                    extra["return_state"] = True
                pool.submit(number, job.action, job.epochs, seed, extra or None)
                running[number] = (job, time.monotonic())
                n_new += 1
                stop_new = max_trials is not None and n_new >= max_trials
            if pool.pending == 0:
                break
            if max_trials is None and (elapsed >= budget_s or stopped is not None):
                # a searched architecture's top-rung trial, cut by the budget, reports how far its
                # weights got (within one batch and an evaluation): the caller may weigh that
                # against the incumbent; a few seconds at most
                wait_cut = stopped is None and elapsed < budget_s + _CUT_WAIT_S and any(
                    j.epochs == epochs and tuple(j.action) not in defaults for j, _ in running.values())
                if not wait_cut and best is not None and not (must_finish & set(running)):
                    break  # trials still running are abandoned (journaled as 'running', then 'lost')
                if not waited and not wait_cut:  # nothing has succeeded yet: wait for the running trials, not a new one
                    waited = True
                    print(f"learnedsys nas: the budget ({budget_s:.0f} s) ran out before any trial finished; waiting for "
                          f"the {pool.pending} running trial(s) (a larger --budget, or fewer --epochs, fits more)",
                          file=sys.stderr)
            wait_for = 1.0 if max_trials is not None else max(0.05, min(1.0, budget_s - elapsed))
            for num, res in pool.wait(timeout=wait_for):
                job, _ = running.pop(num)
                state = res.pop("state", None)
                journal.finish(num, res)
                tr = {"number": num, "action": job.action, "epochs": job.epochs, "rung": job.rung,
                      "fraction": job.fraction, **res}
                tr["reward"] = _reward(tr, objective, cost_weight, cost_target)
                if tr["status"] == "timeout":  # cut by the budget: says nothing about the architecture
                    n_timeout += 1
                    record(tr, time.monotonic() - started)
                    continue
                if sched is not None:
                    sched.report(job, tr["reward"])
                else:
                    strat.update(job.proposal, tr["reward"])
                all_trials.append(tr)
                record(tr, time.monotonic() - started)
                if state is not None and tr["status"] == "ok":
                    _keep_weights(weights, tr, state, defaults, keep_weights)
                check_stop()
            if bar is not None:
                bar.show(time.monotonic() - started, len(all_trials), pool.pending, best,
                         best is not None and tuple(best["action"]) in defaults)
    finally:
        if own_pool:
            pool.close()
        else:
            pool.drain()
        journal.abandon_running()
        journal.close()
        if bar is not None:
            bar.close()

    best_out = None
    if best is not None:
        best_out = {"number": best["number"], "action": list(best["action"]), "architecture": sp.decode(best["action"]),
                    "val_acc": best["val_acc"], "val_loss": _clean(best.get("val_loss")), "reward": best["reward"],
                    "epochs": best["epochs"], "hand_built": tuple(best["action"]) in defaults,
                    "params": best.get("params"), "latency_ms": _clean(best.get("latency_ms"))}
    hand = [t for t in all_trials if tuple(t["action"]) in defaults and t["status"] == "ok"]
    hand_best = max(hand, key=lambda t: (t["epochs"], t["val_acc"])) if hand else None
    pts = [{"number": t["number"], "status": t["status"], "val_acc": _clean(t.get("val_acc")),
            "latency_ms": _clean(t.get("latency_ms")), "params": t.get("params")} for t in all_trials]
    cost_key = "params" if objective == "params" else "latency_ms"
    ranked = sorted((t for t in all_trials if t["status"] == "ok" and _finite(t.get("val_acc"))),
                    key=_rank_key)
    top: list[dict[str, Any]] = []
    for t in ranked:
        if len(top) == 10:
            break
        if all(tuple(x["action"]) != tuple(t["action"]) for x in top):
            top.append({"number": t["number"], "action": list(t["action"]), "val_acc": t["val_acc"],
                        "val_loss": _clean(t.get("val_loss")), "reward": t["reward"], "epochs": t["epochs"],
                        "seconds": _clean(t.get("seconds")), "fraction": t.get("fraction", 1.0)})
    return SearchResult(best=best_out, trials=len(all_trials), resumed_trials=n_resumed, history=history,
                        pareto=pareto_front(pts, cost_key), space=space_name, strategy=strategy_name,
                        seconds=time.monotonic() - started, failed=n_failed, config=config, top=top, timed_out=n_timeout,
                        stopped=stopped, weights={a: {k: v for k, v in w.items() if k != "key"} for a, w in weights.items()},
                        hand_built=None if hand_best is None else {
                            "number": hand_best["number"], "val_acc": hand_best["val_acc"], "epochs": hand_best["epochs"],
                            "val_loss": _clean(hand_best.get("val_loss"))})


def _passes(t: dict[str, Any]) -> float:
    """Passes over the training data a finished trial made: epochs run x its data fraction."""
    ran = t.get("epochs_run")
    if not isinstance(ran, (int, float)):
        ran = t["epochs"] if t["status"] == "ok" else 0
    return float(ran) * float(t.get("fraction", 1.0) or 1.0)


def _hand_built_leads(best: dict[str, Any] | None, trials: list[dict[str, Any]], defaults: set[tuple[int, ...]],
                      top_epochs: int, rivals: int) -> dict[str, Any] | None:
    """Why the search should stop exploring now, or None: the incumbent is a hand-built
    architecture trained at the top rung, and at least ``rivals`` searched architectures have
    finished the top rung (all below it, since it leads). O(trials)."""
    if best is None or tuple(best["action"]) not in defaults or best["epochs"] != top_epochs:
        return None
    hand = [t for t in trials if tuple(t["action"]) in defaults and t["status"] == "ok" and t["epochs"] == top_epochs]
    searched = [t for t in trials if tuple(t["action"]) not in defaults]
    top = {tuple(t["action"]) for t in searched if t["epochs"] == top_epochs}
    if not hand or len(top) < rivals:
        return None
    return {"reason": "hand-built incumbent", "hand_built_val_acc": float(best["val_acc"]),
            "rivals": len(top), "rivals_best_val_acc": max((float(t["val_acc"]) for t in searched
                                                            if t["epochs"] == top_epochs and _finite(t.get("val_acc"))),
                                                           default=None),
            "hand_built_passes": round(max(_passes(t) for t in hand), 3),
            "explored_passes": round(sum(_passes(t) for t in searched), 3), "trials": len(trials)}


def _keep_weights(weights: dict[tuple[int, ...], dict[str, Any]], tr: dict[str, Any], state: dict[str, Any],
                  defaults: set[tuple[int, ...]], keep: int) -> None:
    """Add a top-rung trial's weights; keep the hand-built ones and the ``keep`` best others."""
    a = tuple(tr["action"])
    if a in weights and weights[a]["key"] <= _rank_key(tr):
        return
    weights[a] = {"state": state, "number": tr["number"], "epochs": tr["epochs"],
                  "epochs_run": int(tr.get("epochs_run") or tr["epochs"]), "val_acc": float(tr["val_acc"]),
                  "key": _rank_key(tr)}
    others = sorted((k for k in weights if k not in defaults), key=lambda k: weights[k]["key"])
    for k in others[keep:]:
        del weights[k]


#: seconds past the budget the search waits for a searched top-rung trial it cut to report
_CUT_WAIT_S = 5.0


def _rank_key(t: dict[str, Any]) -> tuple[float, float, float, int]:
    """Order of finished trials, best first: more epochs, higher reward, then lower validation loss.

    The loss breaks ties between equal accuracies (on small validation sets many architectures
    reach the same count of correct samples); trials without a loss (older journals) sort last
    among their ties.
    """
    raw = t.get("val_loss")
    loss = float(raw) if isinstance(raw, (int, float)) and math.isfinite(raw) else math.inf
    return (-t["epochs"], -t["reward"], loss, t["number"])


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.4f}"


def _clean(x: Any) -> Any:
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(float(x)) else None
    return x


class _Progress:
    """One live line on stderr: rewritten in place on a terminal, a new line every 15 s otherwise."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.tty = sys.stderr.isatty()
        self.last = -math.inf
        self.width = 0

    def show(self, elapsed: float, trials: int, running: int, best: dict[str, Any] | None, hand: bool) -> None:
        if not self.tty and elapsed - self.last < 15.0:
            return
        self.last = elapsed
        acc = "-" if best is None else f"{best['val_acc']:.4f}" + (" (hand-built)" if hand else "")
        line = (f"nas: {trials} trials done, {running} running, best validation accuracy {acc}, "
                f"{max(0.0, self.budget - elapsed):.0f} s of search left")
        if self.tty:
            sys.stderr.write("\r" + line.ljust(self.width))
            self.width = len(line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def say(self, line: str) -> None:
        """A line of its own (a decision), below the live line."""
        if self.tty and self.width:
            sys.stderr.write("\n")
            self.width = 0
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty and self.width:
            sys.stderr.write("\n")
            sys.stderr.flush()
