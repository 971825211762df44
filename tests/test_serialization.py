"""The shared container format: round trips and every kind of damage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from learnedsys._serialization import FormatError, load, read_kind, save


def test_round_trip(tmp_path: Path) -> None:
    arrays = {
        "a": np.arange(10, dtype=np.uint64),
        "b": np.linspace(0, 1, 7).reshape(7, 1),
        "c": np.zeros(0, dtype=np.int32),
        "d": np.array([True, False]),
    }
    save(tmp_path / "f", "kind.x", 2, {"hello": [1, 2]}, arrays)
    version, meta, back = load(tmp_path / "f", "kind.x", 2)
    assert version == 2 and meta == {"hello": [1, 2]} and read_kind(tmp_path / "f") == "kind.x"
    for k, v in arrays.items():
        np.testing.assert_array_equal(back[k], v)
        assert back[k].dtype == v.dtype and back[k].flags.writeable


def test_refuses_objects(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        save(tmp_path / "f", "k", 1, {}, {"o": np.array([object()])})


def test_damage(tmp_path: Path) -> None:
    save(tmp_path / "f", "k", 1, {}, {"a": np.arange(100)})
    raw = (tmp_path / "f").read_bytes()
    for i in range(0, len(raw), 37):
        bad = bytearray(raw)
        bad[i] ^= 0x55
        (tmp_path / "g").write_bytes(bytes(bad))
        with pytest.raises(FormatError):
            load(tmp_path / "g", "k", 1)
    for cut in range(0, len(raw), 50):
        (tmp_path / "g").write_bytes(raw[:cut])
        with pytest.raises(FormatError):
            load(tmp_path / "g", "k", 1)
    with pytest.raises(FormatError, match="not a 'other'"):
        load(tmp_path / "f", "other", 1)
    save(tmp_path / "h", "k", 5, {}, {})
    with pytest.raises(FormatError, match="version 5"):
        load(tmp_path / "h", "k", 1)
