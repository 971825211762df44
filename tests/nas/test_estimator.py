"""NASClassifier: architecture search as a scikit-learn estimator."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from learnedsys.nas import NASClassifier
from learnedsys.nas._estimator import NotFittedError


def test_fit_predict_score_clone() -> None:
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    X, y = d.data[:400], np.array([f"digit-{v}" for v in d.target[:400]])  # string labels come back as given
    est = NASClassifier("mlp", max_trials=2, epochs=2, seed=0)
    with pytest.raises(NotFittedError):
        est.predict(X[:3])
    assert est.fit(X, y) is est
    pred = est.predict(X[:50])
    assert pred.dtype.kind == "U" and set(pred) <= set(y) and est.classes_.tolist() == sorted(set(y))
    assert est.predict_proba(X[:5]).shape == (5, 10)
    np.testing.assert_allclose(est.predict_proba(X[:5]).sum(axis=1), 1.0, rtol=1e-6)
    assert est.score(X[:50], y[:50]) == float(np.mean(pred == y[:50]))
    assert 0.5 < est.score(X[:200], y[:200]) <= 1.0 and 0.0 < est.test_score_ <= 1.0
    twin = clone(est)
    assert twin.get_params() == est.get_params() and not hasattr(twin, "model_")
    assert repr(twin) == "NASClassifier(max_trials=2, epochs=2)"
