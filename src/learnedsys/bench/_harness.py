"""The benchmark harness: timing with warm-up and repeats, records, tables, JSON and reports.

Every section runs the project's structures and the alternatives people use today in the same
process, on the same data, through :func:`measure`, which warms up first (numba compiles on the
first call), repeats, and reports the median with the spread.
"""

from __future__ import annotations

import io
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from learnedsys._atomic import PathError, atomic_write, check_output_path
from learnedsys._serialization import json_default

__all__ = [
    "BenchContext",
    "SectionResult",
    "Timing",
    "find_shared_data",
    "format_table",
    "machine_info",
    "measure",
    "measure_interleaved",
    "prepare_output",
    "save_figure",
    "write_json",
]


@dataclass(frozen=True)
class Timing:
    """Seconds per call over the repeats: median, quartiles and extremes."""

    median: float
    p25: float
    p75: float
    min: float
    max: float
    repeats: int

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median."""
        return (self.p75 - self.p25) / self.median if self.median > 0 else 0.0


def measure(fn: Callable[[], Any], *, repeats: int = 5, warmup: int = 1) -> tuple[Timing, Any]:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed.

    Returns the timing and the result of the last call, so callers can check the answers that
    were timed.
    """
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return _timing(times), result


def measure_interleaved(
    fns: Mapping[str, Callable[[], Any]], *, repeats: int = 5, warmup: int = 1
) -> dict[str, tuple[Timing, Any]]:
    """Like :func:`measure` for several alternatives, timed in interleaved rounds (A B C A B C
    ...), so that load which drifts during the run (a shared machine) hits all of them alike."""
    results: dict[str, Any] = {}
    for _ in range(warmup):
        for name, fn in fns.items():
            results[name] = fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(1, repeats)):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (_timing(ts), results[name]) for name, ts in times.items()}


def _timing(times: list[float]) -> Timing:
    q = np.percentile(times, [25, 75])
    return Timing(
        median=statistics.median(times),
        p25=float(q[0]),
        p75=float(q[1]),
        min=min(times),
        max=max(times),
        repeats=len(times),
    )


def find_shared_data() -> Path | None:
    """The shared data folder: $LEARNEDSYS_DATA, else ``../shared/data`` beside the checkout.

    Looks upwards from the working directory and from this file for a ``shared/data`` folder that
    is a sibling of one of their parents. Returns None when there is none (a user's clone).
    """
    env = os.environ.get("LEARNEDSYS_DATA")
    if env:
        p = Path(env)
        return p if p.is_dir() else None
    starts = [Path.cwd().resolve(), Path(__file__).resolve()]
    for start in starts:
        for parent in [start, *start.parents]:
            cand = parent / "shared" / "data"
            if cand.is_dir():
                return cand
    return None


@dataclass
class BenchContext:
    """What every section gets: the size of the run, seeds, data locations and output places."""

    quick: bool = False
    seed: int = 0
    repeats: int = 5
    data_dir: Path | None = None
    keys_path: Path | None = None
    negatives_path: Path | None = None
    report_dir: Path | None = None
    n: int | None = None
    #: progress on stderr: the sections' log lines and bars (False: ``learnedsys bench --quiet``,
    #: the tables still go to stdout)
    progress: bool = True
    options: dict[str, Any] = field(default_factory=dict)

    def log(self, msg: str) -> None:
        """A progress line on stderr (above the bar when one runs); nothing when not ``progress``."""
        if not self.progress:
            return
        if self._bar is not None:
            self._bar.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr, flush=True)

    _bar: Any = None

    def bar(self, total: int, desc: str) -> Any:
        """A progress bar on stderr (tqdm) for a step of ``total`` units; ``log`` writes above it.

        Use as a context manager and call ``.update()`` per unit.
        """
        from tqdm.auto import tqdm

        bar = tqdm(
            total=total,
            desc=desc,
            file=sys.stderr,
            disable=not self.progress or not sys.stderr.isatty(),  # no bar in logs and CI
            leave=False,
            dynamic_ncols=True,
        )
        ctx = self

        class _Bar:
            def __enter__(self) -> Any:
                ctx._bar = bar
                return bar

            def __exit__(self, *exc: object) -> None:
                ctx._bar = None
                bar.close()

        return _Bar()


@dataclass
class SectionResult:
    """What a section returns: one record per (dataset, structure), a table layout, notes, figures."""

    name: str
    title: str
    records: list[dict[str, Any]] = field(default_factory=list)
    columns: list[tuple[str, str, str]] = field(default_factory=list)  # (key, header, format)
    notes: list[str] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file name in report dir, caption)
    tables: list[tuple[str, list[dict[str, Any]], list[tuple[str, str, str]]]] = field(
        default_factory=list
    )  # extra (title, rows, columns) tables

    def table(self) -> str:
        parts = [format_table(self.records, self.columns)]
        for title, rows, cols in self.tables:
            parts.append(f"{title}\n{format_table(rows, cols)}")
        return "\n\n".join(parts)


def _fmt(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not np.isfinite(value):
        return "-"
    try:
        return format(value, fmt)
    except (TypeError, ValueError):
        return str(value)


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """A Markdown table of ``rows`` with ``columns`` as (key, header, format spec)."""
    if not rows:
        return "(no rows)"
    header = "| " + " | ".join(h for _, h, _ in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    lines = [header, sep]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(k), f) for k, _, f in columns) + " |")
    return "\n".join(lines)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info(packages: Iterable[str] = ()) -> dict[str, Any]:
    """Machine, OS and package versions to record with every figure."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    versions = {}
    for p in ("learnedsys", "numpy", "numba", *packages):
        v = _version(p)
        if v is not None:
            versions[p] = v
    info["versions"] = versions
    return info


def prepare_output(path: Path | None, *, directory: bool = False, what: str = "output") -> None:
    """Make sure ``path`` can be written before a long run: create its folder (or, with
    ``directory``, the directory itself); raise :class:`PathError` naming the path and the fix."""
    if path is None:
        return
    folder = path if directory else path.parent
    if directory and path.exists() and not path.is_dir():
        raise PathError(f"The {what} directory {str(path)!r} is a file; give a directory path (it is created if missing).")
    if not directory and path.is_dir():
        raise PathError(f"The {what} path {str(path)!r} is a directory; give a file name inside it, e.g. {str(path / 'bench.json')!r}.")
    blocker = next((a for a in (folder, *folder.parents) if a.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise PathError(f"The folder {str(folder)!r} for the {what} cannot be created: {str(blocker)!r} is a file; choose another path.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PathError(f"Cannot create the folder {str(folder)!r} for the {what} ({exc.strerror or exc}); choose another path.") from None
    if not directory:
        check_output_path(path, what)


def write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as JSON, atomically (its folder is created when missing)."""
    prepare_output(path, what="JSON records")
    atomic_write(path, json.dumps(payload, indent=1, default=json_default) + "\n", what="JSON records")


def save_figure(fig: Any, path: Path, dpi: int = 110) -> None:
    """Save a matplotlib figure as PNG atomically (rendered in memory, then one atomic write)."""
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    atomic_write(path, buf.getbuffer(), what="figure")
