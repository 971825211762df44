"""Regression tests of issue 17 for the learned index: extreme keys and queries, capped
parameters, path problems, crafted headers."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from learnedsys._serialization import FormatError
from learnedsys.cli import main
from learnedsys.index import RMI, DynamicIndex, load

FMAX = float(np.finfo(np.float64).max)
ROOTS = ["auto", "linear", "cubic", "spline", "grid", "loggrid", "nn"]


def _extreme_float_sets() -> list[np.ndarray]:
    rng = np.random.default_rng(17)
    return [
        np.array([0.0, 1.0, 1e308]),
        np.array([-1e-310, 0.0, 5e-324, 1e-310, 1e-300]),  # subnormal: no scaling overflow
        np.array([0.0, 2.2250738585e-313]),  # a subnormal span: 1/span overflows (found by hypothesis)
        np.array([-1e308, 0.0, 1e308]),
        np.array([-FMAX, FMAX]),
        np.array([-np.inf, -FMAX, 0.0, 5e-324, FMAX, np.inf]),
        np.sort(rng.uniform(-1, 1, 3000)) * 1.79e308,
        np.sort(rng.standard_normal(3000)) * 1e307,
        np.sort(np.concatenate([rng.uniform(0, 1, 1000), rng.uniform(1e300, 1e308, 1000)])),
    ]


@pytest.mark.parametrize("root", ROOTS)
def test_float_keys_over_the_whole_finite_range(root: str, capfd: pytest.CaptureFixture[str]) -> None:
    sets = _extreme_float_sets()
    for keys in sets[::3] if root == "nn" else sets:  # the nn root trains for a while: fewer sets
        index = RMI(root=root).fit(keys)
        q = np.concatenate([keys, [-FMAX, -1e308, -1.0, 0.5, 2.0, 1e300, FMAX, -np.inf, np.inf]])
        np.testing.assert_array_equal(index.lower_bound(q), np.searchsorted(keys, q, "left"))
        np.testing.assert_array_equal(index.upper_bound(q), np.searchsorted(keys, q, "right"))
    assert "illegal value" not in capfd.readouterr().err  # LAPACK complained before the fix


def test_dynamic_index_on_extreme_floats() -> None:
    for keys in _extreme_float_sets():
        d = DynamicIndex(keys, min_merge=4)
        d.insert_many(np.array([3.0, -1e308, 1.5e308]))
        expect = np.sort(np.concatenate([keys, [3.0, -1e308, 1.5e308]]))
        q = np.concatenate([expect, [0.25, -FMAX, FMAX]])
        np.testing.assert_array_equal(d.lower_bound(q), np.searchsorted(expect, q, "left"))


def test_uint64_queries_up_to_and_beyond_2_64_from_the_api() -> None:
    keys = np.array([0, 5, 2**63, 2**64 - 2, 2**64 - 1], dtype=np.uint64)
    index = RMI().fit(keys)
    assert index.lower_bound(2**64 - 1) == 4
    assert index.lower_bound(2**64) == 5
    assert index.lower_bound(2**200) == 5
    assert index.lower_bound(-1) == 0
    assert index.lower_bound([5, 2**64 - 1]).tolist() == [1, 4]  # numpy alone reads this as floats
    assert index.lower_bound([-(2**70), 2**64, 2**63]).tolist() == [0, 5, 2]
    assert index.upper_bound(2**64 - 1) == 5
    assert index.contains([2**64 - 1, 2**64, -1]).tolist() == [True, False, False]
    assert index.lower_bound(np.array([2**64 - 1], dtype=np.uint64)).tolist() == [4]
    signed = RMI().fit(np.array([-(2**63), 0, 2**63 - 1], dtype=np.int64))
    assert signed.lower_bound([-(2**64), 2**63, 2**63 - 1]).tolist() == [0, 3, 2]


def test_uint64_queries_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "k.npy", np.array([0, 5, 2**64 - 1], dtype=np.uint64))
    assert main(["index", "build", str(tmp_path / "k.npy"), "--out", str(tmp_path / "k.rmi")]) == 0
    capsys.readouterr()
    assert main(["index", "lookup", str(tmp_path / "k.rmi"), "5", "18446744073709551615", "18446744073709551616", "-1"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    assert rows == [
        ["5", "1", "found"],
        ["18446744073709551615", "2", "found"],
        ["18446744073709551616", "3", "absent"],
        ["-1", "0", "absent"],
    ]
    assert main(["index", "lookup", str(tmp_path / "k.rmi"), "1.5"]) == 2
    assert "integers" in capsys.readouterr().err


def test_leaf_count_is_capped_by_the_keys() -> None:
    keys = np.arange(100, dtype=np.uint64)
    for root in ("auto", "linear"):
        index = RMI(root=root, n_leaves=1 << 28).fit(keys)
        assert index.n_leaves_ <= 100
        assert index.size_in_bytes() < 10_000
        np.testing.assert_array_equal(index.lower_bound(keys), np.arange(100))


@pytest.mark.parametrize("case", ["missing-folder", "directory"])
def test_build_out_path_problems_are_one_line_errors(tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "k.npy", np.arange(10, dtype=np.uint64))
    (tmp_path / "adir").mkdir()
    out = tmp_path / ("nope/out.rmi" if case == "missing-folder" else "adir")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["index", "build", str(tmp_path / "k.npy"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(out) in err
    assert ("does not exist" in err) if case == "missing-folder" else ("is a directory" in err)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no stray temporary


def test_info_and_load_of_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as code:
        main(["index", "info", str(tmp_path)])
    assert code.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "directory" in err
    with pytest.raises(ValueError, match="directory"):
        load(tmp_path)
    with pytest.raises(ValueError, match="directory"):
        load(".")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "missing.rmi")


def _rewrite(path: Path, mutate) -> None:  # type: ignore[no-untyped-def]
    """Apply ``mutate`` to the file's JSON header and recompute the checksum (a crafted file)."""
    raw = path.read_bytes()
    magic, version, hlen = struct.unpack_from("<8sIQ", raw, 0)
    header = json.loads(raw[20 : 20 + hlen])
    payload = raw[20 + hlen : -4]
    mutate(header)
    h = json.dumps(header).encode()
    body = struct.pack("<8sIQ", magic, version, len(h)) + h + payload
    path.write_bytes(body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF))


