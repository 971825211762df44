"""``learnedsys bench``: each part side by side with the alternatives people use today.

Sections live in modules of this package (``learnedsys.bench.index`` and so on); each exposes
``run(ctx: BenchContext) -> SectionResult`` and ``PACKAGES`` (distributions whose versions the
report records). :func:`run_bench` runs the chosen sections, prints their tables, and writes the
JSON records and a Markdown report with plots.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from learnedsys._atomic import atomic_write
from learnedsys.bench._harness import (
    BenchContext,
    SectionResult,
    Timing,
    find_shared_data,
    format_table,
    machine_info,
    measure,
    prepare_output,
    write_json,
)
from learnedsys.cli import module_exists

__all__ = [
    "SECTIONS",
    "BenchContext",
    "SectionResult",
    "Timing",
    "available_sections",
    "find_shared_data",
    "format_table",
    "machine_info",
    "measure",
    "run_bench",
]

#: Section name -> module. Order is the order of the report.
SECTIONS: dict[str, str] = {
    "index": "learnedsys.bench.index",
    "bloom": "learnedsys.bench.bloom",
    "decide": "learnedsys.bench.decide",
    "placement": "learnedsys.bench.placement",
    "nas": "learnedsys.bench.nas",
}


def available_sections() -> list[str]:
    """Sections whose module is part of this installation."""
    out = []
    for name, mod in SECTIONS.items():
        if module_exists(mod):
            out.append(name)
    return out


def run_bench(
    sections: Sequence[str],
    ctx: BenchContext,
    json_path: Path | None = None,
) -> list[SectionResult]:
    """Run ``sections``; print tables; write JSON and the report (when ``ctx.report_dir``)."""
    results: list[SectionResult] = []
    packages: list[str] = []
    # before the sections run (minutes): a bad --json or --report path is a one-line PathError now
    prepare_output(json_path, what="--json")
    prepare_output(ctx.report_dir, directory=True, what="--report")
    started = time.time()
    for name in sections:
        module = importlib.import_module(SECTIONS[name])
        packages.extend(getattr(module, "PACKAGES", ()))
        ctx.log(f"== bench section {name!r}{' (quick)' if ctx.quick else ''}")
        t0 = time.perf_counter()
        result: SectionResult = module.run(ctx)
        ctx.log(f"== section {name!r} done in {time.perf_counter() - t0:.1f} s")
        print(f"\n## {result.title}\n")
        print(result.table())
        for note in result.notes:
            print(f"- {note}")
        results.append(result)
    info = machine_info(packages)
    info["elapsed_seconds"] = round(time.time() - started, 1)
    if json_path is not None:
        records: list[dict[str, Any]] = []
        for r in results:
            for rec in r.records:
                records.append({"section": r.name, **rec})
        write_json(json_path, {"machine": info, "quick": ctx.quick, "seed": ctx.seed, "records": records})
        ctx.log(f"wrote {json_path}")
    if ctx.report_dir is not None:
        path = _write_report(results, ctx, info)
        ctx.log(f"report: {path}")
    return results


def _write_report(results: list[SectionResult], ctx: BenchContext, info: dict[str, Any]) -> Path:
    assert ctx.report_dir is not None
    lines = [
        "# learnedsys bench report",
        "",
        f"- machine: {info['cpu']}, {info['cores']} cores; {info['platform']}",
        f"- Python {info['python']}; "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        f"- date: {info['date']}; {'quick run' if ctx.quick else 'full run'}; seed {ctx.seed}; "
        f"{ctx.repeats} timed repetitions after warm-up, median shown",
        f"- shared data: {ctx.data_dir if ctx.data_dir else 'absent (embedded data only)'}",
        "",
    ]
    for r in results:
        lines += [f"## {r.title}", "", r.table(), ""]
        lines += [f"- {n}" for n in r.notes]
        if r.notes:
            lines.append("")
        for fname, caption in r.figures:
            lines += [f"![{caption}]({fname})", "", f"*{caption}*", ""]
    path = ctx.report_dir / "report.md"
    atomic_write(path, "\n".join(lines) + "\n", what="report")
    return path
