"""Issue 17, item 10 (and items 1, 4 for NAS files): NaN pixels, strict model loading, safe saves."""

from __future__ import annotations

import json
import os
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

torch = pytest.importorskip("torch")

from learnedsys.nas import NASModel, load_model  # noqa: E402
from learnedsys.nas._export import KIND, KIND_VERSION  # noqa: E402
from learnedsys.nas._models import build_model  # noqa: E402

SHAPE = (1, 4, 4)
ARCH = {"n_layers": 1, "layer0.width": 8, "activation": "relu", "dropout": 0.0, "norm": "batch", "lr": 0.001}


def tiny_model(classes: list[Any] | None = None) -> NASModel:
    classes = classes or ["a", "b", "c"]
    torch.manual_seed(0)
    module = build_model("mlp", ARCH, SHAPE, len(classes))
    return NASModel("mlp", "mlp", [{"architecture": ARCH}], SHAPE, classes,
                    np.full((1, 1, 1), 0.5, np.float32), np.full((1, 1, 1), 0.25, np.float32), [module])


def _x(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).random((n, *SHAPE)).astype(np.float32)


# ---------------------------------------------------------------------------------- NaN pixels
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_predict_rejects_non_finite_pixels(bad: float) -> None:
    model = tiny_model()
    X = _x()
    X[3, 0, 2, 1] = bad
    with pytest.raises(InvalidParameterError, match=r"X must be finite; X\[3\] holds NaN or inf"):
        model.predict(X)
    with pytest.raises(InvalidParameterError, match="X must be numeric"):
        model.predict(np.array([["a"] * 16]))
    assert model.predict(_x()).shape == (6,)


