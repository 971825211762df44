"""Cluster descriptions: devices (FLOP/s, memory bandwidth, memory, launch overhead) and links.

A cluster comes from a dict / JSON file or from a preset::

    Cluster.preset("k80x4")   # 1 CPU + 4 K80 GPUs over PCIe 3 (the 2017 paper's setting)
    Cluster.from_dict({"devices": [{"name": "gpu0", "flops": 1e13, "memory": 16e9}, ...],
                       "links": {"bandwidth": 7.6e9, "latency": 25e-6}})

An operation of ``f`` FLOPs touching ``m`` bytes takes ``max(f / flops, m / mem_bandwidth) +
overhead`` seconds on a device (a roofline). A transfer of ``b`` bytes over a link takes
``b / bandwidth + latency``; each directed link carries one transfer at a time.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from learnedsys._validation import InvalidParameterError, check_choice, check_float

__all__ = ["PRESETS", "Cluster", "Device"]


@dataclass(frozen=True)
class Device:
    """One device. ``flops`` in FLOP/s (sustained), ``memory`` and ``mem_bandwidth`` in bytes and
    bytes/s, ``overhead`` the fixed cost of one operation (kernel launch) in seconds."""

    name: str
    flops: float
    memory: float
    mem_bandwidth: float = float("inf")
    overhead: float = 0.0
    kind: str = "gpu"


def _gb(x: float) -> float:
    return x * 1e9


def _preset_k80x4() -> dict[str, Any]:
    # One K80 board exposes two GK210 GPUs; each: ~2.8 TFLOP/s fp32 peak (boost), 12 GB, 240 GB/s.
    # Sustained rates ~60 % of peak. PCIe 3 numbers are Placeto's: 7.6 GB/s + 25 us per transfer.
    gpus = [
        {"name": f"gpu{i}", "kind": "gpu", "flops": 1.7e12, "memory": _gb(12), "mem_bandwidth": _gb(160), "overhead": 8e-6}
        for i in range(4)
    ]
    cpu = {"name": "cpu", "kind": "cpu", "flops": 2.0e11, "memory": _gb(64), "mem_bandwidth": _gb(40), "overhead": 2e-6}
    return {"name": "k80x4", "devices": [cpu, *gpus], "links": {"bandwidth": 7.6e9, "latency": 25e-6}}


def _preset_p100x4() -> dict[str, Any]:
    gpus = [
        {"name": f"gpu{i}", "kind": "gpu", "flops": 6.5e12, "memory": _gb(16), "mem_bandwidth": _gb(550), "overhead": 6e-6}
        for i in range(4)
    ]
    cpu = {"name": "cpu", "kind": "cpu", "flops": 4.0e11, "memory": _gb(256), "mem_bandwidth": _gb(60), "overhead": 2e-6}
    # DGX-1 style: NVLink between GPUs (~40 GB/s per direction for a 2-brick pair), PCIe 3 to the host.
    pairs = []
    for i in range(1, 5):
        pairs.append({"src": 0, "dst": i, "bandwidth": 10e9, "latency": 20e-6})
        pairs.append({"src": i, "dst": 0, "bandwidth": 10e9, "latency": 20e-6})
    return {"name": "p100x4-nvlink", "devices": [cpu, *gpus], "links": {"bandwidth": 40e9, "latency": 8e-6, "pairs": pairs}}


def _preset_h100x8() -> dict[str, Any]:
    gpus = [
        {"name": f"gpu{i}", "kind": "gpu", "flops": 1.5e14, "memory": _gb(80), "mem_bandwidth": _gb(2800), "overhead": 4e-6}
        for i in range(8)
    ]
    cpu = {"name": "cpu", "kind": "cpu", "flops": 2.0e12, "memory": _gb(1024), "mem_bandwidth": _gb(200), "overhead": 2e-6}
    pairs = []
    for i in range(1, 9):
        pairs.append({"src": 0, "dst": i, "bandwidth": 50e9, "latency": 10e-6})
        pairs.append({"src": i, "dst": 0, "bandwidth": 50e9, "latency": 10e-6})
    # NVSwitch: ~450 GB/s per direction between any two GPUs.
    return {"name": "h100x8", "devices": [cpu, *gpus], "links": {"bandwidth": 450e9, "latency": 5e-6, "pairs": pairs}}


PRESETS = {
    "k80x4": _preset_k80x4,
    "p100x4-nvlink": _preset_p100x4,
    "h100x8": _preset_h100x8,
}


class Cluster:
    """Devices and the directed links between them.

    Args:
        devices: the devices, in the order placements index them.
        bandwidth: ``(D, D)`` bytes/s of each directed link (diagonal ignored).
        latency: ``(D, D)`` seconds per transfer.
        name: a label.
    """

    def __init__(self, devices: list[Device], bandwidth: np.ndarray, latency: np.ndarray, name: str = "custom") -> None:
        if not devices:
            raise InvalidParameterError("The 'devices' parameter of Cluster must list at least one device. Got [] instead.")
        d = len(devices)
        bw = np.asarray(bandwidth, dtype=np.float64)
        lat = np.asarray(latency, dtype=np.float64)
        if bw.shape != (d, d) or lat.shape != (d, d):
            raise InvalidParameterError(
                f"The 'bandwidth' and 'latency' parameters of Cluster must be ({d}, {d}) matrices. Got {bw.shape} and {lat.shape} instead."
            )
        off = ~np.eye(d, dtype=bool)
        if np.any(~(bw[off] > 0)) or np.any(~np.isfinite(lat)) or np.any(lat < 0):
            raise InvalidParameterError("Cluster links need bandwidth > 0 and finite latency >= 0 between every pair of devices.")
        self.devices = list(devices)
        self.bandwidth = bw
        self.latency = lat
        self.name = name

    @property
    def n_devices(self) -> int:
        return len(self.devices)

    @property
    def flops(self) -> np.ndarray:
        return np.array([dv.flops for dv in self.devices])

    @property
    def memory(self) -> np.ndarray:
        return np.array([dv.memory for dv in self.devices])

    @property
    def gpus(self) -> list[int]:
        """Indices of the accelerators (all devices when none is marked ``gpu``)."""
        idx = [i for i, dv in enumerate(self.devices) if dv.kind != "cpu"]
        return idx or list(range(self.n_devices))

    def fastest(self) -> int:
        return int(np.argmax(self.flops))

    def op_times(self, flops: np.ndarray, mem_bytes: np.ndarray) -> np.ndarray:
        """``(n, D)`` seconds of each operation on each device (roofline + overhead)."""
        f = np.asarray(flops, dtype=np.float64)[:, None]
        m = np.asarray(mem_bytes, dtype=np.float64)[:, None]
        peak = np.array([dv.flops for dv in self.devices])[None, :]
        mbw = np.array([dv.mem_bandwidth for dv in self.devices])[None, :]
        over = np.array([dv.overhead for dv in self.devices])[None, :]
        t = np.maximum(f / peak, m / mbw) + over
        return np.ascontiguousarray(t)

    # ------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> Cluster:
        """Build from ``{"name", "devices": [{name, flops, memory, mem_bandwidth?, overhead?,
        kind?}], "links": {"bandwidth", "latency", "pairs": [{src, dst, bandwidth, latency}]}}``.
        ``src``/``dst`` are device indices or names."""
        if not isinstance(spec, dict) or "devices" not in spec:
            raise InvalidParameterError(
                f"The 'spec' parameter of Cluster.from_dict must be a dict with a 'devices' list. Got {type(spec).__name__} instead."
            )
        devices = []
        for i, dv in enumerate(spec["devices"]):
            try:
                name = str(dv.get("name", f"dev{i}"))
                flops = check_float(dv["flops"], f"devices[{i}].flops", "Cluster", low=0.0, closed="neither")
                memory = check_float(dv["memory"], f"devices[{i}].memory", "Cluster", low=0.0, closed="neither")
                mbw = float(dv.get("mem_bandwidth", float("inf")))
                over = check_float(dv.get("overhead", 0.0), f"devices[{i}].overhead", "Cluster", low=0.0)
            except (KeyError, AttributeError) as exc:
                raise InvalidParameterError(
                    f"Cluster device {i} needs 'flops' and 'memory' (got {dv!r}); missing {exc}."
                ) from None
            if not mbw > 0:
                raise InvalidParameterError(f"The 'devices[{i}].mem_bandwidth' parameter of Cluster must be > 0. Got {mbw!r} instead.")
            devices.append(Device(name, flops, memory, mbw, over, str(dv.get("kind", "gpu"))))
        d = len(devices)
        links = spec.get("links", {})
        bw0 = check_float(links.get("bandwidth", 7.6e9), "links.bandwidth", "Cluster", low=0.0, closed="neither")
        lat0 = check_float(links.get("latency", 25e-6), "links.latency", "Cluster", low=0.0)
        bw = np.full((d, d), bw0)
        lat = np.full((d, d), lat0)
        names = [dv.name for dv in devices]
        for p in links.get("pairs", []):
            s, t = p["src"], p["dst"]
            s = names.index(s) if isinstance(s, str) else int(s)
            t = names.index(t) if isinstance(t, str) else int(t)
            bw[s, t] = check_float(p.get("bandwidth", bw0), "pairs.bandwidth", "Cluster", low=0.0, closed="neither")
            lat[s, t] = check_float(p.get("latency", lat0), "pairs.latency", "Cluster", low=0.0)
        return cls(devices, bw, lat, name=str(spec.get("name", "custom")))

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> Cluster:
        with open(path) as fh:
            return cls.from_dict(json.load(fh))

    @classmethod
    def preset(cls, name: str) -> Cluster:
        """One of :data:`PRESETS`: ``k80x4``, ``p100x4-nvlink``, ``h100x8``."""
        check_choice(name, "name", "Cluster.preset", list(PRESETS))
        return cls.from_dict(PRESETS[name]())

    @classmethod
    def homogeneous(
        cls, n: int, flops: float = 1e12, memory: float = 1e10, bandwidth: float = 1e10, latency: float = 0.0,
        mem_bandwidth: float = float("inf"), overhead: float = 0.0,
    ) -> Cluster:
        """``n`` identical devices, fully connected (handy for tests)."""
        devs = [{"name": f"d{i}", "flops": flops, "memory": memory, "mem_bandwidth": mem_bandwidth, "overhead": overhead} for i in range(n)]
        return cls.from_dict({"name": f"homogeneous{n}", "devices": devs, "links": {"bandwidth": bandwidth, "latency": latency}})

    def to_dict(self) -> dict[str, Any]:
        pairs = []
        d = self.n_devices
        for s in range(d):
            for t in range(d):
                if s != t:
                    pairs.append({"src": s, "dst": t, "bandwidth": float(self.bandwidth[s, t]), "latency": float(self.latency[s, t])})
        return {
            "name": self.name,
            "devices": [
                {"name": dv.name, "kind": dv.kind, "flops": dv.flops, "memory": dv.memory, "mem_bandwidth": dv.mem_bandwidth, "overhead": dv.overhead}
                for dv in self.devices
            ],
            "links": {"pairs": pairs},
        }

    def __repr__(self) -> str:
        return f"Cluster({self.name!r}, {self.n_devices} devices: {', '.join(dv.name for dv in self.devices)})"
