"""One storage grammar for every part: a file path or a database URL.

- a file path (``decisions.sqlite``, ``runs/tune.db``): a SQLite file, the embedded default;
- ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` (SQLAlchemy's grammar, which
  Optuna and its dashboard read too);
- ``postgresql://user:pass@host:port/db`` (also ``postgres://``): PostgreSQL, through psycopg.

:func:`to_url` turns any of them into a URL Optuna's RDB storage accepts; :func:`connect` opens a
DB-API connection for the parts that write their own tables (the decision log, journals).
"""

from __future__ import annotations

import os
import re
import sqlite3
from typing import Any

from learnedsys._lazy import require
from learnedsys._validation import InfrastructureError, InvalidParameterError

__all__ = ["connect", "first_line", "is_postgres", "redact", "sqlalchemy_url", "sqlite_path", "to_url"]

_SCHEMES = ("sqlite:///", "postgresql://", "postgres://")


def _text(where: str | os.PathLike[str], what: str) -> str:
    if not isinstance(where, (str, os.PathLike)) or not os.fspath(where):
        raise InvalidParameterError(
            f"The {what!r} parameter must be a file path, a sqlite:/// URL or a postgresql:// URL. Got {where!r} instead."
        )
    text = os.fspath(where)
    if "://" in text and not text.startswith(_SCHEMES):
        raise InvalidParameterError(
            f"The {what!r} parameter must be a file path, a sqlite:/// URL or a postgresql:// URL. Got {text!r} instead."
        )
    return text


def is_postgres(where: str | os.PathLike[str]) -> bool:
    return os.fspath(where).startswith(("postgresql://", "postgres://"))


def sqlite_path(where: str | os.PathLike[str], what: str = "storage") -> str | None:
    """The SQLite file of a path or ``sqlite:///`` URL (None for PostgreSQL)."""
    text = _text(where, what)
    if is_postgres(text):
        return None
    return text[len("sqlite:///"):] if text.startswith("sqlite:///") else text


def to_url(where: str | os.PathLike[str], what: str = "storage") -> str:
    """A URL for ``where``: URLs as given, a file path as ``sqlite:///<absolute path>``."""
    text = _text(where, what)
    if "://" in text:
        return text
    return "sqlite:///" + os.path.abspath(text)


def connect(where: str | os.PathLike[str], *, purpose: str, what: str = "storage") -> Any:
    """A DB-API connection: SQLite in WAL mode (safe for one writer beside readers, survives a
    kill), or PostgreSQL through psycopg (autocommit off)."""
    text = _text(where, what)
    if is_postgres(text):
        psycopg = require("psycopg", extra="postgres", purpose=purpose)
        try:
            return psycopg.connect(text, autocommit=False, connect_timeout=10)
        except psycopg.Error as exc:
            raise InfrastructureError(
                f"cannot connect to PostgreSQL at {redact(text)} for {purpose} ({first_line(exc)}); check that the server "
                "runs and accepts TCP connections there, and the user, password and database in the URL"
            ) from None
    path = sqlite_path(text, what)
    assert path is not None
    try:
        conn = sqlite3.connect(path, timeout=60.0, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=60000")
    except sqlite3.Error as exc:
        raise InvalidParameterError(
            f"cannot use {path!r} as the SQLite file of the {what} ({first_line(exc)}); check that its folder exists "
            "and is writable and that the file is a SQLite database"
        ) from None
    return conn


def sqlalchemy_url(url: str) -> str:
    """``url`` for SQLAlchemy (Optuna's RDB storage), which reads a bare ``postgresql://`` as
    psycopg2: the package's PostgreSQL driver is psycopg 3, so its dialect is named unless
    psycopg2 is the one installed."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            try:
                import psycopg2  # noqa: F401

                return url
            except ImportError:
                return "postgresql+psycopg://" + url[len(scheme):]
    return url


def redact(url: str) -> str:
    """The URL without its password (for messages)."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
