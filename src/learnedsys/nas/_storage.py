"""The trial journal: SQLite by default, PostgreSQL by URL.

Every trial is written when it starts (``running``) and again when it ends (``ok``, ``nan``,
``error``), each in its own committed transaction, so a kill -9 loses at most the trials that
were running. Only the coordinating process writes (workers return results to it), which keeps
SQLite free of "database is locked" however many workers run.

URLs: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``sqlite:///:memory:``,
``postgresql://user:pass@host:port/db``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from learnedsys._lazy import require
from learnedsys._validation import InvalidParameterError

__all__ = ["Journal", "StudyExistsError"]


class StudyExistsError(InvalidParameterError):
    """The study already exists and ``resume`` was not asked for."""


_DDL = [
    """CREATE TABLE IF NOT EXISTS nas_studies (
        study_id {pk}, name TEXT UNIQUE NOT NULL, config TEXT NOT NULL, created DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS nas_trials (
        trial_id {pk}, study_id INTEGER NOT NULL, number INTEGER NOT NULL, action TEXT NOT NULL,
        epochs INTEGER NOT NULL, rung INTEGER NOT NULL, status TEXT NOT NULL,
        val_acc DOUBLE PRECISION, params BIGINT, latency_ms DOUBLE PRECISION, seconds DOUBLE PRECISION,
        error TEXT, started DOUBLE PRECISION NOT NULL, finished DOUBLE PRECISION)""",
    "CREATE INDEX IF NOT EXISTS nas_trials_study ON nas_trials (study_id, number)",
]

FINISHED = ("ok", "nan", "error")


class Journal:
    """A study's trials in a SQL database.

    Args:
        url: ``sqlite:///...`` or ``postgresql://...``.
        study: the study's name (one database holds many studies).
    """

    def __init__(self, url: str, study: str) -> None:
        self.url, self.study = url, study
        self.study_id: int | None = None
        self._conn: Any = None
        self._pg = False

    # -- connection ---------------------------------------------------------------------------
    def _connect(self) -> Any:
        if self._conn is not None:
            return self._conn
        url = self.url
        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///"):]
            conn = sqlite3.connect(path or ":memory:", timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            pk = "INTEGER PRIMARY KEY AUTOINCREMENT"
        elif url.startswith(("postgresql://", "postgres://")):
            psycopg = require("psycopg", extra="postgres", purpose="PostgreSQL storage")
            conn = psycopg.connect(url, autocommit=True)
            self._pg = True
            pk = "SERIAL PRIMARY KEY"
        else:
            raise InvalidParameterError(
                f"The 'storage' parameter must be a URL 'sqlite:///PATH' or 'postgresql://...'. Got {url!r} instead.")
        self._conn = conn
        for stmt in _DDL:
            self._exec(stmt.format(pk=pk))
        self._migrate()
        return conn

    def _migrate(self) -> None:
        """Add the columns that journals written by older versions lack (``val_loss``)."""
        if self._pg:
            self._exec("ALTER TABLE nas_trials ADD COLUMN IF NOT EXISTS val_loss DOUBLE PRECISION")
            return
        cols = {r[1] for r in self._exec("PRAGMA table_info(nas_trials)").fetchall()}
        if "val_loss" not in cols:
            self._exec("ALTER TABLE nas_trials ADD COLUMN val_loss DOUBLE PRECISION")

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        if self._pg:
            sql = sql.replace("?", "%s")
        conn = self._conn
        if self._pg:
            cur = conn.cursor()
            cur.execute(sql, args)
            return cur
        return conn.execute(sql, args)

    def abandon_running(self) -> None:
        """Mark this study's trials still ``running`` as ``lost`` (the budget ended first)."""
        if self._conn is not None and self.study_id is not None:
            self._exec("UPDATE nas_trials SET status = 'lost' WHERE study_id = ? AND status = 'running'", (self.study_id,))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- studies ------------------------------------------------------------------------------
    def open(self, config: dict[str, Any], resume: bool) -> list[dict[str, Any]]:
        """Create the study, or with ``resume`` reopen it; return its finished trials in order.

        Trials left ``running`` by a killed process are marked ``lost`` (they are not counted).

        Raises:
            StudyExistsError: the study exists and ``resume`` is False.
            InvalidParameterError: resuming with a different space, strategy or data.
        """
        self._connect()
        row = self._exec("SELECT study_id, config FROM nas_studies WHERE name = ?", (self.study,)).fetchone()
        if row is not None and not resume:
            raise StudyExistsError(
                f"Study {self.study!r} already exists in {self.url!r}; pass --resume to continue it or choose another --study.")
        if row is None:
            cur = self._exec("INSERT INTO nas_studies (name, config, created) VALUES (?, ?, ?) RETURNING study_id",
                             (self.study, json.dumps(config, sort_keys=True), time.time()))
            self.study_id = int(cur.fetchone()[0])
            return []
        self.study_id = int(row[0])
        old = json.loads(row[1])
        for key in ("space", "strategy", "data", "objective", "asha"):
            if old.get(key) != config.get(key):
                raise InvalidParameterError(
                    f"Cannot resume study {self.study!r}: its {key} was {old.get(key)!r}, now {config.get(key)!r}.")
        self._exec("UPDATE nas_trials SET status = 'lost' WHERE study_id = ? AND status = 'running'", (self.study_id,))
        return self.trials(finished_only=True)

    def trials(self, finished_only: bool = False) -> list[dict[str, Any]]:
        """The study's trials ordered by number (finished ones only with ``finished_only``)."""
        keys = ("number", "action", "epochs", "rung", "status", "val_acc", "val_loss", "params", "latency_ms", "seconds",
                "error", "started", "finished")
        rows = self._exec(f"SELECT {', '.join(keys)} FROM nas_trials WHERE study_id = ? ORDER BY number",
                          (self.study_id,)).fetchall()
        out = []
        for r in rows:
            d = dict(zip(keys, r, strict=True))
            d["action"] = tuple(json.loads(d["action"]))
            for k in ("val_acc", "val_loss"):
                if d[k] is None:
                    d[k] = float("nan")
            if not finished_only or d["status"] in FINISHED:
                out.append(d)
        return out

    def next_number(self) -> int:
        row = self._exec("SELECT MAX(number) FROM nas_trials WHERE study_id = ?", (self.study_id,)).fetchone()
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    # -- trials -------------------------------------------------------------------------------
    def start(self, number: int, action: tuple[int, ...], epochs: int, rung: int) -> None:
        self._exec("INSERT INTO nas_trials (study_id, number, action, epochs, rung, status, started) VALUES (?, ?, ?, ?, ?, 'running', ?)",
                   (self.study_id, number, json.dumps(list(action)), epochs, rung, time.time()))

    def finish(self, number: int, result: dict[str, Any]) -> None:
        def num(x: Any) -> Any:
            return None if x is None or (isinstance(x, float) and x != x) else x
        self._exec(
            "UPDATE nas_trials SET status = ?, val_acc = ?, val_loss = ?, params = ?, latency_ms = ?, seconds = ?, error = ?, "
            "finished = ? WHERE study_id = ? AND number = ?",
            (result["status"], num(result.get("val_acc")), num(result.get("val_loss")), int(result.get("params") or 0),
             num(result.get("latency_ms")),
             num(result.get("seconds")), str(result.get("error", ""))[:2000], time.time(), self.study_id, number))
