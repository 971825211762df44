from __future__ import annotations

import numpy as np
import pytest

from learnedsys._validation import InvalidParameterError
from learnedsys.nas import load_arrays, load_dataset, split_dataset


def test_split_is_seeded_stratified_and_a_partition():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 3)).astype(np.float32)
    X[:, 0] = np.arange(500)  # row id survives standardisation up to an affine map
    y = rng.integers(0, 4, 500)
    a = split_dataset(X, y, seed=3)
    b = split_dataset(X, y, seed=3)
    c = split_dataset(X, y, seed=4)
    assert np.array_equal(a.X_val, b.X_val) and not np.array_equal(a.X_val, c.X_val)
    ids = [np.rint(part[:, 0] * a.std[0] + a.mean[0]).astype(int) for part in (a.X_train, a.X_val, a.X_test)]
    assert sorted(np.concatenate(ids).tolist()) == list(range(500))  # disjoint and complete
    for part, ys in zip(ids, (a.y_train, a.y_val, a.y_test), strict=True):
        assert np.array_equal(ys, np.searchsorted(np.unique(y), y[part]))
    for k in range(4):  # stratified: each class within one sample of its share
        share = (y == k).sum() * 0.2
        assert abs((a.y_val == k).sum() - share) <= 1 and abs((a.y_test == k).sum() - share) <= 1
    assert abs(float(a.X_train[:, 1].mean())) < 1e-5  # standardised on the training part


def test_digits_are_images():
    d = load_dataset("digits", seed=0)
    assert d.shape == (1, 8, 8) and d.is_image and d.n_classes == 10
    assert len(d.y_train) + len(d.y_val) + len(d.y_test) == 1797


def test_csv_with_target(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,label,b\n1,x,2\n3,y,4\n5,x,6\n")
    X, y, name = load_arrays(p, target="label")
    assert X.tolist() == [[1, 2], [3, 4], [5, 6]] and y.tolist() == ["x", "y", "x"] and name == "t"
    with pytest.raises(InvalidParameterError, match="--target 'nope' is not a column"):
        load_arrays(p, target="nope")
    with pytest.raises(InvalidParameterError, match="name its label column with --target"):
        load_arrays(p)
    (tmp_path / "bad.csv").write_text("a,label\n1,x\nfoo,y\n")
    with pytest.raises(InvalidParameterError, match="line 3"):
        load_arrays(tmp_path / "bad.csv", target="label")


def test_npz_errors_name_the_problem(tmp_path):
    np.savez(tmp_path / "noy.npz", X=np.zeros((4, 2)))
    with pytest.raises(InvalidParameterError, match="lacks \\['y'\\]"):
        load_arrays(tmp_path / "noy.npz")
    X = np.zeros((5, 2))
    X[3, 1] = np.nan
    np.savez(tmp_path / "nan.npz", X=X, y=np.arange(5))
    with pytest.raises(InvalidParameterError, match="X\\[3\\] holds NaN"):
        load_arrays(tmp_path / "nan.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InvalidParameterError, match=r"not a readable \.npz"):
        load_arrays(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        load_arrays(tmp_path / "missing.npz")
    with pytest.raises(InvalidParameterError, match="at least 2 classes"):
        split_dataset(np.zeros((10, 2)), np.zeros(10))


def test_channel_last_images_are_transposed(tmp_path):
    from learnedsys.nas import load_arrays
    from learnedsys.nas._data import channels_first

    rng = np.random.default_rng(0)
    X = rng.random((6, 10, 12, 3)).astype(np.float32)
    np.savez(tmp_path / "hwc.npz", X=X, y=np.arange(6) % 2)
    Xc, _, _ = load_arrays(tmp_path / "hwc.npz")
    assert Xc.shape == (6, 3, 10, 12)
    assert np.array_equal(Xc, np.moveaxis(X, -1, 1))
    chw = np.moveaxis(X, -1, 1).copy()
    assert channels_first(chw) is chw  # already channels-first: untouched
    assert channels_first(X[..., 0]).shape == (6, 1, 10, 12)  # grey (n, H, W)
    assert np.array_equal(channels_first(X, shape=(3, 10, 12)), chw)
    sq = rng.random((2, 3, 3, 3)).astype(np.float32)  # ambiguous without a shape: left alone
    assert channels_first(sq) is sq
