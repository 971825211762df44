"""Issue 20: the image space, the training recipe, multi-fidelity ASHA, the budget plan, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from learnedsys.cli import main
from learnedsys.nas import ASHA, RandomSearch, fit_final, image_space, load_model, search
from learnedsys.nas._executor import make_pool
from learnedsys.nas._plan import BudgetTooSmallError, SearchPlan

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("hw, expect_flat", [(8, 2 * 2), (28, 6 * 6), (64, 6 * 6)])
def test_image_space_follows_the_image_size(hw: int, expect_flat: int) -> None:
    from learnedsys.nas._models import build_model

    sp = image_space()
    arch = sp.decode(sp.default_actions()[0])
    assert arch["width"] == 32 and arch["stages"] == 2 and arch["shift"] == 2 and arch["batchnorm"] is True
    m = build_model("convnet", arch, (3, hw, hw), 5)
    assert m(torch.zeros(2, 3, hw, hw)).shape == (2, 5)
    dense = next(x for x in m if isinstance(x, torch.nn.Linear))
    assert dense.in_features == 64 * expect_flat  # flatten head: pooled twice, at most 6x6
    convs = [x for x in m if isinstance(x, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64] and all(c.kernel_size == (3, 3) for c in convs)
    big = dict(arch, stem_stride=2, stages=3, depth=2)
    m2 = build_model("convnet", big, (3, hw, hw), 5)
    assert m2(torch.zeros(2, 3, hw, hw)).shape == (2, 5)
    strides = [c.stride for c in m2 if isinstance(c, torch.nn.Conv2d)]
    assert strides[0] == ((2, 2) if hw >= 16 else (1, 1)) and len(strides) == 6


def test_random_shift_matches_a_per_sample_oracle() -> None:
    from learnedsys.nas._train import _shift

    x = torch.arange(5 * 2 * 6 * 7, dtype=torch.float32).reshape(5, 2, 6, 7) + 1
    out = _shift(x, 2, torch.Generator().manual_seed(3), torch)
    off = torch.randint(0, 5, (5, 2), generator=torch.Generator().manual_seed(3))
    for i in range(5):
        dy, dx = int(off[i, 0]) - 2, int(off[i, 1]) - 2
        want = torch.zeros_like(x[i])
        src = x[i][:, max(0, dy):6 + min(0, dy), max(0, dx):7 + min(0, dx)]
        want[:, max(0, -dy):max(0, -dy) + src.shape[1], max(0, -dx):max(0, -dx) + src.shape[2]] = src
        assert torch.equal(out[i], want)


def test_asha_rungs_cover_epochs_and_data() -> None:
    sp = image_space()
    a = ASHA(RandomSearch(sp, seed=0), 1, 9, 3, min_fraction=1 / 3)
    assert a.rungs == [1, 3, 9] and a.fractions == pytest.approx([1 / 3, 1.0, 1.0])
    j = a.next_job()
    assert (j.epochs, j.rung, j.fraction) == (1, 0, pytest.approx(1 / 3))
    top = a.top_job(sp.default_actions()[0])
    assert (top.epochs, top.rung, top.fraction) == (9, 2, 1.0)


def test_plan_scales_with_the_budget_and_refuses_a_hopeless_one() -> None:
    small, large = SearchPlan.make(60, 1.0, 1.3, 2), SearchPlan.make(3600, 1.0, 1.3, 2)
    assert small.epochs < large.epochs <= 30 and small.search_s == pytest.approx(33.0)
    assert large.final_epochs(1000.0, 2) > small.final_epochs(27.0, 2) >= 1
    assert SearchPlan.make(60, 1.0, 1.3, 1).final_epochs(27.0, 2) < small.final_epochs(27.0, 2)  # members queue
    with pytest.raises(BudgetTooSmallError, match=r"too small to train one model.*give --budget"):
        SearchPlan.make(2, 1.0, 1.3, 2)


def test_hand_built_first_at_the_top_rung_and_the_winner_is_never_worse(tiny_data) -> None:
    res = search(tiny_data, space="image", strategy="random", max_trials=4, backend="inline", epochs=3, asha=True,
                 min_fraction=1 / 3, measure_latency=False, seed=1)
    first = res.history[0]
    assert first["hand_built"] and first["epochs"] == 3 and first["fraction"] == 1.0
    assert res.hand_built is not None and res.hand_built["val_acc"] == first["val_acc"]
    top = [h for h in res.history if h["epochs"] == 3 and h["status"] == "ok"]
    assert res.best is not None and res.best["val_acc"] == max(h["val_acc"] for h in top) >= first["val_acc"]
    assert any(h["fraction"] < 1.0 for h in res.history)  # the lowest rung saw a third of the data


def test_final_ensemble_on_the_pool_equals_the_in_process_one(tiny_data) -> None:
    sp = image_space()
    acts = [sp.default_actions()[0]] * 2
    m1, acc1 = fit_final(sp, acts, tiny_data, epochs=1, seed=4)
    pool = make_pool("inline", "image", tiny_data, {"measure_latency": False}, 1)
    try:
        m2, acc2 = fit_final(sp, acts, tiny_data, epochs=1, seed=4, pool=pool)
    finally:
        pool.close()
    X = tiny_data.X_test * tiny_data.std + tiny_data.mean
    np.testing.assert_allclose(m1.predict_proba(X), m2.predict_proba(X), rtol=1e-5, atol=1e-6)
    assert acc1 == acc2
    p = m1.predict_proba(X)
    assert not np.allclose(m1.modules[0](torch.from_numpy(tiny_data.X_test)).detach().numpy(),
                           m1.modules[1](torch.from_numpy(tiny_data.X_test)).detach().numpy())  # two seeds
    assert p.shape == (len(X), tiny_data.n_classes)


@pytest.fixture(scope="module")
def tiny_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    p = tmp_path_factory.mktemp("img") / "tiny.npz"
    np.savez(p, X=d.data[:150].reshape(-1, 8, 8).astype(np.float32), y=d.target[:150])
    return p


def test_cli_image_search_reports_on_stdout_and_records_every_trial(tiny_images: Path, tmp_path: Path, capsys) -> None:
    tiny_npz = tiny_images
    out, js = tmp_path / "m", tmp_path / "r.json"
    rc = main(["nas", "search", "--data", str(tiny_npz), "--budget", "30", "--max-trials", "4", "--epochs", "2",
               "--final-epochs", "2", "--backend", "inline", "--out", str(out), "--json", str(js)])
    cap = capsys.readouterr()
    assert rc == 0
    res = json.loads(js.read_text())
    assert res["trials"] == 4 and len(res["history"]) == 4 and res["history"][0]["hand_built"]
    assert {"rung", "fraction", "epochs_run", "val_acc", "seconds"} <= set(res["history"][0])
    assert res["plan"]["epochs"] == 2 and len(res["ensemble"]) == 2 and res["final_epochs_run"] == [2, 2]
    assert "won by" in cap.out and "held-out test accuracy" in cap.out and "model written" in cap.out
    assert "nas: " in cap.err and "trials done" in cap.err  # the live line
    assert load_model(out).family == "convnet"
    rc = main(["nas", "search", "--data", str(tiny_npz), "--budget", "30", "--hand-built", "--final-epochs", "1",
               "--backend", "inline", "--no-progress", "--json", str(js)])
    res = json.loads(js.read_text())
    assert rc == 0 and res["trials"] == 0 and res["final_epochs"] == 1
    assert {tuple(m["action"]) for m in res["ensemble"]} == {tuple(image_space().default_actions()[0])}


def _bad(tmp: Path) -> dict[str, tuple[Path, str]]:
    r = np.random.default_rng(0)
    cases = {
        "onehot": ({"X": r.random((50, 8, 8)), "y": r.integers(0, 3, (50, 3))}, "one-hot rows? save y.argmax(axis=1)"),
        "lengths": ({"X": r.random((50, 8, 8)), "y": r.integers(0, 3, 40)}, "X has 50 samples and y 40 labels"),
        "flat": ({"X": r.random(50), "y": r.integers(0, 3, 50)}, "save X[:, None]"),
        "nan": ({"X": np.where(np.arange(50 * 64).reshape(50, 8, 8) == 200, np.nan, 0.5), "y": np.arange(50) % 3},
                "X[3] holds NaN or inf"),
        "one": ({"X": r.random((50, 8, 8)), "y": np.zeros(50, int)}, "needs samples of two or more labels"),
        "strpix": ({"X": np.array([["a"] * 4] * 50), "y": r.integers(0, 3, 50)}, "X must be numeric"),
    }
    out = {}
    for name, (arrays, msg) in cases.items():
        np.savez(tmp / f"{name}.npz", **arrays)
        out[name] = (tmp / f"{name}.npz", msg)
    (tmp / "empty.npz").write_bytes(b"")
    out["empty"] = (tmp / "empty.npz", "is empty (0 bytes); write it with np.savez")
    return out


def test_bad_input_is_one_line_naming_the_fix_and_writes_nothing(tmp_path: Path, capsys) -> None:
    for name, (path, msg) in _bad(tmp_path).items():
        out = tmp_path / f"out-{name}"
        assert main(["nas", "search", "--data", str(path), "--budget", "20", "--backend", "inline", "--no-progress",
                     "--out", str(out), "--json", str(tmp_path / f"{name}.json")]) == 2, name
        err = capsys.readouterr().err
        assert msg in err and len(err.strip().splitlines()) == 1, (name, err)
        assert not out.exists() and not (tmp_path / f"{name}.json").exists()
    big = tmp_path / "big.npz"
    np.savez(big, X=np.random.default_rng(0).random((2000, 1, 32, 32)).astype(np.float32), y=np.arange(2000) % 4)
    assert main(["nas", "search", "--data", str(big), "--budget", "0.5", "--backend", "inline", "--no-progress",
                 "--out", str(tmp_path / "out-big")]) == 2
    err = capsys.readouterr().err
    assert "too small to train one model" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out-big").exists()


def test_string_labels_come_back_as_strings(tmp_path: Path) -> None:
    r = np.random.default_rng(0)
    np.savez(tmp_path / "s.npz", X=r.random((60, 8, 8)).astype(np.float32), y=np.array(["cat", "dog", "eel"] * 20))
    assert main(["nas", "search", "--data", str(tmp_path / "s.npz"), "--max-trials", "1", "--epochs", "1",
                 "--final-epochs", "1", "--ensemble", "1", "--backend", "inline", "--no-progress",
                 "--out", str(tmp_path / "m")]) == 0
    assert set(load_model(tmp_path / "m").predict(r.random((9, 8, 8)))) <= {"cat", "dog", "eel"}


def test_one_cycle_by_the_clock_matches_torchs_one_cycle() -> None:
    from learnedsys.nas._train import _set_rate

    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([w], lr=0.01)
    ref_opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    n = 401  # torch's phases end at steps pct_start * n - 1 and n - 1
    ref = torch.optim.lr_scheduler.OneCycleLR(ref_opt, max_lr=0.01, total_steps=n, pct_start=0.25)
    for step in range(n - 1):
        pct = step / (n - 1)
        _set_rate(opt, 0.01, min(1.0, pct * (n - 1) / (0.25 * n - 1) * 0.25) if pct < 0.25 else
                  0.25 + (step - (0.25 * n - 1)) / (n - 1 - (0.25 * n - 1)) * 0.75, "onecycle")
        assert opt.param_groups[0]["lr"] == pytest.approx(ref_opt.param_groups[0]["lr"], rel=1e-6, abs=1e-9)
        assert opt.param_groups[0]["betas"][0] == pytest.approx(ref_opt.param_groups[0]["betas"][0], rel=1e-6)
        ref_opt.step()
        ref.step()


def test_training_by_the_clock_ends_on_time(tiny_data) -> None:
    import time

    from learnedsys.nas._train import fit_model

    sp = image_space()
    stats: dict[str, int] = {}
    t0 = time.perf_counter()
    fit_model(sp, sp.default_actions()[0], tiny_data, epochs=10_000, seed=0, include_val=True, seconds=0.4, stats=stats)
    assert time.perf_counter() - t0 < 0.4 + 1.5 and 1 <= stats["epochs_run"] < 10_000


def test_chance_floor_is_the_majority_share_plus_three_standard_errors() -> None:
    from learnedsys.nas._plan import chance_floor

    y = np.array([0] * 400 + [1] * 200 + [2] * 200)
    p = 400 / 800
    assert chance_floor(y) == pytest.approx(p + 3 * (p * (1 - p) / 800) ** 0.5)
    six = np.arange(800) % 6  # patches32: 6 balanced classes, 800 validation samples
    assert 0.180 < chance_floor(six) < 0.21 and chance_floor(six, z=0.0) == 134 / 800  # the majority class, not 1/6
    assert chance_floor(np.zeros(5, int)) == 1.0 and chance_floor(np.array([], int)) == 0.0


def test_cli_falls_back_to_the_hand_built_cnn_when_the_search_learnt_nothing(tmp_path: Path, capsys) -> None:
    r = np.random.default_rng(5)
    npz = tmp_path / "noise.npz"  # labels independent of the pixels: nothing can be learnt
    np.savez(npz, X=r.random((240, 8, 8)).astype(np.float32), y=np.arange(240) % 3)
    js = tmp_path / "r.json"
    rc = main(["nas", "search", "--data", str(npz), "--budget", "30", "--max-trials", "3", "--epochs", "1",
               "--final-epochs", "1", "--backend", "inline", "--no-defaults", "--no-progress", "--json", str(js)])
    cap = capsys.readouterr()
    res = json.loads(js.read_text())
    assert rc == 0 and not res["best"]["hand_built"]  # the search's own best, a searched architecture
    assert all(h["status"] == "ok" and h["error"] is None for h in res["history"])  # one-batch trainings run
    assert res["fallback"]["reason"] == "chance" and res["best"]["val_acc"] < res["fallback"]["floor"]
    assert {tuple(m["action"]) for m in res["ensemble"]} == {tuple(image_space().default_actions()[0])}
    assert "within 3 standard errors of chance" in cap.out


def test_less_trained_rival_needs_less_training_and_more_than_one_standard_error() -> None:
    from learnedsys.nas._plan import less_trained_rival

    se = (0.9 * 0.1 / 800) ** 0.5  # about 0.0106 at the hand-built CNN's 0.90
    hist = [
        {"number": 0, "hand_built": True, "status": "ok", "epochs": 13, "fraction": 1.0, "val_acc": 0.90},
        {"number": 1, "hand_built": True, "status": "ok", "epochs": 4, "fraction": 1 / 3, "val_acc": 0.99},  # hand-built: never a rival
        {"number": 2, "hand_built": False, "status": "ok", "epochs": 13, "fraction": 1.0, "val_acc": 0.97},  # top rung: the search's own ranking
        {"number": 3, "hand_built": False, "status": "ok", "epochs": 4, "fraction": 1 / 3, "val_acc": 0.90 + se / 2},  # within the noise
        {"number": 4, "hand_built": False, "status": "error", "epochs": 4, "fraction": 1 / 3, "val_acc": None},
        {"number": 5, "hand_built": False, "status": "timeout", "epochs": 13, "fraction": 1.0, "epochs_run": 0, "partial_val_acc": None},
    ]
    assert less_trained_rival(hist, 0.90, 800, 13) is None
    lower = {"number": 6, "hand_built": False, "status": "ok", "epochs": 4, "fraction": 1 / 3, "val_acc": 0.941, "action": [1]}
    assert less_trained_rival([*hist, lower], 0.90, 800, 13)["number"] == 6
    assert less_trained_rival([*hist, lower], 0.935, 800, 13) is None  # 0.941 is within one error of 0.935
    cut = {"number": 7, "hand_built": False, "status": "timeout", "epochs": 13, "fraction": 1.0, "epochs_run": 8, "val_acc": None,
           "partial_val_acc": 0.95, "action": [2]}
    got = less_trained_rival([*hist, lower, cut], 0.90, 800, 13)
    assert got["number"] == 7 and got["evidence_val_acc"] == 0.95  # the best of the two
    # fewer epochs on all the data is less training too
    short = {"number": 8, "hand_built": False, "status": "ok", "epochs": 4, "fraction": 1.0, "val_acc": 0.93}
    assert less_trained_rival([hist[0], short], 0.90, 800, 13)["number"] == 8


def test_a_cut_trial_reports_what_its_weights_reached(tiny_data) -> None:
    # stopped at the second epoch's first batch, a trial reports the validation accuracy after
    # one whole epoch: the same as a one-epoch training of the same seed (constant rate, so the
    # schedule does not depend on the epochs asked for)
    from learnedsys.nas._train import train_eval

    sp = image_space()
    a = sp.default_actions()[0]
    per_epoch = sum(1 for i in range(0, len(tiny_data.y_train), 64) if len(tiny_data.y_train) - i >= 2)
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > per_epoch

    cut = train_eval(sp, a, tiny_data, epochs=3, seed=0, schedule="constant", measure_latency=False, stop=stop)
    one = train_eval(sp, a, tiny_data, epochs=1, seed=0, schedule="constant", measure_latency=False)
    assert cut["status"] == "timeout" and cut["epochs_run"] == 1 and "epoch 1" in cut["error"]
    assert cut["partial_val_acc"] == one["val_acc"]
    calls["n"] = 10**9  # cut before the first epoch ended: nothing to report
    early = train_eval(sp, a, tiny_data, epochs=3, seed=0, schedule="constant", measure_latency=False, stop=stop)
    assert early["status"] == "timeout" and early["epochs_run"] == 0 and "partial_val_acc" not in early
