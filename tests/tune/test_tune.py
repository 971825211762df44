"""``learnedsys tune`` on a program whose optimum is known, and a study killed with SIGKILL."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from learnedsys._validation import InvalidParameterError
from learnedsys.cli import main
from learnedsys.tune._tune import parse_command, render

PROG = str(Path(__file__).with_name("synthetic_prog.py"))
SPACE = ["--threads={1..16}", "--block={16..4096:log}", "--mode={a,b,c}"]


def _cost(threads: int, block: int, mode: str) -> float:
    return 1 + 0.02 * (threads - 11) ** 2 + 0.15 * (math.log2(block) - 9) ** 2 + {"a": 0.5, "b": 0.0, "c": 0.25}[mode]


def _complete(study: Path) -> list[tuple[int, str, float]]:
    """The finished trials of a study, read with Optuna's own API (the study is an Optuna study)."""
    import optuna

    st = optuna.load_study(study_name="learnedsys-tune", storage=f"sqlite:///{study}")
    done = [t for t in st.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    return [(t.number, json.dumps(t.params, sort_keys=True), t.value) for t in done]


def _complete_readonly(study: Path) -> list[tuple[int, float]]:
    """(number, value) of the finished trials, read without writing: opening the study with
    Optuna's API while the tuner creates its tables would race with it for the schema."""
    with sqlite3.connect(f"file:{study}?mode=ro", uri=True, timeout=1.0) as conn:
        rows = conn.execute(
            "SELECT t.number, v.value FROM trials t JOIN trial_values v ON v.trial_id = t.trial_id "
            "WHERE t.state = 'COMPLETE' ORDER BY t.number"
        ).fetchall()
    return [(int(n), float(v)) for n, v in rows]


def test_parse_and_render() -> None:
    argv, params, flags = parse_command(["prog", *SPACE, "--x={0.1..0.9}", "{1e-3..1:log}", "plain{}"])
    assert [(p.name, p.kind, p.log) for p in params] == [
        ("threads", "int", False), ("block", "int", True), ("mode", "categorical", False),
        ("x", "float", False), ("arg5", "float", True),
    ]
    assert params[2].choices == ("a", "b", "c")
    assert set(flags) == {"threads", "block", "mode", "x"}
    out = render(argv, params, {"threads": 3, "block": 64, "mode": "b", "x": 0.5, "arg5": 0.01})
    assert out == ["prog", "--threads=3", "--block=64", "--mode=b", "--x=0.5", "0.01", "plain{}"]
    with pytest.raises(InvalidParameterError, match="no placeholder"):
        parse_command(["prog", "--a=1"])
    with pytest.raises(InvalidParameterError, match="empty"):
        parse_command(["prog", "--a={9..1}"])
    with pytest.raises(InvalidParameterError, match="distinct"):
        parse_command(["prog", "--a={x,x}"])


def test_tune_finds_the_known_optimum(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    rc = main([
        "tune", "--trials", "30", "--json", str(out), "--metric", r"cost: (\S+)", "--storage", str(tmp_path / "s.sqlite"),
        "--quiet", "--", sys.executable, PROG, *SPACE,
    ])
    assert rc == 0
    res = json.loads(out.read_text())
    optimum = min(_cost(t, b, m) for t, b, m in itertools.product(range(1, 17), [2**i for i in range(4, 13)], "abc"))
    assert optimum == 1.0  # exhaustive search over the grid
    assert res["best_value"] <= 1.10 * optimum
    assert res["best_value"] == pytest.approx(_cost(**res["best"]), abs=1e-5)
    assert len([t for t in res["trials"] if t["state"] == "complete"]) == 30
    assert res["baseline_value"] == pytest.approx(_cost(1, 64, "a"), abs=1e-5)  # the program's own defaults
    assert res["gain"] > 0.5
    assert (tmp_path / "out.png").stat().st_size > 1000
    text = capsys.readouterr().out
    assert "| threads |" in text and "gain" in text


def test_wall_time_objective_parallel_maximize(tmp_path: Path) -> None:
    out = tmp_path / "w.json"
    rc = main([
        "tune", "--trials", "4", "--parallel", "2", "--repeats", "2", "--json", str(out), "--quiet",
        "--no-baseline", "--storage", str(tmp_path / "w.sqlite"), "--", sys.executable, PROG, "--mode={a,b}",
    ])
    assert rc == 0
    res = json.loads(out.read_text())
    assert len(res["trials"]) == 4
    assert all(len(t["runs"]) == 2 and t["value"] > 0 for t in res["trials"])
    rc = main([
        "tune", "--trials", "6", "--maximize", "--metric", r"cost: (\S+)", "--json", str(out), "--quiet",
        "--storage", str(tmp_path / "m.sqlite"), "--", sys.executable, PROG, "--mode={a,b,c}",
    ])
    assert rc == 0 and json.loads(out.read_text())["best"] == {"mode": "a"}


def test_failures_are_recorded_not_fatal(tmp_path: Path) -> None:
    out = tmp_path / "f.json"
    rc = main([
        "tune", "--trials", "3", "--json", str(out), "--quiet", "--storage", str(tmp_path / "f.sqlite"),
        "--metric", "nothing-matches", "--", sys.executable, PROG, "--mode={a,b,c}",
    ])
    res = json.loads(out.read_text())
    assert rc == 1 and all(t["state"] == "failed" and "matched nothing" in t["note"] for t in res["trials"])
    assert main(["tune", "--trials", "0", "--", "x", "--a={1..2}"]) == 2
    assert main(["tune", "--trials", "2", "--quiet", "--storage", str(tmp_path / "g.sqlite"), "--", "x", "--a=1"]) == 2


def test_killed_study_resumes_with_every_finished_trial(tmp_path: Path) -> None:
    study = tmp_path / "kill.sqlite"
    args = [
        sys.executable, "-m", "learnedsys.cli", "tune", "--trials", "12", "--quiet", "--metric", r"cost: (\S+)",
        "--storage", str(study), "--json", str(tmp_path / "k.json"), "--",
        sys.executable, PROG, "--sleep", "0.15", *SPACE,
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    finished: list[tuple] = []
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if study.exists():
            try:
                finished = _complete_readonly(study)
            except sqlite3.Error:  # the tuner is still creating the study's tables
                continue
            if len(finished) >= 4:
                break
    os.killpg(proc.pid, signal.SIGKILL)  # the tuner and the trial it was running
    proc.wait(30)
    assert 4 <= len(finished) < 12
    before = _complete(study)  # the tuner is dead: Optuna's own API may open the study now
    assert [(n, v) for n, _, v in before][: len(finished)] == finished
    rc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert rc.returncode == 0, rc.stderr
    res = json.loads((tmp_path / "k.json").read_text())
    done = [t for t in res["trials"] if t["state"] == "complete"]
    assert len(done) == 12
    kept = {(t["number"], json.dumps(t["params"], sort_keys=True), t["value"]) for t in done}
    for number, params, value in before:
        assert (number, params, value) in kept
    assert len({t["number"] for t in done}) == 12


def test_cli_errors_are_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cmd = ["--", sys.executable, PROG, "--mode={a,b}"]
    assert main(["tune", "--quiet", "--storage", str(tmp_path / "no" / "s.sqlite"), *cmd]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    assert main(["tune", "--quiet", "--trials", "1", "--storage", str(bad), *cmd]) == 2
    assert "cannot use the study file" in capsys.readouterr().err
    good = tmp_path / "s.sqlite"
    assert main(["tune", "--quiet", "--trials", "1", "--no-baseline", "--storage", str(good), *cmd]) == 0
    other = ["--", sys.executable, PROG, "--mode={a,c}"]
    assert main(["tune", "--quiet", "--trials", "1", "--storage", str(good), *other]) == 2
    assert "another command" in capsys.readouterr().err
    assert main(["tune", "--quiet", "--trials", "1", "--no-baseline", "--fresh", "--storage", str(good), *other]) == 0
    assert main(["tune", "--quiet", "--default", "mode", *cmd]) == 2
    assert main(["tune", "--quiet", "--default", "nope=1", "--storage", str(tmp_path / "d.sqlite"), *cmd]) == 2
    assert "not a placeholder" in capsys.readouterr().err


def test_a_finite_space_is_not_measured_twice(tmp_path: Path) -> None:
    # TPE proposes measured configurations again once it exploits; the trial then measures an
    # untried neighbour: with as many trials as configurations, every one is measured exactly once
    from learnedsys.tune._tune import Param, tune

    params = [Param("a", "categorical", choices=("x", "y", "z")), Param("n", "int", 1, 4), Param("b", "categorical", choices=("p", "q"))]
    calls: list[tuple[str, int, str]] = []

    def obj(v: dict[str, object]) -> tuple[float, list[float], None]:
        calls.append((v["a"], v["n"], v["b"]))  # type: ignore[arg-type]
        value = {"x": 0.0, "y": 1.0, "z": 2.0}[v["a"]] + abs(v["n"] - 2) + (v["b"] == "q")  # type: ignore[index,operator]
        return value, [value], None

    study = tmp_path / "s.sqlite"
    res = tune(params, obj, trials=14, seed=0, storage=study)
    assert len(calls) == len(set(calls)) == 14
    res = tune(params, obj, trials=24, seed=1, storage=study)  # resumed: the journaled ones count as measured
    assert len(calls) == len(set(calls)) == 24 == 3 * 4 * 2
    assert res.best_value == 0.0


def test_a_study_is_an_optuna_study(tmp_path: Path) -> None:
    import optuna

    from learnedsys.tune import Param, storage_url, tune

    params = [Param("n", "int", 1, 9), Param("m", "categorical", choices=("a", "b"))]
    study = tmp_path / "o.sqlite"
    res = tune(params, lambda v: (float(abs(v["n"] - 4)), [0.0], "ok"), trials=8, seed=0, storage=study,
               baseline={"n": 1, "m": "a"})
    assert res.storage == storage_url(study) == f"sqlite:///{study}"
    st = optuna.load_study(study_name="learnedsys-tune", storage=res.storage)
    done = [t for t in st.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 8 == len(res.completed)
    assert st.best_value == res.best_value and st.best_params == res.best
    assert all(t.user_attrs["learnedsys:note"] == "ok" for t in done)
    assert st.user_attrs["learnedsys:baseline"]["value"] == 3.0 == res.baseline


def test_any_policy_drives_tune_and_the_study_resumes(tmp_path: Path) -> None:
    from learnedsys.policy import RandomPolicy, Reinforce
    from learnedsys.tune import Param, tune

    params = [Param("n", "int", 1, 8), Param("x", "float", 0.0, 1.0), Param("m", "categorical", choices=("a", "b", "c"))]

    def cost(v: dict) -> tuple[float, list[float], None]:
        c = abs(v["n"] - 6) + abs(v["x"] - 0.5) + (0.0 if v["m"] == "c" else 1.0)
        return c, [c], None

    optimum = min(cost({"n": n, "x": x, "m": m})[0] for n in range(1, 9) for x in (0.5,) for m in "abc")
    assert optimum == 0.0
    res = tune(params, cost, trials=150, sampler=Reinforce(lr=0.3, seed=0), seed=0)
    assert res.best_value <= 1.0 + 1 / 62  # the policy sees x on a 32-step grid
    # a random policy through the same loop, journaled and resumed
    study = tmp_path / "p.sqlite"
    first = tune(params, cost, trials=5, sampler=RandomPolicy(seed=1), storage=study)
    again = tune(params, cost, trials=9, sampler=RandomPolicy(seed=2), storage=study)
    assert [t["number"] for t in again.trials[:5]] == [t["number"] for t in first.trials]
    assert len(again.completed) == 9
    with pytest.raises(InvalidParameterError, match="sampler"):
        tune(params, cost, trials=2, sampler=3)


def test_a_study_on_postgresql(postgres_url: str) -> None:
    import optuna

    from learnedsys.tune import Param, tune

    params = [Param("n", "int", 0, 9)]
    res = tune(params, lambda v: (float(abs(v["n"] - 3)), [0.0], None), trials=10, seed=0, storage=postgres_url)
    assert res.best == {"n": 3}  # ten values, ten trials, none measured twice
    again = tune(params, lambda v: (float(abs(v["n"] - 3)), [0.0], None), trials=12, seed=1, storage=postgres_url)
    assert len(again.completed) == 12  # resumed: ten kept, two more run
    st = optuna.load_study(study_name="learnedsys-tune", storage=postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    assert len([t for t in st.trials if t.state == optuna.trial.TrialState.COMPLETE]) == 12


def test_an_unreachable_postgresql_is_one_line(tmp_path: Path) -> None:
    from learnedsys._validation import InfrastructureError
    from learnedsys.tune import Param, tune

    with pytest.raises(InfrastructureError, match="cannot connect to PostgreSQL at postgresql://nobody@127") as info:
        tune([Param("n", "int", 0, 3)], lambda v: (0.0, [0.0], None), trials=1, storage="postgresql://nobody@127.0.0.1:1/x")
    assert "\n" not in str(info.value)


def test_storage_is_where_and_study_is_the_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the parameters of nas.search: storage= (a path or URL), study= (a name in it)
    import optuna

    from learnedsys.tune import Param, open_study, tune

    params = [Param("n", "int", 0, 5)]

    def cost(v: dict) -> tuple[float, list[float], None]:
        return float(abs(v["n"] - 2)), [0.0], None

    path = tmp_path / "two.sqlite"
    a = tune(params, cost, trials=3, seed=0, storage=path, study="a")
    b = tune(params, cost, trials=2, seed=0, storage=path, study="b")
    assert (a.study_name, b.study_name) == ("a", "b") and a.storage == b.storage
    names = {s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{path}")}
    assert names == {"a", "b"}
    # the old meaning of study= (the file) is refused, naming the fix
    for old in (path, str(path), "x.db", "sqlite:///x.sqlite", "postgresql://u@h/db"):
        with pytest.raises(InvalidParameterError, match="pass the file as storage=; study= is the study's name now"):
            tune(params, cost, trials=1, study=old)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="pass the file as storage="):
        open_study(study=str(path))
    # study_name= still works, with a DeprecationWarning
    with pytest.warns(DeprecationWarning, match="study_name"):
        old_style = tune(params, cost, trials=4, seed=0, storage=path, study_name="a")
    assert old_style.study_name == "a" and len(old_style.completed) == 4  # resumed a's three
    with pytest.warns(DeprecationWarning, match="name="):
        assert open_study(path, name="b").study_name == "b"
    with pytest.warns(DeprecationWarning), pytest.raises(InvalidParameterError, match="two study names"):
        tune(params, cost, trials=1, study="a", study_name="b")
    # the command line says the same in its own words
    cmd = ["--", sys.executable, PROG, "--mode={a,b}"]
    assert main(["tune", "--quiet", "--study", str(path), *cmd]) == 2
    assert "--study is the study's name" in capsys.readouterr().err
