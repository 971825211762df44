"""Learned Bloom filters: a classifier in front of backup filters, never a false negative.

All three share one query path: (optional initial filter) -> classifier score -> the score's
region -> that region's rule (accept all, reject all, or ask its backup filter). Every key is
scored at build time by the very same quantized model and put into the backup filter of its
region, so whatever the model says, every key is found.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from typing import Any

import numba as nb
import numpy as np

from learnedsys import _serialization
from learnedsys._estimator import Estimator, NotFittedError
from learnedsys._validation import (
    InvalidParameterError,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_seed,
    describe,
)
from learnedsys.bloom import _checks
from learnedsys.bloom._bloomfilter import BloomFilter, routed_query
from learnedsys.bloom._classifier import CLASSIFIERS, Classifier, NGramLogistic
from learnedsys.bloom._encode import EncodedBatch, _hash_one, encode_items, hash_batch
from learnedsys.bloom._fuse import BinaryFuseFilter
from learnedsys.bloom._gru import CharGRU  # noqa: F401  (registers the torch model for load())
from learnedsys.bloom._plan import (
    THRESHOLD_BYTES,
    Plan,
    PLBFPlanner,
    calibrate,
    choose_regions,
    filter_bits,
    plan_lbf,
    plan_sandwich,
    region_options,
)

__all__ = [
    "FILE_KIND",
    "LearnedBloomFilter",
    "PartitionedLearnedBloomFilter",
    "SandwichedLearnedBloomFilter",
]

FILE_KIND = "learnedsys.bloom"
# 1: model, thresholds, region rules, initial filter. 2 adds the worst-case bound, the per-region
# negative shares (for adapt's re-allocation), the size at fit and the veto of reported false
# positives; version-1 files load as filters without a bound and without a veto.
FILE_VERSION = 2

#: ``worst_case_fpr="auto"`` bounds the FPR on any query set at this multiple of the target.
AUTO_WORST_CASE_FACTOR = 10.0
#: Seed of the 64-bit hash that identifies vetoed items (independent of the filters' hash).
VETO_SEED = 0x7E70_5EED_0B5E_7ED1
VETO_BYTES = 8  # per vetoed item

_ACCEPT = "accept"
_REJECT = "reject"

Backup = BloomFilter | BinaryFuseFilter


def _dedupe(batch: EncodedBatch) -> EncodedBatch:
    """Drop repeated items (exact byte comparison), keeping first occurrences."""
    n = len(batch)
    if n == 0:
        return batch
    h = hash_batch(batch, seed=12345)
    _, first = np.unique(h, return_index=True)
    if first.shape[0] == n:
        return batch
    # equal 64-bit hashes: confirm by bytes, keeping distinct items that collide
    keep = np.zeros(n, dtype=bool)
    keep[first] = True
    seen: dict[int, set[bytes]] = {}
    for i in np.sort(first):
        seen.setdefault(int(h[i]), set()).add(batch.item(int(i)))
    for i in np.flatnonzero(~keep):
        s = seen.setdefault(int(h[i]), set())
        b = batch.item(int(i))
        if b not in s:
            s.add(b)
            keep[i] = True
    return batch.take(np.flatnonzero(keep))


def _members(keys: EncodedBatch, items: EncodedBatch) -> np.ndarray:
    """Boolean mask: which ``items`` are equal (bytewise) to some key."""
    hk = hash_batch(keys, seed=777)
    hi = hash_batch(items, seed=777)
    cand = np.flatnonzero(np.isin(hi, hk))
    out = np.zeros(len(items), dtype=bool)
    if cand.shape[0] == 0:
        return out
    keyset: dict[int, set[bytes]] = {}
    hks = set(int(x) for x in hi[cand])
    for i in range(len(keys)):
        x = int(hk[i])
        if x in hks:
            keyset.setdefault(x, set()).add(keys.item(i))
    for j in cand:
        out[j] = items.item(int(j)) in keyset.get(int(hi[j]), ())
    return out


@nb.njit(cache=True, nogil=True)
def _veto_pass(buf, offsets, out, veto_sorted, seed):  # type: ignore[no-untyped-def]
    """Clear ``out[i]`` for accepted items whose veto hash is in ``veto_sorted``."""
    nv = veto_sorted.shape[0]
    for i in range(out.shape[0]):
        if not out[i]:
            continue
        h = _hash_one(buf, offsets[i], offsets[i + 1], seed)
        lo = 0
        hi = nv
        while lo < hi:
            mid = (lo + hi) >> 1
            if veto_sorted[mid] < h:
                lo = mid + 1
            else:
                hi = mid
        if lo < nv and veto_sorted[lo] == h:
            out[i] = False


def _veto_hashes(batch: EncodedBatch) -> np.ndarray:
    return hash_batch(batch, seed=VETO_SEED)


def _unique_in_order(a: np.ndarray) -> np.ndarray:
    """``a`` without repeats, keeping each value's last occurrence, in order."""
    if a.shape[0] == 0:
        return a
    rev = a[::-1]
    _, first = np.unique(rev, return_index=True)
    keep = np.zeros(a.shape[0], dtype=bool)
    keep[first] = True
    return rev[keep][::-1].copy()


def _solve_allocation(n: np.ndarray, d: np.ndarray, h: np.ndarray, F_in: float, bits_budget: float,
                      clip: float, backup: str) -> tuple[list[float], list[str]] | None:
    """Region filters minimising ``sum d_r f_r`` (the reported queries' FPR) subject to
    ``sum h_r f_r <= F_in`` (in-distribution FPR no worse), ``f_r <= clip`` and fitting
    ``bits_budget``: each region takes the option minimising ``bits + lambda (d_r + mu h_r) f``
    (:func:`choose_regions`), lambda bisected to fill the budget, mu to keep ``F_in``. None
    when no allocation fits."""
    opts = region_options(n, clip)

    def for_mu(mu: float) -> tuple[list[float], list[str]] | None:
        w = d + mu * h
        lo, hi = -40.0, 80.0  # log lambda: larger buys lower FPRs with more bits
        got = choose_regions(n, w, math.exp(lo), clip, backup, opts)
        if got[2] > bits_budget:
            return None
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            cand = choose_regions(n, w, math.exp(mid), clip, backup, opts)
            if cand[2] <= bits_budget:
                lo, got = mid, cand
            else:
                hi = mid
        return got[0], got[1]

    def h_of(got: tuple[list[float], list[str]]) -> float:
        return float(np.sum(h * np.asarray(got[0])))

    got = for_mu(0.0)
    if got is None:
        return None
    if h_of(got) <= F_in:
        return got
    lo, hi = -20.0, 40.0  # log mu
    best = for_mu(math.exp(hi))
    if best is None or h_of(best) > F_in:
        return None
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        cand = for_mu(math.exp(mid))
        if cand is not None and h_of(cand) <= F_in:
            hi, best = mid, cand
        else:
            lo = mid
    return best


