"""PyTorch networks for the built-in space families (``mlp``, ``cnn``, ``cell``).

Torch is imported at first use (:func:`learnedsys._lazy.require`), never at package import.
"""

from __future__ import annotations

from typing import Any

from learnedsys._lazy import require
from learnedsys._validation import InvalidParameterError

__all__ = ["build_model", "count_parameters"]


def _torch() -> Any:
    return require("torch", extra="torch", purpose="training child models")


def _act(name: str) -> Any:
    nn = _torch().nn
    return {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "elu": nn.ELU, "sigmoid": nn.Sigmoid}[name]()


def build_model(family: str, arch: dict[str, Any], shape: tuple[int, ...], n_classes: int) -> Any:
    """The ``torch.nn.Module`` for a decoded architecture of a space of ``family``.

    Args:
        family: ``"mlp"`` (any input, flattened), ``"cnn"`` or ``"cell"`` (images ``(C, H, W)``).
        arch: the decoded architecture (:meth:`Space.decode`).
        shape: per-sample input shape.
        n_classes: number of outputs.
    """
    if family == "mlp":
        return _mlp(arch, shape, n_classes)
    if family in ("cnn", "cell", "convnet"):
        if len(shape) != 3:
            raise InvalidParameterError(
                f"The {family!r} space needs images of shape (C, H, W); the data have samples of shape {tuple(shape)}. Use --space mlp.")
        if family == "convnet":
            return _convnet(arch, shape, n_classes)
        return _cnn(arch, shape, n_classes) if family == "cnn" else _cell_net(arch, shape, n_classes)
    raise InvalidParameterError(f"The 'family' parameter of build_model must be one of {{'mlp', 'cnn', 'cell', 'convnet'}}. Got {family!r} instead.")


def _convnet(arch: dict[str, Any], shape: tuple[int, ...], n_classes: int) -> Any:
    """The network of an :func:`~learnedsys.nas.image_space` architecture (see its docstring)."""
    nn = _torch().nn
    bn = bool(arch["batchnorm"])
    k = int(arch["kernel"])
    c, h, w = (int(s) for s in shape)
    layers: list[Any] = []

    def conv(cin: int, cout: int, stride: int = 1) -> None:
        layers.append(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=not bn))
        if bn:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU())

    width = int(arch["width"])
    stride = int(arch["stem_stride"]) if min(h, w) >= 16 else 1
    conv(c, width, stride)
    h, w = (h + stride - 1) // stride, (w + stride - 1) // stride
    c = width
    for st in range(int(arch["stages"])):
        cout = width * 2 ** st
        for d in range(int(arch["depth"])):
            if st == 0 and d == 0:
                continue  # the stem is the first convolution of stage 0
            conv(c, cout)
            c = cout
        if min(h, w) > 3:
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
            h, w = (h + 1) // 2, (w + 1) // 2
    if arch["head"] == "flatten":
        oh, ow = min(h, 6), min(w, 6)
        if (oh, ow) != (h, w):
            layers.append(nn.AdaptiveAvgPool2d((oh, ow)))
        layers.append(nn.Flatten())
        d_in = c * oh * ow
    else:
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        d_in = c
    p = float(arch.get("dropout", 0.0))
    if p > 0:
        layers.append(nn.Dropout(p))
    if int(arch["dense"]) > 0:
        layers += [nn.Linear(d_in, int(arch["dense"])), nn.ReLU()]
        d_in = int(arch["dense"])
        if p > 0:
            layers.append(nn.Dropout(p))
    layers.append(nn.Linear(d_in, n_classes))
    return nn.Sequential(*layers)


def _mlp(arch: dict[str, Any], shape: tuple[int, ...], n_classes: int) -> Any:
    nn = _torch().nn
    d = 1
    for s in shape:
        d *= int(s)
    layers: list[Any] = [nn.Flatten()]
    for i in range(int(arch["n_layers"])):
        w = int(arch[f"layer{i}.width"])
        layers.append(nn.Linear(d, w))
        norm = arch.get("norm", "none")
        if norm == "batch":
            layers.append(nn.BatchNorm1d(w))
        elif norm == "layer":
            layers.append(nn.LayerNorm(w))
        layers.append(_act(arch.get("activation", "relu")))
        if float(arch.get("dropout", 0.0)) > 0:
            layers.append(nn.Dropout(float(arch["dropout"])))
        d = w
    layers.append(nn.Linear(d, n_classes))
    return nn.Sequential(*layers)


