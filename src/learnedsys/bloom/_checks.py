"""Validation of values read from saved filters: every field against its format's invariants.

A file's checksum only proves that it was not damaged by accident; a crafted file (checksum
recomputed) can hold any value. Every loader in :mod:`learnedsys.bloom` reads its fields through
these helpers, which raise :class:`~learnedsys._serialization.FormatError` naming the file and the
field, so a bad value never reaches a numba kernel (crash), never allocates what the file does not
hold, and never turns into a wrong answer that the format could have ruled out (for example a
negative quantization scale, which reverses every score and hides every key).

What no check can rule out: a file that holds a *consistent* filter of another set (other bits,
other weights of the same shape). Such a file is a valid filter; it answers for the set it
encodes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from learnedsys._serialization import FormatError

__all__ = ["FormatError", "array", "choice", "flag", "integer", "number", "seed_value"]


def _where(where: str, field: str) -> str:
    return f"{where}: field {field!r}"


def integer(meta: Any, key: str, where: str, *, low: int, high: int, default: Any = ..., none_ok: bool = False) -> Any:
    """``meta[key]`` as an int in [low, high] (JSON ints only: no bool, no float, no string)."""
    if not isinstance(meta, dict):
        raise FormatError(f"{where}: metadata is not an object")
    if key not in meta:
        if default is ...:
            raise FormatError(f"{_where(where, key)} is missing")
        return default
    v = meta[key]
    if v is None and none_ok:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise FormatError(f"{_where(where, key)} must be an int in [{low}, {high}]; got {_show(v)}")
    return int(v)


def number(
    meta: Any, key: str, where: str, *, low: float = -math.inf, high: float = math.inf,
    low_open: bool = False, high_open: bool = False, default: Any = ..., none_ok: bool = False,
) -> Any:
    """``meta[key]`` as a finite float within the bounds (ints accepted, bool and NaN not)."""
    if not isinstance(meta, dict):
        raise FormatError(f"{where}: metadata is not an object")
    if key not in meta:
        if default is ...:
            raise FormatError(f"{_where(where, key)} is missing")
        return default
    v = meta[key]
    if v is None and none_ok:
        return None
    ok = not isinstance(v, bool) and isinstance(v, (int, float))
    if ok:
        try:
            f = float(v)
        except OverflowError:
            ok = False
        else:
            ok = math.isfinite(f) and (f > low if low_open else f >= low) and (f < high if high_open else f <= high)
    if not ok:
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        raise FormatError(f"{_where(where, key)} must be a finite number in {lb}{low}, {high}{hb}; got {_show(v)}")
    return float(v)


def choice(meta: Any, key: str, where: str, options: tuple[str, ...], *, default: Any = ...) -> str:
    """``meta[key]`` as one of ``options``."""
    if not isinstance(meta, dict):
        raise FormatError(f"{where}: metadata is not an object")
    if key not in meta:
        if default is ...:
            raise FormatError(f"{_where(where, key)} is missing")
        return str(default)
    v = meta[key]
    if not isinstance(v, str) or v not in options:
        raise FormatError(f"{_where(where, key)} must be one of {list(options)}; got {_show(v)}")
    return v


def flag(meta: Any, key: str, where: str, *, default: Any = ...) -> bool:
    """``meta[key]`` as a JSON boolean."""
    if not isinstance(meta, dict):
        raise FormatError(f"{where}: metadata is not an object")
    if key not in meta:
        if default is ...:
            raise FormatError(f"{_where(where, key)} is missing")
        return bool(default)
    v = meta[key]
    if not isinstance(v, bool):
        raise FormatError(f"{_where(where, key)} must be true or false; got {_show(v)}")
    return v


def seed_value(meta: Any, key: str, where: str) -> int | None:
    """A seed: None or an int in [0, 2**63)."""
    v: int | None = integer(meta, key, where, low=0, high=2**63 - 1, default=0, none_ok=True)
    return v


def array(
    arrays: dict[str, np.ndarray], name: str, where: str, dtype: Any, *,
    shape: tuple[int, ...] | None = None, ndim: int | None = None, max_len: int | None = None,
) -> np.ndarray:
    """``arrays[name]`` with exactly ``dtype`` and ``shape`` (or ``ndim``, at most ``max_len``)."""
    a = arrays.get(name)
    if a is None:
        raise FormatError(f"{where}: array {name!r} is missing")
    if a.dtype != np.dtype(dtype):
        raise FormatError(f"{where}: array {name!r} must have dtype {np.dtype(dtype)}; got {a.dtype}")
    if shape is not None and a.shape != shape:
        raise FormatError(f"{where}: array {name!r} must have shape {shape}; got {a.shape}")
    if ndim is not None and a.ndim != ndim:
        raise FormatError(f"{where}: array {name!r} must have {ndim} dimension(s); got shape {a.shape}")
    if max_len is not None and a.shape[0] > max_len:
        raise FormatError(f"{where}: array {name!r} may hold at most {max_len} values; got {a.shape[0]}")
    if a.dtype.kind == "f" and a.size and not np.isfinite(a).all():
        raise FormatError(f"{where}: array {name!r} holds non-finite values")
    return a


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."
