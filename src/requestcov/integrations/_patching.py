"""The two shapes a server patch takes: pass one argument of a function
through a wrapper, or pass its result through one; each marked, so a module
patched twice (imported again, or patched before the import hook saw it) is
wrapped once."""

from __future__ import annotations

import functools
import inspect
import sys
from typing import Any, Callable

__all__ = ["mark", "is_wrapped", "replace_argument", "replace_result", "is_instance_of"]

_WRAPPED_MARK = "__requestcov_wrapped__"


def mark(function: Callable[..., Any]) -> Callable[..., Any]:
    setattr(function, _WRAPPED_MARK, True)
    return function


def is_wrapped(function: Any) -> bool:
    return bool(getattr(function, _WRAPPED_MARK, False))


def replace_argument(function: Callable[..., Any], name: str, wrap: Callable[[Any], Any]) -> Callable[..., Any]:
    """``function`` with its argument ``name`` passed through ``wrap`` first."""
    if is_wrapped(function):
        return function
    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return function(*args, **kwargs)
        if name in bound.arguments:
            bound.arguments[name] = wrap(bound.arguments[name])
        return function(*bound.args, **bound.kwargs)

    return mark(wrapper)


def replace_result(function: Callable[..., Any], wrap: Callable[[Any], Any]) -> Callable[..., Any]:
    """``function`` with its result passed through ``wrap``."""
    if is_wrapped(function):
        return function

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return wrap(function(*args, **kwargs))

    return mark(wrapper)


def is_instance_of(app: Any, module_name: str, class_name: str) -> bool:
    """isinstance without importing a framework the app does not use."""
    module = sys.modules.get(module_name)
    framework_class = getattr(module, class_name, None) if module is not None else None
    return inspect.isclass(framework_class) and isinstance(app, framework_class)
