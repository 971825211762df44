"""The result of a placement search: one device per operation, with how it scored."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from learnedsys._serialization import FormatError
from learnedsys._validation import InvalidParameterError
from learnedsys.placement._jsonfile import is_int, is_number, read_json, write_json

__all__ = ["Placement"]

#: Device indexes allowed when a placement names no devices (no cluster has more).
_MAX_DEVICES = 1 << 16


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


@dataclass
class Placement:
    """Device index per operation of an :class:`OpGraph`, plus the search's report.

    Attributes:
        devices: ``(n,)`` device index per operation.
        method: the placer that produced it.
        step_time: simulated seconds per training step (``inf`` when infeasible).
        feasible: whether it fits in every device's memory.
        search_seconds: wall-clock time of the search.
        device_names: names of the cluster's devices (for readable output).
        info: method-specific details (iterations, the candidates the default compared...).
    """

    devices: np.ndarray
    method: str = "manual"
    step_time: float = float("nan")
    feasible: bool = True
    search_seconds: float = 0.0
    device_names: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.devices = np.asarray(self.devices, dtype=np.int64)

    def counts(self) -> dict[str, int]:
        """Operations per device."""
        names = self.device_names or [str(i) for i in range(int(self.devices.max()) + 1)]
        c = np.bincount(self.devices, minlength=len(names))
        return {names[i]: int(c[i]) for i in range(len(names))}

    def to_dict(self, op_names: list[str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "step_time": self.step_time if np.isfinite(self.step_time) else None,
            "feasible": self.feasible,
            "search_seconds": self.search_seconds,
            "device_names": self.device_names,
            "devices": self.devices.tolist(),
            "info": self.info,
        }
        if op_names is not None:
            out["op_names"] = list(op_names)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Placement:
        """Build from :meth:`to_dict`'s form; every field is validated (``InvalidParameterError``)."""
        return cls._parse(d, "A placement dict", InvalidParameterError)

    @classmethod
    def _parse(cls, d: Any, where: str, error: type[ValueError]) -> Placement:
        """Validate every field of a placement dict; ``error`` names the field that is wrong."""
        if not isinstance(d, dict) or "devices" not in d:
            raise error(f"{where} needs a 'devices' list (one device index per operation).")
        names = d.get("device_names", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise error(f"{where}: 'device_names' must be a list of strings. Got {_short(names)} instead.")
        if len(set(names)) != len(names):
            raise error(f"{where}: 'device_names' must be distinct. Got {_short(names)} instead.")
        devs = d["devices"]
        limit = len(names) if names else _MAX_DEVICES
        if not isinstance(devs, list) or not devs:
            raise error(f"{where}: 'devices' must be a non-empty list of device indexes. Got {_short(devs)} instead.")
        for i, v in enumerate(devs):
            if not is_int(v) or not 0 <= v < limit:
                rng = f"0..{limit - 1} (one per entry of 'device_names')" if names else f"0..{limit - 1}"
                raise error(f"{where}: devices[{i}] must be a device index in {rng}. Got {_short(v)} instead.")
        method = d.get("method", "manual")
        if not isinstance(method, str):
            raise error(f"{where}: 'method' must be a string. Got {_short(method)} instead.")
        st = d.get("step_time")
        if st is not None and not (is_number(st) and (math.isnan(st) or st >= 0)):
            raise error(f"{where}: 'step_time' must be a number >= 0 or null (infeasible). Got {_short(st)} instead.")
        feasible = d.get("feasible", True)
        if not isinstance(feasible, bool):
            raise error(f"{where}: 'feasible' must be true or false. Got {_short(feasible)} instead.")
        secs = d.get("search_seconds", 0.0)
        if not (is_number(secs) and math.isfinite(secs) and secs >= 0):
            raise error(f"{where}: 'search_seconds' must be a finite number >= 0. Got {_short(secs)} instead.")
        info = d.get("info", {})
        if not isinstance(info, dict):
            raise error(f"{where}: 'info' must be an object. Got {_short(info)} instead.")
        ops = d.get("op_names")
        if ops is not None and (not isinstance(ops, list) or len(ops) != len(devs) or not all(isinstance(o, str) for o in ops)):
            raise error(f"{where}: 'op_names' must list one name per entry of 'devices' ({len(devs)}).")
        return cls(
            devices=np.asarray(devs, dtype=np.int64),
            method=method,
            step_time=float("inf") if st is None else float(st),
            feasible=feasible,
            search_seconds=float(secs),
            device_names=list(names),
            info=dict(info),
        )

    def save(self, path: str | os.PathLike[str], op_names: list[str] | None = None) -> None:
        """Write as JSON (readable, no pickle), atomically: an interrupted save leaves the old file
        intact, and a link planted at or beside the target is never written through.

        Raises:
            PathError: the folder is missing or ``path`` is a directory (the message names the fix).
        """
        write_json(path, self.to_dict(op_names), what="placement")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Placement:
        """Read a placement written by :meth:`save`.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            PathError: ``path`` is a directory.
            FormatError: the file is not UTF-8 JSON, or a field is missing or out of range (device
                indexes must be ints in ``0..len(device_names) - 1``).
        """
        where = repr(str(path))
        d = read_json(path, "placement", FormatError)
        return cls._parse(d, where, FormatError)

    def __repr__(self) -> str:
        t = f"{self.step_time * 1e3:.3f} ms" if np.isfinite(self.step_time) else "infeasible"
        return f"Placement({self.method}, {t}, {self.counts()})"
