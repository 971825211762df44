from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from learnedsys.cli import main
from learnedsys.nas import load_model


def test_cli_module_imports_nothing_heavy():
    code = "import sys, learnedsys.nas._cli, learnedsys.nas; print('torch' in sys.modules, 'ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


def test_search_then_predict(tiny_npz, tmp_path, capsys):
    out, js = tmp_path / "model", tmp_path / "r.json"
    rc = main(["nas", "search", "--data", str(tiny_npz), "--budget", "60", "--max-trials", "2", "--epochs", "15",
               "--backend", "inline", "--no-progress", "--out", str(out), "--json", str(js)])
    assert rc == 0
    searched = capsys.readouterr()
    assert searched.err == ""  # --quiet (--no-progress): nothing on stderr; the results on stdout
    assert "held-out test accuracy" in searched.out
    res = json.loads(js.read_text())
    assert res["trials"] == 2 and res["resumed_trials"] == 0 and len(res["history"]) == 2
    assert set(res["best"]) >= {"architecture", "val_acc"} and 0 <= res["test_acc"] <= 1
    assert 1 <= len(res["ensemble"]) <= 2 and res["ensemble"][0]["action"] == res["best"]["action"]
    assert (out / "architecture.json").exists() and (out / "model.lsys").exists()
    preds = tmp_path / "p.npy"
    assert main(["nas", "predict", str(out), "--data", str(tiny_npz), "--out", str(preds), "--json", str(tmp_path / "p.json")]) == 0
    with np.load(tiny_npz) as z:
        X, y = z["X"], z["y"]
    p = np.load(preds, allow_pickle=False)
    assert np.array_equal(p, load_model(out).predict(X))  # oracle: the library call
    assert np.mean(p == y) > 0.3  # 15 short epochs on 144 samples beat chance (0.1) by far
    assert "accuracy against y" in capsys.readouterr().out  # a result: stdout
    record = json.loads((tmp_path / "p.json").read_text())
    assert record["predictions"] == len(p) and record["accuracy"] == pytest.approx(np.mean(p == y))