def test_predict_cli_rejects_nan_pixels_like_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny_model().save(tmp_path / "m")
    X = _x()
    X[2, 0, 0, 0] = np.nan
    np.savez(tmp_path / "d.npz", X=X)
    out = tmp_path / "p.npy"
    assert main(["nas", "predict", str(tmp_path / "m"), "--data", str(tmp_path / "d.npz"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "X must be finite; X[2] holds NaN or inf" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    # and 'nas search' says the same of the same data
    np.savez(tmp_path / "s.npz", X=np.repeat(X, 10, axis=0), y=np.arange(60) % 3)
    assert main(["nas", "search", "--data", str(tmp_path / "s.npz"), "--max-trials", "1", "--backend", "inline", "--no-progress"]) == 2
    assert "must be finite" in capsys.readouterr().err


def test_predict_cli_writes_npy_atomically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny_model().save(tmp_path / "m")
    np.savez(tmp_path / "d.npz", X=_x())
    out = tmp_path / "p.npy"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out.symlink_to(victim)
    assert main(["nas", "predict", str(tmp_path / "m"), "--data", str(tmp_path / "d.npz"), "--out", str(out)]) == 0
    assert victim.read_text() == "precious" and not out.is_symlink()
    assert np.array_equal(np.load(out, allow_pickle=False), load_model(tmp_path / "m").predict(_x()))


@pytest.mark.parametrize("where, match", [("missing/p.npy", "does not exist; create it first"), ("", "is a directory")])
def test_predict_cli_bad_out_path(tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, match: str) -> None:
    tiny_model().save(tmp_path / "m")
    np.savez(tmp_path / "d.npz", X=_x())
    before = sorted(os.listdir(tmp_path))
    assert main(["nas", "predict", str(tmp_path / "m"), "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / where)]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == before


def test_cli_json_path_problems_fail_before_the_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nas", "tabular", "--runs", "2", "--evals", "2", "--json", str(tmp_path / "no" / "t.json")]) == 2
    assert "does not exist; create it first" in capsys.readouterr().err
    assert main(["nas", "search", "--data", "digits", "--json", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["nas", "search", "--data", "digits", "--out", str(tmp_path / "file")]) == 2
    assert "is a file; give a directory path" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


# --------------------------------------------------------------------------------- model saving
def test_model_save_never_follows_planted_links(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    victims = []
    for name in ("architecture.json", "model.lsys", "architecture.json.tmp", "model.lsys.tmp"):
        v = tmp_path / f"victim-{name}"
        v.write_text("precious")
        (d / name).symlink_to(v)
        victims.append(v)
    tiny_model().save(d)
    assert all(v.read_text() == "precious" for v in victims)
    assert not (d / "model.lsys").is_symlink() and not (d / "architecture.json").is_symlink()
    assert json.loads((d / "architecture.json").read_text())["classes"] == ["a", "b", "c"]
    assert np.array_equal(load_model(d).predict(_x()), tiny_model().predict(_x()))
    assert sorted(os.listdir(d)) == ["architecture.json", "architecture.json.tmp", "model.lsys", "model.lsys.tmp"]


def test_model_paths(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(PathError, match="is a file"):
        tiny_model().save(tmp_path / "f")
    with pytest.raises(PathError, match="is a file"):
        load_model(tmp_path / "f")


# ----------------------------------------------------------------------------- crafted models
def _rewrite(d: Path, meta_change: dict[str, Any] | None = None, arrays_change: dict[str, np.ndarray] | None = None,
             drop: tuple[str, ...] = ()) -> None:
    _, meta, arrays = load_container(d / "model.lsys", KIND, KIND_VERSION)
    arrays = {k: v for k, v in {**arrays, **(arrays_change or {})}.items() if k not in drop}
    save_container(d / "model.lsys", KIND, KIND_VERSION, {**meta, **(meta_change or {})}, arrays)


@pytest.mark.parametrize("meta_change, arrays_change, drop, match", [
    ({}, {"__mean": np.array([[[np.nan]]], np.float32)}, (), "input mean holds NaN or inf"),
    ({}, {"__std": np.zeros((1, 1, 1), np.float32)}, (), "input std must be > 0"),
    ({}, {"__std": np.full((1, 1, 1), -1.0, np.float32)}, (), "input std must be > 0"),
    ({}, {"__std": np.ones((2, 1, 1), np.float32)}, (), r"input std has float32 \(2, 1, 1\)"),
    ({}, {"__mean": np.ones((1, 1, 1), np.int32)}, (), "input mean has int32"),
    ({}, {}, ("__std",), "standardisation"),
    ({"classes": []}, {}, (), "'classes' must be a non-empty list"),
    ({"classes": ["a", "a", "b"]}, {}, (), "distinct labels"),
    ({"classes": ["a", 1, "b"]}, {}, (), "all strings or all numbers"),
    ({"classes": [["a"], "b", "c"]}, {}, (), "'classes'"),
    ({"classes": ["a", "b"]}, {}, (), "weight .* has float32 \\(3, 8\\); its architecture needs"),
    ({"members": []}, {}, (), "'members' must list 1 to 64"),
    ({"members": [ARCH] * 65}, {}, (), "'members' must list 1 to 64"),
    ({"members": [ARCH, ARCH]}, {}, (), "member 1's weights do not match"),
    ({"members": [{**ARCH, "n_layers": 10**9}]}, {}, (), "invalid choices: n_layers=1000000000"),
    ({"members": [{**ARCH, "layer0.width": 10**9}]}, {}, (), "invalid choices: layer0.width"),
    ({"members": [{**ARCH, "layer0.width": 16}]}, {}, (), "its architecture needs"),
    ({"members": [{**ARCH, "dropout": 1.5}]}, {}, (), "dropout=1.5"),
    ({"members": [{**ARCH, "activation": "os.system"}]}, {}, (), "activation='os.system'"),
    ({"members": ["mlp"]}, {}, (), "a member architecture must be an object"),
    ({"shape": [1, 4, -4]}, {}, (), "'shape' must be the per-sample input shape"),
    ({"shape": [1, 10**9, 10**9]}, {}, (), "'shape' must be the per-sample input shape"),
    ({"shape": [1.0, 4, 4]}, {}, (), "'shape'"),
    ({"family": "rnn"}, {}, (), "'family' must be 'mlp', 'cnn', 'cell' or 'convnet'"),
    ({"space": None}, {}, (), "'space' must be a string"),
    ({}, {"m0.1.weight": np.full((8, 16), np.nan, np.float32)}, (), "holds NaN, inf or values beyond"),
    ({}, {"m0.1.weight": np.full((8, 16), 1e30, np.float32)}, (), "holds NaN, inf or values beyond"),
    ({}, {"m0.2.running_var": np.full(8, -1.0, np.float32)}, (), "'m0.2.running_var' must be >= 0"),
    ({}, {"m0.1.weight": np.ones((8, 16), np.float64)}, (), "has float64"),
    ({}, {"m1.1.weight": np.ones((8, 16), np.float32)}, (), "unexpected array 'm1.1.weight'"),
    ({}, {}, ("m0.1.bias",), "member 0's weights do not match"),
])
def test_crafted_model_is_a_format_error(tmp_path: Path, meta_change: dict[str, Any],
                                         arrays_change: dict[str, np.ndarray], drop: tuple[str, ...], match: str) -> None:
    d = tmp_path / "m"
    tiny_model().save(d)
    _rewrite(d, meta_change, arrays_change, drop)
    with pytest.raises(FormatError, match=match):
        load_model(d)


def test_cell_architecture_inputs_are_checked(tmp_path: Path) -> None:
    """A cell node reading a node that does not exist yet would index out of range at predict."""
    from learnedsys.nas import get_space

    space = get_space("cell")
    arch = space.decode(space.sample(np.random.default_rng(0)))
    classes = [0, 1]
    m = NASModel("cell", "cell", [{"architecture": arch}], SHAPE, classes, np.zeros((1, 1, 1), np.float32),
                 np.ones((1, 1, 1), np.float32), [build_model("cell", arch, SHAPE, 2)])
    d = tmp_path / "m"
    m.save(d)
    assert load_model(d).predict(_x()).tolist() == m.predict(_x()).tolist()
    _rewrite(d, {"members": [{**arch, "node1.in_a": 2}]})
    with pytest.raises(FormatError, match=r"node1\.in_a=2"):
        load_model(d)
    _rewrite(d, {"members": [{**arch, "node1.in_a": -1}]})
    with pytest.raises(FormatError, match=r"node1\.in_a=-1"):
        load_model(d)
