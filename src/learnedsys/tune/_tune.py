"""``learnedsys tune``: learn a program's flags.

A command line with placeholders names the search space::

    learnedsys tune --trials 30 --json out.json -- ./prog --threads='{1..16}' --block='{16..4096:log}' --mode='{a,b,c}'

Placeholders: ``{a,b,c}`` categorical, ``{1..16}`` integers, ``{16..4096:log}`` log-scale integers,
``{0.1..0.9}`` floats (``{1e-3..1:log}`` log-scale floats). The objective is the wall time of the
command (median over ``repeats`` runs) or the last number a regular expression matches in its
output (``metric``), minimised unless ``maximize``. The search is Optuna's TPE (multivariate, with
the command's own defaults tried first when they are known), random search on request.

The study is an Optuna study in RDB storage (a SQLite file by default, a ``postgresql://`` URL
when given), so ``optuna.load_study``, ``optuna-dashboard`` and ``trials_dataframe()`` open it;
learnedsys's own data (each trial's runs and note, the baseline, the command) are user
attributes. Every finished trial is committed at once, so a study killed at any point (even with
SIGKILL) resumes with every finished trial: a trial that was running is run again. The search
is Optuna's TPE by default, random search, or any :class:`~learnedsys.policy.Policy`.

Cost: one process start per run of the command, plus a few milliseconds of TPE per trial.
"""

from __future__ import annotations

import concurrent.futures as cf
import io
import itertools
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from learnedsys import _study
from learnedsys._atomic import atomic_write
from learnedsys._lazy import pyplot, require
from learnedsys._serialization import json_default
from learnedsys._study import ATTR as _ATTR
from learnedsys._validation import (
    InvalidParameterError,
    check_bool,
    check_choice,
    check_int,
    check_seed,
)

__all__ = ["Param", "TuneResult", "open_study", "parse_command", "storage_url", "tune", "tune_command"]

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*({_NUM})\s*\.\.\s*({_NUM})\s*(?::\s*(log))?\s*$")
_INT = re.compile(r"^\s*[-+]?\d+\s*$")


@dataclass(frozen=True)
class Param:
    """One dimension of the search: categorical ``choices``, or an int/float range."""

    name: str
    kind: str  # "categorical", "int" or "float"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[str, ...] = ()

    def distribution(self) -> Any:
        optuna = require("optuna", extra="tune", purpose="learnedsys tune")
        if self.kind == "categorical":
            return optuna.distributions.CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=self.log)  # type: ignore[arg-type]
        return optuna.distributions.FloatDistribution(float(self.low), float(self.high), log=self.log)  # type: ignore[arg-type]

    def describe(self) -> str:
        if self.kind == "categorical":
            return "{" + ",".join(self.choices) + "}"
        return f"{{{self.low:g}..{self.high:g}{':log' if self.log else ''}}} ({self.kind})"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "low": self.low, "high": self.high, "log": self.log, "choices": list(self.choices)}


def _parse_placeholder(body: str, name: str) -> Param:
    m = _RANGE.match(body)
    if m:
        lo_s, hi_s, log = m.group(1), m.group(2), m.group(3) is not None
        is_int = bool(_INT.match(lo_s) and _INT.match(hi_s))
        lo, hi = (int(lo_s), int(hi_s)) if is_int else (float(lo_s), float(hi_s))
        if lo > hi:
            raise InvalidParameterError(f"the range {{{body}}} of {name!r} is empty: {lo_s} > {hi_s}")
        if log and lo <= 0:
            raise InvalidParameterError(f"the log range {{{body}}} of {name!r} must start above 0")
        return Param(name, "int" if is_int else "float", lo, hi, log)
    if "," in body:
        choices = tuple(c.strip() for c in body.split(","))
        if any(not c for c in choices) or len(set(choices)) != len(choices):
            raise InvalidParameterError(f"the choices {{{body}}} of {name!r} must be distinct and non-empty")
        return Param(name, "categorical", choices=choices)
    raise InvalidParameterError(
        f"cannot read the placeholder {{{body}}} of {name!r}: use {{a,b,c}}, {{1..16}}, {{16..4096:log}} or {{0.1..0.9}}"
    )


