"""Where trials run: in this process, in a pool of long-lived local worker processes, or on Ray.

Workers are started once and keep torch imported and the data loaded (``import torch`` alone takes
about 2 s, more than many trials), and each trains with one intra-op thread: two threads per
trial on a loaded machine were seen to turn a 0.25 s trial into 27 s.

A pool with ``interruptible = True`` can end its running trials within one batch
(:meth:`LocalPool.interrupt`): a search that stops exploring early hands its workers to the final
training at once instead of when the trials' deadline comes.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from learnedsys._lazy import require
from learnedsys._validation import InvalidParameterError
from learnedsys.nas._data import Dataset
from learnedsys.nas._space import Space, get_space

__all__ = ["InlinePool", "LocalPool", "RayPool", "make_pool", "resolve_space"]

SpaceSpec = str | Callable[[], Space]

_WORKER: dict[str, Any] = {}


def resolve_space(spec: SpaceSpec | Space) -> Space:
    if isinstance(spec, Space):
        return spec
    if isinstance(spec, str):
        return get_space(spec)
    return spec()


def _watch_parent(parent: int) -> None:
    """Exit when the coordinating process is gone (kill -9 leaves pool workers waiting forever)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(space_spec: SpaceSpec | Space, data: Dataset, options: dict[str, Any], parent: int | None = None,
                 generation: Any = None) -> None:
    if parent is not None:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    _WORKER["generation"] = generation  # a shared int; a job submitted under another value stops
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch = require("torch", extra="torch")
    torch.set_num_threads(1)
    _WORKER.update(space=resolve_space(space_spec), data=data, options=options)
    _warm_up(data)


def _warm_up(data: Dataset) -> None:
    """Train a tiny MLP for one step so first-call costs (kernels, allocator) hit no trial."""
    from learnedsys.nas._space import mlp_space
    from learnedsys.nas._train import train_eval

    n = min(len(data.y_train), 64)
    tiny = Dataset(data.X_train[:n], data.y_train[:n], data.X_val[:8], data.y_val[:8], data.X_test[:0],
                   data.y_test[:0], data.shape, data.classes, data.mean, data.std)
    sp = mlp_space(1)
    train_eval(sp, sp.canonical((0,) * len(sp)), tiny, epochs=1, measure_latency=False)


