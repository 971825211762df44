"""``capture(model, example_inputs)``: a PyTorch model -> :class:`OpGraph` via ``torch.export``.

The exported program is decomposed to core ATen (``run_decompositions()``), so an ``nn.LSTM``
becomes its unrolled matrix products and gates and attention its matmuls and softmax; every
operation then gets a FLOP count from the formulas below (``FlopCounterMode`` counts 0 on CPU for
LSTM, attention and every elementwise or normalisation operation, so we do not rely on it).

View-like operations (reshape, permute, slice, getitem...) cost nothing and alias their input:
they are merged into the operation that produced their input. A parameter used by one operation
belongs to it; a parameter shared by several (an unrolled LSTM's weights) becomes a
``parameter`` node of its own that its users read (and whose gradient they send back).

Models are best built on the ``meta`` device (``with torch.device("meta"): model = Net()``):
export then needs no memory for weights and no computation.
"""

from __future__ import annotations

import math
import re
import traceback
from collections import defaultdict
from typing import Any

import numpy as np

from learnedsys._lazy import require
from learnedsys.placement._graph import OpGraph

__all__ = ["CaptureError", "capture", "export_program", "op_flops"]


class CaptureError(RuntimeError):
    """The model could not be exported; the message names the offending operation."""


_VIEW_OPS = {
    "view", "_unsafe_view", "reshape", "permute", "transpose", "t", "expand", "squeeze", "unsqueeze",
    "slice", "select", "split", "split_with_sizes", "unbind", "alias", "detach", "as_strided",
    "getitem", "unflatten", "flatten", "lift_fresh_copy", "_assert_tensor_metadata", "narrow",
    "chunk", "view_as", "expand_as", "contiguous", "dropout", "_to_copy", "to",
}
_CHEAP = {
    "add", "sub", "mul", "div", "neg", "relu", "threshold_backward", "where", "clamp", "clamp_min",
    "clamp_max", "abs", "maximum", "minimum", "eq", "ne", "lt", "gt", "le", "ge", "logical_not",
    "logical_and", "logical_or", "fill", "masked_fill", "rsub", "pow", "square", "hardtanh",
    "leaky_relu", "sign", "reciprocal", "bitwise_not", "bitwise_and",
}
_TRANSCENDENTAL = {
    "sigmoid": 4, "tanh": 4, "exp": 4, "log": 4, "sqrt": 2, "rsqrt": 2, "erf": 6, "gelu": 8, "silu": 5,
    "softplus": 6, "log1p": 4, "expm1": 4, "sin": 4, "cos": 4, "elu": 4, "mish": 10, "hardswish": 3,
    "hardsigmoid": 3,
}
_REDUCTIONS = {"sum", "mean", "amax", "amin", "max", "min", "var", "std", "var_mean", "prod", "any", "all", "argmax", "argmin", "logsumexp", "norm", "linalg_vector_norm"}
_NORMS = {
    "native_layer_norm": 8, "native_batch_norm": 8, "_native_batch_norm_legit": 8,
    "_native_batch_norm_legit_no_training": 4, "_native_batch_norm_legit_functional": 8,
    "native_group_norm": 8, "layer_norm": 8, "batch_norm": 8, "group_norm": 8, "rms_norm": 5,
    "_fused_rms_norm": 5,
}
_SOFTMAX = {"_softmax": 5, "_log_softmax": 5, "softmax": 5, "log_softmax": 5}
_MOVES = {"cat", "stack", "clone", "copy", "constant_pad_nd", "index", "index_select", "gather", "scatter", "embedding", "repeat", "flip", "roll", "pad", "index_put", "scatter_add", "full", "zeros", "ones", "full_like", "zeros_like", "ones_like", "empty", "arange", "scalar_tensor", "new_zeros", "new_ones", "new_full", "new_empty", "empty_like", "rand", "randn", "bernoulli", "native_dropout"}


def _opname(target: Any) -> str:
    """``aten.addmm.default`` -> ``addmm``; ``operator.getitem`` -> ``getitem``."""
    name = getattr(target, "__name__", str(target))
    if hasattr(target, "_schema"):
        name = target._schema.name.split("::")[-1]
    return name.split(".")[0]


def _numel(shape: Any) -> int:
    return int(math.prod(int(s) for s in shape))


