"""Ray past one machine: the test starts `ray start --head` itself (its own temp dir and port),
then decide's learner and tune's trials connect to it by address, and the cluster is stopped.

Skipped, loudly, only when Ray is not installed (``make test`` installs it)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'learnedsys[ray]' to run the cluster tests")

from learnedsys._ray import InfrastructureError, connect  # noqa: E402
from tests.conftest import _free_port  # noqa: E402

pytestmark = pytest.mark.xdist_group("ray")


def _reset_ray_auth() -> None:
    """Make Ray in this process re-read the auth mode and token from the environment."""
    try:
        from ray._private.authentication import authentication_token_setup as setup
        from ray._raylet import Config

        Config.initialize("")
        setup.AuthenticationTokenLoader.instance().reset_cache()
    except (ImportError, AttributeError):
        pass


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if ray.is_initialized():
        ray.shutdown()
    tmp = tmp_path_factory.mktemp("ray")
    port = _free_port()
    exe = Path(sys.executable).with_name("ray")
    # token authentication on, with a token of this test's own (Ray >= 2.59's default for local
    # clusters): the driver must find it, as a user's would in RAY_AUTH_TOKEN
    token = secrets.token_hex(32)
    old_token, old_mode = os.environ.get("RAY_AUTH_TOKEN"), os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_TOKEN"] = token
    proc = subprocess.Popen(
        [str(exe), "start", "--head", "--block", f"--port={port}", f"--temp-dir={tmp}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", "--node-ip-address=127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token},
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None:
                pytest.fail(f"ray start --head exited with {proc.returncode}")
            time.sleep(0.5)
        else:
            pytest.fail("ray start --head did not listen within 90 s")
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for name, value in (("RAY_AUTH_TOKEN", old_token), ("RAY_AUTH_MODE", old_mode)):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _reset_ray_auth()  # later tests in this process start their own local Ray
        os.killpg(proc.pid, signal.SIGTERM)  # --block: the head stops the processes it started
        try:
            proc.wait(5)  # a measured run took the whole 30 s it was once given: the group is killed after 5
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_decide_learner_and_tune_run_on_the_cluster(cluster: str) -> None:
    from learnedsys.decide import Choice, EpsilonGreedy, Learner
    from learnedsys.tune import Param, tune

    r = connect(cluster, purpose="the test")
    assert r.is_initialized() and r.cluster_resources().get("CPU") == 2.0
    learner = Learner(EpsilonGreedy(seed=0), options=["a", "b", "c"], backend="ray", address=cluster).start()
    choice = Choice("x", options=["a", "b", "c"], learner=learner.handle(), seed=0)
    for _ in range(300):
        d = choice.choose()
        choice.feedback(d, 1.0 if d.value == "b" else 0.0)
    assert learner.wait(300, timeout=60)
    choice.close()  # stops its snapshot fetcher before the cluster goes
    learner.stop()
    assert learner.policy.greedy() == (1,)

    # tune: each trial a Ray task on the cluster (a task reports the process it ran in)
    params = [Param("n", "int", 0, 7)]
    pids: set[int] = set()
    res = tune(params, lambda v: (float(abs(v["n"] - 5)), [float(os.getpid())], None), trials=12, parallel=2,
               seed=0, address=cluster)
    for t in res.completed:
        pids.add(int(t["runs"][0]))
    assert res.best == {"n": 5} and os.getpid() not in pids


def test_an_unreachable_cluster_is_one_line() -> None:
    if ray.is_initialized():
        ray.shutdown()
    with pytest.raises(InfrastructureError, match=r"cannot connect to the Ray cluster at '127\.0\.0\.1:1'") as info:
        connect("127.0.0.1:1", purpose="the test")
    assert "\n" not in str(info.value) and "ray start --head" in str(info.value)
