"""Deferred imports of heavy or optional dependencies.

``import learnedsys`` must not import torch or ray; modules that need them call :func:`require`
at first use, which fails with a message naming the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingDependencyError", "require"]


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
