"""The command line: --version, help, and the index subcommand end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import learnedsys
from learnedsys.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert learnedsys.__version__ in capsys.readouterr().out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "bench" in capsys.readouterr().out


def test_import_is_light() -> None:
    code = "import sys, learnedsys, learnedsys.cli; learnedsys.cli.build_parser(); print(sorted(m for m in ('torch', 'ray') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_index_build_lookup_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = np.sort(np.random.default_rng(0).integers(0, 10**9, 5000)).astype(np.uint64)
    np.save(tmp_path / "k.npy", keys)
    out = tmp_path / "k.rmi"
    assert main(["index", "build", str(tmp_path / "k.npy"), "--out", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n"] == 5000 and out.exists()
    q = [int(keys[10]), int(keys[10]) + 1, 0]
    assert main(["index", "lookup", str(out), *map(str, q)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    got = [int(line.split("\t")[1]) for line in lines]
    assert got == np.searchsorted(keys, np.array(q, dtype=np.uint64)).tolist()
    assert lines[0].endswith("found")
    assert main(["index", "info", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 5000


def test_index_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = np.array([3, 1, 2], dtype=np.int64)
    np.save(tmp_path / "bad.npy", bad)
    assert main(["index", "build", str(tmp_path / "bad.npy"), "--out", str(tmp_path / "x")]) == 2
    assert "keys[0] > keys[1]" in capsys.readouterr().err
    assert main(["index", "build", str(tmp_path / "missing.npy"), "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "junk.rmi").write_bytes(b"not an index at all")
    with pytest.raises(SystemExit):
        main(["index", "info", str(tmp_path / "junk.rmi")])
    assert "not a learnedsys file" in capsys.readouterr().err