def op_flops(op: str, in_shapes: list[tuple[int, ...]], out_shapes: list[tuple[int, ...]], args: tuple[Any, ...]) -> tuple[float, bool]:
    """Forward FLOPs of one ATen operation from its shapes. Returns (flops, known) where
    ``known`` is False when the operator has no formula (its output size is used then).

    Formulas: matrix products ``2 M K N`` (+ ``M N`` for a fused bias), convolution
    ``2 * out_numel * C_in/groups * prod(kernel)``, attention ``4 B H L S E`` plus a softmax,
    elementwise ``c * numel`` with c = 1 (add, mul, relu...) to 8 (gelu), normalisations ``8 *
    numel``, softmax ``5 * numel``, reductions ``numel(input)``, pooling ``numel(out) *
    prod(kernel)``, data movement 0.
    """
    out = sum(_numel(s) for s in out_shapes)
    if op in ("mm",):
        (m, k), (_, n) = in_shapes[0], in_shapes[1]
        return 2.0 * m * k * n, True
    if op == "addmm":
        (m, k), (_, n) = in_shapes[1], in_shapes[2]
        return 2.0 * m * k * n + m * n, True
    if op in ("bmm", "baddbmm"):
        a, b = (in_shapes[0], in_shapes[1]) if op == "bmm" else (in_shapes[1], in_shapes[2])
        return 2.0 * a[0] * a[1] * a[2] * b[2] + (out if op == "baddbmm" else 0), True
    if op in ("matmul", "linear"):
        k = in_shapes[0][-1] if in_shapes[0] else 1
        return 2.0 * out * k, True
    if op in ("convolution", "conv2d", "conv1d", "conv3d", "_convolution"):
        x, w = in_shapes[0], in_shapes[1]
        transposed = bool(args[6]) if op in ("convolution", "_convolution") and len(args) > 6 else False
        groups = int(args[8]) if op in ("convolution", "_convolution") and len(args) > 8 else 1
        kernel = _numel(w[2:])
        if transposed:
            return 2.0 * _numel(x) * w[1] * kernel, True
        bias = out if len(in_shapes) > 2 and in_shapes[2] else 0
        return 2.0 * out * (x[1] // max(groups, 1) if len(x) > 1 else 1) * kernel + bias, True
    if op.startswith("_scaled_dot_product") or op == "scaled_dot_product_attention":
        qs, ks = in_shapes[0], in_shapes[1]
        nb = _numel(qs[:-2])
        lq, e = qs[-2], qs[-1]
        ls = ks[-2]
        return 4.0 * nb * lq * ls * e + 5.0 * nb * lq * ls, True
    if op in _VIEW_OPS or op in _MOVES:
        return 0.0, True
    if op in _CHEAP:
        return float(out), True
    if op in _TRANSCENDENTAL:
        return float(_TRANSCENDENTAL[op] * out), True
    if op in _NORMS:
        return float(_NORMS[op] * (_numel(in_shapes[0]) if in_shapes else out)), True
    if op in _SOFTMAX:
        return float(_SOFTMAX[op] * out), True
    if op in _REDUCTIONS:
        return float(_numel(in_shapes[0]) if in_shapes else out), True
    if op in ("max_pool2d_with_indices", "avg_pool2d", "max_pool2d", "max_pool1d", "avg_pool1d", "max_pool3d_with_indices", "avg_pool3d"):
        ks = args[1] if len(args) > 1 else (1,)
        ks = ks if isinstance(ks, (list, tuple)) else (ks,)
        kk = _numel(ks) if len(ks) > 1 else int(ks[0]) ** (len(out_shapes[0]) - 2 if out_shapes else 2)
        return float(out * kk), True
    if op in ("_adaptive_avg_pool2d", "adaptive_avg_pool2d", "mean"):
        return float(_numel(in_shapes[0]) if in_shapes else out), True
    return float(out), False


def _tensor_meta(val: Any) -> list[tuple[tuple[int, ...], int]]:
    """(shape, bytes) of each tensor in a node's ``meta['val']``."""
    torch = require("torch", extra="torch")
    out = []
    vals = val if isinstance(val, (list, tuple)) else [val]
    for v in vals:
        if isinstance(v, torch.Tensor):
            shape = tuple(int(s) for s in v.shape)
            out.append((shape, _numel(shape) * v.element_size()))
    return out


def _user_frame(exc: BaseException) -> str:
    """The last traceback frame outside torch: where in the model the export failed."""
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if "/torch/" not in f.filename and "learnedsys/placement/_capture" not in f.filename]
    if not user:
        return ""
    f = user[-1]
    return f" at {f.filename}:{f.lineno} (`{(f.line or '').strip()}`)"


