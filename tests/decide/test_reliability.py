"""Issue 17 for the decide part: strict Choice state files, safe JSON writes, path errors."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from learnedsys._atomic import PathError
from learnedsys._serialization import FormatError
from learnedsys._serialization import load as load_container
from learnedsys._serialization import save as save_container
from learnedsys._validation import InvalidParameterError
from learnedsys.cli import main
from learnedsys.decide import Choice
from learnedsys.decide._choice import _KIND, _KIND_VERSION
from learnedsys.tune._tune import Param, TuneResult, save_json

OPTIONS = ["a", "b", "c"]


def trained(policy: str, tmp_path: Path) -> tuple[Path, dict[str, Any], Any]:
    ctx = [0.5, -1.0] if policy in ("linucb", "linear_thompson") else None
    c = Choice("x", options=OPTIONS, policy=policy, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(30):
        d = c.choose(ctx)
        c.feedback(d, float(rng.random()))
    path = tmp_path / "s.lsys"
    c.save(path)
    _, meta, _ = load_container(path, _KIND, _KIND_VERSION)
    return path, meta, ctx


def _write(path: Path, meta: dict[str, Any], policy_change: dict[str, Any]) -> None:
    state = {**meta["policy"], **policy_change}
    save_container(path, _KIND, _KIND_VERSION, {**meta, "policy": state}, {})


@pytest.mark.parametrize("policy, change, match", [
    ("epsilon_greedy", {"counts": [1, -1, 2]}, "'counts' must be ints of shape \\(3,\\)"),
    ("epsilon_greedy", {"counts": [1, 2]}, "'counts'"),
    ("epsilon_greedy", {"counts": [1.5, 1, 1]}, "'counts'"),
    ("epsilon_greedy", {"counts": [True, 1, 1]}, "'counts'"),
    ("epsilon_greedy", {"counts": "many"}, "'counts'"),
    ("epsilon_greedy", {"means": [0.1, float("nan"), 0.2]}, "'means\\[1\\]' is nan; it must be finite"),
    ("epsilon_greedy", {"means": [0.1, 1e300, 0.2]}, "'means'"),
    ("epsilon_greedy", {"t": -1}, "'t' must be an int in 0.."),
    ("epsilon_greedy", {"t": "7"}, "'t'"),
    ("epsilon_greedy", {"version": -3}, "'version'"),
    ("ucb1", {"means": [0.1, float("inf"), 0.2]}, "'means"),
    ("thompson_beta", {"a": [1.0, 0.0, 2.0]}, "'a' must be numbers .* > 0"),
    ("thompson_beta", {"b": [1.0, -2.0, 2.0]}, "'b'"),
    ("thompson_gaussian", {"m2": [0.0, -1.0, 0.0]}, "'m2' must be numbers .* >= 0"),
    ("linucb", {"dim": 3}, "'ainv' must be numbers of shape \\(3, 3, 3\\)"),
    ("linucb", {"dim": -1}, "'dim'"),
    ("linucb", {"ainv": [[[5.0, 0.0], [0.0, 1.0]]] * 3}, "'ainv'"),
    ("linucb", {"b": [[0.0, float("nan")]] * 3}, "'b\\[0\\]\\[1\\]' is nan"),
    ("reinforce", {"logits": [[0.0, float("nan"), 0.0]]}, "'logits\\[0\\]\\[1\\]'"),
    ("reinforce", {"logits": [[0.0, 1e200, 0.0]]}, "logits\\[0\\]"),
    ("reinforce", {"logits": [[0.0, 0.0]]}, "logits\\[0\\]"),
    ("reinforce", {"logits": []}, "'logits' must be 1 lists"),
    ("reinforce", {"w": [[[1.0], [1.0, 2.0], [1.0]]]}, "w\\[0\\]"),
    ("reinforce", {"baseline": float("nan")}, "'baseline'"),
    ("reinforce", {"var": -1.0}, "'var'"),
    ("reinforce", {"n": 2**80}, "'n'"),
])
def test_crafted_state_is_a_format_error(tmp_path: Path, policy: str, change: dict[str, Any], match: str) -> None:
    path, meta, ctx = trained(policy, tmp_path)
    live = Choice("x", options=OPTIONS, policy=policy, seed=1)
    live.greedy(ctx)
    before = json.dumps(live.policy.state())  # type: ignore[union-attr]
    _write(path, meta, change)
    with pytest.raises(FormatError, match=match):
        live.load(path, context=ctx)
    assert json.dumps(live.policy.state()) == before  # type: ignore[union-attr]  # nothing changed


def test_tpe_history_is_checked(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    path, meta, _ = trained("tpe", tmp_path)
    for change in ({"history": [[[5], 1.0]]}, {"history": [[[0], float("nan")]]}, {"history": [[[-1], 1.0]]}, {"history": "x"}):
        _write(path, meta, change)
        with pytest.raises(FormatError, match="history"):
            Choice("x", options=OPTIONS, policy="tpe").load(path)


def test_mismatch_is_both_errors(tmp_path: Path) -> None:
    """A valid state of another policy: InvalidParameterError as before, and a FormatError."""
    path, meta, _ = trained("ucb1", tmp_path)
    with pytest.raises(InvalidParameterError, match="snapshot"):
        Choice("x", options=OPTIONS, policy="epsilon_greedy").load(path)
    with pytest.raises(FormatError, match="snapshot"):
        Choice("x", options=["a", "b"], policy="ucb1").load(path)
    _write(path, meta, {"policy": 7})
    with pytest.raises(FormatError, match="'policy' must be the policy's class name"):
        Choice("x", options=OPTIONS, policy="ucb1").load(path)
    save_container(path, _KIND, _KIND_VERSION, {"name": "x"}, {})
    with pytest.raises(FormatError, match="needs a 'policy' state"):
        Choice("x", options=OPTIONS, policy="ucb1").load(path)


def test_valid_states_still_load(tmp_path: Path) -> None:
    for policy in ("epsilon_greedy", "ucb1", "thompson_beta", "thompson_gaussian", "linucb", "reinforce"):
        path, meta, ctx = trained(policy, tmp_path)
        twin = Choice("x", options=OPTIONS, policy=policy, seed=3).load(path, context=ctx)
        assert twin.policy.state() == meta["policy"]  # type: ignore[union-attr]


# ------------------------------------------------------------------------------- JSON writes
def _result() -> TuneResult:
    p = Param("threads", "int", 1, 8)
    return TuneResult([p], "minimize", "seconds", trials=[
        {"number": 0, "state": "complete", "params": {"threads": 4}, "value": 1.5, "seconds": 1.5}], baseline=2.0)


def test_tune_json_never_follows_planted_links(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "r.json"
    for name in ("r.json.tmp", f"r.json.{os.getpid()}.tmp"):
        (tmp_path / name).symlink_to(victim)
    out.symlink_to(victim)
    save_json(_result(), out)
    assert victim.read_text() == "precious" and not out.is_symlink()
    assert json.loads(out.read_text())["trials"][0]["value"] == 1.5
    assert sorted(os.listdir(tmp_path)) == sorted(["victim.txt", "r.json", "r.json.tmp", f"r.json.{os.getpid()}.tmp"])


@pytest.mark.parametrize("where, match", [("no/r.json", "does not exist; create it first"), ("", "is a directory")])
def test_tune_json_path_problems(tmp_path: Path, where: str, match: str) -> None:
    with pytest.raises(PathError, match=match):
        save_json(_result(), tmp_path / where)
    assert os.listdir(tmp_path) == []


def test_tune_cli_json_directory_fails_before_any_trial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = tmp_path / "s.sqlite"
    rc = main(["tune", "--quiet", "--storage", str(study), "--json", str(tmp_path), "--", sys.executable, "-c", "pass", "{1..2}"])
    err = capsys.readouterr().err
    assert rc == 2 and "is a directory" in err and len(err.strip().splitlines()) == 1
    assert not study.exists()


def test_learner_snapshot_is_published_atomically(tmp_path: Path) -> None:
    from learnedsys.decide import Learner
    from learnedsys.decide._policies import EpsilonGreedy

    learner = Learner(EpsilonGreedy(), OPTIONS).start()
    try:
        handle = learner.handle()
        got = handle.fetch(-1)
        assert got is not None and got[0] == 1 and got[1]["policy"] == "EpsilonGreedy"
        folder = Path(handle.snapshot_path).parent
        assert os.listdir(folder) == ["snapshot.json"]  # no temporary left beside it
        assert not math.isnan(got[1]["t"])
    finally:
        learner.stop()
