"""The decision log (SQLite, PostgreSQL), off-policy evaluation against a simulation whose value
is known, and several processes logging and learning at once."""

from __future__ import annotations

import multiprocessing
import time

import decide_workers
import numpy as np
import pytest

from learnedsys._validation import InvalidParameterError
from learnedsys.decide import (
    Choice,
    DecisionLog,
    EpsilonGreedy,
    Learner,
    LinUCB,
    doubly_robust,
    ips,
    snips,
)

MU = np.array([[0.2, 0.5, 0.4, 0.1], [0.6, 0.3, 0.4, 0.2], [0.3, 0.35, 0.7, 0.5]])  # context x arm


def test_log_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "log.sqlite"
    c = Choice("x", options=["a", "b", "c"], log=str(path), seed=0)
    ds = [c.choose([1.0, float(i % 2)]) if False else c.choose() for i in range(500)]
    for i, d in enumerate(ds):
        if i % 5:  # every fifth never gets feedback
            c.feedback(d, i / 500)
    c.close()
    log = c.log
    assert log is not None
    assert log.count("x") == (500, 400)
    got = log.read("x")
    assert len(got) == 400
    want = {d.id: d for i, d in enumerate(ds) if i % 5}
    for i, a, p, r, v in zip(got.ids, got.actions, got.propensities, got.rewards, got.values, strict=True):
        d = want[int(i)]
        assert (int(a),) == d.action and p == pytest.approx(d.propensity) and v == d.value
        assert r == pytest.approx(int(i) / 500)


def _simulate(n: int, seed: int, path: str | None = None):  # type: ignore[no-untyped-def]
    """Log n decisions of a known stochastic logging policy over 3 one-hot contexts x 4 arms."""
    from learnedsys.decide._ope import Estimate  # noqa: F401

    rng = np.random.default_rng(seed)
    ctx = rng.integers(0, 3, n)
    # logging policy: 70% arm (c + 1) % 4, the rest uniform
    mu_log = np.full((3, 4), 0.3 / 4)
    for c in range(3):
        mu_log[c, (c + 1) % 4] += 0.7
    acts = np.array([rng.choice(4, p=mu_log[c]) for c in ctx])
    rewards = (rng.random(n) < MU[ctx, acts]).astype(float)
    props = mu_log[ctx, acts]
    return np.eye(3)[ctx], acts, props, rewards


class _Logs:
    def __init__(self, x, a, p, r) -> None:  # type: ignore[no-untyped-def]
        self.contexts, self.actions, self.propensities, self.rewards = x, a, p, r


def test_off_policy_estimators_recover_a_known_value() -> None:
    x, a, p, r = _simulate(30_000, seed=1)
    logs = _Logs(x, a, p, r)
    target = np.zeros((len(a), 4))
    best = MU.argmax(axis=1)
    target[np.arange(len(a)), best[x.argmax(axis=1)]] = 1.0
    truth = MU.max(axis=1).mean()  # contexts uniform: the target's exact value
    logging_value = float(r.mean())
    for est in (ips(logs, target), snips(logs, target), doubly_robust(logs, target)):
        assert abs(est.value - truth) < 4 * est.stderr + 0.005, est
        assert abs(est.value - truth) < 0.03
    assert abs(logging_value - truth) > 0.1  # the naive average of the logs is far off
    dr, ip = doubly_robust(logs, target), ips(logs, target)
    assert dr.stderr < ip.stderr  # the model cuts the variance


