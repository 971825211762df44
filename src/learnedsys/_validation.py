"""Parameter and data validation with one message shape for every bad input.

Every error names the parameter, the owner (class or function), what was expected and what came,
in the shape scikit-learn uses::

    The 'epsilon' parameter of PGMIndex must be an int in the range [1, inf). Got 0 instead.

Data errors name the first offending element ("keys must be sorted ascending; keys[1041] >
keys[1042]").
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import numpy as np

__all__ = [
    "InvalidParameterError",
    "check_bool",
    "check_choice",
    "check_float",
    "check_int",
    "check_seed",
    "describe",
]


class InvalidParameterError(ValueError, TypeError):
    """A parameter has the wrong type or value.

    Subclasses both ValueError and TypeError, so callers may catch either.
    """


class InfrastructureError(RuntimeError):
    """A service the work needs (a database server, a Ray cluster) cannot be used; the message
    is one line that says what to check. The command line exits 1 on it."""


def describe(value: Any) -> str:
    """Short description of a value for error messages."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} (type {type(value).__name__})" if not isinstance(value, (int, float)) or isinstance(value, bool) else text


def _fail(name: str, owner: str, expected: str, value: Any) -> InvalidParameterError:
    return InvalidParameterError(
        f"The {name!r} parameter of {owner} must be {expected}. Got {describe(value)} instead."
    )


def _interval(low: float | None, high: float | None, closed: str) -> str:
    left = "[" if closed in ("both", "left") and low is not None else "("
    right = "]" if closed in ("both", "right") and high is not None else ")"
    lo = "-inf" if low is None else repr(low)
    hi = "inf" if high is None else repr(high)
    return f"{left}{lo}, {hi}{right}"


def check_int(
    value: Any,
    name: str,
    owner: str,
    *,
    low: int | None = None,
    high: int | None = None,
    none_ok: bool = False,
) -> Any:
    """Return ``value`` as an int if it is an integer in [low, high]; raise otherwise."""
    if value is None and none_ok:
        return None
    expected = f"an int in the range {_interval(low, high, 'both')}"
    if none_ok:
        expected += " or None"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _fail(name, owner, expected, value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise _fail(name, owner, expected, value)
    return int(value)


def check_float(
    value: Any,
    name: str,
    owner: str,
    *,
    low: float | None = None,
    high: float | None = None,
    closed: str = "both",
    none_ok: bool = False,
) -> Any:
    """Return ``value`` as a float if it is a finite real in the interval; raise otherwise.

    ``closed`` is one of "both", "left", "right", "neither".
    """
    if value is None and none_ok:
        return None
    expected = f"a float in the range {_interval(low, high, closed)}"
    if none_ok:
        expected += " or None"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _fail(name, owner, expected, value)
    v = float(value)
    if math.isnan(v):
        raise _fail(name, owner, expected, value)
    if low is not None and (v < low or (v == low and closed in ("right", "neither"))):
        raise _fail(name, owner, expected, value)
    if high is not None and (v > high or (v == high and closed in ("left", "neither"))):
        raise _fail(name, owner, expected, value)
    return v


def check_choice(value: Any, name: str, owner: str, choices: Collection[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``; raise otherwise."""
    try:
        ok = value in choices
    except TypeError:
        ok = False
    if not ok:
        listed = ", ".join(repr(c) for c in choices)
        raise _fail(name, owner, f"one of {{{listed}}}", value)
    return value


def check_bool(value: Any, name: str, owner: str) -> bool:
    """Return ``value`` if it is a bool; raise otherwise."""
    if not isinstance(value, (bool, np.bool_)):
        raise _fail(name, owner, "a bool", value)
    return bool(value)


def check_seed(value: Any, name: str = "seed", owner: str = "this function") -> int | None:
    """Accept None or a non-negative int seed."""
    result: int | None = check_int(value, name, owner, low=0, none_ok=True)
    return result
