"""The runnable tours in the bloom docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    ["learnedsys.bloom", "learnedsys.bloom._learned", "learnedsys.bloom._bloomfilter", "learnedsys.bloom._fuse"],
)
def test_doctests(module: str) -> None:
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
