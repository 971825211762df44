"""``apply(model, placement, example_inputs)``: run a model with its operations on the devices a
placement chose.

The model is exported again exactly as :func:`capture` did (same export, same decomposition, so
the same fx node names); each fx operation runs on the device of the graph node it was merged
into, parameters live on the device of the operation (or shared-parameter node) that owns them,
and every tensor an operation reads from another device is copied there first (``Tensor.to``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from learnedsys._lazy import require
from learnedsys._validation import InvalidParameterError
from learnedsys.placement._capture import export_program, graph_from_program
from learnedsys.placement._placement import Placement

__all__ = ["apply"]


def _device_list(devices: Any, n_dev: int, names: list[str], torch: Any) -> list[Any]:
    if devices is None:
        # cluster devices named "cpu*" run on the CPU; the others on the CUDA devices, round robin
        # (all on the CPU when there is none)
        k = torch.cuda.device_count() if torch.cuda.is_available() else 0
        out, g = [], 0
        for i in range(n_dev):
            name = names[i] if i < len(names) else f"dev{i}"
            if k == 0 or name.startswith("cpu"):
                out.append(torch.device("cpu"))
            else:
                out.append(torch.device(f"cuda:{g % k}"))
                g += 1
        return out
    if isinstance(devices, dict):
        return [torch.device(devices.get(i, "cpu")) for i in range(n_dev)]
    out = [torch.device(d) for d in devices]
    if len(out) < n_dev:
        raise InvalidParameterError(
            f"The 'devices' parameter of apply must map every device of the placement ({n_dev}). Got {len(out)} instead."
        )
    return out


def apply(model: Any, placement: Placement | np.ndarray, example_inputs: Any, *, devices: Any = None) -> Any:
    """A module that runs ``model`` with ``placement``.

    Args:
        model: the ``torch.nn.Module`` that was captured (with real weights).
        placement: a :class:`Placement` (or device indices) of ``capture(model, example_inputs)``.
        example_inputs: the inputs used for capture (shapes must match what the module is called
            with later).
        devices: torch device of each placement device index: a list, a dict ``{index:
            "cuda:1"}``, or None (devices named ``cpu*`` on the CPU, the others on the CUDA
            devices round robin; everything on the CPU when there is no CUDA device).

    Returns:
        A ``torch.nn.Module`` whose ``forward(*inputs)`` equals ``model(*inputs)``.
    """
    torch = require("torch", extra="torch", purpose="applying a placement")
    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    ep = export_program(model, example_inputs)
    graph = graph_from_program(ep, name=type(model).__name__)
    dev_idx = np.asarray(getattr(placement, "devices", placement), dtype=np.int64)
    if dev_idx.shape != (graph.n_nodes,):
        raise InvalidParameterError(
            f"The 'placement' parameter of apply must have one device per operation of the captured graph ({graph.n_nodes}). Got shape {dev_idx.shape} instead."
        )
    n_dev = int(dev_idx.max()) + 1 if dev_idx.size else 1
    tdev = _device_list(devices, n_dev, list(getattr(placement, "device_names", []) or []), torch)
    assert graph.fx_names is not None
    node_device: dict[str, Any] = {}
    for i, fx in enumerate(graph.fx_names):
        for nm in fx:
            node_device[nm] = tdev[int(dev_idx[i])]
    # parameters: on the device of their shared-parameter node, else of their first user
    param_device: dict[str, Any] = {}
    for i, nm in enumerate(graph.names):
        if nm.startswith("param:"):
            param_device[nm[len("param:") :]] = tdev[int(dev_idx[i])]
    return _PlacedModule(ep, node_device, param_device, tdev[0], torch)


def _make_module(torch: Any) -> type:
    class PlacedModule(torch.nn.Module):
        """An exported program run node by node with a device per operation."""

        def __init__(self, ep: Any, node_device: dict[str, Any], param_device: dict[str, Any], default: Any) -> None:
            super().__init__()
            self.gm = ep.graph_module
            self.signature = ep.graph_signature
            self.out_spec = ep.call_spec.out_spec
            self.in_spec = ep.call_spec.in_spec
            self.node_device = node_device
            self.default = default
            state = dict(ep.state_dict)
            state.update(getattr(ep, "constants", {}) or {})
            # first user of each lifted input decides its home device
            placeholders = {n.name: n for n in self.gm.graph.nodes if n.op == "placeholder"}
            self.lifted: list[tuple[str, Any]] = []
            self.user_inputs: list[str] = []
            self._tensors: dict[str, Any] = {}
            for spec in self.signature.input_specs:
                name = spec.arg.name
                if spec.kind.name == "USER_INPUT":
                    self.user_inputs.append(name)
                    continue
                tensor = state[spec.target]
                home = param_device.get(str(spec.target))
                if home is None:
                    users = list(placeholders[name].users)
                    home = next((node_device[u.name] for u in users if u.name in node_device), default)
                self._tensors[name] = tensor.detach().to(home)
            self.user_outputs = [i for i, s in enumerate(self.signature.output_specs) if s.kind.name == "USER_OUTPUT"]

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            pytree = torch.utils._pytree
            flat, _ = pytree.tree_flatten((args, kwargs))
            env: dict[str, Any] = dict(self._tensors)
            for name, value in zip(self.user_inputs, flat, strict=False):
                env[name] = value
            node_device = self.node_device

            class Runner(torch.fx.Interpreter):
                def placeholder(self, target: Any, args: Any, kwargs: Any) -> Any:
                    return env[self.current_node.name]

                def run_node(self, n: Any) -> Any:
                    self.current_node = n
                    return super().run_node(n)

                def call_function(self, target: Any, args: Any, kwargs: Any) -> Any:
                    dv = node_device.get(self.current_node.name)
                    if dv is not None:
                        move = lambda x: x.to(dv) if isinstance(x, torch.Tensor) and x.device != dv else x  # noqa: E731
                        args = pytree.tree_map(move, args)
                        kwargs = pytree.tree_map(move, kwargs)
                        if "device" in kwargs:
                            kwargs = {**kwargs, "device": dv}
                    return super().call_function(target, args, kwargs)

            outs = Runner(self.gm).run(*[env[n.name] for n in self.gm.graph.nodes if n.op == "placeholder"])
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            user = [outs[i] for i in self.user_outputs]
            return pytree.tree_unflatten(user, self.out_spec)

    return PlacedModule


_MODULE_CLASS: list[type] = []


def _PlacedModule(ep: Any, node_device: dict[str, Any], param_device: dict[str, Any], default: Any, torch: Any) -> Any:
    if not _MODULE_CLASS:
        _MODULE_CLASS.append(_make_module(torch))
    return _MODULE_CLASS[0](ep, node_device, param_device, default)
