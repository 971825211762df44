"""scikit-learn's estimator conventions, once, for every estimator-like class of the package.

A class that subclasses :class:`Estimator` stores each constructor argument, unchanged, as an
attribute of the same name (validation happens in ``fit``), and gets:

- ``get_params(deep=True)`` / ``set_params(**params)`` (nested ``a__b`` names included), so
  ``sklearn.base.clone``, ``GridSearchCV`` and pipelines work;
- a ``repr`` of the parameters that differ from their defaults;
- :class:`NotFittedError` (a ``ValueError`` and an ``AttributeError``, like scikit-learn's) from
  ``_require_fitted`` when a fitted attribute is missing.
"""

from __future__ import annotations

import inspect
from typing import Any

from learnedsys._validation import InvalidParameterError

__all__ = ["Estimator", "NotFittedError"]


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit``: call ``fit`` first."""


class Estimator:
    """Parameters, ``clone`` and ``repr`` as scikit-learn defines them."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    @classmethod
    def _param_defaults(cls) -> dict[str, Any]:
        sig = inspect.signature(cls.__init__)
        return {p.name: p.default for p in sig.parameters.values() if p.default is not p.empty}

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters, as given (``deep``: also those of nested estimators,
        as ``name__param``)."""
        out: dict[str, Any] = {}
        for name in self._param_names():
            value = getattr(self, name)
            out[name] = value
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                for k, v in value.get_params(deep=True).items():
                    out[f"{name}__{k}"] = v
        return out

    def set_params(self, **params: Any) -> Any:
        """Set parameters (``name`` or nested ``name__param``); returns self. Takes effect at the
        next ``fit``."""
        valid = self._param_names()
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in valid:
                raise InvalidParameterError(
                    f"{type(self).__name__} has no parameter {name!r}; its parameters: {', '.join(valid)}"
                )
            if sep:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            inner = getattr(self, name)
            if not hasattr(inner, "set_params"):
                raise InvalidParameterError(
                    f"the parameter {name!r} of {type(self).__name__} is {inner!r}, which has no parameters to set"
                )
            inner.set_params(**sub_params)
        return self

    def _require_fitted(self, attribute: str, how: str = "fit") -> None:
        if not hasattr(self, attribute):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call {how} first"
            )

    def __repr__(self) -> str:
        defaults = self._param_defaults()
        shown = []
        for name in self._param_names():
            value = getattr(self, name, None)
            default = defaults.get(name, inspect.Parameter.empty)
            try:
                same = bool(value == default) if not hasattr(value, "get_params") else value is default
            except Exception:  # arrays and other values without a plain ==
                same = False
            if not same:
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"
