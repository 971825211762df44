"""Neural architecture search: "solution = data + computation", locally or on a Ray cluster.

A declarative :class:`Space` (categorical / integer / float choices, conditions, repeated blocks;
built-ins :func:`image_space`, :func:`mlp_space`, :func:`cnn_space`, :func:`cell_space`) encodes every architecture as a
tuple of ints, so every strategy (:class:`RandomSearch`, :class:`RegularizedEvolution`,
:class:`ReinforceController`, :class:`TPE`) is a :class:`learnedsys.policy.Policy` over its
:class:`~learnedsys.policy.ActionSpace`; :class:`ASHA` adds successive halving to any of them.
:func:`search` trains child models with PyTorch (one thread per trial) on a pool of long-lived
worker processes or Ray actors and keeps every trial in an Optuna study (a SQLite file or
PostgreSQL, ``storage=``; ``optuna.load_study`` and ``optuna-dashboard`` open it), which resumes
after a kill.
:class:`TabularBenchmark` compares strategies in seconds on a shipped table of 1404 trained MLPs.

A tour (architecture encodings and a strategy, no training):

>>> import numpy as np
>>> from learnedsys.nas import mlp_space, RegularizedEvolution
>>> space = mlp_space()
>>> strategy = RegularizedEvolution(space, seed=0, population=4, sample=2)
>>> for _ in range(8):
...     p = strategy.propose()
...     arch = space.decode(p.action)              # {'n_layers': ..., 'layer0.width': ..., ...}
...     strategy.update(p, reward=1.0 / arch["n_layers"])  # a stand-in for validation accuracy
>>> space.action_space.contains(strategy.propose().action)
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from learnedsys._lazy import lazy_exports

if TYPE_CHECKING:
    from learnedsys.nas._asha import ASHA, Job
    from learnedsys.nas._data import Dataset, load_arrays, load_dataset, split_dataset
    from learnedsys.nas._estimator import NASClassifier
    from learnedsys.nas._export import NASModel, fit_final, load_model
    from learnedsys.nas._search import SearchResult, pareto_front, parse_budget, search
    from learnedsys.nas._space import (
        Float,
        Int,
        OneOf,
        Repeat,
        Slot,
        Space,
        cell_space,
        cnn_space,
        get_space,
        image_space,
        mlp_space,
        tabular_mlp_space,
    )
    from learnedsys.nas._strategies import (
        STRATEGIES,
        TPE,
        RandomSearch,
        RegularizedEvolution,
        ReinforceController,
        SearchStrategy,
        make_strategy,
    )
    from learnedsys.nas._tabular import TabularBenchmark, summarize

__all__ = [
    "ASHA",
    "STRATEGIES",
    "TPE",
    "Dataset",
    "Float",
    "Int",
    "Job",
    "NASClassifier",
    "NASModel",
    "OneOf",
    "RandomSearch",
    "RegularizedEvolution",
    "ReinforceController",
    "Repeat",
    "SearchResult",
    "SearchStrategy",
    "Slot",
    "Space",
    "TabularBenchmark",
    "cell_space",
    "cnn_space",
    "fit_final",
    "get_space",
    "image_space",
    "load_arrays",
    "load_dataset",
    "load_model",
    "make_strategy",
    "mlp_space",
    "pareto_front",
    "parse_budget",
    "search",
    "split_dataset",
    "summarize",
    "tabular_mlp_space",
]

_WHERE = {
    "NASClassifier": "learnedsys.nas._estimator",
    "ASHA": "learnedsys.nas._asha",
    "Job": "learnedsys.nas._asha",
    "Dataset": "learnedsys.nas._data",
    "load_arrays": "learnedsys.nas._data",
    "load_dataset": "learnedsys.nas._data",
    "split_dataset": "learnedsys.nas._data",
    "NASModel": "learnedsys.nas._export",
    "fit_final": "learnedsys.nas._export",
    "load_model": "learnedsys.nas._export",
    "SearchResult": "learnedsys.nas._search",
    "pareto_front": "learnedsys.nas._search",
    "parse_budget": "learnedsys.nas._search",
    "search": "learnedsys.nas._search",
    "OneOf": "learnedsys.nas._space",
    "Float": "learnedsys.nas._space",
    "Int": "learnedsys.nas._space",
    "Repeat": "learnedsys.nas._space",
    "Slot": "learnedsys.nas._space",
    "Space": "learnedsys.nas._space",
    "cell_space": "learnedsys.nas._space",
    "cnn_space": "learnedsys.nas._space",
    "get_space": "learnedsys.nas._space",
    "image_space": "learnedsys.nas._space",
    "mlp_space": "learnedsys.nas._space",
    "tabular_mlp_space": "learnedsys.nas._space",
    "STRATEGIES": "learnedsys.nas._strategies",
    "TPE": "learnedsys.nas._strategies",
    "RandomSearch": "learnedsys.nas._strategies",
    "RegularizedEvolution": "learnedsys.nas._strategies",
    "ReinforceController": "learnedsys.nas._strategies",
    "SearchStrategy": "learnedsys.nas._strategies",
    "make_strategy": "learnedsys.nas._strategies",
    "TabularBenchmark": "learnedsys.nas._tabular",
    "summarize": "learnedsys.nas._tabular",
}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