def parse_command(argv: Sequence[str]) -> tuple[list[str], list[Param], dict[str, int]]:
    """Find the placeholders in ``argv``.

    Returns (argv, params, flag_args): ``flag_args`` maps the name of each ``--flag={...}``
    placeholder to its argument index, so the command's defaults are the command without them.
    """
    params: list[Param] = []
    flag_args: dict[str, int] = {}
    seen: set[str] = set()
    for i, arg in enumerate(argv):
        found = list(_PLACEHOLDER.finditer(arg))
        found = [m for m in found if _RANGE.match(m.group(1)) or "," in m.group(1)]
        if not found:
            continue
        fm = re.match(r"^(--?[A-Za-z0-9_][-A-Za-z0-9_.]*)=", arg)
        base = fm.group(1).lstrip("-") if fm else f"arg{i}"
        for j, m in enumerate(found):
            name = base if len(found) == 1 else f"{base}_{j}"
            if name in seen:
                name = f"{name}@{i}"
            seen.add(name)
            params.append(_parse_placeholder(m.group(1), name))
        if fm and len(found) == 1 and fm.end() == found[0].start() and found[0].end() == len(arg):
            flag_args[params[-1].name] = i
    if not params:
        raise InvalidParameterError(
            "the command has no placeholder to tune: write e.g. --threads='{1..16}', --mode='{a,b,c}'"
        )
    return list(argv), params, flag_args


def render(argv: Sequence[str], params: Sequence[Param], values: dict[str, Any]) -> list[str]:
    """The command with each placeholder replaced by its value."""
    out = []
    it = iter(params)
    for arg in argv:
        def sub(m: re.Match[str]) -> str:
            if not (_RANGE.match(m.group(1)) or "," in m.group(1)):
                return m.group(0)
            p = next(it)
            v = values[p.name]
            return repr(v) if isinstance(v, float) else str(v)

        out.append(_PLACEHOLDER.sub(sub, arg))
    return out


@dataclass
class TuneResult:
    """The outcome of a study: the best values, the baseline, and every trial."""

    params: list[Param]
    direction: str
    objective: str
    trials: list[dict[str, Any]] = field(default_factory=list)
    baseline: float | None = None
    command: list[str] | None = None
    #: where the Optuna study lives (an RDB URL; None: in memory) and its name
    storage: str | None = None
    study_name: str | None = None

    @property
    def completed(self) -> list[dict[str, Any]]:
        return [t for t in self.trials if t["state"] == "complete"]

    @property
    def best_trial(self) -> dict[str, Any] | None:
        done = self.completed
        if not done:
            return None
        pick = max if self.direction == "maximize" else min
        return pick(done, key=lambda t: t["value"])

    @property
    def best(self) -> dict[str, Any] | None:
        t = self.best_trial
        return None if t is None else dict(t["params"])

    @property
    def best_value(self) -> float | None:
        t = self.best_trial
        return None if t is None else float(t["value"])

    @property
    def gain(self) -> float | None:
        """Relative improvement of the best over the baseline (0.25: 25% better)."""
        if self.baseline is None or self.best_value is None or self.baseline == 0:
            return None
        if self.direction == "maximize":
            return (self.best_value - self.baseline) / abs(self.baseline)
        return (self.baseline - self.best_value) / abs(self.baseline)

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "objective": self.objective,
            "direction": self.direction,
            "spaces": [p.to_json() for p in self.params],
            "best": self.best,
            "best_value": self.best_value,
            "best_command": render(self.command, self.params, self.best) if self.command and self.best else None,
            "baseline_value": self.baseline,
            "gain": self.gain,
            "storage": self.storage,
            "study_name": self.study_name,
            "trials": self.trials,
        }


DEFAULT_STUDY = "learnedsys-tune"


def storage_url(storage: str | os.PathLike[str]) -> str:
    """The RDB URL of a storage: a URL (``sqlite:///...``, ``postgresql://...``) as given, a file
    path as ``sqlite:///<absolute path>`` (the storage grammar of every part)."""
    return _study.storage_url(storage, "storage")


