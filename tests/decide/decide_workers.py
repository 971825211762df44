"""Worker functions for the multi-process tests (spawned processes import them by name)."""

from __future__ import annotations

import random

ARMS = [0.3, 0.5, 0.55, 0.65]
WIDE_ARMS = [0.1, 0.3, 0.5, 0.8]


def log_worker(path: str, worker: int, n: int) -> None:
    """Make n decisions with rewards, logging to the shared SQLite file."""
    from learnedsys.decide import Choice

    c = Choice("shared", options=list(range(4)), log=path, seed=worker)
    rng = random.Random(1000 + worker)  # not the policy seed
    for _ in range(n):
        d = c.choose()
        c.feedback(d, 1.0 if rng.random() < ARMS[d.value] else 0.0)
    c.close()


def learner_worker(handle: object, worker: int, n: int, out: object, barrier: object) -> None:
    """Choose from the learner's snapshot (no local updates) with feedback; then wait until a
    snapshot holds this worker's feedback and report what the shared policy serves here."""
    import time

    from learnedsys.decide import Choice, EpsilonGreedy

    c = Choice("shared", options=list(range(4)), policy=EpsilonGreedy(seed=worker), learner=handle, local_updates=False)
    rng = random.Random(1000 + worker)  # not the policy seed: rewards independent of its coins
    barrier.wait(120)  # type: ignore[attr-defined]  # all workers start together
    early = 0
    for i in range(n):
        d = c.choose()
        early += i < 100 and d.value == 3
        c.feedback(d, 1.0 if rng.random() < WIDE_ARMS[d.value] else 0.0)
        if i % 10 == 0:
            time.sleep(0.002)  # a decision every ~0.2 ms: snapshots (every 50 ms) keep up
    deadline = time.monotonic() + 60
    while sum(c.policy.state()["counts"]) < n and time.monotonic() < deadline:  # type: ignore[union-attr]
        if c._sync.incoming is not None:  # type: ignore[attr-defined]
            c._sync.apply()  # type: ignore[attr-defined]
        time.sleep(0.02)
    late = sum(c.choose().value == 3 for _ in range(400)) / 400
    c.close()
    out.put((worker, early / 100, late, c._sync.sent, c._sync.fetched))  # type: ignore[attr-defined]