def _cnn(arch: dict[str, Any], shape: tuple[int, ...], n_classes: int) -> Any:
    torch = _torch()
    nn = torch.nn

    class Block(nn.Module):  # type: ignore[name-defined]
        def __init__(self, cin: int, cout: int, k: int, bn: bool, act: str, skip: bool, pool: bool):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=not bn)
            self.bn = nn.BatchNorm2d(cout) if bn else nn.Identity()
            self.act = _act(act)
            self.proj = (nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)) if skip else None
            self.pool = nn.MaxPool2d(2, ceil_mode=True) if pool else nn.Identity()

        def forward(self, x: Any) -> Any:
            y = self.act(self.bn(self.conv(x)))
            if self.proj is not None:
                y = y + self.proj(x)
            return self.pool(y)

    c, h, w = shape
    blocks = []
    for i in range(int(arch["n_layers"])):
        cout = int(arch[f"layer{i}.channels"])
        pool = arch[f"layer{i}.pool"] == "max" and min(h, w) > 1
        blocks.append(Block(c, cout, int(arch[f"layer{i}.kernel"]), bool(arch["batchnorm"]),
                            arch["activation"], bool(arch[f"layer{i}.skip"]), pool))
        if pool:
            h, w = (h + 1) // 2, (w + 1) // 2
        c = cout
    head: list[Any] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if int(arch["head"]) > 0:
        head += [nn.Linear(c, int(arch["head"])), _act(arch["activation"])]
        c = int(arch["head"])
    if float(arch.get("dropout", 0.0)) > 0:
        head.append(nn.Dropout(float(arch["dropout"])))
    head.append(nn.Linear(c, n_classes))
    return nn.Sequential(*blocks, *head)


def _cell_net(arch: dict[str, Any], shape: tuple[int, ...], n_classes: int) -> Any:
    torch = _torch()
    nn = torch.nn
    n_nodes = sum(1 for k in arch if k.endswith(".op_a"))
    C = int(arch["channels"])

    def op(name: str) -> Any:
        if name == "identity":
            return nn.Identity()
        if name in ("conv3", "conv5"):
            k = 3 if name == "conv3" else 5
            return nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, k, padding=k // 2, bias=False), nn.BatchNorm2d(C))
        if name == "sep3":
            return nn.Sequential(nn.ReLU(), nn.Conv2d(C, C, 3, padding=1, groups=C, bias=False),
                                 nn.Conv2d(C, C, 1, bias=False), nn.BatchNorm2d(C))
        if name == "maxpool":
            return nn.MaxPool2d(3, stride=1, padding=1)
        if name == "avgpool":
            return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        if name == "zero":
            return None
        raise InvalidParameterError(f"unknown cell operation {name!r}")

    class Cell(nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.ins = [(int(arch[f"node{i}.in_a"]), int(arch[f"node{i}.in_b"])) for i in range(n_nodes)]
            ops = []
            for i in range(n_nodes):
                for side in ("a", "b"):
                    o = op(arch[f"node{i}.op_{side}"])
                    ops.append(o if o is not None else nn.Identity())
            self.ops = nn.ModuleList(ops)
            self.zero = [arch[f"node{i}.op_{s}"] == "zero" for i in range(n_nodes) for s in ("a", "b")]
            used = {j for pair in self.ins for j in pair}
            self.out_nodes = [i + 1 for i in range(n_nodes) if i + 1 not in used] or [n_nodes]

        def forward(self, x: Any) -> Any:
            states = [x]
            for i, (a, b) in enumerate(self.ins):
                s = torch.zeros_like(x)
                if not self.zero[2 * i]:
                    s = s + self.ops[2 * i](states[a])
                if not self.zero[2 * i + 1]:
                    s = s + self.ops[2 * i + 1](states[b])
                states.append(s)
            return sum(states[j] for j in self.out_nodes) + x  # residual keeps all-zero cells trainable

    stem = nn.Sequential(nn.Conv2d(shape[0], C, 3, padding=1, bias=False), nn.BatchNorm2d(C), nn.ReLU())
    cells = [Cell() for _ in range(int(arch["n_cells"]))]
    return nn.Sequential(stem, *cells, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(C, n_classes))


def count_parameters(model: Any) -> int:
    """Number of trainable parameters of a torch module."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
