"""Option spaces: what a :class:`~learnedsys.decide.Choice` may return, and how each value maps to
an action (a tuple of ints) of the shared :class:`~learnedsys.policy.ActionSpace`.

- :class:`Categorical` — a list of values, unordered (``["lru", "lfu", "fifo"]``).
- :class:`IntRange` — integers ``low..high`` inclusive, optionally log-spaced.
- :class:`FloatRange` — a grid of ``steps`` floats between ``low`` and ``high``, optionally log-spaced.
- :class:`Structured` — several named sub-spaces chosen together; the value is a dict and the
  action has one int per name (a sequence of choices).

:func:`as_space` turns what users pass as ``options`` into one of these: a list or tuple becomes a
:class:`Categorical`, a :class:`range` an :class:`IntRange` (with its step), a dict a
:class:`Structured`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from learnedsys._validation import InvalidParameterError, check_bool, check_float, check_int
from learnedsys.policy import ActionSpace

__all__ = ["Categorical", "FloatRange", "IntRange", "OptionSpace", "Structured", "as_space"]


class OptionSpace:
    """Base class: a finite set of values, each one an action of :attr:`action_space`."""

    #: "categorical" (unordered), "int" or "float" (ordered); log for log-spaced ranges.
    kind: str = "categorical"
    log: bool = False

    @property
    def action_space(self) -> ActionSpace:
        return ActionSpace((len(self),))

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def values(self) -> list[Any]:
        """Every value, in action order (index i is action ``(i,)``)."""
        return [self.value(i) for i in range(len(self))]

    def value(self, index: int) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def index(self, value: Any) -> int:
        """The action index of ``value`` (the nearest grid point for ranges)."""
        vals = self.values()
        try:
            return vals.index(value)
        except ValueError:
            raise InvalidParameterError(
                f"{value!r} is not one of the options {self.describe()}"
            ) from None

    def describe(self) -> str:
        return repr(self)


class Categorical(OptionSpace):
    """An unordered list of values. Cost: O(1) per value lookup."""

    kind = "categorical"

    def __init__(self, options: Sequence[Any]) -> None:
        opts = list(options)
        if not opts:
            raise InvalidParameterError(
                "The 'options' parameter of Choice must be a non-empty list, a range, an IntRange, "
                "a FloatRange or a dict of those. Got an empty sequence instead."
            )
        self.options = opts
        self._index: dict[Any, int] | None = None

    def __len__(self) -> int:
        return len(self.options)

    def value(self, index: int) -> Any:
        return self.options[index]

    def values(self) -> list[Any]:
        return list(self.options)

    def index(self, value: Any) -> int:
        try:
            if self._index is None:
                self._index = {v: i for i, v in enumerate(self.options)}
            i = self._index.get(value)
        except TypeError:  # unhashable options: linear search
            i = None
            for j, v in enumerate(self.options):
                if v == value:
                    i = j
                    break
        if i is None:
            raise InvalidParameterError(f"{value!r} is not one of the options {self.options!r}")
        return i

    def __repr__(self) -> str:
        return f"Categorical({self.options!r})"


class _Grid(OptionSpace):
    """A numeric space over a precomputed sorted grid ``self._grid``; ``index`` snaps a value to
    the nearest grid point."""

    _grid: list[Any]

    def __len__(self) -> int:
        return len(self._grid)

    def value(self, index: int) -> Any:
        return self._grid[index]

    def values(self) -> list[Any]:
        return list(self._grid)

    def index(self, value: Any) -> int:
        return min(range(len(self._grid)), key=lambda i: abs(self._grid[i] - value))


class IntRange(_Grid):
    """Integers from ``low`` to ``high`` inclusive, every ``step`` (or log-spaced when ``log``).

    With ``log=True`` the grid holds the distinct rounded values of a geometric sequence with at
    most ``steps`` points (default: one per power of two, e.g. 16, 32, ..., 4096).
    """

    kind = "int"

    def __init__(self, low: int, high: int, step: int = 1, log: bool = False, steps: int | None = None) -> None:
        self.low = check_int(low, "low", "IntRange")
        self.high = check_int(high, "high", "IntRange", low=self.low)
        self.step = check_int(step, "step", "IntRange", low=1)
        self.log = check_bool(log, "log", "IntRange")
        if self.log:
            check_int(self.low, "low", "IntRange", low=1)
        self.steps = check_int(steps, "steps", "IntRange", low=2, none_ok=True)
        if self.log:
            n = self.steps or max(2, round(math.log2(self.high / self.low)) + 1)
            grid = sorted({round(self.low * (self.high / self.low) ** (i / (n - 1))) for i in range(n)})
            self._grid = grid if self.high > self.low else [self.low]
        else:
            self._grid = list(range(self.low, self.high + 1, self.step))

    def __repr__(self) -> str:
        return f"IntRange({self.low}, {self.high}, step={self.step}, log={self.log})"


class FloatRange(_Grid):
    """``steps`` floats from ``low`` to ``high`` inclusive, evenly (or log-) spaced.

    Policies choose among grid points; raise ``steps`` for a finer grid (more options to learn).
    """

    kind = "float"

    def __init__(self, low: float, high: float, steps: int = 32, log: bool = False) -> None:
        self.low = check_float(low, "low", "FloatRange")
        self.high = check_float(high, "high", "FloatRange", low=self.low)
        self.steps = check_int(steps, "steps", "FloatRange", low=1)
        self.log = check_bool(log, "log", "FloatRange")
        if self.log:
            check_float(self.low, "low", "FloatRange", low=0.0, closed="neither")
        n = self.steps
        if n == 1 or self.high == self.low:
            self._grid = [self.low]
        elif self.log:
            self._grid = [self.low * (self.high / self.low) ** (i / (n - 1)) for i in range(n)]
        else:
            self._grid = [self.low + (self.high - self.low) * i / (n - 1) for i in range(n)]

    def __repr__(self) -> str:
        return f"FloatRange({self.low}, {self.high}, steps={self.steps}, log={self.log})"


class Structured(OptionSpace):
    """Several named sub-spaces chosen together; the value is a dict ``name -> value``.

    The action is a sequence of ints, one per name, in the order of ``spaces``.
    """

    kind = "structured"

    def __init__(self, spaces: dict[str, Any]) -> None:
        if not isinstance(spaces, dict) or not spaces:
            raise InvalidParameterError(
                f"The 'spaces' parameter of Structured must be a non-empty dict. Got {spaces!r} instead."
            )
        self.names = list(spaces)
        self.spaces = [as_space(s) for s in spaces.values()]
        for name, s in zip(self.names, self.spaces, strict=True):
            if isinstance(s, Structured):
                raise InvalidParameterError(f"Structured spaces do not nest; {name!r} is structured.")

    @property
    def action_space(self) -> ActionSpace:
        return ActionSpace(tuple(len(s) for s in self.spaces))

    def __len__(self) -> int:
        return math.prod(len(s) for s in self.spaces)

    def decode(self, action: Sequence[int]) -> dict[str, Any]:
        return {n: s.value(a) for n, s, a in zip(self.names, self.spaces, action, strict=True)}

    def encode(self, value: dict[str, Any]) -> tuple[int, ...]:
        missing = [n for n in self.names if n not in value]
        if missing:
            raise InvalidParameterError(f"the value {value!r} lacks {missing[0]!r}")
        return tuple(s.index(value[n]) for n, s in zip(self.names, self.spaces, strict=True))

    def value(self, index: int) -> Any:
        raise TypeError("Structured values are decoded from a whole action: use decode(action)")

    def __repr__(self) -> str:
        inner = ", ".join(f"{n!r}: {s!r}" for n, s in zip(self.names, self.spaces, strict=True))
        return f"Structured({{{inner}}})"


def as_space(options: Any) -> OptionSpace:
    """Turn ``options`` (list, tuple, range, dict or an OptionSpace) into an :class:`OptionSpace`."""
    if isinstance(options, OptionSpace):
        return options
    if isinstance(options, range):
        if len(options) == 0:
            raise InvalidParameterError(f"The 'options' parameter of Choice must not be an empty range. Got {options!r} instead.")
        if options.step < 0:
            return Categorical(list(options))
        return IntRange(options.start, options[-1], step=options.step)
    if isinstance(options, dict):
        return Structured(options)
    if isinstance(options, (list, tuple)):
        return Categorical(options)
    raise InvalidParameterError(
        "The 'options' parameter of Choice must be a non-empty list, a range, an IntRange, a "
        f"FloatRange or a dict of those. Got {options!r} (type {type(options).__name__}) instead."
    )
