"""The compression workload's context helpers (bench section ``decide``): the file suffix as a free
context, and the hindsight per-context bound."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from learnedsys.bench.decide.compression import bin_bound as _bin_bound
from learnedsys.bench.decide.compression import ext_onehot as _ext_onehot
from learnedsys.bench.decide.compression import python_blocks as _python_blocks
from learnedsys.bench.decide.compression import suffix as _suffix

_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "decide" / "compression.py"


def _long() -> Any:
    """Protocols 3 and 4 live in their benchmark script (the main job does not run them)."""
    spec = importlib.util.spec_from_file_location("lsys_compression_long", _SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_suffix_is_what_a_file_system_sees() -> None:
    assert _suffix("/usr/lib/python3.11/os.py") == ".py"
    assert _suffix("/usr/lib/libpython3.11.so.1.0") == ".so"
    assert _suffix("/x/README") == ""


def test_ext_onehot_is_a_deterministic_one_hot_of_the_suffix() -> None:
    a, b, c = _ext_onehot("/a/x.py"), _ext_onehot("/b/y.py"), _ext_onehot("/a/x.gz")
    assert a.shape == (16,) and a.sum() == 1.0 and set(np.unique(a)) == {0.0, 1.0}
    assert np.array_equal(a, b)  # same suffix, same bucket, whatever the directory or name
    assert not np.array_equal(a, c)  # .py and .gz land in different buckets (CRC-32 mod 16)
    assert _ext_onehot("/a/x.py", dim=4).shape == (4,)


def test_bin_bound_picks_the_best_codec_per_key_in_hindsight() -> None:
    # key 0: codec 1 is cheaper on the sum; key 1: codec 0; key 2 only in the unfitted rows
    cost = np.array([[5.0, 1.0], [4.0, 3.0], [1.0, 9.0], [2.0, 2.5], [7.0, 1.0]])
    keys = np.array([0, 0, 1, 1, 2])
    assert _bin_bound(cost, keys).tolist() == [1, 1, 0, 0, 1]
    # fitted on the first four rows only: key 2 was never seen and gets the codec best over them
    fit = np.array([True, True, True, True, False])
    overall = int(cost[fit].sum(axis=0).argmin())
    assert _bin_bound(cost, keys, fit=fit).tolist() == [1, 1, 0, 0, overall]
    # one key for all rows: the best fixed codec
    assert set(_bin_bound(cost, np.zeros(5, dtype=int)).tolist()) == {int(cost.sum(axis=0).argmin())}


def test_python_blocks_come_with_the_file_they_were_cut_from() -> None:
    block = 4096
    blocks, counts, paths = _python_blocks(3 * 4 * block, block, seed=1)
    assert len(blocks) == len(paths) == sum(counts.values()) > 0
    for b, p in zip(blocks, paths, strict=True):
        data = Path(p).read_bytes()
        offsets = [i for i in range(0, len(data) - block + 1, block) if data[i : i + block] == b]
        assert len(b) == block and offsets  # a block-aligned slice of that very file


def test_machine_blocks_are_block_aligned_slices_of_real_files(tmp_path: Path) -> None:
    _machine_blocks = _long()._machine_blocks

    block = 1024
    (tmp_path / "a.py").write_bytes(bytes(range(256)) * 40)  # 10 blocks
    (tmp_path / "b.gz").write_bytes(b"x" * 3000)  # 2 whole blocks
    (tmp_path / "c.txt").write_bytes(b"y" * 100)  # shorter than a block: none
    blocks, paths, offsets = _machine_blocks(100, block, seed=0, per_file=4, roots=(str(tmp_path),))
    assert len(blocks) == len(paths) == len(offsets) == 4 + 2  # at most per_file blocks per file
    for b, p, i in zip(blocks, paths, offsets, strict=True):
        data = Path(p).read_bytes()
        assert len(b) == block and 0 <= i < 4 and data[i * block : (i + 1) * block] == b  # the block the offset names
    assert len(_machine_blocks(3, block, seed=0, per_file=4, roots=(str(tmp_path),))[0]) == 3


def test_long_eval_rows_are_consistent() -> None:
    _long_category, _long_eval, _ratio_bin = (_long()._long_category, _long()._long_eval, _long()._ratio_bin)

    assert [_ratio_bin(r) for r in (0.1, 0.3, 0.69, 0.95, 1.2)] == [0, 1, 2, 4, 4]
    assert _long_category("/x/a.py") == "text" and _long_category("/x/a.jar") == "compressed" and _long_category("/x/ls") == "other"
    rng = np.random.default_rng(0)
    n = 400
    codecs = ["none", "lz4", "zstd-1", "zstd-3", "zstd-9"]
    paths = np.array([f"/d/f{i % 7}{'.py' if i % 2 else '.so'}" for i in range(n)])
    size = rng.uniform(1e4, 6.5e4, size=(n, 5))
    secs = rng.uniform(1e-5, 1e-3, size=(n, 5))
    data = {"size": size, "secs": secs, "feats": np.column_stack([np.ones(n), rng.uniform(0, 1.1, n)]),
            "feat_secs": np.full(n, 3e-6), "paths": paths, "codecs": np.array(codecs)}
    rows = {r["policy"]: r for r in _long_eval(data, 125e6, seed=0)}
    oracle = rows["per-block oracle"]
    assert abs(oracle["vs_oracle"]) < 1e-12 and abs(oracle["last_half_vs_oracle"]) < 1e-12
    fixed = [r for name, r in rows.items() if name.startswith("always")]
    assert len(fixed) == 5 and abs(min(r["vs_best_fixed"] for r in fixed)) < 1e-12
    learned = [r for name, r in rows.items() if name.startswith("learned")]
    assert len(learned) >= 4
    for r in rows.values():
        assert r["vs_oracle"] > -1e-12 and r["last_half_vs_oracle"] > -1e-12
        assert sum(int(p.split(":")[1]) for p in r["picks"].split()) == n
    assert rows["bound: hindsight best codec per suffix (free)"]["vs_best_fixed"] < 1e-12


def test_file_order_groups_each_files_blocks_in_offset_order() -> None:
    _file_order = _long()._file_order

    paths = ["b", "a", "b", "c", "a", "b"]
    offsets = np.array([2, 1, 0, 0, 0, 1])
    order = _file_order(paths, offsets)
    assert sorted(order.tolist()) == list(range(6))  # a permutation
    # files by their first appearance (b, a, c), each file's blocks by offset
    assert [(paths[i], int(offsets[i])) for i in order] == [("b", 0), ("b", 1), ("b", 2), ("a", 0), ("a", 1), ("c", 0)]


def test_file_context_samples_only_when_the_previous_block_says_nothing() -> None:
    _file_context = _long()._file_context

    hot = np.eye(4)[2]
    x, sampled = _file_context(hot, None, 0.4)  # first block of a file: pay the sample
    assert sampled and x.tolist() == [1, 0, 0, 1, 0, 1, 0, 0, 0.4]
    x, sampled = _file_context(hot, (0, 1.0), 0.4)  # previous block stored raw: its ratio is unknown
    assert sampled and x.tolist() == [1, 0, 0, 1, 0, 0, 1, 0, 0.4]
    x, sampled = _file_context(hot, (2, 0.35), 0.4)  # previous block compressed: its ratio is free
    assert not sampled and x.tolist() == [1, 0, 0, 1, 0, 0, 0, 0.35, 0]


def test_long_eval_files_rows_are_consistent() -> None:
    _long_eval_files = _long()._long_eval_files

    rng = np.random.default_rng(1)
    n = 300
    paths = np.array([f"/d/f{i % 9}{'.py' if i % 3 else '.gz'}" for i in range(n)])
    size = rng.uniform(1e4, 6.5e4, size=(n, 5))
    size[:, 0] = 65536.0  # "none" stores the block
    secs = rng.uniform(1e-5, 1e-3, size=(n, 5))
    secs[:, 0] = 1e-7
    data = {"size": size, "secs": secs, "feats": np.column_stack([np.ones(n), rng.uniform(0, 1.1, n)]),
            "feat_secs": np.full(n, 3e-6), "paths": paths, "offs": np.arange(n) // 9, "codecs": np.array(["none", "lz4", "zstd-1", "zstd-3", "zstd-9"])}
    rows = {r["policy"]: r for r in _long_eval_files(data, 400e6, seed=0)}
    cost = size + 400e6 * secs
    assert abs(rows["per-block oracle"]["cost"] - cost.min(axis=1).sum() / 1e6) < 1e-9  # same blocks, reordered
    assert abs(rows["always lz4"]["cost"] - cost[:, 1].sum() / 1e6) < 1e-9
    learned = [r for name, r in rows.items() if name.startswith("learned")]
    assert len(learned) == 5
    for r in rows.values():
        assert r["vs_oracle"] > -1e-12
        assert sum(int(p.split(":")[1]) for p in r["picks"].split()) == n