def _study_name(study: Any, old: str | None, owner: str, old_param: str = "study_name") -> str:
    """The study's name from ``study=`` (now the name, as in ``nas.search``) and its deprecated
    spelling ``old``; a file or URL given as ``study=`` (the old meaning) is refused with the fix."""
    study = _study.check_study_name(study, owner)
    if old is None:
        return study
    warnings.warn(f"{owner}({old_param}=...) is deprecated: pass the name as study= and the file or URL as storage=",
                  DeprecationWarning, stacklevel=3)
    if study not in (DEFAULT_STUDY, old):
        raise InvalidParameterError(f"{owner} got two study names, study={study!r} and {old_param}={old!r}: pass only study=")
    return _study.check_study_name(old, owner)


def open_study(
    storage: str | os.PathLike[str] | None = None,
    *,
    study: str = DEFAULT_STUDY,
    direction: str = "minimize",
    signature: dict[str, Any] | None = None,
    fresh: bool = False,
    sampler: Any = None,
    name: str | None = None,
) -> Any:
    """The Optuna study named ``study`` in ``storage`` (a SQLite file or a PostgreSQL URL; None:
    in memory), created or resumed. ``signature`` (the command and the space) is kept in the
    study's user attributes; resuming a study of another signature is refused unless ``fresh``.

    The study is an ordinary Optuna study: ``optuna.load_study(study_name=study,
    storage=storage_url(path))``, ``optuna-dashboard sqlite:///path`` and ``trials_dataframe()``
    work on it. ``name=`` is the deprecated spelling of ``study=``.

    Raises:
        InvalidParameterError: the storage cannot be used, the study was made for another
            signature, or ``study`` is a file or URL (pass it as ``storage``).
        InfrastructureError: the PostgreSQL server cannot be reached.
    """
    study = _study_name(study, name, "open_study", "name")
    where = "memory" if storage is None else os.fspath(storage)
    return _study.open_study(
        storage, study=study, direction=direction, key="signature",
        value=json.dumps(signature, sort_keys=True) if signature is not None else None,
        mismatch=lambda old, new: None if old == new else f"the study {where!r} belongs to another command or search space",
        fresh=fresh, sampler=sampler, purpose="the tune study", what="storage",
    )


def _rows(ostudy: Any) -> list[dict[str, Any]]:
    """Finished trials as result rows; trials left running by a killed process are marked failed
    (and left out), so they are run again."""
    optuna = require("optuna", extra="tune")
    TS = optuna.trial.TrialState
    rows = []
    for t in ostudy.get_trials(deepcopy=False):
        ua = t.user_attrs
        if t.state == TS.RUNNING:
            ostudy._storage.set_trial_user_attr(t._trial_id, _ATTR + "interrupted", True)
            ostudy._storage.set_trial_state_values(t._trial_id, TS.FAIL)
            continue
        if t.state not in (TS.COMPLETE, TS.FAIL) or ua.get(_ATTR + "skip") or ua.get(_ATTR + "interrupted"):
            continue
        ok = t.state == TS.COMPLETE
        rows.append({
            "number": t.number, "params": dict(t.params), "value": t.value if ok else None,
            "runs": list(ua.get(_ATTR + "runs", [])), "state": "complete" if ok else "failed",
            "seconds": ua.get(_ATTR + "seconds"), "note": ua.get(_ATTR + "note"),
        })
    return rows


