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
    tables = {title.split(":")[0].split(" (")[0]: rows for title, rows, _ in res.tables}
    sweep = tables["Sweep over target FPRs"]
    learned = {"LBF", "sandwiched LBF", "PLBF"}
    assert {r["structure"] for r in sweep} == learned | {f"{k} (no worst-case bound)" for k in learned}
    assert all(r["false_negatives"] == 0 for r in sweep)
    # every bounded filter keeps its bound on every shifted set (up to sampling noise)
    for r in sweep:
        if "no worst-case" not in r["structure"]:
            assert r["bound"] <= 10 * r["target_fpr"] + 1e-12
    drift = tables["FPR by query set"]
    assert {"BloomFilter (ours)", "PLBF", "PLBF (no worst-case bound)"} <= {r["structure"] for r in drift}
    assert all("ci[edits]" in r and "ci[random strings]" in r for r in drift)
    adapt = tables["adapt()"]
    assert {r["mode"] for r in adapt} == {"none", "veto (adapt without keys)", "veto + re-allocation (adapt with keys)"}
    assert all(r["false_negatives"] == 0 for r in adapt)
    assert all(r["growth"] <= 0.25 + 1e-9 for r in adapt)
    for fname, _ in res.figures:
        assert (tmp_path / "r" / fname).stat().st_size > 1000
    assert "| data |" in res.table()


def test_generated_set_is_seeded_and_disjoint() -> None:
    a = generated_set(500, 1000, seed=3)
    b = generated_set(500, 1000, seed=3)
    assert a == b
    assert not set(a[0]) & set(a[1])
