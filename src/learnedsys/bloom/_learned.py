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

import numpy as np

from learnedsys import _serialization
from learnedsys._validation import (
    InvalidParameterError,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_seed,
    describe,
)
from learnedsys.bloom._bloomfilter import BloomFilter, routed_query
from learnedsys.bloom._classifier import CLASSIFIERS, Classifier, NGramLogistic
from learnedsys.bloom._encode import EncodedBatch, encode_items, hash_batch
from learnedsys.bloom._fuse import BinaryFuseFilter
from learnedsys.bloom._gru import CharGRU  # noqa: F401  (registers the torch model for load())
from learnedsys.bloom._plan import (
    THRESHOLD_BYTES,
    Plan,
    PLBFPlanner,
    calibrate,
    plan_lbf,
    plan_sandwich,
)

__all__ = [
    "FILE_KIND",
    "LearnedBloomFilter",
    "PartitionedLearnedBloomFilter",
    "SandwichedLearnedBloomFilter",
]

FILE_KIND = "learnedsys.bloom"
FILE_VERSION = 1

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


class _LearnedFilter:
    """Shared construction, query, size and persistence of the learned filters."""

    _backup_kinds = ("bloom", "fuse")

    def __init__(
        self,
        target_fpr: float = 0.01,
        *,
        memory_budget: int | None = None,
        classifier: Classifier | None = None,
        backup: str = "bloom",
        validation_fraction: float = 0.5,
        refit: bool = True,
        seed: int | None = 0,
    ) -> None:
        self.target_fpr = target_fpr
        self.memory_budget = memory_budget
        self.classifier = classifier
        self.backup = backup
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.seed = seed
        self._clf: Classifier | None = None

    # -- planning hooks -------------------------------------------------------------------------
    def _prepare(self, sk: np.ndarray, sv: np.ndarray) -> None:
        """Precompute what plans for many target FPRs share (PLBF: the DP)."""

    def _plan(self, sk: np.ndarray, sv: np.ndarray, F: float, fixed: float) -> Plan:
        raise NotImplementedError

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
        return self

    def _plan_checked(self, sk: np.ndarray, sv: np.ndarray, F: float, fixed: float) -> Plan:
        """Plan on the selection half, then size the filters on the other half."""
        plan = self._plan(sk, sv, F, fixed)
        return calibrate(plan, sk, self._sv_check, F, fixed, self.backup)

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

    def _make_backup(self, hashes: np.ndarray, fpr: float, seed: int) -> Backup:
        if self.backup == "bloom":
            f = BloomFilter(target_fpr=min(max(fpr, 1e-15), 0.999999), seed=seed)
            f._allocate(hashes.shape[0])
            f._kind = self._kind
            f._add_hashes(hashes)
            return f
        g = BinaryFuseFilter(target_fpr=min(max(fpr, 1e-9), 0.999999), seed=seed)
        g._kind = self._kind
        return g._fit_hashes(hashes)

    def _build(self, plan: Plan, hk: np.ndarray, sk: np.ndarray, seed: int) -> None:
        self._thresholds = np.asarray(plan.thresholds, dtype=np.float64)
        self._initial: Backup | None = None
        if plan.initial_fpr < 1.0:
            self._initial = self._make_backup(hk, plan.initial_fpr, seed * 1000 + 999)
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
            if f >= 1.0:
                rules.append(_ACCEPT)
            elif not sel.any():
                rules.append(_REJECT)
            else:
                rules.append(self._make_backup(hk[sel], f, seed * 1000 + r))
        self._rules = rules
        self._fuse_kernels()

    def _fuse_kernels(self) -> None:
        """When every filter is a Bloom filter, pack them for the one-pass query kernel."""
        self._packed: tuple[Any, ...] | None = None
        parts = [*self._rules, self._initial if self._initial is not None else _REJECT]
        if any(not isinstance(p, (str, BloomFilter)) for p in parts):
            return
        rtype = np.zeros(len(parts), dtype=np.int8)
        woff = np.zeros(len(parts), dtype=np.int64)
        ms = np.ones(len(parts), dtype=np.int64)
        ks = np.ones(len(parts), dtype=np.int64)
        salts = np.zeros(len(parts), dtype=np.uint64)
        chunks = []
        pos = 0
        for r, p in enumerate(parts):
            if isinstance(p, str):
                rtype[r] = 1 if p == _ACCEPT else 0
                continue
            assert isinstance(p, BloomFilter) and p._words is not None
            rtype[r] = 2
            woff[r] = pos
            ms[r], ks[r], salts[r] = p._m, p._k, p._salt
            chunks.append(p._words)
            pos += p._words.shape[0]
        words = np.concatenate(chunks) if chunks else np.zeros(1, dtype=np.uint64)
        self._packed = (rtype[:-1].copy(), woff, ms, ks, salts, words, self._initial is not None)

    # -- queries --------------------------------------------------------------------------------
    def _check_built(self) -> None:
        if self._clf is None:
            raise InvalidParameterError(
                f"This {type(self).__name__} is not built yet; call fit(keys, negatives) first."
            )

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

    def _query(self, batch: EncodedBatch) -> np.ndarray:
        assert self._clf is not None
        n = len(batch)
        out = np.zeros(n, dtype=np.bool_)
        if n == 0:
            return out
        h = hash_batch(batch)
        s = self._clf.score(batch)
        if self._packed is not None:
            rtype, woff, ms, ks, salts, words, init_on = self._packed
            routed_query(h, s, self._thresholds, rtype, woff, ms, ks, salts, words, init_on, out)
            return out
        region = np.searchsorted(self._thresholds, s, side="right")
        alive = self._initial.contains_hashes(h) if self._initial is not None else None
        for r, rule in enumerate(self._rules):
            sel = region == r
            if alive is not None:
                sel &= alive
            if isinstance(rule, str):
                if rule == _ACCEPT:
                    out[sel] = True
                continue
            idx = np.flatnonzero(sel)
            if idx.shape[0]:
                out[idx] = rule.contains_hashes(h[idx])
        return out

    def __contains__(self, item: Any) -> bool:
        return bool(self.contains([item])[0])

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
        return int(total)

    def size_breakdown(self) -> dict[str, int]:
        """Bytes of the model, the thresholds, the initial filter and the backup filters."""
        self._check_built()
        assert self._clf is not None
        return {
            "model": self._clf.size_in_bytes(),
            "thresholds": THRESHOLD_BYTES * int(self._thresholds.shape[0]),
            "initial": self._initial.size_in_bytes() if self._initial is not None else 0,
            "backup": sum(r.size_in_bytes() for r in self._rules if not isinstance(r, str)),
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
        meta = {
            "class": type(self).__name__,
            "params": self._params_meta(),
            "key_kind": self._kind,
            "classifier": {"name": self._clf.name, "meta": cmeta},
            "rules": rules_meta,
            "initial": init_meta,
        }
        _serialization.save(path, FILE_KIND, FILE_VERSION, meta, arrays)

    def _params_meta(self) -> dict[str, Any]:
        return {
            "target_fpr": self.target_fpr,
            "memory_budget": self.memory_budget,
            "backup": self.backup,
            "validation_fraction": self.validation_fraction,
            "refit": self.refit,
            "seed": self.seed,
        }

    @classmethod
    def _from_meta(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> _LearnedFilter:
        params = dict(meta["params"])
        f = cls(**params)
        f._kind = str(meta["key_kind"])
        if f._kind not in ("bytes", "int"):
            raise ValueError("bad key kind")
        cinfo = meta["classifier"]
        ccls = CLASSIFIERS.get(str(cinfo["name"]))
        if ccls is None:
            raise _serialization.FormatError(
                f"{where} needs classifier {cinfo['name']!r}, which is not registered"
            )
        carrays = {k[4:]: v for k, v in arrays.items() if k.startswith("clf.")}
        f._clf = ccls.from_state(cinfo["meta"], carrays)
        thr = arrays["thresholds"]
        if thr.dtype != np.float64 or thr.ndim != 1 or not np.all(np.diff(thr) > 0):
            raise ValueError("bad thresholds")
        f._thresholds = thr
        rules: list[Backup | str] = []
        for r, rm in enumerate(meta["rules"]):
            if isinstance(rm, str):
                if rm not in (_ACCEPT, _REJECT):
                    raise ValueError("bad rule")
                rules.append(rm)
            else:
                a = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith(f"rule{r}.")}
                rules.append(_backup_from_state(rm, a, where))
        if len(rules) != thr.shape[0] + 1:
            raise ValueError("rules and thresholds disagree")
        f._rules = rules
        f._initial = None
        if meta["initial"] is not None:
            a = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("initial.")}
            f._initial = _backup_from_state(meta["initial"], a, where)
        f._fuse_kernels()
        return f

    def __repr__(self) -> str:
        if self._clf is None:
            return f"{type(self).__name__}(target_fpr={self.target_fpr!r}, not built)"
        return f"{type(self).__name__}(regions={len(self._rules)}, bytes={self.size_in_bytes()})"


