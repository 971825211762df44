"""The durable decision log: every decision (context, action, propensity, policy version) and every
reward, written to SQLite (default) or PostgreSQL by a background thread, off the hot path.

The hot path only appends a tuple to an in-memory :class:`collections.deque` (thread-safe, O(1));
a writer thread wakes every ``flush_interval`` seconds, drains the queue, serialises contexts and
values to JSON and writes them in one transaction. Several processes may log to the same SQLite
file at once (WAL journal, busy timeout) or the same PostgreSQL database; rows are keyed by
(choice, run, id) where ``run`` is unique per :class:`Choice` instance.

Contexts are serialised when the writer drains the queue, not when the decision is made: do not
mutate a context array in place after passing it to ``choose``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from learnedsys import _storage
from learnedsys._serialization import json_default
from learnedsys._validation import InvalidParameterError, check_float

__all__ = ["DecisionLog", "LoggedDecisions", "open_log", "recorder"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS decisions (choice TEXT NOT NULL, run TEXT NOT NULL, id BIGINT NOT NULL, "
    "ts DOUBLE PRECISION, context TEXT, action TEXT, value TEXT, propensity DOUBLE PRECISION, "
    "version BIGINT, served TEXT, PRIMARY KEY (choice, run, id))",
    "CREATE TABLE IF NOT EXISTS rewards (choice TEXT NOT NULL, run TEXT NOT NULL, id BIGINT NOT NULL, "
    "reward DOUBLE PRECISION, ts DOUBLE PRECISION, is_default INTEGER, PRIMARY KEY (choice, run, id))",
)

_DECISION, _REWARD = 0, 1  # the queue's two kinds of item (see recorder)


def _json(v: Any) -> str | None:
    if v is None:
        return None
    t = type(v)
    if t is int or t is float:
        return repr(v) if v == v and v not in (math.inf, -math.inf) else json.dumps(v)
    if isinstance(v, np.ndarray):
        return json.dumps(v.tolist())
    try:
        return json.dumps(v, default=_default)
    except (TypeError, ValueError):
        return json.dumps(repr(v))


def _default(o: Any) -> Any:
    try:
        return json_default(o)
    except TypeError:
        return repr(o)


class Writers(NamedTuple):
    """A :class:`~learnedsys.decide.Choice`'s writers to its log (see :func:`recorder`)."""

    decided: Callable[[Any], None]
    rewarded: Callable[[Any, float, bool], None]
    observed: Callable[[Any, float], None]


def recorder(log: DecisionLog, choice: str, run: str) -> Writers:
    """The writers of ``log`` for the Choice ``choice`` (its run ``run``): ``decided(d)`` queues
    the row of decision ``d``, ``rewarded(d, reward, is_default)`` the row of its reward, and
    ``observed(d, reward)`` both rows, at one time, for an outcome learned by ``Choice.observe``
    (a decision served ``"observed"``, with no propensity and a negative id).

    Each is one deque append of the decision and the time (``time.time()``): the rows' columns
    are laid out by the writer thread (:func:`_rows`), off the hot path.
    """
    append, now = log._queue.append, time.time

    def decided(d: Any) -> None:
        append((_DECISION, choice, run, d, now()))

    def rewarded(d: Any, reward: float, is_default: bool) -> None:
        append((_REWARD, choice, run, d, reward, now(), is_default))

    def observed(d: Any, reward: float) -> None:
        ts = now()
        append((_DECISION, choice, run, d, ts))
        append((_REWARD, choice, run, d, reward, ts, False))

    return Writers(decided, rewarded, observed)