def test_off_policy_from_a_real_log(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Log an epsilon-greedy Choice, then evaluate a greedy LinUCB target from the SQLite log."""
    path = str(tmp_path / "ope.sqlite")
    c = Choice("ctx", options=[0, 1, 2, 3], policy=EpsilonGreedy(epsilon=0.5, explore=0, seed=0), log=path)
    rng = np.random.default_rng(0)
    eye = np.eye(3)
    for _ in range(6000):
        k = int(rng.integers(3))
        d = c.choose(eye[k])
        c.feedback(d, float(rng.random() < MU[k, d.value]))
    c.close()
    logs = DecisionLog(path).read("ctx")
    assert logs.contexts.shape == (6000, 3)
    target = LinUCB(seed=0)
    from learnedsys.policy import ActionSpace

    target.bind(ActionSpace((4,)))
    for xc, act, rew in zip(logs.contexts, logs.actions, logs.rewards, strict=True):
        target._learn(int(act), float(rew), xc)
    truth = np.mean([MU[k, target.greedy(eye[k])[0]] for k in range(3)])
    est = snips(logs, target, 4)
    assert abs(est.value - truth) < 4 * est.stderr + 0.01
    with pytest.raises(InvalidParameterError, match="propensities"):
        ips(_Logs(None, np.array([0]), np.array([0.0]), np.array([1.0])), np.ones((1, 1)))


def test_decisions_from_several_processes_all_arrive(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "shared.sqlite")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=decide_workers.log_worker, args=(path, w, 2000)) for w in range(3)]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join(120)
        assert pr.exitcode == 0
    log = DecisionLog(path)
    assert log.count("shared") == (6000, 6000)
    got = log.read("shared")
    assert len(set(got.run)) == 3
    assert len(set(zip(got.run, got.ids.tolist(), strict=True))) == 6000


def test_several_workers_improve_one_shared_policy() -> None:
    learner = Learner(EpsilonGreedy(seed=0), options=list(range(4)), interval=0.05).start()
    handle = learner.handle()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    n = 3000
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=decide_workers.learner_worker, args=(handle, w, n, out, barrier)) for w in range(3)]
    for pr in procs:
        pr.start()
    results = [out.get(timeout=180) for _ in procs]
    for pr in procs:
        pr.join(60)
        assert pr.exitcode == 0
    assert learner.wait(3 * n, timeout=30)
    learner.stop()
    state = learner.snapshot()
    assert sum(state["counts"]) == 3 * n  # every worker's feedback reached the learner
    assert learner.policy.greedy() == (3,)
    for _, _early, late, sent, fetched in results:
        assert sent == n and fetched >= 2  # all feedback shipped; snapshots refreshed
        # the worker's policy started knowing nothing (local_updates=False: uniform, 0.25) and
        # changed only through the learner's snapshots
        assert late >= 0.8, results


def test_postgres_log(postgres_url: str) -> None:
    c = Choice("pg", options=[0, 1, 2], log=postgres_url, seed=0)
    ds = [c.choose() for _ in range(300)]
    for d in ds:
        c.feedback(d, float(d.value))
    c.close()
    log = DecisionLog(postgres_url)
    assert log.count("pg") == (300, 300)
    got = log.read("pg")
    assert sorted(got.ids.tolist()) == list(range(300))
    assert np.array_equal(got.rewards, got.actions.astype(float))


def test_bad_log_argument() -> None:
    with pytest.raises(InvalidParameterError, match="'log' parameter of Choice"):
        Choice("x", options=[1], log=42)
    t0 = time.perf_counter()
    with pytest.raises(Exception):  # noqa: B017 - a missing directory fails at open, not later
        Choice("x", options=[1], log="/nonexistent/dir/log.sqlite").choose()
    assert time.perf_counter() - t0 < 10


def test_ray_learner_with_ray_workers() -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        learner = Learner(EpsilonGreedy(seed=0), options=list(range(4)), backend="ray", interval=0.05).start()
        handle = learner.handle()
        arms = [0.1, 0.3, 0.5, 0.8]  # wide gaps: two short workers must agree on the best arm

        @ray.remote
        def worker(handle, w, n):  # type: ignore[no-untyped-def]
            import random as _random
            import time as _time

            from learnedsys.decide import Choice as _Choice
            from learnedsys.decide import EpsilonGreedy as _EG

            c = _Choice("shared", options=list(range(4)), policy=_EG(seed=w), learner=handle, local_updates=False)
            rng = _random.Random(1000 + w)  # not the policy seed: rewards independent of its coins
            early = 0
            for i in range(n):
                d = c.choose()
                early += i < 100 and d.value == 3
                c.feedback(d, 1.0 if rng.random() < arms[d.value] else 0.0)
                if i % 10 == 0:
                    _time.sleep(0.002)
            # wait (bounded) until a snapshot holds at least this worker's own feedback, then
            # evaluate what the shared policy serves here, without feedback
            deadline = _time.monotonic() + 60
            while sum(c.policy.state()["counts"]) < n and _time.monotonic() < deadline:
                if c._sync.incoming is not None:
                    c._sync.apply()
                _time.sleep(0.02)
            late = sum(c.choose().value == 3 for _ in range(400)) / 400
            c.close()
            return early / 100, late, c._sync.sent, c._sync.fetched

        n = 2000
        res = ray.get([worker.remote(handle, w, n) for w in range(2)])
        assert learner.wait(2 * n, timeout=60)
        learner.stop()
        assert sum(learner.policy.counts) == 2 * n  # type: ignore[attr-defined]
        assert learner.policy.greedy() == (3,), (learner.policy.counts, learner.policy.means, res)  # type: ignore[attr-defined]
        assert all(r[2] == n and r[3] >= 2 for r in res), res  # all feedback shipped, snapshots refreshed
        # each worker serves the shared policy's best arm; with local_updates=False its own policy
        # started knowing nothing (uniform: 0.25) and changed only through the learner's snapshots
        assert all(r[1] >= 0.8 for r in res), res
    finally:
        ray.shutdown()
