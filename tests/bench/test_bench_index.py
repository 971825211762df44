"""The index bench section: key families, modes A/B/C, answers checked, summaries and plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from learnedsys.bench._harness import BenchContext
from learnedsys.bench.index import DATASETS, HARD, make_keys, run


@pytest.mark.parametrize("name", HARD)
def test_hard_families_are_hard_and_seeded(name: str) -> None:
    keys = make_keys(name, 20_000, seed=5)
    assert keys.dtype == np.uint64 and keys.shape == (20_000,) and (keys[1:] >= keys[:-1]).all()
    np.testing.assert_array_equal(keys, make_keys(name, 20_000, seed=5))
    assert not np.array_equal(keys, make_keys(name, 20_000, seed=6))
    gaps = np.diff(keys).astype(np.float64)
    if name == "bursty":  # bursts: a large share of tiny gaps; outages: gaps of minutes or more
        assert np.median(gaps) < gaps.mean() / 5 and gaps.max() > 60e6
    else:  # clustered / runs: the largest gaps dwarf the typical one
        assert (keys[1:] > keys[:-1]).all()
        assert gaps.max() > 1e4 * np.median(gaps)
    if name == "fb":
        assert keys[-1] > np.uint64(3 << 62) and (gaps == 1).mean() > 0.3  # outliers; dense runs


def test_index_section_all_families_tiny(tmp_path: Path) -> None:
    ctx = BenchContext(quick=True, n=3000, repeats=1, report_dir=tmp_path, progress=False, options={"index_queries": 2000})
    res = run(ctx)
    recs = res.records
    assert {r["dataset"] for r in recs} == set(DATASETS)
    for d in DATASETS:
        modes = {r["mode"]: set() for r in recs if r["dataset"] == d}
        for r in recs:
            if r["dataset"] == d:
                modes[r["mode"]].add(r["structure"])
        assert {"RMI", "binary search", "Eytzinger", "B-tree (16-key nodes)", "PGM-index (eps 64)", "RadixSpline (eps 32, r 18)", "np.searchsorted"} <= modes["A"]
        assert "np.searchsorted (sorted batch)" in modes["B"] and "RMI" in modes["B"]
        assert {"RMI.lower_bound(int)", "np.searchsorted (numpy scalar)"} <= modes["C"]
    for r in recs:
        assert r["n"] == 3000 and r["ns_per_lookup"] > 0 and r["rmi_speedup"] > 0
    titles = [t for t, _, _ in res.tables]
    assert any(t.startswith("Mode A") for t in titles) and any(t.startswith("Mode C") for t in titles)
    assert any("goals" in t for t in titles)
    winners = next(rows for t, rows, _ in res.tables if t.startswith("Mode B"))
    assert all(row["winner"] for row in winners)
    for f in ("index_modes.png", "index_mode_c.png", "index_space_time.png"):
        assert (tmp_path / f).stat().st_size > 1000
    assert "| osm | A | RMI |" in res.table()
