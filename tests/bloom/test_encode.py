from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnedsys._validation import InvalidParameterError
from learnedsys.bloom import encode_items, hash_batch


def _expected(item: object) -> bytes:
    if isinstance(item, str):
        return item.encode("utf-8", "surrogatepass")
    return bytes(item)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(), min_size=1, max_size=30))
def test_text_roundtrip(items: list[str]) -> None:
    b = encode_items(items)
    assert len(b) == len(items)
    assert [b.item(i) for i in range(len(items))] == [_expected(x) for x in items]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=5), st.binary(max_size=5)), min_size=1, max_size=20))
def test_mixed_str_bytes_roundtrip(items: list[object]) -> None:
    b = encode_items(items)
    assert [b.item(i) for i in range(len(items))] == [_expected(x) for x in items]


def test_separator_inside_items() -> None:
    items = ["a\nb", "é\x00", "c\x1f", "plain"]
    b = encode_items(items)
    assert [b.item(i) for i in range(4)] == [_expected(x) for x in items]


def test_ints_and_numpy() -> None:
    b = encode_items([1, -1, 2**64 - 1])
    assert b.kind == "int"
    assert b.item(0) == (1).to_bytes(8, "little")
    assert b.item(1) == b"\xff" * 8 and b.item(2) == b"\xff" * 8
    arr = np.array([5, 7], dtype=np.uint32)
    assert encode_items(arr).item(1) == (7).to_bytes(8, "little")
    assert encode_items(np.array(["x", "yz"])).item(1) == b"yz"


def test_take_and_hash_agree() -> None:
    items = [f"w{i}é" for i in range(100)]
    b = encode_items(items)
    idx = np.array([5, 3, 99, 0])
    sub = b.take(idx)
    assert [sub.item(i) for i in range(4)] == [_expected(items[i]) for i in idx]
    assert np.array_equal(hash_batch(sub), hash_batch(b)[idx])
    # hashes of distinct items are distinct here, and seeds change them
    assert len(set(hash_batch(b).tolist())) == 100
    assert not np.array_equal(hash_batch(b, 1), hash_batch(b, 2))


@pytest.mark.parametrize(
    "bad, where",
    [
        (["a", 3], "items[1]"),
        ([1, "a"], "items[1]"),
        ([1.5], "items[0]"),
        ([None], "items[0]"),
        ([True], "items[0]"),
        ([2**64], "items[0]"),
    ],
)
def test_bad_items_name_first_offender(bad: list[object], where: str) -> None:
    with pytest.raises(InvalidParameterError, match=rf"{where.replace('[', '.').replace(']', '.')}"):
        encode_items(bad)


@pytest.mark.parametrize("bad", ["abc", b"abc", 5, np.zeros((2, 2)), np.array([1.0]), np.array([True])])
def test_bad_containers(bad: object) -> None:
    with pytest.raises(InvalidParameterError, match="'items' parameter"):
        encode_items(bad)
