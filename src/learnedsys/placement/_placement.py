"""The result of a placement search: one device per operation, with how it scored."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from learnedsys._serialization import json_default
from learnedsys._validation import InvalidParameterError

__all__ = ["Placement"]


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
        if not isinstance(d, dict) or "devices" not in d:
            raise InvalidParameterError("A placement dict needs a 'devices' list (one device index per operation).")
        st = d.get("step_time")
        return cls(
            devices=np.asarray(d["devices"], dtype=np.int64),
            method=str(d.get("method", "manual")),
            step_time=float("inf") if st is None else float(st),
            feasible=bool(d.get("feasible", True)),
            search_seconds=float(d.get("search_seconds", 0.0)),
            device_names=list(d.get("device_names", [])),
            info=dict(d.get("info", {})),
        )

    def save(self, path: str | os.PathLike[str], op_names: list[str] | None = None) -> None:
        """Write as JSON (readable, no pickle)."""
        with open(path, "w") as fh:
            json.dump(self.to_dict(op_names), fh, indent=1, default=json_default)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Placement:
        try:
            with open(path) as fh:
                d = json.load(fh)
        except json.JSONDecodeError as exc:
            raise InvalidParameterError(f"{str(path)!r} is not a placement JSON file: {exc}") from None
        return cls.from_dict(d)

    def __repr__(self) -> str:
        t = f"{self.step_time * 1e3:.3f} ms" if np.isfinite(self.step_time) else "infeasible"
        return f"Placement({self.method}, {t}, {self.counts()})"