def _backup_from_state(rm: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> Backup:
    t = rm["type"]
    if t == "BloomFilter":
        return BloomFilter._from_state(rm["meta"], arrays, where)
    if t == "BinaryFuseFilter":
        return BinaryFuseFilter._from_state(rm["meta"], arrays, where)
    raise ValueError(f"unknown filter type {t!r}")


class LearnedBloomFilter(_LearnedFilter):
    """Kraska et al.'s learned Bloom filter: model + one threshold + one backup filter.

    Items scoring at or above the threshold tau are accepted; the keys scoring below it go into a
    backup filter of FPR ``f_b`` so that ``Fp + (1 - Fp) f_b`` meets the target, where ``Fp`` is
    the share of validation negatives above tau. tau is chosen among a few thousand candidates
    to minimise total bytes. Build: ``O(training + n log n)``.

    Args:
        target_fpr: false-positive rate to meet, in (0, 1).
        memory_budget: total bytes to fit instead (then the FPR is minimised; takes precedence
            over ``target_fpr``).
        classifier: a :class:`Classifier`; default :class:`NGramLogistic`.
        backup: "bloom" (default) or "fuse" (static binary fuse backup filters).
        validation_fraction: share of the negatives held out from training to set thresholds.
        refit: when False, ``classifier`` is already fitted (on negatives other than these) and
            is used as is; then every negative serves to set thresholds. Lets one model serve
            several filters.
        seed: seed of the split, the training order and the hash functions.

    Example:
        >>> from learnedsys.bloom import LearnedBloomFilter
        >>> keys = [f"key{i}" for i in range(2000)]
        >>> negatives = [f"other{i}" for i in range(2000)]
        >>> f = LearnedBloomFilter(target_fpr=0.01).fit(keys, negatives)
        >>> bool(f.contains(keys).all())
        True
    """

    def _plan(self, sk: np.ndarray, sv: np.ndarray, F: float, fixed: float) -> Plan:
        return plan_lbf(sk, sv, F, fixed, self.backup)


class SandwichedLearnedBloomFilter(_LearnedFilter):
    """Mitzenmacher's sandwiched learned Bloom filter: initial filter -> model -> backup.

    The initial filter holds every key and removes most non-keys before the model, so the model's
    false positives cost less; bits are split between the two filters optimally for each tau
    (``FPR = f1 (Fp + (1 - Fp) f2)``). Same arguments as :class:`LearnedBloomFilter`.
    """

    def _plan(self, sk: np.ndarray, sv: np.ndarray, F: float, fixed: float) -> Plan:
        return plan_sandwich(sk, sv, F, fixed, self.backup)


class PartitionedLearnedBloomFilter(_LearnedFilter):
    """Partitioned learned Bloom filter (PLBF; Vaidya et al. 2021), built the fast way.

    The score range is cut into ``n_segments`` quantile segments; a dynamic program groups them
    into at most ``n_regions`` regions maximising ``sum_i G_i log2(G_i / H_i)`` (G: share of keys,
    H: share of validation negatives), the top region accepting everything. Each region gets a
    backup filter with FPR ``f_i = F' G_i / (H_i sum G)`` (clipped at 1: accept all; 0 where no key
    scores: reject all). The DP runs once for every choice of the top region (Sato and Matsui
    2023): ``O(N^2 k)`` for ``N`` segments and ``k`` regions, about 0.1 s for N = 1000, k = 8.

    Args:
        target_fpr: false-positive rate to meet, in (0, 1).
        memory_budget: total bytes to fit instead (then the FPR is minimised).
        n_segments: score segments N (more: finer regions, slower DP), in [4, 10000].
        n_regions: maximum number of regions k, in [1, 64].
        classifier: a :class:`Classifier`; default :class:`NGramLogistic`.
        backup: "bloom" (default) or "fuse".
        validation_fraction: share of the negatives held out from training to set regions.
        refit: when False, ``classifier`` is already fitted and used as is (see
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
        backup: str = "bloom",
        validation_fraction: float = 0.5,
        refit: bool = True,
        seed: int | None = 0,
    ) -> None:
        super().__init__(
            target_fpr,
            memory_budget=memory_budget,
            classifier=classifier,
            backup=backup,
            validation_fraction=validation_fraction,
            refit=refit,
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

    def _plan(self, sk: np.ndarray, sv: np.ndarray, F: float, fixed: float) -> Plan:
        return self._planner.plan(F, fixed, self.backup)

    def _params_meta(self) -> dict[str, Any]:
        d = super()._params_meta()
        d.update(n_segments=self.n_segments, n_regions=self.n_regions)
        return d


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
        _, meta, arrays = _serialization.load(path, FILE_KIND, FILE_VERSION)
    except _serialization.FormatError as exc:
        # plain filters are saved under their own kinds
        for cls in (BloomFilter, BinaryFuseFilter):
            if f"holds a {cls._KIND!r}" in str(exc):
                return cls.load(path)
        raise
    try:
        learned_cls = _CLASSES[str(meta["class"])]
        return learned_cls._from_meta(meta, arrays, where)
    except _serialization.FormatError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError, IndexError, InvalidParameterError) as exc:
        raise _serialization.FormatError(f"{where} holds an inconsistent learned filter: {exc}") from None