def _rows(q: deque[tuple[Any, ...]], n: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The ``decisions`` and ``rewards`` rows of the first ``n`` items of ``q`` (queued by the
    writers of :func:`recorder`, taken off ``q``): the one place their columns are laid out.

    A decision ``d`` is the tuple (value, id, propensity, version, arm, context, choice, ...) of
    :class:`~learnedsys.decide.Decision`; its action column is ``d.action`` as a list, ``[2]``
    or ``[1, 0]``, written from the arm (an int for a single choice, a tuple for a structured
    one). Indexed, not through the properties: this runs once per row, on the writer thread.
    """
    decisions: list[tuple[Any, ...]] = []
    rewards: list[tuple[Any, ...]] = []
    pop, add_decision, add_reward, js = q.popleft, decisions.append, rewards.append, _json
    for _ in range(n):
        item = pop()
        if item[0] == _DECISION:
            _, choice, run, d, ts = item
            arm = d[4]
            action = str(list(arm)) if type(arm) is tuple else f"[{arm!r}]"
            add_decision((choice, run, d[1], ts, js(d[5]), action, js(d[0]), d[2], d[3], d.served))
        else:
            _, choice, run, d, r, ts, is_default = item
            add_reward((choice, run, d[1], r, ts, int(is_default)))
    return decisions, rewards


@dataclass
class LoggedDecisions:
    """Decisions read back from a log, as arrays (one row per decision that has a reward).

    ``contexts`` is an (n, d) float array when every context was a numeric vector, else a list.
    """

    choice: str
    run: list[str]
    ids: np.ndarray
    actions: np.ndarray  # (n,) ints for single choices, (n, m) for sequences
    propensities: np.ndarray
    rewards: np.ndarray
    versions: np.ndarray
    served: list[str]
    contexts: Any
    values: list[Any]

    def __len__(self) -> int:
        return len(self.ids)


class DecisionLog:
    """A durable log of decisions and rewards, written off the hot path.

    Args:
        url: a file path or ``sqlite:///path`` for SQLite (the default store), or a
            ``postgresql://user@host:port/db`` URL for PostgreSQL (needs ``psycopg``).
        flush_interval: seconds between writer wake-ups. Knob: shorter means fresher rows and
            more writer work; the hot path cost does not change.
    """

    def __init__(self, url: str | os.PathLike[str], *, flush_interval: float = 0.2) -> None:
        if not isinstance(url, (str, os.PathLike)) or not str(url):
            raise InvalidParameterError(
                f"The 'url' parameter of DecisionLog must be a file path, a sqlite:/// URL or a postgresql:// URL. Got {url!r} instead."
            )
        _storage.sqlite_path(url, "url")  # the one storage grammar: a path, sqlite:/// or postgresql://
        self.url = str(url)
        self.flush_interval = check_float(flush_interval, "flush_interval", "DecisionLog", low=0.0, closed="neither")
        self._queue: deque[tuple[Any, ...]] = deque()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._stop = False
        self._error: BaseException | None = None
        self.written = 0

    @property
    def is_postgres(self) -> bool:
        return _storage.is_postgres(self.url)

    # -- connections ---------------------------------------------------------------------
    def _connect(self) -> Any:
        conn = _storage.connect(self.url, purpose="a PostgreSQL decision log", what="log")
        if self.is_postgres:
            with conn.cursor() as cur:
                for stmt in _SCHEMA:
                    cur.execute(stmt)
        else:
            for stmt in _SCHEMA:
                conn.execute(stmt)
        conn.commit()
        return conn

    def _ph(self, n: int) -> str:
        mark = "%s" if self.is_postgres else "?"
        return ", ".join([mark] * n)

    # -- writer ---------------------------------------------------------------------------
    def start(self) -> DecisionLog:
        """Open the store and start the writer thread (the first record does this too)."""
        with self._lock:
            if self._thread is None:
                conn = self._connect()  # fail here, in the caller, on a bad URL
                self._thread = threading.Thread(target=self._run, args=(conn,), name="learnedsys-decision-log", daemon=True)
                self._thread.start()
                _OPEN_LOGS.add(self)
        return self

    def _run(self, conn: Any) -> None:
        try:
            while True:
                self._wake.wait(self.flush_interval)
                self._wake.clear()
                self._drain(conn)
                if self._stop and not self._queue:
                    break
        except BaseException as exc:  # surfaced by flush()/close()
            self._error = exc
        finally:
            self._idle.set()
            with contextlib.suppress(Exception):  # closing a broken connection
                conn.close()

    def _drain(self, conn: Any) -> None:
        q = self._queue
        while q:
            n = min(len(q), 50_000)
            decisions, rewards = _rows(q, n)
            self._write(conn, decisions, rewards)
            self.written += n
        self._idle.set()

    def _write(self, conn: Any, decisions: list[tuple[Any, ...]], rewards: list[tuple[Any, ...]]) -> None:
        if self.is_postgres:
            with conn.cursor() as cur:
                if decisions:
                    cur.executemany(f"INSERT INTO decisions VALUES ({self._ph(10)}) ON CONFLICT DO NOTHING", decisions)
                if rewards:
                    cur.executemany(f"INSERT INTO rewards VALUES ({self._ph(6)}) ON CONFLICT DO NOTHING", rewards)
            conn.commit()
            return
        with conn:
            if decisions:
                conn.executemany(f"INSERT OR IGNORE INTO decisions VALUES ({self._ph(10)})", decisions)
            if rewards:
                conn.executemany(f"INSERT OR IGNORE INTO rewards VALUES ({self._ph(6)})", rewards)

    # -- hot path -------------------------------------------------------------------------
    def _append(self, item: tuple[Any, ...]) -> None:
        if self._thread is None:
            self.start()
        self._idle.clear()
        self._queue.append(item)

    def flush(self, timeout: float = 60.0) -> None:
        """Block until everything recorded so far is written (raises the writer's error, if any)."""
        if self._thread is None:
            return
        deadline = time.monotonic() + timeout
        while self._queue or not self._idle.is_set():
            if self._error is not None or not self._thread.is_alive():
                break
            self._wake.set()
            self._idle.wait(0.05)
            if time.monotonic() > deadline:
                raise TimeoutError(f"the decision log did not flush within {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"the decision log writer failed: {self._error!r}") from self._error

    def close(self) -> None:
        """Write what is queued and stop the writer thread."""
        if self._thread is None:
            return
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=120)
        self._thread = None
        _OPEN_LOGS.discard(self)
        if self._error is not None:
            raise RuntimeError(f"the decision log writer failed: {self._error!r}") from self._error

    # -- reading --------------------------------------------------------------------------
    def count(self, choice: str | None = None) -> tuple[int, int]:
        """(decisions, rewards) stored, for one choice or all."""
        self.flush()
        conn = self._connect()
        try:
            where = f" WHERE choice = {self._ph(1)}" if choice is not None else ""
            args = (choice,) if choice is not None else ()
            cur = conn.cursor()
            cur.execute("SELECT COUNT(*) FROM decisions" + where, args)
            nd = int(cur.fetchone()[0])
            cur.execute("SELECT COUNT(*) FROM rewards" + where, args)
            nr = int(cur.fetchone()[0])
            return nd, nr
        finally:
            conn.close()

    def read(self, choice: str, *, served: str | None = None, observed: bool = False) -> LoggedDecisions:
        """Decisions of ``choice`` that received a reward (joined with their rewards), in log order.

        Args:
            served: keep only decisions served by ``"policy"`` or ``"default"`` (None: both).
            observed: also return the outcomes learned through :meth:`Choice.observe` (rows with
                ``served="observed"`` and no propensity, which off-policy estimators cannot use).
        """
        self.flush()
        conn = self._connect()
        try:
            ph = self._ph(1)
            q = (
                "SELECT d.run, d.id, d.context, d.action, d.value, d.propensity, d.version, d.served, r.reward "
                "FROM decisions d JOIN rewards r ON d.choice = r.choice AND d.run = r.run AND d.id = r.id "
                f"WHERE d.choice = {ph}"
            )
            args: tuple[Any, ...] = (choice,)
            if served is not None:
                q += f" AND d.served = {ph}"
                args = (choice, served)
            elif not observed:
                q += " AND d.served <> 'observed'"
            q += " ORDER BY d.ts, d.run, d.id"
            cur = conn.cursor()
            cur.execute(q, args)
            rows = cur.fetchall()
        finally:
            conn.close()
        ctxs = [None if r[2] is None else json.loads(r[2]) for r in rows]
        actions = [json.loads(r[3]) for r in rows]
        contexts: Any = ctxs
        if ctxs and all(isinstance(c, list) and all(isinstance(v, (int, float)) for v in c) for c in ctxs):
            try:
                contexts = np.asarray(ctxs, dtype=np.float64)
            except ValueError:
                contexts = ctxs
        acts = np.asarray(actions, dtype=np.int64)
        if acts.ndim == 2 and acts.shape[1] == 1:
            acts = acts[:, 0]
        return LoggedDecisions(
            choice=choice,
            run=[r[0] for r in rows],
            ids=np.asarray([r[1] for r in rows], dtype=np.int64),
            actions=acts if rows else np.zeros(0, dtype=np.int64),
            propensities=np.asarray([r[5] for r in rows], dtype=np.float64),
            rewards=np.asarray([r[8] for r in rows], dtype=np.float64),
            versions=np.asarray([r[6] for r in rows], dtype=np.int64),
            served=[r[7] for r in rows],
            contexts=contexts,
            values=[None if r[4] is None else json.loads(r[4]) for r in rows],
        )

    def __repr__(self) -> str:
        return f"DecisionLog({self.url!r})"


_OPEN_LOGS: weakref.WeakSet[DecisionLog] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for log in list(_OPEN_LOGS):
        with contextlib.suppress(Exception):  # best effort at interpreter exit
            log.close()


def open_log(log: Any) -> DecisionLog | None:
    """None, a DecisionLog, or a path / URL (which opens a DecisionLog)."""
    if log is None or isinstance(log, DecisionLog):
        return log
    if isinstance(log, (str, os.PathLike)):
        return DecisionLog(log)
    raise InvalidParameterError(
        f"The 'log' parameter of Choice must be None, a DecisionLog, a file path or a database URL. Got {log!r} instead."
    )
