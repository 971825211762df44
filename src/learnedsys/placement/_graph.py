"""The operation graph: what the placers and the simulator see of a model (numpy only, no torch).

Nodes are stored in a topological order (every edge goes from a lower to a higher index). Each
node carries its forward FLOPs, the bytes it reads and writes (for the memory-bound part of the
roofline), the bytes of its output (what a transfer to another device moves), the bytes of the
parameters it owns, and the module path it came from (what the expert placer reads).

A training step is forward + backward: :meth:`OpGraph.training` mirrors every node ``i`` by a
backward node that runs on the same device (gradients are co-located with their forward
operation), costs ``backward_factor`` (default 2) times the forward work, and consumes the
gradient of each consumer plus the saved activations of its inputs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from learnedsys._serialization import FormatError, load, save
from learnedsys._validation import InvalidParameterError, check_float

__all__ = ["OpGraph", "TrainingGraph"]

_KIND = "placement.OpGraph"
_KIND_VERSION = 1


def _check_str_list(value: Any, key: str, where: str, n: int | None) -> int:
    """The length of ``value`` if it is a list of strings (of length ``n`` when given)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FormatError(f"{where}: {key!r} must be a list of strings")
    if n is not None and len(value) != n:
        raise FormatError(f"{where}: {key!r} must have {n} entries (one per node); found {len(value)}")
    return len(value)


@dataclass(frozen=True)
class TrainingGraph:
    """The graph the simulator runs: forward nodes 0..n-1, then backward nodes in reverse order.

    Backward node of forward ``i`` has index ``2n-1-i``; ``owner[j]`` is the forward node whose
    device node ``j`` runs on. Out-edges are in CSR form (``out_ptr``, ``out_dst``, ``out_bytes``),
    in-edges likewise (``in_ptr``, ``in_src``). ``alloc`` is the bytes a node allocates on its
    device when it starts; ``work_scale`` multiplies the forward cost of its owner.
    """

    n_forward: int
    owner: np.ndarray
    work_scale: np.ndarray
    alloc: np.ndarray
    out_ptr: np.ndarray
    out_dst: np.ndarray
    out_bytes: np.ndarray
    in_ptr: np.ndarray
    in_src: np.ndarray
    n_pred: np.ndarray