class _Grid:
    """A policy's view of the parameters: one position per parameter, a finite list of values
    each (categorical: its choices; integers: every value up to 64 of them, else 32 steps, on a
    log scale when the range is; floats: 32 steps)."""

    def __init__(self, params: Sequence[Param], steps: int = 32) -> None:
        self.params = list(params)
        self.values: list[list[Any]] = []
        for p in params:
            if p.kind == "categorical":
                vals: list[Any] = list(p.choices)
            elif p.kind == "int" and int(p.high) - int(p.low) < 64:  # type: ignore[arg-type]
                vals = list(range(int(p.low), int(p.high) + 1))  # type: ignore[arg-type]
            else:
                lo, hi = float(p.low), float(p.high)  # type: ignore[arg-type]
                if p.log:
                    pts = [math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * i / (steps - 1)) for i in range(steps)]
                else:
                    pts = [lo + (hi - lo) * i / (steps - 1) for i in range(steps)]
                vals = sorted({round(v) for v in pts}) if p.kind == "int" else pts
            self.values.append(vals)

    def sizes(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.values)

    def decode(self, action: Sequence[int]) -> dict[str, Any]:
        return {p.name: vals[a] for p, vals, a in zip(self.params, self.values, action, strict=True)}

    def encode(self, values: dict[str, Any]) -> tuple[int, ...]:
        out = []
        for p, vals in zip(self.params, self.values, strict=True):
            v = values[p.name]
            if p.kind == "categorical":
                out.append(vals.index(v) if v in vals else 0)
            else:
                out.append(min(range(len(vals)), key=lambda i: abs(float(vals[i]) - float(v))))
        return tuple(out)


