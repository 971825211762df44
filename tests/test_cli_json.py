"""``--json`` on the index and bloom subcommands: the same record the command prints, written
atomically; a bad --json path is a one-line error before any work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from learnedsys.cli import main


def test_index_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = np.arange(0, 3000, 3, dtype=np.uint64)
    np.save(tmp_path / "k.npy", keys)
    out = tmp_path / "k.rmi"
    assert main(["index", "build", str(tmp_path / "k.npy"), "--out", str(out), "--json", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["n"] == 1000
    assert main(["index", "lookup", str(out), "3", "4", "9999", "--json", str(tmp_path / "l.json")]) == 0
    rows = json.loads((tmp_path / "l.json").read_text())["lookups"]
    assert [(r["position"], r["found"]) for r in rows] == [(1, True), (2, False), (1000, False)]
    assert main(["index", "info", str(out), "--json", str(tmp_path / "i.json")]) == 0
    assert json.loads((tmp_path / "i.json").read_text())["n"] == 1000
    capsys.readouterr()
    assert main(["index", "info", str(out), "--json", str(tmp_path / "missing" / "i.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bloom_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keys.txt").write_text("\n".join(f"k{i}" for i in range(200)) + "\n")
    f = tmp_path / "f.bf"
    assert main(["bloom", "build", "--kind", "bloom", "--keys", str(tmp_path / "keys.txt"), "--out", str(f),
                 "--json", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["keys"] == 200
    assert main(["bloom", "query", str(f), "k1", "zzz-not-a-key", "--json", str(tmp_path / "q.json")]) == 0
    answers = json.loads((tmp_path / "q.json").read_text())["answers"]
    assert answers[0] == {"item": "k1", "maybe": True}  # never a false negative
    assert main(["bloom", "info", str(f), "--json", str(tmp_path / "i.json")]) == 0
    assert json.loads((tmp_path / "i.json").read_text())["kind"] == "BloomFilter"
    capsys.readouterr()
    assert main(["bloom", "query", str(f), "k1", "--json", str(tmp_path)]) == 2
    assert "directory" in capsys.readouterr().err