def test_corrupted_model_is_an_error_not_a_crash(tiny_npz, tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["nas", "search", "--data", str(tiny_npz), "--max-trials", "1", "--epochs", "1", "--backend", "inline",
                 "--no-progress", "--out", str(out)]) == 0
    raw = bytearray((out / "model.lsys").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (out / "model.lsys").write_bytes(bytes(raw))
    assert main(["nas", "predict", str(out), "--data", str(tiny_npz), "--out", str(tmp_path / "p.npy")]) == 2
    assert "corrupted or truncated" in capsys.readouterr().err
    assert main(["nas", "predict", str(tmp_path), "--data", str(tiny_npz), "--out", str(tmp_path / "p.npy")]) == 2
    assert "holds no model.lsys" in capsys.readouterr().err


def test_a_search_is_an_optuna_study(tiny_npz, tmp_path, capsys):
    import optuna

    db, js = tmp_path / "nas.sqlite", tmp_path / "r.json"
    base = ["nas", "search", "--data", str(tiny_npz), "--space", "mlp", "--max-trials", "2", "--epochs", "1",
            "--backend", "inline", "--no-progress", "--ensemble", "1", "--storage", str(db), "--study", "digits"]
    assert main([*base, "--json", str(js)]) == 0
    res = json.loads(js.read_text())
    st = optuna.load_study(study_name="digits", storage=f"sqlite:///{db}")
    assert [t.state.name for t in st.trials] == ["COMPLETE", "COMPLETE"] and st.direction.name == "MAXIMIZE"
    assert [t.value for t in st.trials] == [h["val_acc"] for h in res["history"]]
    assert [t.user_attrs["learnedsys:action"] for t in st.trials] == [h["action"] for h in res["history"]]
    assert st.user_attrs["learnedsys:config"] == res["config"]
    # an existing study resumes by default; --resume (the old flag) is a hidden no-op; --fresh starts over
    assert main([*base, "--max-trials", "1", "--json", str(js)]) == 0
    assert json.loads(js.read_text())["resumed_trials"] == 2
    assert main([*base, "--max-trials", "1", "--resume", "--json", str(js)]) == 0
    assert json.loads(js.read_text())["resumed_trials"] == 3
    assert main([*base, "--max-trials", "1", "--fresh", "--json", str(js)]) == 0
    assert json.loads(js.read_text())["resumed_trials"] == 0 and len(optuna.load_study(
        study_name="digits", storage=f"sqlite:///{db}").trials) == 1
    assert main([*base, "--strategy", "random", "--json", str(js)]) == 2
    assert "its strategy was 'evolution', now 'random'" in capsys.readouterr().err
    sub = subprocess.run([sys.executable, "-m", "learnedsys.cli", "nas", "search", "--help"], capture_output=True, text=True)
    assert "--fresh" in sub.stdout and "--resume" not in sub.stdout


def test_trials_dataframe_shows_the_finished_trials(tiny_npz, tmp_path):
    pytest.importorskip("pandas")  # Optuna's trials_dataframe needs it
    import optuna

    db, js = tmp_path / "nas.sqlite", tmp_path / "r.json"
    assert main(["nas", "search", "--data", str(tiny_npz), "--space", "mlp", "--max-trials", "2", "--epochs", "1",
                 "--backend", "inline", "--no-progress", "--ensemble", "1", "--storage", str(db), "--study", "d",
                 "--json", str(js)]) == 0
    history = json.loads(js.read_text())["history"]
    df = optuna.load_study(study_name="d", storage=f"sqlite:///{db}").trials_dataframe()
    assert list(df["state"]) == ["COMPLETE", "COMPLETE"]
    assert list(df["value"]) == [h["val_acc"] for h in history]
    assert list(df["user_attrs_learnedsys:status"]) == ["ok", "ok"]


@pytest.mark.parametrize("args, message", [
    (["--data", "nope.npz"], "no such file"),
    (["--data", "digits", "--budget", "soon"], "The 'budget' parameter must be a positive number"),
    (["--data", "digits", "--resume"], "--resume needs --storage"),
    (["--data", "digits", "--workers", "0"], "--workers must be an int >= 1"),
    (["--data", "digits", "--storage", "no/such/folder/s.db"], "does not exist"),
])
def test_bad_arguments(args, message, capsys):
    assert main(["nas", "search", *args]) == 2
    assert message in capsys.readouterr().err


def test_tabular_command(tmp_path, capsys):
    js = tmp_path / "t.json"
    assert main(["nas", "tabular", "--runs", "5", "--evals", "20", "--strategies", "random", "evolution", "--json", str(js)]) == 0
    data = json.loads(js.read_text())
    assert set(data) == {"random", "evolution"} and len(data["random"]["mean"]) == 20
    assert "regret" in capsys.readouterr().out


def test_final_retraining_is_cut_to_half_the_budget():
    import argparse
    from types import SimpleNamespace

    from learnedsys.nas._cli import _final_plan

    top = [{"number": i, "action": [i], "epochs": 10} for i in range(5)]
    res = SimpleNamespace(top=top, history=[{"number": i, "seconds": 10.0} for i in range(5)])
    data = SimpleNamespace(y_train=np.zeros(80), y_val=np.zeros(20))  # grow = 1.25

    def plan(budget, **kw):
        args = argparse.Namespace(**{"ensemble": None, "final_epochs": None, **kw})
        members, ep = _final_plan(res, args, 10, budget, data)
        return len(members), ep

    assert plan(1000) == (3, 20)  # 3 x 10 s x 2 x 1.25 = 75 s <= 500 s
    assert plan(120) == (3, 10)   # 75 s > 60 s: the search's epochs (37.5 s)
    assert plan(50) == (2, 10)    # 37.5 s > 25 s: two members (25 s)
    assert plan(10) == (1, 10)    # never fewer than one
    assert plan(10, ensemble=4, final_epochs=30) == (4, 30)  # what the user asked for is kept
