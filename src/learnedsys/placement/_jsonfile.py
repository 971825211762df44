"""Reading and writing the placement part's JSON files (placements, clusters).

Reads are strict: a directory, a missing file, bytes that are not UTF-8 and text that is not JSON
are one-line errors naming the file; writes go through :func:`learnedsys._atomic.atomic_write`
(a fresh temporary in the target's folder, fsync, atomic rename, no link followed).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from learnedsys._atomic import PathError, atomic_write
from learnedsys._serialization import json_default

__all__ = ["is_int", "is_number", "read_json", "write_json"]

#: Bytes of a JSON file read back; a cluster or placement this large is no longer a description.
MAX_JSON_BYTES = 1 << 28


def read_json(path: str | os.PathLike[str], what: str, error: type[ValueError]) -> Any:
    """The parsed JSON of ``path``; ``error`` (a ValueError subclass) for anything but valid JSON.

    Raises:
        FileNotFoundError: the path does not exist.
        PathError: the path is a directory.
        error: the file is too large, not UTF-8 or not JSON.
    """
    p = Path(path)
    where = repr(str(p))
    if p.is_dir():
        raise PathError(f"{where} is a directory, not a {what} JSON file; give the path of the file.")
    if not p.exists():
        raise FileNotFoundError(f"{where} does not exist; check the path of the {what} JSON file.")
    size = p.stat().st_size
    if size > MAX_JSON_BYTES:
        raise error(f"{where} is not a {what} JSON file: {size} bytes is implausibly large")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{where} is not a {what} JSON file: not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{where} is not a {what} JSON file: {exc}") from None
    except RecursionError:
        raise error(f"{where} is not a {what} JSON file: nested too deeply") from None


def write_json(path: str | os.PathLike[str], payload: Any, what: str = "output", indent: int | None = 1) -> None:
    """Write ``payload`` as JSON to ``path`` atomically (numpy values converted)."""
    text = json.dumps(payload, indent=indent, default=json_default) + "\n"
    atomic_write(path, text, what=what)


def is_int(v: Any) -> bool:
    """A JSON integer (bool is not one)."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    """A JSON number that is a real value (not bool; NaN and infinities included)."""
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and (not isinstance(v, int) or abs(v) < 1 << 1023)


def finite(v: Any) -> bool:
    return is_number(v) and math.isfinite(float(v))
