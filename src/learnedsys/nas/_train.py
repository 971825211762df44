"""Train and evaluate one child model: the unit of work of every search.

A trial never raises: a NaN loss, an out-of-memory error or any exception becomes a result with
``status`` ``"nan"`` or ``"error"`` and the message, so the search records it and goes on.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Sequence
from typing import Any

import numpy as np

from learnedsys._lazy import require
from learnedsys._validation import check_choice
from learnedsys.nas._data import Dataset
from learnedsys.nas._models import build_model, count_parameters
from learnedsys.nas._space import Space

__all__ = ["accuracy", "evaluate", "fit_model", "train_eval"]

_DEFAULT_LR = 3e-3


def _batches(n: int, batch_size: int, gen: Any, torch: Any) -> list[Any]:
    perm = torch.randperm(n, generator=gen)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def accuracy(model: Any, X: np.ndarray, y: np.ndarray, batch_size: int = 1024) -> float:
    """Fraction of ``X`` that ``model`` classifies as ``y`` (eval mode, no gradients)."""
    return evaluate(model, X, y, batch_size)[0]


def evaluate(model: Any, X: np.ndarray, y: np.ndarray, batch_size: int = 1024) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on ``X``, ``y`` (eval mode, no gradients).

    The loss ranks models whose accuracies tie, which happens once validation accuracy saturates.
    """
    torch = require("torch", extra="torch")
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            out = model(torch.from_numpy(X[i:i + batch_size]))
            yb = torch.from_numpy(y[i:i + batch_size])
            correct += int((out.argmax(1) == yb).sum())
            loss += float(torch.nn.functional.cross_entropy(out, yb, reduction="sum"))
    n = max(1, len(X))
    return correct / n, loss / n


def fit_model(space: Space, action: Sequence[int], data: Dataset, *, epochs: int, seed: int,
              batch_size: int = 64, include_val: bool = False, eval_every: int = 0,
              curve: list[float] | None = None, schedule: str = "cosine") -> Any:
    """Build and train the model of ``action``; return it (raises on NaN loss).

    Args:
        include_val: train on train + validation (the final model, once the search is over).
        eval_every: when > 0, append validation accuracy to ``curve`` every that many epochs.
        schedule: ``"cosine"`` (the learning rate decays to 0 over the ``epochs``, per step, so
            the last weights are a converged point rather than wherever the last step of a
            constant rate left them) or ``"constant"`` (how the shipped tabular benchmark was
            trained).
    """
    check_choice(schedule, "schedule", "fit_model", ("cosine", "constant"))
    torch = require("torch", extra="torch", purpose="training child models")
    arch = space.decode(action)
    torch.manual_seed(seed)
    model = build_model(space.family, arch, data.shape, data.n_classes)
    lr = float(arch.get("lr", _DEFAULT_LR))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    X, y = data.X_train, data.y_train
    if include_val:
        X, y = np.concatenate([X, data.X_val]), np.concatenate([y, data.y_val])
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    lossf = torch.nn.functional.cross_entropy
    steps_per_epoch = sum(1 for i in range(0, len(Xt), batch_size) if len(Xt) - i >= 2)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * steps_per_epoch))
             if schedule == "cosine" else None)
    for ep in range(epochs):
        model.train()
        for b in _batches(len(Xt), batch_size, gen, torch):
            if len(b) < 2:  # batch norm cannot train on one sample
                continue
            opt.zero_grad()
            loss = lossf(model(Xt[b]), yt[b])
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {float(loss.detach())} at epoch {ep}")
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
        if eval_every and curve is not None and (ep + 1) % eval_every == 0:
            curve.append(accuracy(model, data.X_val, data.y_val))
    return model


def latency_ms(model: Any, shape: tuple[int, ...], repeats: int = 20) -> float:
    """Median single-sample CPU inference latency in milliseconds (one thread, after warm-up)."""
    torch = require("torch", extra="torch")
    model.eval()
    x = torch.zeros((1, *shape))
    times = []
    with torch.no_grad():
        for _ in range(3):
            model(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def train_eval(space: Space, action: Sequence[int], data: Dataset, *, epochs: int = 20, seed: int = 0,
               batch_size: int = 64, eval_every: int = 0, measure_latency: bool = True,
               with_test: bool = False, return_state: bool = False, schedule: str = "cosine") -> dict[str, Any]:
    """Train the architecture ``action`` of ``space`` on ``data``; return a JSON-compatible result.

    Cost: ``epochs`` passes over the training part plus one over the validation part.

    Returns:
        ``status`` ("ok", "nan" or "error"), ``val_acc`` and ``val_loss`` (NaN unless ok), ``params``,
        ``latency_ms``, ``seconds``, ``curve`` (validation accuracy every ``eval_every`` epochs),
        ``error`` (message), ``test_acc`` when ``with_test``, ``state`` (name -> numpy array)
        when ``return_state``.
    """
    torch = require("torch", extra="torch", purpose="training child models")
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"status": "ok", "val_acc": float("nan"), "val_loss": float("nan"), "params": 0,
                           "latency_ms": float("nan"),
                           "curve": [], "error": ""}
    try:
        curve: list[float] = []
        model = fit_model(space, action, data, epochs=epochs, seed=seed, batch_size=batch_size,
                          eval_every=eval_every, curve=curve, schedule=schedule)
        out["curve"] = curve
        out["val_acc"], out["val_loss"] = evaluate(model, data.X_val, data.y_val)
        out["params"] = count_parameters(model)
        if measure_latency:
            out["latency_ms"] = latency_ms(model, data.shape)
        if with_test:
            out["test_acc"] = accuracy(model, data.X_test, data.y_test)
        if return_state:
            out["state"] = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
        if not math.isfinite(out["val_acc"]):
            out["status"] = "nan"
    except FloatingPointError as exc:
        out.update(status="nan", error=str(exc))
    except Exception as exc:
        out.update(status="error", error=f"{type(exc).__name__}: {exc}",
                   traceback=traceback.format_exc(limit=3))
    out["seconds"] = time.perf_counter() - t0
    return out
