"""The final model: retrain the best architecture, save it without pickle, predict with it.

A model directory holds ``architecture.json`` (space, decoded architecture, input shape, classes)
and ``model.lsys`` (weights and the input standardisation, in the CRC-checked container of
:mod:`learnedsys._serialization`). Nothing in it is executed when loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from learnedsys._lazy import require
from learnedsys._serialization import FormatError, load, save
from learnedsys._validation import InvalidParameterError
from learnedsys.nas._data import Dataset
from learnedsys.nas._models import build_model
from learnedsys.nas._space import Space, get_space
from learnedsys.nas._train import accuracy, fit_model

__all__ = ["NASModel", "fit_final", "load_model"]

KIND = "nas-model"
KIND_VERSION = 1


class NASModel:
    """A trained child network with its standardisation and class labels."""

    def __init__(self, space_name: str, family: str, action: list[int], architecture: dict[str, Any],
                 shape: tuple[int, ...], classes: list[Any], mean: np.ndarray, std: np.ndarray, module: Any,
                 meta: dict[str, Any] | None = None) -> None:
        self.space_name, self.family, self.action = space_name, family, action
        self.architecture, self.shape, self.classes = architecture, tuple(shape), list(classes)
        self.mean, self.std, self.module = mean, std, module
        self.meta = dict(meta or {})

    def predict(self, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Class labels for raw (unstandardised) samples ``X`` of shape ``(n, *shape)``. O(n) forwards."""
        torch = require("torch", extra="torch")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim == len(self.shape) and len(self.shape) == 3 and self.shape[0] == 1:
            X = X[:, None]  # (n, H, W) grey images
        if tuple(X.shape[1:]) != self.shape:
            if int(np.prod(X.shape[1:])) == int(np.prod(self.shape)):
                X = X.reshape((len(X), *self.shape))
            else:
                raise InvalidParameterError(f"X must have samples of shape {self.shape}. Got {tuple(X.shape[1:])} instead.")
        Xn = ((X - self.mean) / self.std).astype(np.float32)
        self.module.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(Xn), batch_size):
                out.append(self.module(torch.from_numpy(Xn[i:i + batch_size])).argmax(1).numpy())
        idx = np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
        return np.asarray(self.classes)[idx]

    def save(self, directory: str | os.PathLike[str]) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        info = {"space": self.space_name, "family": self.family, "action": list(self.action),
                "architecture": self.architecture, "shape": list(self.shape), "classes": self.classes, **self.meta}
        (d / "architecture.json").write_text(json.dumps(info, indent=1) + "\n")
        arrays = {f"w.{k}": v.detach().cpu().numpy() for k, v in self.module.state_dict().items()}
        arrays["__mean"], arrays["__std"] = self.mean, self.std
        save(d / "model.lsys", KIND, KIND_VERSION, {"space": self.space_name, "architecture": self.architecture,
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
        space = get_space(meta["space"]) if meta["space"] in ("mlp", "cnn", "cell", "tabular-mlp") else None
        family = space.family if space is not None else json.loads((d / "architecture.json").read_text())["family"]
        arch, shape, classes = meta["architecture"], tuple(meta["shape"]), meta["classes"]
        module = build_model(family, arch, shape, len(classes))
        state = {k[2:]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith("w.")}
        module.load_state_dict(state, strict=True)
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise FormatError(f"{str(d / 'model.lsys')!r} does not describe a loadable model: {exc}") from None
    action = list(space.encode(arch)) if space is not None else []
    return NASModel(meta["space"], family, action, arch, shape, classes, arrays["__mean"], arrays["__std"], module)


def fit_final(space: Space, action: tuple[int, ...] | list[int], data: Dataset, *, epochs: int, seed: int = 0) -> tuple[NASModel, float]:
    """Retrain ``action`` on train + validation; return the model and its held-out test accuracy."""
    torch = require("torch", extra="torch")
    torch.set_num_threads(1)
    module = fit_model(space, tuple(action), data, epochs=epochs, seed=seed, include_val=True)
    test_acc = accuracy(module, data.X_test, data.y_test) if len(data.y_test) else float("nan")
    model = NASModel(space.name, space.family, list(action), space.decode(action), data.shape, data.classes,
                     data.mean, data.std, module, meta={"test_acc": test_acc, "epochs": epochs, "seed": seed,
                                                        "data": data.describe()})
    return model, test_acc
