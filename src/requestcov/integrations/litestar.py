"""Litestar (ASGI; ``litestar run``, uvicorn, hypercorn): recorded by the ASGI
middleware, its routes named from the scope.

Litestar's router writes the matched route into the request's scope before it
calls the handler: ``scope["path_template"]`` (``/users/{user_id}``, the path
with its parameter types left out, as Litestar's own metrics name routes) and
``scope["route_handler"]``. The scope is Litestar's, not a standard ASGI key, so
the route is read here rather than by the generic ASGI middleware: when the
response starts (the handler has run, whatever it raised), and once more when
the app call returns, for a response that never started.
"""

from __future__ import annotations

from typing import Any, Optional

from requestcov.integrations._patching import is_instance_of
from requestcov.log import log_once
from requestcov.middleware import ASGIMiddleware
from requestcov.middleware.asgi import Message, Receive, Scope, Send
from requestcov.recorder import current_request

__all__ = ["adopt", "route_of"]


def adopt(app: Any) -> Optional[Any]:
    if not is_instance_of(app, "litestar.app", "Litestar"):
        return None
    return ASGIMiddleware(_RouteNaming(app))


def route_of(scope: Scope) -> Optional[str]:
    """The matched route's template, None when nothing matched (a 404)."""
    template = scope.get("path_template")
    if isinstance(template, str) and template:
        return template
    # Older Litestar versions leave no template: a handler with one path has it.
    paths = getattr(scope.get("route_handler"), "paths", None)
    if isinstance(paths, (set, frozenset, list, tuple)) and len(paths) == 1:
        (path,) = paths
        return path if isinstance(path, str) else None
    return None


def _name_route(scope: Scope) -> None:
    try:
        request = current_request()
        if request is not None and request.route is None:
            request.route = route_of(scope)
    except Exception:
        log_once("litestar-route", "requestcov: could not read the Litestar route of a request", exc_info=True)


class _RouteNaming:
    """Between the recording middleware and the Litestar app: names the
    request's route from the scope Litestar's router filled in."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return

        async def naming_send(message: Message) -> None:
            if message.get("type") == "http.response.start":
                _name_route(scope)
            await send(message)

        try:
            await self.app(scope, receive, naming_send)
        finally:
            _name_route(scope)
