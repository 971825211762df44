from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from learnedsys.cli import main


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    keys = [f"user{i}@mail.com" for i in range(2000)]
    k = tmp_path / "keys.txt"
    k.write_text("\n".join(keys) + "\n")
    n = tmp_path / "neg.txt.gz"
    with gzip.open(n, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(f"host{i}.ads.net" for i in range(2000)))
    return k, n, keys


@pytest.mark.parametrize("kind", ["plbf", "sandwiched", "lbf", "bloom", "fuse"])
def test_build_query_info(kind: str, files, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    k, n, keys = files
    out = tmp_path / "f.lsys"
    assert main(["bloom", "build", "--keys", str(k), "--negatives", str(n), "--kind", kind, "--fpr", "0.02", "--out", str(out)]) == 0
    assert "built" in capsys.readouterr().out
    assert main(["bloom", "query", str(out), keys[0], keys[1]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"yes\t{keys[0]}", f"yes\t{keys[1]}"]
    assert main(["bloom", "query", str(out), "--file", str(k), "--count"]) == 0
    assert capsys.readouterr().out.strip() == str(len(keys))
    assert main(["bloom", "info", str(out)]) == 0
    assert "bytes" in capsys.readouterr().out


def test_memory_budget(files, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    k, n, _ = files
    out = tmp_path / "f.lsys"
    assert main(["bloom", "build", "--keys", str(k), "--negatives", str(n), "--memory", "3000", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["bloom", "info", str(out)]) == 0
    size = int(capsys.readouterr().out.splitlines()[0].split(":")[1].split()[0])
    assert 0 < size <= 3000


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bloom", "build", "--keys", "KEYS", "--negatives", "NEG", "--fpr", "1.5", "--out", "OUT"], "--fpr option"),
        (["bloom", "build", "--keys", "KEYS", "--negatives", "NEG", "--fpr", "0", "--out", "OUT"], "--fpr option"),
        (["bloom", "build", "--keys", "KEYS", "--out", "OUT"], "--negatives is required"),
        (["bloom", "build", "--keys", "missing.txt", "--kind", "bloom", "--out", "OUT"], "does not exist"),
        (["bloom", "build", "--keys", "KEYS", "--kind", "bloom", "--memory", "100", "--out", "OUT"], "--memory works with the learned kinds"),
        (["bloom", "build", "--keys", "KEYS", "--negatives", "NEG", "--memory", "5", "--out", "OUT"], "--memory option"),
        (["bloom", "build", "--keys", "KEYS", "--kind", "bloom", "--ints", "--out", "OUT"], "line 1 is not an integer"),
        (["bloom", "query", "KEYS", "x"], "not a learnedsys file"),
        (["bloom", "query", "missing.lsys", "x"], "does not exist"),
        (["bloom", "info", "KEYS"], "not a learnedsys file"),
    ],
)
def test_clear_errors(argv: list[str], message: str, files, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    k, n, _ = files
    subst = {"KEYS": str(k), "NEG": str(n), "OUT": str(tmp_path / "o.lsys"), "missing.txt": str(tmp_path / "missing.txt"),
             "missing.lsys": str(tmp_path / "missing.lsys")}
    assert main([subst.get(a, a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_query_errors(files, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    k, _, _ = files
    out = tmp_path / "f.lsys"
    assert main(["bloom", "build", "--keys", str(k), "--kind", "bloom", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["bloom", "query", str(out)]) == 2
    assert "no items" in capsys.readouterr().err
    assert main(["bloom", "query", "--ints", str(out), "5"]) == 2
    assert "drop --ints" in capsys.readouterr().err
    raw = bytearray(out.read_bytes())
    raw[-30] ^= 1
    out.write_bytes(bytes(raw))
    assert main(["bloom", "query", str(out), "x"]) == 2
    assert "corrupted" in capsys.readouterr().err


def test_cli_module_imports_nothing_heavy() -> None:
    code = "import sys, learnedsys.bloom._cli; print(any(m.split('.')[0] in ('numba', 'torch', 'ray') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_adapt_and_worst_case_options(files, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    k, n, keys = files
    out = tmp_path / "f.lsys"
    assert main(["bloom", "build", "--keys", str(k), "--negatives", str(n), "--fpr", "0.05",
                 "--worst-case", "0.2", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["bloom", "info", str(out)]) == 0
    bound = float(capsys.readouterr().out.split("worst-case FPR (any query set):")[1].split()[0])
    assert bound <= 0.2
    probes = [f"user{i}@mail.org" for i in range(3000)]
    assert main(["bloom", "query", str(out), *probes]) == 0
    fps = [ln.split("\t", 1)[1] for ln in capsys.readouterr().out.splitlines() if ln.startswith("yes")]
    assert fps
    fp_file = tmp_path / "fps.txt"
    fp_file.write_text("\n".join(fps) + "\n")
    assert main(["bloom", "adapt", str(out), "--false-positives", str(fp_file), "--keys", str(k), "--max-growth", "2"]) == 0
    assert "adapted" in capsys.readouterr().out
    assert main(["bloom", "query", str(out), "--file", str(fp_file), "--count"]) == 0
    assert capsys.readouterr().out.strip() == "0"
    assert main(["bloom", "query", str(out), "--file", str(k), "--count"]) == 0
    assert capsys.readouterr().out.strip() == str(len(keys))
    assert main(["bloom", "build", "--keys", str(k), "--negatives", str(n), "--worst-case", "often", "--out", str(out)]) == 2
    assert "--worst-case" in capsys.readouterr().err
    assert main(["bloom", "build", "--keys", str(k), "--negatives", str(n), "--worst-case", "1.5", "--out", str(out)]) == 2
    assert "--worst-case" in capsys.readouterr().err
    plain = tmp_path / "plain.lsys"
    assert main(["bloom", "build", "--keys", str(k), "--kind", "bloom", "--out", str(plain)]) == 0
    assert main(["bloom", "adapt", str(plain), "--false-positives", str(fp_file)]) == 2
    assert "cannot adapt" in capsys.readouterr().err


def test_path_problems_are_one_line_errors(tmp_path, capsys):  # type: ignore[no-untyped-def]
    from learnedsys.cli import main

    (tmp_path / "k.txt").write_text("a\nb\nc\n")
    (tmp_path / "d").mkdir()
    build = ["bloom", "build", "--keys", str(tmp_path / "k.txt"), "--fpr", "0.01", "--kind", "bloom"]
    for argv, match in (
        ([*build, "--out", str(tmp_path / "nope" / "f.lbf")], "does not exist"),
        (["bloom", "query", str(tmp_path / "d"), "a"], "is a directory"),
        (["bloom", "info", str(tmp_path / "d")], "is a directory"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert match in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "nope").exists() and list((tmp_path / "d").iterdir()) == []
