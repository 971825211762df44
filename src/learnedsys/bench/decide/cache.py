"""Section 4 of ``bench decide``: a heuristic inside a program, cache admission on SQLite's page reads."""

from __future__ import annotations

import math
import os
import time
from typing import Any

from learnedsys.bench._harness import BenchContext, SectionResult
from learnedsys.bench.decide.sqlite import _speedtest_workload

# -- 4. a heuristic inside a program: cache admission on SQLite's page reads -----------------------

def _page_trace(body: str, tmp: str) -> list[int]:
    """Pages SQLite reads from its main database file (through an apsw VFS shim) while it runs
    ``body`` with a 10-page cache of its own: the access stream a buffer pool below it would see."""
    import apsw

    trace: list[int] = []

    class ShimFile(apsw.VFSFile):
        def __init__(self, name: Any, flags: Any) -> None:
            self.main = bool(flags[0] & apsw.mapping_open_flags["SQLITE_OPEN_MAIN_DB"])
            super().__init__("", name, flags)

        def xRead(self, amount: int, offset: int) -> bytes:
            if self.main:
                trace.append(offset // 4096)
            return super().xRead(amount, offset)

    class ShimVFS(apsw.VFS):
        def __init__(self) -> None:
            super().__init__("lsys-trace", "")

        def xOpen(self, name: Any, flags: Any) -> ShimFile:
            return ShimFile(name, flags)

    vfs = ShimVFS()
    db = os.path.join(tmp, "trace.db")
    conn = apsw.Connection(db, vfs="lsys-trace")
    cur = conn.cursor()
    for stmt in ("PRAGMA page_size=4096", "PRAGMA cache_size=10"):
        for _ in cur.execute(stmt):
            pass
    for _ in cur.execute(body):
        pass
    conn.close()
    vfs.unregister()
    return trace


def _simulate_cache(trace: list[int], capacity: int, mode: str, seed: int, aging: bool = True) -> tuple[float, int]:
    """Hit rate of an LRU buffer pool whose admission on a miss is decided by ``mode``:
    "lru" (always admit), "tinylfu" (admit when the new page was seen more often than the LRU
    victim), "learned" (a Choice with the context [1, f_new/(f_new+f_victim), ...]; the reward,
    known only ``capacity`` accesses later, is the future accesses of the page it kept minus those
    of the page it dropped). With ``aging`` the access counts are halved every 10 x capacity
    accesses (TinyLFU's reset, with its usual sample size), so that they follow the recent past."""
    from collections import OrderedDict, defaultdict, deque

    from learnedsys.decide import Choice

    cache: OrderedDict[int, None] = OrderedDict()
    freq: dict[int, float] = defaultdict(float)
    hits = 0
    decisions = 0
    choice = Choice("admit", options=[False, True], default=True, seed=seed) if mode == "learned" else None
    watch: dict[int, list[list[Any]]] = defaultdict(list)  # page -> pending records counting it
    pending: deque[list[Any]] = deque()
    horizon = capacity
    period = 10 * capacity if aging else 0
    for t, page in enumerate(trace):
        freq[page] += 1
        if period and t % period == period - 1:
            for k in freq:
                freq[k] *= 0.5
        for rec in watch.get(page, ()):
            rec[3 if rec[1] == page else 4] += 1
        while pending and t - pending[0][0] >= horizon:
            done = pending.popleft()
            _, new, victim, a_new, a_vic, d = done
            for p in (new, victim):
                lst = watch[p]
                for j, other in enumerate(lst):
                    if other is done:
                        del lst[j]
                        break
            gain = a_new - a_vic  # future accesses of the page admitted minus the page evicted
            assert choice is not None
            choice.feedback(d, float(gain if d.value else -gain))
        if page in cache:
            hits += 1
            cache.move_to_end(page)
            continue
        if len(cache) < capacity:
            cache[page] = None
            continue
        victim = next(iter(cache))
        if mode == "lru":
            admit = True
        elif mode == "tinylfu":
            admit = freq[page] > freq[victim]
        else:
            assert choice is not None
            fn, fv = freq[page], freq[victim]
            x = [1.0, fn / (fn + fv), math.log1p(fn) / 8.0, math.log1p(fv) / 8.0]
            d = choice.choose(x)
            admit = bool(d.value)
            rec = [t, page, victim, 0, 0, d]
            pending.append(rec)
            watch[page].append(rec)
            watch[victim].append(rec)
        decisions += 1
        if admit:
            del cache[victim]
            cache[page] = None
    return hits / len(trace), decisions


def _cache(ctx: BenchContext, res: SectionResult) -> None:
    workload = _speedtest_workload(ctx, res, "cache admission", 0.25 if ctx.quick else 1.0)
    if workload is None:
        return
    tmp, body = workload
    t0 = time.perf_counter()
    trace = _page_trace(body, tmp)
    secs = time.perf_counter() - t0
    distinct = len(set(trace))
    rows: list[dict[str, Any]] = []
    for frac in (0.05, 0.15):
        cap = max(4, int(distinct * frac))
        for mode, aging, label in (
            ("lru", True, "LRU, always admit (the heuristic)"),
            ("tinylfu", False, "TinyLFU-style: admit if seen more often than the victim, counts without aging"),
            ("tinylfu", True, "TinyLFU-style, counts aged (halved every 10 x capacity accesses)"),
            ("learned", False, "learned admission (Choice, LinUCB), counts without aging, online"),
            ("learned", True, "learned admission (Choice, LinUCB), aged counts, online"),
        ):
            rate, n_dec = _simulate_cache(trace, cap, mode, ctx.seed, aging)
            rows.append({"capacity": cap, "policy": label, "hit_rate": rate, "decisions": n_dec})
    for r in rows:
        base = next(b for b in rows if b["capacity"] == r["capacity"] and b["policy"].startswith("LRU"))
        r["vs_lru"] = r["hit_rate"] - base["hit_rate"]
        res.records.append({"workload": "cache-admission", **r})
    res.tables.append((
        f"Cache admission on SQLite's page reads ({len(trace)} reads of {distinct} pages, apsw speedtest "
        f"{'25% sample' if ctx.quick else 'scale 1'}, traced through an apsw VFS shim in {secs:.1f} s); LRU buffer pool",
        rows,
        [("capacity", "pages", "d"), ("policy", "admission", "s"), ("hit_rate", "hit rate", ".3f"),
         ("vs_lru", "vs LRU", "+.3f"), ("decisions", "admission decisions", "d")],
    ))
