"""Validation of a policy state read from a file (``Choice.load``).

A state file is checksummed, but a crafted one (its checksum recomputed) can hold any JSON: the
checks here make sure every value has the type, shape and range the policy's arithmetic needs
(finite numbers, counts >= 0, Beta parameters > 0, actions inside the option space), so a crafted
file is a :class:`FormatError` before anything in the policy changes, never a crash or a policy
that answers with NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from learnedsys._serialization import FormatError
from learnedsys._validation import InvalidParameterError
from learnedsys.decide._policies import (
    DecidePolicy,
    OptunaTPE,
    Reinforce,
    ThompsonBeta,
    ThompsonGaussian,
    _Counting,
    _Linear,
)
from learnedsys.policy import Policy

__all__ = ["StateMismatchError", "check_policy_state"]

_MAX_COUNT = 1 << 62  # counts, steps and versions stay exact in float64 arithmetic long before this
_MAX_DIM = 1 << 16
#: Largest magnitude of a learned value: the policies square deviations (variances, Sherman-
#: Morrison updates), which overflow beyond this; no reward scale a policy can learn from needs more.
_MAX_VALUE = 1e150


class StateMismatchError(FormatError, InvalidParameterError):
    """A well-formed state of another policy type or option count: a ``FormatError`` for the file
    (one error type per format) and, as before, an ``InvalidParameterError`` for the caller."""


def _bad(where: str, field: str, expected: str, value: Any) -> FormatError:
    r = repr(value)
    r = r if len(r) <= 60 else r[:57] + "..."
    return FormatError(f"{where}: the policy state's {field!r} must be {expected}. Got {r} instead.")


def _count(state: dict[str, Any], key: str, where: str, *, required: bool = True, high: int = _MAX_COUNT) -> None:
    if key not in state and not required:
        return
    v = state.get(key)
    if not (isinstance(v, int) and not isinstance(v, bool) and 0 <= v < high):
        raise _bad(where, key, f"an int in 0..{high - 1}", v)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and (not isinstance(v, int) or abs(v) < 1 << 1000)


def _array(state: dict[str, Any], key: str, shape: tuple[int, ...], where: str, *, low: float | None = None,
           positive: bool = False, ints: bool = False, bound: float = _MAX_VALUE) -> np.ndarray:
    """``state[key]`` as an array of ``shape`` of finite numbers (>= low, > 0 when positive,
    at most ``bound`` in magnitude)."""
    value = state.get(key)
    expected = f"{'ints' if ints else 'numbers'} of shape {shape} within +-{bound:g}"
    if low is not None:
        expected += f" >= {low:g}"
    if positive:
        expected += " > 0"
    if not isinstance(value, list):
        raise _bad(where, key, expected, value)
    try:
        cells = np.asarray(value, dtype=object)  # ragged lists fail here
    except (ValueError, TypeError):
        raise _bad(where, key, expected, value) from None
    kinds = (int,) if ints else (int, float)
    if cells.shape != shape or not all(type(v) in kinds for v in cells.flat):  # bool, str, list: no
        raise _bad(where, key, expected, value)
    try:
        a = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        raise _bad(where, key, expected, value) from None
    if a.size and (not np.all(np.abs(a) <= bound) or (low is not None and a.min() < low) or (positive and a.min() <= 0)):
        raise _bad(where, key, expected, value)
    if ints and a.size and a.max() >= _MAX_COUNT:
        raise _bad(where, key, expected, value)
    return a


def _finite_json(value: Any, where: str, path: str = "", depth: int = 0) -> None:
    """Every number in a JSON value is finite (the states of the decide policies hold no other)."""
    if depth > 64:
        raise FormatError(f"{where}: the policy state is nested too deeply")
    if isinstance(value, float) and not math.isfinite(value):
        raise FormatError(f"{where}: the policy state's {path!r} is {value!r}; it must be finite")
    if isinstance(value, dict):
        for k, v in value.items():
            _finite_json(v, where, f"{path}.{k}" if path else str(k), depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite_json(v, where, f"{path}[{i}]", depth + 1)


def check_policy_state(policy: Policy, state: Any, where: str) -> None:
    """Raise :class:`FormatError` unless ``state`` is a well-formed state of ``policy``'s type.

    A well-formed state of another policy type or over other option sizes raises
    :class:`StateMismatchError` (both a ``FormatError`` and an ``InvalidParameterError``).
    """
    if not isinstance(state, dict):
        raise FormatError(f"{where}: the policy state must be an object. Got {type(state).__name__} instead.")
    if not isinstance(policy, DecidePolicy):
        return  # a user's policy: its load_state validates (its errors become FormatError)
    _finite_json(state, where)
    name, sizes = state.get("policy"), state.get("sizes")
    if not isinstance(name, str):
        raise _bad(where, "policy", "the policy's class name", name)
    if not (isinstance(sizes, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in sizes)):
        raise _bad(where, "sizes", "a list of ints", sizes)
    if name != type(policy).__name__ or list(sizes) != list(policy.space.sizes):
        raise StateMismatchError(
            f"{where}: this snapshot is of a {name!r} over sizes {sizes!r}; "
            f"the policy is a {type(policy).__name__!r} over sizes {list(policy.space.sizes)!r}"
        )
    _count(state, "version", where, required=False)
    if isinstance(policy, _Counting):
        k = policy.space.sizes[0]
        _array(state, "counts", (k,), where, low=0, ints=True)
        _array(state, "means", (k,), where)
        _count(state, "t", where, required=False)
        if isinstance(policy, ThompsonBeta):
            _array(state, "a", (k,), where, positive=True)
            _array(state, "b", (k,), where, positive=True)
        if isinstance(policy, ThompsonGaussian):
            _array(state, "m2", (k,), where, low=0)
    elif isinstance(policy, _Linear):
        k = policy.space.sizes[0]
        _count(state, "dim", where, high=_MAX_DIM)
        d = state["dim"]
        _count(state, "t", where, required=False)
        if d:
            # A^-1 of A = ridge I + sum x x' (positive definite, eigenvalues >= ridge): no entry
            # exceeds 1 / ridge in magnitude
            _array(state, "ainv", (k, d, d), where, bound=(1.0 / policy.ridge) * (1 + 1e-6) + 1e-12)
            _array(state, "b", (k, d), where)
            _array(state, "counts", (k,), where, low=0, ints=True)
    elif isinstance(policy, Reinforce):
        sizes_t = tuple(policy.space.sizes)
        logits = state.get("logits")
        if not isinstance(logits, list) or len(logits) != len(sizes_t):
            raise _bad(where, "logits", f"{len(sizes_t)} lists (one per position)", logits)
        for i, s in enumerate(sizes_t):
            _array({"v": logits[i]}, "v", (s,), f"{where} (logits[{i}])")
        w = state.get("w")
        if w is not None:
            if not isinstance(w, list) or len(w) != len(sizes_t) or not w or not isinstance(w[0], list) \
                    or not w[0] or not isinstance(w[0][0], list):
                raise _bad(where, "w", f"null or {len(sizes_t)} weight matrices", w)
            dx = len(w[0][0])
            if not 1 <= dx < _MAX_DIM:
                raise _bad(where, "w", "weight matrices of 1 or more context features", w)
            for i, s in enumerate(sizes_t):
                _array({"v": w[i]}, "v", (s, dx), f"{where} (w[{i}])")
        base = state.get("baseline")
        if base is not None and not (_number(base) and abs(base) <= _MAX_VALUE):
            raise _bad(where, "baseline", f"null or a number within +-{_MAX_VALUE:g}", base)
        var = state.get("var", 1.0)
        if not (_number(var) and 0 <= var <= _MAX_VALUE**2):
            raise _bad(where, "var", f"a number in [0, {_MAX_VALUE**2:g}]", var)
        _count(state, "n", where, required=False)
    elif isinstance(policy, OptunaTPE):
        sizes_t = tuple(policy.space.sizes)
        hist = state.get("history")
        if not isinstance(hist, list):
            raise _bad(where, "history", "a list of [action, reward] pairs", hist)
        for i, h in enumerate(hist):
            ok = isinstance(h, list) and len(h) == 2 and isinstance(h[0], list) and len(h[0]) == len(sizes_t)
            ok = ok and all(isinstance(a, int) and not isinstance(a, bool) and 0 <= a < s for a, s in zip(h[0], sizes_t, strict=True))
            ok = ok and _number(h[1]) and abs(h[1]) <= _MAX_VALUE
            if not ok:
                raise _bad(where, f"history[{i}]", f"[action of {len(sizes_t)} option indexes, finite reward]", h)
