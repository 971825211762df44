"""One message shape for every bad parameter."""

from __future__ import annotations

import pytest

from learnedsys._validation import (
    InvalidParameterError,
    check_bool,
    check_choice,
    check_float,
    check_int,
)


def test_messages() -> None:
    with pytest.raises(InvalidParameterError, match=r"^The 'epsilon' parameter of PGMIndex must be an int in the range \[1, inf\)\. Got 0 instead\.$"):
        check_int(0, "epsilon", "PGMIndex", low=1)
    with pytest.raises(InvalidParameterError, match=r"must be a float in the range \(0.0, 1.0\)\. Got 1.0 instead"):
        check_float(1.0, "fpr", "Bloom", low=0.0, high=1.0, closed="neither")
    with pytest.raises(InvalidParameterError, match="Got nan instead"):
        check_float(float("nan"), "x", "F", low=0.0)
    with pytest.raises(InvalidParameterError, match=r"one of \{'a', 'b'\}. Got 'c'"):
        check_choice("c", "mode", "F", ["a", "b"])
    with pytest.raises(InvalidParameterError, match="must be a bool"):
        check_bool(1, "flag", "F")
    with pytest.raises(ValueError):  # also a ValueError and a TypeError
        check_int(True, "n", "F")
    assert check_int(None, "n", "F", none_ok=True) is None
    assert check_float(3, "x", "F") == 3.0
