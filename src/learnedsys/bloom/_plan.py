"""Planning: how many bits each filter of a learned structure gets, for a target FPR.

Every planner works on score distributions only: the keys' scores (exact, all keys are known) and
the validation negatives' scores (a sample). Costs are in bits and follow the backup kind:
a Bloom filter needs ``n ln(1/f) / ln(2)^2`` bits, a binary fuse filter about
``1.13 n ceil(log2(1/f))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba as nb
import numpy as np

from learnedsys.bloom._fuse import _HEADER_BYTES as FUSE_HEADER_BYTES
from learnedsys.bloom._fuse import fuse_bits, fuse_layout, fuse_length

LN2SQ = math.log(2.0) ** 2
FILTER_OVERHEAD_BYTES = 16  # header bytes of each backup filter
THRESHOLD_BYTES = 8


def filter_bits(n: float, f: float, backup: str) -> float:
    """Planned bits of a backup filter holding ``n`` keys at false-positive rate ``f``."""
    if n <= 0 or f >= 1.0:
        return 0.0
    f = max(f, 1e-12)
    if backup in ("bloom", "auto"):
        return n * math.log(1.0 / f) / LN2SQ
    r = min(32, max(1, math.ceil(math.log2(1.0 / f) - 1e-9)))
    return float(fuse_bits(int(n), r))


def filter_bits_array(n: np.ndarray, f: np.ndarray, backup: str) -> np.ndarray:
    """Vectorised :func:`filter_bits` (approximate fuse size: 1.13 n r)."""
    n = np.asarray(n, dtype=np.float64)
    f = np.clip(np.asarray(f, dtype=np.float64), 1e-12, 1.0)
    if backup in ("bloom", "auto"):
        bits = n * np.log(1.0 / f) / LN2SQ
    else:
        r = np.clip(np.ceil(np.log2(1.0 / f) - 1e-9), 1, 32)
        bits = _fuse_lengths(n.reshape(-1)).reshape(n.shape) * r
    return np.where((n > 0) & (f < 1.0), bits, 0.0)


@nb.njit(cache=True)
def _fuse_lengths(n):  # type: ignore[no-untyped-def]
    out = np.empty(n.shape[0])
    for i in range(n.shape[0]):
        out[i] = fuse_length(int(n[i])) if n[i] > 0 else 0.0
    return out


@dataclass
class Plan:
    """A planned structure: region boundaries in score space and each region's filter FPR.

    ``region_fpr[r]`` is 1.0 for a region that accepts everything (no filter), 0.0 for one that
    holds no key (rejects everything), else the FPR of the region's backup filter.
    """

    thresholds: np.ndarray
    region_fpr: list[float]
    initial_fpr: float = 1.0
    bytes: float = 0.0
    expected_fpr: float = 0.0
    info: dict[str, float] = field(default_factory=dict)
    region_neg: list[float] | None = None  # upper estimate of each region's share of negatives
    cap: float = 1.0  # worst-case bound the plan respects (1: none)
    region_kind: list[str] | None = None  # "bloom" or "fuse" per region (None: the backup kind)


def _tail_counts(sorted_scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """How many of ``sorted_scores`` are >= each tau."""
    return sorted_scores.shape[0] - np.searchsorted(sorted_scores, taus, side="left")


def _upper(count: np.ndarray, total: int) -> np.ndarray:
    """An upper estimate ``(c + 2 sqrt(c) + 1) / total`` of a rate seen ``c`` times in ``total``.

    Thresholds and regions are picked where the validation rate happens to be low, so the plain
    estimate is optimistic on fresh negatives; the margin (about two standard deviations) keeps
    the test FPR near the target when the validation set holds only a few false positives, and
    costs little when it holds many.
    """
    c = np.asarray(count, dtype=np.float64)
    return np.minimum(1.0, (c + 2.0 * np.sqrt(c) + 1.0) / total)


def _candidates(sk: np.ndarray, sv: np.ndarray, limit: int = 4000) -> np.ndarray:
    """Candidate thresholds: midpoints between distinct scores near the negatives' upper tail."""
    vals = np.unique(np.concatenate([sv, np.quantile(sk, np.linspace(0, 1, 201))]))
    if vals.shape[0] > limit:
        # dense where the negatives thin out (low FPR), sparser below
        top = vals[-limit // 2 :]
        rest = vals[: -limit // 2]
        idx = np.linspace(0, rest.shape[0] - 1, limit // 2).astype(np.int64)
        vals = np.concatenate([rest[idx], top])
    mids = np.nextafter(vals, np.inf)
    return np.unique(np.concatenate([mids, [np.inf]]))


def plan_lbf(sk: np.ndarray, sv: np.ndarray, F: float, fixed_bytes: float, backup: str, cap: float = 1.0) -> Plan:
    """One threshold tau: the keys below tau go to one backup filter; scores >= tau are accepted,
    or, under a worst-case bound ``cap < 1``, checked by a second filter of FPR ``cap`` that holds
    the keys above tau (so that no query set sees more than ``cap``)."""
    sks, svs = np.sort(sk), np.sort(sv)
    n, nv = sk.shape[0], max(sv.shape[0], 1)
    F = min(F, cap)
    taus = _candidates(sks, svs)
    fp = _upper(_tail_counts(svs, taus), nv)
    fp[np.isinf(taus)] = 0.0  # tau = inf: no item is accepted by the model, a plain filter
    nb_keys = n - _tail_counts(sks, taus)
    ok = fp * cap < F
    fb = np.where(ok, np.minimum((F - fp * cap) / np.maximum(1.0 - fp, 1e-12), cap), 1.0)
    bits = filter_bits_array(nb_keys, fb, backup)
    if cap < 1.0:
        bits = bits + filter_bits_array((n - nb_keys).astype(np.float64), np.full(taus.shape, cap), backup)
    bytes_ = np.where(ok, bits / 8.0, np.inf)
    i = int(np.argmin(bytes_))
    tau = float(taus[i])
    f_b = float(fb[i]) if nb_keys[i] > 0 else 0.0
    n_above = int(n - nb_keys[i])
    f_top = cap if (cap < 1.0 and n_above > 0) else (1.0 if cap >= 1.0 else 0.0)
    total = (fixed_bytes + THRESHOLD_BYTES + FILTER_OVERHEAD_BYTES * (1 + (0.0 < f_top < 1.0))
             + (filter_bits(int(nb_keys[i]), f_b, backup) + filter_bits(n_above, f_top, backup)) / 8.0)
    return Plan(
        thresholds=np.array([tau]),
        region_fpr=[f_b, f_top],
        bytes=total,
        expected_fpr=float(fp[i] * f_top + (1 - fp[i]) * f_b),
        info={"model_fpr": float(fp[i]), "model_fnr": float(nb_keys[i] / n)},
    )


def plan_sandwich(sk: np.ndarray, sv: np.ndarray, F: float, fixed_bytes: float, backup: str, cap: float = 1.0) -> Plan:
    """Initial filter on all keys, then tau, then a backup for the keys below tau.

    FPR = f1 (Fp + (1 - Fp) f2); for each tau the split (f1, f2) minimising
    ``n log(1/f1) + n_below log(1/f2)`` is found on a grid of f2 (Mitzenmacher 2018). Under a
    worst-case bound ``cap < 1`` the initial filter is held to ``f1 <= cap``: every query, of any
    distribution, must pass it.
    """
    F = min(F, cap)
    sks, svs = np.sort(sk), np.sort(sv)
    n, nv = sk.shape[0], max(sv.shape[0], 1)
    taus = _candidates(sks, svs, limit=1500)
    fp = _upper(_tail_counts(svs, taus), nv)
    fp[np.isinf(taus)] = 0.0
    nb_keys = (n - _tail_counts(sks, taus)).astype(np.float64)
    f2 = np.concatenate([np.logspace(-9, 0, 181)[:-1], [1.0]])
    FP, F2 = np.meshgrid(fp, f2, indexing="ij")
    NB = np.broadcast_to(nb_keys[:, None], FP.shape)
    passed = FP + (1.0 - FP) * F2
    F1 = np.minimum(cap, F / np.maximum(passed, 1e-300))
    feasible = F1 * passed <= F * (1 + 1e-9)
    bits = filter_bits_array(np.full(FP.shape, float(n)), F1, backup) + filter_bits_array(NB, np.where(NB > 0, F2, 1.0), backup)
    bits = np.where(feasible, bits, np.inf)
    a, b = np.unravel_index(int(np.argmin(bits)), bits.shape)
    f1, f2v = float(F1[a, b]), float(F2[a, b])
    n_below = int(nb_keys[a])
    if n_below == 0:
        f2v = 0.0
    total = (
        fixed_bytes + THRESHOLD_BYTES + 2 * FILTER_OVERHEAD_BYTES
        + (filter_bits(n, f1, backup) + filter_bits(n_below, f2v, backup)) / 8.0
    )
    return Plan(
        thresholds=np.array([float(taus[a])]),
        region_fpr=[f2v, 1.0],
        initial_fpr=f1,
        bytes=total,
        expected_fpr=f1 * (float(fp[a]) + (1 - float(fp[a])) * f2v),
        info={"model_fpr": float(fp[a]), "model_fnr": n_below / n},
    )


def calibrate(plan: Plan, sk: np.ndarray, sv: np.ndarray, F: float, fixed_bytes: float, backup: str,
              cap: float = 1.0) -> Plan:
    """Re-allocate the regions' FPRs of ``plan`` with negatives ``sv`` that did not choose it.

    Thresholds are chosen where the selection negatives happen to look favourable, so their
    rates are optimistic; here each region's negative share is re-estimated (upper estimate, see
    :func:`_upper`) on independent negatives, and the FPRs ``f_r = F g_r / (h_r sum g)`` (clipped
    at 1: accept all) are solved again for the fixed regions, so that ``sum f_r h_r`` meets
    ``F`` (``F / initial_fpr`` behind an initial filter). Any region may turn from "accept all"
    into a filtered one or back. Under a worst-case bound ``cap < 1`` (without an initial filter)
    regions are clipped at ``cap`` instead of 1: none accepts everything.
    """
    if sv.shape[0] == 0:
        return plan
    R = plan.thresholds.shape[0] + 1
    g = np.bincount(np.searchsorted(plan.thresholds, sk, side="right"), minlength=R) / max(sk.shape[0], 1)
    c = np.bincount(np.searchsorted(plan.thresholds, sv, side="right"), minlength=R)
    h = _upper(c, sv.shape[0])
    F_inner = min(1.0, F / plan.initial_fpr) if plan.initial_fpr < 1.0 else min(F, cap)
    clip = 1.0 if plan.initial_fpr < 1.0 else cap
    n = sk.shape[0]
    kinds: list[str] | None = None
    if backup == "bloom":
        f, ok = _region_fprs(g.astype(np.float64), h.astype(np.float64), F_inner, clip)
        if not ok:
            return plan
        fprs = [0.0 if g[r] <= 0 else float(f[r]) for r in range(R)]
        bits = sum(filter_bits(round(n * g[r]), fprs[r], backup) for r in range(R))
    else:
        got = allocate(np.round(n * g), h.astype(np.float64), F_inner, clip, backup)
        if got is None:
            return plan
        fprs, kinds, bits = got
    n_filters = sum(1 for r in range(R) if 0.0 < fprs[r] < 1.0)
    if plan.initial_fpr < 1.0:
        bits += filter_bits(n, plan.initial_fpr, backup)
        n_filters += 1
    return Plan(
        thresholds=plan.thresholds,
        region_fpr=fprs,
        initial_fpr=plan.initial_fpr,
        bytes=fixed_bytes + THRESHOLD_BYTES * (R - 1) + FILTER_OVERHEAD_BYTES * n_filters + bits / 8.0,
        expected_fpr=float(plan.initial_fpr * np.sum(np.asarray(fprs) * h)),
        info={**plan.info, "calibrated": 1.0},
        region_neg=[float(x) for x in h],
        region_kind=kinds,
    )


def _fuse_options(n: float, clip: float) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, bits) of a binary fuse filter of ``n`` keys for every width allowed under ``clip``."""
    r0 = max(1, math.ceil(math.log2(1.0 / clip) - 1e-12)) if clip < 1.0 else 1
    rs = np.arange(r0, 33)
    length = fuse_layout(int(n))[2]
    bits = (np.ceil(length * rs / 64.0) * 64 + 64 + 8 * FUSE_HEADER_BYTES).astype(np.float64)
    return 2.0 ** -rs.astype(np.float64), bits


def region_options(n: np.ndarray, clip: float) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per region, the binary fuse widths allowed under ``clip`` as (FPRs, bits)."""
    return [_fuse_options(float(n[r]), clip) if n[r] > 0 else None for r in range(n.shape[0])]


def choose_regions(n: np.ndarray, w: np.ndarray, lam: float, clip: float, backup: str,
                   fuse_opts: list[tuple[np.ndarray, np.ndarray] | None]) -> tuple[list[float], list[str], float]:
    """For each region the option (Bloom filter at its best FPR, fuse filter of some width,
    accept-all) minimising ``bits + lam * w_r * f``; returns (FPRs, kinds, total bits)."""
    bloom_ok = backup in ("auto", "bloom")
    fuse_ok = backup in ("auto", "fuse")
    bloom_max = min(clip, 0.999999)
    fprs: list[float] = []
    kinds: list[str] = []
    total = 0.0
    for r in range(n.shape[0]):
        default_kind = "bloom" if bloom_ok else "fuse"
        if n[r] <= 0:
            fprs.append(0.0)
            kinds.append(default_kind)
            continue
        best = (math.inf, 1.0, default_kind, 0.0)  # (objective, f, kind, bits)
        if clip >= 1.0:
            best = (lam * w[r], 1.0, default_kind, 0.0)
        if bloom_ok:
            fb = n[r] / (LN2SQ * lam * w[r]) if w[r] > 0 and lam > 0 else bloom_max
            fb = min(max(fb, 1e-12), bloom_max)
            bb = n[r] * math.log(1.0 / fb) / LN2SQ + 64.0 + 8 * FILTER_OVERHEAD_BYTES
            if bb + lam * w[r] * fb < best[0]:
                best = (bb + lam * w[r] * fb, fb, "bloom", bb)
        opts = fuse_opts[r]
        if fuse_ok and opts is not None:
            obj = opts[1] + lam * w[r] * opts[0]
            i = int(np.argmin(obj))
            if obj[i] < best[0]:
                best = (float(obj[i]), float(opts[0][i]), "fuse", float(opts[1][i]))
        fprs.append(best[1])
        kinds.append(best[2])
        total += best[3]
    return fprs, kinds, total


def allocate(n: np.ndarray, h: np.ndarray, F: float, clip: float, backup: str) -> tuple[list[float], list[str], float] | None:
    """Each region's filter kind and FPR for regions of ``n`` keys and negative shares ``h``,
    minimising total bits subject to ``sum h_r f_r <= F`` and ``f_r <= clip``.

    Binary fuse filters come in whole fingerprint widths (``f = 2^-r``, ``1.13 r`` bits per key),
    so the continuous optimum of :func:`_region_fprs` rounded up to a width wastes up to a bit
    per key; here every region picks, for a Lagrange multiplier ``lambda``, the option (Bloom
    filter at its optimal FPR when ``backup == "auto"``, fuse filter of any width, accept-all
    when ``clip >= 1``) minimising ``bits + lambda h_r f_r``, and ``lambda`` is bisected until
    the FPR meets ``F``. Returns (FPRs, kinds, bits) or None when infeasible.
    """
    opts = region_options(n, clip)

    def fpr_of(got: tuple[list[float], list[str], float]) -> float:
        return float(np.sum(np.asarray(got[0]) * h))

    lo, hi = -30.0, 80.0  # log lambda
    top = choose_regions(n, h, math.exp(hi), clip, backup, opts)
    if fpr_of(top) > F:
        return None
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        got = choose_regions(n, h, math.exp(mid), clip, backup, opts)
        if fpr_of(got) <= F:
            hi, top = mid, got
        else:
            lo = mid
    return top


# ---------------------------------------------------------------------------------------------
# PLBF: k regions maximising sum G log(G/H); fast construction (Sato and Matsui, 2023): one DP
# over prefixes serves every choice of the top (accept-all) region, O(N^2 k) instead of O(N^3 k).

_NEG = -1e300


@nb.njit(cache=True, nogil=True)
def _plbf_dp(G, H, kmax):  # type: ignore[no-untyped-def]
    """dp[i, j]: max sum over i regions covering segments [0, j) of g log2(g / h); arg: last cut."""
    N = G.shape[0] - 1
    dp = np.full((kmax + 1, N + 1), _NEG)
    arg = np.zeros((kmax + 1, N + 1), dtype=np.int64)
    dp[0, 0] = 0.0
    for i in range(1, kmax + 1):
        for j in range(i, N + 1):
            best = _NEG
            bt = -1
            for t in range(i - 1, j):
                prev = dp[i - 1, t]
                if prev == _NEG:
                    continue
                g = G[j] - G[t]
                h = H[j] - H[t]
                w = g * math.log2(g / h) if g > 0.0 else 0.0
                v = prev + w
                if v > best:
                    best = v
                    bt = t
            dp[i, j] = best
            arg[i, j] = bt
    return dp, arg


@nb.njit(cache=True, inline="always")
def _cost_bits(nk, f, fuse):  # type: ignore[no-untyped-def]
    if nk <= 0.0 or f >= 1.0:
        return 0.0
    if f < 1e-12:
        f = 1e-12
    if fuse:
        r = min(32.0, max(1.0, float(math.ceil(math.log2(1.0 / f) - 1e-9))))
        return fuse_length(round(nk)) * r
    return nk * math.log(1.0 / f) / 0.4804530139182014


@nb.njit(cache=True, inline="always")
def _upper_rate(h, nv):  # type: ignore[no-untyped-def]
    """Upper estimate of a rate h measured on nv negatives (see ``_upper``)."""
    c = h * nv
    return min(1.0, (c + 2.0 * math.sqrt(c) + 1.0) / nv)


@nb.njit(cache=True, nogil=True)
def _region_fprs(g, h, Fp, clip=1.0):  # type: ignore[no-untyped-def]
    """Optimal f_r = F' g_r / (h_r sum g) with clipping at ``clip`` (1: accept all; below 1: a
    worst-case bound); returns (f, feasible)."""
    k = g.shape[0]
    f = np.zeros(k)
    clipped = np.zeros(k, dtype=np.bool_)
    for _ in range(k + 1):
        sum_g = 0.0
        rem = Fp
        for r in range(k):
            if clipped[r]:
                rem -= h[r] * clip
            else:
                sum_g += g[r]
        if rem <= 0.0:
            return f, False
        changed = False
        for r in range(k):
            if clipped[r]:
                f[r] = clip
            elif g[r] <= 0.0:
                f[r] = 0.0
            else:
                f[r] = rem * g[r] / (h[r] * sum_g)
                if f[r] >= clip:
                    clipped[r] = True
                    changed = True
        if not changed:
            return f, True
    return f, False


@nb.njit(cache=True, nogil=True)
def _plbf_best(G, H, dp, arg, kmax, F, n, fuse, overhead_bits, nv, cap):  # type: ignore[no-untyped-def]
    # Regions [0, j) come from the DP; [j, N) is the top region, accepted (cap = 1) or, under a
    # worst-case bound, checked by a filter of FPR cap.
    N = G.shape[0] - 1
    best = np.inf
    bi = -1
    bj = -1
    for j in range(1, N + 1):
        h_last = _upper_rate(H[N] - H[j], nv) if j < N else 0.0
        Fp = F - h_last * cap
        if Fp <= 0.0:
            continue
        top_bits = _cost_bits(n * (G[N] - G[j]), cap, fuse) if j < N else 0.0
        for i in range(1, kmax + 1):
            if dp[i, j] == _NEG:
                continue
            cuts = np.empty(i + 1, dtype=np.int64)
            cuts[i] = j
            t = j
            for r in range(i, 0, -1):
                t = arg[r, t]
                cuts[r - 1] = t
            g = np.empty(i)
            h = np.empty(i)
            for r in range(i):
                g[r] = G[cuts[r + 1]] - G[cuts[r]]
                h[r] = _upper_rate(H[cuts[r + 1]] - H[cuts[r]], nv)
            f, ok = _region_fprs(g, h, Fp, cap)
            if not ok:
                continue
            bits = overhead_bits * (i + 1) + top_bits
            for r in range(i):
                bits += _cost_bits(n * g[r], f[r], fuse)
            if bits < best:
                best = bits
                bi = i
                bj = j
    return best, bi, bj


class PLBFPlanner:
    """Segments the score range once and runs the DP once; :meth:`plan` is then cheap per F."""

    def __init__(self, sk: np.ndarray, sv: np.ndarray, n_segments: int, n_regions: int,
                 smoothing: float | None = None) -> None:
        allsc = np.concatenate([sk, sv])
        qs = np.quantile(allsc, np.linspace(0, 1, n_segments + 1)[1:-1])
        cuts = np.unique(np.nextafter(qs, np.inf))
        self.cuts = cuts
        N = cuts.shape[0] + 1
        gk = np.bincount(np.searchsorted(cuts, sk, side="right"), minlength=N).astype(np.float64)
        hv = np.bincount(np.searchsorted(cuts, sv, side="right"), minlength=N).astype(np.float64)
        self.n = sk.shape[0]
        self.nv = float(max(hv.sum(), 1.0))
        if smoothing is None:
            # pseudo-counts adding up to 1e-4 of the negatives' mass: enough to keep log(g/h)
            # finite, far below any target FPR
            smoothing = max(1e-9, 1e-4 * self.nv / N)
        g = gk / max(self.n, 1)
        h = (hv + smoothing) / (hv.sum() + smoothing * N)
        self.G = np.concatenate([[0.0], np.cumsum(g)])
        self.H = np.concatenate([[0.0], np.cumsum(h)])
        self.G[-1] = 1.0
        self.H[-1] = 1.0
        self.kmax = int(n_regions)
        self.dp, self.arg = _plbf_dp(self.G, self.H, self.kmax)

    def plan(self, F: float, fixed_bytes: float, backup: str, cap: float = 1.0) -> Plan:
        F = min(F, cap)
        overhead_bits = 8.0 * (FILTER_OVERHEAD_BYTES + THRESHOLD_BYTES)
        best, i, j = _plbf_best(self.G, self.H, self.dp, self.arg, self.kmax, float(F),
                                float(self.n), backup == "fuse", overhead_bits, self.nv, float(cap))
        if i < 0:
            raise ValueError("no feasible PLBF plan")
        N = self.G.shape[0] - 1
        cuts = [j]
        t = j
        for r in range(i, 0, -1):
            t = int(self.arg[r, t])
            cuts.append(t)
        cuts = cuts[::-1]  # 0 = cuts[0] < ... < cuts[i] = j
        g = np.array([self.G[cuts[r + 1]] - self.G[cuts[r]] for r in range(i)])
        h = np.array([_upper_rate(self.H[cuts[r + 1]] - self.H[cuts[r]], self.nv) for r in range(i)])
        h_last = float(_upper_rate(self.H[N] - self.H[j], self.nv)) if j < N else 0.0
        f, _ = _region_fprs(g, h, F - h_last * cap, cap)
        fprs = [float(x) for x in f]
        bounds = list(cuts[1:])  # segment index where each next region starts
        if j < N:
            fprs.append(cap)
        else:
            bounds = bounds[:-1]
        thresholds = np.array([self.cuts[b - 1] for b in bounds], dtype=np.float64)
        exp_fpr = float(np.sum(f * h) + h_last * cap)
        return Plan(
            thresholds=thresholds,
            region_fpr=fprs,
            bytes=fixed_bytes + best / 8.0,
            expected_fpr=exp_fpr,
            info={"regions": float(len(fprs))},
        )
