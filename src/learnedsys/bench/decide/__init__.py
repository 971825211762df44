"""Bench section ``decide``, one module per workload (``overhead``, ``sqlite``, ``compression``,
``cache``): the cost of a decision, side by side with a plain-Python loop,
Vowpal Wabbit's in-process client and Optuna's ask/tell; then two real workloads: SQLite PRAGMA
tuning on apsw's speedtest workload, and per-block compression choice on this machine's Python
installation.

Every alternative runs in this process, on the same rewards; the overhead variants are timed in
interleaved rounds (a warm-up round, then repeats; median and quartiles), so that load changes on a
shared machine hit all of them alike.
"""

from __future__ import annotations

import textwrap
import time

from learnedsys._lazy import pyplot
from learnedsys.bench._harness import BenchContext, SectionResult, save_figure
from learnedsys.bench.decide.cache import _cache
from learnedsys.bench.decide.compression import section as _compression
from learnedsys.bench.decide.overhead import _overhead
from learnedsys.bench.decide.sqlite import _sqlite

PACKAGES = ("optuna", "river", "vowpalwabbit", "apsw", "lz4", "zstandard")


def _wrap(label: str, width: int = 36) -> str:
    """A bar label on lines of at most ``width`` characters, so that no label is cut off."""
    return textwrap.fill(label, width)


def _num(x: float) -> str:
    """A bar's value, short: 3 significant digits below 1000, whole numbers above."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _figures(ctx: BenchContext, res: SectionResult) -> None:
    """Bar charts of the overhead and of the compression costs (PNG, matplotlib Agg)."""
    if ctx.report_dir is None:
        return
    plt = pyplot(extra="bench", purpose="the bench report")

    over = [r for r in res.records if r.get("workload") == "overhead"]
    if over:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        names = [r["what"].replace("learnedsys ", "").replace("plain Python epsilon-greedy, ", "plain: ") for r in over]
        fig.set_size_inches(8, 1.2 + 0.42 * len(over))
        ax.barh(range(len(over)), [r["us"] for r in over], color=["tab:gray" if "plain" in n else ("tab:blue" if "Choice" in n else "tab:orange") for n in names])
        for i, r in enumerate(over):
            ax.annotate(_num(r["us"]), (r["us"], i), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
        ax.set_yticks(range(len(over)), [_wrap(n) for n in names], fontsize=7)
        ax.set_xscale("log")
        ax.set_xlim(right=max(r["us"] for r in over) * 4)  # room for the largest bar's value
        ax.invert_yaxis()
        ax.set_xlabel("µs per choose + feedback (log scale)")
        ax.set_title("decide: overhead per decision")
        fig.tight_layout()
        save_figure(fig, ctx.report_dir / "decide_overhead.png", dpi=110)
        plt.close(fig)
        res.figures.append(("decide_overhead.png", "decide: µs per choose + feedback, learnedsys vs plain Python, Vowpal Wabbit and Optuna"))
    comp = [r for r in res.records if r.get("workload") == "compression"]
    if comp:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        prices = sorted({r["cpu_price_mb_s"] for r in comp})
        parts = [[r for r in comp if r["cpu_price_mb_s"] == pr] for pr in prices]
        h = 0.8 / len(parts)
        for off, (part, pr) in enumerate(zip(parts, prices, strict=True)):
            ys, xs = [i + h * off for i in range(len(part))], [r["vs_oracle"] * 100 for r in part]
            ax.barh(ys, xs, height=h, label=f"CPU at {pr:.0f} MB/s")
            for y, x in zip(ys, xs, strict=True):
                ax.annotate(f"{_num(x)}%", (x, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=6)
        fig.set_size_inches(8, 1.5 + 0.55 * len(parts[0]))
        ax.set_yticks(range(len(parts[0])), [_wrap(r["policy"].replace(", online", "")) for r in parts[0]], fontsize=7)
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(right=max(r["vs_oracle"] * 100 for r in comp) * 3)
        ax.invert_yaxis()
        ax.set_xlabel("% above the per-block oracle's cost")
        ax.set_title("decide: per-block compression choice")
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        save_figure(fig, ctx.report_dir / "decide_compression.png", dpi=110)
        plt.close(fig)
        res.figures.append(("decide_compression.png", "decide: per-block compression, cost above the oracle (fixed, learned)"))


def run(ctx: BenchContext) -> SectionResult:
    res = SectionResult(
        name="decide",
        title="decide: learned decisions (overhead, SQLite PRAGMA tuning, compression choice, cache admission)",
    )
    t0 = time.perf_counter()
    _overhead(ctx, res)
    ctx.log(f"decide: overhead done ({time.perf_counter() - t0:.1f} s)")
    _sqlite(ctx, res)
    ctx.log(f"decide: sqlite done ({time.perf_counter() - t0:.1f} s)")
    _compression(ctx, res)
    ctx.log(f"decide: compression done ({time.perf_counter() - t0:.1f} s)")
    _cache(ctx, res)
    ctx.log(f"decide: cache admission done ({time.perf_counter() - t0:.1f} s)")
    for r in res.records:  # one headline figure per row for the section's summary table
        if r["workload"] == "overhead":
            r["name"], r["headline"], r["unit"] = r["what"], r["us"], "µs per decision"
        elif r["workload"] == "overhead-paired":
            r["name"], r["headline"], r["unit"] = r["what"], r["median"], "× (per-round paired ratio, median)"
        elif r["workload"] == "cache-admission":
            r["name"], r["headline"], r["unit"] = f"{r['policy']} @ {r['capacity']} pages", r["hit_rate"], "hit rate"
        elif r["workload"] == "sqlite-pragma":
            r["name"], r["headline"], r["unit"] = r["method"], r["best_s"], "s (best found)"
        else:
            r["name"], r["headline"], r["unit"] = f"{r['policy']} @ {r['cpu_price_mb_s']:.0f} MB/s", r["vs_oracle"] * 100, "% above oracle"
    res.columns = [("workload", "workload", "s"), ("name", "what", "s"), ("headline", "value", ".4g"), ("unit", "unit", "s")]
    _figures(ctx, res)
    if not res.tables:
        res.notes.append("no workload ran")
    return res
