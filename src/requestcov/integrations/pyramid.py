"""Pyramid (``pserve development.ini``, or its WSGI app under waitress,
gunicorn, ...): recorded by the WSGI middleware, its routes named by an event
subscriber.

The app a server gets is Pyramid's ``Router`` (``config.make_wsgi_app()``).
Right after URL dispatch matched a route, Pyramid notifies ``BeforeTraversal``
with ``request.matched_route`` set; :func:`adopt` subscribes to it on the
Router's own registry, so the route's pattern (``/users/{user_id}``) names the
request before any view runs. Traversal-only apps and unmatched URLs have no
route and stay unnamed.
"""

from __future__ import annotations

from typing import Any, Optional

from requestcov.integrations._patching import is_instance_of
from requestcov.log import log_once
from requestcov.middleware import WSGIMiddleware
from requestcov.recorder import current_request

__all__ = ["adopt"]

#: Set on a registry once the subscriber is registered there.
_MARK = "_requestcov_names_routes"


def adopt(app: Any) -> Optional[Any]:
    if not is_instance_of(app, "pyramid.router", "Router"):
        return None
    _name_routes(getattr(app, "registry", None))
    return WSGIMiddleware(app)


def _name_route(event: Any) -> None:
    try:
        request = current_request()
        if request is None or request.route is not None:  # a subrequest keeps the outer route
            return
        route = getattr(getattr(event, "request", None), "matched_route", None)
        pattern = getattr(route, "pattern", None)
        if isinstance(pattern, str) and pattern:
            request.route = pattern
    except Exception:
        log_once("pyramid-route", "requestcov: could not read the Pyramid route of a request", exc_info=True)


def _name_routes(registry: Any) -> None:
    if registry is None or getattr(registry, _MARK, False):
        return
    try:
        from pyramid import interfaces

        # BeforeTraversal came in Pyramid 1.7; ContextFound is later but older.
        event = getattr(interfaces, "IBeforeTraversal", None) or interfaces.IContextFound
        registry.registerHandler(_name_route, (event,))
        setattr(registry, _MARK, True)
    except Exception:
        log_once("pyramid-subscriber", "requestcov: could not subscribe to Pyramid's events; routes are not named",
                 exc_info=True)
