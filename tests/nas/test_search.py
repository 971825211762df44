from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from learnedsys._validation import InvalidParameterError
from learnedsys.nas import (
    Int,
    OneOf,
    Repeat,
    Space,
    pareto_front,
    parse_budget,
    search,
)


def test_inline_search_best_is_the_best_finished_trial(tiny_data):
    res = search(tiny_data, space="mlp", strategy="evolution", max_trials=4, backend="inline", epochs=2)
    assert res.trials == 4 and res.resumed_trials == 0 and len(res.history) == 4
    ok = [h for h in res.history if h["status"] == "ok"]
    assert res.best is not None and res.best["val_acc"] == max(h["val_acc"] for h in ok)
    assert [h["best_val_acc"] for h in res.history] == list(np.maximum.accumulate([h["val_acc"] for h in res.history]))


def test_failed_trials_are_recorded_and_the_search_goes_on(tiny_data):
    bogus = Space("bogus", [OneOf("x", [1, 2])])  # no model builder: every trial raises
    res = search(tiny_data, space=bogus, strategy="random", max_trials=2, backend="inline", epochs=1)
    assert res.trials == 2 and res.failed == 2 and res.best is None
    assert all(h["status"] == "error" for h in res.history)
    exploding = Space("mlp", [Int("n_layers", 1, 1), Repeat("layer", "n_layers", [OneOf("width", [16])]),
                              OneOf("lr", [1e30, 1e-3])])
    res = search(tiny_data, space=exploding, strategy="random", max_trials=2, backend="inline", epochs=1)
    statuses = sorted(h["status"] for h in res.history)
    assert statuses == ["nan", "ok"] and res.best["architecture"]["lr"] == 1e-3


def _study(path, name):
    import optuna

    return optuna.load_study(study_name=name, storage=f"sqlite:///{path}")


def test_an_existing_study_resumes_and_fresh_starts_over(tiny_data, tmp_path):
    path = tmp_path / "j.db"  # a plain file path, as tune takes it
    first = search(tiny_data, space="mlp", strategy="reinforce", max_trials=3, backend="inline", epochs=1,
                   storage=path, study="s")
    with pytest.raises(InvalidParameterError, match=r"its strategy was 'reinforce', now 'random'; .* --fresh"):
        search(tiny_data, space="mlp", strategy="random", max_trials=1, backend="inline", epochs=1, storage=path,
               study="s")
    second = search(tiny_data, space="mlp", strategy="reinforce", max_trials=2, backend="inline", epochs=1,
                    storage=f"sqlite:///{path}", study="s")  # the same study by URL
    assert second.resumed_trials == 3 and second.trials == 5
    assert [h["number"] for h in second.history] == [0, 1, 2, 3, 4]
    assert [h["val_acc"] for h in second.history[:3]] == [h["val_acc"] for h in first.history]
    st = _study(path, "s")
    assert [(t.number, t.state.name, t.user_attrs["learnedsys:status"]) for t in st.trials] == [(i, "COMPLETE", "ok") for i in range(5)]
    assert [t.value for t in st.trials] == [h["val_acc"] for h in second.history]
    with pytest.warns(DeprecationWarning, match="resume"):  # the old flag: accepted, and the default anyway
        third = search(tiny_data, space="mlp", strategy="reinforce", max_trials=1, backend="inline", epochs=1,
                       storage=path, study="s", resume=True)
    assert third.resumed_trials == 5
    again = search(tiny_data, space="mlp", strategy="random", max_trials=1, backend="inline", epochs=1, storage=path,
                   study="s", fresh=True)
    assert again.resumed_trials == 0 and again.trials == 1 and len(_study(path, "s").trials) == 1


def test_asha_search_trains_promoted_trials_longer(tiny_data):
    res = search(tiny_data, space="mlp", strategy="random", max_trials=8, backend="inline", epochs=4,
                 asha=True, min_epochs=1, eta=2)
    epochs = [h["epochs"] for h in res.history]
    assert set(epochs) <= {1, 2, 4} and epochs.count(1) >= 4 and max(epochs) >= 2
    assert res.best["epochs"] == max(epochs)


def test_hardware_aware_objective_and_pareto_front(tiny_data):
    res = search(tiny_data, space="mlp", strategy="random", max_trials=4, backend="inline", epochs=1, objective="params",
                 cost_target=1e4)
    for h in res.history:
        assert h["reward"] <= h["val_acc"] * 10 and h["reward"] > 0
    # oracle: brute-force non-domination
    pts = [{"status": "ok", "val_acc": float(a), "params": int(p)} for a, p in
           itertools.product([0.5, 0.7, 0.9], [10, 20, 30])] + [{"status": "ok", "val_acc": 0.8, "params": 15}]
    front = pareto_front(pts, "params")
    brute = [p for p in pts if not any(q["val_acc"] >= p["val_acc"] and q["params"] <= p["params"] and q != p for q in pts)]
    assert sorted(map(str, front)) == sorted(map(str, brute))


