"""The final model: retrain the best architecture(s), save without pickle, predict.

A model directory holds ``architecture.json`` (space, the member architectures, input shape,
classes) and ``model.lsys`` (weights and the input standardisation, in the CRC-checked container of
:mod:`learnedsys._serialization`). Nothing in it is executed when loaded. With several members
(the top architectures of a search) predictions average the members' softmax outputs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from learnedsys._atomic import PathError, atomic_write
from learnedsys._lazy import require
from learnedsys._serialization import FormatError, load, save
from learnedsys._validation import InvalidParameterError
from learnedsys.nas._data import Dataset, channels_first
from learnedsys.nas._models import build_model
from learnedsys.nas._space import CELL_OPS, Space
from learnedsys.nas._train import fit_model

__all__ = ["NASModel", "fit_final", "load_model"]

KIND = "nas-model"
KIND_VERSION = 1


class NASModel:
    """One or more trained child networks with the input standardisation and class labels."""

    def __init__(self, space_name: str, family: str, members: list[dict[str, Any]], shape: tuple[int, ...],
                 classes: list[Any], mean: np.ndarray, std: np.ndarray, modules: list[Any],
                 meta: dict[str, Any] | None = None) -> None:
        self.space_name, self.family, self.members = space_name, family, members
        self.shape, self.classes = tuple(shape), list(classes)
        self.mean, self.std, self.modules = mean, std, modules
        self.meta = dict(meta or {})

    @property
    def architecture(self) -> dict[str, Any]:
        """The first (best) member's architecture."""
        return dict(self.members[0]["architecture"])

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise InvalidParameterError(f"X must be numeric. Got dtype {X.dtype} instead.")
        X = X.astype(np.float32)
        if X.ndim >= 1 and len(X):
            bad = np.flatnonzero(~np.isfinite(X.reshape(len(X), -1)).all(axis=1))
            if len(bad):  # as 'nas search' does: a NaN pixel is an error, not a silent prediction
                raise InvalidParameterError(f"X must be finite; X[{bad[0]}] holds NaN or inf")
        if len(self.shape) == 3 and X.ndim in (3, 4):
            X = channels_first(X, self.shape)
        if tuple(X.shape[1:]) != self.shape:
            if X.ndim >= 2 and int(np.prod(X.shape[1:])) == int(np.prod(self.shape)):
                X = X.reshape((len(X), *self.shape))
            else:
                raise InvalidParameterError(f"X must have samples of shape {self.shape}. Got {tuple(X.shape[1:])} instead.")
        return ((X - self.mean) / self.std).astype(np.float32)

    def predict_proba(self, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities (mean over members) for raw samples ``X``. O(n x members) forwards."""
        torch = require("torch", extra="torch")
        Xn = self._inputs(X)
        total = np.zeros((len(Xn), len(self.classes)))
        with torch.no_grad():
            for m in self.modules:
                m.eval()
                for i in range(0, len(Xn), batch_size):
                    out = m(torch.from_numpy(Xn[i:i + batch_size]))
                    total[i:i + batch_size] += torch.softmax(out, dim=1).numpy()
        if not np.all(np.isfinite(total)):
            bad = int(np.flatnonzero(~np.isfinite(total).all(axis=1))[0])
            raise InvalidParameterError(
                f"the model's output for X[{bad}] is not finite (NaN or overflow); check that X is on the scale of the training data")
        return total / max(1, len(self.modules))

    def predict(self, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Class labels (the original ones) for raw (unstandardised) samples ``X``."""
        return np.asarray(self.classes)[self.predict_proba(X, batch_size).argmax(axis=1)]

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write ``architecture.json`` and ``model.lsys`` into ``directory`` (created if missing).

        Each file is written atomically (a fresh temporary in the folder, fsync, rename): an
        interrupted save leaves the old files intact and a link planted in the folder is never
        written through.

        Raises:
            PathError: ``directory`` exists and is not a directory.
        """
        d = Path(directory)
        if d.exists() and not d.is_dir():
            raise PathError(f"The model directory {str(d)!r} is a file; give a directory path (it is created if missing).")
        d.mkdir(parents=True, exist_ok=True)
        info = {"space": self.space_name, "family": self.family, "architecture": self.architecture,
                "members": self.members, "shape": list(self.shape), "classes": self.classes, **self.meta}
        arrays: dict[str, np.ndarray] = {}
        for k, m in enumerate(self.modules):
            for name, v in m.state_dict().items():
                arrays[f"m{k}.{name}"] = v.detach().cpu().numpy()
        arrays["__mean"], arrays["__std"] = self.mean, self.std
        save(d / "model.lsys", KIND, KIND_VERSION, {"space": self.space_name, "family": self.family,
                                                    "members": [m["architecture"] for m in self.members],
                                                    "shape": list(self.shape), "classes": self.classes}, arrays)
        atomic_write(d / "architecture.json", json.dumps(info, indent=1, default=str) + "\n", what="architecture.json")


def load_model(directory: str | os.PathLike[str]) -> NASModel:
    """Load a model directory written by :meth:`NASModel.save`.

    Every loaded value is checked before a network is built: the family and each member's
    architecture (types and ranges of its choices), the input shape, the classes, the member
    count, the standardisation (``mean``/``std`` finite, broadcastable to the input shape,
    ``std > 0``) and every weight (name, shape, dtype, finite; BatchNorm variances >= 0). The
    networks are first built on torch's meta device, so a crafted architecture allocates nothing.

    Raises:
        FileNotFoundError: the directory lacks ``model.lsys``.
        PathError: ``directory`` is a file.
        FormatError: the file is corrupted, truncated, crafted or not a NAS model.
    """
    torch = require("torch", extra="torch")
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise PathError(f"{str(d)!r} is a file; give the model directory written by 'learnedsys nas search --out'.")
    if not (d / "model.lsys").exists():
        raise FileNotFoundError(f"{str(d)!r} holds no model.lsys (expected a directory written by 'learnedsys nas search --out')")
    where = repr(str(d / "model.lsys"))
    _, meta, arrays = load(d / "model.lsys", KIND, KIND_VERSION)
    family, shape, classes, archs, mean, std = _check_meta(meta, arrays, where)
    try:
        modules, members = [], []
        for k, arch in enumerate(archs):
            prefix = f"m{k}."
            state = {n[len(prefix):]: v for n, v in arrays.items() if n.startswith(prefix)}
            with torch.device("meta"):
                skeleton = build_model(family, arch, shape, len(classes))
            want = {n: (tuple(t.shape), t.dtype) for n, t in skeleton.state_dict().items()}
            if set(state) != set(want):
                raise FormatError(f"{where}: member {k}'s weights do not match its architecture")
            for n, v in state.items():
                shp, dt = want[n]
                got = tuple(v.shape) if shp or v.shape != (1,) else ()  # the container stores a scalar as (1,)
                if got != shp or torch.from_numpy(np.empty(0, v.dtype)).dtype != dt:
                    raise FormatError(f"{where}: weight {prefix + n!r} has {v.dtype} {v.shape}; its architecture needs {dt} {shp}")
                if v.dtype.kind == "f" and not np.all(np.abs(v) <= _MAX_WEIGHT):  # NaN fails too
                    raise FormatError(f"{where}: weight {prefix + n!r} holds NaN, inf or values beyond +-{_MAX_WEIGHT:g}")
                if (n.endswith("running_var") or n.endswith("num_batches_tracked")) and v.size and v.min() < 0:
                    raise FormatError(f"{where}: {prefix + n!r} must be >= 0")
            module = build_model(family, arch, shape, len(classes))
            module.load_state_dict({n: torch.from_numpy(v) for n, v in state.items()}, strict=True)
            modules.append(module)
            members.append({"architecture": arch})
    except (KeyError, RuntimeError, TypeError, ValueError, InvalidParameterError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(f"{where} does not describe a loadable model: {exc}") from None
    return NASModel(meta["space"], family, members, shape, classes, mean, std, modules)


#: Bounds of a loaded model's description (far above any model a search builds).
_MAX_MEMBERS = 64
_MAX_CLASSES = 1 << 20
_MAX_INPUT = 1 << 31
_MAX_DEPTH = 1024
_MAX_WIDTH = 1 << 24
_MAX_WEIGHT = 1e12  # no training of these networks comes near; beyond, float32 forwards overflow
_ACTIVATIONS = ("relu", "tanh", "gelu", "elu", "sigmoid")


def _is_int(v: Any, low: int, high: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _is_prob(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v < 1.0


def _check_arch(family: str, arch: Any, where: str) -> None:
    """The architecture's choices have the types and ranges the family's builder needs."""
    if not isinstance(arch, dict):
        raise FormatError(f"{where}: a member architecture must be an object")
    bad: list[str] = []

    def need(key: str, ok: Any, default: Any = ...) -> None:
        v = arch.get(key, default)
        if v is ... or not ok(v):
            bad.append(f"{key}={v!r}" if v is not ... else f"{key} missing")

    if family == "mlp":
        need("n_layers", lambda v: _is_int(v, 0, _MAX_DEPTH))
        if not bad:
            for i in range(arch["n_layers"]):
                need(f"layer{i}.width", lambda v: _is_int(v, 1, _MAX_WIDTH))
        need("activation", lambda v: v in _ACTIVATIONS, "relu")
        need("dropout", _is_prob, 0.0)
        need("norm", lambda v: v in ("none", "batch", "layer"), "none")
    elif family == "cnn":
        need("n_layers", lambda v: _is_int(v, 0, _MAX_DEPTH))
        if not bad:
            for i in range(arch["n_layers"]):
                need(f"layer{i}.channels", lambda v: _is_int(v, 1, 1 << 16))
                need(f"layer{i}.kernel", lambda v: _is_int(v, 1, 63))
                need(f"layer{i}.pool", lambda v: v in ("none", "max"))
                need(f"layer{i}.skip", lambda v: isinstance(v, bool))
        need("activation", lambda v: v in _ACTIVATIONS)
        need("batchnorm", lambda v: isinstance(v, bool))
        need("head", lambda v: _is_int(v, 0, _MAX_WIDTH))
        need("dropout", _is_prob, 0.0)
    elif family == "convnet":
        need("stem_stride", lambda v: _is_int(v, 1, 8))
        need("width", lambda v: _is_int(v, 1, 1 << 12))
        need("stages", lambda v: _is_int(v, 1, 8))
        need("depth", lambda v: _is_int(v, 1, 16))
        need("kernel", lambda v: _is_int(v, 1, 15) and v % 2 == 1)
        need("batchnorm", lambda v: isinstance(v, bool))
        need("head", lambda v: v in ("flatten", "avg"))
        need("dense", lambda v: _is_int(v, 0, _MAX_WIDTH))
        need("dropout", _is_prob, 0.0)
    else:  # cell
        n_nodes = sum(1 for k in arch if isinstance(k, str) and k.endswith(".op_a"))
        for i in range(n_nodes):
            for side in ("a", "b"):
                need(f"node{i}.in_{side}", lambda v, i=i: _is_int(v, 0, i))
                need(f"node{i}.op_{side}", lambda v: v in CELL_OPS)
        need("n_cells", lambda v: _is_int(v, 1, _MAX_DEPTH))
        need("channels", lambda v: _is_int(v, 1, 1 << 16))
    if bad:
        raise FormatError(f"{where}: a {family} architecture with invalid choices: {', '.join(bad[:5])}")


def _check_meta(meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> tuple[Any, ...]:
    """Validate the model description and the standardisation; return what the loader needs."""
    space, family, shape, classes, archs = (meta.get(k) for k in ("space", "family", "shape", "classes", "members"))
    if not isinstance(space, str):
        raise FormatError(f"{where}: 'space' must be a string")
    if family not in ("mlp", "cnn", "cell", "convnet"):
        raise FormatError(f"{where}: 'family' must be 'mlp', 'cnn', 'cell' or 'convnet'. Got {family!r} instead.")
    if not isinstance(shape, list) or len(shape) not in ((1, 2, 3) if family == "mlp" else (3,)) \
            or not all(_is_int(s, 1, _MAX_INPUT) for s in shape) or int(np.prod([float(s) for s in shape])) > _MAX_INPUT:
        raise FormatError(f"{where}: 'shape' must be the per-sample input shape (positive ints). Got {shape!r} instead.")
    scalar = (str, int, float)
    if not isinstance(classes, list) or not 1 <= len(classes) <= _MAX_CLASSES \
            or not all(isinstance(c, scalar) for c in classes) or len({(type(c), c) for c in classes}) != len(classes) \
            or len({isinstance(c, str) for c in classes}) != 1:
        raise FormatError(f"{where}: 'classes' must be a non-empty list of distinct labels, all strings or all numbers")
    if not isinstance(archs, list) or not 1 <= len(archs) <= _MAX_MEMBERS:
        raise FormatError(f"{where}: 'members' must list 1 to {_MAX_MEMBERS} architectures")
    for arch in archs:
        _check_arch(family, arch, where)
    expected = {"__mean", "__std"}
    for name in arrays:
        if name in expected:
            continue
        head, _, rest = name.partition(".")
        if not (head.startswith("m") and head[1:].isdigit() and int(head[1:]) < len(archs) and rest):
            raise FormatError(f"{where}: unexpected array {name!r} (the file holds {len(archs)} member(s))")
    if not expected <= set(arrays):
        raise FormatError(f"{where}: the input standardisation ('__mean', '__std') is missing")
    mean, std = arrays["__mean"], arrays["__std"]
    tshape = tuple(shape)
    for key, a in (("mean", mean), ("std", std)):
        ok = a.dtype.kind == "f" and a.ndim <= len(tshape)
        if ok:
            try:
                ok = np.broadcast_shapes(a.shape, tshape) == tshape
            except ValueError:
                ok = False
        if not ok:
            raise FormatError(f"{where}: the input {key} has {a.dtype} {a.shape}; it must be floats broadcastable to {tshape}")
        if not np.all(np.isfinite(a)):
            raise FormatError(f"{where}: the input {key} holds NaN or inf")
    if not np.all(std > 0):
        raise FormatError(f"{where}: the input std must be > 0")
    return family, tshape, classes, archs, mean.astype(np.float32), std.astype(np.float32)


def fit_final(space: Space, actions: Sequence[int] | Sequence[Sequence[int]], data: Dataset, *, epochs: int,
              seed: int = 0, threads: int | None = None, pool: Any = None,
              seconds: float | None = None,
              init_states: Sequence[Mapping[str, Any] | None] | None = None) -> tuple[NASModel, float]:
    """Retrain one architecture, or several (an ensemble), on train + validation.

    Member ``k`` is trained with seed ``seed + k`` (an architecture listed twice gives two
    differently initialised members), with the space's training recipe.

    Args:
        threads: torch intra-op threads (default 1: small networks gain little from more, and
            under load two intra-op threads can make a training many times slower).
        pool: a worker pool (:func:`~learnedsys.nas._executor.make_pool`, holding ``data``) to
            train the members in parallel on; the result is the same as without it.
        seconds: with ``pool``, train each member for this much wall-clock time (``epochs`` is
            then a cap; see :func:`~learnedsys.nas._train.fit_model`); the epochs each ran are in
            ``model.meta["epochs_run"]``.
        init_states: per member, weights to start from (a warm start: the ``state`` a search
            trial of that architecture trained, so its epochs count) or None for a fresh
            initialisation; the recipe and the schedule are the same either way.

    Returns the model and its held-out test accuracy. Cost: one training per member.
    """
    torch = require("torch", extra="torch")
    torch.set_num_threads(threads or 1)
    acts: list[tuple[int, ...]] = []
    if len(actions) and isinstance(actions[0], (int, np.integer)):
        acts.append(tuple(int(x) for x in actions))  # type: ignore[arg-type]
    else:
        acts.extend(tuple(int(x) for x in a) for a in actions)  # type: ignore[union-attr]
    ran = [epochs] * len(acts)
    inits: list[Mapping[str, Any] | None] = list(init_states) if init_states is not None else [None] * len(acts)
    if len(inits) != len(acts):
        raise InvalidParameterError(f"init_states must give one entry per member ({len(acts)}); got {len(inits)}")
    if pool is None:
        modules = [fit_model(space, a, data, epochs=epochs, seed=seed + k, include_val=True, seconds=seconds,
                             init_state=inits[k])
                   for k, a in enumerate(acts)]
    else:
        modules, ran = _fit_on_pool(pool, space, acts, data, epochs, seed, seconds, inits)
    members = [{"action": list(a), "architecture": space.decode(a)} for a in acts]
    model = NASModel(space.name, space.family, members, data.shape, data.classes, data.mean, data.std, modules,
                     meta={"epochs": epochs, "epochs_run": ran, "seed": seed, "data": data.describe()})
    test_acc = float(np.mean(model.predict_proba(_raw(data.X_test, data)).argmax(axis=1) == data.y_test)) if len(data.y_test) else float("nan")
    model.meta["test_acc"] = test_acc
    return model, test_acc


def _fit_on_pool(pool: Any, space: Space, acts: list[tuple[int, ...]], data: Dataset, epochs: int, seed: int,
                 seconds: float | None, inits: list[Mapping[str, Any] | None]) -> tuple[list[Any], list[int]]:
    torch = require("torch", extra="torch")
    todo = list(enumerate(acts))
    states: dict[int, dict[str, Any]] = {}
    ran = [epochs] * len(acts)
    while todo or pool.pending:
        while todo and pool.pending < pool.capacity:
            k, a = todo.pop(0)
            extra: dict[str, Any] = {"final": True, "seconds": seconds}
            if inits[k] is not None:
                extra["init_state"] = inits[k]
            pool.submit(("final", k), a, epochs, seed + k, extra)
        for (_, k), res in pool.wait(timeout=1.0):
            if res.get("status") != "ok":
                raise RuntimeError(f"the final training of member {k} failed: {res.get('error')}")
            states[k] = res["state"]
            ran[k] = int(res.get("epochs_run", epochs))
    modules = []
    for k, a in enumerate(acts):
        m = build_model(space.family, space.decode(a), data.shape, data.n_classes)
        m.load_state_dict({n: torch.from_numpy(v) for n, v in states[k].items()}, strict=True)
        modules.append(m)
    return modules, ran


def _raw(X: np.ndarray, data: Dataset) -> np.ndarray:
    """Undo the standardisation, so the model is scored through the same path as user data."""
    return X * data.std + data.mean


