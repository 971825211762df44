"""Cluster descriptions: devices (FLOP/s, memory bandwidth, memory, launch overhead) and links.

A cluster comes from a dict / JSON file or from a preset::

    Cluster.preset("k80x4")   # 1 CPU + 4 K80 GPUs over PCIe 3 (the 2017 paper's setting)
    Cluster.from_dict({"devices": [{"name": "gpu0", "flops": 1e13, "memory": 16e9}, ...],
                       "links": {"bandwidth": 7.6e9, "latency": 25e-6}})

An operation of ``f`` FLOPs touching ``m`` bytes takes ``max(f / flops, m / mem_bandwidth) +
overhead`` seconds on a device (a roofline). A transfer of ``b`` bytes over a link takes
``b / bandwidth + latency``; each directed link carries one transfer at a time.

Where the devices themselves do the sending (CPU cores exchanging tensors through shared memory,
as :class:`PlacedRuntime` does), a transfer also occupies its ends: ``send_overhead + b /
send_bandwidth`` seconds of the sending device (its copy into the shared buffer, after the
operation that produced the value) and ``recv_overhead + b / recv_bandwidth`` seconds of the
receiving device (finding the arrival and handing it to its consumers, and their reading of
``b`` bytes written by the other core, which costs more than reading them from this core's own
cache). They default to free (``0``, ``inf``, ``0``, ``inf``): DMA engines move a GPU's data, and
the presets' figures are those of links alone.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from learnedsys._validation import InvalidParameterError, check_choice
from learnedsys.placement._jsonfile import is_int, is_number, read_json

__all__ = ["PRESETS", "Cluster", "Device"]


@dataclass(frozen=True)
class Device:
    """One device. ``flops`` in FLOP/s (sustained), ``memory`` and ``mem_bandwidth`` in bytes and
    bytes/s, ``overhead`` the fixed cost of one operation (kernel launch) in seconds.
    ``send_overhead`` (seconds per transfer) and ``send_bandwidth`` (bytes/s) give the time this
    device spends sending a value to another device, ``recv_overhead`` (seconds per transfer)
    and ``recv_bandwidth`` (bytes/s) the time it spends receiving one: ``recv_overhead + b /
    recv_bandwidth`` for ``b`` bytes (all free by default: a DMA engine or the link does the
    work)."""

    name: str
    flops: float
    memory: float
    mem_bandwidth: float = float("inf")
    overhead: float = 0.0
    kind: str = "gpu"
    send_overhead: float = 0.0
    send_bandwidth: float = float("inf")
    recv_overhead: float = 0.0
    recv_bandwidth: float = float("inf")

    @property
    def charges_transfers(self) -> bool:
        """Whether sending or receiving takes this device's time."""
        inf = float("inf")
        return self.send_overhead > 0 or self.send_bandwidth < inf or self.recv_overhead > 0 or self.recv_bandwidth < inf


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _number(value: Any, field: str, *, low: float, closed: str = "both", finite: bool = False) -> float:
    """``value`` as a float if it is a real number above ``low`` (finite when asked)."""
    ok = is_number(value) and not math.isnan(float(value))
    if ok:
        v = float(value)
        ok = (v > low or (v == low and closed == "both")) and (not finite or math.isfinite(v))
    if not ok:
        bound = ">" if closed == "neither" else ">="
        what = f"a {'finite ' if finite else ''}number {bound} {low:g}"
        raise InvalidParameterError(f"The {field!r} field of a cluster must be {what}. Got {_short(value)} instead.")
    return float(value)


