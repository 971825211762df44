"""The journal on PostgreSQL: the test starts its own server on a temp dir, 127.0.0.1 only."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from learnedsys.nas import search


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pg_url():
    pytest.importorskip("psycopg")
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    base = Path(tempfile.mkdtemp(prefix="learnedsys-pg-"))  # pytest's tmp dirs are private to root
    data = base / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        prefix = ["runuser", "-u", "postgres", "--"]
        os.chmod(base, 0o777)
    port = _free_port()
    r = subprocess.run([*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"initdb failed: {r.stderr[-300:]}")
    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base}"
    r = subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"pg_ctl start failed: {r.stderr[-300:]}")
    try:
        time.sleep(0.2)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_postgres_journal_resume(pg_url, tiny_data):
    first = search(tiny_data, space="mlp", strategy="evolution", max_trials=2, backend="inline", epochs=1,
                   storage=pg_url, study="pg", measure_latency=False)
    second = search(tiny_data, space="mlp", strategy="evolution", max_trials=2, backend="inline", epochs=1,
                    storage=pg_url, study="pg", resume=True, measure_latency=False)
    assert first.trials == 2 and second.resumed_trials == 2 and second.trials == 4
    assert [h["val_acc"] for h in second.history[:2]] == [h["val_acc"] for h in first.history]
