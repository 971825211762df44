"""The final model: retrain the best architecture(s), save without pickle, predict.

A model directory holds ``architecture.json`` (space, the member architectures, input shape,
classes) and ``model.lsys`` (weights and the input standardisation, in the CRC-checked container of
:mod:`learnedsys._serialization`). Nothing in it is executed when loaded. With several members
(the top architectures of a search) predictions average the members' softmax outputs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from learnedsys._lazy import require
from learnedsys._serialization import FormatError, load, save
from learnedsys._validation import InvalidParameterError
from learnedsys.nas._data import Dataset, channels_first
from learnedsys.nas._models import build_model
from learnedsys.nas._space import Space
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
        X = np.asarray(X, dtype=np.float32)
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
        return total / max(1, len(self.modules))

    def predict(self, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Class labels (the original ones) for raw (unstandardised) samples ``X``."""
        return np.asarray(self.classes)[self.predict_proba(X, batch_size).argmax(axis=1)]

    def save(self, directory: str | os.PathLike[str]) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        info = {"space": self.space_name, "family": self.family, "architecture": self.architecture,
                "members": self.members, "shape": list(self.shape), "classes": self.classes, **self.meta}
        (d / "architecture.json").write_text(json.dumps(info, indent=1, default=str) + "\n")
        arrays: dict[str, np.ndarray] = {}
        for k, m in enumerate(self.modules):
            for name, v in m.state_dict().items():
                arrays[f"m{k}.{name}"] = v.detach().cpu().numpy()
        arrays["__mean"], arrays["__std"] = self.mean, self.std
        save(d / "model.lsys", KIND, KIND_VERSION, {"space": self.space_name, "family": self.family,
                                                    "members": [m["architecture"] for m in self.members],
                                                    "shape": list(self.shape), "classes": self.classes}, arrays)


def load_model(directory: str | os.PathLike[str]) -> NASModel:
    """Load a model directory written by :meth:`NASModel.save`.

    Raises:
        FileNotFoundError: the directory lacks ``model.lsys``.
        FormatError: the file is corrupted, truncated or not a NAS model.
    """
    torch = require("torch", extra="torch")
    d = Path(directory)
    if not (d / "model.lsys").exists():
        raise FileNotFoundError(f"{str(d)!r} holds no model.lsys (expected a directory written by 'learnedsys nas search --out')")
    _, meta, arrays = load(d / "model.lsys", KIND, KIND_VERSION)
    try:
        family, shape, classes = meta["family"], tuple(meta["shape"]), meta["classes"]
        modules, members = [], []
        for k, arch in enumerate(meta["members"]):
            module = build_model(family, arch, shape, len(classes))
            prefix = f"m{k}."
            state = {n[len(prefix):]: torch.from_numpy(v) for n, v in arrays.items() if n.startswith(prefix)}
            module.load_state_dict(state, strict=True)
            modules.append(module)
            members.append({"architecture": arch})
        if not modules:
            raise ValueError("no members")
    except (KeyError, RuntimeError, TypeError, ValueError, InvalidParameterError) as exc:
        raise FormatError(f"{str(d / 'model.lsys')!r} does not describe a loadable model: {exc}") from None
    return NASModel(meta["space"], family, members, shape, classes, arrays["__mean"], arrays["__std"], modules)


def fit_final(space: Space, actions: Sequence[int] | Sequence[Sequence[int]], data: Dataset, *, epochs: int,
              seed: int = 0, threads: int | None = None) -> tuple[NASModel, float]:
    """Retrain one architecture, or several (an ensemble), on train + validation.

    Args:
        threads: torch intra-op threads (default 1: small networks gain little from more, and
            under load two intra-op threads can make a training many times slower).

    Returns the model and its held-out test accuracy. Cost: one training per member.
    """
    torch = require("torch", extra="torch")
    torch.set_num_threads(threads or 1)
    acts: list[tuple[int, ...]] = []
    if len(actions) and isinstance(actions[0], (int, np.integer)):
        acts.append(tuple(int(x) for x in actions))  # type: ignore[arg-type]
    else:
        acts.extend(tuple(int(x) for x in a) for a in actions)  # type: ignore[union-attr]
    modules = [fit_model(space, a, data, epochs=epochs, seed=seed + k, include_val=True) for k, a in enumerate(acts)]
    members = [{"action": list(a), "architecture": space.decode(a)} for a in acts]
    model = NASModel(space.name, space.family, members, data.shape, data.classes, data.mean, data.std, modules,
                     meta={"epochs": epochs, "seed": seed, "data": data.describe()})
    test_acc = float(np.mean(model.predict_proba(_raw(data.X_test, data)).argmax(axis=1) == data.y_test)) if len(data.y_test) else float("nan")
    model.meta["test_acc"] = test_acc
    return model, test_acc


def _raw(X: np.ndarray, data: Dataset) -> np.ndarray:
    """Undo the standardisation, so the model is scored through the same path as user data."""
    return X * data.std + data.mean


