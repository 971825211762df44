"""Optuna studies in RDB storage: how ``tune`` and ``nas`` open theirs.

A study lives where the storage grammar of :mod:`learnedsys._storage` says (a file path,
``sqlite:///...`` or ``postgresql://...``; None keeps it in memory). learnedsys's own data are
user attributes named ``learnedsys:<what>`` (:data:`ATTR`), so a study stays an ordinary Optuna
study: ``optuna.load_study(study_name=NAME, storage=URL)``, ``optuna-dashboard URL`` and
``trials_dataframe()`` read it. Every write is its own committed transaction, so a kill -9
loses only the trials that were running. Optuna is imported when a study is opened, not before.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from learnedsys import _storage
from learnedsys._lazy import require
from learnedsys._validation import InfrastructureError, InvalidParameterError, describe

__all__ = ["ATTR", "check_study_name", "open_study", "storage_url"]

ATTR = "learnedsys:"  # prefix of learnedsys's own study and trial attributes


def storage_url(storage: str | os.PathLike[str], what: str = "storage") -> str:
    """The RDB URL of a study: a URL (``sqlite:///...``, ``postgresql://...``) as given, a file
    path as ``sqlite:///<absolute path>``."""
    return _storage.to_url(storage, what)


def check_study_name(study: Any, owner: str) -> str:
    """``study`` when it is a study's name; a file or a URL there is refused with the fix.

    Every part names its parameters ``storage=`` (where: a path or URL) and ``study=`` (the
    name); ``tune`` once took the file as ``study=``, so a path there is the old call.
    """
    looks_like_storage = isinstance(study, os.PathLike) or (
        isinstance(study, str) and (study.endswith((".sqlite", ".db")) or "://" in study))
    if looks_like_storage:
        raise InvalidParameterError(
            f"The 'study' parameter of {owner} must be the study's name. Got {describe(os.fspath(study))} instead: "
            "pass the file as storage=; study= is the study's name now"
        )
    if not isinstance(study, str) or not study:
        raise InvalidParameterError(f"The 'study' parameter of {owner} must be a non-empty str. Got {describe(study)} instead.")
    return study


def _rdb(optuna: Any, url: str) -> Any:
    """Optuna's RDB storage for ``url``. A SQLite file is switched to WAL with
    ``synchronous=NORMAL`` (as the decision log): a commit then costs no fsync, which is 5x
    fewer milliseconds per trial, and a killed process still loses no committed trial."""
    storage = optuna.storages.RDBStorage(_storage.sqlalchemy_url(url))
    if url.startswith("sqlite:///"):
        sqlalchemy = require("sqlalchemy", extra="tune")

        def pragmas(conn: Any, _record: Any) -> None:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")

        sqlalchemy.event.listen(storage.engine, "connect", pragmas)
        storage.engine.dispose()  # the connections Optuna opened to create its tables lack them
    return storage


def open_study(
    storage: str | os.PathLike[str] | None,
    *,
    study: str,
    direction: str = "minimize",
    key: str = "signature",
    value: Any = None,
    mismatch: Callable[[Any, Any], str | None] | None = None,
    fresh: bool = False,
    sampler: Any = None,
    purpose: str = "the study",
    what: str = "storage",
) -> Any:
    """The Optuna study named ``study`` in ``storage``, created, or resumed when it exists.

    Args:
        storage: a SQLite file path, a ``sqlite:///`` or ``postgresql://`` URL, or None (in memory).
        study: the study's name in ``storage``.
        key, value: what the study is for (the command and space of a tune study, the
            configuration of a nas search), kept as the study attribute ``learnedsys:<key>``.
        mismatch: ``mismatch(stored, value)`` says why a study made for ``stored`` cannot go on
            with ``value`` (None: it can); default: they must be equal.
        fresh: delete an existing study of that name and start over.
        purpose: named in the message when a PostgreSQL server cannot be reached.
        what: the parameter named when ``storage`` is not a path or URL.

    Raises:
        InvalidParameterError: the storage cannot be used, or the study exists for another
            ``value`` (the message names ``--fresh``).
        InfrastructureError: the PostgreSQL server cannot be reached.
    """
    optuna = require("optuna", extra="tune", purpose=purpose)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = study
    if storage is None:
        backend: Any = optuna.storages.InMemoryStorage()
        label = "memory"
    else:
        label = os.fspath(storage)
        url = storage_url(storage, what)
        try:
            backend = _rdb(optuna, url)
        except Exception as exc:  # sqlalchemy's errors: not a database, no server, bad URL
            if _storage.is_postgres(label):
                raise InfrastructureError(
                    f"cannot connect to PostgreSQL at {_storage.redact(label)} for {purpose} "
                    f"({_storage.first_line(exc)}); check that the server runs and accepts TCP connections there, "
                    "and the user, password and database in the URL"
                ) from None
            raise InvalidParameterError(f"cannot use the study file {label}: {_storage.first_line(exc)}") from None
    differs = mismatch or (lambda old, new: None if old == new else f"the study {name!r} in {label} was made for another {key}")
    try:
        names = {s.study_name for s in optuna.get_all_study_summaries(backend, include_best_trial=False)}
        if name in names:
            st = optuna.load_study(study_name=name, storage=backend, sampler=sampler)
            old = st.user_attrs.get(ATTR + key)
            if value is not None and not fresh:
                why = differs(old, value) if old is not None else (
                    None if not st.trials else f"the study {name!r} in {label} was not made by learnedsys")
                if why is not None:
                    raise InvalidParameterError(f"{why}; pass another --storage or --study, or --fresh to start it over")
            if fresh or (value is not None and old is None):  # old is None: an empty study (killed as it was made)
                optuna.delete_study(study_name=name, storage=backend)
                names.discard(name)
        if name not in names:
            st = optuna.create_study(study_name=name, storage=backend, direction=direction, sampler=sampler)
            if value is not None:
                st.set_user_attr(ATTR + key, value)
    except InvalidParameterError:
        raise
    except Exception as exc:
        raise InvalidParameterError(f"cannot use the study file {label}: {_storage.first_line(exc)}") from None
    return st