class _LearnedFilter(Estimator):
    """Shared construction, query, size and persistence of the learned filters."""

    _backup_kinds = ("bloom", "fuse", "auto")
    _extra_params: tuple[str, ...] = ()
    _min_thresholds = 1  # LBF and sandwiched: one threshold tau; PLBF: 0 or more
    _has_initial = False  # only the sandwiched filter has an initial filter

    def _max_thresholds(self) -> int:
        return 1

    def __init__(
        self,
        target_fpr: float = 0.01,
        *,
        memory_budget: int | None = None,
        classifier: Classifier | None = None,
        backup: str = "auto",
        validation_fraction: float = 0.25,
        refit: bool = True,
        worst_case_fpr: float | str | None = "auto",
        seed: int | None = 0,
    ) -> None:
        self.target_fpr = target_fpr
        self.memory_budget = memory_budget
        self.classifier = classifier
        self.backup = backup
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.worst_case_fpr = worst_case_fpr
        self.seed = seed
        self._clf: Classifier | None = None

    # -- planning hooks -------------------------------------------------------------------------
    def _prepare(self, sk: np.ndarray, sv: np.ndarray) -> None:
        """Precompute what plans for many target FPRs share (PLBF: the DP)."""

    def _plan(self, sk: np.ndarray, sv: np.ndarray, F: float, fixed: float, cap: float) -> Plan:
        raise NotImplementedError

    def _cap(self, F: float) -> float:
        """The worst-case bound for a filter built for in-distribution FPR ``F`` (1.0: none)."""
        w = self.worst_case_fpr
        if w is None:
            return 1.0
        if isinstance(w, str):  # "auto"
            return min(1.0, AUTO_WORST_CASE_FACTOR * F)
        return float(w)

    # -- construction ---------------------------------------------------------------------------
    def _check_params(self) -> None:
        owner = type(self).__name__
        if self.memory_budget is None:
            check_float(self.target_fpr, "target_fpr", owner, low=0.0, high=1.0, closed="neither")
        else:
            check_int(self.memory_budget, "memory_budget", owner, low=1)
        check_choice(self.backup, "backup", owner, self._backup_kinds)
        check_float(self.validation_fraction, "validation_fraction", owner, low=0.0, high=1.0, closed="neither")
        check_seed(self.seed, "seed", owner)
        check_bool(self.refit, "refit", owner)
        if not (self.worst_case_fpr is None or (isinstance(self.worst_case_fpr, str) and self.worst_case_fpr == "auto")):
            if isinstance(self.worst_case_fpr, str):
                check_choice(self.worst_case_fpr, "worst_case_fpr", owner, ("auto", "a float in (0, 1)", None))
            check_float(self.worst_case_fpr, "worst_case_fpr", owner, low=0.0, high=1.0, closed="neither")
        if not self.refit and self.classifier is None:
            raise InvalidParameterError(
                f"The 'refit' parameter of {owner} may be False only with a fitted 'classifier'. Got False instead."
            )
        if self.classifier is not None and not isinstance(self.classifier, Classifier):
            raise InvalidParameterError(
                f"The 'classifier' parameter of {owner} must be a learnedsys.bloom.Classifier or None. "
                f"Got {describe(self.classifier)} instead."
            )

    def fit(self, keys: Any, negatives: Any) -> _LearnedFilter:
        """Train the classifier, plan the regions and build every filter.

        ``negatives`` (non-keys) is split with ``seed`` into a training part for the classifier
        and a validation part (``validation_fraction``); one half of the validation part chooses
        the thresholds (regions), the other half sizes the filters, so that the false-positive
        rates the sizes rely on were not read off the negatives that chose the thresholds.
        Negatives equal to a key are dropped with a warning. Cost: training plus
        ``O((n_keys + n_negatives) log n)``; 663k keys take about 10 s.

        Args:
            keys: the set to store: str/bytes items or integers (list or numpy array).
            negatives: a sample of non-keys of the same kind.

        Returns:
            self.
        """
        owner = type(self).__name__
        self._check_params()
        seed = self.seed or 0
        kb = encode_items(keys, owner, "keys")
        if len(kb) == 0:
            raise InvalidParameterError(
                f"The 'keys' parameter of {owner} must hold at least one key. Got an empty collection instead."
            )
        nb_ = encode_items(negatives, owner, "negatives")
        if len(nb_) and nb_.kind != kb.kind:
            raise InvalidParameterError(
                f"The 'negatives' parameter of {owner} must hold the same kind of items as keys "
                f"({'integers' if kb.kind == 'int' else 'str/bytes'}). Got {'integers' if nb_.kind == 'int' else 'str/bytes'} instead."
            )
        kb = _dedupe(kb)
        nb_ = _dedupe(nb_)
        clash = _members(kb, nb_)
        if clash.any():
            first = int(np.flatnonzero(clash)[0])
            warnings.warn(
                f"{owner}.fit: dropped {int(clash.sum())} negatives that are also keys "
                f"(first: {nb_.item(first)!r})",
                UserWarning,
                stacklevel=2,
            )
            nb_ = nb_.take(np.flatnonzero(~clash))
        if len(nb_) < 2:
            raise InvalidParameterError(
                f"The 'negatives' parameter of {owner} must hold at least 2 non-keys (after dropping "
                f"keys). Got {len(nb_)} instead."
            )
        if self.refit:
            rng = np.random.default_rng(seed)
            perm = rng.permutation(len(nb_))
            n_val = min(len(nb_) - 1, max(1, round(len(nb_) * self.validation_fraction)))
            val = nb_.take(np.sort(perm[:n_val]))
            train = nb_.take(np.sort(perm[n_val:]))
            clf = copy.deepcopy(self.classifier) if self.classifier is not None else NGramLogistic()
            clf.fit(kb, train, seed)
        else:
            assert self.classifier is not None
            clf = self.classifier
            val = nb_
        self._clf = clf
        self._kind = kb.kind
        self._set_veto(np.zeros(0, dtype=np.uint64))
        sk = clf.score(kb)
        sv_all = clf.score(val)
        if not (np.isfinite(sk).all() and np.isfinite(sv_all).all()):
            raise ValueError(f"{owner}: the classifier returned non-finite scores")
        # Half of the validation negatives choose thresholds and regions, the other half sizes
        # the filters: rates read off the negatives that chose a threshold are optimistic.
        halves = np.random.default_rng(seed + 1).permutation(sv_all.shape[0])
        sv = sv_all[halves[: (sv_all.shape[0] + 1) // 2]]
        self._sv_check = sv_all[halves[(sv_all.shape[0] + 1) // 2 :]]
        fixed = float(clf.size_in_bytes())
        self._prepare(sk, sv)
        if self.memory_budget is None:
            plan = self._plan_checked(sk, sv, float(self.target_fpr), fixed)
        else:
            plan = self._plan_for_budget(sk, sv, fixed, int(self.memory_budget))
        hk = hash_batch(kb)
        self._build(plan, hk, sk, seed)
        if self.memory_budget is not None:
            # plans estimate filter sizes; if whole words and headers overshoot, plan tighter
            budget = int(self.memory_budget)
            for _ in range(8):
                over = self.size_in_bytes() - budget
                if over <= 0:
                    break
                budget -= over + 8
                plan = self._plan_for_budget(sk, sv, fixed, budget)
                self._build(plan, hk, sk, seed)
        self._plan_used = plan
        self._base_bytes = self.size_in_bytes()
        return self

    def _plan_checked(self, sk: np.ndarray, sv: np.ndarray, F: float, fixed: float) -> Plan:
        """Plan on the selection half, then size the filters on the other half."""
        cap = self._cap(F)
        plan = self._plan(sk, sv, F, fixed, cap)
        plan = calibrate(plan, sk, self._sv_check, F, fixed, self.backup, cap)
        plan.cap = cap
        return plan

    def _plan_for_budget(self, sk: np.ndarray, sv: np.ndarray, fixed: float, budget: int) -> Plan:
        """Smallest target FPR whose plan fits ``budget`` bytes (bisection on log F)."""
        owner = type(self).__name__
        if fixed + 64 > budget:
            raise InvalidParameterError(
                f"The 'memory_budget' parameter of {owner} must leave room beyond the model, which "
                f"alone needs {int(fixed)} bytes. Got {budget} instead."
            )
        lo, hi = math.log(1e-9), math.log(0.999)
        best = self._plan_checked(sk, sv, 0.999, fixed)
        if best.bytes > budget:
            raise InvalidParameterError(
                f"The 'memory_budget' parameter of {owner} is too small: even a false-positive rate "
                f"near 1 needs {int(best.bytes)} bytes. Got {budget} instead."
            )
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            p = self._plan_checked(sk, sv, math.exp(mid), fixed)
            if p.bytes <= budget * 0.995:  # margin for rounding filters to whole words
                best, hi = p, mid
            else:
                lo = mid
        return best

    def _make_backup(self, hashes: np.ndarray, fpr: float, seed: int, limit: float = 1.0, kind: str | None = None) -> Backup:
        """A filter of ``hashes`` at ``fpr``; under a worst-case bound ``limit < 1`` its real
        false-positive rate (``(bits set / m) ** k`` for a Bloom filter, ``2^-r`` for binary
        fuse), not only the planned one, is at most ``limit``. ``kind``: "bloom" or "fuse"
        (default: the ``backup`` parameter; for "auto" the smaller of the two)."""
        if kind is None:
            kind = self.backup
            if kind == "auto":
                r = min(32, max(1, math.ceil(math.log2(1.0 / max(min(fpr, limit), 1e-9)) - 1e-9)))
                fuse_b = filter_bits(hashes.shape[0], 2.0**-r, "fuse")
                kind = "fuse" if fuse_b < filter_bits(hashes.shape[0], min(fpr, limit), "bloom") else "bloom"
        if kind == "bloom":
            f = BloomFilter(target_fpr=min(max(fpr, 1e-15), 0.999999), seed=seed)
            f._allocate(hashes.shape[0])
            f._kind = self._kind
            f._add_hashes(hashes)
            m = f._m
            while limit < 1.0 and f.fill_fpr() > limit:  # k rounding or bad luck: grow by 1/32
                m = ((m + m // 32 + 63) // 64) * 64
                f = BloomFilter(target_fpr=min(max(fpr, 1e-15), 0.999999), n_bits=m, seed=seed)
                f._allocate(hashes.shape[0])
                f._kind = self._kind
                f._add_hashes(hashes)
            return f
        g = BinaryFuseFilter(target_fpr=min(max(fpr, 1e-9), limit * (1 - 1e-12), 0.999999), seed=seed)
        g._kind = self._kind
        return g._fit_hashes(hashes)

    def _build(self, plan: Plan, hk: np.ndarray, sk: np.ndarray, seed: int) -> None:
        cap = plan.cap
        self._thresholds = np.asarray(plan.thresholds, dtype=np.float64)
        self._initial: Backup | None = None
        self._worst_case = cap if cap < 1.0 else None
        self._region_neg = plan.region_neg
        region_limit = cap
        if plan.initial_fpr < 1.0:
            self._initial = self._make_backup(hk, plan.initial_fpr, seed * 1000 + 999, limit=cap)
            region_limit = 1.0  # the initial filter alone holds the bound
        # A classifier whose scores may move a little between build and query (batched float
        # inference) declares by how much; a key that close to a threshold goes into the
        # filters on both sides, so it is found whichever side it lands on.
        assert self._clf is not None
        tol = float(self._clf.score_tolerance)
        lo = np.searchsorted(self._thresholds, sk - tol, side="right")
        hi = np.searchsorted(self._thresholds, sk + tol, side="right") if tol > 0 else lo
        rules: list[Backup | str] = []
        for r, f in enumerate(plan.region_fpr):
            sel = (lo <= r) & (hi >= r)
            if f >= 1.0 and region_limit >= 1.0:
                rules.append(_ACCEPT)
            elif not sel.any():
                rules.append(_REJECT)
            else:
                kind = plan.region_kind[r] if plan.region_kind is not None else None
                rules.append(self._make_backup(hk[sel], min(f, region_limit), seed * 1000 + r, limit=region_limit, kind=kind))
        self._rules = rules
        self._fuse_kernels()

    def _region_fpr_actual(self, rule: Backup | str) -> float:
        if isinstance(rule, str):
            return 1.0 if rule == _ACCEPT else 0.0
        return rule.fill_fpr() if isinstance(rule, BloomFilter) else rule.expected_fpr()

    @property
    def worst_case_bound_(self) -> float:
        """The false-positive rate no query set can exceed: the largest, over score regions, of
        the real FPR of the filters an item of that region must pass (``(bits set / m) ** k``
        for a Bloom filter, ``2^-r`` for binary fuse, 1 for an accept-all region). At most
        ``worst_case_fpr`` when one was set; for queries chosen without knowledge of the hash
        seed."""
        self._check_built()
        init = self._region_fpr_actual(self._initial) if self._initial is not None else 1.0
        return float(init * max(self._region_fpr_actual(r) for r in self._rules))

    def _fuse_kernels(self) -> None:
        """Pack every filter's words and parameters for the one-pass query kernel."""
        parts: list[Backup | str | None] = [*self._rules, self._initial]
        n = len(parts)
        rtype = np.zeros(n, dtype=np.int8)
        woff = np.zeros(n, dtype=np.int64)
        ms = np.ones(n, dtype=np.int64)
        ks = np.ones(n, dtype=np.int64)
        salts = np.zeros(n, dtype=np.uint64)
        counts = np.ones(n, dtype=np.int64)
        chunks = []
        pos = 0
        for r, p in enumerate(parts):
            if p is None or isinstance(p, str):
                rtype[r] = 1 if p == _ACCEPT else 0
                continue
            assert p._words is not None
            woff[r] = pos
            if isinstance(p, BloomFilter):
                rtype[r] = 2
                ms[r], ks[r], salts[r] = p._m, p._k, p._salt
            elif p._n == 0:
                rtype[r] = 4 if r == n - 1 else 0  # an empty fuse filter rejects everything
                continue
            else:
                rtype[r] = 3
                ms[r], ks[r], salts[r], counts[r] = p._seg_len, p._r, p._seed_u, p._seg_count
            chunks.append(p._words)
            pos += p._words.shape[0]
        words = np.concatenate(chunks) if chunks else np.zeros(1, dtype=np.uint64)
        itype = int(rtype[-1]) if self._initial is not None else 0
        self._packed: tuple[Any, ...] = (rtype[:-1].copy(), woff, ms, ks, salts, counts, words, itype)

    # -- queries --------------------------------------------------------------------------------
    def _check_built(self) -> None:
        if self._clf is None:
            raise NotFittedError(f"This {type(self).__name__} is not built yet; call fit(keys, negatives) first.")

    def contains(self, items: Any) -> np.ndarray:
        """Boolean array: True where an item may be a key, False where it surely is not.

        Cost: encoding, one hash and one model score per item, then one backup-filter probe for
        items in a region with a filter.
        """
        self._check_built()
        batch = encode_items(items, type(self).__name__, "items")
        if len(batch) and batch.kind != self._kind:
            what = "integers" if self._kind == "int" else "str/bytes items"
            raise InvalidParameterError(
                f"This {type(self).__name__} holds {what}; the items to query must be of the same kind."
            )
        return self._query(batch)

    def _query(self, batch: EncodedBatch, veto: bool = True) -> np.ndarray:
        assert self._clf is not None
        n = len(batch)
        out = np.zeros(n, dtype=np.bool_)
        if n == 0:
            return out
        h = hash_batch(batch)
        s = self._clf.score(batch)
        rtype, woff, ms, ks, salts, counts, words, itype = self._packed
        routed_query(h, s, self._thresholds, rtype, woff, ms, ks, salts, counts, words, itype, out)
        if veto and self._veto_sorted.shape[0]:
            _veto_pass(batch.buf, batch.offsets, out, self._veto_sorted, np.uint64(VETO_SEED))
        return out

    def __contains__(self, item: Any) -> bool:
        return bool(self.contains([item])[0])

    # -- learning from false positives ---------------------------------------------------------
    def _set_veto(self, veto: np.ndarray) -> None:
        self._veto = np.ascontiguousarray(veto, dtype=np.uint64)
        self._veto_sorted = np.sort(self._veto)

    def adapt(self, false_positives: Any, keys: Any = None, *, max_growth: float = 0.25) -> _LearnedFilter:
        """Learn from queries the filter wrongly accepted: answer "no" for them from now on.

        The caller learns of a false positive when the lookup behind the filter misses, and
        reports it here. Two mechanisms, both persisted by :meth:`save`:

        - **Veto** (always): the reported items that the filter still accepts are remembered by
          a 64-bit hash (8 bytes each, independent of the filters' hashes) and rejected after
          every positive answer. Only reported items are rejected, so no key can become a false
          negative unless the caller reports a key (then it does; pass ``keys`` to have such
          reports dropped) or a key's 64-bit veto hash equals a reported item's (probability
          at most ``n_keys * n_reported / 2**64``, below 1e-9 for a million keys and ten
          thousand reports; passing ``keys`` removes even that).
        - **Re-allocation** (when ``keys``, the current key set, is given): for queries *like*
          the reported ones. The reported items show in which score regions the queries now
          arriving find false positives; the regions' false-positive rates are solved again to
          minimise the rate on queries distributed like the reports, subject to the
          in-distribution FPR of the fit (``sum h_r f_r``) not getting worse, the worst-case
          bound still holding and the total size staying within ``max_growth`` of the size at
          fit; then every backup filter is rebuilt over ``keys``, so every key is found by
          construction. The model and the regions stay as they are (the filter keeps neither the
          keys nor the training negatives that retraining would need).

        Memory: the size stays within ``(1 + max_growth)`` times the size at fit; when vetoed
        items do not fit, the oldest are dropped (they may come back as false positives and be
        reported again). With ``keys``, the re-allocation comes first and may use the whole
        allowance; the veto then takes the reports the rebuilt filter still accepts, as far as
        room is left.
        Cost: one query per reported item; with ``keys``, scoring and hashing every key and
        rebuilding the filters (about a second per million keys).

        Args:
            false_positives: items the filter accepted that are not keys (same kind as keys).
            keys: optional, the set the filter must hold (for example read from the store the
                filter guards); enables the re-allocation and checks the reports against it.
            max_growth: allowed growth over the size at :meth:`fit`, at least 0.

        Returns:
            self.
        """
        self._check_built()
        owner = type(self).__name__
        growth = check_float(max_growth, "max_growth", owner, low=0.0)
        fb = self._encode_same_kind(false_positives, "false_positives")
        fb = _dedupe(fb)
        kb = None
        if keys is not None:
            kb = _dedupe(self._encode_same_kind(keys, "keys"))
            if len(kb) == 0:
                raise InvalidParameterError(
                    f"The 'keys' parameter of {owner}.adapt must hold at least one key. Got an empty collection instead."
                )
            clash = _members(kb, fb)
            if clash.any():
                first = int(np.flatnonzero(clash)[0])
                warnings.warn(
                    f"{owner}.adapt: ignored {int(clash.sum())} reported items that are keys "
                    f"(first: {fb.item(first)!r})",
                    UserWarning,
                    stacklevel=2,
                )
                fb = fb.take(np.flatnonzero(~clash))
        # what the filters accept (vetoed or not) shows where such queries land; what the filter
        # still accepts needs a veto
        fb = fb.take(np.flatnonzero(self._query(fb, veto=False)))
        limit = (1.0 + growth) * self._base_bytes
        if kb is not None and len(fb):
            # the re-allocation (for queries like the reports) may use the whole allowance; the
            # veto then holds what is still accepted, newest first, as far as room is left
            self._reallocate(kb, fb, limit)
        fb = fb.take(np.flatnonzero(self._query(fb)))
        veto = _unique_in_order(np.concatenate([self._veto, _veto_hashes(fb)]))
        if kb is not None:
            veto = veto[~np.isin(veto, _veto_hashes(kb))]
        room = int((limit - (self.size_in_bytes() - VETO_BYTES * self._veto.shape[0])) // VETO_BYTES)
        if veto.shape[0] > max(room, 0):
            veto = veto[veto.shape[0] - max(room, 0) :]
        self._set_veto(veto)
        return self

    def _encode_same_kind(self, items: Any, name: str) -> EncodedBatch:
        batch = encode_items(items, f"{type(self).__name__}.adapt", name)
        if len(batch) and batch.kind != self._kind:
            what = "integers" if self._kind == "int" else "str/bytes items"
            raise InvalidParameterError(
                f"The {name!r} parameter of {type(self).__name__}.adapt must hold {what}, like the keys."
            )
        return batch

    def _reallocate(self, kb: EncodedBatch, fb: EncodedBatch, budget_bytes: float) -> bool:
        """Re-solve the regions' FPRs for queries like ``fb`` and rebuild over ``kb`` (see
        :meth:`adapt`); False (and nothing changed) when the filter lacks what it needs."""
        assert self._clf is not None
        if self._region_neg is None or len(self._region_neg) != len(self._rules):
            return False  # a version-1 file or a fit without validation negatives
        sk = self._clf.score(kb)
        region_k = np.searchsorted(self._thresholds, sk, side="right")
        R = len(self._rules)
        n = np.bincount(region_k, minlength=R).astype(np.float64)
        sf = self._clf.score(fb)
        c = np.bincount(np.searchsorted(self._thresholds, sf, side="right"), minlength=R).astype(np.float64)
        f_now = np.array([self._region_fpr_actual(r) for r in self._rules])
        # reports seen in region r ~ (queries in r) * f_r: the queries' share of each region
        d = np.where(f_now > 0, c / np.maximum(f_now, 1e-12), 0.0)
        if d.sum() <= 0:
            return False
        d /= d.sum()
        h = np.asarray(self._region_neg, dtype=np.float64)
        F_in = float(np.sum(h * f_now))
        init_fpr = 1.0
        fixed = self._clf.size_in_bytes() + THRESHOLD_BYTES * self._thresholds.shape[0]
        if self._initial is not None:
            init_fpr = self._region_fpr_actual(self._initial)
            fixed += self._initial.size_in_bytes()
        clip = 1.0 if (self._worst_case is None or self._initial is not None) else float(self._worst_case)
        hk = hash_batch(kb)
        old = (self._rules, self._initial, self._packed, self._thresholds)
        bits_budget = 8.0 * (budget_bytes - fixed)
        for _ in range(6):
            got = _solve_allocation(n, d, h, F_in, bits_budget, clip, self.backup)
            if got is None or float(np.sum(d * np.asarray(got[0]))) >= float(np.sum(d * f_now)):
                break
            plan = Plan(thresholds=self._thresholds, region_fpr=got[0], initial_fpr=init_fpr,
                        region_neg=self._region_neg, cap=self._worst_case if self._worst_case is not None else 1.0,
                        region_kind=got[1])
            seed = self.seed or 0
            self._build(plan, hk, sk, seed)
            over = self.size_in_bytes() - VETO_BYTES * self._veto.shape[0] - budget_bytes
            if over <= 0:
                return True
            bits_budget -= 8.0 * over + 64.0  # rounding to words, fuse widths: plan tighter
        self._rules, self._initial, self._packed, self._thresholds = old
        return False

    # -- size -----------------------------------------------------------------------------------
    def size_in_bytes(self) -> int:
        """Model + thresholds (8 bytes each) + every filter's bytes (including headers)."""
        self._check_built()
        assert self._clf is not None
        total = self._clf.size_in_bytes() + THRESHOLD_BYTES * self._thresholds.shape[0]
        if self._initial is not None:
            total += self._initial.size_in_bytes()
        for rule in self._rules:
            if not isinstance(rule, str):
                total += rule.size_in_bytes()
        return int(total + VETO_BYTES * self._veto.shape[0])

    def size_breakdown(self) -> dict[str, int]:
        """Bytes of the model, the thresholds, the initial filter, the backup filters and the
        veto of reported false positives (see :meth:`adapt`)."""
        self._check_built()
        assert self._clf is not None
        return {
            "model": self._clf.size_in_bytes(),
            "thresholds": THRESHOLD_BYTES * int(self._thresholds.shape[0]),
            "initial": self._initial.size_in_bytes() if self._initial is not None else 0,
            "backup": sum(r.size_in_bytes() for r in self._rules if not isinstance(r, str)),
            "veto": VETO_BYTES * int(self._veto.shape[0]),
        }

    @property
    def classifier_(self) -> Classifier:
        """The fitted classifier."""
        self._check_built()
        assert self._clf is not None
        return self._clf

    @property
    def regions_(self) -> list[dict[str, Any]]:
        """Per score region: lower score bound, rule ("accept", "reject", "filter") and its FPR."""
        self._check_built()
        lows = [-math.inf, *[float(t) for t in self._thresholds]]
        out = []
        for lo, rule in zip(lows, self._rules, strict=True):
            if isinstance(rule, str):
                out.append({"low": lo, "rule": rule, "fpr": 1.0 if rule == _ACCEPT else 0.0, "bytes": 0})
            else:
                out.append({"low": lo, "rule": "filter", "fpr": rule.expected_fpr(), "bytes": rule.size_in_bytes()})
        return out

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the whole structure (model, thresholds, filters) to ``path``; no pickle."""
        self._check_built()
        assert self._clf is not None
        arrays: dict[str, np.ndarray] = {"thresholds": self._thresholds}
        cmeta, carrays = self._clf.get_state()
        for k, v in carrays.items():
            arrays[f"clf.{k}"] = v
        rules_meta: list[Any] = []
        for r, rule in enumerate(self._rules):
            if isinstance(rule, str):
                rules_meta.append(rule)
            else:
                m, a = rule._state()
                rules_meta.append({"type": type(rule).__name__, "meta": m})
                for k, v in a.items():
                    arrays[f"rule{r}.{k}"] = v
        init_meta = None
        if self._initial is not None:
            m, a = self._initial._state()
            init_meta = {"type": type(self._initial).__name__, "meta": m}
            for k, v in a.items():
                arrays[f"initial.{k}"] = v
        arrays["veto"] = self._veto
        meta = {
            "class": type(self).__name__,
            "params": self._params_meta(),
            "key_kind": self._kind,
            "classifier": {"name": self._clf.name, "meta": cmeta},
            "rules": rules_meta,
            "initial": init_meta,
            "worst_case": self._worst_case,
            "region_neg": self._region_neg,
            "base_bytes": int(self._base_bytes),
        }
        _serialization.save(path, FILE_KIND, FILE_VERSION, meta, arrays)

    def _params_meta(self) -> dict[str, Any]:
        return {
            "target_fpr": self.target_fpr,
            "memory_budget": self.memory_budget,
            "backup": self.backup,
            "validation_fraction": self.validation_fraction,
            "refit": self.refit,
            "worst_case_fpr": self.worst_case_fpr,
            "seed": self.seed,
        }

    @classmethod
    def _params_from_meta(cls, params: Any, where: str) -> dict[str, Any]:
        """Constructor parameters saved with the filter, each checked."""
        if not isinstance(params, dict):
            raise _serialization.FormatError(f"{where}: 'params' is not an object")
        known = {"target_fpr", "memory_budget", "backup", "validation_fraction", "refit", "seed", "worst_case_fpr"}
        known |= set(cls._extra_params)
        unknown = sorted(set(params) - known)
        if unknown:
            raise _serialization.FormatError(f"{where}: unknown parameter(s) {unknown}")
        out = {
            "target_fpr": _checks.number(params, "target_fpr", where, low=0.0, high=1.0, low_open=True, high_open=True, default=0.01),
            "memory_budget": _checks.integer(params, "memory_budget", where, low=1, high=2**62, default=None, none_ok=True),
            "backup": _checks.choice(params, "backup", where, cls._backup_kinds, default="bloom"),
            "validation_fraction": _checks.number(params, "validation_fraction", where, low=0.0, high=1.0, low_open=True, high_open=True, default=0.5),
            "refit": _checks.flag(params, "refit", where, default=True),
            "seed": _checks.seed_value(params, "seed", where),
            "worst_case_fpr": None,  # version 1: no bound
        }
        if params.get("worst_case_fpr") == "auto":
            out["worst_case_fpr"] = "auto"
        else:
            out["worst_case_fpr"] = _checks.number(
                params, "worst_case_fpr", where, low=0.0, high=1.0, low_open=True, high_open=True, default=None, none_ok=True
            )
        return out

    @classmethod
    def _from_meta(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str, version: int = FILE_VERSION) -> _LearnedFilter:
        """Rebuild a saved filter; every field is checked against the format's invariants."""
        f = cls(**cls._params_from_meta(meta.get("params"), where))
        f._kind = _checks.choice(meta, "key_kind", where, ("bytes", "int"))
        used: set[str] = set()

        def part(prefix: str) -> dict[str, np.ndarray]:
            sel = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            used.update(prefix + k for k in sel)
            return sel

        cinfo = meta.get("classifier")
        if not isinstance(cinfo, dict) or not isinstance(cinfo.get("name"), str) or not isinstance(cinfo.get("meta"), dict):
            raise _serialization.FormatError(f"{where}: 'classifier' must be an object with a name and meta")
        ccls = CLASSIFIERS.get(cinfo["name"])
        if ccls is None:
            raise _serialization.FormatError(f"{where} needs classifier {cinfo['name']!r}, which is not registered")
        try:
            f._clf = ccls.from_state(cinfo["meta"], part("clf."))
        except _serialization.FormatError as exc:
            raise _serialization.FormatError(f"{where}: {exc}") from None
        except (KeyError, TypeError, ValueError, OverflowError, IndexError, AttributeError) as exc:
            raise _serialization.FormatError(f"{where}: inconsistent classifier state: {exc}") from None
        used.add("thresholds")
        thr = arrays.get("thresholds")
        if thr is None or thr.dtype != np.float64 or thr.ndim != 1 or thr.shape[0] > f._max_thresholds():
            raise _serialization.FormatError(
                f"{where}: 'thresholds' must be a float64 vector of at most {f._max_thresholds()} values"
            )
        # a threshold of +inf (last only) marks an empty top region: the model accepts nothing
        if np.isnan(thr).any() or np.isneginf(thr).any() or np.isposinf(thr[:-1]).any():
            raise _serialization.FormatError(f"{where}: thresholds hold NaN or infinite values")
        if thr.shape[0] and not np.all(np.diff(thr) > 0):
            raise _serialization.FormatError(f"{where}: thresholds are not strictly increasing")
        if thr.shape[0] < cls._min_thresholds:
            raise _serialization.FormatError(f"{where}: {type(f).__name__} needs at least {cls._min_thresholds} threshold(s)")
        f._thresholds = thr
        rules_meta = meta.get("rules")
        if not isinstance(rules_meta, list) or len(rules_meta) != thr.shape[0] + 1:
            raise _serialization.FormatError(f"{where}: 'rules' must list one rule per score region ({thr.shape[0] + 1})")
        rules: list[Backup | str] = []
        for r, rm in enumerate(rules_meta):
            if isinstance(rm, str):
                if rm not in (_ACCEPT, _REJECT):
                    raise _serialization.FormatError(f"{where}: rule {r} is {rm!r}, not 'accept', 'reject' or a filter")
                rules.append(rm)
            else:
                rules.append(f._backup_from_state(rm, part(f"rule{r}."), f"{where} (region {r})"))
        f._rules = rules
        f._initial = None
        init = meta.get("initial")
        if init is not None:
            if not cls._has_initial:
                raise _serialization.FormatError(f"{where}: a {type(f).__name__} has no initial filter")
            f._initial = f._backup_from_state(init, part("initial."), f"{where} (initial filter)")
        f._worst_case = None
        f._region_neg = None
        veto = np.zeros(0, dtype=np.uint64)
        if version >= 2:
            f._load_v2(meta, arrays, where)
            used.add("veto")
            veto = _checks.array(arrays, "veto", where, np.uint64, ndim=1)
            if np.unique(veto).shape[0] != veto.shape[0]:
                raise _serialization.FormatError(f"{where}: the veto lists an item twice")
        extra = sorted(set(arrays) - used)
        if extra:
            raise _serialization.FormatError(f"{where}: unexpected arrays {extra[:5]}")
        f._fuse_kernels()
        f._set_veto(veto)
        f._base_bytes = f.size_in_bytes() if version < 2 else f._base_bytes
        return f

    def _load_v2(self, meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> None:
        """Fields of format version 2: the worst-case bound (checked against the filters'
        real false-positive rates), the regions' negative shares and the size at fit."""
        wc = _checks.number(meta, "worst_case", where, low=0.0, high=1.0, low_open=True, high_open=True, none_ok=True)
        if wc is not None:
            bound = self.worst_case_bound_
            if bound > wc * (1 + 1e-9):
                raise _serialization.FormatError(
                    f"{where}: the filters admit a false-positive rate of {bound:.4g} on some queries, "
                    f"above the file's worst-case bound {wc:.4g}"
                )
        self._worst_case = wc
        rn = meta.get("region_neg")
        if rn is not None:
            if not isinstance(rn, list) or len(rn) != len(self._rules):
                raise _serialization.FormatError(f"{where}: 'region_neg' must list one share per region")
            rn = [_checks.number({"v": v}, "v", f"{where} (region_neg)", low=0.0, high=1.0) for v in rn]
        self._region_neg = rn
        self._base_bytes = _checks.integer(meta, "base_bytes", where, low=0, high=2**62)

    def _backup_from_state(self, rm: Any, arrays: dict[str, np.ndarray], where: str) -> Backup:
        """A region's (or the initial) filter: of this filter's backup kind and key kind."""
        want = {"bloom": ("BloomFilter",), "fuse": ("BinaryFuseFilter",)}.get(self.backup, ("BloomFilter", "BinaryFuseFilter"))
        if not isinstance(rm, dict) or rm.get("type") not in want or not isinstance(rm.get("meta"), dict):
            raise _serialization.FormatError(f"{where}: expected a {' or '.join(want)} (backup={self.backup!r})")
        ftype = BloomFilter if rm["type"] == "BloomFilter" else BinaryFuseFilter
        g = ftype._from_state(rm["meta"], arrays, where)
        if g._kind != self._kind:
            raise _serialization.FormatError(f"{where}: holds {g._kind} items, the filter {self._kind} items")
        return g


class LearnedBloomFilter(_LearnedFilter):
    """Kraska et al.'s learned Bloom filter: model + one threshold + one backup filter.

    Items scoring at or above the threshold tau are accepted (under a worst-case bound, checked
    by a filter of the keys above tau at that bound); the keys scoring below it go into a backup
    filter of FPR ``f_b`` so that ``Fp + (1 - Fp) f_b`` meets the target, where ``Fp`` is the
    share of validation negatives above tau. tau is chosen among a few thousand candidates
    to minimise total bytes. Build: ``O(training + n log n)``.

    Args:
        target_fpr: false-positive rate to meet, in (0, 1).
        memory_budget: total bytes to fit instead (then the FPR is minimised; takes precedence
            over ``target_fpr``).
        classifier: a :class:`Classifier`; default :class:`NGramLogistic`.
        backup: kind of the backup filters: "auto" (default: per region the smaller of a Bloom
            filter and a binary fuse filter, fuse widths chosen as whole fingerprint bits),
            "bloom", or "fuse" (static binary fuse filters only).
        validation_fraction: share of the negatives held out from training to set thresholds
            (default 0.25: negatives are often the scarce side, and the model gains more from
            them than the threshold choice and sizing lose).
        refit: when False, ``classifier`` is already fitted (on negatives other than these) and
            is used as is; then every negative serves to set thresholds. Lets one model serve
            several filters.
        worst_case_fpr: the false-positive rate that must hold on *any* query set, not only on
            queries like the negatives given to :meth:`fit`: no region lets more than this
            share of non-keys through (the sandwiched filter: its initial filter), checked on
            the filters' real bit fill (:attr:`worst_case_bound_`). Default "auto":
            ``10 * target_fpr`` (none at targets of 10% and above), at the price of the bits
            that hold the keys the model likes at that rate (on English words at 1%: 0.51x a
            Bloom filter instead of 0.15x, with at most 6-7% false positives on any shifted
            query set measured instead of 58-93%). ``None``: the in-distribution-only filter
            of the learned-filter papers, whose FPR holds only for queries drawn like the
            negatives.
        seed: seed of the split, the training order and the hash functions.

    Example:
        >>> from learnedsys.bloom import LearnedBloomFilter
        >>> keys = [f"key{i}" for i in range(2000)]
        >>> negatives = [f"other{i}" for i in range(2000)]
        >>> f = LearnedBloomFilter(target_fpr=0.01).fit(keys, negatives)
        >>> bool(f.contains(keys).all())
        True
    """

    def _plan(self, sk: np.ndarray, sv: np.ndarray, F: float, fixed: float, cap: float) -> Plan:
        return plan_lbf(sk, sv, F, fixed, self.backup, cap)


class SandwichedLearnedBloomFilter(_LearnedFilter):
    """Mitzenmacher's sandwiched learned Bloom filter: initial filter -> model -> backup.

    The initial filter holds every key and removes most non-keys before the model, so the model's
    false positives cost less; bits are split between the two filters optimally for each tau
    (``FPR = f1 (Fp + (1 - Fp) f2)``); under a worst-case bound ``f1`` is at most the bound.
    Same arguments as :class:`LearnedBloomFilter`.
    """

    _has_initial = True

    def _plan(self, sk: np.ndarray, sv: np.ndarray, F: float, fixed: float, cap: float) -> Plan:
        return plan_sandwich(sk, sv, F, fixed, self.backup, cap)


class PartitionedLearnedBloomFilter(_LearnedFilter):
    """Partitioned learned Bloom filter (PLBF; Vaidya et al. 2021), built the fast way.

    The score range is cut into ``n_segments`` quantile segments; a dynamic program groups them
    into at most ``n_regions`` regions maximising ``sum_i G_i log2(G_i / H_i)`` (G: share of keys,
    H: share of validation negatives), the top region accepting everything. Each region gets a
    backup filter with FPR ``f_i = F' G_i / (H_i sum G)`` (clipped at 1: accept all; 0 where no key
    scores: reject all; under a worst-case bound clipped at the bound instead of 1). The DP runs once for every choice of the top region (Sato and Matsui
    2023): ``O(N^2 k)`` for ``N`` segments and ``k`` regions, about 0.1 s for N = 1000, k = 8.

    Args:
        target_fpr: false-positive rate to meet, in (0, 1).
        memory_budget: total bytes to fit instead (then the FPR is minimised).
        n_segments: score segments N (more: finer regions, slower DP), in [4, 10000].
        n_regions: maximum number of regions k, in [1, 64].
        classifier: a :class:`Classifier`; default :class:`NGramLogistic`.
        backup: "auto" (default), "bloom" or "fuse" (see :class:`LearnedBloomFilter`).
        validation_fraction: share of the negatives held out from training to set regions
            (default 0.25; see :class:`LearnedBloomFilter`).
        refit: when False, ``classifier`` is already fitted and used as is (see
            :class:`LearnedBloomFilter`).
        worst_case_fpr: "auto" (default: 10x the target), a rate in (0, 1) or None (see
            :class:`LearnedBloomFilter`).
        seed: seed of the split, the training order and the hash functions.

    Example:
        >>> from learnedsys.bloom import PartitionedLearnedBloomFilter
        >>> keys = [f"key{i}" for i in range(2000)]
        >>> negatives = [f"other{i}" for i in range(2000)]
        >>> f = PartitionedLearnedBloomFilter(target_fpr=0.01).fit(keys, negatives)
        >>> bool(f.contains(keys).all()), "key7" in f
        (True, True)
    """

    def __init__(
        self,
        target_fpr: float = 0.01,
        *,
        memory_budget: int | None = None,
        n_segments: int = 1000,
        n_regions: int = 8,
        classifier: Classifier | None = None,
        backup: str = "auto",
        validation_fraction: float = 0.25,
        refit: bool = True,
        worst_case_fpr: float | str | None = "auto",
        seed: int | None = 0,
    ) -> None:
        super().__init__(
            target_fpr,
            memory_budget=memory_budget,
            classifier=classifier,
            backup=backup,
            validation_fraction=validation_fraction,
            refit=refit,
            worst_case_fpr=worst_case_fpr,
            seed=seed,
        )
        self.n_segments = n_segments
        self.n_regions = n_regions

    def _check_params(self) -> None:
        super()._check_params()
        owner = type(self).__name__
        check_int(self.n_segments, "n_segments", owner, low=4, high=10000)
        check_int(self.n_regions, "n_regions", owner, low=1, high=64)

    def _prepare(self, sk: np.ndarray, sv: np.ndarray) -> None:
        self._planner = PLBFPlanner(sk, sv, int(self.n_segments), int(self.n_regions))

    def _plan(self, sk: np.ndarray, sv: np.ndarray, F: float, fixed: float, cap: float) -> Plan:
        return self._planner.plan(F, fixed, self.backup, cap)

    _extra_params = ("n_segments", "n_regions")
    _min_thresholds = 0

    def _max_thresholds(self) -> int:
        return int(self.n_regions)

    def _params_meta(self) -> dict[str, Any]:
        d = super()._params_meta()
        d.update(n_segments=self.n_segments, n_regions=self.n_regions)
        return d

    @classmethod
    def _params_from_meta(cls, params: Any, where: str) -> dict[str, Any]:
        out = super()._params_from_meta(params, where)
        out["n_segments"] = _checks.integer(params, "n_segments", where, low=4, high=10000, default=1000)
        out["n_regions"] = _checks.integer(params, "n_regions", where, low=1, high=64, default=8)
        return out


_CLASSES: dict[str, type[_LearnedFilter]] = {
    "LearnedBloomFilter": LearnedBloomFilter,
    "SandwichedLearnedBloomFilter": SandwichedLearnedBloomFilter,
    "PartitionedLearnedBloomFilter": PartitionedLearnedBloomFilter,
}


def load(path: str | os.PathLike[str]) -> Any:
    """Load any filter saved by this package (learned filters, BloomFilter, BinaryFuseFilter).

    Raises:
        FileNotFoundError: no such file.
        FormatError: the file is corrupted, truncated, foreign, or inconsistent.
    """
    where = repr(str(path))
    try:
        version, meta, arrays = _serialization.load(path, FILE_KIND, FILE_VERSION)
    except _serialization.FormatError as exc:
        # plain filters are saved under their own kinds
        for cls in (BloomFilter, BinaryFuseFilter):
            if f"holds a {cls._KIND!r}" in str(exc):
                return cls.load(path)
        raise
    name = meta.get("class")
    learned_cls = _CLASSES.get(name) if isinstance(name, str) else None
    if learned_cls is None:
        raise _serialization.FormatError(f"{where}: unknown filter class {meta.get('class')!r}")
    return learned_cls._from_meta(meta, arrays, where, version)

