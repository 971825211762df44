"""A versioned, validated container for numpy arrays plus JSON metadata (no pickle).

Every structure that a user saves and loads goes through :func:`save` and :func:`load`.
Layout, little-endian::

    magic   8 bytes   b"LSYSARR\\x00"
    version u32       FORMAT_VERSION
    hlen    u64       length of the JSON header
    header  hlen      UTF-8 JSON: {"kind", "kind_version", "meta", "arrays": [...]}
    payload           the arrays' bytes, each at the offset its header entry names
    crc     u32       CRC-32 of everything before it

Each array entry holds name, dtype (a plain numpy dtype string such as "<u8"), shape, offset and
nbytes. :func:`load` checks the magic, version, lengths, dtypes, shapes and the CRC before it
returns anything, so a truncated, corrupted or foreign file raises :class:`FormatError`, never a
crash later in a numba kernel or a wrong answer.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import PathError, atomic_write

__all__ = ["FORMAT_VERSION", "FormatError", "PathError", "atomic_write", "json_default", "load", "read_kind", "save"]

MAGIC = b"LSYSARR\x00"
FORMAT_VERSION = 1
_ALLOWED_KINDS = set("biuf")  # bool, signed int, unsigned int, float: no objects, no pickle
_PREFIX = struct.Struct("<8sIQ")


class FormatError(ValueError):
    """A file is not a valid learnedsys file of the expected kind."""


def save(
    path: str | os.PathLike[str],
    kind: str,
    kind_version: int,
    meta: dict[str, Any],
    arrays: dict[str, np.ndarray],
) -> None:
    """Write ``arrays`` and JSON-serialisable ``meta`` to ``path`` atomically."""
    entries = []
    blobs = []
    offset = 0
    for name, arr in arrays.items():
        a = np.ascontiguousarray(arr)
        if a.dtype.kind not in _ALLOWED_KINDS:
            raise TypeError(f"array {name!r} has dtype {a.dtype}, which cannot be saved")
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        data = a.tobytes()
        entries.append(
            {"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "offset": offset, "nbytes": len(data)}
        )
        blobs.append(data)
        offset += len(data)
    header = json.dumps(
        {"kind": kind, "kind_version": kind_version, "meta": meta, "arrays": entries},
        sort_keys=True,
    ).encode("utf-8")
    body = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(header)) + header + b"".join(blobs)
    crc = zlib.crc32(body) & 0xFFFFFFFF
    atomic_write(path, body + struct.pack("<I", crc))


def load(
    path: str | os.PathLike[str], kind: str, max_kind_version: int
) -> tuple[int, dict[str, Any], dict[str, np.ndarray]]:
    """Read a file written by :func:`save`; return (kind_version, meta, arrays).

    Raises:
        FileNotFoundError: the path does not exist.
        FormatError: the file is truncated, corrupted, of another kind, or of a newer version.
    """
    path = Path(path)
    where = f"{str(path)!r}"
    raw = _read_file(path)
    if len(raw) < _PREFIX.size + 4:
        raise FormatError(f"{where} is not a learnedsys file: only {len(raw)} bytes (truncated?)")
    magic, version, hlen = _PREFIX.unpack_from(raw, 0)
    if magic != MAGIC:
        raise FormatError(f"{where} is not a learnedsys file (bad magic {magic!r})")
    if version != FORMAT_VERSION:
        raise FormatError(
            f"{where} uses container format version {version}; this learnedsys reads version {FORMAT_VERSION}"
        )
    (crc,) = struct.unpack_from("<I", raw, len(raw) - 4)
    if zlib.crc32(raw[:-4]) & 0xFFFFFFFF != crc:
        raise FormatError(f"{where} is corrupted or truncated (checksum mismatch)")
    start = _PREFIX.size
    if start + hlen > len(raw) - 4:
        raise FormatError(f"{where} is truncated (header of {hlen} bytes does not fit)")
    try:
        header = json.loads(raw[start : start + hlen].decode("utf-8"))
        file_kind = header["kind"]
        file_kind_version = int(header["kind_version"])
        meta = header["meta"]
        entries = header["arrays"]
    except (ValueError, KeyError, TypeError, RecursionError, OverflowError) as exc:
        raise FormatError(f"{where} has an unreadable header: {type(exc).__name__}") from None
    if not isinstance(file_kind, str) or not isinstance(meta, dict) or not isinstance(entries, list):
        raise FormatError(f"{where} has a malformed header (kind, meta or arrays of the wrong type)")
    if file_kind != kind:
        raise FormatError(f"{where} holds a {file_kind!r}, not a {kind!r}")
    if not 1 <= file_kind_version <= max_kind_version:
        raise FormatError(
            f"{where} holds a {kind!r} of version {file_kind_version}; this learnedsys reads versions up to {max_kind_version}"
        )
    payload = memoryview(raw)[start + hlen : len(raw) - 4]
    arrays: dict[str, np.ndarray] = {}
    for e in entries:
        if not isinstance(e, dict):
            raise FormatError(f"{where} has a bad array entry (not an object)")
        try:
            name, dtype = str(e["name"]), np.dtype(e["dtype"])
            shape = tuple(int(s) for s in e["shape"])
            off, nbytes = int(e["offset"]), int(e["nbytes"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise FormatError(f"{where} has a bad array entry: {exc}") from None
        if dtype.kind not in _ALLOWED_KINDS or dtype.hasobject or dtype.byteorder == ">":
            # save() writes little-endian only; a big-endian dtype would byte-swap the contents
            raise FormatError(f"{where}: array {name!r} has forbidden dtype {dtype}")
        if not isinstance(e["shape"], list) or len(shape) > 32:
            raise FormatError(f"{where}: array {name!r} has an invalid shape")
        if any(s < 0 for s in shape) or _count(shape) * dtype.itemsize != nbytes:
            raise FormatError(f"{where}: array {name!r} has inconsistent shape {shape} and size {nbytes}")
        if off < 0 or off + nbytes > len(payload):
            raise FormatError(f"{where}: array {name!r} lies outside the file (truncated?)")
        arr = np.frombuffer(payload[off : off + nbytes], dtype=dtype).reshape(shape)
        arrays[name] = arr.astype(dtype.newbyteorder("="), copy=True)
    return file_kind_version, meta, arrays


def _count(shape: tuple[int, ...]) -> int:
    """Number of elements, in exact Python integers (a crafted 1e308 cannot overflow)."""
    n = 1
    for s in shape:
        n *= s
    return n


def _check_readable(path: Path) -> None:
    """A directory or a missing path is a one-line error naming it."""
    if path.is_dir():
        raise PathError(f"{str(path)!r} is a directory, not a learnedsys file; give the path of a saved file.")
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} does not exist; check the path (a file written by save()).")


def _read_file(path: Path) -> bytes:
    _check_readable(path)
    return path.read_bytes()


def read_kind(path: str | os.PathLike[str]) -> str:
    """The kind a file written by :func:`save` holds (reads only its header; validates nothing
    else, so :func:`load` must still be called)."""
    _check_readable(Path(path))
    with open(path, "rb") as fh:
        prefix = fh.read(_PREFIX.size)
        if len(prefix) < _PREFIX.size:
            raise FormatError(f"{str(path)!r} is not a learnedsys file (truncated)")
        magic, _version, hlen = _PREFIX.unpack(prefix)
        if magic != MAGIC:
            raise FormatError(f"{str(path)!r} is not a learnedsys file (bad magic {magic!r})")
        if hlen > 1 << 26:
            raise FormatError(f"{str(path)!r} has an implausible header length {hlen}")
        head = fh.read(hlen)
    try:
        kind = json.loads(head.decode("utf-8"))["kind"]
    except (ValueError, KeyError, TypeError, RecursionError, OverflowError):
        raise FormatError(f"{str(path)!r} has an unreadable header (truncated or corrupted)") from None
    if not isinstance(kind, str):
        raise FormatError(f"{str(path)!r} has an invalid kind field")
    return kind


def json_default(o: Any) -> Any:
    """``default=`` for :func:`json.dumps`: numpy scalars and arrays, paths; TypeError otherwise."""
    if isinstance(o, (np.integer, np.bool_)):
        return o.item()
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