def test_parse_budget():
    assert parse_budget("240") == 240 and parse_budget("10m") == 600 and parse_budget("1h") == 3600 and parse_budget(1.5) == 1.5
    for bad in ("0", "-3", "ten", "5x", float("nan")):
        with pytest.raises(InvalidParameterError, match="The 'budget' parameter must be a positive number"):
            parse_budget(bad)


def test_local_pool_two_workers_reproduce_inline_results(tiny_data):
    # random proposals do not depend on results, so both runs train the same 4 architectures;
    # the same seed must give the same accuracy in a worker process as in this one
    # a budget far above the trials' cost: under load, Ray or a pool start must not end the search
    kw = dict(space="mlp", strategy="random", max_trials=4, epochs=2, measure_latency=False, budget=3600)
    here = search(tiny_data, backend="inline", **kw)
    there = search(tiny_data, workers=2, backend="local", **kw)
    assert there.trials == 4 and there.failed == 0
    as_dict = lambda r: {tuple(h["action"]): h["val_acc"] for h in r.history}  # noqa: E731
    assert as_dict(here) == as_dict(there)


def test_ray_backend_reproduces_inline_results(tiny_data):
    pytest.importorskip("ray")
    kw = dict(space="mlp", strategy="random", max_trials=2, epochs=2, measure_latency=False, budget=3600)
    here = search(tiny_data, backend="inline", **kw)
    there = search(tiny_data, workers=1, backend="ray", **kw)
    assert there.trials == 2 and there.failed == 0
    as_dict = lambda r: {tuple(h["action"]): h["val_acc"] for h in r.history}  # noqa: E731
    assert as_dict(here) == as_dict(there)


