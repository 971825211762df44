"""Section 1 of ``bench decide``: the cost of a decision against a plain-Python loop, Vowpal
Wabbit's in-process client and Optuna's ask/tell, timed in interleaved rounds."""

from __future__ import annotations

import os
import random
import tempfile
import time
from typing import Any

import numpy as np

from learnedsys.bench._harness import BenchContext, SectionResult

ARMS = [0.3, 0.5, 0.55, 0.65]


# -- 1. overhead per decision -----------------------------------------------------------------

def _rewards(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.random() for _ in range(n)]


def _loop_inline(u: list[float]) -> int:
    """The trivial plain-Python epsilon-greedy loop, everything inline."""
    counts, means, best = [0] * 4, [0.0] * 4, 0
    rnd = random.Random(0).random
    hits = 0
    for x in u:
        a = int(rnd() * 4) if rnd() < 0.05 else best
        r = 1.0 if x < ARMS[a] else 0.0
        n = counts[a] + 1
        counts[a] = n
        means[a] += (r - means[a]) / n
        if means[a] > means[best]:
            best = a
        hits += a == 3
    return hits


class _Trivial:
    """The same epsilon-greedy as two plain-Python functions, choose() and feedback()."""

    def __init__(self) -> None:
        self.counts, self.means, self.best = [0] * 4, [0.0] * 4, 0
        self.rnd = random.Random(0).random

    def choose(self) -> int:
        if self.rnd() < 0.05:
            return int(self.rnd() * 4)
        return self.best

    def feedback(self, a: int, r: float) -> None:
        n = self.counts[a] + 1
        self.counts[a] = n
        m = self.means
        m[a] += (r - m[a]) / n
        if m[a] > m[self.best]:
            self.best = a


def _loop_trivial(u: list[float]) -> int:
    t = _Trivial()
    ch, fb = t.choose, t.feedback
    hits = 0
    for x in u:
        a = ch()
        fb(a, 1.0 if x < ARMS[a] else 0.0)
        hits += a == 3
    return hits


def _loop_choice(u: list[float], log: str | None = None, policy: Any = None, flush: bool = True) -> int:
    from learnedsys.decide import Choice

    c = Choice("bench", options=[0, 1, 2, 3], policy=policy, seed=0, log=log)
    c.feedback(c.choose(), 0.0)  # binds the policy and installs the hot path
    ch, fb = c.choose, c.feedback
    hits = 0
    for x in u:
        d = ch()
        a = d.value
        fb(d, 1.0 if x < ARMS[a] else 0.0)
        hits += a == 3
    if log is not None:
        if flush:
            c.close()
        else:
            _PENDING_LOGS.append(c)  # written after the timing
    return hits


_PENDING_LOGS: list[Any] = []


def _loop_river(u: list[float]) -> int:
    """river.bandit's epsilon-greedy (the in-Python bandit library a user would pick), the same
    job: 4 arms, epsilon 0.05, one pull + update per decision."""
    from river import bandit

    policy = bandit.EpsilonGreedy(epsilon=0.05, seed=0)
    arms: list[int | str] = [0, 1, 2, 3]
    pull, update = policy.pull, policy.update
    hits = 0
    for x in u:
        a: Any = pull(arms)
        update(a, 1.0 if x < ARMS[a] else 0.0)
        hits += a == 3
    return hits


def _loop_vw(u: list[float], preparsed: bool) -> int:
    import vowpalwabbit

    vw = vowpalwabbit.Workspace("--cb_explore 4 --epsilon 0.05 --quiet")
    shared = vw.parse("| x")
    labeled = {}
    if preparsed:
        for a in range(4):
            for cost in (0.0, -1.0):
                for p in (0.9625, 0.0125, 0.25):
                    labeled[(a, cost, p)] = vw.parse(f"{a + 1}:{cost}:{p} | x")
    rnd = random.Random(7).random
    hits = 0
    for x in u:
        pmf = vw.predict(shared) if preparsed else vw.predict("| x")
        v, acc, a = rnd(), 0.0, 3
        for j, pj in enumerate(pmf):
            acc += pj
            if v < acc:
                a = j
                break
        cost = -1.0 if x < ARMS[a] else 0.0
        if preparsed:
            p = pmf[a]
            key = 0.9625 if p > 0.5 else (0.25 if abs(p - 0.25) < 1e-6 else 0.0125)
            vw.learn(labeled[(a, cost, key)])
        else:
            vw.learn(f"{a + 1}:{cost}:{pmf[a]} | x")
        hits += a == 3
    vw.finish()
    return hits


