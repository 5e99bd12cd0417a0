"""Bottle: its default server is ``wsgiref`` (:mod:`.wsgiref`), and the
app's routes are named by a plugin that runs before each callback. Copies of
Bottle that apps ship inside themselves (pypiserver's ``_vendor/bottle.py``)
are recognised by what their app object is, not by the module's name."""

from __future__ import annotations

from typing import Any, Callable, Optional

from requestcov.middleware import WSGIMiddleware
from requestcov.recorder import set_route

__all__ = ["adopt", "is_bottle_app"]


def is_bottle_app(app: Any) -> bool:
    """A Bottle app, from any copy of Bottle: a class named ``Bottle`` from a
    module named ``bottle`` (``pypiserver._vendor.bottle`` too), with Bottle's
    router and plugin interface."""
    app_class = type(app)
    module = getattr(app_class, "__module__", "") or ""
    return (
        app_class.__name__ == "Bottle"
        and module.rsplit(".", 1)[-1] == "bottle"
        and callable(getattr(app, "install", None))
        and hasattr(app, "plugins")
        and hasattr(app, "router")
    )


def adopt(app: Any) -> Optional[Any]:
    if not is_bottle_app(app):
        return None
    _name_routes(app)
    return WSGIMiddleware(app)


class _RouteNamingPlugin:
    """Names the request's route (``/users/<id:int>``) before each callback runs."""

    name = "requestcov"
    api = 2

    def apply(self, callback: Callable[..., Any], route: Any) -> Callable[..., Any]:
        rule = getattr(route, "rule", None)

        def named_callback(*args: Any, **kwargs: Any) -> Any:
            if isinstance(rule, str):
                set_route(rule)
            return callback(*args, **kwargs)

        return named_callback


def _name_routes(app: Any) -> None:
    if not any(getattr(plugin, "name", None) == "requestcov" for plugin in getattr(app, "plugins", ())):
        app.install(_RouteNamingPlugin())