def _device_ref(value: Any, field: str, names: list[str]) -> int:
    """A device index (``0..len(names) - 1``) or name, as an index."""
    if isinstance(value, str):
        if value not in names:
            raise InvalidParameterError(f"The {field!r} field of a cluster names no device: {value!r} is not one of {names}.")
        return names.index(value)
    if not is_int(value) or not 0 <= value < len(names):
        raise InvalidParameterError(
            f"The {field!r} field of a cluster must be a device name or an index in 0..{len(names) - 1}. Got {_short(value)} instead."
        )
    return int(value)


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

    @property
    def charges_transfers(self) -> bool:
        """Whether a transfer takes time of the devices at its ends (see :class:`Device`)."""
        return any(dv.charges_transfers for dv in self.devices)

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
        kind?, send_overhead?, send_bandwidth?, recv_overhead?, recv_bandwidth?}], "links": {"bandwidth", "latency",
        "pairs": [{src, dst, bandwidth, latency}]}}``.
        ``src``/``dst`` are device indices (``0..len(devices) - 1``) or names.

        Every value is checked: a wrong type, a negative or non-finite number where a finite
        positive one belongs, an unknown device name or an index out of range raises
        :class:`InvalidParameterError` naming the field.
        """
        if not isinstance(spec, dict) or "devices" not in spec:
            raise InvalidParameterError(
                f"The 'spec' parameter of Cluster.from_dict must be a dict with a 'devices' list. Got {type(spec).__name__} instead."
            )
        raw_devices = spec["devices"]
        if not isinstance(raw_devices, list):
            raise InvalidParameterError(f"The 'devices' field of a cluster must be a list of device objects. Got {_short(raw_devices)} instead.")
        devices = []
        for i, dv in enumerate(raw_devices):
            if not isinstance(dv, dict):
                raise InvalidParameterError(f"Cluster device {i} must be an object with 'flops' and 'memory'. Got {_short(dv)} instead.")
            if "flops" not in dv or "memory" not in dv:
                missing = [k for k in ("flops", "memory") if k not in dv]
                raise InvalidParameterError(f"Cluster device {i} needs 'flops' and 'memory' (got {_short(dv)}); missing {missing}.")
            name = dv.get("name", f"dev{i}")
            kind = dv.get("kind", "gpu")
            for key, val in (("name", name), ("kind", kind)):
                if not isinstance(val, str):
                    raise InvalidParameterError(f"The 'devices[{i}].{key}' field of a cluster must be a string. Got {_short(val)} instead.")
            flops = _number(dv["flops"], f"devices[{i}].flops", low=0.0, closed="neither", finite=True)
            memory = _number(dv["memory"], f"devices[{i}].memory", low=0.0, closed="neither")
            mbw = _number(dv.get("mem_bandwidth", float("inf")), f"devices[{i}].mem_bandwidth", low=0.0, closed="neither")
            over = _number(dv.get("overhead", 0.0), f"devices[{i}].overhead", low=0.0, finite=True)
            s_over = _number(dv.get("send_overhead", 0.0), f"devices[{i}].send_overhead", low=0.0, finite=True)
            s_bw = _number(dv.get("send_bandwidth", float("inf")), f"devices[{i}].send_bandwidth", low=0.0, closed="neither")
            r_over = _number(dv.get("recv_overhead", 0.0), f"devices[{i}].recv_overhead", low=0.0, finite=True)
            r_bw = _number(dv.get("recv_bandwidth", float("inf")), f"devices[{i}].recv_bandwidth", low=0.0, closed="neither")
            devices.append(Device(name, flops, memory, mbw, over, kind, s_over, s_bw, r_over, r_bw))
        names = [dv.name for dv in devices]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise InvalidParameterError(f"Cluster device names must be distinct (links refer to devices by name); {dup!r} appears twice.")
        d = len(devices)
        links = spec.get("links", {})
        if not isinstance(links, dict):
            raise InvalidParameterError(f"The 'links' field of a cluster must be an object. Got {_short(links)} instead.")
        bw0 = _number(links.get("bandwidth", 7.6e9), "links.bandwidth", low=0.0, closed="neither")
        lat0 = _number(links.get("latency", 25e-6), "links.latency", low=0.0, finite=True)
        bw = np.full((d, d), bw0)
        lat = np.full((d, d), lat0)
        pairs = links.get("pairs", [])
        if not isinstance(pairs, list):
            raise InvalidParameterError(f"The 'links.pairs' field of a cluster must be a list. Got {_short(pairs)} instead.")
        for k, p in enumerate(pairs):
            if not isinstance(p, dict) or "src" not in p or "dst" not in p:
                raise InvalidParameterError(f"The 'links.pairs[{k}]' field of a cluster must be an object with 'src' and 'dst'. Got {_short(p)} instead.")
            s = _device_ref(p["src"], f"links.pairs[{k}].src", names)
            t = _device_ref(p["dst"], f"links.pairs[{k}].dst", names)
            if s == t:
                raise InvalidParameterError(f"The 'links.pairs[{k}]' link joins device {s} to itself; src and dst must differ.")
            bw[s, t] = _number(p.get("bandwidth", bw0), f"links.pairs[{k}].bandwidth", low=0.0, closed="neither")
            lat[s, t] = _number(p.get("latency", lat0), f"links.pairs[{k}].latency", low=0.0, finite=True)
        name = spec.get("name", "custom")
        if not isinstance(name, str):
            raise InvalidParameterError(f"The 'name' field of a cluster must be a string. Got {_short(name)} instead.")
        return cls(devices, bw, lat, name=name)

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> Cluster:
        """Read a cluster JSON file (the form of :meth:`from_dict`).

        Raises:
            FileNotFoundError: ``path`` does not exist.
            PathError: ``path`` is a directory.
            InvalidParameterError: the file is not UTF-8 JSON or a field is wrong (named).
        """
        spec = read_json(path, "cluster", InvalidParameterError)
        try:
            return cls.from_dict(spec)
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"{str(path)!r}: {exc}") from None

    @classmethod
    def preset(cls, name: str) -> Cluster:
        """One of :data:`PRESETS`: ``k80x4``, ``p100x4-nvlink``, ``h100x8``."""
        check_choice(name, "name", "Cluster.preset", list(PRESETS))
        return cls.from_dict(PRESETS[name]())

    @classmethod
    def local(cls, cores: list[int] | None = None, *, refresh: bool = False) -> Cluster:
        """This machine: one device per CPU core (the cores this process may run on, or
        ``cores``), as :class:`PlacedRuntime` runs placements on it (one single-threaded worker
        per core). FLOP/s, memory bandwidth and per-operation overhead are measured on the first
        core; what a transfer costs its sender and receiver, and link bandwidth and latency, by a
        ping-pong between two worker processes through shared memory and chains of operations
        on one-element and 512-KiB values run by a :class:`PlacedRuntime` across two cores (see
        :func:`~learnedsys.placement._runtime.local_cluster_spec`). Measured once per process
        (about 5 s; ``refresh`` measures again).
        Needs torch. Store it with ``to_dict`` / :meth:`from_json` to reuse a measurement."""
        from learnedsys.placement._runtime import local_cluster_spec

        return cls.from_dict(local_cluster_spec(cores, refresh=refresh))

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
        devices = []
        for dv in self.devices:
            spec = {"name": dv.name, "kind": dv.kind, "flops": dv.flops, "memory": dv.memory, "mem_bandwidth": dv.mem_bandwidth, "overhead": dv.overhead}
            if dv.charges_transfers:  # written only where set: the presets' dicts stay as they were
                spec.update(send_overhead=dv.send_overhead, send_bandwidth=dv.send_bandwidth, recv_overhead=dv.recv_overhead,
                            recv_bandwidth=dv.recv_bandwidth)
            devices.append(spec)
        return {"name": self.name, "devices": devices, "links": {"pairs": pairs}}

    def __repr__(self) -> str:
        return f"Cluster({self.name!r}, {self.n_devices} devices: {', '.join(dv.name for dv in self.devices)})"
