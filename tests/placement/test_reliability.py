"""Issue 17, item 9 (and items 1, 4, 7 for placement files): safe saves and strict loads."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from learnedsys._atomic import PathError
from learnedsys._serialization import FormatError, save
from learnedsys._validation import InvalidParameterError
from learnedsys.cli import main
from learnedsys.placement import Cluster, OpGraph, Placement

GOOD = {"method": "m-etf", "step_time": 0.5, "feasible": True, "search_seconds": 1.0,
        "device_names": ["cpu", "gpu0"], "devices": [0, 1, 1], "info": {}}


def _placement() -> Placement:
    return Placement.from_dict(GOOD)


def _others(folder: Path, *keep: str) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n not in keep)


# --------------------------------------------------------------------------------- Placement.save
def test_save_never_follows_planted_links(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out.json"
    # the fixed temporary names older saves used, and a link at the target itself
    for name in ("out.json.tmp", ".out.json.tmp", f".out.json.{os.getpid()}.tmp"):
        (tmp_path / name).symlink_to(victim)
    out.symlink_to(victim)
    _placement().save(out)
    assert victim.read_text() == "precious"
    assert not out.is_symlink() and Placement.load(out).devices.tolist() == [0, 1, 1]
    # nothing left behind but the planted links
    assert _others(tmp_path, "victim.txt", "out.json") == sorted(["out.json.tmp", ".out.json.tmp", f".out.json.{os.getpid()}.tmp"])


def test_interrupted_save_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "p.json"
    _placement().save(out)
    before = out.read_bytes()

    def boom(fd: int, data: object) -> None:
        os.write(fd, b"{\"dev")  # part of the new content, then the 'kill'
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("learnedsys._atomic._write_all", boom)
    with pytest.raises(OSError, match="No space"):
        Placement.from_dict({**GOOD, "devices": [1, 1, 1]}).save(out)
    assert out.read_bytes() == before
    assert _others(tmp_path, "p.json") == []


@pytest.mark.parametrize("where, match", [("missing/p.json", "does not exist; create it first"), (".", "is a directory")])
def test_save_path_problems_are_one_line(tmp_path: Path, where: str, match: str) -> None:
    with pytest.raises(PathError, match=match) as err:
        _placement().save(tmp_path / where)
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)
    assert _others(tmp_path) == []


# --------------------------------------------------------------------------------- Placement.load
@pytest.mark.parametrize("content, match", [
    (b"\xff\xfe\x00{", "not UTF-8"),
    (b"{\"devices\": [0, 1", "not a placement JSON file"),
    (b"[0, 1]", "needs a 'devices' list"),
    (b"\"devices\"", "needs a 'devices' list"),
])
def test_load_rejects_files_that_are_not_placements(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=match):
        Placement.load(path)


@pytest.mark.parametrize("change, match", [
    ({"devices": [0, 2, 1]}, r"devices\[1\] must be a device index in 0..1"),
    ({"devices": [0, -1, 1]}, r"devices\[1\]"),
    ({"devices": [0, 1.0, 1]}, r"devices\[1\]"),
    ({"devices": [0, True, 1]}, r"devices\[1\]"),
    ({"devices": [0, "1", 1]}, r"devices\[1\]"),
    ({"devices": []}, "non-empty list"),
    ({"devices": {"a": 1}}, "non-empty list"),
    ({"device_names": [], "devices": [10**12]}, r"devices\[0\] must be a device index in 0..65535"),
    ({"device_names": "cpu"}, "'device_names' must be a list of strings"),
    ({"device_names": ["a", "a"]}, "distinct"),
    ({"step_time": "fast"}, "'step_time' must be a number >= 0 or null"),
    ({"step_time": -1.0}, "'step_time'"),
    ({"feasible": "yes"}, "'feasible' must be true or false"),
    ({"search_seconds": float("nan")}, "'search_seconds' must be a finite number >= 0"),
    ({"method": 3}, "'method' must be a string"),
    ({"info": []}, "'info' must be an object"),
    ({"op_names": ["a"]}, "'op_names' must list one name per entry of 'devices' \\(3\\)"),
])
def test_load_validates_every_field(tmp_path: Path, change: dict[str, object], match: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**GOOD, **change}))
    with pytest.raises(FormatError, match=match):
        Placement.load(path)
    with pytest.raises(InvalidParameterError, match=match):  # the same checks for a dict
        Placement.from_dict({**GOOD, **change})


def test_load_round_trip_and_path_errors(tmp_path: Path) -> None:
    p = Placement.from_dict({**GOOD, "step_time": None, "feasible": False})
    p.save(tmp_path / "p.json", op_names=["a", "b", "c"])
    q = Placement.load(tmp_path / "p.json")
    assert q.devices.tolist() == [0, 1, 1] and q.step_time == float("inf") and not q.feasible
    assert q.counts() == {"cpu": 1, "gpu0": 2}
    with pytest.raises(PathError, match="is a directory"):
        Placement.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Placement.load(tmp_path / "nope.json")


# ------------------------------------------------------------------------------------ cluster JSON
CLUSTER = {"name": "two", "devices": [{"name": "a", "flops": 1e12, "memory": 8e9}, {"name": "b", "flops": 2e12, "memory": 8e9}],
           "links": {"bandwidth": 5e9, "latency": 1e-5, "pairs": [{"src": 0, "dst": 1, "bandwidth": 1e9}]}}


@pytest.mark.parametrize("pair, match", [
    ({"src": -1, "dst": 1}, r"'links.pairs\[0\].src' field of a cluster must be a device name or an index in 0..1. Got -1"),
    ({"src": 0, "dst": -1}, r"'links.pairs\[0\].dst'.*Got -1"),
    ({"src": 0, "dst": 2}, r"'links.pairs\[0\].dst'.*Got 2"),
    ({"src": 0.0, "dst": 1}, r"'links.pairs\[0\].src'"),
    ({"src": True, "dst": 1}, r"'links.pairs\[0\].src'"),
    ({"src": "c", "dst": 1}, r"names no device: 'c'"),
    ({"src": "b", "dst": 1}, "joins device 1 to itself"),
    ({"src": 0, "dst": 1, "bandwidth": -1.0}, r"'links.pairs\[0\].bandwidth' field of a cluster must be a number > 0"),
    ({"src": 0, "dst": 1, "latency": float("inf")}, r"'links.pairs\[0\].latency' field of a cluster must be a finite number"),
    ({"src": 0}, r"'links.pairs\[0\]' field of a cluster must be an object with 'src' and 'dst'"),
])
def test_cluster_rejects_bad_links(pair: dict[str, object], match: str) -> None:
    spec = json.loads(json.dumps(CLUSTER))
    spec["links"]["pairs"] = [pair]
    with pytest.raises(InvalidParameterError, match=match):
        Cluster.from_dict(spec)


def test_negative_src_no_longer_sets_the_last_device(tmp_path: Path) -> None:
    """The bug: a pair with src -1 silently set the link from the last device."""
    spec = json.loads(json.dumps(CLUSTER))
    spec["links"]["pairs"] = [{"src": -1, "dst": 0, "bandwidth": 1.0}]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(InvalidParameterError, match=str(path)):
        Cluster.from_json(path)


@pytest.mark.parametrize("change, match", [
    ({"devices": [{"name": "a", "flops": "fast", "memory": 1e9}]}, r"'devices\[0\].flops'"),
    ({"devices": [{"name": "a", "flops": float("nan"), "memory": 1e9}]}, r"'devices\[0\].flops'"),
    ({"devices": [{"name": "a", "flops": float("inf"), "memory": 1e9}]}, r"'devices\[0\].flops' field of a cluster must be a finite number"),
    ({"devices": [{"name": "a", "flops": 10**400, "memory": 1e9}]}, r"'devices\[0\].flops'"),
    ({"devices": [{"name": "a", "flops": 1e9, "memory": 0}]}, r"'devices\[0\].memory'"),
    ({"devices": [{"name": "a", "flops": 1e9, "memory": 1e9, "overhead": -1}]}, r"'devices\[0\].overhead'"),
    ({"devices": [{"name": 7, "flops": 1e9, "memory": 1e9}]}, r"'devices\[0\].name' field of a cluster must be a string"),
    ({"devices": [{"name": "a", "flops": 1e9, "memory": 1e9}] * 2}, "'a' appears twice"),
    ({"devices": ["gpu"]}, "Cluster device 0 must be an object"),
    ({"devices": {"a": 1}}, "'devices' field of a cluster must be a list"),
    ({"links": []}, "'links' field of a cluster must be an object"),
    ({"links": {"pairs": {}}}, "'links.pairs' field of a cluster must be a list"),
    ({"links": {"bandwidth": 0}}, "'links.bandwidth'"),
    ({"name": ["x"]}, "'name' field of a cluster must be a string"),
])
def test_cluster_validates_every_field(change: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        Cluster.from_dict({**CLUSTER, **change, **({"links": change["links"]} if "links" in change else {"links": {}})})


@pytest.mark.parametrize("content, match", [(b"\xff\xfe{}", "not UTF-8"), (b"{\"devices\": [", "not a cluster JSON file")])
def test_cluster_file_that_is_not_json(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(content)
    with pytest.raises(InvalidParameterError, match=match):
        Cluster.from_json(path)


# ------------------------------------------------------------------------------- graph files
def _graph_meta() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    meta: dict[str, Any] = {"names": ["a", "b", "c"], "op_types": ["x", "mm", "mm"], "modules": ["", "l", "l"], "fx_names": None, "meta": {}}
    arrays = {"flops": np.array([0.0, 1e9, 1e9]), "mem_bytes": np.zeros(3), "out_bytes": np.array([1e6, 1e6, 0.0]),
              "param_bytes": np.zeros(3), "edge_src": np.array([0, 1]), "edge_dst": np.array([1, 2]),
              "layer": np.zeros(0, np.int64)}
    return meta, arrays


@pytest.mark.parametrize("meta_change, array_change, match", [
    ({}, {"edge_dst": np.array([1, 3])}, "edges must join existing nodes"),
    ({}, {"edge_src": np.array([-1, 1])}, "edges must join existing nodes"),
    ({}, {"edge_src": np.array([1, 1])}, "topological order"),
    ({}, {"edge_src": np.array([0.0, 1.0])}, "integer vectors"),
    ({}, {"flops": np.array([0.0, np.nan, 1.0])}, "'flops' must hold finite values >= 0"),
    ({}, {"out_bytes": np.array([0.0, -1.0, 1.0])}, "'out_bytes' must hold finite values >= 0"),
    ({}, {"mem_bytes": np.zeros(4)}, "'mem_bytes' must be 3 numbers"),
    ({}, {"layer": np.array([0, -2, 1])}, "'layer' tags must be >= -1"),
    ({}, {"layer": np.array([0, 1])}, "'layer' must be 3 integer tags"),
    ({"names": []}, {}, "no nodes"),
    ({"names": ["a", 2, "c"]}, {}, "'names' must be a list of strings"),
    ({"op_types": ["x"]}, {}, "'op_types' must have 3 entries"),
    ({"fx_names": [["a"]]}, {}, "'fx_names' must list 3 entries"),
    ({"meta": []}, {}, "'meta' must be an object"),
])
def test_graph_file_values_are_validated(tmp_path: Path, meta_change: dict[str, object],
                                         array_change: dict[str, np.ndarray], match: str) -> None:
    meta, arrays = _graph_meta()
    save(tmp_path / "g.lsys", "placement.OpGraph", 1, {**meta, **meta_change}, {**arrays, **array_change})
    with pytest.raises(FormatError, match=match):
        OpGraph.load(tmp_path / "g.lsys")


def test_graph_file_round_trip(tmp_path: Path) -> None:
    meta, arrays = _graph_meta()
    save(tmp_path / "g.lsys", "placement.OpGraph", 1, meta, arrays)
    g = OpGraph.load(tmp_path / "g.lsys")
    assert g.n_nodes == 3 and g.edge_dst.tolist() == [1, 2] and g.layer is not None and g.layer.tolist() == [-1, -1, -1]


# ------------------------------------------------------------------------------------ place CLI
@pytest.mark.parametrize("where, match", [("missing/out.json", "does not exist; create it first"), ("", "is a directory")])
def test_place_cli_bad_json_path_fails_before_the_search(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         where: str, match: str) -> None:
    rc = main(["place", "learnedsys.placement.models:chain", "--method", "single", "--json", str(tmp_path / where)])
    err = capsys.readouterr().err
    assert rc == 2 and match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert _others(tmp_path) == []


def test_place_cli_bad_cluster_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.json"
    spec = json.loads(json.dumps(CLUSTER))
    spec["links"]["pairs"][0]["src"] = -1
    path.write_text(json.dumps(spec))
    rc = main(["place", "learnedsys.placement.models:chain", "--cluster", str(path)])
    err = capsys.readouterr().err
    assert rc == 2 and "links.pairs[0].src" in err and len(err.strip().splitlines()) == 1
