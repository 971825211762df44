"""A search's trials in an Optuna study (:mod:`learnedsys._study`, as ``tune``'s).

The study lives in RDB storage (a SQLite file path or ``sqlite:///`` URL, a ``postgresql://``
URL; None: in memory), so ``optuna.load_study``, ``optuna-dashboard`` and ``trials_dataframe()``
open it. Its direction is ``maximize`` and a successful trial's value is its validation accuracy.
learnedsys's data are user attributes: the study's ``learnedsys:config`` (space, strategy, data,
objective, asha, seed, epochs) and each trial's ``learnedsys:action``, ``:epochs``, ``:rung``,
``:fraction`` (written as it starts), ``:status`` (``ok``, ``nan``, ``error``, ``timeout``, ``lost``),
``:val_loss``, ``:params``, ``:latency_ms``, ``:seconds``, ``:epochs_run`` and ``:error``.

Every trial is written when it starts (Optuna ``RUNNING``) and again when it ends (``COMPLETE``
when it trained, ``FAIL`` otherwise), each write its own committed transaction, so a kill -9 loses
at most the trials that were running. Only the coordinating process writes (workers return
results to it), which keeps SQLite free of "database is locked" however many workers run.

Cost: about 20 ms of the coordinator per trial on a SQLite file (Optuna's ORM, a query or two per
attribute), microseconds in memory.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
from pathlib import Path
from typing import Any

from learnedsys import _storage
from learnedsys._study import ATTR, open_study
from learnedsys._validation import InvalidParameterError

__all__ = ["Journal"]

FINISHED = ("ok", "nan", "error")
_CHECKED = ("space", "strategy", "data", "objective", "asha")  # what a resumed study must share
_RESULTS = ("val_loss", "params", "latency_ms", "seconds", "epochs_run")


class Journal:
    """A search's trials in an Optuna study.

    Args:
        storage: a SQLite file path, ``sqlite:///...`` or ``postgresql://...``; None: in memory.
        study: the study's name (one storage holds many studies).
    """

    def __init__(self, storage: str | os.PathLike[str] | None, study: str) -> None:
        self.storage, self.study = storage, study
        self._backend: Any = None
        self._study_id: int | None = None
        self._ids: dict[int, int] = {}  # trial number -> Optuna trial id

    def open(self, config: dict[str, Any], fresh: bool = False) -> list[dict[str, Any]]:
        """Create the study, or reopen it (``fresh``: delete it and start over); return its
        finished trials in order.

        Trials left running by a killed process are marked ``lost`` (they are not counted).

        Raises:
            InvalidParameterError: resuming with a different space, strategy, data, objective or
                asha; or storage that holds a journal of an older learnedsys.
        """
        if self.storage is not None:
            _refuse_old_journal(self.storage)

        def mismatch(old: dict[str, Any], new: dict[str, Any]) -> str | None:
            for key in _CHECKED:
                if old.get(key) != new.get(key):
                    return f"Cannot resume study {self.study!r}: its {key} was {old.get(key)!r}, now {new.get(key)!r}"
            return None

        st = open_study(self.storage, study=self.study, direction="maximize", key="config", value=config,
                        mismatch=mismatch, fresh=fresh, purpose="the nas study")
        # the storage API (Optuna's BaseStorage) writes a trial with its attributes in one commit
        self._backend, self._study_id = st._storage, st._study_id
        self.abandon_running()
        out = []
        for t in self._backend.get_all_trials(self._study_id, deepcopy=False):
            self._ids[t.number] = t._trial_id
            ua = {k[len(ATTR):]: v for k, v in t.user_attrs.items() if k.startswith(ATTR)}
            if ua.get("status") not in FINISHED:
                continue
            out.append({"number": t.number, "action": tuple(ua["action"]), "epochs": ua["epochs"], "rung": ua["rung"],
                        "fraction": ua.get("fraction", 1.0), "status": ua["status"],
                        "val_acc": float(t.value) if t.value is not None else math.nan,
                        "val_loss": math.nan if ua.get("val_loss") is None else ua["val_loss"],
                        **{k: ua.get(k) for k in _RESULTS if k != "val_loss" and k in ua}, "error": ua.get("error", "")})
        return out

    def start(self, action: tuple[int, ...], epochs: int, rung: int, fraction: float = 1.0) -> int:
        """Write a running trial; returns its number."""
        optuna = _optuna()
        # every attribute costs Optuna a query or two (~2 ms on SQLite): the state says "running"
        attrs = {"action": [int(a) for a in action], "epochs": int(epochs), "rung": int(rung), "fraction": float(fraction)}
        template = optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING,
                                             user_attrs={ATTR + k: v for k, v in attrs.items()})
        tid = self._backend.create_new_trial(self._study_id, template_trial=template)
        number = int(self._backend.get_trial_number_from_id(tid))
        self._ids[number] = tid
        return number

    def finish(self, number: int, result: dict[str, Any]) -> None:
        """Write a trial's result: ``COMPLETE`` with its validation accuracy when it trained
        (status ``ok``, a finite accuracy), else ``FAIL``."""
        optuna = _optuna()
        tid = self._ids[number]
        status = str(result["status"])
        for k in _RESULTS:
            v = _num(result.get(k))
            if v is not None:
                self._backend.set_trial_user_attr(tid, ATTR + k, v)
        if status != "ok" and result.get("error"):
            self._backend.set_trial_user_attr(tid, ATTR + "error", str(result["error"])[:2000])
        self._backend.set_trial_user_attr(tid, ATTR + "status", status)
        acc = _num(result.get("val_acc"))
        TS = optuna.trial.TrialState
        if status == "ok" and acc is not None:
            self._backend.set_trial_state_values(tid, TS.COMPLETE, [float(acc)])
        else:
            self._backend.set_trial_state_values(tid, TS.FAIL)

    def abandon_running(self) -> None:
        """Mark this study's trials still running as ``lost`` (a killed process, or the budget
        ended first): Optuna ``FAIL``, not counted on resume."""
        if self._backend is None:
            return
        TS = _optuna().trial.TrialState
        for t in self._backend.get_all_trials(self._study_id, deepcopy=False, states=(TS.RUNNING,)):
            self._backend.set_trial_user_attr(t._trial_id, ATTR + "status", "lost")
            self._backend.set_trial_state_values(t._trial_id, TS.FAIL)

    def close(self) -> None:
        self._backend = None


def _optuna() -> Any:
    from learnedsys._lazy import require

    return require("optuna", extra="nas", purpose="the nas study")


def _num(x: Any) -> Any:
    """A finite number as a plain int/float (numpy scalars included); None otherwise."""
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(v):
        return None
    return int(x) if isinstance(x, int) or (hasattr(x, "dtype") and x.dtype.kind in "iu") else v


def _refuse_old_journal(storage: str | os.PathLike[str]) -> None:
    """learnedsys before Optuna studies kept nas trials in its own tables, which Optuna cannot
    read: say so rather than start a second, empty study beside them."""
    path = _storage.sqlite_path(storage)
    if path is None:
        conn = _storage.connect(storage, purpose="the nas study")
        try:
            found = conn.execute("SELECT to_regclass('nas_studies')").fetchone()[0] is not None
        finally:
            conn.close()
    elif os.path.isfile(path):  # read-only: the file is not changed (nor switched to WAL)
        try:
            with contextlib.closing(sqlite3.connect(Path(path).absolute().as_uri() + "?mode=ro", uri=True, timeout=10)) as conn:
                found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'nas_studies'").fetchone() is not None
        except sqlite3.Error:
            return  # not a database: opening the study says so
    else:
        return
    if found:
        where = _storage.redact(os.fspath(storage))
        raise InvalidParameterError(
            f"{where} holds a nas journal of an older learnedsys (tables nas_studies, nas_trials), which nas no longer "
            "reads (its studies are Optuna studies now); pass a new --storage file to start a new study"
        )
