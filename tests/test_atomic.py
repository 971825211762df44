"""The one save routine (learnedsys._atomic): atomic, exclusive, never through a planted link,
nothing left behind after a failure or a kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from learnedsys import _atomic, _serialization
from learnedsys._atomic import PathError, atomic_write


@pytest.fixture(params=["tmpfile", "named"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both paths of the routine: O_TMPFILE (Linux) and the named exclusive fallback."""
    if request.param == "named":
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    elif not hasattr(os, "O_TMPFILE"):
        pytest.skip("no O_TMPFILE on this platform")
    return str(request.param)


def _only(tmp_path: Path) -> list[str]:
    return sorted(os.listdir(tmp_path))


def test_planted_links_are_never_followed(tmp_path: Path, mode: str) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("secret")
    # the old fixed temporary name, and a link at the target itself
    (tmp_path / "out.rmi.tmp").symlink_to(victim)
    (tmp_path / "out.rmi").symlink_to(victim)
    atomic_write(tmp_path / "out.rmi", b"new content")
    assert victim.read_text() == "secret"
    assert not (tmp_path / "out.rmi").is_symlink()
    assert (tmp_path / "out.rmi").read_bytes() == b"new content"
    assert _only(tmp_path) == ["out.rmi", "out.rmi.tmp", "victim.txt"]


def test_the_issue_reproduction_through_the_cli(tmp_path: Path) -> None:
    keys = tmp_path / "keys.npy"
    np.save(keys, np.arange(100, dtype=np.uint64))
    victim = tmp_path / "victim.txt"
    victim.write_text("secret")
    (tmp_path / "out.rmi.tmp").symlink_to(victim)
    from learnedsys.cli import main

    assert main(["index", "build", str(keys), "--out", str(tmp_path / "out.rmi")]) == 0
    assert victim.read_text() == "secret"
    assert not (tmp_path / "out.rmi").is_symlink()


def test_replaces_existing_file_and_keeps_mode_simple(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    atomic_write(target, "text é")
    assert target.read_text(encoding="utf-8") == "text é"
    assert _only(tmp_path) == ["f.bin"]


def test_failure_midway_leaves_old_file_and_nothing_else(tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_atomic.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        atomic_write(target, b"x" * 100_000)
    assert target.read_bytes() == b"old"
    assert _only(tmp_path) == ["f.bin"]


@pytest.mark.parametrize("bad", ["missing/out.lsys", "adir", "", "."])
def test_path_problems_are_one_line_errors(tmp_path: Path, bad: str) -> None:
    (tmp_path / "adir").mkdir()
    path = tmp_path / bad if bad else ""
    with pytest.raises(PathError) as err:
        atomic_write(path, b"x")
    msg = str(err.value)
    assert "\n" not in msg and ("does not exist" in msg or "directory" in msg or "names no file" in msg)
    assert _only(tmp_path) == ["adir"]
    assert os.listdir(tmp_path / "adir") == []


def test_stale_fallback_temporaries_of_dead_writers_are_swept(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".f.bin.{pid}.0123456789abcdef.lsys-tmp"
    stale.write_bytes(b"partial")
    alive = tmp_path / f".f.bin.{os.getppid()}.0123456789abcdef.lsys-tmp"  # a live writer: kept
    alive.write_bytes(b"in progress")
    other = tmp_path / "unrelated.lsys-tmp"
    other.write_bytes(b"keep")
    atomic_write(target, b"data")
    assert not stale.exists() and alive.exists() and other.exists()


_KILLED_WRITER = r"""
import os, sys
import numpy as np
if sys.argv[2] == "named":
    del os.O_TMPFILE
from learnedsys import _serialization
big = np.arange(4_000_000, dtype=np.int64)
print("ready", flush=True)
while True:
    _serialization.save(sys.argv[1], "test.kind", 1, {"n": 1}, {"a": big})
"""


def test_kill_minus_9_during_saves_leaves_old_file_intact_and_nothing_behind(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "data.lsys"
    _serialization.save(target, "test.kind", 1, {"n": 0}, {"a": np.arange(3)})
    rng = np.random.default_rng(0)
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target), mode], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.05, 0.4)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # whatever moment the kill hit, the file is a whole old or whole new version
        _, meta, arrays = _serialization.load(target, "test.kind", 1)
        assert meta["n"] in (0, 1)
        assert arrays["a"].shape[0] in (3, 4_000_000)
        # and the next save sweeps anything a killed named-mode writer left
        _serialization.save(target, "test.kind", 1, {"n": 0}, {"a": np.arange(3)})
        assert _only(tmp_path) == ["data.lsys"]
