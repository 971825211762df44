"""The recursive model index (RMI): a two-stage model of the keys' cumulative distribution.

Kraska et al., "The Case for Learned Index Structures" (SIGMOD 2018). A root model routes a key to
one of ``n_leaves`` linear leaf models; the leaf predicts the key's position, and a search within
the leaf's stored error bounds finds it exactly.
"""

from __future__ import annotations

import itertools
import math
import os
import time
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from learnedsys import _serialization
from learnedsys._estimator import Estimator, NotFittedError
from learnedsys._validation import (
    InvalidParameterError,
    check_bool,
    check_choice,
    check_int,
    check_seed,
)
from learnedsys.index import _kernels as K

__all__ = ["RMI", "load_rmi", "prepare_keys", "prepare_queries"]

ROOTS = {
    "linear": K.ROOT_LINEAR,
    "cubic": K.ROOT_CUBIC,
    "spline": K.ROOT_SPLINE,
    "grid": K.ROOT_GRID,
    "loggrid": K.ROOT_LOGGRID,
    "nn": K.ROOT_NN,
}
_MONOTONE_ROOTS = ("linear", "spline", "grid", "loggrid")
_ROOT_NAMES = {v: k for k, v in ROOTS.items()}
SUPPORTED_DTYPES = tuple(
    np.dtype(t) for t in ("uint64", "int64", "float64", "uint32", "int32", "float32")
)
_KIND = "learnedsys.index.RMI"
_KIND_VERSION = 2
_SAMPLE = 1 << 18  # keys the auto-configuration looks at
_SPEED_CAP = 1 << 20  # default size budget for target="speed" with config="estimate"
_MEASURE_CAP = 4 << 20  # with config="measure": timing, not the cache model, judges bigger models
_MEASURE_MIN_KEYS = 1 << 18  # below this the estimate is as good as a noisy timing
_MEASURE_CANDIDATES = 4
_MEASURE_QUERIES = 1 << 14
_MEASURE_ROUNDS = 3  # interleaved rounds over the shortlist's forms (the best of them kept)
_GRID_LEAVES_PER_STEP = 4  # a grid root has one step per this many leaves
_SPLINE_MAX_KNOTS = 2048
_SPLINE_LEAVES_PER_KNOT = 16
_SPLINE_EPS = (8, 16, 32, 64, 128)  # error bounds tried for spline leaves, tightest first
_KNOT_BYTES = 16  # one (x, y) knot of a spline leaf
# below this many distinct keys the keys and any model stay in cache, where a spline leaf's knot
# search costs as much as the longer window it saves (and its kernels' compile is not paid)
_SPLINE_MIN_KEYS = 1 << 14
_META_BYTES = 64  # scalars beside the arrays: n, dtype, root kind, leaf count, flags


def prepare_keys(keys: Any, owner: str = "RMI") -> np.ndarray:
    """Validate sorted keys; return them as a contiguous array of a supported dtype (no copy when
    they already are one)."""
    if isinstance(keys, (str, bytes)) or keys is None:
        raise InvalidParameterError(
            f"The 'keys' parameter of {owner} must be a sorted 1-D numpy array. Got {type(keys).__name__} instead."
        )
    arr = np.asarray(keys)
    if arr.size == 0 and arr.dtype == np.float64 and not isinstance(keys, np.ndarray):
        arr = arr.astype(np.uint64)  # an empty list: any dtype will do
    if arr.ndim != 1:
        raise InvalidParameterError(
            f"The 'keys' parameter of {owner} must be a 1-D array. Got an array of shape {arr.shape} instead."
        )
    if arr.dtype not in SUPPORTED_DTYPES:
        names = ", ".join(str(d) for d in SUPPORTED_DTYPES)
        raise InvalidParameterError(
            f"The 'keys' parameter of {owner} must have one of the dtypes {names}. Got dtype {arr.dtype} instead."
        )
    arr = np.ascontiguousarray(arr)
    if arr.dtype.kind == "f":
        i = int(K.first_nan(arr))
        if i >= 0:
            raise ValueError(f"keys must not contain NaN; keys[{i}] is NaN")
    i = int(K.is_sorted_first_violation(arr))
    if i >= 0:
        raise ValueError(
            f"keys must be sorted ascending; keys[{i}] > keys[{i + 1}] ({arr[i]!r} > {arr[i + 1]!r})"
        )
    return arr


def prepare_queries(
    queries: Any, key_dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, bool]:
    """Turn queries into an array the kernels can compare exactly with keys of ``key_dtype``.

    Returns (queries, below, above, scalar): ``below`` / ``above`` mark integer queries outside
    the key dtype's range (their answers are 0 and n), ``scalar`` whether one value came.
    """
    scalar = np.ndim(queries) == 0
    exact = _python_ints(queries)
    if exact is not None:
        return _prepare_python_ints(exact, key_dtype, scalar)
    q = np.asarray(queries)
    if q.dtype.kind not in "iuf" or q.dtype == np.float16:
        if q.dtype.kind == "b":
            raise TypeError(f"queries must be numbers, not booleans (dtype {q.dtype})")
        raise TypeError(
            f"queries must be numbers comparable with keys of dtype {key_dtype}; got dtype {q.dtype}"
        )
    q = q.reshape(-1)
    below = above = None
    if key_dtype.kind == "f":
        q = q.astype(np.float64, copy=False)  # a float32 key compares exactly with a float64
        if q.size and np.isnan(q).any():
            raise ValueError(f"queries must not contain NaN; queries[{int(np.flatnonzero(np.isnan(q))[0])}] is NaN")
        return np.ascontiguousarray(q), None, None, scalar
    if q.dtype.kind == "f":
        raise TypeError(
            f"queries of dtype {q.dtype} are incompatible with keys of dtype {key_dtype}; "
            f"cast them to an integer dtype explicitly (e.g. np.ceil(q).astype(np.{key_dtype}))"
        )
    if q.dtype == key_dtype or np.can_cast(q.dtype, key_dtype, casting="safe"):
        return np.ascontiguousarray(q.astype(key_dtype, copy=False)), None, None, scalar
    info = np.iinfo(key_dtype)
    if q.dtype.kind == "i":
        below = q < 0 if key_dtype.kind == "u" else q < np.int64(info.min)
        if key_dtype.kind == "u" and key_dtype.itemsize == 8:
            above = np.zeros(q.shape, dtype=bool)
        else:
            above = q > np.int64(info.max)
    else:  # unsigned queries, signed or narrower keys
        below = np.zeros(q.shape, dtype=bool)
        above = q > np.uint64(info.max)
    out = np.empty(q.shape, dtype=key_dtype)
    inside = ~(below | above)
    out[inside] = q[inside].astype(key_dtype)
    out[below] = info.min
    out[above] = info.max
    return out, below, above, scalar