def _csr(src: np.ndarray, dst: np.ndarray, nbytes: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    order = np.lexsort((dst, src))
    s, d, b = src[order], dst[order], nbytes[order]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(ptr, s + 1, 1)
    np.cumsum(ptr, out=ptr)
    return ptr, d.astype(np.int64), b.astype(np.float64)


@dataclass
class OpGraph:
    """A dataflow graph of operations in topological order.

    Args:
        names: one name per node (the first fx node merged into it, for captured graphs).
        op_types: operator name per node (``"aten.mm"``, ``"input"``...).
        modules: module path per node (``"encoder.layers.2"``; ``""`` at the top level).
        flops: forward floating-point operations per node.
        mem_bytes: bytes read plus written per node (memory-bound time = mem_bytes / bandwidth).
        out_bytes: bytes of the node's output, moved when a consumer runs on another device.
        param_bytes: bytes of the parameters the node owns (weights; gradients and optimizer
            state are added by the simulator).
        edge_src, edge_dst: edges, ``edge_src[k] < edge_dst[k]`` (topological order).
        layer: a layer tag per node (``-1`` when unknown) that the expert placer uses for stacked
            recurrent networks; captured graphs set it from ``_l<k>`` parameter names.
        fx_names: for captured graphs, the fx node names merged into each node (used by
            :func:`apply`).
        meta: free JSON-compatible metadata (model name, batch size...).
    """

    names: list[str]
    op_types: list[str]
    modules: list[str]
    flops: np.ndarray
    mem_bytes: np.ndarray
    out_bytes: np.ndarray
    param_bytes: np.ndarray
    edge_src: np.ndarray
    edge_dst: np.ndarray
    layer: np.ndarray | None = None
    fx_names: list[list[str]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    _training_cache: dict[float, TrainingGraph] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.names)
        if n == 0:
            raise InvalidParameterError("An OpGraph needs at least one node; got an empty graph.")
        for name in ("flops", "mem_bytes", "out_bytes", "param_bytes"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != (n,):
                raise InvalidParameterError(
                    f"The {name!r} parameter of OpGraph must have shape ({n},) (one value per node). Got shape {arr.shape} instead."
                )
            bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
            if bad.size:
                i = int(bad[0])
                raise InvalidParameterError(
                    f"The {name!r} parameter of OpGraph must hold finite values >= 0; {name}[{i}] (node {self.names[i]!r}) is {arr[i]!r}."
                )
            setattr(self, name, arr)
        for name in ("op_types", "modules"):
            if len(getattr(self, name)) != n:
                raise InvalidParameterError(
                    f"The {name!r} parameter of OpGraph must have {n} entries. Got {len(getattr(self, name))} instead."
                )
        src = np.asarray(self.edge_src, dtype=np.int64)
        dst = np.asarray(self.edge_dst, dtype=np.int64)
        if src.shape != dst.shape or src.ndim != 1:
            raise InvalidParameterError(
                f"The 'edge_src' and 'edge_dst' parameters of OpGraph must be 1-d of equal length. Got shapes {src.shape} and {dst.shape} instead."
            )
        bad_e = np.flatnonzero(~((src >= 0) & (src < dst) & (dst < n)))
        if bad_e.size:
            k = int(bad_e[0])
            raise InvalidParameterError(
                    f"OpGraph nodes must be in topological order with edges between existing nodes; edge {k} is {int(src[k])} -> {int(dst[k])} (n = {n})."
                )
        if src.size:
            key = np.unique(src * n + dst)
            src, dst = key // n, key % n
        self.edge_src, self.edge_dst = src, dst
        if self.layer is None:
            self.layer = np.full(n, -1, dtype=np.int64)
        else:
            self.layer = np.asarray(self.layer, dtype=np.int64)
            if self.layer.shape != (n,):
                raise InvalidParameterError(f"The 'layer' parameter of OpGraph must have shape ({n},).")

    # ---------------------------------------------------------------- basic facts
    @property
    def n_nodes(self) -> int:
        return len(self.names)

    @property
    def n_edges(self) -> int:
        return int(self.edge_src.size)

    @property
    def total_flops(self) -> float:
        return float(self.flops.sum())

    def last_use(self) -> np.ndarray:
        """Activation lifetime in the forward pass: index of each node's last consumer (itself
        when it has none)."""
        last = np.arange(self.n_nodes, dtype=np.int64)
        np.maximum.at(last, self.edge_src, self.edge_dst)
        return last

    def predecessors(self) -> list[np.ndarray]:
        order = np.argsort(self.edge_dst, kind="stable")
        ptr = np.searchsorted(self.edge_dst[order], np.arange(self.n_nodes + 1))
        src = self.edge_src[order]
        return [src[ptr[i] : ptr[i + 1]] for i in range(self.n_nodes)]

    def successors(self) -> list[np.ndarray]:
        order = np.argsort(self.edge_src, kind="stable")
        ptr = np.searchsorted(self.edge_src[order], np.arange(self.n_nodes + 1))
        dst = self.edge_dst[order]
        return [dst[ptr[i] : ptr[i + 1]] for i in range(self.n_nodes)]

    def summary(self) -> str:
        return (
            f"OpGraph({self.n_nodes} ops, {self.n_edges} edges, {self.total_flops / 1e9:.2f} GFLOP forward, "
            f"{self.param_bytes.sum() / 2**20:.1f} MiB parameters)"
        )

    # ---------------------------------------------------------------- training step
    def training(self, backward_factor: float = 2.0) -> TrainingGraph:
        """The forward + backward graph (cached). Cost O(n + e)."""
        backward_factor = check_float(backward_factor, "backward_factor", "OpGraph.training", low=0.0)
        cached = self._training_cache.get(backward_factor)
        if cached is not None:
            return cached
        n = self.n_nodes
        src, dst = self.edge_src, self.edge_dst
        ob = self.out_bytes
        back = lambda i: 2 * n - 1 - i  # noqa: E731
        ar = np.arange(n, dtype=np.int64)
        # forward edges; gradient edges (reverse); saved inputs for the backward of consumers;
        # each node's own output kept for its backward.
        s = np.concatenate([src, back(dst), src, ar])
        d = np.concatenate([dst, back(src), back(dst), back(ar)])
        b = np.concatenate([ob[src], ob[src], ob[src], np.zeros(n)])
        out_ptr, out_dst, out_bytes = _csr(s, d, b, 2 * n)
        in_ptr, in_src, _ = _csr(d, s, b, 2 * n)
        n_pred = np.diff(in_ptr).astype(np.int64)
        grad_in = np.zeros(n)
        np.add.at(grad_in, dst, ob[src])
        alloc = np.concatenate([ob, grad_in[::-1]])
        owner = np.concatenate([ar, ar[::-1]])
        scale = np.concatenate([np.ones(n), np.full(n, backward_factor)])
        tg = TrainingGraph(n, owner, scale, alloc, out_ptr, out_dst, out_bytes, in_ptr, in_src, n_pred)
        self._training_cache[backward_factor] = tg
        return tg

    def inference(self) -> TrainingGraph:
        """The forward-only graph in the same form as :meth:`training`."""
        cached = self._training_cache.get(-1.0)
        if cached is not None:
            return cached
        n = self.n_nodes
        src, dst = self.edge_src, self.edge_dst
        out_ptr, out_dst, out_bytes = _csr(src, dst, self.out_bytes[src], n)
        in_ptr, in_src, _ = _csr(dst, src, self.out_bytes[src], n)
        ar = np.arange(n, dtype=np.int64)
        tg = TrainingGraph(
            n, ar, np.ones(n), self.out_bytes.copy(), out_ptr, out_dst, out_bytes, in_ptr, in_src,
            np.diff(in_ptr).astype(np.int64),
        )
        self._training_cache[-1.0] = tg
        return tg

    # ---------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "op_types": list(self.op_types),
            "modules": list(self.modules),
            "flops": self.flops.tolist(),
            "mem_bytes": self.mem_bytes.tolist(),
            "out_bytes": self.out_bytes.tolist(),
            "param_bytes": self.param_bytes.tolist(),
            "edge_src": self.edge_src.tolist(),
            "edge_dst": self.edge_dst.tolist(),
            "layer": self.layer.tolist() if self.layer is not None else None,
            "fx_names": self.fx_names,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OpGraph:
        try:
            return cls(
                names=list(d["names"]),
                op_types=list(d["op_types"]),
                modules=list(d["modules"]),
                flops=np.asarray(d["flops"], dtype=np.float64),
                mem_bytes=np.asarray(d["mem_bytes"], dtype=np.float64),
                out_bytes=np.asarray(d["out_bytes"], dtype=np.float64),
                param_bytes=np.asarray(d["param_bytes"], dtype=np.float64),
                edge_src=np.asarray(d["edge_src"], dtype=np.int64),
                edge_dst=np.asarray(d["edge_dst"], dtype=np.int64),
                layer=None if d.get("layer") is None else np.asarray(d["layer"], dtype=np.int64),
                fx_names=d.get("fx_names"),
                meta=dict(d.get("meta") or {}),
            )
        except KeyError as exc:
            raise InvalidParameterError(f"An OpGraph dict needs the key {exc.args[0]!r}.") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the graph to ``path`` (versioned, checksummed, no pickle)."""
        meta = {
            "names": self.names,
            "op_types": self.op_types,
            "modules": self.modules,
            "fx_names": self.fx_names,
            "meta": self.meta,
        }
        arrays = {
            "flops": self.flops,
            "mem_bytes": self.mem_bytes,
            "out_bytes": self.out_bytes,
            "param_bytes": self.param_bytes,
            "edge_src": self.edge_src,
            "edge_dst": self.edge_dst,
            "layer": self.layer if self.layer is not None else np.zeros(0, np.int64),
        }
        save(path, _KIND, _KIND_VERSION, meta, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> OpGraph:
        """Read a graph written by :meth:`save`.

        Every loaded value is checked against the graph's invariants (one name, type, module and
        cost per node; finite costs >= 0; integer edges in topological order between existing
        nodes; layer tags >= -1), so a crafted file raises ``FormatError``, never a crash later.
        """
        _, meta, arrays = load(path, _KIND, _KIND_VERSION)
        where = repr(str(path))
        n = _check_str_list(meta.get("names"), "names", where, None)
        if n == 0:
            raise FormatError(f"{where}: the graph has no nodes")
        for key in ("op_types", "modules"):
            _check_str_list(meta.get(key), key, where, n)
        fx = meta.get("fx_names")
        if fx is not None:
            if not isinstance(fx, list) or len(fx) != n:
                raise FormatError(f"{where}: 'fx_names' must list {n} entries (one per node)")
            for i, names in enumerate(fx):
                _check_str_list(names, f"fx_names[{i}]", where, None)
        if not isinstance(meta.get("meta"), dict):
            raise FormatError(f"{where}: 'meta' must be an object")
        want = {"flops", "mem_bytes", "out_bytes", "param_bytes", "edge_src", "edge_dst", "layer"}
        if set(arrays) != want:
            raise FormatError(f"{where}: the graph's arrays must be {sorted(want)}; found {sorted(arrays)}")
        for key in ("flops", "mem_bytes", "out_bytes", "param_bytes"):
            a = arrays[key]
            if a.dtype.kind not in "iuf" or a.shape != (n,):
                raise FormatError(f"{where}: {key!r} must be {n} numbers (one per node); found {a.dtype} {a.shape}")
            if not np.all(np.isfinite(a) & (a >= 0)):
                raise FormatError(f"{where}: {key!r} must hold finite values >= 0")
        src, dst = arrays["edge_src"], arrays["edge_dst"]
        if src.dtype.kind not in "iu" or dst.dtype.kind not in "iu" or src.ndim != 1 or src.shape != dst.shape:
            raise FormatError(f"{where}: 'edge_src' and 'edge_dst' must be integer vectors of equal length")
        if src.size and not (np.all(src < dst) and int(src.min()) >= 0 and int(dst.max()) < n):
            raise FormatError(f"{where}: edges must join existing nodes in topological order (src < dst < {n})")
        layer = arrays["layer"]
        if layer.dtype.kind not in "iu" or layer.shape not in ((0,), (n,)):
            raise FormatError(f"{where}: 'layer' must be {n} integer tags (or none)")
        if layer.size and int(layer.min()) < -1:
            raise FormatError(f"{where}: 'layer' tags must be >= -1")
        try:
            return cls(
                names=meta["names"],
                op_types=meta["op_types"],
                modules=meta["modules"],
                fx_names=fx,
                meta=meta["meta"],
                flops=arrays["flops"],
                mem_bytes=arrays["mem_bytes"],
                out_bytes=arrays["out_bytes"],
                param_bytes=arrays["param_bytes"],
                edge_src=src.astype(np.int64),
                edge_dst=dst.astype(np.int64),
                layer=layer.astype(np.int64) if layer.size else None,
            )
        except InvalidParameterError as exc:  # pragma: no cover - the checks above come first
            raise FormatError(f"{where}: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict())
