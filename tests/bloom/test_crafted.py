"""Crafted files (checksum recomputed) for every bloom format: a FormatError or a correct filter.

Issue 17, item 8: a PLBF whose classifier scale was set to -1 loaded and answered "no" for every
stored key. Every value a loader reads is now checked against its format's invariants. The fuzz
below rewrites one field (or one array) of a saved file at a time and saves it again with a valid
checksum; loading must then raise ``FormatError`` or give a filter that answers without error and
still finds every stored key.

Exempt from "finds every key", and only from that: the fields listed in ``FREE``. Each is a
value that any number of valid filters differ in (a hash salt, the model's bias, the bit
array...). A file with another such value is a consistent filter of another set; no loader can
tell it from the original without the keys, so for them the fuzz checks only that loading and
querying never fail in any other way.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from learnedsys import _serialization
from learnedsys._validation import InvalidParameterError
from learnedsys.bloom import (
    BinaryFuseFilter,
    BloomFilter,
    FormatError,
    LearnedBloomFilter,
    NGramLogistic,
    PartitionedLearnedBloomFilter,
    SandwichedLearnedBloomFilter,
    load,
)

from .conftest import make_words

# Values in which valid filters differ; see the module docstring.
FREE = {
    "salt": "hash salt of a Bloom filter",
    "seed_u": "hash seed of a binary fuse filter",
    "k": "hash count of a Bloom filter (fewer probes still find every key; more may not)",
    "bias": "model bias: shifts every score",
    "scale": "int8 quantization scale (any positive value): scales every score",
    "min_n": "n-gram lengths the model reads",
    "max_n": "n-gram lengths the model reads",
    "rules": "a region's rule: 'reject' is valid for a region that held no key",
    "words": "bit array / fingerprints: any content is a filter of some set",
    "clf.weights": "model weights: any value in range is some model",
    "thresholds": "region boundaries: any increasing sequence is some partition",
    "veto": "fingerprints of reported false positives",
}

HOSTILE: list[Any] = [-1, 0, 1, 3, 2**64, 2**70, -(2**63), 1e308, -1e308, float("nan"), float("inf"), 0.5,
                      "x", "", None, True, [], {}, [1, 2]]


def _filters() -> dict[str, Any]:
    keys, negs = make_words(700, 1400, seed=21)
    out: dict[str, Any] = {
        "bloom": BloomFilter(target_fpr=0.01).fit(keys),
        "fuse": BinaryFuseFilter(target_fpr=0.01).fit(keys),
        "lbf-bloom": LearnedBloomFilter(target_fpr=0.01, worst_case_fpr=None).fit(keys, negs),
        "lbf-fuse-capped": LearnedBloomFilter(target_fpr=0.01, backup="fuse").fit(keys, negs),
        "sandwich-bloom": SandwichedLearnedBloomFilter(target_fpr=0.002, worst_case_fpr=None).fit(keys, negs),
        "sandwich-fuse": SandwichedLearnedBloomFilter(target_fpr=0.01, backup="fuse").fit(keys, negs),
        "plbf-bloom": PartitionedLearnedBloomFilter(target_fpr=0.01, worst_case_fpr=None).fit(keys, negs),
        "plbf-capped": PartitionedLearnedBloomFilter(target_fpr=0.01).fit(keys, negs),
        "plbf-fuse-fp16": PartitionedLearnedBloomFilter(
            target_fpr=0.01, backup="fuse", classifier=NGramLogistic(quantization="fp16"), worst_case_fpr=None
        ).fit(keys, negs),
    }
    adapted = PartitionedLearnedBloomFilter(target_fpr=0.05).fit(keys, negs)
    fps = [w for w in negs if w in adapted][:30]
    out["plbf-adapted"] = adapted.adapt(fps)
    return out, keys  # type: ignore[return-value]


@pytest.fixture(scope="module")
def built() -> tuple[dict[str, Any], list[str]]:
    return _filters()  # type: ignore[return-value]


def _kind_of(path: Path) -> tuple[str, int]:
    kind = _serialization.read_kind(path)
    versions = {"learnedsys.bloom": 2, BloomFilter._KIND: 1, BinaryFuseFilter._KIND: 1}
    return kind, versions[kind]


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if path else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _leaves(v, (*path, i))
    return out


def _set(meta: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    m = copy.deepcopy(meta)
    node = m
    for p in path[:-1]:
        node = node[p]
    if value is _DELETE:
        if isinstance(node, dict):
            del node[path[-1]]
        else:
            node.pop(path[-1])
    else:
        node[path[-1]] = value
    return m


_DELETE = object()


def _get(meta: dict[str, Any], path: tuple[Any, ...]) -> Any:
    node: Any = meta
    for p in path:
        node = node[p]
    return node


def _meta_mutations(meta: dict[str, Any], rng: np.random.Generator, limit: int) -> list[tuple[str, dict[str, Any]]]:
    cands: list[tuple[str, dict[str, Any]]] = []
    for path in _leaves(meta):
        old = _get(meta, path)
        values: list[Any] = [HOSTILE[i] for i in rng.choice(len(HOSTILE), 5, replace=False)] + [_DELETE]
        if isinstance(old, (int, float)) and not isinstance(old, bool):
            values += [-old, old + 1, old * 2, old - 1, old * 1e6]
        if isinstance(old, str):
            values += ["accept", "reject", "bloom", "fuse", "int", "bytes", "fp16", "BinaryFuseFilter", "BloomFilter"]
        for v in values:
            name = ".".join(str(p) for p in path)
            cands.append((name, _set(meta, path, v)))
    idx = rng.choice(len(cands), min(limit, len(cands)), replace=False)
    return [cands[i] for i in idx]


def _array_mutations(arrays: dict[str, np.ndarray], rng: np.random.Generator) -> list[tuple[str, dict[str, np.ndarray]]]:
    out = []
    for name, a in arrays.items():
        def variant(label: str, new: np.ndarray, name: str = name) -> None:
            d = {k: v.copy() for k, v in arrays.items()}
            d[name] = new
            out.append((f"{name}:{label}", d))

        variant("truncated", a[:-1].copy())
        variant("extended", np.concatenate([a, a[:1]]))
        variant("as float64", a.astype(np.float64))
        variant("as int64", a.astype(np.int64) if a.dtype.kind != "f" else np.zeros(a.shape, np.int64))
        variant("2-d", a.reshape(1, -1).copy())
        if a.size > 1:
            variant("reversed", a[::-1].copy())
        if a.dtype.kind == "f" and a.size:
            for v in (np.nan, np.inf, -np.inf, 1e308):
                b = a.copy()
                b[rng.integers(a.size)] = v
                variant(f"value {v}", b)
        if a.dtype == np.int8 and a.size:
            b = a.copy()
            b[rng.integers(a.size)] = -128
            variant("-128", b)
            variant("zeros", np.zeros_like(a))
            variant("halved", (a // 2).astype(np.int8))
        if a.dtype == np.uint16 and a.size:
            b = a.copy()
            b[rng.integers(a.size)] = 0x7C00  # fp16 +inf
            variant("fp16 inf", b)
        if a.dtype == np.uint64 and a.size:
            b = a.copy()
            b[rng.integers(a.size)] = np.uint64(2**64 - 1)
            variant("all ones word", b)
            variant("zeros", np.zeros_like(a))
        raw = a.copy().view(np.uint8).reshape(-1)
        if raw.size:
            raw[rng.integers(raw.size)] ^= np.uint8(1 << int(rng.integers(8)))
            variant("bit flip", raw.view(a.dtype).reshape(a.shape))
    return out


def _outcome(path: Path, keys: list[str]) -> str:
    try:
        f = load(path)
    except FormatError:
        return "rejected"
    try:
        found = f.contains(keys)
    except InvalidParameterError:
        return "clear query error"  # e.g. a filter of integers asked about strings
    return "ok" if found.all() else "false negative"


def _is_free(label: str) -> bool:
    parts = label.replace(":", ".").split(".")
    return any(p in FREE for p in parts) or any(label.startswith(f) for f in FREE if "." in f) or "weights" in parts


@pytest.mark.parametrize("name", [
    "bloom", "fuse", "lbf-bloom", "lbf-fuse-capped", "sandwich-bloom", "sandwich-fuse", "plbf-bloom",
    "plbf-capped", "plbf-fuse-fp16", "plbf-adapted",
])
def test_crafted_files_fuzz(name: str, built: Any, tmp_path: Path) -> None:
    filters, keys = built
    f = filters[name]
    src = tmp_path / "f.lsys"
    f.save(src)
    kind, version = _kind_of(src)
    _, meta, arrays = _serialization.load(src, kind, version)
    rng = np.random.default_rng(sum(map(ord, name)))
    cases = _meta_mutations(meta, rng, limit=120) + [(lbl, None, a) for lbl, a in _array_mutations(arrays, rng)]  # type: ignore[misc]
    t0 = time.perf_counter()
    seen: dict[str, int] = {}
    bad = []
    for case in cases:
        if len(case) == 2:
            label, m = case  # type: ignore[misc]
            a = arrays
        else:
            label, _, a = case  # type: ignore[misc]
            m = meta
        q = tmp_path / "crafted.lsys"
        _serialization.save(q, kind, version, m, a)
        out = _outcome(q, keys)
        seen[out] = seen.get(out, 0) + 1
        if out == "false negative" and not _is_free(label):
            bad.append(label)
    assert not bad, f"{name}: crafted values that load and lose keys: {bad[:10]}"
    assert seen.get("rejected", 0) > 0.3 * len(cases)
    assert time.perf_counter() - t0 < 15


def test_plbf_with_negative_classifier_scale_is_a_format_error(built: Any, tmp_path: Path) -> None:
    filters, _ = built
    p = tmp_path / "f.lsys"
    filters["plbf-bloom"].save(p)
    _, meta, arrays = _serialization.load(p, "learnedsys.bloom", 2)
    for scale in (-1.0, 0.0, float("nan"), float("inf")):
        m = copy.deepcopy(meta)
        m["classifier"]["meta"]["scale"] = scale
        _serialization.save(p, "learnedsys.bloom", 2, m, arrays)
        with pytest.raises(FormatError, match="scale"):
            load(p)


def test_version_1_files_still_load(built: Any, tmp_path: Path) -> None:
    # a file as learnedsys wrote it before worst-case bounds and adapt(): format version 1
    filters, keys = built
    f = filters["plbf-bloom"]
    p = tmp_path / "f.lsys"
    f.save(p)
    _, meta, arrays = _serialization.load(p, "learnedsys.bloom", 2)
    meta = copy.deepcopy(meta)
    meta["params"].pop("worst_case_fpr", None)
    for k in ("worst_case", "veto_seed"):
        meta.pop(k, None)
    arrays = {k: v for k, v in arrays.items() if k != "veto"}
    _serialization.save(p, "learnedsys.bloom", 1, meta, arrays)
    g = load(p)
    assert g.worst_case_fpr is None
    assert g.contains(keys).all()
    probe = [k + "x" for k in keys]
    assert np.array_equal(g.contains(probe), f.contains(probe))


def test_crafted_gru_sizes_are_rejected_before_allocating(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from learnedsys.bloom import CharGRU

    keys, negs = make_words(300, 600, seed=2)
    f = PartitionedLearnedBloomFilter(
        target_fpr=0.05, classifier=CharGRU(hidden=4, embed_dim=4, epochs=1), worst_case_fpr=None
    ).fit(keys, negs)
    p = tmp_path / "g.lsys"
    f.save(p)
    assert load(p).contains(keys).all()
    _, meta, arrays = _serialization.load(p, "learnedsys.bloom", 2)
    for field, value in (("hidden", 10**9), ("embed_dim", 10**9), ("max_len", 10**12), ("hidden", 8), ("names", ["a"])):
        m = copy.deepcopy(meta)
        m["classifier"]["meta"][field] = value
        _serialization.save(p, "learnedsys.bloom", 2, m, arrays)
        t0 = time.perf_counter()
        with pytest.raises(FormatError):
            load(p)
        assert time.perf_counter() - t0 < 2
    m = copy.deepcopy(meta)
    a = dict(arrays)
    a["clf.p1"] = a["clf.p1"].copy()
    a["clf.p1"][0, 0] = np.float16(np.inf)
    _serialization.save(p, "learnedsys.bloom", 2, m, a)
    with pytest.raises(FormatError):
        load(p)
