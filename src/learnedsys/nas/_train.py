"""Train and evaluate one child model: the unit of work of every search.

A trial never raises: a NaN loss, an out-of-memory error or any exception becomes a result with
``status`` ``"nan"`` or ``"error"`` and the message, so the search records it and goes on.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from learnedsys._lazy import require
from learnedsys._validation import check_choice
from learnedsys.nas._data import Dataset
from learnedsys.nas._models import build_model, count_parameters
from learnedsys.nas._space import Space

__all__ = ["accuracy", "evaluate", "fit_model", "recipe", "train_eval"]

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


def _shift(xb: Any, s: int, gen: Any, torch: Any) -> Any:
    """Each image moved by its own random offset in [-s, s]^2 pixels, zero-filled (the
    standardised mean). Grouped by offset: (2s+1)^2 slices, not one per sample."""
    n, _, h, w = xb.shape
    padded = torch.nn.functional.pad(xb, (s, s, s, s))
    off = torch.randint(0, 2 * s + 1, (n, 2), generator=gen)
    code = off[:, 0] * (2 * s + 1) + off[:, 1]
    out = torch.empty_like(xb)
    for c in torch.unique(code).tolist():
        idx = torch.nonzero(code == c).flatten()
        dy, dx = divmod(int(c), 2 * s + 1)
        out[idx] = padded[idx, :, dy:dy + h, dx:dx + w]
    return out


def _set_rate(opt: Any, peak: float, pct: float, schedule: str) -> None:
    """The learning rate (and AdamW's beta1) at fraction ``pct`` of a run, as torch's
    ``OneCycleLR`` (pct_start 0.25, div 25, final div 1e4, cosine, beta1 0.95 -> 0.85 -> 0.95) or
    ``CosineAnnealingLR`` set them after that fraction of the steps."""
    if schedule == "onecycle":
        lo, end = peak / 25.0, peak / 25.0 / 1e4
        if pct < 0.25:
            c = (1 - math.cos(math.pi * pct / 0.25)) / 2
            rate, beta = lo + (peak - lo) * c, 0.95 - 0.10 * c
        else:
            c = (1 - math.cos(math.pi * (pct - 0.25) / 0.75)) / 2
            rate, beta = peak + (end - peak) * c, 0.85 + 0.10 * c
        for g in opt.param_groups:
            g["lr"] = rate
            if "betas" in g:
                g["betas"] = (beta, g["betas"][1])
    elif schedule == "cosine":
        for g in opt.param_groups:
            g["lr"] = peak * (1 + math.cos(math.pi * pct)) / 2


def recipe(space: Space) -> str:
    """The training recipe of a space's family: ``"onecycle"`` (AdamW, one-cycle learning rate,
    the augmentation the architecture names) for ``convnet``, ``"cosine"`` (Adam, cosine decay)
    otherwise."""
    return "onecycle" if space.family == "convnet" else "cosine"


class TrainingCut(TimeoutError):
    """Training stopped by the search (its budget's end, or it stopped exploring) after
    ``epochs_done`` whole epochs; ``model`` holds the weights it reached (with early stopping,
    the best epoch's)."""

    def __init__(self, message: str, model: Any, epochs_done: int) -> None:
        super().__init__(message)
        self.model = model
        self.epochs_done = epochs_done


def fit_model(space: Space, action: Sequence[int], data: Dataset, *, epochs: int, seed: int,
              batch_size: int = 64, include_val: bool = False, eval_every: int = 0,
              curve: list[float] | None = None, schedule: str | None = None, fraction: float = 1.0,
              patience: int = 0, stats: dict[str, Any] | None = None, deadline: float | None = None,
              seconds: float | None = None, init_state: Mapping[str, Any] | None = None,
              stop: Callable[[], bool] | None = None) -> Any:
    """Build and train the model of ``action``; return it (raises on NaN loss).

    Args:
        include_val: train on train + validation (the final model, once the search is over).
        eval_every: when > 0, append validation accuracy to ``curve`` every that many epochs.
        schedule: ``"cosine"`` (Adam; the learning rate decays to 0 over the ``epochs``, per step,
            so the last weights are a converged point rather than wherever the last step of a
            constant rate left them), ``"onecycle"`` (AdamW, weight decay 5e-4, the rate rises to
            the architecture's ``lr`` over the first 25% of the steps, then anneals), or
            ``"constant"`` (how the shipped tabular benchmark was trained). Default: the space's
            :func:`recipe`. An architecture with a ``shift`` choice is trained on images moved by
            up to that many pixels.
        fraction: train on this seeded fraction of the training part (a low fidelity of a
            multi-fidelity search), at least one batch.
        patience: when > 0 (and not ``include_val``), stop once the validation loss has not
            improved for this many epochs and keep the best epoch's weights (early stopping).
        stats: receives ``epochs_run``.
        deadline: a ``time.time()`` after which training stops with :class:`TimeoutError` (a
            trial the search no longer waits for frees its worker within one batch).
        seconds: train for this much wall-clock time instead of a number of epochs (``epochs``
            is then only a cap): the one-cycle schedule follows the elapsed fraction of
            ``seconds`` rather than of the steps, so the run ends converged whatever the machine's
            load (the final training of a budgeted search, and its hand-built baseline).
        init_state: start from these weights (a ``state_dict`` as names -> arrays, e.g. the
            ``state`` a search trial of the same architecture returned) instead of a fresh
            initialisation: a warm start. Everything else is the same recipe (a new optimiser and
            the whole schedule over ``epochs`` / ``seconds``); ``seed`` still orders the batches
            and draws the augmentation.
        stop: called before every batch; when it returns True training stops with
            :class:`TimeoutError` (the search stopped exploring: its running trials end now).
    """
    schedule = recipe(space) if schedule is None else schedule
    check_choice(schedule, "schedule", "fit_model", ("cosine", "onecycle", "constant"))
    torch = require("torch", extra="torch", purpose="training child models")
    arch = space.decode(action)
    torch.manual_seed(seed)
    model = build_model(space.family, arch, data.shape, data.n_classes)
    if init_state is not None:
        model.load_state_dict({k: torch.from_numpy(np.array(v, copy=True)) for k, v in init_state.items()}, strict=True)
    lr = float(arch.get("lr", _DEFAULT_LR))
    if schedule == "onecycle":
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    X, y = data.X_train, data.y_train
    if include_val:
        X, y = np.concatenate([X, data.X_val]), np.concatenate([y, data.y_val])
    if fraction < 1.0:
        keep = max(min(len(y), 2 * batch_size), round(len(y) * fraction))
        sel = np.sort(np.random.default_rng(seed + 7).permutation(len(y))[:keep])
        X, y = X[sel], y[sel]
    Xt, yt = torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(np.ascontiguousarray(y))
    gen = torch.Generator().manual_seed(seed)
    lossf = torch.nn.functional.cross_entropy
    steps_per_epoch = sum(1 for i in range(0, len(Xt), batch_size) if len(Xt) - i >= 2)
    total = max(1, epochs * steps_per_epoch)
    sched: Any = None
    timed = seconds is not None and seconds > 0
    if schedule == "cosine" and not timed:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    elif schedule == "onecycle" and not timed:
        # at least 8 steps: fewer leave OneCycleLR a warm-up phase of length <= 0 (ZeroDivisionError on
        # one-batch trainings of tiny data at the lowest rung)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(total + 1, 8), pct_start=0.25)
    t_start = time.perf_counter()
    done = False
    shift = int(arch.get("shift", 0)) if Xt.ndim == 4 else 0
    early = patience > 0 and not include_val and len(data.y_val) > 0
    best_loss, best_state, since = math.inf, None, 0
    ep = 0
    for ep in range(epochs):
        model.train()
        for b in _batches(len(Xt), batch_size, gen, torch):
            if len(b) < 2:  # batch norm cannot train on one sample
                continue
            xb = Xt[b]
            if shift > 0:
                xb = _shift(xb, shift, gen, torch)
            cut = ""
            if deadline is not None and time.time() > deadline:
                cut = f"the search's budget ended at epoch {ep}"
            elif stop is not None and stop():
                cut = f"the search stopped exploring at epoch {ep}"
            if cut:
                if early and best_state is not None:
                    model.load_state_dict(best_state)
                raise TrainingCut(cut, model, ep)
            if timed:
                pct = (time.perf_counter() - t_start) / float(seconds)  # type: ignore[arg-type]
                if pct >= 1.0:
                    done = True
                    break
                _set_rate(opt, lr, pct, schedule)
            opt.zero_grad()
            loss = lossf(model(xb), yt[b])
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {float(loss.detach())} at epoch {ep}")
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
        if done:
            break
        if eval_every and curve is not None and (ep + 1) % eval_every == 0:
            curve.append(accuracy(model, data.X_val, data.y_val))
        if early:
            _, vloss = evaluate(model, data.X_val, data.y_val)
            if vloss < best_loss - 1e-4:
                best_loss, since = vloss, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                since += 1
                if since >= patience:
                    break
    if early and best_state is not None:
        model.load_state_dict(best_state)
    if stats is not None:
        stats["epochs_run"] = ep + 1
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
               with_test: bool = False, return_state: bool = False, schedule: str | None = None,
               fraction: float = 1.0, patience: int = 0, final: bool = False,
               deadline: float | None = None, seconds: float | None = None,
               init_state: Mapping[str, Any] | None = None, stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Train the architecture ``action`` of ``space`` on ``data``; return a JSON-compatible result.

    Cost: ``epochs`` passes over the training part plus one over the validation part.
    ``fraction``, ``patience``, ``init_state`` (a warm start) and ``stop`` are :func:`fit_model`'s;
    ``final`` trains on train + validation and returns the weights (``state``) without scoring
    (the final retraining, run on the search's workers).

    Returns:
        ``status`` ("ok", "nan", "timeout" or "error"), ``val_acc`` and ``val_loss`` (NaN unless ok),
        ``partial_val_acc`` (a trial cut after at least one whole epoch: the validation accuracy
        its weights reached), ``params``,
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
        stats: dict[str, Any] = {}
        model = fit_model(space, action, data, epochs=epochs, seed=seed, batch_size=batch_size,
                          eval_every=eval_every, curve=curve, schedule=schedule, fraction=fraction,
                          patience=0 if final else patience, include_val=final, stats=stats, deadline=deadline,
                          seconds=seconds, init_state=init_state, stop=stop)
        out["curve"] = curve
        out["epochs_run"] = stats.get("epochs_run", epochs)
        if final:
            out["val_acc"] = 0.0
            return_state, measure_latency = True, False
        else:
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
    except TrainingCut as exc:
        out.update(status="timeout", error=str(exc), epochs_run=exc.epochs_done)
        if exc.epochs_done >= 1 and not final and len(data.y_val):
            # what the cut trial reached in the epochs it ran: with fewer epochs than the
            # rung's, a lower bound on what it would have reached (the search may compare it)
            out["partial_val_acc"], _ = evaluate(exc.model, data.X_val, data.y_val)
    except TimeoutError as exc:
        out.update(status="timeout", error=str(exc))
    except Exception as exc:
        out.update(status="error", error=f"{type(exc).__name__}: {exc}",
                   traceback=traceback.format_exc(limit=3))
    out["seconds"] = time.perf_counter() - t0
    return out
