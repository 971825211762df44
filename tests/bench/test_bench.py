"""learnedsys bench: JSON records and a report, answers checked, on a small run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from learnedsys.bench import measure
from learnedsys.bench.index import DATASETS, make_keys
from learnedsys.cli import main


def test_measure_warms_up_and_repeats() -> None:
    calls = []
    timing, result = measure(lambda: calls.append(1) or len(calls), repeats=5, warmup=2)
    assert len(calls) == 7 and result == 7
    assert timing.repeats == 5 and timing.min <= timing.median <= timing.max


@pytest.mark.parametrize("name", DATASETS)
def test_generated_keys_sorted_and_seeded(name: str) -> None:
    a = make_keys(name, 5000, seed=1)
    assert a.dtype == np.uint64 and a.shape == (5000,) and (np.diff(a.astype(np.float64)) >= 0).all()
    np.testing.assert_array_equal(a, make_keys(name, 5000, seed=1))


def test_bench_index_section(tmp_path: Path) -> None:
    # signed keys: the section on a dtype other than the generated families' uint64 (one run of
    # the whole section covers both; each run compiles every peer for its dtype)
    keys = make_keys("lognormal", 30_000, seed=0).astype(np.int64)
    np.save(tmp_path / "mine.npy", keys)
    out = tmp_path / "b.json"
    rc = main(["bench", "index", "--quick", "-n", "30000", "--repeats", "2", "--keys", str(tmp_path / "mine.npy"), "--json", str(out), "--report", str(tmp_path / "rep")])
    assert rc == 0
    data = json.loads(out.read_text())
    recs = data["records"]
    assert {r["dataset"] for r in recs} == {"mine"}
    structures = {r["structure"] for r in recs}
    assert {"RMI", "np.searchsorted", "binary search", "B-tree (16-key nodes)", "PGM-index (eps 64)"} <= structures
    assert {r["mode"] for r in recs} == {"A", "B", "C"}
    assert "pygm.SortedList.bisect_left" in structures
    for r in recs:
        for field in ("dataset", "structure", "n", "ns_per_lookup", "size_bytes", "build_seconds"):
            assert field in r
        assert r["n"] == 30000 and r["ns_per_lookup"] > 0
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "Learned index" in report and (tmp_path / "rep" / "index_space_time.png").exists()
    assert "versions" in data["machine"]


def test_bench_rejects_unknown_section() -> None:
    with pytest.raises(SystemExit, match="unknown section"):
        main(["bench", "nosuch"])