def _python_ints(queries: Any) -> list[int] | None:
    """The values as Python ints when ``queries`` is a Python int or a list/tuple (or object
    array) of them: numpy would read ``[5, 2**64 - 1]`` as floats and ``2**64`` as an object."""
    if isinstance(queries, int) and not isinstance(queries, bool):
        return [queries]
    if isinstance(queries, np.ndarray):
        if queries.dtype != object:
            return None
        flat = queries.reshape(-1).tolist()
    elif isinstance(queries, (list, tuple)):
        try:
            flat = np.asarray(queries, dtype=object).reshape(-1).tolist()
        except ValueError:
            return None
    else:
        return None
    if not flat or not all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in flat):
        return None
    return [int(v) for v in flat]


def _prepare_python_ints(
    vals: list[int], key_dtype: np.dtype, scalar: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, bool]:
    if key_dtype.kind == "f":
        fmax = float(np.finfo(np.float64).max)
        out = np.array([float(v) if abs(v) <= fmax else math.copysign(math.inf, v) for v in vals], dtype=np.float64)
        return out, None, None, scalar
    info = np.iinfo(key_dtype)
    lo, hi = int(info.min), int(info.max)
    below = np.fromiter((v < lo for v in vals), dtype=bool, count=len(vals))
    above = np.fromiter((v > hi for v in vals), dtype=bool, count=len(vals))
    out = np.array([min(max(v, lo), hi) for v in vals], dtype=key_dtype)
    return out, below, above, scalar


def _lazy_entry(owner: Any, q0: Any) -> Any:
    """A stand-in for the per-key entry point: compiles it on first use (once per process and
    key dtype, or loads numba's cache), installs it on the index and answers."""

    def first(kind: int, model: np.ndarray, keys: np.ndarray, q: Any, op: int) -> Any:
        import numba

        args = (kind, model, keys, q0, 0)
        K.scalar_op(*args)
        cres = K.scalar_op.overloads.get(tuple(numba.typeof(a) for a in args))
        entry = getattr(cres, "entry_point", None) or K.scalar_op
        index = owner()
        if index is not None:
            index._entry = entry
            index._pk = (entry, *index._pk[1:])
        return entry(kind, model, keys, q, op)

    return first


@dataclass(frozen=True)
class _Candidate:
    root: str
    n_leaves: int
    est_ns: float
    size: int