def tune(
    params: Sequence[Param],
    objective: Callable[[dict[str, Any]], tuple[float | None, list[float], str | None]],
    *,
    trials: int = 30,
    direction: str = "minimize",
    storage: str | os.PathLike[str] | None = None,
    study: str = DEFAULT_STUDY,
    signature: dict[str, Any] | None = None,
    fresh: bool = False,
    sampler: Any = "tpe",
    seed: int | None = 0,
    parallel: int = 1,
    baseline: dict[str, Any] | Callable[[], tuple[float | None, list[float], str | None]] | None = None,
    first: dict[str, Any] | None = None,
    progress: bool = False,
    objective_name: str = "objective",
    address: str | None = None,
    study_name: str | None = None,
) -> TuneResult:
    """Search ``params`` for the best value of ``objective(values) -> (value, runs, note)``.

    Args:
        trials: finished trials the study should hold (a resumed study runs only the rest).
        direction: ``"minimize"`` or ``"maximize"``.
        storage: where the study lives: a SQLite file path, a ``sqlite:///`` or ``postgresql://``
            URL (Optuna's RDB storage, so Optuna's tools open it), or None (in memory, nothing
            resumes). Every finished trial is committed at once. The same parameter as
            ``nas.search(storage=)``.
        study: the study's name in that storage (an existing study resumes unless ``fresh``).
            A file or URL here is refused: it goes to ``storage``.
        fresh: delete an existing study of that name and start over.
        sampler: ``"tpe"`` (Optuna TPE, multivariate, constant liar when parallel), ``"random"``,
            or any :class:`~learnedsys.policy.Policy` (unbound; tune binds it to one position per
            parameter, see :class:`_Grid`, and feeds it the objective, negated when minimising).
        parallel: trials run at once (threads in this process; each runs the objective).
        address: run each trial as a Ray task on this cluster instead (``"HOST:PORT"`` of
            ``ray start --head``, ``"auto"``, or ``"local"`` for a Ray started here), ``parallel``
            at once; the objective must be picklable by Ray (closures are). Study, sampler and
            journal stay in this process.
        baseline: the command's defaults, evaluated once (and kept in the study) for the gain.
        first: values to try first (e.g. the defaults, when they lie in the space).
        progress: show a progress bar on stderr.
        study_name: deprecated spelling of ``study`` (a DeprecationWarning).

    With an Optuna sampler, when every parameter is categorical or an integer a configuration is
    measured once (its ``repeats`` handle the noise): if the sampler proposes one already
    measured, the trial measures an untried neighbour instead (one parameter changed), so no
    trial of the budget is spent twice.
    """
    from learnedsys.policy import ActionSpace, Policy, Proposal
    from learnedsys.policy._base import bind_to

    study = _study_name(study, study_name, "tune")
    optuna = require("optuna", extra="tune", purpose="learnedsys tune")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = check_int(trials, "trials", "tune", low=1)
    direction = check_choice(direction, "direction", "tune", ("minimize", "maximize"))
    policy = sampler if isinstance(sampler, Policy) else None
    if policy is None:
        if not isinstance(sampler, str):
            raise InvalidParameterError(f"The 'sampler' parameter of tune must be 'tpe', 'random' or a Policy. Got {sampler!r} instead.")
        sampler = check_choice(sampler, "sampler", "tune", ("tpe", "random"))
    parallel = check_int(parallel, "parallel", "tune", low=1)
    seed = check_seed(seed, "seed", "tune")
    check_bool(fresh, "fresh", "tune")
    sig = signature or {"params": [p.to_json() for p in params], "direction": direction}
    if policy is not None:
        sig = {**sig, "sampler": type(policy).__name__}
    dists = {p.name: p.distribution() for p in params}
    if sampler == "tpe":
        smp: Any = optuna.samplers.TPESampler(
            seed=seed, multivariate=True, n_startup_trials=max(3, min(10, trials // 3)), constant_liar=parallel > 1
        )
    else:
        smp = optuna.samplers.RandomSampler(seed=seed)
    ostudy = open_study(storage, study=study, direction=direction, signature=sig, fresh=fresh, sampler=smp)
    TS = optuna.trial.TrialState
    kept = _rows(ostudy)
    result = TuneResult(list(params), direction, objective_name)
    result.trials = list(kept)
    sign = 1.0 if direction == "maximize" else -1.0
    grid = _Grid(params) if policy is not None else None
    if policy is not None and grid is not None:
        bind_to(policy, ActionSpace(grid.sizes()), "the parameters'", "tune")
        for t in kept:  # what the study already holds teaches the policy first
            if t["state"] == "complete":
                policy.update(Proposal(grid.encode(t["params"]), 1.0), sign * float(t["value"]))
    if baseline is not None:
        base = ostudy.user_attrs.get(_ATTR + "baseline")
        if base is not None:
            result.baseline = base["value"]
        else:
            value, runs, note = baseline() if callable(baseline) else objective(baseline)
            ostudy.set_user_attr(_ATTR + "baseline", {
                "params": {} if callable(baseline) else dict(baseline), "value": value, "runs": runs, "note": note,
            })
            result.baseline = value
    if first is not None and not kept and policy is None:
        ostudy.enqueue_trial(first, skip_if_exists=True)
    remaining = trials - len(kept)
    finite = all(p.kind in ("categorical", "int") for p in params)
    seen = {_key(params, t["params"]) for t in kept}
    nrng = random.Random(seed)
    bar = None
    if progress:
        tqdm = require("tqdm", extra="decide").tqdm
        bar = tqdm(total=trials, initial=len(kept), desc="tune", unit="trial", file=sys.stderr, dynamic_ncols=True)

    def run_one(values: dict[str, Any]) -> tuple[float | None, list[float], str | None, float]:
        t0 = time.perf_counter()
        try:
            value, runs, note = objective(values)
        except Exception as exc:  # a failing objective fails its trial, not the study
            value, runs, note = None, [], f"{type(exc).__name__}: {exc}"
        return value, runs, note, time.perf_counter() - t0

    def ask() -> tuple[Any, dict[str, Any]]:
        if policy is not None and grid is not None:
            if queue:  # the command's defaults first, as with Optuna's enqueue_trial
                v = queue.pop(0)
                return Proposal(grid.encode(v), 1.0), v
            prop = policy.propose()
            return prop, grid.decode(prop.action)
        ot = ostudy.ask(dists)
        values = {p.name: ot.params[p.name] for p in params}
        if finite and _key(params, values) in seen:
            # measured already (repeats handle noise): measure an untried neighbour
            alt = _neighbour(params, values, seen, nrng)
            if alt is not None:
                ot.set_user_attr(_ATTR + "skip", True)
                ostudy.tell(ot, state=TS.FAIL)  # TPE ignores it; results leave it out
                ostudy.enqueue_trial(alt)
                ot = ostudy.ask(dists)
                values = {p.name: ot.params[p.name] for p in params}
        return ot, values

    def finish(handle: Any, values: dict[str, Any], value: float | None, runs: list[float], note: str | None, secs: float) -> dict[str, Any]:
        ok = value is not None and math.isfinite(value)
        attrs = {_ATTR + "runs": runs, _ATTR + "seconds": secs, _ATTR + "note": note}
        if policy is not None:
            ft = optuna.trial.create_trial(
                params=values, distributions=dists, value=value if ok else None,
                state=TS.COMPLETE if ok else TS.FAIL, user_attrs=attrs,
            )
            ostudy.add_trial(ft)  # committed before the policy learns: a kill keeps it
            number = ostudy.get_trials(deepcopy=False)[-1].number
            if ok:
                policy.update(handle, sign * float(value))  # type: ignore[arg-type]
        else:
            for k, v in attrs.items():
                handle.set_user_attr(k, v)
            if ok:
                ostudy.tell(handle, value)
            else:
                ostudy.tell(handle, state=TS.FAIL)
            number = handle.number
        return {"number": number, "params": dict(values), "value": value if ok else None, "runs": runs,
                "state": "complete" if ok else "failed", "seconds": secs, "note": note}

    queue = [dict(first)] if policy is not None and first is not None and not kept else []
    remote = None
    if address is not None:
        from learnedsys import _ray

        ray = _ray.connect(None if address == "local" else address, purpose="tune's Ray workers")
        remote = ray.remote(num_cpus=1)(run_one)
    try:
        with cf.ThreadPoolExecutor(max_workers=parallel) as threads:
            pool: Any = threads if remote is None else _RayPool(remote)
            running: dict[cf.Future[Any], tuple[Any, dict[str, Any]]] = {}
            launched = 0
            while launched < remaining or running:
                while launched < remaining and len(running) < parallel:
                    handle, values = ask()
                    seen.add(_key(params, values))
                    running[pool.submit(run_one, values)] = (handle, values)
                    launched += 1
                done, _ = cf.wait(list(running), return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    handle, values = running.pop(fut)
                    row = finish(handle, values, *fut.result())
                    result.trials.append(row)
                    if bar is not None:
                        best = result.best_value
                        bar.set_postfix_str(f"best {best:.6g}" if best is not None else "no result yet")
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    result.trials.sort(key=lambda t: t["number"])
    result.study_name = study
    result.storage = storage_url(storage) if storage is not None else None
    return result


class _RayPool:
    """``submit`` as a Ray task; its ObjectRef's future is a concurrent.futures.Future."""

    def __init__(self, remote: Any) -> None:
        self.remote = remote

    def submit(self, fn: Any, values: dict[str, Any]) -> cf.Future[Any]:
        return self.remote.remote(values).future()


def _key(params: Sequence[Param], values: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(values.get(p.name) for p in params)


def _neighbour(params: Sequence[Param], values: dict[str, Any], seen: set[tuple[Any, ...]], rng: random.Random) -> dict[str, Any] | None:
    """An untried configuration next to ``values``: one parameter changed (another choice, an
    integer one step or, on a log scale, a factor 2 away), else two, ...; None when none is found."""
    for changes in range(1, len(params) + 1):
        for _ in range(20):
            v = dict(values)
            for p in rng.sample(list(params), changes):
                x = v[p.name]
                if p.kind == "categorical":
                    v[p.name] = rng.choice([c for c in p.choices if c != x] or [x])
                else:
                    lo, hi = int(p.low), int(p.high)  # type: ignore[arg-type]
                    steps = (x // 2, x * 2) if p.log else (x - 1, x + 1)
                    v[p.name] = min(hi, max(lo, rng.choice(steps)))
            if _key(params, v) not in seen:
                return v
    # nearly exhausted: the nearest untried configuration of a small space, by enumeration
    sizes = [len(p.choices) if p.kind == "categorical" else int(p.high) - int(p.low) + 1 for p in params]  # type: ignore[arg-type]
    if math.prod(sizes) > 100_000:
        return None
    axes = [list(p.choices) if p.kind == "categorical" else list(range(int(p.low), int(p.high) + 1)) for p in params]  # type: ignore[arg-type]
    here = _key(params, values)
    untried = [c for c in itertools.product(*axes) if c not in seen]
    if not untried:
        return None
    near = min(sum(a != b for a, b in zip(c, here, strict=True)) for c in untried)
    pick = rng.choice([c for c in untried if sum(a != b for a, b in zip(c, here, strict=True)) == near])
    return {p.name: x for p, x in zip(params, pick, strict=True)}


def _number(text: str, pattern: re.Pattern[str]) -> float | None:
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    m = matches[-1]
    s = m.group(1) if m.groups() else m.group(0)
    try:
        return float(s)
    except (TypeError, ValueError):
        found = re.search(_NUM, s or "")
        return float(found.group(0)) if found else None


def command_objective(
    argv: Sequence[str] | None,
    params: Sequence[Param],
    *,
    metric: str | None = None,
    repeats: int = 1,
    timeout: float | None = None,
    cwd: str | None = None,
) -> Callable[..., tuple[float | None, list[float], str | None]]:
    """An objective that runs the command: wall time (median of ``repeats``) or the metric."""
    pattern = re.compile(metric) if metric else None

    def run_argv(cmd: list[str]) -> tuple[float | None, list[float], str | None]:
        runs: list[float] = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
            except subprocess.TimeoutExpired:
                return None, runs, f"timed out after {timeout} s"
            except OSError as exc:
                return None, runs, f"could not run {cmd[0]!r}: {exc}"
            elapsed = time.perf_counter() - t0
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
                return None, runs, f"exit status {proc.returncode}: {' | '.join(tail)}"
            if pattern is not None:
                v = _number(proc.stdout + "\n" + proc.stderr, pattern)
                if v is None:
                    return None, runs, f"the metric {metric!r} matched nothing in the output"
                runs.append(v)
            else:
                runs.append(elapsed)
        return statistics.median(runs), runs, None

    def objective(values: dict[str, Any] | None = None, cmd: list[str] | None = None) -> tuple[float | None, list[float], str | None]:
        if cmd is None:
            assert argv is not None and values is not None
            cmd = render(argv, params, values)
        return run_argv(cmd)

    return objective


def tune_command(
    argv: Sequence[str],
    *,
    trials: int = 30,
    metric: str | None = None,
    maximize: bool = False,
    repeats: int = 1,
    parallel: int = 1,
    storage: str | os.PathLike[str] | None = None,
    study: str = DEFAULT_STUDY,
    fresh: bool = False,
    sampler: Any = "tpe",
    seed: int | None = 0,
    timeout: float | None = None,
    defaults: dict[str, str] | None = None,
    baseline: bool = True,
    progress: bool = False,
    address: str | None = None,
    study_name: str | None = None,
) -> TuneResult:
    """Tune the placeholders of the command line ``argv`` (see the module docstring).

    ``storage`` and ``study`` are those of :func:`tune` (``study_name`` its deprecated spelling).

    The baseline is the command with every ``--flag={...}`` argument removed (the program's own
    defaults) and positional placeholders set from ``defaults``; when a positional placeholder
    has no default there is no baseline.
    """
    study = _study_name(study, study_name, "tune_command")
    repeats = check_int(repeats, "repeats", "tune_command", low=1)
    argv, params, flag_args = parse_command(argv)
    defaults = dict(defaults or {})
    names = {p.name for p in params}
    for k in defaults:
        if k not in names:
            raise InvalidParameterError(f"--default names {k!r}, which is not a placeholder; placeholders: {', '.join(sorted(names))}")
    obj = command_objective(argv, params, metric=metric, repeats=repeats, timeout=timeout)
    base: Callable[[], tuple[float | None, list[float], str | None]] | None = None
    if baseline:
        missing = [p.name for p in params if p.name not in flag_args and p.name not in defaults]
        if not missing:
            cmd = []
            for i, arg in enumerate(argv):
                names_here = [n for n, j in flag_args.items() if j == i]
                if names_here and names_here[0] not in defaults:
                    continue
                cmd.append(arg)
            keep_params = [p for p in params if p.name in defaults or p.name not in flag_args]
            vals = {p.name: _coerce(p, defaults[p.name]) for p in keep_params}
            base_cmd = render(cmd, keep_params, vals)
            base = lambda: obj(cmd=base_cmd)  # noqa: E731
    first = None
    if defaults and all(p.name in defaults for p in params):
        first = {p.name: _coerce(p, defaults[p.name]) for p in params}
    sampler_name = sampler if isinstance(sampler, str) else type(sampler).__name__
    sig = {"command": list(argv), "metric": metric, "maximize": maximize, "repeats": repeats, "sampler": sampler_name}
    res = tune(
        params, lambda v: obj(values=v), trials=trials, direction="maximize" if maximize else "minimize",
        storage=storage, study=study, signature=sig, fresh=fresh, sampler=sampler, seed=seed, parallel=parallel, baseline=base, first=first,
        progress=progress, objective_name=f"metric {metric!r}" if metric else "wall time (s)", address=address,
    )
    res.command = list(argv)
    return res


def _coerce(p: Param, text: Any) -> Any:
    if p.kind == "categorical":
        if str(text) not in p.choices:
            raise InvalidParameterError(f"the default {text!r} of {p.name!r} is not one of {{{','.join(p.choices)}}}")
        return str(text)
    v = int(text) if p.kind == "int" else float(text)
    if not p.low <= v <= p.high:  # type: ignore[operator]
        raise InvalidParameterError(f"the default {text!r} of {p.name!r} lies outside {p.describe()}")
    return v


def write_plot(result: TuneResult, path: str | os.PathLike[str]) -> None:
    """Plot each trial's value, the best so far and the baseline (PNG, matplotlib Agg)."""
    plt = pyplot(extra="tune", purpose="the --plot of learnedsys tune")

    done = result.completed
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [t["number"] for t in done]
    ys = [t["value"] for t in done]
    ax.scatter(xs, ys, s=14, label="trial", color="tab:blue")
    best: list[float] = []
    pick = max if result.direction == "maximize" else min
    for y in ys:
        best.append(y if not best else pick(best[-1], y))
    ax.step(xs, best, where="post", color="tab:green", label="best so far")
    if result.baseline is not None:
        ax.axhline(result.baseline, color="tab:red", linestyle="--", label="command defaults")
    ax.set_xlabel("trial")
    ax.set_ylabel(result.objective)
    ax.set_title("learnedsys tune: the search")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110, format="png")
    plt.close(fig)
    atomic_write(path, buf.getbuffer(), what="--plot")


def format_result(result: TuneResult, top: int = 5) -> str:
    """The final table: best flags, their value and gain over the defaults, and the top trials."""
    lines = []
    bt = result.best_trial
    n_done, n_fail = len(result.completed), sum(t["state"] == "failed" for t in result.trials)
    lines.append(f"trials: {n_done} complete, {n_fail} failed; objective: {result.objective} ({result.direction})")
    if bt is None:
        lines.append("no trial completed")
        return "\n".join(lines)
    lines.append("")
    lines.append("| flag | best value |")
    lines.append("|---|---|")
    for p in result.params:
        lines.append(f"| {p.name} | {bt['params'][p.name]} |")
    lines.append("")
    lines.append(f"best {result.objective}: {bt['value']:.6g} (trial {bt['number']})")
    if result.baseline is not None:
        gain = result.gain
        lines.append(f"command defaults: {result.baseline:.6g}; gain {gain * 100:+.1f}%" if gain is not None else f"command defaults: {result.baseline:.6g}")
    if result.command:
        lines.append("best command: " + " ".join(render(result.command, result.params, bt["params"])))
    pick = reversed if result.direction == "maximize" else (lambda x: x)
    ranked = list(pick(sorted(result.completed, key=lambda t: t["value"])))[:top]
    lines.append("")
    lines.append("| trial | " + " | ".join(p.name for p in result.params) + f" | {result.objective} |")
    lines.append("|---|" + "---|" * len(result.params) + "---|")
    for t in ranked:
        lines.append(f"| {t['number']} | " + " | ".join(str(t["params"][p.name]) for p in result.params) + f" | {t['value']:.6g} |")
    return "\n".join(lines)


def save_json(result: TuneResult, path: str | os.PathLike[str]) -> None:
    """Write the result as JSON, atomically (an interrupted write leaves the old file intact).

    Raises:
        PathError: the folder is missing or ``path`` is a directory (the message names the fix).
    """
    atomic_write(path, json.dumps(result.to_json(), indent=1, default=json_default) + "\n", what="--json")
