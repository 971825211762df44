from __future__ import annotations

import numpy as np
import pytest

from learnedsys.nas import split_dataset


@pytest.fixture(scope="session")
def tiny_data():
    """300 digits (8x8 images), split 60/20/20: trials of 1-2 epochs take milliseconds."""
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    return split_dataset(d.data[:300].reshape(-1, 1, 8, 8) / 16.0, d.target[:300], seed=0, name="tiny-digits")


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory):
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    p = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(p, X=d.data[:240].astype(np.float32), y=d.target[:240])
    return p
