"""Issue 17 for ``learnedsys bench``: atomic JSON and report writes, path errors before the run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from learnedsys._atomic import PathError
from learnedsys.bench import BenchContext, run_bench
from learnedsys.bench._harness import prepare_output, write_json
from learnedsys.cli import main


def test_write_json_never_follows_planted_links(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "r.json"
    (tmp_path / "r.json.tmp").symlink_to(victim)
    out.symlink_to(victim)
    write_json(out, {"records": [1, 2]})
    assert victim.read_text() == "precious" and not out.is_symlink()
    assert json.loads(out.read_text()) == {"records": [1, 2]}
    assert sorted(os.listdir(tmp_path)) == ["r.json", "r.json.tmp", "victim.txt"]


def test_prepare_output(tmp_path: Path) -> None:
    prepare_output(tmp_path / "new" / "r.json")  # a missing folder of the records is created
    assert (tmp_path / "new").is_dir()
    (tmp_path / "f").write_text("x")
    with pytest.raises(PathError, match="is a directory"):
        prepare_output(tmp_path)
    with pytest.raises(PathError, match="is a file; choose another path"):
        prepare_output(tmp_path / "f" / "r.json")
    with pytest.raises(PathError, match="is a file; give a directory path"):
        prepare_output(tmp_path / "f", directory=True)


def test_bad_paths_fail_before_any_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("x")
    for args, match in ((["--json", str(tmp_path)], "is a directory"),
                        (["--report", str(tmp_path / "f")], "is a file")):
        assert main(["bench", "placement", "--quick", *args]) == 2
        captured = capsys.readouterr()
        assert match in captured.err and len(captured.err.strip().splitlines()) == 1
        assert "== bench section" not in captured.err  # nothing ran


def test_report_is_written_atomically(tmp_path: Path) -> None:
    victim = tmp_path / "victim.md"
    victim.write_text("precious")
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").symlink_to(victim)
    run_bench([], BenchContext(quick=True, seed=0, repeats=1, report_dir=report))
    assert victim.read_text() == "precious" and not (report / "report.md").is_symlink()
    assert (report / "report.md").read_text().startswith("# learnedsys bench report")
