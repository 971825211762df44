"""Datasets for architecture search: ``.npz`` (X, y), CSV with a target column, or ``digits``.

Data are split once, seeded and stratified, into train / validation / test. Search only ever
sees validation accuracy; the test part is touched once, by the final model.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from learnedsys._lazy import require
from learnedsys._validation import InvalidParameterError, check_float, check_seed

__all__ = ["Dataset", "channels_first", "load_arrays", "load_dataset", "split_dataset"]


@dataclass
class Dataset:
    """A split, standardised classification dataset.

    ``shape`` is the per-sample input shape: ``(d,)`` for feature vectors, ``(C, H, W)`` for images.
    ``mean``/``std`` are the per-feature standardisation learnt on the training part; ``classes``
    maps class index to the original label.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    shape: tuple[int, ...]
    classes: list[Any]
    mean: np.ndarray
    std: np.ndarray
    name: str = "data"
    fingerprint: str = ""

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "n_classes": self.n_classes,
                "n_train": len(self.y_train), "n_val": len(self.y_val), "n_test": len(self.y_test),
                "fingerprint": self.fingerprint}


def load_arrays(spec: str | os.PathLike[str], target: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Read features and labels: ``digits``, an ``.npz`` with ``X`` and ``y``, or a CSV.

    Returns (X, y, name). Digits come as 1x8x8 images; image arrays come channels-first
    (:func:`channels_first`). A CSV needs ``target`` (the label column); every other column must
    be numeric.
    """
    s = str(spec)
    if s == "digits":
        datasets = require("sklearn.datasets", extra="nas", purpose="the digits dataset")
        d = datasets.load_digits()
        return d.data.reshape(-1, 1, 8, 8).astype(np.float32) / 16.0, d.target.astype(np.int64), "digits"
    path = Path(s)
    if not path.exists():
        raise FileNotFoundError(f"--data {s!r}: no such file (expected a .npz, a .csv or 'digits')")
    if path.suffix in (".npz", ".csv", ".txt") and path.is_file() and path.stat().st_size == 0:
        raise InvalidParameterError(f"{s!r} is empty (0 bytes); write it with np.savez(path, X=X, y=y)"
                                    if path.suffix == ".npz" else f"{s!r} is empty (0 bytes); it needs a header line and one row per sample")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in ("X", "y") if k not in z.files]
                if missing:
                    raise InvalidParameterError(f"{s!r} must hold arrays 'X' and 'y'; it lacks {missing} (has {z.files})")
                X, y = np.asarray(z["X"]), np.asarray(z["y"])
        except (ValueError, OSError, EOFError) as exc:
            if isinstance(exc, InvalidParameterError):
                raise
            raise InvalidParameterError(f"{s!r} is not a readable .npz file ({exc}); write it with np.savez(path, X=X, y=y) "
                                        "(numbers and strings only: no object arrays)") from None
    elif path.suffix in (".csv", ".txt"):
        if not target:
            raise InvalidParameterError(f"{s!r} is a CSV: name its label column with --target")
        X, y = _read_csv(path, target)
    else:
        raise InvalidParameterError(f"--data must be a .npz, a .csv or 'digits'. Got {s!r} instead.")
    if y.ndim != 1:
        hint = " (one-hot rows? save y.argmax(axis=1))" if y.ndim == 2 and y.shape[1] > 1 else " (save y.ravel())"
        raise InvalidParameterError(f"{s!r}: y must hold one label per sample, shape (n,). Got {y.shape} instead{hint}.")
    if X.ndim < 2:
        raise InvalidParameterError(
            f"{s!r}: X must be (n, features), (n, H, W) or (n, C, H, W) images. Got {X.shape} instead "
            "(one feature per sample? save X[:, None]).")
    if len(X) != len(y):
        raise InvalidParameterError(f"{s!r}: X has {len(X)} samples and y {len(y)} labels; give one label per sample.")
    if X.dtype.kind not in "biuf":
        raise InvalidParameterError(f"{s!r}: X must be numeric. Got dtype {X.dtype} instead (convert it, e.g. X.astype(np.float32)).")
    X = X.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(X.reshape(len(X), -1)).all(axis=1))
    if len(bad):
        raise InvalidParameterError(f"{s!r}: X must be finite; X[{bad[0]}] holds NaN or inf "
                                    f"({len(bad)} sample(s) in all: drop them or fill the gaps first)")
    return channels_first(X), y, path.stem


def channels_first(X: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Images as (n, C, H, W): (n, H, W) grey images gain a channel; channel-last (n, H, W, C)
    images (C of 1, 3 or 4, as PIL, TensorFlow and most image files have them) are transposed.

    With ``shape`` (the (C, H, W) a model expects) a 4-d array is transposed exactly when its
    channel-last reading matches ``shape``; without it, when the last axis looks like channels
    and the second does not.
    """
    if X.ndim == 3:
        return X[:, None]
    if X.ndim == 4:
        _, a, b, c = X.shape
        if shape is not None:
            if tuple(X.shape[1:]) != tuple(shape) and (c, a, b) == tuple(shape):
                return np.ascontiguousarray(X.transpose(0, 3, 1, 2))
        elif c in (1, 3, 4) and a not in (1, 3, 4):
            return np.ascontiguousarray(X.transpose(0, 3, 1, 2))
    return X


def _read_csv(path: Path, target: str) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise InvalidParameterError(f"{str(path)!r} is empty")
    header = rows[0]
    if target not in header:
        raise InvalidParameterError(f"--target {target!r} is not a column of {str(path)!r}; columns: {header}")
    t = header.index(target)
    feats, labels = [], []
    for i, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise InvalidParameterError(f"{str(path)!r} line {i} has {len(row)} fields; the header has {len(header)}")
        labels.append(row[t])
        try:
            feats.append([float(v) for j, v in enumerate(row) if j != t])
        except ValueError:
            raise InvalidParameterError(f"{str(path)!r} line {i}: every column but the target must be numeric; got {row}") from None
    return np.asarray(feats, dtype=np.float32), np.asarray(labels)


def split_dataset(X: np.ndarray, y: np.ndarray, *, seed: int | None = 0, val: float = 0.2, test: float = 0.2,
                  name: str = "data") -> Dataset:
    """Seeded stratified split into train / validation / test, standardised on the train part."""
    seed = check_seed(seed, "seed", "split_dataset")
    val = check_float(val, "val", "split_dataset", low=0.0, high=1.0, closed="neither")
    test = check_float(test, "test", "split_dataset", low=0.0, high=1.0, closed="left")
    if val + test >= 1.0:
        raise InvalidParameterError(f"The 'val' + 'test' fractions of split_dataset must be < 1. Got {val + test} instead.")
    classes, yi = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise InvalidParameterError(f"y must hold at least 2 classes. Got {len(classes)} instead "
                                    "(a classifier needs samples of two or more labels).")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in range(len(classes)):
        idx = rng.permutation(np.flatnonzero(yi == c))
        n_te = round(len(idx) * test)
        n_va = round(len(idx) * val)
        parts["test"].append(idx[:n_te])
        parts["val"].append(idx[n_te:n_te + n_va])
        parts["train"].append(idx[n_te + n_va:])
    sel = {k: np.sort(np.concatenate(v)) for k, v in parts.items()}
    if len(sel["train"]) == 0 or len(sel["val"]) == 0:
        raise InvalidParameterError(f"{len(y)} samples are too few to split into train / validation / test; give at "
                                    "least 5 samples of every class (a few hundred for a useful search)")
    Xtr = X[sel["train"]]
    flat = Xtr.reshape(len(Xtr), -1)
    if X.ndim == 4:  # images: one scalar per channel keeps the spatial structure
        mean = Xtr.mean(axis=(0, 2, 3), keepdims=True)[0]
        std = Xtr.std(axis=(0, 2, 3), keepdims=True)[0] + 1e-6
    else:
        mean, std = flat.mean(axis=0), flat.std(axis=0) + 1e-6
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(X).tobytes())
    h.update(np.ascontiguousarray(yi).tobytes())
    h.update(f"{seed}:{val}:{test}".encode())

    def norm(a: np.ndarray) -> np.ndarray:
        return ((a - mean) / std).astype(np.float32)

    return Dataset(
        norm(Xtr), yi[sel["train"]].astype(np.int64),
        norm(X[sel["val"]]), yi[sel["val"]].astype(np.int64),
        norm(X[sel["test"]]), yi[sel["test"]].astype(np.int64),
        shape=tuple(int(s) for s in X.shape[1:]), classes=[c.item() if hasattr(c, "item") else c for c in classes],
        mean=mean.astype(np.float32), std=std.astype(np.float32), name=name, fingerprint=h.hexdigest()[:16],
    )


def load_dataset(spec: str | os.PathLike[str], *, target: str | None = None, seed: int | None = 0,
                 val: float = 0.2, test: float = 0.2) -> Dataset:
    """:func:`load_arrays` then :func:`split_dataset`."""
    X, y, name = load_arrays(spec, target)
    return split_dataset(X, y, seed=seed, val=val, test=test, name=name)
