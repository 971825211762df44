"""``learnedsys tune``: learn a program's flags (an offline study), beside :mod:`learnedsys.nas`.

A tour (an objective in Python; ``learnedsys tune -- ./prog --threads='{1..16}'`` does the same
for a command line):

>>> from learnedsys.tune import Param, tune
>>> params = [Param("threads", "int", 1, 16), Param("mode", "categorical", choices=("a", "b"))]
>>> def cost(v):
...     c = (v["threads"] - 11) ** 2 + (0.0 if v["mode"] == "b" else 3.0)
...     return c, [c], None
>>> result = tune(params, cost, trials=40, seed=0)
>>> result.best["mode"], abs(result.best["threads"] - 11) <= 2
('b', True)

Studies are Optuna studies in RDB storage (``storage="tune.sqlite"`` or a ``postgresql://``
URL; ``study=`` names one, as in ``nas.search``), so Optuna's own tools open them; the search is Optuna's TPE, random search, or any
:class:`~learnedsys.policy.Policy` (``tune(..., sampler=Reinforce())``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from learnedsys._lazy import lazy_exports

if TYPE_CHECKING:
    from learnedsys.tune._tune import (
        Param,
        TuneResult,
        open_study,
        parse_command,
        storage_url,
        tune,
        tune_command,
    )

__all__ = ["Param", "TuneResult", "open_study", "parse_command", "storage_url", "tune", "tune_command"]

__getattr__, __dir__ = lazy_exports(__name__, {name: "learnedsys.tune._tune" for name in __all__})
