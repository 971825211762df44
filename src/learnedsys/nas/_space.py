"""Declarative search spaces: categorical / integer / float choices, conditions, repeated blocks.

A :class:`Space` is a flat, ordered list of *slots*; each slot is one choice with a finite number
of options, so an architecture encodes to a tuple of ints (one per slot) and every strategy is a
:class:`learnedsys.policy.Policy` over ``space.action_space``. A slot may be *conditional*: it is
active only when earlier slots hold given values (a kernel size only for a convolution, the width
of layer 3 only when there are at least 3 layers). Inactive slots are encoded as 0, so one
architecture has exactly one canonical encoding (:meth:`Space.canonical`).

>>> from learnedsys.nas import Space, Int, OneOf, Repeat
>>> s = Space("toy", [Int("depth", 1, 3), Repeat("layer", "depth", [OneOf("width", [8, 16])])])
>>> s.action_space.sizes
(3, 2, 2, 2)
>>> s.decode((1, 1, 0, 1))
{'depth': 2, 'layer0.width': 16, 'layer1.width': 8}
>>> s.canonical((1, 1, 0, 1))
(1, 1, 0, 0)
>>> s.size()
14
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from learnedsys._validation import InvalidParameterError, check_int
from learnedsys.policy import ActionSpace

__all__ = [
    "Float",
    "Int",
    "OneOf",
    "Repeat",
    "Slot",
    "Space",
    "cell_space",
    "cnn_space",
    "get_space",
    "image_space",
    "mlp_space",
    "tabular_mlp_space",
]

Condition = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Slot:
    """One encoded choice: a name, its options and the condition under which it is active."""

    name: str
    options: tuple[Any, ...]
    condition: Condition | None = field(default=None, compare=False)

    def active(self, values: dict[str, Any]) -> bool:
        return self.condition is None or bool(self.condition(values))


def _when(when: dict[str, Sequence[Any]] | None) -> Condition | None:
    if not when:
        return None
    allowed = {k: tuple(v) for k, v in when.items()}

    def cond(values: dict[str, Any]) -> bool:
        return all(k in values and values[k] in ok for k, ok in allowed.items())

    return cond


def _and(a: Condition | None, b: Condition | None) -> Condition | None:
    if a is None:
        return b
    if b is None:
        return a
    return lambda v: a(v) and b(v)


class OneOf:
    """A choice among ``options`` (any JSON values). ``when={"op": ["conv"]}`` makes it conditional."""

    def __init__(self, name: str, options: Sequence[Any], when: dict[str, Sequence[Any]] | None = None):
        if not isinstance(name, str) or not name:
            raise InvalidParameterError(f"The 'name' parameter of OneOf must be a non-empty str. Got {name!r} instead.")
        if len(options) < 1:
            raise InvalidParameterError(f"The 'options' parameter of OneOf {name!r} must hold at least 1 option. Got {list(options)!r} instead.")
        self.name, self.options, self.when = name, tuple(options), when

    def slots(self, prefix: str = "", cond: Condition | None = None) -> list[Slot]:
        return [Slot(prefix + self.name, self.options, _and(cond, _when(_prefixed(self.when, prefix))))]


class Int(OneOf):
    """An integer in ``[low, high]`` (every ``step``-th value), one option per value."""

    def __init__(self, name: str, low: int, high: int, step: int = 1, when: dict[str, Sequence[Any]] | None = None):
        low = check_int(low, "low", f"Int {name!r}")
        high = check_int(high, "high", f"Int {name!r}", low=low)
        step = check_int(step, "step", f"Int {name!r}", low=1)
        super().__init__(name, list(range(low, high + 1, step)), when)


class Float(OneOf):
    """A real in ``[low, high]`` discretised to ``n`` grid points (geometric when ``log``)."""

    def __init__(self, name: str, low: float, high: float, n: int = 8, log: bool = False,
                 when: dict[str, Sequence[Any]] | None = None):
        n = check_int(n, "n", f"Float {name!r}", low=1)
        if not (math.isfinite(low) and math.isfinite(high)) or high < low or (log and low <= 0):
            raise InvalidParameterError(
                f"The 'low'/'high' parameters of Float {name!r} must satisfy {'0 < ' if log else ''}low <= high. Got low={low!r}, high={high!r} instead.")
        grid = np.geomspace(low, high, n) if log else np.linspace(low, high, n)
        super().__init__(name, [float(f"{g:.6g}") for g in grid], when)


class Repeat:
    """A block of choices repeated ``max`` times; copy i is active while ``count`` > i.

    ``count`` names an :class:`Int` slot defined before the block (the number of layers); the
    copies are named ``"{name}{i}.{child}"``.
    """

    def __init__(self, name: str, count: str, block: Sequence[OneOf | Repeat], max: int | None = None):
        self.name, self.count, self.block, self.max = name, count, list(block), max

    def slots(self, prefix: str, cond: Condition | None, known: dict[str, Slot]) -> list[Slot]:
        count_name = prefix + self.count
        if count_name not in known:
            raise InvalidParameterError(
                f"The 'count' parameter of Repeat {self.name!r} must name a slot defined before it. Got {self.count!r} instead.")
        top = self.max if self.max is not None else max(int(o) for o in known[count_name].options)
        out: list[Slot] = []
        for i in range(top):
            c = _and(cond, _more_than(count_name, i))
            out += _expand(self.block, f"{prefix}{self.name}{i}.", c, {**known, **{s.name: s for s in out}})
        return out


def _more_than(name: str, i: int) -> Condition:
    def cond(values: dict[str, Any]) -> bool:
        return bool(values.get(name, 0) > i)

    return cond


def _prefixed(when: dict[str, Sequence[Any]] | None, prefix: str) -> dict[str, Sequence[Any]] | None:
    if not when:
        return None
    # a condition names a sibling in the same block first, else a global slot
    return {(prefix + k if prefix else k): v for k, v in when.items()}


def _expand(items: Sequence[OneOf | Repeat], prefix: str, cond: Condition | None,
            known: dict[str, Slot]) -> list[Slot]:
    out: list[Slot] = []
    for it in items:
        if isinstance(it, Repeat):
            new = it.slots(prefix, cond, {**known, **{s.name: s for s in out}})
        else:
            new = it.slots(prefix, cond)
        out += new
    return out


class Space:
    """A search space: an ordered list of choices that an architecture fixes one by one.

    Args:
        family: which model builder turns a decoded architecture into a network
            (``"mlp"``, ``"cnn"``, ``"cell"``).
        items: :class:`OneOf` / :class:`Int` / :class:`Float` / :class:`Repeat` items.
        name: the space's name (defaults to ``family``).
        defaults: hand-built architectures (decoded form; a float may be given approximately and
            maps to the nearest option) that a search tries first, the way a tuner tries the
            program's defaults: the heuristic that the search must beat, and a safety net when
            the budget allows only a few trials.

    Cost: encoding, decoding and checking an architecture are O(number of slots).
    """

    def __init__(self, family: str, items: Sequence[OneOf | Repeat], name: str | None = None,
                 defaults: Sequence[dict[str, Any]] = ()):
        self.family = family
        self.name = name or family
        self.defaults = [dict(d) for d in defaults]
        self.slots: tuple[Slot, ...] = tuple(_expand(items, "", None, {}))
        names = [s.name for s in self.slots]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise InvalidParameterError(f"Space {self.name!r} defines slot names more than once: {sorted(dup)}")
        self.action_space = ActionSpace(tuple(len(s.options) for s in self.slots))
        for d in self.defaults:
            self.encode(self._nearest(d))  # a bad default fails here, at definition

    def _nearest(self, arch: dict[str, Any]) -> dict[str, Any]:
        out = dict(arch)
        for s in self.slots:
            v = out.get(s.name)
            if isinstance(v, float) and s.options and all(isinstance(o, float) for o in s.options):
                out[s.name] = min(s.options, key=lambda o: abs(math.log(o / v)) if o > 0 and v > 0 else abs(o - v))
        return out

    def default_actions(self) -> list[tuple[int, ...]]:
        """The encoded ``defaults`` (see the class docstring), in order."""
        return [self.encode(self._nearest(d)) for d in self.defaults]

    def __len__(self) -> int:
        return len(self.slots)

    def __repr__(self) -> str:
        return f"Space({self.name!r}, family={self.family!r}, slots={len(self.slots)})"

    def _check(self, action: Sequence[int]) -> tuple[int, ...]:
        a = tuple(int(x) for x in action)
        if len(a) != len(self.slots):
            raise InvalidParameterError(f"An architecture of space {self.name!r} must have {len(self.slots)} ints. Got {len(a)} instead.")
        for i, (x, s) in enumerate(zip(a, self.slots, strict=True)):
            if not 0 <= x < len(s.options):
                raise InvalidParameterError(
                    f"An architecture of space {self.name!r} must have action[{i}] ({s.name}) in [0, {len(s.options)}). Got {x} instead.")
        return a

    def active_mask(self, action: Sequence[int]) -> tuple[bool, ...]:
        """Which slots the architecture ``action`` actually uses."""
        a = self._check(action)
        values: dict[str, Any] = {}
        mask = []
        for x, s in zip(a, self.slots, strict=True):
            on = s.active(values)
            mask.append(on)
            if on:
                values[s.name] = s.options[x]
        return tuple(mask)

    def decode(self, action: Sequence[int]) -> dict[str, Any]:
        """The architecture as ``{slot name: value}`` over its active slots."""
        a = self._check(action)
        values: dict[str, Any] = {}
        for x, s in zip(a, self.slots, strict=True):
            if s.active(values):
                values[s.name] = s.options[x]
        return values

    def encode(self, arch: dict[str, Any]) -> tuple[int, ...]:
        """The canonical tuple of ints of a decoded architecture (inverse of :meth:`decode`)."""
        values: dict[str, Any] = {}
        out = []
        for s in self.slots:
            if s.active(values):
                if s.name not in arch:
                    raise InvalidParameterError(f"The architecture lacks slot {s.name!r} of space {self.name!r}.")
                try:
                    i = s.options.index(arch[s.name])
                except ValueError:
                    raise InvalidParameterError(
                        f"Slot {s.name!r} of space {self.name!r} must be one of {list(s.options)!r}. Got {arch[s.name]!r} instead.") from None
                values[s.name] = s.options[i]
                out.append(i)
            else:
                out.append(0)
        return tuple(out)

    def canonical(self, action: Sequence[int]) -> tuple[int, ...]:
        """``action`` with every inactive slot set to 0."""
        a = self._check(action)
        return tuple(x if on else 0 for x, on in zip(a, self.active_mask(a), strict=True))

    def sample(self, rng: np.random.Generator) -> tuple[int, ...]:
        """A uniformly random canonical encoding (uniform per slot, not over architectures)."""
        return self.canonical(tuple(int(rng.integers(n)) for n in self.action_space.sizes))

    def mutate(self, action: Sequence[int], rng: np.random.Generator) -> tuple[int, ...]:
        """Change one active slot with at least 2 options to another value (Real et al.'s mutation)."""
        a = list(self._check(action))
        mask = self.active_mask(a)
        cand = [i for i, on in enumerate(mask) if on and len(self.slots[i].options) > 1]
        if not cand:
            return tuple(a)
        i = cand[int(rng.integers(len(cand)))]
        n = len(self.slots[i].options)
        a[i] = (a[i] + 1 + int(rng.integers(n - 1))) % n
        # a slot that becomes active takes a random value, as if freshly sampled
        new_mask = self.active_mask(a)
        for j, (was, now) in enumerate(zip(mask, new_mask, strict=True)):
            if now and not was:
                a[j] = int(rng.integers(len(self.slots[j].options)))
        return self.canonical(a)

    def enumerate(self) -> Iterator[tuple[int, ...]]:
        """Every architecture once, as canonical encodings. Cost: O(size x slots)."""
        def rec(i: int, values: dict[str, Any], prefix: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
            if i == len(self.slots):
                yield prefix
                return
            s = self.slots[i]
            if not s.active(values):
                yield from rec(i + 1, values, (*prefix, 0))
                return
            for j, o in enumerate(s.options):
                yield from rec(i + 1, {**values, s.name: o}, (*prefix, j))
        yield from rec(0, {}, ())

    def size(self) -> int:
        """Number of distinct architectures (by enumeration; use on small spaces only)."""
        return sum(1 for _ in self.enumerate())

    def describe(self) -> list[dict[str, Any]]:
        """The slots as JSON (names and options), for reports and storage."""
        return [{"name": s.name, "options": list(s.options), "conditional": s.condition is not None} for s in self.slots]


# --- built-in spaces -------------------------------------------------------------------------

_ACTS = ["relu", "tanh", "gelu", "elu"]


def mlp_space(max_layers: int = 4) -> Space:
    """Multi-layer perceptrons: depth, width per layer, activation, dropout, normalisation, lr."""
    return Space("mlp", [
        Int("n_layers", 1, max_layers),
        Repeat("layer", "n_layers", [OneOf("width", [32, 64, 128, 256, 512])]),
        OneOf("activation", _ACTS),
        OneOf("dropout", [0.0, 0.1, 0.2, 0.4]),
        OneOf("norm", ["none", "batch", "layer"]),
        Float("lr", 1e-3, 1e-2, n=4, log=True),
    ], defaults=[{"n_layers": 2, "layer0.width": 256, "layer1.width": 256, "activation": "relu", "dropout": 0.1,
                  "norm": "batch", "lr": 2e-3}] if max_layers >= 2 else [])


def cnn_space(max_layers: int = 4) -> Space:
    """CNN macro space: conv layers (channels, kernel, pooling, skip connection), head, lr."""
    return Space("cnn", [
        Int("n_layers", 1, max_layers),
        Repeat("layer", "n_layers", [
            OneOf("channels", [16, 32, 64]),
            OneOf("kernel", [3, 5]),
            OneOf("pool", ["none", "max"]),
            OneOf("skip", [False, True]),
        ]),
        OneOf("activation", ["relu", "gelu"]),
        OneOf("batchnorm", [False, True]),
        OneOf("head", [0, 64, 128]),
        OneOf("dropout", [0.0, 0.2]),
        Float("lr", 1e-3, 1e-2, n=3, log=True),
    ], defaults=[{  # the usual small hand-built CNN: conv 32 + pool, conv 64 + pool, conv 64, dense 128
        "n_layers": 3, "layer0.channels": 32, "layer0.kernel": 3, "layer0.pool": "max", "layer0.skip": False,
        "layer1.channels": 64, "layer1.kernel": 3, "layer1.pool": "max", "layer1.skip": False,
        "layer2.channels": 64, "layer2.kernel": 3, "layer2.pool": "none", "layer2.skip": False,
        "activation": "relu", "batchnorm": True, "head": 128, "dropout": 0.2, "lr": 3e-3}] if max_layers >= 3 else [])


#: The hand-built CNN a search of :func:`image_space` starts from and must beat: two 3x3
#: convolutions with batch norm, each followed by 2x2 max pooling, dropout, one dense layer of
#: 128; AdamW with a one-cycle schedule; random shifts of up to 2 pixels.
HAND_BUILT_IMAGE = {
    "stem_stride": 1, "width": 32, "stages": 2, "depth": 1, "kernel": 3, "batchnorm": True,
    "head": "flatten", "dense": 128, "dropout": 0.25, "shift": 2, "lr": 0.004,
}


def image_space() -> Space:
    """Convolutional networks whose shape follows the image size (family ``convnet``).

    A stem convolution (stride 1, or 2 to shrink large images early), then ``stages`` stages of
    ``depth`` convolutions each followed by 2x2 max pooling (skipped once the feature map is 3
    pixels or less), with ``width`` channels doubling per stage (the width multiplier); batch
    norm or not; a head that flattens the last map (average-pooled to at most 6x6, so big images
    do not blow up the dense layer) or averages it globally; an optional dense layer; dropout.
    Training choices are in the space too: random shifts of 0-2 pixels (augmentation) and the
    peak learning rate of AdamW's one-cycle schedule. The first architecture tried is
    :data:`HAND_BUILT_IMAGE`.
    """
    return Space("convnet", [
        OneOf("stem_stride", [1, 2]),
        OneOf("width", [16, 24, 32, 48]),
        Int("stages", 2, 3),
        OneOf("depth", [1, 2]),
        OneOf("kernel", [3, 5]),
        OneOf("batchnorm", [True, False]),
        OneOf("head", ["flatten", "avg"]),
        OneOf("dense", [0, 128, 256]),
        OneOf("dropout", [0.0, 0.25, 0.5]),
        OneOf("shift", [0, 1, 2]),
        OneOf("lr", [0.001, 0.002, 0.004, 0.008]),
    ], name="image", defaults=[HAND_BUILT_IMAGE])


CELL_OPS = ["identity", "conv3", "conv5", "sep3", "maxpool", "avgpool", "zero"]


def cell_space(n_nodes: int = 4) -> Space:
    """NASNet-like cell: a DAG of ``n_nodes`` nodes; node i sums two ops on two earlier nodes.

    Node inputs are 0 (cell input) .. i (the previous nodes); the cell output sums the nodes no
    other node consumes. The cell is stacked ``n_cells`` times after a stem convolution.
    """
    items: list[OneOf | Repeat] = []
    for i in range(n_nodes):
        for side in ("a", "b"):
            items.append(OneOf(f"node{i}.in_{side}", list(range(i + 1))))
            items.append(OneOf(f"node{i}.op_{side}", CELL_OPS))
    items += [Int("n_cells", 1, 3), OneOf("channels", [16, 32, 48]), Float("lr", 1e-3, 1e-2, n=3, log=True)]
    return Space("cell", items)


def tabular_mlp_space() -> Space:
    """The small MLP space the shipped tabular benchmark trains exhaustively (1404 architectures)."""
    return Space("mlp", [
        Int("n_layers", 1, 3),
        Repeat("layer", "n_layers", [OneOf("width", [8, 32, 128])]),
        OneOf("activation", ["relu", "tanh", "sigmoid"]),
        OneOf("dropout", [0.0, 0.3]),
        OneOf("norm", ["none", "batch"]),
        OneOf("lr", [0.0003, 0.003, 0.03]),
    ], name="tabular-mlp")


_BUILTIN: dict[str, Callable[[], Space]] = {
    "mlp": mlp_space, "cnn": cnn_space, "cell": cell_space, "tabular-mlp": tabular_mlp_space, "image": image_space,
}


def get_space(name: str) -> Space:
    """A built-in space by name: ``image``, ``mlp``, ``cnn``, ``cell`` or ``tabular-mlp``."""
    if name not in _BUILTIN:
        raise InvalidParameterError(
            f"The 'space' parameter must be one of {{{', '.join(repr(k) for k in _BUILTIN)}}}. Got {name!r} instead.")
    return _BUILTIN[name]()

