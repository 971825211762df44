"""Infrastructure failures are one line that names what to check (exit 1 on the command line);
usage problems stay usage errors (exit 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from learnedsys._validation import InfrastructureError, InvalidParameterError
from learnedsys.cli import main

DOWN = "postgresql://someone:secret@127.0.0.1:1/nowhere"  # port 1: nothing listens


def test_decision_log_on_a_server_that_is_down() -> None:
    from learnedsys.decide import Choice

    with pytest.raises(InfrastructureError) as info:
        Choice("x", options=[1, 2], log=DOWN).choose()
    msg = str(info.value)
    assert "\n" not in msg and "secret" not in msg and "someone:***@127.0.0.1:1" in msg and "server runs" in msg


def test_decision_log_in_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    from learnedsys.decide import Choice

    with pytest.raises(InvalidParameterError, match="folder exists"):
        Choice("x", options=[1, 2], log=str(tmp_path / "missing" / "log.sqlite")).choose()


def test_tune_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cmd = ["--", sys.executable, "-c", "pass", "--mode={a,b}"]
    assert main(["tune", "--quiet", "--trials", "1", "--no-baseline", "--storage", DOWN, *cmd]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot connect to PostgreSQL" in err and "secret" not in err
    assert main(["tune", "--quiet", "--trials", "1", "--address", "127.0.0.1:1", "--no-baseline",
                 "--storage", str(tmp_path / "s.sqlite"), *cmd]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Ray cluster at '127.0.0.1:1'" in err