def _run_job(action: tuple[int, ...], epochs: int, seed: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """One trial; ``extra`` adds or overrides :func:`train_eval` options (``fraction``,
    ``patience``, ``final``, ``init_state``...). Its ``_generation`` (set by the pool) is the
    pool's interrupt count when the job was submitted: the job stops once that count moves on."""
    from learnedsys.nas._train import train_eval

    opts = {**_WORKER["options"], **(extra or {})}
    gen, shared = opts.pop("_generation", None), _WORKER.get("generation")
    if gen is not None and shared is not None:
        opts["stop"] = lambda: shared.value != gen
    return train_eval(_WORKER["space"], action, _WORKER["data"], epochs=epochs, seed=seed, **opts)


def _ready(pause: float) -> int:
    time.sleep(pause)  # long enough that every worker, not one, takes one of these
    return os.getpid()


class InlinePool:
    """Runs each trial in the calling process when results are awaited (tests, tiny searches)."""

    #: nothing runs while the caller decides; :meth:`interrupt` drops the queued trials
    interruptible = True

    def __init__(self, space: SpaceSpec | Space, data: Dataset, options: dict[str, Any]) -> None:
        self.capacity = 1
        self._args = (space, data, options)
        self._queue: list[tuple[Any, tuple[int, ...], int, int, dict[str, Any] | None]] = []
        self._ready = False

    @property
    def pending(self) -> int:
        return len(self._queue)

    def submit(self, key: Any, action: tuple[int, ...], epochs: int, seed: int,
               extra: dict[str, Any] | None = None) -> None:
        self._queue.append((key, action, epochs, seed, extra))

    def wait(self, timeout: float | None = None) -> list[tuple[Any, dict[str, Any]]]:
        if not self._queue:
            return []
        if not self._ready:
            _init_worker(*self._args)
            self._ready = True
        key, action, epochs, seed, extra = self._queue.pop(0)
        return [(key, _run_job(action, epochs, seed, extra))]

    def warm(self) -> None:
        """Start the worker now (torch imported, data loaded), not at the first trial."""
        if not self._ready:
            _init_worker(*self._args)
            self._ready = True

    def drain(self, timeout: float = 30.0) -> None:
        """Forget the trials not yet run; the pool stays usable."""
        self._queue.clear()

    def interrupt(self) -> bool:
        """Forget the trials not yet run (none is ever running between calls)."""
        self._queue.clear()
        return True

    def close(self) -> None:
        self._queue.clear()


class LocalPool:
    """``workers`` long-lived processes (spawned once; never a process per trial)."""

    interruptible = True

    def __init__(self, space: SpaceSpec | Space, data: Dataset, options: dict[str, Any], workers: int) -> None:
        self.capacity = workers
        self._args = (space, data, options)
        self._futures: dict[cf.Future[dict[str, Any]], Any] = {}
        self._ctx = mp.get_context("spawn")
        # the interrupt count, shared with the workers (inherited at their start): each job
        # carries the count it was submitted under and stops within one batch once it changes
        self._generation = self._ctx.Value("i", 0)
        self._ex = self._make()

    def _make(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=self.capacity, mp_context=self._ctx,
                                      initializer=_init_worker, initargs=(*self._args, os.getpid(), self._generation))

    @property
    def pending(self) -> int:
        return len(self._futures)

    def submit(self, key: Any, action: tuple[int, ...], epochs: int, seed: int,
               extra: dict[str, Any] | None = None) -> None:
        extra = {**(extra or {}), "_generation": self._generation.value}
        self._futures[self._ex.submit(_run_job, action, epochs, seed, extra)] = key

    def interrupt(self) -> bool:
        """End every job submitted so far within one batch (each returns status ``timeout``);
        jobs submitted afterwards run normally. Their results still arrive through
        :meth:`wait` (or are discarded by :meth:`drain`)."""
        with self._generation.get_lock():
            self._generation.value += 1
        return True

    def wait(self, timeout: float | None = None) -> list[tuple[Any, dict[str, Any]]]:
        if not self._futures:
            return []
        done, _ = cf.wait(list(self._futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out = []
        broken = False
        for f in done:
            key = self._futures.pop(f)
            try:
                out.append((key, f.result()))
            except Exception as exc:
                broken = broken or isinstance(exc, cf.process.BrokenProcessPool)
                out.append((key, {"status": "error", "error": f"worker died: {type(exc).__name__}: {exc}",
                                  "val_acc": float("nan"), "seconds": 0.0}))
        if broken:
            for f, key in list(self._futures.items()):
                out.append((key, {"status": "error", "error": "worker pool broke", "val_acc": float("nan"), "seconds": 0.0}))
                del self._futures[f]
            self._ex.shutdown(wait=False, cancel_futures=True)
            self._ex = self._make()
        return out

    def warm(self) -> None:
        """Start every worker now (torch imported, data loaded), so that time is not charged
        to the first trials or to a training by the clock."""
        cf.wait([self._ex.submit(_ready, 0.3) for _ in range(self.capacity)])

    def drain(self, timeout: float = 30.0) -> None:
        """Discard the pending trials (they stop at their deadline); after ``timeout`` seconds
        the workers still busy are replaced by fresh ones. The pool stays usable."""
        if not self._futures:
            return
        _, busy = cf.wait(list(self._futures), timeout=timeout)
        self._futures.clear()
        if busy:
            self._ex.shutdown(wait=False, cancel_futures=True)
            self._ex = self._make()

    def close(self) -> None:
        self._ex.shutdown(wait=False, cancel_futures=True)
        self._futures.clear()


class RayPool:
    """``workers`` Ray actors (one CPU each), on a local Ray or the cluster at ``address``.

    Its running trials cannot be interrupted (they run to their deadline): ``interruptible`` is
    False, so a search on it explores for its whole budget."""

    interruptible = False

    def __init__(self, space: SpaceSpec | Space, data: Dataset, options: dict[str, Any], workers: int,
                 address: str | None = None) -> None:
        ray = require("ray", extra="ray", purpose="the Ray backend")
        self.ray = ray
        self.capacity = workers
        self._started_ray = False
        if not ray.is_initialized():
            if address:  # one way to a cluster for every part: token auth, a reachability and install check
                from learnedsys._ray import connect

                connect(address, purpose="nas search's Ray workers")
            else:
                ray.init(include_dashboard=False, log_to_driver=False, num_cpus=workers)
            self._started_ray = True

        @ray.remote(num_cpus=1)
        class _Actor:
            def __init__(self, space: SpaceSpec | Space, data: Dataset, options: dict[str, Any]) -> None:
                _init_worker(space, data, options)

            def run(self, action: tuple[int, ...], epochs: int, seed: int,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
                return _run_job(action, epochs, seed, extra)

        data_ref = ray.put(data)
        self._actors = [_Actor.remote(space, data_ref, options) for _ in range(workers)]  # type: ignore[attr-defined]
        self._free = list(self._actors)
        self._refs: dict[Any, tuple[Any, Any]] = {}

    @property
    def pending(self) -> int:
        return len(self._refs)

    def submit(self, key: Any, action: tuple[int, ...], epochs: int, seed: int,
               extra: dict[str, Any] | None = None) -> None:
        actor = self._free.pop()
        self._refs[actor.run.remote(action, epochs, seed, extra)] = (key, actor)

    def wait(self, timeout: float | None = None) -> list[tuple[Any, dict[str, Any]]]:
        if not self._refs:
            return []
        ready, _ = self.ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            key, actor = self._refs.pop(ref)
            self._free.append(actor)
            try:
                out.append((key, self.ray.get(ref)))
            except Exception as exc:
                out.append((key, {"status": "error", "error": f"ray task failed: {exc}", "val_acc": float("nan"), "seconds": 0.0}))
        return out

    def warm(self) -> None:
        """Ray actors start with the pool."""

    def drain(self, timeout: float = 30.0) -> None:
        """Wait up to ``timeout`` s for the pending trials (they stop at their deadline) and
        discard them."""
        if self._refs:
            self.ray.wait(list(self._refs), num_returns=len(self._refs), timeout=timeout)
        for _, actor in self._refs.values():
            self._free.append(actor)
        self._refs.clear()

    def interrupt(self) -> bool:
        """Not supported: returns False (running trials end at their deadline)."""
        return False

    def close(self) -> None:
        for a in self._actors:
            with contextlib.suppress(Exception):
                self.ray.kill(a)
        if self._started_ray:
            self.ray.shutdown()


def make_pool(backend: str, space: SpaceSpec | Space, data: Dataset, options: dict[str, Any], workers: int,
              address: str | None = None) -> InlinePool | LocalPool | RayPool:
    """``inline`` (this process), ``local`` (worker processes) or ``ray``."""
    if backend == "inline":
        return InlinePool(space, data, options)
    if backend == "local":
        return LocalPool(space, data, options, workers)
    if backend == "ray":
        return RayPool(space, data, options, workers, address)
    raise InvalidParameterError(f"The 'backend' parameter must be one of {{'inline', 'local', 'ray'}}. Got {backend!r} instead.")