def _loop_optuna(u: list[float], sampler: str) -> int:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    smp = optuna.samplers.TPESampler(seed=0) if sampler == "tpe" else optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(direction="maximize", sampler=smp)
    dist: dict[str, Any] = {"arm": optuna.distributions.CategoricalDistribution([0, 1, 2, 3])}
    hits = 0
    for x in u:
        t = study.ask(dist)
        a = t.params["arm"]
        study.tell(t, 1.0 if x < ARMS[a] else 0.0)
        hits += a == 3
    return hits


def _overhead(ctx: BenchContext, res: SectionResult) -> None:
    n = 30_000 if ctx.quick else 100_000
    u = _rewards(n, ctx.seed + 1_000_003)  # not the policies' seed: rewards independent of their coins
    rows: list[dict[str, Any]] = []
    tmp = tempfile.mkdtemp(prefix="lsys-bench-decide-")
    counter = iter(range(10**6))

    def logged() -> int:
        return _loop_choice(u[: n // 3], log=os.path.join(tmp, f"log{next(counter)}.sqlite"), flush=False)

    def logged_flushed() -> int:
        return _loop_choice(u[: n // 3], log=os.path.join(tmp, f"log{next(counter)}.sqlite"), flush=True)

    variants: list[tuple[str, Any, int]] = [
        ("plain Python epsilon-greedy, inline loop", lambda: _loop_inline(u), n),
        ("plain Python epsilon-greedy, a class with choose()/feedback()", lambda: _loop_trivial(u), n),
        ("learnedsys Choice (default policy)", lambda: _loop_choice(u), n),
        ("learnedsys Choice + SQLite log: the loop (writer thread running)", logged, n // 3),
        ("learnedsys Choice + SQLite log: until every row is written", logged_flushed, n // 3),
    ]
    from learnedsys.decide import UCB1

    variants.append(("learnedsys Choice, UCB1 policy", lambda: _loop_choice(u[: n // 5], policy=UCB1(seed=0)), n // 5))
    try:
        import river  # noqa: F401

        variants.append(("river.bandit.EpsilonGreedy (pull/update)", lambda: _loop_river(u[: n // 10]), n // 10))
    except ImportError:
        res.notes.append("river is not installed (pip install 'learnedsys[bench]'): its row is missing")
    try:
        import vowpalwabbit  # noqa: F401

        m = n // 10
        variants.append(("Vowpal Wabbit cb_explore, pre-parsed examples", lambda: _loop_vw(u[:m], True), m))
        variants.append(("Vowpal Wabbit cb_explore, text examples", lambda: _loop_vw(u[:m], False), m))
    except ImportError:
        res.notes.append("vowpalwabbit is not installed: its rows are missing")
    try:
        import optuna  # noqa: F401

        variants.append(("Optuna ask/tell, RandomSampler", lambda: _loop_optuna(u[:1000], "random"), 1000))
        k = 60 if ctx.quick else 300
        variants.append((f"Optuna ask/tell, TPESampler (first {k} trials)", lambda: _loop_optuna(u[:k], "tpe"), k))
    except ImportError:
        res.notes.append("optuna is not installed: its rows are missing")
    # interleaved: each round times every variant once, so load changes on a shared machine hit
    # all of them alike; the first round is the warm-up
    times: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    hits_of: dict[str, int] = {}
    rounds = max(3, ctx.repeats)
    fast = {variants[i][0] for i in (0, 1, 2)} | {name for name, _, _ in variants if "UCB1" in name}
    for rnd in range(3 * rounds + 1):  # the sub-µs loops get 3x the rounds: load noise is their main error
        for name, fn, _ in variants:
            slow = "Optuna" in name or "Vowpal" in name or "river" in name
            if (slow and rnd > 3) or (name not in fast and rnd > rounds):
                continue  # three timed rounds are enough for the slow ones
            t0 = time.perf_counter()
            hits_of[name] = fn()
            if rnd > 0:
                times[name].append(time.perf_counter() - t0)
            # the rows a logged loop left to its writer thread are written now, untimed, so that
            # the thread does not run (and take the GIL) during the variants timed after it
            for c in _PENDING_LOGS:
                c.close()
            _PENDING_LOGS.clear()
    for name, _, count in variants:
        ts = np.asarray(times[name]) / count * 1e6
        rows.append({"what": name, "n": count, "us": float(np.median(ts)), "p25": float(np.percentile(ts, 25)),
                     "p75": float(np.percentile(ts, 75)), "rounds": len(ts), "best_rate": hits_of[name] / count})
    base_fn = rows[1]["us"]
    base_inline = rows[0]["us"]
    ours = rows[2]["us"]
    for r in rows:
        r["x_trivial"] = r["us"] / base_fn
        r["x_inline"] = r["us"] / base_inline
        r["x_ours"] = r["us"] / ours
    res.tables.append((
        "Overhead per choose + feedback (context-free, 4 options, Bernoulli rewards; median over interleaved rounds)",
        rows,
        [("what", "implementation", "s"), ("n", "decisions", "d"), ("us", "µs/decision", ".3f"),
         ("p25", "p25", ".3f"), ("p75", "p75", ".3f"), ("rounds", "rounds", "d"), ("x_trivial", "× trivial functions", ".2f"),
         ("x_inline", "× inline loop", ".2f"), ("x_ours", "× learnedsys", ".1f"), ("best_rate", "best-arm rate", ".3f")],
    ))
    for r in rows:
        res.records.append({"workload": "overhead", **r})
    vw = [r for r in rows if "pre-parsed" in r["what"]]

    def paired(a: str, b: str) -> np.ndarray:
        # per-round ratios of two variants timed back to back (the same load hits both)
        na = next(c for m, _, c in variants if m == a)
        nb = next(c for m, _, c in variants if m == b)
        k = min(len(times[a]), len(times[b]))
        return (np.asarray(times[a][:k]) / na) / (np.asarray(times[b][:k]) / nb)

    pr = paired(variants[2][0], variants[1][0])
    msg = (f"overhead: learnedsys choose+feedback {ours:.2f} µs = {ours / base_fn:.2f}× the plain-Python "
           f"class loop ({base_fn:.2f} µs; per-round paired ratio median {np.median(pr):.2f}×, "
           f"IQR {np.percentile(pr, 25):.2f}–{np.percentile(pr, 75):.2f}, {len(pr)} rounds) and "
           f"{ours / base_inline:.2f}× the inline loop (goal: within 3×)")
    res.records.append({"workload": "overhead-paired", "what": "learnedsys / plain class", "median": float(np.median(pr)),
                        "p25": float(np.percentile(pr, 25)), "p75": float(np.percentile(pr, 75)), "rounds": len(pr)})
    if vw:
        pv = paired(vw[0]["what"], variants[2][0])
        msg += (f"; Vowpal Wabbit pre-parsed {vw[0]['us']:.2f} µs = {vw[0]['us'] / ours:.1f}× ours "
                f"(paired {np.median(pv):.1f}×, {len(pv)} rounds; goal ≥ 5×)")
        res.records.append({"workload": "overhead-paired", "what": "VW pre-parsed / learnedsys", "median": float(np.median(pv)),
                            "p25": float(np.percentile(pv, 25)), "p75": float(np.percentile(pv, 75)), "rounds": len(pv)})
    res.notes.append(msg)
