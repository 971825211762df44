"""The runnable tours in the docstrings of the package and the index stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "learnedsys", "learnedsys.index", "learnedsys.index._rmi", "learnedsys.index._dynamic",
        "learnedsys.decide", "learnedsys.policy", "learnedsys.tune", "learnedsys.bloom", "learnedsys.nas",
        "learnedsys.placement",
    ],
)
def test_doctests(module: str) -> None:
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