@pytest.mark.parametrize("shape", [[1e308], [-1], [2**70], [10**400], [1, 1e308], ["x"], [0.5], "3", [[1]]])
def test_crafted_shapes_are_format_errors(tmp_path: Path, shape: object) -> None:
    path = tmp_path / "k.rmi"
    RMI().fit(np.arange(50, dtype=np.uint64)).save(path)

    def craft(h: dict) -> None:  # type: ignore[type-arg]
        h["arrays"][0]["shape"] = shape

    _rewrite(path, craft)
    with pytest.raises(FormatError):
        load(path)


def test_crafted_deep_header_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "k.rmi"
    RMI().fit(np.arange(50, dtype=np.uint64)).save(path)

    def craft(h: dict) -> None:  # type: ignore[type-arg]
        h["meta"]["params"] = "PLACEHOLDER"

    _rewrite(path, craft)
    raw = path.read_bytes()
    _, _, hlen = struct.unpack_from("<8sIQ", raw, 0)
    header = raw[20 : 20 + hlen].replace(b'"PLACEHOLDER"', b"[" * 100_000 + b"]" * 100_000)
    body = struct.pack("<8sIQ", b"LSYSARR\x00", 1, len(header)) + header + raw[20 + hlen : -4]
    path.write_bytes(body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF))
    with pytest.raises(FormatError):
        load(path)


@pytest.mark.parametrize("root", ["grid", "loggrid", "nn", "spline", "cubic"])
def test_crafted_root_kind_with_too_few_parameters(tmp_path: Path, root: str) -> None:
    path = tmp_path / "k.rmi"
    RMI(root="linear", n_leaves=4).fit(np.arange(50, dtype=np.uint64)).save(path)

    def craft(h: dict) -> None:  # type: ignore[type-arg]
        h["meta"]["root"] = root

    _rewrite(path, craft)
    with pytest.raises(FormatError):
        load(path)


def test_big_endian_dtype_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "k.rmi"
    RMI().fit(np.arange(50, dtype=np.uint64)).save(path)

    def craft(h: dict) -> None:  # type: ignore[type-arg]
        for e in h["arrays"]:
            if e["name"] == "keys":
                e["dtype"] = ">u8"

    _rewrite(path, craft)
    with pytest.raises(FormatError, match="dtype"):
        load(path)
