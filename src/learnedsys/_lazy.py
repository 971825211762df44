"""Deferred imports of heavy or optional dependencies.

``import learnedsys`` must not import torch or ray; modules that need them call :func:`require`
at first use, which fails with a message naming the extra to install.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

__all__ = ["MissingDependencyError", "lazy_exports", "pyplot", "require"]


class MissingDependencyError(ImportError):
    """An optional dependency is not installed."""


def require(module: str, extra: str, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming ``pip install 'learnedsys[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"{module!r} is needed{what} but is not installed; "
            f"install it with: pip install 'learnedsys[{extra}]'"
        ) from exc


def lazy_exports(package: str, where: dict[str, str]) -> tuple[Any, Any]:
    """``__getattr__`` and ``__dir__`` for a package whose public names resolve on first use
    (PEP 562), so that importing one light submodule (a ``_cli``) does not import numba or torch.

    ``where`` maps each public name to the module that defines it.
    """

    def __getattr__(name: str) -> Any:
        mod = where.get(name)
        if mod is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(mod), name)
        sys.modules[package].__dict__[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(sys.modules[package].__dict__) | set(where))

    return __getattr__, __dir__


def pyplot(extra: str, purpose: str = "plots") -> ModuleType:
    """matplotlib's pyplot on the Agg backend (files only, no display), or MissingDependencyError
    naming the extra: matplotlib is needed only where plots are made."""
    matplotlib = require("matplotlib", extra=extra, purpose=purpose)
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")