def export_program(model: Any, example_inputs: tuple[Any, ...], decompose: bool = True) -> Any:
    """``torch.export`` of ``model`` on ``example_inputs`` (decomposed to core ATen), with a
    :class:`CaptureError` naming the offending operation when it cannot be exported. A program
    this function returned is passed through as it is (one export serves the graph, the profile
    and the runtime)."""
    torch = require("torch", extra="torch", purpose="capturing a model")
    if isinstance(model, torch.export.ExportedProgram):
        return model
    if not isinstance(model, torch.nn.Module):
        raise CaptureError(f"capture needs a torch.nn.Module; got {type(model).__name__}.")
    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ep = torch.export.export(model, example_inputs, strict=False)
            if decompose:
                ep = ep.run_decompositions()
    except Exception as exc:  # torch raises many types; we add where and what
        text = str(exc).strip().splitlines()
        first = next((line for line in text if line.strip()), type(exc).__name__)
        m = re.search(r"\b(aten\.\w+)", str(exc)) or re.search(r"\b(torch\.(?!export)[\w.]*\w)", str(exc))
        op = f" the operation {m.group(1)!r}" if m else " an operation"
        if "data-dependent" in str(exc):
            op = " a data-dependent branch on a tensor value (Tensor.__bool__ / .item())"
        where = _user_frame(exc)
        call = re.search(r'File "([^"]+)", line (\d+), in (\w+)\n\s*(\S[^\n]*)?', str(exc))
        if call and call.group(1) != "<string>":
            where = f" at {call.group(1)}:{call.group(2)} in {call.group(3)}" + (f" (`{call.group(4).strip()}`)" if call.group(4) else "")
        raise CaptureError(
            f"torch.export could not capture {type(model).__name__}:{op} failed{where}: {type(exc).__name__}: {first}"
        ) from exc
    return ep


def capture(model: Any, example_inputs: Any, *, decompose: bool = True, name: str | None = None) -> OpGraph:
    """Capture ``model`` called on ``example_inputs`` as an :class:`OpGraph`.

    Args:
        model: a ``torch.nn.Module`` (on the meta device is cheapest).
        example_inputs: a tuple of positional inputs (a single tensor is accepted).
        decompose: run ``run_decompositions()`` (needed for correct LSTM and attention FLOPs).
        name: a label stored in ``graph.meta["model"]``.

    Returns:
        The graph in the export's topological order, one node per non-view operation plus one
        per user input and per shared parameter. ``graph.meta["unknown_ops"]`` lists operators
        without a FLOP formula (counted as one FLOP per output element).

    Raises:
        CaptureError: the model cannot be exported (data-dependent control flow, unsupported
            operators...); the message names the operation and the line in the model.

    Cost: one ``torch.export`` (about a second per thousand operations) plus O(n) bookkeeping.
    """
    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    ep = export_program(model, example_inputs, decompose=decompose)
    return graph_from_program(ep, name=name or type(model).__name__)


def _module_path(node: Any) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    return str(path)


_LSTM_LAYER = re.compile(r"_l(\d+)(_reverse)?$")