def _finished(db) -> dict[int, float]:
    """number -> val_acc of the finished trials, read without writing: opening the study with
    Optuna's API while the search creates its tables would race with it for the schema."""
    if not os.path.exists(db):
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            rows = con.execute(
                "SELECT t.number, v.value FROM trials t "
                "JOIN trial_user_attributes a ON a.trial_id = t.trial_id AND a.key = 'learnedsys:status' "
                "LEFT JOIN trial_values v ON v.trial_id = t.trial_id "
                "WHERE t.state IN ('COMPLETE', 'FAIL') AND a.value_json IN ('\"ok\"', '\"nan\"', '\"error\"')"
            ).fetchall()
    except sqlite3.Error:  # the search is still creating the study's tables
        return {}
    return {int(n): math.nan if v is None else float(v) for n, v in rows}


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_then_resume_keeps_every_finished_trial(tiny_npz, tmp_path):
    db = tmp_path / "k.db"
    base = [sys.executable, "-m", "learnedsys.cli", "nas", "search", "--data", str(tiny_npz), "--space", "mlp",
            "--epochs", "2", "--storage", str(db), "--study", "k", "--no-progress", "--ensemble", "1"]
    # the search that gets killed runs the real way: one long-lived worker process
    proc = subprocess.Popen([*base, "--budget", "300", "--workers", "1"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    children: list[int] = []
    try:
        deadline = time.time() + 60
        while len(_finished(db)) < 3 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert len(_finished(db)) >= 3, proc.stderr.read().decode() if proc.poll() is not None else "too slow"
        children = _children(proc.pid)
        assert children, "the search should run its trials in a worker process"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 15
        while any(_alive(c) for c in children) and time.time() < deadline:
            time.sleep(0.2)
        assert not any(_alive(c) for c in children), "workers must exit when their coordinator is killed"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the worker process we started, if still there
    before = _finished(db)
    out = tmp_path / "r.json"
    r = subprocess.run([*base, "--backend", "inline", "--max-trials", "2", "--budget", "120", "--json", str(out),
                        "--out", str(tmp_path / "model")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert res["resumed_trials"] == len(before)
    assert res["trials"] == len(before) + 2
    after = _finished(db)
    for num, acc in before.items():
        assert num in after and (after[num] == acc or (math.isnan(acc) and math.isnan(after[num])))
    statuses = {t.number: t.user_attrs["learnedsys:status"] for t in _study(db, "k").trials}
    assert set(statuses.values()) <= {"ok", "nan", "error", "lost"}


def test_search_tries_the_hand_built_default_first_and_not_again_on_resume(tiny_data, tmp_path):
    from learnedsys.nas import get_space

    sp = get_space("mlp")
    (default,) = sp.default_actions()
    url = f"sqlite:///{tmp_path / 'd.db'}"
    first = search(tiny_data, space="mlp", strategy="random", max_trials=2, backend="inline", epochs=1,
                   storage=url, study="d")
    assert tuple(first.history[0]["action"]) == default
    assert tuple(first.history[1]["action"]) != default
    again = search(tiny_data, space="mlp", strategy="random", max_trials=2, backend="inline", epochs=1,
                   storage=url, study="d")
    assert [tuple(h["action"]) for h in again.history].count(default) == 1
    off = search(tiny_data, space="mlp", strategy="random", max_trials=3, backend="inline", epochs=1,
                 try_defaults=False, seed=5)
    plain = [tuple(h["action"]) for h in off.history]
    rnd = search(tiny_data, space="mlp", strategy="random", max_trials=4, backend="inline", epochs=1, seed=5)
    # with the default enqueued, the strategy's own draws follow it unchanged
    assert [tuple(h["action"]) for h in rnd.history] == [default, *plain]


def test_ties_in_accuracy_are_broken_by_validation_loss(tiny_data):
    from learnedsys.nas._search import _rank_key

    a = {"epochs": 2, "reward": 1.0, "val_loss": 0.3, "number": 0}
    b = {"epochs": 2, "reward": 1.0, "val_loss": 0.1, "number": 1}
    c = {"epochs": 2, "reward": 1.0, "val_loss": None, "number": 2}  # a journal of an older version
    d = {"epochs": 2, "reward": 0.9, "val_loss": 0.01, "number": 3}
    assert sorted([a, b, c, d], key=_rank_key) == [b, a, c, d]
    res = search(tiny_data, space="mlp", strategy="random", max_trials=6, backend="inline", epochs=1)
    ok = [h for h in res.history if h["status"] == "ok"]
    oracle = min(ok, key=lambda h: (-h["val_acc"], h["val_loss"], h["number"]))
    assert res.best["number"] == oracle["number"] and res.top[0]["number"] == oracle["number"]
    assert all(0.0 <= h["val_loss"] < 10 for h in ok)


def test_a_journal_of_an_older_version_is_refused_with_the_fix(tiny_data, tmp_path):
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)  # the tables learnedsys wrote before nas studies were Optuna studies
    con.execute("CREATE TABLE nas_studies (study_id INTEGER PRIMARY KEY, name TEXT, config TEXT, created REAL)")
    con.execute("CREATE TABLE nas_trials (trial_id INTEGER PRIMARY KEY, study_id INTEGER, number INTEGER)")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(InvalidParameterError, match=r"older learnedsys .* pass a new --storage file"):
        search(tiny_data, space="mlp", strategy="random", max_trials=1, backend="inline", epochs=1, storage=path, study="o")
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"nas_studies", "nas_trials"} and path.read_bytes() == before  # nothing written


def test_trials_without_a_validation_loss_resume(tiny_data, tmp_path):
    path = tmp_path / "o.db"
    search(tiny_data, space="mlp", strategy="random", max_trials=2, backend="inline", epochs=1, storage=path, study="o")
    con = sqlite3.connect(path)
    con.execute("DELETE FROM trial_user_attributes WHERE key = 'learnedsys:val_loss'")  # e.g. written by hand
    con.commit()
    con.close()
    res = search(tiny_data, space="mlp", strategy="random", max_trials=1, backend="inline", epochs=1, storage=path,
                 study="o")
    assert res.resumed_trials == 2 and res.trials == 3
    assert [h["val_loss"] is None for h in res.history] == [True, True, False]


def test_a_killed_search_leaves_running_trials_that_resume_as_lost(tiny_data, tmp_path):
    from learnedsys.nas._storage import Journal

    path = tmp_path / "l.db"
    search(tiny_data, space="mlp", strategy="random", max_trials=1, backend="inline", epochs=1, storage=path, study="l")
    j = Journal(path, "l")
    config = _study(path, "l").user_attrs["learnedsys:config"]
    assert len(j.open(config)) == 1
    assert j.start((0, 1), 1, 0) == 1  # then the process dies: the trial stays RUNNING
    assert _study(path, "l").trials[1].state.name == "RUNNING"
    res = search(tiny_data, space="mlp", strategy="random", max_trials=1, backend="inline", epochs=1, storage=path,
                 study="l")
    assert res.resumed_trials == 1 and [h["number"] for h in res.history] == [0, 2]
    lost = _study(path, "l").trials[1]
    assert lost.state.name == "FAIL" and lost.user_attrs["learnedsys:status"] == "lost"


def test_a_budget_shorter_than_one_trial_still_gives_a_model(tiny_data, capsys):
    res = search(tiny_data, space="mlp", strategy="random", budget=1e-6, backend="inline", epochs=1)
    assert res.trials == 1 and res.best is not None and res.history[0]["status"] == "ok"
