"""The bench section runs end to end on a small user set and on generated data."""

from __future__ import annotations

from pathlib import Path

from learnedsys.bench import BenchContext
from learnedsys.bench.bloom import generated_set, run


def test_bench_section_on_user_files(tmp_path: Path) -> None:
    keys, negs = generated_set(1500, 3000, seed=0)
    kp, np_ = tmp_path / "k.txt", tmp_path / "n.txt"
    kp.write_text("\n".join(keys))
    np_.write_text("\n".join(negs))
    ctx = BenchContext(quick=True, repeats=1, keys_path=kp, negatives_path=np_, report_dir=tmp_path / "r")
    res = run(ctx)
    names = {r["structure"] for r in res.records}
    assert {"BloomFilter (ours)", "rbloom", "pyxorfilter Fuse8", "PLBF"} <= names
    assert all(r["false_negatives"] == 0 for r in res.records)
    sweep = res.tables[0][1]
    assert {r["structure"] for r in sweep} == {"LBF", "sandwiched LBF", "PLBF", "PLBF (fuse backups)"}
    assert all(r["false_negatives"] == 0 for r in sweep)
    for fname, _ in res.figures:
        assert (tmp_path / "r" / fname).stat().st_size > 1000
    assert "| data |" in res.table()


def test_generated_set_is_seeded_and_disjoint() -> None:
    a = generated_set(500, 1000, seed=3)
    b = generated_set(500, 1000, seed=3)
    assert a == b
    assert not set(a[0]) & set(a[1])
