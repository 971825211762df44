"""Distributed decisions: many processes choose from a local policy snapshot, feedback flows
asynchronously to one learner, snapshots refresh in the background.

No remote call is made per decision. Each worker's :class:`Choice` (given ``learner=handle``) keeps
a local copy of the policy; its feedback is applied locally and queued; a background thread ships
queued feedback to the learner every ``interval`` seconds and fetches a fresh snapshot when the
learner has published one, which the next ``choose`` swaps in (one attribute check per call).

Two learners:

- in-process (default): :class:`Learner` runs a thread in the process that created it, reads
  feedback from a :mod:`multiprocessing` queue and publishes JSON snapshots to a file (atomic
  rename). Give ``learner.handle()`` to worker processes as a ``Process`` argument.
- Ray (``Learner(policy, backend="ray")``): the policy lives in a Ray actor; handles are Ray actor
  handles, usable from Ray tasks and actors on any node.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue as queue_mod
import tempfile
import threading
import time
from collections import deque
from typing import Any

from learnedsys._atomic import atomic_write
from learnedsys._lazy import require
from learnedsys._validation import InvalidParameterError, check_choice, check_float
from learnedsys.decide._policies import DecidePolicy
from learnedsys.decide._space import as_space
from learnedsys.policy import Policy, Proposal

__all__ = ["Learner", "LearnerHandle"]


def _apply(policy: Policy, batch: list[tuple[Any, float, Any, float]]) -> None:
    fast = isinstance(policy, DecidePolicy) and policy.single
    for arm, r, ctx, p in batch:
        if fast:
            policy._learn(arm, r, ctx)  # type: ignore[attr-defined]
        else:
            action = tuple(arm) if isinstance(arm, (tuple, list)) else (arm,)
            policy.update(Proposal(action, p), r, ctx)


class LearnerHandle:
    """What a worker needs to reach an in-process learner: a feedback queue and a snapshot file.
    Picklable when passed to a ``multiprocessing`` Process (the queue travels with the process)."""

    def __init__(self, queue: Any, snapshot_path: str, interval: float) -> None:
        self.queue = queue
        self.snapshot_path = snapshot_path
        self.interval = interval

    def send(self, batch: list[Any]) -> None:
        self.queue.put(batch)

    def fetch(self, known_version: int) -> tuple[int, dict[str, Any]] | None:
        try:
            with open(self.snapshot_path) as fh:
                payload = json.load(fh)
        except (OSError, ValueError):
            return None
        v = int(payload["published"])
        return (v, payload["state"]) if v > known_version else None


class _RayHandle:
    def __init__(self, actor: Any, interval: float) -> None:
        self.actor = actor
        self.interval = interval

    def send(self, batch: list[Any]) -> None:
        self.actor.update_batch.remote(batch)  # fire and forget

    def fetch(self, known_version: int) -> tuple[int, dict[str, Any]] | None:
        ray = require("ray", extra="ray", purpose="a Ray learner")
        return ray.get(self.actor.snapshot.remote(known_version))


class Learner:
    """The learner that workers' feedback trains; it publishes snapshots of its policy.

    Args:
        policy: the policy to train (bound here to ``options``' action space if it is not yet).
        options: the option space the workers' Choices use (to bind the policy).
        backend: ``"process"`` (a thread in this process, the default) or ``"ray"`` (a Ray actor).
        interval: seconds between snapshot publications (and the workers' sync period).
        address: with ``backend="ray"``, the cluster to run the actor on (``"HOST:PORT"`` of
            ``ray start --head``, or ``"auto"``); None: the Ray this process runs or a local one.
            Token authentication and worker installs: see :mod:`learnedsys._ray`.
    """

    def __init__(
        self, policy: Policy, options: Any = None, *, backend: str = "process", interval: float = 0.05,
        address: str | None = None,
    ) -> None:
        if not isinstance(policy, Policy):
            raise InvalidParameterError(f"The 'policy' parameter of Learner must be a Policy. Got {policy!r} instead.")
        self.policy = policy
        self.options = options
        self.backend = check_choice(backend, "backend", "Learner", ("process", "ray"))
        self.interval = check_float(interval, "interval", "Learner", low=0.0, closed="neither")
        if address is not None and (not isinstance(address, str) or not address):
            raise InvalidParameterError(f"The 'address' parameter of Learner must be 'HOST:PORT', 'auto' or None. Got {address!r} instead.")
        self.address = address
        self._thread: threading.Thread | None = None
        self._actor: Any = None
        self.updates = 0
        self.published = 0

    def start(self) -> Learner:
        """Bind the policy, start the learner (thread or Ray actor) and publish a first snapshot."""
        if isinstance(self.policy, DecidePolicy) and not self.policy._bound:
            if self.options is None:
                raise InvalidParameterError("Learner needs 'options' to bind an unbound policy")
            space = as_space(self.options)
            self.policy.bind(space.action_space, space)
        if self.backend == "ray":
            from learnedsys import _ray

            ray = _ray.connect(self.address, purpose="a Ray learner")
            actor_cls = ray.remote(_RayLearner)
            self._actor = actor_cls.remote(type(self.policy).__module__, type(self.policy).__name__, self.policy.state(), self.options)
            return self
        ctx = multiprocessing.get_context("spawn")
        self._queue = ctx.Queue()
        self._dir = tempfile.mkdtemp(prefix="learnedsys-learner-")
        self._path = os.path.join(self._dir, "snapshot.json")
        self._stop = threading.Event()
        self._publish()
        self._thread = threading.Thread(target=self._run, name="learnedsys-learner", daemon=True)
        self._thread.start()
        return self

    def handle(self) -> Any:
        """A handle for workers: ``Choice(..., learner=handle)``."""
        if self.backend == "ray":
            if self._actor is None:
                self.start()
            return _RayHandle(self._actor, self.interval)
        if self._thread is None:
            self.start()
        return LearnerHandle(self._queue, self._path, self.interval)

    def _publish(self) -> None:
        self.published += 1
        payload = json.dumps({"published": self.published, "state": self.policy.state()})
        atomic_write(self._path, payload, what="learner snapshot")  # readers never see a partial file

    def _run(self) -> None:
        last = time.monotonic()
        dirty = False
        while True:
            try:
                batch = self._queue.get(timeout=self.interval)
                _apply(self.policy, batch)
                self.updates += len(batch)
                dirty = True
            except queue_mod.Empty:
                if self._stop.is_set():
                    break
            now = time.monotonic()
            if dirty and now - last >= self.interval:
                self._publish()
                last, dirty = now, False
        if dirty:
            self._publish()

    def wait(self, updates: int, timeout: float = 60.0) -> bool:
        """Block until the learner has applied ``updates`` feedback items (True) or time is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.applied() >= updates:
                return True
            time.sleep(0.02)
        return False

    def applied(self) -> int:
        """Feedback items applied so far."""
        if self.backend == "ray":
            ray = require("ray", extra="ray")
            return int(ray.get(self._actor.applied.remote()))
        return self.updates

    def snapshot(self) -> dict[str, Any]:
        """The learner policy's current state."""
        if self.backend == "ray":
            ray = require("ray", extra="ray")
            got = ray.get(self._actor.snapshot.remote(-1))
            return got[1]
        return self.policy.state()

    def stop(self) -> None:
        """Apply what is queued, publish a last snapshot and stop."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=60)
            self._thread = None
        if self.backend == "ray" and self._actor is not None:
            self.policy.load_state(self.snapshot())


class _RayLearner:
    """The Ray actor: a policy, rebuilt from its class name and state."""

    def __init__(self, module: str, cls: str, state: dict[str, Any], options: Any) -> None:
        import importlib

        pol = getattr(importlib.import_module(module), cls)()
        space = as_space(options)
        pol.bind(space.action_space, space)
        pol.load_state(state)
        self.policy = pol
        self.n = 0
        self.version = 0

    def update_batch(self, batch: list[Any]) -> None:
        _apply(self.policy, batch)
        self.n += len(batch)
        self.version += 1

    def applied(self) -> int:
        return self.n

    def snapshot(self, known: int) -> tuple[int, dict[str, Any]] | None:
        if self.version <= known:
            return None
        return self.version, self.policy.state()


class _WorkerSync:
    """A worker's side: ships feedback and fetches snapshots on a background thread."""

    def __init__(self, choice: Any, handle: Any) -> None:
        self.choice = choice
        self.handle = handle
        self.outbox: deque[Any] = deque()
        self.incoming: tuple[int, dict[str, Any]] | None = None
        self.known = -1
        self.sent = 0
        self.fetched = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        got = handle.fetch(-1)
        if got is not None:
            self.known = got[0]
            choice.policy.load_state(got[1])
        self._thread = threading.Thread(target=self._run, name="learnedsys-worker-sync", daemon=True)
        self._thread.start()

    def apply(self) -> None:
        got, self.incoming = self.incoming, None
        if got is not None:
            self.choice.policy.load_state(got[1])

    def _ship(self) -> None:
        q = self.outbox
        if q:
            batch = [q.popleft() for _ in range(len(q))]  # deque: safe against the hot path's appends
            self.handle.send(batch)
            self.sent += len(batch)

    def _run(self) -> None:
        interval = self.handle.interval
        while not self._stop.wait(interval):
            try:
                self._ship()
                got = self.handle.fetch(self.known)
            except Exception as exc:  # a transient failure must not stop the sync for good
                self.errors.append(repr(exc))
                continue
            if got is not None:
                self.known = got[0]
                self.incoming = got
                self.fetched += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._ship()