class RMI(Estimator):
    """A two-stage recursive model index over sorted keys.

    ``lower_bound`` returns exactly ``np.searchsorted(keys, queries, "left")`` for any queries; the
    models only decide where the search starts. Lookup cost is one root evaluation, one leaf row
    read and a binary search over the leaf's error window, about ``log2(window)`` steps; the
    index takes ``32 * n_leaves`` bytes plus the root's parameters (the keys themselves are the
    user's array, held by reference and not counted).

    Args:
        root: root model: "linear", "cubic", "spline" (piecewise linear through key quantiles),
            "grid" / "loggrid" (the CDF on equal steps of x or log x: a radix table, O(1) to
            evaluate), "nn" (a small ReLU network), or "auto" (pick per data among all but "nn").
        n_leaves: number of leaf models, or "auto" (pick per data within ``max_bytes``).
        target: what auto-configuration optimises: "speed" (fastest within ``max_bytes``) or
            "space" (smallest whose estimated lookup time is within 1.5x of the fastest).
        max_bytes: size budget of the index; default 1% of the key array but at most 4 MiB for
            "speed" with config="measure" (1 MiB with "estimate": an index that stays in cache
            is often faster than a bigger one), min(1%, 200 kB) for "space".
        leaf_search: "binary" (stores per-leaf error bounds; the only form the pipelined batch
            search runs on), "exponential" (stores no bounds: half the leaf bytes, searches
            outward from the prediction), or "auto" (default: with config="measure", both forms
            of the shortlisted models are timed in the lookup mode this index runs and the
            faster wins, see ``leaf_search_``; otherwise "binary").
        spline_leaves: a leaf whose line fits its keys poorly (clustered keys, runs and gaps) is
            replaced by an error-bounded spline over its keys (RadixSpline's greedy corridor,
            the smallest error bound of 8, 16, 32, 64 or 128 positions whose knots fit in what
            ``max_bytes`` leaves), where that at least halves its search window; the knots are
            searched by bisection. Only for 16,384 or more distinct keys. False: linear leaves
            only (the format of version 1 files).
        hybrid_threshold: a leaf whose error window exceeds this many positions falls back to a
            binary search over its key range (the paper's hybrid index); None: only where the
            range is narrower than the window.
        nn_hidden: hidden layer widths of the "nn" root (0 to 2 layers, widths 4 to 32).
        interleave: run a batch's lookups software-pipelined (each query's leaf row, spline
            knots and window prefetched a few queries before it is searched) so that their
            memory accesses overlap; False: each lookup finished before the next starts.
        config: how auto-configuration decides: "measure" (default: a shortlist of configurations
            chosen by a cost model is fitted in full and the fastest measured lookup time on a
            sample of keys wins; the chosen model can then differ between runs and machines,
            the answers never) or "estimate" (the cost model alone: the same model every run).
        partition: for a large batch, first partition the queries by the root model (a learned
            counting sort, O(m)) so that each bucket's lookups hit a cache-resident region of the
            keys: "auto" (when the model has spline leaves, the keys exceed 8 MB and the batch
            has 32k+ queries), "always", "never". Answers are the same either way.
        parallel: split large query batches over all cores.
        seed: seed of the "nn" root's training.

    Example:
        >>> import numpy as np
        >>> keys = np.arange(0, 3000, 3, dtype=np.uint64)
        >>> index = RMI(root="linear", n_leaves=8).fit(keys)
        >>> index.lower_bound(np.array([0, 4, 2997, 5000], dtype=np.uint64)).tolist()
        [0, 2, 999, 1000]
        >>> index.contains(np.array([3, 4], dtype=np.uint64)).tolist()
        [True, False]
    """

    # per-key path state, set by fit/load; the class defaults send unfitted use to the general path
    _int_lo: int = 1  # an empty range: no Python int takes the per-key path
    _int_hi: int = 0
    _fast_types: frozenset[type] = frozenset()
    # lower_bound's per-key state (entry, root kind, model, keys, int range, fast types): unfitted,
    # an empty int range and no fast type, so every query takes the general path (NotFittedError)
    _pk: tuple[Any, ...] = (None, 0, None, None, 1, 0, frozenset())
    _model: Any = None
    _spline: bool = False
    _sample_cache: Any = None

    def __init__(
        self,
        *,
        root: str = "auto",
        n_leaves: int | str = "auto",
        target: str = "speed",
        max_bytes: int | None = None,
        leaf_search: str = "auto",
        spline_leaves: bool = True,
        hybrid_threshold: int | None = None,
        nn_hidden: tuple[int, ...] = (16,),
        interleave: bool = True,
        partition: str = "auto",
        config: str = "measure",
        parallel: bool = False,
        seed: int | None = 0,
    ) -> None:
        self.root = root
        self.n_leaves = n_leaves
        self.target = target
        self.max_bytes = max_bytes
        self.leaf_search = leaf_search
        self.spline_leaves = spline_leaves
        self.hybrid_threshold = hybrid_threshold
        self.nn_hidden = nn_hidden
        self.interleave = interleave
        self.partition = partition
        self.config = config
        self.parallel = parallel
        self.seed = seed

    # -- parameters ---------------------------------------------------------------------------

    def _validate_params(self) -> None:
        o = "RMI"
        check_choice(self.root, "root", o, ["auto", *ROOTS])
        if self.n_leaves != "auto":
            check_int(self.n_leaves, "n_leaves", o, low=1, high=1 << 28)
        check_choice(self.target, "target", o, ["speed", "space"])
        check_int(self.max_bytes, "max_bytes", o, low=64, none_ok=True)
        check_choice(self.leaf_search, "leaf_search", o, ["auto", "binary", "exponential"])
        check_bool(self.spline_leaves, "spline_leaves", o)
        check_int(self.hybrid_threshold, "hybrid_threshold", o, low=0, none_ok=True)
        hidden = self.nn_hidden
        if (
            not isinstance(hidden, (tuple, list))
            or len(hidden) > 2
            or any(isinstance(h, bool) or not isinstance(h, int) or not 4 <= h <= 32 for h in hidden)
        ):
            raise InvalidParameterError(
                "The 'nn_hidden' parameter of RMI must be a tuple of 0 to 2 ints in the range "
                f"[4, 32]. Got {hidden!r} instead."
            )
        check_bool(self.interleave, "interleave", o)
        check_choice(self.partition, "partition", o, ["auto", "always", "never"])
        check_choice(self.config, "config", o, ["measure", "estimate"])
        check_bool(self.parallel, "parallel", o)
        check_seed(self.seed, "seed", o)

    # -- fitting ------------------------------------------------------------------------------

    def fit(self, keys: Any) -> RMI:
        """Fit the index to ``keys`` (sorted ascending; duplicates allowed; empty is fine).

        Cost: O(n) passes over the keys, plus model selection on a sample of at most 2M keys.
        Returns self.
        """
        self._validate_params()
        keys = prepare_keys(keys)
        self.keys_ = keys
        self.n_ = n = int(keys.shape[0])
        # positions of distinct keys; empty stands for the identity (no 8n-byte array)
        pos = K.unique_first_positions(keys) if n else np.zeros(0, dtype=np.int64)
        m = int(pos.shape[0]) if pos.shape[0] else n
        if keys.dtype.kind == "f" and n and not (np.isfinite(keys[0]) and np.isfinite(keys[-1])):
            # model the finite keys; lookups of infinities are verified like any other
            if not pos.shape[0]:
                pos = np.arange(n, dtype=np.int64)
            pos = pos[np.isfinite(keys[pos])]
            m = int(pos.shape[0])
            if m == n:
                pos = np.zeros(0, dtype=np.int64)
        budget = self._budget(keys)
        if m == 0:
            self._set_model("linear", np.array([0.0, 0.0]), np.zeros((1, self._leaf_cols())))
            self.candidates_: list[_Candidate] = []
            return self
        stride = max(1, m // _SAMPLE)
        sample = np.arange(0, m, stride, dtype=np.int64) if pos.shape[0] == 0 else pos[::stride]
        if self.root == "auto" or self.n_leaves == "auto":
            roots = ["linear", "cubic", "spline", "grid", "loggrid"] if self.root == "auto" else [self.root]
            rng = np.random.default_rng(self.seed)
            cands = []
            for r in roots:
                for L in self._leaf_candidates(n, budget, r):
                    params = self._fit_root(r, keys, sample, n, L)
                    mlw = self._estimate_log_window(r, params, keys, pos, m, sample, n, L, rng)
                    if mlw is None and len(roots) > 1:
                        # a root that is not monotone on the keys mixes distant keys in one
                        # leaf; the sample cannot tell how badly, so auto-configuration skips it
                        continue
                    if mlw is None:
                        mlw = self._sample_log_window(r, params, keys, sample, n, L)
                    cands.append(
                        _Candidate(r, L, self._estimate_ns(r, params, L, mlw, keys), self._size(params, L))
                    )
            self.candidates_ = cands
            fitting = [c for c in cands if c.size <= budget] or [min(cands, key=lambda c: c.size)]
            best = min(fitting, key=lambda c: c.est_ns)
            if self.target == "space":
                ok = [c for c in fitting if c.est_ns <= 1.5 * best.est_ns]
                best = min(ok, key=lambda c: (c.size, c.est_ns))
            if self.config == "measure" and n >= _MEASURE_MIN_KEYS and len(fitting) > 1:
                measured = self._measure(fitting, best, keys, pos, m, n, sample, rng)
                self.measured_ = [
                    (
                        c.root,
                        c.n_leaves,
                        c.size,
                        ns,
                        ("binary" if lv.shape[1] == 4 else "exponential") + ("+spline" if (lv[:, 0] <= -0.5).any() else ""),
                    )
                    for c, ns, (_, lv) in measured
                ]
                fastest = min(ns for _, ns, _ in measured)
                pick = min(measured, key=lambda t: t[1])
                if self.target == "space":
                    pick = min((t for t in measured if t[1] <= 1.5 * fastest), key=lambda t: (t[0].size, t[1]))
                self._set_model(pick[0].root, *pick[2])
                self._sample_cache = None
                return self
            root, L = best.root, best.n_leaves
        else:
            self.candidates_ = []
            # more leaves than distinct keys only costs memory: cap by the data
            root, L = self.root, max(1, min(int(self.n_leaves), m))
        self._set_model(root, *self._fit_model(root, L, keys, pos, m, n, sample)[:2])
        self._sample_cache = None
        return self

    def _fit_model(
        self, root: str, L: int, keys: np.ndarray, pos: np.ndarray, m: int, n: int, sample: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """Root parameters and the leaf table of one configuration, fitted on all the keys, and
        the same model with lines in place of its spline leaves (None when it has none)."""
        params = self._fit_root(root, keys, sample, n, L)
        kind = ROOTS[root]
        cols = self._leaf_cols()
        lines = None
        if root in _MONOTONE_ROOTS or K.is_monotone(kind, params, keys, sample, L):
            leaves = K.fit_leaves_monotone(kind, params, keys, pos, m, L, n, self._hybrid())
            if self.spline_leaves:
                plain = (params, leaves[:, :cols])
                params, leaves = self._spline_poor_leaves(kind, params, leaves, keys, pos, m)
                if params is not plain[0]:
                    lines = plain
        else:
            leaf = K.assign_leaves_at(kind, params, keys, pos, m, L)
            leaves = K.fit_leaves(keys, pos, leaf, L, n, self._hybrid())
            del leaf
        return params, leaves[:, :cols], lines

    def _spline_poor_leaves(
        self, kind: int, params: np.ndarray, leaves: np.ndarray, keys: np.ndarray, pos: np.ndarray, m: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Splines for the leaves a line fits poorly: the tightest error bound whose knots fit in
        the size budget left by the root and the leaves (see ``spline_leaves``)."""
        room = self._budget(keys) - self._size(params, leaves.shape[0])
        cap = room // _KNOT_BYTES
        if cap < 2 or m < _SPLINE_MIN_KEYS:
            return params, leaves
        for eps in _SPLINE_EPS:
            # a leaf is worth a spline when its window is several times the spline's bound
            out = K.spline_poor_leaves(kind, params, leaves, keys, pos, m, 4.0 * eps + 8.0, float(eps), int(cap))
            if out[2] >= 0:
                return out[0], out[1]
        return params, leaves

    def _measure(
        self,
        fitting: list[_Candidate],
        best: _Candidate,
        keys: np.ndarray,
        pos: np.ndarray,
        m: int,
        n: int,
        sample: np.ndarray,
        rng: np.random.Generator,
    ) -> list[tuple[_Candidate, float, tuple[np.ndarray, np.ndarray]]]:
        """Fit a shortlist of configurations in full and time their lookups on a sample of keys
        (the lookup mode this index will run: interleaved or one at a time). The shortlist: the
        estimate's choice, the best estimate of each other root, and the largest leaf count of
        the chosen root (the estimate's cache model is the part most often wrong)."""
        by_est = sorted(fitting, key=lambda c: c.est_ns)
        short: list[_Candidate] = [best]
        for c in by_est:
            if len(short) >= _MEASURE_CANDIDATES - 1:
                break
            if all(c.root != s.root for s in short):
                short.append(c)
        biggest = max((c for c in fitting if c.root == best.root), key=lambda c: c.n_leaves)
        if biggest not in short:
            short.append(biggest)
        if self.spline_leaves and best.root in _MONOTONE_ROOTS and best.n_leaves >= 128:
            # fewer leaves leave room for spline leaves, which on clustered keys (osm-, fb-like)
            # bound windows that no leaf count within the budget does
            few = best.n_leaves // 8
            short.append(_Candidate(best.root, few, best.est_ns, self._size(np.zeros(2), few)))
        # the hybrid index's last resort: one leaf whose window is the whole array, i.e. a plain
        # binary search; on keys no model of this size fits (clustered, osm-like), it is faster
        short.append(_Candidate("linear", 1, math.inf, self._size(np.zeros(2), 1)))
        jobs: list[tuple[_Candidate, int, np.ndarray, np.ndarray]] = []
        for c in short:
            if c.n_leaves == 1 and c.est_ns == math.inf:
                params = np.zeros(2)
                leaves = np.array([[0.0, 0.0, 0.0, float(n - 1)]])[:, : self._leaf_cols()]
                lines = None
                if self.leaf_search == "exponential":
                    continue
            else:
                params, leaves, lines = self._fit_model(c.root, c.n_leaves, keys, pos, m, n, sample)
            kind = ROOTS[c.root]
            models = [(params, leaves)]
            if lines is not None:
                # the same model with lines for its spline leaves: in the batch pipeline the knot
                # search runs lane by lane, and the lines' wider windows can be the faster
                models.append(lines)
            for params, leaves in models:
                forms = [leaves]
                if self.leaf_search == "auto" and c.n_leaves > 1:
                    # the same model without its error bounds: half the bytes (a table that stays
                    # in a nearer cache) and a search outward from the prediction, which on most
                    # keys touches fewer cache lines than bisecting the leaf's worst-case window
                    forms.append(leaves[:, :2])
                jobs.extend((c, kind, params, np.ascontiguousarray(form, dtype=np.float64)) for form in forms)
        return self._time_forms(jobs, keys, n, rng)

    def _time_forms(
        self, jobs: list[tuple[_Candidate, int, np.ndarray, np.ndarray]], keys: np.ndarray, n: int, rng: np.random.Generator
    ) -> list[tuple[_Candidate, float, tuple[np.ndarray, np.ndarray]]]:
        """Lookup time (ns per lookup, best of ``_MEASURE_ROUNDS``) of each fitted model form.

        Every timing draws its own ``_MEASURE_QUERIES`` random keys, so none finds the key lines
        an earlier timing brought into the cache, and the forms are timed in interleaved rounds,
        so that a change of the machine's speed falls on all of them alike. (One query set
        reused for every repetition and form measured cached lookups after the first: at 100M
        keys the same model timed 76 ns in one fit and 136 in the next, and the fit picked a
        root that took 228 ns in the bench where the other took 156.)"""
        best = np.full(len(jobs), np.inf)
        widths = [K.fixed_width(lv) for _, _, _, lv in jobs]
        for _ in range(_MEASURE_ROUNDS):
            for i, (_, kind, params, lv) in enumerate(jobs):
                q = keys[rng.integers(0, n, _MEASURE_QUERIES)]
                run = K.lookup_serial_spline if (lv[:, 0] <= -0.5).any() else K.lookup_serial
                t0 = time.perf_counter()
                run(kind, params, lv, keys, q, 0, self.interleave, widths[i])
                best[i] = min(best[i], time.perf_counter() - t0)
        out: list[tuple[_Candidate, float, tuple[np.ndarray, np.ndarray]]] = []
        for (c, _, params, lv), t in zip(jobs, best, strict=True):
            size = self._size(params, c.n_leaves) - 8 * (4 - lv.shape[1]) * c.n_leaves
            out.append((_Candidate(c.root, c.n_leaves, c.est_ns, size), float(t) / _MEASURE_QUERIES * 1e9, (params, lv)))
        return out

    def _estimate_log_window(
        self,
        root: str,
        params: np.ndarray,
        keys: np.ndarray,
        pos: np.ndarray,
        m: int,
        sample: np.ndarray,
        n: int,
        L: int,
        rng: np.random.Generator,
    ) -> float | None:
        """Mean log2 of the search window a lookup of an existing key would see.

        With a monotone root each leaf is a contiguous run of keys, so a few hundred leaves fitted
        exactly on all their keys (drawn through random keys, so in proportion to their size) give
        an unbiased estimate at a fraction of a full fit. None for a root that is not monotone.
        """
        kind = ROOTS[root]
        if K.is_monotone(kind, params, keys, sample[:: max(1, sample.shape[0] // 32768)], L):
            probes = np.sort(rng.integers(0, m, 256))
            return float(K.sampled_log_window(kind, params, keys, pos, m, L, probes, self._hybrid()))
        return None

    def _sample_log_window(self, root: str, params: np.ndarray, keys: np.ndarray, sample: np.ndarray, n: int, L: int) -> float:
        """Leaves fitted on the sample only: a rough (optimistic) estimate for non-monotone roots."""
        kind = ROOTS[root]
        leaf = K.assign_leaves_at(kind, params, keys, sample, sample.shape[0], L)
        leaves = K.fit_leaves(keys, sample, leaf, L, n, self._hybrid())
        return float(K.mean_log_window(kind, params, leaves, keys, sample))

    def _leaf_cols(self) -> int:
        # "auto" fits the binary form (its error bounds are what the estimate reads); the
        # measurement may then keep only the models' first two columns
        return 2 if self.leaf_search == "exponential" else 4

    def _hybrid(self) -> float:
        return -1.0 if self.hybrid_threshold is None else float(self.hybrid_threshold)

    def _set_model(self, root: str, params: np.ndarray, leaves: np.ndarray) -> None:
        self.root_ = root
        self._root_kind = ROOTS[root]
        self.root_params_ = np.ascontiguousarray(params, dtype=np.float64)
        cols = 2 if leaves.shape[1] == 2 else self._leaf_cols()
        self.leaves_ = np.ascontiguousarray(leaves[:, :cols], dtype=np.float64)
        self.n_leaves_ = int(self.leaves_.shape[0])
        self.leaf_search_ = "binary" if cols == 4 else "exponential"
        # which compiled lookups run: with spline leaves or the plain ones (see K._leaf_pred)
        self._spline = bool((self.leaves_[:, 0] <= -0.5).any())
        # the batch kernel's fixed-step search width (K.fixed_width)
        self._width = K.fixed_width(self.leaves_)
        # the per-key path: one packed model, and the Python ints the kernel takes exactly
        # (int64 for signed keys, [0, 2**63) for unsigned: numba types larger ints as uint64)
        self._model = K.pack_model(self.root_params_, self.leaves_)
        self._setup_per_key()

    def _budget(self, keys: np.ndarray) -> int:
        if self.max_bytes is not None:
            return int(self.max_bytes)
        one_percent = max(4096, keys.nbytes // 100)
        # a model that stays in the L2 cache beats a larger one with tighter windows: at 100M
        # keys, 0.5-2 MB indexes were 10-30% faster than 8 MB ones (BENCHMARKS.md)
        if self.target == "space":
            return min(one_percent, 200_000)
        return min(one_percent, _MEASURE_CAP if self.config == "measure" else _SPEED_CAP)

    def _size(self, params: np.ndarray, n_leaves: int) -> int:
        return 8 * int(params.shape[0]) + 8 * self._leaf_cols() * n_leaves + _META_BYTES

    def _leaf_candidates(self, n: int, budget: int, root: str) -> list[int]:
        if self.n_leaves != "auto":
            return [max(1, min(int(self.n_leaves), n))]  # capped by the data
        per_leaf = 8 * self._leaf_cols() + (8.0 / _GRID_LEAVES_PER_STEP if root in ("grid", "loggrid") else 0.0)
        fixed = _META_BYTES + (16 * _SPLINE_MAX_KNOTS if root == "spline" else 64)
        cap = max(1, min(n // 2, int((budget - fixed) / per_leaf)))
        counts = [1 << k for k in range(0, 30) if (1 << k) <= cap]
        counts = [c for c in counts if c >= min(cap, 16)]
        if cap not in counts:
            counts.append(cap)
        return counts[-4:] if self.target == "speed" else counts[-10:]

    @staticmethod
    def _mem_ns(nbytes: float) -> float:
        # rough latency of a random access into a structure of this size (L2 2 MB, L3 32 MB here)
        if nbytes <= 48 * 1024:
            return 1.0
        if nbytes <= 2 * 1024 * 1024:
            return 5.0
        if nbytes <= 24 * 1024 * 1024:
            return 35.0
        return 90.0

    def _estimate_ns(self, root: str, params: np.ndarray, L: int, mlw: float, keys: np.ndarray) -> float:
        root_ns = {
            "linear": 2.0,
            "cubic": 4.0,
            "spline": 4.0 + 4.0 * math.log2(max(2.0, params[0] if root == "spline" else 2.0)),
            "grid": 4.0,
            "loggrid": 12.0,
            "nn": 40.0,
        }[root]
        if root in ("spline", "nn", "grid", "loggrid"):
            root_ns += self._mem_ns(8 * params.shape[0])
        leaf_ns = self._mem_ns(8 * self._leaf_cols() * L)
        key_ns = self._mem_ns(keys.nbytes)
        per_line = max(1, 64 // keys.itemsize)
        misses = 1.0 + max(0.0, mlw - math.log2(per_line))
        if self.leaf_search == "exponential":
            misses *= 2.0
        return root_ns + leaf_ns + misses * key_ns + 3.0 * mlw

    def _fit_root(self, root: str, keys: np.ndarray, sample: np.ndarray, n: int, L: int) -> np.ndarray:
        # keys spanning most of the float64 range overflow the fits; the result is then a poor
        # model, which costs time, never correctness (every lookup is verified)
        with np.errstate(all="ignore"):
            return self._fit_root_unchecked(root, keys, sample, n, L)

    def _fit_root_unchecked(self, root: str, keys: np.ndarray, sample: np.ndarray, n: int, L: int) -> np.ndarray:
        cache: Any = getattr(self, "_sample_cache", None)
        if cache is None or cache[0] is not sample:
            xs = keys[sample].astype(np.float64)
            self._sample_cache = cache = (sample, xs, sample.astype(np.float64))
        x = cache[1]
        y = cache[2] * (L / n)  # fractional leaf number
        # keys anywhere in the finite float range: fit on x scaled by a power of two (exact), so
        # that neither sums, squares nor spans overflow
        big = float(max(abs(float(x[0])), abs(float(x[-1])))) if x.shape[0] else 0.0
        unit = 2.0 ** -math.ceil(math.log2(big)) if big > 1.0 and math.isfinite(big) else 1.0
        if root == "linear":
            xs = x * unit
            mx, my = xs.mean(), y.mean()
            dx = xs - mx
            sxx = float(dx @ dx)
            a = float(dx @ (y - my)) / sxx if sxx > 0 else 0.0
            return np.array([a * unit, my - a * mx])
        x0 = float(x[0])
        span = float(x[-1] - x[0])
        if not math.isfinite(span):
            # the span itself overflows: model t = x * scale around 0 instead (|t| <= 1/2), which
            # the kernels evaluate as (x - 0) * scale without overflow
            x0 = 0.0
            scale = 0.5 * unit
        else:
            scale = 1.0 / span if span > 0 else 0.0
            if not math.isfinite(scale):  # a subnormal span: 1/span overflows; a flat model is fine
                scale = 0.0
        t = (x - x0) * scale
        if root == "cubic":
            step = max(1, t.shape[0] // 32768)
            A = np.vander(t[::step], 4, increasing=True)
            try:
                coef, *_ = np.linalg.lstsq(A, y[::step], rcond=None)
            except np.linalg.LinAlgError:  # degenerate keys: a constant model (lookups stay exact)
                coef = np.array([float(np.mean(y)), 0.0, 0.0, 0.0])
            return np.concatenate([[x0, scale], coef])
        if root in ("grid", "loggrid"):
            return self._fit_grid(root, keys, n, L)
        if root == "spline":
            k = int(min(_SPLINE_MAX_KNOTS, max(2, L // _SPLINE_LEAVES_PER_KNOT), x.shape[0]))
            idx = np.linspace(0, x.shape[0] - 1, k).round().astype(np.int64)
            kx, ky = x[idx], y[idx]
            return np.concatenate([[float(k)], kx, ky])
        return self._fit_nn(t, y / L if L else y, x0, scale, L)

    @staticmethod
    def _fit_grid(root: str, keys: np.ndarray, n: int, L: int) -> np.ndarray:
        """CDF of the keys at K equal steps of x (or of log2 x): exact positions by binary search."""
        finite = keys[np.isfinite(keys)] if keys.dtype.kind == "f" else keys
        if finite.shape[0] == 0:
            return np.array([0.0, 0.0, 1.0, 0.0, float(L)])
        x0, x1 = float(finite[0]), float(finite[-1])
        k = int(min(1 << 16, max(2, L // _GRID_LEAVES_PER_STEP)))
        d = x1 - x0
        span = math.log2(d + 1.0) if root == "loggrid" else d
        inv_w = k / span if span > 0 else 0.0
        steps = np.arange(k + 1, dtype=np.float64) / inv_w if inv_w > 0 else np.zeros(k + 1)
        grid = x0 + (np.exp2(steps) - 1.0 if root == "loggrid" else steps)
        # positions of the first key >= each grid point (a model: rounding only costs accuracy)
        if keys.dtype.kind == "f":
            y = np.searchsorted(keys, grid.astype(keys.dtype), "left")
        else:
            info = np.iinfo(keys.dtype)
            g = np.ceil(grid)
            low, high = g <= float(info.min), g >= float(info.max)
            gi = np.empty(g.shape[0], dtype=keys.dtype)
            mid = ~(low | high)
            gi[mid] = g[mid].astype(keys.dtype)
            gi[low], gi[high] = info.min, info.max
            y = np.searchsorted(keys, gi, "left")
        ys = y.astype(np.float64) * (L / n)
        return np.concatenate([[x0, inv_w, float(k)], ys])

    def _fit_nn(self, t: np.ndarray, y: np.ndarray, x0: float, scale: float, L: int) -> np.ndarray:
        """Train a ReLU MLP t -> CDF with full-batch Adam in numpy (a few thousand points)."""
        rng = np.random.default_rng(self.seed)
        if t.shape[0] > 4096:
            pick = np.sort(rng.choice(t.shape[0], 4096, replace=False))
            t, y = t[pick], y[pick]
        hidden = list(self.nn_hidden)
        sizes = [1, *hidden, 1]
        Ws = [rng.normal(0, math.sqrt(2.0 / a), (a, b)) for a, b in itertools.pairwise(sizes)]
        bs = [np.zeros(b) for b in sizes[1:]]
        if hidden:  # spread the first layer's kinks over [0, 1]
            Ws[0][0, :] = np.abs(Ws[0][0, :]) + 0.5
            bs[0][:] = -Ws[0][0, :] * np.linspace(0, 1, hidden[0], endpoint=False)
        params = Ws + bs
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        X = t[:, None]
        Y = y[:, None]
        lr, b1, b2 = 0.01, 0.9, 0.999
        for step in range(1, 1501):
            acts = [X]
            h = X
            for i, (W, b) in enumerate(zip(Ws, bs, strict=True)):
                h = h @ W + b
                if i < len(Ws) - 1:
                    h = np.maximum(h, 0.0)
                acts.append(h)
            g = 2.0 * (h - Y) / X.shape[0]
            gW: list[np.ndarray] = [np.empty(0)] * len(Ws)
            gb: list[np.ndarray] = [np.empty(0)] * len(Ws)
            for i in range(len(Ws) - 1, -1, -1):
                gW[i] = acts[i].T @ g
                gb[i] = g.sum(axis=0)
                if i > 0:
                    g = (g @ Ws[i].T) * (acts[i] > 0)
            grads = gW + gb
            for p, gr, mm, vv in zip(params, grads, m, v, strict=True):
                mm *= b1
                mm += (1 - b1) * gr
                vv *= b2
                vv += (1 - b2) * gr * gr
                p -= lr * (mm / (1 - b1**step)) / (np.sqrt(vv / (1 - b2**step)) + 1e-8)
        h1 = hidden[0] if hidden else 0
        h2 = hidden[1] if len(hidden) > 1 else 0
        flat = [x0, scale, float(L), float(len(hidden)), float(h1), float(h2)]
        if not hidden:
            flat += [float(Ws[0][0, 0]), float(bs[0][0])]
        elif len(hidden) == 1:
            flat += [*Ws[0][0], *bs[0], *Ws[1][:, 0], float(bs[1][0])]
        else:
            flat += list(Ws[0][0]) + list(bs[0]) + list(Ws[1].reshape(-1)) + list(bs[1])
            flat += [*Ws[2][:, 0], float(bs[2][0])]
        return np.array(flat, dtype=np.float64)

    # -- queries ------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "leaves_"):
            raise NotFittedError("this RMI is not fitted yet; call fit(keys) first")

    def _setup_per_key(self) -> None:
        """Set up the per-key path: the compiled kernel's entry point for this index's key type, called
        with arguments of known types (numba's dispatcher would re-type them on every call:
        about half the cost of a per-key lookup). The query parameter has the keys' own dtype
        (float64 for float keys), so comparisons are exact and a Python int anywhere in the
        dtype's range, or a numpy scalar of that dtype, goes straight in."""
        dt = self.keys_.dtype
        if dt.kind == "f":
            q0: Any = 0.0
            self._int_lo, self._int_hi = 1, 0  # Python ints take the general path (exact there)
            self._fast_types = frozenset({float, np.float64, np.float32})
        else:
            info = np.iinfo(dt)
            q0 = dt.type(0)
            self._int_lo, self._int_hi = int(info.min), int(info.max)
            self._fast_types = frozenset({dt.type})
        # compiled at the first per-key call, not at every fit; a weak reference, so the index
        # and its keys are freed as soon as the user drops them
        self._entry = _lazy_entry(weakref.ref(self), q0)
        # everything lower_bound's per-key path reads, in one attribute (one read, not six)
        self._pk = (self._entry, self._root_kind, self._model, self.keys_, self._int_lo, self._int_hi, self._fast_types)

    def _scalar(self, q: Any, op: int) -> Any:
        """One Python int or float or numpy scalar, or None when the general path must answer."""
        t = type(q)
        if t is int:
            if not self._int_lo <= q <= self._int_hi:
                return None
        elif t not in self._fast_types or q != q:
            return None
        return self._entry(self._root_kind, self._model, self.keys_, q, op)

    def _bound(self, queries: Any, side: int) -> Any:
        self._check_fitted()
        q, below, above, scalar = prepare_queries(queries, self.keys_.dtype)
        B = self._partition_buckets(q.shape[0])
        if B:
            out = (K.lookup_partitioned_spline if self._spline else K.lookup_partitioned)(self._root_kind, self.root_params_, self.leaves_, self.keys_, q, side, B, self._width)
        elif self.parallel and q.shape[0] >= (1 << 16):
            out = (K.lookup_parallel_spline if self._spline else K.lookup_parallel)(self._root_kind, self.root_params_, self.leaves_, self.keys_, q, side, self.interleave, self._width)
        else:
            out = (K.lookup_serial_spline if self._spline else K.lookup_serial)(self._root_kind, self.root_params_, self.leaves_, self.keys_, q, side, self.interleave, self._width)
        if below is not None:
            out[below] = 0
        if above is not None:
            out[above] = self.n_
        if scalar:
            return int(out[0])
        return out.reshape(np.shape(queries))

    def _partition_buckets(self, m: int) -> int:
        """Buckets of the learned partition for a batch of ``m`` queries; 0 to look them up in
        the order given. Partitioning pays when the keys are far larger than the cache, the
        batch holds several queries per cache-sized bucket of keys, and the lookups' model lines
        miss the cache: a model with spline leaves (their rows, knots and wider windows). On 20M
        keys, pipelined lookups in the order given against partitioned (ns per lookup, one
        process): osm 260 against 185, fb 335 against 178 (spline leaves); uniform 49 against
        69, normal 57 / 89, lognormal 47 / 67, weblog 89 / 104, bursty 105 / 98 (no spline
        leaves: the pipeline alone keeps the misses in flight, the partition's pass is extra)."""
        if self.partition == "never" or self.leaves_.shape[1] != 4 or self.n_ == 0:
            return 0
        key_bytes = self.keys_.nbytes
        # a bucket of keys of about 64 kB stays in the L2 cache while its queries are answered
        B = int(min(self.n_leaves_, max(1, key_bytes // 65536), 1 << 16))
        if self.partition == "always":
            return max(1, B)
        if not self._spline or key_bytes < (8 << 20) or m < (1 << 15) or m < 4 * B:
            return 0
        return B

    def lower_bound(self, queries: Any) -> Any:
        """Positions of the first key >= each query: ``np.searchsorted(keys, queries, "left")``.

        Takes a scalar (returns an int) or an array of numbers comparable with the keys (returns
        int64 positions of the same shape). Cost per query: O(log2 of the leaf's error window).
        """
        t = type(queries)  # the per-key path first: one attribute read and one type check
        entry, kind, model, keys, lo, hi, fast = self._pk
        if (t is int and lo <= queries <= hi) or (t in fast and queries == queries):
            return entry(kind, model, keys, queries, 0)
        return self._bound(queries, 0)

    def lower_bound_serial(self, queries: Any) -> np.ndarray:
        """:meth:`lower_bound` for a batch, one lookup finished before the next starts: no
        interleaving and no partitioning (the latency a caller with one key at a time sees, for
        benchmarks). Fit with ``interleave=False`` so auto-configuration times this mode."""
        self._check_fitted()
        q, below, above, _ = prepare_queries(queries, self.keys_.dtype)
        out = (K.lookup_serial_spline if self._spline else K.lookup_serial)(self._root_kind, self.root_params_, self.leaves_, self.keys_, q, 0, False, 0)
        if below is not None:
            out[below] = 0
        if above is not None:
            out[above] = self.n_
        return out.reshape(np.shape(queries))

    def upper_bound(self, queries: Any) -> Any:
        """Positions of the first key > each query: ``np.searchsorted(keys, queries, "right")``."""
        r = self._scalar(queries, 1) if self._model is not None else None
        return self._bound(queries, 1) if r is None else r

    def contains(self, queries: Any) -> Any:
        """Whether each query is one of the keys (bool array, or a bool for a scalar)."""
        if self._model is not None:
            r = self._scalar(queries, 2)
            if r is not None:
                return bool(r)
        self._check_fitted()
        pos = np.atleast_1d(self.lower_bound(queries))
        q, below, above, scalar = prepare_queries(queries, self.keys_.dtype)
        ok = pos < self.n_
        hit = np.zeros(pos.shape[0], dtype=bool)
        hit[ok] = self.keys_[pos[ok]] == q[ok]
        if below is not None:
            hit[below] = False
        if above is not None:
            hit[above] = False
        if scalar:
            return bool(hit[0])
        return hit.reshape(np.shape(queries))

    def __contains__(self, item: Any) -> bool:
        return bool(self.contains(item))

    def __len__(self) -> int:
        self._check_fitted()
        return self.n_

    def range(self, lo: Any, hi: Any, *, inclusive: bool = False) -> tuple[int, int]:
        """(start, stop) such that ``keys[start:stop]`` are the keys k with lo <= k < hi
        (lo <= k <= hi with ``inclusive=True``)."""
        start = self.lower_bound(lo)
        stop = self.upper_bound(hi) if inclusive else self.lower_bound(hi)
        if np.ndim(start) or np.ndim(stop):
            raise TypeError("range takes scalar bounds; use lower_bound for arrays")
        return int(start), int(max(start, stop))

    def search(self, queries: Any) -> Any:
        """(pos, lo, hi) per query, the guarantee ``lo <= pos <= hi`` with pos the lower bound and
        [lo, hi] the window the model predicted (widened when a query fell outside it).

        A scalar query returns a tuple of ints; an array returns three int64 arrays.
        """
        self._check_fitted()
        q, below, above, scalar = prepare_queries(queries, self.keys_.dtype)
        pos, lo, hi = (K.search_many_spline if self._spline else K.search_many)(self._root_kind, self.root_params_, self.leaves_, self.keys_, q, 0)
        for mask, value in ((below, 0), (above, self.n_)):
            if mask is not None:
                pos[mask] = lo[mask] = hi[mask] = value
        if scalar:
            return int(pos[0]), int(lo[0]), int(hi[0])
        return pos, lo, hi

    # -- size, persistence --------------------------------------------------------------------

    def size_in_bytes(self) -> int:
        """Bytes of the model: root parameters, leaf rows and a few scalars (not the keys)."""
        self._check_fitted()
        return int(self.root_params_.nbytes + self.leaves_.nbytes + _META_BYTES)

    def describe(self) -> dict[str, Any]:
        """What was fitted: root, leaf count, size, error windows."""
        self._check_fitted()
        info: dict[str, Any] = {
            "n": self.n_,
            "dtype": str(self.keys_.dtype),
            "root": self.root_,
            "n_leaves": self.n_leaves_,
            "size_bytes": self.size_in_bytes(),
            "leaf_search": self.leaf_search_,
        }
        spline = self.leaves_[:, 0] <= -0.5
        if spline.any():
            info["spline_leaves"] = int(spline.sum())
            info["knots"] = int(self.leaves_[spline, 1].sum())
        if self.leaves_.shape[1] == 4 and self.n_leaves_:
            w = self.leaves_[:, 3] - self.leaves_[:, 2]
            info["mean_window"] = float(w.mean())
            info["max_window"] = float(w.max())
        if getattr(self, "measured_", None):
            info["measured"] = [
                {"root": r, "n_leaves": L, "leaf_search": ls, "size_bytes": size, "ns_per_lookup": round(ns, 1)}
                for r, L, size, ns, ls in self.measured_
            ]
        return info

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index and its keys to ``path`` (versioned, checksummed; no pickle)."""
        self._check_fitted()
        params = self.get_params(deep=False)
        params["nn_hidden"] = list(params["nn_hidden"])
        meta = {"params": params, "root": self.root_, "n": self.n_}
        # version 2 added spline leaves; a file without them stays readable by version-1 readers
        version = _KIND_VERSION if (self.leaves_[:, 0] <= -0.5).any() else 1
        _serialization.save(
            path,
            _KIND,
            version,
            meta,
            {"keys": self.keys_, "root_params": self.root_params_, "leaves": self.leaves_},
        )


def load_rmi(path: str | os.PathLike[str]) -> RMI:
    """Load an index written by :meth:`RMI.save`, validating every field.

    Raises:
        FormatError: the file is truncated, corrupted, foreign or inconsistent.
    """
    err = _serialization.FormatError
    _, meta, arrays = _serialization.load(path, _KIND, _KIND_VERSION)
    try:
        params = dict(meta["params"])
        params["nn_hidden"] = tuple(params["nn_hidden"])
        root = meta["root"]
        n = int(meta["n"])
        keys, rp, leaves = arrays["keys"], arrays["root_params"], arrays["leaves"]
        index = RMI(**params)
        index._validate_params()
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise err(f"{str(path)!r} has invalid RMI metadata: {exc}") from None
    if not isinstance(root, str) or root not in ROOTS:
        raise err(f"{str(path)!r}: unknown root model {root!r}")
    if keys.ndim != 1 or keys.shape[0] != n or keys.dtype not in SUPPORTED_DTYPES:
        raise err(f"{str(path)!r}: keys array does not match n={n}")
    cols = {"binary": (4,), "exponential": (2,), "auto": (2, 4)}[index.leaf_search]
    if leaves.ndim != 2 or leaves.shape[1] not in cols or leaves.shape[0] < 1 or leaves.dtype != np.float64:
        want = " or ".join(f"(L, {c})" for c in cols)
        raise err(f"{str(path)!r}: leaf table has shape {leaves.shape}, expected {want}")
    if rp.ndim != 1 or rp.dtype != np.float64 or rp.shape[0] < 2 or not np.isfinite(rp).all():
        raise err(f"{str(path)!r}: root parameters are invalid")
    if not np.isfinite(leaves).all():
        raise err(f"{str(path)!r}: leaf table holds non-finite values")
    full_rp = rp
    rp = rp[: _check_spline_leaves(path, rp, leaves)]
    if root == "spline":
        k = rp[0]
        if k != int(k) or k < 2 or rp.shape[0] != 1 + 2 * int(k):
            raise err(f"{str(path)!r}: spline root has {rp.shape[0]} values for {k} knots")
    if root == "nn":
        if rp.shape[0] < 8:
            raise err(f"{str(path)!r}: nn root needs at least 8 parameters, found {rp.shape[0]}")
        try:
            nh, h1, h2 = int(rp[3]), int(rp[4]), int(rp[5])
        except (IndexError, ValueError):
            raise err(f"{str(path)!r}: nn root parameters are invalid") from None
        need = 6 + {0: 2, 1: 3 * h1 + 1, 2: 2 * h1 + h1 * h2 + 2 * h2 + 1}.get(nh, -10**9)
        if nh not in (0, 1, 2) or not (0 <= h1 <= 32 and 0 <= h2 <= 32) or rp.shape[0] != need:
            raise err(f"{str(path)!r}: nn root parameters do not match their shape")
    if root in ("grid", "loggrid"):
        if rp.shape[0] < 4:
            raise err(f"{str(path)!r}: {root} root needs at least 4 parameters, found {rp.shape[0]}")
        k = rp[2]
        if k != int(k) or k < 1 or rp.shape[0] != 4 + int(k):
            raise err(f"{str(path)!r}: {root} root has {rp.shape[0]} values for {k} steps")
    if root == "cubic" and rp.shape[0] != 6:
        raise err(f"{str(path)!r}: cubic root needs 6 parameters, found {rp.shape[0]}")
    if root == "linear" and rp.shape[0] != 2:
        raise err(f"{str(path)!r}: linear root needs 2 parameters, found {rp.shape[0]}")
    try:
        keys = prepare_keys(keys)
    except ValueError as exc:
        raise err(f"{str(path)!r}: {exc}") from None
    index.keys_ = keys
    index.n_ = n
    index.candidates_ = []
    index._set_model(root, full_rp, leaves)
    return index


def _check_spline_leaves(path: str | os.PathLike[str], rp: np.ndarray, leaves: np.ndarray) -> int:
    """Validate the spline leaves' references into the parameter array; return where the root's
    own parameters end (the knots follow them)."""
    err = _serialization.FormatError
    spline = leaves[:, 0] <= -0.5
    if not spline.any():
        return int(rp.shape[0])
    off = -leaves[spline, 0] - 1.0
    cnt = leaves[spline, 1]
    if (
        (off != np.floor(off)).any()
        or (cnt != np.floor(cnt)).any()
        or (cnt < 2).any()
        or (off + 2 * cnt > rp.shape[0]).any()
    ):
        raise err(f"{str(path)!r}: a spline leaf refers to knots outside the parameter array")
    root_len = int(off.min())
    if root_len < 2:
        raise err(f"{str(path)!r}: a spline leaf's knots overlap the root parameters")
    if leaves.shape[1] == 4 and (leaves[spline, 2] > leaves[spline, 3]).any():
        raise err(f"{str(path)!r}: a spline leaf has an empty error window")
    return root_len
