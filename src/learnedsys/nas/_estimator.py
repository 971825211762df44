"""``NASClassifier().fit(X, y).predict(X)``: architecture search as a scikit-learn estimator."""

from __future__ import annotations

from typing import Any

import numpy as np

from learnedsys._estimator import Estimator, NotFittedError
from learnedsys._validation import InvalidParameterError

__all__ = ["NASClassifier"]


class NASClassifier(Estimator):
    """Search an architecture for ``(X, y)``, retrain the best on all of it, predict.

    ``fit`` splits ``X, y`` (stratified, seeded) into train / validation / a held-out part, runs
    :func:`~learnedsys.nas.search` within ``budget`` seconds, then retrains the ``ensemble`` best
    architectures on train + validation (:func:`~learnedsys.nas.fit_final`). The held-out accuracy
    is ``test_score_``; ``search_`` holds the search's result. scikit-learn's conventions hold:
    ``get_params`` / ``set_params``, ``clone``, ``score`` (accuracy), ``classes_``, and
    :class:`NotFittedError` before ``fit``.

    Args:
        space: a built-in space (``"mlp"`` for feature vectors, ``"cnn"`` / ``"cell"`` for images
            ``(n, C, H, W)``) or an importable function returning one.
        strategy: ``evolution``, ``reinforce``, ``random``, ``tpe`` or a Policy.
        budget: seconds of search (the final retraining comes on top).
        max_trials: stop after this many trials (reproducible runs set it).
        epochs: epochs per trial; ``final_epochs``: epochs of the retraining (default 2x epochs).
        ensemble: how many of the best architectures to retrain and average.
        workers, backend, address: where trials run (see :func:`~learnedsys.nas.search`).
        seed: the split, the strategy and every training.
    """

    def __init__(
        self, space: Any = "mlp", *, strategy: Any = "evolution", budget: float = 60.0, max_trials: int | None = None,
        epochs: int = 10, final_epochs: int | None = None, ensemble: int = 1, workers: int = 1,
        backend: str = "inline", address: str | None = None, seed: int | None = 0,
    ) -> None:
        self.space = space
        self.strategy = strategy
        self.budget = budget
        self.max_trials = max_trials
        self.epochs = epochs
        self.final_epochs = final_epochs
        self.ensemble = ensemble
        self.workers = workers
        self.backend = backend
        self.address = address
        self.seed = seed

    def fit(self, X: Any, y: Any) -> NASClassifier:
        from learnedsys.nas._data import split_dataset
        from learnedsys.nas._executor import resolve_space
        from learnedsys.nas._export import fit_final
        from learnedsys.nas._search import search

        X = np.asarray(X)
        y = np.asarray(y)
        if X.ndim < 2 or len(X) != len(y):
            raise InvalidParameterError(
                f"NASClassifier.fit needs X of shape (n, features) or (n, C, H, W) and y of n labels. Got X {X.shape}, y {y.shape}."
            )
        data = split_dataset(X, y, seed=self.seed, name="NASClassifier")
        res = search(data, space=self.space, strategy=self.strategy, budget=self.budget, max_trials=self.max_trials,
                     workers=self.workers, backend=self.backend, address=self.address, seed=self.seed,
                     epochs=self.epochs, measure_latency=False)
        if res.best is None:
            raise InvalidParameterError("NASClassifier.fit: no trial succeeded (see search_.history for the errors)")
        top = [t["action"] for t in res.top][: max(1, int(self.ensemble))] or [res.best["action"]]
        members = [tuple(top[i % len(top)]) for i in range(max(1, int(self.ensemble)))]
        model, test_acc = fit_final(resolve_space(self.space), members, data,
                                    epochs=self.final_epochs or 2 * self.epochs, seed=int(self.seed or 0))
        self.search_ = res
        self.model_ = model
        self.test_score_ = float(test_acc)
        self.classes_ = np.asarray(model.classes)
        return self

    def _model(self) -> Any:
        if not hasattr(self, "model_"):
            raise NotFittedError("this NASClassifier is not fitted yet; call fit(X, y) first")
        return self.model_

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self._model().predict_proba(np.asarray(X)))

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self._model().predict(np.asarray(X)))

    def score(self, X: Any, y: Any) -> float:
        """Accuracy of :meth:`predict` on ``(X, y)``."""
        return float(np.mean(self.predict(X) == np.asarray(y)))
