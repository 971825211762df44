"""Fixtures shared across parts: servers the tests start themselves."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

#: services a test wanted but could not start here: reported at the end of the run
_SKIPPED_SERVICES: list[str] = []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _skip_service(why: str) -> None:
    _SKIPPED_SERVICES.append(why)
    pytest.skip(why)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server on a temp dir and a free port of 127.0.0.1, started for this run."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        for d in sorted(os.listdir("/usr/lib/postgresql"), reverse=True) if os.path.isdir("/usr/lib/postgresql") else []:
            b = f"/usr/lib/postgresql/{d}/bin"
            initdb, pg_ctl = f"{b}/initdb", f"{b}/pg_ctl"
            break
    if not initdb or not pg_ctl or not os.path.exists(initdb):
        _skip_service("PostgreSQL binaries (initdb, pg_ctl) are not installed: the PostgreSQL tests did not run")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _skip_service("psycopg is not installed (pip install 'learnedsys[postgres]'): the PostgreSQL tests did not run")
    assert initdb is not None and pg_ctl is not None
    tmp = tempfile.mkdtemp(prefix="lsys-pg-")
    user = None
    if os.geteuid() == 0:  # postgres refuses to run as root: use an unprivileged account if any
        import pwd

        for name in ("postgres", "nobody"):
            try:
                user = pwd.getpwnam(name)
                break
            except KeyError:
                continue
        if user is None:
            _skip_service("running as root without an unprivileged account for PostgreSQL: the PostgreSQL tests did not run")
        assert user is not None
        os.chown(tmp, user.pw_uid, user.pw_gid)

    def run(cmd: list[str]) -> None:
        if user is not None:
            cmd = ["su", "-s", "/bin/sh", user.pw_name, "-c", " ".join(cmd)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    data = os.path.join(tmp, "data")
    port = _free_port()
    try:
        run([initdb, "-D", data, "-A", "trust", "-U", "lsys"])
        run([pg_ctl, "-D", data, "-o", f"'-p {port} -k {tmp} -h 127.0.0.1'", "-l", os.path.join(tmp, "log"), "-w", "start"])
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        _skip_service(f"could not start PostgreSQL ({exc}): the PostgreSQL tests did not run")
    try:
        yield f"postgresql://lsys@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            ["su", "-s", "/bin/sh", user.pw_name, "-c", f"{pg_ctl} -D {data} -m immediate stop"] if user else [pg_ctl, "-D", data, "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(tmp, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say loudly which servers could not be started (their tests were skipped, not passed)."""
    reasons = [r for r in terminalreporter.stats.get("skipped", []) if "did not run" in str(getattr(r, "longrepr", ""))]
    if reasons or _SKIPPED_SERVICES:
        terminalreporter.section("SERVICES NOT TESTED", sep="!", red=True, bold=True)
        for why in sorted(set(_SKIPPED_SERVICES) or {str(r.longrepr[-1]) for r in reasons if isinstance(r.longrepr, tuple)}):
            terminalreporter.line(f"  {why}", red=True)
