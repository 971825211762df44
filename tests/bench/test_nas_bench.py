"""The synthetic image tasks of the nas bench section (issue 20): seeded, shaped as documented."""

from __future__ import annotations

import numpy as np
import pytest

from learnedsys.bench.nas import TASKS, held_back

SHAPES = {"strokes28": ((1, 28, 28), 10), "shapes32": ((1, 32, 32), 8), "textures32": ((1, 32, 32), 8),
          "patches32": ((32, 32, 3), 6)}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_task_is_seeded_and_shaped(name: str) -> None:
    X, y = TASKS[name](40, 3)
    shape, k = SHAPES[name]
    assert X.shape == (40, *shape) and X.dtype == np.float32 and np.isfinite(X).all()
    assert y.shape == (40,) and set(np.unique(y)) <= set(range(k)) and len(np.unique(y)) > 1
    X2, y2 = TASKS[name](40, 3)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, TASKS[name](40, 4)[0])


def test_held_back_is_stratified_and_seeded() -> None:
    y = np.repeat(np.arange(4), [50, 30, 10, 10])
    h = held_back(y, 0)
    assert list(np.bincount(y[h])) == [10, 6, 2, 2] and np.all(np.diff(h) > 0)
    np.testing.assert_array_equal(h, held_back(y, 0))
    assert not np.array_equal(h, held_back(y, 1))