def graph_from_program(ep: Any, name: str = "model") -> OpGraph:
    """Build the :class:`OpGraph` of an exported (and decomposed) program."""
    torch = require("torch", extra="torch")
    sig = ep.graph_signature
    param_of: dict[str, str] = {}
    for spec in sig.input_specs:
        kind = spec.kind.name
        if kind in ("PARAMETER", "BUFFER", "CONSTANT_TENSOR") and hasattr(spec.arg, "name"):
            param_of[spec.arg.name] = str(spec.target)
    nodes = list(ep.graph.nodes)

    # pass 1: resolve aliases, count distinct users of each parameter
    alias: dict[str, tuple[str, Any]] = {}  # fx name -> ("param", target) | ("op", fx name of owner)
    param_users: dict[str, list[str]] = defaultdict(list)
    for nd in nodes:
        if nd.op == "placeholder":
            alias[nd.name] = ("param", param_of[nd.name]) if nd.name in param_of else ("op", nd.name)
        elif nd.op == "call_function":
            op = _opname(nd.target)
            ins = [a for a in nd.all_input_nodes if a.name in alias]
            if op in _VIEW_OPS and ins:
                alias[nd.name] = alias[ins[0].name]
            else:
                alias[nd.name] = ("op", nd.name)
                for a in ins:
                    kind, tgt = alias[a.name]
                    if kind == "param" and nd.name not in param_users[tgt]:
                        param_users[tgt].append(nd.name)
        elif nd.op == "get_attr":
            alias[nd.name] = ("param", nd.target)

    state = dict(ep.state_dict)
    state.update(getattr(ep, "constants", {}) or {})

    def pbytes(target: str) -> int:
        t = state.get(target)
        if isinstance(t, torch.Tensor):
            return int(t.numel() * t.element_size())
        return 0

    names: list[str] = []
    op_types: list[str] = []
    modules: list[str] = []
    flops: list[float] = []
    mem: list[float] = []
    outb: list[float] = []
    parb: list[float] = []
    layer: list[int] = []
    fx_names: list[list[str]] = []
    index: dict[str, int] = {}  # fx name of an owner op (or "param:<target>") -> node index
    edges: list[tuple[int, int]] = []
    unknown: set[str] = set()
    shared = {t for t, users in param_users.items() if len(users) > 1}

    def add_node(nm: str, typ: str, mod: str, f: float, m: float, o: float, p: float, lay: int) -> int:
        names.append(nm)
        op_types.append(typ)
        modules.append(mod)
        flops.append(f)
        mem.append(m)
        outb.append(o)
        parb.append(p)
        layer.append(lay)
        fx_names.append([])
        return len(names) - 1

    for nd in nodes:
        if nd.op == "placeholder":
            if nd.name in param_of:
                continue
            tm = _tensor_meta(nd.meta.get("val"))
            b = float(sum(x[1] for x in tm))
            i = add_node(nd.name, "input", "", 0.0, 0.0, b, 0.0, -1)
            index[nd.name] = i
            fx_names[i].append(nd.name)
            continue
        if nd.op != "call_function":
            continue
        kind, owner = alias[nd.name]
        if owner != nd.name:  # a view: merged into its owner
            if kind == "op" and owner in index:
                fx_names[index[owner]].append(nd.name)
            continue
        op = _opname(nd.target)
        in_meta = []
        preds: list[int] = []
        own_params: list[str] = []
        lay = -1
        mod = _module_path(nd)
        for a in nd.all_input_nodes:
            tm = _tensor_meta(a.meta.get("val"))
            in_meta.extend(tm)
            k2, own = alias.get(a.name, ("op", a.name))
            if k2 == "param":
                mt = _LSTM_LAYER.search(own.split(".")[-1])
                if mt:
                    lay = max(lay, int(mt.group(1)))
                if own in shared:
                    key = "param:" + own
                    if key not in index:
                        pb = float(pbytes(own))
                        j = add_node(key, "parameter", mod, 0.0, 0.0, pb, pb, lay)
                        index[key] = j
                    preds.append(index[key])
                else:
                    own_params.append(own)
            elif own in index:
                j = index[own]
                preds.append(j)
                if layer[j] >= 0 and modules[j] == mod:
                    lay = max(lay, layer[j])
        out_meta = _tensor_meta(nd.meta.get("val"))
        in_shapes = [s for s, _ in in_meta]
        out_shapes = [s for s, _ in out_meta]
        try:
            f, known = op_flops(op, in_shapes, out_shapes, tuple(nd.args))
        except (IndexError, ValueError, TypeError):
            f, known = float(sum(_numel(s) for s in out_shapes)), False
        if not known:
            unknown.add(op)
        ob = float(sum(b for _, b in out_meta))
        mb = float(sum(b for _, b in in_meta)) + ob
        pb = float(sum(pbytes(t) for t in dict.fromkeys(own_params)))
        i = add_node(nd.name, f"aten.{op}", mod, f, mb, ob, pb, lay)
        index[nd.name] = i
        fx_names[i].append(nd.name)
        for j in dict.fromkeys(preds):
            edges.append((j, i))

    src = np.array([e[0] for e in edges], dtype=np.int64)
    dst = np.array([e[1] for e in edges], dtype=np.int64)
    return OpGraph(
        names=names, op_types=op_types, modules=modules, flops=np.array(flops), mem_bytes=np.array(mem),
        out_bytes=np.array(outb), param_bytes=np.array(parb), edge_src=src, edge_dst=dst,
        layer=np.array(layer, dtype=np.int64), fx_names=fx_names,
        meta={"model": name, "unknown_ops": sorted(unknown)},
    )
